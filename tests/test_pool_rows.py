"""The SIMD pooling row kernels (``max_pool.forward.rows``, ``avg_pool.forward.rows``,
``avg_pool.grad_input.rows``: ``fastconv/_kernels/fc_pool.h``).

They promise the window kernels' results bit for bit (same order, same rule), so they
are forced on random problems of rank 1-3 -- odd sizes, padding, ceil_mode, strides 1-3,
windows of 1-5 taps a side, NaN, infinities, ties and zeros of both signs -- and
compared with the window kernels bitwise (values, sign of zeros, NaN positions,
indices) and with the NumPy references; results are bitwise identical for 1, 2 and 3
threads and for every SIMD variant (AVX-512, AVX2, baseline: FASTCONV_GEMM, in child
interpreters); the planner picks them for the bench's layers; forcing them where they do
not apply raises; torch agrees on the bench's cases (scaled down).
"""
import os
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
import reference as ref
from conftest import assert_close
from test_threads import _assert_bitwise

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = {"forward": "rows", "grad_input": "rows"}
WINDOW = {"forward": "window", "grad_input": "window"}


def _fn(name, nd):
    return getattr(fastconv, f"{name}{nd}d")


@st.composite
def pool_problems(draw):
    nd = draw(st.integers(1, 3))
    k = tuple(draw(st.integers(1, 5 if nd < 3 else 3)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    p = tuple(draw(st.integers(0, kk // 2)) for kk in k)
    # the input at least the kernel (after padding), up to 40 (1-D) / 24 / 6 more: rows
    # shorter and longer than every vector width, with and without a vector tail
    size = tuple(max(1, kk - 2 * pp) + draw(st.integers(0, {1: 40, 2: 24, 3: 6}[nd]))
                 for kk, pp in zip(k, p))
    ceil = draw(st.booleans())
    include_pad = draw(st.booleans())
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    kind = draw(st.sampled_from(["normal", "ties", "nan_inf", "minus_inf"]))
    seed = draw(st.integers(0, 2**32 - 1))
    return nd, k, s, p, size, ceil, include_pad, dtype, kind, seed


def _input(nd, size, dtype, kind, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((int(rng.integers(1, 3)), int(rng.integers(1, 4))) + size)
    if kind == "ties":                          # ties, and zeros of both signs
        x = np.round(x)
        x[rng.random(x.shape) < 0.3] = -0.0
    elif kind == "nan_inf":
        x[rng.random(x.shape) < 0.1] = np.nan
        x[rng.random(x.shape) < 0.1] = -np.inf
        x[rng.random(x.shape) < 0.05] = np.inf
    elif kind == "minus_inf":                   # every element -inf in some windows
        x[rng.random(x.shape) < 0.7] = -np.inf
    return x.astype(dtype)


def _same_max(got, expected):
    got64 = got.astype(np.float64)
    assert np.array_equal(np.isnan(got64), np.isnan(expected))
    ok = ~np.isnan(expected)
    assert np.array_equal(got64[ok], expected[ok])
    assert np.array_equal(np.signbit(got64[ok]), np.signbit(expected[ok]))   # first zero wins


def _run_all(nd, x, k, s, p, ceil, include_pad, force, n=None):
    """max (values, indices), max without indices, avg, avg backward (when the windows do
    not overlap, else None) under ``force``."""
    mp, ap, apb = _fn("max_pool", nd), _fn("avg_pool", nd), _fn("avg_pool", nd)
    apb = getattr(fastconv, f"avg_pool{nd}d_backward")
    with fastconv.tuning(force=force, pool_rows_min_ow=0):
        out, idx = mp(x, k, s, p, 1, ceil, True, num_threads=n)
        only = mp(x, k, s, p, 1, ceil, num_threads=n)
        xa = np.where(np.isfinite(x), x, 0).astype(x.dtype)
        avg = ap(xa, k, s, p, ceil, include_pad, num_threads=n)
        go = np.random.default_rng(1).standard_normal(avg.shape).astype(x.dtype)
        go[::2] = -0.0
        gi = None
        if all(kk <= ss for kk, ss in zip(k, s)):
            gi = apb(go, x.shape, k, s, p, ceil, include_pad, num_threads=n)
    return (out, idx, only, avg, gi), xa, go


@settings(max_examples=200, deadline=None)
@given(pool_problems())
def test_rows_match_window_kernels_bitwise_and_reference(problem):
    nd, k, s, p, size, ceil, include_pad, dtype, kind, seed = problem
    x = _input(nd, size, dtype, kind, seed)
    got, xa, go = _run_all(nd, x, k, s, p, ceil, include_pad, ROWS)
    want, _, _ = _run_all(nd, x, k, s, p, ceil, include_pad, WINDOW)
    for i, (g, w) in enumerate(zip(got, want)):
        if w is not None:
            _assert_bitwise(g, w, f"result {i}: rows vs window")
    out, idx, only, avg, gi = got
    e_out, e_idx = ref.max_poolnd(x, k, s, p, 1, ceil)
    _same_max(out, e_out)
    _same_max(only, e_out)
    assert np.array_equal(idx, e_idx)
    args = (k, s, p, ceil, include_pad)
    assert_close(avg, ref.avg_poolnd(xa, *args), dtype, scale=ref.avg_poolnd(np.abs(xa), *args))
    if gi is not None:
        assert_close(gi, ref.avg_poolnd_backward(go, x.shape, *args), dtype,
                     scale=ref.avg_poolnd_backward(np.abs(go), x.shape, *args))
        # written once: 0 + grad, so a -0.0 gradient gives +0.0 as the window kernel's add
        assert not np.any(np.signbit(gi) & (gi == 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", [
    (2, (2, 2), (2, 2), 0), (2, (3, 3), (2, 2), 1), (2, (3, 3), (1, 1), 1),
    (1, (2,), (2,), 0), (3, (2, 2, 2), (2, 2, 2), 0), (2, (2, 3), (2, 3), (1, 1))])
def test_rows_bitwise_identical_across_threads(case, dtype):
    nd, k, s, p = case
    rng = np.random.default_rng(3)
    size = {1: (4, 8, 301), 2: (3, 7, 61, 59), 3: (2, 5, 14, 15, 17)}[nd]
    x = rng.standard_normal(size).astype(dtype)
    x[rng.random(x.shape) < 0.02] = np.nan
    one, _, _ = _run_all(nd, x, k, s, p, False, True, ROWS, 1)
    for n in (2, 3):
        got, _, _ = _run_all(nd, x, k, s, p, False, True, ROWS, n)
        _assert_bitwise(tuple(g for g in got if g is not None),
                        tuple(o for o in one if o is not None), f"rows pooling, {n} threads")


VARIANT_CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    sys.path.insert(0, {here!r})
    import fastconv
    from fastconv._kernels import _engine
    from test_pool_rows import _run_all, ROWS, WINDOW
    rng = np.random.default_rng(11)
    bad = []
    cases = [(2, (2, 2), (2, 2), (0, 0), (5, 3, 29, 35)), (2, (3, 3), (2, 2), (1, 1), (2, 3, 37, 41)),
             (2, (3, 3), (1, 1), (1, 1), (2, 2, 19, 53)), (1, (2,), (2,), (0,), (2, 3, 77)),
             (3, (2, 2, 2), (2, 2, 2), (0, 0, 0), (2, 2, 6, 9, 35)),
             (2, (5, 4), (3, 1), (2, 1), (2, 2, 23, 40))]
    for dt in (np.float32, np.float64):
        for nd, k, s, p, shape in cases:
            for ceil in (False, True):
                x = rng.standard_normal(shape).astype(dt)
                x[rng.random(shape) < 0.05] = np.nan
                x[rng.random(shape) < 0.05] = -np.inf
                tie = rng.random(shape) < 0.2
                x[tie] = np.round(x[tie])
                got, _, _ = _run_all(nd, x, k, s, p, ceil, True, ROWS)
                want, _, _ = _run_all(nd, x, k, s, p, ceil, True, WINDOW)
                for i, (g, w) in enumerate(zip(got, want)):
                    if w is not None and not np.array_equal(g.view(np.uint8), w.view(np.uint8)):
                        bad.append([np.dtype(dt).name, nd, list(k), list(s), ceil, i])
    # global max pooling with indices: the reduce kernel's argmax of one run (fc_pool.h)
    import reference as ref
    for dt in (np.float32, np.float64):
        for shape in [(2, 5, 7, 7), (1, 3, 3, 5), (2, 2, 33), (1, 2, 17, 16), (1, 1, 4, 5, 6)]:
            for kind in range(4):
                x = rng.standard_normal(shape)
                if kind == 1:
                    x = np.round(x); x[rng.random(shape) < 0.3] = -0.0
                elif kind == 2:
                    x[rng.random(shape) < 0.1] = np.nan
                elif kind == 3:
                    x[rng.random(shape) < 0.8] = -np.inf
                x = x.astype(dt)
                nd = len(shape) - 2
                k = shape[2:]
                out, idx = getattr(fastconv, f"max_pool{{nd}}d")(x, k, return_indices=True)
                e_out, e_idx = ref.max_poolnd(x, k)
                if not (np.array_equal(idx, e_idx) and np.array_equal(out, e_out, equal_nan=True)
                        and np.array_equal(np.signbit(out), np.signbit(e_out))):
                    bad.append(["global", np.dtype(dt).name, list(shape), kind])
    print(json.dumps({{"variant": _engine.gemm_variant(), "bad": bad}}))
    """
)


@pytest.mark.parametrize("variant", ["generic", "avx2", "avx512"])
def test_rows_every_simd_variant(variant):
    from test_gemm_variants import run_variant_child
    result = run_variant_child(variant, VARIANT_CHILD.format(here=HERE))
    assert result["variant"] == variant
    assert result["bad"] == []


def test_planner_picks_rows_for_the_bench_layers():
    x = np.zeros((2, 4, 56, 56), np.float32)
    assert fastconv.plan(fastconv.max_pool2d, x, 2, 2, return_indices=True).algorithms == {
        "forward": "max_pool.forward.rows"}
    assert fastconv.plan(fastconv.max_pool2d, x, 3, 2, 1).algorithms == {
        "forward": "max_pool.forward.rows"}
    assert fastconv.plan(fastconv.avg_pool2d, x, 2, 2).algorithms == {
        "forward": "avg_pool.forward.rows"}
    go = np.zeros((2, 4, 28, 28), np.float32)
    assert fastconv.plan(fastconv.avg_pool2d_backward, go, x.shape, 2, 2).algorithms == {
        "grad_input": "avg_pool.grad_input.rows"}
    # overlapping windows keep the window kernel's gradient; dilation the window forward
    go = fastconv.avg_pool2d(x, 3, 2, 1)
    assert fastconv.plan(fastconv.avg_pool2d_backward, go, x.shape, 3, 2, 1).algorithms == {
        "grad_input": "avg_pool.grad_input.window"}
    assert fastconv.plan(fastconv.max_pool2d, x, 3, 2, 1, 2).algorithms == {
        "forward": "max_pool.forward.window"}
    # rows narrower than a vector keep the window kernel's max
    x7 = np.zeros((2, 4, 14, 14), np.float32)
    assert fastconv.plan(fastconv.max_pool2d, x7, 7, 1).algorithms == {
        "forward": "max_pool.forward.window"}
    assert fastconv.plan(fastconv.avg_pool2d, x7, 7, 1).algorithms == {
        "forward": "avg_pool.forward.rows"}
    # global pooling keeps the reduction
    assert fastconv.plan(fastconv.avg_pool2d, x, 56).algorithms == {
        "forward": "avg_pool.forward.reduce"}


def test_forcing_rows_where_it_does_not_apply_raises():
    x = np.zeros((1, 2, 9, 9))
    with fastconv.tuning(force=ROWS):
        with pytest.raises(ValueError):
            fastconv.max_pool2d(x, 3, 1, 0, 2)                   # dilation 2
        go = fastconv.avg_pool2d(x, 3, 2)
        with pytest.raises(ValueError):
            fastconv.avg_pool2d_backward(go, x.shape, 3, 2)      # overlapping windows


def test_rows_agree_with_torch_on_the_bench_cases():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    for kind, shape, k, s, p in [("max", (2, 8, 56, 56), 2, 2, 0),
                                 ("max", (2, 8, 112, 112), 3, 2, 1),
                                 ("avg", (2, 8, 56, 56), 2, 2, 0)]:
        x = rng.standard_normal(shape).astype(np.float32)
        tx = torch.from_numpy(x)
        if kind == "max":
            x[0, 0, :4, :4] = np.nan
            tx = torch.from_numpy(x)
            out, idx = fastconv.max_pool2d(x, k, s, p, return_indices=True)
            tout, tidx = F.max_pool2d(tx, k, s, p, return_indices=True)
            assert np.array_equal(out, tout.numpy(), equal_nan=True)
            assert np.array_equal(idx, tidx.numpy())
        else:
            out = fastconv.avg_pool2d(x, k, s, p)
            assert_close(out, F.avg_pool2d(tx.double(), k, s, p).numpy(), np.float32,
                         scale=F.avg_pool2d(tx.double().abs(), k, s, p).numpy())
            go = rng.standard_normal(out.shape).astype(np.float32)
            gi = fastconv.avg_pool2d_backward(go, x.shape, k, s, p)
            tgi = torch.ops.aten.avg_pool2d_backward(torch.from_numpy(go), tx, [k, k], [s, s],
                                                     [p, p], False, True, None)
            assert np.array_equal(gi, tgi.numpy())
