"""Max and average pooling, forward and backward, 1-D, 2-D and 3-D (ATen semantics).

The wrappers normalise into a problem (``_problem.pool``), take the plan of the call
from the cache and run its kernel (``_kernels/pool_kernels.pxi``; channels-last data,
``data_format="NHWC"`` and its 1-D / 3-D forms: ``_kernels/nhwc_pool_kernels.pxi``,
reading and writing the arrays in their own layout, indices the channels-first
ones).  The public functions and their docstrings are generated for each rank from
one template each.
"""
import numpy as np

from . import _docs
from . import _layout
from . import _problem as P
from . import _validation as v
from ._engine import PLANS, Plan, make_key, route
from ._parallel import PLAN_ONLY, check_num_threads, resolve_threads
from ._unbatched import unbatched
from .conv import run_route


def _shape_arg(shape):
    """``input_shape`` as a key part: a tuple of ints, else something no key accepts."""
    if type(shape) in (tuple, list) and all(type(s) is int for s in shape):
        return tuple(shape)
    return object()


def _out_axes(nd, last=False, lead=("N", "C")):
    return _layout.data_axes(nd, last, lead, {nd: tuple(a + "out" for a in P.SPATIAL_AXES[nd])})


def _in_layout(p, last):
    """The problem reading (and writing) channels-last arrays when ``last``."""
    return p.with_(layout="channels_last") if last else p


def _first_shape(nd, x, last):
    """``x``'s shape as channels-first (N, C, *sp), after checking its rank."""
    v.check_ndim("x", x, nd + 2, _layout.data_axes(nd, last))
    return _layout.first_shape(x.shape, last)


# -------------------------------------------------------------------- max


def _plan_max(nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
              data_format):
    last, _ = _layout.data_format(nd, data_format)
    x = v.as_array("x", x)
    shape = _first_shape(nd, x, last)
    dt = v.compute_dtype(x=x)
    return_indices = v.as_bool("return_indices", return_indices)
    p = _in_layout(P.pool("max", nd, shape, kernel_size, stride, padding, dilation, ceil_mode,
                          dt, want_indices=return_indices), last)
    v.check_alloc("output", p.y_array_shape, dt.itemsize)
    if return_indices:
        v.check_alloc("indices", p.y_array_shape, 8)
    return Plan(f"max_pool{nd}d", p, (route(p, "forward"),), p.N * p.C * p.L * p.taps)


def pool_outs(out, shape, dtype, want_indices, inputs):
    """``out=`` of a pooling forward, checked: ``(output buffer or None, indices buffer or
    None)``.  With ``return_indices`` it is a tuple ``(out, indices)`` (either entry may
    be None), else one array."""
    if want_indices:
        outs = v.out_tuple(out, ("out", "indices"))
        return v.out_arrays(("out", "indices"), outs, (shape, shape), (dtype, np.int64),
                            inputs)
    if isinstance(out, tuple):
        raise TypeError("`out` must be one array (or None) without `return_indices`, got a "
                        "tuple")
    return v.out_array("out", out, shape, dtype, inputs), None


def _pool_forward(plan, x, num_threads, out=None):
    """Run a pooling plan on ``x``: the output (and, for max pooling with
    return_indices, the indices), into the buffers of ``out`` when given."""
    x = v.as_array("x", x)
    if num_threads is PLAN_ONLY:
        return plan
    p = plan.problem
    want = p.op == "max_pool" and p.want_indices
    out, indices = pool_outs(out, p.y_array_shape, p.dtype, want, (("x", x),))
    out = v.result(out, "output", p.y_array_shape, p.dtype)
    arrays = (v.contiguous(x, p.dtype), out)
    if p.op == "max_pool":
        indices = v.result(indices, "indices", p.y_array_shape, np.int64) if want else None
        arrays += (indices,)
    if out.size:
        run_route(plan.routes[0], arrays, resolve_threads(num_threads, plan.work), p.dtype)
    return (out, arrays[2]) if p.want_indices else out


def _max_pool(nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
              data_format, num_threads, out=None):
    check_num_threads(num_threads)
    key = make_key(("max_pool", nd), (x,), (kernel_size, stride, padding, dilation, ceil_mode,
                                            return_indices, data_format))
    return _pool_forward(PLANS.get(key, lambda: _plan_max(nd, x, kernel_size, stride, padding,
                                                          dilation, ceil_mode, return_indices,
                                                          data_format)),
                         x, num_threads, out)


