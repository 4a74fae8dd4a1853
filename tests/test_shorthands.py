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
