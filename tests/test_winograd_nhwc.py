"""conv.forward.winograd_nhwc: Winograd F(2x2, 3x3) on channels-last data (NHWC, weight
(3, 3, C, O)), and grad_input through it (conv.grad_input.as_forward on channels-last
data, the flipped kernel transposed per tap).

Forced on random problems (odd and even sizes, every padding from 0 to 2 on each side,
planes smaller than a tile, one and many channels, both dtypes) against the NumPy
reference on the arrays transposed back to channels-first, forward and backward,
bitwise identical on 1, 2 and 3 threads and to the channels-first Winograd (the same
operations per value).  Error within twice the direct path's, the plan takes it only
where it applies and pays, every GEMM variant, a channels-last array that is a view,
the transposed convolution, and torch's channels_last tensors as a second oracle.
"""
import numpy as np
import pytest
from hypothesis import given, settings

import fastconv as fc
import reference as ref
from fastconv._engine import MANY_CORE, static_balance
from conftest import HAVE_TORCH, assert_close, conv_reference
from test_gemm_variants import run_variant_child
from test_winograd import WINOGRAD_TOL, winograd_problems

NAME = "conv.forward.winograd_nhwc"
FORCE = {"forward": "winograd_nhwc"}
FORCE_BOTH = {"forward": "winograd_nhwc", "grad_input": "as_forward"}
L = dict(data_format="NHWC", weight_format="HWIO")


def last(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def hwio(w):
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


def first(a):
    return a.transpose(0, 3, 1, 2)


def _arrays(N, C, O, size, dtype, bias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C) + size).astype(dtype)
    w = rng.standard_normal((O, C, 3, 3)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype) if bias else None
    return x, w, b


def _check(x, w, b, kw, reference):
    """Channels-last forward and backward against the channels-first reference, with
    Winograd's element tolerance; the same bits on 1, 2 and 3 threads."""
    want, scale, go, rg, rs = reference
    tol = WINOGRAD_TOL[x.dtype]
    xl, wl, gol = last(x), hwio(w), last(go)
    got = fc.conv2d(xl, wl, b, **kw, **L)
    assert got.dtype == x.dtype and got.flags.c_contiguous
    assert_close(first(got), want, x.dtype, scale=scale, tol=tol, err_msg="forward")
    gx, gw, gb = fc.conv2d_backward(gol, xl, wl, **kw, **L)
    assert_close(first(gx), rg[0], x.dtype, scale=rs[0], tol=tol, err_msg="grad_input")
    assert_close(gw.transpose(3, 2, 0, 1), rg[1], x.dtype, scale=rs[1], err_msg="grad_weight")
    assert_close(gb, rg[2], x.dtype, scale=rs[2], err_msg="grad_bias")
    for n in (1, 2, 3):
        assert np.array_equal(fc.conv2d(xl, wl, b, num_threads=n, **kw, **L), got), n
        assert np.array_equal(
            fc.conv2d_backward(gol, xl, wl, num_threads=n, output_mask=(True, False, False),
                               **kw, **L)[0], gx), n
    return got, gx


