"""``python -m fastconv``: build information and the source documents' worked examples.

    python -m fastconv                       # same as `python -m fastconv examples`
    python -m fastconv examples --dtype float32
    python -m fastconv info                  # version and build configuration only
    python -m fastconv demo                  # train a small CNN on scikit-learn's digits
    python -m fastconv bench --only-networks # real networks vs torch (bench --help: all options)

Subcommands are registered in :func:`build_parser`; each one is a function ``cmd(args) -> int``.
"""

import argparse
import os
import sys

import numpy as np

import fastconv
from fastconv import _seeds

_WIDTH = 78


# --------------------------------------------------------------------------------------------
# output helpers
# --------------------------------------------------------------------------------------------

def _heading(title):
    print()
    print(f"== {title} " + "=" * max(0, _WIDTH - len(title) - 4))


def _show(label, arr):
    """Print ``label = <array>`` with continuation lines aligned under the array."""
    prefix = f"  {label} = "
    text = np.array2string(np.asarray(arr), prefix=prefix,
                           max_line_width=max(_WIDTH, len(prefix) + 64))
    print(prefix + text)


def _note(text):
    print(f"  note: {text}")


def _compare(got, printed, what="the seed"):
    """Say whether fastconv's ``got`` matches the values printed in the seed."""
    got = np.asarray(got, dtype=np.float64)
    printed = np.asarray(printed, dtype=np.float64).reshape(got.shape)
    bad = ~np.isclose(got, printed, rtol=1e-5, atol=1e-5)
    if not bad.any():
        print(f"  -> matches {what}")
        return
    for pos in zip(*np.nonzero(bad)):
        pos_s = ", ".join(str(int(p)) for p in pos)
        print(f"  -> differs from {what} at [{pos_s}]: printed {printed[pos]:g}, "
              f"fastconv {got[pos]:g}")


# --------------------------------------------------------------------------------------------
# the worked examples
# --------------------------------------------------------------------------------------------

def _ex_conv1d(dt):
    _heading("Seed 001: 1-D correlation and true convolution")
    I, W, LO = _seeds.conv1d_slides()
    x, w, go = (_seeds.batched(a, 3).astype(dt) for a in (I, W, LO))
    _show("I", I)
    _show("W", W)
    out = fastconv.conv1d(x, w)
    _show("correlation  conv1d(I, W)", out[0, 0])
    _compare(out, [14, 20])
    out = fastconv.conv1d(x, w, flip=True)
    _show("convolution  conv1d(I, W, flip=True)", out[0, 0])
    _compare(out, [10, 16])
    out = fastconv.conv1d(x, w, padding="same")
    _show("half padding conv1d(I, W, padding='same')", out[0, 0])

    print("  backward, dL/dO = LO:")
    _show("LO", LO)
    gi, gw, gb = fastconv.conv1d_backward(go, x, w)
    _show("dL/dW", gw[0, 0])
    _compare(gw, [5, 8, 11], "Correlation(I, LO)")
    _show("dL/dI", gi[0, 0])
    _compare(gi, [1, 4, 7, 6], "Correlation(W_pad, LO_flip)")
    _show("dL/db", gb)
    full = fastconv.conv1d(w, np.ascontiguousarray(go[..., ::-1]), padding=1)
    _show("conv1d(W, LO_flip, padding=1)", full[0, 0])
    gi, gw, _ = fastconv.conv1d_backward(go, x, w, flip=True)
    _show("flip=True: dL/dW", gw[0, 0])
    _show("flip=True: dL/dI", gi[0, 0])

    _heading("Seed 001: TensorFlow Conv1D gradWeight")
    n, g = _seeds.conv1d_tf_gradweight()
    _show("n", n)
    _show("nextgrad", g)
    _, gw, _ = fastconv.conv1d_backward(_seeds.batched(g, 3).astype(dt),
                                        _seeds.batched(n, 3).astype(dt),
                                        np.zeros((1, 1, 3), dtype=dt))
    _show("gradWeight", gw[0, 0])
    _compare(gw, [0.6445209, 2.1667714, -1.0011742], "TF's print")
    _note("the forward m = [-0.7662684, 0.2175143] used an unprinted random kernel: "
          "not reproducible")


