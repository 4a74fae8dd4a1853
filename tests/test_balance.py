"""Many-core balance of the task lists (task_work, static_balance, the balanced splits)
and the grouped small-plane kernels (conv.forward.grouped, conv.grad_weight.grouped).

The balanced splits only apply to directions of at least ``balance_min_work``
multiply-adds; the tests set it to 0 so that small shapes take them, and check them
against the NumPy reference, bitwise across 1, 2 and 3 threads."""
import importlib.util
import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv as fc
import reference as ref
import strategies as S
from conftest import assert_close
from fastconv import _engine

BAL = dict(balance_min_work=0)


# ------------------------------------------------------------ static_balance


def _brute_balance(work, T):
    n = len(work)
    q, r = divmod(n, T)
    start, per = 0, []
    for t in range(T):
        size = q + (t < r)
        per.append(sum(work[start:start + size]))
        start += size
    return (sum(work) / T) / max(per)


def test_static_balance_known_values():
    assert _engine.static_balance([1] * 64, 64) == 1.0
    assert _engine.static_balance([1] * 128, 64) == 1.0
    assert _engine.static_balance([1] * 8, 64) == pytest.approx(8 / 64)
    # 392 equal tasks on 64 threads: 8 threads get 7, the rest 6
    assert _engine.static_balance([1] * 392, 64) == pytest.approx(6.125 / 7)
    assert _engine.static_balance([], 16) == 1.0
    assert _engine.min_balance([1] * 48, (16, 32, 64)) == pytest.approx(0.75)


@given(st.lists(st.integers(1, 100), min_size=1, max_size=300), st.integers(1, 70))
@settings(max_examples=60, deadline=None)
def test_static_balance_is_libgomps_static_schedule(work, T):
    assert _engine.static_balance(work, T) == pytest.approx(_brute_balance(work, T))


# ------------------------------------------------------------------ task_work

FORWARD = ["direct", "strip", "im2col", "grouped", "depthwise"]
GRAD_INPUT = ["direct", "col2im", "as_forward", "depthwise"]
GRAD_WEIGHT = ["rows", "chunked", "strip", "grouped", "depthwise"]
OPEN = dict(strip_min_o=1, strip_min_ow=1, forward_grad_input_channels=0,
            grad_weight_strip_min_rows=1, grad_weight_strip_min_ow=1,
            chunked_grad_weight_bytes=10**9)


def _work(p):
    return p.N * p.O * p.L * p.Kg


def _check_task_work(route, problem):
    d = route.describe()
    tw = d.get("task_work")
    assert tw is not None, route.algorithm
    assert len(tw) == d["tasks"]
    sub = problem if route.sub is None else route.sub.desc
    if route.algorithm == "conv.grad_bias.sum":
        total = problem.N * problem.O * problem.L
    elif route.sub is not None:   # as_forward: the forward problem's work
        f = route.sub.desc.fields()
        total = f["N"] * f["O"] * f["L"] * f["Kg"]
    else:
        total = _work(problem)
    assert sum(tw) == pytest.approx(total, rel=1e-9), (route.algorithm, sub)
    assert all(w >= 0 for w in tw)


@given(S.conv_cases(nd=2, max_n=4, max_groups=4), st.booleans())
@settings(max_examples=40, deadline=None)
def test_task_work_sums_to_the_work_and_has_one_entry_per_task(case, balanced):
    kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
              groups=case.groups)
    y = ref.conv2d(case.x, case.w, None, **kw)
    go = np.zeros(y.shape, case.dtype)
    for direction, names in (("forward", FORWARD), ("grad_input", GRAD_INPUT),
                             ("grad_weight", GRAD_WEIGHT)):
        for name in names:
            tune = dict(OPEN, force={direction: name}, **(BAL if balanced else {}))
            with fc.tuning(**tune):
                try:
                    if direction == "forward":
                        plan = fc.plan(fc.conv2d, case.x, case.w, **kw)
                    else:
                        plan = fc.plan(fc.conv2d_backward, go, case.x, case.w, **kw)
                except ValueError as e:
                    assert "does not support" in str(e)
                    continue
            for r in plan.routes:
                _check_task_work(r, plan.problem.with_(direction=r.direction))


