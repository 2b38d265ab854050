"""PyTorch's side of bench/maxPool/maxPool.ts: milliseconds for max pooling's forward and backward
at each given shape (kernel 2), and for the attack's input-gradient step of the small CNN (width
0.5, eval mode), best of the given rounds; with --linear, also a fully connected layer
(bench/blas/blisThreads.ts).
/usr/bin/python3 bench/maxPool/pytorch_max_pool.py --threads 2 --batch 256 --rounds 5 256x16x28x28 256x32x14x14"""
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
p.add_argument('--linear', help='rows x in x out: also time a fully connected layer, forward and backward to the input')
p.add_argument('shapes', nargs='*')
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)


def best(fn):
    return best_ms(fn, a.rounds, a.steps)


pools = []
for s in a.shapes:
    x = torch.randn(*[int(d) for d in s.split('x')]).relu()

    def pool():
        xi = x.detach().requires_grad_(True)
        y = F.max_pool2d(xi, 2)
        torch.autograd.grad(y, xi, torch.ones_like(y))
    pools.append(best(pool))

model = SmallCNN(1, 10, 0.5).eval()
x0 = torch.rand(a.batch, 1, 28, 28)
goal = torch.randint(0, 10, (a.batch,))


def step():
    xi = x0.detach().requires_grad_(True)
    torch.autograd.grad(F.cross_entropy(model(xi)[0], goal), xi)


out = {'torch': torch.__version__, 'pools': pools, 'step': best(step)}
if a.linear:
    rows, fin, fout = (int(d) for d in a.linear.split('x'))
    h, w, b = torch.randn(rows, fin), torch.randn(fout, fin), torch.randn(fout)

    def linear():
        hi = h.detach().requires_grad_(True)
        torch.autograd.grad(F.linear(hi, w, b).sum(), hi)
    out['linear'] = best(linear)
print(json.dumps(out))
