"""Convolution: forward, backward and transposed, 1-D, 2-D and 3-D.

The wrappers normalise their arguments into a problem (``_problem``), get the plan
of the call (``_engine``: the route of each direction, chosen once and cached) and
run its kernels (``_kernels/_engine.pyx``).  The public functions and their
docstrings are generated for each rank from one template each (``_docs.py``).
"""
import math

import numpy as np

from . import _docs
from . import _layout
from . import _problem as P
from . import _validation as v
from ._engine import PLANS, Plan, get_tuning, make_key, route
from ._kernels import _engine as _k
from ._parallel import (PLAN_ONLY, check_num_threads, resolve_threads, shared_workspace,
                        weight_workspace, workspace)
from ._unbatched import unbatched


def _flip(weight, nd):
    return weight[(Ellipsis,) + (slice(None, None, -1),) * nd]


def _flip_fmt(weight, fmt):
    """``weight`` flipped along its spatial axes, wherever ``fmt`` puts them."""
    return weight[tuple(slice(None) if a in "OI" else slice(None, None, -1) for a in fmt)]


def _formats(nd, data_format, weight_format):
    """``(channels_last, data format, weight format)`` of the two keywords."""
    last, dfmt = _layout.data_format(nd, data_format)
    return last, dfmt, _layout.weight_format(nd, weight_format, last)


def _weight_axes(nd, fmt, o="O", i="C/groups"):
    """``'(kH, kW, C/groups, O)'``-style description of a weight in ``fmt``."""
    kernel = iter(P.KERNEL_AXES[nd])
    return "(" + ", ".join(o if a == "O" else i if a == "I" else next(kernel)
                           for a in fmt) + ")"


def _arrays(nd, x, weight, bias=None, last=False, wfmt=None):
    x = v.as_array("x", x)
    weight = v.as_array("weight", weight)
    v.check_ndim("x", x, nd + 2, _layout.data_axes(nd, last))
    v.check_ndim("weight", weight, nd + 2,
                 _weight_axes(nd, wfmt or _layout.WEIGHT_FORMATS[nd][0]))
    if bias is not None:
        bias = v.as_array("bias", bias)
    return x, weight, bias


def _check_channels(x_name, x_shape, C, w_shape, w_in, groups, dfmt, wfmt):
    """The channel count of ``x`` against the weight's input channels under the two
    formats (where ``groups`` divides both: else the problem's own message)."""
    groups = P._groups(groups)
    if C % groups == 0 and C != w_in * groups:
        raise ValueError(f"`weight` of shape {tuple(w_shape)} (weight_format={wfmt!r}) "
                         f"expects {w_in * groups} input channels (C/groups={w_in}, "
                         f"groups={groups}), but `{x_name}` of shape {tuple(x_shape)} "
                         f"(data_format={dfmt!r}) has {C}")


def _kernel_weight(nd, weight, wfmt, last, flip, dt):
    """The weight as the kernels take it: (O, C/groups, *k) for channels-first data,
    (*k, C/groups, O) for channels-last (a view, then a copy only if needed), flipped
    in space if asked."""
    if flip:
        weight = _flip_fmt(weight, wfmt)
    target = _layout.WEIGHT_FORMATS[nd][1 if last else 0]
    return v.contiguous(_layout.weight_view(nd, weight, wfmt, target), dt)


def _bias_only(shape, bias, dt, last, out=None):
    """An output of ``shape`` (``out`` when given) holding the bias (zeros without one): a
    convolution over no input channels."""
    out = v.zero_result(out, "output", shape, dt)
    if bias is not None and out.size:
        b = v.contiguous(v.as_array("bias", bias), dt)
        out += b if last else b.reshape((-1,) + (1,) * (len(shape) - 2))
    return out


def _sum_channels(a, dt, last):
    """grad_bias of ``a`` (grad_output in its layout): summed over all but the channels."""
    axes = tuple(i for i in range(a.ndim) if i != (a.ndim - 1 if last else 1))
    return np.asarray(a, dtype=np.float64).sum(axis=axes).astype(dt)


def run_route(r, arrays, n_threads, dtype):
    """Run one route's kernel with this thread's reused workspace; returns its status.
    A forward kernel with shared scratch (conv.forward.regions, .winograd) gets it here,
    reused across calls too (the Winograd weights of a 512-channel layer are 16 MB:
    fresh pages on every call cost more than their transform)."""
    if r.shared and r.direction == "forward":
        arrays = arrays + (shared_workspace(r.shared, dtype)[:r.shared],)
    return _k.run(r.desc, arrays, workspace(n_threads, r.per_thread, dtype), n_threads)