def test_describe_reports_task_work_in_task_order():
    x = np.zeros((2, 16, 10, 10), np.float32)
    w = np.zeros((40, 16, 3, 3), np.float32)
    with fc.tuning(**BAL):
        d = fc.plan(fc.conv2d, x, w, padding=1).describe()[0]
    assert len(d["task_work"]) == d["tasks"] and d["tasks"] > 2
    with fc.tuning(force={"forward": "im2col"}, tile_bytes=16 * 144 * 4):
        d = fc.plan(fc.conv2d, x, w, padding=1).describe()[0]
    # tiles of 16 columns of a 100-column plane: the last of each (n, g) has 4
    assert d["task_work"][:7] == [16 * 40 * 144] * 6 + [4 * 40 * 144]


# --------------------------------------------- balanced splits, forced small


def _dirs():
    return {"forward": FORWARD[:3], "grad_input": ["direct", "col2im", "as_forward"],
            "grad_weight": ["rows", "strip", "chunked"]}


def _run_all(case, tune):
    kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
              groups=case.groups)
    with fc.tuning(**tune):
        y = fc.conv2d(case.x, case.w, case.b, **kw)
        go = case.rng.standard_normal(y.shape).astype(case.dtype)
        outs = [fc.conv2d_backward(go, case.x, case.w, **kw) for _ in range(1)]
        for n in (2, 3):
            assert np.array_equal(fc.conv2d(case.x, case.w, case.b, num_threads=n, **kw), y)
            for a, e in zip(fc.conv2d_backward(go, case.x, case.w, num_threads=n, **kw),
                            outs[0]):
                assert np.array_equal(a, e)
        plan = fc.plan(fc.conv2d_backward, go, case.x, case.w, **kw)
    want = ref.conv2d(case.x, case.w, case.b, **kw)
    scale = ref.conv2d(np.abs(case.x), np.abs(case.w),
                       None if case.b is None else np.abs(case.b), **kw)
    assert_close(y, want, case.dtype, scale=scale)
    rwant = ref.conv2d_backward(go, case.x, case.w, **kw)
    rscale = ref.conv2d_backward(np.abs(go), np.abs(case.x), np.abs(case.w), **kw)
    for a, e, s in zip(outs[0], rwant, rscale):
        assert_close(a, e, case.dtype, scale=s)
    return plan


@given(S.conv_cases(nd=2, max_n=4, max_groups=3, allow_flip=False), st.sampled_from(
    [("forward", a) for a in ("strip", "im2col", "direct")]
    + [("grad_weight", a) for a in ("rows", "strip")]
    + [("grad_input", a) for a in ("col2im", "direct")]))
@settings(max_examples=60, deadline=None)
def test_balanced_splits_match_the_reference_bitwise_for_any_threads(case, forced):
    tune = dict(OPEN, **BAL, force={forced[0]: forced[1]})
    kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
              groups=case.groups)
    with fc.tuning(**tune):
        try:
            fc.plan(fc.conv2d, case.x, case.w, **kw)
            y = ref.conv2d(case.x, case.w, None, **kw)
            fc.plan(fc.conv2d_backward, np.zeros(y.shape, case.dtype), case.x, case.w, **kw)
        except ValueError as e:
            assert "does not support" in str(e)
            return
    _run_all(case, tune)


def test_balanced_splits_are_taken_when_forced_small():
    # o blocks in the forward, more chunks than samples in grad_weight (strip), and
    # rows in chunks with partials
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 8, 20, 20)).astype(np.float32)
    w = rng.standard_normal((96, 8, 3, 3)).astype(np.float32)
    with fc.tuning(**OPEN, **BAL, balance_threads=(16, 32, 64)):
        f = fc.plan(fc.conv2d, x, w, padding=1).route("forward").desc.fields()
        go = np.zeros((2, 96, 20, 20), np.float32)
        with fc.tuning(chunked_grad_weight_bytes=0):
            r = fc.plan(fc.conv2d_backward, go, x, w, padding=1).route("grad_weight")
        with fc.tuning(force={"grad_weight": "rows"}):
            rr = fc.plan(fc.conv2d_backward, go, x, w, padding=1).route("grad_weight")
    assert f["algo"] == _engine.ALGO["conv.forward.strip"]
    assert f["blk"] > 0   # o blocks
    assert r.algorithm == "conv.grad_weight.strip" and r.desc.fields()["chunks"] > 2
    assert rr.desc.fields()["chunks"] >= 1
    # the results equal the reference, whatever the split
    case = S.SimpleNamespace(x=x, w=w, b=None, stride=1, padding=1, dilation=1, groups=1,
                             dtype=np.dtype(np.float32), rng=rng)
    for gw in ("rows", "strip"):
        plan = _run_all(case, dict(OPEN, **BAL, chunked_grad_weight_bytes=0,
                                   force={"grad_weight": gw}))
        assert plan.algorithms["grad_weight"] == f"conv.grad_weight.{gw}"


