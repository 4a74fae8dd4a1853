"""im2col / col2im: the unfold and fold of ``torch.nn.functional``."""
from . import _validation as v
from ._kernels import _conv
from ._parallel import check_num_threads, resolve_threads


def _window_geometry(x_spatial, kernel_size, dilation, padding, stride):
    kernel = v.int_tuple("kernel_size", kernel_size, 2)
    dil = v.int_tuple("dilation", dilation, 2)
    strd = v.int_tuple("stride", stride, 2)
    pads = v.padding_pairs("padding", padding, 2, spatial=x_spatial, kernel=kernel, stride=strd,
                           dilation=dil)
    out = v.output_shape(x_spatial, kernel, strd, pads, dil)
    return kernel, dil, strd, pads, out


def _kargs(kernel, dil, strd, pads):
    return (kernel[0], kernel[1], strd[0], strd[1], pads[0][0], pads[1][0], dil[0], dil[1])


def im2col(x, kernel_size, dilation=1, padding=0, stride=1, *, num_threads=None):
    """Extract sliding windows into columns (``torch.nn.functional.unfold``).

    Each column holds one window of the padded input, all channels stacked, so that
    a convolution is one matrix product: ``conv2d(x, w)`` equals
    ``w.reshape(O, -1) @ im2col(x, ...)`` reshaped to ``(N, O, Hout, Wout)``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
        The batch of input images.
    kernel_size : int or tuple of 2 ints
        Window size ``(kH, kW)``.
    dilation : int or tuple of 2 ints, default 1
        Spacing between window taps.
    padding : int, tuple of 2 ints, ((top, bottom), (left, right)) or {'valid', 'same'}, default 0
        Zeros added around the image.
    stride : int or tuple of 2 ints, default 1
        Step between windows.
    num_threads : int, optional
        Threads for this call. Default: :func:`fastconv.get_num_threads`.

    Returns
    -------
    ndarray, shape (N, C*kH*kW, L)
        ``L = Hout*Wout`` windows. Row ``c*kH*kW + i*kW + j`` holds kernel tap
        ``(i, j)`` of channel ``c``; column ``oy*Wout + ox`` is the window at output
        position ``(oy, ox)``.

    Raises
    ------
    TypeError
        ``x`` has an unsupported dtype, or a size argument is not an int.
    ValueError
        ``x`` is not 4-D or has an empty spatial dimension; ``kernel_size``,
        ``dilation`` or ``stride`` is not positive or ``padding`` is negative; or the
        window is larger than the padded input.
    MemoryError
        The result cannot be allocated.

    See Also
    --------
    col2im : The adjoint: sums columns back into images.
    conv2d : The convolution computed from these columns.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> fastconv.im2col(np.arange(9.).reshape(1, 1, 3, 3), 2)
    array([[[0., 1., 3., 4.],
            [1., 2., 4., 5.],
            [3., 4., 6., 7.],
            [4., 5., 7., 8.]]])
    """
    check_num_threads(num_threads)
    x = v.as_array("x", x)
    v.check_ndim("x", x, 4, "(N, C, H, W)")
    dt = v.compute_dtype(x=x)
    N, C, H, W = x.shape
    if min(H, W) < 1:
        raise ValueError(f"`x` of shape {x.shape} must have non-empty spatial dimensions")
    kernel, dil, strd, pads, (OH, OW) = _window_geometry((H, W), kernel_size, dilation, padding,
                                                         stride)
    cols = v.empty("output", (N, C * kernel[0] * kernel[1], OH * OW), dt)
    if cols.size:
        n_threads = resolve_threads(num_threads, cols.size)
        _conv.im2col(v.contiguous(x, dt), cols, OH, OW, *_kargs(kernel, dil, strd, pads), n_threads)
    return cols


def col2im(cols, output_size, kernel_size, dilation=1, padding=0, stride=1, *, num_threads=None):
    """Sum columns back into images (``torch.nn.functional.fold``), the adjoint of :func:`im2col`.

    Every column entry is added to the image pixel it was taken from; entries that
    fall in the padding are dropped. For any ``x`` and ``cols`` of matching shapes,
    ``np.vdot(im2col(x, ...), cols) == np.vdot(x, col2im(cols, ...))`` up to
    rounding.

    Parameters
    ----------
    cols : ndarray, shape (N, C*kH*kW, L)
        Columns laid out as :func:`im2col` returns them.
    output_size : int or tuple of 2 ints
        The image size ``(H, W)``.
    kernel_size : int or tuple of 2 ints
        Window size ``(kH, kW)``.
    dilation : int or tuple of 2 ints, default 1
        Spacing between window taps.
    padding : int, tuple of 2 ints, ((top, bottom), (left, right)) or {'valid', 'same'}, default 0
        Padding of the images the columns were taken from.
    stride : int or tuple of 2 ints, default 1
        Step between windows.
    num_threads : int, optional
        Threads for this call. Default: :func:`fastconv.get_num_threads`.

    Returns
    -------
    ndarray, shape (N, C, H, W)
        The images; overlapping contributions are summed.

    Raises
    ------
    TypeError
        ``cols`` has an unsupported dtype, or a size argument is not an int.
    ValueError
        ``cols`` is not 3-D; ``cols.shape[1]`` is not a multiple of ``kH*kW``;
        ``cols.shape[2]`` is not the number of windows of ``output_size``; a size
        argument is not positive or ``padding`` is negative; or the window is larger
        than the padded image.
    MemoryError
        The result cannot be allocated.

    See Also
    --------
    im2col : The operation this is the adjoint of.
    conv_transpose2d : A weighted col2im.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> fastconv.col2im(np.ones((1, 4, 4)), (3, 3), 2)
    array([[[[1., 2., 1.],
             [2., 4., 2.],
             [1., 2., 1.]]]])
    """
    check_num_threads(num_threads)
    cols = v.as_array("cols", cols)
    v.check_ndim("cols", cols, 3, "(N, C*kH*kW, L)")
    dt = v.compute_dtype(cols=cols)
    size = v.int_tuple("output_size", output_size, 2)
    kernel, dil, strd, pads, (OH, OW) = _window_geometry(size, kernel_size, dilation, padding,
                                                         stride)
    N, K, L = cols.shape
    khw = kernel[0] * kernel[1]
    if K % khw:
        raise ValueError(f"`cols` of shape {cols.shape}: dimension 1 must be a multiple of "
                         f"kH*kW={khw} for `kernel_size`={kernel}")
    if L != OH * OW:
        raise ValueError(f"`cols` of shape {cols.shape} has {L} columns, but `output_size`={size} "
                         f"with `kernel_size`={kernel}, `dilation`={dil}, `padding`={padding!r}, "
                         f"`stride`={strd} gives {OH}x{OW}={OH * OW} windows")
    out = v.zeros("output", (N, K // khw) + size, dt) if cols.size == 0 else \
        v.empty("output", (N, K // khw) + size, dt)  # the kernel zeroes each plane
    if out.size and cols.size:
        n_threads = resolve_threads(num_threads, cols.size)
        _conv.col2im(v.contiguous(cols, dt), out, OH, OW, *_kargs(kernel, dil, strd, pads),
                     n_threads)
    return out
