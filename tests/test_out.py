"""``out=`` on every public op (issue 13 item 8; docs/api.md, "Output buffers").

* Every op (the one-call-per-op table of test_layouts.py, which must cover them all) writes
  its result into a given ``out`` and returns that very object: bitwise the result of the
  call without ``out``; for the ops with several results (the backward functions, max
  pooling with ``return_indices``) each entry of the tuple, any of them None.
* Both layouts (channels-last calls of every family), unbatched inputs (``out`` has the
  unbatched shape), random geometries (hypothesis, against the NumPy reference).
* Every wrong ``out`` -- wrong type, dtype, shape, layout, non-contiguous, read-only,
  overlapping any input or another entry, a tuple of the wrong length, an entry for a
  gradient ``output_mask`` leaves out -- raises TypeError / ValueError before anything is
  written: the buffer (and every input) is bitwise unchanged after the failed call.
* Every registered convolution, pooling and unfold kernel (forced in turn) writes into
  ``out`` what it returns without it; ``torch`` computes the same values.
* With ``out=``, a call allocates nothing large (tracemalloc, which sees NumPy's
  allocations): the forward convolution and pooling allocate under 1% and 2% of their
  output, a backward convolution scratch of its weight's size whatever the images' size.
"""
import os
import re
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastconv as fc
import reference as ref
import strategies as S
from conftest import assert_close

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_layouts import CONV2D_KW, OPS  # noqa: E402 -- one call of every public op

HELPERS = ("get_num_threads", "set_num_threads", "openmp_enabled", "plan", "tuning",
           "algorithms", "show_config", "conv_output_size")
PUBLIC_OPS = sorted(n for n in fc.__all__ if callable(getattr(fc, n)) and n not in HELPERS)
DTYPES = [np.float64, np.float32]
F64, F32 = np.dtype(np.float64), np.dtype(np.float32)


def _as_tuple(r):
    return r if isinstance(r, tuple) else (r,)


def _garbage(a):
    """``a`` (a buffer) filled with values no op computes from the tables' inputs."""
    a[...] = np.nan if a.dtype.kind == "f" else -7
    return a


def _buffers(result):
    """Fresh C-contiguous buffers shaped like ``result`` (an array, or a tuple whose None
    entries stay None), filled with garbage."""
    if isinstance(result, tuple):
        return tuple(None if r is None else _garbage(np.empty(r.shape, r.dtype))
                     for r in result)
    return _garbage(np.empty(result.shape, result.dtype))


def _assert_bitwise(got, want, what):
    assert type(got) is type(want), f"{what}: {type(got)} vs {type(want)}"
    for i, (g, w) in enumerate(zip(_as_tuple(got), _as_tuple(want))):
        if w is None:
            assert g is None, f"{what}: result {i} should be None"
            continue
        assert g.shape == w.shape and g.dtype == w.dtype, (
            f"{what}: result {i} is {g.shape} {g.dtype}, expected {w.shape} {w.dtype}")
        assert g.tobytes() == w.tobytes(), f"{what}: result {i} differs from the call without out"


def _assert_returned(got, out, what):
    """The call returned the caller's objects: ``out`` itself, or each given entry."""
    if not isinstance(out, tuple):
        assert got is out, f"{what}: the result is not the `out` array"
        return
    assert isinstance(got, tuple) and len(got) == len(out), what
    for i, (g, o) in enumerate(zip(got, out)):
        if o is not None:
            assert g is o, f"{what}: result {i} is not `out[{i}]`"
        elif g is not None:
            for o2 in out:
                assert o2 is None or not np.shares_memory(g, o2), what


def _inputs(op, dtype=np.float64, seed=0):
    make, _ = OPS[op]
    return make(np.random.default_rng(seed), np.dtype(dtype))


def _snapshot(arrays):
    return {k: v.tobytes() for k, v in arrays.items()}


def test_the_table_covers_every_public_op():
    assert {k.split("-")[0] for k in OPS} == set(PUBLIC_OPS)


# ------------------------------------------------------------------ success


def check_out(call, arrays, what):
    """``call(**arrays, out=...)`` for every way of passing buffers (all of them, and for
    tuples each entry alone, the rest None): bitwise the result without ``out``, the
    given objects returned, inputs untouched."""
    want = call(**arrays)
    snap = _snapshot(arrays)
    full = _buffers(want)
    ways = [full]
    if isinstance(want, tuple):
        ways += [tuple(b if j == i else None for j, b in enumerate(full))
                 for i in range(len(full)) if full[i] is not None]
    for out in ways:
        for b in _as_tuple(out):
            if b is not None:
                _garbage(b)
        got = call(**arrays, out=out)
        _assert_returned(got, out, what)
        _assert_bitwise(got, want, what)
        assert _snapshot(arrays) == snap, f"{what}: an input was modified"
    return want


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("op", list(OPS))
def test_out_gives_the_result_and_is_returned(op, dtype):
    check_out(OPS[op][1], _inputs(op, dtype), op)


