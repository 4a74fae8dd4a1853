"""Thread-count determinism and the thread-control API (docs/api.md, "Helpers").

Every output element is summed in a fixed order whatever the thread count, so results must
be *bitwise* identical (compared as raw bits, so -0.0 vs 0.0 or NaN payloads count) for 1, 2,
3 or more threads, whether the count comes from the `num_threads=` keyword or from
`fastconv.set_num_threads`. Shapes are moderate with odd sizes so work splits unevenly.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastconv as fc

THREADS = [1, 2, 3]


@pytest.fixture(autouse=True)
def _default_threads_after_each_test():
    yield
    fc.set_num_threads(None)


def _bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.dtype(f"u{a.dtype.itemsize}")) if a.dtype.kind == "f" else a


def _assert_bitwise(got, ref, what):
    got = got if isinstance(got, tuple) else (got,)
    ref = ref if isinstance(ref, tuple) else (ref,)
    assert len(got) == len(ref), what
    for i, (g, r) in enumerate(zip(got, ref)):
        assert g.dtype == r.dtype and g.shape == r.shape, f"{what} result {i}"
        if not np.array_equal(_bits(g), _bits(r)):
            diff = np.argwhere(_bits(g) != _bits(r))
            raise AssertionError(
                f"{what} result {i}: {len(diff)} of {g.size} elements differ bitwise, e.g. at "
                f"{diff[0].tolist()}: {g[tuple(diff[0])]!r} vs {r[tuple(diff[0])]!r}")


RNG = np.random.default_rng(2024)
N, C, H, W = 4, 8, 17, 19
X = {dt: RNG.standard_normal((N, C, H, W)).astype(dt) for dt in (np.float64, np.float32)}
WC = {dt: RNG.standard_normal((12, C // 2, 3, 3)).astype(dt) for dt in X}  # groups=2
BC = {dt: RNG.standard_normal(12).astype(dt) for dt in X}
GC = {dt: RNG.standard_normal((N, 12, 9, 10)).astype(dt) for dt in X}  # conv2d(stride=2, pad=1)
WT = {dt: RNG.standard_normal((C, 3, 3, 3)).astype(dt) for dt in X}  # conv_transpose2d, groups=2
X1 = {dt: RNG.standard_normal((N, C, 37)).astype(dt) for dt in X}
W1 = {dt: RNG.standard_normal((6, C, 3)).astype(dt) for dt in X}
COLS = {dt: RNG.standard_normal((N, C * 9, 15 * 17)).astype(dt) for dt in X}
GP = {dt: RNG.standard_normal((N, C, 9, 10)).astype(dt) for dt in X}  # pool k3 s2 p1 output
IDX = RNG.integers(0, H * W, (N, C, 9, 10))  # with many collisions

# ops that take the num_threads keyword: fn(dtype, num_threads)
KEYWORD_OPS = {
    "conv2d": lambda dt, nt: fc.conv2d(X[dt], WC[dt], BC[dt], padding=1, groups=2,
                                       num_threads=nt),
    "conv2d-strided-dilated": lambda dt, nt: fc.conv2d(
        X[dt], WC[dt], BC[dt], stride=(2, 1), padding=2, dilation=2, groups=2, num_threads=nt),
    "conv2d_backward": lambda dt, nt: fc.conv2d_backward(
        GC[dt], X[dt], WC[dt], stride=2, padding=1, groups=2, num_threads=nt),
    "conv2d_backward-flip": lambda dt, nt: fc.conv2d_backward(
        GC[dt], X[dt], WC[dt], stride=2, padding=1, groups=2, flip=True, num_threads=nt),
    "conv_transpose2d": lambda dt, nt: fc.conv_transpose2d(
        X[dt], WT[dt], stride=2, padding=1, output_padding=1, groups=2, num_threads=nt),
    "conv1d": lambda dt, nt: fc.conv1d(X1[dt], W1[dt], stride=2, padding=1, num_threads=nt),
    "conv1d_backward": lambda dt, nt: fc.conv1d_backward(
        fc.conv1d(X1[dt], W1[dt], padding=1), X1[dt], W1[dt], padding=1, num_threads=nt),
    "conv_transpose1d": lambda dt, nt: fc.conv_transpose1d(
        X1[dt], np.ascontiguousarray(W1[dt].transpose(1, 0, 2)), stride=3, num_threads=nt),
}

# ops without the keyword follow set_num_threads: fn(dtype)
GLOBAL_OPS = {
    "im2col": lambda dt: fc.im2col(X[dt], 3, padding=1, stride=(1, 1)),
    "im2col-strided": lambda dt: fc.im2col(X[dt], (3, 2), dilation=2, padding=1, stride=2),
    "col2im": lambda dt: fc.col2im(COLS[dt], (H, W), 3),
    "max_pool2d": lambda dt: fc.max_pool2d(X[dt], 3, stride=2, padding=1, return_indices=True),
    "max_pool2d-ceil": lambda dt: fc.max_pool2d(X[dt], 3, stride=2, ceil_mode=True,
                                                return_indices=True),
    "max_pool2d_backward": lambda dt: fc.max_pool2d_backward(GP[dt], IDX, (N, C, H, W)),
    "avg_pool2d": lambda dt: fc.avg_pool2d(X[dt], 3, stride=2, padding=1),
    "avg_pool2d-no-pad-count": lambda dt: fc.avg_pool2d(X[dt], 3, stride=2, padding=1,
                                                        count_include_pad=False),
    "avg_pool2d_backward": lambda dt: fc.avg_pool2d_backward(GP[dt], (N, C, H, W), 3,
                                                             stride=2, padding=1),
    "max_pool1d": lambda dt: fc.max_pool1d(X1[dt], 3, stride=2, return_indices=True),
    "avg_pool1d": lambda dt: fc.avg_pool1d(X1[dt], 3, stride=2, padding=1),
}
# the keyword ops also follow the global setting when num_threads is left at None
ALL_GLOBAL = {**GLOBAL_OPS,
              **{k: (lambda dt, f=f: f(dt, None)) for k, f in KEYWORD_OPS.items()}}

DTYPES = [np.float64, np.float32]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", list(KEYWORD_OPS))
def test_num_threads_keyword_is_bitwise_deterministic(op, dtype):
    ref = KEYWORD_OPS[op](dtype, 1)
    for nt in THREADS[1:]:
        _assert_bitwise(KEYWORD_OPS[op](dtype, nt), ref, f"{op} num_threads={nt} vs 1")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", list(ALL_GLOBAL))
def test_set_num_threads_is_bitwise_deterministic(op, dtype):
    results = {}
    for nt in THREADS:
        fc.set_num_threads(nt)
        assert fc.get_num_threads() == nt
        results[nt] = ALL_GLOBAL[op](dtype)
    fc.set_num_threads(None)
    results["default"] = ALL_GLOBAL[op](dtype)
    for nt, r in results.items():
        _assert_bitwise(r, results[1], f"{op} with set_num_threads({nt}) vs 1")


@pytest.mark.parametrize("op", ["conv2d_backward", "conv_transpose2d", "conv2d"])
def test_keyword_overrides_global_setting(op):
    fc.set_num_threads(3)
    ref = KEYWORD_OPS[op](np.float64, 1)
    fc.set_num_threads(1)
    _assert_bitwise(KEYWORD_OPS[op](np.float64, 2), ref, f"{op} num_threads=2 under global 1")
    assert fc.get_num_threads() == 1, "a num_threads= keyword must not change the global setting"


@pytest.mark.parametrize("op", ["col2im", "max_pool2d_backward", "avg_pool2d_backward"])
def test_repeated_calls_with_many_threads_agree(op):
    """Scatter-add ops: a race between threads shows up as run-to-run differences."""
    fc.set_num_threads(3)
    ref = GLOBAL_OPS[op](np.float64)
    for _ in range(5):
        _assert_bitwise(GLOBAL_OPS[op](np.float64), ref, f"{op} repeated with 3 threads")


def test_repeated_conv_backward_with_many_threads_agree():
    ref = KEYWORD_OPS["conv2d_backward"](np.float64, 3)
    for _ in range(5):
        _assert_bitwise(KEYWORD_OPS["conv2d_backward"](np.float64, 3), ref,
                        "conv2d_backward repeated with 3 threads")


def test_more_threads_than_work():
    """N*C = 2 planes, 1 output row: most of 8 threads get nothing to do."""
    x = RNG.standard_normal((1, 2, 3, 40))
    w = RNG.standard_normal((3, 2, 3, 3))
    g = RNG.standard_normal((1, 3, 1, 38))
    for nt in (1, 8):
        fc.set_num_threads(nt)
        res = (fc.conv2d(x, w, num_threads=nt), fc.conv2d_backward(g, x, w, num_threads=nt),
               fc.max_pool2d(x, 3, return_indices=True), fc.avg_pool2d(x, 3),
               fc.col2im(fc.im2col(x, 3), (3, 40), 3))
        if nt == 1:
            ref = res
        else:
            for i, (a, b) in enumerate(zip(res, ref)):
                _assert_bitwise(a, b, f"item {i} with 8 threads")


def test_get_and_set_num_threads_roundtrip():
    fc.set_num_threads(None)
    default = fc.get_num_threads()
    assert type(default) is int and default >= 1, default
    for nt in (1, 2, 3, 7):
        fc.set_num_threads(nt)
        assert fc.get_num_threads() == nt
    fc.set_num_threads(np.int64(2))
    assert fc.get_num_threads() == 2 and type(fc.get_num_threads()) is int
    fc.set_num_threads(None)
    assert fc.get_num_threads() == default, "set_num_threads(None) must restore the default"


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-1, ValueError), (-4, ValueError),
                                      ("a", TypeError), ("2", TypeError), (1.5, TypeError),
                                      (2.0, TypeError), ([2], TypeError)])
def test_invalid_thread_counts_are_rejected(bad, exc):
    fc.set_num_threads(2)
    with pytest.raises(exc, match=r"num_threads|\bn\b"):
        fc.set_num_threads(bad)
    assert fc.get_num_threads() == 2, "a rejected set_num_threads call changed the setting"
    x, w = X[np.float64][:1, :2], WC[np.float64][:2, :1]
    with pytest.raises(exc, match="num_threads"):
        fc.conv2d(x, w, groups=2, num_threads=bad)
    with pytest.raises(exc, match="num_threads"):
        fc.conv2d_backward(fc.conv2d(x, w, groups=2), x, w, groups=2, num_threads=bad)
    with pytest.raises(exc, match="num_threads"):
        fc.conv_transpose2d(x, w, num_threads=bad)


def test_openmp_enabled_is_a_bool_and_on_where_ci_expects_it():
    enabled = fc.openmp_enabled()
    assert type(enabled) is bool, type(enabled)
    if os.environ.get("FASTCONV_EXPECT_OPENMP") == "1":
        assert enabled, "FASTCONV_EXPECT_OPENMP=1 but fastconv was built without OpenMP"


def _child_threads(env_extra, code="import fastconv; print(fastconv.get_num_threads())"):
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(env_extra)
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
    # (cwd: not the repository root, whose unbuilt source tree `python -c` would import)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60, cwd=os.path.dirname(os.path.abspath(__file__)))
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.skipif(not fc.openmp_enabled(), reason="built without OpenMP")
def test_default_honours_omp_num_threads():
    assert _child_threads({"OMP_NUM_THREADS": "3"}) == ["3"]
    assert _child_threads({"OMP_NUM_THREADS": "1"}) == ["1"]


@pytest.mark.skipif(not fc.openmp_enabled(), reason="built without OpenMP")
def test_default_honours_threadpoolctl():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    fc.set_num_threads(None)
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert fc.get_num_threads() == 1
        fc.set_num_threads(2)  # an explicit setting wins over the limit
        assert fc.get_num_threads() == 2
        fc.set_num_threads(None)
        assert fc.get_num_threads() == 1


def test_without_openmp_threads_still_work():
    """Whatever the build, asking for threads is accepted and results do not change."""
    x, w = X[np.float64][:2], WC[np.float64]
    ref = fc.conv2d(x, w, groups=2, num_threads=1)
    _assert_bitwise(fc.conv2d(x, w, groups=2, num_threads=4), ref, "conv2d num_threads=4")


def test_concurrent_calls_from_python_threads_agree():
    """Kernels run without the GIL: calls from several Python threads must not share state."""
    import concurrent.futures as cf
    dt = np.float64
    jobs = [lambda: KEYWORD_OPS["conv2d"](dt, 2), lambda: KEYWORD_OPS["conv2d_backward"](dt, 3),
            lambda: KEYWORD_OPS["conv_transpose2d"](dt, 1), lambda: GLOBAL_OPS["col2im"](dt),
            lambda: GLOBAL_OPS["max_pool2d_backward"](dt), lambda: GLOBAL_OPS["im2col"](dt)]
    ref = [job() for job in jobs]
    with cf.ThreadPoolExecutor(4) as ex:
        futures = [(i, ex.submit(jobs[i])) for _ in range(4) for i in range(len(jobs))]
        for i, fut in futures:
            _assert_bitwise(fut.result(), ref[i], f"job {i} run concurrently")


_FORK_SCRIPT = r"""
import multiprocessing as mp, sys
import numpy as np, fastconv as fc
rng = np.random.default_rng(0)
x, w = rng.standard_normal((4, 8, 40, 40)), rng.standard_normal((8, 8, 3, 3))
ref, ref_pool = fc.conv2d(x, w), fc.max_pool2d(x, 3)  # the parent uses its default threads
def child(q):
    q.put(bool(np.array_equal(fc.conv2d(x, w), ref)
               and np.array_equal(fc.max_pool2d(x, 3), ref_pool)))
