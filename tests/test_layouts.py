"""Memory layouts, dtypes, non-finite values and empty dimensions (docs/api.md, "Dtypes").

* Every op gives the same result for any input layout -- strided, channel-sliced, reversed,
  Fortran-ordered, broadcast, read-only, memory-mapped, byte-swapped, unaligned -- as for a
  C-contiguous copy of the same values; inputs are never written to; results are fresh
  C-contiguous ndarrays sharing no memory with any input.
* The result dtype table (float16 -> float32, integers/bool -> float64, ...).
* NaN and inf follow IEEE arithmetic in conv and ATen semantics in pooling.
* N=0 / C=0 / O=0 either work (right shape, right values) or raise ValueError, the same way
  every time; those calls run in a child interpreter, so a crash fails one test only.
"""

import os

import numpy as np
import pytest

import fastconv as fc
import isolated

F64, F32 = np.dtype(np.float64), np.dtype(np.float32)


def _out(i, k, s=1, pb=0, pa=0, d=1, ceil=False):
    """docs/api.md output-size rule for one dimension."""
    span = i + pb + pa - d * (k - 1) - 1
    if not ceil:
        return span // s + 1
    out = -(-span // s) + 1
    return out - 1 if (out - 1) * s >= i + pb else out


def _randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


# --------------------------------------------------------------------------------------------
# one entry per op: make(rng, dtype) -> dict of named input arrays; call(**arrays) -> result
# --------------------------------------------------------------------------------------------

def _conv1d_make(rng, dt):
    return dict(x=_randn(rng, (2, 4, 11), dt), weight=_randn(rng, (6, 2, 3), dt),
                bias=_randn(rng, (6,), dt))


CONV1D_KW = dict(stride=2, padding=(1, 2), dilation=2, groups=2)
CONV1D_OUT = (2, 6, _out(11, 3, 2, 1, 2, 2))


def _conv2d_make(rng, dt):
    return dict(x=_randn(rng, (2, 4, 7, 6), dt), weight=_randn(rng, (6, 2, 3, 2), dt),
                bias=_randn(rng, (6,), dt))


CONV2D_KW = dict(stride=(2, 1), padding=((1, 0), (1, 1)), dilation=(1, 2), groups=2)
CONV2D_OUT = (2, 6, _out(7, 3, 2, 1, 0, 1), _out(6, 2, 1, 1, 1, 2))


def _conv2d_flip_make(rng, dt):
    return dict(x=_randn(rng, (2, 3, 6, 5), dt), weight=_randn(rng, (4, 3, 3, 3), dt),
                bias=_randn(rng, (4,), dt))


def _conv1d_bwd_make(rng, dt):
    d = _conv1d_make(rng, dt)
    return dict(grad_output=_randn(rng, CONV1D_OUT, dt), x=d["x"], weight=d["weight"])


def _conv2d_bwd_make(rng, dt):
    d = _conv2d_make(rng, dt)
    return dict(grad_output=_randn(rng, CONV2D_OUT, dt), x=d["x"], weight=d["weight"])


def _convt1d_make(rng, dt):
    return dict(x=_randn(rng, (2, 4, 5), dt), weight=_randn(rng, (4, 3, 3), dt),
                bias=_randn(rng, (6,), dt))


CONVT1D_KW = dict(stride=2, padding=1, output_padding=1, groups=2)


def _convt2d_make(rng, dt):
    return dict(x=_randn(rng, (2, 4, 5, 4), dt), weight=_randn(rng, (4, 3, 3, 2), dt),
                bias=_randn(rng, (6,), dt))


CONVT2D_KW = dict(stride=(2, 1), padding=((1, 0), (0, 1)), output_padding=(1, 0), groups=2,
                  dilation=(1, 2))

IM2COL_KW = dict(kernel_size=(3, 2), dilation=(1, 2), padding=1, stride=(2, 1))
IM2COL_L = _out(7, 3, 2, 1, 1, 1) * _out(6, 2, 1, 1, 1, 2)


def _im2col_make(rng, dt):
    return dict(x=_randn(rng, (2, 3, 7, 6), dt))


def _col2im_make(rng, dt):
    return dict(cols=_randn(rng, (2, 3 * 3 * 2, IM2COL_L), dt))


MP1_KW = dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)
MP1_OUT = (2, 3, _out(11, 3, 2, 1, 1, 2, True))
MP2_KW = dict(kernel_size=(3, 2), stride=(2, 1), padding=1, dilation=(1, 2), ceil_mode=True)
MP2_OUT = (2, 3, _out(7, 3, 2, 1, 1, 1, True), _out(6, 2, 1, 1, 1, 2, True))
AP1_KW = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
AP1_OUT = (2, 3, _out(11, 3, 2, 1, 1, 1, True))
AP2_KW = dict(kernel_size=(3, 2), stride=(2, 1), padding=1, ceil_mode=True,
              count_include_pad=False)
AP2_OUT = (2, 3, _out(7, 3, 2, 1, 1, 1, True), _out(6, 2, 1, 1, 1, 1, True))


def _pool1d_make(rng, dt):
    return dict(x=_randn(rng, (2, 3, 11), dt))


def _pool2d_make(rng, dt):
    return dict(x=_randn(rng, (2, 3, 7, 6), dt))


def _mp1_bwd_make(rng, dt):
    return dict(grad_output=_randn(rng, MP1_OUT, dt), indices=rng.integers(0, 11, MP1_OUT))


def _mp2_bwd_make(rng, dt):
    return dict(grad_output=_randn(rng, MP2_OUT, dt), indices=rng.integers(0, 42, MP2_OUT))


CONV3D_KW = dict(stride=(1, 2, 1), padding=((1, 0), (1, 1), (0, 1)), dilation=(2, 1, 1))
CONV3D_OUT = (2, 4, _out(5, 2, 1, 1, 0, 2), _out(6, 3, 2, 1, 1, 1), _out(5, 2, 1, 0, 1, 1))
CONVT3D_KW = dict(stride=(2, 1, 2), padding=1, output_padding=(1, 0, 0), groups=2)
MP3_KW = dict(kernel_size=(2, 3, 2), stride=(1, 2, 2), padding=(1, 1, 0), dilation=(2, 1, 1),
              ceil_mode=True)
