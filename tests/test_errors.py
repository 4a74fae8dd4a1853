"""Every error path of the public API (docs/api.md, "Errors").

Contract under test: ``TypeError`` for a wrong type, ``ValueError`` for a wrong value,
``MemoryError`` for a result that cannot be allocated -- and never anything else (no
``IndexError``, ``OverflowError``, ``ZeroDivisionError``, Cython internals, crashes).
Messages name the offending argument; the tests match the bare name (e.g. ``stride``) so the
wording around it can evolve.

Calls with absurd sizes (2**62, 2**70, 10**18, ...) run in a child interpreter: a kernel that
overflows a C integer may crash instead of raising, and that must fail one test, not end the
whole run.
"""


import numpy as np
import pytest

import fastconv as fc
import isolated

ALLOWED = (ValueError, TypeError, MemoryError)
EITHER = (ValueError, TypeError)  # where the contract leaves value-vs-type open (e.g. tuple length)
X_ = r"\bx\b"  # the argument `x` (a bare "x" would match almost any message)
KERNEL_OR_WEIGHT = r"kernel_size|weight"


def _arr(*shape, dtype=np.float64):
    """Small deterministic non-constant array."""
    n = int(np.prod(shape))
    return (np.arange(n) % 7 - 3).astype(dtype).reshape(shape)


# valid inputs that the bad calls below perturb one argument at a time
X2 = _arr(2, 4, 6, 6)
W2 = _arr(6, 4, 3, 3) + 0.5
B2 = _arr(6)
G2 = _arr(2, 6, 4, 4)  # grad_output of conv2d(X2, W2)
X1 = _arr(2, 4, 8)
W1 = _arr(6, 4, 3) + 0.5
G1 = _arr(2, 6, 6)  # grad_output of conv1d(X1, W1)
WT2 = _arr(4, 3, 3, 3) + 0.5  # conv_transpose2d weight: Cin=4, Cout=3
WT1 = _arr(4, 3, 3) + 0.5
COLS = _arr(2, 4 * 9, 16)  # col2im(COLS, (6, 6), 3): C=4, 4x4 windows
P2X = _arr(2, 3, 4, 4)
P2G = _arr(2, 3, 2, 2)  # max/avg_pool2d(P2X, 2) output shape
P2I = np.broadcast_to(np.array([[0, 3], [12, 15]], np.int64), (2, 3, 2, 2)).copy()
P1X = _arr(2, 3, 8)
P1G = _arr(2, 3, 4)
P1I = np.broadcast_to(np.array([0, 3, 4, 7], np.int64), (2, 3, 4)).copy()


def _bad(id_, exc, match, call):
    return pytest.param(call, exc, match, id=id_)


def _both(arg, dtype_pat):
    """Regex requiring both the argument name and the dtype somewhere in the message."""
    return rf"(?s)(?=.*(?:{arg}))(?=.*(?:{dtype_pat}))"


# (label, array maker, regex naming the dtype)
BAD_DTYPES = [
    ("complex128", lambda a: a.astype(np.complex128), r"complex"),
    ("complex64", lambda a: a.astype(np.complex64), r"complex"),
    ("object", lambda a: a.astype(object), r"object|\bO\b"),
    ("str", lambda a: a.astype(str), r"<U|str|unicode"),
    ("bytes", lambda a: a.astype("S4"), r"S4|bytes"),
    ("datetime64", lambda a: a.astype(np.int64).astype("M8[s]"), r"datetime|M8"),
    ("timedelta64", lambda a: a.astype(np.int64).astype("m8[s]"), r"timedelta|m8"),
    ("void", lambda a: np.zeros(a.shape, "V8"), r"void|V8"),
]
if np.dtype(np.longdouble) != np.dtype(np.float64):
    BAD_DTYPES.append(("longdouble", lambda a: a.astype(np.longdouble),
                       r"float128|float96|longdouble|\bg\b|f16|f12"))
SOME_BAD_DTYPES = [d for d in BAD_DTYPES if d[0] in ("complex128", "object", "str", "datetime64")]


def _dtype_cases():
    cases = []
    for label, make, pat in BAD_DTYPES:
        cases += [
            _bad(f"conv2d-x-{label}", TypeError, _both(X_, pat),
                 lambda make=make: fc.conv2d(make(X2), W2, B2)),
            _bad(f"conv2d-weight-{label}", TypeError, _both("weight", pat),
                 lambda make=make: fc.conv2d(X2, make(W2), B2)),
            _bad(f"conv2d-bias-{label}", TypeError, _both("bias", pat),
                 lambda make=make: fc.conv2d(X2, W2, make(B2))),
        ]
    for label, make, pat in SOME_BAD_DTYPES:
        cases += [
            _bad(f"conv1d-x-{label}", TypeError, _both(X_, pat),
                 lambda make=make: fc.conv1d(make(X1), W1)),
            _bad(f"conv2d_backward-grad_output-{label}", TypeError, _both("grad_output", pat),
                 lambda make=make: fc.conv2d_backward(make(G2), X2, W2)),
            _bad(f"conv2d_backward-x-{label}", TypeError, _both(X_, pat),
                 lambda make=make: fc.conv2d_backward(G2, make(X2), W2)),
            _bad(f"conv_transpose2d-x-{label}", TypeError, _both(X_, pat),
                 lambda make=make: fc.conv_transpose2d(make(X2), WT2)),
            _bad(f"conv_transpose2d-weight-{label}", TypeError, _both("weight", pat),
                 lambda make=make: fc.conv_transpose2d(X2, make(WT2))),
            _bad(f"im2col-x-{label}", TypeError, _both(X_, pat),
                 lambda make=make: fc.im2col(make(X2), 3)),
            _bad(f"col2im-cols-{label}", TypeError, _both("cols", pat),
                 lambda make=make: fc.col2im(make(COLS), (6, 6), 3)),
            _bad(f"max_pool2d-x-{label}", TypeError, _both(X_, pat),
                 lambda make=make: fc.max_pool2d(make(P2X), 2)),
            _bad(f"max_pool1d-x-{label}", TypeError, _both(X_, pat),
                 lambda make=make: fc.max_pool1d(make(P1X), 2)),
            _bad(f"avg_pool2d-x-{label}", TypeError, _both(X_, pat),
                 lambda make=make: fc.avg_pool2d(make(P2X), 2)),
            _bad(f"max_pool2d_backward-grad_output-{label}", TypeError,
                 _both("grad_output", pat),
                 lambda make=make: fc.max_pool2d_backward(make(P2G), P2I, P2X.shape)),
            _bad(f"avg_pool2d_backward-grad_output-{label}", TypeError,
                 _both("grad_output", pat),
                 lambda make=make: fc.avg_pool2d_backward(make(P2G), P2X.shape, 2)),
        ]
    return cases


