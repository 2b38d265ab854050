"""Timing for the PyTorch twins of the benchmarks: the best milliseconds per call over rounds."""
import time


def best_ms(fn, rounds, steps):
    """Best ms per call of fn over `rounds` rounds of `steps` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        times.append((time.perf_counter() - t0) / steps * 1000)
    return min(times)
