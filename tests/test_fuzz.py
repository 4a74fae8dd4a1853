"""Fuzzing every public function with random and adversarial arguments (issue 5).

Each example starts from a *valid* argument set (the strategies in strategies.py) and applies
zero, one or two mutations, each of one of three kinds:

* ``ACCEPT``: the call stays valid -- another layout (reversed, strided, Fortran, transposed,
  read-only, memory-mapped, byte-swapped, unaligned, a nested list), another accepted dtype
  (float16, integers, bool, a mix of float32/float64), NaN/inf values, an equivalent
  spelling of a parameter (NumPy integer, list), in-range max-pool indices that were not
  produced by a forward pass.  The call must succeed.
* ``REJECT``: the call is invalid -- None, strings, scalars, 0-d/1-d/5-d arrays, complex /
  object / string / datetime dtypes, ragged lists, non-integer or negative or bool sizes,
  wrong-length tuples, non-bool flags, out-of-range or non-integer pooling indices, an
  unknown keyword (``output=``), a wrong ``out=`` buffer, thread counts out of range.  It
  must raise.
* ``EITHER``: may or may not be valid -- a dimension changed or set to zero, a moderately
  large or huge stride / dilation / padding / kernel size, a different col2im
  ``output_size`` or pooling ``input_shape``.

Whatever happens, only ``ValueError``, ``TypeError`` or ``MemoryError`` may escape.  An
accepted call is checked against tests/reference.py (NaN-aware, with the tolerances of
conftest.assert_close; max-pool values and indices exactly); a call the reference rejects
(its own asserts, or the contract checks in the adapters below) must not have been accepted.
Every call, accepted or not, must leave its inputs unchanged, and every result must be a
fresh C-contiguous array of the contract's dtype sharing no memory with any input.

Sizes are chosen so that no accepted call can allocate more than a few MB: huge values are
either beyond fastconv's limits (rejected before any allocation) or shrink the output (huge
strides).  As a safety net the address space is capped while these tests run (not under
AddressSanitizer, which reserves terabytes of shadow memory).

Example counts per function: EXAMPLES below (120 in the default ``ci`` profile); the ``fuzz``
profile (``HYPOTHESIS_PROFILE=fuzz``) runs ``FUZZ_EXAMPLES`` (environment, default 10000).
The session summary prints the number of cases run per function.  See docs/reliability.md.
"""
import atexit
import os
import resource
import shutil
import tempfile
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import fastconv as fc
import reference as ref
import strategies as S
from conftest import assert_close, count_fuzz_case

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
EXAMPLES = {"ci": 120, "dev": 300, "thorough": 3000}.get(PROFILE, settings.default.max_examples)
fuzz_settings = settings(max_examples=EXAMPLES)

ALLOWED = (ValueError, TypeError, MemoryError)
ACCEPT, EITHER, REJECT = "accept", "either", "reject"

_TMP = tempfile.mkdtemp(prefix="fastconv-fuzz-")
atexit.register(shutil.rmtree, _TMP, True)


def _under_asan():
    try:
        with open("/proc/self/maps") as f:
            return "asan" in f.read()
    except OSError:
        return "asan" in os.environ.get("LD_PRELOAD", "")


@pytest.fixture(autouse=True, scope="module")
def _address_space_cap():
    """Any allocation beyond ~3 GB more than now fails with MemoryError instead of paging."""
    if _under_asan() or not hasattr(resource, "RLIMIT_AS"):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        vm = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    cap = vm + 3 * 2**30
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# --------------------------------------------------------------------------------------------
# array mutations: (kind, label, fn(draw, array) -> new value)
# --------------------------------------------------------------------------------------------

def _reversed(a):
    if a.ndim == 0:
        return a
    idx = (slice(None, None, -1),) * a.ndim
    return np.ascontiguousarray(a[idx])[idx]


def _strided(a):
    if a.ndim == 0:
        return a
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1] + 1,), a.dtype)
    big[..., 1::2] = a
    return big[..., 1::2]


def _transposed(a):
    perm = tuple(range(a.ndim))[::-1]
    inv = tuple(np.argsort(perm))
    return np.ascontiguousarray(a.transpose(perm)).transpose(inv)


def _readonly(a):
    c = a.copy()
    c.flags.writeable = False
    return c


_memmap_count = [0]


def _memmap(a):
    if a.size == 0:
        return _readonly(a)
    _memmap_count[0] += 1
    path = os.path.join(_TMP, f"m{_memmap_count[0]}.bin")
    a.tofile(path)
    m = np.memmap(path, dtype=a.dtype, mode="r", shape=a.shape)
    os.unlink(path)  # stays mapped; nothing left on disk
    return m


def _byteswapped(a):
    return a.astype(a.dtype.newbyteorder())


def _unaligned(a):
    if a.dtype.itemsize == 1 or a.size == 0:
        return a.copy()
    buf = np.empty(a.nbytes + 1, np.uint8)[1:].view(a.dtype).reshape(a.shape)
    buf[...] = a
    return buf


def _as_list(a):
    return a.tolist() if a.size and a.ndim else a.copy()


def _to_dtype(dt):
    def make(a):
        if a.dtype.kind == "f":
            a = np.nan_to_num(a, nan=0.0, posinf=3.0, neginf=-3.0)
        if np.dtype(dt).kind == "b":
            return a > 0
        if np.dtype(dt).kind in "iu":
            r = np.round(a * 2)
            if np.dtype(dt).kind == "u":
                r = np.abs(r)
            return np.clip(r, -100, 100).astype(dt)
        return a.astype(dt)
    return make