def _plan_max_backward(nd, grad_output, indices, input_shape, data_format):
    last, fmt = _layout.data_format(nd, data_format)
    grad_output = v.as_array("grad_output", grad_output)
    indices = v.as_array("indices", indices)
    shape = v.shape_tuple("input_shape", input_shape, nd + 2)
    v.check_ndim("grad_output", grad_output, nd + 2, _out_axes(nd, last))
    if indices.dtype.kind not in "iu":
        raise TypeError(f"`indices` must be an integer array, got dtype {indices.dtype}")
    if indices.shape != grad_output.shape:
        raise ValueError(f"`indices` of shape {indices.shape} must have the shape of "
                         f"`grad_output` {grad_output.shape}")
    N, C, *spatial = _layout.first_shape(shape, last)
    out = _layout.first_shape(grad_output.shape, last)
    if out[:2] != (N, C):
        raise ValueError(f"`grad_output` of shape {grad_output.shape} does not match the batch "
                         f"and channels of `input_shape`={shape} (`data_format`={fmt!r}: "
                         f"{_layout.data_axes(nd, last)})")
    dt = v.compute_dtype(grad_output=grad_output)
    v.check_alloc("grad_input", shape, dt.itemsize)
    # the problem of routing grad_output (N, C, *out) into a volume of input_shape
    p = _in_layout(P.Problem("max_pool", nd, N, C, C, 1, tuple(spatial), tuple(out[2:]),
                             (1,) * nd, (1,) * nd, (1,) * nd, ((0, 0),) * nd, dt,
                             direction="grad_input"), last)
    routes = (route(p, "grad_input"),) if grad_output.size else ()
    return Plan(f"max_pool{nd}d_backward", p, routes, grad_output.size)


def _max_pool_backward(nd, grad_output, indices, input_shape, data_format, num_threads,
                       out=None):
    check_num_threads(num_threads)
    key = make_key(("max_pool_backward", nd), (grad_output, indices),
                   (_shape_arg(input_shape), data_format))
    plan = PLANS.get(key, lambda: _plan_max_backward(nd, grad_output, indices, input_shape,
                                                     data_format))
    grad_output = v.as_array("grad_output", grad_output)
    indices = v.as_array("indices", indices)
    if num_threads is PLAN_ONLY:
        return plan
    p = plan.problem
    out = v.out_array("out", out, p.x_array_shape, p.dtype,
                      (("grad_output", grad_output), ("indices", indices)))
    if not plan.routes:
        return v.zero_result(out, "grad_input", p.x_array_shape, p.dtype)
    if indices.dtype.kind == "u" and indices.dtype.itemsize == 8 and indices.max() > 2**62:
        raise ValueError(f"`indices` has entries outside [0, {int(np.prod(p.spatial))})")
    grad_input = v.result(out, "grad_input", p.x_array_shape, p.dtype)  # the kernel zeroes it
    bad = run_route(plan.routes[0], (v.contiguous(grad_output, p.dtype),
                                     v.contiguous(indices, np.int64), grad_input),
                    resolve_threads(num_threads, plan.work), p.dtype)
    if bad:
        raise ValueError(f"`indices` has {bad} entries outside [0, {int(np.prod(p.spatial))}) "
                         f"for `input_shape`={p.x_array_shape}")
    return grad_input


# -------------------------------------------------------------------- avg


def _avg_problem(nd, shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                 divisor_override, dt, x_name="x"):
    count_include_pad = v.as_bool("count_include_pad", count_include_pad)
    divisor = P.divisor_override(divisor_override)
    return P.pool("avg", nd, shape, kernel_size, stride, padding, 1, ceil_mode, dt,
                  x_name=x_name, count_include_pad=count_include_pad, divisor=divisor)


def _plan_avg(nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, data_format):
    last, _ = _layout.data_format(nd, data_format)
    x = v.as_array("x", x)
    shape = _first_shape(nd, x, last)
    dt = v.compute_dtype(x=x)
    p = _in_layout(_avg_problem(nd, shape, kernel_size, stride, padding, ceil_mode,
                                count_include_pad, divisor_override, dt), last)
    v.check_alloc("output", p.y_array_shape, dt.itemsize)
    return Plan(f"avg_pool{nd}d", p, (route(p, "forward"),), p.N * p.C * p.L * p.taps)


def _avg_pool(nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, data_format, num_threads, out=None):
    check_num_threads(num_threads)
    key = make_key(("avg_pool", nd), (x,), (kernel_size, stride, padding, ceil_mode,
                                            count_include_pad, divisor_override, data_format))
    return _pool_forward(PLANS.get(key, lambda: _plan_avg(nd, x, kernel_size, stride, padding,
                                                          ceil_mode, count_include_pad,
                                                          divisor_override, data_format)),
                         x, num_threads, out)


