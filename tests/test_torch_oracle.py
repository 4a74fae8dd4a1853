"""fastconv vs torch.nn.functional on random cases (skipped when torch is not installed).

torch has no per-side padding: those cases are padded with F.pad first. torch computes in
float64 on the (possibly float32-rounded) inputs; results are compared with assert_close.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastconv
import reference as ref
import strategies as S
from conftest import assert_close

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.torch


def T(a, grad=False):
    t = torch.from_numpy(np.array(a, dtype=np.float64))
    return t.requires_grad_() if grad else t


def N(t):
    return t.detach().numpy()


def _abs(a):
    return None if a is None else np.abs(a)


def torch_conv(case, nd, x, w, b):
    """torch conv forward on explicitly padded input (flip done on the weight)."""
    conv = F.conv2d if nd == 2 else F.conv1d
    if case.flip:
        w = torch.flip(w, dims=tuple(range(2, 2 + nd)))
    flat = [p for pair in reversed(case.pads) for p in pair]  # F.pad wants last dim first
    return conv(F.pad(x, flat), w, b, case.s, 0, case.d, case.groups)


def check_conv(case, nd):
    conv = fastconv.conv2d if nd == 2 else fastconv.conv1d
    bwd = fastconv.conv2d_backward if nd == 2 else fastconv.conv1d_backward
    kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
              groups=case.groups, flip=case.flip)
    xt, wt = T(case.x, True), T(case.w, True)
    bt = None if case.b is None else T(case.b, True)
    expected = torch_conv(case, nd, xt, wt, bt)
    scale = N(torch_conv(case, nd, T(np.abs(case.x)), T(np.abs(case.w)),
                         None if case.b is None else T(np.abs(case.b))))
    out = conv(case.x, case.w, case.b, **kw)
    assert_close(out, N(expected), case.dtype, scale, err_msg="forward")
    if case.padding == "same" and all(s == 1 for s in case.s) and not case.flip:
        direct = (F.conv2d if nd == 2 else F.conv1d)(T(case.x), T(case.w), bt, 1, "same",
                                                      case.d, case.groups)
        assert_close(out, N(direct), case.dtype, scale, err_msg="padding='same'")
    G = case.rng.standard_normal(out.shape).astype(case.dtype)
    expected.backward(T(G))
    gi, gw, gb = bwd(G, case.x, case.w, **kw)
    s_gi, s_gw, s_gb = getattr(ref, f"conv{nd}d_backward")(np.abs(G), np.abs(case.x),
                                                            np.abs(case.w), **kw)
    assert_close(gi, N(xt.grad), case.dtype, s_gi, err_msg="grad_input")
    assert_close(gw, N(wt.grad), case.dtype, s_gw, err_msg="grad_weight")
    if bt is not None:
        assert_close(gb, N(bt.grad), case.dtype, s_gb, err_msg="grad_bias")


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@given(S.conv_cases(nd=2))
def test_conv2d_vs_torch(case):
    check_conv(case, 2)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@given(S.conv_cases(nd=1))
def test_conv1d_vs_torch(case):
    check_conv(case, 1)


@given(S.conv_cases(nd=2, allow_flip=False))
def test_conv2d_backward_vs_aten_convolution_backward(case):
    flat = [p for pair in reversed(case.pads) for p in pair]
    xp = F.pad(T(case.x), flat)
    w = T(case.w)
    out = F.conv2d(xp, w, None, case.s, 0, case.d, case.groups)
    G = case.rng.standard_normal(tuple(out.shape)).astype(case.dtype)
    gxp, gw, gb = torch.ops.aten.convolution_backward(
        T(G), xp, w, [w.shape[0]], list(case.s), [0, 0], list(case.d), False, [0, 0],
        case.groups, [True, True, True])
    (t, _), (l, _) = case.pads
    H, W = case.x.shape[2:]
    gi_t = N(gxp)[:, :, t:t + H, l:l + W]
    got = fastconv.conv2d_backward(G, case.x, case.w, case.stride, case.padding, case.dilation,
                                   case.groups)
    scales = ref.conv2d_backward(np.abs(G), np.abs(case.x), np.abs(case.w), case.s, case.pads,
                                 case.d, case.groups)
    for name, a, e, s in zip(["grad_input", "grad_weight", "grad_bias"], got,
                             [gi_t, N(gw), N(gb)], scales):
        assert_close(a, e, case.dtype, s, err_msg=name)


def check_conv_transpose(case, nd):
    convt = fastconv.conv_transpose2d if nd == 2 else fastconv.conv_transpose1d
    tconvt = F.conv_transpose2d if nd == 2 else F.conv_transpose1d
    sizes = case.x.shape[2:]
    k = case.w.shape[2:]
    s = ref.as_tuple(case.stride, nd)
    d = ref.as_tuple(case.dilation, nd)
    op = ref.as_tuple(case.output_padding, nd)
    pads = ref.resolve_padding(case.padding, sizes, k, s, d)
    bt = None if case.b is None else T(case.b)
    # full output without padding, extended by output_padding, then cropped
    full = tconvt(T(case.x), T(case.w), None, s, 0, 0, case.groups, d)
    full = F.pad(full, [p for o in reversed(op) for p in (0, o)])
    index = tuple(slice(p0, full.shape[2 + i] - p1) for i, (p0, p1) in enumerate(pads))
    expected = N(full[(Ellipsis,) + index])
    if bt is not None:
        expected = expected + case.b.astype(np.float64).reshape((-1,) + (1,) * nd)
    out = convt(case.x, case.w, case.b, stride=case.stride, padding=case.padding,
                output_padding=case.output_padding, groups=case.groups, dilation=case.dilation)
    scale = getattr(ref, f"conv_transpose{nd}d")(np.abs(case.x), np.abs(case.w), _abs(case.b),
                                                 s, pads, op, case.groups, d)
    assert_close(out, expected, case.dtype, scale, err_msg="conv_transpose (cropped)")
    if all(p0 == p1 for p0, p1 in pads):  # torch's own padding argument
        direct = tconvt(T(case.x), T(case.w), bt, s, tuple(p0 for p0, _ in pads), op,
                        case.groups, d)
        assert_close(out, N(direct), case.dtype, scale, err_msg="conv_transpose (torch padding)")


@given(S.conv_transpose_cases(nd=2))
def test_conv_transpose2d_vs_torch(case):
    check_conv_transpose(case, 2)


@given(S.conv_transpose_cases(nd=1))
def test_conv_transpose1d_vs_torch(case):
    check_conv_transpose(case, 1)


@given(S.im2col_cases())
def test_im2col_col2im_vs_unfold_fold(case):
    kw = dict(kernel_size=case.kernel_size, dilation=case.dilation, padding=case.padding,
              stride=case.stride)
    (t, b), (l, r) = case.pads
    H, W = case.x.shape[2:]
    cols = fastconv.im2col(case.x, **kw)
    expected = F.unfold(F.pad(T(case.x), (l, r, t, b)), case.k, case.d, 0, case.s)
    np.testing.assert_array_equal(cols, N(expected).astype(case.dtype))
    y = case.rng.standard_normal(cols.shape).astype(case.dtype)
    folded = F.fold(T(y), (H + t + b, W + l + r), case.k, case.d, 0, case.s)
    scale = F.fold(T(np.abs(y)), (H + t + b, W + l + r), case.k, case.d, 0, case.s)
    assert_close(fastconv.col2im(y, (H, W), **kw), N(folded)[:, :, t:t + H, l:l + W],
                 case.dtype, N(scale)[:, :, t:t + H, l:l + W])


@st.composite
def torch_pool_cases(draw, kind, nd):
    """Pooling cases torch accepts: symmetric padding <= k // 2, kernel fits."""
    case = draw(S.pool_cases(kind, nd=nd, max_k=4))
    pad = tuple(draw(st.integers(0, k // 2)) for k in case.k)
    sizes = tuple(max(n, d * (k - 1) + 1 - 2 * p)
                  for n, k, d, p in zip(case.x.shape[2:], case.k, case.d, pad))
    shape = case.x.shape[:2] + sizes
    if kind == "max":
        case.x = S.pool_values(draw, case.rng, shape, case.dtype)
    else:
        case.x = case.rng.standard_normal(shape).astype(case.dtype)
    case.padding = pad if nd == 2 else pad[0]
    case.pad = pad
    return case


def _fits(case):
    """False when the reference rejects the case (a dilated window with no input)."""
    rpool = ref.max_pool2d if case.x.ndim == 4 else ref.max_pool1d
    try:
        rpool(case.x, case.k, case.s, case.padding, case.d, case.ceil_mode)
        return True
    except ValueError:
        return False


def check_max_pool_vs_torch(case, nd):
    if not _fits(case):  # an empty dilated window: fastconv must raise, torch has no answer
        with pytest.raises(ValueError):
            (fastconv.max_pool2d if nd == 2 else fastconv.max_pool1d)(
                case.x, case.kernel_size, case.stride, case.padding, case.dilation,
                case.ceil_mode)
        return
    pool = fastconv.max_pool2d if nd == 2 else fastconv.max_pool1d
    bwd = fastconv.max_pool2d_backward if nd == 2 else fastconv.max_pool1d_backward
    tpool = F.max_pool2d if nd == 2 else F.max_pool1d
    xt = T(case.x, True)
    eo, ei = tpool(xt, case.k, case.s, case.pad, case.d, case.ceil_mode, return_indices=True)
    out, idx = pool(case.x, case.kernel_size, case.stride, case.padding, case.dilation,
                    case.ceil_mode, return_indices=True)
    np.testing.assert_array_equal(out, N(eo).astype(case.dtype))
    np.testing.assert_array_equal(idx, N(ei))  # same semantics, ties and NaN included
    G = case.rng.standard_normal(out.shape).astype(case.dtype)
    eo.backward(T(G))
    gi = bwd(G, idx, case.x.shape)
    rbwd = ref.max_pool2d_backward if nd == 2 else ref.max_pool1d_backward
    assert_close(gi, N(xt.grad), case.dtype, rbwd(np.abs(G), idx, case.x.shape))


@given(torch_pool_cases("max", 2))
def test_max_pool2d_vs_torch(case):
    check_max_pool_vs_torch(case, 2)


@given(torch_pool_cases("max", 1))
def test_max_pool1d_vs_torch(case):
    check_max_pool_vs_torch(case, 1)


def check_avg_pool_vs_torch(case, nd):
    pool = fastconv.avg_pool2d if nd == 2 else fastconv.avg_pool1d
    bwd = fastconv.avg_pool2d_backward if nd == 2 else fastconv.avg_pool1d_backward
    tpool = F.avg_pool2d if nd == 2 else F.avg_pool1d
    kw = dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
              ceil_mode=case.ceil_mode, count_include_pad=case.count_include_pad)
    xt = T(case.x, True)
    eo = tpool(xt, case.k, case.s, case.pad, case.ceil_mode, case.count_include_pad)
    scale = N(tpool(T(np.abs(case.x)), case.k, case.s, case.pad, case.ceil_mode,
                    case.count_include_pad))
    out = pool(case.x, **kw)
    assert_close(out, N(eo), case.dtype, scale)
    G = case.rng.standard_normal(out.shape).astype(case.dtype)
    eo.backward(T(G))
    gi = bwd(G, case.x.shape, **kw)
    rbwd = ref.avg_pool2d_backward if nd == 2 else ref.avg_pool1d_backward
    assert_close(gi, N(xt.grad), case.dtype, rbwd(np.abs(G), case.x.shape, **kw))


@given(torch_pool_cases("avg", 2))
def test_avg_pool2d_vs_torch(case):
    check_avg_pool_vs_torch(case, 2)


@given(torch_pool_cases("avg", 1))
def test_avg_pool1d_vs_torch(case):
    check_avg_pool_vs_torch(case, 1)


# --------------------------------------------------------------------------------------------
# the references themselves vs torch (guards the oracle used by the other test files)
# --------------------------------------------------------------------------------------------


@given(S.conv_cases(nd=2))
def test_reference_conv2d_vs_torch(case):
    xt, wt = T(case.x, True), T(case.w, True)
    bt = None if case.b is None else T(case.b, True)
    out = torch_conv(case, 2, xt, wt, bt)
    kw = dict(stride=case.s, padding=case.pads, dilation=case.d, groups=case.groups,
              flip=case.flip)
    np.testing.assert_allclose(ref.conv2d(case.x, case.w, case.b, **kw), N(out), rtol=1e-10,
                               atol=1e-10)
    G = case.rng.standard_normal(tuple(out.shape))
    out.backward(T(G))
    gi, gw, gb = ref.conv2d_backward(G, case.x, case.w, **kw)
    np.testing.assert_allclose(gi, N(xt.grad), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gw, N(wt.grad), rtol=1e-10, atol=1e-10)
    if bt is not None:
        np.testing.assert_allclose(gb, N(bt.grad), rtol=1e-10, atol=1e-10)


@given(torch_pool_cases("max", 2))
def test_reference_max_pool2d_vs_torch(case):
    if not _fits(case):
        return
    out, idx = ref.max_pool2d(case.x, case.k, case.s, case.pad, case.d, case.ceil_mode)
    eo, ei = F.max_pool2d(T(case.x), case.k, case.s, case.pad, case.d, case.ceil_mode,
                          return_indices=True)
    np.testing.assert_array_equal(out, N(eo))
    np.testing.assert_array_equal(idx, N(ei))


@given(torch_pool_cases("avg", 2))
def test_reference_avg_pool2d_vs_torch(case):
    kw = (case.k, case.s, case.pad, case.ceil_mode, case.count_include_pad)
    np.testing.assert_allclose(ref.avg_pool2d(case.x, *kw), N(F.avg_pool2d(T(case.x), *kw)),
                               rtol=1e-12, atol=1e-12)
