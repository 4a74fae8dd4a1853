"""fastconv's 3-D ops (conv3d, conv3d_backward, conv_transpose3d, max/avg_pool3d and their
backward) and ``divisor_override`` of average pooling, against tests/reference.py.

Same contract as the 2-D ops (docs/api.md) with one more spatial axis: x (N, C, D, H, W),
weights (O, C/groups, kD, kH, kW) / (Cin, Cout/groups, kD, kH, kW), max-pool indices int64
offsets within each D*H*W volume. Sections: hypothesis comparisons with the reference, fixed
cases, consistency with the 2-D ops, input layouts and dtypes, bitwise determinism over
thread counts, finite-difference gradients, error paths.

Skipped as a whole while fastconv has no conv3d.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
import reference as ref
import strategies as S
from conftest import assert_close

if not hasattr(fastconv, "conv3d"):
    pytest.skip("fastconv has no 3-D ops yet (fastconv.conv3d is missing)",
                allow_module_level=True)

from test_errors import (ALLOWED, EITHER, KERNEL_OR_WEIGHT, X_, _arr, _bad,  # noqa: E402
                         check_raises_naming, check_raises_only_allowed)
from test_gradients import check_gradient, linear_loss  # noqa: E402
from test_layouts import (LAYOUTS, _as_tuple,  # noqa: E402
                          check_layout, check_one_odd_input)
from test_threads import _assert_bitwise  # noqa: E402

fc = fastconv
DTYPES = [np.float32, np.float64]
F64 = st.just(np.float64)


def examples(n):
    """n examples under the ci profile (50); longer profiles scale it up."""
    return settings(max_examples=max(1, n * settings.default.max_examples // 50))


def _abs(a):
    return None if a is None else np.abs(a)


def _conv_kw(case):
    return dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
                groups=case.groups, flip=case.flip)


def _convt_kw(case):
    return dict(stride=case.stride, padding=case.padding, output_padding=case.output_padding,
                groups=case.groups, dilation=case.dilation)


def _max_kw(case):
    return dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
                dilation=case.dilation, ceil_mode=case.ceil_mode)


def _avg_kw(case):
    return dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
                ceil_mode=case.ceil_mode, count_include_pad=case.count_include_pad,
                divisor_override=case.divisor_override)


# --------------------------------------------------------------------------------------------
# hypothesis: every 3-D op against the reference
# --------------------------------------------------------------------------------------------


@examples(40)
@given(S.conv3d_cases())
def test_conv3d_matches_reference(case):
    kw = _conv_kw(case)
    x0, w0 = case.x.copy(), case.w.copy()
    out = fc.conv3d(case.x, case.w, case.b, **kw)
    expected = ref.conv3d(case.x, case.w, case.b, **kw)
    scale = ref.conv3d(np.abs(case.x), np.abs(case.w), _abs(case.b), **kw)
    assert out.dtype == case.dtype
    assert out.flags.c_contiguous
    assert_close(out, expected, case.dtype, scale, err_msg="conv3d")
    np.testing.assert_array_equal(case.x, x0)  # inputs untouched
    np.testing.assert_array_equal(case.w, w0)


@examples(40)
@given(S.conv3d_cases())
def test_conv3d_backward_matches_reference(case):
    kw = _conv_kw(case)
    out_shape = ref.conv3d(case.x, case.w, **kw).shape
    go = case.rng.standard_normal(out_shape).astype(case.dtype)
    gi, gw, gb = fc.conv3d_backward(go, case.x, case.w, **kw)
    expected = ref.conv3d_backward(go, case.x, case.w, **kw)
    scales = ref.conv3d_backward(np.abs(go), np.abs(case.x), np.abs(case.w), **kw)
    for name, got, exp, scale in zip(["grad_input", "grad_weight", "grad_bias"], (gi, gw, gb),
                                     expected, scales):
        assert got.dtype == case.dtype and got.flags.c_contiguous, name
        assert_close(got, exp, case.dtype, scale, err_msg=f"conv3d_backward {name}")
    assert gi.shape == case.x.shape and gw.shape == case.w.shape and gb.shape == (case.w.shape[0],)


@examples(40)
@given(S.conv_transpose3d_cases())
def test_conv_transpose3d_matches_reference(case):
    kw = _convt_kw(case)
    out = fc.conv_transpose3d(case.x, case.w, case.b, **kw)
    expected = ref.conv_transpose3d(case.x, case.w, case.b, **kw)
    scale = ref.conv_transpose3d(np.abs(case.x), np.abs(case.w), _abs(case.b), **kw)
    assert out.dtype == case.dtype and out.flags.c_contiguous
    assert_close(out, expected, case.dtype, scale, err_msg="conv_transpose3d")


@examples(30)
@given(S.conv3d_cases(allow_flip=False))
def test_conv_transpose3d_equals_conv3d_backward_grad_input(case):
    # the transposed op takes explicit padding only: use the resolved per-side pairs
    out = ref.conv3d(case.x, case.w, None, case.s, case.pads, case.d, case.groups)
    # positions of the padded input that no window reaches become output_padding
    op = tuple(n + p0 + p1 - (d * (k - 1) + 1) - (o - 1) * s
               for n, (p0, p1), k, s, d, o in zip(case.x.shape[2:], case.pads, case.k, case.s,
                                                   case.d, out.shape[2:]))
    g = case.rng.standard_normal(out.shape).astype(case.dtype)
    gi = fc.conv3d_backward(g, case.x, case.w, case.s, tuple(case.pads), case.d, case.groups)[0]
    ct = fc.conv_transpose3d(g, case.w, None, case.s, tuple(case.pads), op, case.groups, case.d)
    assert ct.shape == case.x.shape
    scale = ref.conv3d_backward(np.abs(g), np.abs(case.x), np.abs(case.w), case.s, case.pads,
                                case.d, case.groups)[0]
    assert_close(ct, gi, case.dtype, scale, err_msg="conv_transpose3d vs grad_input")


@examples(40)
@given(S.pool3d_cases("max"))
def test_max_pool3d_matches_reference(case):
    try:
        e_out, e_idx = ref.max_pool3d(case.x, **_max_kw(case))
    except ValueError:  # a dilated window with no input element
        with pytest.raises(ValueError):
            fc.max_pool3d(case.x, **_max_kw(case))
        return
    x0 = case.x.copy()
    out, idx = fc.max_pool3d(case.x, **_max_kw(case), return_indices=True)
    assert out.dtype == case.dtype and idx.dtype == np.int64
    assert out.flags.c_contiguous and idx.flags.c_contiguous
    assert out.shape == e_out.shape and idx.shape == e_idx.shape
    # the max is one of the inputs: exact, NaN included; indices within D*H*W
    np.testing.assert_array_equal(out, e_out.astype(case.dtype))
    np.testing.assert_array_equal(idx, e_idx)
    np.testing.assert_array_equal(fc.max_pool3d(case.x, **_max_kw(case)), out)
    np.testing.assert_array_equal(case.x, x0)


@examples(30)
@given(S.pool3d_cases("max"), st.booleans())
def test_max_pool3d_backward_matches_reference(case, random_indices):
    try:
        _, idx = ref.max_pool3d(case.x, **_max_kw(case))
    except ValueError:
        return
    volume = int(np.prod(case.x.shape[2:]))
    if random_indices:  # any in-range indices, with many collisions
        idx = case.rng.integers(0, volume, idx.shape).astype(np.int64)
    go = case.rng.standard_normal(idx.shape).astype(case.dtype)
    gi = fc.max_pool3d_backward(go, idx, case.x.shape)
    assert gi.dtype == case.dtype and gi.shape == case.x.shape and gi.flags.c_contiguous
    assert_close(gi, ref.max_pool3d_backward(go, idx, case.x.shape), case.dtype,
                 ref.max_pool3d_backward(np.abs(go), idx, case.x.shape),
                 err_msg="max_pool3d_backward")


@examples(40)
@given(S.pool3d_cases("avg"))
def test_avg_pool3d_matches_reference(case):
    out = fc.avg_pool3d(case.x, **_avg_kw(case))
    assert out.dtype == case.dtype and out.flags.c_contiguous
    assert_close(out, ref.avg_pool3d(case.x, **_avg_kw(case)), case.dtype,
                 ref.avg_pool3d(np.abs(case.x), **_avg_kw(case)), err_msg="avg_pool3d")


@examples(40)
@given(S.pool3d_cases("avg"))
def test_avg_pool3d_backward_matches_reference(case):
    out_shape = ref.avg_pool3d(case.x, **_avg_kw(case)).shape
    go = case.rng.standard_normal(out_shape).astype(case.dtype)
    gi = fc.avg_pool3d_backward(go, case.x.shape, **_avg_kw(case))
    assert gi.dtype == case.dtype and gi.shape == case.x.shape
    assert_close(gi, ref.avg_pool3d_backward(go, case.x.shape, **_avg_kw(case)), case.dtype,
                 ref.avg_pool3d_backward(np.abs(go), case.x.shape, **_avg_kw(case)),
                 err_msg="avg_pool3d_backward")


@pytest.mark.parametrize("nd", [1, 2])
@examples(30)
@given(data=st.data())
def test_avg_pool_divisor_override_matches_reference(nd, data):
    case = data.draw(S.pool_cases("avg", nd=nd, divisor_override=True))
    pool = fc.avg_pool2d if nd == 2 else fc.avg_pool1d
    bwd = fc.avg_pool2d_backward if nd == 2 else fc.avg_pool1d_backward
    rpool = ref.avg_pool2d if nd == 2 else ref.avg_pool1d
    rbwd = ref.avg_pool2d_backward if nd == 2 else ref.avg_pool1d_backward
    kw = _avg_kw(case)
    out = pool(case.x, **kw)
    assert out.dtype == case.dtype
    assert_close(out, rpool(case.x, **kw), case.dtype, rpool(np.abs(case.x), **kw),
                 err_msg=f"avg_pool{nd}d divisor_override={case.divisor_override}")
    go = case.rng.standard_normal(out.shape).astype(case.dtype)
    gi = bwd(go, case.x.shape, **kw)
    assert gi.dtype == case.dtype and gi.shape == case.x.shape
    assert_close(gi, rbwd(go, case.x.shape, **kw), case.dtype,
                 rbwd(np.abs(go), case.x.shape, **kw), err_msg=f"avg_pool{nd}d_backward")


# --------------------------------------------------------------------------------------------
# fixed cases
# --------------------------------------------------------------------------------------------


def _conv3d_case(dtype, shape, wshape, seed=0, **kw):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(wshape).astype(dtype)
    b = rng.standard_normal(wshape[0]).astype(dtype)
    out = fc.conv3d(x, w, b, **kw)
    assert out.dtype == dtype
    assert_close(out, ref.conv3d(x, w, b, **kw), dtype,
                 ref.conv3d(np.abs(x), np.abs(w), np.abs(b), **kw))
    go = rng.standard_normal(out.shape).astype(dtype)
    got = fc.conv3d_backward(go, x, w, **kw)
    exp = ref.conv3d_backward(go, x, w, **kw)
    scl = ref.conv3d_backward(np.abs(go), np.abs(x), np.abs(w), **kw)
    for name, a, e, s in zip(["grad_input", "grad_weight", "grad_bias"], got, exp, scl):
        assert_close(a, e, dtype, s, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride", [1, 2, (1, 2, 3)])
def test_conv3d_1x1x1_kernel(dtype, stride):
    _conv3d_case(dtype, (2, 5, 4, 7, 6), (4, 5, 1, 1, 1), stride=stride)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 3, 5, 4), (1, 2, 1, 1, 7), (3, 1, 1, 1, 1)])
def test_conv3d_kernel_equals_input(dtype, shape):
    _conv3d_case(dtype, shape, (4, shape[1], *shape[2:]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, kw", [
    ((2, 3, 9, 11, 13), dict(stride=2, padding=1)),
    ((1, 4, 7, 13, 5), dict(stride=(1, 3, 2), padding=((2, 0), (1, 3), (0, 1)),
                            dilation=(2, 1, 1), groups=2)),
    ((1, 2, 5, 9, 11), dict(padding="same", dilation=(1, 2, 1))),
    ((1, 2, 6, 7, 5), dict(padding="same", stride=(2, 1, 3), flip=True))])
def test_conv3d_moderate_odd_sizes(dtype, shape, kw):
    _conv3d_case(dtype, shape, (4, shape[1] // kw.get("groups", 1), 3, 3, 2), **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("multiplier", [1, 2])
def test_conv3d_depthwise_groups_equal_channels(dtype, multiplier):
    C = 5
    _conv3d_case(dtype, (2, C, 5, 6, 7), (C * multiplier, 1, 3, 3, 3), groups=C, padding=1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv3d_flip_is_correlation_with_flipped_kernel(dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 6, 7, 5)).astype(dtype)
    w = rng.standard_normal((4, 2, 2, 3, 3)).astype(dtype)
    axes = (2, 3, 4)
    kw = dict(stride=(1, 2, 1), padding=1, dilation=(1, 1, 2), groups=2)
    flipped = fc.conv3d(x, w, flip=True, **kw)
    direct = fc.conv3d(x, np.ascontiguousarray(np.flip(w, axes)), **kw)
    assert_close(flipped, direct, dtype)
    go = rng.standard_normal(flipped.shape).astype(dtype)
    gi_f, gw_f, gb_f = fc.conv3d_backward(go, x, w, flip=True, **kw)
    gi_d, gw_d, gb_d = fc.conv3d_backward(go, x, np.ascontiguousarray(np.flip(w, axes)), **kw)
    assert_close(gi_f, gi_d, dtype)
    assert_close(gw_f, np.flip(gw_d, axes), dtype)  # gradient w.r.t. the unflipped weight
    assert_close(gb_f, gb_d, dtype)


@pytest.mark.parametrize("padding", [2, (2, 2, 2), [2, 2, 2], ((2, 2), (2, 2), (2, 2))])
def test_conv3d_padding_forms_agree(padding):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((1, 2, 4, 6, 5)), rng.standard_normal((3, 2, 3, 2, 3))
    np.testing.assert_array_equal(fc.conv3d(x, w, padding=padding),
                                  fc.conv3d(x, w, padding=((2, 2), (2, 2), (2, 2))))


def test_conv3d_padding_per_side_is_before_after_per_axis():
    x = np.arange(1.0, 3.0).reshape(1, 1, 1, 1, 2)
    w = np.ones((1, 1, 1, 1, 1))
    out = fc.conv3d(x, w, padding=((1, 0), (0, 2), (2, 1)))
    assert out.shape == (1, 1, 2, 3, 5)
    expected = np.zeros((2, 3, 5))
    expected[1, 0, 2:4] = [1.0, 2.0]
    np.testing.assert_array_equal(out[0, 0], expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose3d_depthwise_and_output_padding(dtype):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 3, 4, 5)).astype(dtype)
    w = rng.standard_normal((4, 1, 3, 2, 3)).astype(dtype)
    kw = dict(groups=4, stride=(2, 3, 1), output_padding=(1, 2, 0),
              padding=((1, 0), (1, 1), (0, 2)))
    ct = fc.conv_transpose3d(x, w, **kw)
    assert_close(ct, ref.conv_transpose3d(x, w, **kw), dtype,
                 ref.conv_transpose3d(np.abs(x), np.abs(w), **kw))


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool3d_nan_ties_and_volume_indices(dtype):
    x = np.zeros((1, 1, 2, 2, 4), dtype)
    x[0, 0, 1, 0, 0] = 5.0   # window 0: its maximum is in the second depth slice
    x[0, 0, 0, 1, 1] = 5.0   # ... tied with an earlier element: the first one (offset 5) wins
    x[0, 0, 0, 0, 2] = 1.0   # window 1: a NaN after the maximum still wins
    x[0, 0, 1, 1, 3] = np.nan
    out, idx = fc.max_pool3d(x, 2, return_indices=True)
    assert out.shape == idx.shape == (1, 1, 1, 1, 2)
    assert idx[0, 0, 0, 0, 0] == 0 * 8 + 1 * 4 + 1  # offset (d*H + h)*W + w of (0, 1, 1)
    assert out[0, 0, 0, 0, 0] == 5.0
    assert idx[0, 0, 0, 0, 1] == 1 * 8 + 1 * 4 + 3 and np.isnan(out[0, 0, 0, 0, 1])
    r_out, r_idx = ref.max_pool3d(x, 2)
    np.testing.assert_array_equal(idx, r_idx)
    np.testing.assert_array_equal(out, r_out.astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool3d_padding_is_never_a_value_and_all_minus_inf(dtype):
    x = -np.arange(1, 28, dtype=dtype).reshape(1, 1, 3, 3, 3)  # all negative
    out, idx = fc.max_pool3d(x, 3, stride=1, padding=1, return_indices=True)
    r_out, r_idx = ref.max_pool3d(x, 3, 1, 1)
    assert (out < 0).all()
    np.testing.assert_array_equal(out, r_out.astype(dtype))
    np.testing.assert_array_equal(idx, r_idx)
    x = np.full((1, 2, 3, 2, 2), -np.inf, dtype)  # a window of only -inf: its first element
    out, idx = fc.max_pool3d(x, 2, stride=1, padding=1, return_indices=True)
    np.testing.assert_array_equal(idx, ref.max_pool3d(x, 2, 1, 1)[1])
    assert np.isneginf(out).all()


def test_max_pool3d_empty_dilated_window_raises():
    # D=1, k=2, d=3 (effective 4), pad 2: taps at -2 and 1, neither inside [0, 1)
    with pytest.raises(ValueError):
        ref.max_pool3d(np.zeros((1, 1, 1, 3, 3)), (2, 1, 1), 1, (2, 0, 0), (3, 1, 1))
    with pytest.raises(ValueError, match="kernel_size|dilation|padding"):
        fc.max_pool3d(np.zeros((1, 1, 1, 3, 3)), (2, 1, 1), 1, (2, 0, 0), (3, 1, 1))


@pytest.mark.parametrize("count_include_pad, divisor_override, expected", [
    (True, None, [1.0, 3.0, 5.0, 3.0]),    # divisors 3, 3, 3 and 2: the last window is cut
    (False, None, [1.5, 3.0, 5.0, 6.0]),   # divisors 2, 3, 3, 1: input elements only
    (True, 2, [1.5, 4.5, 7.5, 3.0]),       # every divisor 2, whatever the window
    (False, 1, [3.0, 9.0, 15.0, 6.0])])    # divisor_override wins over count_include_pad
def test_avg_pool_divisor_rule_by_hand(count_include_pad, divisor_override, expected):
    # W=6, kernel 3, stride 2, pad 1, ceil_mode: windows [-1,2) [1,4) [3,6) [5,7)
    x = np.arange(1.0, 7.0)
    kw = dict(ceil_mode=True, count_include_pad=count_include_pad,
              divisor_override=divisor_override)
    got3 = fc.avg_pool3d(x.reshape(1, 1, 1, 1, 6), (1, 1, 3), (1, 1, 2), (0, 0, 1), **kw)
    got2 = fc.avg_pool2d(x.reshape(1, 1, 1, 6), (1, 3), (1, 2), (0, 1), **kw)
    got1 = fc.avg_pool1d(x.reshape(1, 1, 6), 3, 2, 1, **kw)
    for got in (got3.ravel(), got2.ravel(), got1.ravel(),
                ref.avg_pool3d(x.reshape(1, 1, 1, 1, 6), (1, 1, 3), (1, 1, 2), (0, 0, 1),
                               **kw).ravel()):
        np.testing.assert_allclose(got, expected, rtol=1e-15)
    go = np.ones((1, 1, 1, 1, 4))
    gi = fc.avg_pool3d_backward(go, (1, 1, 1, 1, 6), (1, 1, 3), (1, 1, 2), (0, 0, 1), **kw)
    assert_close(gi, ref.avg_pool3d_backward(go, (1, 1, 1, 1, 6), (1, 1, 3), (1, 1, 2),
                                             (0, 0, 1), **kw), np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, kw", [
    ((2, 3, 9, 11, 10), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((1, 2, 13, 5, 7), dict(kernel_size=(4, 2, 3), stride=(3, 1, 2), padding=(2, 1, 0))),
    ((1, 1, 5, 5, 5), dict(kernel_size=5)),
    ((2, 2, 5, 6, 3), dict(kernel_size=1, stride=2))])
def test_pool3d_fixed(dtype, shape, kw):
    x = np.random.default_rng(11).standard_normal(shape).astype(dtype)
    out, idx = fc.max_pool3d(x, **kw, return_indices=True)
    r_out, r_idx = ref.max_pool3d(x, **kw)
    np.testing.assert_array_equal(out, r_out.astype(dtype))
    np.testing.assert_array_equal(idx, r_idx)
    gi = fc.max_pool3d_backward(np.ones_like(out), idx, shape)
    assert_close(gi, ref.max_pool3d_backward(np.ones(out.shape), r_idx, shape), dtype)
    for cip in (False, True):
        for dov in (None, 7):
            a = fc.avg_pool3d(x, **kw, count_include_pad=cip, divisor_override=dov)
            assert_close(a, ref.avg_pool3d(x, **kw, count_include_pad=cip, divisor_override=dov),
                         dtype, ref.avg_pool3d(np.abs(x), **kw, count_include_pad=cip,
                                               divisor_override=dov))


def test_divisor_override_accepts_numpy_ints_and_none_is_the_default():
    x = np.random.default_rng(2).standard_normal((1, 2, 4, 5, 6))
    np.testing.assert_array_equal(fc.avg_pool3d(x, 2, divisor_override=np.int64(3)),
                                  fc.avg_pool3d(x, 2, divisor_override=3))
    np.testing.assert_array_equal(fc.avg_pool3d(x, 2, divisor_override=None),
                                  fc.avg_pool3d(x, 2))
    # an override equal to the window size is plain averaging (here no padding)
    assert_close(fc.avg_pool3d(x, 2, divisor_override=8), fc.avg_pool3d(x, 2), np.float64)
    x2 = x[:, :, 0]
    np.testing.assert_array_equal(fc.avg_pool2d(x2, 2, divisor_override=None),
                                  fc.avg_pool2d(x2, 2))
    np.testing.assert_array_equal(fc.avg_pool1d(x2[:, :, 0], 2, divisor_override=None),
                                  fc.avg_pool1d(x2[:, :, 0], 2))


# --------------------------------------------------------------------------------------------
# consistency with the 2-D ops: a depth of 1 with a kernel depth of 1 is the 2-D op
# --------------------------------------------------------------------------------------------


def _lift_padding(padding):
    """A 2-D padding argument -> the 3-D one with no padding on the (unit) depth axis."""
    if isinstance(padding, str):
        return padding  # 'same' pads nothing for D = 1 and kD = 1
    if np.ndim(padding) == 0:
        return (0, padding, padding)
    if all(np.ndim(p) == 0 for p in padding):
        return (0,) + tuple(padding)
    return ((0, 0),) + tuple(tuple(p) for p in padding)


def _lift(arg, draw):
    """A 2-D stride/dilation -> 3-D, with any depth value (it does not matter for D = 1)."""
    t = ref.as_tuple(arg, 2)
    return (draw(st.integers(1, 3)),) + t


@examples(30)
@given(S.conv_cases(nd=2, max_k=3, extra=4), st.data())
def test_conv3d_depth_1_equals_conv2d(case, data):
    kw2 = _conv_kw(case)
    kw3 = dict(kw2, stride=_lift(case.stride, data.draw), dilation=_lift(case.dilation, data.draw),
               padding=_lift_padding(case.padding))
    x3, w3 = case.x[:, :, None], case.w[:, :, None]
    out3 = fc.conv3d(x3, w3, case.b, **kw3)
    out2 = fc.conv2d(case.x, case.w, case.b, **kw2)
    scale = ref.conv2d(np.abs(case.x), np.abs(case.w), _abs(case.b), **kw2)
    assert out3.shape == out2.shape[:2] + (1,) + out2.shape[2:]
    assert_close(out3[:, :, 0], out2, case.dtype, scale, err_msg="conv3d vs conv2d")
    go = case.rng.standard_normal(out2.shape).astype(case.dtype)
    g3 = fc.conv3d_backward(go[:, :, None], x3, w3, **kw3)
    g2 = fc.conv2d_backward(go, case.x, case.w, **kw2)
    scales = ref.conv2d_backward(np.abs(go), np.abs(case.x), np.abs(case.w), **kw2)
    for name, a, e, s in zip(["grad_input", "grad_weight", "grad_bias"], g3, g2, scales):
        a = a if name == "grad_bias" else a[:, :, 0]
        assert_close(a, e, case.dtype, s, err_msg=f"conv3d_backward vs conv2d_backward {name}")


@examples(30)
@given(S.conv_transpose_cases(nd=2, max_k=3, max_size=6), st.data())
def test_conv_transpose3d_depth_1_equals_conv_transpose2d(case, data):
    kw2 = _convt_kw(case)
    s0 = data.draw(st.integers(1, 3))
    kw3 = dict(kw2, stride=(s0,) + case.s, dilation=(1,) + case.d,
               output_padding=(data.draw(st.integers(0, s0 - 1)),) + case.op,
               padding=((0, 0),) + tuple(case.pads))
    out3 = fc.conv_transpose3d(case.x[:, :, None], case.w[:, :, None], case.b, **kw3)
    out2 = fc.conv_transpose2d(case.x, case.w, case.b, **kw2)
    # depth: (1 - 1)*s + 1*(1 - 1) + 1 + output_padding = 1 + output_padding slices; the extra
    # slices hold only the bias
    assert out3.shape[2] == 1 + kw3["output_padding"][0]
    scale = ref.conv_transpose2d(np.abs(case.x), np.abs(case.w), _abs(case.b), **kw2)
    assert_close(out3[:, :, 0], out2, case.dtype, scale, err_msg="conv_transpose3d vs 2d")
    bias = np.zeros(out2.shape[1]) if case.b is None else case.b.astype(np.float64)
    rest = np.broadcast_to(bias[None, :, None, None, None], out3[:, :, 1:].shape)
    assert_close(out3[:, :, 1:], rest, case.dtype, np.abs(rest))


@examples(30)
@given(S.pool_cases("max", nd=2, max_k=3, extra=4), st.data())
def test_max_pool3d_depth_1_equals_max_pool2d(case, data):
    kw2 = _max_kw(case)
    k = ref.as_tuple(case.kernel_size, 2)
    kw3 = dict(kw2, kernel_size=(1,) + k, padding=_lift_padding(case.padding),
               stride=None if case.stride is None else _lift(case.stride, data.draw),
               dilation=_lift(case.dilation, data.draw))
    try:
        out2, idx2 = fc.max_pool2d(case.x, **kw2, return_indices=True)
    except ValueError:
        with pytest.raises(ValueError):
            fc.max_pool3d(case.x[:, :, None], **kw3)
        return
    out3, idx3 = fc.max_pool3d(case.x[:, :, None], **kw3, return_indices=True)
    np.testing.assert_array_equal(out3[:, :, 0], out2)
    np.testing.assert_array_equal(idx3[:, :, 0], idx2)  # D = 1: volume offsets = plane offsets
    go = case.rng.standard_normal(out2.shape).astype(case.dtype)
    np.testing.assert_array_equal(
        fc.max_pool3d_backward(go[:, :, None], idx3, case.x[:, :, None].shape)[:, :, 0],
        fc.max_pool2d_backward(go, idx2, case.x.shape))


@examples(30)
@given(S.pool_cases("avg", nd=2, max_k=3, extra=4, divisor_override=True), st.data())
def test_avg_pool3d_depth_1_equals_avg_pool2d(case, data):
    kw2 = _avg_kw(case)
    k = ref.as_tuple(case.kernel_size, 2)
    kw3 = dict(kw2, kernel_size=(1,) + k, padding=_lift_padding(case.padding),
               stride=None if case.stride is None else _lift(case.stride, data.draw))
    out3 = fc.avg_pool3d(case.x[:, :, None], **kw3)
    out2 = fc.avg_pool2d(case.x, **kw2)
    assert_close(out3[:, :, 0], out2, case.dtype, ref.avg_pool2d(np.abs(case.x), **kw2))
    go = case.rng.standard_normal(out2.shape).astype(case.dtype)
    gi3 = fc.avg_pool3d_backward(go[:, :, None], case.x[:, :, None].shape, **kw3)
    gi2 = fc.avg_pool2d_backward(go, case.x.shape, **kw2)
    assert_close(gi3[:, :, 0], gi2, case.dtype, ref.avg_pool2d_backward(np.abs(go), case.x.shape,
                                                                        **kw2))


# --------------------------------------------------------------------------------------------
# input layouts (the variants of test_layouts.py) and dtypes
# --------------------------------------------------------------------------------------------


def _randn(rng, shape, dt):
    return rng.standard_normal(shape).astype(dt)


CONV3D_KW = dict(stride=(2, 1, 1), padding=((1, 0), (1, 1), (0, 1)), dilation=(1, 2, 1),
                 groups=2)
CONV3D_OUT = ref.conv3d(np.zeros((2, 4, 5, 6, 4)), np.zeros((6, 2, 3, 2, 3)), **CONV3D_KW).shape
CONVT3D_KW = dict(stride=(2, 1, 2), padding=((1, 0), (0, 1), (1, 1)), output_padding=(1, 0, 1),
                  groups=2, dilation=(1, 2, 1))
MP3_KW = dict(kernel_size=(3, 2, 2), stride=(2, 1, 2), padding=1, dilation=(1, 2, 1),
              ceil_mode=True)
MP3_OUT = ref.max_pool3d(np.zeros((2, 3, 7, 6, 5)), **MP3_KW)[0].shape
AP3_KW = dict(kernel_size=(3, 2, 2), stride=(2, 1, 2), padding=1, ceil_mode=True,
              count_include_pad=False)
AP3_OUT = ref.avg_pool3d(np.zeros((2, 3, 7, 6, 5)), **AP3_KW).shape
P3_SHAPE = (2, 3, 7, 6, 5)


def _conv3d_make(rng, dt):
    return dict(x=_randn(rng, (2, 4, 5, 6, 4), dt), weight=_randn(rng, (6, 2, 3, 2, 3), dt),
                bias=_randn(rng, (6,), dt))


OPS3 = {  # make(rng, dtype) -> dict of named input arrays; call(**arrays) -> result
    "conv3d": (_conv3d_make, lambda **a: fc.conv3d(**a, **CONV3D_KW)),
    "conv3d-flip-same": (_conv3d_make, lambda **a: fc.conv3d(**a, padding="same", groups=2,
                                                              flip=True)),
    "conv3d_backward": (
        lambda rng, dt: dict(grad_output=_randn(rng, CONV3D_OUT, dt),
                             **{k: v for k, v in _conv3d_make(rng, dt).items() if k != "bias"}),
        lambda **a: fc.conv3d_backward(**a, **CONV3D_KW)),
    "conv_transpose3d": (
        lambda rng, dt: dict(x=_randn(rng, (2, 4, 3, 4, 3), dt),
                             weight=_randn(rng, (4, 3, 3, 2, 2), dt), bias=_randn(rng, (6,), dt)),
        lambda **a: fc.conv_transpose3d(**a, **CONVT3D_KW)),
    "max_pool3d": (lambda rng, dt: dict(x=_randn(rng, P3_SHAPE, dt)),
                   lambda **a: fc.max_pool3d(**a, **MP3_KW, return_indices=True)),
    "max_pool3d_backward": (
        lambda rng, dt: dict(grad_output=_randn(rng, MP3_OUT, dt),
                             indices=rng.integers(0, 7 * 6 * 5, MP3_OUT)),
        lambda **a: fc.max_pool3d_backward(**a, input_shape=P3_SHAPE)),
    "avg_pool3d": (lambda rng, dt: dict(x=_randn(rng, P3_SHAPE, dt)),
                   lambda **a: fc.avg_pool3d(**a, **AP3_KW)),
    "avg_pool3d-divisor_override": (lambda rng, dt: dict(x=_randn(rng, P3_SHAPE, dt)),
                                    lambda **a: fc.avg_pool3d(**a, **AP3_KW, divisor_override=5)),
    "avg_pool3d_backward": (
        lambda rng, dt: dict(grad_output=_randn(rng, AP3_OUT, dt)),
        lambda **a: fc.avg_pool3d_backward(**a, input_shape=P3_SHAPE, **AP3_KW,
                                           divisor_override=3)),
}


@pytest.mark.parametrize("dtype", [np.dtype(np.float64), np.dtype(np.float32)], ids=str)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("op", list(OPS3))
def test_layout_gives_same_result_and_leaves_inputs_alone(op, layout, dtype, tmp_path):
    check_layout(OPS3, op, layout, dtype, tmp_path)


@pytest.mark.parametrize("op", list(OPS3))
def test_one_odd_input_among_contiguous_ones(op):
    check_one_odd_input(OPS3, op, ("strided_all", "reversed_all", "fortran", "readonly"))


def _sample(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.kind in "iu":
        return rng.integers(0, 5, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int8, np.int64,
                                   np.uint8, np.bool_], ids=lambda d: np.dtype(d).name)
def test_dtype_table_homogeneous(dtype):
    """float16 -> float32, float32 -> float32, float64 / integers / bool -> float64; the result
    equals the op on inputs converted exactly to the compute dtype."""
    rng = np.random.default_rng(1)
    want = np.dtype(np.float32) if np.dtype(dtype) in (np.float16, np.float32) else \
        np.dtype(np.float64)
    x = _sample(rng, (2, 4, 4, 5, 3), dtype)
    w = _sample(rng, (3, 4, 3, 2, 2), dtype)
    b = _sample(rng, (3,), dtype)
    wt = _sample(rng, (4, 2, 2, 3, 2), dtype)

    def c(a):
        return a.astype(want)

    def check(name, got, exp):
        for i, (g, e) in enumerate(zip(_as_tuple(got), _as_tuple(exp))):
            assert g.dtype == e.dtype, f"{name} result {i}: {np.dtype(dtype)} in gives {g.dtype}"
            np.testing.assert_array_equal(g, e, err_msg=f"{name} result {i}")

    out = fc.conv3d(x, w, b, padding=1)
    assert out.dtype == want
    check("conv3d", out, fc.conv3d(c(x), c(w), c(b), padding=1))
    g = _sample(rng, out.shape, dtype)
    check("conv3d_backward", fc.conv3d_backward(g, x, w, padding=1),
          fc.conv3d_backward(c(g), c(x), c(w), padding=1))
    check("conv_transpose3d", fc.conv_transpose3d(x, wt, b[:2]),
          fc.conv_transpose3d(c(x), c(wt), c(b[:2])))
    mp, idx = fc.max_pool3d(x, 2, return_indices=True)
    assert mp.dtype == want and idx.dtype == np.int64
    check("max_pool3d", (mp, idx), fc.max_pool3d(c(x), 2, return_indices=True))
    check("avg_pool3d", fc.avg_pool3d(x, 2, divisor_override=3),
          fc.avg_pool3d(c(x), 2, divisor_override=3))
    gp = _sample(rng, mp.shape, dtype)
    check("max_pool3d_backward", fc.max_pool3d_backward(gp, idx, x.shape),
          fc.max_pool3d_backward(c(gp), idx, x.shape))
    check("avg_pool3d_backward", fc.avg_pool3d_backward(gp, x.shape, 2),
          fc.avg_pool3d_backward(c(gp), x.shape, 2))


@pytest.mark.parametrize("dx, dw, want", [
    (np.float32, np.float64, np.float64), (np.float64, np.float32, np.float64),
    (np.float16, np.float32, np.float32), (np.int8, np.float32, np.float64),
    (np.float32, np.int32, np.float64), (np.bool_, np.float16, np.float64)])
def test_dtype_table_mixed(dx, dw, want):
    rng = np.random.default_rng(2)
    x = _sample(rng, (2, 2, 4, 4, 3), dx)
    w = _sample(rng, (3, 2, 2, 3, 2), dw)
    out = fc.conv3d(x, w)
    assert out.dtype == want
    np.testing.assert_array_equal(out, fc.conv3d(x.astype(want), w.astype(want)))
    grads = fc.conv3d_backward(out, x, w)
    assert [r.dtype for r in grads] == [np.dtype(want)] * 3
    wt = _sample(rng, (2, 3, 2, 2, 2), dw)
    outt = fc.conv_transpose3d(x, wt)
    assert outt.dtype == want
    np.testing.assert_array_equal(outt, fc.conv_transpose3d(x.astype(want), wt.astype(want)))


# --------------------------------------------------------------------------------------------
# bitwise determinism over thread counts, on shapes big enough to be split
# --------------------------------------------------------------------------------------------

_RNG = np.random.default_rng(2025)
TX = {dt: _RNG.standard_normal((2, 8, 9, 10, 11)).astype(dt) for dt in DTYPES}
TW = {dt: _RNG.standard_normal((16, 4, 3, 3, 3)).astype(dt) for dt in DTYPES}  # groups=2
TB = {dt: _RNG.standard_normal(16).astype(dt) for dt in DTYPES}
TCONV_KW = dict(stride=(1, 2, 1), padding=((1, 0), (1, 1), (2, 1)), dilation=(1, 1, 2),
                groups=2)
TG = {dt: _RNG.standard_normal(ref.conv3d(TX[dt], TW[dt], **TCONV_KW).shape).astype(dt)
      for dt in DTYPES}
TWT = {dt: _RNG.standard_normal((8, 8, 3, 3, 3)).astype(dt) for dt in DTYPES}  # 16 out, g=2
TP_OUT = ref.max_pool3d(TX[np.float64], 3, 2, 1, ceil_mode=True)[0].shape
TGP = {dt: _RNG.standard_normal(TP_OUT).astype(dt) for dt in DTYPES}
TIDX = _RNG.integers(0, 9 * 10 * 11, TP_OUT)  # with many collisions

THREAD_OPS = {
    "conv3d": lambda dt, nt: fc.conv3d(TX[dt], TW[dt], TB[dt], **TCONV_KW, num_threads=nt),
    "conv3d-flip": lambda dt, nt: fc.conv3d(TX[dt], TW[dt], TB[dt], padding="same", groups=2,
                                            flip=True, num_threads=nt),
    "conv3d_backward": lambda dt, nt: fc.conv3d_backward(TG[dt], TX[dt], TW[dt], **TCONV_KW,
                                                         num_threads=nt),
    "conv_transpose3d": lambda dt, nt: fc.conv_transpose3d(
        TX[dt], TWT[dt], TB[dt], stride=2, padding=1, output_padding=(1, 0, 1), groups=2,
        num_threads=nt),
    "max_pool3d": lambda dt, nt: fc.max_pool3d(TX[dt], 3, 2, 1, dilation=(1, 2, 1),
                                               ceil_mode=True, return_indices=True,
                                               num_threads=nt),
    "max_pool3d_backward": lambda dt, nt: fc.max_pool3d_backward(TGP[dt], TIDX, TX[dt].shape,
                                                                 num_threads=nt),
    "avg_pool3d": lambda dt, nt: fc.avg_pool3d(TX[dt], 3, 2, 1, ceil_mode=True,
                                               count_include_pad=False, num_threads=nt),
    "avg_pool3d-divisor_override": lambda dt, nt: fc.avg_pool3d(
        TX[dt], 3, 2, 1, divisor_override=5, num_threads=nt),
    "avg_pool3d_backward": lambda dt, nt: fc.avg_pool3d_backward(
        TGP[dt], TX[dt].shape, 3, 2, 1, ceil_mode=True, divisor_override=4, num_threads=nt),
    "avg_pool2d-divisor_override": lambda dt, nt: fc.avg_pool2d(
        TX[dt][:, :, 0], 3, 2, 1, divisor_override=7, num_threads=nt),
    "avg_pool2d_backward-divisor_override": lambda dt, nt: fc.avg_pool2d_backward(
        TGP[dt][:, :, 0], TX[dt][:, :, 0].shape, 3, 2, 1, ceil_mode=True, divisor_override=7,
        num_threads=nt),
    "avg_pool1d-divisor_override": lambda dt, nt: fc.avg_pool1d(
        TX[dt][:, :, 0, 0], 3, 2, 1, divisor_override=2, num_threads=nt),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", list(THREAD_OPS))
def test_bitwise_identical_for_1_2_3_threads(op, dtype):
    want = THREAD_OPS[op](dtype, 1)
    for nt in (2, 3):
        _assert_bitwise(THREAD_OPS[op](dtype, nt), want, f"{op} num_threads={nt} vs 1")


def test_thread_results_match_the_reference():
    """The determinism shapes are also right (one check each, float64)."""
    dt = np.float64
    assert_close(THREAD_OPS["conv3d"](dt, 3), ref.conv3d(TX[dt], TW[dt], TB[dt], **TCONV_KW), dt,
                 ref.conv3d(np.abs(TX[dt]), np.abs(TW[dt]), np.abs(TB[dt]), **TCONV_KW))
    got = THREAD_OPS["conv3d_backward"](dt, 3)
    exp = ref.conv3d_backward(TG[dt], TX[dt], TW[dt], **TCONV_KW)
    scl = ref.conv3d_backward(np.abs(TG[dt]), np.abs(TX[dt]), np.abs(TW[dt]), **TCONV_KW)
    for a, e, s in zip(got, exp, scl):
        assert_close(a, e, dt, s)
    out, idx = THREAD_OPS["max_pool3d"](dt, 3)
    r_out, r_idx = ref.max_pool3d(TX[dt], 3, 2, 1, dilation=(1, 2, 1), ceil_mode=True)
    np.testing.assert_array_equal(out, r_out)
    np.testing.assert_array_equal(idx, r_idx)


# --------------------------------------------------------------------------------------------
# finite-difference gradients (float64), as tests/test_gradients.py
# --------------------------------------------------------------------------------------------


@examples(8)
@given(S.conv3d_cases(dtypes=F64, max_n=1, max_k=2, extra=1, max_groups=2))
def test_conv3d_gradients(case):
    kw = _conv_kw(case)
    b = case.rng.standard_normal(case.w.shape[0])
    out = fc.conv3d(case.x, case.w, b, **kw)
    G = case.rng.standard_normal(out.shape)
    mag = float(np.sum(np.abs(out) * np.abs(G)))
    gi, gw, gb = fc.conv3d_backward(G, case.x, case.w, **kw)
    check_gradient(linear_loss(lambda z: fc.conv3d(z, case.w, b, **kw), G), case.x, gi, mag,
                   "grad_input")
    check_gradient(linear_loss(lambda z: fc.conv3d(case.x, z, b, **kw), G), case.w, gw, mag,
                   "grad_weight")
    check_gradient(linear_loss(lambda z: fc.conv3d(case.x, case.w, z, **kw), G), b, gb, mag,
                   "grad_bias")


@examples(8)
@given(S.conv_transpose3d_cases(dtypes=F64, max_n=1, max_k=2, max_size=3, max_groups=2))
def test_conv_transpose3d_gradients(case):
    """d/dx is conv3d(G) and d/dw is conv3d_backward's grad_weight with roles swapped."""
    kw = _convt_kw(case)
    b = case.rng.standard_normal(case.w.shape[1] * case.groups)
    out = fc.conv_transpose3d(case.x, case.w, b, **kw)
    G = case.rng.standard_normal(out.shape)
    mag = float(np.sum(np.abs(out) * np.abs(G)))
    ckw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
               groups=case.groups)
    D, H, W = case.x.shape[2:]
    # conv3d(G) may be longer than x along an axis when output_padding >= stride: crop it, and
    # zero-extend x as the grad_output of that conv3d for grad_weight
    cg = fc.conv3d(G, case.w, **ckw)
    gx = cg[:, :, :D, :H, :W]
    go = np.zeros(cg.shape)
    go[:, :, :D, :H, :W] = case.x
    gw = fc.conv3d_backward(go, G, case.w, **ckw)[1]
    check_gradient(linear_loss(lambda z: fc.conv_transpose3d(z, case.w, b, **kw), G), case.x,
                   gx, mag, "d/dx")
    check_gradient(linear_loss(lambda z: fc.conv_transpose3d(case.x, z, b, **kw), G), case.w,
                   gw, mag, "d/dw")
    check_gradient(linear_loss(lambda z: fc.conv_transpose3d(case.x, case.w, z, **kw), G), b,
                   G.sum(axis=(0, 2, 3, 4)), mag, "d/db")


