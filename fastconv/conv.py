"""Convolution: forward, backward and transposed, 1-D and 2-D.

The wrappers validate and normalise (``_validation``), lift 1-D problems to
2-D with H = 1, pick the tiling from the shape, and call the kernels in
``_kernels/_conv.pyx``.

Workspace
---------
Each thread gets one scratch area, kept per Python thread and reused across calls:

* forward, strip path (strides <= STRIP_MAX_STRIDE, output rows at least a GEMM
  panel wide, >= STRIP_MIN_O channels per group): the padded, phase-split input
  strip of one tile, about STRIP_BYTES and never more than STRIP_MAX_BYTES, plus
  ``Kg + lt`` indices;
* otherwise one im2col tile of at most ``max(TILE_BYTES, rows*16*itemsize)``
  bytes, where ``rows`` is the number of im2col rows a task needs
  (``C/groups*kH*kW`` forward; grad_weight blocks of at most 64 rows; grad_input
  with stride 1 and >= FORWARD_GRAD_INPUT_CHANNELS channels runs as a forward
  convolution, else in channel blocks).
"""
from collections import namedtuple

import numpy as np

from . import _validation as v
from ._kernels import _conv
from ._parallel import check_num_threads, resolve_threads, workspace, workspace2d

TILE_BYTES = 192 * 1024  # target bytes of one thread's im2col tile
MIN_TASKS = 8            # split small problems into at least this many tasks
FORWARD_GRAD_INPUT_CHANNELS = 64  # stride-1 grad_input as a forward conv from this C/groups on
CHUNKED_GRAD_WEIGHT_BYTES = 512 * 1024  # grad_weight split over samples below this tile size
STRIP_OUT_BYTES = 128 * 1024   # strip path: target bytes of one task's output tile
STRIP_BYTES = 256 * 1024       # strip path: target bytes of one thread's input strip
STRIP_MAX_BYTES = 1024 * 1024  # strip path: above this, im2col tiles instead
STRIP_MAX_STRIDE = 4           # strip path: strides up to this (a strip has sh*sw phases)
STRIP_MIN_OW = None            # strip path: output rows at least this wide (None: a GEMM panel)
STRIP_MIN_O = 16               # strip path: at least this many output channels per group,
STRIP_MIN_O_NARROW = 64        # and this many when output rows are narrower than a panel
GRAD_WEIGHT_STRIPS = True      # grad_weight from strips where the strip path applies
GRAD_WEIGHT_STRIP_C_BYTES = 384 * 1024  # ... its Kg x Og partial is at most this,
GRAD_WEIGHT_STRIP_MIN_ROWS = 64  # with at least this many im2col rows (Kg)
GRAD_WEIGHT_STRIP_MIN_OW = 16    # and output rows at least this wide

Geometry = namedtuple(
    "Geometry", "N C H W O OH OW kh kw sh sw pads dh dw groups Cg Og Kg L"
)

