"""Data and weight layouts: the ``data_format=`` and ``weight_format=`` keywords.

TensorFlow's strings.  Data: ``"NCW"`` / ``"NWC"`` (1-D), ``"NCHW"`` / ``"NHWC"``
(2-D), ``"NCDHW"`` / ``"NDHWC"`` (3-D); the default is channels-first.  Weights:
``"OIHW"`` (torch), ``"HWIO"`` (TensorFlow / JAX), ``"OHWI"`` (oneDNN / XNNPACK /
TFLite) and their 1-D (``"OIW"``, ``"WIO"``, ``"OWI"``) and 3-D (``"OIDHW"``,
``"DHWIO"``, ``"ODHWI"``) forms; the default is ``"OI..."`` for channels-first data
and ``"...IO"`` for channels-last data (as TensorFlow and JAX).  ``I`` is the input
channels per group, ``O`` the output channels (for a transposed convolution, the
letters name the axes of the convolution whose input gradient it is: its ``O`` is the
transposed convolution's input channels).

The problem (``_problem``) is always described channels-first ((N, C, *sp) and
(O, C/groups, *k) shapes); ``Problem.layout`` says which layout the kernels read.
The channels-last kernels take x and y as C-contiguous ``(N, *sp, C)`` arrays and the
weight as a C-contiguous ``(*k, C/groups, O)`` array (``"...IO"``): a weight given in
another format is transposed into that form (it is small), never the data.
"""
import numpy as np

DATA_FORMATS = {1: ("NCW", "NWC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}
_SP = {1: "W", 2: "HW", 3: "DHW"}
WEIGHT_FORMATS = {nd: ("OI" + sp, sp + "IO", "O" + sp + "I") for nd, sp in _SP.items()}
LAYOUTS = ("channels_first", "channels_last")


def data_format(nd, value, name="data_format"):
    """``(channels_last, format string)`` of a ``data_format`` argument (None: the
    channels-first default)."""
    first, last = DATA_FORMATS[nd]
    if value is None:
        return False, first
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a str ({first!r} or {last!r}), got "
                        f"{type(value).__name__}")
    if value == first:
        return False, value
    if value == last:
        return True, value
    others = [f for k, fs in DATA_FORMATS.items() if k != nd for f in fs]
    hint = (f" ({value!r} is a {len(value) - 2}-D format)" if value in others else "")
    raise ValueError(f"`{name}` must be {first!r} or {last!r} for a {nd}-D op, got "
                     f"{value!r}{hint}")


def weight_format(nd, value, channels_last, name="weight_format"):
    """The ``weight_format`` string (None: ``"OI..."`` for channels-first data,
    ``"...IO"`` for channels-last)."""
    fmts = WEIGHT_FORMATS[nd]
    if value is None:
        return fmts[1] if channels_last else fmts[0]
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a str (one of {', '.join(map(repr, fmts))}), got "
                        f"{type(value).__name__}")
    if value not in fmts:
        raise ValueError(f"`{name}` must be one of {', '.join(map(repr, fmts))} for a {nd}-D "
                         f"op, got {value!r}")
    return value


def _weight_axes(nd, fmt):
    """The permutation taking an array in ``fmt`` to (O, I, *k)."""
    return tuple(fmt.index(a) for a in "OI" + _SP[nd])


def weight_oi_shape(nd, shape, fmt):
    """A weight shape in ``fmt``, as (O, I, *k)."""
    return tuple(shape[i] for i in _weight_axes(nd, fmt))


def weight_from_oi_shape(nd, oi_shape, fmt):
    """An (O, I, *k) shape in ``fmt``."""
    inv = np.argsort(_weight_axes(nd, fmt))
    return tuple(oi_shape[i] for i in inv)


def weight_view(nd, w, fmt, target):
    """The weight ``w`` given in ``fmt``, viewed (no copy) in ``target``."""
    if fmt == target:
        return w
    to_oi = _weight_axes(nd, fmt)
    inv = np.argsort(_weight_axes(nd, target))
    return w.transpose(tuple(to_oi[i] for i in inv))


def data_shape(shape, channels_last):
    """A channels-first ``(N, C, *sp)`` shape in the layout: ``(N, *sp, C)`` if last."""
    shape = tuple(shape)
    return (shape[0],) + shape[2:] + (shape[1],) if channels_last else shape


def first_shape(shape, channels_last):
    """A data shape in the layout, as channels-first ``(N, C, *sp)``."""
    shape = tuple(shape)
    return (shape[0], shape[-1]) + shape[1:-1] if channels_last else shape


def data_axes(nd, channels_last, lead=("N", "C"), names=None):
    """``'(N, H, W, C)'``-style description of a data array in the layout."""
    from ._problem import SPATIAL_AXES
    sp = (names or SPATIAL_AXES)[nd]
    parts = (lead[0],) + tuple(sp) + (lead[1],) if channels_last else tuple(lead) + tuple(sp)
    return "(" + ", ".join(parts) + ")"