def _ex_two_filter(dt):
    _heading("Seed 001: 2x4x4 input, two 2x2 filters, bias [0.1, 0.2]")
    I, W, b = _seeds.two_filter_conv()
    _show("I[1]", I[0])
    _show("I[2]", I[1])
    for o in range(2):
        for c in range(2):
            _show(f"W[{o + 1},{c + 1}]", W[o, c])
    out = fastconv.conv2d(_seeds.batched(I, 4).astype(dt), W.astype(dt), b.astype(dt))
    _show("O[1]", out[0, 0])
    _show("O[2]", out[0, 1])
    _compare(out[0], [[[-3.1, -3.9, -10.9], [4.1, -12.9, 16.1], [-3.9, 0.1, 9.1]],
                      [[-0.8, 8.2, 6.2], [5.2, 18.2, 7.2], [-8.8, 2.2, -7.8]]], "the slides")
    _note("typo on the slides: O[1][0,0] is printed -3.1; by hand 1+4-4+1 + 3-2 + 0.1 = 3.1")

    x, w, b = _seeds.two_filter_conv_tf_nhwc()
    out = fastconv.conv2d(_seeds.batched(x, 4).astype(dt), w.astype(dt), b.astype(dt))
    print("  TF re-run: NHWC image and HWIO kernel filled in the listed order (other numbers):")
    _show("O (H, W, C)", out[0].transpose(1, 2, 0))
    printed = [[[17.1, -4.8], [3.1, 3.2], [-15.9, 16.2]],
               [[10.1, -8.8], [-5.9, -16.8], [-4.9, 1.2]],
               [[1.1, -11.8], [5.1, 4.2], [-20.1, 2.2]]]
    _compare(out[0].transpose(1, 2, 0), printed, "TF's print")
    _note("typo in the TF print: O[2,2,0] is printed -20.1; by hand 2+2+5+9+2 + 0.1 = 20.1")


def _ex_conv_transpose(dt):
    _heading("Seed 001: Conv2D 3x3/2 backward == Conv2DTranspose forward")
    w, r = _seeds.tf_conv_transpose()
    _show("w", w)
    _show("r (gradOutput)", r)
    ww, rr = _seeds.batched(w, 4).astype(dt), _seeds.batched(r, 4).astype(dt)
    gi = fastconv.conv_transpose2d(rr, ww, stride=2)
    _show("conv_transpose2d(r, w, stride=2)", gi[0, 0])
    gi2, _, _ = fastconv.conv2d_backward(rr, np.zeros((1, 1, 5, 5), dtype=dt), ww, stride=2)
    print(f"  conv2d_backward grad_input identical: {bool(np.array_equal(gi, gi2))}")
    _compare(gi[0, 0], [[3.4293556, 50.17591, 22.974957, 56.16536, 21.420517],
                        [17.829948, 31.65853, 56.339676, 35.437576, 40.724194],
                        [42.819992, 49.156643, 98.61191, 43.924065, 53.345966],
                        [16.387812, 29.097897, 47.83826, 25.567505, 29.381691],
                        [36.45955, 2.7932932, 63.148792, 2.4543884, 27.337954]], "TF's print")