MP3_OUT = (2, 3, _out(5, 2, 1, 1, 1, 2, True), _out(6, 3, 2, 1, 1, 1, True),
           _out(5, 2, 2, 0, 0, 1, True))
AP3_KW = dict(kernel_size=(2, 3, 2), stride=(1, 2, 2), padding=(1, 1, 0), ceil_mode=True,
              count_include_pad=False)
AP3_OUT = (2, 3, _out(5, 2, 1, 1, 1, 1, True), _out(6, 3, 2, 1, 1, 1, True),
           _out(5, 2, 2, 0, 0, 1, True))


def _conv3d_make(rng, dt):
    return dict(x=_randn(rng, (2, 3, 5, 6, 5), dt), weight=_randn(rng, (4, 3, 2, 3, 2), dt),
                bias=_randn(rng, (4,), dt))


def _conv3d_bwd_make(rng, dt):
    d = _conv3d_make(rng, dt)
    return dict(grad_output=_randn(rng, CONV3D_OUT, dt), x=d["x"], weight=d["weight"])


def _convt3d_make(rng, dt):
    return dict(x=_randn(rng, (2, 4, 3, 4, 3), dt), weight=_randn(rng, (4, 3, 2, 3, 3), dt),
                bias=_randn(rng, (6,), dt))


def _pool3d_make(rng, dt):
    return dict(x=_randn(rng, (2, 3, 5, 6, 5), dt))


def _mp3_bwd_make(rng, dt):
    return dict(grad_output=_randn(rng, MP3_OUT, dt), indices=rng.integers(0, 150, MP3_OUT))


def _adaptive_bwd_make(out_shape, n_in, with_indices):
    def make(rng, dt):
        a = dict(grad_output=_randn(rng, out_shape, dt))
        if with_indices:
            a["indices"] = rng.integers(0, n_in, out_shape)
        return a
    return make


ADAPTIVE = {}
for _nd, _shape, _out in ((1, (2, 3, 11), (4,)), (2, (2, 3, 7, 6), (3, 4)),
                          (3, (2, 3, 5, 6, 5), (2, 3, 2))):
    _oshape = _shape[:2] + _out
    ADAPTIVE.update({
        f"adaptive_avg_pool{_nd}d": (
            lambda rng, dt, s=_shape: dict(x=_randn(rng, s, dt)),
            lambda nd=_nd, o=_out, **a: getattr(fc, f"adaptive_avg_pool{nd}d")(
                **a, output_size=o)),
        f"adaptive_max_pool{_nd}d": (
            lambda rng, dt, s=_shape: dict(x=_randn(rng, s, dt)),
            lambda nd=_nd, o=_out, **a: getattr(fc, f"adaptive_max_pool{nd}d")(
                **a, output_size=o, return_indices=True)),
        f"adaptive_avg_pool{_nd}d_backward": (
            _adaptive_bwd_make(_oshape, int(np.prod(_shape[2:])), False),
            lambda nd=_nd, s=_shape, **a: getattr(fc, f"adaptive_avg_pool{nd}d_backward")(
                **a, input_shape=s)),
        f"adaptive_max_pool{_nd}d_backward": (
            _adaptive_bwd_make(_oshape, int(np.prod(_shape[2:])), True),
            lambda nd=_nd, s=_shape, **a: getattr(fc, f"adaptive_max_pool{nd}d_backward")(
                **a, input_shape=s)),
    })

def _convt_bwd_make(make, kw, nd):
    def bwd_make(rng, dt):
        d = make(rng, dt)
        y = getattr(fc, f"conv_transpose{nd}d")(d["x"], d["weight"], **kw)
        return dict(grad_output=_randn(rng, y.shape, dt), x=d["x"], weight=d["weight"])
    return bwd_make


