"""The same attack step as bench/memory/hostMemoryStep.ts in PyTorch (small CNN, width 0.5, eval
mode, batch norm as PyTorch runs it): ms per step and MiB faulted in per step at each row count.
/usr/bin/python3 bench/memory/pytorch_input_grad_step.py --threads 2 512 1024 2048"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'shared'))
from torch_models import SmallCNN  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument('--threads', type=int, default=2)
p.add_argument('rows', type=int, nargs='+')
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
model = SmallCNN(1, 10, 0.5).eval()
out = []
for n in a.rows:
    x0 = torch.rand(n, 1, 28, 28)
    with torch.no_grad():
        goal = model(x0)[0].argmax(1)
    x = x0.clone()

    def steps(k):
        global x
        for _ in range(k):
            xi = x.detach().requires_grad_(True)
            ce = F.cross_entropy(model(xi)[0], goal, reduction='none')
            g, = torch.autograd.grad(ce.sum(), xi)
            gn = g.flatten(1).norm(dim=1).view(-1, 1, 1, 1) + 1e-10
            d = (xi.detach() + 0.0075 * g / gn) - x0
            dn = d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            d = d * torch.clamp(0.3 / (dn + 1e-12), max=1.0)
            x = (x0 + d).clamp(0, 1)

    steps(3)
    k = max(5, round(4096 / n))
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    steps(k)
    out.append({'rows': n, 'ms': (time.perf_counter() - t0) / k * 1000,
                'faultMib': (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) * 4096 / 2 ** 20 / k})
print(json.dumps({'torch': torch.__version__, 'steps': out}))
