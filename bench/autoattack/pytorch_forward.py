"""PyTorch side of bench/autoattack/squareLocal.ts: microseconds per row of a forward pass of a
model exported by `sauron export` (TorchScript, eval mode, no gradients), the best of three rounds.
/usr/bin/python3 bench/autoattack/pytorch_forward.py --model model.pt --rows 374 --shape 1,28,28 --threads 2"""
import argparse
import json
import time

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--model', required=True)
    p.add_argument('--rows', type=int, required=True)
    p.add_argument('--shape', required=True, help='C,H,W')
    p.add_argument('--threads', type=int, default=0)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    model = torch.jit.load(a.model, map_location='cpu').eval()
    shape = [int(d) for d in a.shape.split(',')]
    g = torch.Generator().manual_seed(0)
    x = torch.rand([a.rows] + shape, generator=g)
    reps = max(5, -(-8000 // a.rows))
    best = float('inf')
    with torch.no_grad():
        model(x)
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(reps):
                model(x)[0].sum().item()
            best = min(best, (time.perf_counter() - t0) / reps)
    print(json.dumps({'forward_us': best * 1e6 / a.rows, 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
