"""PyTorch's side of bench/dataParallel/dataParallel.ts, on the same machine in the same run.

  train:     SGD steps of the Fashion-MNIST default model (small-cnn, width 0.5, batch 128
             global) on random inputs, either one process with THREADS threads or WORLD
             processes x 1 thread under DistributedDataParallel (Gloo); prints images/s.
  allreduce: the gradient all-reduce of one step as DDP's reducer does it (flattened buckets
             of 25 MB, sum then divide), for parameter sizes given as JSON; prints ms/step.

/usr/bin/python3 bench/dataParallel/pytorch_data_parallel.py train --world 2 --steps 40
/usr/bin/python3 bench/dataParallel/pytorch_data_parallel.py allreduce --world 2 --sizes '[...]' --steps 20
"""
import argparse
import json
import os
import sys
import time

import torch as ch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'shared'))
from torch_models import SmallCNN  # noqa: E402

BUCKET_BYTES = 25 * 1024 * 1024


def join(rank, world, port):
    os.environ['MASTER_ADDR'] = '127.0.0.1'
    os.environ['MASTER_PORT'] = str(port)
    dist.init_process_group('gloo', rank=rank, world_size=world)


def train_rank(rank, world, port, steps, batch, out):
    ch.set_num_threads(1)
    join(rank, world, port)
    ch.manual_seed(0)
    model = SmallCNN(1, 10, 0.5, (28, 28))
    ddp = ch.nn.parallel.DistributedDataParallel(model)
    opt = ch.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    per = batch // world
    x = ch.rand(per, 1, 28, 28)
    y = ch.randint(0, 10, (per,))
    for i in range(steps + 5):
        if i == 5:
            dist.barrier()
            t0 = time.perf_counter()
        opt.zero_grad()
        ch.nn.functional.cross_entropy(ddp(x)[0], y).backward()
        opt.step()
    dist.barrier()
    if rank == 0:
        out.put(steps * batch / (time.perf_counter() - t0))
    dist.destroy_process_group()


def train_single(threads, steps, batch):
    ch.set_num_threads(threads)
    ch.manual_seed(0)
    model = SmallCNN(1, 10, 0.5, (28, 28))
    opt = ch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = ch.rand(batch, 1, 28, 28)
    y = ch.randint(0, 10, (batch,))
    for i in range(steps + 5):
        if i == 5:
            t0 = time.perf_counter()
        opt.zero_grad()
        ch.nn.functional.cross_entropy(model(x)[0], y).backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t0)


def allreduce_rank(rank, world, port, sizes, steps, out):
    ch.set_num_threads(1)
    join(rank, world, port)
    grads = [ch.randn(n) for n in sizes]
    buckets, cur, used = [], [], 0
    for g in grads:
        if used and used + g.numel() * 4 > BUCKET_BYTES:
            buckets.append(cur)
            cur, used = [], 0
        cur.append(g)
        used += g.numel() * 4
    buckets.append(cur)
    for i in range(steps + 3):
        if i == 3:
            dist.barrier()
            t0 = time.perf_counter()
        for b in buckets:
            flat = ch.cat([g.flatten() for g in b])
            dist.all_reduce(flat)
            flat /= world
            off = 0
            for g in b:
                g.copy_(flat[off:off + g.numel()].view_as(g))
                off += g.numel()
    dist.barrier()
    if rank == 0:
        out.put(1000 * (time.perf_counter() - t0) / steps)
    dist.destroy_process_group()


def spawn(fn, world, *args):
    ctx = mp.get_context('spawn')
    q = ctx.Queue()
    port = 29000 + os.getpid() % 1000
    procs = [ctx.Process(target=fn, args=(r, world, port, *args, q)) for r in range(world)]
    for p in procs:
        p.start()
    value = q.get()
    for p in procs:
        p.join()
    return value


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('mode', choices=['train', 'allreduce'])
    ap.add_argument('--world', type=int, default=2)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--steps', type=int, default=40)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--sizes', default='[]')
    a = ap.parse_args()
    if a.mode == 'train':
        value = train_single(a.threads, a.steps, a.batch) if a.world == 1 else spawn(train_rank, a.world, a.steps, a.batch)
    else:
        value = spawn(allreduce_rank, a.world, json.loads(a.sizes), a.steps)
    print(json.dumps({'value': value}))


if __name__ == '__main__':
    main()
