"""Pooling on channels-last data (``data_format="NWC" / "NHWC" / "NDHWC"``).

The reference is the channels-first NumPy reference (tests/reference.py) on the
transposed arrays, and the channels-first public functions: max pooling gives the
same values and the same indices (offsets within the (D,)H,W volume) as the
channels-first call, so max_pool*_backward takes either layout's indices; average
pooling and the gradients match the reference; 1, 2 and 3 threads give the same bits;
torch on channels_last tensors is a second oracle.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv as fc
import reference as ref
import strategies as S
from conftest import assert_close

LAST = {1: "NWC", 2: "NHWC", 3: "NDHWC"}
FIRST = {1: "NCW", 2: "NCHW", 3: "NCDHW"}


def to_last(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def to_first(a):
    return np.moveaxis(a, -1, 1)


def last_shape(shape):
    return (shape[0],) + tuple(shape[2:]) + (shape[1],)


def fn(kind, nd, backward=False):
    return getattr(fc, f"{kind}_pool{nd}d" + ("_backward" if backward else ""))


def max_args(case):
    return dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
                dilation=case.dilation, ceil_mode=case.ceil_mode)


def avg_args(case):
    return dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
                ceil_mode=case.ceil_mode, count_include_pad=case.count_include_pad,
                divisor_override=case.divisor_override)


@st.composite
def cases(draw, kind):
    """A pooling case of rank 1-3 whose x has C drawn up to 40 channels (the strategy's
    values -- ties, NaN, infinities for max -- in sign-flipped and mirrored copies), so
    every vector block and the scalar tail of the channel loops run."""
    nd = draw(st.integers(1, 3))
    kw = dict(max_k=3, extra=3, max_d=2, max_n=2) if nd == 3 else {}
    case = draw(S.pool_cases(kind, nd=nd, divisor_override=kind == "avg", **kw))
    C = draw(st.sampled_from([1, 3, 8, 17, 40]))
    flip = tuple(slice(None, None, -1) for _ in range(nd))
    parts = [case.x, -case.x, case.x[(slice(None), slice(None)) + flip],
             -case.x[(slice(None), slice(None)) + flip]]
    x = np.concatenate(parts * (C // (4 * case.x.shape[1]) + 1), axis=1)[:, :C]
    case.x = np.ascontiguousarray(x)
    case.nd = nd
    case.threads_check = draw(st.booleans())
    return case


@settings(max_examples=150, deadline=None)
@given(cases("max"))
def test_nhwc_max_pool_matches_channels_first(case):
    nd, x = case.nd, case.x
    try:
        e_out, e_idx = ref.max_poolnd(x, **max_args(case))
    except ValueError:      # a dilated window with no input element: both raise
        with pytest.raises(ValueError):
            fn("max", nd)(to_last(x), **max_args(case), data_format=LAST[nd])
        return
    xl = to_last(x)
    out, idx = fn("max", nd)(xl, **max_args(case), return_indices=True, data_format=LAST[nd])
    assert out.dtype == case.dtype and idx.dtype == np.int64
    assert out.shape == last_shape(e_out.shape) and out.flags.c_contiguous
    np.testing.assert_array_equal(to_first(out), e_out.astype(case.dtype))
    np.testing.assert_array_equal(to_first(idx), e_idx)
    f_out, f_idx = fn("max", nd)(x, **max_args(case), return_indices=True)
    np.testing.assert_array_equal(to_first(out), f_out)
    np.testing.assert_array_equal(to_first(idx), f_idx)
    np.testing.assert_array_equal(fn("max", nd)(xl, **max_args(case), data_format=LAST[nd]),
                                  out)
    # the gradient: routed to the same argmax as the channels-first call's
    go = case.rng.standard_normal(e_out.shape).astype(case.dtype)
    gi = fn("max", nd, True)(to_last(go), idx, xl.shape, data_format=LAST[nd])
    assert gi.shape == xl.shape and gi.dtype == case.dtype
    want = ref.max_poolnd_backward(go, e_idx, x.shape)
    assert_close(to_first(gi), want, case.dtype,
                 ref.max_poolnd_backward(np.abs(go), e_idx, x.shape))
    np.testing.assert_array_equal(to_first(gi), fn("max", nd, True)(go, f_idx, x.shape))
    if case.threads_check:
        for n in (2, 3):
            o2, i2 = fn("max", nd)(xl, **max_args(case), return_indices=True,
                                   data_format=LAST[nd], num_threads=n)
            assert np.array_equal(o2, out, equal_nan=True) and np.array_equal(i2, idx)
            g2 = fn("max", nd, True)(to_last(go), idx, xl.shape, data_format=LAST[nd],
                                     num_threads=n)
            assert np.array_equal(g2, gi)


@settings(max_examples=150, deadline=None)
@given(cases("avg"))
def test_nhwc_avg_pool_matches_reference(case):
    nd, x = case.nd, case.x
    xl = to_last(x)
    out = fn("avg", nd)(xl, **avg_args(case), data_format=LAST[nd])
    want = ref.avg_poolnd(x, **avg_args(case))
    assert out.shape == last_shape(want.shape) and out.dtype == case.dtype
    assert_close(to_first(out), want, case.dtype, ref.avg_poolnd(np.abs(x), **avg_args(case)),
                 err_msg="avg forward")
    go = case.rng.standard_normal(want.shape).astype(case.dtype)
    gi = fn("avg", nd, True)(to_last(go), xl.shape, **avg_args(case), data_format=LAST[nd])
    assert gi.shape == xl.shape and gi.dtype == case.dtype
    assert_close(to_first(gi), ref.avg_poolnd_backward(go, x.shape, **avg_args(case)),
                 case.dtype, ref.avg_poolnd_backward(np.abs(go), x.shape, **avg_args(case)),
                 err_msg="avg backward")
    if case.threads_check:
        for n in (2, 3):
            assert np.array_equal(fn("avg", nd)(xl, **avg_args(case), data_format=LAST[nd],
                                                num_threads=n), out)
            assert np.array_equal(fn("avg", nd, True)(to_last(go), xl.shape, **avg_args(case),
                                                      data_format=LAST[nd], num_threads=n), gi)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,kw", [
    ((2, 64, 28, 28), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 48, 14, 14), dict(kernel_size=2)),
    ((4, 100, 7, 7), dict(kernel_size=7)),                     # global
    ((2, 33, 5, 6, 7), dict(kernel_size=(5, 6, 7))),           # global 3-D
    ((1, 20, 9, 10, 11), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((3, 70, 97), dict(kernel_size=4, stride=3, padding=2)),
])
def test_nhwc_pool_layers(shape, kw, dtype):
    """Common layers: max values and indices equal the channels-first call's, average
    pooling and both gradients the reference's; transposed views as input work."""
    nd = len(shape) - 2
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(dtype)
    xl_view = np.moveaxis(x, 1, -1)          # a channels-last view, not contiguous
    out, idx = fn("max", nd)(xl_view, **kw, return_indices=True, data_format=LAST[nd])
    f_out, f_idx = fn("max", nd)(x, **kw, return_indices=True)
    assert np.array_equal(to_first(out), f_out) and np.array_equal(to_first(idx), f_idx)
    go = rng.standard_normal(f_out.shape).astype(dtype)
    gi = fn("max", nd, True)(np.moveaxis(go, 1, -1), idx, xl_view.shape, data_format=LAST[nd])
    assert np.array_equal(to_first(gi), fn("max", nd, True)(go, f_idx, x.shape))
    avg_kw = {k: v for k, v in kw.items()}
    a = fn("avg", nd)(xl_view, **avg_kw, data_format=LAST[nd])
    assert_close(to_first(a), ref.avg_poolnd(x, **avg_kw), dtype,
                 ref.avg_poolnd(np.abs(x), **avg_kw))
    ga = fn("avg", nd, True)(np.moveaxis(go, 1, -1), xl_view.shape, **avg_kw,
                             data_format=LAST[nd])
    assert_close(to_first(ga), ref.avg_poolnd_backward(go, x.shape, **avg_kw), dtype,
                 ref.avg_poolnd_backward(np.abs(go), x.shape, **avg_kw))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nhwc_max_pool_nan_ties_and_infinities(dtype):
    """ATen's rule along every channel: a NaN wins (the last one), ties keep the first
    maximum, an all -inf window gives -inf at its first element."""
    x = np.zeros((1, 19, 4, 4), dtype)
    x[0, 1, 1, 1] = np.nan
    x[0, 2, 0, 1] = x[0, 2, 1, 0] = 5                       # a tie: the first wins
    x[0, 3] = -np.inf
    x[0, 4, 0, 0], x[0, 4, 1, 1] = np.nan, np.nan           # the last NaN is kept
    x[0, 5:] = np.random.default_rng(0).standard_normal((14, 4, 4))
    for k, s, p in ((2, 2, 0), (3, 1, 1), (4, 4, 0)):
        out, idx = fc.max_pool2d(to_last(x), k, s, p, return_indices=True, data_format="NHWC")
        f_out, f_idx = fc.max_pool2d(x, k, s, p, return_indices=True)
        np.testing.assert_array_equal(to_first(out), f_out)
        np.testing.assert_array_equal(to_first(idx), f_idx)
        e_out, e_idx = ref.max_poolnd(x, k, s, p)
        np.testing.assert_array_equal(to_first(idx), e_idx)


