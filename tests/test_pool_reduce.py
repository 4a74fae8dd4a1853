"""The reduce pooling algorithms (``max_pool.forward.reduce``, ``avg_pool.forward.reduce``,
``avg_pool.grad_input.reduce``): global pooling and wide windows as one vectorised
reduction per window (``fastconv/_kernels/reduce_kernels.pxi``, ``fc_reduce.h``).

They are forced (``fastconv.tuning(force=...)``, with the thresholds opened so that any
dilation-1 problem takes them) on random problems of rank 1-3 and compared with the NumPy
references: max pooling exactly (values, the sign of zeros, NaN positions and indices),
average pooling and its gradient within the dtype's tolerance; results are bitwise
identical for 1, 2 and 3 threads; the default planner picks them for global pooling and
not for the standard small windows.
"""
import numpy as np
import pytest

import fastconv
import reference as ref
from conftest import assert_close
from test_threads import _assert_bitwise

DTYPES = [np.float32, np.float64]
OPEN = dict(reduce_max_outputs=10**9)      # every dilation-1 problem takes reduce
REDUCE = dict(force={"forward": "reduce", "grad_input": "reduce"}, **OPEN)
WINDOW = dict(force={"forward": "window", "grad_input": "window"})


def _fn(name, nd):
    return getattr(fastconv, f"{name}{nd}d")


def _problem(seed, dtype):
    """A random dilation-1 pooling problem: shape, kernel, stride, padding, ceil_mode."""
    rng = np.random.default_rng(seed)
    nd = int(rng.integers(1, 4))
    hi = {1: 40, 2: 14, 3: 8}[nd]              # runs shorter and longer than 16 lanes
    spatial = tuple(int(s) for s in rng.integers(1, hi, nd))
    kernel = tuple(int(rng.integers(1, s + 1)) for s in spatial)
    stride = tuple(int(rng.integers(1, 4)) for _ in spatial)
    padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    ceil_mode = bool(rng.integers(2))
    x = rng.standard_normal((int(rng.integers(1, 4)), int(rng.integers(1, 5))) + spatial)
    kind = seed % 4
    if kind == 1:                               # ties, and zeros of both signs
        x = np.round(x)
        x[rng.random(x.shape) < 0.3] = -0.0
    elif kind == 2:                             # NaN and infinities
        x[rng.random(x.shape) < 0.1] = np.nan
        x[rng.random(x.shape) < 0.1] = -np.inf
        x[rng.random(x.shape) < 0.05] = np.inf
    elif kind == 3:                             # every element -inf in some windows
        x[rng.random(x.shape) < 0.7] = -np.inf
    return nd, x.astype(dtype), kernel, stride, padding, ceil_mode


def _same_max(got, expected, dtype):
    got64 = got.astype(np.float64)
    assert np.array_equal(np.isnan(got64), np.isnan(expected))
    ok = ~np.isnan(expected)
    assert np.array_equal(got64[ok], expected[ok])
    assert np.array_equal(np.signbit(got64[ok]), np.signbit(expected[ok]))   # first zero wins


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(40))
def test_max_pool_reduce_matches_reference(seed, dtype):
    nd, x, k, s, p, ceil = _problem(seed, dtype)
    pool = _fn("max_pool", nd)
    with fastconv.tuning(**REDUCE):
        assert fastconv.plan(pool, x, k, s, p, 1, ceil).algorithms == {
            "forward": "max_pool.forward.reduce"}
        out, idx = pool(x, k, s, p, 1, ceil, return_indices=True)
        out_only = pool(x, k, s, p, 1, ceil)
    e_out, e_idx = ref.max_poolnd(x, k, s, p, 1, ceil)
    _same_max(out, e_out, dtype)
    _same_max(out_only, e_out, dtype)
    assert np.array_equal(idx, e_idx)
    # the gradient through the indices
    go = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    got = getattr(fastconv, f"max_pool{nd}d_backward")(go, idx, x.shape)
    assert_close(got, ref.max_poolnd_backward(go, e_idx, x.shape), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(40))