def _with_nonfinite(draw, a):
    if a.dtype.kind != "f" or a.size == 0:
        return a
    a = a.copy()
    flat = a.reshape(-1)
    for _ in range(draw(st.integers(1, 3))):
        flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return a


ACCEPT_ARRAY = [
    ("reversed", lambda d, a: _reversed(a)),
    ("strided", lambda d, a: _strided(a)),
    ("fortran", lambda d, a: np.asfortranarray(a)),
    ("transposed", lambda d, a: _transposed(a)),
    ("readonly", lambda d, a: _readonly(a)),
    ("memmap", lambda d, a: _memmap(a)),
    ("byteswapped", lambda d, a: _byteswapped(a)),
    ("unaligned", lambda d, a: _unaligned(a)),
    ("list", lambda d, a: _as_list(a)),
]
ACCEPT_FLOAT = [
    ("float16", lambda d, a: _to_dtype(np.float16)(a)),
    ("float32", lambda d, a: _to_dtype(np.float32)(a)),
    ("float64", lambda d, a: _to_dtype(np.float64)(a)),
    ("int8", lambda d, a: _to_dtype(np.int8)(a)),
    ("int32", lambda d, a: _to_dtype(np.int32)(a)),
    ("uint8", lambda d, a: _to_dtype(np.uint8)(a)),
    ("bool", lambda d, a: _to_dtype(np.bool_)(a)),
    ("nonfinite", _with_nonfinite),
    ("nonfinite", _with_nonfinite),
]
ACCEPT_INDICES = [
    ("int32", lambda d, a: a.astype(np.int32)),
    ("uint32", lambda d, a: a.astype(np.uint32)),
    ("uint64", lambda d, a: a.astype(np.uint64)),
    ("int16", lambda d, a: a.astype(np.int16) if a.size == 0 or a.max() < 2**15 else a),
]


def _merge_last(a):
    if a.ndim < 2:
        return a.reshape(1, *a.shape) if a.ndim == 1 else a.reshape(1, 1)
    return a.reshape(a.shape[:-2] + (a.shape[-2] * a.shape[-1],))


REJECT_ARRAY = [
    ("string", lambda d, a: "abc"),
    ("bytes", lambda d, a: b"\x00" * 8),
    ("float-scalar", lambda d, a: 1.5),
    ("int-scalar", lambda d, a: 3),
    ("bool-scalar", lambda d, a: True),
    ("np-scalar", lambda d, a: np.float64(2.0)),
    ("0-d", lambda d, a: np.array(1.0)),
    ("ndim-1", lambda d, a: _merge_last(a)),
    ("ndim+1", lambda d, a: a[None]),
    ("5-d", lambda d, a: np.zeros((1,) * 5)),
    ("1-d", lambda d, a: np.zeros(3) if a.ndim != 1 else np.zeros((3, 1))),
    ("complex", lambda d, a: a.astype(np.complex128)),
    ("object", lambda d, a: a.astype(object)),
    ("str-dtype", lambda d, a: a.astype(str)),
    ("datetime", lambda d, a: np.zeros(a.shape, "M8[s]")),
    ("timedelta", lambda d, a: np.zeros(a.shape, "m8[ms]")),
    ("void", lambda d, a: np.zeros(a.shape, "V8")),
    ("ragged", lambda d, a: [[1.0, 2.0], [3.0]]),
    ("dict", lambda d, a: {"x": 1}),
    ("object()", lambda d, a: object()),
]
if np.dtype(np.longdouble) != np.dtype(np.float64):
    REJECT_ARRAY.append(("longdouble", lambda d, a: a.astype(np.longdouble)))


def _out_of_range_indices(d, a):
    if a.size == 0:
        return "abc"  # nothing to corrupt: reject by type instead
    a = np.array(a, dtype=np.int64)
    plane = d.draw(st.sampled_from(["-1", "plane", "huge", "min", "max"]))
    value = {"-1": -1, "plane": d.plane, "huge": 2**62, "min": -2**63, "max": 2**63 - 1}[plane]
    a.reshape(-1)[d.draw(st.integers(0, a.size - 1))] = value
    return a


REJECT_INDICES = [
    ("out-of-range", _out_of_range_indices),
    ("out-of-range", _out_of_range_indices),
    ("float-indices", lambda d, a: a.astype(np.float64)),
    ("bool-indices", lambda d, a: a.astype(bool)),
    ("complex", lambda d, a: a.astype(np.complex64)),
    ("uint64-huge", lambda d, a: (np.full(a.shape, 2**64 - 1, np.uint64) if a.size else "x")),
    ("ndim-1", lambda d, a: _merge_last(a)),
    ("string", lambda d, a: "abc"),
    ("None", lambda d, a: None),
]


def _reshaped(d, a):
    """EITHER: one dimension changed (possibly to zero); fresh values of the same dtype."""
    if a.ndim == 0:
        return a
    axis = d.draw(st.integers(0, a.ndim - 1))
    old = a.shape[axis]
    new = d.draw(st.sampled_from([0, 1, max(old - 1, 0), old + 1, 2 * old + 1, 17]))
    shape = a.shape[:axis] + (new,) + a.shape[axis + 1:]
    rng = np.random.default_rng(d.draw(S.seeds))
    if a.dtype.kind in "iu":
        hi = max(int(d.plane), 1) if hasattr(d, "plane") else 4
        return rng.integers(0, hi, shape).astype(a.dtype)
    return rng.standard_normal(shape).astype(a.dtype)