OPS = {
    **ADAPTIVE,
    **{f"conv_transpose{nd}d_backward": (
        _convt_bwd_make(make, kw, nd),
        lambda nd=nd, kw=kw, **a: getattr(fc, f"conv_transpose{nd}d_backward")(**a, **kw))
       for nd, make, kw in ((1, _convt1d_make, CONVT1D_KW), (2, _convt2d_make, CONVT2D_KW),
                            (3, _convt3d_make, CONVT3D_KW))},
    "conv1d": (_conv1d_make, lambda **a: fc.conv1d(**a, **CONV1D_KW)),
    "conv2d": (_conv2d_make, lambda **a: fc.conv2d(**a, **CONV2D_KW)),
    "conv2d-flip-same": (_conv2d_flip_make, lambda **a: fc.conv2d(**a, padding="same", flip=True)),
    "conv1d_backward": (_conv1d_bwd_make, lambda **a: fc.conv1d_backward(**a, **CONV1D_KW)),
    "conv2d_backward": (_conv2d_bwd_make, lambda **a: fc.conv2d_backward(**a, **CONV2D_KW)),
    "conv_transpose1d": (_convt1d_make, lambda **a: fc.conv_transpose1d(**a, **CONVT1D_KW)),
    "conv_transpose2d": (_convt2d_make, lambda **a: fc.conv_transpose2d(**a, **CONVT2D_KW)),
    "im2col": (_im2col_make, lambda **a: fc.im2col(**a, **IM2COL_KW)),
    "col2im": (_col2im_make, lambda **a: fc.col2im(**a, output_size=(7, 6), **IM2COL_KW)),
    "max_pool1d": (_pool1d_make, lambda **a: fc.max_pool1d(**a, **MP1_KW, return_indices=True)),
    "max_pool2d": (_pool2d_make, lambda **a: fc.max_pool2d(**a, **MP2_KW, return_indices=True)),
    "max_pool1d_backward": (_mp1_bwd_make,
                            lambda **a: fc.max_pool1d_backward(**a, input_shape=(2, 3, 11))),
    "max_pool2d_backward": (_mp2_bwd_make,
                            lambda **a: fc.max_pool2d_backward(**a, input_shape=(2, 3, 7, 6))),
    "avg_pool1d": (_pool1d_make, lambda **a: fc.avg_pool1d(**a, **AP1_KW)),
    "avg_pool2d": (_pool2d_make, lambda **a: fc.avg_pool2d(**a, **AP2_KW)),
    "avg_pool1d_backward": (
        lambda rng, dt: dict(grad_output=_randn(rng, AP1_OUT, dt)),
        lambda **a: fc.avg_pool1d_backward(**a, input_shape=(2, 3, 11), **AP1_KW)),
    "avg_pool2d_backward": (
        lambda rng, dt: dict(grad_output=_randn(rng, AP2_OUT, dt)),
        lambda **a: fc.avg_pool2d_backward(**a, input_shape=(2, 3, 7, 6), **AP2_KW)),
    "conv3d": (_conv3d_make, lambda **a: fc.conv3d(**a, **CONV3D_KW)),
    "conv3d_backward": (_conv3d_bwd_make, lambda **a: fc.conv3d_backward(**a, **CONV3D_KW)),
    "conv_transpose3d": (_convt3d_make, lambda **a: fc.conv_transpose3d(**a, **CONVT3D_KW)),
    "max_pool3d": (_pool3d_make, lambda **a: fc.max_pool3d(**a, **MP3_KW, return_indices=True)),
    "max_pool3d_backward": (_mp3_bwd_make,
                            lambda **a: fc.max_pool3d_backward(**a, input_shape=(2, 3, 5, 6, 5))),
    "avg_pool3d": (_pool3d_make, lambda **a: fc.avg_pool3d(**a, **AP3_KW)),
    "avg_pool3d-divisor": (_pool3d_make, lambda **a: fc.avg_pool3d(**a, **AP3_KW,
                                                                   divisor_override=5)),
    "avg_pool3d_backward": (
        lambda rng, dt: dict(grad_output=_randn(rng, AP3_OUT, dt)),
        lambda **a: fc.avg_pool3d_backward(**a, input_shape=(2, 3, 5, 6, 5), **AP3_KW)),
}


def _as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


# --------------------------------------------------------------------------------------------
# layout variants: array -> (view with the same values or, for "broadcast", derived values,
#                            the buffer that holds it, so writes anywhere in it are caught)
# --------------------------------------------------------------------------------------------

def _fill(dtype):
    return np.nan if dtype.kind == "f" else 0  # garbage in the gaps a strided view skips


def _strided_all(a, tmp):
    big = np.full(tuple(2 * s for s in a.shape), _fill(a.dtype), a.dtype)
    sl = tuple(slice(None, None, 2) for _ in a.shape)
    big[sl] = a
    return big[sl], big


def _strided_spatial(a, tmp):  # x[:, :, ::2, ::2]
    if a.ndim < 3:
        return _strided_all(a, tmp)
    big = np.full(a.shape[:2] + tuple(2 * s for s in a.shape[2:]), _fill(a.dtype), a.dtype)
    sl = (slice(None), slice(None)) + tuple(slice(None, None, 2) for _ in a.shape[2:])
    big[sl] = a
    return big[sl], big


def _channel_slice(a, tmp):  # x[:, 1:-1] of a wider array; for 1-D arrays a[1:-1]
    axis = 1 if a.ndim >= 2 else 0
    shape = list(a.shape)
    shape[axis] += 2
    big = np.full(shape, _fill(a.dtype), a.dtype)
    sl = [slice(None)] * a.ndim
    sl[axis] = slice(1, -1)
    big[tuple(sl)] = a
    return big[tuple(sl)], big


def _reversed_last(a, tmp):  # negative stride on the last axis
    buf = np.ascontiguousarray(a[..., ::-1])
    return buf[..., ::-1], buf


def _reversed_all(a, tmp):
    rev = tuple(slice(None, None, -1) for _ in a.shape)
    buf = np.ascontiguousarray(a[rev])
    return buf[rev], buf


def _fortran(a, tmp):
    f = np.asfortranarray(a)
    return f, f


def _transposed(a, tmp):  # a permuted view of a contiguous array with another axis order
    perm = tuple(range(a.ndim))[::-1][1:] + (a.ndim - 1,) if a.ndim > 1 else (0,)
    buf = np.ascontiguousarray(a.transpose(perm))
    inv = np.argsort(perm)
    return buf.transpose(inv), buf


def _readonly(a, tmp):
    r = a.copy()
    r.setflags(write=False)
    return r, r


def _broadcast(a, tmp):  # zero stride along axis 0: values differ from `a`, equal to its copy
    v = np.broadcast_to(a[:1], a.shape)
    return v, v


def _memmap(mode):
    def make(a, tmp):
        path = os.path.join(tmp, f"mm{len(os.listdir(tmp))}.dat")
        w = np.memmap(path, dtype=a.dtype, mode="w+", shape=a.shape)
        w[...] = a
        w.flush()
        del w
        m = np.memmap(path, dtype=a.dtype, mode=mode, shape=a.shape)
        return m, m
    return make


def _byteswapped(a, tmp):  # non-native byte order, as np.load gives for big-endian files
    s = a.astype(a.dtype.newbyteorder("S"))
    return s, s


def _unaligned(a, tmp):
    raw = np.zeros(a.nbytes + 1, np.uint8)
    u = raw[1:].view(a.dtype).reshape(a.shape)
    u[...] = a
    return u, raw


LAYOUTS = {
    "strided_all": _strided_all,
    "strided_spatial": _strided_spatial,
    "channel_slice": _channel_slice,
    "reversed_last": _reversed_last,
    "reversed_all": _reversed_all,
    "fortran": _fortran,
    "transposed": _transposed,
    "readonly": _readonly,
    "broadcast": _broadcast,
    "memmap_r": _memmap("r"),
    "memmap_r+": _memmap("r+"),
    "byteswapped": _byteswapped,
    "unaligned": _unaligned,
}


