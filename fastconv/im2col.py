"""im2col / col2im: the unfold and fold of ``torch.nn.functional``."""
import numpy as np

from . import _docs
from . import _layout
from . import _problem as P
from . import _validation as v
from ._engine import PLANS, Plan, make_key, route
from ._parallel import PLAN_ONLY, check_num_threads, resolve_threads
from ._unbatched import unbatched
from .conv import run_route


def _plan_im2col(x, kernel_size, dilation, padding, stride, data_format):
    last, fmt = _layout.data_format(2, data_format)
    x = v.as_array("x", x)
    v.check_ndim("x", x, 4, _layout.data_axes(2, last))
    dt = v.compute_dtype(x=x)
    N, C, H, W = _layout.first_shape(x.shape, last)
    if min(H, W) < 1:
        raise ValueError(f"`x` of shape {x.shape} ({fmt}) must have non-empty spatial "
                         "dimensions")
    p = P.unfold(N, C, (H, W), kernel_size, dilation, padding, stride, dt)
    if last:
        p = p.with_(layout="channels_last")
        shape = (N,) + tuple(p.out) + (p.taps * C,)
    else:
        shape = (N, C * p.taps, p.L)
    v.check_alloc("output", shape, dt.itemsize)
    return Plan("im2col", p, (route(p, "forward"),), N * C * p.taps * p.L, {"shape": shape})


def _plan_col2im(cols, output_size, kernel_size, dilation, padding, stride, data_format):
    last, fmt = _layout.data_format(2, data_format)
    cols = v.as_array("cols", cols)
    v.check_ndim("cols", cols, 4 if last else 3,
                 "(N, Hout, Wout, kH*kW*C)" if last else "(N, C*kH*kW, L)")
    dt = v.compute_dtype(cols=cols)
    size = v.int_tuple("output_size", output_size, 2)
    N, K = cols.shape[0], cols.shape[-1 if last else 1]
    p = P.unfold(N, 1, size, kernel_size, dilation, padding, stride, dt)
    kernel, khw = p.kernel, p.taps
    if K % khw:
        raise ValueError(f"`cols` of shape {cols.shape}: dimension {3 if last else 1} must be "
                         f"a multiple of kH*kW={khw} for `kernel_size`={kernel}")
    OH, OW = p.out
    windows = (f"`output_size`={size} with `kernel_size`={kernel}, `dilation`={p.dilation}, "
               f"`padding`={padding!r}, `stride`={p.stride} gives {OH}x{OW}={OH * OW} windows")
    if last and tuple(cols.shape[1:3]) != (OH, OW):
        raise ValueError(f"`cols` of shape {cols.shape} ({fmt}) has {cols.shape[1]}x"
                         f"{cols.shape[2]} windows, but {windows}")
    if not last and cols.shape[2] != OH * OW:
        raise ValueError(f"`cols` of shape {cols.shape} has {cols.shape[2]} columns, but "
                         f"{windows}")
    p = p.with_(C=K // khw, O=K // khw, direction="grad_input",
                layout="channels_last" if last else "channels_first")
    v.check_alloc("output", p.x_shape, dt.itemsize)
    return Plan("col2im", p, (route(p, "grad_input"),), cols.size)


