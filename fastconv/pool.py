"""Max and average pooling, forward and backward, 1-D and 2-D (ATen semantics)."""
from collections import namedtuple

import numpy as np

from . import _validation as v
from ._kernels import _pool
from ._parallel import check_num_threads, resolve_threads

PoolGeometry = namedtuple("PoolGeometry", "N C H W OH OW kh kw sh sw pads dh dw")


def _lift(nd, t, one):
    return tuple(t) if nd == 2 else (one,) + tuple(t)


def _has_empty_window(i, k, s, pad, d, out):
    """Whether some dilated window along one dimension holds no input element."""
    start = np.arange(out, dtype=np.int64) * s - pad[0]
    first_tap = np.maximum(0, (d - 1 - start) // d)          # first t with start + t*d >= 0
    last_tap = np.minimum(k - 1, (i - 1 - start) // d)       # last t with start + t*d <= i - 1
    return bool(np.any(first_tap > last_tap))


def _geometry(nd, x_shape, kernel_size, stride, padding, dilation, ceil_mode, kind, x_name="x"):
    N, C, *spatial = x_shape
    if min(spatial) < 1:
        raise ValueError(f"`{x_name}` of shape {tuple(x_shape)} must have non-empty spatial dimensions")
    kernel = v.int_tuple("kernel_size", kernel_size, nd)
    stride = kernel if stride is None else v.int_tuple("stride", stride, nd)
    dilation = v.int_tuple("dilation", dilation, nd)
    pads = v.padding_pairs("padding", padding, nd, spatial=spatial, kernel=kernel, stride=stride,
                           dilation=dilation)
    for j in range(nd):
        limit = (dilation[j] * (kernel[j] - 1) + 1) // 2 if kind == "max" else kernel[j] // 2
        if max(pads[j]) > limit:
            if kind == "max":
                raise ValueError(f"`padding`={padding!r} must be at most half the effective kernel "
                                 f"size: `kernel_size`={kernel} with `dilation`={dilation} allows {limit}")
            raise ValueError(f"`padding`={padding!r} must be at most half the kernel size: "
                             f"`kernel_size`={kernel} allows {limit}")
    ceil_mode = v.as_bool("ceil_mode", ceil_mode)
    out = v.output_shape(spatial, kernel, stride, pads, dilation, ceil_mode)
    if kind == "max":
        if kernel[0] * (kernel[1] if nd == 2 else 1) >= 2**31:
            raise ValueError(f"`kernel_size`={kernel} has more than 2**31 elements")
        for j in range(nd):
            if dilation[j] > 1 and _has_empty_window(spatial[j], kernel[j], stride[j], pads[j],
                                                     dilation[j], out[j]):
                raise ValueError(f"`kernel_size`={kernel} with `dilation`={dilation} and "
                                 f"`padding`={padding!r} leaves a window with no element of "
                                 f"`{x_name}` of shape {tuple(x_shape)}")
    return PoolGeometry(N, C, *_lift(nd, spatial, 1), *_lift(nd, out, 1), *_lift(nd, kernel, 1),
                        *_lift(nd, stride, 1), _lift(nd, pads, (0, 0)), *_lift(nd, dilation, 1))


def _out_shape(nd, g):
    return (g.N, g.C) + ((g.OH, g.OW) if nd == 2 else (g.OW,))


def _pads4(g):
    return g.pads[0][0], g.pads[0][1], g.pads[1][0], g.pads[1][1]


def _x4(nd, x, dt, g):
    return v.contiguous(x, dt).reshape(g.N, g.C, g.H, g.W)


# -------------------------------------------------------------------- max


def _max_pool(nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
              num_threads):
    check_num_threads(num_threads)
    x = v.as_array("x", x)
    v.check_ndim("x", x, nd + 2, "(N, C, H, W)" if nd == 2 else "(N, C, L)")
    dt = v.compute_dtype(x=x)
    return_indices = v.as_bool("return_indices", return_indices)
    g = _geometry(nd, x.shape, kernel_size, stride, padding, dilation, ceil_mode, "max")
    shape = _out_shape(nd, g)
    out = v.empty("output", shape, dt)
    indices = v.empty("indices", shape if return_indices else (1, 1, 1, 1), np.int64)
    if out.size:
        n_threads = resolve_threads(num_threads, out.size * g.kh * g.kw)
        ok = _pool.max_pool2d_forward(_x4(nd, x, dt, g), out.reshape(g.N, g.C, g.OH, g.OW),
                                      indices.reshape((g.N, g.C, g.OH, g.OW) if return_indices
                                                      else (1, 1, 1, 1)), return_indices,
                                      g.kh, g.kw, g.sh, g.sw, g.pads[0][0], g.pads[1][0], g.dh,
                                      g.dw, n_threads)
        if not ok:
            raise MemoryError("max pooling could not allocate its per-thread scratch row")
    return (out, indices) if return_indices else out


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, *, num_threads=None):
    """1-D max pooling.

    Each output is the maximum of its window; padding is never a candidate value.
    NaN propagates (a window holding NaN yields NaN) and ties go to the first
    maximum. Arguments and result follow ``torch.nn.functional.max_pool1d``.

    Parameters
    ----------
    x : ndarray, shape (N, C, L)
        The batch of input signals.
    kernel_size : int or tuple of 1 int
        Window length.
    stride : int or tuple of 1 int, optional
        Step between windows. Default: ``kernel_size``.
    padding : int, (before, after) or {'valid', 'same'}, default 0
        Virtual padding at both ends; at most half the dilated window.
    dilation : int or tuple of 1 int, default 1
        Spacing between window taps.
    ceil_mode : bool, default False
        Round the output length up (a window starting in the end padding is
        dropped).
    return_indices : bool, default False
        Also return the argmax positions, for :func:`max_pool1d_backward`.
    num_threads : int, optional
        Threads for this call. Default: :func:`fastconv.get_num_threads`.

    Returns
    -------
    out : ndarray, shape (N, C, Lout)
        The maxima, in the compute dtype (float32 for float32/float16 input, else
        float64).
    indices : ndarray of int64, shape (N, C, Lout)
        Only with ``return_indices``: offsets of the maxima within each length-L
        row.

    Raises
    ------
    TypeError
        ``x`` has an unsupported dtype, a size argument is not an int, or a flag is
        not a bool.
    ValueError
        ``x`` has the wrong number of dimensions or an empty spatial dimension;
        ``kernel_size``, ``stride`` or ``dilation`` is not positive; ``padding`` is
        negative or more than half the dilated window; a window contains no input
        element; or the window is larger than the padded input.
    MemoryError
        The result cannot be allocated.

    See Also
    --------
    max_pool1d_backward : The gradient.
    max_pool2d : The 2-D version.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.array([[[1., 3., 2., 5., 4.]]])
    >>> fastconv.max_pool1d(x, 2, return_indices=True)
    (array([[[3., 5.]]]), array([[[1, 3]]]))
    >>> fastconv.max_pool1d(x, 2, ceil_mode=True)
    array([[[3., 5., 4.]]])
    """
    return _max_pool(1, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     num_threads)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, *, num_threads=None):
    """2-D max pooling.

    Each output is the maximum of its window; padding is never a candidate value.
    NaN propagates (a window holding NaN yields NaN) and ties go to the first
    maximum in row-major order. Arguments and result follow
    ``torch.nn.functional.max_pool2d``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
        The batch of input images.
    kernel_size : int or tuple of 2 ints
        Window size.
    stride : int or tuple of 2 ints, optional
        Step between windows. Default: ``kernel_size``.
    padding : int, tuple of 2 ints, ((top, bottom), (left, right)) or {'valid', 'same'}, default 0
        Virtual padding around the image; at most half the dilated window.
    dilation : int or tuple of 2 ints, default 1
        Spacing between window taps.
    ceil_mode : bool, default False
        Round the output size up (a window starting in the bottom/right padding is
        dropped).
    return_indices : bool, default False
        Also return the argmax positions, for :func:`max_pool2d_backward`.
    num_threads : int, optional
        Threads for this call. Default: :func:`fastconv.get_num_threads`.

    Returns
    -------
    out : ndarray, shape (N, C, Hout, Wout)
        The maxima, in the compute dtype (float32 for float32/float16 input, else
        float64).
    indices : ndarray of int64, shape (N, C, Hout, Wout)
        Only with ``return_indices``: offsets ``row * W + col`` of the maxima within
        each H*W plane.

    Raises
    ------
    TypeError
        ``x`` has an unsupported dtype, a size argument is not an int, or a flag is
        not a bool.
    ValueError
        ``x`` has the wrong number of dimensions or an empty spatial dimension;
        ``kernel_size``, ``stride`` or ``dilation`` is not positive; ``padding`` is
        negative or more than half the dilated window; a window contains no input
        element; or the window is larger than the padded input.
    MemoryError
        The result cannot be allocated.

    See Also
    --------
    max_pool2d_backward : The gradient.
    avg_pool2d : Average pooling.

    Examples
    --------
    The seeds' "pooling in action" slide:

    >>> import numpy as np, fastconv
    >>> x = np.array([[[[38, 20, 77, 33], [36, 49, 12, 48],
    ...                 [26, 65, 100, 40], [90, 31, 43, 18]]]])
    >>> fastconv.max_pool2d(x, 2)
    array([[[[ 49.,  77.],
             [ 90., 100.]]]])
    >>> fastconv.max_pool2d(x, 2, return_indices=True)[1]
    array([[[[ 5,  2],
             [12, 10]]]])
    """
    return _max_pool(2, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     num_threads)