@examples(10)
@given(S.pool3d_cases("avg", dtypes=F64, max_n=1, extra=2))
def test_avg_pool3d_gradient(case):
    kw = _avg_kw(case)
    out = fc.avg_pool3d(case.x, **kw)
    G = case.rng.standard_normal(out.shape)
    gi = fc.avg_pool3d_backward(G, case.x.shape, **kw)
    check_gradient(linear_loss(lambda z: fc.avg_pool3d(z, **kw), G), case.x, gi,
                   float(np.sum(np.abs(out) * np.abs(G))), "avg_pool3d")


@examples(10)
@given(S.pool3d_cases("max", dtypes=F64, max_n=1, extra=2))
def test_max_pool3d_gradient(case):
    kw = _max_kw(case)
    # distinct values spaced 0.25 apart so the max is differentiable
    x = (case.rng.permutation(case.x.size).reshape(case.x.shape) * 0.25).astype(np.float64)
    try:
        out, idx = fc.max_pool3d(x, **kw, return_indices=True)
    except ValueError:  # dilated window with no input element (tested above)
        return
    G = case.rng.standard_normal(out.shape)
    gi = fc.max_pool3d_backward(G, idx, x.shape)
    check_gradient(linear_loss(lambda z: fc.max_pool3d(z, **kw), G), x, gi,
                   float(np.sum(np.abs(out) * np.abs(G))), "max_pool3d")