@pytest.mark.parametrize("op", ["conv2d", "conv2d_backward", "max_pool2d", "im2col"])
def test_out_is_reused_in_a_loop(op):
    """The same buffers across calls with new inputs: each call's own result."""
    _, call = OPS[op]
    out = _buffers(call(**_inputs(op)))
    for seed in range(3):
        a = _inputs(op, seed=seed)
        got = call(**a, out=out)
        _assert_returned(got, out, op)
        _assert_bitwise(got, call(**a), f"{op} seed {seed}")


def _output_mask_cases():
    return [m for m in np.ndindex(2, 2, 2) if any(m)]


@pytest.mark.parametrize("mask", _output_mask_cases(), ids=str)
@pytest.mark.parametrize("op", ["conv2d_backward", "conv1d_backward", "conv3d_backward",
                                "conv_transpose2d_backward"])
def test_backward_out_with_output_mask(op, mask):
    """Entries of ``out`` for the gradients computed; None for the others."""
    mask = tuple(bool(m) for m in mask)
    a = _inputs(op)

    def call(**kw):
        return OPS[op][1](**kw, output_mask=mask)
    want = check_out(call, a, f"{op} {mask}")
    assert [w is None for w in want] == [not m for m in mask]


@pytest.mark.parametrize("op", ["conv2d_backward", "conv_transpose2d_backward"])
def test_backward_out_for_a_masked_gradient_must_be_none(op):
    a = _inputs(op)
    want = OPS[op][1](**a)
    out = _buffers(want)
    snap = [b.tobytes() for b in out]
    with pytest.raises(ValueError, match=r"`out\[0\]` \(grad_input\) must be None"):
        OPS[op][1](**a, out=out, output_mask=(False, True, True))
    assert [b.tobytes() for b in out] == snap


def test_max_pool_out_without_indices_is_one_array():
    a = _inputs("max_pool2d")
    y = fc.max_pool2d(**a, kernel_size=2)
    out = _buffers(y)
    assert fc.max_pool2d(**a, kernel_size=2, out=out) is out
    with pytest.raises(TypeError, match="one array"):
        fc.max_pool2d(**a, kernel_size=2, out=(out, None))
    got = fc.max_pool2d(**a, kernel_size=2, return_indices=True, out=(out, None))
    assert got[0] is out and got[1].dtype == np.int64


# --------------------------------------------------------------- layouts


def _last(a):
    """A channels-first array as a C-contiguous channels-last one."""
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def _hwio(w):
    return np.ascontiguousarray(np.moveaxis(w, (0, 1), (-1, -2)))


def _rn(rng, shape, dt):
    return rng.standard_normal(shape).astype(dt)


def _conv_last(nd, fmt, wfmt=None):
    sp = {1: (9,), 2: (7, 6), 3: (5, 4, 5)}[nd]
    k = {1: (3,), 2: (3, 2), 3: (2, 3, 2)}[nd]

    def make(rng, dt):
        x, w = _rn(rng, (2, 4) + sp, dt), _rn(rng, (6, 2) + k, dt)
        return dict(x=_last(x), weight=w if wfmt else _hwio(w), bias=_rn(rng, (6,), dt))
    kw = dict(groups=2, padding=1, data_format=fmt, weight_format=wfmt)

    def call(**a):
        return getattr(fc, f"conv{nd}d")(**a, **kw)

    def bmake(rng, dt):
        a = make(rng, dt)
        y = call(**a)
        return dict(grad_output=_rn(rng, y.shape, dt), x=a["x"], weight=a["weight"])

    def bcall(**a):
        return getattr(fc, f"conv{nd}d_backward")(**a, **kw)
    return (make, call), (bmake, bcall)


def _transpose_last():
    kw = dict(stride=2, padding=1, output_padding=1, groups=2, data_format="NHWC")

    def make(rng, dt):
        return dict(x=_last(_rn(rng, (2, 4, 4, 3), dt)), weight=_hwio(_rn(rng, (4, 3, 3, 2), dt)),
                    bias=_rn(rng, (6,), dt))

    def bmake(rng, dt):
        a = make(rng, dt)
        y = fc.conv_transpose2d(**a, **kw)
        return dict(grad_output=_rn(rng, y.shape, dt), x=a["x"], weight=a["weight"])
    return ((make, lambda **a: fc.conv_transpose2d(**a, **kw)),
            (bmake, lambda **a: fc.conv_transpose2d_backward(**a, **kw)))


