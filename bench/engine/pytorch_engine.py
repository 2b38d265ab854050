"""The PyTorch side of the engine benchmark: same model, batch and timing as `sauron bench`.
Run with Debian's python3-torch: /usr/bin/python3 bench/engine/pytorch_engine.py --arch vgg19 ..."""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'shared'))
from torch_models import create, device_helpers  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--arch', default='vgg19')
    p.add_argument('--input', default='3x32x32')
    p.add_argument('--classes', type=int, default=10)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--width', type=float, default=1.0)
    p.add_argument('--threads', type=int, default=os.cpu_count())
    p.add_argument('--device', default='cpu')
    p.add_argument('--precision', default='fp32', choices=['fp32', 'bf16', 'fp16'])
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    c, h, w = (int(v) for v in a.input.split('x'))
    torch.manual_seed(0)
    dev, amp, sync = device_helpers(a.device, a.precision)
    model = create(a.arch, c, a.classes, a.width, (h, w)).to(dev)
    x = torch.rand(a.batch, c, h, w).to(dev)
    y = torch.randint(0, a.classes, (a.batch,)).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    train, igrad, train_issue, igrad_issue = [], [], [], []
    model.train()
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with amp():
            loss = F.cross_entropy(model(x)[0], y)
        loss.backward()
        opt.step()
        issued = (time.perf_counter() - t0) * 1000
        sync()
        if i >= a.warmup:
            train.append((time.perf_counter() - t0) * 1000)
            train_issue.append(issued)
    model.eval()
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        xa = x.detach().requires_grad_()
        with amp():
            loss = F.cross_entropy(model(xa)[0], y)
        torch.autograd.grad(loss, xa)
        issued = (time.perf_counter() - t0) * 1000
        sync()
        if i >= a.warmup:
            igrad.append((time.perf_counter() - t0) * 1000)
            igrad_issue.append(issued)
    print(json.dumps({'arch': a.arch, 'batch': a.batch, 'steps': a.steps, 'trainStepMs': statistics.median(train),
                      'inputGradStepMs': statistics.median(igrad), 'trainStepMsAll': train, 'inputGradStepMsAll': igrad,
                      'threads': torch.get_num_threads(), 'torch': torch.__version__, 'engine': 'pytorch',
                      'device': a.device, 'precision': a.precision,
                      'trainIssueMs': statistics.median(train_issue), 'inputGradIssueMs': statistics.median(igrad_issue)}))


if __name__ == '__main__':
    main()
