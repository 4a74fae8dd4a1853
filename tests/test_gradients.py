"""Central finite-difference checks (float64) of every backward / adjoint fastconv op.

For a forward op f and a random G, L(z) = sum(f(z) * G); the finite-difference gradient of L
with respect to each input element must equal the backward op applied to G.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import fastconv
import strategies as S
from conftest import assert_close

F64 = st.just(np.float64)
H = 1e-3  # max pooling inputs are spaced >= 0.25 apart, so no max switches within +-H


def fd_gradient(loss, z, h=H):
    """Central differences of the scalar function `loss` at every element of array z."""
    z = np.array(z, dtype=np.float64)
    grad = np.zeros_like(z)
    flat, g = z.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + h
        up = loss(z)
        flat[i] = orig - h
        down = loss(z)
        flat[i] = orig
        g[i] = (up - down) / (2 * h)
    return grad


def check_gradient(loss, z, analytic, magnitude, name):
    """fd error ~ eps * magnitude / h, where magnitude = sum |f(z)| * |G|."""
    fd = fd_gradient(loss, z)
    allowed = 1e-10 * magnitude + 1e-8 * np.abs(analytic)
    assert analytic.shape == np.shape(z)
    assert_close(analytic, fd, np.float64, scale=allowed, tol=1.0, err_msg=name)


def linear_loss(f, G):
    return lambda z: float(np.sum(f(z) * G))


def _conv_gradients(case, nd):
    conv = fastconv.conv2d if nd == 2 else fastconv.conv1d
    bwd = fastconv.conv2d_backward if nd == 2 else fastconv.conv1d_backward
    kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
              groups=case.groups, flip=case.flip)
    b = case.rng.standard_normal(case.w.shape[0])
    out = conv(case.x, case.w, b, **kw)
    G = case.rng.standard_normal(out.shape)
    mag = float(np.sum(np.abs(out) * np.abs(G)))
    gi, gw, gb = bwd(G, case.x, case.w, **kw)
    check_gradient(linear_loss(lambda z: conv(z, case.w, b, **kw), G), case.x, gi, mag,
                   "grad_input")
    check_gradient(linear_loss(lambda z: conv(case.x, z, b, **kw), G), case.w, gw, mag,
                   "grad_weight")
    check_gradient(linear_loss(lambda z: conv(case.x, case.w, z, **kw), G), b, gb, mag,
                   "grad_bias")


@given(S.conv_cases(nd=2, dtypes=F64, max_n=2, max_k=3, max_d=2, extra=3))
def test_conv2d_gradients(case):
    _conv_gradients(case, 2)


@given(S.conv_cases(nd=1, dtypes=F64, max_n=2, max_k=4, extra=5))
def test_conv1d_gradients(case):
    _conv_gradients(case, 1)


@given(S.conv_transpose_cases(nd=2, dtypes=F64, max_n=2, max_k=3, max_size=4))
def test_conv_transpose2d_gradients(case):
    """d/dx is conv2d(G) and d/dw is conv2d_backward's grad_weight with roles swapped."""
    kw = dict(stride=case.stride, padding=case.padding, output_padding=case.output_padding,
              groups=case.groups, dilation=case.dilation)
    b = case.rng.standard_normal(case.w.shape[1] * case.groups)
    out = fastconv.conv_transpose2d(case.x, case.w, b, **kw)
    G = case.rng.standard_normal(out.shape)
    mag = float(np.sum(np.abs(out) * np.abs(G)))
    ckw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
               groups=case.groups)
    H, W = case.x.shape[2:]
    # conv2d(G) may have extra rows/columns when output_padding >= stride: they do not exist
    # in x, so crop them; zero-extend x as the grad_output of that conv2d for grad_weight
    cg = fastconv.conv2d(G, case.w, **ckw)
    gx = cg[:, :, :H, :W]
    go = np.zeros(cg.shape)
    go[:, :, :H, :W] = case.x
    gw = fastconv.conv2d_backward(go, G, case.w, **ckw)[1]
    loss_x = linear_loss(lambda z: fastconv.conv_transpose2d(z, case.w, b, **kw), G)
    loss_w = linear_loss(lambda z: fastconv.conv_transpose2d(case.x, z, b, **kw), G)
    loss_b = linear_loss(lambda z: fastconv.conv_transpose2d(case.x, case.w, z, **kw), G)
    check_gradient(loss_x, case.x, gx, mag, "d/dx")
    check_gradient(loss_w, case.w, gw, mag, "d/dw")
    check_gradient(loss_b, b, G.sum(axis=(0, 2, 3)), mag, "d/db")


@given(S.pool_cases("avg", nd=2, dtypes=F64, max_n=2, max_k=4, extra=4))
def test_avg_pool2d_gradient(case):
    kw = dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
              ceil_mode=case.ceil_mode, count_include_pad=case.count_include_pad)
    out = fastconv.avg_pool2d(case.x, **kw)
    G = case.rng.standard_normal(out.shape)
    gi = fastconv.avg_pool2d_backward(G, case.x.shape, **kw)
    check_gradient(linear_loss(lambda z: fastconv.avg_pool2d(z, **kw), G), case.x, gi,
                   float(np.sum(np.abs(out) * np.abs(G))), "avg_pool2d")


@given(S.pool_cases("max", nd=2, dtypes=F64, max_n=2, max_k=4, extra=4))
def test_max_pool2d_gradient(case):
    kw = dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
              dilation=case.dilation, ceil_mode=case.ceil_mode)
    # distinct values spaced 0.25 apart so the max is differentiable
    x = (case.rng.permutation(case.x.size).reshape(case.x.shape) * 0.25).astype(np.float64)
    try:
        out, idx = fastconv.max_pool2d(x, **kw, return_indices=True)
    except ValueError:  # dilated window with no input element (tested in test_pool.py)
        return
    G = case.rng.standard_normal(out.shape)
    gi = fastconv.max_pool2d_backward(G, idx, x.shape)
    check_gradient(linear_loss(lambda z: fastconv.max_pool2d(z, **kw), G), x, gi,
                   float(np.sum(np.abs(out) * np.abs(G))), "max_pool2d")


@given(S.im2col_cases(dtypes=F64, max_n=2, max_k=3, max_d=2, extra=3))
def test_im2col_col2im_gradients(case):
    kw = dict(kernel_size=case.kernel_size, dilation=case.dilation, padding=case.padding,
              stride=case.stride)
    H, W = case.x.shape[2:]
    cols = fastconv.im2col(case.x, **kw)
    G = case.rng.standard_normal(cols.shape)
    check_gradient(linear_loss(lambda z: fastconv.im2col(z, **kw), G), case.x,
                   fastconv.col2im(G, (H, W), **kw), float(np.sum(np.abs(cols * G))), "im2col")
    Gx = case.rng.standard_normal(case.x.shape)
    back = fastconv.col2im(cols, (H, W), **kw)
    check_gradient(linear_loss(lambda z: fastconv.col2im(z, (H, W), **kw), Gx), cols,
                   fastconv.im2col(Gx, **kw), float(np.sum(np.abs(back * Gx))), "col2im")