def _pools_last():
    x_shape = (2, 7, 6, 3)   # NHWC
    mp = dict(kernel_size=(3, 2), stride=(2, 1), padding=1, ceil_mode=True, data_format="NHWC")

    def xmake(rng, dt):
        return dict(x=_rn(rng, x_shape, dt))

    def mpb_make(rng, dt):
        y, idx = fc.max_pool2d(_rn(rng, x_shape, dt), **mp, return_indices=True)
        return dict(grad_output=_rn(rng, y.shape, dt), indices=idx)

    def apb_make(rng, dt):
        y = fc.avg_pool2d(_rn(rng, x_shape, dt), **mp)
        return dict(grad_output=_rn(rng, y.shape, dt))

    def amb_make(rng, dt):
        y, idx = fc.adaptive_max_pool2d(_rn(rng, x_shape, dt), (3, 4), return_indices=True,
                                        data_format="NHWC")
        return dict(grad_output=_rn(rng, y.shape, dt), indices=idx)

    def aab_make(rng, dt):
        return dict(grad_output=_rn(rng, (2, 3, 4, 3), dt))

    def col_make(rng, dt):
        cols = fc.im2col(_rn(rng, x_shape, dt), 3, padding=1, data_format="NHWC")
        return dict(cols=_rn(rng, cols.shape, dt))
    return {
        "max_pool2d": (xmake, lambda **a: fc.max_pool2d(**a, **mp, return_indices=True)),
        "avg_pool2d": (xmake, lambda **a: fc.avg_pool2d(**a, **mp)),
        "max_pool2d_backward": (mpb_make, lambda **a: fc.max_pool2d_backward(
            **a, input_shape=x_shape, data_format="NHWC")),
        "avg_pool2d_backward": (apb_make, lambda **a: fc.avg_pool2d_backward(
            **a, input_shape=x_shape, **mp)),
        "adaptive_max_pool2d": (xmake, lambda **a: fc.adaptive_max_pool2d(
            **a, output_size=(3, 4), return_indices=True, data_format="NHWC")),
        "adaptive_avg_pool2d": (xmake, lambda **a: fc.adaptive_avg_pool2d(
            **a, output_size=(3, 4), data_format="NHWC")),
        "adaptive_max_pool2d_backward": (amb_make, lambda **a: fc.adaptive_max_pool2d_backward(
            **a, input_shape=x_shape, data_format="NHWC")),
        "adaptive_avg_pool2d_backward": (aab_make, lambda **a: fc.adaptive_avg_pool2d_backward(
            **a, input_shape=x_shape, data_format="NHWC")),
        "im2col": (xmake, lambda **a: fc.im2col(**a, kernel_size=3, padding=1,
                                                data_format="NHWC")),
        "col2im": (col_make, lambda **a: fc.col2im(**a, output_size=(7, 6), kernel_size=3,
                                                   padding=1, data_format="NHWC")),
    }


LAST = {}
for _nd, _fmt in ((1, "NWC"), (2, "NHWC"), (3, "NDHWC")):
    LAST[f"conv{_nd}d"], LAST[f"conv{_nd}d_backward"] = _conv_last(_nd, _fmt)
# a weight format other than the kernels' own: grad_weight is copied into out
LAST["conv2d-OIHW"], LAST["conv2d_backward-OIHW"] = _conv_last(2, "NHWC", "OIHW")
LAST["conv_transpose2d"], LAST["conv_transpose2d_backward"] = _transpose_last()
LAST.update(_pools_last())
# channels-first calls whose grad_weight is not the kernels' own array: flipped, or OHWI


def _ohwi_make(rng, dt):
    a = OPS["conv2d_backward"][0](rng, dt)
    return dict(a, weight=np.ascontiguousarray(np.moveaxis(a["weight"], 1, -1)))


OTHER = {
    "conv2d_backward-flip": (OPS["conv2d_backward"][0],
                             lambda **a: fc.conv2d_backward(**a, **CONV2D_KW, flip=True)),
    "conv2d_backward-OHWI": (_ohwi_make, lambda **a: fc.conv2d_backward(
        **a, **CONV2D_KW, weight_format="OHWI")),
}
_TABLES = {**{f"last:{k}": v for k, v in LAST.items()},
           **{f"first:{k}": v for k, v in OTHER.items()}}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("case", list(_TABLES))
def test_out_in_channels_last_and_other_weight_formats(case, dtype):
    make, call = _TABLES[case]
    a = make(np.random.default_rng(1), np.dtype(dtype))
    want = check_out(call, a, case)
    for i, w in enumerate(_as_tuple(want)):
        if w.ndim >= 3 and w.shape[1] != w.shape[-1]:
            # the other layout's shape, or that shape's transposed view: both rejected
            first = np.empty((w.shape[0], w.shape[-1]) + w.shape[1:-1], w.dtype)
            for bad in (first, np.moveaxis(first, 1, -1)):
                out = tuple(bad if j == i else None for j in range(len(_as_tuple(want))))
                with pytest.raises(ValueError, match="shape|contiguous"):
                    call(**a, out=out if isinstance(want, tuple) else bad)


def test_channels_last_results_are_written_in_place():
    """The NHWC forward writes straight into the buffer (it is returned, not a copy)."""
    make, call = LAST["conv2d"]
    a = make(np.random.default_rng(0), F32)
    out = _buffers(call(**a))
    assert call(**a, out=out) is out and out.flags.c_contiguous


# ------------------------------------------------------------- unbatched