def _native_c_copy(v):
    return np.array(v, dtype=v.dtype.newbyteorder("="), order="C", copy=True)


def _assert_same_result(actual, expected, err_msg=""):
    """Bitwise equal, or (for an equivalent but reordered summation) within a few ulps."""
    assert type(actual) is np.ndarray, f"{err_msg}: result is {type(actual)}, not numpy.ndarray"
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, (
        f"{err_msg}: got {actual.shape} {actual.dtype}, expected {expected.shape} {expected.dtype}")
    if np.array_equal(actual, expected, equal_nan=actual.dtype.kind == "f"):
        return
    assert actual.dtype.kind == "f", f"{err_msg}: integer results differ"
    rtol = 1e-13 if actual.dtype == F64 else 2e-6
    scale = np.nanmax(np.abs(expected)) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=err_msg)


def _assert_fresh(outs, inputs, err_msg=""):
    for i, o in enumerate(outs):
        assert type(o) is np.ndarray, f"{err_msg}: result {i} is {type(o)}, not numpy.ndarray"
        assert o.flags.c_contiguous, f"{err_msg}: result {i} is not C-contiguous"
        assert o.flags.writeable, f"{err_msg}: result {i} is read-only"
        assert o.dtype.isnative, f"{err_msg}: result {i} has non-native dtype {o.dtype.str}"
        for name, a in inputs.items():
            assert not np.shares_memory(o, a), f"{err_msg}: result {i} shares memory with {name}"
        for j, p in enumerate(outs[:i]):
            assert not np.shares_memory(o, p), f"{err_msg}: results {j} and {i} share memory"


def check_layout(table, op, layout, dtype, tmp_path):
    """``table[op]`` on views of ``layout``: the result of C-contiguous copies, inputs untouched,
    fresh outputs."""
    make, call = table[op]
    arrays = make(np.random.default_rng(7), dtype)
    views, buffers = {}, {}
    for name, a in arrays.items():
        views[name], buffers[name] = LAYOUTS[layout](a, str(tmp_path))
    expected = _as_tuple(call(**{k: _native_c_copy(v) for k, v in views.items()}))
    before = {k: np.array(b, copy=True) for k, b in buffers.items()}

    got = _as_tuple(call(**views))

    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        _assert_same_result(g, e, f"{op}/{layout} result {i}")
    for k in buffers:
        np.testing.assert_array_equal(buffers[k], before[k],
                                      err_msg=f"{op}/{layout}: input {k} was modified")
    _assert_fresh(got, buffers, f"{op}/{layout}")


def check_one_odd_input(table, op, layouts=("strided_all", "reversed_all", "fortran")):
    """Mixed layouts: only one input at a time is non-contiguous."""
    make, call = table[op]
    arrays = make(np.random.default_rng(3), F64)
    expected = _as_tuple(call(**arrays))
    for name in arrays:
        for layout in layouts:
            v, _ = LAYOUTS[layout](arrays[name], None)
            got = _as_tuple(call(**{**arrays, name: v}))
            for i, (g, e) in enumerate(zip(got, expected)):
                _assert_same_result(g, e, f"{op}: {name} {layout}, result {i}")


@pytest.mark.parametrize("dtype", [F64, F32], ids=str)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("op", list(OPS))
def test_layout_gives_same_result_and_leaves_inputs_alone(op, layout, dtype, tmp_path):
    check_layout(OPS, op, layout, dtype, tmp_path)


@pytest.mark.parametrize("op", list(OPS))
def test_one_odd_input_among_contiguous_ones(op):
    """Mixed layouts: only one input at a time is non-contiguous."""
    check_one_odd_input(OPS, op)


TRIVIAL = {
    # ops whose result equals (a reshape of) an input: a lazy implementation returns a view
    "im2col-k1": (lambda x: fc.im2col(x, 1), lambda x: x.reshape(2, 3, -1)),
    "col2im-k1": (lambda x: fc.col2im(x.reshape(2, 3, -1), (5, 4), 1), lambda x: x),
    "max_pool2d-k1": (lambda x: fc.max_pool2d(x, 1), lambda x: x),
    "avg_pool2d-k1": (lambda x: fc.avg_pool2d(x, 1), lambda x: x),
    "max_pool1d-k1": (lambda x: fc.max_pool1d(x[:, :, 0], 1), lambda x: x[:, :, 0]),
    "avg_pool1d-k1": (lambda x: fc.avg_pool1d(x[:, :, 0], 1), lambda x: x[:, :, 0]),
    "avg_pool2d_backward-k1": (lambda x: fc.avg_pool2d_backward(x, x.shape, 1), lambda x: x),
    "max_pool2d_backward-k1": (
        lambda x: fc.max_pool2d_backward(
            x, np.broadcast_to(np.arange(20).reshape(5, 4), x.shape).copy(), x.shape),
        lambda x: x),
    "conv2d-identity": (lambda x: fc.conv2d(x, np.eye(3).reshape(3, 3, 1, 1)), lambda x: x),
    "conv2d-identity-groups": (lambda x: fc.conv2d(x, np.ones((3, 1, 1, 1)), groups=3),
                               lambda x: x),
    "conv_transpose2d-identity": (
        lambda x: fc.conv_transpose2d(x, np.eye(3).reshape(3, 3, 1, 1)), lambda x: x),
}


@pytest.mark.parametrize("dtype", [F64, F32], ids=str)
@pytest.mark.parametrize("case", list(TRIVIAL))
def test_identity_like_ops_return_fresh_arrays(case, dtype):
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 4)).astype(dtype)
    x_copy = x.copy()
    run, expect = TRIVIAL[case]
    out = _as_tuple(run(x))[0]
    np.testing.assert_array_equal(out, expect(x_copy))
    _assert_fresh((out,), {"x": x})
    out[...] = 123
    np.testing.assert_array_equal(x, x_copy, err_msg="writing to the result changed the input")


# --------------------------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------------------------

ALL_DTYPES = [np.dtype(t) for t in (np.float16, np.float32, np.float64, np.int8, np.int32,
                                    np.int64, np.uint8, np.bool_)]


