"""The engine: problem descriptors, the C struct, the algorithm registry, plans and their cache.

Every registered convolution algorithm is forced (``fastconv.tuning(force=...)``) on the
problems it supports, checked against the reference in every rank and dtype, and asserted
through ``fastconv.plan``; the one kernel entry point rejects buffers that do not fit the
problem; the plan cache is an LRU keyed by the tuning too.
"""
import numpy as np
import pytest

import fastconv as fc
import reference as ref
from conftest import assert_close
from fastconv import _engine, _problem
from fastconv._kernels import _engine as K

RNG = np.random.default_rng(42)

# (rank, x shape, w shape, kwargs): each supports every algorithm listed with it
CASES = [
    (1, (3, 4, 40), (6, 4, 3), dict(padding=1), ["strip", "regions", "im2col", "grouped"]),
    (2, (2, 4, 9, 11), (6, 2, 3, 2), dict(padding=((2, 0), (1, 1)), dilation=(1, 2), groups=2),
     ["strip", "regions", "im2col", "grouped"]),
    (3, (2, 3, 5, 6, 7), (4, 3, 2, 3, 2), dict(stride=(1, 2, 1), padding=1, dilation=(2, 1, 1)),
     ["strip", "regions", "im2col"]),
    (3, (2, 4, 4, 5, 6), (8, 4, 1, 1, 1), {}, ["direct", "regions", "im2col"]),
    (3, (2, 4, 4, 5, 9), (6, 2, 2, 3, 3), dict(padding=((1, 0), (1, 1), (2, 1)),
                                               dilation=(1, 1, 2), groups=2),
     ["strip", "regions", "im2col"]),
    (2, (3, 2, 6, 7), (4, 2, 3, 3), dict(stride=2, padding=1),
     ["strip", "regions", "im2col", "grouped"]),
    (2, (2, 3, 7, 9), (5, 3, 3, 3), dict(padding=((1, 2), (0, 1))),
     ["strip", "regions", "im2col", "winograd"]),
    (2, (2, 4, 9, 11), (8, 1, 3, 3), dict(stride=(2, 1), padding=((1, 0), (2, 1)),
                                          dilation=(1, 2), groups=4),
     ["depthwise", "strip", "regions", "im2col", "grouped"]),
]

GRAD_INPUT = {"direct", "col2im", "as_forward", "depthwise"}
GRAD_WEIGHT = {"rows", "chunked", "strip", "depthwise", "grouped", "regions"}
OPEN = dict(strip_min_o=1, strip_min_ow=1, forward_grad_input_channels=0,
            grad_weight_strip_min_rows=1, grad_weight_strip_min_ow=1)
# the chunked route is for planes small enough, the strip route for the others
OPEN_GW = {"rows": {}, "chunked": dict(chunked_grad_weight_bytes=10**9),
           "strip": dict(chunked_grad_weight_bytes=0), "depthwise": {}, "grouped": {},
           "regions": {}}


