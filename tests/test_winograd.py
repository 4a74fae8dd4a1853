"""conv.forward.winograd: Winograd F(2x2, 3x3) for 3x3, stride-1, one-group 2-D convolutions.

Forced on random problems (odd and even sizes, every padding from 0 to 2 on each side,
planes smaller than a tile, one and many channels, both dtypes) against the NumPy
reference, forward and backward (grad_input runs as a forward convolution, so the forced
algorithm computes it too), bitwise identical on 1, 2 and 3 threads.  Its rounding error
against a float64 result stays within twice the direct path's (the rule that lets it be
a default), the plan takes it only where it applies and pays, every GEMM variant gives
the reference's values, and torch is a second oracle.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv as fc
import reference as ref
from fastconv._engine import MANY_CORE, static_balance
from conftest import HAVE_TORCH, assert_close, conv_reference
from test_gemm_variants import run_variant_child

FORCE = {"forward": "winograd"}
NAME = "conv.forward.winograd"


@st.composite
def winograd_problems(draw):
    N = draw(st.integers(1, 3))
    C = draw(st.integers(1, 6))
    O = draw(st.integers(1, 7))
    pads = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(2))
    # the output at least one position: size + pads >= 3
    size = tuple(max(1, 3 - b - a) + draw(st.integers(0, 12)) for b, a in pads)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return N, C, O, pads, size, dtype, bias, seed


def _arrays(N, C, O, size, dtype, bias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C) + size).astype(dtype)
    w = rng.standard_normal((O, C, 3, 3)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype) if bias else None
    return x, w, b


@settings(max_examples=200, deadline=None)
@given(winograd_problems())
def test_forced_winograd_matches_the_reference(problem):
    N, C, O, pads, size, dtype, bias, seed = problem
    x, w, b = _arrays(N, C, O, size, dtype, bias, seed)
    kw = dict(padding=pads)
    reference = conv_reference(x, w, b, kw, seed)
    go = reference[2]
    with fc.tuning(force=FORCE, forward_grad_input_channels=1):
        assert fc.plan(fc.conv2d, x, w, b, **kw).algorithms == {"forward": NAME}
        plan = fc.plan(fc.conv2d_backward, go, x, w, **kw)
        if plan.algorithms["grad_input"] == "conv.grad_input.as_forward":
            assert plan.describe()[0]["runs"] == NAME
        _check(x, w, b, kw, reference)


# Winograd's worst element error against the sum of the terms' magnitudes (assert_close's
# scale) is larger than a direct sum's: the transforms add and subtract up to four
# inputs, products and outputs each (|B^T| = 2, |G| = 3/2, |A^T| = 3 in the max-row-sum
# norm), so a sum of magnitudes of the transformed terms bounds it, up to 18x that of the
# plain terms.  The error over whole layers is the direct path's or smaller
# (test_winograd_error_within_twice_the_direct_paths).
WINOGRAD_TOL = {np.dtype(np.float32): 18 * 2e-5, np.dtype(np.float64): 18 * 1e-12}


def _check(x, w, b, kw, reference):
    """check_conv_against_reference with Winograd's element tolerance."""
    want, scale, go, rg, rs = reference
    tol = WINOGRAD_TOL[x.dtype]
    got = fc.conv2d(x, w, b, **kw)
    assert got.dtype == x.dtype
    assert_close(got, want, x.dtype, scale=scale, tol=tol, err_msg="forward")
    grads = fc.conv2d_backward(go, x, w, **kw)
    for name, a, e, sc in zip(("grad_input", "grad_weight", "grad_bias"), grads, rg, rs):
        assert a.dtype == x.dtype
        assert_close(a, e, x.dtype, scale=sc, tol=tol, err_msg=name)
    for n in (1, 2, 3):
        assert np.array_equal(fc.conv2d(x, w, b, num_threads=n, **kw), got), n
        for a, e in zip(fc.conv2d_backward(go, x, w, num_threads=n, **kw), grads):
            assert np.array_equal(a, e), n


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,O,pad,blocks", [
    ((2, 40, 60, 58), 72, 1, dict()),                           # two rounds of GEMMs
    ((1, 20, 6, 40), 80, 1, dict(min_tasks=8)),                 # groups of output channels
    ((1, 24, 9, 130), 20, 1, dict(winograd_min_tiles=8)),       # many tile-row blocks
    ((3, 17, 13, 11), 9, (0, 2), dict(winograd_v_bytes=1)),     # one tile row a task
])
def test_winograd_blocks_against_the_reference(shape, O, pad, blocks, dtype):
    """Problems of many tasks (tile-row blocks across samples, output-channel blocks):
    the reference's values, the same bits on any thread count."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((O, shape[1], 3, 3)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    kw = dict(padding=pad)
    with fc.tuning(force=FORCE, **blocks):
        plan = fc.plan(fc.conv2d, x, w, b, **kw).describe(2)[0]
        assert plan["algorithm"] == NAME and plan["tasks"] >= 3
        got = fc.conv2d(x, w, b, **kw)
        for n in (1, 2, 3):
            assert np.array_equal(fc.conv2d(x, w, b, num_threads=n, **kw), got)
    assert_close(got, ref.conv2d(x, w, b, **kw), dtype, tol=WINOGRAD_TOL[np.dtype(dtype)],
                 scale=ref.conv2d(np.abs(x), np.abs(w), np.abs(b), **kw))


@pytest.mark.parametrize("C,plane", [(16, 30), (64, 20), (256, 12)])
@pytest.mark.parametrize("data", ["normal", "uniform"])
def test_winograd_error_within_twice_the_direct_paths(C, plane, data):
    """The rule for a default algorithm that rounds differently: its error against a
    float64 result at most twice the direct path's (im2col: every dense route sums the
    same products in the same order), float32."""
    rng = np.random.default_rng(C)
    if data == "normal":
        x = rng.standard_normal((2, C, plane, plane))
        w = rng.standard_normal((24, C, 3, 3)) / np.sqrt(9 * C)
    else:
        x = rng.random((2, C, plane, plane))
        w = rng.random((24, C, 3, 3))
    exact = ref.conv2d(x, w, padding=1)
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    exact32 = ref.conv2d(x32.astype(np.float64), w32.astype(np.float64), padding=1)
    errs = {}
    for algo in ("winograd", "im2col"):
        with fc.tuning(force={"forward": algo}):
            got = fc.conv2d(x32, w32, padding=1).astype(np.float64)
        errs[algo] = np.abs(got - exact32).max(), np.abs(got - exact32).mean()
    assert exact.shape == exact32.shape
    assert errs["winograd"][0] <= 2 * errs["im2col"][0], errs
    assert errs["winograd"][1] <= 2 * errs["im2col"][1], errs


def test_the_plan_takes_winograd_where_it_applies_and_pays():
    x = np.zeros((2, 32, 64, 64), np.float32)
    w = np.zeros((32, 32, 3, 3), np.float32)
    algo = lambda *a, **k: fc.plan(fc.conv2d, *a, **k).algorithms["forward"]  # noqa: E731
    assert algo(x, w, padding=1) == NAME
    assert algo(x.astype(np.float64), w.astype(np.float64), padding=1) == NAME
    # grad_input of a stride-1 layer is a forward convolution: Winograd too
    x64, w64 = np.zeros((2, 64, 64, 64), np.float32), np.zeros((64, 64, 3, 3), np.float32)
    plan = fc.plan(fc.conv2d_backward, x64, x64, w64, padding=1)
    assert plan.describe()[0]["runs"] == NAME
    # not: stride, dilation, groups, another kernel size, narrow planes, few channels,
    # channels-last data, or switched off
    assert algo(x, w, padding=1, stride=2) != NAME
    assert algo(x, w, padding=2, dilation=2) != NAME
    assert algo(x, np.zeros((32, 16, 3, 3), np.float32), padding=1, groups=2) != NAME
    assert algo(x, np.zeros((32, 32, 5, 5), np.float32), padding=2) != NAME
    assert algo(x[:, :, :, :16], w, padding=1) != NAME
    assert algo(x[:, :4], w[:, :4], padding=1) != NAME
    assert algo(np.zeros((2, 64, 64, 32), np.float32), np.zeros((3, 3, 32, 32), np.float32),
                padding=1, data_format="NHWC", weight_format="HWIO") != NAME
    with fc.tuning(winograd=False):
        assert algo(x, w, padding=1) != NAME
    # forced where the kernel cannot run it: the planner says so
    with fc.tuning(force=FORCE):
        with pytest.raises(ValueError, match="winograd"):
            fc.plan(fc.conv2d, x, w, padding=1, stride=2)
        with pytest.raises(ValueError, match="winograd"):
            fc.plan(fc.conv1d, x[:, :, 0], w[:, :, 0], padding=1)


def test_winograd_many_core_balance():
    """With the many-core tuning the tasks balance a static schedule of 16-64 threads."""
    x = np.zeros((4, 64, 112, 112), np.float32)
    w = np.zeros((64, 64, 3, 3), np.float32)
    with fc.tuning(**MANY_CORE):
        d = fc.plan(fc.conv2d, x, w, padding=1).describe()[0]
    assert d["algorithm"] == NAME
    for threads in (16, 32, 64):
        assert static_balance(d["task_work"], threads) >= 0.9, threads


@pytest.mark.parametrize("variant", ["generic", "avx2", "avx512"])
def test_winograd_every_gemm_variant(variant):
    """Each compiled variant of the transforms (and the GEMM under them) against the
    reference, in a child interpreter with FASTCONV_GEMM set."""
    code = """
