"""conv_transpose{1,2,3}d_backward and output_mask on every backward function (issue 13
items 1 and 2).

The reference differentiates the reference transposed convolution (tests/reference.py,
a scatter written from the definition) directly: the op is linear in x and in w, so the
gradient with respect to one element is the op applied to the unit array of that
element, dotted with grad_output; every element is visited.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv as fc
import reference as ref
from conftest import assert_close

FMT = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


def _ref_t(nd, x, w, **kw):
    return (ref.conv_transpose1d if nd == 1 else ref.conv_transpose2d)(x, w, **kw)


def ref_transpose_backward(nd, go, x, w, **kw):
    go = go.astype(np.float64)
    gx = np.zeros(x.shape)
    gw = np.zeros(w.shape)
    for idx in np.ndindex(*x.shape):
        e = np.zeros(x.shape)
        e[idx] = 1
        gx[idx] = np.vdot(_ref_t(nd, e, w.astype(np.float64), **kw), go)
    for idx in np.ndindex(*w.shape):
        e = np.zeros(w.shape)
        e[idx] = 1
        gw[idx] = np.vdot(_ref_t(nd, x.astype(np.float64), e, **kw), go)
    return gx, gw, go.sum(axis=(0,) + tuple(range(2, go.ndim)))


def _last(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def _hwio(w, nd):
    return np.ascontiguousarray(np.transpose(w, tuple(range(2, nd + 2)) + (1, 0)))


@st.composite
def cases(draw):
    nd = draw(st.integers(1, 2))
    sp = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    k = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    s = draw(st.integers(1, 3))
    d = draw(st.integers(1, 2))
    op = draw(st.integers(0, max(s, d) - 1))
    pad = draw(st.integers(0, 1))
    groups = draw(st.sampled_from([1, 2]))
    cin, cog = groups * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    mask = tuple(draw(st.booleans()) for _ in range(3))
    last = draw(st.booleans())
    return nd, (draw(st.integers(1, 2)), cin) + sp, (cin, cog) + k, \
        dict(stride=s, padding=pad, output_padding=op, groups=groups, dilation=d), dtype, \
        mask, last, draw(st.integers(0, 2**31))


@given(cases())
@settings(max_examples=40, deadline=None)
def test_transpose_backward_matches_reference(case):
    nd, xs, ws, kw, dtype, mask, last, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    try:
        y = _ref_t(nd, x, w, **kw)
    except AssertionError:       # an empty output: the forward raises, nothing to test
        with pytest.raises(ValueError):
            getattr(fc, f"conv_transpose{nd}d")(x, w, **kw)
        return
    go = rng.standard_normal(y.shape).astype(dtype)
    exp = ref_transpose_backward(nd, go, x, w, **kw)
    sc = ref_transpose_backward(nd, np.abs(go), np.abs(x), np.abs(w), **kw)
    f = getattr(fc, f"conv_transpose{nd}d_backward")
    if last:
        got = f(_last(go), _last(x), _hwio(w, nd), **kw, output_mask=mask,
                data_format=FMT[nd])
        got = (None if got[0] is None else np.moveaxis(got[0], -1, 1),
               None if got[1] is None else np.transpose(got[1], (nd + 1, nd) + tuple(range(nd))),
               got[2])
    else:
        got = f(go, x, w, **kw, output_mask=mask)
    for name, m, a, e, c in zip(("grad_input", "grad_weight", "grad_bias"), mask, got, exp, sc):
        if not m:
            assert a is None, name
            continue
        assert a.dtype == dtype
        assert_close(a, e, dtype, c, err_msg=name)


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("kw", [dict(stride=2, padding=1, output_padding=1),
                                dict(stride=2, padding=1, output_padding=2, dilation=3),
                                dict(stride=1, padding=0, groups=2),
                                dict(stride=3, padding=2, output_padding=1, groups=2,
                                     dilation=2)])
def test_torch_oracle(nd, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(nd)
    x = rng.standard_normal((2, 4) + (5, 4, 3)[:nd]).astype(np.float32)
    w = rng.standard_normal((4, 3) + (3, 2, 3)[:nd]).astype(np.float32)
    b = rng.standard_normal(3 * kw.get("groups", 1)).astype(np.float32)
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    ty = getattr(torch.nn.functional, f"conv_transpose{nd}d")(tx, tw, tb, **kw)
    go = rng.standard_normal(ty.shape).astype(np.float32)
    ty.backward(torch.from_numpy(go))
    gx, gw, gb = getattr(fc, f"conv_transpose{nd}d_backward")(go, x, w, **kw)
    for a, t in ((gx, tx), (gw, tw), (gb, tb)):
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-4, atol=1e-4)
    # channels-last data, weight HWIO (TensorFlow's conv_transpose filter)
    gxl, gwl, gbl = getattr(fc, f"conv_transpose{nd}d_backward")(
        _last(go), _last(x), _hwio(w, nd), **kw, data_format=FMT[nd])
    np.testing.assert_allclose(np.moveaxis(gxl, -1, 1), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gwl, _hwio(tw.grad.numpy(), nd), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gbl, tb.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_threads_bitwise(nd):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 8) + (9, 8, 5)[:nd]).astype(np.float32)
    w = rng.standard_normal((8, 6) + (3,) * nd).astype(np.float32)
    kw = dict(stride=2, padding=1, output_padding=1, groups=2)
    go = np.ones(getattr(fc, f"conv_transpose{nd}d")(x, w, **kw).shape, np.float32)
    f = getattr(fc, f"conv_transpose{nd}d_backward")
    ref1 = f(go, x, w, **kw, num_threads=1)
    for t in (2, 3):
        for a, b in zip(f(go, x, w, **kw, num_threads=t), ref1):
            assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("last", [False, True])
def test_output_mask_conv_backward(last):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 9, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    kw = dict(stride=2, padding=1, groups=2)
    if last:
        x, w = _last(x), _hwio(w, 2)
        kw["data_format"] = "NHWC"
    go = np.ones(fc.conv2d(x, w, **kw).shape, np.float32)
    full = fc.conv2d_backward(go, x, w, **kw)
    for mask in [(True, False, False), (False, True, False), (False, False, True),
                 (False, True, True), (False, False, False)]:
        got = fc.conv2d_backward(go, x, w, **kw, output_mask=mask)
        for m, a, b in zip(mask, got, full):
            if m:
                assert a.tobytes() == b.tobytes()
            else:
                assert a is None
        plan = fc.plan(fc.conv2d_backward, go, x, w, **kw, output_mask=mask)
        assert set(plan.algorithms) == {d for d, m in zip(
            ("grad_input", "grad_weight", "grad_bias"), mask) if m}


def test_output_mask_errors_and_empty():
    x = np.zeros((1, 2, 5, 5))
    w = np.zeros((3, 2, 3, 3))
    go = np.zeros((1, 3, 3, 3))
    for bad in [(True, True), (True, True, True, True), "TTT", True]:
        with pytest.raises(ValueError, match="output_mask"):
            fc.conv2d_backward(go, x, w, output_mask=bad)
    with pytest.raises(TypeError, match="output_mask"):
        fc.conv2d_backward(go, x, w, output_mask=(1.0, True, True))
    with pytest.raises(ValueError, match="output_mask"):
        fc.conv_transpose2d_backward(np.zeros((1, 2, 7, 7)), np.zeros((1, 3, 5, 5)),
                                     np.zeros((3, 2, 3, 3)), output_mask=(True,))
    gx, gw, gb = fc.conv2d_backward(np.zeros((0, 3, 3, 3)), np.zeros((0, 2, 5, 5)), w,
                                    output_mask=(False, True, True))
    assert gx is None and gw.shape == w.shape and not gw.any() and gb.shape == (3,)


def test_transpose_backward_errors():
    x = np.zeros((1, 3, 5, 5))
    w = np.zeros((3, 2, 3, 3))
    with pytest.raises(ValueError, match="`grad_output` must have shape"):
        fc.conv_transpose2d_backward(np.zeros((1, 2, 6, 7)), x, w)
    with pytest.raises(ValueError, match="input channels"):
        fc.conv_transpose2d_backward(np.zeros((1, 2, 7, 7)), np.zeros((1, 4, 5, 5)), w)
    with pytest.raises(ValueError, match="data_format"):
        fc.conv_transpose2d_backward(np.zeros((1, 2, 7, 7)), x, w, data_format="NWC")
    gx, gw, gb = fc.conv_transpose2d_backward(np.zeros((0, 2, 7, 7)), np.zeros((0, 3, 5, 5)),
                                              w)
    assert gx.shape == (0, 3, 5, 5) and gw.shape == w.shape and gb.shape == (2,)
