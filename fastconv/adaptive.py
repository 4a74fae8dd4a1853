"""Adaptive max and average pooling (``torch.nn.functional.adaptive_*_pool*d``), 1-D to 3-D.

Output ``o`` along an axis of input size ``I`` pools the window
``[floor(o*I/O), ceil((o+1)*I/O))`` (torch's rule).  When every output size divides its
input size the windows are those of a plain pooling with ``kernel_size = stride = I/O``
(the global pool of every classifier head is the case ``O = 1``), and the call runs the
plain pooling kernels (the bandwidth-bound reductions for global pooling, in either
layout where they exist); otherwise the adaptive kernels (``_kernels/adaptive_kernels.pxi``).
"""
import math

import numpy as np

from . import _docs
from . import _layout
from . import _problem as P
from . import _validation as v
from ._engine import PLANS, Plan, make_key, route
from ._parallel import PLAN_ONLY, check_num_threads, resolve_threads
from ._unbatched import unbatched
from .conv import run_route
from .pool import pool_outs


def _plain(kind, p, want_indices):
    """The plain pooling problem with the same windows, or None (sizes not divisible)."""
    if any(i % o for i, o in zip(p.spatial, p.out)):
        return None
    k = tuple(i // o for i, o in zip(p.spatial, p.out))
    q = P.pool(kind, p.rank, p.x_shape, k, k, 0, 1, False, p.dtype,
               want_indices=want_indices).with_(layout=p.layout)
    return q if q.out == p.out else None


def _routes(kind, p, direction, want_indices=False):
    """``(problem, route)``: the plain pooling's when it has the same windows and a
    kernel for the layout, else the adaptive kernel's."""
    q = _plain(kind, p, want_indices)
    if q is not None:
        try:
            return q, route(q, direction)
        except ValueError:   # no plain kernel for this layout
            pass
    return p, route(p, direction)


def _input(nd, x, data_format, name="x"):
    last, fmt = _layout.data_format(nd, data_format)
    x = v.as_array(name, x)
    v.check_ndim(name, x, nd + 2, _layout.data_axes(nd, last))
    return x, last, fmt


def _plan_forward(kind, nd, x, output_size, return_indices, data_format):
    x, last, fmt = _input(nd, x, data_format)
    dt = v.compute_dtype(x=x)
    want = v.as_bool("return_indices", return_indices) if kind == "max" else False
    p = P.adaptive(kind, nd, _layout.first_shape(x.shape, last), output_size, dt,
                   want_indices=want)
    p = p.with_(layout="channels_last" if last else "channels_first")
    v.check_alloc("output", p.y_array_shape, dt.itemsize)
    q, r = _routes(kind, p, "forward", want)
    return Plan(f"adaptive_{kind}_pool{nd}d", q, (r,), p.N * p.C * max(p.L, 1) * p.taps,
                {"want": want, "shape": p.y_array_shape})


def _forward(kind, nd, x, output_size, return_indices, data_format, num_threads, out=None):
    check_num_threads(num_threads)
    key = make_key((f"adaptive_{kind}", nd), (x,), (output_size, return_indices, data_format))
    plan = PLANS.get(key, lambda: _plan_forward(kind, nd, x, output_size, return_indices,
                                                data_format))
    x = v.as_array("x", x)
    if num_threads is PLAN_ONLY:
        return plan
    p = plan.problem
    shape = plan.info["shape"]
    out, idx = pool_outs(out, shape, p.dtype, plan.info["want"], (("x", x),))
    out = v.result(out, "output", shape, p.dtype)
    idx = v.result(idx, "indices", shape, np.int64) if plan.info["want"] else None
    if out.size:
        arrays = (v.contiguous(x, p.dtype), out) + ((idx,) if kind == "max" else ())
        run_route(plan.routes[0], arrays, resolve_threads(num_threads, plan.work), p.dtype)
    return (out, idx) if plan.info["want"] else out


def _input_shape(nd, input_shape, last):
    shape = v.int_tuple("input_shape", input_shape, nd + 2, minimum=0, repeat_one=False)
    return _layout.first_shape(shape, last), shape


def _plan_backward(kind, nd, grad_output, indices, input_shape, data_format):
    grad_output, last, fmt = _input(nd, grad_output, data_format, "grad_output")
    first, shape = _input_shape(nd, input_shape, last)
    dt = v.compute_dtype(grad_output=grad_output)
    go_first = _layout.first_shape(grad_output.shape, last)
    p = P.adaptive(kind, nd, first, go_first[2:], dt, x_name="input_shape")
    p = p.with_(layout="channels_last" if last else "channels_first",
                direction="grad_input")
    if grad_output.shape != p.y_array_shape:
        raise ValueError(f"`grad_output` of shape {grad_output.shape} ({fmt}) does not match "
                         f"`input_shape` {shape}: its batch and channels must be "
                         f"{p.N} and {p.C}")
    if kind == "max":
        indices = v.as_array("indices", indices)
        if indices.shape != grad_output.shape:
            raise ValueError(f"`indices` must have the shape of `grad_output` "
                             f"{grad_output.shape}, got {indices.shape}")
        if indices.dtype.kind not in "iu":
            raise TypeError(f"`indices` must be an integer array, got dtype {indices.dtype}")
    v.check_alloc("grad_input", shape, dt.itemsize)
    q, r = _routes(kind, p, "grad_input")
    return Plan(f"adaptive_{kind}_pool{nd}d_backward", q, (r,), grad_output.size * p.taps,
                {"shape": shape})


def _backward(kind, nd, grad_output, indices, input_shape, data_format, num_threads,
              out=None):
    check_num_threads(num_threads)
    arrays = (grad_output, indices) if kind == "max" else (grad_output,)
    key = make_key((f"adaptive_{kind}_backward", nd), arrays, (input_shape, data_format))
    plan = PLANS.get(key, lambda: _plan_backward(kind, nd, grad_output, indices, input_shape,
                                                 data_format))
    grad_output = v.as_array("grad_output", grad_output)
    if num_threads is PLAN_ONLY:
        return plan
    p = plan.problem
    inputs = (("grad_output", grad_output),)
    if kind == "max":
        inputs += (("indices", v.as_array("indices", indices)),)
    gx = v.result(v.out_array("out", out, plan.info["shape"], p.dtype, inputs), "grad_input",
                  plan.info["shape"], p.dtype)
    if gx.size == 0:
        return gx
    if grad_output.size == 0:
        gx[...] = 0
        return gx
    go = v.contiguous(grad_output, p.dtype)
    n = resolve_threads(num_threads, plan.work)
    if kind == "max":
        idx = v.as_array("indices", indices)
        if idx.dtype.kind == "u" and idx.dtype.itemsize == 8 and idx.size and idx.max() > 2**62:
            raise ValueError(f"`indices` holds values outside [0, {math.prod(p.spatial)})")
        idx = v.contiguous(idx, np.int64)
        bad = run_route(plan.routes[0], (go, idx, gx), n, p.dtype)
        if bad:
            raise ValueError(f"`indices` holds {bad} value(s) outside [0, {math.prod(p.spatial)}) "
                             "(offsets within each channel's input volume)")
    else:
        run_route(plan.routes[0], (go, gx), n, p.dtype)
    return gx


def _avg_fn(nd):
    def adaptive_avg_pool(x, output_size, *, data_format=None, num_threads=None, out=None):
        return _forward("avg", nd, x, output_size, False, data_format, num_threads, out)
    return _docs.finish(unbatched(adaptive_avg_pool, nd + 2, ((0, "x"),)), "adaptive_avg_pool",
                        nd)


def _max_fn(nd):
    def adaptive_max_pool(x, output_size, return_indices=False, *, data_format=None,
                          num_threads=None, out=None):
        return _forward("max", nd, x, output_size, return_indices, data_format, num_threads,
                        out)
    return _docs.finish(unbatched(adaptive_max_pool, nd + 2, ((0, "x"),), results="all"),
                        "adaptive_max_pool", nd)


def _avg_backward_fn(nd):
    def adaptive_avg_pool_backward(grad_output, input_shape, *, data_format=None,
                                   num_threads=None, out=None):
        return _backward("avg", nd, grad_output, None, input_shape, data_format, num_threads,
                         out)
    return _docs.finish(unbatched(adaptive_avg_pool_backward, nd + 2, ((0, "grad_output"),),
                                  shapes=((1, "input_shape"),)),
                        "adaptive_avg_pool_backward", nd)


def _max_backward_fn(nd):
    def adaptive_max_pool_backward(grad_output, indices, input_shape, *, data_format=None,
                                   num_threads=None, out=None):
        return _backward("max", nd, grad_output, indices, input_shape, data_format,
                         num_threads, out)
    return _docs.finish(unbatched(adaptive_max_pool_backward, nd + 2,
                                  ((0, "grad_output"), (1, "indices")),
                                  shapes=((2, "input_shape"),)),
                        "adaptive_max_pool_backward", nd)


adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d = (_avg_fn(nd) for nd in (1, 2, 3))
adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d = (_max_fn(nd) for nd in (1, 2, 3))
(adaptive_avg_pool1d_backward, adaptive_avg_pool2d_backward,
 adaptive_avg_pool3d_backward) = (_avg_backward_fn(nd) for nd in (1, 2, 3))
(adaptive_max_pool1d_backward, adaptive_max_pool2d_backward,
 adaptive_max_pool3d_backward) = (_max_backward_fn(nd) for nd in (1, 2, 3))