# --------------------------------------------------------------------------------------------
# parameter mutations by kind
# --------------------------------------------------------------------------------------------

HUGE_REJECT = [2**40 + 1, 2**62, 2**63 - 1, 2**63, 2**64 + 3, 10**30]
BAD_INT = [0, -1, -2**63, True, False, 1.5, 2.0, np.float64(2.0), "2", b"2", 1j, [[1]],
           {1: 2}, object(), np.int64(-3)]
BAD_FLAG = [2, -1, "yes", "", None, 1.5, np.float64(1.0), [True]]
BAD_THREADS = [0, -1, 4097, 2**70, 1.5, "2", True, [2]]


def _equivalent(draw, value):
    """ACCEPT: the same value spelled another accepted way."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return draw(st.sampled_from([np.int64, np.int32, np.int16, np.uint8, int]))(value) \
            if 0 <= value < 128 else np.int64(value)
    if isinstance(value, tuple):
        return [list(v) if isinstance(v, tuple) else v for v in value]
    return value


def _param_mutation(draw, kind, value, nd, forward_op):
    """(kind of outcome, label, new value) for one parameter."""
    outcome = draw(st.sampled_from([ACCEPT, REJECT, REJECT, EITHER, EITHER]))
    if kind == "flag":
        if outcome == ACCEPT:
            return ACCEPT, "flag-equivalent", draw(st.sampled_from(
                [np.bool_(value), int(bool(value))]))
        if outcome == EITHER:  # valid, but ceil_mode changes the pooled shape
            return EITHER, "flag-flipped", not value
        return REJECT, "bad-flag", draw(st.sampled_from(BAD_FLAG))
    if kind == "threads":
        if outcome == ACCEPT:
            return ACCEPT, "threads", draw(st.sampled_from([None, 1, 2, 3, np.int64(2)]))
        return REJECT, "bad-threads", draw(st.sampled_from(BAD_THREADS))
    if kind == "shape":  # input_shape of a pooling backward
        if outcome == ACCEPT:
            return ACCEPT, "shape-as-list", draw(st.sampled_from(
                [list(value), np.array(value, np.int64)]))
        if outcome == REJECT:
            bad = draw(st.sampled_from(["none", "str", "int", "short", "long", "float", "neg",
                                        "bool"]))
            v = list(value)
            return REJECT, f"bad-shape-{bad}", {
                "none": None, "str": "abc", "int": 5, "short": tuple(v[:-1]),
                "long": tuple(v) + (1,), "float": tuple(v[:-1]) + (float(v[-1]) + 0.5,),
                "neg": tuple(v[:-1]) + (-1,), "bool": tuple(v[:-1]) + (True,)}[bad]
        v = list(value)
        axis = draw(st.integers(0, len(v) - 1))
        v[axis] = draw(st.sampled_from([0, 1, v[axis] + 1, max(v[axis] - 1, 0), 40,
                                        2**58 if axis >= 2 else 2**40]))
        return EITHER, "shape-changed", tuple(v)
    if kind in ("pad", "pad_t"):
        if outcome == ACCEPT:
            return ACCEPT, "pad-equivalent", _equivalent(draw, value)
        if outcome == REJECT:
            bad = draw(st.sampled_from([-1, -2**63, 1.5, "full", "", None, True,
                                        ((1, 1),) * (nd + 1), ((1, 2, 3),) * nd, object(),
                                        (1,) * (nd + 2), ((0, -1),) * nd]))
            return REJECT, "bad-padding", bad
        if kind == "pad_t":
            return EITHER, "padding", draw(st.sampled_from(
                [draw(st.integers(0, 40)), "same", "valid"] + HUGE_REJECT))
        return EITHER, "padding", draw(st.sampled_from(
            [draw(st.integers(0, 40)), "same", "valid", ((0, draw(st.integers(0, 9))),) * nd]
            + HUGE_REJECT))
    if kind == "groups":
        if outcome == ACCEPT:
            return ACCEPT, "groups-equivalent", _equivalent(draw, value)
        if outcome == REJECT:
            return REJECT, "bad-groups", draw(st.sampled_from(
                [0, -1, 1.5, "1", None, True, (1,), -2**70]))
        return EITHER, "groups", draw(st.sampled_from([1, 2, 3, 4, 7, 2**31, 2**63, 2**70]))
    # sizes: kernel_size, stride, dilation, output_size, output_padding, pool stride
    if outcome == ACCEPT:
        if kind == "pool_stride" and draw(st.booleans()):
            # None means stride = kernel_size: another stride, which may leave a dilated
            # window empty, or (backward) need another grad_output shape
            return EITHER, "stride-None", None
        return ACCEPT, "size-equivalent", _equivalent(draw, value)
    if outcome == REJECT:
        # (pooling's stride=() means the default, as torch; a 1-tuple repeats)
        bad = draw(st.sampled_from(BAD_INT + [(1,) * (nd + 1)]
                                   + ([None, ()] if kind != "pool_stride" else [])))
        if kind == "outpad" and bad in (0, False) and type(bad) is int:
            bad = -1
        return REJECT, f"bad-{kind}", bad
    choices = [draw(st.integers(1, 12)), draw(st.integers(13, 40)),
               tuple(draw(st.integers(1, 9)) for _ in range(nd))] + HUGE_REJECT
    if forward_op and kind in ("stride", "pool_stride"):
        choices += [2**31 - 1, 2**31, 2**32 + 1, 2**40]  # a huge stride shrinks the output
    if kind == "kernel":
        choices += [2**40]
    if kind == "outpad":
        choices += [0, 1, 2]
    return EITHER, kind, draw(st.sampled_from(choices))


# --------------------------------------------------------------------------------------------
# op specifications: base(draw) -> kwargs; ref(kwargs) -> tuple of expected float64 arrays
# --------------------------------------------------------------------------------------------

def _threads(draw):
    return draw(st.sampled_from([None, None, None, 1, 2, 3]))


def _bool(value):
    return bool(value)


def _arr(a):
    return None if a is None else np.asarray(a)


def _check_bias(b, n):
    if b is not None and np.asarray(b).shape != (n,):
        raise ValueError(f"bias shape {np.asarray(b).shape} != ({n},)")


def _conv_base(nd):
    def base(draw):
        c = draw(S.conv_cases(nd=nd))
        return dict(x=c.x, weight=c.w, bias=c.b, stride=c.stride, padding=c.padding,
                    dilation=c.dilation, groups=c.groups, flip=c.flip, num_threads=_threads(draw))
    return base


def _conv_ref(nd):
    f = ref.conv1d if nd == 1 else ref.conv2d

    def run(k):
        w = np.asarray(k["weight"])
        _check_bias(k["bias"], w.shape[0])
        return (f(_arr(k["x"]), w, _arr(k["bias"]), k["stride"], k["padding"], k["dilation"],
                  int(k["groups"]), _bool(k["flip"])),)
    return run


def _conv_bwd_base(nd):
    def base(draw):
        c = draw(S.conv_cases(nd=nd))
        f = ref.conv1d if nd == 1 else ref.conv2d
        shape = f(c.x, c.w, None, c.stride, c.padding, c.dilation, c.groups).shape
        go = c.rng.standard_normal(shape).astype(c.dtype)
        return dict(grad_output=go, x=c.x, weight=c.w, stride=c.stride, padding=c.padding,
                    dilation=c.dilation, groups=c.groups, flip=c.flip,
                    num_threads=_threads(draw))
    return base


def _conv_bwd_ref(nd):
    f = ref.conv1d_backward if nd == 1 else ref.conv2d_backward

    def run(k):
        x, w, go = np.asarray(k["x"]), np.asarray(k["weight"]), np.asarray(k["grad_output"])
        groups = int(k["groups"])
        if x.ndim != nd + 2 or w.ndim != nd + 2 or go.ndim != nd + 2:
            raise ValueError("ndim")
        if x.shape[1] != w.shape[1] * groups or w.shape[0] % groups:
            raise ValueError("channels")
        return f(go, x, w, k["stride"], k["padding"], k["dilation"], groups, _bool(k["flip"]))
    return run


def _convt_base(nd):
    def base(draw):
        c = draw(S.conv_transpose_cases(nd=nd))
        return dict(x=c.x, weight=c.w, bias=c.b, stride=c.stride, padding=c.padding,
                    output_padding=c.output_padding, groups=c.groups, dilation=c.dilation,
                    num_threads=_threads(draw))
    return base


def _convt_ref(nd):
    f = ref.conv_transpose1d if nd == 1 else ref.conv_transpose2d

    def run(k):
        x, w = np.asarray(k["x"]), np.asarray(k["weight"])
        groups = int(k["groups"])
        if isinstance(k["padding"], str) and k["padding"] != "valid":
            raise ValueError("transposed convolutions take no 'same'")
        s, d = ref.as_tuple(k["stride"], nd), ref.as_tuple(k["dilation"], nd)
        op = ref.as_tuple(k["output_padding"], nd)
        if any(o >= max(si, di) for o, si, di in zip(op, s, d)):
            raise ValueError("output_padding too large")
        if x.ndim != nd + 2 or w.ndim != nd + 2 or x.shape[1] != w.shape[0] or x.shape[1] == 0:
            raise ValueError("shapes")
        if min(w.shape[2:]) < 1 or min(x.shape[2:]) < 1:
            raise ValueError("empty kernel or input")
        _check_bias(k["bias"], w.shape[1] * groups)
        return (f(x, w, _arr(k["bias"]), k["stride"], k["padding"], k["output_padding"], groups,
                  k["dilation"]),)
    return run


def _im2col_base(draw):
    c = draw(S.im2col_cases())
    return dict(x=c.x, kernel_size=c.kernel_size, dilation=c.dilation, padding=c.padding,
                stride=c.stride, num_threads=_threads(draw))


def _im2col_ref(k):
    x = np.asarray(k["x"])
    if x.ndim != 4 or min(x.shape[2:]) < 1:
        raise ValueError("x")
    return (ref.im2col(x, k["kernel_size"], k["dilation"], k["padding"], k["stride"]),)


def _col2im_base(draw):
    c = draw(S.im2col_cases())
    N, C, H, W = c.x.shape
    L = ref.im2col(c.x[:1, :1], c.kernel_size, c.dilation, c.padding, c.stride).shape[2]
    cols = c.rng.standard_normal((N, C * c.k[0] * c.k[1], L)).astype(c.dtype)
    size = H if H == W and draw(st.booleans()) else (H, W)
    return dict(cols=cols, output_size=size, kernel_size=c.kernel_size, dilation=c.dilation,
                padding=c.padding, stride=c.stride, num_threads=_threads(draw))


def _col2im_ref(k):
    cols = np.asarray(k["cols"])
    H, W = ref.as_tuple(k["output_size"], 2)
    kh, kw = ref.as_tuple(k["kernel_size"], 2)
    if cols.ndim != 3 or cols.shape[1] % (kh * kw):
        raise ValueError("cols")
    (sh, sw), (dh, dw) = ref.as_tuple(k["stride"], 2), ref.as_tuple(k["dilation"], 2)
    pads = ref.resolve_padding(k["padding"], (H, W), (kh, kw), (sh, sw), (dh, dw))
    L = ref.output_size(H, kh, sh, *pads[0], dh) * ref.output_size(W, kw, sw, *pads[1], dw)
    if cols.shape[2] != L:
        raise ValueError("number of columns does not match output_size")
    return (ref.col2im(cols, (H, W), (kh, kw), k["dilation"], k["padding"], k["stride"]),)


def _valid_max_pool(c, nd):
    """The reference's max pooling of a pool case; cases with an empty window are skipped."""
    try:
        return (ref.max_pool1d if nd == 1 else ref.max_pool2d)(
            c.x, c.kernel_size, c.stride, c.padding, c.dilation, c.ceil_mode)
    except ValueError:  # a dilated window with no input element: not a valid base case
        assume(False)


