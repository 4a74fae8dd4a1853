"""Convolution: forward, backward and transposed, 1-D and 2-D.

The wrappers validate and normalise (``_validation``), lift 1-D problems to
2-D with H = 1, pick the tiling from the shape, and call the kernels in
``_kernels/_conv.pyx``.

Workspace
---------
Each thread gets one scratch tile of at most ``max(TILE_BYTES, rows*16*itemsize)``
bytes, where ``rows`` is the number of im2col rows a task needs
(``C/groups*kH*kW`` forward; grad_weight blocks of at most 64 rows; grad_input
with stride 1 runs as a forward convolution with ``O/groups*kH*kW`` rows, else
channel blocks).  The tiles are kept per Python
thread and reused across calls.
"""
from collections import namedtuple

import numpy as np

from . import _validation as v
from ._kernels import _conv
from ._parallel import check_num_threads, resolve_threads, workspace, workspace2d

TILE_BYTES = 192 * 1024  # target bytes of one thread's im2col tile
MIN_TASKS = 8            # split small problems into at least this many tasks
FORWARD_GRAD_INPUT_CHANNELS = 128  # stride-1 grad_input as a forward conv from this C/groups on
CHUNKED_GRAD_WEIGHT_BYTES = 512 * 1024  # grad_weight split over samples below this tile size

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


