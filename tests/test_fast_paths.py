"""Tests for the shape-selected algorithms (routes) and the plan cache.

Routes are forced and inspected through the public API: ``fastconv.tuning(...)``
changes the planner's thresholds for a block (part of every plan's key, so no cache
needs clearing) and ``fastconv.plan(...)`` names the algorithm each direction uses.
"""
import numpy as np
import pytest

import fastconv as fc
import reference as ref
from conftest import assert_close
from fastconv import _engine


def _algo(func, *args, direction="forward", **kwargs):
    return fc.plan(func, *args, **kwargs).algorithms[direction].split(".")[-1]


def test_plan_cache_hit_gives_fresh_correct_results():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 2, 2, 2))
    for _ in range(3):  # same shapes, new values: every call must use its own arrays
        x = rng.standard_normal((2, 2, 5, 5))
        b = rng.standard_normal(3)
        out = fc.conv2d(x, w, b, stride=(1, 2), padding=((1, 0), (0, 1)))
        assert_close(out, ref.conv2d(x, w, b, stride=(1, 2), padding=((1, 0), (0, 1))), np.float64)
    # a cached plan serves non-contiguous and byte-swapped arrays of the same shape and dtype
    base = rng.standard_normal((2, 2, 10, 5))
    strided = base[:, :, ::2]
    assert_close(fc.conv2d(strided, w, b, stride=(1, 2), padding=((1, 0), (0, 1))),
                 ref.conv2d(strided, w, b, stride=(1, 2), padding=((1, 0), (0, 1))), np.float64)


def test_plan_cache_keys_separate_bias_dtype_and_flip():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    w = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
    plain = fc.conv2d(x, w)
    with_bias = fc.conv2d(x, w, np.ones(2, np.float32))
    flipped = fc.conv2d(x, w, flip=True)
    as64 = fc.conv2d(x.astype(np.float64), w)
    assert plain.dtype == np.float32 and as64.dtype == np.float64
    scale = ref.conv2d(np.abs(x), np.abs(w), np.ones(2))
    assert_close(with_bias, ref.conv2d(x, w, np.ones(2)), np.float32, scale=scale)
    assert_close(flipped, ref.conv2d(x, w, flip=True), np.float32, scale=scale)
    assert not np.allclose(plain, flipped)


def test_unhashable_arguments_and_errors_are_not_cached():
    x = np.ones((1, 1, 5, 5))
    w = np.ones((1, 1, 3, 3))
    assert_close(fc.conv2d(x, w, padding=[1, 1], stride=[2, 2]),
                 ref.conv2d(x, w, padding=1, stride=2), np.float64)
    for _ in range(2):  # an error must be raised every time, not only the first
        with pytest.raises(ValueError, match="bias"):
            fc.conv2d(x, w, np.ones(2))


def test_plan_cache_is_bounded():
    x = np.ones((1, 1, 4, 4))
    for k in range(_engine.PLANS.maxsize + 10):
        fc.conv2d(x, np.ones((1, 1, 1, 1)), padding=k % 300, stride=1 + k // 300)
    assert len(_engine.PLANS) <= _engine.PLANS.maxsize


def test_cached_plan_never_accepts_what_validation_rejects():
    x = np.ones((1, 1, 5, 5))
    w = np.ones((1, 1, 3, 3))
    fc.conv2d(x, w, stride=1, groups=1, padding=0)  # a valid call caches a plan
    # each of these compares equal to the cached arguments but is a TypeError
    for kwargs in ({"stride": True}, {"stride": 1.0}, {"groups": 1.0}, {"padding": 0.0},
                   {"flip": 1.0}, {"stride": (1, True)}):
        with pytest.raises(TypeError):
            fc.conv2d(x, w, **kwargs)


@pytest.mark.parametrize("num_threads", [1, 2, 3])
def test_transposed_1x1_dilated_with_output_padding(num_threads):
    # a 1x1 kernel with output_padding is not the direct (workspace-free) path:
    # the wrapper once disagreed with the kernel and under-sized the workspace
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4, 4))
    w = rng.standard_normal((3, 2, 1, 1))
    got = fc.conv_transpose2d(x, w, dilation=2, output_padding=1, num_threads=num_threads)
    want = ref.conv_transpose2d(x, w, dilation=2, output_padding=1)
    assert_close(got, want, np.float64)