def _expected_dtype(*dtypes):
    """The result dtype for these input dtypes.

    Each input counts as float32 (float16, float32) or float64 (float64, any integer, bool);
    the result is the wider. For float-only inputs this is numpy.result_type with float16
    promoted to float32; an integer or bool input always gives float64 (so int8 + float32 is
    float64, although numpy.result_type(int8, float32) is float32).
    """
    small = {np.dtype(np.float16), F32}
    return F32 if all(d in small for d in dtypes) else F64


def _sample(rng, shape, dtype):
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.kind in "iu":
        return rng.integers(0, 5, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_dtype_table_homogeneous(dtype):
    rng = np.random.default_rng(1)
    x = _sample(rng, (2, 4, 6, 5), dtype)
    w = _sample(rng, (3, 4, 3, 3), dtype)
    b = _sample(rng, (3,), dtype)
    want = {np.dtype(np.float16): F32, F32: F32}.get(dtype, F64)
    x_w, w_w, b_w = x.astype(want), w.astype(want), b.astype(want)  # exact conversions

    def check(name, got, ref):
        for i, (g, r) in enumerate(zip(_as_tuple(got), _as_tuple(ref))):
            assert g.dtype == r.dtype, f"{name} result {i}: {dtype} in gives {g.dtype}"
            np.testing.assert_array_equal(g, r, err_msg=f"{name} result {i} for {dtype}")

    out = fc.conv2d(x, w, b, padding=1)
    assert out.dtype == want, f"conv2d: {dtype} inputs give {out.dtype}, expected {want}"
    check("conv2d", out, fc.conv2d(x_w, w_w, b_w, padding=1))
    check("conv1d", fc.conv1d(x[..., 0], w[..., 0], b), fc.conv1d(x_w[..., 0], w_w[..., 0], b_w))
    g = _sample(rng, (2, 3, 6, 5), dtype)
    check("conv2d_backward", fc.conv2d_backward(g, x, w, padding=1),
          fc.conv2d_backward(g.astype(want), x_w, w_w, padding=1))
    wt = _sample(rng, (4, 2, 3, 3), dtype)
    check("conv_transpose2d", fc.conv_transpose2d(x, wt, b[:2]),
          fc.conv_transpose2d(x_w, wt.astype(want), b_w[:2]))
    check("im2col", fc.im2col(x, 3), fc.im2col(x_w, 3))
    cols = _sample(rng, (2, 4 * 9, 12), dtype)
    check("col2im", fc.col2im(cols, (6, 5), 3), fc.col2im(cols.astype(want), (6, 5), 3))
    mp, idx = fc.max_pool2d(x, 2, return_indices=True)
    assert idx.dtype == np.int64, f"max_pool2d indices are {idx.dtype}"
    check("max_pool2d", (mp, idx), fc.max_pool2d(x_w, 2, return_indices=True))
    check("max_pool1d", fc.max_pool1d(x[..., 0], 2), fc.max_pool1d(x_w[..., 0], 2))
    check("avg_pool2d", fc.avg_pool2d(x, 2), fc.avg_pool2d(x_w, 2))
    check("avg_pool1d", fc.avg_pool1d(x[..., 0], 2), fc.avg_pool1d(x_w[..., 0], 2))
    gp = _sample(rng, mp.shape, dtype)
    check("max_pool2d_backward", fc.max_pool2d_backward(gp, idx, x.shape),
          fc.max_pool2d_backward(gp.astype(want), idx, x.shape))
    check("avg_pool2d_backward", fc.avg_pool2d_backward(gp, x.shape, 2),
          fc.avg_pool2d_backward(gp.astype(want), x.shape, 2))


MIXED = [
    ("float32", "float64", "float32"), ("float64", "float32", "float32"),
    ("float32", "float32", "float64"), ("float32", "float64", None),
    ("float16", "float32", None), ("float16", "float16", "float32"), ("float16", "float64", None),
    ("float32", "float16", "float16"), ("float16", "float16", None),
    ("int8", "float32", None), ("float32", "int32", "float32"), ("int64", "float16", None),
    ("bool", "float32", "float32"), ("uint8", "float64", None), ("int32", "int32", "float32"),
    ("float32", "float32", "int64"), ("bool", "bool", None), ("uint8", "int8", "bool"),
]


@pytest.mark.parametrize("dx, dw, db", MIXED, ids=["-".join(map(str, m)) for m in MIXED])
def test_dtype_table_mixed(dx, dw, db):
    rng = np.random.default_rng(2)
    dts = [np.dtype(d) for d in (dx, dw) + ((db,) if db else ())]
    x = _sample(rng, (2, 2, 5, 5), dts[0])
    w = _sample(rng, (3, 2, 3, 3), dts[1])
    b = _sample(rng, (3,), dts[2]) if db else None
    want = _expected_dtype(*dts)
    out = fc.conv2d(x, w, b)
    assert out.dtype == want, f"conv2d({'/'.join(map(str, dts))}) -> {out.dtype}, expected {want}"
    cast = (lambda a: None if a is None else a.astype(out.dtype))
    np.testing.assert_array_equal(out, fc.conv2d(cast(x), cast(w), cast(b)))
    g = _sample(rng, out.shape, dts[-1])
    want_b = _expected_dtype(g.dtype, dts[0], dts[1])
    grads = fc.conv2d_backward(g, x, w)
    for i, r in enumerate(grads):
        assert r.dtype == want_b, f"conv2d_backward result {i}: {r.dtype}, expected {want_b}"
    cast_b = (lambda a: a.astype(want_b))
    for i, (r, e) in enumerate(zip(grads, fc.conv2d_backward(cast_b(g), cast_b(x), cast_b(w)))):
        np.testing.assert_array_equal(r, e, err_msg=f"conv2d_backward result {i}")
    wt = _sample(rng, (2, 3, 3, 3), dts[1])
    outt = fc.conv_transpose2d(x, wt, b)
    assert outt.dtype == want, f"conv_transpose2d -> {outt.dtype}, expected {want}"
    np.testing.assert_array_equal(outt, fc.conv_transpose2d(cast(x), cast(wt), cast(b)))


# --------------------------------------------------------------------------------------------
# NaN and inf
# --------------------------------------------------------------------------------------------

def _cover_mask_1d(n_out, pos, k, s, pad, d):
    """Which of n_out outputs have a kernel tap on input position `pos`."""
    return np.array([any(o * s + t * d - pad == pos for t in range(k)) for o in range(n_out)])


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("dtype", [F64, F32], ids=str)
def test_conv2d_nan_poisons_exactly_the_windows_covering_it(dtype, flip):
    rng = np.random.default_rng(4)
    N, C, H, W, O, groups, k, s, p, d = 2, 4, 11, 10, 6, 2, 3, 2, 1, 2
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = (rng.uniform(0.5, 1.5, (O, C // groups, k, k))
         * rng.choice([-1, 1], (O, C // groups, k, k))).astype(dtype)  # no zero weights
    b = rng.standard_normal(O).astype(dtype)
    x[1, 2, 5, 5] = np.nan  # group 1 of image 1: taps reach odd positions 2*(o+t)-1
    x[0, 0, 4, 6] = np.nan  # even position: stride 2 and dilation 2 step over it
    out = fc.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=groups, flip=flip)
    Ho, Wo = out.shape[2:]
    mask = np.zeros(out.shape, bool)
    mask[1, 3:] = np.outer(_cover_mask_1d(Ho, 5, k, s, p, d), _cover_mask_1d(Wo, 5, k, s, p, d))
    assert mask.any() and not mask[1, 3:].all(), "test geometry should leave some windows clean"
    np.testing.assert_array_equal(np.isnan(out), mask)
    assert np.isfinite(out[~mask]).all()


def test_conv1d_nan_poisons_exactly_the_windows_covering_it():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 15))
    w = rng.uniform(0.5, 1.5, (4, 3, 3))
    x[0, 1, 7] = np.nan
    out = fc.conv1d(x, w, stride=2, padding=2, dilation=3)
    mask = np.zeros(out.shape, bool)
    mask[0, :] = _cover_mask_1d(out.shape[2], 7, 3, 2, 2, 3)
    assert mask.any() and not mask[0, 0].all()
    np.testing.assert_array_equal(np.isnan(out), mask)


@pytest.mark.parametrize("dtype", [F64, F32], ids=str)
def test_conv2d_inf_times_zero_weight_is_nan(dtype):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 2, 7, 7)).astype(dtype)
    x[0, 1, 3, 2] = np.inf
    w = np.zeros((3, 2, 3, 3), dtype)
    b = rng.standard_normal(3).astype(dtype)
    out = fc.conv2d(x, w, b, padding=1)
    mask = np.zeros(out.shape, bool)
    mask[0, :, 2:5, 1:4] = True  # the 3x3 windows (padding 1) that contain (3, 2)
    np.testing.assert_array_equal(np.isnan(out), mask, err_msg="inf * 0 must give NaN")
    np.testing.assert_array_equal(out[~mask], np.broadcast_to(b[None, :, None, None],
                                                              out.shape)[~mask])


@pytest.mark.parametrize("dtype", [F64, F32], ids=str)
def test_conv2d_inf_propagates_and_opposite_infs_give_nan(dtype):
    x = np.ones((1, 1, 5, 5), dtype)
    x[0, 0, 2, 2] = np.inf
    w = np.ones((2, 1, 3, 3), dtype)
    w[1, 0, 0, 0] = -1.0
    out = fc.conv2d(x, w)  # 3x3 output; every window contains (2, 2)
    assert np.isposinf(out[0, 0]).all()
    # channel 1 sees +inf except where the -1 tap sits on it: window (2, 2) - (0, 0) -> -inf
    assert np.isneginf(out[0, 1, 2, 2]) and np.isposinf(np.delete(out[0, 1].ravel(), 8)).all()
    x[0, 0, 2, 3] = -np.inf
    out = fc.conv2d(x, w[:1])
    assert np.isnan(out[0, 0, :, 1:]).all(), "inf + (-inf) in one window must give NaN"
    assert np.isposinf(out[0, 0, :, 0]).all()


@pytest.mark.parametrize("dtype", [F64, F32], ids=str)
def test_max_pool2d_nan_wins_and_index_points_at_it(dtype):
    x = np.arange(36, dtype=dtype).reshape(1, 1, 6, 6) % 11
    x = np.ascontiguousarray(np.concatenate([x, -x], axis=1))  # channel 1: other maxima
    x[0, 0, 1, 0] = np.nan                       # window (0, 0): NaN in the middle
    x[0, 0, 0, 2] = np.nan                       # window (0, 1): two NaNs -> the last one
    x[0, 0, 1, 3] = np.nan
    x[0, 0, 2, 4] = np.nan                       # window (1, 2): NaN before a bigger value
    x[0, 0, 2, 5] = 1e30
    x[0, 1, 5, 5] = np.nan                       # window (2, 2) of channel 1: NaN last
    out, idx = fc.max_pool2d(x, 2, return_indices=True)
    assert out.shape == (1, 2, 3, 3)
    expect_nan = {(0, 0, 0): 1 * 6 + 0, (0, 0, 1): 1 * 6 + 3, (0, 1, 2): 2 * 6 + 4,
                  (1, 2, 2): 5 * 6 + 5}
    for c in range(2):
        for oy in range(3):
            for ox in range(3):
                win = x[0, c, 2 * oy:2 * oy + 2, 2 * ox:2 * ox + 2]
                if (c, oy, ox) in expect_nan:
                    assert np.isnan(out[0, c, oy, ox]), (c, oy, ox)
                    assert idx[0, c, oy, ox] == expect_nan[(c, oy, ox)], (c, oy, ox)
                else:
                    assert not np.isnan(win).any()
                    j = int(np.argmax(win))  # first maximum
                    assert out[0, c, oy, ox] == win.max(), (c, oy, ox)
                    assert idx[0, c, oy, ox] == (2 * oy + j // 2) * 6 + 2 * ox + j % 2, (c, oy, ox)


def test_max_pool1d_nan_wins_and_index_points_at_it():
    x = np.array([[[1.0, np.nan, 5.0, 2.0, np.nan, np.nan, 3.0, 9.0, 0.0]]])
    out, idx = fc.max_pool1d(x, 3, return_indices=True)
    assert np.isnan(out[0, 0, :2]).all() and out[0, 0, 2] == 9.0
    np.testing.assert_array_equal(idx[0, 0], [1, 5, 7])
    # overlapping windows with padding: padding is never a value, NaN still wins
    out, idx = fc.max_pool1d(x, 3, stride=1, padding=1, return_indices=True)
    assert np.isnan(out[0, 0, [0, 1, 2, 3, 4, 5, 6]]).all()
    np.testing.assert_array_equal(idx[0, 0, :7], [1, 1, 1, 4, 5, 5, 5])
    np.testing.assert_array_equal(out[0, 0, 7:], [9.0, 9.0])


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_nan_propagates_to_covering_windows(count_include_pad):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 2, 9, 8))
    x[1, 0, 4, 6] = np.nan
    out = fc.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=count_include_pad)
    mask = np.zeros(out.shape, bool)
    mask[1, 0] = np.outer(_cover_mask_1d(out.shape[2], 4, 3, 2, 1, 1),
                          _cover_mask_1d(out.shape[3], 6, 3, 2, 1, 1))
    np.testing.assert_array_equal(np.isnan(out), mask)