ctx = mp.get_context("fork")
q = ctx.Queue()
p = ctx.Process(target=child, args=(q,))
p.start()
p.join(10)
if p.is_alive():
    p.kill()
    print("HUNG")
else:
    print("OK" if p.exitcode == 0 and q.get(timeout=5) else f"FAILED exit={p.exitcode}")
"""


@pytest.mark.skipif(not fc.openmp_enabled(), reason="built without OpenMP")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_forked_child_does_not_deadlock():
    """multiprocessing's default start method on Linux (Python < 3.14) is fork.

    GNU libgomp is not fork-safe: once the parent has run a parallel region with a team of
    more than one thread, a forked child that enters a parallel region with more than one
    thread waits forever for threads that do not exist. Everything here uses the default
    thread count, as a user would; fastconv must not hang (PyTorch, for instance, drops to
    one thread in the child after a fork).
    """
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["OMP_NUM_THREADS"] = "2"  # a team of two even on a one-CPU machine
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", _FORK_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=90, cwd=os.path.dirname(os.path.abspath(__file__)))
    assert out.stdout.strip() == "OK", (
        f"fastconv in a fork()ed child after use in the parent: {out.stdout.strip()}\n"
        f"{out.stderr[-2000:]}")


# --- races: every kernel's private state must really be private -------------------------
# (a regression test: the average-pooling kernels once computed window bounds through
# pointers, which Cython's prange left shared between threads)

_RACE_CASES = [
    ("avg_pool2d", lambda x, n: fc.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False,
                                              num_threads=n)),
    ("avg_pool2d_backward", lambda x, n: fc.avg_pool2d_backward(
        np.ones((8, 16, 33, 32)), x.shape, 3, 2, 1, ceil_mode=True, count_include_pad=False,
        num_threads=n)),
    ("max_pool2d", lambda x, n: fc.max_pool2d(x, 3, 2, 1, dilation=2, ceil_mode=True,
                                              return_indices=True, num_threads=n)),
    ("conv2d", lambda x, n: fc.conv2d(x, np.ones((4, 16, 3, 3)), stride=2, padding=1,
                                      dilation=2, num_threads=n)),
    ("conv2d_backward", lambda x, n: fc.conv2d_backward(
        np.ones((8, 4, 32, 31)), x, np.ones((4, 16, 3, 3)), stride=2, padding=1, dilation=2,
        num_threads=n)),
    ("im2col", lambda x, n: fc.im2col(x, 3, dilation=2, padding=1, stride=2, num_threads=n)),
]


@pytest.mark.parametrize("name,op", _RACE_CASES, ids=[c[0] for c in _RACE_CASES])
def test_no_races_between_threads(name, op):
    # large enough that both threads are busy at the same time
    x = np.random.default_rng(3).standard_normal((8, 16, 65, 63))
    want = op(x, 1)
    for _ in range(10):
        got = op(x, 2)
        for a, b in zip(want if isinstance(want, tuple) else (want,),
                        got if isinstance(got, tuple) else (got,)):
            assert np.array_equal(a, b), name


# --- every op, explicit thread counts ---------------------------------------------------
# GLOBAL_OPS above follow set_num_threads, under which problems smaller than SERIAL_WORK
# still run on one thread; the num_threads= keyword is used as given, so this table makes
# every public op really run its parallel loops with 1, 2 and 3 threads.

RNG1 = np.random.default_rng(7)
XP1 = {dt: RNG1.standard_normal((N, C, 61)).astype(dt) for dt in X}
GP1 = {dt: RNG1.standard_normal((N, C, 31)).astype(dt) for dt in X}  # pool k3 s2 p1 on 61
IDX1 = RNG1.integers(0, 61, (N, C, 31))

RNG3 = np.random.default_rng(8)
X3 = {dt: RNG3.standard_normal((2, 8, 9, 10, 11)).astype(dt) for dt in X}
W3 = {dt: RNG3.standard_normal((16, 8, 3, 3, 3)).astype(dt) for dt in X}
G3 = {dt: RNG3.standard_normal((2, 16, 9, 10, 11)).astype(dt) for dt in X}
GP3 = {dt: RNG3.standard_normal((2, 8, 5, 5, 6)).astype(dt) for dt in X}   # k3 s2 p1 output
IDX3 = RNG3.integers(0, 9 * 10 * 11, (2, 8, 5, 5, 6))

EVERY_OP = {
    "conv1d": lambda dt, nt: fc.conv1d(X1[dt], W1[dt], stride=2, padding=1, num_threads=nt),
    "conv2d": KEYWORD_OPS["conv2d-strided-dilated"],
    "conv1d_backward": KEYWORD_OPS["conv1d_backward"],
    "conv2d_backward": KEYWORD_OPS["conv2d_backward-flip"],
    "conv_transpose1d": KEYWORD_OPS["conv_transpose1d"],
    "conv_transpose2d": KEYWORD_OPS["conv_transpose2d"],
    "im2col": lambda dt, nt: fc.im2col(X[dt], (3, 2), dilation=2, padding=1, stride=2,
                                       num_threads=nt),
    "col2im": lambda dt, nt: fc.col2im(COLS[dt], (H, W), 3, num_threads=nt),
    "max_pool1d": lambda dt, nt: fc.max_pool1d(XP1[dt], 3, 2, 1, dilation=2, ceil_mode=True,
                                               return_indices=True, num_threads=nt),
    "max_pool2d": lambda dt, nt: fc.max_pool2d(X[dt], 3, 2, 1, return_indices=True,
                                               num_threads=nt),
    "avg_pool1d": lambda dt, nt: fc.avg_pool1d(XP1[dt], 3, 2, 1, ceil_mode=True,
                                               count_include_pad=False, num_threads=nt),
    "avg_pool2d": lambda dt, nt: fc.avg_pool2d(X[dt], 3, 2, 1, num_threads=nt),
    "max_pool1d_backward": lambda dt, nt: fc.max_pool1d_backward(GP1[dt], IDX1, (N, C, 61),
                                                                 num_threads=nt),
    "max_pool2d_backward": lambda dt, nt: fc.max_pool2d_backward(GP[dt], IDX, (N, C, H, W),
                                                                 num_threads=nt),
    "avg_pool1d_backward": lambda dt, nt: fc.avg_pool1d_backward(
        GP1[dt], (N, C, 61), 3, 2, 1, num_threads=nt),
    "avg_pool2d_backward": lambda dt, nt: fc.avg_pool2d_backward(
        GP[dt], (N, C, H, W), 3, stride=2, padding=1, num_threads=nt),
    "conv3d": lambda dt, nt: fc.conv3d(X3[dt], W3[dt], padding=1, num_threads=nt),
    "conv3d_backward": lambda dt, nt: fc.conv3d_backward(G3[dt], X3[dt], W3[dt], padding=1,
                                                         num_threads=nt),
    "conv_transpose3d": lambda dt, nt: fc.conv_transpose3d(X3[dt], W3[dt][:8], stride=2,
                                                           padding=1, num_threads=nt),
    "max_pool3d": lambda dt, nt: fc.max_pool3d(X3[dt], 3, 2, 1, return_indices=True,
                                               num_threads=nt),
    "avg_pool3d": lambda dt, nt: fc.avg_pool3d(X3[dt], 3, 2, 1, divisor_override=7,
                                               num_threads=nt),
    "max_pool3d_backward": lambda dt, nt: fc.max_pool3d_backward(GP3[dt], IDX3,
                                                                 (2, 8, 9, 10, 11),
                                                                 num_threads=nt),
    "avg_pool3d_backward": lambda dt, nt: fc.avg_pool3d_backward(
        GP3[dt], (2, 8, 9, 10, 11), 3, stride=2, padding=1, num_threads=nt),
}


def _adaptive_case(kind, nd, backward):
    """Adaptive pooling of X1 / X / X3 to sizes that do not divide theirs (the adaptive
    kernels, overlapping windows), channels-first."""
    xs = {1: X1, 2: X, 3: X3}[nd]
    out = (5, 6, 4)[:nd]

    def call(dt, nt):
        f = getattr(fc, f"adaptive_{kind}_pool{nd}d")
        if not backward:
            return f(xs[dt], out, **({"return_indices": True} if kind == "max" else {}),
                     num_threads=nt)
        b = getattr(fc, f"adaptive_{kind}_pool{nd}d_backward")
        if kind == "avg":
            y = f(xs[dt], out)
            return b(np.ones_like(y), xs[dt].shape, num_threads=nt)
        y, idx = f(xs[dt], out, return_indices=True)
        return b(np.ones_like(y), idx, xs[dt].shape, num_threads=nt)
    return call


def _transpose_backward_case(nd):
    """conv_transpose*_backward on the forward transposed convolutions' arrays."""
    def call(dt, nt):
        if nd == 1:
            x, w, kw = X1[dt], np.ascontiguousarray(W1[dt].transpose(1, 0, 2)), dict(stride=3)
        elif nd == 2:
            x, w, kw = X[dt], WT[dt], dict(stride=2, padding=1, output_padding=1, groups=2)
        else:
            x, w, kw = X3[dt], W3[dt][:8], dict(stride=2, padding=1)
        y = getattr(fc, f"conv_transpose{nd}d")(x, w, **kw)
        go = np.cos(np.arange(y.size, dtype=dt)).reshape(y.shape)
        return getattr(fc, f"conv_transpose{nd}d_backward")(go, x, w, **kw, num_threads=nt)
    return call


