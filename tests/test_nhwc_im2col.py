"""im2col / col2im on channels-last (NHWC) images: TensorFlow's extract_patches layout.

The reference is the channels-first reference (tests/reference.py) on the transposed
images, its columns rearranged: (N, C*kH*kW, L) rows c*taps + t -> (N, Hout, Wout,
taps*C) entries t*C + c.
"""

import numpy as np
import pytest
from hypothesis import given

import fastconv
import reference as ref
import strategies as S
from conftest import TOLERANCE, assert_close


def _args(case):
    return dict(kernel_size=case.kernel_size, dilation=case.dilation, padding=case.padding,
                stride=case.stride)


def _nhwc(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def _cols_nhwc(cols_cf, C, out_hw):
    """Channels-first columns (N, C*taps, L) in extract_patches order (N, Ho, Wo, taps*C)."""
    N, K, L = cols_cf.shape
    taps = K // C
    c = cols_cf.reshape(N, C, taps, L).transpose(0, 3, 2, 1)    # (N, L, taps, C)
    return np.ascontiguousarray(c.reshape((N,) + tuple(out_hw) + (taps * C,)))


def _cols_first(cols_l, C):
    N, Ho, Wo, K = cols_l.shape
    taps = K // C
    c = cols_l.reshape(N, Ho * Wo, taps, C).transpose(0, 3, 2, 1)
    return np.ascontiguousarray(c.reshape(N, C * taps, Ho * Wo))


@given(S.im2col_cases())
def test_im2col_nhwc_matches_reference(case):
    x = _nhwc(case.x)
    x0 = x.copy()
    cols = fastconv.im2col(x, **_args(case), data_format="NHWC")
    expected_cf = ref.im2col(case.x, **_args(case))
    first = fastconv.im2col(case.x, **_args(case))
    out_hw = cols.shape[1:3]
    assert cols.dtype == case.dtype and cols.flags.c_contiguous
    assert cols.shape == (x.shape[0],) + out_hw + (expected_cf.shape[1],)
    assert out_hw[0] * out_hw[1] == expected_cf.shape[2]
    # a copy of values and zeros: exact, and the same numbers as the NCHW columns
    np.testing.assert_array_equal(cols, _cols_nhwc(expected_cf, x.shape[-1], out_hw)
                                  .astype(case.dtype))
    np.testing.assert_array_equal(_cols_first(cols, x.shape[-1]), first)
    np.testing.assert_array_equal(x, x0)


@given(S.im2col_cases())
def test_col2im_nhwc_matches_reference(case):
    N, C, H, W = case.x.shape
    cols_cf_shape = ref.im2col(case.x, **_args(case)).shape
    y_cf = case.rng.standard_normal(cols_cf_shape).astype(case.dtype)
    out_hw = fastconv.im2col(case.x[:1, :1], **_args(case)).shape
    ho_wo = fastconv.im2col(_nhwc(case.x[:1, :1]), **_args(case), data_format="NHWC").shape[1:3]
    assert out_hw[2] == ho_wo[0] * ho_wo[1]
    y = _cols_nhwc(y_cf, C, ho_wo)
    out = fastconv.col2im(y, (H, W), **_args(case), data_format="NHWC")
    assert out.dtype == case.dtype and out.shape == (N, H, W, C) and out.flags.c_contiguous
    expected = ref.col2im(y_cf, (H, W), **_args(case)).transpose(0, 2, 3, 1)
    scale = ref.col2im(np.abs(y_cf), (H, W), **_args(case)).transpose(0, 2, 3, 1)
    assert_close(out, expected, case.dtype, scale, err_msg="col2im NHWC")


@given(S.im2col_cases())
def test_im2col_col2im_nhwc_adjoint(case):
    x = _nhwc(case.x)
    H, W = x.shape[1:3]
    cols = fastconv.im2col(x, **_args(case), data_format="NHWC")
    y = case.rng.standard_normal(cols.shape).astype(case.dtype)
    back = fastconv.col2im(y, (H, W), **_args(case), data_format="NHWC")
    lhs, rhs = ref.naive_dot(cols, y), ref.naive_dot(x, back)
    scale = ref.naive_dot(np.abs(cols), np.abs(y))
    assert abs(lhs - rhs) <= 4 * TOLERANCE[case.dtype] * scale + 1e-300, (lhs, rhs, scale)


def test_im2col_nhwc_matmul_is_conv_with_hwio_weight():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 7, 6, 3))
    w = rng.standard_normal((3, 2, 3, 5))                     # HWIO
    cols = fastconv.im2col(x, (3, 2), padding=1, stride=(2, 1), data_format="NHWC")
    y = cols @ w.reshape(-1, 5)
    # the channels-first convolution of the same data, moved to NHWC
    y_cf = fastconv.conv2d(x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), padding=1,
                           stride=(2, 1))
    np.testing.assert_allclose(y, y_cf.transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-12)


def test_nhwc_unfold_threads_bitwise_and_views():
    rng = np.random.default_rng(1)
    base = rng.standard_normal((3, 5, 9, 11)).astype(np.float32)   # NCHW
    x = base.transpose(0, 2, 3, 1)                                  # NHWC, a view
    kw = dict(kernel_size=3, dilation=(1, 2), padding=2, stride=(2, 1), data_format="NHWC")
    outs = [fastconv.im2col(x, **kw, num_threads=t) for t in (1, 2, 3)]
    np.testing.assert_array_equal(outs[0], fastconv.im2col(np.ascontiguousarray(x), **kw))
    y = rng.standard_normal(outs[0].shape).astype(np.float32)
    backs = [fastconv.col2im(y, (9, 11), **kw, num_threads=t) for t in (1, 2, 3)]
    for o in outs[1:]:
        assert o.tobytes() == outs[0].tobytes()
    for b in backs[1:]:
        assert b.tobytes() == backs[0].tobytes()
    assert fastconv.plan(fastconv.im2col, x, **kw).algorithms == {"forward": "unfold.forward.nhwc"}
    assert fastconv.plan(fastconv.col2im, y, (9, 11), **kw).algorithms == {
        "grad_input": "unfold.grad_input.nhwc"}


@pytest.mark.parametrize("fmt", ["NCW", "NDHWC", "nhwc", "HWC", ""])
def test_unfold_bad_data_format(fmt):
    x = np.zeros((1, 4, 4, 2))
    with pytest.raises(ValueError, match="data_format"):
        fastconv.im2col(x, 2, data_format=fmt)
    with pytest.raises(ValueError, match="data_format"):
        fastconv.col2im(np.zeros((1, 3, 3, 8)), 4, 2, data_format=fmt)


def test_unfold_data_format_type():
    with pytest.raises(TypeError, match="data_format"):
        fastconv.im2col(np.zeros((1, 4, 4, 2)), 2, data_format=1)


def test_col2im_nhwc_shape_errors():
    with pytest.raises(ValueError, match=r"\(N, Hout, Wout, kH\*kW\*C\)"):
        fastconv.col2im(np.zeros((8, 9)), 4, 2, data_format="NHWC")   # (3-D: unbatched)
    with pytest.raises(ValueError, match="multiple of kH\\*kW=4"):
        fastconv.col2im(np.zeros((1, 3, 3, 6)), 4, 2, data_format="NHWC")
    with pytest.raises(ValueError, match="3x2 windows"):
        fastconv.col2im(np.zeros((1, 3, 2, 8)), 4, 2, data_format="NHWC")
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        fastconv.im2col(np.zeros((4, 2)), 2, data_format="NHWC")
