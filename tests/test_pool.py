"""fastconv max / average pooling (forward and backward) vs the NumPy reference."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastconv
import reference as ref
import strategies as S
from conftest import assert_close

DTYPES = [np.float32, np.float64]


def _max_args(case):
    return dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
                dilation=case.dilation, ceil_mode=case.ceil_mode)


def _avg_args(case):
    return dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
                ceil_mode=case.ceil_mode, count_include_pad=case.count_include_pad)


def _ops(nd):
    if nd == 2:
        return fastconv.max_pool2d, ref.max_pool2d, fastconv.max_pool2d_backward, \
            ref.max_pool2d_backward
    return fastconv.max_pool1d, ref.max_pool1d, fastconv.max_pool1d_backward, \
        ref.max_pool1d_backward


def check_max_pool(case, nd):
    pool, rpool, _, _ = _ops(nd)
    try:
        e_out, e_idx = rpool(case.x, **_max_args(case))
    except ValueError:  # a dilated window with no input element
        with pytest.raises(ValueError):
            pool(case.x, **_max_args(case))
        return
    x0 = case.x.copy()
    out, idx = pool(case.x, **_max_args(case), return_indices=True)
    assert out.dtype == case.dtype and idx.dtype == np.int64
    assert out.shape == e_out.shape and idx.shape == e_idx.shape
    # the max is one of the inputs: exact, NaN included
    np.testing.assert_array_equal(out, e_out.astype(case.dtype))
    np.testing.assert_array_equal(idx, e_idx)
    np.testing.assert_array_equal(pool(case.x, **_max_args(case)), out)
    np.testing.assert_array_equal(case.x, x0)


@given(S.pool_cases("max", nd=2))
def test_max_pool2d_matches_reference(case):
    check_max_pool(case, 2)


@given(S.pool_cases("max", nd=1))
def test_max_pool1d_matches_reference(case):
    check_max_pool(case, 1)


def check_max_pool_backward(case, nd, random_indices):
    _, rpool, bwd, rbwd = _ops(nd)
    try:
        _, idx = rpool(case.x, **_max_args(case))
    except ValueError:
        return
    plane = int(np.prod(case.x.shape[2:]))
    if random_indices:  # any in-range indices, with many collisions
        idx = case.rng.integers(0, plane, idx.shape).astype(np.int64)
    go = case.rng.standard_normal(idx.shape).astype(case.dtype)
    gi = bwd(go, idx, case.x.shape)
    assert gi.dtype == case.dtype and gi.shape == case.x.shape
    assert_close(gi, rbwd(go, idx, case.x.shape), case.dtype,
                 rbwd(np.abs(go), idx, case.x.shape), err_msg=f"max_pool{nd}d_backward")


@given(S.pool_cases("max", nd=2), st.booleans())
def test_max_pool2d_backward_matches_reference(case, random_indices):
    check_max_pool_backward(case, 2, random_indices)


@given(S.pool_cases("max", nd=1), st.booleans())
def test_max_pool1d_backward_matches_reference(case, random_indices):
    check_max_pool_backward(case, 1, random_indices)


def check_avg_pool(case, nd):
    pool = fastconv.avg_pool2d if nd == 2 else fastconv.avg_pool1d
    rpool = ref.avg_pool2d if nd == 2 else ref.avg_pool1d
    out = pool(case.x, **_avg_args(case))
    assert out.dtype == case.dtype
    assert_close(out, rpool(case.x, **_avg_args(case)), case.dtype,
                 rpool(np.abs(case.x), **_avg_args(case)), err_msg=f"avg_pool{nd}d")


def check_avg_pool_backward(case, nd):
    rpool = ref.avg_pool2d if nd == 2 else ref.avg_pool1d
    bwd = fastconv.avg_pool2d_backward if nd == 2 else fastconv.avg_pool1d_backward
    rbwd = ref.avg_pool2d_backward if nd == 2 else ref.avg_pool1d_backward
    go = case.rng.standard_normal(rpool(case.x, **_avg_args(case)).shape).astype(case.dtype)
    gi = bwd(go, case.x.shape, **_avg_args(case))
    assert gi.dtype == case.dtype and gi.shape == case.x.shape
    assert_close(gi, rbwd(go, case.x.shape, **_avg_args(case)), case.dtype,
                 rbwd(np.abs(go), case.x.shape, **_avg_args(case)), err_msg="avg backward")


@given(S.pool_cases("avg", nd=2))
def test_avg_pool2d_matches_reference(case):
    check_avg_pool(case, 2)


@given(S.pool_cases("avg", nd=1))
def test_avg_pool1d_matches_reference(case):
    check_avg_pool(case, 1)


@given(S.pool_cases("avg", nd=2))
def test_avg_pool2d_backward_matches_reference(case):
    check_avg_pool_backward(case, 2)


@given(S.pool_cases("avg", nd=1))
def test_avg_pool1d_backward_matches_reference(case):
    check_avg_pool_backward(case, 1)


# --------------------------------------------------------------------------------------------
# fixed cases: NaN, ties, ceil_mode, divisors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("values, expected_index", [
    ([1, 3, 3, 2], 1),                 # tie: first maximum wins
    ([3, 3, 3, 3], 0),
    ([1, np.nan, 5, 2], 1),            # NaN beats larger values after it
    ([1, np.nan, 5, np.nan], 3),       # the last NaN's index is kept
    ([-np.inf, -np.inf, -np.inf, -np.inf], 0),
    ([np.nan, np.nan, 0, 0], 1)])
def test_max_pool1d_nan_and_ties(dtype, values, expected_index):
    x = np.array(values, dtype=dtype).reshape(1, 1, 4)
    out, idx = fastconv.max_pool1d(x, 4, return_indices=True)
    r_out, r_idx = ref.max_pool1d(x, 4)
    assert idx[0, 0, 0] == expected_index == r_idx[0, 0, 0]
    np.testing.assert_array_equal(out, r_out.astype(dtype))
    np.testing.assert_array_equal(out[0, 0, 0], x[0, 0, expected_index])


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d_nan_and_ties(dtype):
    x = np.array([[2, 5, 5, 1],
                  [5, 0, np.nan, 1],
                  [0, 0, 7, 7],
                  [0, 0, 7, 7]], dtype=dtype).reshape(1, 1, 4, 4)
    out, idx = fastconv.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(idx[0, 0], [[1, 6], [8, 10]])
    np.testing.assert_array_equal(out[0, 0], np.array([[5, np.nan], [0, 7]], dtype))
    r_out, r_idx = ref.max_pool2d(x, 2)
    np.testing.assert_array_equal(idx, r_idx)
    np.testing.assert_array_equal(out, r_out.astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_padding_is_never_a_value(dtype):
    x = -np.arange(1, 10, dtype=dtype).reshape(1, 1, 3, 3)  # all negative
    out, idx = fastconv.max_pool2d(x, 3, stride=1, padding=1, return_indices=True)
    r_out, r_idx = ref.max_pool2d(x, 3, 1, 1)
    assert (out < 0).all()
    np.testing.assert_array_equal(out, r_out.astype(dtype))
    np.testing.assert_array_equal(idx, r_idx)


@pytest.mark.parametrize("nd", [1, 2])
def test_max_pool_empty_dilated_window_raises(nd):
    # L=1, k=2, d=3 (effective 4), pad 2: window taps at -2 and 1, neither inside [0, 1)
    shape = (1, 1, 1) if nd == 1 else (1, 1, 1, 1)
    with pytest.raises(ValueError):
        ref.max_pool1d(np.zeros((1, 1, 1)), 2, 1, 2, 3)
    pool = fastconv.max_pool1d if nd == 1 else fastconv.max_pool2d
    with pytest.raises(ValueError):
        pool(np.zeros(shape), 2, stride=1, padding=2, dilation=3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("count_include_pad", [False, True])
@pytest.mark.parametrize("L, k, s, p", [(5, 2, 2, 1), (6, 3, 2, 1), (7, 3, 3, 0), (97, 4, 3, 2),
                                        (101, 5, 2, (2, 0)), (4, 4, 1, 0)])
def test_avg_pool1d_fixed(dtype, ceil_mode, count_include_pad, L, k, s, p):
    x = np.random.default_rng(L).standard_normal((2, 3, L)).astype(dtype)
    kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil_mode,
              count_include_pad=count_include_pad)
    out = fastconv.avg_pool1d(x, **kw)
    assert_close(out, ref.avg_pool1d(x, **kw), dtype, ref.avg_pool1d(np.abs(x), **kw))
    go = np.ones_like(out)
    assert_close(fastconv.avg_pool1d_backward(go, x.shape, **kw),
                 ref.avg_pool1d_backward(go, x.shape, **kw), dtype)


@pytest.mark.parametrize("count_include_pad, expected", [
    (True, [1.0, 3.0, 5.0, 3.0]),    # divisors 3, 3, 3 and 2: the last window is cut at i + pad
    (False, [1.5, 3.0, 5.0, 6.0])])  # divisors 2, 3, 3, 1: input elements only
def test_avg_pool2d_divisor_rule_by_hand(count_include_pad, expected):
    # W=6, kernel 3, stride 2, pad 1, ceil_mode: windows [-1,2) [1,4) [3,6) [5,7)
    x = np.arange(1.0, 7.0).reshape(1, 1, 1, 6)
    kw = dict(kernel_size=(1, 3), stride=(1, 2), padding=(0, 1), ceil_mode=True,
              count_include_pad=count_include_pad)
    np.testing.assert_allclose(fastconv.avg_pool2d(x, **kw)[0, 0, 0], expected, rtol=1e-15)
    np.testing.assert_allclose(ref.avg_pool2d(x, **kw)[0, 0, 0], expected, rtol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, kw", [
    ((2, 3, 31, 29), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((1, 2, 97, 5), dict(kernel_size=(4, 2), stride=(3, 1), padding=(2, 1))),
    ((1, 1, 7, 7), dict(kernel_size=7)),
    ((2, 2, 5, 6), dict(kernel_size=1, stride=2))])
def test_pool2d_fixed(dtype, shape, kw):
    x = np.random.default_rng(11).standard_normal(shape).astype(dtype)
    out, idx = fastconv.max_pool2d(x, **kw, return_indices=True)
    r_out, r_idx = ref.max_pool2d(x, **kw)
    np.testing.assert_array_equal(out, r_out.astype(dtype))
    np.testing.assert_array_equal(idx, r_idx)
    gi = fastconv.max_pool2d_backward(np.ones_like(out), idx, shape)
    assert_close(gi, ref.max_pool2d_backward(np.ones(out.shape), r_idx, shape), dtype)
    for cip in (False, True):
        a = fastconv.avg_pool2d(x, **kw, count_include_pad=cip)
        assert_close(a, ref.avg_pool2d(x, **kw, count_include_pad=cip), dtype,
                     ref.avg_pool2d(np.abs(x), **kw, count_include_pad=cip))


@pytest.mark.parametrize("x_dtype, expected", [
    (np.float32, np.float32), (np.float64, np.float64), (np.float16, np.float32),
    (np.int64, np.float64), (np.bool_, np.float64)])
def test_pool_result_dtype(x_dtype, expected):
    x = np.random.default_rng(9).integers(-5, 6, (2, 3, 7, 6)).astype(x_dtype)
    out, idx = fastconv.max_pool2d(x, 3, 2, 1, return_indices=True)
    assert out.dtype == expected and idx.dtype == np.int64
    r_out, r_idx = ref.max_pool2d(x, 3, 2, 1)
    np.testing.assert_array_equal(out, r_out)
    np.testing.assert_array_equal(idx, r_idx)
    avg = fastconv.avg_pool2d(x, 3, 2, 1, ceil_mode=True)
    assert avg.dtype == expected
    assert_close(avg, ref.avg_pool2d(x, 3, 2, 1, ceil_mode=True), expected,
                 ref.avg_pool2d(np.abs(x.astype(np.float64)), 3, 2, 1, ceil_mode=True))