@settings(max_examples=200, deadline=None)
@given(winograd_problems())
def test_forced_winograd_nhwc_matches_the_reference(problem):
    N, C, O, pads, size, dtype, bias, seed = problem
    x, w, b = _arrays(N, C, O, size, dtype, bias, seed)
    kw = dict(padding=pads)
    reference = conv_reference(x, w, b, kw, seed)
    with fc.tuning(force=FORCE_BOTH):
        assert fc.plan(fc.conv2d, last(x), hwio(w), b, **kw, **L).algorithms == {
            "forward": NAME}
        plan = fc.plan(fc.conv2d_backward, last(reference[2]), last(x), hwio(w), **kw, **L)
        d = plan.describe()[0]
        assert d["algorithm"] == "conv.grad_input.as_forward" and d["runs"] == NAME
        got, gx = _check(x, w, b, kw, reference)
    # the same operations per value as the channels-first Winograd: the same bits
    with fc.tuning(force={"forward": "winograd"}, forward_grad_input_channels=1):
        assert np.array_equal(first(got), fc.conv2d(x, w, b, **kw))
        gx_first = fc.conv2d_backward(reference[2], x, w, output_mask=(True, False, False),
                                      **kw)[0]
        if fc.plan(fc.conv2d_backward, reference[2], x, w, output_mask=(True, False, False),
                   **kw).describe()[0].get("runs") == "conv.forward.winograd":
            assert np.array_equal(first(gx), gx_first)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,O,pad,blocks", [
    ((2, 40, 60, 58), 72, 1, dict()),                           # two rounds of GEMMs
    ((1, 20, 6, 40), 150, 1, dict(min_tasks=8)),                # groups of output channels
    ((1, 24, 9, 130), 20, 1, dict(winograd_nhwc_min_tiles=8)),  # many tile-row blocks
    ((3, 17, 13, 11), 9, (0, 2), dict(winograd_nhwc_v_bytes=1)),  # one tile row a task
    ((2, 3, 5, 4), 2, 2, dict()),                               # planes of one or two tiles
])
def test_winograd_nhwc_blocks_against_the_reference(shape, O, pad, blocks, dtype):
    """Problems of many tasks: the reference's values, the same bits on any thread count,
    and on every split the planner can be made to take."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((O, shape[1], 3, 3)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    kw = dict(padding=pad)
    with fc.tuning(force=FORCE):
        base = fc.conv2d(last(x), hwio(w), b, **kw, **L)
    with fc.tuning(force=FORCE, **blocks):
        plan = fc.plan(fc.conv2d, last(x), hwio(w), b, **kw, **L).describe(2)[0]
        assert plan["algorithm"] == NAME
        assert plan["tasks"] >= (1 if shape[2] < 6 else 3)
        got = fc.conv2d(last(x), hwio(w), b, **kw, **L)
        for n in (1, 2, 3):
            assert np.array_equal(fc.conv2d(last(x), hwio(w), b, num_threads=n, **kw, **L),
                                  got)
    assert np.array_equal(got, base)
    assert_close(first(got), ref.conv2d(x, w, b, **kw), dtype,
                 tol=WINOGRAD_TOL[np.dtype(dtype)],
                 scale=ref.conv2d(np.abs(x), np.abs(w), np.abs(b), **kw))


@pytest.mark.parametrize("C,plane", [(16, 30), (64, 20), (256, 12)])
def test_winograd_nhwc_error_within_twice_the_direct_paths(C, plane):
    """The rule for a default algorithm that rounds differently, float32: its error
    against a float64 result at most twice conv.forward.nhwc's."""
    rng = np.random.default_rng(C)
    x = last(rng.standard_normal((2, C, plane, plane)).astype(np.float32))
    w = hwio((rng.standard_normal((24, C, 3, 3)) / np.sqrt(9 * C)).astype(np.float32))
    exact = ref.conv2d(first(x).astype(np.float64), w.transpose(3, 2, 0, 1).astype(np.float64),
                       padding=1)
    errs = {}
    for algo in ("winograd_nhwc", "nhwc"):
        with fc.tuning(force={"forward": algo}):
            got = first(fc.conv2d(x, w, padding=1, **L)).astype(np.float64)
        errs[algo] = np.abs(got - exact).max(), np.abs(got - exact).mean()
    assert errs["winograd_nhwc"][0] <= 2 * errs["nhwc"][0], errs
    assert errs["winograd_nhwc"][1] <= 2 * errs["nhwc"][1], errs


def test_the_plan_takes_winograd_nhwc_where_it_applies_and_pays():
    x = np.zeros((2, 64, 64, 32), np.float32)
    w = np.zeros((3, 3, 32, 32), np.float32)
    algo = lambda *a, **k: fc.plan(fc.conv2d, *a, **k, **L).algorithms["forward"]  # noqa: E731
    assert algo(x, w, padding=1) == NAME
    assert algo(x.astype(np.float64), w.astype(np.float64), padding=1) == NAME
    assert algo(x[:, :14, :14], w, padding=1) == NAME        # 14-wide rows: it pays
    # grad_input of a stride-1 layer is a forward convolution: Winograd too
    d = fc.plan(fc.conv2d_backward, x, x, w, padding=1, **L).describe()[0]
    assert d["algorithm"] == "conv.grad_input.as_forward" and d["runs"] == NAME
    # not: stride, dilation, groups, another kernel size, narrow planes, few channels,
    # channels-first data, a padding mode, or switched off; and grad_input then not
    # through the forward (the channels-last grad_input kernel is as fast)
    assert algo(x, w, padding=1, stride=2) != NAME
    assert algo(x, w, padding=2, dilation=2) != NAME
    assert algo(x, np.zeros((3, 3, 16, 32), np.float32), padding=1, groups=2) != NAME
    assert algo(x, np.zeros((5, 5, 32, 32), np.float32), padding=2) != NAME
    assert algo(x[:, :7, :7], w, padding=1) != NAME
    assert algo(x[..., :4], w[:, :, :4], padding=1) != NAME
    assert algo(x, w, padding=1, padding_mode="reflect") != NAME
    assert fc.plan(fc.conv2d, first(x), w.transpose(3, 2, 0, 1),
                   padding=1).algorithms["forward"] != NAME
    with fc.tuning(winograd=False):
        assert algo(x, w, padding=1) != NAME
        assert fc.plan(fc.conv2d_backward, x, x, w, padding=1, **L).algorithms[
            "grad_input"] == "conv.grad_input.nhwc"
    assert fc.plan(fc.conv2d_backward, x[:, :7, :7], x[:, :7, :7], w, padding=1,
                   **L).algorithms["grad_input"] == "conv.grad_input.nhwc"
    # forced where the kernel cannot run it: the planner says so
    with fc.tuning(force=FORCE):
        with pytest.raises(ValueError, match="winograd_nhwc"):
            fc.plan(fc.conv2d, x, w, padding=1, stride=2, **L)
    with fc.tuning(force={"grad_input": "as_forward"}):
        with pytest.raises(ValueError, match="as_forward"):   # (groups: not channels-last)
            fc.plan(fc.conv2d_backward, x, x, np.zeros((3, 3, 16, 32), np.float32),
                    padding=1, groups=2, **L)