EVERY_OP.update({f"conv_transpose{nd}d_backward": _transpose_backward_case(nd)
                 for nd in (1, 2, 3)})
EVERY_OP.update({f"adaptive_{k}_pool{nd}d" + ("_backward" if bw else ""):
                 _adaptive_case(k, nd, bw)
                 for k in ("avg", "max") for nd in (1, 2, 3) for bw in (False, True)})


def test_every_public_op_is_in_the_thread_tables():
    ops = {n for n in fc.__all__ if callable(getattr(fc, n))} - {
        "conv_output_size", "get_num_threads", "set_num_threads", "openmp_enabled",
        "plan", "tuning", "algorithms", "show_config"}
    assert ops == set(EVERY_OP), ops ^ set(EVERY_OP)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", list(EVERY_OP))
def test_every_op_bitwise_identical_for_1_2_3_threads(op, dtype):
    ref = EVERY_OP[op](dtype, 1)
    for nt in THREADS[1:]:
        _assert_bitwise(EVERY_OP[op](dtype, nt), ref, f"{op} num_threads={nt} vs 1")


def test_eight_python_threads_on_shared_inputs_get_the_serial_results():
    """Eight Python threads start together (a barrier) and each runs every op, in its own
    order and with its own OpenMP thread counts, on the same shared input arrays: each
    result must be bitwise the one computed serially beforehand."""
    import threading
    names = list(EVERY_OP)
    want = {(name, dt): EVERY_OP[name](dt, 1) for name in names for dt in DTYPES}
    barrier = threading.Barrier(8)
    errors = []

    def worker(k):
        order = np.random.default_rng(k).permutation(len(names))
        try:
            barrier.wait(timeout=60)
            for rep in range(2):
                for i in order:
                    dt = DTYPES[(k + rep + i) % 2]
                    got = EVERY_OP[names[i]](dt, 1 + (k + i) % 3)
                    _assert_bitwise(got, want[names[i], dt],
                                    f"{names[i]} {np.dtype(dt).name} in Python thread {k}")
        except BaseException as e:  # noqa: BLE001 -- reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    if errors:
        raise errors[0]
    # the shared inputs are untouched
    assert np.array_equal(X[np.float64], np.random.default_rng(2024).standard_normal(
        (N, C, H, W)))


