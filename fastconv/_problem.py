"""The problem descriptor, and the one normaliser that builds it for every op.

A :class:`Problem` describes one op (convolution, max or average pooling, unfold)
of rank 1 to 3: batch, channels, spatial sizes, kernel, stride, dilation, padding
(before, after) per dimension, groups, dtype, the layout of every array (element
strides), the padding mode and the direction.  ``_window`` is the only place a
window is normalised (kernel, stride, dilation, padding, and the output size from
``_validation.output_shape``, the one output-size rule); the op-specific
functions below add their checks.  ``Problem.desc()`` gives the C struct the
kernels take (``fastconv._kernels._engine.Desc``).
"""
import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from . import _validation as v
from ._layout import data_shape
from ._kernels import _engine

OPS = {"conv": 0, "max_pool": 1, "avg_pool": 2, "unfold": 3, "adaptive_max_pool": 4,
       "adaptive_avg_pool": 5}
DIRECTIONS = {"forward": 0, "grad_input": 1, "grad_weight": 2, "grad_bias": 3}
PADDING_MODES = {"zeros": 0, "reflect": 1, "replicate": 2, "circular": 3}

# the names of the data axes, by rank: (N, C, L), (N, C, H, W), (N, C, D, H, W)
SPATIAL_AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
KERNEL_AXES = {1: ("k",), 2: ("kH", "kW"), 3: ("kD", "kH", "kW")}


def axes(nd, lead=("N", "C"), names=None):
    """``'(N, C, H, W)'``-style description of an array of rank ``nd + 2``."""
    return "(" + ", ".join(tuple(lead) + (names or SPATIAL_AXES)[nd]) + ")"


def _c_strides(shape):
    strides, step = [], 1
    for s in reversed(shape):
        strides.append(step)
        step *= max(int(s), 1)
    return tuple(reversed(strides))


@dataclass(frozen=True)
class Problem:
    """One op in one direction (see the module docstring).  The derived sizes are
    computed once (cached properties: the wrappers read them on every call)."""

    op: str                 # 'conv' | 'max_pool' | 'avg_pool' | 'unfold'
    rank: int               # spatial dimensions: 1, 2 or 3
    N: int
    C: int
    O: int                  # output channels (pooling and unfold: C)
    groups: int
    spatial: tuple          # input sizes
    out: tuple              # output sizes
    kernel: tuple
    stride: tuple
    dilation: tuple
    pads: tuple             # ((before, after), ...)
    dtype: np.dtype
    direction: str = "forward"
    padding_mode: str = "zeros"
    layout: str = "channels_first"   # or "channels_last": where the channel axis of x, y is
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor: int = 0        # avg pooling's divisor_override (0: none)
    want_indices: bool = False

    @cached_property
    def Cg(self):
        return self.C // self.groups

    @cached_property
    def Og(self):
        return self.O // self.groups

    @cached_property
    def taps(self):
        return math.prod(self.kernel)

    @cached_property
    def Kg(self):
        return self.Cg * self.taps

    @cached_property
    def L(self):
        return math.prod(self.out)

    @cached_property
    def x_shape(self):
        return (self.N, self.C) + tuple(self.spatial)

    @cached_property
    def y_shape(self):
        return (self.N, self.O) + tuple(self.out)

    @cached_property
    def w_shape(self):
        return (self.O, self.Cg) + tuple(self.kernel)

    @cached_property
    def channels_last(self):
        return self.layout == "channels_last"

    @cached_property
    def x_array_shape(self):
        """The shape of the x (and grad_input) array the kernels take: ``x_shape`` in the
        problem's layout, ``(N, *spatial, C)`` when channels-last."""
        return data_shape(self.x_shape, self.channels_last)

    @cached_property
    def y_array_shape(self):
        """The shape of the output (and grad_output) array, in the problem's layout."""
        return data_shape(self.y_shape, self.channels_last)

    @cached_property
    def w_array_shape(self):
        """The shape of the weight (and grad_weight) array the kernels take: ``w_shape``
        (O, C/groups, *k) channels-first, ``(*k, C/groups, O)`` channels-last."""
        if self.channels_last:
            return tuple(self.kernel) + (self.Cg, self.O)
        return self.w_shape

    @property
    def strides(self):
        """Element strides of x, y and the weight (channels-first, C-contiguous)."""
        if self.channels_last:   # indexed as x_shape, y_shape, w_shape
            def perm(st, order):
                return tuple(st[i] for i in order)
            nd = self.rank
            back = (0, nd + 1) + tuple(range(1, nd + 1))        # (N, *sp, C) -> (N, C, *sp)
            wback = (nd + 1, nd) + tuple(range(nd))              # (*k, Cg, O) -> (O, Cg, *k)
            return {"x": perm(_c_strides(self.x_array_shape), back),
                    "y": perm(_c_strides(self.y_array_shape), back),
                    "weight": perm(_c_strides(self.w_array_shape), wback)}
        return {"x": _c_strides(self.x_shape), "y": _c_strides(self.y_shape),
                "weight": _c_strides(self.w_shape)}

    def with_(self, **changes):
        return replace(self, **changes)

    def desc(self):
        """The C struct of this problem (no algorithm chosen yet)."""
        return _engine.Desc(OPS[self.op], DIRECTIONS[self.direction], self.rank,
                            self.dtype.itemsize, self.N, self.C, self.O, self.groups,
                            self.spatial, self.out, self.kernel, self.stride, self.dilation,
                            self.pads, padding_mode=PADDING_MODES[self.padding_mode],
                            count_include_pad=self.count_include_pad,
                            want_indices=self.want_indices, divisor=self.divisor,
                            channels_last=self.channels_last)