def test_winograd_nhwc_many_core_balance():
    """With the many-core tuning the tasks balance a static schedule of 16-64 threads."""
    x = np.zeros((4, 112, 112, 64), np.float32)
    w = np.zeros((3, 3, 64, 64), np.float32)
    with fc.tuning(**MANY_CORE):
        d = fc.plan(fc.conv2d, x, w, padding=1, **L).describe()[0]
    assert d["algorithm"] == NAME
    assert sum(d["task_work"]) == 4 * 56 * 56 * 16 * 64 * 64
    for threads in (16, 32, 64):
        assert static_balance(d["task_work"], threads) >= 0.9, threads


def test_a_channels_last_view_and_the_transposed_convolution():
    """x a channels-last view of a channels-first array (not C-contiguous), and
    conv_transpose2d (stride 1: its grad_input route runs through the Winograd forward)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 32, 30, 26)).astype(np.float32)
    w = rng.standard_normal((40, 32, 3, 3)).astype(np.float32)
    b = rng.standard_normal(40).astype(np.float32)
    view = x.transpose(0, 2, 3, 1)
    assert not view.flags.c_contiguous
    assert fc.plan(fc.conv2d, view, hwio(w), b, padding=1, **L).algorithms["forward"] == NAME
    assert np.array_equal(fc.conv2d(view, hwio(w), b, padding=1, **L),
                          fc.conv2d(last(x), hwio(w), b, padding=1, **L))
    # transposed: x (2, 30, 26, 40) -> (2, 30, 26, 32), torch's weight (Cin, Cout, 3, 3)
    xt = rng.standard_normal((2, 40, 30, 26)).astype(np.float32)
    wt = rng.standard_normal((40, 32, 3, 3)).astype(np.float32)
    plan = fc.plan(fc.conv_transpose2d, last(xt), hwio(wt), b[:32], padding=1, **L)
    d = plan.describe()[0]
    assert d["algorithm"] == "conv.grad_input.as_forward" and d["runs"] == NAME
    got = fc.conv_transpose2d(last(xt), hwio(wt), b[:32], padding=1, **L)
    want = ref.conv_transpose2d(xt, wt, b[:32], padding=1)
    scale = ref.conv_transpose2d(np.abs(xt), np.abs(wt), np.abs(b[:32]), padding=1)
    assert_close(first(got), want, np.float32, scale=scale, tol=WINOGRAD_TOL[np.dtype("f4")])


@pytest.mark.parametrize("variant", ["generic", "avx2", "avx512"])
def test_winograd_nhwc_every_gemm_variant(variant):
    """Each compiled variant of the channels-last transforms (and the GEMM under them)
    against the reference, in a child interpreter with FASTCONV_GEMM set."""
    code = """
import json, numpy as np, fastconv as fc, reference as ref
from fastconv._kernels import _engine
rng = np.random.default_rng(0)
worst = {}
L = dict(data_format="NHWC", weight_format="HWIO")
for dt in (np.float32, np.float64):
    x = rng.standard_normal((2, 19, 23, 45)).astype(dt)
    w = rng.standard_normal((21, 19, 3, 3)).astype(dt)
    b = rng.standard_normal(21).astype(dt)
    xl = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    wl = np.ascontiguousarray(w.transpose(2, 3, 1, 0))
    with fc.tuning(force={"forward": "winograd_nhwc"}):
        got = fc.conv2d(xl, wl, b, padding=(1, 2), **L).transpose(0, 3, 1, 2)
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
def test_winograd_nhwc_against_torch_channels_last():
    import torch
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 32, 56, 56)).astype(np.float32)
    w = (rng.standard_normal((48, 32, 3, 3)) / 17).astype(np.float32)
    b = rng.standard_normal(48).astype(np.float32)
    go = rng.standard_normal((2, 48, 56, 56)).astype(np.float32)
    assert fc.plan(fc.conv2d, last(x), hwio(w), b, padding=1, **L).algorithms[
        "forward"] == NAME
    got = fc.conv2d(last(x), hwio(w), b, padding=1, **L)
    gx = fc.conv2d_backward(last(go), last(x), hwio(w), padding=1,
                            output_mask=(True, False, False), **L)[0]
    tx = torch.from_numpy(x).to(memory_format=torch.channels_last).requires_grad_()
    tw = torch.from_numpy(w).to(memory_format=torch.channels_last)
    ty = torch.nn.functional.conv2d(tx, tw, torch.from_numpy(b), padding=1)
    ty.backward(torch.from_numpy(go).to(memory_format=torch.channels_last))
    np.testing.assert_allclose(got, last(ty.detach().numpy()), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gx, last(tx.grad.numpy()), rtol=1e-4, atol=2e-4)
    assert HAVE_TORCH