def _pool_base(kind, nd):
    def base(draw):
        c = draw(S.pool_cases(kind=kind, nd=nd))
        if kind == "max":
            _valid_max_pool(c, nd)
        kw = dict(x=c.x, kernel_size=c.kernel_size, stride=c.stride, padding=c.padding)
        if kind == "max":
            kw.update(dilation=c.dilation, ceil_mode=c.ceil_mode,
                      return_indices=draw(st.booleans()))
        else:
            kw.update(ceil_mode=c.ceil_mode, count_include_pad=c.count_include_pad)
        kw["num_threads"] = _threads(draw)
        return kw
    return base


def _pool_pads(k, spatial, nd, kind):
    kern = ref.as_tuple(k["kernel_size"], nd)
    stride = kern if k["stride"] is None else ref.as_tuple(k["stride"], nd)
    dil = ref.as_tuple(k.get("dilation", 1), nd)
    pads = ref.resolve_padding(k["padding"], spatial, kern, stride, dil)
    if not ref.pool_padding_ok(pads, kern, dil, kind):
        raise ValueError("pooling padding over half the kernel")
    return kern, stride, dil, pads


def _maxpool_ref(nd):
    f = ref.max_pool1d if nd == 1 else ref.max_pool2d

    def run(k):
        x = np.asarray(k["x"])
        if x.ndim != nd + 2:
            raise ValueError("x")
        _pool_pads(k, x.shape[2:], nd, "max")
        out, idx = f(x, k["kernel_size"], k["stride"], k["padding"], k["dilation"],
                     _bool(k["ceil_mode"]))
        return (out, idx) if _bool(k["return_indices"]) else (out,)
    return run