# ------------------------------------------------------------------- window


def _window(nd, spatial, kernel, stride, padding, dilation, ceil_mode=False, *,
            allow_strings=True):
    """The one window normaliser: ``(stride, dilation, pads, out)`` for ``kernel``
    (already a tuple) over ``spatial``; ``stride=None`` means the kernel."""
    stride = kernel if stride is None else v.int_tuple("stride", stride, nd)
    dilation = v.int_tuple("dilation", dilation, nd)
    pads = v.padding_pairs("padding", padding, nd, spatial=spatial, kernel=kernel, stride=stride,
                           dilation=dilation, allow_strings=allow_strings)
    out = v.output_shape(spatial, kernel, stride, pads, dilation, ceil_mode)
    return stride, dilation, pads, out


def _groups(groups):
    groups = v.as_int("groups", groups)
    if groups < 1:
        raise ValueError(f"`groups` must be a positive int, got {groups}")
    return groups


# ------------------------------------------------------------- convolution


def check_padding_mode(mode, spatial, pads, x_name="x"):
    """The problem's padding mode: ``mode`` checked (one of PADDING_MODES, and padding the
    mode can build: reflect below the input size, circular at most it, as torch), and
    'zeros' when there is no padding at all (every mode is the same then)."""
    if not isinstance(mode, str):
        raise TypeError(f"`padding_mode` must be a str (one of "
                        f"{', '.join(map(repr, PADDING_MODES))}), got {type(mode).__name__}")
    if mode not in PADDING_MODES:
        raise ValueError(f"`padding_mode` must be one of {', '.join(map(repr, PADDING_MODES))}, "
                         f"got {mode!r}")
    if all(b == 0 and a == 0 for b, a in pads):
        return "zeros"
    for j, ((b, a), n) in enumerate(zip(pads, spatial)):
        if mode == "reflect" and max(b, a) >= n:
            raise ValueError(f"`padding_mode`='reflect' needs padding smaller than the input: "
                             f"padding {(b, a)} along spatial axis {j} of `{x_name}`, whose "
                             f"size is {n}")
        if mode == "circular" and max(b, a) > n:
            raise ValueError(f"`padding_mode`='circular' needs padding at most the input size: "
                             f"padding {(b, a)} along spatial axis {j} of `{x_name}`, whose "
                             f"size is {n}")
    return mode