def _unbatched_cases():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 7, 6))
    w = rng.standard_normal((6, 2, 3, 2))
    wt = rng.standard_normal((4, 3, 3, 2))
    y = fc.conv2d(x, w, groups=2)
    yt = fc.conv_transpose2d(x, wt, groups=2)
    mp, idx = fc.max_pool2d(x, 2, return_indices=True)
    cols = fc.im2col(x, 3)
    return {
        "conv2d": lambda **k: fc.conv2d(x, w, groups=2, **k),
        "conv2d_backward": lambda **k: fc.conv2d_backward(np.ones_like(y), x, w, groups=2, **k),
        "conv_transpose2d": lambda **k: fc.conv_transpose2d(x, wt, groups=2, **k),
        "conv_transpose2d_backward": lambda **k: fc.conv_transpose2d_backward(
            np.ones_like(yt), x, wt, groups=2, **k),
        "max_pool2d": lambda **k: fc.max_pool2d(x, 2, return_indices=True, **k),
        "max_pool2d_backward": lambda **k: fc.max_pool2d_backward(mp, idx, x.shape, **k),
        "avg_pool2d": lambda **k: fc.avg_pool2d(x, 2, **k),
        "avg_pool2d_backward": lambda **k: fc.avg_pool2d_backward(mp, x.shape, 2, **k),
        "adaptive_max_pool2d": lambda **k: fc.adaptive_max_pool2d(x, 3, True, **k),
        "adaptive_avg_pool2d_backward": lambda **k: fc.adaptive_avg_pool2d_backward(
            mp, x.shape, **k),
        "im2col": lambda **k: fc.im2col(x, 3, **k),
        "col2im": lambda **k: fc.col2im(cols, (7, 6), 3, **k),
        "col2im-NHWC": lambda **k: fc.col2im(fc.im2col(_last(x[None])[0], 3, data_format="NHWC"),
                                             (7, 6), 3, data_format="NHWC", **k),
    }


UNBATCHED = _unbatched_cases()


@pytest.mark.parametrize("case", list(UNBATCHED))
def test_unbatched_out_has_the_unbatched_shape(case):
    call = UNBATCHED[case]
    want = call()
    check_out(lambda **k: call(**k), {}, case)
    # the batched shape of the first result is not the result's shape
    first = _as_tuple(want)[0]
    bad = np.empty((1,) + first.shape, first.dtype)
    out = (bad,) + (None,) * (len(want) - 1) if isinstance(want, tuple) else bad
    with pytest.raises(ValueError, match=re.escape(f"shape {first.shape}, got {bad.shape}")):
        call(out=out)


# ---------------------------------------------------------- error paths


def _strided(shape, dtype):
    """A view of ``shape`` that is not C-contiguous (every other element of an axis > 1)."""
    axis = max(i for i, s in enumerate(shape) if s > 1)
    big = list(shape)
    big[axis] *= 2
    view = np.empty(big, dtype)[tuple(slice(None, None, 2) if i == axis else slice(None)
                                      for i in range(len(shape)))]
    assert view.shape == tuple(shape) and not view.flags.c_contiguous
    return _garbage(view)


def _readonly(shape, dtype):
    a = _garbage(np.empty(shape, dtype))
    a.flags.writeable = False
    return a


def _wrong_dtype(shape, dtype):
    return _garbage(np.empty(shape, {F64: F32, F32: F64}.get(np.dtype(dtype), np.int32)))


def _wrong_shape(shape, dtype):
    return _garbage(np.empty((shape[0] + 1,) + tuple(shape[1:]), dtype))


def _fortran(shape, dtype):
    a = _garbage(np.empty(shape, dtype, order="F"))
    return a if not a.flags.c_contiguous else _strided(shape, dtype)


def _byteswapped(shape, dtype):
    return _garbage(np.empty(shape, np.dtype(dtype).newbyteorder()))


BAD = {  # name: (make(shape, dtype), exception, message)
    "list": (lambda s, d: np.zeros(s, d).tolist(), TypeError, "NumPy array"),
    "wrong-dtype": (_wrong_dtype, TypeError, "dtype"),
    "byteswapped": (_byteswapped, TypeError, "dtype"),
    "wrong-shape": (_wrong_shape, ValueError, "shape"),
    "flat": (lambda s, d: _garbage(np.empty((int(np.prod(s)),) + ((1,) if len(s) == 1 else ()),
                                            d)), ValueError, "shape"),
    "strided": (_strided, ValueError, "C-contiguous"),
    "fortran": (_fortran, ValueError, "C-contiguous"),
    "readonly": (_readonly, ValueError, "writeable"),
}


def _expect_untouched(call, arrays, out, exc, match, what):
    bufs = [b for b in _as_tuple(out) if isinstance(b, np.ndarray)]
    snap, inputs = [b.tobytes() for b in bufs], _snapshot(arrays)
    with pytest.raises(exc, match=match):
        call(**arrays, out=out)
    assert [b.tobytes() for b in bufs] == snap, f"{what}: a buffer was written before raising"
    assert _snapshot(arrays) == inputs, f"{what}: an input was modified"


def _with_entry(want, i, bad):
    """``out`` with ``bad`` at result ``i`` and good buffers elsewhere."""
    if not isinstance(want, tuple):
        return bad
    good = _buffers(want)
    return tuple(bad if j == i else g for j, g in enumerate(good))


@pytest.mark.parametrize("bad", list(BAD))
@pytest.mark.parametrize("op", list(OPS))
def test_bad_out_raises_before_writing(op, bad):
    a = _inputs(op)
    _, call = OPS[op]
    want = call(**a)
    make, exc, match = BAD[bad]
    for i, w in enumerate(_as_tuple(want)):
        _expect_untouched(call, a, _with_entry(want, i, make(w.shape, w.dtype)), exc, match,
                          f"{op} {bad} result {i}")