def test_max_pool_kernel_with_more_than_2_31_taps_is_rejected():
    with pytest.raises(ValueError, match="kernel_size"):
        fc.max_pool2d(np.ones((1, 1, 2, 2)), (70001, 70001), padding=35000, return_indices=True)


_ROUTE_CASES = [
    # (x shape, weight shape, kwargs) for stride-1 convolutions
    ((2, 4, 9, 8), (6, 4, 3, 3), dict(padding=1)),
    ((2, 4, 9, 8), (6, 2, 3, 2), dict(padding=((2, 0), (1, 1)), dilation=(1, 2), groups=2)),
    ((1, 3, 7, 7), (5, 3, 5, 5), dict(padding="same")),
    ((3, 2, 6, 10), (4, 2, 2, 3), dict(padding=0, dilation=2)),
]


@pytest.mark.parametrize("route", ["col2im", "forward"])
@pytest.mark.parametrize("case", range(len(_ROUTE_CASES)))
def test_both_grad_input_routes(route, case):
    # stride-1 grad_input runs either through col2im or as a forward convolution,
    # chosen by the channel count: force each, on the same cases
    # (grouped_as_forward: a grouped case would run as a grouped forward otherwise)
    with fc.tuning(forward_grad_input_channels=10**9 if route == "col2im" else 0,
                   grouped_as_forward=route != "col2im"):
        _check_grad_input_route(route, case)


def _check_grad_input_route(route, case):
    xs, ws, kw = _ROUTE_CASES[case]
    rng = np.random.default_rng(case)
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    y = fc.conv2d(x, w, **kw)
    go = rng.standard_normal(y.shape)
    assert _algo(fc.conv2d_backward, go, x, w, direction="grad_input", **kw) == (
        "col2im" if route == "col2im" else "as_forward")
    gx, gw, gb = fc.conv2d_backward(go, x, w, **kw)
    rx, rw, rb = ref.conv2d_backward(go, x, w, **kw)
    sx, sw, _ = ref.conv2d_backward(np.abs(go), np.abs(x), np.abs(w), **kw)
    assert_close(gx, rx, np.float64, scale=sx)
    assert_close(gw, rw, np.float64, scale=sw)
    # conv_transpose with output_padding takes the same route
    wt = rng.standard_normal((4, 3, 3, 3))
    xt = rng.standard_normal((2, 4, 5, 6))
    got = fc.conv_transpose2d(xt, wt, padding=1, dilation=2, output_padding=1)
    assert_close(got, ref.conv_transpose2d(xt, wt, padding=1, dilation=2, output_padding=1),
                 np.float64, scale=ref.conv_transpose2d(np.abs(xt), np.abs(wt), padding=1,
                                                        dilation=2, output_padding=1))


@pytest.mark.parametrize("route", ["rows", "chunked"])
@pytest.mark.parametrize("case", range(len(_ROUTE_CASES)))
def test_both_grad_weight_routes(route, case):
    # grad_weight splits the im2col rows, or (small planes) the batch into chunks
    with fc.tuning(chunked_grad_weight_bytes=0 if route == "rows" else 10**9,
                   grouped_max_og=0):   # (not the grouped kernel, for its grouped cases)
        _check_grad_weight_route(route, case)