def conv(nd, x_shape, w_shape, stride, padding, dilation, groups, dtype, *, x_name="x",
         padding_mode="zeros"):
    """The problem of a convolution ``x (N, C, *sp) * weight (O, C/groups, *k)``
    (``padding_mode``: see :func:`check_padding_mode`)."""
    groups = _groups(groups)
    N, C, *spatial = x_shape
    O, Cg, *kernel = w_shape
    if min(spatial) < 1:       # (no input channels is allowed: every sum is empty)
        raise ValueError(f"`{x_name}` of shape {tuple(x_shape)} must have non-empty spatial "
                         "dimensions")
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
    spatial, kernel = tuple(spatial), tuple(kernel)
    stride = v.int_tuple("stride", stride, nd)
    stride, dilation, pads, out = _window(nd, spatial, kernel, stride, padding, dilation)
    return Problem("conv", nd, N, C, O, groups, spatial, out, kernel, stride, dilation, pads,
                   np.dtype(dtype),
                   padding_mode=check_padding_mode(padding_mode, spatial, pads, x_name))


def conv_transpose(nd, x_shape, w_shape, stride, padding, output_padding, groups, dilation,
                   dtype):
    """``(problem, out_spatial)`` of a transposed convolution: the problem is the
    convolution whose grad_input it computes, mapping an (N, Cout, *out_spatial) input
    to x's spatial size (its ``out``) with the weight read as (O=Cin, Cout/groups, *k).
    ``problem`` is None when the output has no channels or no samples, or the input no
    channels (the output is then the bias alone)."""
    groups = _groups(groups)
    N, Cin, *spatial = x_shape
    Cw, Cog, *kernel = w_shape
    if min(spatial) < 1 or min(kernel) < 1:
        raise ValueError(f"`x` of shape {tuple(x_shape)} and `weight` of shape {tuple(w_shape)} "
                         "must have non-empty spatial and kernel dimensions")
    if Cw != Cin:
        raise ValueError(f"`weight` of shape {tuple(w_shape)} expects {Cw} input channels, but "
                         f"`x` of shape {tuple(x_shape)} has {Cin}")
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
        raise ValueError(f"`x` of shape {tuple(x_shape)} with `weight` {tuple(w_shape)}, "
                         f"`stride`={stride}, `padding`={padding}, `dilation`={dilation} gives "
                         f"an empty output {out_sp}")
    Cout = Cog * groups
    if Cout == 0 or N == 0 or Cin == 0:
        return None, out_sp, Cout
    p = conv(nd, (N, Cout) + out_sp, w_shape, stride, pads, dilation, groups, dtype,
             x_name="output")
    # With output_padding >= stride (allowed when dilation is larger) that convolution
    # would have a longer output than x; the scatter is still exact.
    return p.with_(out=tuple(spatial)), out_sp, Cout


# ------------------------------------------------------------------ pooling