def _ex_toy(dt):
    _heading("Seed 003: toy 5x5 image, F1/F2 3x3, stride 2, padding 1, ReLU, 3x3 max pool")
    x, F, b = _seeds.toy_5x5()
    _show("x", x)
    _show("F1", F[0])
    _show("F2", F[1])
    _show("b", b)
    xx, ww = _seeds.batched(x, 4).astype(dt), F[:, None].astype(dt)
    z = fastconv.conv2d(xx, ww, b.astype(dt), stride=2, padding=1)
    _show("z1", z[0, 0])
    _show("z2", z[0, 1])
    _compare(z[0], [[[-1, 1, 1], [2, 0, -2], [-2, 1, 1]], [[2, 2, 0], [5, 1, -3], [1, 0, -1]]],
             "the slides")
    rz = np.maximum(z, 0)
    mz, idx = fastconv.max_pool2d(rz, 3, return_indices=True)
    _show("mz", mz.reshape(2))
    _compare(mz, [2, 5], "the slides")
    _show("argmax (flat index in 3x3)", idx.reshape(2))
    g = fastconv.max_pool2d_backward(np.ones_like(mz), idx, rz.shape) * (z > 0)
    _, gw, _ = fastconv.conv2d_backward(g, xx, ww, stride=2, padding=1)
    _show("d mz1 / d F1", gw[0, 0])
    omega0, omega = _seeds.toy_5x5_fully_connected()
    fz = omega0 + float(np.sum(omega * mz.reshape(2)))
    y = 1.0 / (1.0 + np.exp(-fz))
    g = fastconv.max_pool2d_backward(((1 - y) * omega).reshape(mz.shape).astype(dt), idx,
                                     rz.shape) * (z > 0)
    _, gw, _ = fastconv.conv2d_backward(g, xx, ww, stride=2, padding=1)
    print(f"  Fz = {fz:.4f}, y = sigma(Fz) = {y:.4f}, dJ/dtheta1_11 = {gw[0, 0, 1, 1]:.4f}"
          "  (slides: 0.332, -1.336)")


def _ex_pen_and_paper(dt):
    _heading("Seed 000: pen & paper, 5x5 image, 3x3 kernel, stride 2, padding 0")
    I, K = _seeds.pen_and_paper()
    _show("I", I)
    _show("K", K)
    x, k = _seeds.batched(I, 4).astype(dt), _seeds.batched(K, 4).astype(dt)
    _show("I * K  (eq. 1)", fastconv.conv2d(x, k, stride=2)[0, 0])
    gi, gw, _ = fastconv.conv2d_backward(np.ones((1, 1, 2, 2), dtype=dt), x, k, stride=2)
    _show("dL/dK, dL/dO = 1  (eq. 2)", gw[0, 0])
    _show("dL/dI, dL/dO = 1", gi[0, 0])
    cols = fastconv.im2col(x, 3, stride=2)[0]
    _show("im2col(I)", cols)
    _show("vec(K) @ im2col(I)", K.reshape(-1).astype(dt) @ cols)
    _show("im2col(I) @ dL/dO", (cols @ np.ones(4, dtype=dt)).reshape(3, 3))
    out, idx = fastconv.max_pool2d(x, 3, stride=2, return_indices=True)
    _show("max pool 3x3/2", out[0, 0])
    _show("argmax (flat)", idx[0, 0])