def _conv(nd):
    return getattr(fc, f"conv{nd}d"), getattr(fc, f"conv{nd}d_backward"), \
        getattr(ref, f"conv{nd}d"), getattr(ref, f"conv{nd}d_backward")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_every_forward_algorithm_forced(case, dtype):
    nd, xs, ws, kw, algos = CASES[case]
    conv, _, rconv, _ = _conv(nd)
    x = RNG.standard_normal(xs).astype(dtype)
    w = RNG.standard_normal(ws).astype(dtype)
    b = RNG.standard_normal(ws[0]).astype(dtype)
    want = rconv(x, w, b, **kw)
    scale = rconv(np.abs(x), np.abs(w), np.abs(b), **kw)
    results = []
    for name in algos:
        with fc.tuning(force={"forward": name}, **OPEN):
            assert fc.plan(conv, x, w, b, **kw).algorithms["forward"] == f"conv.forward.{name}"
            got = conv(x, w, b, **kw)
            assert_close(got, want, dtype, scale=scale, err_msg=name)
            for n in (2, 3):
                assert np.array_equal(conv(x, w, b, num_threads=n, **kw), got), name
        results.append(got)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_every_backward_algorithm_forced(case, dtype):
    nd, xs, ws, kw, algos = CASES[case]
    conv, bwd, rconv, rbwd = _conv(nd)
    x = RNG.standard_normal(xs).astype(dtype)
    w = RNG.standard_normal(ws).astype(dtype)
    go = RNG.standard_normal(rconv(x, w, **kw).shape).astype(dtype)
    want = rbwd(go, x, w, **kw)
    scale = rbwd(np.abs(go), np.abs(x), np.abs(w), **kw)
    tried = set()
    for gi in sorted(GRAD_INPUT):
        for gw in sorted(GRAD_WEIGHT):
            with fc.tuning(force={"grad_input": gi, "grad_weight": gw}, **OPEN, **OPEN_GW[gw]):
                try:
                    plan = fc.plan(bwd, go, x, w, **kw)
                except ValueError as e:      # the forced algorithm does not support it
                    assert "does not support" in str(e)
                    continue
                assert plan.algorithms["grad_input"] == f"conv.grad_input.{gi}"
                assert plan.algorithms["grad_weight"] == f"conv.grad_weight.{gw}"
                tried.add((gi, gw))
                got = bwd(go, x, w, **kw)
                for name, a, e, s in zip(("grad_input", "grad_weight", "grad_bias"), got, want,
                                         scale):
                    assert_close(a, e, dtype, scale=s, err_msg=f"{gi}/{gw} {name}")
                for n in (2, 3):
                    for a, e in zip(bwd(go, x, w, num_threads=n, **kw), got):
                        assert np.array_equal(a, e), (gi, gw, n)
    assert {gi for gi, _ in tried} >= {"col2im"} and {gw for _, gw in tried} >= {"rows"}
    TRIED.update(tried)


TRIED = set()


def _supported(direction, name, tuning):
    out = []
    for nd, xs, ws, kw, _ in CASES:
        conv, bwd, rconv, _ = _conv(nd)
        x, w = np.zeros(xs), np.zeros(ws)
        go = np.zeros(rconv(x, w, **kw).shape)
        with fc.tuning(force={direction: name}, **OPEN, **tuning):
            try:
                fc.plan(bwd, go, x, w, **kw)
                out.append(nd)
            except ValueError:
                pass
    return out


def test_every_backward_algorithm_supports_some_case():
    for gi in GRAD_INPUT:
        assert _supported("grad_input", gi, {}), gi
    assert 3 in _supported("grad_input", "as_forward", {})
    for gw in GRAD_WEIGHT:
        assert _supported("grad_weight", gw, OPEN_GW[gw]), gw


def test_every_registered_algorithm_is_run_by_a_forced_test():
    forced = {f"conv.forward.{a}" for *_, algos in CASES for a in algos}
    forced |= {f"conv.grad_input.{a}" for a in GRAD_INPUT}
    forced |= {f"conv.grad_weight.{a}" for a in GRAD_WEIGHT}
    # (the channels-last kernels are forced in their own tests: test_nhwc_*.py)
    conv = {a["name"] for a in fc.algorithms()
            if a["op"] == "conv" and "channels_first" in a["layouts"]} - {"conv.grad_bias.sum"}
    assert conv == forced


def test_forcing_an_unknown_or_unsupported_algorithm_raises():
    x, w = np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3))
    with pytest.raises(ValueError, match="no algorithm 'fft'"):
        with fc.tuning(force={"forward": "fft"}):
            pass
    with pytest.raises(ValueError, match="directions"):
        with fc.tuning(force={"fwd": "strip"}):
            pass
    with pytest.raises(ValueError, match="`op`"):
        fc.algorithms("deconv")
    with pytest.raises(ValueError, match="`direction`"):
        fc.algorithms("conv", "backward")
    with fc.tuning(force={"forward": "direct"}):
        with pytest.raises(ValueError, match="does not support"):
            fc.conv2d(x, w)
    with pytest.raises(TypeError, match="unknown tuning field"):
        with fc.tuning(tile_size=3):
            pass