def test_nhwc_routes_and_plan_cache():
    x = np.zeros((2, 16, 12, 12), np.float32)
    xl = to_last(x)
    plan = fc.plan(fc.max_pool2d, xl, 3, 2, 1, data_format="NHWC")
    assert plan.algorithms == {"forward": "max_pool.forward.nhwc"}
    assert plan.problem.layout == "channels_last"
    assert fc.plan(fc.avg_pool2d, xl, 2, data_format="NHWC").algorithms == {
        "forward": "avg_pool.forward.nhwc"}
    go = np.zeros((2, 6, 6, 16), np.float32)
    assert fc.plan(fc.avg_pool2d_backward, go, xl.shape, 2, data_format="NHWC").algorithms == {
        "grad_input": "avg_pool.grad_input.nhwc"}
    assert fc.plan(fc.max_pool2d_backward, go, go.astype(np.int64), xl.shape,
                   data_format="NHWC").algorithms == {"grad_input": "max_pool.grad_input.nhwc"}
    # data_format is part of the plan key: the same array shape in both layouts
    sq = np.zeros((2, 8, 8, 8), np.float32)
    a = fc.max_pool2d(sq, 2)
    b = fc.max_pool2d(sq, 2, data_format="NHWC")
    assert a.shape == (2, 8, 4, 4) and b.shape == (2, 4, 4, 8)
    assert fc.plan(fc.max_pool2d, sq, 2).problem.layout == "channels_first"
    # explicit channels-first strings are the default
    assert np.array_equal(fc.max_pool2d(x, 2, data_format="NCHW"), fc.max_pool2d(x, 2))
    for nd in (1, 3):
        xs = np.zeros((1, 3) + (4,) * nd, np.float32)
        assert fn("avg", nd)(to_last(xs), 2, data_format=LAST[nd]).shape == (1,) + (2,) * nd + (3,)