# --------------------------------------------------------------------------------------------
# error paths
# --------------------------------------------------------------------------------------------

X3 = _arr(2, 4, 5, 5, 5)
W3 = _arr(6, 4, 3, 3, 3) + 0.5
B3 = _arr(6)
G3 = _arr(2, 6, 3, 3, 3)  # grad_output of conv3d(X3, W3)
WT3 = _arr(4, 3, 3, 3, 3) + 0.5  # conv_transpose3d weight: Cin=4, Cout=3
P3X = _arr(2, 3, 4, 4, 4)
P3G = _arr(2, 3, 2, 2, 2)  # max/avg_pool3d(P3X, 2) output shape
P3I = np.broadcast_to(np.array([[[0, 3], [12, 15]], [[48, 51], [60, 63]]], np.int64),
                      (2, 3, 2, 2, 2)).copy()
P2X, P2G = _arr(2, 3, 4, 4), _arr(2, 3, 2, 2)
P1X, P1G = _arr(2, 3, 8), _arr(2, 3, 4)

BAD_DIVISORS = [(0, ValueError), (-1, ValueError), (True, TypeError), (False, TypeError),
                (1.5, TypeError), (2.0, TypeError), ("2", TypeError)]


def _size_arg_cases(fn_name, call, dilation=True):
    """stride/dilation/padding checks for `call(**{arg: value})` of a 3-D op."""
    cases = [
        ("stride", 0, ValueError), ("stride", -1, ValueError), ("stride", (1, 0, 1), ValueError),
        ("stride", 1.5, TypeError), ("stride", True, TypeError), ("stride", "2", TypeError),
        ("stride", (1, 1, 1.5), TypeError), ("stride", (1, 1), EITHER),
        ("stride", (1, 1, 1, 1), EITHER),
        ("dilation", 0, ValueError), ("dilation", (1, -2, 1), ValueError),
        ("dilation", 1.5, TypeError), ("dilation", None, TypeError), ("dilation", (1, 1), EITHER),
        ("padding", -1, ValueError), ("padding", (1, -1, 0), ValueError),
        ("padding", ((0, 1), (0, 0), (-1, 0)), ValueError), ("padding", 1.5, TypeError),
        ("padding", True, TypeError), ("padding", None, TypeError), ("padding", (1, 1), EITHER),
        ("padding", ((1, 1), (1, 1)), EITHER), ("padding", (1, 1, 1, 1), EITHER),
        ("padding", ((1, 1, 1), (1, 1), (1, 1)), EITHER), ("padding", "full", EITHER),
    ]
    return [_bad(f"{fn_name}-{arg}={value!r}", exc, arg,
                 lambda arg=arg, value=value: call(**{arg: value}))
            for arg, value, exc in cases if dilation or arg != "dilation"]