def _avgpool_ref(nd):
    f = ref.avg_pool1d if nd == 1 else ref.avg_pool2d

    def run(k):
        x = np.asarray(k["x"])
        if x.ndim != nd + 2:
            raise ValueError("x")
        _pool_pads(k, x.shape[2:], nd, "avg")
        return (f(x, k["kernel_size"], k["stride"], k["padding"], _bool(k["ceil_mode"]),
                  _bool(k["count_include_pad"])),)
    return run


def _maxpool_bwd_base(nd):
    def base(draw):
        c = draw(S.pool_cases(kind="max", nd=nd))
        _, idx = _valid_max_pool(c, nd)
        if draw(st.integers(0, 3)) == 0:  # any in-plane offsets (collisions, outside windows)
            idx = c.rng.integers(0, int(np.prod(c.x.shape[2:])), idx.shape)
        go = c.rng.standard_normal(idx.shape).astype(c.dtype)
        return dict(grad_output=go, indices=idx, input_shape=c.x.shape,
                    num_threads=_threads(draw))
    return base


def _maxpool_bwd_ref(nd):
    f = ref.max_pool1d_backward if nd == 1 else ref.max_pool2d_backward

    def run(k):
        go, idx = np.asarray(k["grad_output"]), np.asarray(k["indices"])
        shape = tuple(int(s) for s in k["input_shape"])
        if idx.dtype.kind not in "iu" or idx.shape != go.shape or go.ndim != nd + 2 \
                or len(shape) != nd + 2 or go.shape[:2] != shape[:2] or min(shape) < 0:
            raise ValueError("shapes or index dtype")
        plane = int(np.prod(shape[2:]))
        if go.size == 0:
            return (np.zeros(shape),)
        if idx.size and (idx.min() < 0 or idx.max() >= plane):
            raise ValueError("index out of range")
        return (f(go, idx.astype(np.int64), shape),)
    return run


def _avgpool_bwd_base(nd):
    fwd = ref.avg_pool1d if nd == 1 else ref.avg_pool2d

    def base(draw):
        c = draw(S.pool_cases(kind="avg", nd=nd))
        shape = fwd(c.x, c.kernel_size, c.stride, c.padding, c.ceil_mode).shape
        go = c.rng.standard_normal(shape).astype(c.dtype)
        return dict(grad_output=go, input_shape=c.x.shape, kernel_size=c.kernel_size,
                    stride=c.stride, padding=c.padding, ceil_mode=c.ceil_mode,
                    count_include_pad=c.count_include_pad, num_threads=_threads(draw))
    return base


