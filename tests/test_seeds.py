"""The source documents' worked examples, run through fastconv's public API.

Every expected value below is written out literally. Each was re-derived by hand with an
independent scratch NumPy computation (explicit loops over the seed's own index formula, not
fastconv) and, where the seed prints a number, compared with the printed value. Printed values
that turned out to be wrong are called out next to the assertion. Seeds:

* 000 -- "Exercise: Convolutional Neural Networks - Pen & Paper" (prints no answers)
* 001 -- "Convolutional Neural Networks" lecture slides (Torch/TF)
* 002 -- "Introduction to Convolutional Neural Networks" (only shapes)
* 003 -- "Guide to CNN's" toy 5x5 image example
* 004 -- "Introduction to Machine Learning, Homework 8" solutions
"""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

import fastconv
from fastconv import _seeds

DTYPES = [np.float64, np.float32]


def _tol(dtype):
    return {"rtol": 1e-12, "atol": 1e-12} if dtype == np.float64 else {"rtol": 2e-6, "atol": 2e-6}


def _check(got, expected, dtype):
    """``got`` must be a float array of ``dtype`` equal to ``expected`` (literal) within tolerance."""
    got = np.asarray(got)
    expected = np.asarray(expected, dtype=np.float64)
    assert got.dtype == dtype, f"dtype {got.dtype}, expected {np.dtype(dtype)}"
    assert got.shape == expected.shape, f"shape {got.shape}, expected {expected.shape}"
    np.testing.assert_allclose(got.astype(np.float64), expected, **_tol(dtype))


def _as(a, ndim, dtype):
    return _seeds.batched(a, ndim).astype(dtype)