def _conv3d_error_cases():
    C = _size_arg_cases("conv3d", lambda **kw: fc.conv3d(X3, W3, B3, **kw))
    C += [
        _bad("conv3d-x-3d", ValueError, X_, lambda: fc.conv3d(X3[0, 0], W3)),  # (4-D: unbatched)
        _bad("conv3d-x-6d", ValueError, X_, lambda: fc.conv3d(X3[None], W3)),
        _bad("conv3d-x-None", EITHER, X_, lambda: fc.conv3d(None, W3)),
        _bad("conv3d-x-complex", TypeError, X_, lambda: fc.conv3d(X3.astype(complex), W3)),
        _bad("conv3d-weight-4d", ValueError, "weight", lambda: fc.conv3d(X3, W3[0])),
        _bad("conv3d-weight-6d", ValueError, "weight", lambda: fc.conv3d(X3, W3[None])),
        _bad("conv3d-weight-object", TypeError, "weight",
             lambda: fc.conv3d(X3, W3.astype(object))),
        _bad("conv3d-bias-2d", ValueError, "bias", lambda: fc.conv3d(X3, W3, B3[None])),
        _bad("conv3d-bias-short", ValueError, "bias", lambda: fc.conv3d(X3, W3, B3[:5])),
        _bad("conv3d-bias-long", ValueError, "bias", lambda: fc.conv3d(X3, W3, _arr(7))),
        _bad("conv3d-bias-str", TypeError, "bias", lambda: fc.conv3d(X3, W3, B3.astype(str))),
        _bad("conv3d-channel-mismatch", ValueError, "weight",
             lambda: fc.conv3d(X3, _arr(6, 3, 3, 3, 3))),
        _bad("conv3d-channel-mismatch-groups", ValueError, "weight|groups",
             lambda: fc.conv3d(X3, W3, groups=2)),
        _bad("conv3d-groups-not-dividing-C", ValueError, "groups",
             lambda: fc.conv3d(X3, _arr(6, 1, 3, 3, 3), groups=3)),
        _bad("conv3d-groups-not-dividing-O", ValueError, "groups",
             lambda: fc.conv3d(X3, _arr(5, 2, 3, 3, 3), groups=2)),
        _bad("conv3d-groups-0", ValueError, "groups", lambda: fc.conv3d(X3, W3, groups=0)),
        _bad("conv3d-groups-float", TypeError, "groups", lambda: fc.conv3d(X3, W3, groups=1.5)),
        _bad("conv3d-flip-str", TypeError, "flip", lambda: fc.conv3d(X3, W3, flip="yes")),
        _bad("conv3d-kernel-larger-than-input", ValueError, KERNEL_OR_WEIGHT,
             lambda: fc.conv3d(_arr(1, 1, 3, 3, 3), _arr(1, 1, 3, 4, 3))),
        _bad("conv3d-kernel-larger-one-side-padding", ValueError, KERNEL_OR_WEIGHT,
             lambda: fc.conv3d(_arr(1, 1, 3, 3, 3), _arr(1, 1, 5, 3, 3),
                               padding=((0, 1), (0, 0), (0, 0)))),
        _bad("conv3d-dilated-kernel-larger", ValueError, KERNEL_OR_WEIGHT + "|dilation",
             lambda: fc.conv3d(_arr(1, 1, 4, 4, 4), _arr(1, 1, 3, 3, 3), dilation=(1, 1, 2))),
        _bad("conv3d-empty-spatial", ValueError, KERNEL_OR_WEIGHT + "|" + X_,
             lambda: fc.conv3d(_arr(1, 1, 0, 2, 2), _arr(1, 1, 1, 1, 1))),
        _bad("conv3d-num_threads-0", ValueError, "num_threads",
             lambda: fc.conv3d(X3, W3, num_threads=0)),
    ]
    return C