def _avgpool_bwd_ref(nd):
    f = ref.avg_pool1d_backward if nd == 1 else ref.avg_pool2d_backward

    def run(k):
        go = np.asarray(k["grad_output"])
        shape = tuple(int(s) for s in k["input_shape"])
        if len(shape) != nd + 2 or go.ndim != nd + 2 or min(shape) < 0:
            raise ValueError("shapes")
        kern, stride, dil, pads = _pool_pads(k, shape[2:], nd, "avg")
        out = tuple(ref.output_size(i, kk, ss, pb, pa, 1, _bool(k["ceil_mode"]))
                    for i, kk, ss, (pb, pa) in zip(shape[2:], kern, stride, pads))
        if go.shape != shape[:2] + out:
            raise ValueError("grad_output shape")
        if go.size == 0:
            return (np.zeros(shape),)
        return (f(go, shape, k["kernel_size"], k["stride"], k["padding"], _bool(k["ceil_mode"]),
                  _bool(k["count_include_pad"])),)
    return run


# name -> (function, base, reference, {array arg: role}, {param: kind}, nd, forward_op)
OPS = {}


def _op(name, base, reference, arrays, params, nd, forward_op):
    OPS[name] = SimpleNamespace(fn=getattr(fc, name), base=base, ref=reference, arrays=arrays,
                                params=params, nd=nd, forward_op=forward_op)


for _nd in (1, 2):
    _conv_params = dict(stride="stride", padding="pad", dilation="dilation", groups="groups",
                        flip="flag", num_threads="threads")
    _op(f"conv{_nd}d", _conv_base(_nd), _conv_ref(_nd),
        dict(x="float", weight="float", bias="optional"), _conv_params, _nd, True)
    _op(f"conv{_nd}d_backward", _conv_bwd_base(_nd), _conv_bwd_ref(_nd),
        dict(grad_output="float", x="float", weight="float"), _conv_params, _nd, True)
    _op(f"conv_transpose{_nd}d", _convt_base(_nd), _convt_ref(_nd),
        dict(x="float", weight="float", bias="optional"),
        dict(stride="tstride", padding="pad_t", output_padding="outpad", groups="groups",
             dilation="tdilation", num_threads="threads"), _nd, False)
    _op(f"max_pool{_nd}d", _pool_base("max", _nd), _maxpool_ref(_nd), dict(x="float"),
        dict(kernel_size="kernel", stride="pool_stride", padding="pad", dilation="dilation",
             ceil_mode="flag", return_indices="flag", num_threads="threads"), _nd, True)
    _op(f"avg_pool{_nd}d", _pool_base("avg", _nd), _avgpool_ref(_nd), dict(x="float"),
        dict(kernel_size="kernel", stride="pool_stride", padding="pad", ceil_mode="flag",
             count_include_pad="flag", num_threads="threads"), _nd, True)
    _op(f"max_pool{_nd}d_backward", _maxpool_bwd_base(_nd), _maxpool_bwd_ref(_nd),
        dict(grad_output="float", indices="indices"),
        dict(input_shape="shape", num_threads="threads"), _nd, False)
    _op(f"avg_pool{_nd}d_backward", _avgpool_bwd_base(_nd), _avgpool_bwd_ref(_nd),
        dict(grad_output="float"),
        dict(input_shape="shape", kernel_size="kernel", stride="pool_stride", padding="pad",
             ceil_mode="flag", count_include_pad="flag", num_threads="threads"), _nd, False)
_op("im2col", _im2col_base, _im2col_ref, dict(x="float"),
    dict(kernel_size="kernel", dilation="dilation", padding="pad", stride="stride",
         num_threads="threads"), 2, True)
_op("col2im", _col2im_base, _col2im_ref, dict(cols="float"),
    dict(output_size="osize", kernel_size="kernel", dilation="dilation", padding="pad",
         stride="stride", num_threads="threads"), 2, False)


# --------------------------------------------------------------------------------------------
# case generation, the call and its checks
# --------------------------------------------------------------------------------------------

class _Drawer:
    """The composite's draw, plus what array mutations need to know (the pooled plane size)."""

    def __init__(self, draw, plane):
        self.draw, self.plane = draw, plane

    def __call__(self, strategy):
        return self.draw(strategy)