def _size_arg_cases(fn_name, call):
    """kernel_size/stride/dilation/padding-style checks for `call(**{arg: value})`
    (``stride=()`` is an error except in pooling, where it means the default)."""
    empty = [] if "pool" in fn_name else [
        _bad(f"{fn_name}-stride=()", EITHER, "stride", lambda: call(stride=()))]
    return empty + [
        _bad(f"{fn_name}-{arg}={value!r}", exc, arg,
             lambda arg=arg, value=value: call(**{arg: value}))
        for arg, value, exc in [
            ("stride", 0, ValueError),
            ("stride", -1, ValueError),
            ("stride", (1, 0), ValueError),
            ("stride", (-2, 1), ValueError),
            ("stride", 1.5, TypeError),
            ("stride", 2.0, TypeError),
            ("stride", np.float64(2.0), TypeError),
            ("stride", "2", TypeError),
            ("stride", True, TypeError),
            ("stride", (1, True), TypeError),
            ("stride", (1, 1.5), TypeError),
            ("stride", (1, None), TypeError),
            ("stride", (1, 1, 1), EITHER),
            ("dilation", 0, ValueError),
            ("dilation", -2, ValueError),
            ("dilation", (1, 0), ValueError),
            ("dilation", 1.5, TypeError),
            ("dilation", None, TypeError),
            ("dilation", True, TypeError),
            ("dilation", "1", TypeError),
            ("padding", -1, ValueError),
            ("padding", (1, -1), ValueError),
            ("padding", ((0, 1), (-1, 0)), ValueError),
            ("padding", 1.5, TypeError),
            ("padding", (1, 0.5), TypeError),
            ("padding", True, TypeError),
            ("padding", None, TypeError),
            ("padding", (1, 1, 1), EITHER),
            ("padding", ((1, 1), (1, 1), (1, 1)), EITHER),
            ("padding", ((1, 2, 3), (1, 1)), EITHER),
            ("padding", ((1,), (1,)), EITHER),
            ("padding", ((1, 1), 1), EITHER),
            ("padding", "full", EITHER),
            ("padding", "", EITHER),
        ]
    ]


def _conv2d_cases():
    C = []
    C += _size_arg_cases("conv2d", lambda **kw: fc.conv2d(X2, W2, B2, **kw))
    C += [
        _bad("conv2d-x-2d", ValueError, X_, lambda: fc.conv2d(X2[0, 0], W2)),  # (3-D: unbatched)
        _bad("conv2d-x-5d", ValueError, X_, lambda: fc.conv2d(X2[None], W2)),
        _bad("conv2d-x-0d", ValueError, X_, lambda: fc.conv2d(np.float64(1.0), W2)),
        _bad("conv2d-x-None", EITHER, X_, lambda: fc.conv2d(None, W2)),
        _bad("conv2d-weight-3d", ValueError, "weight", lambda: fc.conv2d(X2, W2[0])),
        _bad("conv2d-weight-5d", ValueError, "weight", lambda: fc.conv2d(X2, W2[None])),
        _bad("conv2d-bias-2d", ValueError, "bias", lambda: fc.conv2d(X2, W2, B2[None])),
        _bad("conv2d-bias-0d", ValueError, "bias", lambda: fc.conv2d(X2, W2, np.float64(1.0))),
        _bad("conv2d-bias-short", ValueError, "bias", lambda: fc.conv2d(X2, W2, B2[:5])),
        _bad("conv2d-bias-long", ValueError, "bias", lambda: fc.conv2d(X2, W2, _arr(7))),
        _bad("conv2d-channel-mismatch", ValueError, "weight",
             lambda: fc.conv2d(X2, _arr(6, 3, 3, 3))),
        _bad("conv2d-channel-mismatch-groups", ValueError, "weight|groups",
             lambda: fc.conv2d(X2, W2, groups=2)),
        _bad("conv2d-groups-not-dividing-C", ValueError, "groups",
             lambda: fc.conv2d(X2, _arr(6, 1, 3, 3), groups=3)),
        _bad("conv2d-groups-not-dividing-O", ValueError, "groups",
             lambda: fc.conv2d(X2, _arr(5, 2, 3, 3), groups=2)),
        _bad("conv2d-groups-0", ValueError, "groups", lambda: fc.conv2d(X2, W2, groups=0)),
        _bad("conv2d-groups-negative", ValueError, "groups",
             lambda: fc.conv2d(X2, W2, groups=-1)),
        _bad("conv2d-groups-float", TypeError, "groups", lambda: fc.conv2d(X2, W2, groups=1.5)),
        _bad("conv2d-groups-str", TypeError, "groups", lambda: fc.conv2d(X2, W2, groups="1")),
        _bad("conv2d-groups-None", TypeError, "groups", lambda: fc.conv2d(X2, W2, groups=None)),
        _bad("conv2d-kernel-larger-than-input", ValueError, KERNEL_OR_WEIGHT,
             lambda: fc.conv2d(_arr(1, 1, 3, 3), _arr(1, 1, 5, 5))),
        _bad("conv2d-kernel-larger-than-padded-input", ValueError, KERNEL_OR_WEIGHT,
             lambda: fc.conv2d(_arr(1, 1, 3, 3), _arr(1, 1, 6, 6), padding=1)),
        _bad("conv2d-kernel-larger-one-side-padding", ValueError, KERNEL_OR_WEIGHT,
             lambda: fc.conv2d(_arr(1, 1, 3, 3), _arr(1, 1, 5, 5), padding=((0, 1), (2, 0)))),
        _bad("conv2d-dilated-kernel-larger", ValueError, KERNEL_OR_WEIGHT + "|dilation",
             lambda: fc.conv2d(_arr(1, 1, 4, 4), _arr(1, 1, 3, 3), dilation=2)),
        _bad("conv2d-empty-spatial", ValueError, KERNEL_OR_WEIGHT + "|" + X_,
             lambda: fc.conv2d(_arr(1, 1, 0, 0), _arr(1, 1, 1, 1))),
    ]
    return C


def _conv1d_cases():
    return [
        _bad("conv1d-x-1d", ValueError, X_, lambda: fc.conv1d(X1[0, 0], W1)),
        _bad("conv1d-x-4d", ValueError, X_, lambda: fc.conv1d(X2, W1)),
        _bad("conv1d-weight-4d", ValueError, "weight", lambda: fc.conv1d(X1, W2)),
        _bad("conv1d-weight-2d", ValueError, "weight", lambda: fc.conv1d(X1, W1[0])),
        _bad("conv1d-bias-wrong", ValueError, "bias", lambda: fc.conv1d(X1, W1, _arr(5))),
        _bad("conv1d-channel-mismatch", ValueError, "weight", lambda: fc.conv1d(X1, _arr(6, 3, 3))),
        _bad("conv1d-groups-not-dividing-C", ValueError, "groups",
             lambda: fc.conv1d(X1, _arr(6, 1, 3), groups=3)),
        _bad("conv1d-groups-0", ValueError, "groups", lambda: fc.conv1d(X1, W1, groups=0)),
        _bad("conv1d-kernel-larger", ValueError, KERNEL_OR_WEIGHT,
             lambda: fc.conv1d(_arr(1, 1, 4), _arr(1, 1, 5))),
        _bad("conv1d-stride-0", ValueError, "stride", lambda: fc.conv1d(X1, W1, stride=0)),
        _bad("conv1d-stride-pair", EITHER, "stride", lambda: fc.conv1d(X1, W1, stride=(1, 1))),
        _bad("conv1d-stride-float", TypeError, "stride", lambda: fc.conv1d(X1, W1, stride=1.5)),
        _bad("conv1d-stride-bool", TypeError, "stride", lambda: fc.conv1d(X1, W1, stride=True)),
        _bad("conv1d-dilation-0", ValueError, "dilation", lambda: fc.conv1d(X1, W1, dilation=0)),
        _bad("conv1d-padding-negative", ValueError, "padding",
             lambda: fc.conv1d(X1, W1, padding=-1)),
        _bad("conv1d-padding-flat-pair-negative", ValueError, "padding",
             lambda: fc.conv1d(X1, W1, padding=(1, -1))),
        _bad("conv1d-padding-3-tuple", EITHER, "padding",
             lambda: fc.conv1d(X1, W1, padding=(1, 1, 1))),
        _bad("conv1d-padding-2d-form", EITHER, "padding",
             lambda: fc.conv1d(X1, W1, padding=((1, 1), (1, 1)))),
        _bad("conv1d-padding-full", EITHER, "padding", lambda: fc.conv1d(X1, W1, padding="full")),
    ]