def _conv3d_backward_error_cases():
    bwd = fc.conv3d_backward
    return _size_arg_cases("conv3d_backward", lambda **kw: bwd(G3, X3, W3, **kw)) + [
        _bad("conv3d_backward-grad_output-4d", ValueError, "grad_output",
             lambda: bwd(G3[0], X3, W3)),
        _bad("conv3d_backward-grad_output-6d", ValueError, "grad_output",
             lambda: bwd(G3[None], X3, W3)),
        _bad("conv3d_backward-grad_output-wrong-N", ValueError, "grad_output",
             lambda: bwd(_arr(3, 6, 3, 3, 3), X3, W3)),
        _bad("conv3d_backward-grad_output-wrong-O", ValueError, "grad_output",
             lambda: bwd(_arr(2, 5, 3, 3, 3), X3, W3)),
        _bad("conv3d_backward-grad_output-wrong-D", ValueError, "grad_output",
             lambda: bwd(_arr(2, 6, 4, 3, 3), X3, W3)),
        _bad("conv3d_backward-grad_output-wrong-H", ValueError, "grad_output",
             lambda: bwd(_arr(2, 6, 3, 2, 3), X3, W3)),
        _bad("conv3d_backward-grad_output-wrong-W", ValueError, "grad_output",
             lambda: bwd(_arr(2, 6, 3, 3, 4), X3, W3)),
        _bad("conv3d_backward-grad_output-ignores-stride", ValueError, "grad_output",
             lambda: bwd(G3, X3, W3, stride=2)),
        _bad("conv3d_backward-grad_output-complex", TypeError, "grad_output",
             lambda: bwd(G3.astype(complex), X3, W3)),
        _bad("conv3d_backward-x-4d", ValueError, X_, lambda: bwd(G3, X3[0], W3)),
        _bad("conv3d_backward-weight-4d", ValueError, "weight", lambda: bwd(G3, X3, W3[0])),
        _bad("conv3d_backward-channel-mismatch", ValueError, "weight",
             lambda: bwd(G3, X3, _arr(6, 3, 3, 3, 3))),
        _bad("conv3d_backward-groups-not-dividing", ValueError, "groups",
             lambda: bwd(G3, X3, _arr(6, 1, 3, 3, 3), groups=3)),
        _bad("conv3d_backward-groups-0", ValueError, "groups", lambda: bwd(G3, X3, W3, groups=0)),
        _bad("conv3d_backward-kernel-larger", ValueError, KERNEL_OR_WEIGHT,
             lambda: bwd(_arr(1, 1, 1, 1, 1), _arr(1, 1, 3, 3, 3), _arr(1, 1, 3, 5, 3))),
    ]