# --- the GIL is released while the kernels run -------------------------------------------

_GIL_X = np.random.default_rng(5).standard_normal((2, 32, 72, 72))
_GIL_W = np.random.default_rng(6).standard_normal((32, 32, 3, 3))


def _union_length(intervals):
    total, end = 0.0, -np.inf
    for a, b in sorted(intervals):
        if a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def gil_overlap_ratio(calls_per_thread=4, op=None):
    """Two Python threads each run conv2d(num_threads=1) several times; returns the union of
    the calls' wall-clock intervals divided by the CPU time the two threads spent in them.

    ~0.5 when the calls ran at the same time on two cores; >= ~1.0 when they were serialised
    (the GIL held: a thread waiting for it uses no CPU).  (Wall-clock intervals alone do not
    show it: with the GIL held, a thread that has just taken its start time is made to hand
    the GIL over, and its interval then spans the other thread's whole call.)
    """
    import threading
    import time
    op = op or (lambda: fc.conv2d(_GIL_X, _GIL_W, padding=1, num_threads=1))
    intervals, cpu = [], []
    barrier = threading.Barrier(2)

    def worker():
        barrier.wait(timeout=60)
        for _ in range(calls_per_thread):
            t0, c0 = time.perf_counter(), time.thread_time()
            op()
            cpu.append(time.thread_time() - c0)
            intervals.append((t0, time.perf_counter()))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return _union_length(intervals) / sum(cpu)


