"""Global and large-window pooling against torch and against memory bandwidth.

Not an asv benchmark (no ``time_`` names): a script that prints the table of
``docs/performance.md``'s "Global and large-window pooling" section::

    PYTHONPATH=. python benchmarks/global_pool_table.py [--repeat 9] [--threads 1]

Every row runs fastconv, torch (same thread count) and a NumPy streaming sum
(``big.sum()`` over a 256 MB float32 array: one core's read bandwidth) interleaved
in one round; figures are medians.  ``GB/s`` is the bytes the call must move
(forward: x read, out written; forward+backward: that, plus grad_output read and
grad_input written) divided by its time; ``% sum`` is that against the streaming
sum's GB/s of the same round.
"""
import argparse

import numpy as np

import fastconv
from fastconv.bench import interleaved as bench_interleaved


def interleaved(funcs, repeat):
    """Median seconds of each function, run in turn (the bench's own timer, longer samples)."""
    return bench_interleaved(funcs, repeat, min_time=0.3, pause=0.002)


# name, kind, shape, kernel, stride, padding
CASES = [
    ("global avg (4,2048,7,7)", "avg", (4, 2048, 7, 7), 7, 7, 0),
    ("global avg (4,512,7,7)", "avg", (4, 512, 7, 7), 7, 7, 0),
    ("global avg (4,1280,7,7)", "avg", (4, 1280, 7, 7), 7, 7, 0),
    ("global avg (32,512,7,7)", "avg", (32, 512, 7, 7), 7, 7, 0),
    ("global avg (4,512,14,14)", "avg", (4, 512, 14, 14), 14, 14, 0),
    ("avg 7x7/1 (4,512,14,14)", "avg", (4, 512, 14, 14), 7, 1, 0),
    ("global max (4,2048,7,7)", "max", (4, 2048, 7, 7), 7, 7, 0),
    ("global max (4,512,7,7)", "max", (4, 512, 7, 7), 7, 7, 0),
    ("global max (4,1280,7,7)", "max", (4, 1280, 7, 7), 7, 7, 0),
    ("global max (32,512,7,7)", "max", (32, 512, 7, 7), 7, 7, 0),
    ("global max (4,512,14,14)", "max", (4, 512, 14, 14), 14, 14, 0),
    ("max 7x7/1 (4,512,14,14)", "max", (4, 512, 14, 14), 7, 1, 0),
    ("max 2x2/2 (32,64,56,56)", "max", (32, 64, 56, 56), 2, 2, 0),
    ("max 3x3/2 p1 (8,64,112,112)", "max", (8, 64, 112, 112), 3, 2, 1),
    ("avg 2x2/2 (32,64,56,56)", "avg", (32, 64, 56, 56), 2, 2, 0),
]


def case_funcs(torch, kind, shape, k, s, p):
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    tx = torch.from_numpy(x)
    K, S, P = [k, k], [s, s], [p, p]
    if kind == "max":
        y, idx = fastconv.max_pool2d(x, k, s, p, return_indices=True)
        go = np.ones_like(y)
        tgo = torch.from_numpy(go)
        fwd = lambda: fastconv.max_pool2d(x, k, s, p, return_indices=True)  # noqa: E731
        tfwd = lambda: torch.nn.functional.max_pool2d(tx, k, s, p,  # noqa: E731
                                                      return_indices=True)

        def both():
            _, i = fastconv.max_pool2d(x, k, s, p, return_indices=True)
            return fastconv.max_pool2d_backward(go, i, x.shape)

        def tboth():
            _, i = torch.nn.functional.max_pool2d(tx, k, s, p, return_indices=True)
            return torch.ops.aten.max_pool2d_with_indices_backward(tgo, tx, K, S, P, [1, 1],
                                                                   False, i)
        moved_f = x.nbytes + y.nbytes * 3          # out + int64 indices
        moved_b = moved_f + y.nbytes * 3 + x.nbytes  # grad_output, indices read, gx written
    else:
        y = fastconv.avg_pool2d(x, k, s, p)
        go = np.ones_like(y)
        tgo = torch.from_numpy(go)
        fwd = lambda: fastconv.avg_pool2d(x, k, s, p)  # noqa: E731
        tfwd = lambda: torch.nn.functional.avg_pool2d(tx, k, s, p)  # noqa: E731

        def both():
            fastconv.avg_pool2d(x, k, s, p)
            return fastconv.avg_pool2d_backward(go, x.shape, k, s, p)

        def tboth():
            torch.nn.functional.avg_pool2d(tx, k, s, p)
            return torch.ops.aten.avg_pool2d_backward(tgo, tx, K, S, P, False, True, None)
        moved_f = x.nbytes + y.nbytes
        moved_b = moved_f + y.nbytes + x.nbytes
    plan = fastconv.plan(fastconv.max_pool2d if kind == "max" else fastconv.avg_pool2d,
                         x, k, s, p, **({"return_indices": True} if kind == "max" else {}))
    return fwd, tfwd, both, tboth, moved_f, moved_b, plan.algorithms["forward"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--cases", nargs="*", default=None, help="substrings of case names")
    ap.add_argument("--threads", type=int, default=None, help="default: fastconv's default")
    ap.add_argument("--cpu", action="store_true",
                    help="one thread's CPU time (pool_table.cpu_interleaved): robust on a "
                         "machine shared with other jobs")
    args = ap.parse_args()
    import torch
    global interleaved
    if args.cpu:
        from pool_table import cpu_interleaved
        args.threads = 1
        interleaved = cpu_interleaved  # noqa: F811
    if args.threads:
        fastconv.set_num_threads(args.threads)
    torch.set_num_threads(fastconv.get_num_threads())
    big = np.random.default_rng(1).standard_normal(64 * 2**20, dtype=np.float32)
    bsum = lambda: big.sum()  # noqa: E731
    print(f"threads: fastconv {fastconv.get_num_threads()}, torch {torch.get_num_threads()}; "
          f"torch {torch.__version__}, numpy {np.__version__}")
    print("| case | algorithm | fwd ms | torch fwd ms | fwd / torch | fwd GB/s | % sum "
          "| fwd+bwd ms | torch fwd+bwd ms | fwd+bwd / torch | fwd+bwd GB/s | % sum |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, kind, shape, k, s, p in CASES:
        if args.cases and not any(c in name for c in args.cases):
            continue
        fwd, tfwd, both, tboth, mf, mb, alg = case_funcs(torch, kind, shape, k, s, p)
        tf, ttf, tb, ttb, ts = interleaved([fwd, tfwd, both, tboth, bsum], args.repeat)
        sum_gbps = big.nbytes / ts / 1e9
        print(f"| {name} | {alg.split('.')[-1]} | {tf * 1e3:.3f} | {ttf * 1e3:.3f} | "
              f"{tf / ttf:.2f} | {mf / tf / 1e9:.1f} | {100 * mf / tf / 1e9 / sum_gbps:.0f} | "
              f"{tb * 1e3:.3f} | {ttb * 1e3:.3f} | {tb / ttb:.2f} | {mb / tb / 1e9:.1f} | "
              f"{100 * mb / tb / 1e9 / sum_gbps:.0f} |  (sum {sum_gbps:.1f} GB/s)", flush=True)


if __name__ == "__main__":
    main()
