"""Depthwise convolution against torch: MobileNetV2's depthwise layers and a few more.

Not an asv benchmark (no ``time_`` names): a script that prints one row per case::

    PYTHONPATH=. python benchmarks/depthwise_table.py [--repeat 9] [--threads 2]
                                                      [--cases SUBSTR ...] [--dtype float64]
                                                      [--balance]

Every row times, interleaved in one round (``fastconv.bench.interleaved``, medians),
fastconv's ``conv2d`` and ``conv2d_backward`` (grad_input, grad_weight, grad_bias) and
torch's ``conv2d`` and ``aten.convolution_backward`` with all three outputs, at the same
thread count.  Ratios are fastconv's time over torch's (below 1: fastconv is faster);
``fwd+bwd`` is the sum of the two times.  The last line is the geometric mean of each
ratio column.  ``--balance`` prints instead, per case and direction, the task count and
the static schedule's balance at 16, 32 and 64 threads (mean tasks per thread over the
most any thread gets; the tasks of one direction are of even size).
"""
import argparse

import numpy as np

import fastconv
from fastconv.bench import geomean, interleaved

# name, N, C, multiplier, H (= W), kernel, stride, padding
CASES = [
    ("C32 112 s1", 4, 32, 1, 112, 3, 1, 1),
    ("C96 112 s2", 4, 96, 1, 112, 3, 2, 1),
    ("C144 56 s1", 4, 144, 1, 56, 3, 1, 1),
    ("C144 56 s2", 4, 144, 1, 56, 3, 2, 1),
    ("C192 28 s1", 4, 192, 1, 28, 3, 1, 1),
    ("C192 28 s2", 4, 192, 1, 28, 3, 2, 1),
    ("C384 14 s1", 4, 384, 1, 14, 3, 1, 1),
    ("C576 14 s1", 4, 576, 1, 14, 3, 1, 1),
    ("C576 14 s2", 4, 576, 1, 14, 3, 2, 1),
    ("C960 7 s1", 4, 960, 1, 7, 3, 1, 1),
    ("C32x2 56 s1", 4, 32, 2, 56, 3, 1, 1),
    ("C32x2 56 s2", 4, 32, 2, 56, 3, 2, 1),
    ("C240 28 5x5", 4, 240, 1, 28, 5, 1, 2),
]


def case_funcs(torch, n, c, mult, h, k, s, p, dtype):
    rng = np.random.default_rng(0)
    o = c * mult
    x = rng.standard_normal((n, c, h, h)).astype(dtype)
    w = rng.standard_normal((o, 1, k, k)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    y = fastconv.conv2d(x, w, b, stride=s, padding=p, groups=c)
    go = rng.standard_normal(y.shape).astype(dtype)
    tx, tw, tb, tgo = (torch.from_numpy(a) for a in (x, w, b, go))

    def fwd():
        return fastconv.conv2d(x, w, b, stride=s, padding=p, groups=c)

    def tfwd():
        return torch.nn.functional.conv2d(tx, tw, tb, stride=s, padding=p, groups=c)

    def bwd():
        return fastconv.conv2d_backward(go, x, w, stride=s, padding=p, groups=c)

    def tbwd():
        return torch.ops.aten.convolution_backward(tgo, tx, tw, [o], [s, s], [p, p], [1, 1],
                                                   False, [0, 0], c, [True, True, True])

    algs = fastconv.plan(fastconv.conv2d, x, w, b, stride=s, padding=p, groups=c).algorithms
    balgs = fastconv.plan(fastconv.conv2d_backward, go, x, w, stride=s, padding=p,
                          groups=c).algorithms
    short = [a.split(".")[-1] for a in (algs["forward"], balgs["grad_input"],
                                        balgs["grad_weight"])]
    return fwd, tfwd, bwd, tbwd, "/".join(short)


def balance(name, n, c, mult, h, k, s, p, dtype):
    x = np.zeros((n, c, h, h), dtype)
    w = np.zeros((c * mult, 1, k, k), dtype)
    y = fastconv.plan(fastconv.conv2d, x, w, stride=s, padding=p, groups=c).problem.y_shape
    rows = []
    go = np.zeros(y, dtype)
    for fn, args in ((fastconv.conv2d, (x, w)), (fastconv.conv2d_backward, (go, x, w))):
        for d in fastconv.plan(fn, *args, stride=s, padding=p, groups=c).describe():
            t = d["tasks"]
            rows.append(f"{d['algorithm'].split('.', 1)[1]} {t} tasks: " + ", ".join(
                f"{P}: {100 * t / P / -(-t // P):.0f}%" for P in (16, 32, 64)))
    print(f"{name}: " + " | ".join(rows))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--cases", nargs="*", default=None, help="substrings of case names")
    ap.add_argument("--threads", type=int, default=None, help="default: fastconv's default")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--balance", action="store_true")
    args = ap.parse_args()
    if args.balance:
        for name, *shape in CASES:
            balance(name, *shape, np.dtype(args.dtype))
        return
    import torch
    if args.threads:
        fastconv.set_num_threads(args.threads)
    torch.set_num_threads(fastconv.get_num_threads())
    dtype = np.dtype(args.dtype)
    print(f"threads: fastconv {fastconv.get_num_threads()}, torch {torch.get_num_threads()}; "
          f"{dtype}; fastconv from {fastconv.__file__}")
    print("| case | algorithms (fwd/gi/gw) | fwd ms | torch | fwd ratio | bwd ms | torch "
          "| bwd ratio | fwd+bwd ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    rf, rb, rt = [], [], []
    for name, *shape in CASES:
        if args.cases and not any(c in name for c in args.cases):
            continue
        fwd, tfwd, bwd, tbwd, algs = case_funcs(torch, *shape, dtype)
        tf, ttf, tb, ttb = interleaved([fwd, tfwd, bwd, tbwd], args.repeat)
        rf.append(tf / ttf)
        rb.append(tb / ttb)
        rt.append((tf + tb) / (ttf + ttb))
        print(f"| {name} | {algs} | {tf * 1e3:.3f} | {ttf * 1e3:.3f} | {rf[-1]:.2f} | "
              f"{tb * 1e3:.3f} | {ttb * 1e3:.3f} | {rb[-1]:.2f} | {rt[-1]:.2f} |", flush=True)
    print(f"| geomean | | | | {geomean(rf):.2f} | | | {geomean(rb):.2f} | {geomean(rt):.2f} |")


if __name__ == "__main__":
    main()