def _overlapping(a, nbytes, dtype, shape):
    """``a``'s values in a buffer that also holds an array of ``shape`` and ``dtype``
    overlapping ``a``'s last element(s): ``(copy of a, the overlapping array)``."""
    raw = np.zeros(a.nbytes + nbytes + 16, np.uint8)
    start = (-raw.ctypes.data) % 16
    held = raw[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    held[...] = a
    at = start + (a.nbytes - 1) // 8 * 8 if a.nbytes else start
    other = raw[at:at + nbytes].view(dtype).reshape(shape)
    assert np.shares_memory(held, other)
    return held, other


@pytest.mark.parametrize("op", list(OPS))
def test_out_overlapping_any_input_raises_before_writing(op):
    a = _inputs(op)
    _, call = OPS[op]
    want = call(**a)
    for name in a:
        for i, w in enumerate(_as_tuple(want)):
            held, out = _overlapping(a[name], w.nbytes, w.dtype, w.shape)
            _garbage(out)
            args = dict(a, **{name: held})
            _expect_untouched(call, args, _with_entry(want, i, out), ValueError,
                              f"shares memory with the input `{name}`",
                              f"{op}: result {i} over `{name}`")


def test_out_that_is_an_input_raises():
    """In place (``out`` the input itself): rejected, the input unchanged."""
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5))
    keep = x.copy()
    with pytest.raises(ValueError, match="`x`"):
        fc.avg_pool2d(x, 3, stride=1, padding=1, out=x)
    with pytest.raises(ValueError, match="`x`"):
        fc.conv2d(x, np.ones((2, 2, 1, 1)), out=x)
    assert x.tobytes() == keep.tobytes()


TUPLE_OPS = [op for op in OPS if isinstance(OPS[op][1](**_inputs(op)), tuple)]


@pytest.mark.parametrize("op", TUPLE_OPS)
def test_tuple_out_errors(op):
    a = _inputs(op)
    _, call = OPS[op]
    want = call(**a)
    n = len(want)
    good = _buffers(want)
    for bad, exc, match in [(list(good), TypeError, "tuple"), (good[0], TypeError, "tuple"),
                            (good[:-1], ValueError, f"tuple of {n}"),
                            (good + (None,), ValueError, f"tuple of {n}")]:
        _expect_untouched(call, a, bad, exc, match, f"{op} {type(bad).__name__}")
    # two entries sharing memory
    for i in range(n):
        for j in range(i + 1, n):
            wi, wj = want[i], want[j]
            first, second = _overlapping(_garbage(np.empty(wi.shape, wi.dtype)), wj.nbytes,
                                         wj.dtype, wj.shape)
            out = tuple(first if k == i else second if k == j else None for k in range(n))
            _expect_untouched(call, a, out, ValueError, "share memory", f"{op} {i}/{j}")


@pytest.mark.parametrize("op", [op for op in OPS if op not in TUPLE_OPS])
def test_a_tuple_for_one_result_raises(op):
    a = _inputs(op)
    _, call = OPS[op]
    buf = _buffers(call(**a))
    _expect_untouched(call, a, (buf,), TypeError, "array|tuple", op)


def test_out_is_keyword_only():
    import inspect
    for name in PUBLIC_OPS:
        param = inspect.signature(getattr(fc, name)).parameters["out"]
        assert param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is None, name


def test_empty_results_fill_the_buffer():
    """N=0, C=0: no kernel runs; ``out`` still receives the result (bias, zeros)."""
    b = np.array([1.5, -2.0])
    out = _garbage(np.empty((1, 2, 3, 3)))
    assert fc.conv2d(np.zeros((1, 0, 3, 3)), np.zeros((2, 0, 1, 1)), b, out=out) is out
    assert (out == b[:, None, None]).all()
    out = _garbage(np.empty((1, 2, 4, 4)))
    assert fc.max_pool2d_backward(np.zeros((1, 2, 0, 2)), np.zeros((1, 2, 0, 2), np.int64),
                                  (1, 2, 4, 4), out=out) is out
    assert (out == 0).all()
    outs = tuple(_garbage(np.empty(s)) for s in ((0, 2, 3, 3), (3, 2, 1, 1), (3,)))
    got = fc.conv2d_backward(np.zeros((0, 3, 3, 3)), np.zeros((0, 2, 3, 3)),
                             np.ones((3, 2, 1, 1)), out=outs)
    assert all(g is o for g, o in zip(got, outs))
    assert (outs[1] == 0).all() and (outs[2] == 0).all()


# ------------------------------------------------------------ hypothesis