def _conv_backward_cases():
    return [
        _bad("conv2d_backward-grad_output-3d", ValueError, "grad_output",
             lambda: fc.conv2d_backward(G2[0], X2, W2)),
        _bad("conv2d_backward-grad_output-5d", ValueError, "grad_output",
             lambda: fc.conv2d_backward(G2[None], X2, W2)),
        _bad("conv2d_backward-grad_output-wrong-N", ValueError, "grad_output",
             lambda: fc.conv2d_backward(_arr(3, 6, 4, 4), X2, W2)),
        _bad("conv2d_backward-grad_output-wrong-O", ValueError, "grad_output",
             lambda: fc.conv2d_backward(_arr(2, 5, 4, 4), X2, W2)),
        _bad("conv2d_backward-grad_output-wrong-H", ValueError, "grad_output",
             lambda: fc.conv2d_backward(_arr(2, 6, 5, 4), X2, W2)),
        _bad("conv2d_backward-grad_output-wrong-W", ValueError, "grad_output",
             lambda: fc.conv2d_backward(_arr(2, 6, 4, 3), X2, W2)),
        _bad("conv2d_backward-grad_output-ignores-stride", ValueError, "grad_output",
             lambda: fc.conv2d_backward(G2, X2, W2, stride=2)),
        _bad("conv2d_backward-x-3d", ValueError, X_, lambda: fc.conv2d_backward(G2, X2[0], W2)),
        _bad("conv2d_backward-weight-3d", ValueError, "weight",
             lambda: fc.conv2d_backward(G2, X2, W2[0])),
        _bad("conv2d_backward-channel-mismatch", ValueError, "weight",
             lambda: fc.conv2d_backward(G2, X2, _arr(6, 3, 3, 3))),
        _bad("conv2d_backward-groups-not-dividing", ValueError, "groups",
             lambda: fc.conv2d_backward(G2, X2, _arr(6, 1, 3, 3), groups=3)),
        _bad("conv2d_backward-groups-0", ValueError, "groups",
             lambda: fc.conv2d_backward(G2, X2, W2, groups=0)),
        _bad("conv2d_backward-stride-0", ValueError, "stride",
             lambda: fc.conv2d_backward(G2, X2, W2, stride=0)),
        _bad("conv2d_backward-stride-float", TypeError, "stride",
             lambda: fc.conv2d_backward(G2, X2, W2, stride=1.5)),
        _bad("conv2d_backward-padding-negative", ValueError, "padding",
             lambda: fc.conv2d_backward(G2, X2, W2, padding=-1)),
        _bad("conv2d_backward-dilation-0", ValueError, "dilation",
             lambda: fc.conv2d_backward(G2, X2, W2, dilation=0)),
        _bad("conv2d_backward-kernel-larger", ValueError, KERNEL_OR_WEIGHT,
             lambda: fc.conv2d_backward(_arr(1, 1, 1, 1), _arr(1, 1, 3, 3), _arr(1, 1, 5, 5))),
        _bad("conv1d_backward-grad_output-wrong-L", ValueError, "grad_output",
             lambda: fc.conv1d_backward(_arr(2, 6, 5), X1, W1)),
        _bad("conv1d_backward-grad_output-wrong-O", ValueError, "grad_output",
             lambda: fc.conv1d_backward(_arr(2, 5, 6), X1, W1)),
        _bad("conv1d_backward-grad_output-wrong-N", ValueError, "grad_output",
             lambda: fc.conv1d_backward(_arr(1, 6, 6), X1, W1)),
        _bad("conv1d_backward-grad_output-4d", ValueError, "grad_output",
             lambda: fc.conv1d_backward(G2, X1, W1)),
        _bad("conv1d_backward-x-4d", ValueError, X_, lambda: fc.conv1d_backward(G1, X2, W1)),
        _bad("conv1d_backward-channel-mismatch", ValueError, "weight",
             lambda: fc.conv1d_backward(G1, X1, _arr(6, 3, 3))),
    ]


def _conv_transpose_cases():
    C = []
    C += _size_arg_cases("conv_transpose2d", lambda **kw: fc.conv_transpose2d(X2, WT2, **kw))
    C += [
        _bad("conv_transpose2d-x-2d", ValueError, X_, lambda: fc.conv_transpose2d(X2[0, 0], WT2)),
        _bad("conv_transpose2d-weight-3d", ValueError, "weight",
             lambda: fc.conv_transpose2d(X2, WT2[0])),
        _bad("conv_transpose2d-channel-mismatch", ValueError, "weight",
             lambda: fc.conv_transpose2d(X2, _arr(3, 3, 3, 3))),
        _bad("conv_transpose2d-groups-not-dividing-Cin", ValueError, "groups",
             lambda: fc.conv_transpose2d(X2, WT2, groups=3)),
        _bad("conv_transpose2d-groups-0", ValueError, "groups",
             lambda: fc.conv_transpose2d(X2, WT2, groups=0)),
        _bad("conv_transpose2d-groups-float", TypeError, "groups",
             lambda: fc.conv_transpose2d(X2, WT2, groups=2.0)),
        _bad("conv_transpose2d-bias-wrong-length", ValueError, "bias",
             lambda: fc.conv_transpose2d(X2, WT2, _arr(4))),
        _bad("conv_transpose2d-bias-2d", ValueError, "bias",
             lambda: fc.conv_transpose2d(X2, WT2, _arr(1, 3))),
        _bad("conv_transpose2d-padding-same", EITHER, "padding",
             lambda: fc.conv_transpose2d(X2, WT2, padding="same")),
        _bad("conv_transpose2d-output_padding-eq-stride", ValueError, "output_padding",
             lambda: fc.conv_transpose2d(X2, WT2, stride=2, output_padding=2)),
        _bad("conv_transpose2d-output_padding-stride-1", ValueError, "output_padding",
             lambda: fc.conv_transpose2d(X2, WT2, output_padding=1)),
        _bad("conv_transpose2d-output_padding-one-dim", ValueError, "output_padding",
             lambda: fc.conv_transpose2d(X2, WT2, stride=(2, 1), output_padding=(1, 1))),
        _bad("conv_transpose2d-output_padding-ge-dilation", ValueError, "output_padding",
             lambda: fc.conv_transpose2d(X2, WT2, dilation=2, output_padding=2)),
        _bad("conv_transpose2d-output_padding-negative", ValueError, "output_padding",
             lambda: fc.conv_transpose2d(X2, WT2, stride=2, output_padding=-1)),
        _bad("conv_transpose2d-output_padding-float", TypeError, "output_padding",
             lambda: fc.conv_transpose2d(X2, WT2, stride=2, output_padding=0.5)),
        _bad("conv_transpose2d-output_padding-3-tuple", EITHER, "output_padding",
             lambda: fc.conv_transpose2d(X2, WT2, stride=2, output_padding=(1, 1, 1))),
        _bad("conv_transpose2d-output-smaller-than-1", ValueError,
             r"padding|kernel_size|weight|output",
             lambda: fc.conv_transpose2d(_arr(1, 1, 2, 2), _arr(1, 1, 3, 3), padding=3)),
        _bad("conv_transpose1d-x-4d", ValueError, X_, lambda: fc.conv_transpose1d(X2, WT1)),
        _bad("conv_transpose1d-weight-4d", ValueError, "weight",
             lambda: fc.conv_transpose1d(X1, WT2)),
        _bad("conv_transpose1d-channel-mismatch", ValueError, "weight",
             lambda: fc.conv_transpose1d(X1, _arr(3, 3, 3))),
        _bad("conv_transpose1d-output_padding-stride-1", ValueError, "output_padding",
             lambda: fc.conv_transpose1d(X1, WT1, output_padding=1)),
        _bad("conv_transpose1d-padding-same", EITHER, "padding",
             lambda: fc.conv_transpose1d(X1, WT1, padding="same")),
        _bad("conv_transpose1d-stride-0", ValueError, "stride",
             lambda: fc.conv_transpose1d(X1, WT1, stride=0)),
        _bad("conv_transpose1d-bias-wrong-length", ValueError, "bias",
             lambda: fc.conv_transpose1d(X1, WT1, _arr(6))),
    ]
    return C