def test_rows_in_chunks_sum_partials_in_order():
    # rows with chunks > 1 writes (chunks, O, Kg) partials that the wrapper sums
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 4, 12, 12))
    w = rng.standard_normal((20, 4, 3, 3))
    go = rng.standard_normal((6, 20, 10, 10))
    with fc.tuning(**BAL, force={"grad_weight": "rows"}):
        r = fc.plan(fc.conv2d_backward, go, x, w).route("grad_weight")
        got = fc.conv2d_backward(go, x, w)[1]
        for n in (2, 3):
            assert np.array_equal(fc.conv2d_backward(go, x, w, num_threads=n)[1], got)
    assert r.desc.fields()["chunks"] > 1, r.desc.fields()
    assert_close(got, ref.conv2d_backward(go, x, w)[1], np.float64)


# ------------------------------------------------------ the real networks


def _balance_table():
    path = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "balance_table.py")
    spec = importlib.util.spec_from_file_location("balance_table", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_real_network_layers_above_1_gflop_balance_on_16_32_64_threads():
    with fc.tuning(**_engine.MANY_CORE):
        rows = _balance_table().rows(1.0)
    assert len(rows) > 30
    for net, name, direction, gflop, algo, tasks, work in rows:
        assert len(work) == tasks
        for T in (16, 32, 64):
            assert _engine.static_balance(work, T) >= 0.9, (net, name, direction, T, algo)


# ------------------------------------------------- grouped small planes


@given(S.conv_cases(nd=2, max_n=5, max_groups=4, allow_flip=True),
       st.integers(1, 200_000))
@settings(max_examples=60, deadline=None)
def test_grouped_kernels_forced_match_the_reference(case, grouped_bytes):
    kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
              groups=case.groups, flip=case.flip)
    tune = dict(force={"forward": "grouped", "grad_weight": "grouped"},
                grouped_bytes=grouped_bytes)
    with fc.tuning(**tune):
        try:
            plan = fc.plan(fc.conv2d, case.x, case.w, case.b, **kw)
        except ValueError as e:   # 1x1 direct problems are not grouped's
            assert "does not support" in str(e)
            return
        assert plan.algorithms["forward"] == "conv.forward.grouped"
        y = fc.conv2d(case.x, case.w, case.b, **kw)
        go = case.rng.standard_normal(y.shape).astype(case.dtype)
        bp = fc.plan(fc.conv2d_backward, go, case.x, case.w, **kw)
        assert bp.algorithms["grad_weight"] == "conv.grad_weight.grouped"
        g = fc.conv2d_backward(go, case.x, case.w, **kw)
        for n in (2, 3):
            assert np.array_equal(fc.conv2d(case.x, case.w, case.b, num_threads=n, **kw), y)
            assert np.array_equal(fc.conv2d_backward(go, case.x, case.w, num_threads=n,
                                                     **kw)[1], g[1])
    rkw = dict(kw)
    w = case.w[..., ::-1, ::-1] if case.flip else case.w
    rkw.pop("flip")
    want = ref.conv2d(case.x, w, case.b, **rkw)
    scale = ref.conv2d(np.abs(case.x), np.abs(w), None if case.b is None else np.abs(case.b),
                       **rkw)
    assert_close(y, want, case.dtype, scale=scale)
    rg = ref.conv2d_backward(go, case.x, w, **rkw)[1]
    rs = ref.conv2d_backward(np.abs(go), np.abs(case.x), np.abs(w), **rkw)[1]
    if case.flip:
        rg, rs = rg[..., ::-1, ::-1], rs[..., ::-1, ::-1]
    assert_close(g[1], rg, case.dtype, scale=rs)