def test_nhwc_pool_errors():
    xl = np.zeros((2, 8, 8, 3), np.float32)
    with pytest.raises(ValueError, match="`data_format` must be 'NCHW' or 'NHWC'"):
        fc.max_pool2d(xl, 2, data_format="NDHWC")
    with pytest.raises(ValueError, match="`data_format`"):
        fc.avg_pool2d(xl, 2, data_format="nhwc")
    with pytest.raises(TypeError, match="`data_format` must be a str"):
        fc.avg_pool1d(xl[0], 2, data_format=1)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        fc.max_pool2d(xl[0, 0], 2, data_format="NHWC")   # (3-D: unbatched)
    out, idx = fc.max_pool2d(xl, 2, return_indices=True, data_format="NHWC")
    with pytest.raises(ValueError, match="does not match the batch and channels.*NHWC"):
        fc.max_pool2d_backward(out, idx, (2, 3, 8, 8), data_format="NHWC")
    with pytest.raises(ValueError, match="`indices` of shape"):
        fc.max_pool2d_backward(out, idx[:, :1], xl.shape, data_format="NHWC")
    bad = idx.copy()
    bad[0, 0, 0, 0] = 64
    with pytest.raises(ValueError, match="1 entries outside"):
        fc.max_pool2d_backward(out, bad, xl.shape, data_format="NHWC")
    bad[0, 0, 0, 0] = -1
    with pytest.raises(ValueError, match="1 entries outside"):
        fc.max_pool2d_backward(out, bad, xl.shape, data_format="NHWC")
    with pytest.raises(ValueError, match=r"`grad_output` must have shape \(2, 4, 4, 3\).*NHWC"):
        fc.avg_pool2d_backward(np.zeros((2, 3, 4, 4), np.float32), xl.shape, 2,
                               data_format="NHWC")
    with pytest.raises(ValueError, match="`data_format`"):
        fc.avg_pool2d_backward(out, xl.shape, 2, data_format="NWC")