def _im2col_cases():
    C = []
    C += _size_arg_cases("im2col", lambda **kw: fc.im2col(X2, 3, **kw))
    C += [
        _bad("im2col-x-2d", ValueError, X_, lambda: fc.im2col(X2[0, 0], 3)),
        _bad("im2col-x-5d", ValueError, X_, lambda: fc.im2col(X2[None], 3)),
        _bad("im2col-kernel_size-0", ValueError, "kernel_size", lambda: fc.im2col(X2, 0)),
        _bad("im2col-kernel_size-negative", ValueError, "kernel_size", lambda: fc.im2col(X2, -3)),
        _bad("im2col-kernel_size-(3,0)", ValueError, "kernel_size", lambda: fc.im2col(X2, (3, 0))),
        _bad("im2col-kernel_size-float", TypeError, "kernel_size", lambda: fc.im2col(X2, 1.5)),
        _bad("im2col-kernel_size-str", TypeError, "kernel_size", lambda: fc.im2col(X2, "2")),
        _bad("im2col-kernel_size-None", TypeError, "kernel_size", lambda: fc.im2col(X2, None)),
        _bad("im2col-kernel_size-bool", TypeError, "kernel_size", lambda: fc.im2col(X2, True)),
        _bad("im2col-kernel_size-3-tuple", EITHER, "kernel_size",
             lambda: fc.im2col(X2, (3, 3, 3))),
        _bad("im2col-kernel-larger", ValueError, "kernel_size", lambda: fc.im2col(X2, 7)),
        _bad("im2col-kernel-larger-padded", ValueError, "kernel_size",
             lambda: fc.im2col(X2, 9, padding=1)),
        _bad("im2col-dilated-kernel-larger", ValueError, "kernel_size|dilation",
             lambda: fc.im2col(X2, 3, dilation=3)),
        _bad("im2col-empty-spatial", ValueError, "kernel_size|" + X_,
             lambda: fc.im2col(_arr(1, 1, 0, 0), 1)),
    ]
    return C


def _col2im_cases():
    return [
        _bad("col2im-cols-1d", ValueError, "cols", lambda: fc.col2im(COLS[0, 0], (6, 6), 3)),
        _bad("col2im-cols-4d", ValueError, "cols", lambda: fc.col2im(COLS[None], (6, 6), 3)),
        _bad("col2im-cols-dim1-not-multiple", ValueError, "cols",
             lambda: fc.col2im(_arr(2, 35, 16), (6, 6), 3)),
        _bad("col2im-cols-dim1-smaller-than-kernel", ValueError, "cols",
             lambda: fc.col2im(_arr(2, 8, 16), (6, 6), 3)),
        _bad("col2im-cols-dim2-too-small", ValueError, "cols",
             lambda: fc.col2im(_arr(2, 36, 15), (6, 6), 3)),
        _bad("col2im-cols-dim2-too-large", ValueError, "cols",
             lambda: fc.col2im(_arr(2, 36, 17), (6, 6), 3)),
        _bad("col2im-cols-dim2-ignores-stride", ValueError, "cols",
             lambda: fc.col2im(COLS, (6, 6), 3, stride=2)),
        _bad("col2im-output_size-3-tuple", EITHER, "output_size",
             lambda: fc.col2im(COLS, (6, 6, 6), 3)),
        _bad("col2im-output_size-float", TypeError, "output_size",
             lambda: fc.col2im(COLS, (6.0, 6), 3)),
        _bad("col2im-output_size-str", TypeError, "output_size",
             lambda: fc.col2im(COLS, "6", 3)),
        _bad("col2im-output_size-None", TypeError, "output_size",
             lambda: fc.col2im(COLS, None, 3)),
        _bad("col2im-output_size-zero", ValueError, "output_size|kernel_size",
             lambda: fc.col2im(COLS, (0, 6), 3)),
        _bad("col2im-output_size-negative", ValueError, "output_size|kernel_size",
             lambda: fc.col2im(COLS, (-6, 6), 3)),
        _bad("col2im-kernel-larger", ValueError, "kernel_size",
             lambda: fc.col2im(_arr(1, 49, 1), (6, 6), 7)),
        _bad("col2im-kernel_size-0", ValueError, "kernel_size", lambda: fc.col2im(COLS, (6, 6), 0)),
        _bad("col2im-kernel_size-float", TypeError, "kernel_size",
             lambda: fc.col2im(COLS, (6, 6), 3.0)),
        _bad("col2im-stride-0", ValueError, "stride", lambda: fc.col2im(COLS, (6, 6), 3, stride=0)),
        _bad("col2im-dilation-0", ValueError, "dilation",
             lambda: fc.col2im(COLS, (6, 6), 3, dilation=0)),
        _bad("col2im-padding-negative", ValueError, "padding",
             lambda: fc.col2im(COLS, (6, 6), 3, padding=-1)),
        _bad("col2im-padding-full", EITHER, "padding",
             lambda: fc.col2im(COLS, (6, 6), 3, padding="full")),
    ]