def _ex_pooling(dt):
    _heading("Seed 001: 2x2 max and average pooling, stride 2")
    A = _seeds.pool_4x4()
    _show("x", A)
    x = _seeds.batched(A, 4).astype(dt)
    mx, idx = fastconv.max_pool2d(x, 2, return_indices=True)
    _show("max", mx[0, 0])
    _compare(mx[0, 0], [[49, 77], [90, 100]], "the slide")
    av = fastconv.avg_pool2d(x, 2)
    _show("avg", av[0, 0])
    _compare(av[0, 0], [[36, 43], [53, 50]], "the slide")
    _note("the slide prints the averages rounded to integers; exact: 35.75, 42.5, 53, 50.25")
    g = fastconv.max_pool2d_backward(np.ones_like(mx), idx, x.shape)
    _show("max backward, ones", g[0, 0])
    _show("avg backward, ones", fastconv.avg_pool2d_backward(np.ones_like(av), x.shape, 2)[0, 0])

    _heading("Seed 001: TensorFlow MaxPooling2D 2x2/2 with ones as nextgrad")
    n = _seeds.tf_max_pool_4x4()
    _show("n", n)
    x = _seeds.batched(n, 4).astype(dt)
    m, idx = fastconv.max_pool2d(x, 2, return_indices=True)
    _show("m", m[0, 0])
    _compare(m[0, 0], [[1.1895669, 2.6777048], [0.53753567, -0.19861951]], "TF's print")
    _show("gradInput", fastconv.max_pool2d_backward(np.ones_like(m), idx, x.shape)[0, 0])

    _heading("Seed 003: max pooling annotation, 2x2/2")
    B = _seeds.max_pool_annotation()
    _show("x", B)
    out = fastconv.max_pool2d(_seeds.batched(B, 4).astype(dt), 2)
    _show("mz", out[0, 0])
    _compare(out[0, 0, 0], [5, 7], "the slides (first row only is printed)")


def _ex_sizes(dt):
    _heading("Output sizes: conv_output_size")
    cos = fastconv.conv_output_size
    rows = [
        ("seed 000 (a): 200x200x3, 12323 kernels 40x40x3, s=2",
         cos((200, 200), 40, stride=2), "x 12323"),
        ("seed 004 1(b): 6x5, 2x2 valid", cos((6, 5), 2), ""),
        ("seed 004 2(a): 48x64, 3x3, 20 filters", cos((48, 64), 3), "x 20"),
        ("seed 001: 16x16, 8 filters 5x5", cos((16, 16), 5), "x 8"),
        ("seed 003: 5x5, F=3, S=1", cos((5, 5), 3, stride=1), ""),
        ("seed 003: 5x5, F=3, S=2", cos((5, 5), 3, stride=2), ""),
        ("seed 003: 5x5, F=3, S=3 (floor of 2/3 + 1)", cos((5, 5), 3, stride=3), ""),
        ("seed 003: 5x5, F=3, S=3, ceil_mode", cos((5, 5), 3, stride=3, ceil_mode=True), ""),
        ("seed 003: 5x5, F=3, S=2, P=1", cos((5, 5), 3, stride=2, padding=1), ""),
    ]
    for label, size, extra in rows:
        print(f"  {label:<55} -> {' x '.join(map(str, size))} {extra}".rstrip())
    print(f"  seed 004 2(c): multiplications = {46 * 62 * 20 * 3 * 3 * 10:,}; "
          f"2(d): parameters = {3 * 3 * 10 * 20} + 20 = {3 * 3 * 10 * 20 + 20}")

    _heading("Seed 004 1(c)-(e): difference kernel on the quoted rows 1-2 of X")
    X12, W = _seeds.hw8_difference_kernel()
    _show("X[1:3]", X12)
    _show("W", W)
    z = fastconv.conv2d(_seeds.batched(X12, 4).astype(dt), _seeds.batched(W, 4).astype(dt))
    _show("Z[1, :]", z[0, 0, 0])
    _compare(z[0, 0, 0], [-6, 0, 0, 6], "the solution")


EXAMPLES = (_ex_conv1d, _ex_two_filter, _ex_conv_transpose, _ex_toy, _ex_pen_and_paper,
            _ex_pooling, _ex_sizes)


# --------------------------------------------------------------------------------------------
# subcommands
# --------------------------------------------------------------------------------------------

def _print_info():
    print(f"fastconv {fastconv.__version__} (fastconv.show_config()):")
    fastconv.show_config()


def cmd_info(args):
    _print_info()
    return 0


def cmd_examples(args):
    _print_info()
    dt = np.dtype(args.dtype).type
    print(f"examples:\n  dtype: {np.dtype(dt).name}")
    with np.printoptions(precision=8, suppress=True):
        for example in EXAMPLES:
            example(dt)
    print()
    print("Known typos in the seeds:")
    for where, printed, correct, why in _seeds.PRINTED_TYPOS:
        print(f"  - {where}: printed {printed}, correct {correct}")
    return 0