def test_gil_released_two_threads_overlap():
    """Both threads must be computing at the same time (ratio well under 1).

    That needs two free cores, which a busy machine may not give, so each round also
    measures a control known to release the GIL (hashlib hashing a large buffer).  A round
    where the control ran in parallel and conv2d did not counts against fastconv; if the
    control never runs in parallel either the machine is too busy to tell, and the test is
    skipped (the next test checks the GIL in a way that holds even on one busy core).
    """
    import hashlib
    blob = np.random.default_rng(9).bytes(32 * 2**20)

    def control():
        hashlib.sha256(blob).digest()

    fc.conv2d(_GIL_X, _GIL_W, padding=1, num_threads=1)  # warm up: plan, workspace
    rounds = []
    for _ in range(6):
        conv, ctrl = gil_overlap_ratio(), gil_overlap_ratio(op=control)
        rounds.append((round(conv, 3), round(ctrl, 3)))
        if conv < 0.8:
            return
    against = [r for r in rounds if r[1] < 0.8]
    if len(against) >= 2:
        pytest.fail(f"conv2d calls in two Python threads did not run at the same time while "
                    f"a GIL-releasing control did: (conv2d, control) wall/CPU ratios {rounds} "
                    f"(0.5 = two threads computing at once, 1.0 = serialised)")
    pytest.skip(f"no two free cores to show parallel threads on: (conv2d, control) ratios "
                f"{rounds}")