def _check_grad_weight_route(route, case):
    xs, ws, kw = _ROUTE_CASES[case]
    rng = np.random.default_rng(10 + case)
    x = rng.standard_normal((5,) + xs[1:]).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    go = rng.standard_normal(fc.conv2d(x, w, **kw).shape).astype(np.float32)
    assert _algo(fc.conv2d_backward, go, x, w, direction="grad_weight", **kw) == route
    gw = fc.conv2d_backward(go, x, w, **kw)[1]
    _, rw, _ = ref.conv2d_backward(go, x, w, **kw)
    _, sw, _ = ref.conv2d_backward(np.abs(go), np.abs(x), np.abs(w), **kw)
    assert_close(gw, rw, np.float32, scale=sw)
    # bitwise identical for any thread count on either route
    for n in (1, 2, 3):
        assert np.array_equal(fc.conv2d_backward(go, x, w, num_threads=n, **kw)[1], gw)


def test_backward_plan_cache():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2, 6, 6))
    w = rng.standard_normal((3, 2, 3, 3))
    for _ in range(3):  # repeat calls (cache hits) with new values stay correct
        go = rng.standard_normal((2, 3, 3, 3))
        got = fc.conv2d_backward(go, x, w, stride=2, padding=1, flip=True)
        want = ref.conv2d_backward(go, x, w, stride=2, padding=1, flip=True)
        for a, b in zip(got, want):
            assert_close(a, b, np.float64)
    for _ in range(2):  # errors are raised every time, never served from the cache
        with pytest.raises(ValueError, match="grad_output"):
            fc.conv2d_backward(np.ones((2, 3, 4, 4)), x, w, stride=2, padding=1)
        with pytest.raises(TypeError):
            fc.conv2d_backward(go, x, w, stride=2.0, padding=1, flip=True)
        with pytest.raises(TypeError):
            fc.conv2d_backward(go, x, w, stride=2, padding=1, flip=1.0)


# ------------------------------------------------------------------ the strip path

from hypothesis import given, settings, strategies as st  # noqa: E402


_KNOB = {"STRIP_MIN_OW": "strip_min_ow", "STRIP_MIN_O": "strip_min_o",
         "STRIP_OUT_BYTES": "strip_out_bytes", "STRIP_MAX_STRIDE": "strip_max_stride",
         "CHUNKED_GRAD_WEIGHT_BYTES": "chunked_grad_weight_bytes",
         "GRAD_WEIGHT_STRIP_MIN_ROWS": "grad_weight_strip_min_rows",
         "GRAD_WEIGHT_STRIP_MIN_OW": "grad_weight_strip_min_ow",
         "GRAD_WEIGHT_STRIPS": "grad_weight_strips"}


@pytest.fixture
def strip_knobs():
    """Set the strip path's thresholds (a tuning) for the rest of the test, replacing
    the previous setting."""
    stack = []

    def set_knobs(**knobs):
        while stack:
            stack.pop().__exit__(None, None, None)
        cm = fc.tuning(grouped_max_og=0,   # (the strip path, not the grouped kernel)
                       **{_KNOB[k]: val for k, val in knobs.items()})
        cm.__enter__()
        stack.append(cm)
    yield set_knobs
    while stack:
        stack.pop().__exit__(None, None, None)


_STRIP_CASES = [
    # x shape, w shape, kwargs: 3x3 same, strides 2..4, dilation, asymmetric and
    # negative-free pads, groups, rows narrower than a panel, 1x1 with padding
    ((2, 3, 20, 37), (4, 3, 3, 3), dict(padding=1)),
    ((2, 3, 23, 41), (5, 3, 7, 7), dict(stride=2, padding=3)),
    ((1, 2, 30, 33), (3, 2, 5, 4), dict(stride=(3, 4), padding=((2, 0), (1, 3)))),
    ((2, 4, 17, 40), (6, 2, 3, 3), dict(padding=2, dilation=(2, 3), groups=2)),
    ((3, 2, 9, 9), (2, 2, 3, 3), dict(padding="same")),
    ((2, 3, 11, 19), (4, 3, 1, 1), dict(padding=1, stride=2)),
    ((1, 2, 5, 200), (3, 2, 2, 9), dict(stride=(1, 2), dilation=(1, 3), padding=(0, 4))),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(_STRIP_CASES)))
