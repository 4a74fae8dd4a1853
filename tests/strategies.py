"""Hypothesis strategies producing only valid configurations for the fastconv ops.

Each strategy returns a small namespace of arrays and arguments. Array values come from a
NumPy generator seeded by a drawn integer (fast, and reproducible under derandomize); shapes
and arguments are drawn directly so hypothesis can shrink them.
"""

from types import SimpleNamespace

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

import reference as ref

DTYPES = st.sampled_from([np.float32, np.float64])
seeds = st.integers(0, 2**32 - 1)


def rng_from(draw):
    return np.random.default_rng(draw(seeds))


def _int_or_pair(draw, pair):
    """Pass a pair (or triple) as an int when all entries agree, sometimes."""
    if all(v == pair[0] for v in pair) and draw(st.booleans()):
        return int(pair[0])
    return tuple(int(v) for v in pair)


def padding_2d(draw, max_pad=3, allow_same=True):
    """A padding argument in one of the accepted 2-D forms."""
    forms = ["int", "pair", "per-side", "valid"] + (["same"] if allow_same else [])
    form = draw(st.sampled_from(forms))
    side = st.integers(0, max_pad)
    if form == "int":
        return draw(side)
    if form == "pair":
        return (draw(side), draw(side))
    if form == "per-side":
        return ((draw(side), draw(side)), (draw(side), draw(side)))
    return form


def padding_1d(draw, max_pad=3, allow_same=True):
    """A padding argument in one of the accepted 1-D forms."""
    forms = ["int", "tuple1", "flat-pair", "per-side", "valid"] + (["same"] if allow_same else [])
    form = draw(st.sampled_from(forms))
    side = st.integers(0, max_pad)
    if form == "int":
        return draw(side)
    if form == "tuple1":
        return (draw(side),)
    if form == "flat-pair":
        return (draw(side), draw(side))
    if form == "per-side":
        return ((draw(side), draw(side)),)
    return form


def padding_3d(draw, max_pad=2, allow_same=True):
    """A padding argument in one of the accepted 3-D forms."""
    forms = ["int", "triple", "per-side", "valid"] + (["same"] if allow_same else [])
    form = draw(st.sampled_from(forms))
    side = st.integers(0, max_pad)
    if form == "int":
        return draw(side)
    if form == "triple":
        return tuple(draw(side) for _ in range(3))
    if form == "per-side":
        return tuple((draw(side), draw(side)) for _ in range(3))
    return form


PADDING = {1: padding_1d, 2: padding_2d, 3: padding_3d}


def _fitting_size(draw, eff, pads, extra=8):
    """An input length >= 1 such that the effective kernel fits the padded input."""
    low = max(1, eff - pads[0] - pads[1])
    return draw(st.integers(low, low + extra))