def _pool_cases():
    C = []
    C += _size_arg_cases("max_pool2d", lambda **kw: fc.max_pool2d(P2X, 2, **kw))
    C += [c for c in _size_arg_cases("avg_pool2d", lambda **kw: fc.avg_pool2d(P2X, 2, **kw))
          if "dilation" not in c.id]
    for name, fn in [("max_pool2d", fc.max_pool2d), ("avg_pool2d", fc.avg_pool2d)]:
        C += [
            _bad(f"{name}-x-2d", ValueError, X_, lambda fn=fn: fn(P2X[0, 0], 2)),
            _bad(f"{name}-x-5d", ValueError, X_, lambda fn=fn: fn(P2X[None], 2)),
            _bad(f"{name}-kernel_size-0", ValueError, "kernel_size", lambda fn=fn: fn(P2X, 0)),
            _bad(f"{name}-kernel_size-(2,-1)", ValueError, "kernel_size",
                 lambda fn=fn: fn(P2X, (2, -1))),
            _bad(f"{name}-kernel_size-float", TypeError, "kernel_size", lambda fn=fn: fn(P2X, 1.5)),
            _bad(f"{name}-kernel_size-str", TypeError, "kernel_size", lambda fn=fn: fn(P2X, "2")),
            _bad(f"{name}-kernel_size-None", TypeError, "kernel_size", lambda fn=fn: fn(P2X, None)),
            _bad(f"{name}-kernel_size-bool", TypeError, "kernel_size", lambda fn=fn: fn(P2X, True)),
            _bad(f"{name}-kernel_size-3-tuple", EITHER, "kernel_size",
                 lambda fn=fn: fn(P2X, (2, 2, 2))),
            _bad(f"{name}-kernel-larger", ValueError, "kernel_size", lambda fn=fn: fn(P2X, 5)),
            _bad(f"{name}-kernel-larger-one-dim", ValueError, "kernel_size",
                 lambda fn=fn: fn(P2X, (2, 5))),
            _bad(f"{name}-empty-spatial", ValueError, "kernel_size|" + X_,
                 lambda fn=fn: fn(_arr(1, 1, 0, 0), 1)),
            _bad(f"{name}-padding-over-half-kernel", ValueError, "padding",
                 lambda fn=fn: fn(P2X, 3, stride=1, padding=2)),
            _bad(f"{name}-padding-over-half-kernel-one-dim", ValueError, "padding",
                 lambda fn=fn: fn(P2X, 3, stride=1, padding=(0, 2))),
            _bad(f"{name}-padding-over-half-kernel-one-side", ValueError, "padding",
                 lambda fn=fn: fn(P2X, 3, stride=1, padding=((0, 2), (0, 0)))),
            _bad(f"{name}-padding-over-half-kernel-2", ValueError, "padding",
                 lambda fn=fn: fn(P2X, 2, padding=2)),
        ]
    C += [
        # max pooling: the bound is half the *effective* (dilated) kernel, 3 -> 5 -> pad <= 2
        _bad("max_pool2d-padding-over-half-dilated-kernel", ValueError, "padding",
             lambda: fc.max_pool2d(_arr(1, 1, 6, 6), 3, stride=1, padding=3, dilation=2)),
        _bad("max_pool2d-dilated-kernel-larger", ValueError, "kernel_size|dilation",
             lambda: fc.max_pool2d(P2X, 3, dilation=2)),
        # a dilated window with no input element (taps at -2 and 2 of a length-1 input)
        _bad("max_pool1d-window-without-input", ValueError, "kernel_size|dilation|padding",
             lambda: fc.max_pool1d(_arr(1, 1, 1), 2, stride=1, padding=2, dilation=4)),
        _bad("max_pool2d-window-without-input", ValueError, "kernel_size|dilation|padding",
             lambda: fc.max_pool2d(_arr(1, 1, 1, 1), 2, stride=1, padding=2, dilation=4)),
        _bad("max_pool1d-x-4d", ValueError, X_, lambda: fc.max_pool1d(P2X, 2)),
        _bad("max_pool1d-x-1d", ValueError, X_, lambda: fc.max_pool1d(P1X[0, 0], 2)),
        _bad("max_pool1d-kernel_size-pair", EITHER, "kernel_size",
             lambda: fc.max_pool1d(P1X, (2, 2))),
        _bad("max_pool1d-kernel-larger", ValueError, "kernel_size", lambda: fc.max_pool1d(P1X, 9)),
        _bad("max_pool1d-stride-0", ValueError, "stride", lambda: fc.max_pool1d(P1X, 2, stride=0)),
        _bad("max_pool1d-padding-over-half", ValueError, "padding",
             lambda: fc.max_pool1d(P1X, 3, padding=2)),
        _bad("max_pool1d-padding-negative", ValueError, "padding",
             lambda: fc.max_pool1d(P1X, 3, padding=-1)),
        _bad("avg_pool1d-x-4d", ValueError, X_, lambda: fc.avg_pool1d(P2X, 2)),
        _bad("avg_pool1d-kernel-larger", ValueError, "kernel_size", lambda: fc.avg_pool1d(P1X, 9)),
        _bad("avg_pool1d-padding-over-half", ValueError, "padding",
             lambda: fc.avg_pool1d(P1X, 2, padding=2)),
        _bad("avg_pool1d-kernel_size-float", TypeError, "kernel_size",
             lambda: fc.avg_pool1d(P1X, 2.5)),
    ]
    return C


