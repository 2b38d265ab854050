"""PyTorch side of bench/autoattack/fabProjection.ts: milliseconds per call of fra31/auto-attack's
projection_linf on the problems in DIR (t.npy, w.npy, b.npy), the best of the given rounds, and the
largest difference from Sauron's answer (d.npy).
/usr/bin/python3 bench/autoattack/pytorch_fab_projection.py --autoattack-dir ../auto-attack --problems DIR --threads 2"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'shared'))
from timing import best_ms  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--autoattack-dir', required=True)
    p.add_argument('--problems', required=True)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--calls', type=int, default=10)
    a = p.parse_args()
    sys.path.insert(0, os.path.abspath(a.autoattack_dir))
    from autoattack.fab_projections import projection_linf

    torch.set_num_threads(a.threads)
    t, w, b = (torch.from_numpy(np.load(os.path.join(a.problems, f'{k}.npy'))) for k in ('t', 'w', 'b'))
    d = projection_linf(t, w, b)
    ms = best_ms(lambda: projection_linf(t, w, b), a.rounds, a.calls)
    ours = torch.from_numpy(np.load(os.path.join(a.problems, 'd.npy')))
    print(json.dumps({'ms': ms, 'maxDiff': (d - ours).abs().max().item(), 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