def _max_pool_backward(nd, grad_output, indices, input_shape, num_threads):
    check_num_threads(num_threads)
    grad_output = v.as_array("grad_output", grad_output)
    indices = v.as_array("indices", indices)
    shape = v.shape_tuple("input_shape", input_shape, nd + 2)
    v.check_ndim("grad_output", grad_output, nd + 2,
                 "(N, C, Hout, Wout)" if nd == 2 else "(N, C, Lout)")
    if indices.dtype.kind not in "iu":
        raise TypeError(f"`indices` must be an integer array, got dtype {indices.dtype}")
    if indices.shape != grad_output.shape:
        raise ValueError(f"`indices` of shape {indices.shape} must have the shape of "
                         f"`grad_output` {grad_output.shape}")
    if grad_output.shape[:2] != shape[:2]:
        raise ValueError(f"`grad_output` of shape {grad_output.shape} does not match the batch "
                         f"and channels of `input_shape`={shape}")
    dt = v.compute_dtype(grad_output=grad_output)
    plane = 1
    for s in shape[2:]:
        plane *= s
    if grad_output.size == 0:
        return v.zeros("grad_input", shape, dt)
    grad_input = v.empty("grad_input", shape, dt)  # the kernel zeroes each plane
    if indices.dtype.kind == "u" and indices.dtype.itemsize == 8 and indices.max() > 2**62:
        raise ValueError(f"`indices` has entries outside [0, {plane})")
    idx = v.contiguous(indices, np.int64)
    lift = (lambda a, N, C, *sp: a.reshape((N, C) + _lift(nd, sp, 1)))
    go4 = lift(v.contiguous(grad_output, dt), *grad_output.shape)
    bad = _pool.max_pool2d_backward(go4, lift(idx, *idx.shape), lift(grad_input, *shape),
                                    resolve_threads(num_threads, grad_output.size))
    if bad:
        raise ValueError(f"`indices` has {bad} entries outside [0, {plane}) for `input_shape`="
                         f"{shape}")
    return grad_input


