"""fastconv.im2col / col2im vs the NumPy reference, adjointness and the conv2d link."""

import numpy as np
import pytest
from hypothesis import given

import fastconv
import reference as ref
import strategies as S
from conftest import TOLERANCE, assert_close

DTYPES = [np.float32, np.float64]


def _args(case):
    return dict(kernel_size=case.kernel_size, dilation=case.dilation, padding=case.padding,
                stride=case.stride)


@given(S.im2col_cases())
def test_im2col_matches_reference(case):
    x0 = case.x.copy()
    cols = fastconv.im2col(case.x, **_args(case))
    expected = ref.im2col(case.x, **_args(case))
    assert cols.dtype == case.dtype
    assert cols.flags.c_contiguous
    assert cols.shape == expected.shape
    # im2col only copies values (and zeros for padding): exact
    np.testing.assert_array_equal(cols, expected.astype(case.dtype))
    np.testing.assert_array_equal(case.x, x0)


@given(S.im2col_cases())
def test_col2im_matches_reference(case):
    H, W = case.x.shape[2:]
    shape = ref.im2col(case.x, **_args(case)).shape
    y = case.rng.standard_normal(shape).astype(case.dtype)
    output_size = H if H == W and case.rng.random() < 0.5 else (H, W)
    out = fastconv.col2im(y, output_size, **_args(case))
    assert out.dtype == case.dtype
    assert out.shape == case.x.shape
    assert_close(out, ref.col2im(y, (H, W), **_args(case)), case.dtype,
                 ref.col2im(np.abs(y), (H, W), **_args(case)), err_msg="col2im")


@given(S.im2col_cases())
def test_im2col_col2im_adjoint(case):
    """<im2col(x), y> == <x, col2im(y)>, both sides computed with fastconv."""
    H, W = case.x.shape[2:]
    cols = fastconv.im2col(case.x, **_args(case))
    y = case.rng.standard_normal(cols.shape).astype(case.dtype)
    back = fastconv.col2im(y, (H, W), **_args(case))
    lhs, rhs = ref.naive_dot(cols, y), ref.naive_dot(case.x, back)
    scale = ref.naive_dot(np.abs(cols), np.abs(y))
    assert abs(lhs - rhs) <= 4 * TOLERANCE[case.dtype] * scale + 1e-300, (lhs, rhs, scale)


@given(S.im2col_cases())
def test_im2col_matmul_equals_conv2d(case):
    """conv2d == weight matrix @ im2col(x) (groups=1)."""
    N, C = case.x.shape[:2]
    w = case.rng.standard_normal((3, C, *case.k)).astype(case.dtype)
    cols = fastconv.im2col(case.x, **_args(case))
    conv = fastconv.conv2d(case.x, w, stride=case.stride, padding=case.padding,
                           dilation=case.dilation)
    via_cols = np.einsum("ok,nkl->nol", w.reshape(3, -1).astype(np.float64), cols)
    scale = np.einsum("ok,nkl->nol", np.abs(w.reshape(3, -1)).astype(np.float64), np.abs(cols))
    assert_close(conv.reshape(via_cols.shape), via_cols, case.dtype, scale)


@pytest.mark.parametrize("dtype", DTYPES)
def test_im2col_layout_by_hand(dtype):
    # x[0, c] = 10*c + plane index; 2x2 kernel, stride 1 on a 2x3 plane -> 2 windows
    x = (np.arange(6).reshape(1, 1, 2, 3) + 10 * np.arange(2).reshape(1, 2, 1, 1)).astype(dtype)
    cols = fastconv.im2col(x, (2, 2))
    expected = [[0, 1], [1, 2], [3, 4], [4, 5], [10, 11], [11, 12], [13, 14], [14, 15]]
    np.testing.assert_array_equal(cols[0], np.array(expected, dtype))
    # col2im of all-ones counts how many windows cover each pixel
    counts = fastconv.col2im(np.ones_like(cols), (2, 3), (2, 2))
    np.testing.assert_array_equal(counts[0, 0], [[1, 2, 1], [1, 2, 1]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, kw", [
    ((2, 3, 97, 5), dict(kernel_size=(3, 1), padding=1)),
    ((1, 2, 1, 101), dict(kernel_size=(1, 4), stride=(1, 3), dilation=2)),
    ((1, 3, 23, 31), dict(kernel_size=5, stride=2, padding=((2, 1), (0, 3)))),
    ((2, 2, 4, 5), dict(kernel_size=(4, 5))),
    ((1, 1, 6, 6), dict(kernel_size=1, stride=3))])
def test_im2col_col2im_fixed(dtype, shape, kw):
    x = np.random.default_rng(5).standard_normal(shape).astype(dtype)
    cols = fastconv.im2col(x, **kw)
    np.testing.assert_array_equal(cols, ref.im2col(x, **kw).astype(dtype))
    back = fastconv.col2im(cols, shape[2:], **kw)
    assert_close(back, ref.col2im(cols, shape[2:], **kw), dtype,
                 ref.col2im(np.abs(cols), shape[2:], **kw))