def _has_empty_window(i, k, s, pad, d, out):
    """Whether some dilated window along one dimension holds no input element."""
    start = np.arange(out, dtype=np.int64) * s - pad[0]
    first_tap = np.maximum(0, (d - 1 - start) // d)          # first t with start + t*d >= 0
    last_tap = np.minimum(k - 1, (i - 1 - start) // d)       # last t with start + t*d <= i - 1
    return bool(np.any(first_tap > last_tap))


def divisor_override(value):
    """avg pooling's ``divisor_override``: None (0 in the problem) or a positive int."""
    if value is None:
        return 0
    value = v.as_int("divisor_override", value)
    if value < 1:
        raise ValueError(f"`divisor_override` must be a positive int or None, got {value}")
    if value > v.MAX_PARAM:
        raise ValueError(f"`divisor_override`={value} is too large (limit {v.MAX_PARAM})")
    return value


def pool(kind, nd, x_shape, kernel_size, stride, padding, dilation, ceil_mode, dtype, *,
         x_name="x", count_include_pad=True, divisor=0, want_indices=False):
    """The problem of max (``kind='max'``) or average pooling over ``x_shape``."""
    N, C, *spatial = x_shape
    spatial = tuple(spatial)
    if min(spatial) < 1:
        raise ValueError(f"`{x_name}` of shape {tuple(x_shape)} must have non-empty spatial "
                         "dimensions")
    kernel = v.int_tuple("kernel_size", kernel_size, nd)
    if isinstance(stride, (tuple, list)) and len(stride) == 0:
        stride = None                      # torch: stride=() means the default
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
    stride, dilation, pads, out = _window(nd, spatial, kernel, stride, pads, dilation, ceil_mode)
    if kind == "max":
        if int(np.prod(kernel, dtype=object)) >= 2**31:
            raise ValueError(f"`kernel_size`={kernel} has more than 2**31 elements")
        for j in range(nd):
            if dilation[j] > 1 and _has_empty_window(spatial[j], kernel[j], stride[j], pads[j],
                                                     dilation[j], out[j]):
                raise ValueError(f"`kernel_size`={kernel} with `dilation`={dilation} and "
                                 f"`padding`={padding!r} leaves a window with no element of "
                                 f"`{x_name}` of shape {tuple(x_shape)}")
    return Problem("max_pool" if kind == "max" else "avg_pool", nd, N, C, C, 1, spatial, out,
                   kernel, stride, dilation, pads, np.dtype(dtype), ceil_mode=ceil_mode,
                   count_include_pad=count_include_pad, divisor=divisor,
                   want_indices=want_indices)


# ------------------------------------------------------------------- unfold


def unfold(N, C, image_size, kernel_size, dilation, padding, stride, dtype):
    """The problem of im2col / col2im (2-D) on images of ``image_size``."""
    kernel = v.int_tuple("kernel_size", kernel_size, 2)
    dil = v.int_tuple("dilation", dilation, 2)
    strd = v.int_tuple("stride", stride, 2)
    stride, dil, pads, out = _window(2, tuple(image_size), kernel, strd, padding, dil)
    return Problem("unfold", 2, N, C, C, 1, tuple(image_size), out, kernel, stride, dil, pads,
                   np.dtype(dtype))


# --------------------------------------------------------------- adaptive pooling


def adaptive_output_size(nd, output_size, spatial):
    """``output_size`` as ``nd`` positive ints: an int, or a tuple (a 1-tuple repeats)
    whose ``None`` entries keep the input's size."""
    if output_size is None:
        return tuple(spatial)
    if isinstance(output_size, (tuple, list)):
        sizes = tuple(output_size)
        if len(sizes) == 1 and nd > 1:
            sizes = sizes * nd
        if len(sizes) != nd:
            raise ValueError(f"`output_size` must be an int or a tuple of {nd} ints or None, "
                             f"got {output_size!r}")
        sizes = tuple(spatial[j] if sizes[j] is None else sizes[j] for j in range(nd))
    else:
        sizes = output_size
    return v.int_tuple("output_size", sizes, nd)


def adaptive(kind, nd, x_shape, output_size, dtype, *, want_indices=False, x_name="x"):
    """The problem of adaptive max (``kind='max'``) or average pooling of ``x_shape``
    (channels-first) to ``output_size``; ``kernel`` holds the largest window per axis."""
    N, C, *spatial = x_shape
    spatial = tuple(spatial)
    if min(spatial) < 1:
        raise ValueError(f"`{x_name}` of shape {tuple(x_shape)} must have non-empty spatial "
                         "dimensions")
    out = adaptive_output_size(nd, output_size, spatial)
    for j in range(nd):
        if spatial[j] * out[j] >= 2**62:
            raise ValueError(f"`output_size`={output_size!r} is too large for `{x_name}` of "
                             f"shape {tuple(x_shape)}")
    kernel = tuple(-(-spatial[j] // out[j]) + (spatial[j] % out[j] != 0) for j in range(nd))
    kernel = tuple(min(k, s) for k, s in zip(kernel, spatial))
    ones = (1,) * nd
    return Problem("adaptive_max_pool" if kind == "max" else "adaptive_avg_pool", nd, N, C, C,
                   1, spatial, out, kernel, ones, ones, ((0, 0),) * nd, np.dtype(dtype),
                   want_indices=want_indices)