def _plan_avg_backward(nd, grad_output, input_shape, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override, data_format):
    last, fmt = _layout.data_format(nd, data_format)
    grad_output = v.as_array("grad_output", grad_output)
    shape = v.shape_tuple("input_shape", input_shape, nd + 2)
    v.check_ndim("grad_output", grad_output, nd + 2, _out_axes(nd, last))
    dt = v.compute_dtype(grad_output=grad_output)
    p = _in_layout(_avg_problem(nd, _layout.first_shape(shape, last), kernel_size, stride,
                                padding, ceil_mode, count_include_pad, divisor_override, dt,
                                x_name="input_shape"), last)
    if grad_output.shape != p.y_array_shape:
        raise ValueError(f"`grad_output` must have shape {p.y_array_shape} (the pooled "
                         f"`input_shape`={shape}, `data_format`={fmt!r}: "
                         f"{_layout.data_axes(nd, last)}), got {grad_output.shape}")
    v.check_alloc("grad_input", shape, dt.itemsize)
    p = p.with_(direction="grad_input")
    routes = (route(p, "grad_input"),) if grad_output.size else ()
    return Plan(f"avg_pool{nd}d_backward", p, routes, p.N * p.C * p.L * p.taps)


def _avg_pool_backward(nd, grad_output, input_shape, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override, data_format, num_threads,
                       out=None):
    check_num_threads(num_threads)
    key = make_key(("avg_pool_backward", nd), (grad_output,),
                   (_shape_arg(input_shape), kernel_size, stride, padding, ceil_mode, count_include_pad,
                    divisor_override, data_format))
    plan = PLANS.get(key, lambda: _plan_avg_backward(nd, grad_output, input_shape, kernel_size,
                                                     stride, padding, ceil_mode,
                                                     count_include_pad, divisor_override,
                                                     data_format))
    grad_output = v.as_array("grad_output", grad_output)
    if num_threads is PLAN_ONLY:
        return plan
    p = plan.problem
    out = v.out_array("out", out, p.x_array_shape, p.dtype, (("grad_output", grad_output),))
    if not plan.routes:
        return v.zero_result(out, "grad_input", p.x_array_shape, p.dtype)
    grad_input = v.result(out, "grad_input", p.x_array_shape, p.dtype)  # all written
    run_route(plan.routes[0], (v.contiguous(grad_output, p.dtype), grad_input),
              resolve_threads(num_threads, plan.work), p.dtype)
    return grad_input


# ------------------------------------------------------- public functions


def _max_pool_fn(nd):
    def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                 return_indices=False, *, data_format=None, num_threads=None, out=None):
        return _max_pool(nd, x, kernel_size, stride, padding, dilation, ceil_mode,
                         return_indices, data_format, num_threads, out)

    return _docs.finish(unbatched(max_pool, nd + 2, ((0, "x"),), results="all"), "max_pool",
                        nd)


def _max_pool_backward_fn(nd):
    def max_pool_backward(grad_output, indices, input_shape, *, data_format=None,
                          num_threads=None, out=None):
        return _max_pool_backward(nd, grad_output, indices, input_shape, data_format,
                                  num_threads, out)

    return _docs.finish(unbatched(max_pool_backward, nd + 2,
                                  ((0, "grad_output"), (1, "indices")),
                                  shapes=((2, "input_shape"),)),
                        "max_pool_backward", nd)


def _avg_pool_fn(nd):
    def avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None, *, data_format=None,
                 num_threads=None, out=None):
        return _avg_pool(nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                         divisor_override, data_format, num_threads, out)

    return _docs.finish(unbatched(avg_pool, nd + 2, ((0, "x"),)), "avg_pool", nd)


def _avg_pool_backward_fn(nd):
    def avg_pool_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                          ceil_mode=False, count_include_pad=True, divisor_override=None, *,
                          data_format=None, num_threads=None, out=None):
        return _avg_pool_backward(nd, grad_output, input_shape, kernel_size, stride, padding,
                                  ceil_mode, count_include_pad, divisor_override, data_format,
                                  num_threads, out)

    return _docs.finish(unbatched(avg_pool_backward, nd + 2, ((0, "grad_output"),),
                                  shapes=((1, "input_shape"),)),
                        "avg_pool_backward", nd)


max_pool1d, max_pool2d, max_pool3d = (_max_pool_fn(nd) for nd in (1, 2, 3))
max_pool1d_backward, max_pool2d_backward, max_pool3d_backward = (
    _max_pool_backward_fn(nd) for nd in (1, 2, 3))
avg_pool1d, avg_pool2d, avg_pool3d = (_avg_pool_fn(nd) for nd in (1, 2, 3))
avg_pool1d_backward, avg_pool2d_backward, avg_pool3d_backward = (
    _avg_pool_backward_fn(nd) for nd in (1, 2, 3))