def max_pool1d_backward(grad_output, indices, input_shape, *, num_threads=None):
    """Gradient of :func:`max_pool1d`: ``grad_output`` routed to the argmax positions.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C, Lout)
        Gradient of the loss with respect to the pooled output.
    indices : ndarray of ints, shape (N, C, Lout)
        As returned by ``max_pool1d(..., return_indices=True)``: offsets in
        ``[0, L)``.
    input_shape : tuple of 3 ints
        ``(N, C, L)`` of the pooled input.
    num_threads : int, optional
        Threads for this call. Default: :func:`fastconv.get_num_threads`.

    Returns
    -------
    ndarray, shape ``input_shape``
        Gradient with respect to the pooled input. Contributions to the same
        position (overlapping windows) are summed; positions that were no window's
        maximum get 0.

    Raises
    ------
    TypeError
        ``grad_output`` has an unsupported dtype, ``indices`` is not an integer
        array, or ``input_shape`` is not a sequence of ints.
    ValueError
        ``grad_output`` has the wrong number of dimensions; ``indices`` does not
        have its shape; its batch and channels differ from ``input_shape``'s; or an
        index lies outside the row, ``[0, L)``.
    MemoryError
        The result cannot be allocated.

    See Also
    --------
    max_pool1d : The forward function.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.array([[[1., 3., 2., 5., 4.]]])
    >>> out, idx = fastconv.max_pool1d(x, 2, return_indices=True)
    >>> fastconv.max_pool1d_backward(np.ones_like(out), idx, x.shape)
    array([[[0., 1., 0., 1., 0.]]])
    """
    return _max_pool_backward(1, grad_output, indices, input_shape, num_threads)


