"""Shared test configuration: hypothesis profiles, tolerances, torch skipping.

Select a hypothesis profile with the environment variable HYPOTHESIS_PROFILE:
``ci`` (default: reproducible, modest example counts), ``dev`` (random, more examples),
``thorough`` (many examples, for a long local run) or ``fuzz`` (the long fuzz run of
tests/test_fuzz.py: random, very many examples, no deadline; see docs/reliability.md).

The fuzz suite counts its cases per function in ``FUZZ_COUNTS``; the session summary prints
them.
"""

import importlib.util
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# make `import reference` / `import strategies` work whatever pytest's import mode
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("ci", max_examples=50, deadline=None, derandomize=True,
                          suppress_health_check=_SUPPRESS, print_blob=True)
settings.register_profile("dev", max_examples=100, deadline=None,
                          suppress_health_check=_SUPPRESS, print_blob=True)
settings.register_profile("thorough", max_examples=2000, deadline=None,
                          suppress_health_check=_SUPPRESS, print_blob=True)
settings.register_profile("fuzz", max_examples=int(os.environ.get("FUZZ_EXAMPLES", 10000)),
                          deadline=None, suppress_health_check=_SUPPRESS, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# fuzz cases run in this session: {function name: {"accepted": n, "rejected": n}}
FUZZ_COUNTS = {}


def count_fuzz_case(function, outcome):
    per = FUZZ_COUNTS.setdefault(function, {"accepted": 0, "rejected": 0})
    per[outcome] += 1


def pytest_terminal_summary(terminalreporter):
    if not FUZZ_COUNTS:
        return
    tr = terminalreporter
    tr.section(f"fuzz cases run (hypothesis profile "
               f"{os.environ.get('HYPOTHESIS_PROFILE', 'ci')})")
    total_a = total_r = 0
    for name in sorted(FUZZ_COUNTS):
        a, r = FUZZ_COUNTS[name]["accepted"], FUZZ_COUNTS[name]["rejected"]
        total_a, total_r = total_a + a, total_r + r
        tr.write_line(f"  {name:22s} {a + r:8d} cases: {a:7d} accepted (checked against the "
                      f"reference), {r:7d} rejected (ValueError/TypeError/MemoryError)")
    tr.write_line(f"  {'total':22s} {total_a + total_r:8d} cases: {total_a:7d} accepted, "
                  f"{total_r:7d} rejected")



def _have_torch():
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


HAVE_TORCH = _have_torch()

# relative accuracy expected of one result element, measured against the sum of the
# magnitudes of the terms that produced it (so cancellation cannot cause false failures)
TOLERANCE = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-12}


def assert_close(actual, expected, dtype, scale=None, tol=None, err_msg=""):
    """Assert `actual` (a fastconv result) matches the float64 `expected` reference.

    Checks shape, then ``|actual - expected| <= tol * (scale + tiny)`` elementwise, where
    ``scale`` is the magnitude of the summed terms (e.g. the reference op evaluated on |x|
    and |w|; defaults to |expected|) and ``tol`` is TOLERANCE[dtype] unless given. NaNs must
    match position for position. Prints the worst elements on failure.
    """
    dtype = np.dtype(dtype)
    actual = np.asarray(actual)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (
        f"{err_msg} shape mismatch: got {actual.shape}, expected {expected.shape}")
    tol = TOLERANCE[dtype] if tol is None else tol
    scale = np.abs(expected) if scale is None else np.abs(np.asarray(scale, np.float64))
    scale = np.broadcast_to(scale, expected.shape)
    a64 = actual.astype(np.float64)
    nan_a, nan_e = np.isnan(a64), np.isnan(expected)
    if not np.array_equal(nan_a, nan_e):
        bad = np.argwhere(nan_a != nan_e)[:5].tolist()
        differ = nan_a != nan_e
        raise AssertionError(f"{err_msg} NaN positions differ, e.g. at {bad}: "
                             f"got {a64[differ][:5]}, expected {expected[differ][:5]}")
    # infinities must match exactly; finite values within tolerance of the scale
    inf = np.isinf(expected) | np.isinf(a64)
    with np.errstate(invalid="ignore"):
        err = np.where(nan_e | inf, 0.0, np.abs(a64 - expected))
    err = np.where(inf & (a64 != expected), np.inf, err)
    allowed = tol * (np.where(np.isfinite(scale), scale, 0.0) + np.finfo(dtype).tiny)
    allowed = allowed + np.finfo(dtype).tiny
    bad = err > allowed
    if bad.any():
        order = np.argsort(-(err / allowed).ravel())[:8]
        lines = [f"  at {tuple(int(v) for v in np.unravel_index(i, expected.shape))}: "
                 f"got {float(a64.flat[i])!r}, expected {float(expected.flat[i])!r}, "
                 f"|diff|={err.flat[i]:.3e}, "
                 f"allowed={allowed.flat[i]:.3e}" for i in order if bad.flat[i]]
        raise AssertionError(
            f"{err_msg} {bad.sum()} of {bad.size} elements differ beyond tol={tol:g} "
            f"(dtype {dtype}); max |diff|={err.max():.3e}; worst:\n" + "\n".join(lines))


def conv_reference(x, w, b, kw, seed):
    """For a forced-algorithm test: the reference forward, a random grad_output, the
    reference backward, and the error scales of both (the ops on |x|, |w|, |go|)."""
    import reference as ref

    want = ref.convnd(x, w, b, **kw)
    scale = ref.convnd(np.abs(x), np.abs(w), None if b is None else np.abs(b), **kw)
    go = np.random.default_rng(seed + 1).standard_normal(want.shape).astype(x.dtype)
    rg = ref.convnd_backward(go, x, w, **kw)
    rs = ref.convnd_backward(np.abs(go), np.abs(x), np.abs(w), **kw)
    return want, scale, go, rg, rs


def check_conv_against_reference(conv, bwd, x, w, b, kw, reference):
    """``conv`` and ``bwd`` (under the caller's tuning) match ``conv_reference``'s
    results in dtype and value, and give the same bits on 1, 2 and 3 threads."""
    want, scale, go, rg, rs = reference
    dtype = x.dtype
    got = conv(x, w, b, **kw)
    assert got.dtype == dtype
    assert_close(got, want, dtype, scale=scale, err_msg="forward")
    grads = bwd(go, x, w, **kw)
    for name, a, e, sc in zip(("grad_input", "grad_weight", "grad_bias"), grads, rg, rs):
        assert a.dtype == dtype
        assert_close(a, e, dtype, scale=sc, err_msg=name)
    for n in (1, 2, 3):
        assert np.array_equal(conv(x, w, b, num_threads=n, **kw), got), n
        for a, e in zip(bwd(go, x, w, num_threads=n, **kw), grads):
            assert np.array_equal(a, e), n


def pytest_configure(config):
    config.addinivalue_line("markers", "torch: test needs PyTorch; skipped when it is missing")


def pytest_runtest_setup(item):
    if item.get_closest_marker("torch") is not None and not HAVE_TORCH:
        pytest.skip("torch is not installed")


@pytest.fixture
def torch():
    """The torch module, or skip the test when torch is not importable."""
    return pytest.importorskip("torch")