def test_strip_path_matches_reference_and_im2col_route(strip_knobs, case, dtype):
    xs, ws, kw = _STRIP_CASES[case]
    rng = np.random.default_rng(100 + case)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    want = ref.conv2d(x, w, b, **kw)
    scale = ref.conv2d(np.abs(x), np.abs(w), np.abs(b), **kw)
    # small output tiles: tiles start mid-row, span several rows, or one partial row
    for out_bytes in (10**9, 256):
        strip_knobs(STRIP_MIN_OW=1, STRIP_MIN_O=1, STRIP_OUT_BYTES=out_bytes)
        assert _algo(fc.conv2d, x, w, b, **kw) == "strip"
        got = fc.conv2d(x, w, b, **kw)
        assert_close(got, want, dtype, scale=scale)
        for n in (2, 3):  # bitwise identical for any thread count
            assert np.array_equal(fc.conv2d(x, w, b, num_threads=n, **kw), got)
    strip_knobs(STRIP_MAX_STRIDE=0)  # the im2col route on the same case
    assert _algo(fc.conv2d, x, w, b, **kw) != "strip"
    assert_close(fc.conv2d(x, w, b, **kw), want, dtype, scale=scale)


def test_strip_path_is_chosen_for_the_standard_layers():
    # the shapes the strip path is for take it; narrow rows and large strides do not
    class plan:
        def __init__(self, xs, ws, stride, padding, dtype=np.float32):
            self.p = fc.plan(fc.conv2d, np.zeros(xs, dtype), np.zeros(ws, dtype), None, stride,
                             padding)
            self.strip = self.p.algorithms["forward"] == "conv.forward.strip"
    vgg = plan((8, 64, 56, 56), (64, 64, 3, 3), 1, 1)    # Winograd's by default
    assert vgg.p.algorithms["forward"] == "conv.forward.winograd"
    with fc.tuning(winograd=False):
        assert plan((8, 64, 56, 56), (64, 64, 3, 3), 1, 1).strip
    assert plan((8, 64, 14, 14), (64, 64, 3, 3), 1, 1).strip        # narrower: strip
    assert plan((8, 3, 224, 224), (64, 3, 7, 7), 2, 3).strip
    assert plan((8, 3, 224, 224), (64, 3, 7, 7), 2, 3, np.float64).strip
    assert not plan((64, 6, 12, 12), (16, 6, 5, 5), 1, 0).strip      # 8-wide rows, 16 channels
    assert plan((32, 64, 8, 8), (128, 64, 3, 3), 1, 1).strip         # 8-wide rows, 128 channels
    assert not plan((64, 1, 28, 28), (6, 1, 5, 5), 1, 0).strip       # 6 output channels
    assert not plan((2, 3, 64, 64), (4, 3, 3, 3), 5, 0).strip        # stride 5
    assert not plan((2, 3, 64, 64), (4, 3, 1, 1), 1, 0).strip        # direct 1x1
    with fc.tuning(winograd=False):
        r = plan((8, 64, 56, 56), (64, 64, 3, 3), 1, 1).p.route("forward")
    per_thread, shared, ints, got, main = r.desc.workspace
    assert main * 4 <= _engine.get_tuning().strip_max_bytes           # bounded strip


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_strip_path_random_geometries(data):
    d = data.draw
    nd = d(st.sampled_from([1, 2]))
    groups = d(st.integers(1, 2))
    N, Cg, Og = d(st.integers(1, 2)), d(st.integers(1, 3)), d(st.integers(1, 3))
    sp = [d(st.integers(1, 9)) for _ in range(nd - 1)] + [d(st.integers(1, 90))]
    k = [d(st.integers(1, 4)) for _ in range(nd)]
    stride = tuple(d(st.integers(1, 4)) for _ in range(nd))
    dil = tuple(d(st.integers(1, 3)) for _ in range(nd))
    pad = tuple(d(st.integers(0, 3)) for _ in range(nd))
    from hypothesis import assume
    assume(all(s + 2 * p >= dl * (kk - 1) + 1 for s, p, dl, kk in zip(sp, pad, dil, k)))
    dtype = d(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(d(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((N, Cg * groups, *sp)).astype(dtype)
    w = rng.standard_normal((Og * groups, Cg, *k)).astype(dtype)
    with fc.tuning(strip_min_ow=1, strip_min_o=1,
                   strip_out_bytes=d(st.sampled_from([64, 10**9]))):
        f = fc.conv2d if nd == 2 else fc.conv1d
        r = ref.conv2d if nd == 2 else ref.conv1d
        kw = dict(stride=stride, padding=pad, dilation=dil, groups=groups)
        got = f(x, w, **kw)
        assert_close(got, r(x, w, **kw), dtype, scale=r(np.abs(x), np.abs(w), **kw))
        assert np.array_equal(f(x, w, num_threads=3, **kw), got)


_GW_STRIP_CASES = [
    ((3, 8, 20, 37), (16, 8, 3, 3), dict(padding=1)),
    ((2, 4, 23, 41), (16, 4, 5, 4), dict(stride=2, padding=(3, 1))),
    ((2, 4, 17, 40), (32, 2, 3, 3), dict(padding=2, dilation=(2, 3), groups=2)),
    ((3, 6, 9, 70), (16, 6, 2, 3), dict(stride=(1, 3), padding=((1, 0), (0, 2)))),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(_GW_STRIP_CASES)))
def test_grad_weight_strip_route(strip_knobs, case, dtype):
    # grad_weight from strips (chunks of samples, A rows read from the strip) against
    # the reference and the row-block route, bitwise identical for any thread count
    xs, ws, kw = _GW_STRIP_CASES[case]
    rng = np.random.default_rng(200 + case)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    go = rng.standard_normal(fc.conv2d(x, w, **kw).shape).astype(dtype)
    _, rw, _ = ref.conv2d_backward(go, x, w, **kw)
    _, sw, _ = ref.conv2d_backward(np.abs(go), np.abs(x), np.abs(w), **kw)
    for out_bytes in (10**9, 256):  # long tiles, and tiles of 64 columns
        strip_knobs(CHUNKED_GRAD_WEIGHT_BYTES=0, GRAD_WEIGHT_STRIP_MIN_ROWS=1,
                    GRAD_WEIGHT_STRIP_MIN_OW=1, STRIP_OUT_BYTES=out_bytes)
        assert _algo(fc.conv2d_backward, go, x, w, direction="grad_weight", **kw) == "strip"
        gw = fc.conv2d_backward(go, x, w, **kw)[1]
        assert_close(gw, rw, dtype, scale=sw)
        for n in (2, 3):
            assert np.array_equal(fc.conv2d_backward(go, x, w, num_threads=n, **kw)[1], gw)
    strip_knobs(CHUNKED_GRAD_WEIGHT_BYTES=0, GRAD_WEIGHT_STRIPS=False)
    assert_close(fc.conv2d_backward(go, x, w, **kw)[1], rw, dtype, scale=sw)


def test_grad_weight_strip_route_is_chosen_for_big_layers():
    def plan(xs, ws, stride, padding):
        x, w = np.zeros(xs, np.float32), np.zeros(ws, np.float32)
        go = np.zeros(fc.plan(fc.conv2d, x, w, None, stride, padding).problem.y_shape, np.float32)
        gw = fc.plan(fc.conv2d_backward, go, x, w, stride, padding).algorithms["grad_weight"]
        return gw if gw == "conv.grad_weight.strip" else None
    assert plan((8, 64, 56, 56), (64, 64, 3, 3), 1, 1) is not None      # VGG block
    assert plan((8, 3, 224, 224), (64, 3, 7, 7), 2, 3) is not None      # ResNet stem
    assert plan((8, 128, 28, 28), (256, 128, 3, 3), 2, 1) is None       # partial too big
    assert plan((32, 3, 32, 32), (64, 3, 3, 3), 1, 1) is None           # 27 im2col rows
