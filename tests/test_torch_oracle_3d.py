"""The 3-D ops and ``divisor_override`` vs torch.nn.functional on random cases (skipped when
torch is not installed), as tests/test_torch_oracle.py does for 1-D and 2-D.

torch has no per-side padding: those cases are padded with F.pad first. torch computes in
float64 on the (possibly float32-rounded) inputs; results are compared with assert_close,
max-pool values and indices exactly.

The tests of fastconv itself are skipped while fastconv has no conv3d; the checks of the
references themselves against torch (the oracle the other 3-D tests rely on) run anyway.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
import reference as ref
import strategies as S
from conftest import assert_close

torch = pytest.importorskip("torch")
F = torch.nn.functional
from test_torch_oracle import N, T, _abs  # noqa: E402 -- after the skip

pytestmark = pytest.mark.torch
needs_3d = pytest.mark.skipif(not hasattr(fastconv, "conv3d"),
                              reason="fastconv has no 3-D ops yet (fastconv.conv3d is missing)")
fc = fastconv


def examples(n):
    """n examples under the ci profile (50); longer profiles scale it up."""
    return settings(max_examples=max(1, n * settings.default.max_examples // 50))


def _flat_pads(pads):
    return [p for pair in reversed(pads) for p in pair]  # F.pad wants the last dim first


def torch_conv3d(case, x, w, b):
    """torch conv3d on explicitly padded input (flip done on the weight)."""
    if case.flip:
        w = torch.flip(w, dims=(2, 3, 4))
    return F.conv3d(F.pad(x, _flat_pads(case.pads)), w, b, case.s, 0, case.d, case.groups)


def torch_conv_transpose3d(case):
    """The full transposed output, extended by output_padding, cropped by the padding."""
    full = F.conv_transpose3d(T(case.x), T(case.w), None, case.s, 0, 0, case.groups, case.d)
    full = F.pad(full, [p for o in reversed(case.op) for p in (0, o)])
    index = tuple(slice(p0, full.shape[2 + i] - p1) for i, (p0, p1) in enumerate(case.pads))
    out = N(full[(Ellipsis,) + index])
    if case.b is not None:
        out = out + case.b.astype(np.float64).reshape(-1, 1, 1, 1)
    return out


@st.composite
def torch_pool_cases(draw, kind, nd=3):
    """Pooling cases torch accepts: symmetric padding <= k // 2, the kernel fits (avg_pool3d:
    the unpadded input at least the kernel)."""
    if nd == 3:
        case = draw(S.pool3d_cases(kind))
    else:
        case = draw(S.pool_cases(kind, nd=nd, max_k=4, divisor_override=kind == "avg"))
    pad = tuple(draw(st.integers(0, k // 2)) for k in case.k)
    sizes = tuple(max(n, d * (k - 1) + 1 - 2 * p)
                  for n, k, d, p in zip(case.x.shape[2:], case.k, case.d, pad))
    if kind == "avg" and nd == 3:
        sizes = tuple(max(n, k) for n, k in zip(sizes, case.k))
    shape = case.x.shape[:2] + sizes
    if kind == "max":
        case.x = S.pool_values(draw, case.rng, shape, case.dtype)
    else:
        case.x = case.rng.standard_normal(shape).astype(case.dtype)
    case.padding = pad[0] if nd == 1 else pad
    case.pad = pad
    return case


def _fits(case):
    """False when the reference rejects the case (a dilated window with no input)."""
    try:
        ref.max_pool3d(case.x, case.k, case.s, case.padding, case.d, case.ceil_mode)
        return True
    except ValueError:
        return False


def torch_avg_pool(case, x, nd):
    kw = dict(ceil_mode=case.ceil_mode, count_include_pad=case.count_include_pad,
              divisor_override=case.divisor_override)
    if nd == 3:
        return F.avg_pool3d(x, case.k, case.s, case.pad, **kw)
    if nd == 2:
        return F.avg_pool2d(x, case.k, case.s, case.pad, **kw)
    # torch's avg_pool1d has no divisor_override: avg_pool2d over (N, C, 1, L)
    return F.avg_pool2d(x[:, :, None], (1,) + case.k, (1,) + case.s, (0,) + case.pad,
                        **kw)[:, :, 0]


def _avg_kw(case):
    return dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
                ceil_mode=case.ceil_mode, count_include_pad=case.count_include_pad,
                divisor_override=case.divisor_override)


# --------------------------------------------------------------------------------------------
# fastconv vs torch
# --------------------------------------------------------------------------------------------


@needs_3d
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@examples(40)
@given(S.conv3d_cases())
def test_conv3d_vs_torch(case):
    kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
              groups=case.groups, flip=case.flip)
    xt, wt = T(case.x, True), T(case.w, True)
    bt = None if case.b is None else T(case.b, True)
    expected = torch_conv3d(case, xt, wt, bt)
    scale = ref.conv3d(np.abs(case.x), np.abs(case.w), _abs(case.b), **kw)
    out = fc.conv3d(case.x, case.w, case.b, **kw)
    assert_close(out, N(expected), case.dtype, scale, err_msg="forward")
    if case.padding == "same" and all(s == 1 for s in case.s) and not case.flip:
        direct = F.conv3d(T(case.x), T(case.w), bt, 1, "same", case.d, case.groups)
        assert_close(out, N(direct), case.dtype, scale, err_msg="padding='same'")
    G = case.rng.standard_normal(out.shape).astype(case.dtype)
    expected.backward(T(G))
    gi, gw, gb = fc.conv3d_backward(G, case.x, case.w, **kw)
    s_gi, s_gw, s_gb = ref.conv3d_backward(np.abs(G), np.abs(case.x), np.abs(case.w), **kw)
    assert_close(gi, N(xt.grad), case.dtype, s_gi, err_msg="grad_input")
    assert_close(gw, N(wt.grad), case.dtype, s_gw, err_msg="grad_weight")
    if bt is not None:
        assert_close(gb, N(bt.grad), case.dtype, s_gb, err_msg="grad_bias")


@needs_3d
@examples(40)
@given(S.conv_transpose3d_cases())
def test_conv_transpose3d_vs_torch(case):
    kw = dict(stride=case.stride, padding=case.padding, output_padding=case.output_padding,
              groups=case.groups, dilation=case.dilation)
    out = fc.conv_transpose3d(case.x, case.w, case.b, **kw)
    scale = ref.conv_transpose3d(np.abs(case.x), np.abs(case.w), _abs(case.b), **kw)
    assert_close(out, torch_conv_transpose3d(case), case.dtype, scale,
                 err_msg="conv_transpose3d (cropped)")
    if all(p0 == p1 for p0, p1 in case.pads):  # torch's own padding argument
        direct = F.conv_transpose3d(T(case.x), T(case.w), None if case.b is None else T(case.b),
                                    case.s, tuple(p0 for p0, _ in case.pads), case.op,
                                    case.groups, case.d)
        assert_close(out, N(direct), case.dtype, scale, err_msg="conv_transpose3d (torch pad)")


@needs_3d
@examples(40)
@given(torch_pool_cases("max"))
def test_max_pool3d_vs_torch(case):
    args = (case.kernel_size, case.stride, case.padding, case.dilation, case.ceil_mode)
    if not _fits(case):  # an empty dilated window: fastconv must raise, torch has no answer
        with pytest.raises(ValueError):
            fc.max_pool3d(case.x, *args)
        return
    xt = T(case.x, True)
    eo, ei = F.max_pool3d(xt, case.k, case.s, case.pad, case.d, case.ceil_mode,
                          return_indices=True)
    out, idx = fc.max_pool3d(case.x, *args, return_indices=True)
    np.testing.assert_array_equal(out, N(eo).astype(case.dtype))
    np.testing.assert_array_equal(idx, N(ei))  # same semantics, ties and NaN included
    G = case.rng.standard_normal(out.shape).astype(case.dtype)
    eo.backward(T(G))
    gi = fc.max_pool3d_backward(G, idx, case.x.shape)
    assert_close(gi, N(xt.grad), case.dtype, ref.max_pool3d_backward(np.abs(G), idx, case.x.shape))


@needs_3d
@pytest.mark.parametrize("nd", [1, 2, 3])
@examples(30)
@given(data=st.data())
def test_avg_pool_with_divisor_override_vs_torch(nd, data):
    case = data.draw(torch_pool_cases("avg", nd))
    pool = {1: fc.avg_pool1d, 2: fc.avg_pool2d, 3: fc.avg_pool3d}[nd]
    bwd = {1: fc.avg_pool1d_backward, 2: fc.avg_pool2d_backward, 3: fc.avg_pool3d_backward}[nd]
    rbwd = {1: ref.avg_pool1d_backward, 2: ref.avg_pool2d_backward,
            3: ref.avg_pool3d_backward}[nd]
    xt = T(case.x, True)
    eo = torch_avg_pool(case, xt, nd)
    scale = N(torch_avg_pool(case, T(np.abs(case.x)), nd))
    out = pool(case.x, **_avg_kw(case))
    assert_close(out, N(eo), case.dtype, scale,
                 err_msg=f"avg_pool{nd}d divisor_override={case.divisor_override}")
    G = case.rng.standard_normal(out.shape).astype(case.dtype)
    eo.backward(T(G))
    gi = bwd(G, case.x.shape, **_avg_kw(case))
    assert_close(gi, N(xt.grad), case.dtype, rbwd(np.abs(G), case.x.shape, **_avg_kw(case)))


# --------------------------------------------------------------------------------------------
# the references themselves vs torch (guards the oracle used by test_3d.py; runs without the
# 3-D ops)
# --------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@examples(40)
@given(S.conv3d_cases())
def test_reference_conv3d_vs_torch(case):
    xt, wt = T(case.x, True), T(case.w, True)
    bt = None if case.b is None else T(case.b, True)
    out = torch_conv3d(case, xt, wt, bt)
    # the padding argument as drawn (int, triple, per-side, 'same', 'valid')
    kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
              groups=case.groups, flip=case.flip)
    np.testing.assert_allclose(ref.conv3d(case.x, case.w, case.b, **kw), N(out), rtol=1e-10,
                               atol=1e-10)
    if case.padding == "same" and all(s == 1 for s in case.s) and not case.flip:
        direct = F.conv3d(T(case.x), T(case.w), None if bt is None else T(case.b), 1, "same",
                          case.d, case.groups)
        np.testing.assert_allclose(ref.conv3d(case.x, case.w, case.b, **kw), N(direct),
                                   rtol=1e-10, atol=1e-10)
    G = case.rng.standard_normal(tuple(out.shape))
    out.backward(T(G))
    gi, gw, gb = ref.conv3d_backward(G, case.x, case.w, **kw)
    np.testing.assert_allclose(gi, N(xt.grad), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gw, N(wt.grad), rtol=1e-10, atol=1e-10)
    if bt is not None:
        np.testing.assert_allclose(gb, N(bt.grad), rtol=1e-10, atol=1e-10)


@examples(40)
@given(S.conv_transpose3d_cases())
def test_reference_conv_transpose3d_vs_torch(case):
    got = ref.conv_transpose3d(case.x, case.w, case.b, case.stride, case.padding,
                               case.output_padding, case.groups, case.dilation)
    np.testing.assert_allclose(got, torch_conv_transpose3d(case), rtol=1e-10, atol=1e-10)


@examples(40)
@given(torch_pool_cases("max"))
def test_reference_max_pool3d_vs_torch(case):
    if not _fits(case):
        return
    out, idx = ref.max_pool3d(case.x, case.kernel_size, case.stride, case.padding,
                              case.dilation, case.ceil_mode)
    xt = T(case.x, True)
    eo, ei = F.max_pool3d(xt, case.k, case.s, case.pad, case.d, case.ceil_mode,
                          return_indices=True)
    np.testing.assert_array_equal(out, N(eo))
    np.testing.assert_array_equal(idx, N(ei))
    G = case.rng.standard_normal(out.shape)
    eo.backward(T(G))
    np.testing.assert_allclose(ref.max_pool3d_backward(G, idx, case.x.shape), N(xt.grad),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("nd", [1, 2, 3])
@examples(30)
@given(data=st.data())
def test_reference_avg_pool_with_divisor_override_vs_torch(nd, data):
    case = data.draw(torch_pool_cases("avg", nd))
    rpool = {1: ref.avg_pool1d, 2: ref.avg_pool2d, 3: ref.avg_pool3d}[nd]
    rbwd = {1: ref.avg_pool1d_backward, 2: ref.avg_pool2d_backward,
            3: ref.avg_pool3d_backward}[nd]
    xt = T(case.x, True)
    eo = torch_avg_pool(case, xt, nd)
    np.testing.assert_allclose(rpool(case.x, **_avg_kw(case)), N(eo), rtol=1e-12, atol=1e-12)
    G = case.rng.standard_normal(tuple(eo.shape))
    eo.backward(T(G))
    np.testing.assert_allclose(rbwd(G, case.x.shape, **_avg_kw(case)), N(xt.grad),
                               rtol=1e-12, atol=1e-12)
