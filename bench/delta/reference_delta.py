"""The reference implementation's per-input, per-neuron Delta loop (multiclass_deltas.py),
timed on the first --inputs columns of the benchmark's data and extrapolated to all of them.
Run with Debian's python3-torch: /usr/bin/python3 bench/delta/reference_delta.py DATA.npz"""
import json
import sys
import time

import numpy as np
import torch as ch


def classwise_closed_form_solutions(logits, weights):
    actual_label = ch.argmax(logits)
    delta_values = logits[actual_label] - logits
    delta_values /= weights - weights[actual_label]
    delta_values[actual_label] = np.inf
    return delta_values


def reference_deltas(logits, features, weights):
    """Delta for every neuron and input, [F, N], with the reference's per-neuron loop."""
    n_features = weights.shape[1]
    out = np.zeros((n_features, logits.shape[0]), dtype=np.float32)
    for j, logit in enumerate(logits):
        for i in range(n_features):
            sensitivity = classwise_closed_form_solutions(logit.clone(), weights[:, i])
            valid = sensitivity[features[j][i] + sensitivity >= 0]
            out[i, j] = valid[ch.argmin(ch.abs(valid))].item()
    return out


def main():
    data = np.load(sys.argv[1])
    inputs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    ch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
    logits = ch.from_numpy(data['logits'])
    features = ch.from_numpy(data['features'])
    weights = ch.from_numpy(data['weight'])
    n, f = features.shape
    t0 = time.perf_counter()
    reference_deltas(logits[:inputs], features[:inputs], weights)
    seconds = time.perf_counter() - t0
    print(json.dumps({'inputsTimed': inputs, 'secondsTimed': seconds, 'extrapolatedSeconds': seconds * n / inputs,
                      'torch': ch.__version__}))


if __name__ == '__main__':
    main()