import json, numpy as np, fastconv as fc, reference as ref
from fastconv._kernels import _engine
rng = np.random.default_rng(0)
worst = {}
for dt in (np.float32, np.float64):
    x = rng.standard_normal((2, 19, 23, 45)).astype(dt)
    w = rng.standard_normal((21, 19, 3, 3)).astype(dt)
    b = rng.standard_normal(21).astype(dt)
    with fc.tuning(force={"forward": "winograd"}):
        got = fc.conv2d(x, w, b, padding=(1, 2))
    want = ref.conv2d(x, w, b, padding=(1, 2))
    scale = ref.conv2d(np.abs(x), np.abs(w), np.abs(b), padding=(1, 2))
    worst[np.dtype(dt).name] = float((np.abs(got - want) / scale).max())
print(json.dumps({"variant": _engine.gemm_variant(), "worst": worst}))
"""
    result = run_variant_child(variant, code)
    assert result["variant"] == variant
    assert result["worst"]["float32"] < 2e-6, result
    assert result["worst"]["float64"] < 1e-14, result


@pytest.mark.torch
def test_winograd_against_torch():
    import torch
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 32, 56, 56)).astype(np.float32)
    w = (rng.standard_normal((48, 32, 3, 3)) / 17).astype(np.float32)
    b = rng.standard_normal(48).astype(np.float32)
    assert fc.plan(fc.conv2d, x, w, b, padding=1).algorithms["forward"] == NAME
    got = fc.conv2d(x, w, b, padding=1)
    want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                      torch.from_numpy(b), padding=1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert HAVE_TORCH