def im2col(x, kernel_size, dilation=1, padding=0, stride=1, *, data_format=None,
           num_threads=None, out=None):
    """Extract sliding windows into columns (``torch.nn.functional.unfold``).

    Each column holds one window of the padded input, all channels stacked, so that
    a convolution is one matrix product: ``conv2d(x, w)`` equals
    ``w.reshape(O, -1) @ im2col(x, ...)`` reshaped to ``(N, O, Hout, Wout)``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), or (N, H, W, C) for ``data_format='NHWC'``
        The batch of input images.
    kernel_size : int or tuple of 2 ints
        Window size ``(kH, kW)``.
    dilation : int or tuple of 2 ints, default 1
        Spacing between window taps.
    padding : int, tuple of 2 ints, ((top, bottom), (left, right)) or {'valid', 'same'}, default 0
        Zeros added around the image.
    stride : int or tuple of 2 ints, default 1
        Step between windows.
    data_format : {'NCHW', 'NHWC'}, optional
        The layout of ``x`` (default ``'NCHW'``); it also decides the layout of the
        result (see Returns).
    num_threads : int, optional
        Threads for this call. Default: :func:`fastconv.get_num_threads`.
    {out}

    Returns
    -------
    ndarray, shape (N, C*kH*kW, L), or (N, Hout, Wout, kH*kW*C) for NHWC
        ``'NCHW'`` (torch's ``unfold``): ``L = Hout*Wout`` windows; row
        ``c*kH*kW + i*kW + j`` holds kernel tap ``(i, j)`` of channel ``c``; column
        ``oy*Wout + ox`` is the window at output position ``(oy, ox)``.
        ``'NHWC'`` (TensorFlow's ``tf.image.extract_patches``): element
        ``[n, oy, ox, (i*kW + j)*C + c]`` is tap ``(i, j)`` of channel ``c`` of the
        window at ``(oy, ox)``, so ``conv2d(x, w, data_format='NHWC')`` equals
        ``im2col(x, ..., data_format='NHWC') @ w.reshape(-1, O)`` for an HWIO
        weight ``w``.

    Raises
    ------
    TypeError
        ``x`` has an unsupported dtype, or a size argument is not an int.
    ValueError
        ``x`` is not 4-D or has an empty spatial dimension; ``data_format`` is not
        ``'NCHW'`` or ``'NHWC'``; ``kernel_size``,
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
    key = make_key("im2col", (x,), (kernel_size, dilation, padding, stride, data_format))
    plan = PLANS.get(key, lambda: _plan_im2col(x, kernel_size, dilation, padding, stride,
                                               data_format))
    x = v.as_array("x", x)
    if num_threads is PLAN_ONLY:
        return plan
    p = plan.problem
    cols = v.result(v.out_array("out", out, plan.info["shape"], p.dtype, (("x", x),)),
                    "output", plan.info["shape"], p.dtype)
    if cols.size:
        run_route(plan.routes[0], (v.contiguous(x, p.dtype), cols),
                  resolve_threads(num_threads, plan.work), p.dtype)
    return cols


def col2im(cols, output_size, kernel_size, dilation=1, padding=0, stride=1, *, data_format=None,
           num_threads=None, out=None):
    """Sum columns back into images (``torch.nn.functional.fold``), the adjoint of :func:`im2col`.

    Every column entry is added to the image pixel it was taken from; entries that
    fall in the padding are dropped. For any ``x`` and ``cols`` of matching shapes,
    ``np.vdot(im2col(x, ...), cols) == np.vdot(x, col2im(cols, ...))`` up to
    rounding.

    Parameters
    ----------
    cols : ndarray, shape (N, C*kH*kW, L), or (N, Hout, Wout, kH*kW*C) for NHWC
        Columns laid out as :func:`im2col` returns them for the same ``data_format``.
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
    data_format : {'NCHW', 'NHWC'}, optional
        The layout of the images (default ``'NCHW'``), and so of ``cols``.
    num_threads : int, optional
        Threads for this call. Default: :func:`fastconv.get_num_threads`.
    {out}

    Returns
    -------
    ndarray, shape (N, C, H, W), or (N, H, W, C) for NHWC
        The images; overlapping contributions are summed.

    Raises
    ------
    TypeError
        ``cols`` has an unsupported dtype, or a size argument is not an int.
    ValueError
        ``cols`` is not 3-D (4-D for NHWC); its channel dimension is not a multiple
        of ``kH*kW``; it does not hold the windows of ``output_size``;
        ``data_format`` is not ``'NCHW'`` or ``'NHWC'``; a size
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
    key = make_key("col2im", (cols,), (output_size, kernel_size, dilation, padding, stride,
                                        data_format))
    plan = PLANS.get(key, lambda: _plan_col2im(cols, output_size, kernel_size, dilation, padding,
                                               stride, data_format))
    cols = v.as_array("cols", cols)
    if num_threads is PLAN_ONLY:
        return plan
    p = plan.problem
    out = v.out_array("out", out, p.x_array_shape, p.dtype, (("cols", cols),))
    if cols.size == 0:
        return v.zero_result(out, "output", p.x_array_shape, p.dtype)
    out = v.result(out, "output", p.x_array_shape, p.dtype)  # the kernel zeroes each plane
    run_route(plan.routes[0], (v.contiguous(cols, p.dtype), out),
              resolve_threads(num_threads, plan.work), p.dtype)
    return out



im2col.__doc__, col2im.__doc__ = _docs.with_out(im2col.__doc__), _docs.with_out(col2im.__doc__)
im2col = unbatched(im2col, 4, ((0, "x"),))
col2im = unbatched(col2im, 3, ((0, "cols"),), is_unbatched=lambda nd, kw: nd == (
    3 if kw.get("data_format") == "NHWC" else 2))
im2col._fastconv_op = col2im._fastconv_op = True