def max_pool2d_backward(grad_output, indices, input_shape, *, num_threads=None):
    """Gradient of :func:`max_pool2d`: ``grad_output`` routed to the argmax positions.

    Only the indices and the input's shape are needed, not the input itself.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C, Hout, Wout)
        Gradient of the loss with respect to the pooled output.
    indices : ndarray of ints, shape (N, C, Hout, Wout)
        As returned by ``max_pool2d(..., return_indices=True)``: offsets in
        ``[0, H*W)``.
    input_shape : tuple of 4 ints
        ``(N, C, H, W)`` of the pooled input.
    num_threads : int, optional
        Threads for this call. Default: :func:`fastconv.get_num_threads`.

    Returns
    -------
    ndarray, shape ``input_shape``
        Gradient with respect to the pooled input. Contributions to the same
        position (overlapping windows) are summed; positions that were no window's
        maximum get 0.

    Raises
    ------
    TypeError
        ``grad_output`` has an unsupported dtype, ``indices`` is not an integer
        array, or ``input_shape`` is not a sequence of ints.
    ValueError
        ``grad_output`` has the wrong number of dimensions; ``indices`` does not
        have its shape; its batch and channels differ from ``input_shape``'s; or an
        index lies outside the plane, ``[0, H*W)``.
    MemoryError
        The result cannot be allocated.

    See Also
    --------
    max_pool2d : The forward function.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.array([[[[38, 20, 77, 33], [36, 49, 12, 48],
    ...                 [26, 65, 100, 40], [90, 31, 43, 18]]]])
    >>> out, idx = fastconv.max_pool2d(x, 2, return_indices=True)
    >>> fastconv.max_pool2d_backward(np.ones_like(out), idx, x.shape)
    array([[[[0., 0., 1., 0.],
             [0., 1., 0., 0.],
             [0., 0., 1., 0.],
             [1., 0., 0., 0.]]]])
    """
    return _max_pool_backward(2, grad_output, indices, input_shape, num_threads)


# -------------------------------------------------------------------- avg