def _conv_transpose3d_error_cases():
    ct = fc.conv_transpose3d
    return _size_arg_cases("conv_transpose3d", lambda **kw: ct(X3, WT3, **kw)) + [
        _bad("conv_transpose3d-x-3d", ValueError, X_, lambda: ct(X3[0, 0], WT3)),
        _bad("conv_transpose3d-x-6d", ValueError, X_, lambda: ct(X3[None], WT3)),
        _bad("conv_transpose3d-weight-4d", ValueError, "weight", lambda: ct(X3, WT3[0])),
        _bad("conv_transpose3d-channel-mismatch", ValueError, "weight",
             lambda: ct(X3, _arr(3, 3, 3, 3, 3))),
        _bad("conv_transpose3d-groups-not-dividing-Cin", ValueError, "groups",
             lambda: ct(X3, WT3, groups=3)),
        _bad("conv_transpose3d-groups-0", ValueError, "groups", lambda: ct(X3, WT3, groups=0)),
        _bad("conv_transpose3d-bias-wrong-length", ValueError, "bias",
             lambda: ct(X3, WT3, _arr(4))),
        _bad("conv_transpose3d-bias-2d", ValueError, "bias", lambda: ct(X3, WT3, _arr(1, 3))),
        _bad("conv_transpose3d-padding-same", EITHER, "padding",
             lambda: ct(X3, WT3, padding="same")),
        _bad("conv_transpose3d-output_padding-eq-stride", ValueError, "output_padding",
             lambda: ct(X3, WT3, stride=2, output_padding=2)),
        _bad("conv_transpose3d-output_padding-stride-1", ValueError, "output_padding",
             lambda: ct(X3, WT3, output_padding=1)),
        _bad("conv_transpose3d-output_padding-one-dim", ValueError, "output_padding",
             lambda: ct(X3, WT3, stride=(2, 2, 1), output_padding=(1, 1, 1))),
        _bad("conv_transpose3d-output_padding-ge-dilation", ValueError, "output_padding",
             lambda: ct(X3, WT3, dilation=(1, 2, 1), output_padding=(0, 2, 0))),
        _bad("conv_transpose3d-output_padding-negative", ValueError, "output_padding",
             lambda: ct(X3, WT3, stride=2, output_padding=-1)),
        _bad("conv_transpose3d-output_padding-float", TypeError, "output_padding",
             lambda: ct(X3, WT3, stride=2, output_padding=0.5)),
        _bad("conv_transpose3d-output_padding-2-tuple", EITHER, "output_padding",
             lambda: ct(X3, WT3, stride=2, output_padding=(1, 1))),
        _bad("conv_transpose3d-output-smaller-than-1", ValueError,
             r"padding|kernel_size|weight|output",
             lambda: ct(_arr(1, 1, 2, 2, 2), _arr(1, 1, 3, 3, 3), padding=3)),
    ]


