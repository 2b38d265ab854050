"""PyTorch's side of bench/conv/convStack.ts: milliseconds for the forward and for the attack's
input-gradient step (forward, cross-entropy, backward to the input) of each given model, eval mode,
weights frozen, best of the given rounds.
/usr/bin/python3 bench/conv/pytorch_conv_stack.py --threads 2 --rounds 5 small-cnn:0.5:256:1x28x28 vgg11:1:64:3x32x32"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'shared'))
from torch_models import create  # noqa: E402
from timing import best_ms  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument('--threads', type=int, default=2)
p.add_argument('--rounds', type=int, default=5)
p.add_argument('--steps', type=int, default=10)
p.add_argument('cases', nargs='*', help='ARCH:WIDTH:BATCH:CxHxW')
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

cases = []
for s in a.cases:
    arch, width, batch, shape = s.split(':')
    c, h, w = [int(d) for d in shape.split('x')]
    model = create(arch, c, 10, float(width), (h, w)).eval()
    for q in model.parameters():
        q.requires_grad_(False)
    x0 = torch.rand(int(batch), c, h, w)
    goal = torch.randint(0, 10, (int(batch),))

    def forward():
        with torch.no_grad():
            model(x0)[0].sum().item()

    def step():
        xi = x0.detach().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(model(xi)[0], goal), xi)
    cases.append({'forward': best_ms(forward, a.rounds, a.steps), 'step': best_ms(step, a.rounds, a.steps)})

print(json.dumps({'torch': torch.__version__, 'cases': cases}))
