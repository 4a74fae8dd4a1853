"""Dilated and heavily padded convolutions against torch: DeepLabV3's layers.

Not an asv benchmark (no ``time_`` names): a script that prints, for each layer, the
ratio of fastconv's time to torch's (same thread count, float32), forward and
backward (grad_input, grad_weight and grad_bias), timed interleaved in one process,
and the algorithms fastconv's plan uses::

    PYTHONPATH=. python benchmarks/dilated_table.py [--repeat 7] [--threads 2] [--only d12]

Run it without ``PYTHONPATH`` for the installed build (the "before" column of a
change).  The layers: DeepLabV3 (ResNet-50, output stride 8, batch 4, 224x224 input,
so 28x28 planes): layer3's 3x3 convolutions with dilation 2 (256 channels), layer4's
with dilation 4 (512 channels), the ASPP branches (3x3, dilation 12, 24, 36, 2048 ->
256 channels) and the brief's 256 -> 256 dilation-12 case; a WaveNet-style 1-D
dilated convolution and a 3-D dilated one.  The last line is the time-weighted ratio
(sum of fastconv's times over the sum of torch's), forward + backward.
"""
import argparse

import numpy as np

import fastconv
from fastconv.bench import interleaved as bench_interleaved


def interleaved(funcs, repeat):
    return bench_interleaved(funcs, repeat, min_time=0.3, pause=0.002)


# name, nd, x shape, O, kernel, dilation, padding
CASES = [
    ("layer3 d2 (4,256,28,28)", 2, (4, 256, 28, 28), 256, 3, 2, 2),
    ("layer4 d4 (4,512,28,28)", 2, (4, 512, 28, 28), 512, 3, 4, 4),
    ("d12 (4,256,28,28)->256", 2, (4, 256, 28, 28), 256, 3, 12, 12),
    ("ASPP d12 (4,2048,28,28)", 2, (4, 2048, 28, 28), 256, 3, 12, 12),
    ("ASPP d24 (4,2048,28,28)", 2, (4, 2048, 28, 28), 256, 3, 24, 24),
    ("ASPP d36 (4,2048,28,28)", 2, (4, 2048, 28, 28), 256, 3, 36, 36),
    ("ASPP 1x1 (4,2048,28,28)", 2, (4, 2048, 28, 28), 256, 1, 1, 0),
    ("WaveNet 1-D k2 d256 (4,64,16000)", 1, (4, 64, 16000), 64, 2, 256, 256),
    ("3-D d3 (2,64,16,28,28)", 3, (2, 64, 16, 28, 28), 64, 3, 3, 3),
]


def case_funcs(torch, nd, shape, O, k, d, pad, threads):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    w = rng.standard_normal((O, shape[1]) + (k,) * nd, dtype=np.float32) * 0.05
    b = rng.standard_normal(O, dtype=np.float32)
    conv = getattr(fastconv, f"conv{nd}d")
    back = getattr(fastconv, f"conv{nd}d_backward")
    tconv = getattr(torch.nn.functional, f"conv{nd}d")
    y = conv(x, w, b, padding=pad, dilation=d)
    go = rng.standard_normal(y.shape, dtype=np.float32)
    tx, tw, tb, tgo = (torch.from_numpy(a) for a in (x, w, b, go))
    S, P, D = [1] * nd, [pad] * nd, [d] * nd

    def fwd():
        return conv(x, w, b, padding=pad, dilation=d, num_threads=threads)

    def tfwd():
        return tconv(tx, tw, tb, padding=pad, dilation=d)

    def bwd():
        return back(go, x, w, padding=pad, dilation=d, num_threads=threads)

    def tbwd():
        return torch.ops.aten.convolution_backward(tgo, tx, tw, [O], S, P, D, False,
                                                   [0] * nd, 1, [True, True, True])
    plans = (fastconv.plan(conv, x, w, b, padding=pad, dilation=d),
             fastconv.plan(back, go, x, w, padding=pad, dilation=d))
    algs = [plans[0].algorithms["forward"]]
    for desc in plans[1].describe():
        if desc["direction"] != "grad_bias":
            algs.append(desc["algorithm"] + (f"({desc['runs']})" if "runs" in desc else ""))
    return (fwd, tfwd, bwd, tbwd), ", ".join(a.split(".", 2)[2] for a in algs)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default=None, help="only cases whose name contains this")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    print(f"fastconv {fastconv.__version__} from {fastconv.__file__}; torch {torch.__version__}; "
          f"{args.threads} threads, float32, median of {args.repeat} interleaved rounds")
    print(f"{'layer':34s} {'fwd ms':>8s} {'torch':>8s} {'ratio':>6s} {'bwd ms':>8s} "
          f"{'torch':>8s} {'ratio':>6s}  algorithms (fwd; grad_input; grad_weight)")
    tot_f = tot_t = 0.0
    for name, nd, shape, O, k, d, pad in CASES:
        if args.only and args.only not in name:
            continue
        funcs, algs = case_funcs(torch, nd, shape, O, k, d, pad, args.threads)
        f, tf, b, tb = interleaved(funcs, args.repeat)
        tot_f += f + b
        tot_t += tf + tb
        print(f"{name:34s} {f*1e3:8.2f} {tf*1e3:8.2f} {f/tf:6.2f} {b*1e3:8.2f} {tb*1e3:8.2f} "
              f"{b/tb:6.2f}  {algs}")
    print(f"time-weighted fastconv/torch (fwd+bwd): {tot_f / tot_t:.2f}")


if __name__ == "__main__":
    main()
