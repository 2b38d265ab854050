"""PyTorch's side of bench/conv/firstConv.ts: milliseconds for a convolution's forward and backward
to the input (3x3, padding 1, bias) at each given input shape and output channel count, and for the
attack's input-gradient step of the small CNN (width 0.5, eval mode), best of the given rounds.
/usr/bin/python3 bench/conv/pytorch_first_conv.py --threads 2 --batch 256 --rounds 5 256x1x28x28:16 64x3x32x32:64"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'shared'))
from torch_models import SmallCNN  # noqa: E402
from timing import best_ms  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument('--threads', type=int, default=2)
p.add_argument('--batch', type=int, default=256)
p.add_argument('--rounds', type=int, default=5)
p.add_argument('--steps', type=int, default=10)
p.add_argument('convs', nargs='*', help='NxCxHxW:OUT')
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)


def best(fn):
    return best_ms(fn, a.rounds, a.steps)


convs = []
for s in a.convs:
    shape, out = s.split(':')
    x = torch.rand(*[int(d) for d in shape.split('x')])
    w = torch.randn(int(out), x.shape[1], 3, 3)
    b = torch.randn(int(out))
    up = torch.randn(x.shape[0], int(out), x.shape[2], x.shape[3])

    def conv():
        xi = x.detach().requires_grad_(True)
        torch.autograd.grad(F.conv2d(xi, w, b, padding=1), xi, up)
    convs.append(best(conv))

model = SmallCNN(1, 10, 0.5).eval()
x0 = torch.rand(a.batch, 1, 28, 28)
goal = torch.randint(0, 10, (a.batch,))


def step():
    xi = x0.detach().requires_grad_(True)
    torch.autograd.grad(F.cross_entropy(model(xi)[0], goal), xi)


print(json.dumps({'torch': torch.__version__, 'convs': convs, 'step': best(step)}))
