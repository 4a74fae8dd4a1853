"""Many-core load balance of the plans of real networks' convolutions.

``python benchmarks/balance_table.py [--min-gflop 1.0] [--threads 16 32 64]``

For every convolution of ResNet-50 (batch 4, 224x224), VGG-16 (batch 4) and U-Net
(batch 2, 256x256) and every direction (forward, grad_input, grad_weight) of more than
``--min-gflop`` GFLOP (2 x multiply-adds), prints the algorithm, the task count and the
balance of its task list under an OpenMP static schedule of each thread count: thread t
runs a contiguous block of n // T tasks (the first n % T one more), balance = (total
work / T) / (the largest thread's work).  Task work comes from the plan's
``describe()["task_work"]`` when the build has it, else equal tasks are assumed (the
plans of earlier builds).  Needs no big arrays: plans are made from zero-filled arrays
the OS never touches.
"""
import argparse

import numpy as np

import fastconv
from fastconv import _engine


def _layers():
    """(network, name, N, C, H, W, O, k, stride, pad)."""
    out = []
    r = "ResNet-50"
    out += [(r, "stem 7x7/2", 4, 3, 224, 224, 64, 7, 2, 3),
            (r, "1x1 64->64 @56", 4, 64, 56, 56, 64, 1, 1, 0),
            (r, "1x1 64->256 @56", 4, 64, 56, 56, 256, 1, 1, 0),
            (r, "1x1 256->64 @56", 4, 256, 56, 56, 64, 1, 1, 0),
            (r, "3x3 64 @56", 4, 64, 56, 56, 64, 3, 1, 1),
            (r, "3x3 128/2 @56", 4, 128, 56, 56, 128, 3, 2, 1),
            (r, "3x3 128 @28", 4, 128, 28, 28, 128, 3, 1, 1),
            (r, "3x3 256/2 @28", 4, 256, 28, 28, 256, 3, 2, 1),
            (r, "3x3 256 @14", 4, 256, 14, 14, 256, 3, 1, 1),
            (r, "3x3 512/2 @14", 4, 512, 14, 14, 512, 3, 2, 1),
            (r, "3x3 512 @7", 4, 512, 7, 7, 512, 3, 1, 1),
            (r, "1x1 512->2048 @7", 4, 512, 7, 7, 2048, 1, 1, 0)]
    v = "VGG-16"
    for c, o, s in ((3, 64, 224), (64, 64, 224), (64, 128, 112), (128, 128, 112),
                    (128, 256, 56), (256, 256, 56), (256, 512, 28), (512, 512, 28),
                    (512, 512, 14)):
        out.append((v, f"3x3 {c}->{o} @{s}", 4, c, s, s, o, 3, 1, 1))
    u = "U-Net"
    for c, o, s in ((3, 64, 256), (64, 64, 256), (64, 128, 128), (128, 128, 128),
                    (128, 256, 64), (256, 256, 64), (256, 512, 32), (512, 512, 32),
                    (512, 1024, 16), (1024, 1024, 16),
                    (1024, 512, 32), (512, 256, 64), (256, 128, 128), (128, 64, 256)):
        out.append((u, f"3x3 {c}->{o} @{s}", 2, c, s, s, o, 3, 1, 1))
    return out


def rows(min_gflop, dtype=np.float32):
    out = []
    for net, name, N, C, H, W, O, k, s, pad in _layers():
        x = np.zeros((N, C, H, W), dtype)
        w = np.zeros((O, C, k, k), dtype)
        OH = (H + 2 * pad - k) // s + 1
        go = np.zeros((N, O, OH, OH), dtype)
        gflop = 2.0 * N * O * OH * OH * C * k * k / 1e9
        descs = fastconv.plan(fastconv.conv2d, x, w, stride=s, padding=pad).describe()
        descs += fastconv.plan(fastconv.conv2d_backward, go, x, w, stride=s,
                               padding=pad).describe()[:2]
        for d in descs:
            if gflop <= min_gflop:
                continue
            work = d.get("task_work") or [1] * d["tasks"]
            algo = d.get("runs", d["algorithm"])
            out.append((net, name, d["direction"], gflop, algo, d["tasks"], work))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-gflop", type=float, default=1.0)
    ap.add_argument("--threads", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--many-core", action="store_true",
                    help="plan with fastconv.tuning(**fastconv._engine.MANY_CORE)")
    a = ap.parse_args(argv)
    if a.many_core:
        from fastconv._engine import MANY_CORE
        with fastconv.tuning(**MANY_CORE):
            return _main(a)
    return _main(a)


def _main(a):
    head = (f"{'network':10s} {'layer':18s} {'direction':11s} {'GFLOP':>6s} "
            f"{'algorithm':26s} {'tasks':>6s} " + " ".join(f"{'T=' + str(t):>6s}"
                                                         for t in a.threads))
    print(head)
    print("-" * len(head))
    worst = (2.0, None)
    for net, name, direction, gflop, algo, tasks, work in rows(a.min_gflop):
        bals = [_engine.static_balance(work, t) for t in a.threads]
        print(f"{net:10s} {name:18s} {direction:11s} {gflop:6.2f} {algo:26s} {tasks:6d} "
              + " ".join(f"{b:6.3f}" for b in bals))
        if min(bals) < worst[0]:
            worst = (min(bals), f"{net} {name} {direction}")
    print(f"worst: {worst[0]:.3f} ({worst[1]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
