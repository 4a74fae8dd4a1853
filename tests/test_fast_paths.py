"""Tests for the shape-selected fast paths and the forward plan cache."""
import numpy as np
import pytest

import fastconv as fc
import reference as ref
from conftest import assert_close
from fastconv import conv as conv_mod


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
    for k in range(conv_mod._MAX_PLANS + 10):
        fc.conv2d(x, np.ones((1, 1, 1, 1)), padding=k % 300, stride=1 + k // 300)
    assert len(conv_mod._PLANS) <= conv_mod._MAX_PLANS


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
def test_both_grad_input_routes(monkeypatch, route, case):
    # stride-1 grad_input runs either through col2im or as a forward convolution,
    # chosen by the channel count: force each, on the same cases
    monkeypatch.setattr(conv_mod, "FORWARD_GRAD_INPUT_CHANNELS", 10**9 if route == "col2im" else 0)
    xs, ws, kw = _ROUTE_CASES[case]
    rng = np.random.default_rng(case)
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    y = fc.conv2d(x, w, **kw)
    go = rng.standard_normal(y.shape)
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
def test_both_grad_weight_routes(monkeypatch, route, case):
    # grad_weight splits the im2col rows, or (small planes) the batch into chunks
    monkeypatch.setattr(conv_mod, "CHUNKED_GRAD_WEIGHT_BYTES", 0 if route == "rows" else 10**9)
    xs, ws, kw = _ROUTE_CASES[case]
    rng = np.random.default_rng(10 + case)
    x = rng.standard_normal((5,) + xs[1:]).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    go = rng.standard_normal(fc.conv2d(x, w, **kw).shape).astype(np.float32)
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
