"""The bench's three pooling cases: fastconv's window kernels (old), its default route
(new) and torch, interleaved in one process; forward and forward+backward.

Not an asv benchmark (no ``time_`` names)::

    PYTHONPATH=. python benchmarks/pool_table.py [--repeat 7] [--threads 2]

``fwd+bwd`` is what ``python -m fastconv bench`` times (max: forward with indices and
the backward through them; avg: forward and backward).  ``GB/s`` counts the bytes the
calls must move; ``% sum`` is that against a NumPy streaming sum (``big.sum()`` over a
256 MB float32 array, one core) of the same round.

``--cpu`` times one thread's CPU time instead (``time.thread_time``, fastconv and torch
both on one thread): on a machine shared with other jobs, wall-clock medians of two
threads measure the other jobs (a parallel region waits for its slowest thread), the
CPU time of one thread much less so.
"""
import time
import argparse

import numpy as np

import fastconv
from fastconv.bench import POOLS, interleaved

try:  # imported as benchmarks.pool_table (asv) or run as a script
    from .global_pool_table import case_funcs
except ImportError:
    from global_pool_table import case_funcs

WINDOW = {"forward": "window", "grad_input": "window"}


def cpu_interleaved(funcs, repeat, min_time=0.05):
    """Median CPU seconds (this thread) per call of each function, run in turn."""
    reps = []
    for f in funcs:
        f()
        t = time.thread_time()
        n = 0
        while time.thread_time() - t < min_time / 4:
            f()
            n += 1
        reps.append(max(1, 4 * n))
    samples = [[] for _ in funcs]
    for _ in range(repeat):
        for f, n, s in zip(funcs, reps, samples):
            t = time.thread_time()
            for _ in range(n):
                f()
            s.append((time.thread_time() - t) / n)
    return [sorted(s)[len(s) // 2] for s in samples]


def old(f):
    def g():
        with fastconv.tuning(force=WINDOW):
            return f()
    return g


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--cpu", action="store_true", help="one thread's CPU time (see above)")
    args = ap.parse_args()
    import torch
    timer = interleaved
    if args.cpu:
        args.threads = 1
        timer = cpu_interleaved
    if args.threads:
        fastconv.set_num_threads(args.threads)
    torch.set_num_threads(fastconv.get_num_threads())
    big = np.random.default_rng(1).standard_normal(64 * 2**20, dtype=np.float32)
    print(f"threads: fastconv {fastconv.get_num_threads()}, torch {torch.get_num_threads()}; "
          f"fastconv {fastconv.__file__}")
    print("| case | route (fwd / bwd) | fwd ms: window, new, torch | new/torch | "
          "fwd+bwd ms: window, new, torch | window/torch | new/torch | GB/s | % sum |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, kind, shape, k, s, p in POOLS:
        fwd, tfwd, both, tboth, mf, mb, _ = case_funcs(torch, kind, shape, k, s, p)
        t = timer([old(fwd), fwd, tfwd, old(both), both, tboth, big.sum], args.repeat)
        sum_gbps = big.nbytes / t[6] / 1e9
        x = np.zeros(shape, np.float32)
        if kind == "max":
            pf = fastconv.plan(fastconv.max_pool2d, x, k, s, p, return_indices=True)
            y, i = fastconv.max_pool2d(x, k, s, p, return_indices=True)
            pb = fastconv.plan(fastconv.max_pool2d_backward, y, i, x.shape)
        else:
            pf = fastconv.plan(fastconv.avg_pool2d, x, k, s, p)
            y = fastconv.avg_pool2d(x, k, s, p)
            pb = fastconv.plan(fastconv.avg_pool2d_backward, y, x.shape, k, s, p)
        route = (pf.algorithms["forward"].split(".")[-1] + " / "
                 + pb.algorithms["grad_input"].split(".")[-1])
        gb = mb / t[4] / 1e9
        print(f"| {kind} {k}x{k}/{s} p{p} {shape} | {route} | {t[0]*1e3:.2f}, {t[1]*1e3:.2f}, "
              f"{t[2]*1e3:.2f} | {t[1]/t[2]:.2f} | {t[3]*1e3:.2f}, {t[4]*1e3:.2f}, "
              f"{t[5]*1e3:.2f} | {t[3]/t[5]:.2f} | {t[4]/t[5]:.2f} | {gb:.1f} | "
              f"{100*gb/sum_gbps:.0f} |  (sum {sum_gbps:.1f} GB/s)", flush=True)


if __name__ == "__main__":
    main()