def _pool_backward_cases():
    mpb, apb = fc.max_pool2d_backward, fc.avg_pool2d_backward
    S = P2X.shape
    return [
        _bad("max_pool2d_backward-grad_output-3d", ValueError, "grad_output",
             lambda: mpb(P2G[0], P2I, S)),
        _bad("max_pool2d_backward-indices-shape", ValueError, "indices",
             lambda: mpb(P2G, P2I[..., :1], S)),
        _bad("max_pool2d_backward-indices-3d", ValueError, "indices",
             lambda: mpb(P2G, P2I[0], S)),
        _bad("max_pool2d_backward-indices-negative", ValueError, "indices",
             lambda: mpb(P2G, np.where(P2I == 3, -1, P2I), S)),
        _bad("max_pool2d_backward-indices-eq-HW", ValueError, "indices",
             lambda: mpb(P2G, np.where(P2I == 3, 16, P2I), S)),
        _bad("max_pool2d_backward-indices-huge", ValueError, "indices",
             lambda: mpb(P2G, np.where(P2I == 3, 2**62, P2I), S)),
        _bad("max_pool2d_backward-indices-int64-min", ValueError, "indices",
             lambda: mpb(P2G, np.where(P2I == 3, np.iinfo(np.int64).min, P2I), S)),
        _bad("max_pool2d_backward-indices-float64", TypeError, "indices",
             lambda: mpb(P2G, P2I.astype(np.float64), S)),
        _bad("max_pool2d_backward-indices-float32", TypeError, "indices",
             lambda: mpb(P2G, P2I.astype(np.float32), S)),
        _bad("max_pool2d_backward-indices-complex", TypeError, "indices",
             lambda: mpb(P2G, P2I.astype(np.complex128), S)),
        _bad("max_pool2d_backward-indices-object", TypeError, "indices",
             lambda: mpb(P2G, P2I.astype(object), S)),
        _bad("max_pool2d_backward-input_shape-length-3", EITHER, "input_shape",
             lambda: mpb(P2G, P2I, S[1:])),
        _bad("max_pool2d_backward-input_shape-length-5", EITHER, "input_shape",
             lambda: mpb(P2G, P2I, (1,) + S)),
        _bad("max_pool2d_backward-input_shape-float", TypeError, "input_shape",
             lambda: mpb(P2G, P2I, (2, 3, 4.0, 4))),
        _bad("max_pool2d_backward-input_shape-str", TypeError, "input_shape",
             lambda: mpb(P2G, P2I, "2344")),
        _bad("max_pool2d_backward-input_shape-None", TypeError, "input_shape",
             lambda: mpb(P2G, P2I, None)),
        _bad("max_pool2d_backward-input_shape-negative", ValueError, "input_shape",
             lambda: mpb(P2G, P2I, (2, 3, -4, 4))),
        _bad("max_pool2d_backward-input_shape-wrong-N", ValueError, "grad_output|input_shape",
             lambda: mpb(P2G, P2I, (1, 3, 4, 4))),
        _bad("max_pool2d_backward-input_shape-wrong-C", ValueError, "grad_output|input_shape",
             lambda: mpb(P2G, P2I, (2, 5, 4, 4))),
        _bad("max_pool2d_backward-indices-beyond-smaller-plane", ValueError, "indices",
             lambda: mpb(P2G, P2I, (2, 3, 3, 3))),
        _bad("max_pool1d_backward-input_shape-length-4", EITHER, "input_shape",
             lambda: fc.max_pool1d_backward(P1G, P1I, (2, 3, 8, 1))),
        _bad("max_pool1d_backward-indices-eq-L", ValueError, "indices",
             lambda: fc.max_pool1d_backward(P1G, np.where(P1I == 3, 8, P1I), P1X.shape)),
        _bad("max_pool1d_backward-indices-negative", ValueError, "indices",
             lambda: fc.max_pool1d_backward(P1G, np.where(P1I == 3, -1, P1I), P1X.shape)),
        _bad("max_pool1d_backward-indices-float", TypeError, "indices",
             lambda: fc.max_pool1d_backward(P1G, P1I.astype(float), P1X.shape)),
        _bad("max_pool1d_backward-indices-shape", ValueError, "indices",
             lambda: fc.max_pool1d_backward(P1G, P1I[..., :3], P1X.shape)),
        _bad("max_pool1d_backward-grad_output-4d", ValueError, "grad_output",
             lambda: fc.max_pool1d_backward(P2G, P2I, P1X.shape)),
        _bad("avg_pool2d_backward-grad_output-2d", ValueError, "grad_output",
             lambda: apb(P2G[0, 0], S, 2)),
        _bad("avg_pool2d_backward-grad_output-wrong-H", ValueError, "grad_output",
             lambda: apb(_arr(2, 3, 3, 2), S, 2)),
        _bad("avg_pool2d_backward-grad_output-wrong-N", ValueError, "grad_output|input_shape",
             lambda: apb(_arr(1, 3, 2, 2), S, 2)),
        _bad("avg_pool2d_backward-grad_output-wrong-C", ValueError, "grad_output|input_shape",
             lambda: apb(_arr(2, 4, 2, 2), S, 2)),
        _bad("avg_pool2d_backward-grad_output-ignores-stride", ValueError, "grad_output",
             lambda: apb(P2G, S, 2, stride=1)),
        _bad("avg_pool2d_backward-input_shape-length-3", EITHER, "input_shape",
             lambda: apb(P2G, S[1:], 2)),
        _bad("avg_pool2d_backward-input_shape-float", TypeError, "input_shape",
             lambda: apb(P2G, (2, 3, 4, 4.5), 2)),
        _bad("avg_pool2d_backward-input_shape-negative", ValueError, "input_shape",
             lambda: apb(P2G, (2, -3, 4, 4), 2)),
        _bad("avg_pool2d_backward-kernel-larger", ValueError, "kernel_size",
             lambda: apb(P2G, S, 5)),
        _bad("avg_pool2d_backward-kernel_size-float", TypeError, "kernel_size",
             lambda: apb(P2G, S, 2.0)),
        _bad("avg_pool2d_backward-stride-0", ValueError, "stride",
             lambda: apb(P2G, S, 2, stride=0)),
        _bad("avg_pool2d_backward-padding-over-half", ValueError, "padding",
             lambda: apb(P2G, S, 2, padding=2)),
        _bad("avg_pool1d_backward-grad_output-wrong-L", ValueError, "grad_output",
             lambda: fc.avg_pool1d_backward(_arr(2, 3, 3), P1X.shape, 2)),
        _bad("avg_pool1d_backward-input_shape-length-4", EITHER, "input_shape",
             lambda: fc.avg_pool1d_backward(P1G, (2, 3, 8, 1), 2)),
    ]


def _conv_output_size_cases():
    cos = fc.conv_output_size
    return [
        _bad("conv_output_size-kernel-larger", ValueError, "kernel_size", lambda: cos(3, 5)),
        _bad("conv_output_size-kernel-larger-tuple", ValueError, "kernel_size",
             lambda: cos((8, 3), (3, 5))),
        _bad("conv_output_size-input-0", ValueError, "input_size|kernel_size", lambda: cos(0, 1)),
        _bad("conv_output_size-input-negative", ValueError, "input_size|kernel_size",
             lambda: cos(-4, 1)),
        _bad("conv_output_size-input-float", TypeError, "input_size", lambda: cos(5.0, 3)),
        _bad("conv_output_size-input-str", TypeError, "input_size", lambda: cos("5", 3)),
        _bad("conv_output_size-kernel_size-0", ValueError, "kernel_size", lambda: cos(5, 0)),
        _bad("conv_output_size-kernel_size-float", TypeError, "kernel_size", lambda: cos(5, 1.5)),
        _bad("conv_output_size-kernel_size-bool", TypeError, "kernel_size", lambda: cos(5, True)),
        _bad("conv_output_size-kernel_size-length", EITHER, "kernel_size",
             lambda: cos((5, 5), (3, 3, 3))),
        _bad("conv_output_size-stride-0", ValueError, "stride", lambda: cos(5, 3, stride=0)),
        _bad("conv_output_size-stride-float", TypeError, "stride", lambda: cos(5, 3, stride=1.5)),
        _bad("conv_output_size-dilation-negative", ValueError, "dilation",
             lambda: cos(5, 3, dilation=-1)),
        _bad("conv_output_size-padding-negative", ValueError, "padding",
             lambda: cos(5, 3, padding=-1)),
        _bad("conv_output_size-padding-full", EITHER, "padding",
             lambda: cos(5, 3, padding="full")),
        # regression: ceil_mode was taken as bool(ceil_mode), so "no" meant True
        _bad("conv_output_size-ceil_mode-str", TypeError, "ceil_mode",
             lambda: cos(5, 2, stride=2, ceil_mode="no")),
        _bad("conv_output_size-ceil_mode-2", TypeError, "ceil_mode",
             lambda: cos(5, 2, stride=2, ceil_mode=2)),
    ]


BAD_CALLS = (_dtype_cases() + _conv2d_cases() + _conv1d_cases() + _conv_backward_cases()
             + _conv_transpose_cases() + _im2col_cases() + _col2im_cases() + _pool_cases()
             + _pool_backward_cases() + _conv_output_size_cases())


