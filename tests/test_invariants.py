"""Invariants of every public op, on success and on error (issue 5).

* Every op takes one output-buffer argument, the keyword-only ``out=None``, and nothing
  else output-like: without it every result is a fresh array (test_out.py checks ``out``:
  a wrong buffer is rejected before anything is written).
* Results of one call are never touched by a later call (no result is a view of a cached
  plan or a per-thread workspace), and writing into a result changes nothing later.
* Results never share memory with inputs, nor with each other (backward's three gradients).
* Inputs are never modified, also when the call fails -- including failures found by the
  kernels themselves (max-pool indices out of range), after the kernel has run.
* A failed call leaves nothing behind: the next valid call gives bitwise the same result as
  before it.

test_layouts.py checks inputs and results for every layout on successful calls, and the fuzz
suite for random arguments; this file adds the cross-call and error-path checks.
"""
import inspect
import os
import sys

import numpy as np
import pytest

import fastconv as fc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_layouts import OPS  # noqa: E402 -- one call of every public op, all arguments named

PUBLIC_OPS = sorted(n for n in fc.__all__ if callable(getattr(fc, n))
                    and n not in ("get_num_threads", "set_num_threads", "openmp_enabled",
                                  "plan", "tuning", "algorithms", "show_config"))
OUTPUT_LIKE = {"out", "output", "outs", "dst", "dest", "result", "buffer", "buf", "workspace",
               "ws", "scratch", "grad_input", "grad_weight", "grad_bias", "into"}


def _as_tuple(r):
    return r if isinstance(r, tuple) else (r,)


def _inputs(op, seed=0, dtype=np.float64):
    make, _ = OPS[op]
    return make(np.random.default_rng(seed), dtype)


def _snapshot(arrays):
    return {k: (v.copy(), v.flags.writeable) for k, v in arrays.items()}


def _assert_untouched(arrays, snap, what):
    for k, (copy, writeable) in snap.items():
        assert arrays[k].flags.writeable == writeable, f"{what}: `{k}` writeable flag changed"
        assert arrays[k].tobytes() == copy.tobytes(), f"{what}: input `{k}` was modified"


@pytest.mark.parametrize("name", PUBLIC_OPS)
def test_out_is_the_only_output_buffer_argument(name):
    params = inspect.signature(getattr(fc, name)).parameters
    if name == "conv_output_size":   # a shape helper: no array result
        assert not set(params) & OUTPUT_LIKE
        return
    others = set(params) & (OUTPUT_LIKE - {"out"})
    assert not others, f"{name} takes an output-like argument {others}"
    assert "out" in params, f"{name} takes no `out`"
    assert params["out"].kind is inspect.Parameter.KEYWORD_ONLY, f"{name}: `out` is positional"
    assert params["out"].default is None, name


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("op", list(OPS))
def test_results_are_independent_across_calls(op, dtype):
    _, call = OPS[op]
    a1, a2 = _inputs(op, 1, dtype), _inputs(op, 2, dtype)
    if "indices" in a2:
        a2["indices"] = a1["indices"][..., ::-1].copy()
    r1 = _as_tuple(call(**a1))
    kept = [r.copy() for r in r1]
    r2 = _as_tuple(call(**a2))
    for i, (r, k) in enumerate(zip(r1, kept)):
        assert np.array_equal(r, k, equal_nan=True), f"{op}: a later call changed result {i}"
    for i, r in enumerate(r1):
        for j, s in enumerate(r2):
            assert not np.shares_memory(r, s), f"{op}: results {i} and {j} of two calls overlap"
    # scribbling over the results changes neither the inputs nor the next call's results
    snap = _snapshot(a2)
    for r in r1 + r2:
        r[...] = 7
    _assert_untouched(a2, snap, op)
    again = _as_tuple(call(**a2))
    want = _as_tuple(call(**_inputs(op, 2, dtype) | ({"indices": a2["indices"]}
                                                      if "indices" in a2 else {})))
    for i, (g, w) in enumerate(zip(again, want)):
        assert np.array_equal(g, w, equal_nan=True), f"{op}: result {i} changed after scribbling"