def cmd_demo(args):
    """Train the digits CNN of :mod:`fastconv.examples.digits` (needs the ``demo`` extra)."""
    from fastconv.examples import digits

    missing = digits.missing_packages(plot=not args.no_plot, progress=not args.quiet)
    if missing:
        print(f"python -m fastconv demo needs {', '.join(missing)}, which "
              f"{'is' if len(missing) == 1 else 'are'} not installed. Install the demo's "
              f"dependencies with:\n    {digits.INSTALL_HINT}", file=sys.stderr)
        return 2
    if not args.no_plot:
        folder = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(folder):   # say so now rather than after the training
            print(f"python -m fastconv demo: --output {args.output}: the folder {folder} "
                  f"does not exist", file=sys.stderr)
            return 2
    digits.run(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
               threads=args.threads, output=args.output, subset=args.subset,
               plot=not args.no_plot, quiet=args.quiet)
    return 0


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _subset_size(text):
    value = int(text)
    if not 100 <= value:
        raise argparse.ArgumentTypeError(f"must be at least 100 (10 images of each digit "
                                         f"for the test split), got {text}")
    return value


def _add_demo_arguments(p):
    from fastconv.examples.digits import DEFAULTS

    p.add_argument("--epochs", type=_positive_int, default=DEFAULTS["epochs"],
                   help="passes over the training images (default: %(default)s)")
    p.add_argument("--batch-size", type=_positive_int, default=DEFAULTS["batch_size"],
                   help="images per mini-batch (default: %(default)s)")
    p.add_argument("--lr", type=_positive_float, default=DEFAULTS["lr"],
                   help="Adam's initial learning rate, decayed to 0 along a cosine "
                        "(default: %(default)s)")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"],
                   help="seed of the initial weights, batch order and shifts; the train/test "
                        "split is fixed (default: %(default)s)")
    p.add_argument("--threads", type=_positive_int, default=DEFAULTS["threads"],
                   help="num_threads of every fastconv call (default: %(default)s; the "
                        "batches are small)")
    p.add_argument("--subset", type=_subset_size, default=None, metavar="N",
                   help="use a stratified sample of N of the 1797 images (quick runs)")
    p.add_argument("--output", default=DEFAULTS["output"], metavar="PATH",
                   help="where to save the figure (default: %(default)s)")
    p.add_argument("--no-plot", action="store_true", help="do not save the figure")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar or per-epoch lines; print the result only")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m fastconv",
        description="fastconv build information and the seeds' worked examples.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("examples", help="run the worked examples (the default)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="floating dtype of the inputs (default: float64)")
    p.set_defaults(func=cmd_examples)
    p = sub.add_parser("info", help="print version and build configuration only")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("demo", help="train a small CNN on scikit-learn's handwritten digits "
                                     "with fastconv (needs: pip install 'fastconv[demo]')",
                       description="Train a small CNN (conv, ReLU, max pool, conv, ReLU, max "
                                   "pool, dense, softmax) on scikit-learn's 8x8 handwritten "
                                   "digits, forward and backward through fastconv; print the "
                                   "held-out test accuracy and save a figure of the loss curve "
                                   "and the first-layer filters.")
    _add_demo_arguments(p)
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("bench", add_help=False,
                       help="side-by-side benchmark vs NumPy, cs231n-style and torch: "
                            "standard layers, real networks, FMA peak, GEMM roof, memory "
                            "bandwidth, many-core balance (see: python -m fastconv bench "
                            "--help)")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # its options are its own: hand them over untouched
        from fastconv.bench import main as bench_main

        return bench_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # no subcommand: run the examples with their defaults
        args = parser.parse_args(["examples"])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
