"""The regions algorithms (dilated and heavily padded convolutions).

conv.forward.regions and conv.grad_weight.regions are forced on random problems of every
rank -- dilation 1 to 5, padding up to and beyond the dilated kernel's extent (outputs no
tap reaches are the bias), strides, groups -- and compared with the NumPy reference;
grad_input runs as a forward convolution (as_forward), so the forced forward algorithm
also computes it.  Results are bitwise identical for 1, 2 and 3 threads; the forward
pass gives the dense algorithms' bits where a region has every tap or one tap per
axis; the plan chooses regions for DeepLabV3's ASPP layers and keeps the dense routes
for mostly-inside layers; torch is a second oracle.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv as fc
import reference as ref
from conftest import assert_close, check_conv_against_reference, conv_reference

FORCE = {"forward": "regions", "grad_weight": "regions"}
DENSE = {"forward": "im2col", "grad_input": "col2im", "grad_weight": "rows"}


def _ops(nd):
    return getattr(fc, f"conv{nd}d"), getattr(fc, f"conv{nd}d_backward")


@st.composite
def dilated_problems(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 2))
    Cg = draw(st.integers(1, 3))
    Og = draw(st.integers(1, 4))
    N = draw(st.integers(1, 3))
    k = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    d = tuple(draw(st.integers(1, 5)) for _ in range(nd))
    # padding up to two beyond the dilated kernel's extent on each side
    pads = tuple((draw(st.integers(0, (kk - 1) * dd + 2)), draw(st.integers(0, (kk - 1) * dd + 2)))
                 for kk, dd in zip(k, d))
    size = tuple(max(1, (kk - 1) * dd + 1 - pb - pa) + draw(st.integers(0, 8 if nd < 3 else 3))
                 for kk, dd, (pb, pa) in zip(k, d, pads))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return nd, N, groups, Cg, Og, k, s, d, pads, size, dtype, bias, seed


def _arrays(N, groups, Cg, Og, k, size, dtype, bias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, groups * Cg) + size).astype(dtype)
    w = rng.standard_normal((groups * Og, Cg) + k).astype(dtype)
    b = rng.standard_normal(groups * Og).astype(dtype) if bias else None
    return x, w, b


@settings(max_examples=200, deadline=None)
@given(dilated_problems())
def test_forced_regions_match_reference(problem):
    nd, N, groups, Cg, Og, k, s, d, pads, size, dtype, bias, seed = problem
    x, w, b = _arrays(N, groups, Cg, Og, k, size, dtype, bias, seed)
    kw = dict(stride=s, padding=pads, dilation=d, groups=groups)
    conv, bwd = _ops(nd)
    reference = conv_reference(x, w, b, kw, seed)
    go = reference[2]
    # (forward_grad_input_channels=1: grad_input as a forward convolution where it can)
    with fc.tuning(force=FORCE, forward_grad_input_channels=1):
        assert fc.plan(conv, x, w, b, **kw).algorithms == {"forward": "conv.forward.regions"}
        plan = fc.plan(bwd, go, x, w, **kw)
        assert plan.algorithms["grad_weight"] == "conv.grad_weight.regions"
        if plan.algorithms["grad_input"] == "conv.grad_input.as_forward":
            assert plan.describe()[0]["runs"] == "conv.forward.regions"
        check_conv_against_reference(conv, bwd, x, w, b, kw, reference)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,O,k,d,pad,stride", [
    ((2, 24, 28, 28), 40, 3, 12, 12, 1),    # ASPP-like: 9 regions
    ((2, 16, 28, 28), 32, 3, 24, 24, 1),
    ((3, 8, 14, 15), 12, 3, 2, 2, 1),
    ((2, 20, 17, 19), 24, 3, 4, 6, 2),
    ((1, 70, 9, 9), 300, 3, 3, 3, 1),       # several 256-row channel blocks
])
def test_regions_against_dense_routes(shape, O, k, d, pad, stride, dtype):
    """Larger problems (many tasks, several channel blocks): the dense routes' sums
    within rounding, thread-count independent."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((O, shape[1], k, k)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    kw = dict(stride=stride, padding=pad, dilation=d)
    go = rng.standard_normal(fc.conv2d(x, w, **kw).shape).astype(dtype)
    with fc.tuning(force=DENSE):
        dense = fc.conv2d(x, w, b, **kw), fc.conv2d_backward(go, x, w, **kw)
    scale = ref.convnd(np.abs(x), np.abs(w), np.abs(b), **kw)
    with fc.tuning(force=FORCE):
        got = fc.conv2d(x, w, b, **kw)
        grads = fc.conv2d_backward(go, x, w, **kw)
        assert_close(got, dense[0], dtype, scale=scale)
        for a, e in zip(grads, dense[1]):
            assert_close(a, e, dtype, scale=np.abs(e).max() + 1)
        for n in (1, 2, 3):
            assert np.array_equal(fc.conv2d(x, w, b, num_threads=n, **kw), got)
            for a, e in zip(fc.conv2d_backward(go, x, w, num_threads=n, **kw), grads):
                assert np.array_equal(a, e)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_bits_equal_the_dense_path_where_the_tap_order_agrees(dtype):
    """A region with every tap sums over (c, tap) as the dense path; one with a single
    tap has the same terms in either order: the same bits as im2col there."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 32, 28, 28)).astype(dtype)
    w = rng.standard_normal((48, 32, 3, 3)).astype(dtype)
    b = rng.standard_normal(48).astype(dtype)
    for d, inner in ((36, slice(0, 28)), (12, slice(12, 16)), (1, slice(1, 27))):
        with fc.tuning(force={"forward": "im2col"}):
            dense = fc.conv2d(x, w, b, padding=d, dilation=d)
        with fc.tuning(force={"forward": "regions"}):
            got = fc.conv2d(x, w, b, padding=d, dilation=d)
        assert np.array_equal(got[:, :, inner, inner], dense[:, :, inner, inner]), d
        assert_close(got, dense, dtype, scale=np.abs(dense).max() + 1)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_regions_transposed_convolution(nd):
    """conv_transpose is grad_input: as_forward runs the forced forward regions."""
    rng = np.random.default_rng(nd)
    x = rng.standard_normal((2, 4) + (6, 7, 9)[3 - nd:])
    w = rng.standard_normal((4, 3) + (3,) * nd)
    kw = dict(padding=5, dilation=4)
    f = getattr(fc, f"conv_transpose{nd}d")
    with fc.tuning(force={"forward": "regions"}, forward_grad_input_channels=1):
        plan = fc.plan(f, x, w, **kw)
        assert plan.describe()[0].get("runs") == "conv.forward.regions"
        assert_close(f(x, w, **kw), ref.conv_transposend(x, w, **kw), np.float64)


# DeepLabV3 (ResNet-50, output stride 8, batch 4, 28x28 planes)
ASPP = [(2048, 256, 12), (2048, 256, 24), (2048, 256, 36), (256, 256, 12)]


@pytest.mark.parametrize("C,O,d", ASPP)
def test_plan_chooses_regions_for_deeplab_aspp(C, O, d):
    x = np.zeros((4, C, 28, 28), np.float32)
    w = np.zeros((O, C, 3, 3), np.float32)
    go = np.zeros((4, O, 28, 28), np.float32)
    kw = dict(padding=d, dilation=d)
    assert fc.plan(fc.conv2d, x, w, **kw).algorithms["forward"] == "conv.forward.regions"
    desc = fc.plan(fc.conv2d_backward, go, x, w, **kw).describe()
    assert desc[0]["algorithm"] == "conv.grad_input.as_forward"
    assert desc[0]["runs"] == "conv.forward.regions"
    assert desc[1]["algorithm"] == "conv.grad_weight.regions"
    assert desc[0]["tasks"] >= 8 and desc[1]["tasks"] >= 8


@pytest.mark.parametrize("C,d", [(256, 2), (512, 4)])
def test_mostly_inside_layers_keep_the_dense_routes(C, d):
    """DeepLab's layer3 (dilation 2) and layer4 (dilation 4): under regions_min_zero of
    the dense work reads padding."""
    x = np.zeros((4, C, 28, 28), np.float32)
    w = np.zeros((C, C, 3, 3), np.float32)
    assert fc.plan(fc.conv2d, x, w, padding=d, dilation=d).algorithms["forward"] != \
        "conv.forward.regions"
    with fc.tuning(regions_min_zero=0.0):
        assert fc.plan(fc.conv2d, x, w, padding=d, dilation=d).algorithms["forward"] == \
            "conv.forward.regions"


def test_regions_refuse_huge_kernels_and_region_counts():
    x = np.zeros((1, 2, 100))
    with fc.tuning(force={"forward": "regions"}):
        with pytest.raises(ValueError, match="does not support"):
            fc.plan(fc.conv1d, x, np.zeros((2, 2, 65)), padding=64)
    with fc.tuning(force={"forward": "regions"}, regions_max=2):
        with pytest.raises(ValueError, match="does not support"):
            fc.plan(fc.conv1d, x, np.zeros((2, 2, 3)), padding=1)


@pytest.mark.torch
@pytest.mark.parametrize("nd,shape,O,k,d,pad", [
    (2, (2, 32, 14, 14), 16, 3, 6, 6),
    (2, (2, 32, 14, 14), 16, 3, 12, 12),
    (1, (2, 8, 300), 8, 2, 64, 64),
    (3, (1, 4, 6, 7, 8), 6, 3, 3, 3),
])
def test_regions_against_torch(nd, shape, O, k, d, pad):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((O, shape[1]) + (k,) * nd).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32)
    conv, bwd = _ops(nd)
    kw = dict(padding=pad, dilation=d)
    with fc.tuning(force=FORCE, forward_grad_input_channels=1):
        got = conv(x, w, b, **kw)
        go = rng.standard_normal(got.shape).astype(np.float32)
        gx, gw, gb = bwd(go, x, w, **kw)
    tconv = getattr(torch.nn.functional, f"conv{nd}d")
    tx = torch.from_numpy(x.astype(np.float64)).requires_grad_()
    tw = torch.from_numpy(w.astype(np.float64)).requires_grad_()
    tb = torch.from_numpy(b.astype(np.float64)).requires_grad_()
    ty = tconv(tx, tw, tb, padding=pad, dilation=d)
    ty.backward(torch.from_numpy(go.astype(np.float64)))
    scale = np.abs(ty.detach().numpy()).max() + 1
    assert_close(got, ty.detach().numpy(), np.float32, scale=scale)
    for a, e in ((gx, tx.grad), (gw, tw.grad), (gb, tb.grad)):
        e = e.numpy()
        assert_close(a, e, np.float32, scale=np.abs(e).max() + 1)


@pytest.mark.parametrize("C,O,d", ASPP)
def test_task_work_is_the_inside_work(C, O, d):
    """The balance model's task work: one entry per task, summing to the multiply-adds
    by inside taps only (inside_fraction of the dense work)."""
    from fastconv import _engine
    x = np.zeros((4, C, 28, 28), np.float32)
    w = np.zeros((O, C, 3, 3), np.float32)
    go = np.zeros((4, O, 28, 28), np.float32)
    kw = dict(padding=d, dilation=d)
    plan = fc.plan(fc.conv2d_backward, go, x, w, **kw)
    fwd = fc.plan(fc.conv2d, x, w, **kw)
    for r, p in ((fwd.routes[0], fwd.problem), (plan.routes[1], plan.problem)):
        tw = r.task_work()
        assert len(tw) == r.tasks
        dense = p.N * p.O * p.L * p.Kg
        assert sum(tw) == pytest.approx(dense * _engine.inside_fraction(p), rel=1e-9)