# ------------------------------------------------------------------ forward


def _mode_problem(nd, x_first, w_oi, stride, padding, dilation, groups, dt, padding_mode,
                  last, x_name="x"):
    """The convolution problem with its padding mode, in the data's layout."""
    p = P.conv(nd, x_first, w_oi, stride, padding, dilation, groups, dt, x_name=x_name,
               padding_mode=padding_mode)
    return p.with_(layout="channels_last") if last else p


def _tap_range(k, s, d, pb, size, out):
    """The taps ``[j0, j1)`` of one axis that read the input for some output position
    (the others read only zero padding)."""
    def inside(j):
        o0 = max(0, -((j * d - pb) // s))                 # first o with o*s + j*d - pb >= 0
        return o0 < out and o0 * s + j * d - pb < size
    used = [j for j in range(k) if inside(j)]
    return (used[0], used[-1] + 1) if used else (0, k)


def _trimmed(p):
    """Channels-last, zero padding: the problem without the kernel's border taps that
    read only padding for every output position (DeepLabV3's ASPP 3x3 with dilation 36
    on 28x28 planes is a 1x1 convolution: the kernel reads 9 taps of which 8 are
    zeros), and the taps kept ``((j0, j1), ...)`` per axis; None where every tap reads
    the input somewhere (dilation 24 there: output rows 24-27 read the outer taps).  (The channels-first kernels skip them themselves: regions.)"""
    if not p.channels_last or p.padding_mode != "zeros" or p.op != "conv":
        return None
    t = get_tuning()
    if any(t.forced(d) is not None for d in ("forward",) + DIRECTIONS):
        return None          # (a forced algorithm is for the problem as called)
    keep = tuple(_tap_range(p.kernel[a], p.stride[a], p.dilation[a], p.pads[a][0],
                            p.spatial[a], p.out[a]) for a in range(p.rank))
    if all(j1 - j0 == k for (j0, j1), k in zip(keep, p.kernel)):
        return None
    pads = tuple((pb - j0 * d, pa - (k - j1) * d) for (j0, j1), k, d, (pb, pa)
                 in zip(keep, p.kernel, p.dilation, p.pads))
    if min(min(pp) for pp in pads) < 0:
        return None
    return p.with_(kernel=tuple(j1 - j0 for j0, j1 in keep), pads=pads), keep


def _trim_weight(wc, keep):
    """The kept taps of a channels-last kernel weight (*k, Cg, O), C-contiguous."""
    return np.ascontiguousarray(wc[tuple(slice(j0, j1) for j0, j1 in keep)])


def _plan_forward(nd, x, weight, bias, stride, padding, dilation, groups, flip,
                  data_format=None, weight_format=None, padding_mode="zeros"):
    last, dfmt, wfmt = _formats(nd, data_format, weight_format)
    x, weight, bias = _arrays(nd, x, weight, bias, last, wfmt)
    dt = v.compute_dtype(x=x, weight=weight, bias=bias)
    flip = v.as_bool("flip", flip)
    x_first = _layout.first_shape(x.shape, last)
    w_oi = _layout.weight_oi_shape(nd, weight.shape, wfmt)
    _check_channels("x", x.shape, x_first[1], weight.shape, w_oi[1], groups, dfmt, wfmt)
    p = _mode_problem(nd, x_first, w_oi, stride, padding, dilation, groups, dt, padding_mode,
                      last)
    if bias is not None and bias.shape != (p.O,):
        raise ValueError(f"`bias` must have shape ({p.O},) to match `weight` of shape "
                         f"{weight.shape}, got {bias.shape}")
    v.check_alloc("output", p.y_shape, dt.itemsize)
    if p.C == 0:   # no input channels: every sum is empty, the output is the bias
        return Plan(f"conv{nd}d", p, (), 0, {"flip": flip, "wfmt": wfmt})
    trim = _trimmed(p)
    q, keep = trim if trim else (p, None)
    return Plan(f"conv{nd}d", p, (route(q, "forward"),), q.N * q.O * q.L * q.Kg,
                {"flip": flip, "wfmt": wfmt, "keep": keep})


def _forward(nd, x, weight, bias, stride, padding, dilation, groups, flip, num_threads,
             data_format=None, weight_format=None, padding_mode="zeros", out=None):
    check_num_threads(num_threads)
    key = make_key(("conv", nd), (x, weight, bias),
                   (stride, padding, dilation, groups, flip, data_format, weight_format,
                    padding_mode))
    plan = PLANS.get(key, lambda: _plan_forward(nd, x, weight, bias, stride, padding,
                                                dilation, groups, flip, data_format,
                                                weight_format, padding_mode))
    if key is None:  # perhaps not ndarrays (a key needs them)
        x, weight, bias = _arrays(nd, x, weight, bias, plan.problem.channels_last,
                                  plan.info["wfmt"])
    if num_threads is PLAN_ONLY:
        return plan
    p = plan.problem
    dt = p.dtype
    # the caller's buffer, checked before anything is written; the kernel writes into it
    out = v.out_array("out", out, p.y_array_shape, dt,
                      (("x", x), ("weight", weight), ("bias", bias)))
    if not plan.routes:   # no input channels
        return _bias_only(p.y_array_shape, bias, dt, p.channels_last, out)
    out = v.result(out, "output", p.y_array_shape, dt)
    if out.size == 0:
        return out
    # C-contiguous buffers of the compute dtype; the kernel checks them against the problem
    xc = v.contiguous(x, dt)
    wc = _kernel_weight(nd, weight, plan.info["wfmt"], p.channels_last, plan.info["flip"], dt)
    if plan.info.get("keep"):
        wc = _trim_weight(wc, plan.info["keep"])
    b = None if bias is None else v.contiguous(bias, dt)
    n_threads = resolve_threads(num_threads, plan.work)
    run_route(plan.routes[0], (xc, wc, b, out), n_threads, dt)
    return out


# ----------------------------------------------------------------- backward


def grad_input(r, p, goc, wc, n_threads, gx=None):
    """grad_input (N, C, *spatial) of the convolution ``p`` with weight ``wc``
    (O, Cg, *k), by its route ``r``, written into ``gx`` when given (else a new array).

    ``as_forward`` (stride 1): grad_output, padded by ``d*(k-1) - p_before`` before and
    by whatever makes the output the input's size after, correlated with the kernel
    flipped in space and transposed in channels, by a forward route.  Otherwise
    ``W^T . grad_output`` tiles, written straight (direct 1x1) or scattered by col2im.
    """
    nd = p.rank
    if r.sub is not None:
        # flipped in space, (G, Og, Cg, T) -> (G, Cg, Og, T): two blocked transposes,
        # (Og, Cg*T) -> (Cg*T, Og) then each (T, Og) -> (Og, T) (NumPy's strided copy of
        # the swapped axes cost up to a third of a small-plane backward)
        T = math.prod(p.kernel)
        wf = np.ascontiguousarray(_flip(wc.reshape((p.groups, p.Og, p.Cg) + p.kernel), nd))
        a = np.empty((p.groups, p.Cg * T, p.Og), p.dtype)
        _k.transpose_last2(wf.reshape(p.groups, p.Og, p.Cg * T), a)
        if T > 1:
            b = np.empty((p.groups * p.Cg, p.Og, T), p.dtype)
            _k.transpose_last2(a.reshape(p.groups * p.Cg, T, p.Og), b)
            a = b
        wf = a.reshape((p.C, p.Og) + p.kernel)
        gx = v.result(gx, "grad_input", p.x_shape, p.dtype)
        run_route(r.sub, (goc, wf, None, gx), n_threads, p.dtype)
        return gx
    wt = np.empty((p.groups, p.Kg, p.Og), p.dtype)
    _k.transpose_last2(np.ascontiguousarray(wc).reshape(p.groups, p.Og, p.Kg), wt)
    gx = v.result(gx, "grad_input", p.x_shape, p.dtype)  # (size checked by the plan) all written
    run_route(r, (goc, wt, gx), n_threads, p.dtype)
    return gx


def grad_input_last(r, p, goc, wc, n_threads, gx=None):
    """grad_input (N, *spatial, C) of the channels-last convolution ``p`` with weight
    ``wc`` (*k, Cg, O), by its route ``r``, written into ``gx`` when given.

    ``as_forward`` (stride 1, one group): the forward route of the padded grad_output
    with the kernel flipped in space and transposed in channels, (*k, Og, C): each tap's
    (Cg, O) block transposed by the blocked transpose.  Otherwise the kernel straight.
    """
    gx = v.result(gx, "grad_input", p.x_array_shape, p.dtype)  # (size checked by the plan) all written
    if r.sub is None:
        run_route(r, (goc, wc, gx), n_threads, p.dtype)
        return gx
    T = math.prod(p.kernel)
    # (taps reversed: the kernel flipped in every spatial axis; in a reused buffer)
    wf = weight_workspace(T * p.O * p.C, p.dtype)[:T * p.O * p.C].reshape(T, p.O, p.C)
    _k.transpose_last2(np.ascontiguousarray(wc).reshape(T, p.C, p.O), wf, True, n_threads)
    run_route(r.sub, (goc, wf.reshape(p.kernel + (p.O, p.C)), None, gx), n_threads, p.dtype)
    return gx


def grad_weight(r, p, goc, xc, n_threads, gw=None):
    """grad_weight (O, Kg) of the convolution ``p``, by its route ``r``, written into
    ``gw`` when given (a C-contiguous (O, Kg) array, else a new one).  The chunked
    routes leave one partial per chunk of samples, summed here in chunk order (the
    same sums for any thread count)."""
    if r.algorithm == "conv.grad_weight.regions":
        gw = v.result(gw, "grad_weight", (p.O, p.Kg), p.dtype)  # every element written
        # (its shared scratch is x channels-last, not partials)
        run_route(r, (goc, xc, gw, np.empty((r.shared,), p.dtype)), n_threads, p.dtype)
        return gw
    if r.shared == 0:
        chunks = r.extra.get("chunks", 1) if r.extra else 1
        if chunks <= 1:
            gw = v.result(gw, "grad_weight", (p.O, p.Kg), p.dtype)  # every element written
            run_route(r, (goc, xc, gw), n_threads, p.dtype)
            return gw
        # rows in chunks of samples: one (O, Kg) partial per chunk, summed in chunk order
        partial = np.empty((chunks, p.O, p.Kg), p.dtype)
        run_route(r, (goc, xc, partial), n_threads, p.dtype)
        return _sum_partials(partial, gw)
    partial = np.empty((r.shared,), p.dtype)  # at most grad_weight_chunks x grad_weight
    run_route(r, (goc, xc, partial), n_threads, p.dtype)
    partial = partial.reshape(-1, p.groups, p.Kg, p.Og)
    summed = partial[0].copy()
    for c in range(1, partial.shape[0]):
        summed += partial[c]
    # (G, Kg, Og) -> (G, Og, Kg) -> (O, Kg)
    gw = (np.empty((p.groups, p.Og, p.Kg), p.dtype) if gw is None
          else gw.reshape(p.groups, p.Og, p.Kg))
    _k.transpose_last2(summed, gw)
    return gw.reshape(p.O, p.Kg)


def _sum_partials(partial, out=None):
    """``partial[0] + partial[1] + ...`` in that order, into ``out`` when given."""
    if out is None:
        out = partial[0].copy()
    else:
        np.copyto(out, partial[0])
    for c in range(1, partial.shape[0]):
        out += partial[c]
    return out


def grad_weight_last(r, p, goc, xc, n_threads, gw=None):
    """grad_weight (*k, C/groups, O) of the channels-last convolution ``p`` by its route
    ``r``, summed into ``gw`` when given: the kernel leaves one partial per chunk of
    samples (``r.shared`` elements in all), summed here in chunk order; with one chunk
    it writes ``gw`` itself."""
    size = p.Kg * p.O
    if r.shared <= size:                    # one chunk: the kernel writes the result
        gw = v.result(gw, "grad_weight", p.w_array_shape, p.dtype)
        run_route(r, (goc, xc, gw), n_threads, p.dtype)
        return gw
    partial = np.empty((r.shared,), p.dtype)
    run_route(r, (goc, xc, partial), n_threads, p.dtype)
    partial = partial[:r.shared // size * size].reshape((-1,) + p.w_array_shape)
    return _sum_partials(partial, gw)


DIRECTIONS = ("grad_input", "grad_weight", "grad_bias")


def _mask_key(mask):
    """``output_mask`` for the plan-cache key: a tuple of bools as ints (which
    validate the same), anything else as it is (then perhaps no key)."""
    if type(mask) is tuple and all(type(m) is bool for m in mask):
        return tuple(map(int, mask))
    return mask


def _output_mask(mask):
    """``output_mask`` as a tuple of 3 bools (grad_input, grad_weight, grad_bias)."""
    if not isinstance(mask, (tuple, list)) or len(mask) != 3:
        raise ValueError(f"`output_mask` must be a tuple of 3 bools (grad_input, grad_weight, "
                         f"grad_bias), got {mask!r}")
    return tuple(v.as_bool("output_mask", m) for m in mask)


def _plan_backward(nd, grad_output, x, weight, stride, padding, dilation, groups, flip,
                   data_format=None, weight_format=None, padding_mode="zeros",
                   output_mask=(True, True, True)):
    last, dfmt, wfmt = _formats(nd, data_format, weight_format)
    grad_output = v.as_array("grad_output", grad_output)
    x, weight, _ = _arrays(nd, x, weight, None, last, wfmt)
    v.check_ndim("grad_output", grad_output, nd + 2,
                 _layout.data_axes(nd, last, ("N", "O"),
                                   {nd: tuple(a + "out" for a in P.SPATIAL_AXES[nd])}))
    dt = v.compute_dtype(grad_output=grad_output, x=x, weight=weight)
    x_first = _layout.first_shape(x.shape, last)
    w_oi = _layout.weight_oi_shape(nd, weight.shape, wfmt)
    _check_channels("x", x.shape, x_first[1], weight.shape, w_oi[1], groups, dfmt, wfmt)
    p = _mode_problem(nd, x_first, w_oi, stride, padding, dilation, groups, dt, padding_mode,
                      last)
    mask = _output_mask(output_mask)
    if grad_output.shape != p.y_array_shape:
        raise ValueError(f"`grad_output` must have shape {p.y_array_shape} (the output of "
                         f"`x` {x.shape} convolved with `weight` {weight.shape}, "
                         f"data_format={dfmt!r}), got {grad_output.shape}")
    flip = v.as_bool("flip", flip)
    for name, shape in (("grad_input", x.shape), ("grad_weight", weight.shape)):
        v.check_alloc(name, shape, dt.itemsize)
    routes = ()
    trim = _trimmed(p) if p.N and p.O and p.C else None
    q, keep = trim if trim else (p, None)
    if p.N and p.O and p.C:
        routes = tuple(route(q, d) for d, m in zip(DIRECTIONS, mask) if m)
    return Plan(f"conv{nd}d_backward", p, routes, q.N * q.O * q.L * q.Kg,
                {"flip": flip, "wfmt": wfmt, "w_shape": weight.shape, "mask": mask,
                 "keep": keep, "trimmed": q})


def _check_grad_outs(out, mask, shapes, dt, inputs):
    """``out=`` of a backward op: a tuple (grad_input, grad_weight, grad_bias) of checked
    buffers or Nones (an entry for a gradient ``mask`` leaves out must be None)."""
    outs = v.out_tuple(out, DIRECTIONS, mask)
    return v.out_arrays(DIRECTIONS, outs, shapes, (dt,) * 3, inputs)


def _backward(nd, grad_output, x, weight, stride, padding, dilation, groups, flip, num_threads,
              data_format=None, weight_format=None, padding_mode="zeros",
              output_mask=(True, True, True), out=None):
    check_num_threads(num_threads)
    key = make_key(("conv_backward", nd), (grad_output, x, weight),
                   (stride, padding, dilation, groups, flip, data_format, weight_format,
                    padding_mode, _mask_key(output_mask)))
    plan = PLANS.get(key, lambda: _plan_backward(nd, grad_output, x, weight, stride, padding,
                                                 dilation, groups, flip, data_format,
                                                 weight_format, padding_mode, output_mask))
    if key is None:
        grad_output = v.as_array("grad_output", grad_output)
        x, weight, _ = _arrays(nd, x, weight, None, plan.problem.channels_last,
                               plan.info["wfmt"])
    if num_threads is PLAN_ONLY:
        return plan
    p = plan.problem
    dt = p.dtype
    wfmt, flip, last = plan.info["wfmt"], plan.info["flip"], p.channels_last
    mask = plan.info["mask"]
    ox, ow, ob = _check_grad_outs(out, mask, (p.x_array_shape, plan.info["w_shape"], (p.O,)),
                                  dt, (("grad_output", grad_output), ("x", x),
                                       ("weight", weight)))
    if not p.N or not p.O or not p.C:  # no samples, no output or no input channels
        return _zero_grads(mask, (p.x_array_shape, plan.info["w_shape"]), (ox, ow, ob),
                           dt, lambda: _sum_channels(grad_output, dt, p.channels_last))
    n_threads = resolve_threads(num_threads, plan.work)
    goc = v.contiguous(grad_output, dt)
    routes = dict(zip([d for d, m in zip(DIRECTIONS, mask) if m], plan.routes))
    keep = plan.info["keep"]
    q = plan.info["trimmed"]      # (the problem without the taps that read only padding)
    gx = gw = gb = None
    if mask[0] or mask[1]:
        xc = v.contiguous(x, dt) if mask[1] else None
        wc = _kernel_weight(nd, weight, wfmt, last, flip, dt) if mask[0] else None
        if wc is not None and keep:
            wc = _trim_weight(wc, keep)
    if mask[0]:
        if last:
            gx = grad_input_last(routes["grad_input"], q, goc, wc, n_threads, ox)
        else:
            gx = grad_input(routes["grad_input"], p, goc, wc, n_threads, ox)
    if mask[1]:
        gw = _grad_weight_in(nd, routes["grad_weight"], q, goc, xc, n_threads, wfmt, flip, ow,
                             keep and (keep, p.w_array_shape))
    if mask[2]:
        gb = v.result(ob, "grad_bias", (p.O,), dt)
        run_route(routes["grad_bias"], (goc, gb), resolve_threads(num_threads, p.N * p.O * p.L),
                  dt)
    return gx, gw, gb


def _zero_grads(mask, shapes, outs, dt, grad_bias):
    """The gradients of a call with nothing to compute: zeros (into the given buffers),
    ``grad_bias()`` for the bias, None where ``mask`` leaves a gradient out."""
    gx, gw = (v.zero_result(o, name, s, dt) if m else None
              for o, name, s, m in zip(outs[:2], DIRECTIONS, shapes, mask[:2]))
    gb = None
    if mask[2]:
        gb = grad_bias()
        if outs[2] is not None:
            np.copyto(outs[2], gb)
            gb = outs[2]
    return gx, gw, gb


def _grad_weight_in(nd, r, p, goc, xc, n_threads, wfmt, flip=False, out=None, trim=None):
    """grad_weight in the weight format ``wfmt`` (C-contiguous), flipped back if asked;
    into ``out`` when given (directly when the kernels' format is ``wfmt`` and nothing is
    flipped, else copied there).  ``trim`` (channels-last, ``_trimmed``'s taps kept and
    the whole kernel's (*k, Cg, O)): ``p`` is the problem without the taps that read only
    padding, whose gradients are zeros."""
    last = p.channels_last
    kernel_fmt = _layout.WEIGHT_FORMATS[nd][1 if last else 0]
    direct = out if out is not None and not flip and wfmt == kernel_fmt else None
    if trim:
        keep, shape = trim
        gw = v.zero_result(direct, "grad_weight", shape, p.dtype)
        gw[tuple(slice(j0, j1) for j0, j1 in keep)] = grad_weight_last(r, p, goc, xc,
                                                                        n_threads)
    elif last:
        gw = grad_weight_last(r, p, goc, xc, n_threads, direct)
    else:
        gw = grad_weight(r, p, goc, xc, n_threads,
                         None if direct is None else direct.reshape(p.O, p.Kg))
        gw = gw.reshape(p.w_shape)
    if direct is not None:
        return out
    if flip:
        gw = _flip_fmt(gw, kernel_fmt)
    gw = _layout.weight_view(nd, gw, kernel_fmt, wfmt)
    if out is not None:
        np.copyto(out, gw)
        return out
    return gw if gw.flags.c_contiguous else np.ascontiguousarray(gw)


# --------------------------------------------------------------- transposed


def _plan_transpose(nd, x, weight, bias, stride, padding, output_padding, groups, dilation,
                    data_format=None, weight_format=None):
    last, dfmt, wfmt = _formats(nd, data_format, weight_format)
    x = v.as_array("x", x)
    weight = v.as_array("weight", weight)
    v.check_ndim("x", x, nd + 2, _layout.data_axes(nd, last, ("N", "Cin")))
    v.check_ndim("weight", weight, nd + 2, _weight_axes(nd, wfmt, "Cin", "Cout/groups"))
    if bias is not None:
        bias = v.as_array("bias", bias)
    dt = v.compute_dtype(x=x, weight=weight, bias=bias)
    x_first = _layout.first_shape(x.shape, last)
    w_oi = _layout.weight_oi_shape(nd, weight.shape, wfmt)
    if w_oi[0] != x_first[1]:
        raise ValueError(f"`weight` of shape {weight.shape} (weight_format={wfmt!r}) expects "
                         f"{w_oi[0]} input channels, but `x` of shape {x.shape} "
                         f"(data_format={dfmt!r}) has {x_first[1]}")
    p, out_sp, Cout = P.conv_transpose(nd, x_first, w_oi, stride, padding,
                                       output_padding, groups, dilation, dt)
    if bias is not None and bias.shape != (Cout,):
        raise ValueError(f"`bias` must have shape ({Cout},), got {bias.shape}")
    out_shape = _layout.data_shape((x.shape[0], Cout) + out_sp, last)
    v.check_alloc("output", out_shape, dt.itemsize)
    info = {"out_shape": out_shape, "dtype": dt, "wfmt": wfmt, "last": last}
    if p is None:
        return Plan(f"conv_transpose{nd}d", None, (), 0, info)
    if last:
        p = p.with_(layout="channels_last")
    return Plan(f"conv_transpose{nd}d", p, (route(p, "grad_input"),), p.N * p.O * p.L * p.Kg,
                info)


def _transpose(nd, x, weight, bias, stride, padding, output_padding, groups, dilation,
               num_threads, data_format=None, weight_format=None, out=None):
    check_num_threads(num_threads)
    key = make_key(("conv_transpose", nd), (x, weight, bias),
                   (stride, padding, output_padding, groups, dilation, data_format,
                    weight_format))
    plan = PLANS.get(key, lambda: _plan_transpose(nd, x, weight, bias, stride, padding,
                                                  output_padding, groups, dilation,
                                                  data_format, weight_format))
    if num_threads is PLAN_ONLY:
        return plan
    dt = plan.info["dtype"]
    if key is None:
        x = v.as_array("x", x)
        weight = v.as_array("weight", weight)
        bias = None if bias is None else v.as_array("bias", bias)
    out = v.out_array("out", out, plan.info["out_shape"], dt,
                      (("x", x), ("weight", weight), ("bias", bias)))
    if plan.problem is None:   # no samples or no output channels, or no input channels
        return _bias_only(plan.info["out_shape"], bias, dt, plan.info["last"], out)
    p = plan.problem
    n_threads = resolve_threads(num_threads, plan.work)
    last = plan.info["last"]
    # the weight read as the underlying convolution's: (O=Cin, Cout/groups, *k), or
    # channels-last (*k, Cout/groups, Cin)
    wc = _kernel_weight(nd, weight, plan.info["wfmt"], last, False, dt)
    xc = v.contiguous(x, dt)
    if last:
        out = grad_input_last(plan.routes[0], p, xc, wc, n_threads, out)
        if bias is not None:
            out += v.contiguous(bias, dt)
        return out
    out = grad_input(plan.routes[0], p, xc, wc, n_threads, out)
    if bias is not None:
        out += v.contiguous(bias, dt).reshape((1, p.C) + (1,) * nd)
    return out


def _plan_transpose_backward(nd, grad_output, x, weight, stride, padding, output_padding,
                             groups, dilation, output_mask, data_format=None,
                             weight_format=None):
    """The transposed convolution y = conv_transpose(x, w) is the grad_input of the
    convolution ``p`` (input y, output x): its gradients are p's forward (grad_input
    = conv(grad_output, w)), p's grad_weight with the roles of its arrays swapped
    (grad_output as p's input, x as p's output gradient), and the sum of grad_output."""
    plan_t = _plan_transpose(nd, x, weight, None, stride, padding, output_padding, groups,
                             dilation, data_format, weight_format)
    info = dict(plan_t.info)
    last, dt = info["last"], info["dtype"]
    grad_output = v.as_array("grad_output", grad_output)
    dfmt = _layout.DATA_FORMATS[nd][last]
    if grad_output.shape != info["out_shape"]:
        raise ValueError(f"`grad_output` must have shape {info['out_shape']} (the output of "
                         f"the transposed convolution of `x` {np.shape(x)} with `weight` "
                         f"{np.shape(weight)}, data_format={dfmt!r}), got "
                         f"{grad_output.shape}")
    dt = v.compute_dtype(grad_output=grad_output, x=x, weight=weight)
    mask = _output_mask(output_mask)
    info.update(dtype=dt, mask=mask, w_shape=np.shape(weight), x_shape=np.shape(x))
    p = plan_t.problem
    if p is None or not p.N:
        return Plan(f"conv_transpose{nd}d_backward", None, (), 0, info)
    p = p.with_(dtype=dt)
    q = p.with_(O=p.C, groups=1, out=p.spatial)          # grad_bias: sums over p's input
    routes = []
    if mask[0]:
        routes.append(route(p, "forward"))
    if mask[1]:
        routes.append(route(p, "grad_weight"))
    if mask[2]:
        routes.append(route(q, "grad_bias"))
    return Plan(f"conv_transpose{nd}d_backward", p, tuple(routes), p.N * p.O * p.L * p.Kg,
                info)


def _transpose_backward(nd, grad_output, x, weight, stride, padding, output_padding, groups,
                        dilation, output_mask, num_threads, data_format=None,
                        weight_format=None, out=None):
    check_num_threads(num_threads)
    key = make_key(("conv_transpose_backward", nd), (grad_output, x, weight),
                   (stride, padding, output_padding, groups, dilation, _mask_key(output_mask),
                    data_format, weight_format))
    plan = PLANS.get(key, lambda: _plan_transpose_backward(
        nd, grad_output, x, weight, stride, padding, output_padding, groups, dilation,
        output_mask, data_format, weight_format))
    if num_threads is PLAN_ONLY:
        return plan
    info = plan.info
    dt, mask, last = info["dtype"], info["mask"], info["last"]
    p = plan.problem
    grad_output = v.as_array("grad_output", grad_output)
    x = v.as_array("x", x)
    weight = v.as_array("weight", weight)
    Cout = _layout.first_shape(info["out_shape"], last)[1]
    ox, ow, ob = _check_grad_outs(out, mask, (info["x_shape"], info["w_shape"], (Cout,)), dt,
                                  (("grad_output", grad_output), ("x", x), ("weight", weight)))
    if p is None:   # no samples, or no output channels: every gradient is zero
        return _zero_grads(mask, (info["x_shape"], info["w_shape"]), (ox, ow, ob), dt,
                           lambda: _sum_channels(grad_output, dt, last))
    n_threads = resolve_threads(num_threads, plan.work)
    goc = v.contiguous(grad_output, dt)
    routes = iter(plan.routes)
    gx = gw = gb = None
    if mask[0]:
        wc = _kernel_weight(nd, weight, info["wfmt"], last, False, dt)
        gx = v.result(ox, "grad_input", p.y_array_shape, dt)
        run_route(next(routes), (goc, wc, None, gx), n_threads, dt)
    if mask[1]:
        gw = _grad_weight_in(nd, next(routes), p, v.contiguous(x, dt), goc, n_threads,
                             info["wfmt"], out=ow)
    if mask[2]:
        gb = v.result(ob, "grad_bias", (p.C,), dt)
        run_route(next(routes), (goc, gb), resolve_threads(num_threads, p.N * p.C * p.L), dt)
    return gx, gw, gb


# ------------------------------------------------------- public functions


def _conv_fn(nd):
    def conv(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, flip=False,
             padding_mode="zeros", data_format=None, weight_format=None, num_threads=None,
             out=None):
        return _forward(nd, x, weight, bias, stride, padding, dilation, groups, flip,
                        num_threads, data_format, weight_format, padding_mode, out)

    return _docs.finish(unbatched(conv, nd + 2, ((0, "x"),)), "conv", nd)


def _conv_backward_fn(nd):
    def conv_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1, *,
                      flip=False, padding_mode="zeros", output_mask=(True, True, True),
                      data_format=None, weight_format=None, num_threads=None, out=None):
        return _backward(nd, grad_output, x, weight, stride, padding, dilation, groups, flip,
                         num_threads, data_format, weight_format, padding_mode, output_mask,
                         out)

    return _docs.finish(unbatched(conv_backward, nd + 2, ((0, "grad_output"), (1, "x"))),
                        "conv_backward", nd)


def _conv_transpose_fn(nd):
    def conv_transpose(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                       dilation=1, *, data_format=None, weight_format=None, num_threads=None,
                       out=None):
        return _transpose(nd, x, weight, bias, stride, padding, output_padding, groups,
                          dilation, num_threads, data_format, weight_format, out)

    return _docs.finish(unbatched(conv_transpose, nd + 2, ((0, "x"),)), "conv_transpose", nd)


conv1d, conv2d, conv3d = (_conv_fn(nd) for nd in (1, 2, 3))
conv1d_backward, conv2d_backward, conv3d_backward = (_conv_backward_fn(nd) for nd in (1, 2, 3))
conv_transpose1d, conv_transpose2d, conv_transpose3d = (_conv_transpose_fn(nd)
                                                        for nd in (1, 2, 3))


def _conv_transpose_backward_fn(nd):
    def conv_transpose_backward(grad_output, x, weight, stride=1, padding=0, output_padding=0,
                                groups=1, dilation=1, *, output_mask=(True, True, True),
                                data_format=None, weight_format=None, num_threads=None,
                                out=None):
        return _transpose_backward(nd, grad_output, x, weight, stride, padding, output_padding,
                                   groups, dilation, output_mask, num_threads, data_format,
                                   weight_format, out)

    return _docs.finish(unbatched(conv_transpose_backward, nd + 2,
                                  ((0, "grad_output"), (1, "x"))),
                        "conv_transpose_backward", nd)


(conv_transpose1d_backward, conv_transpose2d_backward,
 conv_transpose3d_backward) = (_conv_transpose_backward_fn(nd) for nd in (1, 2, 3))