def test_avg_pool1d_nan_propagates():
    x = np.array([[[1.0, 2.0, np.nan, 4.0, 5.0, 6.0]]])
    out = fc.avg_pool1d(x, 2)
    assert np.isnan(out[0, 0, 1]) and np.isfinite(out[0, 0, [0, 2]]).all()


# --------------------------------------------------------------------------------------------
# empty dimensions: N=0, C=0, O=0 (run isolated: a division by zero in C is a crash)
# --------------------------------------------------------------------------------------------

def _check(got, shapes, values=None):
    """Child side: compare result(s) with expected shapes and (optional) exact values."""
    got = _as_tuple(got)
    assert len(got) == len(shapes), f"{len(got)} results, expected {len(shapes)}"
    for i, (g, s) in enumerate(zip(got, shapes)):
        assert isinstance(g, np.ndarray) and g.shape == tuple(s), (
            f"result {i} has shape {getattr(g, 'shape', g)}, expected {tuple(s)}")
        if values is not None and values[i] is not None:
            np.testing.assert_allclose(g, values[i], rtol=1e-6, atol=0,
                                       err_msg=f"result {i} values")
    return "ok"


def _zero_cases():
    """{(op, kind): {variant: callable}}; variants differ in dtype, threads and bias."""
    cases = {}

    def add(op, kind, fn):
        cases[(op, kind)] = {f"{dt.name}-t{nt}": (lambda dt=dt, nt=nt: fn(dt, nt))
                             for dt, nt in ((F64, 1), (F32, 2), (F64, 3))}

    z = np.zeros
    on = np.ones

    def bias(O, dt):
        return np.arange(O, dtype=dt) + 1

    # conv2d
    add("conv2d", "N=0", lambda dt, nt: _check(
        fc.conv2d(z((0, 4, 5, 5), dt), on((6, 2, 3, 3), dt), bias(6, dt), groups=2,
                  num_threads=nt), [(0, 6, 3, 3)]))
    add("conv2d", "C=0", lambda dt, nt: _check(
        fc.conv2d(z((2, 0, 5, 5), dt), on((6, 0, 3, 3), dt), bias(6, dt), num_threads=nt),
        [(2, 6, 3, 3)], [np.broadcast_to(bias(6, dt)[None, :, None, None], (2, 6, 3, 3))]))
    add("conv2d", "O=0", lambda dt, nt: _check(
        fc.conv2d(on((2, 4, 5, 5), dt), on((0, 4, 3, 3), dt), z(0, dt), num_threads=nt),
        [(2, 0, 3, 3)]))
    add("conv1d", "N=0", lambda dt, nt: _check(
        fc.conv1d(z((0, 4, 5), dt), on((6, 4, 3), dt), bias(6, dt), num_threads=nt),
        [(0, 6, 3)]))
    add("conv1d", "C=0", lambda dt, nt: _check(
        fc.conv1d(z((2, 0, 5), dt), on((6, 0, 3), dt), bias(6, dt), num_threads=nt),
        [(2, 6, 3)], [np.broadcast_to(bias(6, dt)[None, :, None], (2, 6, 3))]))
    add("conv1d", "O=0", lambda dt, nt: _check(
        fc.conv1d(on((2, 4, 5), dt), on((0, 4, 3), dt), num_threads=nt), [(2, 0, 3)]))
    # conv2d_backward: gradients over an empty batch are exact zeros, not np.empty garbage
    add("conv2d_backward", "N=0", lambda dt, nt: _check(
        fc.conv2d_backward(z((0, 6, 3, 3), dt), z((0, 4, 5, 5), dt), on((6, 2, 3, 3), dt),
                           groups=2, num_threads=nt),
        [(0, 4, 5, 5), (6, 2, 3, 3), (6,)], [None, z((6, 2, 3, 3)), z(6)]))
    add("conv2d_backward", "C=0", lambda dt, nt: _check(
        fc.conv2d_backward(on((2, 6, 3, 3), dt), z((2, 0, 5, 5), dt), on((6, 0, 3, 3), dt),
                           num_threads=nt),
        [(2, 0, 5, 5), (6, 0, 3, 3), (6,)], [None, None, np.full(6, 18.0)]))
    add("conv2d_backward", "O=0", lambda dt, nt: _check(
        fc.conv2d_backward(z((2, 0, 3, 3), dt), on((2, 4, 5, 5), dt), on((0, 4, 3, 3), dt),
                           num_threads=nt),
        [(2, 4, 5, 5), (0, 4, 3, 3), (0,)], [z((2, 4, 5, 5)), None, None]))
    add("conv1d_backward", "N=0", lambda dt, nt: _check(
        fc.conv1d_backward(z((0, 6, 3), dt), z((0, 4, 5), dt), on((6, 4, 3), dt),
                           num_threads=nt),
        [(0, 4, 5), (6, 4, 3), (6,)], [None, z((6, 4, 3)), z(6)]))
    add("conv1d_backward", "O=0", lambda dt, nt: _check(
        fc.conv1d_backward(z((2, 0, 3), dt), on((2, 4, 5), dt), on((0, 4, 3), dt),
                           num_threads=nt),
        [(2, 4, 5), (0, 4, 3), (0,)], [z((2, 4, 5)), None, None]))
    # conv_transpose2d: x (N, Cin, H, W), weight (Cin, Cout/groups, k, k)
    add("conv_transpose2d", "N=0", lambda dt, nt: _check(
        fc.conv_transpose2d(z((0, 4, 3, 3), dt), on((4, 3, 3, 3), dt), bias(3, dt),
                            num_threads=nt), [(0, 3, 5, 5)]))
    add("conv_transpose2d", "Cin=0", lambda dt, nt: _check(
        fc.conv_transpose2d(z((2, 0, 3, 3), dt), on((0, 3, 3, 3), dt), bias(3, dt),
                            num_threads=nt),
        [(2, 3, 5, 5)], [np.broadcast_to(bias(3, dt)[None, :, None, None], (2, 3, 5, 5))]))
    add("conv_transpose2d", "Cout=0", lambda dt, nt: _check(
        fc.conv_transpose2d(on((2, 4, 3, 3), dt), on((4, 0, 3, 3), dt), z(0, dt),
                            num_threads=nt), [(2, 0, 5, 5)]))
    add("conv_transpose1d", "N=0", lambda dt, nt: _check(
        fc.conv_transpose1d(z((0, 4, 3), dt), on((4, 3, 3), dt), num_threads=nt),
        [(0, 3, 5)]))

    # ops without a num_threads keyword use the global setting
    def glob(nt, fn):
        fc.set_num_threads(nt)
        try:
            return fn()
        finally:
            fc.set_num_threads(None)

    add("im2col", "N=0", lambda dt, nt: glob(nt, lambda: _check(
        fc.im2col(z((0, 3, 5, 5), dt), 3), [(0, 27, 9)])))
    add("im2col", "C=0", lambda dt, nt: glob(nt, lambda: _check(
        fc.im2col(z((2, 0, 5, 5), dt), 3), [(2, 0, 9)])))
    add("col2im", "N=0", lambda dt, nt: glob(nt, lambda: _check(
        fc.col2im(z((0, 27, 9), dt), (5, 5), 3), [(0, 3, 5, 5)])))
    add("col2im", "C=0", lambda dt, nt: glob(nt, lambda: _check(
        fc.col2im(z((2, 0, 9), dt), (5, 5), 3), [(2, 0, 5, 5)])))
    for name, fn, nd in [("max_pool2d", fc.max_pool2d, 2), ("avg_pool2d", fc.avg_pool2d, 2),
                         ("max_pool1d", fc.max_pool1d, 1), ("avg_pool1d", fc.avg_pool1d, 1)]:
        sp, osp = (4,) * nd, (2,) * nd
        extra = dict(return_indices=True) if name.startswith("max") else {}
        n_res = 2 if extra else 1
        for kind, nc in (("N=0", (0, 3)), ("C=0", (2, 0))):
            add(name, kind, lambda dt, nt, fn=fn, nc=nc, sp=sp, osp=osp, extra=extra,
                n_res=n_res: glob(nt, lambda: _check(
                    fn(z(nc + sp, dt), 2, **extra), [nc + osp] * n_res)))
    for kind, nc in (("N=0", (0, 3)), ("C=0", (2, 0))):
        add("max_pool2d_backward", kind, lambda dt, nt, nc=nc: glob(nt, lambda: _check(
            fc.max_pool2d_backward(z(nc + (2, 2), dt), z(nc + (2, 2), np.int64), nc + (4, 4)),
            [nc + (4, 4)])))
        add("avg_pool2d_backward", kind, lambda dt, nt, nc=nc: glob(nt, lambda: _check(
            fc.avg_pool2d_backward(z(nc + (2, 2), dt), nc + (4, 4), 2), [nc + (4, 4)])))
        add("max_pool1d_backward", kind, lambda dt, nt, nc=nc: glob(nt, lambda: _check(
            fc.max_pool1d_backward(z(nc + (2,), dt), z(nc + (2,), np.int64), nc + (4,)),
            [nc + (4,)])))
    return cases