@given(S.conv_cases(nd=2), st.booleans())
def test_conv2d_out_random_geometries(case, last):
    args = dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
                groups=case.groups, flip=case.flip)
    expected = ref.conv2d(case.x, case.w, case.b, **args)
    scale = ref.conv2d(np.abs(case.x), np.abs(case.w), None if case.b is None
                       else np.abs(case.b), **args)
    x, w = (_last(case.x), _hwio(case.w)) if last else (case.x, case.w)
    fmt = dict(data_format="NHWC") if last else {}
    want = fc.conv2d(x, w, case.b, **args, **fmt)
    out = _buffers(want)
    got = fc.conv2d(x, w, case.b, **args, **fmt, out=out)
    assert got is out
    _assert_bitwise(got, want, "conv2d")
    assert_close(np.moveaxis(got, -1, 1) if last else got, expected, case.dtype, scale)
    # and its backward, each gradient into its own buffer
    go = case.rng.standard_normal(want.shape).astype(case.dtype)
    gwant = fc.conv2d_backward(go, x, w, **args, **fmt)
    outs = _buffers(gwant)
    ggot = fc.conv2d_backward(go, x, w, **args, **fmt, out=outs)
    _assert_returned(ggot, outs, "conv2d_backward")
    _assert_bitwise(ggot, gwant, "conv2d_backward")
    e_gx, e_gw, e_gb = ref.conv2d_backward(np.moveaxis(go, -1, 1) if last else go, case.x,
                                           case.w, **args)
    s_gx, s_gw, s_gb = ref.conv2d_backward(np.abs(np.moveaxis(go, -1, 1) if last else go),
                                           np.abs(case.x), np.abs(case.w), **args)
    gx, gw, gb = ggot
    if last:
        gx, gw = np.moveaxis(gx, -1, 1), np.moveaxis(gw, (-1, -2), (0, 1))
    assert_close(gx, e_gx, case.dtype, s_gx)
    assert_close(gw, e_gw, case.dtype, s_gw)
    assert_close(gb, e_gb, case.dtype, s_gb)


@given(S.pool_cases("max", nd=2), st.booleans())
def test_max_pool2d_out_random_geometries(case, last):
    args = dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
                dilation=case.dilation, ceil_mode=case.ceil_mode)
    try:
        e_out, e_idx = ref.max_pool2d(case.x, **args)
    except ValueError:  # a dilated window with no input element: raises, out untouched
        out = _garbage(np.empty((1,), case.dtype))
        with pytest.raises(ValueError):
            fc.max_pool2d(case.x, **args, out=out)
        assert np.isnan(out).all()
        return
    x = _last(case.x) if last else case.x
    fmt = dict(data_format="NHWC") if last else {}
    want = fc.max_pool2d(x, **args, return_indices=True, **fmt)
    out = _buffers(want)
    got = fc.max_pool2d(x, **args, return_indices=True, **fmt, out=out)
    _assert_returned(got, out, "max_pool2d")
    _assert_bitwise(got, want, "max_pool2d")
    y, idx = (np.moveaxis(g, -1, 1) for g in got) if last else got
    np.testing.assert_array_equal(y, e_out.astype(case.dtype))
    np.testing.assert_array_equal(idx, e_idx)
    # the backward into a buffer
    gx_want = fc.max_pool2d_backward(want[0], want[1], x.shape, **fmt)
    gx = _buffers(gx_want)
    assert fc.max_pool2d_backward(want[0], want[1], x.shape, **fmt, out=gx) is gx
    _assert_bitwise(gx, gx_want, "max_pool2d_backward")


@given(S.pool_cases("avg", nd=2))
def test_avg_pool2d_out_random_geometries(case):
    args = dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
                ceil_mode=case.ceil_mode, count_include_pad=case.count_include_pad)
    expected = ref.avg_pool2d(case.x, **args)
    out = _garbage(np.empty(expected.shape, case.dtype))
    assert fc.avg_pool2d(case.x, **args, out=out) is out
    assert_close(out, expected, case.dtype, ref.avg_pool2d(np.abs(case.x), **args))


# ------------------------------------------------------------------ torch


@pytest.mark.torch
def test_out_matches_torch(torch):
    """The buffers hold torch's results (conv2d, its gradients, max pooling with indices)."""
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 2, 3, 3)), \
        rng.standard_normal(6)
    y = _garbage(np.empty((2, 6, 5, 4)))
    fc.conv2d(x, w, b, stride=2, padding=1, groups=2, out=y)
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    ty = F.conv2d(tx, tw, tb, stride=2, padding=1, groups=2)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    go = rng.standard_normal(y.shape)
    ty.backward(torch.from_numpy(go))
    outs = tuple(_garbage(np.empty(a.shape)) for a in (x, w, b))
    fc.conv2d_backward(go, x, w, stride=2, padding=1, groups=2, out=outs)
    for got, t in zip(outs, (tx, tw, tb)):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-12, atol=1e-12)
    m, i = _garbage(np.empty((2, 4, 5, 4))), _garbage(np.empty((2, 4, 5, 4), np.int64))
    fc.max_pool2d(x, 3, 2, 1, return_indices=True, out=(m, i))
    tm, ti = F.max_pool2d(torch.from_numpy(x), 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(m, tm.numpy())
    np.testing.assert_array_equal(i, ti.numpy())


# ----------------------------------------------------------------- memory


def _peak(func):
    from fastconv.bench import peak_extra_bytes
    func()   # warm: the per-thread workspace and the plan exist
    return peak_extra_bytes(func)


@pytest.mark.parametrize("fmt", ["NCHW", "NHWC"])
def test_with_out_a_forward_call_allocates_nothing_large(fmt):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 16, 48, 48)).astype(np.float32)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    if fmt == "NHWC":
        x, w = _last(x), _hwio(w)
    y = fc.conv2d(x, w, padding=1, data_format=fmt)
    out = np.empty_like(y)
    with_out = _peak(lambda: fc.conv2d(x, w, padding=1, data_format=fmt, out=out))
    without = _peak(lambda: fc.conv2d(x, w, padding=1, data_format=fmt))
    assert without >= y.nbytes            # the measure sees the result when it is allocated
    assert with_out < y.nbytes / 100, (with_out, y.nbytes)
    m = fc.max_pool2d(x, 2, data_format=fmt)
    mo, io = np.empty_like(m), np.empty(m.shape, np.int64)
    assert _peak(lambda: fc.max_pool2d(x, 2, data_format=fmt, out=mo)) < m.nbytes / 50
    assert _peak(lambda: fc.max_pool2d(x, 2, return_indices=True, data_format=fmt,
                                       out=(mo, io))) < m.nbytes / 50
    assert _peak(lambda: fc.max_pool2d(x, 2, data_format=fmt)) >= m.nbytes