def _pool3d_error_cases():
    C = _size_arg_cases("max_pool3d", lambda **kw: fc.max_pool3d(P3X, 2, **kw))
    C += _size_arg_cases("avg_pool3d", lambda **kw: fc.avg_pool3d(P3X, 2, **kw), dilation=False)
    for name, fn in [("max_pool3d", fc.max_pool3d), ("avg_pool3d", fc.avg_pool3d)]:
        C += [
            _bad(f"{name}-x-3d", ValueError, X_, lambda fn=fn: fn(P3X[0, 0], 2)),
            _bad(f"{name}-x-6d", ValueError, X_, lambda fn=fn: fn(P3X[None], 2)),
            _bad(f"{name}-x-complex", TypeError, X_, lambda fn=fn: fn(P3X.astype(complex), 2)),
            _bad(f"{name}-kernel_size-0", ValueError, "kernel_size", lambda fn=fn: fn(P3X, 0)),
            _bad(f"{name}-kernel_size-(2,2,-1)", ValueError, "kernel_size",
                 lambda fn=fn: fn(P3X, (2, 2, -1))),
            _bad(f"{name}-kernel_size-float", TypeError, "kernel_size", lambda fn=fn: fn(P3X, 1.5)),
            _bad(f"{name}-kernel_size-None", TypeError, "kernel_size", lambda fn=fn: fn(P3X, None)),
            _bad(f"{name}-kernel_size-bool", TypeError, "kernel_size", lambda fn=fn: fn(P3X, True)),
            _bad(f"{name}-kernel_size-2-tuple", EITHER, "kernel_size",
                 lambda fn=fn: fn(P3X, (2, 2))),
            _bad(f"{name}-kernel-larger", ValueError, "kernel_size", lambda fn=fn: fn(P3X, 5)),
            _bad(f"{name}-kernel-larger-one-dim", ValueError, "kernel_size",
                 lambda fn=fn: fn(P3X, (2, 2, 5))),
            _bad(f"{name}-empty-spatial", ValueError, "kernel_size|" + X_,
                 lambda fn=fn: fn(_arr(1, 1, 2, 0, 2), 1)),
            _bad(f"{name}-padding-over-half-kernel", ValueError, "padding",
                 lambda fn=fn: fn(P3X, 3, stride=1, padding=2)),
            _bad(f"{name}-padding-over-half-kernel-one-dim", ValueError, "padding",
                 lambda fn=fn: fn(P3X, 3, stride=1, padding=(0, 0, 2))),
            _bad(f"{name}-padding-over-half-kernel-one-side", ValueError, "padding",
                 lambda fn=fn: fn(P3X, 3, stride=1, padding=((0, 0), (0, 2), (0, 0)))),
            _bad(f"{name}-padding-over-half-kernel-2", ValueError, "padding",
                 lambda fn=fn: fn(P3X, 2, padding=2)),
            _bad(f"{name}-ceil_mode-str", TypeError, "ceil_mode",
                 lambda fn=fn: fn(P3X, 2, ceil_mode="no")),
        ]
    C += [
        # max pooling: the bound is half the *effective* (dilated) kernel, 3 -> 5 -> pad <= 2
        _bad("max_pool3d-padding-over-half-dilated-kernel", ValueError, "padding",
             lambda: fc.max_pool3d(_arr(1, 1, 6, 6, 6), 3, stride=1, padding=(0, 3, 0),
                                   dilation=2)),
        _bad("max_pool3d-dilated-kernel-larger", ValueError, "kernel_size|dilation",
             lambda: fc.max_pool3d(P3X, 3, dilation=(1, 2, 1))),
        # a dilated window with no input element (taps at -2 and 2 of a length-1 axis)
        _bad("max_pool3d-window-without-input", ValueError, "kernel_size|dilation|padding",
             lambda: fc.max_pool3d(_arr(1, 1, 3, 1, 3), (1, 2, 1), stride=1,
                                   padding=(0, 2, 0), dilation=(1, 4, 1))),
        _bad("max_pool3d-return_indices-int", TypeError, "return_indices",
             lambda: fc.max_pool3d(P3X, 2, return_indices=2)),
        _bad("avg_pool3d-count_include_pad-None", TypeError, "count_include_pad",
             lambda: fc.avg_pool3d(P3X, 2, count_include_pad=None)),
    ]
    for value, exc in BAD_DIVISORS:
        C += [
            _bad(f"avg_pool3d-divisor_override={value!r}", exc, "divisor_override",
                 lambda value=value: fc.avg_pool3d(P3X, 2, divisor_override=value)),
            _bad(f"avg_pool3d_backward-divisor_override={value!r}", exc, "divisor_override",
                 lambda value=value: fc.avg_pool3d_backward(P3G, P3X.shape, 2,
                                                            divisor_override=value)),
            _bad(f"avg_pool2d-divisor_override={value!r}", exc, "divisor_override",
                 lambda value=value: fc.avg_pool2d(P2X, 2, divisor_override=value)),
            _bad(f"avg_pool2d_backward-divisor_override={value!r}", exc, "divisor_override",
                 lambda value=value: fc.avg_pool2d_backward(P2G, P2X.shape, 2,
                                                            divisor_override=value)),
            _bad(f"avg_pool1d-divisor_override={value!r}", exc, "divisor_override",
                 lambda value=value: fc.avg_pool1d(P1X, 2, divisor_override=value)),
            _bad(f"avg_pool1d_backward-divisor_override={value!r}", exc, "divisor_override",
                 lambda value=value: fc.avg_pool1d_backward(P1G, P1X.shape, 2,
                                                            divisor_override=value)),
        ]
    return C


