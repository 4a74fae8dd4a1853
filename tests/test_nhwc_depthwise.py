"""Channels-last depthwise convolution (conv.*.depthwise_nhwc), through the engine.

The public conv wrappers' ``data_format`` is written elsewhere; these tests build the
channels-last problem and run its routes exactly as a wrapper does (``run_nhwc``
below): x (N, *sp, C), weight (*k, 1, O), y / grad_output (N, *out, O), grad_weight
from the per-chunk partials summed in chunk order.  The reference is the NumPy
channels-first reference on transposed arrays (``conv_reference``); results are
bitwise identical for 1, 2 and 3 threads; torch is a second oracle.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv as fc
from conftest import assert_close, conv_reference
from fastconv import _problem as P
from fastconv._engine import route
from fastconv.conv import run_route


def to_last(a):
    """(N, C, *sp) -> (N, *sp, C), C-contiguous."""
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def to_first(a):
    return np.moveaxis(a, -1, 1)


def w_to_last(w):
    """(O, 1, *k) -> (*k, 1, O) (HWIO)."""
    nd = w.ndim - 2
    return np.ascontiguousarray(w.transpose(tuple(range(2, 2 + nd)) + (1, 0)))


def w_to_first(w):
    nd = w.ndim - 2
    return w.transpose((nd + 1, nd) + tuple(range(nd)))


def nhwc_problem(nd, x_shape_first, w_shape_first, stride, padding, dilation, groups, dtype):
    return P.conv(nd, x_shape_first, w_shape_first, stride, padding, dilation, groups,
                  dtype).with_(layout="channels_last")


def run_nhwc(p, xl, wl, bl, gol=None, n_threads=1, tuning=None):
    """(y, grad_input, grad_weight) of the channels-last problem ``p`` from its routes,
    as a wrapper runs them (grad_input and grad_weight only with ``gol``)."""
    ctx = fc.tuning(**(tuning or {}))
    with ctx:
        rf = route(p, "forward")
        ri = route(p, "grad_input")
        rw = route(p, "grad_weight")
    assert rf.algorithm == "conv.forward.depthwise_nhwc"
    assert ri.algorithm == "conv.grad_input.depthwise_nhwc"
    assert rw.algorithm == "conv.grad_weight.depthwise_nhwc"
    dt = p.dtype
    y = np.empty(p.y_array_shape, dt)
    run_route(rf, (xl, wl, bl, y), n_threads, dt)
    if gol is None:
        return y, None, None
    gx = np.empty(p.x_array_shape, dt)
    run_route(ri, (gol, wl, gx), n_threads, dt)
    part = np.empty((rw.shared,), dt)
    run_route(rw, (gol, xl, part), n_threads, dt)
    part = part.reshape((-1,) + p.w_array_shape)
    gw = part[0].copy()
    for c in range(1, part.shape[0]):
        gw += part[c]
    return y, gx, gw


@st.composite
def problems(draw):
    nd = draw(st.integers(1, 3))
    C = draw(st.sampled_from([1, 2, 3, 5, 8, 13, 16, 37, 70]))
    mult = draw(st.integers(1, 3))
    N = draw(st.integers(1, 3))
    k = tuple(draw(st.integers(1, 4 if nd < 3 else 3)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    d = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    pads = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(nd))
    size = tuple(max(1, (kk - 1) * dd + 1 - pb - pa)
                 + draw(st.integers(0, 12 if nd < 3 and i == nd - 1 else 5 if nd < 3 else 3))
                 for i, (kk, dd, (pb, pa)) in enumerate(zip(k, d, pads)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    tuning = draw(st.sampled_from([{}, {"nhwc_min_tasks": 10**6},
                                   {"depthwise_task_elems": 10**6, "nhwc_min_tasks": 1}]))
    return nd, N, C, mult, k, s, d, pads, size, dtype, bias, seed, tuning


def _check(nd, N, C, mult, k, s, d, pads, size, dtype, bias, seed, tuning):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C) + size).astype(dtype)
    w = rng.standard_normal((C * mult, 1) + k).astype(dtype)
    b = rng.standard_normal(C * mult).astype(dtype) if bias else None
    kw = dict(stride=s, padding=pads, dilation=d, groups=C)
    want, scale, go, rg, rs = conv_reference(x, w, b, kw, seed)
    p = nhwc_problem(nd, x.shape, w.shape, s, pads, d, C, dtype)
    if C == 1:   # (a single channel is depthwise only when forced)
        tuning = dict(tuning, force={d: "depthwise_nhwc"
                                     for d in ("forward", "grad_input", "grad_weight")})
    xl, wl, gol = to_last(x), w_to_last(w), to_last(go)
    y, gx, gw = run_nhwc(p, xl, wl, b, gol, 1, tuning)
    assert y.shape == p.y_array_shape and gx.shape == xl.shape and gw.shape == wl.shape
    assert_close(to_first(y), want, dtype, scale=scale, err_msg="forward")
    assert_close(to_first(gx), rg[0], dtype, scale=rs[0], err_msg="grad_input")
    assert_close(w_to_first(gw), rg[1], dtype, scale=rs[1], err_msg="grad_weight")
    for n in (2, 3):
        y2, gx2, gw2 = run_nhwc(p, xl, wl, b, gol, n, tuning)
        assert np.array_equal(y2, y) and np.array_equal(gx2, gx) and np.array_equal(gw2, gw), n


@settings(max_examples=200, deadline=None)
@given(problems())
def test_nhwc_depthwise_matches_reference(problem):
    _check(*problem)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,k,s,mult", [
    ((2, 32, 14, 14), (3, 3), (1, 1), 1),
    ((1, 96, 15, 15), (3, 3), (2, 2), 1),
    ((2, 24, 9, 10), (3, 3), (2, 2), 2),
    ((1, 144, 7, 7), (5, 5), (1, 1), 1),
    ((2, 19, 6, 5, 7), (3, 2, 3), (2, 1, 1), 2),
    ((3, 40, 33), (7,), (3,), 4),
])
def test_nhwc_depthwise_layers(shape, k, s, mult, dtype):
    nd = len(k)
    pads = tuple((kk // 2, kk // 2) for kk in k)
    _check(nd, shape[0], shape[1], mult, k, s, (1,) * nd, pads, shape[2:], dtype, True, 7, {})


def test_nhwc_depthwise_routes_and_tasks():
    """The depthwise planners are chosen for channels-last Cg == 1 problems of several
    groups (not for a single channel unless forced); tasks split for many threads; the
    balance model covers every task."""
    p = nhwc_problem(2, (2, 32, 28, 28), (32, 1, 3, 3), 1, 1, 1, 32, np.float32)
    for direction in ("forward", "grad_input", "grad_weight"):
        r = route(p, direction)
        assert r.algorithm.endswith("depthwise_nhwc")
        work = r.task_work()
        assert len(work) == r.tasks > 0
        madds = p.N * p.O * p.L * p.taps
        if direction != "grad_input":   # (grad_input: taps whose output exists only)
            assert sum(work) == madds
    assert route(p, "forward").tasks >= 56
    single = nhwc_problem(2, (2, 1, 8, 8), (4, 1, 3, 3), 1, 1, 1, 1, np.float32)
    try:   # (the general channels-last convolution, or none)
        alg = route(single, "forward").algorithm
    except ValueError:
        alg = None
    assert alg != "conv.forward.depthwise_nhwc"
    with fc.tuning(force={"forward": "depthwise_nhwc"}):
        assert route(single, "forward").algorithm == "conv.forward.depthwise_nhwc"
    # a channels-first problem never gets a channels-last kernel, and run() refuses one
    first = P.conv(2, (2, 32, 28, 28), (32, 1, 3, 3), 1, 1, 1, 32, np.float32)
    assert not route(first, "forward").algorithm.endswith("nhwc")
    r = route(p, "forward")
    with pytest.raises(ValueError, match="does not read this problem's layout"):
        fc._kernels._engine.run(first.desc().configured(r.desc.algo, 1, 32),
                                (np.zeros(first.x_shape, np.float32),
                                 np.zeros((3, 3, 1, 32), np.float32), None,
                                 np.zeros(first.y_shape, np.float32)), None, 1)


def test_nhwc_depthwise_buffers_checked():
    p = nhwc_problem(2, (2, 8, 6, 6), (8, 1, 3, 3), 1, 1, 1, 8, np.float32)
    r = route(p, "forward")
    x = np.zeros(p.x_array_shape, np.float32)
    w = np.zeros(p.w_array_shape, np.float32)
    with pytest.raises(ValueError, match="elements"):
        run_route(r, (x[:1], w, None, np.empty(p.y_array_shape, np.float32)), 1, np.float32)
    with pytest.raises(ValueError, match="dtype"):
        run_route(r, (x.astype(np.float64), w, None, np.empty(p.y_array_shape, np.float32)), 1,
                  np.float32)


@pytest.mark.torch
@pytest.mark.parametrize("mult,stride", [(1, 1), (1, 2), (2, 1), (2, 2)])
def test_nhwc_depthwise_torch(torch, mult, stride):
    rng = np.random.default_rng(3)
    N, C, H = 2, 24, 17
    x = rng.standard_normal((N, C, H, H)).astype(np.float32)
    w = rng.standard_normal((C * mult, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(C * mult).astype(np.float32)
    xt = torch.tensor(x).to(memory_format=torch.channels_last).requires_grad_()
    wt = torch.tensor(w).requires_grad_()
    yt = torch.nn.functional.conv2d(xt, wt, torch.tensor(b), stride=stride, padding=1,
                                    groups=C)
    go = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(go))
    p = nhwc_problem(2, x.shape, w.shape, stride, 1, 1, C, np.float32)
    y, gx, gw = run_nhwc(p, to_last(x), w_to_last(w), b, to_last(go))
    np.testing.assert_allclose(to_first(y), yt.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(to_first(gx), xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(w_to_first(gw), wt.grad.numpy(), rtol=1e-4, atol=1e-3)
