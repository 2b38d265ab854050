"""PyTorch side of bench/channelsLast/channelsLast.ts: one PGD step's input gradient (forward,
cross-entropy, backward to the input) in NCHW and in channels-last, same model shape, batch and
machine.
/usr/bin/python3 bench/channelsLast/pytorch_channels_last.py --arch vgg19 --input 3x32x32 --batch 32"""
import argparse
import json
import os
import sys
import time

import torch as ch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'shared'))
from torch_models import create  # noqa: E402


def step(model, x, y):
    xi = x.detach().requires_grad_(True)
    logits, _ = model(xi)
    g, = ch.autograd.grad(F.cross_entropy(logits, y), xi)
    return g


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--arch', default='vgg19')
    p.add_argument('--input', default='3x32x32')
    p.add_argument('--width', type=float, default=1.0)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--threads', type=int, default=os.cpu_count())
    a = p.parse_args()
    ch.set_num_threads(a.threads)
    c, h, w = (int(v) for v in a.input.split('x'))
    ch.manual_seed(0)
    out = {'torch': ch.__version__}
    for fmt in ('contiguous', 'channels_last'):
        model = create(a.arch, c, 10, a.width, (h, w)).eval()
        x = ch.rand(a.batch, c, h, w)
        y = ch.randint(0, 10, (a.batch,))
        if fmt == 'channels_last':
            model = model.to(memory_format=ch.channels_last)
            x = x.contiguous(memory_format=ch.channels_last)
        step(model, x, y)
        best = float('inf')
        for _ in range(a.rounds):
            t0 = time.perf_counter()
            for _ in range(a.steps):
                step(model, x, y)
            best = min(best, (time.perf_counter() - t0) / a.steps)
        out[fmt] = best * 1000
    print(json.dumps(out))


if __name__ == '__main__':
    main()