# --------------------------------------------------------------------------------------------
# Seed 001: 1-D correlation, true convolution and their gradients
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_conv1d_correlation_and_true_convolution(dtype):
    """Seed 001, "Convolution (Discrete 1D)": I=[1,2,3,4], W=[1,2,3].

    Correlation O_i = sum_j I_{j+i-1} W_j: [1+4+9, 2+6+12] = [14, 20].
    True convolution (W flipped to [3,2,1]): [3+4+3, 6+6+4] = [10, 16].
    """
    I, W, _ = _seeds.conv1d_slides()
    x, w = _as(I, 3, dtype), _as(W, 3, dtype)
    _check(fastconv.conv1d(x, w), [[[14, 20]]], dtype)
    _check(fastconv.conv1d(x, w, flip=True), [[[10, 16]]], dtype)
    # flip=True is the same as correlating with the reversed kernel
    _check(fastconv.conv1d(x, np.ascontiguousarray(w[..., ::-1])), [[[10, 16]]], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv1d_backward_slides(dtype):
    """Seed 001, "Convolution - Backward" with dL/dO = LO = [1, 2].

    dL/dW = [LO1*I1 + LO2*I2, LO1*I2 + LO2*I3, LO1*I3 + LO2*I4] = [1+4, 2+6, 3+8] = [5, 8, 11].
    dL/dI = [LO1*W1, LO1*W2 + LO2*W1, LO1*W3 + LO2*W2, LO2*W3] = [1, 2+2, 3+4, 6] = [1, 4, 7, 6].
    dL/db = LO1 + LO2 = 3.
    """
    I, W, LO = _seeds.conv1d_slides()
    gi, gw, gb = fastconv.conv1d_backward(_as(LO, 3, dtype), _as(I, 3, dtype), _as(W, 3, dtype))
    _check(gi, [[[1, 4, 7, 6]]], dtype)
    _check(gw, [[[5, 8, 11]]], dtype)
    _check(gb, [3], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv1d_backward_as_correlations(dtype):
    """Seed 001, "Convolution - Backward": the slides' two identities, computed with conv1d.

    dL/dW = Correlation(I, LO) = [5, 8, 11];
    dL/dI = Correlation(W_pad, LO_flip) with W_pad = [0,1,2,3,0], LO_flip = [2,1] -> [1, 4, 7, 6]
    ("full" correlation), which is also the transposed convolution of LO with W.
    """
    I, W, LO = _seeds.conv1d_slides()
    _check(fastconv.conv1d(_as(I, 3, dtype), _as(LO, 3, dtype)), [[[5, 8, 11]]], dtype)
    _check(fastconv.conv1d(_as(W, 3, dtype), _as(LO[::-1], 3, dtype), padding=1),
           [[[1, 4, 7, 6]]], dtype)
    _check(fastconv.conv_transpose1d(_as(LO, 3, dtype), _as(W, 3, dtype)), [[[1, 4, 7, 6]]], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv1d_backward_true_convolution(dtype):
    """Seed 001, "True Convolution" O'_i = sum_j I_{j+i-1} W_{Dim(W)-j+1}, with LO = [1, 2].

    Derived by hand (and checked by finite differences in the scratch computation):
    dL/dW_k = sum_i LO_i I_{i+Dim(W)-k}  -> [3+8, 2+6, 1+4] = [11, 8, 5] (the correlation
    gradient reversed); dL/dI = correlation gradient with W_flip = [3,2,1] -> [3, 8, 5, 2].
    """
    I, W, LO = _seeds.conv1d_slides()
    gi, gw, gb = fastconv.conv1d_backward(_as(LO, 3, dtype), _as(I, 3, dtype), _as(W, 3, dtype),
                                          flip=True)
    _check(gi, [[[3, 8, 5, 2]]], dtype)
    _check(gw, [[[11, 8, 5]]], dtype)
    _check(gb, [3], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv1d_half_padding(dtype):
    """Seed 001, "Half-padding (same size output)": I_pad = [0,1,2,3,4,0], W = [1,2,3].

    No output is printed; by hand: [0+2+6, 1+4+9, 2+6+12, 3+8+0] = [8, 14, 20, 11].
    """
    I, W, _ = _seeds.conv1d_slides()
    x, w = _as(I, 3, dtype), _as(W, 3, dtype)
    _check(fastconv.conv1d(x, w, padding=1), [[[8, 14, 20, 11]]], dtype)
    _check(fastconv.conv1d(x, w, padding="same"), [[[8, 14, 20, 11]]], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv1d_tf_gradweight(dtype):
    """Seed 001, TF Conv1D(1, 3, 'VALID'): gradWeight = correlation(n, nextgrad).

    Printed (float32): [0.6445209, 2.1667714, -1.0011742]. Exactly, from the printed decimal
    inputs: n0*g0 + n1*g1 = 0.20350695*-0.47567356 + -0.31481498*-2.3547919 = 0.64452088951142
    etc. The second TF cell (Conv1D with kernel = nextgrad applied to n) prints the same numbers.
    The printed forward output m = [-0.7662684, 0.2175143] used an unprinted random kernel and
    cannot be checked (2 equations, 3 unknowns), so it is not asserted.
    """
    n, g = _seeds.conv1d_tf_gradweight()
    if dtype == np.float32:
        expected = [0.6445209, 2.1667714, -1.0011742]                # as printed by TF
    else:
        expected = [0.64452088951142, 2.1667715253316917, -1.0011741299433687]
    x, go = _as(n, 3, dtype), _as(g, 3, dtype)
    w_any = np.full((1, 1, 3), 0.5, dtype=dtype)  # the unknown TF kernel; gradWeight ignores it
    _, gw, gb = fastconv.conv1d_backward(go, x, w_any)
    _check(gw, [[expected]], dtype)
    _check(gb, [-0.47567356 - 2.3547919], dtype)
    _check(fastconv.conv1d(x, go), [[expected]], dtype)


# --------------------------------------------------------------------------------------------
# Seed 001: the 2x4x4 two-filter example
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_two_filter_conv(dtype):
    """Seed 001, "Spatial Dimension - Convolution": I 2x4x4, W 2x2x2x2, b = [0.1, 0.2] -> O 2x3x3.

    W is reconstructed as W[1,1]=[[1,-2],[-2,1]], W[1,2]=[[1,0],[0,1]], W[2,1]=[[3,1],[2,2]],
    W[2,2]=[[0,0],[0,4]] (the slides shuffle the four blocks around); of the 48 ways of placing
    the printed blocks (24 orders x flipped or not) this is the only one matching 17 of the 18
    printed outputs (the next best matches 9).

    TYPO: the slides print O[1][0,0] = -3.1. By hand: plane 1 gives
    1*1 + (-2)*(-2) + (-2)*2 + 1*1 = 2, plane 2 gives 1*3 + 0*0 + 0*(-2) + 1*(-2) = 1, plus the
    bias 0.1: O[1][0,0] = +3.1. The other 17 printed values are correct.
    """
    I, W, b = _seeds.two_filter_conv()
    out = fastconv.conv2d(_as(I, 4, dtype), W.astype(dtype), b.astype(dtype))
    _check(out, [[[[3.1, -3.9, -10.9],       # printed "-3.1": sign typo, see docstring
                   [4.1, -12.9, 16.1],
                   [-3.9, 0.1, 9.1]],
                  [[-0.8, 8.2, 6.2],
                   [5.2, 18.2, 7.2],
                   [-8.8, 2.2, -7.8]]]], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_filter_conv_tf_nhwc(dtype):
    """Seed 001, the TF re-run (Conv2D(2, [2,2]), NHWC) prints different numbers.

    They are NOT the slides' example: the tf.constant image is a (1,4,4,2) NHWC tensor that
    re-chunks the slides' numbers in pairs, and tf.constant_initializer fills the HWIO kernel
    with the 16 listed weights in order. With exactly that input and kernel (converted to
    NCHW / OIHW) 17 of the 18 printed values are reproduced.

    TYPO: TF prints O[0,2,2,0] = -20.1; by hand x[2,2]=(2,-1), x[2,3]=(5,-2), x[3,2]=(3,1),
    x[3,3]=(0,1) with k[.,.,:,0] = (1,-2), (1,0), (3,2), (0,0): 2+2+5+0+9+2+0 + 0.1 = +20.1.
    """
    x, w, b = _seeds.two_filter_conv_tf_nhwc()
    out = fastconv.conv2d(_as(x, 4, dtype), w.astype(dtype), b.astype(dtype))
    printed_hwc = [[[17.1, -4.8], [3.1, 3.2], [-15.9, 16.2]],
                   [[10.1, -8.8], [-5.9, -16.8], [-4.9, 1.2]],
                   [[1.1, -11.8], [5.1, 4.2], [20.1, 2.2]]]  # printed "-20.1": sign typo
    _check(out, np.transpose(printed_hwc, (2, 0, 1))[None], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tf_conv_transpose(dtype):
    """Seed 001, TF Conv2D(1, [3,3], [2,2], 'valid') backward == Conv2DTranspose forward.

    With the printed kernel w and the printed 2x2 output r as gradOutput, the printed 5x5
    grad_input (shown in a two-column layout: rows 0, 1 and 4 in the left column, rows 2 and 3
    in the right one) is sum_{a,b} r[a,b] * w placed at (2a, 2b). All 25 printed float32 values
    are reproduced; the float64 values are the exact products of the printed decimals.
    (The input imgC was never printed, so r itself cannot be checked.)
    """
    w, r = _seeds.tf_conv_transpose()
    if dtype == np.float32:
        expected = [[3.4293556, 50.17591, 22.974957, 56.16536, 21.420517],     # as printed
                    [17.829948, 31.65853, 56.339676, 35.437576, 40.724194],
                    [42.819992, 49.156643, 98.61191, 43.924065, 53.345966],
                    [16.387812, 29.097897, 47.83826, 25.567505, 29.381691],
                    [36.45955, 2.7932932, 63.148792, 2.4543884, 27.337954]]
    else:
        expected = [[3.42935550977679, 50.1759088884864, 22.97495605717125, 56.1653608724736,
                     21.42051705197646],
                    [17.8299475990119, 31.6585280737647, 56.3396721191247, 35.4375773821278,
                     40.7241919157634],
                    [42.81999080301876, 49.1566424875871, 98.61190664084573, 43.9240659393982,
                     53.34596689137067],
                    [16.3878104329456, 29.0978957609328, 47.8382591076191, 25.5675043485591,
                     29.3816911542873],
                    [36.4595491425952, 2.793293165784, 63.1487943082522, 2.4543883086855,
                     27.3379544727091]]
    ww, rr = _as(w, 4, dtype), _as(r, 4, dtype)
    _check(fastconv.conv_transpose2d(rr, ww, stride=2), [[expected]], dtype)
    img = np.zeros((1, 1, 5, 5), dtype=dtype)  # grad_input does not depend on the input values
    gi, _, _ = fastconv.conv2d_backward(rr, img, ww, stride=2)
    _check(gi, [[expected]], dtype)


# --------------------------------------------------------------------------------------------
# Seed 003: the toy 5x5 image
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_toy_5x5_forward(dtype):
    """Seed 003, "Image Example": F^1, F^2 3x3, b = [1, 0], stride 2, padding 1 -> z^1, z^2 3x3.

    Every printed z value was checked by hand (z_st = b + sum theta_uv x_pad[2s+u, 2t+v]); all
    18 are correct, as are the slides' per-window products. ReLU gives Rz^1, Rz^2 as printed,
    and the 3x3 max pool gives mz^1 = 2, mz^2 = 5, both at (1, 0) = flat index 3.
    """
    x, F, b = _seeds.toy_5x5()
    z = fastconv.conv2d(_as(x, 4, dtype), F[:, None].astype(dtype), b.astype(dtype),
                        stride=2, padding=1)
    _check(z, [[[[-1, 1, 1], [2, 0, -2], [-2, 1, 1]],
                [[2, 2, 0], [5, 1, -3], [1, 0, -1]]]], dtype)
    rz = np.maximum(z, 0)
    mz, idx = fastconv.max_pool2d(rz, 3, return_indices=True)
    _check(mz, [[[[2]], [[5]]]], dtype)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx, [[[[3]], [[3]]]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_toy_5x5_backprop(dtype):
    """Seed 003, "Image Example: Backpropagation": dmz^1/dtheta^1 and dJ/dtheta^1_11.

    Only Rz^1[1,0] (the max, and z^1[1,0] = 2 > 0) passes gradient back, so dmz^1/dF^1 is the
    padded-input window at (s,t) = (1,0): [[0,0,0],[0,2,1],[0,2,2]]; its (1,1) entry is the
    slides' "1 x 1 x 2". With Fz = 0.3 - 2 + 1 = -0.7, y = sigma(-0.7) = 0.3318 (printed
    0.332) and y* = 1, dJ/dFz = (1/y) * y(1-y) = 1 - y, so
    dJ/dtheta^1_11 = (1 - sigma(-0.7)) * omega^1 * 2 = -2(1 - sigma(-0.7)) = -1.3363755443363323
    (printed -1.336).
    """
    x, F, b = _seeds.toy_5x5()
    omega0, omega = _seeds.toy_5x5_fully_connected()
    xx, ww = _as(x, 4, dtype), F[:, None].astype(dtype)
    z = fastconv.conv2d(xx, ww, b.astype(dtype), stride=2, padding=1)
    rz = np.maximum(z, 0)
    mz, idx = fastconv.max_pool2d(rz, 3, return_indices=True)
    fz = omega0 + float(np.sum(omega * mz.reshape(2)))
    assert fz == pytest.approx(-0.7, abs=1e-12)
    y = 1.0 / (1.0 + math.exp(-fz))
    assert y == pytest.approx(0.332, abs=5e-4)

    # d mz^k / d F^k (upstream gradient 1 for each pooled value)
    g_rz = fastconv.max_pool2d_backward(np.ones_like(mz), idx, rz.shape)
    _check(g_rz, [[[[0, 0, 0], [1, 0, 0], [0, 0, 0]]] * 2], dtype)
    g_z = g_rz * (z > 0)
    _, gw, gb = fastconv.conv2d_backward(g_z, xx, ww, stride=2, padding=1)
    _check(gw, [[[[0, 0, 0], [0, 2, 1], [0, 2, 2]]]] * 2, dtype)
    _check(gb, [1, 1], dtype)

    # dJ/dF through the fully-connected layer: upstream gradient (1 - y) * omega^k
    g_mz = ((1.0 - y) * omega).reshape(mz.shape).astype(dtype)
    g_rz = fastconv.max_pool2d_backward(g_mz, idx, rz.shape)
    _, gw, _ = fastconv.conv2d_backward(g_rz * (z > 0), xx, ww, stride=2, padding=1)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    assert float(gw[0, 0, 1, 1]) == pytest.approx(-1.3363755443363323, abs=tol)
    assert float(gw[0, 0, 1, 1]) == pytest.approx(-1.336, abs=5e-4)  # as printed


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_annotation(dtype):
    """Seed 003, "Max Pooling Annotation": [[1,2,6,7],[-4,5,0,1],[1,3,1,1],[3,3,2,1]], 2x2/2.

    Printed: mz_00 = max{1,2,-4,5} = 5 and mz_01 = max{6,7,0,1} = 7. The other two (not printed)
    by hand: max{1,3,3,3} = 3 (first at (2,1) -> index 9), max{1,1,2,1} = 2 (at (3,2) -> 14).
    """
    a = _as(_seeds.max_pool_annotation(), 4, dtype)
    out, idx = fastconv.max_pool2d(a, 2, stride=2, return_indices=True)
    _check(out, [[[[5, 7], [3, 2]]]], dtype)
    np.testing.assert_array_equal(idx, [[[[5, 3], [9, 14]]]])


# --------------------------------------------------------------------------------------------
# Seed 000: pen-and-paper exercise (the document prints no answers)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_pen_and_paper_conv(dtype):
    """Seed 000, "Convolution as a Sum" (b): I * K, stride 2, padding 0, eq. (1).

    (I*K)_ij = sum_mn K_mn I_{2(i-1)+m, 2(j-1)+n} (cross-correlation). By hand:
    (1,1): I12 + I13 + I21 + I32 = 1 - 2 + 1 + 1 = 1;  (1,2): I14 + I15 + I23 + I34 = 0+1+0+5 = 6;
    (2,1): I32 + I33 + I41 + I52 = 1+0-2+1 = 0;      (2,2): I34 + I35 + I43 + I54 = 5-1+0+5 = 9.
    """
    I, K = _seeds.pen_and_paper()
    _check(fastconv.conv2d(_as(I, 4, dtype), _as(K, 4, dtype), stride=2), [[[[1, 6], [0, 9]]]],
           dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pen_and_paper_kernel_gradient(dtype):
    """Seed 000, "Convolution as a Sum" (c), eq. (2): dL/dK with dL/dO = ones.

    dK_{m'n'} = sum_ij I_{2(i-1)+m', 2(j-1)+n'}, i.e. the sum of the four 3x3 windows:
    [[-1, 7, -2], [-1, 2, 2], [0, 12, -2]]. dL/dI (the "Additional Notes" formula) scatters K
    into each window: [[0,1,1,1,1],[1,0,1,0,0],[0,2,1,2,1],[1,0,1,0,0],[0,1,0,1,0]].
    """
    I, K = _seeds.pen_and_paper()
    gi, gw, gb = fastconv.conv2d_backward(np.ones((1, 1, 2, 2), dtype=dtype), _as(I, 4, dtype),
                                          _as(K, 4, dtype), stride=2)
    _check(gw, [[[[-1, 7, -2], [-1, 2, 2], [0, 12, -2]]]], dtype)
    _check(gi, [[[[0, 1, 1, 1, 1],
                  [1, 0, 1, 0, 0],
                  [0, 2, 1, 2, 1],
                  [1, 0, 1, 0, 0],
                  [0, 1, 0, 1, 0]]]], dtype)
    _check(gb, [4], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pen_and_paper_im2col(dtype):
    """Seed 000, "Convolution as a Matrix Multiplication" (b), (c).

    im2col with kernel 3, stride 2 gives the 9x4 matrix below (row c*9 + i*3 + j, column
    window oy*2 + ox). vec(K) @ cols = [1, 6, 0, 9] (same as (1.b)); dL/dK = cols @ dL/dO
    = cols @ [1,1,1,1] = [-1, 7, -2, -1, 2, 2, 0, 12, -2] (same as (1.c)); col2im of
    vec(K) dL/dO^T is dL/dI.
    """
    I, K = _seeds.pen_and_paper()
    cols = fastconv.im2col(_as(I, 4, dtype), 3, stride=2)
    _check(cols, [[[1, -2, 0, 0],
                   [1, 0, 1, 5],
                   [-2, 1, 0, -1],
                   [1, 0, -2, 0],
                   [0, 2, 1, -1],
                   [0, 1, 0, 1],
                   [0, 0, 0, 0],
                   [1, 5, 1, 5],
                   [0, -1, 0, -1]]], dtype)
    k = K.reshape(-1).astype(dtype)
    _check(k @ cols[0], [1, 6, 0, 9], dtype)
    _check(cols[0] @ np.ones(4, dtype=dtype), [-1, 7, -2, -1, 2, 2, 0, 12, -2], dtype)
    gi = fastconv.col2im(np.outer(k, np.ones(4, dtype=dtype))[None], (5, 5), 3, stride=2)
    _check(gi, [[[[0, 1, 1, 1, 1],
                  [1, 0, 1, 0, 0],
                  [0, 2, 1, 2, 1],
                  [1, 0, 1, 0, 0],
                  [0, 1, 0, 1, 0]]]], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pen_and_paper_max_pool(dtype):
    """Seed 000, "Convolution as a Matrix Multiplication" (d): 3x3 max pool, stride 2, pad 0.

    Windows (top-left at (0,0), (0,2), (2,0), (2,2)) have maxima 1, 5, 1, 5. Ties: the first
    maximum in row-major order wins -> flat indices 0 (I[0,0]), 13 (I[2,3]), 11 (I[2,1]) and 13
    again (I[2,3] beats the equal I[4,3]). Backward with ones sums the collision at 13.
    """
    I, _ = _seeds.pen_and_paper()
    x = _as(I, 4, dtype)
    out, idx = fastconv.max_pool2d(x, 3, stride=2, return_indices=True)
    _check(out, [[[[1, 5], [1, 5]]]], dtype)
    np.testing.assert_array_equal(idx, [[[[0, 13], [11, 13]]]])
    g = fastconv.max_pool2d_backward(np.ones((1, 1, 2, 2), dtype=dtype), idx, x.shape)
    expected = np.zeros(25)
    expected[[0, 11]] = 1
    expected[13] = 2
    _check(g, expected.reshape(1, 1, 5, 5), dtype)


# --------------------------------------------------------------------------------------------
# Seed 001: pooling
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_pool_4x4_max_and_average(dtype):
    """Seed 001, "Pooling in action": 2x2 pool, stride 2.

    Max: [[49, 77], [90, 100]] (as printed; flat indices 5, 2, 12, 10).
    Average: the slide prints [[36, 43], [53, 50]], which is ROUNDED: the exact means are
    143/4 = 35.75, 170/4 = 42.5, 212/4 = 53, 201/4 = 50.25.
    """
    x = _as(_seeds.pool_4x4(), 4, dtype)
    out, idx = fastconv.max_pool2d(x, 2, return_indices=True)
    _check(out, [[[[49, 77], [90, 100]]]], dtype)
    np.testing.assert_array_equal(idx, [[[[5, 2], [12, 10]]]])
    _check(fastconv.avg_pool2d(x, 2), [[[[35.75, 42.5], [53.0, 50.25]]]], dtype)
    _check(fastconv.avg_pool2d(x, 2, stride=2), [[[[35.75, 42.5], [53.0, 50.25]]]], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pool_4x4_gradients(dtype):
    """Seed 001, "Pooling in action" backward with ones: max routes 1 to each window's argmax
    (49, 77, 90, 100); average spreads 1/4 over every input element."""
    x = _as(_seeds.pool_4x4(), 4, dtype)
    _, idx = fastconv.max_pool2d(x, 2, return_indices=True)
    g = fastconv.max_pool2d_backward(np.ones((1, 1, 2, 2), dtype=dtype), idx, x.shape)
    _check(g, [[[[0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0]]]], dtype)
    g = fastconv.avg_pool2d_backward(np.ones((1, 1, 2, 2), dtype=dtype), x.shape, 2)
    _check(g, np.full((1, 1, 4, 4), 0.25), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tf_max_pool_gradient(dtype):
    """Seed 001, "Pooling (Max Pooling) in Tensorflow": MaxPooling2D 2x2/2, nextgrad = ones.

    Printed m = [[1.1895669, 2.6777048], [0.53753567, -0.19861951]] and gradInput with ones at
    those four positions: rows [[0,1,1,0],[0,0,0,0],[1,0,0,0],[0,0,0,1]] once the two-column
    print is read as documented in fastconv._seeds.tf_max_pool_4x4 (flat indices 1, 2, 8, 15).
    """
    n = _as(_seeds.tf_max_pool_4x4(), 4, dtype)
    m, idx = fastconv.max_pool2d(n, [2, 2], [2, 2], return_indices=True)
    expected = np.array([[1.1895669, 2.6777048], [0.53753567, -0.19861951]], dtype=dtype)
    assert m.dtype == dtype
    np.testing.assert_array_equal(m, expected[None, None])  # max pooling copies values exactly
    np.testing.assert_array_equal(idx, [[[[1, 2], [8, 15]]]])
    g = fastconv.max_pool2d_backward(np.ones((1, 1, 2, 2), dtype=dtype), idx, n.shape)
    _check(g, [[[[0, 1, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]]]], dtype)


# --------------------------------------------------------------------------------------------
# Seed 004 and layer shapes
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_hw8_difference_kernel(dtype):
    """Seed 004, 1(c)-(e): Z[i,j] = X[i,j] + X[i+1,j] - X[i,j+1] - X[i+1,j+1].

    X (6x5) is never printed; the solution quotes rows 1 and 2 in full ([0,3,3,3,0] both), which
    determines Z row 1: Z[1,0] = 0+0-3-3 = -6 (1d), Z[1,1] = Z[1,2] = 3+3-3-3 = 0 (1e),
    Z[1,3] = 3+3-0-0 = 6 (1c). The claims about rows 2 and 3 need unprinted entries of X and
    are not checked.
    """
    X12, W = _seeds.hw8_difference_kernel()
    _check(fastconv.conv2d(_as(X12, 4, dtype), _as(W, 4, dtype)), [[[[-6, 0, 0, 6]]]], dtype)


def test_layer_shapes_and_counts():
    """Shapes of actual conv outputs for the seeds' layer-size exercises.

    * Seed 004, 1(b): 6x5 with a 2x2 kernel, valid -> 5x4.
    * Seed 004, 2: X 48x64x10, W 3x3x10x20 -> Z 46x62x20; (46)(62)(20)(3)(3)(10) = 5,133,600
      multiplications ("5.133(10)^6"); 1800 weights + 20 biases = 1820 parameters.
    * Seed 001: 16x16 input, 8 filters 5x5 -> 8x12x12 (TF weights (5,5,1,8) are OIHW (8,1,5,5)).
    * Seed 002: a 3x2x3x3 kernel on a 2x5x5 input -> 3x3x3.
    * Seed 000 (a): 200x200x3 with 40x40x3 kernels, stride 2 -> 81x81 per kernel (run with 2
      of the 12323 kernels; the full output is 81x81x12323).
    """
    rng = np.random.default_rng(0)
    assert fastconv.conv2d(rng.standard_normal((1, 1, 6, 5)),
                           rng.standard_normal((1, 1, 2, 2))).shape == (1, 1, 5, 4)
    x = rng.standard_normal((1, 10, 48, 64))
    w = rng.standard_normal((20, 10, 3, 3))
    b = rng.standard_normal(20)
    z = fastconv.conv2d(x, w, b)
    assert z.shape == (1, 20, 46, 62)
    assert z[0].size * w[0].size == 5_133_600
    assert w.size + b.size == 1820
    assert fastconv.conv2d(rng.standard_normal((1, 1, 16, 16)),
                           rng.standard_normal((8, 1, 5, 5))).shape == (1, 8, 12, 12)
    assert fastconv.conv2d(rng.standard_normal((1, 2, 5, 5)),
                           rng.standard_normal((3, 2, 3, 3))).shape == (1, 3, 3, 3)
    out = fastconv.conv2d(rng.standard_normal((1, 3, 200, 200)).astype(np.float32),
                          rng.standard_normal((2, 3, 40, 40)).astype(np.float32), stride=2)
    assert out.shape == (1, 2, 81, 81)


# --------------------------------------------------------------------------------------------
# Seed 004 in its own notation: channels-last X[l, i, j, n], W[k1, k2, n, m] (NHWC / HWIO)
# --------------------------------------------------------------------------------------------

def _hw8_layer(rng, dtype, L=2, H=6, W=5, N=3, M=4, K=(2, 3)):
    X = rng.standard_normal((L, H, W, N)).astype(dtype)
    Wt = rng.standard_normal(K + (N, M)).astype(dtype)
    b = rng.standard_normal(M).astype(dtype)
    return X, Wt, b


@pytest.mark.parametrize("dtype", DTYPES)
def test_hw8_layer_in_its_own_notation(dtype):
    """Seed 004, 4(b): Z[l, i, j, m] = sum_{k1, k2, n} W[k1, k2, n, m] X[l, i+k1, j+k2, n] + b[m],
    the sums written out as the seed writes them, against conv2d on the seed's own arrays
    (data_format="NHWC"; the HWIO weight is the default for channels-last data)."""
    rng = np.random.default_rng(4)
    X, Wt, b = _hw8_layer(rng, dtype)
    Z = fastconv.conv2d(X, Wt, b, data_format="NHWC")
    kh, kw, N, M = Wt.shape
    Ho, Wo = X.shape[1] - kh + 1, X.shape[2] - kw + 1
    expected = np.zeros((X.shape[0], Ho, Wo, M))
    for k1 in range(kh):
        for k2 in range(kw):
            # sum over n of W[k1, k2, n, m] X[l, i + k1, j + k2, n], for all l, i, j, m
            expected += np.einsum("lijn,nm->lijm", X[:, k1:k1 + Ho, k2:k2 + Wo, :].astype(
                np.float64), Wt[k1, k2].astype(np.float64))
    expected += b
    _check(Z, expected, dtype)
    assert Z.flags.c_contiguous and Z.shape == (2, Ho, Wo, M)


@pytest.mark.parametrize("dtype", DTYPES)
def test_hw8_gradients_in_its_own_notation(dtype):
    """Seed 004, 4(c): dJ/dW[k1, k2, n, m] = sum_{l, i, j} dJ/dZ[l, i, j, m] X[l, i+k1, j+k2, n]
    and dJ/dX[l, i, j, n] = sum_{k1, k2, m} dJ/dZ[l, i-k1, j-k2, m] W[k1, k2, n, m].

    TYPO: the seed's part 3 writes the last formula with ``sum_n`` (the summed index is m,
    as its part 4(c) has it; n is free on the left-hand side)."""
    rng = np.random.default_rng(40)
    X, Wt, b = _hw8_layer(rng, dtype)
    kh, kw, N, M = Wt.shape
    Lb, H, Wd = X.shape[:3]
    Ho, Wo = H - kh + 1, Wd - kw + 1
    dZ = rng.standard_normal((Lb, Ho, Wo, M)).astype(dtype)
    gX, gW, gb = fastconv.conv2d_backward(dZ, X, Wt, data_format="NHWC")
    X64, W64, dZ64 = (a.astype(np.float64) for a in (X, Wt, dZ))
    eW = np.zeros(Wt.shape)
    eX = np.zeros(X.shape)
    for k1 in range(kh):
        for k2 in range(kw):
            eW[k1, k2] = np.einsum("lijm,lijn->nm", dZ64, X64[:, k1:k1 + Ho, k2:k2 + Wo, :])
            # dJ/dX[l, i, j, n] gets dJ/dZ[l, i - k1, j - k2, m] W[k1, k2, n, m]
            eX[:, k1:k1 + Ho, k2:k2 + Wo, :] += np.einsum("lijm,nm->lijn", dZ64, W64[k1, k2])
    _check(gW, eW, dtype)
    _check(gX, eX, dtype)
    _check(gb, dZ64.sum(axis=(0, 1, 2)), dtype)
    assert gX.shape == X.shape and gW.shape == Wt.shape


def test_hw8_problem2_shapes_channels_last():
    """Seed 004, 2 in its own layout: X 48x64x10, W 3x3x10x20 -> Z 46x62x20."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((1, 48, 64, 10))
    Wt = rng.standard_normal((3, 3, 10, 20))
    Z = fastconv.conv2d(X, Wt, data_format="NHWC")
    assert Z.shape == (1, 46, 62, 20)
    i, j, m = 7, 30, 11
    assert np.isclose(Z[0, i, j, m], np.sum(X[0, i:i + 3, j:j + 3, :] * Wt[..., m]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_filter_conv_tf_nhwc_as_tf_ran_it(dtype):
    """Seed 001's TF re-run on its own NHWC image and HWIO kernel, no conversion."""
    x, w, b = _seeds.two_filter_conv_tf_nhwc()
    x_hwc = np.ascontiguousarray(x.transpose(1, 2, 0))[None].astype(dtype)
    hwio = np.ascontiguousarray(w.transpose(2, 3, 1, 0)).astype(dtype)
    out = fastconv.conv2d(x_hwc, hwio, b.astype(dtype), data_format="NHWC")
    printed_hwc = [[[17.1, -4.8], [3.1, 3.2], [-15.9, 16.2]],
                   [[10.1, -8.8], [-5.9, -16.8], [-4.9, 1.2]],
                   [[1.1, -11.8], [5.1, 4.2], [20.1, 2.2]]]  # printed "-20.1": sign typo
    _check(out, np.array(printed_hwc)[None], dtype)


# --------------------------------------------------------------------------------------------
# The main job
# --------------------------------------------------------------------------------------------

def test_main_job_runs(tmp_path):
    """``python -m fastconv`` runs the seeds' examples and exits 0 (all seeds)."""
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "fastconv"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"fastconv {fastconv.__version__}" in out
    assert "gemm_variant:" in out      # fastconv.show_config()
    assert f"version: {np.__version__}" in out
    assert "[14. 20.]" in out          # 1-D correlation
    assert "[10. 16.]" in out          # 1-D true convolution
    assert "[ 5.  8. 11.]" in out      # dL/dW
    assert "[1. 4. 7. 6.]" in out      # dL/dI
    assert "mz = [2. 5.]" in out       # seed 003 max pool
    assert "[[ 49.  77.]" in out       # seed 001 max pool
    assert "[[35.75 42.5 ]" in out     # seed 001 average pool, exact
    assert "typo" in out
