"""No leaks: thousands of calls of every op, successful (also into ``out=`` buffers) and
failing (a wrong ``out=`` among the failures), leave the process's resident memory, its
number of live Python objects and the inputs' (and buffers') reference counts flat.

Three measures, each after a warm-up (plan caches, per-thread workspaces, allocator arenas)
and ``gc.collect()``:

* memory traced by ``tracemalloc`` -- every Python object and every NumPy data buffer, so a
  leaked result or temporary of any size shows;
* the resident set size (/proc/self/statm), for what tracemalloc cannot see: the kernels'
  own ``malloc`` (max pooling's per-thread row, sized by the output width: the "wide" case
  makes a leak of it 20 MB over the run);
* ``sys.getrefcount`` of every input and the number of objects the garbage collector tracks,
  for leaked references (a buffer or memoryview never released, an exception kept alive).

``python tests/test_leaks.py`` prints the measured deltas for every op.
"""
import gc
import os
import sys
import tracemalloc

import numpy as np
import pytest

import fastconv as fc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_layouts import OPS  # noqa: E402 -- one call of every public op, all arguments named

CALLS = 1000
WARMUP = 100
RSS_SLACK = 2 * 2**20  # bytes
TRACED_SLACK = 32 * 2**10  # bytes (caches and free lists wobble by ~8 KB)
TRACED_CALLS = 300  # a leaked ndarray is >= 112 bytes: 300 of them exceed the slack
OBJECTS_SLACK = 50  # gc-tracked objects

CASES = dict(OPS)
CASES["max_pool2d-wide"] = (  # a 5000-wide output row: 20 KB of scratch per call and thread
    lambda rng, dt: dict(x=rng.standard_normal((1, 2, 1, 10000)).astype(dt)),
    lambda **a: fc.max_pool2d(**a, kernel_size=(1, 2), return_indices=True, num_threads=2))


def _under_asan():
    try:
        with open("/proc/self/maps") as f:
            return "libasan" in f.read()
    except OSError:
        return False


def _rss():
    if not os.path.exists("/proc/self/statm"):
        pytest.skip("needs /proc/self/statm (Linux)")
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _inputs(op):
    make, _ = CASES[op]
    return make(np.random.default_rng(1), np.float64)


def _error_calls(op, a):
    """Failing calls of `op` on the inputs `a`: each must raise one of the allowed errors,
    from argument checks, shape checks, the kernels' own reports (out-of-range indices) and
    allocation (MemoryError)."""
    _, call = CASES[op]
    x = next(iter(a.values()))
    calls = [
        lambda: call(**a, num_threads=0),                      # argument check, last
        lambda: call(**{**a, next(iter(a)): x[..., :0]}),      # shape check
        lambda: call(**{**a, next(iter(a)): x.astype(complex)}),  # dtype check
    ]
    calls.append(lambda: call(**a, out=np.zeros(3)))         # a wrong out= buffer
    if "indices" in a:  # the kernel runs, finds the bad index, the wrapper raises
        bad = a["indices"].copy()
        bad.reshape(-1)[-1] = 10**6
        calls.append(lambda: call(**{**a, "indices": bad}))
    if op.startswith("conv") and "backward" not in op:  # a result too large to allocate
        n = 2**62 // (8 * int(np.prod(x.shape[1:])))  # as many samples as NumPy allows
        big = np.broadcast_to(x.reshape(-1)[:1], (n,) + x.shape[1:])
        calls.append(lambda: call(**{**a, "x": big}))
    return calls


def _tuple(r):
    return r if isinstance(r, tuple) else (r,)


def _buffers(result):
    if isinstance(result, tuple):
        return tuple(None if r is None else np.empty_like(r) for r in result)
    return np.empty_like(result)


def _measure(op, error_path):
    a = _inputs(op)
    _, call = CASES[op]
    if error_path == "out":   # successful calls into the same buffers
        out = _buffers(call(**a))
        inputs = dict(a)

        def once(i):
            call(**inputs, out=out)
        # the buffers' reference counts are watched with the inputs'
        a = dict(a, **{f"out[{i}]": b for i, b in enumerate(_tuple(out)) if b is not None})
    elif error_path:
        calls = _error_calls(op, a)

        def once(i):
            try:
                calls[i % len(calls)]()
            except (ValueError, TypeError, MemoryError):
                return
            raise AssertionError(f"{op}: error call {i % len(calls)} did not raise")
    else:
        def once(i):
            call(**a)

    for i in range(WARMUP):
        once(i)
    gc.collect()
    # everything alive now goes to the permanent generation: the collections and object
    # counts below only walk what the measured calls create (fast in a big test process)
    gc.freeze()
    try:
        refs = {k: sys.getrefcount(v) for k, v in a.items()}
        objects = len(gc.get_objects())
        rss = _rss()
        for i in range(CALLS):
            once(i)
        gc.collect()
        rss = _rss() - rss
        objects = len(gc.get_objects()) - objects
        # the same again under tracemalloc (slower, so on fewer calls)
        tracemalloc.start()
        try:
            for i in range(WARMUP // 4):
                once(i)
            gc.collect()
            traced = tracemalloc.get_traced_memory()[0]
            for i in range(TRACED_CALLS):
                once(i)
            gc.collect()
            traced = tracemalloc.get_traced_memory()[0] - traced
        finally:
            tracemalloc.stop()
    finally:
        gc.unfreeze()
    return dict(rss=rss, traced=traced, objects=objects,
                refs={k: sys.getrefcount(v) - refs[k] for k, v in a.items()})


@pytest.mark.parametrize("error_path", [False, True, "out"], ids=["ok", "errors", "out"])
@pytest.mark.parametrize("op", list(CASES))
def test_repeated_calls_leave_memory_and_refcounts_flat(op, error_path):
    d = _measure(op, error_path)
    assert all(v == 0 for v in d["refs"].values()), (
        f"{op}: input reference counts changed by {d['refs']} over {CALLS} calls")
    assert d["objects"] <= OBJECTS_SLACK, (
        f"{op}: {d['objects']} more live Python objects after {CALLS} calls")
    assert d["traced"] <= TRACED_SLACK, (
        f"{op}: {d['traced']} more bytes of Python/NumPy memory after {TRACED_CALLS} calls")
    if _under_asan():
        return  # ASan's allocator keeps freed memory in quarantine: RSS tells nothing there
    assert d["rss"] <= RSS_SLACK, (
        f"{op}: resident memory grew by {d['rss'] / 2**20:.1f} MB over {CALLS} calls")


def test_every_public_op_is_measured():
    ops = {n for n in fc.__all__ if callable(getattr(fc, n))} - {
        "conv_output_size", "get_num_threads", "set_num_threads", "openmp_enabled",
        "plan", "tuning", "algorithms", "show_config"}
    assert ops <= {name.split("-")[0] for name in OPS}, ops


if __name__ == "__main__":
    worst = {"rss": 0, "traced": 0, "objects": 0}
    for name in CASES:
        for err in (False, True):
            d = _measure(name, err)
            worst = {k: max(worst[k], d[k]) for k in worst}
            print(f"{name:22s} {'errors' if err else 'ok':6s} rss {d['rss'] / 1024:+8.0f} KB  "
                  f"traced {d['traced']:+7d} B  objects {d['objects']:+4d}  refs {d['refs']}")
    print(f"worst: rss {worst['rss'] / 1024:+.0f} KB, traced {worst['traced']:+d} B, "
          f"objects {worst['objects']:+d}")
