"""The depthwise algorithms (groups == C, one input channel per group, any multiplier).

Each of conv.forward.depthwise, conv.grad_input.depthwise and conv.grad_weight.depthwise
is forced on random depthwise problems of every rank and compared with the NumPy
reference (which also stands for finite differences: the reference gradients are the
sums written out); results are bitwise identical for 1, 2 and 3 threads; the plan
chooses them by default for depthwise layers; forcing them on other problems raises.
"""
import os
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv as fc
import reference as ref
from conftest import assert_close, check_conv_against_reference, conv_reference

HERE = os.path.dirname(os.path.abspath(__file__))
FORCE = {"forward": "depthwise", "grad_input": "depthwise", "grad_weight": "depthwise"}


def _ops(nd):
    return getattr(fc, f"conv{nd}d"), getattr(fc, f"conv{nd}d_backward")


@st.composite
def depthwise_problems(draw):
    nd = draw(st.integers(1, 3))
    C = draw(st.integers(1, 4))
    mult = draw(st.integers(1, 3))
    N = draw(st.integers(1, 3))
    k = tuple(draw(st.integers(1, 4 if nd < 3 else 3)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    d = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    pads = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(nd))
    # the input at least as large as the dilated kernel (after padding), up to 9 more
    # (rows of 1-D and 2-D problems: up to 40 wide, across the vector widths)
    size = tuple(max(1, (kk - 1) * dd + 1 - pb - pa)
                 + draw(st.integers(0, 40 if nd < 3 and i == nd - 1 else 9 if nd < 3 else 4))
                 for i, (kk, dd, (pb, pa)) in enumerate(zip(k, d, pads)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    # the tile kernels' blocks: default, one row and one group per task, or every group
    # of a sample in one task (tiles in a ring)
    blocks = draw(st.sampled_from([{}, {"depthwise_tile_bytes": 1, "depthwise_min_tasks": 10**6},
                                   {"depthwise_task_elems": 10**6, "depthwise_min_tasks": 1}]))
    return nd, N, C, mult, k, s, d, pads, size, dtype, bias, seed, blocks


def _arrays(N, C, mult, k, size, dtype, bias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C) + size).astype(dtype)
    w = rng.standard_normal((C * mult, 1) + k).astype(dtype)
    b = rng.standard_normal(C * mult).astype(dtype) if bias else None
    return x, w, b


@settings(max_examples=150, deadline=None)
@given(depthwise_problems())
def test_forced_depthwise_matches_reference(problem):
    nd, N, C, mult, k, s, d, pads, size, dtype, bias, seed, blocks = problem
    x, w, b = _arrays(N, C, mult, k, size, dtype, bias, seed)
    kw = dict(stride=s, padding=pads, dilation=d, groups=C)
    conv, bwd = _ops(nd)
    reference = conv_reference(x, w, b, kw, seed)
    go = reference[2]
    with fc.tuning(force=FORCE, **blocks):
        assert fc.plan(conv, x, w, b, **kw).algorithms == {"forward": "conv.forward.depthwise"}
        algos = fc.plan(bwd, go, x, w, **kw).algorithms
        assert algos["grad_input"] == "conv.grad_input.depthwise"
        assert algos["grad_weight"] == "conv.grad_weight.depthwise"
        check_conv_against_reference(conv, bwd, x, w, b, kw, reference)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,stride,mult", [
    ((4, 8, 29, 31), 1, 1), ((4, 8, 29, 31), 2, 1), ((3, 6, 17, 16), 2, 2),
    ((2, 5, 7, 7), 1, 3), ((1, 3, 40, 37), 1, 1), ((2, 4, 56, 56), 1, 1),
    ((1, 2, 57, 57), 1, 2), ((1, 2, 9, 70), 2, 1), ((1, 2, 8, 67), 1, 1),
])
def test_depthwise_matches_the_generic_routes(shape, stride, mult, dtype):
    """Larger planes (row blocks, many tasks): the same sums as the GEMM routes, and
    thread-count independent."""
    rng = np.random.default_rng(7)
    N, C = shape[:2]
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((C * mult, 1, 3, 3)).astype(dtype)
    kw = dict(stride=stride, padding=1, groups=C)
    go = rng.standard_normal(fc.conv2d(x, w, **kw).shape).astype(dtype)
    with fc.tuning(force={"forward": "im2col", "grad_input": "col2im", "grad_weight": "rows"}):
        other = fc.conv2d(x, w, **kw), fc.conv2d_backward(go, x, w, **kw)
    scale = ref.convnd(np.abs(x), np.abs(w), **kw)
    with fc.tuning(force=FORCE):
        got = fc.conv2d(x, w, **kw)
        grads = fc.conv2d_backward(go, x, w, **kw)
        assert_close(got, other[0], dtype, scale=scale)
        for a, e in zip(grads, other[1]):
            assert_close(a, e, dtype, scale=np.abs(e).max() + 1)
        for n in (1, 2, 3):
            assert np.array_equal(fc.conv2d(x, w, num_threads=n, **kw), got)
            for a, e in zip(fc.conv2d_backward(go, x, w, num_threads=n, **kw), grads):
                assert np.array_equal(a, e)