_GIL_X_LONG = np.random.default_rng(8).standard_normal((4, 32, 96, 96))


def test_gil_released_python_thread_progresses_during_a_call(op=None):
    """A pure-Python counter thread keeps counting while one long conv2d(num_threads=1) runs
    in the main thread.  With the GIL held it would get only the 5 ms switch interval before
    the call starts (a few per cent of the call); with the GIL released it gets a core, or at
    worst a share of one."""
    import threading
    import time
    op = op or (lambda: fc.conv2d(_GIL_X_LONG, _GIL_W, padding=1, num_threads=1))
    op()
    state = {"count": 0, "stop": False}

    def counter():
        while not state["stop"]:
            state["count"] += 1

    t = threading.Thread(target=counter)
    t.start()
    progress = []
    try:
        for _ in range(4):
            time.sleep(0.02)
            c0, t0 = state["count"], time.perf_counter()
            time.sleep(0.05)  # the counter's rate, alone
            rate = (state["count"] - c0) / (time.perf_counter() - t0)
            c0, t0 = state["count"], time.perf_counter()
            op()
            progress.append((state["count"] - c0) / (rate * (time.perf_counter() - t0)))
            if progress[-1] > 0.3:
                break
    finally:
        state["stop"] = True
        t.join()
    assert max(progress) > 0.3, (
        f"a Python thread got only {[f'{p:.1%}' for p in progress]} of its solo rate while "
        "conv2d ran: the GIL seems held during the computation")