def test_tuning_is_part_of_the_plan_key_and_restored():
    x, w = np.ones((2, 3, 40, 40), np.float32), np.ones((32, 3, 3, 3), np.float32)
    default = fc.plan(fc.conv2d, x, w, padding=1).algorithms["forward"]
    fc.conv2d(x, w, padding=1)                                 # a cached plan
    with fc.tuning(strip_max_stride=0) as t:
        assert t.strip_max_stride == 0
        assert fc.plan(fc.conv2d, x, w, padding=1).algorithms["forward"] == "conv.forward.im2col"
        key = _engine.make_key(("conv", 2), (x, w, None), (1, 1, 1, 1, False))
        assert t in key
    assert fc.plan(fc.conv2d, x, w, padding=1).algorithms["forward"] == default
    assert _engine.get_tuning() == _engine.Tuning()


def test_plan_cache_is_an_lru():
    cache = _engine.PlanCache(maxsize=3)
    made = []

    def make(k):
        made.append(k)
        return k
    for k in "abca":
        cache.get(k, lambda k=k: make(k))
    assert made == ["a", "b", "c"] and cache.info()["hits"] == 1
    cache.get("d", lambda: make("d"))          # evicts b, the least recently used
    cache.get("a", lambda: make("a"))
    cache.get("b", lambda: make("b"))
    assert made == ["a", "b", "c", "d", "b"] and len(cache) == 3
    assert cache.get(None, lambda: "uncached") == "uncached" and len(cache) == 3
    assert cache.get([1], lambda: "unhashable") == "unhashable"


def test_backward_and_pooling_plans_are_cached():
    _engine.PLANS.clear()
    x = RNG.standard_normal((2, 3, 6, 6))
    w = RNG.standard_normal((4, 3, 3, 3))
    go = RNG.standard_normal((2, 4, 4, 4))
    for _ in range(3):
        fc.conv2d_backward(go, x, w)
        fc.max_pool3d(x[:, :, None], (1, 2, 2))
        fc.avg_pool2d_backward(np.ones((2, 3, 3, 3)), x.shape, 2)
    info = _engine.PLANS.info()
    assert info["misses"] == 3 and info["hits"] == 6


def test_plan_describes_routes():
    x, w = np.zeros((8, 64, 56, 56), np.float32), np.zeros((64, 64, 3, 3), np.float32)
    p = fc.plan(fc.conv2d_backward, np.zeros((8, 64, 56, 56), np.float32), x, w, padding=1)
    d = {r["direction"]: r for r in p.describe(4)}
    assert d["grad_input"]["algorithm"] == "conv.grad_input.as_forward"
    assert d["grad_input"]["runs"] == "conv.forward.winograd"
    # one chunk per sample by default; with MANY_CORE the 1.85 GMAC direction's chunks
    # are balanced for many cores (more than N)
    assert d["grad_weight"]["tasks"] == len(d["grad_weight"]["task_work"]) == 8
    with fc.tuning(**_engine.MANY_CORE):
        pm = fc.plan(fc.conv2d_backward, np.zeros((8, 64, 56, 56), np.float32), x, w,
                     padding=1)
    dm = {r["direction"]: r for r in pm.describe(4)}
    assert dm["grad_weight"]["tasks"] == len(dm["grad_weight"]["task_work"]) >= 16
    r = p.route("grad_weight")
    per_thread, shared = r.desc.workspace[:2]
    assert d["grad_weight"]["workspace_bytes"] == (4 * per_thread + shared) * 4
    assert "conv.grad_weight.strip" in repr(p)
    with pytest.raises(TypeError, match="fastconv op"):
        fc.plan(np.add, x, w)
    with pytest.raises(ValueError, match="groups"):   # the call's own validation
        fc.plan(fc.conv2d, x, w, groups=3)