def test_with_out_a_backward_call_allocates_only_weight_sized_scratch():
    """The backward's scratch (the weight transposed, grad_weight's partial sums per chunk
    of samples, at most N of them) does not grow with the images."""
    w = np.random.default_rng(0).standard_normal((32, 16, 3, 3)).astype(np.float32)
    for H in (48, 96):
        x = np.ones((4, 16, H, H), np.float32)
        go = np.ones((4, 32, H, H), np.float32)
        outs = (np.empty_like(x), np.empty_like(w), np.empty(32, np.float32))
        peak = _peak(lambda: fc.conv2d_backward(go, x, w, padding=1, out=outs))
        assert peak < (4 + 2) * w.nbytes < x.nbytes / 5, (H, peak, w.nbytes, x.nbytes)
        assert _peak(lambda: fc.conv2d_backward(go, x, w, padding=1)) >= x.nbytes


# ------------------------------------------------ every convolution algorithm


GEOMETRIES = {  # (x shape NCHW, weight shape OIHW, keywords)
    "dense": ((2, 4, 9, 8), (6, 4, 3, 3), dict(padding=1)),
    "1x1": ((2, 4, 6, 5), (6, 4, 1, 1), {}),
    "depthwise": ((2, 4, 9, 8), (4, 1, 3, 3), dict(padding=1, groups=4)),
    "grouped": ((2, 4, 9, 8), (6, 2, 3, 3), dict(groups=2, stride=2)),
    "strided": ((3, 4, 11, 9), (6, 4, 3, 2), dict(stride=2, dilation=(1, 2), padding=1)),
    # enough channels and wide enough rows for the strip paths and grad_input as a forward
    "wide": ((2, 32, 6, 40), (32, 32, 3, 3), dict(padding=1)),
}


def _every_algorithm():
    return [(a["direction"], a["name"]) for a in fc.algorithms("conv")]


def _algorithm_calls(direction, x, w, kw, fmt, rng):
    """``(op, args)`` of the calls that run a ``direction`` route: the convolution's, and
    the transposed convolution's (whose forward is a convolution's grad_input, and whose
    grad_input a convolution's forward)."""
    y = fc.conv2d(x, w, **kw, **fmt)
    go = rng.standard_normal(y.shape)
    t = fc.conv_transpose2d(go, w, **kw, **fmt)
    bias = np.ones(w.shape[-1 if fmt else 0])
    calls = {"forward": [(fc.conv2d, (x, w, bias)),
                         (fc.conv_transpose2d_backward, (t, go, w))],
             "grad_input": [(fc.conv2d_backward, (go, x, w)),
                            (fc.conv_transpose2d, (go, w))],
             "grad_weight": [(fc.conv2d_backward, (go, x, w)),
                             (fc.conv_transpose2d_backward, (t, go, w))]}
    calls["grad_bias"] = calls["grad_weight"]
    return calls[direction]


def test_every_convolution_algorithm_writes_into_out():
    """Each registered algorithm (forced with ``fastconv.tuning``), on every geometry and
    layout it supports, in the convolution and the transposed convolution: out= gives
    bitwise its result without out, in the given buffers.  Every algorithm must have run
    at least once."""
    ran = set()
    rng = np.random.default_rng(7)
    for direction, name in _every_algorithm():
        for geo, (xs, ws, kw) in GEOMETRIES.items():
            for last in (False, True):
                x, w = rng.standard_normal(xs), rng.standard_normal(ws)
                fmt = dict(data_format="NHWC") if last else {}
                if last:
                    x, w = _last(x), _hwio(w)
                for op, args in _algorithm_calls(direction, x, w, kw, fmt, rng):
                    # (grad_input as a forward from 1 channel, not 64: the small geometries)
                    with fc.tuning(force={direction: name}, forward_grad_input_channels=1):
                        try:
                            plan = fc.plan(op, *args, **kw, **fmt)
                        except ValueError:   # the algorithm does not support this problem
                            continue
                        if name not in plan.algorithms.values():
                            continue
                        check_out(lambda op=op, args=args, **o: op(*args, **kw, **fmt, **o), {},
                                  f"{op.__name__} {name} {geo} {'NHWC' if last else 'NCHW'}")
                    ran.add(name)
    assert ran == {name for _, name in _every_algorithm()}, (
        {name for _, name in _every_algorithm()} - ran)