@given(S.conv_cases(nd=1, max_n=4, max_groups=3, allow_flip=False))
@settings(max_examples=30, deadline=None)
def test_grouped_kernels_1d(case):
    kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
              groups=case.groups)
    with fc.tuning(force={"forward": "grouped", "grad_weight": "grouped"}):
        try:
            y = fc.conv1d(case.x, case.w, case.b, **kw)
        except ValueError as e:
            assert "does not support" in str(e)
            return
        go = case.rng.standard_normal(y.shape).astype(case.dtype)
        g = fc.conv1d_backward(go, case.x, case.w, **kw)
    assert_close(y, ref.conv1d(case.x, case.w, case.b, **kw), case.dtype,
                 scale=ref.conv1d(np.abs(case.x), np.abs(case.w),
                                  None if case.b is None else np.abs(case.b), **kw))
    assert_close(g[1], ref.conv1d_backward(go, case.x, case.w, **kw)[1], case.dtype,
                 scale=ref.conv1d_backward(np.abs(go), np.abs(case.x), np.abs(case.w),
                                           **kw)[1])


def test_grouped_is_chosen_for_resnext_layers_and_not_others():
    def algos(N, C, H, O, g, s=1):
        x = np.zeros((N, C, H, H), np.float32)
        w = np.zeros((O, C // g, 3, 3), np.float32)
        go = np.zeros((N, O, (H + 2 - 3) // s + 1, (H + 2 - 3) // s + 1), np.float32)
        return (fc.plan(fc.conv2d, x, w, stride=s, padding=1, groups=g).algorithms,
                fc.plan(fc.conv2d_backward, go, x, w, stride=s, padding=1,
                        groups=g).describe())
    for C, H, s in ((128, 56, 1), (256, 28, 1), (512, 14, 1), (1024, 7, 1), (512, 28, 2)):
        f, b = algos(4, C, H, C, 32, s)
        assert f["forward"] == "conv.forward.grouped"
        assert b[1]["algorithm"] == "conv.grad_weight.grouped"
        if s == 1:
            assert b[0]["algorithm"] == "conv.grad_input.as_forward"
            assert b[0]["runs"] == "conv.forward.grouped"
    f, b = algos(4, 64, 56, 64, 1)            # not grouped
    assert f["forward"] != "conv.forward.grouped"
    f, b = algos(4, 64, 56, 64, 64)           # depthwise
    assert f["forward"] == "conv.forward.depthwise"


def test_grouped_forced_on_3d_raises():
    x = np.zeros((1, 4, 3, 5, 5))
    w = np.zeros((4, 2, 1, 3, 3))
    with fc.tuning(force={"forward": "grouped"}):
        with pytest.raises(ValueError, match="does not support"):
            fc.plan(fc.conv3d, x, w, groups=2)


@pytest.mark.parametrize("variant", ["avx2", "generic"])
def test_grouped_with_lower_gemm_variants(variant):
    import subprocess
    code = ("import numpy as np, fastconv as fc, sys; sys.path.insert(0, '.');"
            "import reference as ref;"
            "r = np.random.default_rng(0); x = r.standard_normal((3, 8, 7, 7));"
            "w = r.standard_normal((8, 2, 3, 3));"
            "y = fc.conv2d(x, w, padding=1, groups=4);"
            "assert fc.plan(fc.conv2d, x, w, padding=1, groups=4).algorithms['forward']"
            " == 'conv.forward.grouped';"
            "assert np.allclose(y, ref.conv2d(x, w, None, padding=1, groups=4))")
    env = dict(os.environ, FASTCONV_GEMM=variant)
    # from the tests directory: the child imports the installed fastconv, not a source
    # tree in the cwd (CI tests an installed wheel from a clean clone)
    subprocess.run([sys.executable, "-c", code], check=True, env=env,
                   cwd=os.path.dirname(os.path.abspath(__file__)))
