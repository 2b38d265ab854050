"""PyTorch side of bench/batchNorm/foldBatchNorm.ts: one attack step's input gradient (forward,
cross-entropy, backward to the input) with batch norm as its own layer and folded into the
convolutions (PyTorch's own fuse_conv_bn_eval on the same pairs as Sauron folds: neighbours in a
Sequential, and a block's convK / bnK), same shapes.
/usr/bin/python3 bench/batchNorm/pytorch_fold_batch_norm.py --arch vgg19 --input 3x32x32 --batch 32"""
import argparse
import copy
import json
import os
import sys
import time

import torch as ch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'shared'))
from torch_models import create  # noqa: E402


def fuse(model):
    model = copy.deepcopy(model)
    for mod in list(model.modules()):
        if isinstance(mod, nn.Sequential):
            for i in range(len(mod) - 1):
                if isinstance(mod[i], nn.Conv2d) and isinstance(mod[i + 1], nn.BatchNorm2d):
                    mod[i] = fuse_conv_bn_eval(mod[i], mod[i + 1])
                    mod[i + 1] = nn.Identity()
            continue
        children = dict(mod.named_children())
        for name, child in children.items():
            if name.startswith('conv') and isinstance(child, nn.Conv2d) and isinstance(children.get('bn' + name[4:]), nn.BatchNorm2d):
                setattr(mod, name, fuse_conv_bn_eval(child, children['bn' + name[4:]]))
                setattr(mod, 'bn' + name[4:], nn.Identity())
    return model


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
    model = create(a.arch, c, 10, a.width, (h, w)).eval()
    fused = fuse(model)
    x = ch.rand(a.batch, c, h, w)
    y = ch.randint(0, 10, (a.batch,))
    out = {'torch': ch.__version__}
    times = {'batch_norm': float('inf'), 'folded': float('inf')}
    for m in (model, fused):
        step(m, x, y)
    for _ in range(a.rounds):
        for name, m in (('batch_norm', model), ('folded', fused)):
            t0 = time.perf_counter()
            for _ in range(a.steps):
                step(m, x, y)
            times[name] = min(times[name], (time.perf_counter() - t0) / a.steps)
    out.update({k: v * 1000 for k, v in times.items()})
    print(json.dumps(out))


if __name__ == '__main__':
    main()