@st.composite
def fuzz_cases(draw, name):
    op = OPS[name]
    kw = op.base(draw)
    plane = int(np.prod(kw["input_shape"][2:])) if "input_shape" in kw else 1
    d = _Drawer(draw, plane)
    expect, labels, outcomes = ACCEPT, [], []
    n_mut = draw(st.sampled_from([0, 0, 1, 1, 1, 2]))
    names = list(op.arrays) + list(op.params) + ["<unknown keyword>", "<bad out>"]
    for target in draw(st.permutations(names))[:n_mut]:
        if target == "<unknown keyword>":
            kw["output"] = np.zeros(3)
            outcome, label = REJECT, "unknown keyword output="
        elif target == "<bad out>":   # no result of any op has this shape (or is one array)
            kw["out"] = np.zeros(3)
            outcome, label = REJECT, "out= of the wrong shape"
        elif target in op.arrays:
            role, a = op.arrays[target], kw[target]
            if a is None:  # an optional array left out: give it a wrong one
                outcome, label = REJECT, "bias-0-d"
                kw[target] = np.array(1.0) if draw(st.booleans()) else np.zeros((1, 1))
                labels.append(f"{target}:{label}")
                outcomes.append(outcome)
                continue
            outcome = draw(st.sampled_from([ACCEPT, ACCEPT, REJECT, EITHER]))
            if outcome == ACCEPT:
                table = ACCEPT_ARRAY + (ACCEPT_INDICES if role == "indices" else ACCEPT_FLOAT)
                if role == "optional" and draw(st.integers(0, 4)) == 0:
                    table = [("None", lambda d_, a_: None)]
            elif outcome == REJECT:
                table = REJECT_INDICES if role == "indices" else REJECT_ARRAY
                if role == "optional":  # 1-D is right for a bias; None is accepted
                    table = [t for t in table if t[0] not in ("1-d", "None")]
            else:
                table = [("reshaped", _reshaped)]
            label, fn = draw(st.sampled_from(table))
            kw[target] = fn(d, a)
        else:
            kind = op.params[target]
            base_kind = {"stride": "stride", "tstride": "size", "dilation": "size",
                         "tdilation": "size", "kernel": "kernel", "osize": "size",
                         "outpad": "outpad", "pool_stride": "pool_stride"}.get(kind, kind)
            value = kw[target]
            if base_kind == "pool_stride" and value is None:
                value = kw["kernel_size"]
            outcome, label, kw[target] = _param_mutation(
                draw, base_kind, value, op.nd, op.forward_op and kind not in ("tstride",
                                                                              "tdilation"))
        labels.append(f"{target}:{label}")
        outcomes.append(outcome)
    if "indices:out-of-range" in labels and any(x.startswith("input_shape:") for x in labels):
        # an index out of the original plane may be inside a changed input_shape's plane
        outcomes[labels.index("indices:out-of-range")] = EITHER
    for outcome in outcomes:
        if outcome == REJECT:
            expect = REJECT
        elif outcome == EITHER and expect == ACCEPT:
            expect = EITHER
    return SimpleNamespace(name=name, kw=kw, expect=expect, labels=labels)


def _describe(kw):
    def one(v):
        if isinstance(v, np.ndarray):
            return f"array{v.shape} {v.dtype} strides={v.strides}"
        if isinstance(v, list) and v and isinstance(v[0], list):
            return f"nested list of shape {np.shape(v) if _regular(v) else '?'}"
        return repr(v)
    return ", ".join(f"{k}={one(v)}" for k, v in kw.items())


def _regular(v):
    try:
        np.asarray(v, dtype=float)
        return True
    except (ValueError, TypeError):
        return False


def _expected_dtype(kw, op):
    result = np.dtype(np.float32)
    for name, role in op.arrays.items():
        if role == "indices" or kw.get(name) is None:
            continue
        dt = np.asarray(kw[name]).dtype
        if not (dt.kind == "f" and dt.itemsize <= 4):
            result = np.dtype(np.float64)
    return result


def _snapshot(kw, op):
    snap = {}
    for name in op.arrays:
        v = kw.get(name)
        if isinstance(v, np.ndarray) and v.dtype.kind in "biufcmMSUV":
            snap[name] = (np.array(v, copy=True), v.flags.writeable)
    return snap


def _check_untouched(kw, snap, what):
    for name, (copy, writeable) in snap.items():
        now = kw[name]
        assert now.flags.writeable == writeable, f"{what}: `{name}` writeable flag changed"
        assert now.tobytes() == copy.tobytes(), f"{what}: input `{name}` was modified"


def _abs_kwargs(kw, op):
    out = dict(kw)
    for name, role in op.arrays.items():
        if role != "indices" and kw.get(name) is not None:
            out[name] = np.abs(np.asarray(kw[name]).astype(np.float64))
    return out


def run_case(case):
    op = OPS[case.name]
    kw = dict(case.kw)
    what = f"{case.name}({_describe(kw)}) [mutations: {case.labels or 'none'}; {case.expect}]"
    snap = _snapshot(kw, op)
    try:
        got = op.fn(**kw)
    except ALLOWED as e:
        _check_untouched(kw, snap, what)
        assert case.expect != ACCEPT, f"{what}: a valid call raised {type(e).__name__}: {e}"
        count_fuzz_case(case.name, "rejected")
        return
    except BaseException as e:  # noqa: BLE001 -- anything else is the bug under test
        raise AssertionError(f"{what}: raised {type(e).__module__}.{type(e).__qualname__}: "
                             f"{e} (only ValueError/TypeError/MemoryError may escape)") from e
    count_fuzz_case(case.name, "accepted")
    _check_untouched(kw, snap, what)
    assert case.expect != REJECT, f"{what}: an invalid call was accepted"
    kw.pop("num_threads", None)
    try:
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf inputs: inf - inf
            expected = op.ref(kw)
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f"{what}: fastconv accepted a call the reference rejects "
                             f"({type(e).__name__}: {e})") from e
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(expected), f"{what}: {len(got)} results, expected {len(expected)}"
    inputs = [np.asarray(kw[n]) for n in op.arrays
              if isinstance(kw.get(n), np.ndarray)]
    dtype = _expected_dtype(kw, op)
    scale = None
    for i, (g, e) in enumerate(zip(got, expected)):
        assert type(g) is np.ndarray and g.flags.c_contiguous and g.flags.writeable, (
            f"{what}: result {i} is not a fresh writeable C-contiguous ndarray")
        for a in inputs:
            assert not np.shares_memory(g, a), f"{what}: result {i} shares memory with an input"
        if e.dtype.kind in "iu":  # max-pool indices: exact
            assert g.dtype == np.int64, f"{what}: indices dtype {g.dtype}"
            np.testing.assert_array_equal(g, e, err_msg=f"{what}: indices")
            continue
        assert g.dtype == dtype, f"{what}: result {i} has dtype {g.dtype}, expected {dtype}"
        if scale is None:
            with np.errstate(invalid="ignore", over="ignore"):
                scale = op.ref(_abs_kwargs(kw, op))
        assert_close(g, e, dtype, scale=scale[i], err_msg=f"{what}: result {i}")


