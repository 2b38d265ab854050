"""PyTorch side of the AutoAttack benchmark: fra31/auto-attack's own code (the reference
implementation, not vendored: pass its checkout with --autoattack-dir) run on a model exported by
`sauron export`, on the same inputs as Sauron's run.
/usr/bin/python3 bench/autoattack/pytorch_autoattack.py --model model.pt --images x.npy --labels y.npy \
    --norm Linf --eps 0.02 --autoattack-dir /path/to/auto-attack"""
import argparse
import contextlib
import re
import json
import os
import sys
import time

import numpy as np
import torch


class Logits(torch.nn.Module):
    # `sauron export` files return (logits, features); AutoAttack wants the logits
    def __init__(self, scripted):
        super().__init__()
        self.scripted = scripted

    def forward(self, x):
        return self.scripted(x)[0]


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--model', required=True)
    p.add_argument('--images', required=True)
    p.add_argument('--labels', required=True)
    p.add_argument('--norm', choices=['Linf', 'L2'], required=True)
    p.add_argument('--eps', type=float, required=True)
    p.add_argument('--version', default='standard')
    p.add_argument('--bs', type=int, default=250)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=0)
    p.add_argument('--device', default='cpu')
    p.add_argument('--autoattack-dir', required=True)
    a = p.parse_args()
    sys.path.insert(0, a.autoattack_dir)
    from autoattack import AutoAttack  # noqa: E402
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = 'cuda' if a.device.startswith('cuda') else 'cpu'
    model = Logits(torch.jit.load(a.model, map_location=dev)).eval()
    x = torch.from_numpy(np.load(a.images)).float().to(dev)
    y = torch.from_numpy(np.load(a.labels)).long().to(dev)
    log = os.path.join(os.path.dirname(os.path.abspath(a.images)), 'autoattack-log.txt')
    if os.path.exists(log):
        os.remove(log)
    # the reference prints its settings to stdout, which carries this script's JSON: send them to stderr
    with contextlib.redirect_stdout(sys.stderr):
        aa = AutoAttack(model, norm=a.norm, eps=a.eps, version=a.version, seed=a.seed, device=dev, log_path=log)
    if dev == 'cuda':
        torch.cuda.synchronize()
    t0 = time.time()
    with contextlib.redirect_stdout(sys.stderr):
        x_adv, y_adv = aa.run_standard_evaluation(x, y, bs=a.bs, return_labels=True)
    if dev == 'cuda':
        torch.cuda.synchronize()
    seconds = time.time() - t0
    with torch.no_grad():
        clean = model(x).argmax(1)
    robust = (clean == y) & (y_adv == y)
    d = (x_adv - x).flatten(1)
    # per attack, as the reference logs it: robust accuracy after it and the time so far
    after = {m[0].lower(): {'robustAccuracy': float(m[1]) / 100, 'seconds': float(m[2])}
             for m in re.findall(r'robust accuracy after (\S+): ([\d.]+)% \(total time ([\d.]+) s\)', open(log).read())}
    print(json.dumps({
        'torch': torch.__version__, 'threads': torch.get_num_threads(), 'seconds': seconds,
        'cleanAccuracy': (clean == y).float().mean().item(), 'robustAccuracy': robust.float().mean().item(),
        'robust': robust.tolist(), 'afterAttack': after, 'maxLinf': d.abs().amax(1).max().item(), 'maxL2': d.norm(dim=1).max().item(),
    }))


if __name__ == '__main__':
    main()