@st.composite
def conv_cases(draw, nd=2, allow_same=True, allow_flip=True, dtypes=DTYPES, max_n=3, max_k=5,
               max_d=3, extra=8, max_groups=3):
    """x, weight, bias and arguments for conv1d/conv2d/conv3d (nd=1/2/3)."""
    dtype = draw(dtypes)
    groups = draw(st.integers(1, max_groups))
    C = groups * draw(st.integers(1, 2))
    O = groups * draw(st.integers(1, 2))
    N = draw(st.integers(1, max_n))
    k = tuple(draw(st.integers(1, max_k)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    d = tuple(draw(st.integers(1, max_d)) for _ in range(nd))
    padding = PADDING[nd](draw, allow_same=allow_same)
    sizes = []
    for i in range(nd):
        eff = d[i] * (k[i] - 1) + 1
        # 'same' pads whatever is needed; otherwise make the kernel fit the padded input
        if isinstance(padding, str) and padding == "same":
            sizes.append(draw(st.integers(1, 4 + extra)))
        else:
            pads = ref.resolve_padding(padding, (1,) * nd, k, s, d)[i]
            sizes.append(_fitting_size(draw, eff, pads, extra))
    pads = ref.resolve_padding(padding, tuple(sizes), k, s, d)
    rng = rng_from(draw)
    x = rng.standard_normal((N, C, *sizes)).astype(dtype)
    w = rng.standard_normal((O, C // groups, *k)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype) if draw(st.booleans()) else None
    flip = draw(st.booleans()) if allow_flip else False
    arg = (lambda t: t[0] if draw(st.booleans()) else t) if nd == 1 else (
        lambda t: _int_or_pair(draw, t))
    return SimpleNamespace(x=x, w=w, b=b, stride=arg(s), padding=padding, dilation=arg(d),
                           groups=groups, flip=flip, dtype=np.dtype(dtype), k=k, s=s, d=d,
                           pads=pads, rng=rng)


@st.composite
def conv_transpose_cases(draw, nd=2, dtypes=DTYPES, max_n=3, max_k=5, max_size=8, max_d=3,
                         max_groups=3):
    """x, weight, bias and arguments for conv_transpose1d/2d/3d with Hout >= 1."""
    dtype = draw(dtypes)
    groups = draw(st.integers(1, max_groups))
    Cin = groups * draw(st.integers(1, 2))
    Cog = draw(st.integers(1, 2))
    N = draw(st.integers(1, max_n))
    k = tuple(draw(st.integers(1, max_k)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    d = tuple(draw(st.integers(1, max_d)) for _ in range(nd))
    op = tuple(draw(st.integers(0, max(s[i], d[i]) - 1)) for i in range(nd))
    sizes = tuple(draw(st.integers(1, max_size)) for _ in range(nd))
    padding = PADDING[nd](draw, allow_same=False)
    pads = ref.resolve_padding(padding, sizes, k, s, d)
    for i in range(nd):
        full = (sizes[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 + op[i]
        assume(full - pads[i][0] - pads[i][1] >= 1)
    rng = rng_from(draw)
    x = rng.standard_normal((N, Cin, *sizes)).astype(dtype)
    w = rng.standard_normal((Cin, Cog, *k)).astype(dtype)
    b = rng.standard_normal(Cog * groups).astype(dtype) if draw(st.booleans()) else None
    if nd == 1:
        s_arg, d_arg, op_arg = s[0], d[0], op[0]
    else:
        s_arg, d_arg, op_arg = _int_or_pair(draw, s), _int_or_pair(draw, d), _int_or_pair(draw, op)
    return SimpleNamespace(x=x, w=w, b=b, stride=s_arg, padding=padding, dilation=d_arg,
                           output_padding=op_arg, groups=groups, dtype=np.dtype(dtype), k=k,
                           s=s, d=d, op=op, pads=pads, rng=rng)


@st.composite
def im2col_cases(draw, dtypes=DTYPES, **kw):
    """x and arguments for im2col / col2im (2-D)."""
    case = draw(conv_cases(nd=2, allow_flip=False, dtypes=dtypes, **kw))
    return SimpleNamespace(x=case.x, kernel_size=_int_or_pair(draw, case.k),
                           stride=case.stride, padding=case.padding, dilation=case.dilation,
                           dtype=case.dtype, k=case.k, s=case.s, d=case.d, pads=case.pads,
                           rng=case.rng)


def pool_values(draw, rng, shape, dtype):
    """Distinct values, small integers (many ties), with NaNs, or with many -inf."""
    kind = draw(st.sampled_from(["distinct", "ties", "nan", "-inf"]))
    if kind == "distinct":
        x = rng.permutation(int(np.prod(shape))).reshape(shape) - 0.5 * np.prod(shape)
        x = x * 0.25
    else:
        x = rng.integers(-2, 3, shape).astype(np.float64)
        if kind == "nan":
            x[rng.random(shape) < 0.15] = np.nan
        if kind == "-inf":  # all -inf windows keep the index of their first input element
            x[rng.random(shape) < 0.7] = -np.inf
    return x.astype(dtype)


@st.composite
def pool_cases(draw, kind="max", nd=2, dtypes=DTYPES, max_k=5, max_n=3, extra=8, max_d=3,
               divisor_override=False):
    """x and arguments for max (kind='max') or average (kind='avg') pooling.

    With divisor_override=True (average pooling) the case also carries a drawn
    `divisor_override`: None or a positive int.
    """
    dtype = draw(dtypes)
    N, C = draw(st.integers(1, max_n)), draw(st.integers(1, 4))
    k = tuple(draw(st.integers(1, max_k)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    d = tuple(draw(st.integers(1, max_d)) for _ in range(nd)) if kind == "max" else (1,) * nd
    stride_is_none = draw(st.integers(0, 3)) == 0
    if stride_is_none:
        s = k
    ceil_mode = draw(st.booleans())
    limits = [(d[i] * (k[i] - 1) + 1) // 2 if kind == "max" else k[i] // 2 for i in range(nd)]
    form = draw(st.sampled_from(["int", "per-dim", "per-side", "same", "valid"]))
    if form == "int":
        padding = draw(st.integers(0, min(limits)))
    elif form == "per-dim":
        padding = tuple(draw(st.integers(0, lim)) for lim in limits)
    elif form == "per-side":
        padding = tuple((draw(st.integers(0, lim)), draw(st.integers(0, lim))) for lim in limits)
        if nd == 1 and draw(st.booleans()):
            padding = padding[0]  # flat (before, after)
    else:
        padding = form
    if form == "same":
        sizes = tuple(draw(st.integers(1, 4 + extra)) for _ in range(nd))
    else:
        pads = ref.resolve_padding(padding, (1,) * nd, k, s, d)
        sizes = tuple(_fitting_size(draw, d[i] * (k[i] - 1) + 1, pads[i], extra)
                      for i in range(nd))
    rng = rng_from(draw)
    shape = (N, C, *sizes)
    if kind == "max":
        x = pool_values(draw, rng, shape, dtype)
    else:
        x = rng.standard_normal(shape).astype(dtype)

    def arg(t):
        return t[0] if nd == 1 else _int_or_pair(draw, t)

    case = SimpleNamespace(x=x, kernel_size=arg(k), stride=None if stride_is_none else arg(s),
                           padding=padding, dilation=arg(d), ceil_mode=ceil_mode,
                           count_include_pad=draw(st.booleans()), dtype=np.dtype(dtype),
                           k=k, s=s, d=d, rng=rng, divisor_override=None)
    if divisor_override:
        case.divisor_override = draw(st.one_of(st.none(), st.integers(1, 30)))
    return case


# --------------------------------------------------------------------------------------------
# 3-D: the same strategies with small shapes (spatial sizes about 1..7, kernels 1..3,
# dilation 1..2, N <= 2), so a reference evaluation stays in the milliseconds
# --------------------------------------------------------------------------------------------


def conv3d_cases(**kw):
    """x (N, C, D, H, W), weight, bias and arguments for conv3d / conv3d_backward."""
    return conv_cases(nd=3, **{**dict(max_n=2, max_k=3, max_d=2, extra=3), **kw})


def conv_transpose3d_cases(**kw):
    """x, weight (Cin, Cout/groups, kD, kH, kW), bias and arguments for conv_transpose3d."""
    return conv_transpose_cases(nd=3, **{**dict(max_n=2, max_k=3, max_size=5, max_d=2), **kw})


def pool3d_cases(kind="max", **kw):
    """x (N, C, D, H, W) and arguments for max_pool3d (kind='max') / avg_pool3d ('avg')."""
    return pool_cases(kind, nd=3, **{**dict(max_n=2, max_k=3, extra=3, max_d=2,
                                            divisor_override=kind == "avg"), **kw})