def test_avg_pool_reduce_matches_reference(seed, dtype):
    nd, x, k, s, p, ceil = _problem(seed, dtype)
    x = np.where(np.isfinite(x), x, 0).astype(dtype)
    rng = np.random.default_rng(seed + 1000)
    cip = bool(rng.integers(2))
    div = int(rng.integers(1, 20)) if seed % 3 == 0 else None
    pool, back = _fn("avg_pool", nd), _fn("avg_pool", nd).__name__ + "_backward"
    back = getattr(fastconv, back)
    args = (k, s, p, ceil, cip, div)
    with fastconv.tuning(**REDUCE):
        assert fastconv.plan(pool, x, *args).algorithms == {"forward": "avg_pool.forward.reduce"}
        out = pool(x, *args)
        go = rng.standard_normal(out.shape).astype(dtype)
        assert fastconv.plan(back, go, x.shape, *args).algorithms == {
            "grad_input": "avg_pool.grad_input.reduce"}
        gi = back(go, x.shape, *args)
    assert_close(out, ref.avg_poolnd(x, *args), dtype, scale=ref.avg_poolnd(np.abs(x), *args))
    assert_close(gi, ref.avg_poolnd_backward(go, x.shape, *args), dtype,
                 scale=ref.avg_poolnd_backward(np.abs(go), x.shape, *args))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(0, 40, 3))
def test_reduce_is_bitwise_identical_across_threads(seed, dtype):
    nd, x, k, s, p, ceil = _problem(seed, dtype)
    xa = np.where(np.isfinite(x), x, 0).astype(dtype)
    mp, ap = _fn("max_pool", nd), _fn("avg_pool", nd)
    apb = getattr(fastconv, f"avg_pool{nd}d_backward")
    with fastconv.tuning(**REDUCE):
        go = np.ones(ap(xa, k, s, p, ceil).shape, dtype)

        def run(n):
            return (*mp(x, k, s, p, 1, ceil, True, num_threads=n),
                    ap(xa, k, s, p, ceil, num_threads=n),
                    apb(go, x.shape, k, s, p, ceil, num_threads=n))
        one = run(1)
        for n in (2, 3):
            _assert_bitwise(run(n), one, f"reduce pooling, {n} threads")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 64, 7, 7), (2, 300, 1, 1), (3, 5, 14, 14), (2, 3, 97),
                                   (2, 3, 4, 5, 6), (1, 1, 33, 17)])
def test_global_pooling_takes_reduce_and_matches(shape, dtype):
    """Global pooling (kernel = the whole input) picks the reduce algorithms by default,
    and with a large batch the volumes are grouped into tasks."""
    nd = len(shape) - 2
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[::5] = 0.0
    k = shape[2:]
    mp, ap = _fn("max_pool", nd), _fn("avg_pool", nd)
    apb = getattr(fastconv, f"avg_pool{nd}d_backward")
    assert fastconv.plan(mp, x, k).algorithms["forward"] == "max_pool.forward.reduce"
    assert fastconv.plan(ap, x, k).algorithms["forward"] == "avg_pool.forward.reduce"
    out, idx = mp(x, k, return_indices=True)
    e_out, e_idx = ref.max_poolnd(x, k)
    _same_max(out, e_out, dtype)
    assert np.array_equal(idx, e_idx)
    a = ap(x, k)
    assert_close(a, ref.avg_poolnd(x, k), dtype, scale=ref.avg_poolnd(np.abs(x), k))
    go = rng.standard_normal(a.shape).astype(dtype)
    assert fastconv.plan(apb, go, x.shape, k).algorithms["grad_input"] == \
        "avg_pool.grad_input.reduce"
    assert_close(apb(go, x.shape, k), ref.avg_poolnd_backward(go, x.shape, k), dtype)
    tasks = fastconv.plan(ap, x, k).describe()[0]["tasks"]
    assert 1 <= tasks <= shape[0] * shape[1]