ForwardPlan = namedtuple("ForwardPlan", "nd dt flip out_shape O Kg work dims lt ws_cols")

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
    if _is_direct(g):
        lt = _tile_len(0, g.L, dt.itemsize, g.N * g.groups)
        ws_cols = 1
    else:
        lt = _tile_len(g.Kg, g.L, dt.itemsize, g.N * g.groups)
        ws_cols = g.Kg * lt
    dims = (g.N, g.C, g.H, g.W, g.O, g.OH, g.OW) + _kargs(g)
    return ForwardPlan(nd, dt, flip, out_shape, g.O, g.Kg, g.N * g.O * g.L * g.Kg, dims, lt,
                       ws_cols)


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
    _conv.conv2d_forward(xc, wc, b, out, ws, plan.ws_cols, *plan.dims, plan.lt, n_threads)
    return out


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, flip=False,
           num_threads=None):
    """1-D convolution (cross-correlation, as in deep learning) of a batch of signals.

    Parameters
    ----------
    x : ndarray of shape (N, C, L)
    weight : ndarray of shape (O, C/groups, k)
    bias : ndarray of shape (O,), optional
    stride, dilation : int or tuple of 1 int, default=1
    padding : int, tuple, (before, after), 'valid' or 'same', default=0
    groups : int, default=1
    flip : bool, default=False
        Flip the kernel: compute the true convolution instead of cross-correlation.
    num_threads : int, optional
        Threads for this call (default: :func:`fastconv.get_num_threads`).

    Returns
    -------
    ndarray of shape (N, O, Lout)

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.array([[[1., 2., 3., 4.]]]); w = np.array([[[1., 2., 3.]]])
    >>> fastconv.conv1d(x, w)
    array([[[14., 20.]]])
    >>> fastconv.conv1d(x, w, flip=True)
    array([[[10., 16.]]])
    """
    return _forward(1, x, weight, bias, stride, padding, dilation, groups, flip, num_threads)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, flip=False,
           num_threads=None):
    """2-D convolution (cross-correlation, as in deep learning) of a batch of images.

    ``out[n, o, y, x] = bias[o] + sum_{c,i,j} weight[o, c, i, j] *
    xpad[n, g*C/groups + c, y*sh + i*dh, x*sw + j*dw]``

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
    weight : ndarray of shape (O, C/groups, kH, kW)
    bias : ndarray of shape (O,), optional
    stride, dilation : int or tuple of 2 ints, default=1
    padding : int, tuple of 2 ints, ((top, bottom), (left, right)), 'valid' or 'same', default=0
        'same' keeps ``ceil(H / stride)`` rows, with an odd extra pixel at the bottom/right.
    groups : int, default=1
    flip : bool, default=False
        Flip the kernel: compute the true convolution instead of cross-correlation.
    num_threads : int, optional
        Threads for this call (default: :func:`fastconv.get_num_threads`).

    Returns
    -------
    ndarray of shape (N, O, Hout, Wout)
        float32 for float32 (and float16) inputs, else float64.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.arange(16.).reshape(1, 1, 4, 4)
    >>> fastconv.conv2d(x, np.ones((1, 1, 2, 2)), stride=2)
    array([[[[10., 18.],
             [42., 50.]]]])
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
    if small and g.N > 1:
        chunks = min(g.N, 16)
        partial = v.zeros("grad_weight", (chunks, g.groups, g.Kg, g.Og), dt)
        ws = workspace2d(n_threads, g.L * (g.Kg + g.Og), dt)
        _conv.conv2d_backward_weight_chunked(go4, xc, partial, ws, *_kargs(g), n_threads)
        summed = partial[0].copy()
        for p in range(1, chunks):  # in chunk order: the same sums for any thread count
            summed += partial[p]
        # (G, Kg, Og) -> (G, Og, Kg) -> (O, Kg)
        return np.ascontiguousarray(summed.transpose(0, 2, 1)).reshape(g.O, g.Kg)
    kb = min(g.Kg, 64)
    while g.groups * _ceil_div(g.Kg, kb) < MIN_TASKS and kb > 16:
        kb = max(16, _round16(kb // 2))
    kb = min(kb, g.Kg)
    lt = _tile_len(kb, g.L, dt.itemsize)
    ws = workspace2d(n_threads, kb * lt, dt)
    _conv.conv2d_backward_weight(go4, xc, grad_weight, ws, *_kargs(g), kb, lt, n_threads)
    return grad_weight


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
    """Gradients of :func:`conv1d` with respect to its input, weight and bias.

    Parameters
    ----------
    grad_output : ndarray of shape (N, O, Lout)
        Gradient of the loss with respect to ``conv1d(x, weight, ...)``.
    x, weight, stride, padding, dilation, groups, flip
        As passed to :func:`conv1d`.
    num_threads : int, optional

    Returns
    -------
    grad_input : ndarray of shape (N, C, L)
    grad_weight : ndarray of shape (O, C/groups, k)
    grad_bias : ndarray of shape (O,)

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.array([[[1., 2., 3., 4.]]]); w = np.array([[[1., 2., 3.]]])
    >>> gx, gw, gb = fastconv.conv1d_backward(np.array([[[1., 2.]]]), x, w)
    >>> gx, gw, gb
    (array([[[1., 4., 7., 6.]]]), array([[[ 5.,  8., 11.]]]), array([3.]))
    """
    return _backward(1, grad_output, x, weight, stride, padding, dilation, groups, flip, num_threads)


def conv2d_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    flip=False, num_threads=None):
    """Gradients of :func:`conv2d` with respect to its input, weight and bias.

    ``grad_input`` is the transposed convolution of ``grad_output`` with the
    weight; ``grad_weight`` is the cross-correlation of ``x`` with
    ``grad_output``; ``grad_bias`` sums ``grad_output`` over batch and space.

    Parameters
    ----------
    grad_output : ndarray of shape (N, O, Hout, Wout)
        Gradient of the loss with respect to ``conv2d(x, weight, ...)``.
    x, weight, stride, padding, dilation, groups, flip
        As passed to :func:`conv2d`.
    num_threads : int, optional

    Returns
    -------
    grad_input : ndarray of shape (N, C, H, W)
    grad_weight : ndarray of shape (O, C/groups, kH, kW)
    grad_bias : ndarray of shape (O,)
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

    Parameters
    ----------
    x : ndarray of shape (N, Cin, L)
    weight : ndarray of shape (Cin, Cout/groups, k)
    bias : ndarray of shape (Cout,), optional
    stride, dilation : int or tuple of 1 int, default=1
    padding : int, (before, after) or 'valid', default=0
        Removed from both ends of the full output.
    output_padding : int, default=0
        Extra length at the end, smaller than ``max(stride, dilation)``.
    groups : int, default=1
    num_threads : int, optional

    Returns
    -------
    ndarray of shape (N, Cout, (L-1)*stride - pad_before - pad_after + dilation*(k-1) + output_padding + 1)
    """
    return _transpose(1, x, weight, bias, stride, padding, output_padding, groups, dilation,
                      num_threads)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, num_threads=None):
    """2-D transposed convolution ("deconvolution"): the input gradient of :func:`conv2d`.

    Parameters
    ----------
    x : ndarray of shape (N, Cin, H, W)
    weight : ndarray of shape (Cin, Cout/groups, kH, kW)
    bias : ndarray of shape (Cout,), optional
    stride, dilation : int or tuple of 2 ints, default=1
    padding : int, tuple of 2 ints, ((top, bottom), (left, right)) or 'valid', default=0
        Removed from the borders of the full output.
    output_padding : int or tuple of 2 ints, default=0
        Extra rows/columns at the bottom/right, smaller than ``max(stride, dilation)``.
    groups : int, default=1
    num_threads : int, optional

    Returns
    -------
    ndarray of shape (N, Cout, Hout, Wout)
        ``Hout = (H-1)*sh - pad_top - pad_bottom + dh*(kH-1) + output_padding + 1``.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> fastconv.conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)))
    array([[[[1., 2., 1.],
             [2., 4., 2.],
             [1., 2., 1.]]]])
    """
    return _transpose(2, x, weight, bias, stride, padding, output_padding, groups, dilation,
                      num_threads)
