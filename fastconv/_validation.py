"""Argument normalisation shared by every public op.

Everything a kernel needs is decided here, in Python, before any compiled code
runs: integer tuples, per-side padding, output sizes, the compute dtype, and
C-contiguous buffers.  Kernels then see one dtype and contiguous memory, and
never raise.

All size arithmetic uses Python integers (exact), and every size handed to a
kernel is checked to fit comfortably in a signed 64-bit ``Py_ssize_t``.
"""
import operator

import numpy as np

# Largest value accepted for any single kernel_size / stride / dilation / padding.
MAX_PARAM = 2**40
# Largest padded extent, element count or byte count we let reach a kernel.
MAX_EXTENT = 2**60



# ----------------------------------------------------------------- integers


def _is_int(value):
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, np.integer))


def as_int(name, value):
    """``value`` as a Python int, or TypeError naming ``name``."""
    if not _is_int(value):
        raise TypeError(f"`{name}` must be an int, got {value!r} of type {type(value).__name__}")
    return operator.index(value)


def as_bool(name, value):
    """``value`` as a bool: True/False (NumPy bools, and the ints 0 and 1, too)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if _is_int(value) and value in (0, 1):
        return bool(value)
    raise TypeError(f"`{name}` must be True or False, got {value!r}")


def _describe(n, what):
    return f"a {what} int or a tuple of {n} {what} int{'s' if n > 1 else ''}"


def int_tuple(name, value, n, *, minimum=1, repeat_one=True):
    """An int or a length-``n`` sequence of ints -> tuple of ``n`` ints >= ``minimum``.
    With ``repeat_one`` (window sizes, torch's shorthand) a 1-element sequence repeats
    over the ``n`` dimensions; shapes pass False."""
    what = "positive" if minimum >= 1 else "non-negative"
    if (repeat_one and n > 1 and isinstance(value, (tuple, list)) and len(value) == 1
            and _is_int(value[0])):
        value = tuple(value) * n
    if _is_int(value):
        values = (operator.index(value),) * n
    elif isinstance(value, (tuple, list)):
        if len(value) != n or not all(_is_int(v) for v in value):
            if all(_is_int(v) for v in value):
                raise ValueError(f"`{name}` must be {_describe(n, what)}, got {value!r}")
            raise TypeError(f"`{name}` must be {_describe(n, what)}, got {value!r}")
        values = tuple(operator.index(v) for v in value)
    else:
        raise TypeError(
            f"`{name}` must be {_describe(n, what)}, got {value!r} of type {type(value).__name__}"
        )
    for v in values:
        if v < minimum:
            raise ValueError(f"`{name}` must be {_describe(n, what)}, got {_show(value)}")
        if v > MAX_PARAM:
            raise ValueError(f"`{name}`={_show(value)} is too large (limit {MAX_PARAM})")
    return values


def _show(value):
    return repr(tuple(value)) if isinstance(value, list) else repr(value)


# ------------------------------------------------------------------ padding


def same_padding(i, k, s, d):
    """TensorFlow's 'same' rule: out = ceil(i / s), odd extra pixel after."""
    out = -(-i // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - i, 0)
    return total // 2, total - total // 2


def padding_pairs(name, padding, n, *, spatial=None, kernel=None, stride=None, dilation=None,
                  allow_strings=True):
    """Normalise ``padding`` to a tuple of ``n`` ``(before, after)`` pairs.

    Accepted: an int (or a 1-tuple of one); a length-``n`` tuple of ints; a length-``n`` tuple of
    ``(before, after)`` pairs; for ``n == 1`` also a flat ``(before, after)``
    pair; the strings ``'valid'`` and ``'same'`` (the latter needs
    ``spatial``, ``kernel``, ``stride`` and ``dilation``).
    """
    form = (f"a non-negative int, a tuple of {n} of them, a tuple of {n} (before, after) pairs"
            + (", 'valid' or 'same'" if allow_strings else ""))
    if isinstance(padding, str):
        if not allow_strings:
            raise ValueError(f"`{name}` must be {form}, got {padding!r}")
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            return tuple(same_padding(spatial[j], kernel[j], stride[j], dilation[j]) for j in range(n))
        raise ValueError(f"`{name}` must be {form}, got {padding!r}")
    if _is_int(padding):
        p = operator.index(padding)
        pairs = ((p, p),) * n
    elif isinstance(padding, (tuple, list)):
        items = list(padding)
        if n > 1 and len(items) == 1 and _is_int(items[0]):   # torch's 1-element shorthand
            items = items * n
        if n == 1 and len(items) == 2 and all(_is_int(v) for v in items):
            pairs = ((operator.index(items[0]), operator.index(items[1])),)
        elif len(items) != n:
            raise ValueError(f"`{name}` must be {form}, got {padding!r}")
        elif all(_is_int(v) for v in items):
            pairs = tuple((operator.index(v), operator.index(v)) for v in items)
        elif all(isinstance(v, (tuple, list)) and len(v) == 2 and all(_is_int(u) for u in v)
                 for v in items):
            pairs = tuple((operator.index(v[0]), operator.index(v[1])) for v in items)
        else:
            raise TypeError(f"`{name}` must be {form}, got {padding!r}")
    else:
        raise TypeError(f"`{name}` must be {form}, got {padding!r} of type {type(padding).__name__}")
    for before, after in pairs:
        if before < 0 or after < 0:
            raise ValueError(f"`{name}` must be {form}, got {padding!r}: padding cannot be negative")
        if before > MAX_PARAM or after > MAX_PARAM:
            raise ValueError(f"`{name}`={padding!r} is too large (limit {MAX_PARAM})")
    return pairs


# -------------------------------------------------------------- output size


def output_size(i, k, s, pad, d, ceil_mode=False):
    """The one output-size rule used by every op (one spatial dimension).

    ``out = floor((i + pad_before + pad_after - d*(k-1) - 1) / s) + 1``; with
    ``ceil_mode`` the division rounds up, and a last window that would start in
    the right padding is dropped (ATen's rule).  May return a value < 1.
    """
    before, after = pad
    span = i + before + after - d * (k - 1) - 1
    if ceil_mode:
        out = -(-span // s) + 1
        if (out - 1) * s >= i + before:
            out -= 1
    else:
        out = span // s + 1
    return out


def output_shape(spatial, kernel, stride, pads, dilation, ceil_mode=False):
    """Output sizes for every spatial dim, or ValueError naming every parameter."""
    out = []
    for j, i in enumerate(spatial):
        if i + pads[j][0] + pads[j][1] > MAX_EXTENT:
            raise ValueError(f"input size {tuple(spatial)} padded by {pads} is too large")
        out.append(output_size(i, kernel[j], stride[j], pads[j], dilation[j], ceil_mode))
    if min(out) < 1:
        raise ValueError(
            f"`kernel_size`={tuple(kernel)} with `dilation`={tuple(dilation)} does not fit "
            f"input {tuple(spatial)} padded by {tuple(pads)} (`stride`={tuple(stride)})"
        )
    return tuple(out)


def conv_output_size(input_size, kernel_size, stride=1, padding=0, dilation=1, ceil_mode=False):
    """Output size of a convolution or pooling window along each spatial dimension.

    The one rule every op uses:
    ``out = floor((i + pad_before + pad_after - dilation*(kernel_size-1) - 1) / stride) + 1``.

    Parameters
    ----------
    input_size : int or tuple of ints
        Spatial size(s) of the input, any number of dimensions.
    kernel_size : int or tuple of ints
        Window size(s).
    stride : int or tuple of ints, default 1
        Step(s) between windows.
    padding : int, tuple of ints, tuple of (before, after) pairs or {'valid', 'same'}, default 0
        Padding as the ops accept it.
    dilation : int or tuple of ints, default 1
        Spacing between window taps.
    ceil_mode : bool, default False
        Round up instead of down; a last window that would start in the right
        padding is dropped (as PyTorch does).

    Returns
    -------
    int or tuple of ints
        An int when ``input_size`` is an int, else a tuple.

    Raises
    ------
    TypeError
        ``input_size`` or a size argument is not an int or a tuple of ints.
    ValueError
        A size is negative, ``kernel_size``, ``stride`` or ``dilation`` is not
        positive, a tuple has the wrong length, or the window does not fit the
        padded input (the output would be empty).

    See Also
    --------
    conv2d, max_pool2d : Ops whose output sizes follow this rule.

    Examples
    --------
    The seeds' exercises: a 200x200 image and a 40x40 kernel with stride 2; a 5x5
    image and a 3x3 filter with stride 2 and padding 1; stride 3 without padding,
    rounded down and up.

    >>> import fastconv
    >>> fastconv.conv_output_size(200, 40, stride=2)
    81
    >>> fastconv.conv_output_size((5, 5), 3, stride=2, padding=1)
    (3, 3)
    >>> (fastconv.conv_output_size(5, 3, stride=3),
    ...  fastconv.conv_output_size(5, 3, stride=3, ceil_mode=True))
    (1, 2)
    """
    scalar = _is_int(input_size)
    if scalar:
        spatial = (operator.index(input_size),)
    elif isinstance(input_size, (tuple, list)) and len(input_size) > 0 and all(_is_int(v) for v in input_size):
        spatial = tuple(operator.index(v) for v in input_size)
    else:
        raise TypeError(f"`input_size` must be an int or a tuple of ints, got {input_size!r}")
    n = len(spatial)
    if min(spatial) < 0:
        raise ValueError(f"`input_size` must be non-negative, got {input_size!r}")
    kernel = int_tuple("kernel_size", kernel_size, n)
    stride_t = int_tuple("stride", stride, n)
    dil = int_tuple("dilation", dilation, n)
    pads = padding_pairs("padding", padding, n, spatial=spatial, kernel=kernel, stride=stride_t,
                         dilation=dil)
    out = output_shape(spatial, kernel, stride_t, pads, dil, as_bool("ceil_mode", ceil_mode))
    return out[0] if scalar else out


# ------------------------------------------------------------------- dtypes

_FLOAT_OF_KIND = {"b": np.dtype(np.float64), "i": np.dtype(np.float64), "u": np.dtype(np.float64)}


def _compute_dtype_of(name, dtype):
    if dtype.kind == "f":
        if dtype.itemsize == 2:
            return np.dtype(np.float32)
        if dtype.itemsize in (4, 8):
            return dtype.newbyteorder("=")
    elif dtype.kind in _FLOAT_OF_KIND:
        return _FLOAT_OF_KIND[dtype.kind]
    raise TypeError(
        f"`{name}` has dtype {dtype}, which fastconv does not support: "
        "use float32 or float64 (float16, integer and bool arrays are converted)"
    )


def as_array(name, value):
    """``value`` as an ndarray (no copy when it already is one)."""
    if isinstance(value, np.ndarray):
        return value
    if value is None:
        raise TypeError(f"`{name}` must be an array, got None")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"`{name}` must be an array of numbers, got {type(value).__name__}: {exc}") from None
    if arr.dtype == object:
        raise TypeError(f"`{name}` must be an array of numbers, got {type(value).__name__} with dtype object")
    return arr


def compute_dtype(**arrays):
    """The dtype an op computes and returns in, from its named input arrays.

    Each input maps to float32 (float16, float32) or float64 (float64,
    integers, bool); the result is the wider of them.
    """
    result = np.dtype(np.float32)
    for name, arr in arrays.items():
        if arr is None:
            continue
        dt = _compute_dtype_of(name, arr.dtype)
        if dt.itemsize > result.itemsize:
            result = dt
    return result


def contiguous(arr, dtype):
    """A C-contiguous, aligned, native-byte-order array of ``dtype`` (a copy only if needed).

    ``np.ascontiguousarray`` keeps a misaligned buffer (a view at an odd byte offset), and the
    kernels' loads through ``double *`` / ``float *`` would then be undefined behaviour.
    """
    out = np.ascontiguousarray(arr, dtype=dtype)
    if not out.flags.aligned:
        out = out.copy()
    return out


def check_ndim(name, arr, ndim, what):
    if arr.ndim != ndim:
        raise ValueError(f"`{name}` must be a {ndim}-D array {what}, got shape {arr.shape}")


def check_alloc(name, shape, itemsize):
    """MemoryError for a result or workspace that cannot exist, before allocating it."""
    count = 1
    for s in shape:
        count *= int(s)
    if count * itemsize > MAX_EXTENT:
        raise MemoryError(
            f"`{name}` of shape {tuple(shape)} would need {count * itemsize} bytes, "
            "more than this machine can address"
        )
    return count


def empty(name, shape, dtype):
    check_alloc(name, shape, np.dtype(dtype).itemsize)
    return np.empty(shape, dtype=dtype)


def zeros(name, shape, dtype):
    check_alloc(name, shape, np.dtype(dtype).itemsize)
    return np.zeros(shape, dtype=dtype)


def shape_tuple(name, value, ndim):
    """``input_shape`` arguments: a sequence of ``ndim`` non-negative ints."""
    if not isinstance(value, (tuple, list)) and not (isinstance(value, np.ndarray) and value.ndim == 1):
        raise TypeError(f"`{name}` must be a tuple of {ndim} ints, got {value!r}")
    items = list(value)
    if not all(_is_int(v) for v in items):
        raise TypeError(f"`{name}` must be a tuple of {ndim} ints, got {value!r}")
    if len(items) != ndim:
        raise ValueError(f"`{name}` must be a tuple of {ndim} ints, got {value!r}")
    shape = tuple(operator.index(v) for v in items)
    if min(shape) < 0:
        raise ValueError(f"`{name}` must hold non-negative sizes, got {shape}")
    return shape


# ------------------------------------------------------------------ out=


_TOO_HARD = getattr(np, "exceptions", np).TooHardError


def _overlaps(a, b):
    """Whether two arrays share memory (exactly when that is cheap to decide, else
    conservatively: a problem too hard to solve counts as overlapping)."""
    if not np.may_share_memory(a, b):
        return False
    try:
        return np.shares_memory(a, b, max_work=10**5)
    except _TOO_HARD:
        return True


class OutShapeError(ValueError):
    """An ``out`` buffer of the wrong shape (a ValueError that knows both shapes, so that
    the unbatched form of an op can state them without its batch axis)."""

    def __init__(self, name, shape, got):
        self.name, self.shape, self.got = name, tuple(shape), tuple(got)
        super().__init__(f"`{name}` must have the result's shape {self.shape}, got {self.got}")


def out_array(name, out, shape, dtype, inputs):
    """The caller's buffer ``out`` for a result of ``shape`` and ``dtype``, checked before
    anything is written to it (None passes through: the op allocates its result).

    It must be an ndarray (TypeError), of exactly ``dtype`` (TypeError), of ``shape``,
    C-contiguous, aligned and writeable, and share no memory with any of ``inputs``
    (``((name, array or None), ...)``, the op's input arrays as the caller passed them)
    (ValueError)."""
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"`{name}` must be a NumPy array (or None), got {type(out).__name__}")
    dtype = np.dtype(dtype)
    if out.dtype != dtype:
        raise TypeError(f"`{name}` must have the result's dtype {dtype}, got {out.dtype}")
    if out.shape != tuple(shape):
        raise OutShapeError(name, shape, out.shape)
    if not out.flags.c_contiguous or not out.flags.aligned:
        raise ValueError(f"`{name}` must be a C-contiguous (and aligned) array, got one with "
                         f"strides {out.strides}")
    if not out.flags.writeable:
        raise ValueError(f"`{name}` must be writeable")
    for input_name, a in inputs:
        if isinstance(a, np.ndarray) and _overlaps(out, a):
            raise ValueError(f"`{name}` shares memory with the input `{input_name}`")
    return out


def out_tuple(out, names, wanted=None):
    """``out=`` of an op with several results: None, or a tuple with one entry (an array
    or None) per result ``names``; an entry for a result not computed (``wanted[i]``
    False) must be None.  Returns the tuple of entries (arrays are checked later, by
    :func:`out_array`, when their shapes are known)."""
    n = len(names)
    if out is None:
        return (None,) * n
    if type(out) is not tuple:
        raise TypeError(f"`out` must be a tuple of {n} arrays or None ({', '.join(names)}), "
                        f"got {type(out).__name__}")
    if len(out) != n:
        raise ValueError(f"`out` must be a tuple of {n} arrays or None ({', '.join(names)}), "
                         f"got a tuple of {len(out)}")
    if wanted is not None:
        for i, (o, w) in enumerate(zip(out, wanted)):
            if o is not None and not w:
                raise ValueError(f"`out[{i}]` ({names[i]}) must be None: that result is "
                                 "not computed (output_mask)")
    return out


def out_arrays(names, outs, shapes, dtypes, inputs):
    """Each entry of ``outs`` checked by :func:`out_array`, and no two of them sharing
    memory."""
    checked = tuple(out_array(f"out[{i}]", o, s, d, inputs)
                    for i, (o, s, d) in enumerate(zip(outs, shapes, dtypes)))
    given = [(i, o) for i, o in enumerate(checked) if o is not None]
    for j, (i, a) in enumerate(given):
        for k, b in given[j + 1:]:
            if _overlaps(a, b):
                raise ValueError(f"`out[{i}]` ({names[i]}) and `out[{k}]` ({names[k]}) "
                                 "share memory")
    return checked


def result(out, name, shape, dtype):
    """``out`` (already checked), or a new array of ``shape`` to compute into."""
    return out if out is not None else empty(name, shape, dtype)


def zero_result(out, name, shape, dtype):
    """``out`` (already checked) filled with zeros, or a new array of zeros."""
    if out is None:
        return zeros(name, shape, dtype)
    out[...] = 0
    return out
