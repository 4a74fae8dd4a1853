"""Winograd F(2x2, 3x3) against the strip path and torch: 3x3 stride-1 layers by plane size.

Not an asv benchmark (no ``time_`` names): a script that prints, for each layer, the
forward time of fastconv with ``conv.forward.winograd`` and with ``conv.forward.strip``
forced, and torch's (same thread count, float32), timed interleaved in one process, with
the ratios and the algorithm the default plan picks::

    PYTHONPATH=. python benchmarks/winograd_table.py [--repeat 7] [--threads 2]

This is how ``Tuning.winograd_min_ow`` was chosen: Winograd pays from output rows of about
20 positions (10 tiles a row) up, and loses on 14x14 and 7x7 planes, where tile rows are
short and the per-task GEMMs small.  Torch is optional (its column is left out without it).
"""
import argparse

import numpy as np

import fastconv
from fastconv.bench import interleaved

# x shape, output channels (3x3, stride 1, padding 1)
CASES = [
    ((8, 64, 56, 56), 64),       # the bench's VGG block
    ((4, 64, 56, 56), 64),       # ResNet layer1
    ((4, 128, 28, 28), 128),     # ResNet layer2
    ((4, 256, 28, 28), 256),     # VGG conv3 at batch 4 / DeepLab layer2
    ((2, 512, 28, 28), 512),     # VGG conv4
    ((4, 256, 14, 14), 256),     # ResNet layer3
    ((4, 512, 7, 7), 512),       # ResNet layer4
    ((1, 512, 32, 32), 512),     # U-Net enc3
    ((1, 64, 256, 256), 64),     # U-Net enc0
    ((1, 128, 128, 128), 128),   # U-Net enc1
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    fastconv.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"fastconv {fastconv.__version__}, {args.threads} threads, float32, forward")
    print("| x | O | default | winograd ms | strip ms | torch ms | wino / strip | wino / torch |")
    print("|---|---|---|---|---|---|---|---|")
    for xs, O in CASES:
        x = rng.standard_normal(xs).astype(np.float32)
        w = (rng.standard_normal((O, xs[1], 3, 3)) / np.sqrt(9 * xs[1])).astype(np.float32)
        b = rng.standard_normal(O).astype(np.float32)

        def forced(name):
            def run():
                with fastconv.tuning(force={"forward": name}):
                    fastconv.conv2d(x, w, b, padding=1)
            return run
        funcs = [forced("winograd"), forced("strip")]
        if torch is not None:
            tx, tw, tb = map(torch.from_numpy, (x, w, b))
            funcs.append(lambda: torch.nn.functional.conv2d(tx, tw, tb, padding=1))
        times = [t * 1e3 for t in interleaved(funcs, args.repeat)]
        default = fastconv.plan(fastconv.conv2d, x, w, b, padding=1).algorithms["forward"]
        tt = f"{times[2]:.2f}" if torch is not None else "-"
        rt = f"{times[0] / times[2]:.2f}" if torch is not None else "-"
        print(f"| {xs} | {O} | {default.split('.')[-1]} | {times[0]:.2f} | {times[1]:.2f} | {tt} "
              f"| {times[0] / times[1]:.2f} | {rt} |")


if __name__ == "__main__":
    main()
