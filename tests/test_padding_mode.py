"""padding_mode='zeros' | 'reflect' | 'replicate' | 'circular' on conv1d/2d/3d and their
backward functions (issue 13 item 4), torch's nn.ConvNd semantics.

The reference pads with NumPy (``np.pad`` modes 'reflect', 'edge', 'wrap'), convolves the
padded input without padding (tests/reference.py), and folds the padded input's gradient
back onto the input through the same index map (np.add.at).
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv as fc
import reference as ref
from conftest import assert_close

NP_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap", "zeros": "constant"}
MODES = ["reflect", "replicate", "circular"]


def _index_map(n, before, after, mode):
    i = np.arange(-before, n + after)
    if mode == "reflect":
        i = np.where(i < 0, -i, np.where(i >= n, 2 * (n - 1) - i, i))
    elif mode == "replicate":
        i = np.clip(i, 0, n - 1)
    else:
        i = np.mod(i, n)
    return i


def ref_conv_mode(x, w, b, stride, pads, dilation, groups, mode):
    nd = x.ndim - 2
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0)) + tuple(pads), mode=NP_MODE[mode])
    return ref.convnd(xp, w, b, stride=stride, padding=0, dilation=dilation, groups=groups)


def ref_backward_mode(go, x, w, stride, pads, dilation, groups, mode):
    nd = x.ndim - 2
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0)) + tuple(pads), mode=NP_MODE[mode])
    gxp, gw, gb = ref.convnd_backward(go, xp, w, stride=stride, padding=0, dilation=dilation,
                                      groups=groups)
    maps = [_index_map(x.shape[2 + j], pads[j][0], pads[j][1], mode) for j in range(nd)]
    gx = np.zeros(x.shape)
    grids = np.meshgrid(*maps, indexing="ij")
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            np.add.at(gx[n, c], tuple(grids), gxp[n, c])
    return gx, gw, gb


@st.composite
def cases(draw):
    nd = draw(st.integers(1, 3))
    mode = draw(st.sampled_from(MODES))
    sp = tuple(draw(st.integers(2, 8 if nd < 3 else 5)) for _ in range(nd))
    k = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    d = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    limit = [n - 1 if mode == "reflect" else n for n in sp]
    pads = tuple((draw(st.integers(0, min(3, limit[j]))), draw(st.integers(0, min(3, limit[j]))))
                 for j in range(nd))
    # the padded input must hold the dilated kernel
    for j in range(nd):
        if sp[j] + sum(pads[j]) < d[j] * (k[j] - 1) + 1:
            k = k[:j] + (1,) + k[j + 1:]
    groups = draw(st.sampled_from([1, 2]))
    C, O = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    N = draw(st.integers(1, 2))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return nd, mode, (N, C) + sp, (O, C // groups) + k, s, pads, d, groups, dtype, \
        draw(st.integers(0, 2**31))


@given(cases())
@settings(max_examples=50, deadline=None)
def test_padding_modes_match_reference(case):
    nd, mode, xs, ws, s, pads, d, groups, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    conv = getattr(fc, f"conv{nd}d")
    bwd = getattr(fc, f"conv{nd}d_backward")
    kw = dict(stride=s, padding=pads, dilation=d, groups=groups, padding_mode=mode)
    y = conv(x, w, b, **kw)
    want = ref_conv_mode(x, w, b, s, pads, d, groups, mode)
    scale = ref_conv_mode(np.abs(x), np.abs(w), np.abs(b), s, pads, d, groups, mode)
    assert y.dtype == dtype
    assert_close(y, want, dtype, scale, err_msg=f"forward {mode}")
    go = rng.standard_normal(y.shape).astype(dtype)
    got = bwd(go, x, w, **kw)
    exp = ref_backward_mode(go, x, w, s, pads, d, groups, mode)
    sc = ref_backward_mode(np.abs(go), np.abs(x), np.abs(w), s, pads, d, groups, mode)
    for name, a, e, c in zip(("grad_input", "grad_weight", "grad_bias"), got, exp, sc):
        assert a.dtype == dtype
        assert_close(a, e, dtype, c, err_msg=f"{name} {mode}")
    for t in (2, 3):
        assert conv(x, w, b, **kw, num_threads=t).tobytes() == \
            conv(x, w, b, **kw, num_threads=1).tobytes()
        for a1, a2 in zip(bwd(go, x, w, **kw, num_threads=t), bwd(go, x, w, **kw, num_threads=1)):
            assert a1.tobytes() == a2.tobytes()


@pytest.mark.parametrize("mode", MODES)
def test_finite_differences(mode):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 5, 4))
    w = rng.standard_normal((2, 2, 3, 3))
    go = rng.standard_normal(fc.conv2d(x, w, padding=2, padding_mode=mode).shape)
    gx, gw, _ = fc.conv2d_backward(go, x, w, padding=2, padding_mode=mode)
    eps = 1e-6
    for idx in [(0, 0, 0, 0), (0, 1, 4, 3), (0, 0, 2, 1), (0, 1, 0, 3)]:
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num = np.vdot(go, fc.conv2d(xp, w, padding=2, padding_mode=mode)
                      - fc.conv2d(xm, w, padding=2, padding_mode=mode)) / (2 * eps)
        assert abs(num - gx[idx]) < 1e-6 * max(1, abs(num)), (mode, idx, num, gx[idx])
    wp = w.copy()
    wp[1, 0, 2, 1] += eps
    num = np.vdot(go, fc.conv2d(x, wp, padding=2, padding_mode=mode)
                  - fc.conv2d(x, w, padding=2, padding_mode=mode)) / eps
    assert abs(num - gw[1, 0, 2, 1]) < 1e-4 * max(1, abs(num))


@pytest.mark.parametrize("mode", MODES)
def test_torch_oracle(mode):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    for nd, sp, k, pad in [(1, (11,), (3,), 2), (2, (9, 7), (3, 2), 1), (3, (5, 6, 4), (3, 3, 2), 1)]:
        x = rng.standard_normal((2, 4) + sp).astype(np.float32)
        m = getattr(torch.nn, f"Conv{nd}d")(4, 6, k, stride=2, padding=pad, padding_mode=mode,
                                           groups=2)
        w = m.weight.detach().numpy()
        b = m.bias.detach().numpy()
        tx = torch.from_numpy(x).requires_grad_()
        ty = m(tx)
        go = rng.standard_normal(ty.shape).astype(np.float32)
        ty.backward(torch.from_numpy(go))
        kw = dict(stride=2, padding=pad, groups=2, padding_mode=mode)
        y = getattr(fc, f"conv{nd}d")(x, w, b, **kw)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-4, atol=1e-5)
        gx, gw, gb = getattr(fc, f"conv{nd}d_backward")(go, x, w, **kw)
        np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(gw, m.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(gb, m.bias.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_zeros_and_no_padding_keep_the_fast_routes():
    x = np.zeros((2, 8, 16, 16), np.float32)
    w = np.zeros((8, 8, 3, 3), np.float32)
    base = fc.plan(fc.conv2d, x, w, padding=1).algorithms
    assert fc.plan(fc.conv2d, x, w, padding=1, padding_mode="zeros").algorithms == base
    assert fc.plan(fc.conv2d, x, w, padding=0, padding_mode="reflect").algorithms == \
        fc.plan(fc.conv2d, x, w).algorithms
    plan = fc.plan(fc.conv2d_backward, np.zeros((2, 8, 16, 16), np.float32), x, w, padding=1,
                   padding_mode="reflect")
    assert plan.algorithms == {"grad_input": "conv.grad_input.col2im",
                               "grad_weight": plan.algorithms["grad_weight"],
                               "grad_bias": "conv.grad_bias.sum"}
    assert plan.algorithms["grad_weight"] in ("conv.grad_weight.rows", "conv.grad_weight.chunked")
    assert fc.plan(fc.conv2d, x, w, padding=1, padding_mode="circular").algorithms == {
        "forward": "conv.forward.im2col"}


def test_padding_mode_errors():
    x = np.zeros((1, 1, 4, 4))
    w = np.zeros((1, 1, 3, 3))
    with pytest.raises(ValueError, match="`padding_mode` must be one of"):
        fc.conv2d(x, w, padding=1, padding_mode="mirror")
    with pytest.raises(TypeError, match="`padding_mode` must be a str"):
        fc.conv2d(x, w, padding=1, padding_mode=None)
    with pytest.raises(ValueError, match="reflect.*smaller than the input"):
        fc.conv2d(x, w, padding=4, padding_mode="reflect")
    with pytest.raises(ValueError, match="circular.*at most the input size"):
        fc.conv2d(x, w, padding=5, padding_mode="circular")
    assert fc.conv2d(x, w, padding=4, padding_mode="circular").shape == (1, 1, 10, 10)
    assert fc.conv2d(x, w, padding=9, padding_mode="replicate").shape == (1, 1, 20, 20)
    with pytest.raises(ValueError, match="reflect"):
        fc.conv2d_backward(np.zeros((1, 1, 10, 10)), x, w, padding=4, padding_mode="reflect")