_X1, _X2, _X3 = np.ones((1, 2, 6)), np.ones((1, 2, 6, 6)), np.ones((1, 2, 4, 4, 4))
PLAN_ARGS = {
    "conv1d": (_X1, np.ones((3, 2, 3))), "conv2d": (_X2, np.ones((3, 2, 3, 3))),
    "conv3d": (_X3, np.ones((3, 2, 3, 3, 3))),
    "conv1d_backward": (np.ones((1, 3, 4)), _X1, np.ones((3, 2, 3))),
    "conv2d_backward": (np.ones((1, 3, 4, 4)), _X2, np.ones((3, 2, 3, 3))),
    "conv3d_backward": (np.ones((1, 3, 2, 2, 2)), _X3, np.ones((3, 2, 3, 3, 3))),
    "conv_transpose1d": (_X1, np.ones((2, 3, 3))), "conv_transpose2d": (_X2, np.ones((2, 3, 3, 3))),
    "conv_transpose3d": (_X3, np.ones((2, 3, 3, 3, 3))),
    "max_pool1d": (_X1, 2), "max_pool2d": (_X2, 2), "max_pool3d": (_X3, 2),
    "avg_pool1d": (_X1, 2), "avg_pool2d": (_X2, 2), "avg_pool3d": (_X3, 2),
    "max_pool1d_backward": (np.ones((1, 2, 3)), np.zeros((1, 2, 3), np.int64), _X1.shape),
    "max_pool2d_backward": (np.ones((1, 2, 3, 3)), np.zeros((1, 2, 3, 3), np.int64), _X2.shape),
    "max_pool3d_backward": (np.ones((1, 2, 2, 2, 2)), np.zeros((1, 2, 2, 2, 2), np.int64),
                            _X3.shape),
    "avg_pool1d_backward": (np.ones((1, 2, 3)), _X1.shape, 2),
    "avg_pool2d_backward": (np.ones((1, 2, 3, 3)), _X2.shape, 2),
    "avg_pool3d_backward": (np.ones((1, 2, 2, 2, 2)), _X3.shape, 2),
    "im2col": (_X2, 2), "col2im": (np.ones((1, 8, 25)), 6, 2),
    "conv_transpose1d_backward": (np.ones((1, 3, 8)), _X1, np.ones((2, 3, 3))),
    "conv_transpose2d_backward": (np.ones((1, 3, 8, 8)), _X2, np.ones((2, 3, 3, 3))),
    "conv_transpose3d_backward": (np.ones((1, 3, 6, 6, 6)), _X3, np.ones((2, 3, 3, 3, 3))),
}


def test_every_public_op_has_a_plan():
    ops = [n for n in fc.__all__ if n.startswith(("conv", "max_pool", "avg_pool", "im2col",
                                                   "col2im")) and n != "conv_output_size"]
    for n in ops:
        assert getattr(fc, n)._fastconv_op is True, n
        assert isinstance(fc.plan(getattr(fc, n), *PLAN_ARGS[n]), _engine.Plan), n


def test_public_functions_are_generated_per_rank():
    for family in ("conv", "conv_transpose", "max_pool", "avg_pool"):
        funcs = [getattr(fc, f"{family}{nd}d") for nd in (1, 2, 3)]
        assert len({f.__code__ for f in funcs}) == 1          # one definition
        assert [f.__name__ for f in funcs] == [f"{family}{nd}d" for nd in (1, 2, 3)]
        for nd, f in zip((1, 2, 3), funcs):
            assert f"{nd}-D" in f.__doc__ or f"conv{nd}d" in f.__doc__
            assert "Examples" in f.__doc__ and "Raises" in f.__doc__


# ---------------------------------------------------------------- the C struct

def test_desc_lifts_problems_to_three_dimensions():
    p = _problem.conv(1, (2, 4, 30), (6, 2, 3), 2, 1, 1, 2, np.float32)
    f = p.desc().fields()
    assert f["in"] == (1, 1, 30) and f["out"] == (1, 1, 15) and f["k"] == (1, 1, 3)
    assert f["pb"] == (0, 0, 1) and f["pa"] == (0, 0, 1) and f["Kg"] == 6 and f["L"] == 15
    assert f["rank"] == 1 and f["itemsize"] == 4 and f["Cg"] == 2 and f["Og"] == 3
    assert p.strides["x"] == (120, 30, 1) and p.strides["weight"] == (6, 3, 1)