def _pool_calls(x, fmt):
    """Pooling, adaptive pooling and unfold calls on ``x`` (channels-first (2, 3, 8, 40)
    or its channels-last copy) meant to reach each of their kernels: global windows (the
    reductions), row and window kernels, overlapping and dilated windows, the adaptive
    kernels, backward scatters."""
    kw = dict(data_format=fmt)
    shape = x.shape
    y, idx = fc.max_pool2d(x, 3, 2, 1, return_indices=True, **kw)
    gy, gidx = fc.max_pool2d(x, (8, 40), return_indices=True, **kw)
    ay, aidx = fc.adaptive_max_pool2d(x, (3, 5), return_indices=True, **kw)
    g1 = fc.avg_pool2d(x, (8, 40), **kw)
    cols = fc.im2col(x, 3, padding=1, **kw)
    return [
        (fc.max_pool2d, (x, 2), {}), (fc.max_pool2d, (x, 3, 1, 1), dict(dilation=2)),
        (fc.max_pool2d, (x, (8, 40)), dict(return_indices=True)),
        (fc.max_pool2d, (x, 3, 2, 1), dict(return_indices=True, ceil_mode=True)),
        (fc.avg_pool2d, (x, 2), {}), (fc.avg_pool2d, (x, 3, 1, 1), {}),
        (fc.avg_pool2d, (x, (8, 40)), {}),
        (fc.avg_pool2d_backward, (fc.avg_pool2d(x, 2, **kw), shape, 2), {}),
        (fc.avg_pool2d_backward, (fc.avg_pool2d(x, 3, 1, 1, **kw), shape, 3, 1, 1), {}),
        (fc.avg_pool2d_backward, (g1, shape, (8, 40)), {}),
        (fc.max_pool2d_backward, (y, idx, shape), {}),
        (fc.max_pool2d_backward, (gy, gidx, shape), {}),
        (fc.adaptive_avg_pool2d, (x, 1), {}), (fc.adaptive_avg_pool2d, (x, (3, 5)), {}),
        (fc.adaptive_avg_pool2d, (x, (4, 6)), {}),
        (fc.adaptive_max_pool2d, (x, (3, 5)), dict(return_indices=True)),
        (fc.adaptive_max_pool2d, (x, 1), dict(return_indices=True)),
        (fc.adaptive_avg_pool2d_backward, (fc.adaptive_avg_pool2d(x, (3, 5), **kw), shape), {}),
        (fc.adaptive_avg_pool2d_backward, (fc.adaptive_avg_pool2d(x, 1, **kw), shape), {}),
        (fc.adaptive_max_pool2d_backward, (ay, aidx, shape), {}),
        (fc.im2col, (x, 3), dict(padding=1)),
        (fc.col2im, (cols, (8, 40), 3), dict(padding=1)),
    ]


def test_every_pooling_and_unfold_kernel_writes_into_out():
    """out= in every pooling, adaptive pooling and unfold kernel, each forced in turn with
    ``fastconv.tuning`` on the calls that support it (each must run at least once):
    bitwise the result without out."""
    x = np.random.default_rng(8).standard_normal((2, 3, 8, 40))
    every = [(a["direction"], a["name"]) for a in fc.algorithms()
             if not a["name"].startswith("conv.")]
    ran = set()
    for fmt, data in (("NCHW", x), ("NHWC", _last(x))):
        for op, args, kw in _pool_calls(data, fmt):
            kw = dict(kw, data_format=fmt)
            for direction, name in every:
                with fc.tuning(force={direction: name}):
                    try:
                        if name not in fc.plan(op, *args, **kw).algorithms.values():
                            continue
                    except ValueError:   # the kernel does not support this call
                        continue
                    check_out(lambda op=op, args=args, kw=kw, **o: op(*args, **kw, **o), {},
                              f"{op.__name__}{args[1:]} {kw} {name}")
                ran.add(name)
    assert ran == {name for _, name in every}, {name for _, name in every} - ran


@pytest.mark.parametrize("name", PUBLIC_OPS)
def test_every_docstring_documents_out(name):
    """The ``out`` parameter (the shared text) and its errors in every op's docstring."""
    doc = getattr(fc, name).__doc__
    assert re.search(r"^\s*out : ", doc, re.M), name
    assert "checked before anything is written" in doc, name
    raises = doc[doc.index("Raises"):doc.index("See Also")]
    assert raises.count("An ``out`` buffer") == 2, name


def test_out_may_be_a_memory_map(tmp_path):
    """An ndarray subclass (np.memmap) is a buffer like any other, batched or not."""
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6))
    for xx in (x, x[0]):
        want = fc.avg_pool2d(xx, 2)
        out = np.lib.format.open_memmap(tmp_path / f"y{xx.ndim}.npy", "w+", want.dtype,
                                        want.shape)
        assert fc.avg_pool2d(xx, 2, out=out) is out
        _assert_bitwise(np.asarray(out), want, "memmap")