@pytest.mark.parametrize("name", sorted(OPS))
@fuzz_settings
@given(data=st.data())
def test_fuzz_op(name, data):
    # (drawn inside, so hypothesis's database keeps each op's failures under its own key
    # and replays them first on the next run)
    run_case(data.draw(fuzz_cases(name), label="case"))


# --------------------------------------------------------------------------------------------
# conv_output_size and the thread helpers
# --------------------------------------------------------------------------------------------

@st.composite
def output_size_cases(draw):
    n = draw(st.integers(1, 3))
    scalar = n == 1 and draw(st.booleans())
    sizes = tuple(draw(st.integers(1, 30)) for _ in range(n))
    kernel = tuple(draw(st.integers(1, 6)) for _ in range(n))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(n))
    dil = tuple(draw(st.integers(1, 3)) for _ in range(n))
    padding = draw(st.sampled_from([0, 1, 2, "same", "valid", tuple((draw(st.integers(0, 3)),
                                                                    draw(st.integers(0, 3)))
                                                                   for _ in range(n))]))
    kw = dict(input_size=sizes[0] if scalar else sizes, kernel_size=kernel, stride=stride,
              padding=padding, dilation=dil, ceil_mode=draw(st.booleans()))
    expect, labels = ACCEPT, []
    for target in draw(st.permutations(list(kw)))[:draw(st.sampled_from([0, 1, 1, 2]))]:
        kind = {"kernel_size": "kernel", "stride": "stride", "padding": "pad",
                "dilation": "size", "ceil_mode": "flag"}.get(target)
        if target == "input_size":
            outcome, label, kw[target] = draw(st.sampled_from([
                (REJECT, "input-float", 5.0), (REJECT, "input-str", "5"),
                (REJECT, "input-None", None), (REJECT, "input-empty", ()),
                (REJECT, "input-negative", -3), (REJECT, "input-bool", True),
                (REJECT, "input-nested", ((5,),)), (ACCEPT, "input-list", list(sizes)),
                (ACCEPT, "input-np", np.int64(sizes[0]) if scalar else sizes),
                (ACCEPT, "input-0", 0 if scalar else (0,) * n),
                (EITHER, "input-huge", 2**70 if scalar else (2**62,) * n)]))
        else:
            outcome, label, kw[target] = _param_mutation(draw, kind, kw[target], n, True)
        labels.append(f"{target}:{label}")
        if outcome == REJECT:
            expect = REJECT
        elif outcome == EITHER and expect == ACCEPT:
            expect = EITHER
    return SimpleNamespace(kw=kw, expect=expect, labels=labels)


@fuzz_settings
@given(output_size_cases())
def test_fuzz_conv_output_size(case):
    """Pure Python, so the rule is exact: a call with valid types must give the reference's
    answer, or raise ValueError exactly when the reference does (beyond fastconv's size
    limits it may raise too)."""
    what = f"conv_output_size({case.kw}) [{case.labels}; {case.expect}]"
    expected = ref_error = None
    if case.expect != REJECT:
        kw = dict(case.kw, ceil_mode=bool(case.kw["ceil_mode"]))
        try:
            expected = ref.conv_output_size(**kw)
        except ValueError as e:
            ref_error = e
    try:
        got = fc.conv_output_size(**case.kw)
    except ALLOWED as e:
        count_fuzz_case("conv_output_size", "rejected")
        assert case.expect == REJECT or ref_error is not None or case.expect == EITHER, (
            f"{what}: raised {type(e).__name__}: {e}; the reference gives {expected!r}")
        return
    except BaseException as e:  # noqa: BLE001
        raise AssertionError(f"{what}: raised {type(e).__qualname__}: {e}") from e
    count_fuzz_case("conv_output_size", "accepted")
    assert case.expect != REJECT, f"{what}: accepted, returned {got!r}"
    assert ref_error is None, f"{what}: returned {got!r}, the reference raises {ref_error}"
    assert got == expected and type(got) is type(expected), f"{what}: {got!r} != {expected!r}"
    if isinstance(got, tuple):
        assert all(type(v) is int for v in got), what


@fuzz_settings
@given(st.one_of(st.none(), st.integers(-5, 5000), st.sampled_from(
    [2**31, 2**63, 2**70, -2**70, 1.5, 2.0, "2", True, False, [2], np.int64(3), np.int8(-1),
     np.uint16(7), np.float32(2.0), object()])))
def test_fuzz_set_num_threads(n):
    before = fc.get_num_threads()
    valid = n is None or (isinstance(n, (int, np.integer)) and not isinstance(n, bool)
                          and 1 <= n <= 4096)
    try:
        fc.set_num_threads(n)
    except ALLOWED:
        count_fuzz_case("set_num_threads", "rejected")
        assert not valid, f"set_num_threads({n!r}) raised"
        assert fc.get_num_threads() == before, "a rejected call changed the setting"
        return
    except BaseException as e:  # noqa: BLE001
        raise AssertionError(f"set_num_threads({n!r}) raised {type(e).__qualname__}") from e
    finally:
        pass
    count_fuzz_case("set_num_threads", "accepted")
    try:
        assert valid, f"set_num_threads({n!r}) was accepted"
        got = fc.get_num_threads()
        assert type(got) is int and got >= 1
        if n is not None:
            assert got == int(n)
    finally:
        fc.set_num_threads(None)