def test_workspace_comes_from_the_c_struct():
    p = _problem.conv(2, (8, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1, 1, np.dtype(np.float32))
    r = _engine.route(p, "forward", _engine.Tuning(winograd=False))
    per_thread, shared, ints, got, main = r.desc.workspace
    lt = r.desc.fields()["lt"]
    assert main == -(-r.desc.strip_elems(lt) // 16) * 16
    assert ints >= (p.Kg + lt) * 8 // 4 and per_thread == ints + main and shared == 0
    assert r.desc.tasks == 8 * -(-56 * 56 // lt)
    # Winograd (the default here): V (16 x C x tiles), M (16 x ob x tiles) and the row
    # buffers per thread, U (16 x O x C) shared; (tile-row block, o block) tasks
    r = _engine.route(p, "forward")
    assert r.algorithm == "conv.forward.winograd"
    per_thread, shared, ints, got, main = r.desc.workspace
    f = r.desc.fields()
    rows, ob, tw = f["lt"], min(f["blk"] or 64, 64), 28
    r16 = lambda n: -(-n // 16) * 16  # noqa: E731
    assert main == r16(16 * 64 * rows * tw) + r16(16 * ob * rows * tw) + r16(2 * 29 + 32 * rows * tw)
    assert per_thread == main and ints == got == 0 and shared == 16 * 64 * 64
    assert r.desc.tasks == -(-8 * 28 // rows) * -(-64 // ob)


def _fwd_route():
    p = _problem.conv(2, (1, 2, 6, 6), (3, 2, 3, 3), 1, 0, 1, 1, np.dtype(np.float64))
    return p, _engine.route(p, "forward")


def test_kernel_entry_checks_every_buffer():
    p, r = _fwd_route()
    x = np.ones(p.x_shape)
    w = np.ones(p.w_shape)
    out = np.empty(p.y_shape)
    ws = np.empty(r.per_thread * 2 + 1)
    K.run(r.desc, (x, w, None, out), ws, 2)
    assert np.all(out == 18)
    bad = [
        ((x.astype(np.float32), w, None, out), "dtype"),
        ((x[:, :1], w, None, out), "elements"),
        ((x, w, None, out[..., :2]), "C-contiguous"),
        ((x, w.ravel()[:10], None, out), "elements"),
        ((x, w, None, np.empty(3)), "elements"),
        ((x, w, None), "takes 4 arrays"),
        ((x, w, np.ones(3, np.float32), out), "dtype"),
        ((x.tolist(), w, None, out), "ndarray"),
    ]
    for arrays, match in bad:
        with pytest.raises((ValueError, TypeError), match=match):
            K.run(r.desc, arrays, ws, 2)
    ro = out.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        K.run(r.desc, (x, w, None, ro), ws, 2)
    with pytest.raises(ValueError, match="workspace"):
        K.run(r.desc, (x, w, None, out), ws[:r.per_thread], 2)
    with pytest.raises(ValueError, match="no algorithm"):
        K.run(p.desc(), (x, w, None, out), ws, 1)


def test_one_output_size_rule():
    # the normaliser's output sizes are conv_output_size's, for every op
    for nd, sp, k, s, pad, d in [(1, (17,), 4, 3, 1, 2), (2, (9, 8), (3, 2), (2, 1), 1, 1),
                                 (3, (5, 6, 7), 2, (1, 2, 3), (1, 0, 1), 1)]:
        want = fc.conv_output_size(sp, k, s, pad, d)
        k3 = tuple(np.broadcast_to(k, (nd,)))
        p = _problem.conv(nd, (1, 1) + sp, (1, 1) + k3, s, pad, d, 1, np.float64)
        assert p.out == want
        if isinstance(pad, int) and d == 1:
            q = _problem.pool("max", nd, (1, 1) + sp, k, s, min(pad, 1), 1, False, np.float64)
            assert q.out == fc.conv_output_size(sp, k, s, min(pad, 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 8, 8), (3, 7, 13), (1, 33, 17), (2, 0, 5),
                                   (1, 64, 300), (4, 5, 4)])
def test_transpose_last2_is_numpys_transpose(dtype, shape):
    # the wrappers' weight and partial transposes (fc_transpose.h: 8x8 / 4x4 register
    # blocks and scalar edges; every variant moves the same bits)
    src = RNG.standard_normal(shape).astype(dtype)
    dst = np.full((shape[0], shape[2], shape[1]), np.nan, dtype)
    K.transpose_last2(src, dst)
    np.testing.assert_array_equal(dst, src.transpose(0, 2, 1))


def test_transpose_last2_rejects_mismatched_arrays():
    src = np.zeros((2, 3, 4), np.float32)
    for dst in (np.zeros((2, 3, 4), np.float32), np.zeros((2, 4, 3), np.float64),
                np.zeros((2, 8, 3), np.float32)[:, ::2]):
        with pytest.raises(ValueError, match="transpose_last2"):
            K.transpose_last2(src, dst)