def _pool3d_backward_error_cases():
    mpb, apb = fc.max_pool3d_backward, fc.avg_pool3d_backward
    S_ = P3X.shape
    C = []
    for value in (-1, 64, 65, 2**31, 2**62, np.iinfo(np.int64).min):
        C.append(_bad(f"max_pool3d_backward-index-{value}", ValueError, "indices",
                      lambda value=value: mpb(P3G, np.where(P3I == 3, value, P3I), S_)))
    C += [
        # 16 = H*W is a valid volume offset: only >= D*H*W is out of range
        _bad("max_pool3d_backward-indices-beyond-smaller-volume", ValueError, "indices",
             lambda: mpb(P3G, P3I, (2, 3, 3, 4, 4))),
        _bad("max_pool3d_backward-grad_output-3d", ValueError, "grad_output",
             lambda: mpb(P3G[0, 0], P3I[0, 0], S_)),
        _bad("max_pool3d_backward-indices-shape", ValueError, "indices",
             lambda: mpb(P3G, P3I[..., :1], S_)),
        _bad("max_pool3d_backward-indices-4d", ValueError, "indices", lambda: mpb(P3G, P3I[0], S_)),
        _bad("max_pool3d_backward-indices-float", TypeError, "indices",
             lambda: mpb(P3G, P3I.astype(np.float64), S_)),
        _bad("max_pool3d_backward-indices-complex", TypeError, "indices",
             lambda: mpb(P3G, P3I.astype(np.complex128), S_)),
        _bad("max_pool3d_backward-input_shape-length-4", EITHER, "input_shape",
             lambda: mpb(P3G, P3I, S_[1:])),
        _bad("max_pool3d_backward-input_shape-length-6", EITHER, "input_shape",
             lambda: mpb(P3G, P3I, (1,) + S_)),
        _bad("max_pool3d_backward-input_shape-float", TypeError, "input_shape",
             lambda: mpb(P3G, P3I, (2, 3, 4, 4.0, 4))),
        _bad("max_pool3d_backward-input_shape-None", TypeError, "input_shape",
             lambda: mpb(P3G, P3I, None)),
        _bad("max_pool3d_backward-input_shape-negative", ValueError, "input_shape",
             lambda: mpb(P3G, P3I, (2, 3, -4, 4, 4))),
        _bad("max_pool3d_backward-input_shape-wrong-N", ValueError, "grad_output|input_shape",
             lambda: mpb(P3G, P3I, (1, 3, 4, 4, 4))),
        _bad("max_pool3d_backward-input_shape-wrong-C", ValueError, "grad_output|input_shape",
             lambda: mpb(P3G, P3I, (2, 5, 4, 4, 4))),
        _bad("avg_pool3d_backward-grad_output-3d", ValueError, "grad_output",
             lambda: apb(P3G[0, 0], S_, 2)),
        _bad("avg_pool3d_backward-grad_output-wrong-D", ValueError, "grad_output",
             lambda: apb(_arr(2, 3, 3, 2, 2), S_, 2)),
        _bad("avg_pool3d_backward-grad_output-wrong-N", ValueError, "grad_output|input_shape",
             lambda: apb(_arr(1, 3, 2, 2, 2), S_, 2)),
        _bad("avg_pool3d_backward-grad_output-wrong-C", ValueError, "grad_output|input_shape",
             lambda: apb(_arr(2, 4, 2, 2, 2), S_, 2)),
        _bad("avg_pool3d_backward-grad_output-ignores-stride", ValueError, "grad_output",
             lambda: apb(P3G, S_, 2, stride=1)),
        _bad("avg_pool3d_backward-grad_output-complex", TypeError, "grad_output",
             lambda: apb(P3G.astype(complex), S_, 2)),
        _bad("avg_pool3d_backward-input_shape-length-4", EITHER, "input_shape",
             lambda: apb(P3G, S_[1:], 2)),
        _bad("avg_pool3d_backward-input_shape-float", TypeError, "input_shape",
             lambda: apb(P3G, (2, 3, 4, 4, 4.5), 2)),
        _bad("avg_pool3d_backward-kernel-larger", ValueError, "kernel_size",
             lambda: apb(P3G, S_, 5)),
        _bad("avg_pool3d_backward-kernel_size-float", TypeError, "kernel_size",
             lambda: apb(P3G, S_, 2.0)),
        _bad("avg_pool3d_backward-padding-over-half", ValueError, "padding",
             lambda: apb(P3G, S_, 2, padding=2)),
    ]
    return C


BAD_CALLS = (_conv3d_error_cases() + _conv3d_backward_error_cases()
             + _conv_transpose3d_error_cases() + _pool3d_error_cases()
             + _pool3d_backward_error_cases())


@pytest.mark.parametrize("call, exc, match", BAD_CALLS)
def test_bad_call_raises_naming_the_argument(call, exc, match):
    check_raises_naming(call, exc, match)


@pytest.mark.parametrize("call, exc, match", BAD_CALLS)
def test_bad_call_raises_only_value_type_or_memory_error(call, exc, match):
    check_raises_only_allowed(call)


@pytest.mark.parametrize("call, needles", [
    pytest.param(lambda: fc.conv3d(X3[0, 0], W3), ["`x`", "5-D", "(N, C, D, H, W)", "(5, 5, 5)"],
                 id="x-ndim"),
    pytest.param(lambda: fc.max_pool3d(P3X[0, 0], 2), ["`x`", "5-D", "(4, 4, 4)"],
                 id="pool-x-ndim"),
    pytest.param(lambda: fc.conv3d(X3, W3, stride=(1, -7, 1)), ["`stride`", "-7"], id="stride"),
    pytest.param(lambda: fc.conv3d(X3, _arr(6, 1, 3, 3, 3), groups=3), ["`groups`", "3"],
                 id="groups"),
    pytest.param(lambda: fc.conv3d(X3, W3, B3[:5]), ["`bias`", "5"], id="bias"),
    pytest.param(lambda: fc.max_pool3d_backward(P3G, np.where(P3I == 3, 99, P3I), P3X.shape),
                 ["`indices`"], id="indices"),
    pytest.param(lambda: fc.conv_transpose3d(X3, WT3, stride=2, output_padding=2),
                 ["`output_padding`", "2"], id="output_padding"),
    pytest.param(lambda: fc.avg_pool3d(P3X, 2, divisor_override=0), ["`divisor_override`", "0"],
                 id="divisor_override-0"),
    pytest.param(lambda: fc.avg_pool2d(P2X, 2, divisor_override=-3),
                 ["`divisor_override`", "-3"], id="divisor_override-negative"),
    pytest.param(lambda: fc.avg_pool3d(P3X, 3, padding=2), ["`padding`", "2"], id="padding"),
])
def test_message_names_argument_in_backticks_and_shows_value(call, needles):
    with pytest.raises(ALLOWED) as info:
        call()
    msg = str(info.value)
    for needle in needles:
        assert needle in msg, f"{needle!r} missing from message {msg!r}"
    assert "_validation" not in msg and "__pyx" not in msg, f"private name leaked: {msg!r}"


def test_accepted_argument_forms_are_not_rejected():
    x = _arr(1, 2, 5, 7, 6)
    w = _arr(3, 2, 3, 3, 2) + 0.5
    want = fc.conv3d(x, w, stride=2, padding=1)
    for kw in [dict(stride=np.int64(2), padding=np.int32(1)),
               dict(stride=[2, 2, 2], padding=[1, 1, 1]),
               dict(stride=(np.int8(2), 2, 2), padding=((1, 1), (1, 1), (1, 1)))]:
        np.testing.assert_array_equal(fc.conv3d(x, w, **kw), want, err_msg=str(kw))
    np.testing.assert_array_equal(fc.conv3d(x, w, padding="valid"), fc.conv3d(x, w))
    assert fc.conv3d(x, w, padding="same").shape == (1, 3, 5, 7, 6)
    np.testing.assert_array_equal(fc.max_pool3d(x, 2, stride=None), fc.max_pool3d(x, 2, stride=2))
    np.testing.assert_array_equal(fc.avg_pool3d(x, np.int64(2)), fc.avg_pool3d(x, (2, 2, 2)))
    # output_padding < max(stride, dilation): allowed through dilation alone
    assert fc.conv_transpose3d(_arr(1, 4, 3, 3, 3), WT3, dilation=2, output_padding=1).shape == \
        (1, 3, 8, 8, 8)