def test_max_reduce_first_zero_and_last_nan():
    """ATen's sequential rule, exactly: the first of equal maxima (its sign, its index),
    the last NaN; with and without indices."""
    x = np.array([[[-0.0, 0.0, -1.0] + [-2.0] * 30]], np.float32)       # one run of 33
    with fastconv.tuning(**REDUCE):
        out, idx = fastconv.max_pool1d(x, 33, return_indices=True)
        assert np.signbit(out[0, 0, 0]) and idx[0, 0, 0] == 0
        assert np.signbit(fastconv.max_pool1d(x, 33)[0, 0, 0])
        y = x.copy()
        y[0, 0, 20] = y[0, 0, 3] = np.nan
        out, idx = fastconv.max_pool1d(y, 33, return_indices=True)
        assert np.isnan(out[0, 0, 0]) and idx[0, 0, 0] == 20
        z = np.full((1, 1, 40), -np.inf, np.float64)
        out, idx = fastconv.max_pool1d(z, 40, return_indices=True)
        assert out[0, 0, 0] == -np.inf and idx[0, 0, 0] == 0


def test_default_routes_keep_the_window_kernels_for_small_windows():
    # the window kernels, in their SIMD row form (test_pool_rows.py)
    x = np.zeros((2, 3, 56, 56), np.float32)
    assert fastconv.plan(fastconv.max_pool2d, x, 2).algorithms["forward"] == \
        "max_pool.forward.rows"
    assert fastconv.plan(fastconv.avg_pool2d, x, 3, 2, 1).algorithms["forward"] == \
        "avg_pool.forward.rows"
    go = np.zeros((2, 3, 28, 28), np.float32)
    assert fastconv.plan(fastconv.avg_pool2d_backward, go, x.shape, 2).algorithms == {
        "grad_input": "avg_pool.grad_input.rows"}
    # a wide window's forward, a large window's gradient
    assert fastconv.plan(fastconv.avg_pool2d, x, 14, 14).algorithms["forward"] == \
        "avg_pool.forward.reduce"
    go = np.zeros((2, 3, 50, 50), np.float32)
    assert fastconv.plan(fastconv.avg_pool2d_backward, go, x.shape, 7, 1).algorithms == {
        "grad_input": "avg_pool.grad_input.reduce"}


def test_forcing_pool_algorithms():
    x = np.ones((1, 2, 9, 9), np.float32)
    w = np.ones((3, 2, 3, 3), np.float32)
    with fastconv.tuning(force={"forward": "reduce"}):
        with pytest.raises(ValueError, match="does not support"):   # dilation 2
            fastconv.max_pool2d(x, 3, dilation=2)
        with pytest.raises(ValueError, match="does not support"):   # below the thresholds
            fastconv.avg_pool2d(x, 2)
        # an op without a 'reduce' algorithm keeps its own choice
        assert fastconv.plan(fastconv.conv2d, x, w).algorithms["forward"] != ""
    with fastconv.tuning(force={"forward": "max_pool.forward.window"}):
        assert fastconv.plan(fastconv.max_pool2d, x, 9).algorithms["forward"] == \
            "max_pool.forward.window"
        assert fastconv.plan(fastconv.avg_pool2d, x, 9).algorithms["forward"] == \
            "avg_pool.forward.reduce"
    with pytest.raises(ValueError, match="no algorithm 'gather'"):
        with fastconv.tuning(force={"forward": "gather"}):
            pass


@pytest.mark.parametrize("dtype", DTYPES)
def test_reduce_matches_window_kernels(dtype):
    """The same problems through both algorithms: max bit for bit, avg within tolerance."""
    rng = np.random.default_rng(3)
    for shape, k, s, p in [((2, 5, 14, 14), 7, 7, 0), ((2, 5, 14, 14), 7, 1, 3),
                           ((1, 3, 6, 9, 11), (3, 4, 5), (2, 3, 1), (1, 2, 2)),
                           ((3, 4, 50), 17, 5, 8)]:
        x = rng.standard_normal(shape).astype(dtype)
        nd = len(shape) - 2
        mp, ap = _fn("max_pool", nd), _fn("avg_pool", nd)
        apb = getattr(fastconv, f"avg_pool{nd}d_backward")
        got = {}
        for name, tuning in (("window", WINDOW), ("reduce", REDUCE)):
            with fastconv.tuning(**tuning):
                a = ap(x, k, s, p, False, False)
                got[name] = (*mp(x, k, s, p, return_indices=True), a,
                             apb(a, x.shape, k, s, p, False, False))
        _assert_bitwise(got["reduce"][:2], got["window"][:2], "max pooling")
        for g, w in zip(got["reduce"][2:], got["window"][2:]):
            assert_close(g, w.astype(np.float64), dtype, scale=np.abs(w).max())
