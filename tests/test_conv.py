"""fastconv convolutions (forward, backward, transposed, output size) vs the NumPy reference."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastconv
import reference as ref
import strategies as S
from conftest import assert_close

DTYPES = [np.float32, np.float64]


def _abs(a):
    return None if a is None else np.abs(a)


def check_conv(case, nd):
    conv, rconv = (fastconv.conv2d, ref.conv2d) if nd == 2 else (fastconv.conv1d, ref.conv1d)
    args = dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
                groups=case.groups)
    x0, w0 = case.x.copy(), case.w.copy()
    out = conv(case.x, case.w, case.b, flip=case.flip, **args)
    expected = rconv(case.x, case.w, case.b, flip=case.flip, **args)
    scale = rconv(np.abs(case.x), np.abs(case.w), _abs(case.b), flip=case.flip, **args)
    assert out.dtype == case.dtype
    assert out.flags.c_contiguous
    assert_close(out, expected, case.dtype, scale, err_msg=f"conv{nd}d")
    np.testing.assert_array_equal(case.x, x0)  # inputs untouched
    np.testing.assert_array_equal(case.w, w0)


def check_conv_backward(case, nd):
    bwd = fastconv.conv2d_backward if nd == 2 else fastconv.conv1d_backward
    rconv = ref.conv2d if nd == 2 else ref.conv1d
    rbwd = ref.conv2d_backward if nd == 2 else ref.conv1d_backward
    args = dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
                groups=case.groups, flip=case.flip)
    out_shape = rconv(case.x, case.w, **args).shape
    go = case.rng.standard_normal(out_shape).astype(case.dtype)
    gi, gw, gb = bwd(go, case.x, case.w, **args)
    e_gi, e_gw, e_gb = rbwd(go, case.x, case.w, **args)
    s_gi, s_gw, s_gb = rbwd(np.abs(go), np.abs(case.x), np.abs(case.w), **args)
    for name, got, exp, scale in [("grad_input", gi, e_gi, s_gi), ("grad_weight", gw, e_gw, s_gw),
                                  ("grad_bias", gb, e_gb, s_gb)]:
        assert got.dtype == case.dtype, name
        assert_close(got, exp, case.dtype, scale, err_msg=f"conv{nd}d_backward {name}")
    assert gi.shape == case.x.shape and gw.shape == case.w.shape and gb.shape == (case.w.shape[0],)


@given(S.conv_cases(nd=2))
def test_conv2d_matches_reference(case):
    check_conv(case, 2)


@given(S.conv_cases(nd=1))
def test_conv1d_matches_reference(case):
    check_conv(case, 1)


@given(S.conv_cases(nd=2))
def test_conv2d_backward_matches_reference(case):
    check_conv_backward(case, 2)


@given(S.conv_cases(nd=1))
def test_conv1d_backward_matches_reference(case):
    check_conv_backward(case, 1)


def check_conv_transpose(case, nd):
    convt = fastconv.conv_transpose2d if nd == 2 else fastconv.conv_transpose1d
    rconvt = ref.conv_transpose2d if nd == 2 else ref.conv_transpose1d
    args = dict(stride=case.stride, padding=case.padding, output_padding=case.output_padding,
                groups=case.groups, dilation=case.dilation)
    out = convt(case.x, case.w, case.b, **args)
    expected = rconvt(case.x, case.w, case.b, **args)
    scale = rconvt(np.abs(case.x), np.abs(case.w), _abs(case.b), **args)
    assert out.dtype == case.dtype
    assert_close(out, expected, case.dtype, scale, err_msg=f"conv_transpose{nd}d")


@given(S.conv_transpose_cases(nd=2))
def test_conv_transpose2d_matches_reference(case):
    check_conv_transpose(case, 2)


@given(S.conv_transpose_cases(nd=1))
def test_conv_transpose1d_matches_reference(case):
    check_conv_transpose(case, 1)


@given(S.conv_cases(nd=2, allow_flip=False))
def test_conv_transpose2d_equals_conv2d_backward_grad_input(case):
    # the transposed op takes explicit padding only: use the resolved per-side pairs
    H, W = case.x.shape[2:]
    out = ref.conv2d(case.x, case.w, None, case.s, case.pads, case.d, case.groups)
    Ho, Wo = out.shape[2:]
    # rows/columns of the padded input that no window reaches become output_padding
    op = tuple(n + p0 + p1 - (d * (k - 1) + 1) - (o - 1) * s
               for n, (p0, p1), k, s, d, o in zip((H, W), case.pads, case.k, case.s, case.d,
                                                   (Ho, Wo)))
    g = case.rng.standard_normal(out.shape).astype(case.dtype)
    gi = fastconv.conv2d_backward(g, case.x, case.w, case.s, tuple(case.pads), case.d,
                                  case.groups)[0]
    ct = fastconv.conv_transpose2d(g, case.w, None, case.s, tuple(case.pads), op, case.groups,
                                   case.d)
    assert ct.shape == case.x.shape
    scale = ref.conv2d_backward(np.abs(g), np.abs(case.x), np.abs(case.w), case.s,
                                case.pads, case.d, case.groups)[0]
    assert_close(ct, gi, case.dtype, scale, err_msg="conv_transpose2d vs grad_input")


# --------------------------------------------------------------------------------------------
# conv_output_size
# --------------------------------------------------------------------------------------------


@given(st.data())
def test_conv_output_size_matches_reference(data):
    nd = data.draw(st.integers(1, 3))
    sizes = tuple(data.draw(st.integers(1, 40)) for _ in range(nd))
    k = tuple(data.draw(st.integers(1, 7)) for _ in range(nd))
    s = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    d = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    ceil_mode = data.draw(st.booleans())
    padding = data.draw(st.one_of(
        st.integers(0, 4), st.sampled_from(["same", "valid"]),
        st.tuples(*[st.integers(0, 4)] * nd),
        st.tuples(*[st.tuples(st.integers(0, 4), st.integers(0, 4))] * nd)))
    scalar = nd == 1 and data.draw(st.booleans())
    input_size = sizes[0] if scalar else sizes
    kw = dict(kernel_size=k, stride=s, padding=padding, dilation=d, ceil_mode=ceil_mode)
    try:
        expected = ref.conv_output_size(input_size, **kw)
    except ValueError:
        with pytest.raises(ValueError):
            fastconv.conv_output_size(input_size, **kw)
        return
    got = fastconv.conv_output_size(input_size, **kw)
    assert got == expected
    assert type(got) is (int if scalar else tuple)


@pytest.mark.parametrize("i, k, s, p, d, ceil, expected", [
    (5, 3, 1, 0, 1, False, 3), (5, 3, 2, 1, 1, False, 3), (6, 3, 2, 0, 1, False, 2),
    (6, 3, 2, 0, 1, True, 3), (5, 2, 2, 1, 1, True, 3),  # last window would start in padding
    (7, 3, 1, 0, 3, False, 1), (4, 4, 1, 0, 1, False, 1), (1, 1, 3, 0, 1, True, 1)])
def test_conv_output_size_hand_values(i, k, s, p, d, ceil, expected):
    assert fastconv.conv_output_size(i, k, s, p, d, ceil) == expected
    assert ref.conv_output_size(i, k, s, p, d, ceil) == expected


# --------------------------------------------------------------------------------------------
# fixed cases named in STYLE.md
# --------------------------------------------------------------------------------------------


def _conv2d_case(dtype, shape, wshape, seed=0, **kw):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(wshape).astype(dtype)
    b = rng.standard_normal(wshape[0]).astype(dtype)
    out = fastconv.conv2d(x, w, b, **kw)
    assert out.dtype == dtype
    assert_close(out, ref.conv2d(x, w, b, **kw), dtype,
                 ref.conv2d(np.abs(x), np.abs(w), np.abs(b), **kw))
    go = rng.standard_normal(out.shape).astype(dtype)
    got = fastconv.conv2d_backward(go, x, w, **kw)
    exp = ref.conv2d_backward(go, x, w, **kw)
    scl = ref.conv2d_backward(np.abs(go), np.abs(x), np.abs(w), **kw)
    for name, a, e, s in zip(["grad_input", "grad_weight", "grad_bias"], got, exp, scl):
        assert_close(a, e, dtype, s, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_1x1_kernel(dtype, stride):
    _conv2d_case(dtype, (2, 5, 7, 6), (4, 5, 1, 1), stride=stride)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (1, 2, 1, 7), (3, 1, 1, 1)])
def test_conv2d_kernel_equals_input(dtype, shape):
    _conv2d_case(dtype, shape, (4, shape[1], *shape[2:]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, kw", [
    ((2, 3, 31, 29), dict(stride=2, padding=2, dilation=1)),
    ((1, 4, 37, 23), dict(stride=(1, 3), padding=((2, 0), (1, 3)), dilation=(2, 1), groups=2)),
    ((1, 2, 19, 41), dict(padding="same", dilation=2))])
def test_conv2d_moderate_odd_sizes(dtype, shape, kw):
    _conv2d_case(dtype, shape, (4, shape[1] // kw.get("groups", 1), 5, 3), **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("L", [97, 101])
@pytest.mark.parametrize("k, s, p, d", [(3, 1, 1, 1), (7, 2, "same", 1), (5, 3, (4, 1), 2),
                                        (97, 1, 0, 1)])
def test_conv1d_odd_lengths(dtype, L, k, s, p, d):
    rng = np.random.default_rng(L + k)
    x = rng.standard_normal((2, 3, L)).astype(dtype)
    w = rng.standard_normal((4, 3, k)).astype(dtype)
    kw = dict(stride=s, padding=p, dilation=d)
    out = fastconv.conv1d(x, w, **kw)
    assert_close(out, ref.conv1d(x, w, **kw), dtype, ref.conv1d(np.abs(x), np.abs(w), **kw))
    go = rng.standard_normal(out.shape).astype(dtype)
    got = fastconv.conv1d_backward(go, x, w, **kw)
    exp = ref.conv1d_backward(go, x, w, **kw)
    scl = ref.conv1d_backward(np.abs(go), np.abs(x), np.abs(w), **kw)
    for name, a, e, sc in zip(["grad_input", "grad_weight", "grad_bias"], got, exp, scl):
        assert_close(a, e, dtype, sc, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nd", [1, 2])
def test_flip_is_correlation_with_flipped_kernel(dtype, nd):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4) + (9, 8)[:nd]).astype(dtype)
    w = rng.standard_normal((4, 2) + (3, 4)[:nd]).astype(dtype)
    conv = fastconv.conv2d if nd == 2 else fastconv.conv1d
    axes = tuple(range(2, 2 + nd))
    kw = dict(stride=2, padding=1, dilation=1, groups=2)
    flipped = conv(x, w, flip=True, **kw)
    direct = conv(x, np.ascontiguousarray(np.flip(w, axes)), **kw)
    assert_close(flipped, direct, dtype)
    bwd = fastconv.conv2d_backward if nd == 2 else fastconv.conv1d_backward
    go = rng.standard_normal(flipped.shape).astype(dtype)
    gi_f, gw_f, gb_f = bwd(go, x, w, flip=True, **kw)
    gi_d, gw_d, gb_d = bwd(go, x, np.ascontiguousarray(np.flip(w, axes)), **kw)
    assert_close(gi_f, gi_d, dtype)
    assert_close(gw_f, np.flip(gw_d, axes), dtype)  # gradient w.r.t. the unflipped weight
    assert_close(gb_f, gb_d, dtype)


def test_flip_seed_example():
    x = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    w = np.array([[[1.0, 2.0, 3.0]]])
    np.testing.assert_array_equal(fastconv.conv1d(x, w), [[[14.0, 20.0]]])
    np.testing.assert_array_equal(fastconv.conv1d(x, w, flip=True), [[[10.0, 16.0]]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_groups_equal_channels(dtype, multiplier):
    C = 5
    _conv2d_case(dtype, (2, C, 9, 10), (C * multiplier, 1, 3, 3), groups=C, padding=1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_depthwise_conv1d_and_transpose(dtype):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 13)).astype(dtype)
    w = rng.standard_normal((4, 1, 3)).astype(dtype)
    out = fastconv.conv1d(x, w, groups=4, padding="same")
    assert_close(out, ref.conv1d(x, w, groups=4, padding="same"), dtype,
                 ref.conv1d(np.abs(x), np.abs(w), groups=4, padding="same"))
    ct = fastconv.conv_transpose1d(x, w, groups=4, stride=2, output_padding=1)
    assert_close(ct, ref.conv_transpose1d(x, w, groups=4, stride=2, output_padding=1), dtype,
                 ref.conv_transpose1d(np.abs(x), np.abs(w), groups=4, stride=2, output_padding=1))


@pytest.mark.parametrize("padding", [2, (2, 2), ((2, 2), (2, 2))])
def test_conv2d_padding_forms_agree(padding):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((1, 2, 6, 7)), rng.standard_normal((3, 2, 3, 2))
    np.testing.assert_array_equal(fastconv.conv2d(x, w, padding=padding),
                                  fastconv.conv2d(x, w, padding=((2, 2), (2, 2))))


@pytest.mark.parametrize("padding", [2, (2,), (2, 2), ((2, 2),)])
def test_conv1d_padding_forms_agree(padding):
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((1, 2, 6)), rng.standard_normal((3, 2, 3))
    np.testing.assert_array_equal(fastconv.conv1d(x, w, padding=padding),
                                  fastconv.conv1d(x, w, padding=((2, 2),)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv1d_flat_pair_is_before_after(dtype):
    x = np.arange(1.0, 5.0, dtype=dtype).reshape(1, 1, 4)
    w = np.ones((1, 1, 1), dtype=dtype)
    np.testing.assert_array_equal(fastconv.conv1d(x, w, padding=(2, 1)),
                                  [[[0, 0, 1, 2, 3, 4, 0]]])


@pytest.mark.parametrize("x_dtype, w_dtype, expected", [
    (np.float32, np.float32, np.float32), (np.float32, np.float64, np.float64),
    (np.float64, np.float32, np.float64), (np.float16, np.float16, np.float32),
    (np.float16, np.float32, np.float32), (np.int64, np.int32, np.float64)])
def test_conv_result_dtype(x_dtype, w_dtype, expected):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((2, 2, 6, 5)) * 4).astype(x_dtype)
    w = (rng.standard_normal((3, 2, 3, 2)) * 4).astype(w_dtype)
    out = fastconv.conv2d(x, w, padding=1)
    assert out.dtype == expected
    assert_close(out, ref.conv2d(x, w, padding=1), expected,
                 ref.conv2d(np.abs(x), np.abs(w), padding=1))
    grads = fastconv.conv2d_backward(out, x, w, padding=1)
    assert [g.dtype for g in grads] == [np.dtype(expected)] * 3
