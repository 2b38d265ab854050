"""The naive PGD protocol in PyTorch, as torchattacks and the robustness library run it: every
input, every iteration, every restart, the best (fooling first, then highest-loss) iterate
kept. Timed by bench/attacks/pgdProtocol.ts on the same model and inputs as Sauron's.
/usr/bin/python3 bench/attacks/pytorch_pgd_protocol.py --run RUN_DIR --x x.npy --norm l2 --eps 0.3"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import torch as ch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'shared'))
from torch_models import VGG, SmallCNN  # noqa: E402

DTYPES = {'F32': ch.float32, 'I64': ch.int64, 'F64': ch.float64}


def load_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == '__metadata__':
            continue
        a, b = v['data_offsets']
        out[k] = ch.frombuffer(bytearray(data[a:b]), dtype=DTYPES[v['dtype']]).reshape(v['shape'])
    return out


def random_start(x, norm, eps):
    if norm == 'l2':
        r = ch.randn_like(x)
        r = r / (r.flatten(1).norm(dim=1).view(-1, 1, 1, 1) + 1e-10) * eps
    else:
        r = (ch.rand_like(x) - 0.5) * 2 * eps
    return (x + r).clamp(0, 1)


def pgd(model, x0, goal, norm, eps, iters, restarts):
    step = 2.5 * eps / iters
    fooled = ch.zeros(len(x0), dtype=ch.bool, device=x0.device)
    for _ in range(restarts):
        x = random_start(x0, norm, eps)
        best_score = ch.full((len(x0),), -float('inf'), device=x0.device)
        for t in range(iters + 1):
            xi = x.clone().requires_grad_(t < iters)
            logits, _ = model(xi)
            ce = F.cross_entropy(logits, goal, reduction='none')
            success = logits.argmax(1) != goal
            score = success.float() * 1e4 + ce.detach()
            better = score > best_score
            best_score = ch.where(better, score, best_score)
            fooled |= success
            if t == iters:
                break
            g, = ch.autograd.grad(ce.sum(), xi)
            with ch.no_grad():
                if norm == 'l2':
                    x = xi + step * g / (g.flatten(1).norm(dim=1).view(-1, 1, 1, 1) + 1e-10)
                    x = (x0 + (x - x0).renorm(p=2, dim=0, maxnorm=eps)).clamp(0, 1)
                else:
                    x = xi + step * g.sign()
                    x = (x0 + (x - x0).clamp(-eps, eps)).clamp(0, 1)
    return fooled


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--run', required=True)
    p.add_argument('--x', required=True)
    p.add_argument('--norm', default='l2')
    p.add_argument('--eps', type=float, required=True)
    p.add_argument('--iterations', type=int, default=100)
    p.add_argument('--restarts', type=int, default=20)
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--threads', type=int, default=os.cpu_count())
    p.add_argument('--device', default='cpu')
    a = p.parse_args()
    ch.set_num_threads(a.threads)
    ch.manual_seed(0)
    cfg = json.load(open(os.path.join(a.run, 'model.json')))
    norm = cfg.get('normalization') or {}
    if cfg['arch'] == 'small-cnn':
        model = SmallCNN(cfg['inputShape'][0], cfg['numClasses'], cfg['width'], tuple(cfg['inputShape'][1:]),
                         norm.get('mean'), norm.get('std'))
    else:
        model = VGG(cfg['arch'], cfg['inputShape'][0], cfg['numClasses'], cfg['width'], norm.get('mean'), norm.get('std'))
    model.load_state_dict(load_safetensors(os.path.join(a.run, 'model.safetensors')))
    model.to(a.device).eval()
    x = ch.from_numpy(np.load(a.x)).to(a.device)
    # one step untimed: CUDA's context and kernel selection are not the protocol's cost
    xw = x[:a.batch].clone().requires_grad_(True)
    ch.autograd.grad(model(xw)[0].sum(), xw)
    if x.is_cuda:
        ch.cuda.synchronize()
    t0 = time.perf_counter()
    fooled = []
    for s in range(0, len(x), a.batch):
        xb = x[s:s + a.batch]
        with ch.no_grad():
            clean = model(xb)[0].argmax(1)
        fooled.append(pgd(model, xb, clean, a.norm, a.eps, a.iterations, a.restarts))
    rate = ch.cat(fooled).float().mean().item()  # waits for the device
    seconds = time.perf_counter() - t0
    name = ch.cuda.get_device_name(x.device) if x.is_cuda else 'cpu'
    print(json.dumps({'seconds': seconds, 'successRate': rate, 'torch': ch.__version__, 'device': name}))


if __name__ == '__main__':
    main()