def _avg_pool(nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad, num_threads):
    check_num_threads(num_threads)
    x = v.as_array("x", x)
    v.check_ndim("x", x, nd + 2, "(N, C, H, W)" if nd == 2 else "(N, C, L)")
    dt = v.compute_dtype(x=x)
    count_include_pad = v.as_bool("count_include_pad", count_include_pad)
    g = _geometry(nd, x.shape, kernel_size, stride, padding, 1, ceil_mode, "avg")
    out = v.empty("output", _out_shape(nd, g), dt)
    if out.size:
        _pool.avg_pool2d_forward(_x4(nd, x, dt, g), out.reshape(g.N, g.C, g.OH, g.OW),
                                 g.kh, g.kw, g.sh, g.sw, *_pads4(g), count_include_pad,
                                 resolve_threads(num_threads, out.size * g.kh * g.kw))
    return out


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, *,
               num_threads=None):
    """1-D average pooling.

    Each output is the mean of its window. Arguments and result follow
    ``torch.nn.functional.avg_pool1d``.

    Parameters
    ----------
    x : ndarray, shape (N, C, L)
        The batch of input signals.
    kernel_size : int or tuple of 1 int
        Window length.
    stride : int or tuple of 1 int, optional
        Step between windows. Default: ``kernel_size``.
    padding : int, (before, after) or {'valid', 'same'}, default 0
        Zero padding at both ends; at most half the window.
    ceil_mode : bool, default False
        Round the output length up (a window starting in the end padding is
        dropped).
    count_include_pad : bool, default True
        Divide by the window length including padding; if False, by the number of
        input elements the window covers.
    num_threads : int, optional
        Threads for this call. Default: :func:`fastconv.get_num_threads`.

    Returns
    -------
    ndarray, shape (N, C, Lout)
        The means, in the compute dtype (float32 for float32/float16 input, else
        float64).

    Raises
    ------
    TypeError
        ``x`` has an unsupported dtype, a size argument is not an int, or a flag is
        not a bool.
    ValueError
        ``x`` has the wrong number of dimensions or an empty spatial dimension;
        ``kernel_size`` or ``stride`` is not positive; ``padding`` is negative or
        more than half the window; or the window is larger than the padded input.
    MemoryError
        The result cannot be allocated.

    See Also
    --------
    avg_pool1d_backward : The gradient.
    avg_pool2d : The 2-D version.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.array([[[3., 3., 6., 6.]]])
    >>> fastconv.avg_pool1d(x, 3, stride=1, padding=1)
    array([[[2., 4., 5., 4.]]])
    >>> fastconv.avg_pool1d(x, 3, stride=1, padding=1, count_include_pad=False)
    array([[[3., 4., 5., 6.]]])
    """
    return _avg_pool(1, x, kernel_size, stride, padding, ceil_mode, count_include_pad, num_threads)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, *,
               num_threads=None):
    """2-D average pooling.

    Each output is the mean of its window. Arguments and result follow
    ``torch.nn.functional.avg_pool2d``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
        The batch of input images.
    kernel_size : int or tuple of 2 ints
        Window size.
    stride : int or tuple of 2 ints, optional
        Step between windows. Default: ``kernel_size``.
    padding : int, tuple of 2 ints, ((top, bottom), (left, right)) or {'valid', 'same'}, default 0
        Zero padding around the image; at most half the window.
    ceil_mode : bool, default False
        Round the output size up (a window starting in the bottom/right padding is
        dropped).
    count_include_pad : bool, default True
        Divide by the window size including padding; if False, by the number of
        input elements the window covers.
    num_threads : int, optional
        Threads for this call. Default: :func:`fastconv.get_num_threads`.

    Returns
    -------
    ndarray, shape (N, C, Hout, Wout)
        The means, in the compute dtype (float32 for float32/float16 input, else
        float64).

    Raises
    ------
    TypeError
        ``x`` has an unsupported dtype, a size argument is not an int, or a flag is
        not a bool.
    ValueError
        ``x`` has the wrong number of dimensions or an empty spatial dimension;
        ``kernel_size`` or ``stride`` is not positive; ``padding`` is negative or
        more than half the window; or the window is larger than the padded input.
    MemoryError
        The result cannot be allocated.

    See Also
    --------
    avg_pool2d_backward : The gradient.
    max_pool2d : Max pooling.

    Examples
    --------
    The seeds' "pooling in action" slide (which prints these means rounded to
    integers):

    >>> import numpy as np, fastconv
    >>> x = np.array([[[[38, 20, 77, 33], [36, 49, 12, 48],
    ...                 [26, 65, 100, 40], [90, 31, 43, 18]]]])
    >>> fastconv.avg_pool2d(x, 2)
    array([[[[35.75, 42.5 ],
             [53.  , 50.25]]]])
    """
    return _avg_pool(2, x, kernel_size, stride, padding, ceil_mode, count_include_pad, num_threads)


def _avg_pool_backward(nd, grad_output, input_shape, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, num_threads):
    check_num_threads(num_threads)
    grad_output = v.as_array("grad_output", grad_output)
    shape = v.shape_tuple("input_shape", input_shape, nd + 2)
    v.check_ndim("grad_output", grad_output, nd + 2,
                 "(N, C, Hout, Wout)" if nd == 2 else "(N, C, Lout)")
    dt = v.compute_dtype(grad_output=grad_output)
    count_include_pad = v.as_bool("count_include_pad", count_include_pad)
    g = _geometry(nd, shape, kernel_size, stride, padding, 1, ceil_mode, "avg",
                  x_name="input_shape")
    if grad_output.shape != _out_shape(nd, g):
        raise ValueError(f"`grad_output` must have shape {_out_shape(nd, g)} (the pooled "
                         f"`input_shape`={shape}), got {grad_output.shape}")
    if grad_output.size == 0:
        return v.zeros("grad_input", shape, dt)
    grad_input = v.empty("grad_input", shape, dt)  # the kernel zeroes each plane
    if grad_output.size:
        _pool.avg_pool2d_backward(v.contiguous(grad_output, dt).reshape(g.N, g.C, g.OH, g.OW),
                                  grad_input.reshape(g.N, g.C, g.H, g.W),
                                  g.kh, g.kw, g.sh, g.sw, *_pads4(g), count_include_pad,
                                  resolve_threads(num_threads, grad_output.size * g.kh * g.kw))
    return grad_input