def check_raises_naming(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def check_raises_only_allowed(call):
    try:
        call()
    except BaseException as e:  # noqa: BLE001 -- the point is to see whatever comes out
        assert type(e) in ALLOWED, (
            f"raised {type(e).__module__}.{type(e).__qualname__}: {e}; expected exactly one "
            f"of ValueError / TypeError / MemoryError")
    else:
        pytest.fail("no exception raised")


@pytest.mark.parametrize("call, exc, match", BAD_CALLS)
def test_bad_call_raises_naming_the_argument(call, exc, match):
    check_raises_naming(call, exc, match)


@pytest.mark.parametrize("call, exc, match", BAD_CALLS)
def test_bad_call_raises_only_value_type_or_memory_error(call, exc, match):
    check_raises_only_allowed(call)


@pytest.mark.parametrize("call, needles", [
    pytest.param(lambda: fc.conv2d(X2, W2, stride=-7), ["`stride`", "-7"], id="stride"),
    pytest.param(lambda: fc.conv2d(X2, W2, dilation=(1, -5)), ["`dilation`", "-5"],
                 id="dilation"),
    pytest.param(lambda: fc.max_pool2d(P2X, 2, padding=-3), ["`padding`", "-3"], id="padding"),
    pytest.param(lambda: fc.conv2d(X2, _arr(6, 1, 3, 3), groups=3), ["`groups`", "3"],
                 id="groups"),
    pytest.param(lambda: fc.im2col(X2, 1.5), ["`kernel_size`", "1.5"], id="kernel_size"),
    pytest.param(lambda: fc.conv2d(X2, W2, B2[:5]), ["`bias`", "5"], id="bias"),
    pytest.param(lambda: fc.conv2d(X2.astype(np.complex128), W2), ["complex128"], id="dtype"),
    pytest.param(lambda: fc.max_pool2d_backward(P2G, np.where(P2I == 3, 99, P2I), P2X.shape),
                 ["`indices`"], id="indices"),
    pytest.param(lambda: fc.conv_transpose2d(X2, WT2, stride=2, output_padding=2),
                 ["`output_padding`", "2"], id="output_padding"),
])
def test_message_names_argument_in_backticks_and_shows_value(call, needles):
    with pytest.raises(ALLOWED) as info:
        call()
    msg = str(info.value)
    for needle in needles:
        assert needle in msg, f"{needle!r} missing from message {msg!r}"
    assert "_validation" not in msg and "__pyx" not in msg, f"private name leaked: {msg!r}"


def test_accepted_argument_forms_are_not_rejected():
    """The forms the contract accepts must not trip the validation tested above."""
    x = _arr(1, 2, 7, 6)
    w = _arr(3, 2, 3, 3) + 0.5
    ref = fc.conv2d(x, w, stride=2, padding=1)
    for kw in [dict(stride=np.int64(2), padding=np.int32(1)), dict(stride=[2, 2], padding=[1, 1]),
               dict(stride=(np.int8(2), 2), padding=((1, 1), (1, 1)))]:
        np.testing.assert_array_equal(fc.conv2d(x, w, **kw), ref, err_msg=str(kw))
    np.testing.assert_array_equal(fc.conv2d(x, w, padding="valid"), fc.conv2d(x, w))
    assert fc.conv2d(x, w, padding="same").shape == (1, 3, 7, 6)
    np.testing.assert_array_equal(fc.conv2d(x, w, groups=np.int64(1)), fc.conv2d(x, w))
    x1, w1 = _arr(1, 2, 9), _arr(3, 2, 3) + 0.5
    ref1 = fc.conv1d(x1, w1, padding=1)
    for p in [(1,), ((1, 1),), (1, 1), [1, 1], np.int64(1)]:
        np.testing.assert_array_equal(fc.conv1d(x1, w1, padding=p), ref1, err_msg=str(p))
    np.testing.assert_array_equal(fc.max_pool2d(x, 2, stride=None), fc.max_pool2d(x, 2, stride=2))
    np.testing.assert_array_equal(fc.max_pool2d(x, np.int64(2)), fc.max_pool2d(x, (2, 2)))
    np.testing.assert_array_equal(fc.im2col(x, [3, 3], padding=(1, 1)), fc.im2col(x, 3, padding=1))
    assert fc.conv_output_size(np.int64(7), 3) == 5
    # output_padding < max(stride, dilation): allowed through dilation alone
    assert fc.conv_transpose2d(_arr(1, 4, 3, 3), WT2, dilation=2, output_padding=1).shape == \
        (1, 3, 8, 8)


# --------------------------------------------------------------------------------------------
# absurd sizes, each run in a child interpreter so that a crash fails only its own test
# --------------------------------------------------------------------------------------------

_AX = _arr(1, 1, 2, 2) + 4.0  # tiny input
_AX5 = _arr(1, 1, 5, 5) + 4.0
_AW1 = np.full((1, 1, 1, 1), 2.0)
_AW3 = np.ones((1, 1, 3, 3))


def _must_raise(call):
    def run():
        out = call()
        raise AssertionError(f"returned {type(out).__name__} "
                             f"{getattr(out, 'shape', out)!r} instead of raising")
    return run


def _raise_or_equal(call, expected):
    """Absurd but representable: raising is fine, and so is the right answer."""
    def run():
        out = call()
        exp = expected()
        if isinstance(exp, tuple):
            assert isinstance(out, tuple) and len(out) == len(exp), out
        else:
            out, exp = (out,), (exp,)
        for o, e in zip(out, exp):
            if isinstance(e, np.ndarray):
                assert isinstance(o, np.ndarray) and o.shape == e.shape, (
                    f"shape {getattr(o, 'shape', o)} != {e.shape}")
                np.testing.assert_allclose(o, e, rtol=1e-12, atol=0)
            else:
                assert o == e, f"{o!r} != {e!r}"
        return "returned the correct result"
    return run


# zero strides, no memory: 2**59 images whose copy or result would need 2**62 bytes
_BIG_N = np.broadcast_to(_AX[:, :, :1, :1], (2**59, 1, 1, 1))

ABSURD = {
    "conv2d-padding-1e18": _must_raise(lambda: fc.conv2d(_AX, _AW1, padding=10**18)),
    "conv2d-output-over-2**63-bytes": _must_raise(lambda: fc.conv2d(_AX, _AW1, padding=2**31)),
    "conv2d-padding-2**70": _must_raise(lambda: fc.conv2d(_AX, _AW1, padding=2**70)),
    "conv2d-per-side-padding-1e30": _must_raise(
        lambda: fc.conv2d(_AX, _AW1, padding=((0, 10**30), (0, 0)))),
    "conv2d-N-2**59-broadcast": _must_raise(lambda: fc.conv2d(_BIG_N, _AW1)),
    "conv2d-dilation-2**62": _must_raise(lambda: fc.conv2d(_AX5, _AW3, dilation=2**62)),
    "conv2d-dilation-2**70": _must_raise(lambda: fc.conv2d(_AX5, _AW3, dilation=2**70)),
    "conv2d-groups-2**70": _must_raise(lambda: fc.conv2d(_AX5, _AW3, groups=2**70)),
    "conv2d-groups-minus-2**70": _must_raise(lambda: fc.conv2d(_AX5, _AW3, groups=-2**70)),
    "conv2d-stride-2**70": _raise_or_equal(lambda: fc.conv2d(_AX5, _AW3, stride=2**70),
                                           lambda: fc.conv2d(_AX5, _AW3, stride=5)),
    "conv2d-stride-minus-2**70": _must_raise(lambda: fc.conv2d(_AX5, _AW3, stride=-2**70)),
    "conv1d-padding-1e18": _must_raise(
        lambda: fc.conv1d(_AX[:, :, 0], _AW1[:, :, 0], padding=10**18)),
    "conv1d-stride-2**70": _raise_or_equal(
        lambda: fc.conv1d(_AX5[:, :, 0], _AW3[:, :, 0], stride=2**70),
        lambda: fc.conv1d(_AX5[:, :, 0], _AW3[:, :, 0], stride=5)),
    "conv2d_backward-padding-1e18": _must_raise(
        lambda: fc.conv2d_backward(_AW1, _AX, _AW1, padding=10**18)),
    "conv2d_backward-dilation-2**70": _must_raise(
        lambda: fc.conv2d_backward(_AW1, _AX5, _AW3, dilation=2**70)),
    "conv_transpose2d-stride-2**40": _must_raise(
        lambda: fc.conv_transpose2d(_AX, _AW1, stride=2**40)),
    "conv_transpose2d-stride-2**70": _must_raise(
        lambda: fc.conv_transpose2d(_AX, _AW1, stride=2**70)),
    "conv_transpose2d-dilation-2**62": _must_raise(
        lambda: fc.conv_transpose2d(_AX, _AW3, dilation=2**62)),
    "conv_transpose2d-padding-1e18": _must_raise(
        lambda: fc.conv_transpose2d(_AX, _AW3, padding=10**18)),
    "conv_transpose2d-output_padding-2**70": _must_raise(
        lambda: fc.conv_transpose2d(_AX, _AW3, stride=2, output_padding=2**70)),
    "conv_transpose1d-stride-2**70": _must_raise(
        lambda: fc.conv_transpose1d(_AX[:, :, 0], _AW1[:, :, 0], stride=2**70)),
    "im2col-padding-1e18": _must_raise(lambda: fc.im2col(_AX, 1, padding=10**18)),
    "im2col-kernel_size-2**62": _must_raise(lambda: fc.im2col(_AX, 2**62)),
    "im2col-kernel_size-2**70": _must_raise(lambda: fc.im2col(_AX, 2**70)),
    "im2col-kernel-2**31-padding-2**31": _must_raise(
        lambda: fc.im2col(_AX, 2**31, padding=2**31)),
    "im2col-dilation-2**62": _must_raise(lambda: fc.im2col(_AX5, 3, dilation=2**62)),
    "im2col-stride-2**70": _raise_or_equal(lambda: fc.im2col(_AX5, 3, stride=2**70),
                                           lambda: fc.im2col(_AX5, 3, stride=5)),
    "col2im-output_size-2**40": _must_raise(lambda: fc.col2im(_AX[0], (2**40, 2**40), 1)),
    "col2im-output_size-2**70": _must_raise(lambda: fc.col2im(_AX[0], (2**70, 2**70), 1)),
    "col2im-kernel_size-2**62": _must_raise(
        lambda: fc.col2im(_AX[0, :, :1, :1], (2**62, 2**62), 2**62)),
    "col2im-stride-2**70": _raise_or_equal(
        lambda: fc.col2im(_arr(1, 9, 1), (5, 5), 3, stride=2**70),
        lambda: fc.col2im(_arr(1, 9, 1), (5, 5), 3, stride=5)),
    "max_pool2d-kernel_size-2**62": _must_raise(lambda: fc.max_pool2d(_AX, 2**62)),
    "max_pool2d-kernel_size-2**70": _must_raise(lambda: fc.max_pool2d(_AX, 2**70)),
    "max_pool2d-padding-1e18": _must_raise(lambda: fc.max_pool2d(_AX, 2, padding=10**18)),
    "max_pool2d-dilation-2**62": _must_raise(lambda: fc.max_pool2d(_AX5, 3, dilation=2**62)),
    "max_pool2d-stride-2**70": _raise_or_equal(
        lambda: fc.max_pool2d(_AX5, 3, stride=2**70, return_indices=True),
        lambda: fc.max_pool2d(_AX5, 3, stride=5, return_indices=True)),
    # representable: a 2**62 kernel padded by 2**61 on a 2x2 input -> 3x3 windows that each
    # cover the whole input; a kernel looping over every tap, or an int64 overflow, shows here
    "max_pool2d-kernel-2**62-padding-2**61": _raise_or_equal(
        lambda: fc.max_pool2d(_AX, 2**62, stride=1, padding=2**61),
        lambda: np.full((1, 1, 3, 3), _AX.max())),
    "max_pool1d-kernel-2**62-padding-2**61": _raise_or_equal(
        lambda: fc.max_pool1d(_AX[:, :, 0], 2**62, stride=1, padding=2**61),
        lambda: np.full((1, 1, 3), _AX[:, :, 0].max())),
    # divisor (2**62)**2 does not fit an int64
    "avg_pool2d-kernel-2**62-padding-2**61-count-pad": _raise_or_equal(
        lambda: fc.avg_pool2d(_AX, 2**62, stride=1, padding=2**61),
        lambda: np.full((1, 1, 3, 3), _AX.sum() / 2.0**124)),
    "avg_pool2d-kernel-2**62-padding-2**61-no-count-pad": _raise_or_equal(
        lambda: fc.avg_pool2d(_AX, 2**62, stride=1, padding=2**61, count_include_pad=False),
        lambda: np.full((1, 1, 3, 3), _AX.mean())),
    "avg_pool2d-kernel_size-2**62": _must_raise(lambda: fc.avg_pool2d(_AX, 2**62)),
    "max_pool2d_backward-input_shape-2**40": _must_raise(
        lambda: fc.max_pool2d_backward(_AW1, np.zeros((1, 1, 1, 1), np.int64),
                                       (1, 1, 2**40, 2**40))),
    "max_pool2d_backward-input_shape-N-2**70": _must_raise(
        lambda: fc.max_pool2d_backward(_AW1, np.zeros((1, 1, 1, 1), np.int64),
                                       (2**70, 1, 1, 1))),
    "max_pool2d_backward-input_shape-H-2**70": _must_raise(
        lambda: fc.max_pool2d_backward(_AW1, np.zeros((1, 1, 1, 1), np.int64),
                                       (1, 1, 2**70, 1))),
    "avg_pool2d_backward-input_shape-2**40": _must_raise(
        lambda: fc.avg_pool2d_backward(_AW1, (1, 1, 2**40, 2**40), 1)),
    "avg_pool2d_backward-kernel-2**70": _must_raise(
        lambda: fc.avg_pool2d_backward(_AW1, (1, 1, 2, 2), 2**70)),
    "conv_output_size-padding-1e18": _raise_or_equal(
        lambda: fc.conv_output_size(1, 1, padding=10**18), lambda: 2 * 10**18 + 1),
    "conv_output_size-stride-2**70": _raise_or_equal(
        lambda: fc.conv_output_size(5, 3, stride=2**70), lambda: 1),
    "conv_output_size-input-2**70": _raise_or_equal(
        lambda: fc.conv_output_size(2**70, 3), lambda: 2**70 - 2),
}


@pytest.fixture(scope="module")
def absurd_results():
    return isolated.run_isolated(__file__, "ABSURD", list(ABSURD))


@pytest.mark.parametrize("case_id", list(ABSURD))
def test_absurd_sizes_raise_value_or_memory_error(case_id, absurd_results):
    r = absurd_results[case_id]
    assert "crash" not in r, (
        f"the interpreter died or hung in {case_id} (exit status {r['crash']}):\n{r['stderr']}")
    if r["exc"] is None:  # only cases built with _raise_or_equal can get here
        return
    assert r["module"] == "builtins" and r["exc"] in ("ValueError", "MemoryError"), (
        f"{case_id}: raised {r['module']}.{r['exc']}: {r['msg']}")