def _failing_calls(op, a):
    """(label, kwargs) of calls of `op` that must fail."""
    first = next(iter(a))
    x = a[first]
    out = [
        ("bad num_threads (checked last)", dict(a, num_threads=0)),
        ("empty last axis", {**a, first: x[..., :0]}),
        ("complex dtype", {**a, first: x.astype(np.complex128)}),
        ("wrong rank", {**a, first: x[None]}),
    ]
    if "indices" in a:
        for value in (-1, 10**6, 2**62, -2**63):
            bad = a["indices"].copy()
            bad.reshape(-1)[bad.size // 2] = value
            out.append((f"index {value}", dict(a, indices=bad)))
        out.append(("float indices", dict(a, indices=a["indices"].astype(float))))
    if "weight" in a:
        out.append(("weight with one channel less", dict(a, weight=a["weight"][:, :-1])))
    return out


@pytest.mark.parametrize("op", list(OPS))
def test_errors_leave_inputs_untouched_and_nothing_behind(op):
    _, call = OPS[op]
    a = _inputs(op)
    for arr in a.values():  # read-only: a write attempt through NumPy would raise too
        arr.flags.writeable = False
    before = _as_tuple(call(**a))
    snap = _snapshot(a)
    for label, kwargs in _failing_calls(op, a):
        with pytest.raises((ValueError, TypeError, MemoryError)):
            call(**kwargs)
        _assert_untouched(a, snap, f"{op} after a failed call ({label})")
        after = _as_tuple(call(**a))
        for i, (b, c) in enumerate(zip(before, after)):
            assert b.dtype == c.dtype and np.array_equal(
                b.view(np.uint8), c.view(np.uint8)), (
                f"{op}: result {i} differs after a failed call ({label})")


def test_max_pool_backward_out_of_range_indices_never_write_outside():
    """An index far outside the plane must not be written through: the kernel skips and
    counts it, the wrapper raises.  Neighbouring memory (the rest of a larger buffer that
    the gradient planes sit in) is checked by the sanitizer run; here, every index value
    around the plane's edges and int64's range raises, for every position."""
    go = np.ones((2, 3, 2, 2))
    base = np.zeros((2, 3, 2, 2), np.int64)
    for value in (-2**63, -2**31 - 1, -2**31, -17, -1, 16, 17, 2**31 - 1, 2**31, 2**62,
                  2**63 - 1):
        for pos in range(base.size):
            idx = base.copy()
            idx.reshape(-1)[pos] = value
            with pytest.raises(ValueError, match="indices"):
                fc.max_pool2d_backward(go, idx, (2, 3, 4, 4))
            with pytest.raises(ValueError, match="indices"):  # the same 24 entries in 1-D
                fc.max_pool1d_backward(go.reshape(2, 3, 4), idx.reshape(2, 3, 4), (2, 3, 16))
    for dtype in (np.uint64, np.uint32, np.int32, np.int16):
        idx = np.full((2, 3, 2, 2), np.iinfo(dtype).max, dtype)
        with pytest.raises(ValueError, match="indices"):
            fc.max_pool2d_backward(go, idx, (2, 3, 4, 4))
    for dtype in (np.float64, np.float32, np.bool_, np.complex64, object):
        with pytest.raises(TypeError, match="indices"):
            fc.max_pool2d_backward(go, base.astype(dtype), (2, 3, 4, 4))
    for shape in ((2, 3, 2), (2, 3, 2, 1), (1, 3, 2, 2), (2, 3, 2, 2, 1)):
        with pytest.raises(ValueError, match="indices|grad_output"):
            fc.max_pool2d_backward(go, np.zeros(shape, np.int64), (2, 3, 4, 4))


def test_col2im_output_size_not_matching_the_columns_raises():
    cols = np.ones((1, 4 * 9, 16))  # C=4, 3x3 kernel, 4x4 windows: output_size (6, 6)
    assert fc.col2im(cols, (6, 6), 3).shape == (1, 4, 6, 6)
    for size in [(6, 7), (7, 6), (5, 5), (1, 1), (3, 3), (2**20, 2**20), 7, (6, 6 + 2**31)]:
        with pytest.raises(ValueError, match="cols|kernel_size|output_size"):
            fc.col2im(cols, size, 3)
    with pytest.raises(ValueError, match="cols"):
        fc.col2im(np.ones((1, 4 * 9 + 1, 16)), (6, 6), 3)


EMPTY_CALLS = {  # every op with an empty result (N = 0): no kernel runs
    "conv1d": lambda nt: fc.conv1d(np.zeros((0, 1, 3)), np.ones((1, 1, 1)), num_threads=nt),
    "conv2d": lambda nt: fc.conv2d(np.zeros((0, 1, 3, 3)), np.ones((1, 1, 1, 1)),
                                   num_threads=nt),
    "conv1d_backward": lambda nt: fc.conv1d_backward(np.zeros((0, 1, 3)), np.zeros((0, 1, 3)),
                                                     np.ones((1, 1, 1)), num_threads=nt),
    "conv2d_backward": lambda nt: fc.conv2d_backward(
        np.zeros((0, 1, 3, 3)), np.zeros((0, 1, 3, 3)), np.ones((1, 1, 1, 1)), num_threads=nt),
    "conv_transpose1d": lambda nt: fc.conv_transpose1d(np.zeros((0, 1, 2)), np.ones((1, 1, 1)),
                                                       num_threads=nt),
    "conv_transpose2d": lambda nt: fc.conv_transpose2d(np.zeros((0, 1, 2, 2)),
                                                       np.ones((1, 1, 1, 1)), num_threads=nt),
    "im2col": lambda nt: fc.im2col(np.zeros((0, 1, 3, 3)), 1, num_threads=nt),
    "col2im": lambda nt: fc.col2im(np.zeros((0, 1, 9)), 3, 1, num_threads=nt),
    "max_pool1d": lambda nt: fc.max_pool1d(np.zeros((0, 1, 4)), 2, num_threads=nt),
    "max_pool2d": lambda nt: fc.max_pool2d(np.zeros((0, 1, 4, 4)), 2, num_threads=nt),
    "avg_pool1d": lambda nt: fc.avg_pool1d(np.zeros((0, 1, 4)), 2, num_threads=nt),
    "avg_pool2d": lambda nt: fc.avg_pool2d(np.zeros((0, 1, 4, 4)), 2, num_threads=nt),
    "max_pool1d_backward": lambda nt: fc.max_pool1d_backward(
        np.zeros((0, 1, 2)), np.zeros((0, 1, 2), np.int64), (0, 1, 4), num_threads=nt),
    "max_pool2d_backward": lambda nt: fc.max_pool2d_backward(
        np.zeros((0, 1, 2, 2)), np.zeros((0, 1, 2, 2), np.int64), (0, 1, 4, 4), num_threads=nt),
    "avg_pool1d_backward": lambda nt: fc.avg_pool1d_backward(np.zeros((0, 1, 2)), (0, 1, 4), 2,
                                                             num_threads=nt),
    "avg_pool2d_backward": lambda nt: fc.avg_pool2d_backward(np.zeros((0, 1, 2, 2)),
                                                             (0, 1, 4, 4), 2, num_threads=nt),
    "conv3d": lambda nt: fc.conv3d(np.zeros((0, 1, 3, 3, 3)), np.ones((1, 1, 1, 1, 1)),
                                   num_threads=nt),
    "conv3d_backward": lambda nt: fc.conv3d_backward(
        np.zeros((0, 1, 3, 3, 3)), np.zeros((0, 1, 3, 3, 3)), np.ones((1, 1, 1, 1, 1)),
        num_threads=nt),
    "conv_transpose3d": lambda nt: fc.conv_transpose3d(np.zeros((0, 1, 2, 2, 2)),
                                                       np.ones((1, 1, 1, 1, 1)), num_threads=nt),
    "max_pool3d": lambda nt: fc.max_pool3d(np.zeros((0, 1, 4, 4, 4)), 2, num_threads=nt),
    "avg_pool3d": lambda nt: fc.avg_pool3d(np.zeros((0, 1, 4, 4, 4)), 2, num_threads=nt),
    "max_pool3d_backward": lambda nt: fc.max_pool3d_backward(
        np.zeros((0, 1, 2, 2, 2)), np.zeros((0, 1, 2, 2, 2), np.int64), (0, 1, 4, 4, 4),
        num_threads=nt),
    "avg_pool3d_backward": lambda nt: fc.avg_pool3d_backward(
        np.zeros((0, 1, 2, 2, 2)), (0, 1, 4, 4, 4), 2, num_threads=nt),
    **{f"adaptive_{k}_pool{nd}d": (lambda nt, k=k, nd=nd: getattr(fc, f"adaptive_{k}_pool{nd}d")(
        np.zeros((0, 1) + (5,) * nd), 2, num_threads=nt)) for k in ("avg", "max")
       for nd in (1, 2, 3)},
    **{f"adaptive_avg_pool{nd}d_backward": (
        lambda nt, nd=nd: fc.__dict__[f"adaptive_avg_pool{nd}d_backward"](
            np.zeros((0, 1) + (2,) * nd), (0, 1) + (5,) * nd, num_threads=nt))
       for nd in (1, 2, 3)},
    **{f"conv_transpose{nd}d_backward": (
        lambda nt, nd=nd: fc.__dict__[f"conv_transpose{nd}d_backward"](
            np.zeros((0, 1) + (3,) * nd), np.zeros((0, 1) + (2,) * nd), np.ones((1, 1) + (2,) * nd),
            num_threads=nt))
       for nd in (1, 2, 3)},
    **{f"adaptive_max_pool{nd}d_backward": (
        lambda nt, nd=nd: fc.__dict__[f"adaptive_max_pool{nd}d_backward"](
            np.zeros((0, 1) + (2,) * nd), np.zeros((0, 1) + (2,) * nd, np.int64),
            (0, 1) + (5,) * nd, num_threads=nt))
       for nd in (1, 2, 3)},
}


@pytest.mark.parametrize("op", sorted(EMPTY_CALLS))
def test_num_threads_is_checked_even_when_the_result_is_empty(op):
    """Regression (found by the fuzz suite): the ops with nothing to compute returned before
    looking at num_threads, so num_threads=0 was accepted or rejected depending on N."""
    assert set(EMPTY_CALLS) == {n for n in PUBLIC_OPS if n != "conv_output_size"}
    assert _as_tuple(EMPTY_CALLS[op](2))[0].shape[0] == 0
    for bad, exc in [(0, ValueError), (-1, ValueError), (5000, ValueError), (1.5, TypeError),
                     ("2", TypeError), (True, TypeError)]:
        with pytest.raises(exc, match="num_threads"):
            EMPTY_CALLS[op](bad)