def avg_pool1d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, *, num_threads=None):
    """Gradient of :func:`avg_pool1d`: each output's gradient spread evenly over its window.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C, Lout)
        Gradient of the loss with respect to the pooled output.
    input_shape : tuple of 3 ints
        ``(N, C, L)`` of the pooled input.
    kernel_size : int or tuple of 1 int
        As passed to :func:`avg_pool1d`.
    stride : int or tuple of 1 int, optional
        As passed to :func:`avg_pool1d`. Default: ``kernel_size``.
    padding : int, (before, after) or {'valid', 'same'}, default 0
        As passed to :func:`avg_pool1d`.
    ceil_mode : bool, default False
        As passed to :func:`avg_pool1d`.
    count_include_pad : bool, default True
        As passed to :func:`avg_pool1d`.
    num_threads : int, optional
        Threads for this call. Default: :func:`fastconv.get_num_threads`.

    Returns
    -------
    ndarray, shape ``input_shape``
        Gradient with respect to the pooled input: each output's gradient divided by
        its divisor and added to every input element of its window.

    Raises
    ------
    TypeError
        ``grad_output`` has an unsupported dtype, ``input_shape`` is not a sequence
        of ints, a size argument is not an int, or a flag is not a bool.
    ValueError
        Any reason the forward call would raise for ``input_shape``, or
        ``grad_output`` does not have the pooled output's shape.
    MemoryError
        The result cannot be allocated.

    See Also
    --------
    avg_pool1d : The forward function.

    Examples
    --------
    The last element belongs to no window of length 2, stride 2:

    >>> import numpy as np, fastconv
    >>> fastconv.avg_pool1d_backward(np.ones((1, 1, 2)), (1, 1, 5), 2)
    array([[[0.5, 0.5, 0.5, 0.5, 0. ]]])
    """
    return _avg_pool_backward(1, grad_output, input_shape, kernel_size, stride, padding, ceil_mode,
                              count_include_pad, num_threads)


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, *, num_threads=None):
    """Gradient of :func:`avg_pool2d`: each output's gradient spread evenly over its window.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C, Hout, Wout)
        Gradient of the loss with respect to the pooled output.
    input_shape : tuple of 4 ints
        ``(N, C, H, W)`` of the pooled input.
    kernel_size : int or tuple of 2 ints
        As passed to :func:`avg_pool2d`.
    stride : int or tuple of 2 ints, optional
        As passed to :func:`avg_pool2d`. Default: ``kernel_size``.
    padding : int, tuple of 2 ints, ((top, bottom), (left, right)) or {'valid', 'same'}, default 0
        As passed to :func:`avg_pool2d`.
    ceil_mode : bool, default False
        As passed to :func:`avg_pool2d`.
    count_include_pad : bool, default True
        As passed to :func:`avg_pool2d`.
    num_threads : int, optional
        Threads for this call. Default: :func:`fastconv.get_num_threads`.

    Returns
    -------
    ndarray, shape ``input_shape``
        Gradient with respect to the pooled input: each output's gradient divided by
        its divisor and added to every input element of its window.

    Raises
    ------
    TypeError
        ``grad_output`` has an unsupported dtype, ``input_shape`` is not a sequence
        of ints, a size argument is not an int, or a flag is not a bool.
    ValueError
        Any reason the forward call would raise for ``input_shape``, or
        ``grad_output`` does not have the pooled output's shape.
    MemoryError
        The result cannot be allocated.

    See Also
    --------
    avg_pool2d : The forward function.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> fastconv.avg_pool2d_backward(np.ones((1, 1, 2, 2)), (1, 1, 4, 4), 2)
    array([[[[0.25, 0.25, 0.25, 0.25],
             [0.25, 0.25, 0.25, 0.25],
             [0.25, 0.25, 0.25, 0.25],
             [0.25, 0.25, 0.25, 0.25]]]])
    """
    return _avg_pool_backward(2, grad_output, input_shape, kernel_size, stride, padding, ceil_mode,
                              count_include_pad, num_threads)