@pytest.mark.torch
@pytest.mark.parametrize("kind,kw", [
    ("max", dict(kernel_size=3, stride=2, padding=1)),
    ("max", dict(kernel_size=2, stride=2, dilation=1, ceil_mode=True)),
    ("avg", dict(kernel_size=2, stride=2)),
    ("avg", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("avg", dict(kernel_size=7)),
])
def test_nhwc_pool_torch(torch, kind, kw):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 24, 15, 15)).astype(np.float32)
    if kind == "avg" and kw["kernel_size"] == 7:
        x = x[:, :, :7, :7].copy()
    xt = torch.tensor(x).to(memory_format=torch.channels_last).requires_grad_()
    xl = to_last(x)
    if kind == "max":
        yt, it = torch.nn.functional.max_pool2d(xt, return_indices=True, **kw)
        y, idx = fc.max_pool2d(xl, return_indices=True, data_format="NHWC", **kw)
        np.testing.assert_array_equal(to_first(idx), it.numpy())
    else:
        yt = torch.nn.functional.avg_pool2d(xt, **kw)
        y = fc.avg_pool2d(xl, data_format="NHWC", **kw)
    np.testing.assert_allclose(to_first(y), yt.detach().numpy(), rtol=1e-6, atol=1e-6)
    go = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(go).to(memory_format=torch.channels_last))
    if kind == "max":
        gi = fc.max_pool2d_backward(to_last(go), idx, xl.shape, data_format="NHWC")
    else:
        gi = fc.avg_pool2d_backward(to_last(go), xl.shape, data_format="NHWC", **kw)
    np.testing.assert_allclose(to_first(gi), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(cases("avg"))
def test_nhwc_avg_pool_same_bits_as_channels_first_window_kernels(case):
    """The channel loops add in the channels-first window kernels' order (forward: from
    0 in row-major tap order, one division; backward: output rows ascending, then ox
    descending, each term grad_output / divisor): the same bits."""
    nd, x = case.nd, case.x
    force = {"forward": "avg_pool.forward.window", "grad_input": "avg_pool.grad_input.window"}
    with fc.tuning(force=force):
        f_out = fn("avg", nd)(x, **avg_args(case))
        go = case.rng.standard_normal(f_out.shape).astype(case.dtype)
        f_gi = fn("avg", nd, True)(go, x.shape, **avg_args(case))
    xl = to_last(x)
    out = fn("avg", nd)(xl, **avg_args(case), data_format=LAST[nd])
    gi = fn("avg", nd, True)(to_last(go), xl.shape, **avg_args(case), data_format=LAST[nd])
    np.testing.assert_array_equal(to_first(out), f_out)
    np.testing.assert_array_equal(to_first(gi), f_gi)