def _ceil_div(a, b):
    return -(-a // b)


def _round16(n):
    return max(16, _ceil_div(n, 16) * 16)


def _tile_len(rows, L, itemsize, tasks_outside=None):
    """Columns per im2col tile: fits TILE_BYTES, and (forward) makes enough tasks.

    A function of the shape only, never of the thread count.
    """
    lt = TILE_BYTES // (itemsize * max(rows, 1))
    lt = min(max(16, lt // 16 * 16), 4096, _round16(L))
    if tasks_outside and tasks_outside * _ceil_div(L, lt) < MIN_TASKS:
        want_tiles = _ceil_div(MIN_TASKS, tasks_outside)
        lt = min(lt, _round16(_ceil_div(L, want_tiles)))
    return lt


def _lift(nd, t, one):
    """Prepend the H-axis value for 1-D problems."""
    return t if nd == 2 else (one,) + tuple(t)


def _geometry(nd, x_shape, w_shape, stride, padding, dilation, groups, *, x_name="x",
              transposed_out=None):
    """Validated 2-D geometry of a convolution ``x (N,C,*sp) * weight (O,C/g,*k)``."""
    groups = v.as_int("groups", groups)
    if groups < 1:
        raise ValueError(f"`groups` must be a positive int, got {groups}")
    N, C, *spatial = x_shape
    O, Cg, *kernel = w_shape
    if C < 1 or min(spatial) < 1:
        raise ValueError(f"`{x_name}` of shape {tuple(x_shape)} must have at least one channel "
                         "and non-empty spatial dimensions")
    if min(kernel) < 1:
        raise ValueError(f"`weight` of shape {tuple(w_shape)} has an empty kernel")
    if C % groups:
        raise ValueError(f"`groups`={groups} must divide the {C} input channels of `{x_name}` "
                         f"(shape {tuple(x_shape)})")
    if O % groups:
        raise ValueError(f"`groups`={groups} must divide the {O} output channels of `weight` "
                         f"(shape {tuple(w_shape)})")
    if Cg * groups != C:
        raise ValueError(f"`weight` of shape {tuple(w_shape)} expects {Cg * groups} input channels "
                         f"(C/groups={Cg}, groups={groups}), but `{x_name}` of shape "
                         f"{tuple(x_shape)} has {C}")
    stride = v.int_tuple("stride", stride, nd)
    dilation = v.int_tuple("dilation", dilation, nd)
    kernel = tuple(kernel)
    pads = v.padding_pairs("padding", padding, nd, spatial=spatial, kernel=kernel, stride=stride,
                           dilation=dilation)
    out = v.output_shape(spatial, kernel, stride, pads, dilation)
    H, W = _lift(nd, spatial, 1)
    OH, OW = _lift(nd, out, 1)
    kh, kw = _lift(nd, kernel, 1)
    sh, sw = _lift(nd, stride, 1)
    dh, dw = _lift(nd, dilation, 1)
    pads2 = _lift(nd, pads, (0, 0))
    return Geometry(N, C, H, W, O, OH, OW, kh, kw, sh, sw, pads2, dh, dw, groups,
                    C // groups, O // groups, (C // groups) * kh * kw, OH * OW)


def _kargs(g):
    return (g.kh, g.kw, g.sh, g.sw, g.pads[0][0], g.pads[1][0], g.dh, g.dw, g.groups)


def _flip(weight, nd):
    return weight[(Ellipsis,) + (slice(None, None, -1),) * nd]


def _is_direct(g):
    """1x1 kernel, stride 1, no padding, output plane == input plane: the kernels'
    ``is_direct`` (which then takes no workspace).  Must match it exactly."""
    return (g.kh == g.kw == g.sh == g.sw == 1 and g.pads == ((0, 0), (0, 0))
            and g.OH == g.H and g.OW == g.W)


def _out_spatial(nd, g):
    return (g.OH, g.OW) if nd == 2 else (g.OW,)


# ------------------------------------------------------------------ forward


ForwardPlan = namedtuple("ForwardPlan",
                         "nd dt flip out_shape O Kg work dims lt strip ws_ints ws_cols")


def _strip_elems(g, lt):
    """Elements of the largest strip a tile of ``lt`` output columns reads (see
    ``strip_of`` in ``_conv.pyx``): sh*sw phase planes of C/groups channels."""
    halo_h = (g.kh - 1) * g.dh // g.sh
    halo_w = (g.kw - 1) * g.dw // g.sw
    one_row = (1 + halo_h) * (min(lt, g.OW) + halo_w)
    rows = min(g.OH, (lt - 1) // g.OW + 2)
    many_rows = (rows + halo_h) * (g.OW + halo_w) if g.OH > 1 else 0
    return g.Cg * g.sh * g.sw * max(one_row, many_rows)


def _strip_tile_len(g, itemsize, out_bytes, tasks_outside=None):
    """Columns per strip tile: an output tile of about ``out_bytes`` (O/groups rows),
    halved until the strip fits STRIP_BYTES, and (forward) enough tasks; None when
    even the smallest tile's strip exceeds STRIP_MAX_BYTES."""
    lt = min(max(64, out_bytes // (itemsize * max(g.Og, 1)) // 16 * 16), 4096, _round16(g.L))
    while lt > 64 and _strip_elems(g, lt) * itemsize > STRIP_BYTES:
        lt = max(64, lt // 2 // 16 * 16)
    if tasks_outside and tasks_outside * _ceil_div(g.L, lt) < MIN_TASKS:
        lt = min(lt, _round16(_ceil_div(g.L, _ceil_div(MIN_TASKS, tasks_outside))))
    return None if _strip_elems(g, lt) * itemsize > STRIP_MAX_BYTES else lt


def _index_elems(count, itemsize):
    """Workspace elements holding ``count`` Py_ssize_t indices, rounded to 16 elements
    so that what follows starts on a 64-byte boundary."""
    return _round16(_ceil_div(count * 8, itemsize))


def _strip_plan(g, itemsize):
    """``(lt, ws_ints, ws_cols)`` of the strip path, or None to use im2col tiles.

    The strip path gathers GEMM panels from a zero-padded, phase-split copy of
    the input rows a tile reads (no im2col tile).  It needs strides of at most
    STRIP_MAX_STRIDE.  A gathered panel is packed once per k-block and
    serves all O/groups GEMM rows: with few output channels it does not pay for
    itself (LeNet conv1, 6 channels: 38 -> 32 GFLOP/s), nor with fewer than
    STRIP_MIN_O_NARROW when output rows are narrower than a panel, as most
    panels then straddle rows (LeNet conv2, 16 channels, 8-wide rows: 48 -> 38;
    but 8x8 outputs with 128 channels: 66 -> 76).  Those keep im2col.
    """
    if g.sh > STRIP_MAX_STRIDE or g.sw > STRIP_MAX_STRIDE or g.Og < STRIP_MIN_O:
        return None
    halo_w = (g.kw - 1) * g.dw // g.sw
    min_ow = _conv.gemm_panel_width(itemsize == 8) if STRIP_MIN_OW is None else STRIP_MIN_OW
    if g.OW < min_ow and halo_w > 0 and g.Og < STRIP_MIN_O_NARROW:
        return None
    lt = _strip_tile_len(g, itemsize, STRIP_OUT_BYTES, g.N * g.groups)
    if lt is None:
        return None
    ws_ints = _index_elems(g.Kg + lt, itemsize)  # offs and cols, then the strip
    return lt, ws_ints, ws_ints + _round16(_strip_elems(g, lt))  # threads 64-byte apart

# Validated plans of recent forward calls, keyed by everything that decides them
# (shapes, dtypes and the arguments).  A hit skips argument normalisation, which
# is most of the cost of a small call; the arrays themselves are still converted.
_PLANS = {}
_MAX_PLANS = 512


def _plain(value):
    """An int, a str, or a tuple of (tuples of) ints: arguments whose equality means
    the same validation result.  (``True == 1`` and ``1.0 == 1`` but they must not
    share a plan: a bool or float stride is a TypeError.)"""
    t = type(value)
    if t is int or t is str:
        return True
    if t is tuple:
        return all(type(e) is int or (type(e) is tuple and all(type(u) is int for u in e))
                   for e in value)
    return False


def _plan_key(nd, x, weight, bias, stride, padding, dilation, groups, flip):
    if type(x) is not np.ndarray or type(weight) is not np.ndarray:
        return None
    if bias is not None and type(bias) is not np.ndarray:
        return None
    if not (type(groups) is int and type(flip) is bool and _plain(stride) and _plain(padding)
            and _plain(dilation)):
        return None
    return (nd, x.shape, x.dtype, weight.shape, weight.dtype,
            None if bias is None else (bias.shape, bias.dtype),
            stride, padding, dilation, groups, flip)


def _cached(cache, key, make):
    """The plan cached under ``key``, else ``make()`` -- cached unless ``key`` is None.
    (``make`` validates: an invalid call raises before anything is cached.)"""
    plan = None if key is None else cache.get(key)
    if plan is None:
        plan = make()
        if key is not None:
            if len(cache) >= _MAX_PLANS:
                cache.clear()
            cache[key] = plan
    return plan


def _make_forward_plan(nd, x, weight, bias, stride, padding, dilation, groups, flip):
    x = v.as_array("x", x)
    weight = v.as_array("weight", weight)
    v.check_ndim("x", x, nd + 2, "(N, C, H, W)" if nd == 2 else "(N, C, L)")
    v.check_ndim("weight", weight, nd + 2, "(O, C/groups, kH, kW)" if nd == 2 else "(O, C/groups, k)")
    if bias is not None:
        bias = v.as_array("bias", bias)
    dt = v.compute_dtype(x=x, weight=weight, bias=bias)
    flip = v.as_bool("flip", flip)
    g = _geometry(nd, x.shape, weight.shape, stride, padding, dilation, groups)
    if bias is not None and bias.shape != (g.O,):
        raise ValueError(f"`bias` must have shape ({g.O},) to match `weight` of shape "
                         f"{weight.shape}, got {bias.shape}")
    out_shape = (g.N, g.O) + _out_spatial(nd, g)
    v.check_alloc("output", out_shape, dt.itemsize)
    strip = None
    if _is_direct(g):
        lt = _tile_len(0, g.L, dt.itemsize, g.N * g.groups)
        ws_ints, ws_cols = 0, 1
    elif (strip := _strip_plan(g, dt.itemsize)) is not None:
        lt, ws_ints, ws_cols = strip
    else:
        lt = _tile_len(g.Kg, g.L, dt.itemsize, g.N * g.groups)
        ws_ints, ws_cols = 0, g.Kg * lt
    dims = (g.N, g.C, g.H, g.W, g.O, g.OH, g.OW) + _kargs(g)
    return ForwardPlan(nd, dt, flip, out_shape, g.O, g.Kg, g.N * g.O * g.L * g.Kg, dims, lt,
                       strip is not None, ws_ints, ws_cols)


def _forward(nd, x, weight, bias, stride, padding, dilation, groups, flip, num_threads):
    check_num_threads(num_threads)
    key = _plan_key(nd, x, weight, bias, stride, padding, dilation, groups, flip)
    plan = _cached(_PLANS, key, lambda: _make_forward_plan(nd, x, weight, bias, stride, padding,
                                                           dilation, groups, flip))
    if key is None:  # perhaps not ndarrays (a key needs them)
        x = v.as_array("x", x)
        weight = v.as_array("weight", weight)
        bias = None if bias is None else v.as_array("bias", bias)
    dt = plan.dt
    out = np.empty(plan.out_shape, dt)
    if out.size == 0:
        return out
    if plan.flip:
        weight = _flip(weight, nd)
    # C-contiguous buffers of the compute dtype; the kernel reads their sizes from the plan
    xc = v.contiguous(x, dt)
    wc = v.contiguous(weight, dt)
    b = None if bias is None else v.contiguous(bias, dt)
    n_threads = resolve_threads(num_threads, plan.work)
    ws = workspace(n_threads, plan.ws_cols, dt)
    _conv.conv2d_forward(xc, wc, b, out, ws, plan.ws_cols, *plan.dims, plan.lt, plan.strip,
                         plan.ws_ints, n_threads)
    return out


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, flip=False,
           num_threads=None):
    """1-D convolution (cross-correlation, as in deep learning) of a batch of signals.

    ``out[n, o, t] = bias[o] + sum_{c, i} weight[o, c, i] * xpad[n, g*C/groups + c,
    t*stride + i*dilation]``, where ``g`` is the group of output channel ``o``.
    Arguments and result follow ``torch.nn.functional.conv1d``.

    Parameters
    ----------
    x : ndarray, shape (N, C, L)
        The batch of input signals. Any real dtype (see the dtype rules in the API
        semantics page); any memory layout.
    weight : ndarray, shape (O, C/groups, k)
        The filters.
    bias : ndarray, shape (O,), optional
        Added to every output position of each channel. Default: no bias.
    stride : int or tuple of 1 int, default 1
        Step between neighbouring windows.
    padding : int, tuple or {'valid', 'same'}, default 0
        Zeros added at both ends: an int ``p`` (``p`` each side), ``(before, after)``,
        ``((before, after),)``, ``'valid'`` (none) or ``'same'`` (``ceil(L / stride)``
        outputs; an odd extra zero goes at the end).
    dilation : int or tuple of 1 int, default 1
        Spacing between kernel taps.
    groups : int, default 1
        Number of channel groups; must divide both C and O.
    flip : bool, default False
        Flip the kernel: compute the true (mathematical) convolution instead of the
        cross-correlation.
    num_threads : int, optional
        Threads for this call. Default: :func:`fastconv.get_num_threads`.

    Returns
    -------
    ndarray, shape (N, O, Lout)
        ``Lout = floor((L + pad_before + pad_after - dilation*(k-1) - 1) / stride) + 1``
        (:func:`fastconv.conv_output_size`). float32 when every input is float32 or
        float16, else float64.

    Raises
    ------
    TypeError
        An array has an unsupported dtype (complex, object, string, datetime, long
        double), a size argument is not an int (a bool, float or string), or
        ``flip`` is not a bool.
    ValueError
        An array has the wrong number of dimensions; ``groups`` does not divide the
        input or output channels, or the weight's channel count does not match the
        input; ``bias`` is not of shape (O,); ``stride``, ``dilation`` or ``groups`` is
        not positive or ``padding`` is negative; or the dilated kernel is larger than
        the padded input.
    MemoryError
        The result cannot be allocated.

    See Also
    --------
    conv1d_backward : The gradients of this function.
    conv_transpose1d : The transposed convolution (the input gradient as an op).
    conv2d : The 2-D version.

    Examples
    --------
    The seeds' 1-D example: correlation, and true convolution with ``flip=True``.

    >>> import numpy as np, fastconv
    >>> x = np.array([[[1., 2., 3., 4.]]]); w = np.array([[[1., 2., 3.]]])
    >>> fastconv.conv1d(x, w)
    array([[[14., 20.]]])
    >>> fastconv.conv1d(x, w, flip=True)
    array([[[10., 16.]]])
    >>> fastconv.conv1d(x, w, padding="same")
    array([[[ 8., 14., 20., 11.]]])
    """
    return _forward(1, x, weight, bias, stride, padding, dilation, groups, flip, num_threads)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, flip=False,
           num_threads=None):
    """2-D convolution (cross-correlation, as in deep learning) of a batch of images.

    ``out[n, o, y, x] = bias[o] + sum_{c, i, j} weight[o, c, i, j] *
    xpad[n, g*C/groups + c, y*sh + i*dh, x*sw + j*dw]``, where ``g`` is the group of
    output channel ``o``. Arguments and result follow ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
        The batch of input images. Any real dtype (see the dtype rules in the API
        semantics page); any memory layout.
    weight : ndarray, shape (O, C/groups, kH, kW)
        The filters.
    bias : ndarray, shape (O,), optional
        Added to every output pixel of each channel. Default: no bias.
    stride : int or tuple of 2 ints, default 1
        Step between neighbouring windows, ``(sh, sw)``.
    padding : int, tuple or {'valid', 'same'}, default 0
        Zeros added around the image: an int, ``(ph, pw)``,
        ``((top, bottom), (left, right))``, ``'valid'`` (none) or ``'same'``
        (``ceil(H / sh)`` by ``ceil(W / sw)`` outputs; an odd extra row or column of
        zeros goes at the bottom or right).
    dilation : int or tuple of 2 ints, default 1
        Spacing between kernel taps, ``(dh, dw)``.
    groups : int, default 1
        Number of channel groups; must divide both C and O.
    flip : bool, default False
        Flip the kernel along both spatial axes: compute the true (mathematical)
        convolution instead of the cross-correlation.
    num_threads : int, optional
        Threads for this call. Default: :func:`fastconv.get_num_threads`.

    Returns
    -------
    ndarray, shape (N, O, Hout, Wout)
        Sizes from :func:`fastconv.conv_output_size`. float32 when every input is
        float32 or float16, else float64.

    Raises
    ------
    TypeError
        An array has an unsupported dtype (complex, object, string, datetime, long
        double), a size argument is not an int (a bool, float or string), or
        ``flip`` is not a bool.
    ValueError
        An array has the wrong number of dimensions; ``groups`` does not divide the
        input or output channels, or the weight's channel count does not match the
        input; ``bias`` is not of shape (O,); ``stride``, ``dilation`` or ``groups`` is
        not positive or ``padding`` is negative; or the dilated kernel is larger than
        the padded input.
    MemoryError
        The result cannot be allocated.

    See Also
    --------
    conv2d_backward : The gradients of this function.
    conv_transpose2d : The transposed convolution (the input gradient as an op).
    im2col : The windows this function multiplies the weight with.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.arange(16.).reshape(1, 1, 4, 4)
    >>> fastconv.conv2d(x, np.ones((1, 1, 2, 2)), stride=2)
    array([[[[10., 18.],
             [42., 50.]]]])
    >>> fastconv.conv2d(x, np.ones((3, 1, 3, 3)), np.zeros(3), padding="same").shape
    (1, 3, 4, 4)
    """
    return _forward(2, x, weight, bias, stride, padding, dilation, groups, flip, num_threads)


# ----------------------------------------------------------------- backward


def _grad_input(go4, w4, g, dt, n_threads):
    """grad_input (N, C, H, W) of a convolution with geometry g and weight w4 (O, Cg, kh, kw).

    With stride 1 (and padding at most the dilated kernel extent) the input
    gradient is itself a forward convolution: grad_output, padded by
    ``d*(k-1) - p_before`` before and by whatever makes the output H after
    (``d*(k-1) - p_after`` for a plain convolution), correlated with the kernel
    flipped in space and transposed in channels.  That reuses the forward path (im2col tiles and
    one GEMM with K = O/groups*kh*kw) instead of a GEMM with K = O/groups
    followed by col2im.  Other strides use the col2im path.
    """
    if g.N == 0 or g.O == 0:
        return v.zeros("grad_input", (g.N, g.C, g.H, g.W), dt)
    ext_h, ext_w = g.dh * (g.kh - 1), g.dw * (g.kw - 1)
    pt, pl = g.pads[0][0], g.pads[1][0]
    # grad_output padding: before = d*(k-1) - p_before; after makes the output H
    # (= d*(k-1) - p_after for a plain conv; longer with conv_transpose's output_padding)
    pads = ((ext_h - pt, g.H - g.OH + pt), (ext_w - pl, g.W - g.OW + pl))
    # The forward route's GEMM has M = C/groups rows and an im2col of grad_output with
    # O/groups*kh*kw rows; the col2im route's GEMM has K = O/groups.  Few input
    # channels (a first layer) make the forward route wasteful.
    if (g.sh == g.sw == 1 and min(min(pp) for pp in pads) >= 0 and not _is_direct(g)
            and g.Cg >= FORWARD_GRAD_INPUT_CHANNELS):
        wf = w4.reshape(g.groups, g.Og, g.Cg, g.kh, g.kw)[:, :, :, ::-1, ::-1]
        wf = np.ascontiguousarray(wf.transpose(0, 2, 1, 3, 4)).reshape(g.C, g.Og, g.kh, g.kw)
        return _forward(2, go4, wf, None, 1, pads, (g.dh, g.dw), g.groups, False, n_threads)
    wt = np.ascontiguousarray(w4.reshape(g.groups, g.Og, g.Kg).transpose(0, 2, 1))
    gx = v.empty("grad_input", (g.N, g.C, g.H, g.W), dt)  # every element written by the kernel
    if gx.size == 0:
        return gx
    outside = g.N * g.groups
    cblk = max(1, min(g.Cg, _ceil_div(g.Cg, _ceil_div(MIN_TASKS, outside))))
    rows = cblk * g.kh * g.kw
    lt = _tile_len(rows, g.L, dt.itemsize)
    # (the direct case needs no scratch, but the kernel takes a row per thread)
    ws = workspace2d(n_threads, 1 if _is_direct(g) else rows * lt, dt)
    _conv.conv2d_backward_input(go4, wt, gx, ws, *_kargs(g), cblk, lt, n_threads)
    return gx


def _grad_weight(go4, xc, g, dt, n_threads):
    """grad_weight (O, Cg*kh*kw) of a convolution with geometry g.

    Small planes split the batch into a shape-fixed number of chunks, each
    accumulating ``cols . go^T`` into its own partial, summed in chunk order
    (one whole im2col matrix and one transposed grad_output per sample fit a
    tile).  Larger planes split the im2col rows into blocks of ``kb``, each
    task summing over every sample and tile.
    """
    grad_weight = v.zeros("grad_weight", (g.O, g.Kg), dt)
    if grad_weight.size == 0 or g.N == 0 or g.L == 0:
        return grad_weight
    # (the per-sample transpose of grad_output costs more than it saves for wide layers)
    small = g.L * (g.Kg + g.Og) * dt.itemsize <= CHUNKED_GRAD_WEIGHT_BYTES and g.Og <= 32
    strip = None if small or g.N == 1 else _grad_weight_strip_plan(g, dt.itemsize)
    if strip is not None:
        lt, ws_ints, ws_got, ws_cols = strip
        chunks = min(g.N, 16)
        partial = v.zeros("grad_weight", (chunks, g.groups, g.Kg, g.Og), dt)
        ws = workspace2d(n_threads, ws_cols, dt)
        _conv.conv2d_backward_weight_strip(go4, xc, partial, ws, *_kargs(g), lt, ws_ints,
                                           ws_got, n_threads)
        return _sum_partials(partial, g)
    if small and g.N > 1:
        chunks = min(g.N, 16)
        partial = v.zeros("grad_weight", (chunks, g.groups, g.Kg, g.Og), dt)
        ws = workspace2d(n_threads, g.L * (g.Kg + g.Og), dt)
        _conv.conv2d_backward_weight_chunked(go4, xc, partial, ws, *_kargs(g), n_threads)
        return _sum_partials(partial, g)
    kb = min(g.Kg, 64)
    while g.groups * _ceil_div(g.Kg, kb) < MIN_TASKS and kb > 16:
        kb = max(16, _round16(kb // 2))
    kb = min(kb, g.Kg)
    lt = _tile_len(kb, g.L, dt.itemsize)
    ws = workspace2d(n_threads, kb * lt, dt)
    _conv.conv2d_backward_weight(go4, xc, grad_weight, ws, *_kargs(g), kb, lt, n_threads)
    return grad_weight


def _sum_partials(partial, g):
    """grad_weight (O, Kg) from per-chunk partials (P, G, Kg, Og), summed in chunk order
    (the same sums for any thread count)."""
    summed = partial[0].copy()
    for p in range(1, partial.shape[0]):
        summed += partial[p]
    # (G, Kg, Og) -> (G, Og, Kg) -> (O, Kg)
    return np.ascontiguousarray(summed.transpose(0, 2, 1)).reshape(g.O, g.Kg)


def _grad_weight_strip_plan(g, itemsize):
    """``(lt, ws_ints, ws_got, ws_cols)`` of grad_weight's strip route, or None.

    The route splits the batch into chunks, like the chunked route, but reads
    the im2col rows straight from input strips, a tile at a time (no im2col
    matrix).  It needs what the forward strip path needs (strides up to
    STRIP_MAX_STRIDE, a bounded strip) and at least STRIP_MIN_O output channels
    per group (the GEMM's N here).  Its GEMM sums one output-row segment at a
    time into the whole ``Kg x Og`` partial, which must stay in cache, and each
    tile's transposed grad_output serves all ``Kg`` rows: so it also needs
    ``Kg * Og`` within GRAD_WEIGHT_STRIP_C_BYTES, at least 64 im2col rows, and
    output rows of at least 16 (VGG block 47 -> 64 GFLOP/s, ResNet stem 44 ->
    63; ResNet strided, a 1.2 MB partial on 14-wide rows: 58 -> 27).
    """
    if (g.sh > STRIP_MAX_STRIDE or g.sw > STRIP_MAX_STRIDE or g.Og < STRIP_MIN_O
            or not GRAD_WEIGHT_STRIPS or g.Kg < GRAD_WEIGHT_STRIP_MIN_ROWS
            or g.OW < GRAD_WEIGHT_STRIP_MIN_OW
            or g.Kg * g.Og * itemsize > GRAD_WEIGHT_STRIP_C_BYTES):
        return None
    lt = _strip_tile_len(g, itemsize, STRIP_OUT_BYTES // 2)
    if lt is None:
        return None
    ws_ints = _index_elems(g.Kg + 2 * (lt + 2), itemsize)  # taps, segment sources, lengths
    ws_got = _round16(lt * g.Og)
    return lt, ws_ints, ws_got, ws_ints + ws_got + _strip_elems(g, lt)


BackwardPlan = namedtuple("BackwardPlan", "g dt flip w_shape x_shape work")
_BACKWARD_PLANS = {}


def _make_backward_plan(nd, grad_output, x, weight, stride, padding, dilation, groups, flip):
    grad_output = v.as_array("grad_output", grad_output)
    x = v.as_array("x", x)
    weight = v.as_array("weight", weight)
    v.check_ndim("grad_output", grad_output, nd + 2,
                 "(N, O, Hout, Wout)" if nd == 2 else "(N, O, Lout)")
    v.check_ndim("x", x, nd + 2, "(N, C, H, W)" if nd == 2 else "(N, C, L)")
    v.check_ndim("weight", weight, nd + 2, "(O, C/groups, kH, kW)" if nd == 2 else "(O, C/groups, k)")
    dt = v.compute_dtype(grad_output=grad_output, x=x, weight=weight)
    g = _geometry(nd, x.shape, weight.shape, stride, padding, dilation, groups)
    expected = (g.N, g.O) + _out_spatial(nd, g)
    if grad_output.shape != expected:
        raise ValueError(f"`grad_output` must have shape {expected} (the output of `x` "
                         f"{x.shape} convolved with `weight` {weight.shape}), got "
                         f"{grad_output.shape}")
    flip = v.as_bool("flip", flip)
    for name, shape in (("grad_input", x.shape), ("grad_weight", weight.shape)):
        v.check_alloc(name, shape, dt.itemsize)
    return BackwardPlan(g, dt, flip, weight.shape, x.shape, g.N * g.O * g.L * g.Kg)


def _backward(nd, grad_output, x, weight, stride, padding, dilation, groups, flip, num_threads):
    key = None
    if type(grad_output) is np.ndarray:
        key = _plan_key(nd, x, weight, None, stride, padding, dilation, groups, flip)
    if key is not None:
        key = key + (grad_output.shape, grad_output.dtype)
    plan = _cached(_BACKWARD_PLANS, key, lambda: _make_backward_plan(
        nd, grad_output, x, weight, stride, padding, dilation, groups, flip))
    if key is None:  # perhaps not ndarrays (a key needs them)
        grad_output = v.as_array("grad_output", grad_output)
        x = v.as_array("x", x)
        weight = v.as_array("weight", weight)
    g, dt = plan.g, plan.dt
    if plan.flip:
        weight = _flip(weight, nd)
    n_threads = resolve_threads(num_threads, plan.work)
    go4 = v.contiguous(grad_output, dt).reshape(g.N, g.O, g.OH, g.OW)
    xc = v.contiguous(x, dt).reshape(g.N, g.C, g.H, g.W)
    w4 = v.contiguous(weight, dt).reshape(g.O, g.Cg, g.kh, g.kw)

    grad_input = _grad_input(go4, w4, g, dt, n_threads)

    grad_weight = _grad_weight(go4, xc, g, dt, n_threads).reshape(plan.w_shape)
    if plan.flip:
        grad_weight = np.ascontiguousarray(_flip(grad_weight, nd))

    grad_bias = np.zeros((g.O,), dt)
    if g.O:
        _conv.conv_backward_bias(go4.reshape(g.N, g.O, g.L), grad_bias,
                                 resolve_threads(num_threads, g.N * g.O * g.L))
    return grad_input.reshape(plan.x_shape), grad_weight, grad_bias


def conv1d_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    flip=False, num_threads=None):
    """Compute the gradients of :func:`conv1d` with respect to its input, weight and bias.

    Pass the gradient of the loss with respect to ``conv1d(x, weight, bias, ...)``
    together with the forward call's ``x``, ``weight`` and arguments (the bias is
    not needed).

    Parameters
    ----------
    grad_output : ndarray, shape (N, O, Lout)
        Gradient of the loss with respect to the output of :func:`conv1d`.
    x : ndarray, shape (N, C, L)
        The forward call's input.
    weight : ndarray, shape (O, C/groups, k)
        The forward call's weight.
    stride : int or tuple of 1 int, default 1
        As passed to :func:`conv1d`.
    padding : int, tuple or {'valid', 'same'}, default 0
        As passed to :func:`conv1d`.
    dilation : int or tuple of 1 int, default 1
        As passed to :func:`conv1d`.
    groups : int, default 1
        As passed to :func:`conv1d`.
    flip : bool, default False
        As passed to :func:`conv1d`; ``grad_weight`` is then with respect to the
        unflipped ``weight``.
    num_threads : int, optional
        Threads for this call. Default: :func:`fastconv.get_num_threads`.

    Returns
    -------
    grad_input : ndarray, shape (N, C, L)
        Gradient with respect to ``x``: the transposed convolution of
        ``grad_output`` with ``weight``.
    grad_weight : ndarray, shape (O, C/groups, k)
        Gradient with respect to ``weight``: the cross-correlation of ``x`` with
        ``grad_output``, summed over the batch.
    grad_bias : ndarray, shape (O,)
        Gradient with respect to the bias: ``grad_output`` summed over the batch and
        length.

    Raises
    ------
    TypeError
        An array has an unsupported dtype, a size argument is not an int, or
        ``flip`` is not a bool.
    ValueError
        Any reason the forward call would raise, or ``grad_output`` does not have
        the shape of the forward output.
    MemoryError
        A gradient cannot be allocated.

    See Also
    --------
    conv1d : The forward function.
    conv_transpose1d : ``grad_input`` as an op of its own.

    Examples
    --------
    The seeds' 1-D backward slides, with ``dL/dO = [1, 2]``:

    >>> import numpy as np, fastconv
    >>> x = np.array([[[1., 2., 3., 4.]]]); w = np.array([[[1., 2., 3.]]])
    >>> gx, gw, gb = fastconv.conv1d_backward(np.array([[[1., 2.]]]), x, w)
    >>> gx, gw, gb
    (array([[[1., 4., 7., 6.]]]), array([[[ 5.,  8., 11.]]]), array([3.]))
    """
    return _backward(1, grad_output, x, weight, stride, padding, dilation, groups, flip, num_threads)


def conv2d_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    flip=False, num_threads=None):
    """Compute the gradients of :func:`conv2d` with respect to its input, weight and bias.

    Pass the gradient of the loss with respect to ``conv2d(x, weight, bias, ...)``
    together with the forward call's ``x``, ``weight`` and arguments (the bias is
    not needed).

    Parameters
    ----------
    grad_output : ndarray, shape (N, O, Hout, Wout)
        Gradient of the loss with respect to the output of :func:`conv2d`.
    x : ndarray, shape (N, C, H, W)
        The forward call's input.
    weight : ndarray, shape (O, C/groups, kH, kW)
        The forward call's weight.
    stride : int or tuple of 2 ints, default 1
        As passed to :func:`conv2d`.
    padding : int, tuple or {'valid', 'same'}, default 0
        As passed to :func:`conv2d`.
    dilation : int or tuple of 2 ints, default 1
        As passed to :func:`conv2d`.
    groups : int, default 1
        As passed to :func:`conv2d`.
    flip : bool, default False
        As passed to :func:`conv2d`; ``grad_weight`` is then with respect to the
        unflipped ``weight``.
    num_threads : int, optional
        Threads for this call. Default: :func:`fastconv.get_num_threads`.

    Returns
    -------
    grad_input : ndarray, shape (N, C, H, W)
        Gradient with respect to ``x``: the transposed convolution of
        ``grad_output`` with ``weight`` (what :func:`conv_transpose2d` computes).
    grad_weight : ndarray, shape (O, C/groups, kH, kW)
        Gradient with respect to ``weight``: the cross-correlation of ``x`` with
        ``grad_output``, summed over the batch.
    grad_bias : ndarray, shape (O,)
        Gradient with respect to the bias: ``grad_output`` summed over the batch
        and both spatial axes.

    Raises
    ------
    TypeError
        An array has an unsupported dtype, a size argument is not an int, or
        ``flip`` is not a bool.
    ValueError
        Any reason the forward call would raise, or ``grad_output`` does not have
        the shape of the forward output.
    MemoryError
        A gradient cannot be allocated.

    See Also
    --------
    conv2d : The forward function.
    conv_transpose2d : ``grad_input`` as an op of its own.

    Examples
    --------
    A 2x2 kernel with stride 2 sees every pixel of a 4x4 image exactly once:

    >>> import numpy as np, fastconv
    >>> x = np.arange(16.).reshape(1, 1, 4, 4); w = np.ones((1, 1, 2, 2))
    >>> gx, gw, gb = fastconv.conv2d_backward(np.ones((1, 1, 2, 2)), x, w, stride=2)
    >>> gx[0, 0]
    array([[1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.]])
    >>> gw
    array([[[[20., 24.],
             [36., 40.]]]])
    >>> gb
    array([4.])
    """
    return _backward(2, grad_output, x, weight, stride, padding, dilation, groups, flip, num_threads)


# --------------------------------------------------------------- transposed


def _transpose(nd, x, weight, bias, stride, padding, output_padding, groups, dilation, num_threads):
    check_num_threads(num_threads)
    x = v.as_array("x", x)
    weight = v.as_array("weight", weight)
    v.check_ndim("x", x, nd + 2, "(N, Cin, H, W)" if nd == 2 else "(N, Cin, L)")
    v.check_ndim("weight", weight, nd + 2,
                 "(Cin, Cout/groups, kH, kW)" if nd == 2 else "(Cin, Cout/groups, k)")
    if bias is not None:
        bias = v.as_array("bias", bias)
    dt = v.compute_dtype(x=x, weight=weight, bias=bias)
    groups = v.as_int("groups", groups)
    if groups < 1:
        raise ValueError(f"`groups` must be a positive int, got {groups}")
    N, Cin, *spatial = x.shape
    Cw, Cog, *kernel = weight.shape
    if Cin < 1 or min(spatial) < 1 or min(kernel) < 1:
        raise ValueError(f"`x` of shape {x.shape} and `weight` of shape {weight.shape} must have "
                         "non-empty channel, spatial and kernel dimensions")
    if Cw != Cin:
        raise ValueError(f"`weight` of shape {weight.shape} expects {Cw} input channels, but "
                         f"`x` of shape {x.shape} has {Cin}")
    if Cin % groups:
        raise ValueError(f"`groups`={groups} must divide the {Cin} input channels of `x`")
    stride = v.int_tuple("stride", stride, nd)
    dilation = v.int_tuple("dilation", dilation, nd)
    if isinstance(padding, str) and padding == "valid":
        padding = 0
    pads = v.padding_pairs("padding", padding, nd, allow_strings=False)
    out_pad = v.int_tuple("output_padding", output_padding, nd, minimum=0)
    for j in range(nd):
        if out_pad[j] >= max(stride[j], dilation[j]):
            raise ValueError(f"`output_padding`={output_padding} must be smaller than `stride`="
                             f"{stride} or `dilation`={dilation}")
    out_sp = tuple((spatial[j] - 1) * stride[j] - pads[j][0] - pads[j][1]
                   + dilation[j] * (kernel[j] - 1) + out_pad[j] + 1 for j in range(nd))
    if min(out_sp) < 1:
        raise ValueError(f"`x` of shape {x.shape} with `weight` {weight.shape}, `stride`={stride}, "
                         f"`padding`={padding}, `dilation`={dilation} gives an empty output {out_sp}")
    Cout = Cog * groups
    if bias is not None and bias.shape != (Cout,):
        raise ValueError(f"`bias` must have shape ({Cout},), got {bias.shape}")
    if Cout == 0 or N == 0:
        return v.empty("output", (N, Cout) + out_sp, dt)
    # conv_transpose is the input gradient of the convolution that maps
    # (N, Cout, *out_sp) to x's shape with this weight read as (O=Cin, Cout/groups, k).
    g = _geometry(nd, (N, Cout) + out_sp, weight.shape, stride, pads, dilation, groups,
                  x_name="output")
    # With output_padding >= stride (allowed when dilation is larger) that
    # convolution would have a longer output than x; the scatter is still exact.
    OH, OW = _lift(nd, spatial, 1)
    g = g._replace(OH=OH, OW=OW, L=OH * OW)
    out = v.empty("output", (N, Cout) + out_sp, dt)
    if out.size == 0:
        return out
    n_threads = resolve_threads(num_threads, g.N * g.O * g.L * g.Kg)
    go4 = v.contiguous(x, dt).reshape(g.N, g.O, g.OH, g.OW)
    w4 = v.contiguous(weight, dt).reshape(g.O, g.Cg, g.kh, g.kw)
    gx = _grad_input(go4, w4, g, dt, n_threads)
    out = gx.reshape(out.shape)
    if bias is not None:
        out += v.contiguous(bias, dt).reshape((1, Cout) + (1,) * nd)
    return out


def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, num_threads=None):
    """1-D transposed convolution ("deconvolution"): the input gradient of :func:`conv1d`.

    ``conv_transpose1d(g, w, stride=s, padding=p, dilation=d, output_padding=op)``
    equals the ``grad_input`` of :func:`conv1d_backward` for an input of the
    output's length. Arguments follow ``torch.nn.functional.conv_transpose1d``.

    Parameters
    ----------
    x : ndarray, shape (N, Cin, L)
        The batch of input signals.
    weight : ndarray, shape (Cin, Cout/groups, k)
        The filters, laid out as for :func:`conv1d` with ``O = Cin``.
    bias : ndarray, shape (Cout,), optional
        Added to every output position of each channel. Default: no bias.
    stride : int or tuple of 1 int, default 1
        Step between the positions each input element is spread to.
    padding : int, (before, after) or 'valid', default 0
        Removed from the ends of the full output.
    output_padding : int or tuple of 1 int, default 0
        Extra length at the end; smaller than ``max(stride, dilation)``.
    groups : int, default 1
        Number of channel groups; must divide Cin.
    dilation : int or tuple of 1 int, default 1
        Spacing between kernel taps.
    num_threads : int, optional
        Threads for this call. Default: :func:`fastconv.get_num_threads`.

    Returns
    -------
    ndarray, shape (N, Cout, Lout)
        ``Lout = (L-1)*stride - pad_before - pad_after + dilation*(k-1)
        + output_padding + 1``.

    Raises
    ------
    TypeError
        An array has an unsupported dtype, or a size argument is not an int.
    ValueError
        An array has the wrong number of dimensions; the weight's first dimension is
        not the input's channel count; ``groups`` does not divide it; ``bias`` is not
        of shape (Cout,); ``padding`` is ``'same'`` or negative; an
        ``output_padding`` is not smaller than ``max(stride, dilation)``; or the
        output would be empty.
    MemoryError
        The result cannot be allocated.

    See Also
    --------
    conv1d_backward : Computes the same values as its ``grad_input``.
    conv_transpose2d : The 2-D version.

    Examples
    --------
    The seeds' ``dL/dI``: the upstream gradient [1, 2] spread by the kernel [1, 2, 3].

    >>> import numpy as np, fastconv
    >>> fastconv.conv_transpose1d(np.array([[[1., 2.]]]), np.array([[[1., 2., 3.]]]))
    array([[[1., 4., 7., 6.]]])
    """
    return _transpose(1, x, weight, bias, stride, padding, output_padding, groups, dilation,
                      num_threads)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, num_threads=None):
    """2-D transposed convolution ("deconvolution"): the input gradient of :func:`conv2d`.

    ``conv_transpose2d(g, w, stride=s, padding=p, dilation=d, output_padding=op)``
    equals the ``grad_input`` of :func:`conv2d_backward` for an input of the
    output's size. Arguments follow ``torch.nn.functional.conv_transpose2d``.

    Parameters
    ----------
    x : ndarray, shape (N, Cin, H, W)
        The batch of input images.
    weight : ndarray, shape (Cin, Cout/groups, kH, kW)
        The filters, laid out as for :func:`conv2d` with ``O = Cin``.
    bias : ndarray, shape (Cout,), optional
        Added to every output pixel of each channel. Default: no bias.
    stride : int or tuple of 2 ints, default 1
        Step between the positions each input pixel is spread to.
    padding : int, tuple of 2 ints, ((top, bottom), (left, right)) or 'valid', default 0
        Removed from the borders of the full output.
    output_padding : int or tuple of 2 ints, default 0
        Extra rows/columns at the bottom/right; each smaller than
        ``max(stride, dilation)``.
    groups : int, default 1
        Number of channel groups; must divide Cin.
    dilation : int or tuple of 2 ints, default 1
        Spacing between kernel taps.
    num_threads : int, optional
        Threads for this call. Default: :func:`fastconv.get_num_threads`.

    Returns
    -------
    ndarray, shape (N, Cout, Hout, Wout)
        ``Hout = (H-1)*sh - pad_top - pad_bottom + dh*(kH-1) + output_padding + 1``,
        and likewise ``Wout``.

    Raises
    ------
    TypeError
        An array has an unsupported dtype, or a size argument is not an int.
    ValueError
        An array has the wrong number of dimensions; the weight's first dimension is
        not the input's channel count; ``groups`` does not divide it; ``bias`` is not
        of shape (Cout,); ``padding`` is ``'same'`` or negative; an
        ``output_padding`` is not smaller than ``max(stride, dilation)``; or the
        output would be empty.
    MemoryError
        The result cannot be allocated.

    See Also
    --------
    conv2d_backward : Computes the same values as its ``grad_input``.
    col2im : The scatter this op performs, without the weight.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> fastconv.conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)))
    array([[[[1., 2., 1.],
             [2., 4., 2.],
             [1., 2., 1.]]]])
    >>> fastconv.conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)),
    ...                           stride=2).shape
    (1, 1, 5, 5)
    """
    return _transpose(2, x, weight, bias, stride, padding, output_padding, groups, dilation,
                      num_threads)