ZERO_CASES = _zero_cases()
ZERO_FLAT = {f"{op}|{kind}|{v}": fn for (op, kind), vs in ZERO_CASES.items()
             for v, fn in vs.items()}


@pytest.fixture(scope="module")
def zero_results():
    return isolated.run_isolated(__file__, "ZERO_FLAT", list(ZERO_FLAT))


@pytest.mark.parametrize("op, kind", list(ZERO_CASES), ids=[f"{o}-{k}" for o, k in ZERO_CASES])
def test_empty_dimension_works_or_raises_value_error_consistently(op, kind, zero_results):
    outcomes = {}
    for v in ZERO_CASES[(op, kind)]:
        r = zero_results[f"{op}|{kind}|{v}"]
        assert "crash" not in r, (
            f"{op} with {kind} ({v}) killed the interpreter (exit status {r['crash']}):\n"
            f"{r['stderr']}")
        if r["exc"] is None:
            outcomes[v] = "works"
        elif r["exc"] == "ValueError" and r["module"] == "builtins":
            outcomes[v] = "ValueError"
        else:
            pytest.fail(f"{op} with {kind} ({v}): {r['module']}.{r['exc']}: {r['msg']}")
    assert len(set(outcomes.values())) == 1, f"{op} with {kind} is inconsistent: {outcomes}"
