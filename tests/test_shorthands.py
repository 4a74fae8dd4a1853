"""torch's argument shorthands (issue 13 item 7): a 1-element tuple repeats over the spatial
dimensions for every window argument, and pooling's ``stride=()`` means the default."""
import numpy as np
import pytest

import fastconv as fc

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("nd", [2, 3])
def test_conv_one_tuples_repeat(nd):
    x = RNG.standard_normal((1, 2) + (7,) * nd)
    w = RNG.standard_normal((3, 2) + (3,) * nd)
    conv = getattr(fc, f"conv{nd}d")
    ref = conv(x, w, stride=2, padding=1, dilation=2)
    np.testing.assert_array_equal(conv(x, w, stride=(2,), padding=(1,), dilation=[2]), ref)
    bwd = getattr(fc, f"conv{nd}d_backward")
    go = np.ones_like(ref)
    for a, b in zip(bwd(go, x, w, stride=(2,), padding=(1,), dilation=(2,)),
                    bwd(go, x, w, stride=2, padding=1, dilation=2)):
        np.testing.assert_array_equal(a, b)
    ct = getattr(fc, f"conv_transpose{nd}d")
    wt = RNG.standard_normal((2, 3) + (3,) * nd)
    np.testing.assert_array_equal(ct(x, wt, stride=(2,), padding=(1,), output_padding=(1,)),
                                  ct(x, wt, stride=2, padding=1, output_padding=1))


@pytest.mark.parametrize("nd", [2, 3])
def test_pool_one_tuples_and_empty_stride(nd):
    x = RNG.standard_normal((1, 2) + (8,) * nd)
    mp, ap = getattr(fc, f"max_pool{nd}d"), getattr(fc, f"avg_pool{nd}d")
    ref, idx = mp(x, 3, stride=3, padding=1, return_indices=True)
    got, gidx = mp(x, (3,), stride=(), padding=(1,), dilation=(1,), return_indices=True)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(gidx, idx)
    np.testing.assert_array_equal(ap(x, (2,), stride=[]), ap(x, 2))
    np.testing.assert_array_equal(
        getattr(fc, f"avg_pool{nd}d_backward")(np.ones_like(ap(x, 2)), x.shape, (2,), ()),
        getattr(fc, f"avg_pool{nd}d_backward")(np.ones_like(ap(x, 2)), x.shape, 2))


def test_im2col_and_adaptive_one_tuples():
    x = RNG.standard_normal((1, 2, 6, 6))
    np.testing.assert_array_equal(fc.im2col(x, (3,), padding=(1,), stride=(2,)),
                                  fc.im2col(x, 3, padding=1, stride=2))
    np.testing.assert_array_equal(fc.adaptive_avg_pool2d(x, (4,)), fc.adaptive_avg_pool2d(x, 4))
    assert fc.conv_output_size((7, 7), (3,), stride=(2,)) == (3, 3)


def test_what_stays_an_error():
    x = RNG.standard_normal((1, 2, 6, 6))
    w = RNG.standard_normal((3, 2, 3, 3))
    with pytest.raises(ValueError, match="`stride`"):
        fc.conv2d(x, w, stride=())            # torch rejects it for convolutions too
    with pytest.raises(ValueError, match="`stride`"):
        fc.conv2d(x, w, stride=(1, 1, 1))
    with pytest.raises(ValueError, match="`input_shape`"):
        fc.max_pool2d_backward(np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 3, 3), np.int64), (6,))
    with pytest.raises(ValueError, match="`input_shape`"):
        fc.adaptive_avg_pool2d_backward(np.zeros((1, 2, 3, 3)), (6,))
    with pytest.raises((ValueError, TypeError), match="`padding`"):
        fc.conv2d(x, w, padding=((1, 1),))    # a 1-tuple of a pair does not repeat


# ---------------------------------------------------- zero-size channel axes (item 7)

@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("last", [False, True])
def test_conv_over_no_input_channels_is_the_bias(nd, last):
    sp, k = (5, 4, 3)[:nd], (3, 2, 2)[:nd]
    x = np.zeros((2, 0) + sp)
    w = np.zeros((4, 0) + k)
    b = np.arange(4.0)
    kw = {}
    if last:
        x, w = np.moveaxis(x, 1, -1), np.transpose(w, tuple(range(2, nd + 2)) + (1, 0))
        kw["data_format"] = ("NWC", "NHWC", "NDHWC")[nd - 1]
    y = getattr(fc, f"conv{nd}d")(x, w, b, padding=1, **kw)
    ych = np.moveaxis(y, -1, 1) if last else y
    assert ych.shape == (2, 4) + tuple(s + 2 - kk + 1 for s, kk in zip(sp, k))
    np.testing.assert_array_equal(ych, np.broadcast_to(b.reshape((1, 4) + (1,) * nd),
                                                       ych.shape))
    go = np.ones_like(y)
    gx, gw, gb = getattr(fc, f"conv{nd}d_backward")(go, x, w, padding=1, **kw)
    assert gx.shape == x.shape and gw.shape == w.shape
    np.testing.assert_array_equal(gb, np.full(4, go[:, :1].size if not last else go[..., :1].size))
    # the transposed convolution over no input channels: the bias, and its gradient
    wt = np.zeros((0, 3) + k)
    yt = getattr(fc, f"conv_transpose{nd}d")(np.zeros((1, 0) + sp), wt, np.arange(3.0))
    np.testing.assert_array_equal(yt.reshape(3, -1)[:, 0],
                                  [0.0, 1.0, 2.0])
    gxt, gwt, gbt = getattr(fc, f"conv_transpose{nd}d_backward")(np.ones_like(yt),
                                                                 np.zeros((1, 0) + sp), wt)
    assert gxt.shape == (1, 0) + sp and gwt.shape == wt.shape
    np.testing.assert_array_equal(gbt, np.full(3, yt[0, 0].size))


def test_pooling_and_unfold_over_no_channels():
    x = np.zeros((2, 0, 6, 6))
    assert fc.max_pool2d(x, 2).shape == (2, 0, 3, 3)
    assert fc.avg_pool2d(x, 2).shape == (2, 0, 3, 3)
    assert fc.adaptive_avg_pool2d(x, 2).shape == (2, 0, 2, 2)
    assert fc.im2col(x, 2).shape == (2, 0, 25)
    assert fc.max_pool2d(np.zeros((2, 6, 6, 0)), 2, data_format="NHWC").shape == (2, 3, 3, 0)