def test_transposed_depthwise_uses_grad_input_depthwise():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 9, 8))
    w = rng.standard_normal((4, 1, 3, 3))
    for kw in (dict(stride=2, padding=1, output_padding=1, groups=4),
               dict(stride=1, padding=(0, 2), dilation=2, groups=4)):
        with fc.tuning(force={"grad_input": "depthwise"}):
            plan = fc.plan(fc.conv_transpose2d, x, w, **kw)
            assert plan.algorithms == {"grad_input": "conv.grad_input.depthwise"}
            assert_close(fc.conv_transpose2d(x, w, **kw), ref.conv_transpose2d(x, w, **kw),
                         np.float64)


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("mult", [1, 2])
def test_plan_chooses_depthwise_by_default(nd, mult):
    x = np.zeros((2, 16) + (5, 6, 40)[3 - nd:], np.float32)
    w = np.zeros((16 * mult, 1) + (3,) * nd, np.float32)
    conv, bwd = _ops(nd)
    go = np.zeros(fc.plan(conv, x, w, padding=1, groups=16).problem.y_shape, np.float32)
    assert fc.plan(conv, x, w, padding=1, groups=16).algorithms["forward"] == \
        "conv.forward.depthwise"
    algos = fc.plan(bwd, go, x, w, padding=1, groups=16).algorithms
    assert algos["grad_input"] == "conv.grad_input.depthwise"
    assert algos["grad_weight"] == "conv.grad_weight.depthwise"
    # on narrow planes and strided too (the tile kernels have no per-row cost)
    narrow = np.zeros((2, 16) + (7,) * nd, np.float32)
    for stride in (1, 2):
        kw = dict(padding=1, stride=stride, groups=16)
        go = np.zeros(fc.plan(conv, narrow, w, **kw).problem.y_shape, np.float32)
        assert set(fc.plan(bwd, go, narrow, w, **kw).algorithms.values()) == {
            "conv.grad_input.depthwise", "conv.grad_weight.depthwise", "conv.grad_bias.sum"}
        assert fc.plan(conv, narrow, w, **kw).algorithms["forward"] == "conv.forward.depthwise"
    # not for a single input channel (groups == 1) unless forced
    one = np.zeros((2, 1) + (5, 6, 40)[3 - nd:], np.float32)
    w1 = np.zeros((6, 1) + (3,) * nd, np.float32)
    assert "depthwise" not in fc.plan(conv, one, w1, padding=1).algorithms["forward"]
    with fc.tuning(force={"forward": "depthwise"}):
        assert fc.plan(conv, one, w1, padding=1).algorithms["forward"] == "conv.forward.depthwise"
    # not for grouped convolutions with several input channels per group
    w2 = np.zeros((16, 2) + (3,) * nd, np.float32)
    assert "depthwise" not in fc.plan(conv, x, w2, padding=1, groups=8).algorithms["forward"]


def test_large_multipliers_keep_the_generic_routes_unless_forced():
    x = np.zeros((2, 4, 40, 40), np.float32)
    w = np.zeros((4 * 16, 1, 3, 3), np.float32)
    assert fc.plan(fc.conv2d, x, w, padding=1, groups=4).algorithms["forward"] != \
        "conv.forward.depthwise"
    with fc.tuning(force={"forward": "depthwise"}):
        assert fc.plan(fc.conv2d, x, w, padding=1, groups=4).algorithms["forward"] == \
            "conv.forward.depthwise"


@pytest.mark.parametrize("direction", ["forward", "grad_input", "grad_weight"])
def test_forcing_depthwise_on_other_problems_raises(direction):
    x = np.zeros((2, 4, 8, 8))
    for w, groups in ((np.zeros((6, 4, 3, 3)), 1), (np.zeros((4, 2, 3, 3)), 2)):
        with fc.tuning(force={direction: "depthwise"}):
            with pytest.raises(ValueError, match="does not support"):
                if direction == "forward":
                    fc.plan(fc.conv2d, x, w, groups=groups)
                else:
                    fc.plan(fc.conv2d_backward, np.zeros((2, w.shape[0], 6, 6)), x, w,
                            groups=groups)


# MobileNetV2 depthwise layers (smaller planes), forced, against torch when it is installed
MOBILENET = [(32, 28, 1, 1), (96, 28, 2, 1), (144, 14, 1, 1), (144, 14, 2, 1),
             (32, 15, 1, 2), (960, 7, 1, 1)]


@pytest.mark.torch
@pytest.mark.parametrize("C,H,stride,mult", MOBILENET)
def test_mobilenet_layers_against_torch(C, H, stride, mult):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(C + H)
    x = rng.standard_normal((2, C, H, H)).astype(np.float32)
    w = rng.standard_normal((C * mult, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(C * mult).astype(np.float32)
    kw = dict(stride=stride, padding=1, groups=C)
    with fc.tuning(force=FORCE):
        got = fc.conv2d(x, w, b, **kw)
        go = rng.standard_normal(got.shape).astype(np.float32)
        gx, gw, gb = fc.conv2d_backward(go, x, w, **kw)
    tx = torch.from_numpy(x.astype(np.float64)).requires_grad_()
    tw = torch.from_numpy(w.astype(np.float64)).requires_grad_()
    tb = torch.from_numpy(b.astype(np.float64)).requires_grad_()
    ty = torch.nn.functional.conv2d(tx, tw, tb, **kw)
    ty.backward(torch.from_numpy(go.astype(np.float64)))
    scale = np.abs(ty.detach().numpy()).max() + 1
    assert_close(got, ty.detach().numpy(), np.float32, scale=scale)
    for a, t in ((gx, tx.grad), (gw, tw.grad), (gb, tb.grad)):
        e = t.numpy()
        assert_close(a, e, np.float32, scale=np.abs(e).max() + 1)


VARIANT_CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    sys.path.insert(0, {here!r})
    import reference as ref
    import fastconv as fc
    from fastconv._kernels import _engine
    force = {{"forward": "depthwise", "grad_input": "depthwise", "grad_weight": "depthwise"}}
    rng = np.random.default_rng(11)
    worst = {{}}
    # widths across every vector width (1 .. 40), strides 1-3, dilation, padding,
    # multipliers, a 5x5 kernel, 1-D and 3-D
    cases = [((2, 3, 9, 1), (1, 3), 1, 1, (0, 1), 1), ((1, 2, 7, 17), (3, 3), 2, 1, 1, 2),
             ((2, 2, 12, 40), (3, 3), 1, 2, (1, 2), 1), ((1, 3, 11, 33), (5, 5), 3, 1, 2, 3),
             ((2, 4, 16, 16), (3, 3), 2, 1, 1, 1), ((1, 2, 30), (4,), 2, 2, 3, 2),
             ((1, 2, 5, 6, 7), (3, 3, 3), 2, 1, 1, 2)]
    for dt in (np.float32, np.float64):
        err = 0.0
        for shape, k, s, d, p, mult in cases:
            nd = len(k)
            C = shape[1]
            x = rng.standard_normal(shape).astype(dt)
            w = rng.standard_normal((C * mult, 1) + k).astype(dt)
            b = rng.standard_normal(C * mult).astype(dt)
            kw = dict(stride=s, padding=p, dilation=d, groups=C)
            conv, bwd = getattr(fc, f"conv{{nd}}d"), getattr(fc, f"conv{{nd}}d_backward")
            with fc.tuning(force=force):
                out = conv(x, w, b, **kw)
                go = rng.standard_normal(out.shape).astype(dt)
                got = bwd(go, x, w, **kw)
            exp = ref.convnd(x, w, b, **kw)
            err = max(err, float(np.max(np.abs(out - exp)) / (np.max(np.abs(exp)) + 1)))
            for a, e in zip(got, ref.convnd_backward(go, x, w, **kw)):
                err = max(err, float(np.max(np.abs(a - e)) / (np.max(np.abs(e)) + 1)))
        worst[np.dtype(dt).name] = err
    print(json.dumps({{"variant": _engine.gemm_variant(), "worst": worst}}))
    """
)


@pytest.mark.parametrize("variant", ["generic", "avx2", "avx512"])
def test_depthwise_kernels_of_every_variant(variant):
    """The depthwise kernels follow the GEMM's variant (FASTCONV_GEMM): each one the
    CPU can run gives the reference's results (a child interpreter per variant: the
    choice is made at import)."""
    from test_gemm_variants import run_variant_child
    result = run_variant_child(variant, VARIANT_CHILD.format(here=HERE))
    assert result["variant"] == variant
    assert result["worst"]["float32"] < 1e-5, result
    assert result["worst"]["float64"] < 1e-12, result
