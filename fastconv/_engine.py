"""The engine: tuning, the algorithm registry, plans and the plan cache.

* :class:`Tuning` holds every threshold that decides a route or a tile size; it is
  one frozen value, part of every plan's key (``fastconv.tuning(...)`` changes it
  for a block of code, and new plans are made for it: nothing to clear by hand).
* An :class:`Algorithm` declares, for an ``(op, direction)``, whether it supports a
  problem and with which parameters (``configure``); its kernel is the C enum
  ``code``, run by ``_engine.run``; its workspace and task count come from the C
  struct (``Desc.workspace``, ``Desc.tasks``).  :func:`choose` takes the first
  algorithm of the registry's priority order that supports the problem, unless the
  tuning forces one.
* A :class:`Plan` is everything decided for one call signature: the problem, the
  route (algorithm, C struct, workspace, tasks) of each direction, the shapes.  Plans
  live in an LRU cache (:class:`PlanCache`); ``fastconv.plan(func, *args, **kwargs)``
  returns the plan a call would use without running it.
"""
import contextlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, fields, replace

from numpy import ndarray as _ndarray

from ._kernels import _engine as _k
from ._parallel import PLAN_ONLY, check_num_threads

# registry name -> C enum value (fc_problem.h), from the kernels' own table (entry.pxi);
# as_forward has no kernel of its own: it runs a forward route of a derived problem
ALGO = dict(_k.algorithm_codes(), **{"conv.grad_input.as_forward": 0})
_NAMES = {code: name for name, code in _k.algorithm_codes().items()}


@dataclass(frozen=True)
class Tuning:
    """Every threshold the planner uses (bytes are per thread unless said otherwise).

    ``force`` maps a direction to an algorithm name (``{"forward": "strip"}``) for
    the ops that have it; a forced algorithm that does not support a problem makes
    planning raise ``ValueError``.
    """

    tile_bytes: int = 192 * 1024         # target bytes of one im2col tile
    min_tasks: int = 8                   # split small problems into at least this many tasks
    forward_grad_input_channels: int = 64  # stride-1 grad_input as a forward conv from this Cg
    chunked_grad_weight_bytes: int = 512 * 1024  # grad_weight over chunks of samples below this
    grad_weight_chunks: int = 16         # at most this many sample chunks
    strip_out_bytes: int = 128 * 1024    # strip: target bytes of one task's output tile
    strip_bytes: int = 256 * 1024        # strip: target bytes of one input strip
    strip_max_bytes: int = 1024 * 1024   # strip: above this, im2col tiles instead
    strip_max_stride: int = 4            # strip: strides up to this (sH*sW phases)
    strip_min_ow: object = None          # strip: output rows this wide (None: a GEMM panel)
    strip_min_o: int = 16                # strip: output channels per group, at least
    strip_min_o_narrow: int = 64         # ... and this many when rows are narrower than a panel
    grad_weight_strips: bool = True      # grad_weight from strips where they apply
    grad_weight_strip_c_bytes: int = 384 * 1024  # ... its Kg x Og partial at most this,
    grad_weight_strip_min_rows: int = 64  # with at least this many im2col rows (Kg)
    grad_weight_strip_min_ow: int = 16   # and output rows at least this wide
    depthwise_max_og: int = 8            # depthwise kernels by default up to this multiplier
    depthwise_tile_bytes: int = 24 * 1024  # depthwise: a task's input tile about this size,
    depthwise_task_elems: int = 4096     # groups per task for about this many outputs,
    depthwise_min_tasks: int = 512       # but no fewer tasks than this (64 threads, 90%)
    nhwc_min_tasks: int = 64             # channels-last depthwise and pooling: rows and
                                         # channels split until this many tasks (a thread
                                         # each for 64; channel splits cost: avg 2x2/2 on
                                         # 8x56x56x128, 128 -> 64 channels a task, 1.6 ->
                                         # 5.0 ms, one thread)
    reduce_max_outputs: int = 1          # pooling as per-window reductions up to this many
                                         # outputs per volume (1: global pooling),
    reduce_min_run: int = 12             # or for windows this wide (contiguous runs),
    reduce_grad_min_taps: int = 16       # or (avg grad_input) with this many taps;
    reduce_task_elems: int = 8192        # in tasks of about this many input elements
    pool_rows_min_ow: int = 16           # max pooling's SIMD rows kernel for output rows
                                         # this wide (shorter: its scalar tail is slower)
    grouped_max_og: int = 64             # grouped: groups > 1, 2+ channels and up to this many
                                         # output channels per group,
    grouped_max_plane: int = 64 * 64     # output planes up to this many positions,
    grouped_bytes: int = 512 * 1024      # a task's copy and result about this size
    grouped_as_forward: bool = True      # stride-1 grouped grad_input as a grouped forward
    balance_min_work: int = 1 << 62      # many-core balance: directions of at least this many
                                         # multiply-adds get task lists (off by default;
                                         # MANY_CORE below: 1 GFLOP, for 16+ core machines)
    balance_threads: tuple = (16, 32, 64)  # balanced for static schedules of these counts,
    balance_target: float = 0.9          # each at least this balance (static_balance)
    balance_partial_bytes: int = 64 << 20  # grad_weight's chunk partials at most this
    regions_min_zero: float = 0.25       # regions: when at least this fraction of the
                                         # multiply-adds of the dense path are by padding,
    regions_min_zero_im2col: float = 0.05  # (forward: this fraction where strip does not apply)
    regions_max: int = 4096              # with at most this many regions;
    regions_min_madds: int = 1 << 20     # ... for layers of this many dense multiply-adds
    regions_task_madds: int = 1 << 26    # tasks of about this many multiply-adds,
    regions_min_cols: int = 64           # ... with this many columns when the channels allow
    nhwc_min_rows: int = 48              # channels-last conv: tiles of at least this many
                                         # positions when split for more tasks,
    nhwc_min_cw: int = 64                # grad_input channel blocks at least this wide
    nhwc_gi_min_rows: int = 192          # grad_input on planes smaller than this: whole
                                         # samples a GEMM, at least this many rows,
    nhwc_gi_min_cw: int = 64             # ... and channel blocks down to this width
    nhwc_flat_rows: int = 192            # forward and grad_weight on planes smaller than
                                         # this: tiles across samples, of up to this many
                                         # positions (0: never)
    nhwc_gw_partials: float = 0.03       # grad_weight: per-chunk partials at most this
                                         # fraction of x + grad_output + weight,
    nhwc_gw_min_cols: int = 256          # blocks of patch columns at least this wide
    winograd: bool = True                # 3x3 stride-1 forward by Winograd F(2x2, 3x3)
    winograd_min_channels: int = 16      # ... with at least this many input and output
                                         # channels,
    winograd_min_ow: int = 20            # output rows at least this wide (float32, Zen 4, time
                                         # vs the strip path, 1 / 2 threads: 28 wide 0.71-0.72 /
                                         # 0.87-0.91, 32: 0.82 / 0.75, 56: 0.72 / 0.76-0.79;
                                         # 14: 0.78-0.93 / 0.89-1.11, 7: 1.09 / 1.09-1.15 --
                                         # short tile rows make small GEMMs),
    winograd_v_bytes: int = 1024 * 1024  # a task's transformed input about this size
    winograd_nhwc_min_ow: int = 14       # channels-last: output rows at least this wide
                                         # (float32, Zen 4, 2 threads, time vs
                                         # conv.forward.nhwc: 56 wide 0.75-0.84, 28: 0.58-0.66,
                                         # 14: 0.83-0.86, 7: 1.28-1.5),
    winograd_nhwc_tiles_per_channel: float = 0.75   # ... and at least this many 2x2
                                         # tiles (all samples) per input channel (float32,
                                         # Zen 5, 2 threads, time vs conv.forward.nhwc, tiles
                                         # / C: 2x14x14x512 0.19: 2.0, 1x16x16x1024 0.06: 1.8,
                                         # 1x32x32x512 0.5: 1.16, 4x14x14x256 0.77: 1.24 (Zen
                                         # 4: 0.83-0.86), 2x28x28x512 0.77: 0.93, 8x14x14x256
                                         # 1.5: 0.88, 4x28x28x256 3.1: 0.66)
    winograd_nhwc_v_bytes: int = 2 << 20   # ... and a task's transformed input about this
                                         # size (512 -> 512 on 4x28x28: 1 / 2 / 4 MiB 62 / 49 /
                                         # 52 ms; on 4x14x14: 24.5 / 20.9 / 20.7: every task
                                         # reads all of U, more tiles a task read it fewer times)
    winograd_nhwc_min_tiles: int = 48    # ... and at least this many tiles where it allows
                                         # (64: the same time, 0.035x more scratch on the VGG
                                         # block, which the memory target counts)
    winograd_min_tiles: int = 64         # (at least this many 2x2 tiles where it allows)
    force: tuple = ()                    # ((direction, algorithm name), ...)

    def __post_init__(self):
        # plan keys hold the tuning: hash it once, not on every call's lookup
        object.__setattr__(self, "_hash", hash(tuple(getattr(self, f.name)
                                                     for f in fields(self))))

    def __hash__(self):
        return self._hash

    def forced(self, direction):
        for d, name in self.force:
            if d == direction:
                return name
        return None


_DEFAULT = Tuning()
_state = threading.local()


def get_tuning():
    """The :class:`Tuning` in effect in this thread."""
    return getattr(_state, "tuning", _DEFAULT)


#: ``fastconv.tuning(**MANY_CORE)`` balances every direction of 1 GFLOP or more for static
#: schedules of 16, 32 and 64 threads (``Tuning.balance_*``).  Not the default: measured
#: on 2 cores (AMD EPYC Zen 5, 2026-12-02) the smaller tasks cost 10-290% on some layers
#: (VGG-16 conv3_2 backward 1.00 -> 1.72x torch, a WaveNet 1x1 backward 0.82 -> 3.21x).
MANY_CORE = {"balance_min_work": 500_000_000}


@contextlib.contextmanager
def tuning(**changes):
    """Change the planner's thresholds, or force algorithms, inside a ``with`` block.

    The tuning is one frozen value that is part of every plan's key: calls inside
    the block get plans made for it, calls outside keep theirs.  It applies to the
    calling Python thread only.

    Parameters
    ----------
    **changes
        Fields of :class:`fastconv._engine.Tuning` to change, for example
        ``strip_min_o=1`` or ``tile_bytes=65536``; ``force={"forward": "im2col",
        "grad_weight": "rows"}`` forces algorithms per direction: a short name applies
        to every op that has an algorithm of that name in that direction (the others
        keep their choice), a full name (``"max_pool.forward.reduce"``) to its op only.

    Yields
    ------
    Tuning
        The tuning in effect inside the block.

    Raises
    ------
    TypeError
        An unknown field name.
    ValueError
        ``force`` names a direction or an algorithm that does not exist.

    See Also
    --------
    plan : Which algorithm a call uses.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.zeros((2, 3, 32, 32)); w = np.zeros((16, 3, 3, 3))
    >>> with fastconv.tuning(force={"forward": "im2col"}):
    ...     fastconv.plan(fastconv.conv2d, x, w).algorithms["forward"]
    'conv.forward.im2col'
    """
    old = get_tuning()
    if "force" in changes:
        force = dict(changes["force"] or {})
        for d, name in force.items():
            if d not in ("forward", "grad_input", "grad_weight", "grad_bias"):
                raise ValueError(f"`force` keys must be directions ('forward', 'grad_input', "
                                 f"'grad_weight', 'grad_bias'), got {d!r}")
            algs = registered(direction=d)
            if name not in {a.short for a in algs} | {a.name for a in algs}:
                raise ValueError(f"no algorithm {name!r} for {d}; registered: "
                                 f"{sorted({a.short for a in algs})}")
        changes["force"] = tuple(sorted(force.items()))
    names = {f.name for f in fields(Tuning)}
    unknown = set(changes) - names
    if unknown:
        raise TypeError(f"unknown tuning field(s) {sorted(unknown)}; known: {sorted(names)}")
    _state.tuning = replace(old, **changes)
    try:
        yield _state.tuning
    finally:
        _state.tuning = old


# ----------------------------------------------------------------- sizes


def ceil_div(a, b):
    return -(-a // b)


def round16(n):
    return max(16, ceil_div(n, 16) * 16)


def tile_len(rows, L, itemsize, t, tasks_outside=None):
    """Columns per im2col tile: fits ``t.tile_bytes``, and (forward) makes at least
    ``t.min_tasks`` tasks.  A function of the shape only, never of the thread count."""
    lt = t.tile_bytes // (itemsize * max(rows, 1))
    lt = min(max(16, lt // 16 * 16), 4096, round16(L))
    if tasks_outside and tasks_outside * ceil_div(L, lt) < t.min_tasks:
        want_tiles = ceil_div(t.min_tasks, tasks_outside)
        lt = min(lt, round16(ceil_div(L, want_tiles)))
    return lt


def strip_tile_len(p, desc, t, out_bytes, tasks_outside=None):
    """Columns per strip tile (tiles lie in one output plane): an output tile of about
    ``out_bytes`` (Og rows), halved until the strip fits ``t.strip_bytes``, and
    (forward) enough tasks; None when even the smallest tile's strip exceeds
    ``t.strip_max_bytes``.  Strip sizes come from the C struct (``Desc.strip_elems``)."""
    itemsize = p.dtype.itemsize
    plane = desc.fields()["out_plane"]
    lt = min(max(64, out_bytes // (itemsize * max(p.Og, 1)) // 16 * 16), 4096, round16(plane))
    while lt > 64 and desc.strip_elems(lt) * itemsize > t.strip_bytes:
        lt = max(64, lt // 2 // 16 * 16)
    if tasks_outside and tasks_outside * ceil_div(plane, lt) < t.min_tasks:
        lt = min(lt, round16(ceil_div(plane, ceil_div(t.min_tasks, tasks_outside))))
    return None if desc.strip_elems(lt) * itemsize > t.strip_max_bytes else lt


def panel_width(itemsize):
    return _k.gemm_panel_width(itemsize == 8)


# ------------------------------------------------------ many-core balance


def static_balance(task_work, threads):
    """Load balance of ``task_work`` (one number per task, in task order) under an
    OpenMP static schedule of ``threads`` threads: thread t runs a contiguous block of
    ``q = n // threads`` tasks, the first ``n % threads`` threads one more (libgomp's
    ``schedule(static)``).  Returns ``(total / threads) / max thread work``, in (0, 1];
    1.0 for no work."""
    import numpy as np
    w = np.asarray(task_work, dtype=np.float64).ravel()
    n = w.size
    total = float(w.sum())
    if n == 0 or total <= 0:
        return 1.0
    q, r = divmod(n, threads)
    sizes = np.full(threads, q, np.int64)
    sizes[:r] += 1
    ends = np.cumsum(sizes)
    csum = np.concatenate(([0.0], np.cumsum(w)))
    per = csum[ends] - csum[ends - sizes]
    return (total / threads) / float(per.max())


def min_balance(task_work, threads=(16, 32, 64)):
    """The worst :func:`static_balance` of ``task_work`` over ``threads``."""
    return min(static_balance(task_work, t) for t in threads)


def _tiles(total, lt):
    """Column counts of the tiles of ``total`` columns, ``lt`` each (the last partial)."""
    import numpy as np
    if total <= 0 or lt <= 0:
        return np.zeros(0, np.int64)
    n, rem = divmod(total, lt)
    return np.array([lt] * n + ([rem] if rem else []), np.int64)


def _chunk_sums(widths, chunks):
    """Sums of ``widths`` (per flat (sample, tile)) over the chunks' ranges
    ``[c*NT//P, (c+1)*NT//P)`` (the kernels' chunk rule)."""
    import numpy as np
    nt = len(widths)
    csum = np.concatenate(([0], np.cumsum(widths)))
    bounds = [c * nt // chunks for c in range(chunks + 1)]
    return np.array([csum[bounds[c + 1]] - csum[bounds[c]] for c in range(chunks)], np.int64)


def task_work(desc):
    """Multiply-adds of each task of a configured C struct (``Desc``), in task order, as
    the kernel splits them (the same rules as ``fc_tasks``): a list of ints, or None for
    an algorithm without a model (pooling, unfold)."""
    import numpy as np
    f = desc.fields()
    code = f["algo"]
    name = _NAMES.get(code)
    if name is None or not name.startswith("conv."):
        return None
    N, G, Og, Cg, Kg, L = f["N"], f["groups"], f["Og"], f["Cg"], f["Kg"], f["L"]
    lt, blk, P, taps = f["lt"], f["blk"], f["chunks"], f["taps"]
    OD, OH, OW = f["out"]
    short = name.split(".", 2)[1:]
    if short[0] == "forward" and short[1] in ("direct", "im2col", "strip"):
        tiles = (np.tile(_tiles(f["out_plane"], lt), OD) if short[1] == "strip"
                 else _tiles(L, lt))
        ob = blk if blk > 0 else Og
        obs = _tiles(Og, ob)
        one = (tiles[:, None] * obs[None, :]).ravel() * Kg     # (tile, o block)
        w = np.tile(one, N * G)
    elif short[0] == "grad_input" and short[1] in ("direct", "col2im"):
        w = np.tile(_tiles(Cg, blk) * taps * L * Og, N * G)
    elif name == "conv.grad_weight.rows":
        chunks = max(P, 1)
        widths = np.tile(_tiles(L, lt), N)
        per_chunk = _chunk_sums(widths, chunks)                # columns per chunk
        rows = _tiles(Kg, blk)
        w = np.repeat(per_chunk, G * len(rows)) * np.tile(rows, chunks * G) * Og
    elif name in ("conv.grad_weight.strip", "conv.grad_weight.chunked"):
        if name.endswith("strip"):
            widths = np.tile(np.tile(_tiles(f["out_plane"], lt), OD), N)
        else:
            widths = np.full(N, L, np.int64)
        w = np.repeat(_chunk_sums(widths, max(P, 1)), G) * Kg * Og
    elif name in ("conv.forward.winograd", "conv.forward.winograd_nhwc"):  # (row block, o block)
        th, tw = ceil_div(OH, 2), ceil_div(OW, 2)
        ob = blk if 0 < blk < Og else Og
        w = (np.outer(_tiles(N * th, lt) * tw, _tiles(Og, ob)).ravel() * 16 * Cg
             if lt > 0 else [])
    elif name in ("conv.forward.grouped", "conv.grad_weight.grouped"):
        w = np.repeat(_tiles(N, blk), G) * L * Kg * Og       # (chunk of samples, g)
    elif name == "conv.forward.regions":
        w = _regions_fwd_work(f)
    elif name == "conv.grad_weight.regions":
        w = _regions_bww_work(f)
    elif name == "conv.grad_bias.sum":
        w = np.full(f["O"], N * L, np.int64)
    elif name == "conv.forward.depthwise":                    # (n, lt groups, blk rows)
        rows = OD * OH
        w = (np.tile(np.outer(_tiles(G, lt) * Og, _tiles(rows, blk)).ravel() * OW * taps, N)
             if blk > 0 and lt > 0 else [])
    elif name == "conv.grad_input.depthwise":                 # (n, lt groups, blk rows)
        D, H = f["in"][0], f["in"][1]
        share = _tiles(D * H, blk) / float(D * H) if blk > 0 else np.zeros(0)
        w = (np.tile(np.outer(_tiles(G, lt), share).ravel() * Og * L * taps, N)
             if lt > 0 else [])
    elif name == "conv.forward.nhwc":                         # (n, tile, g, o block)
        flat = desc.is_direct or lt > L                       # tiles of the N*L rows
        tiles = _tiles(N * L if flat else L, lt)
        obs = _tiles(Og, blk if 0 < blk < Og else Og)
        one = (tiles[:, None, None] * np.ones(G, np.int64)[None, :, None]
               * obs[None, None, :]).ravel() * Kg
        w = np.tile(one, 1 if flat else N)
    elif name == "conv.grad_input.nhwc":
        if desc.is_direct:                                    # (g, channel block, tile)
            w = np.tile(np.outer(_tiles(Cg, blk if 0 < blk < Cg else Cg),
                                 _tiles(N * L, lt)).ravel(), G) * Og
        else:                                      # (g, channel block, ns samples)
            cbs = _tiles(Cg, blk if 0 < blk < Cg else Cg)
            w = (np.tile(cbs, G)[:, None] * _tiles(N, max(P, 1))[None, :]).ravel() * (
                taps * L * Og)
    elif name == "conv.grad_weight.nhwc":                     # (chunk, g, Kg block)
        chunks = max(P, 1)
        kbs = _tiles(Kg, blk if 0 < blk < Kg else Kg)
        seq = _tiles(N * L, lt) if lt > L else np.tile(_tiles(L, lt), N)   # (flat tiles)
        per_chunk = _chunk_sums(seq, chunks)
        w = np.repeat(per_chunk, G * len(kbs)) * np.tile(kbs, chunks * G) * Og
    elif name == "conv.grad_bias.nhwc":                       # blocks of 64 channels
        w = _tiles(f["O"], 64) * N * L
    elif name == "conv.grad_weight.depthwise":                # (chunk, g), all Og
        chunks = max(P, 1)
        w = np.repeat(_chunk_sums(np.full(N, L, np.int64), chunks), G) * taps * Og
    elif name == "conv.forward.depthwise_nhwc":               # (n, lt rows, blk channels)
        w = (np.tile(np.outer(_tiles(OD * OH, lt), _tiles(f["C"], blk)).ravel()
                     * OW * Og * taps, N) if lt > 0 and blk > 0 else [])
    elif name == "conv.grad_input.depthwise_nhwc":            # (n, lt rows, blk channels)
        D, H = f["in"][0], f["in"][1]
        share = _tiles(D * H, lt) / float(D * H) if lt > 0 else np.zeros(0)
        w = (np.tile(np.outer(share, _tiles(f["C"], blk)).ravel() * Og * L * taps, N)
             if blk > 0 else [])
    elif name == "conv.grad_weight.depthwise_nhwc":           # (chunk, blk channels)
        w = (np.outer(_chunk_sums(np.full(N, L, np.int64), max(P, 1)),
                      _tiles(f["C"], blk)).ravel() * taps * Og if blk > 0 else [])
    else:
        return None
    return [int(v) if float(v).is_integer() else float(v) for v in np.asarray(w).ravel()]


def _axes_of(f):
    """Every lifted axis's segments (D, H, W) from a C struct's fields."""
    return [axis_segments(f["out"][j], f["in"][j], f["k"][j], f["s"][j], f["d"][j],
                          f["pb"][j]) for j in range(3)]


def _regions_fwd_work(f):
    """Multiply-adds of each conv.forward.regions task, in task order (reg_region's
    tiles: regions row-major, then (g, channel block, tile))."""
    import numpy as np
    N, G, Og, Cg, lt, ob = f["N"], f["groups"], f["Og"], f["Cg"], f["lt"], f["blk"]
    if lt <= 0 or ob <= 0 or N == 0:
        return np.zeros(0)
    obs = _tiles(Og, ob)
    out = []
    axes = _axes_of(f)
    for a0, a1, ta0, ta1 in axes[0]:
        for b0, b1, tb0, tb1 in axes[1]:
            for c0, c1, tc0, tc1 in axes[2]:
                area = (a1 - a0) * (b1 - b0) * (c1 - c0)
                ntaps = (ta1 - ta0) * (tb1 - tb0) * (tc1 - tc0)
                cols = N * area
                tiles = max(1, ceil_div(cols * max(ntaps, 1), lt))
                ltr = ceil_div(cols, tiles)
                widths = np.array([max(0, min(ltr, cols - i * ltr)) for i in range(tiles)],
                                  np.int64)
                one = (obs[:, None] * widths[None, :]).ravel() * Cg * ntaps
                out.append(np.tile(one, G))
    return np.concatenate(out) if out else np.zeros(0)


def _regions_bww_work(f):
    """Multiply-adds of each conv.grad_weight.regions task, in task order
    ((g, channel block, input-channel block, tap inside somewhere))."""
    import numpy as np
    N, G, Og, Cg, ob, cb = f["N"], f["groups"], f["Og"], f["Cg"], f["blk"], f["chunks"]
    if ob <= 0 or cb <= 0:
        return np.zeros(0)
    boxes = []
    for j in range(3):
        lens = []
        for i in range(f["k"][j]):
            x0 = i * f["d"][j] - f["pb"][j]
            n_out, n_in, st = f["out"][j], f["in"][j], f["s"][j]
            lo = 0 if x0 >= 0 else min(n_out, ceil_div(-x0, st))
            hi = 0 if x0 > n_in - 1 else min(n_out, (n_in - 1 - x0) // st + 1)
            lens.append(max(0, hi - lo))
        boxes.append(lens)
    area = np.array([a * b * c for a in boxes[0] for b in boxes[1] for c in boxes[2]],
                    np.int64)
    area = area[area > 0]                 # (only the taps inside somewhere have tasks)
    one = (_tiles(Og, ob)[:, None] * _tiles(Cg, cb)[None, :]).ravel()
    w = (one[:, None] * area[None, :]).ravel() * N        # the tap varies fastest
    return np.tile(w, G)


def _region_widths(f):
    """Column counts of the forward regions' tiles (with taps), one per tile."""
    N, lt = f["N"], f["lt"]
    out = []
    axes = _axes_of(f)
    for a0, a1, ta0, ta1 in axes[0]:
        for b0, b1, tb0, tb1 in axes[1]:
            for c0, c1, tc0, tc1 in axes[2]:
                ntaps = (ta1 - ta0) * (tb1 - tb0) * (tc1 - tc0)
                cols = N * (a1 - a0) * (b1 - b0) * (c1 - c0)
                if ntaps == 0:
                    continue
                tiles = max(1, ceil_div(cols * ntaps, lt))
                ltr = ceil_div(cols, tiles)
                out += [max(0, min(ltr, cols - i * ltr)) for i in range(tiles)]
    return out


def _region_eff(rows, widths):
    """Estimated GEMM efficiency of regions tasks of ``rows`` rows over tiles of these
    column ``widths``, relative to an ideal one.  Fitted on ASPP dilation 12 (2048 -> 256
    channels, two threads, against 256 rows and whole regions): each task gathers its B
    panels once for its rows, about 95/rows (128 rows 0.79, 64 rows 0.53), and a tile
    pays about 16 columns of overhead (half the columns 0.86, a quarter 0.71)."""
    cols = sum(widths)
    if cols == 0:
        return 1.0
    return cols / float(cols + 16 * len(widths)) / (1.0 + 95.0 / max(rows, 1))


def _pick_bounded(cands, t, floor=0.85):
    """_pick among the candidates at least ``floor`` times as efficient as the first
    (the natural split): on this 2-core machine a split for 64 threads that costs more
    is not worth it (ASPP dilation 12 forward balanced by 64-row blocks of 8-column
    tiles: 267 -> 608 ms)."""
    base = cands[0][2]
    return _pick([c for c in cands if c[2] >= floor * base], t)


def _inside_of_fields(f):
    """The inside fraction of a C struct's problem (see inside_fraction)."""
    frac = 1.0
    for j, segs in enumerate(_axes_of(f)):
        inside = sum((e - b) * (th - tl) for b, e, tl, th in segs)
        frac *= inside / max(1, f["out"][j] * f["k"][j])
    return frac


def _balance_ok(p, t):
    """Is the direction big enough to be balanced for many cores (see Tuning)?"""
    return p.N * p.O * p.L * p.Kg >= t.balance_min_work


def _pick(candidates, t):
    """The best of ``candidates`` (params, task work, efficiency): the most efficient
    whose worst balance over ``t.balance_threads`` reaches ``t.balance_target`` (ties:
    the first, i.e. the most natural), else the best balance x efficiency."""
    best = None
    for params, work, eff in candidates:
        bal = min_balance(work, t.balance_threads)
        key = (bal >= t.balance_target, round(eff if bal >= t.balance_target else bal * eff, 4))
        if best is None or key > best[0]:
            best = (key, params)
    return best[1]


def _gemm_eff(rows, widths, nr):
    """Estimated efficiency of GEMM tasks of ``rows`` output rows over tiles of these
    column ``widths`` (panels of ``nr``), relative to an ideal one.  Fitted on the strip
    forward (one thread, float32, GFLOP/s; the machine's speed drifts between runs): a
    partial panel costs a full one (3x3 512@14, 256 rows: 32 columns 86, 25 columns 67,
    49 columns 75; 3x3 256@56: 64 columns 110, 62 columns 96, 49 columns 79) and a whole
    panel little more than two halves of a tile (256@56: 64 columns 147, 32 columns 144);
    splitting a task's rows costs about 40/rows (each task gathers its B panels once
    for its rows: 256@56 at 32 columns, 256 -> 128 rows 144 -> 124; 1024@16, 1024 -> 256
    rows 127 -> 122; 128@28, 128 -> 64 rows 122 -> 106)."""
    import numpy as np
    w = np.asarray(widths, np.float64)
    if w.size == 0:
        return 1.0
    panels = np.ceil(w / nr)
    return float(w.sum() / (panels * nr).sum()) / (1.0 + 40.0 / max(rows, 1))


def _col_eff(widths, nr):
    """GEMM column efficiency of tiles of these widths (panels of ``nr`` columns)."""
    import numpy as np
    w = np.asarray(widths)
    return float(w.sum()) / float((-(-w // nr) * nr).sum()) if w.size else 1.0


def _row_eff(rows, mr=8):
    """A GEMM's efficiency by its row count (micro-tiles of ``mr`` rows; each packed
    B panel serves all rows, so few rows pay its packing more often)."""
    full = rows / float(ceil_div(rows, mr) * mr)
    return full * (1.0 if rows >= 64 else 0.97 if rows >= 32 else 0.9 if rows >= 16 else 0.8)


# -------------------------------------------------------------- registry


@dataclass(frozen=True)
class Algorithm:
    """One kernel of the registry.  ``configure(problem, desc, tuning)`` returns the
    parameters (``lt``, ``blk``, ``chunks``; a dict) when the algorithm supports the
    problem, else None."""

    name: str             # "conv.forward.strip": op, direction, short name
    configure: object
    summary: str
    layouts: tuple = ("channels_first",)   # the data layouts its kernel reads
    padding_modes: bool = False            # reads reflect / replicate / circular padding

    @property
    def op(self):
        return self.name.split(".")[0]

    @property
    def direction(self):
        return self.name.split(".")[1]

    @property
    def short(self):
        return self.name.split(".")[2]


_REGISTRY = {}   # (op, direction) -> [Algorithm, ...] in priority order


def register(name, summary, layouts=("channels_first",), padding_modes=False):
    """Decorator: register ``configure`` as algorithm ``name`` (after those already
    registered for its op and direction: registration order is priority order), for
    problems in one of ``layouts``; ``padding_modes``: its kernel also reads the reflect,
    replicate and circular padding modes (else only zeros)."""
    def deco(configure):
        alg = Algorithm(name, configure, summary, tuple(layouts), padding_modes)
        if name not in ALGO:
            raise AssertionError(f"algorithm {name} has no C enum value")
        _REGISTRY.setdefault((alg.op, alg.direction), []).append(alg)
        return configure
    return deco


def registered(op=None, direction=None):
    """The registered algorithms, in priority order (optionally for one op/direction)."""
    return [a for (o, d), algs in _REGISTRY.items() for a in algs
            if (op is None or o == op) and (direction is None or d == direction)]


@dataclass(frozen=True)
class Route:
    """The algorithm chosen for one direction of a problem, with its C struct."""

    direction: str
    algorithm: str
    desc: object = field(repr=False)     # _engine.Desc, configured
    per_thread: int                      # workspace elements per thread
    shared: int                          # workspace elements shared by all threads
    tasks: int
    itemsize: int
    sub: object = None                   # as_forward: the forward Route it runs
    extra: object = None                 # algorithm-specific data (as_forward: padding)

    def workspace_bytes(self, n_threads=1):
        """Scratch bytes for ``n_threads`` threads (the sub-route's, for as_forward)."""
        if self.sub is not None:
            return self.sub.workspace_bytes(n_threads)
        return (self.per_thread * n_threads + self.shared) * self.itemsize

    def describe(self, n_threads=1):
        d = {"direction": self.direction, "algorithm": self.algorithm,
             "workspace_bytes": self.workspace_bytes(n_threads),
             "tasks": self.tasks if self.sub is None else self.sub.tasks}
        if self.sub is not None:
            d["runs"] = self.sub.algorithm
        tw = self.task_work()
        if tw is not None:
            d["task_work"] = tw
        return d

    def task_work(self):
        """Multiply-adds of each task, in task order (the sub-route's for as_forward);
        None when the algorithm has no model."""
        if self.sub is not None:
            return self.sub.task_work()
        return task_work(self.desc)


def route(problem, direction, t=None, desc=None):
    """Choose the algorithm of ``direction`` for ``problem``: the forced one, or the
    first in priority order that supports it."""
    t = get_tuning() if t is None else t
    base = (problem.with_(direction=direction).desc() if desc is None else desc)
    candidates = [a for a in _REGISTRY.get((problem.op, direction), [])
                  if problem.layout in a.layouts
                  and (problem.padding_mode == "zeros" or a.padding_modes)]
    forced = t.forced(direction)
    named = [a for a in candidates if forced in (a.name, a.short)] if forced else []
    if named:
        candidates = named
    else:   # tuning() checked the name exists for some op: not for this one
        forced = None
    for alg in candidates:
        params = alg.configure(problem, base, t)
        if params is None:
            continue
        if alg.short == "as_forward":
            sub_problem, pads = params
            sub = route(sub_problem, "forward", t)
            return Route(direction, alg.name, None, 0, 0, sub.tasks, problem.dtype.itemsize,
                         sub=sub, extra=pads)
        desc = base.configured(ALGO[alg.name], params.get("lt", 0), params.get("blk", 0),
                               params.get("chunks", 0))
        per_thread, shared = desc.workspace[:2]
        return Route(direction, alg.name, desc, per_thread, shared, desc.tasks,
                     problem.dtype.itemsize, extra=params)
    raise ValueError(f"algorithm {forced!r} does not support this {problem.op} problem"
                     if forced else f"no algorithm supports this {problem.op} {direction} problem")


# ------------------------------------------------------------------ plans


@dataclass(frozen=True, eq=False)
class Plan:
    """What one call signature of an op runs: see :func:`fastconv.plan`.

    Attributes
    ----------
    op : str
        The public function's name (``'conv2d'``, ``'conv2d_backward'``, ...).
    problem : Problem
        The normalised problem.
    routes : tuple of Route
        One per direction computed, in order.
    work : int
        Multiply-adds (or window taps) of the whole call: decides the serial threshold.
    """

    op: str
    problem: object
    routes: tuple
    work: int
    info: dict = field(default_factory=dict, repr=False)   # op-specific data of the wrapper

    def route(self, direction):
        for r in self.routes:
            if r.direction == direction:
                return r
        raise KeyError(direction)

    @property
    def algorithms(self):
        """``{direction: algorithm name}``."""
        return {r.direction: r.algorithm for r in self.routes}

    def describe(self, n_threads=1):
        """One dict per direction: algorithm, workspace bytes for ``n_threads``, tasks,
        and ``task_work`` (multiply-adds per task, in task order) where modelled."""
        return [r.describe(n_threads) for r in self.routes]

    def __repr__(self):
        lines = [f"<fastconv plan for {self.op}: {self.problem.op} rank {self.problem.rank}, "
                 f"x {self.problem.x_shape}, {self.problem.dtype}>"]
        for d in self.describe():
            lines.append(f"  {d['direction']:12s} {d['algorithm']:28s} "
                         f"{d['workspace_bytes']:>10d} B workspace (1 thread) "
                         f"{d['tasks']:>7d} tasks"
                         + (f"  (runs {d['runs']})" if "runs" in d else ""))
        return "\n".join(lines)


class PlanCache:
    """A bounded LRU cache of plans (keys hold shapes, dtypes, arguments and tuning)."""

    def __init__(self, maxsize=512):
        self.maxsize = maxsize
        self._plans = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key, make):
        """The plan under ``key``, else ``make()`` stored under it (unless key is None;
        ``make`` validates, so an invalid call raises and stores nothing).  A hit takes
        no lock: a dict lookup and ``move_to_end`` are each atomic under the GIL (a plan
        evicted in between is only made again)."""
        if key is not None:
            try:
                plan = self._plans[key]
                self._plans.move_to_end(key)
                self.hits += 1
                return plan
            except KeyError:
                pass
            except TypeError:   # an unhashable argument: no caching
                key = None
        plan = make()
        if key is not None:
            with self._lock:
                self.misses += 1
                self._plans[key] = plan
                while len(self._plans) > self.maxsize:
                    self._plans.popitem(last=False)
        return plan

    def __len__(self):
        return len(self._plans)

    def clear(self):
        with self._lock:
            self._plans.clear()
            self.hits = self.misses = 0

    def info(self):
        return {"size": len(self._plans), "maxsize": self.maxsize, "hits": self.hits,
                "misses": self.misses}


PLANS = PlanCache()


def plain(value):
    """An int, a str, None, or a tuple of (tuples of) ints: arguments whose equality
    means the same validation result (``True == 1`` and ``1.0 == 1``, but a bool or
    float stride is a TypeError, so those never make a key)."""
    t = type(value)
    if t is int or t is str or value is None:
        return True
    if t is tuple:
        return all(type(e) is int or (type(e) is tuple and all(type(u) is int for u in e))
                   for e in value)
    return False


def make_key(op, arrays, args):
    """A cache key for ``op`` with these arrays (exact ndarrays or None) and plain
    arguments, plus the tuning in effect; None when the call must not be cached.
    The arguments' types are part of the key (``True`` and ``1`` validate
    differently).  Written for speed: it runs on every call."""
    parts = [op, getattr(_state, "tuning", _DEFAULT)]
    for a in arrays:
        if type(a) is _ndarray:
            parts += (a.shape, a.dtype)
        elif a is None:
            parts.append(None)
        else:
            return None
    types = tuple(map(type, args))
    if not _KEY_TYPES.issuperset(types):
        return None
    if tuple in types and not all(plain(a) for a in args if type(a) is tuple):
        return None
    parts += (args, types)
    return tuple(parts)


_KEY_TYPES = frozenset((int, bool, str, type(None), tuple))


# ------------------------------------------- balanced splits for many cores
#
# A direction of at least balance_min_work multiply-adds gets a task list that
# balances a static schedule of each of balance_threads threads to balance_target
# (static_balance): the planner weighs candidate splits -- all fixed by the shape, so
# results stay the same for any thread count -- by their task work (task_work) and a
# GEMM efficiency estimate (_col_eff, _row_eff), and takes the most efficient that
# balances, else the best balanced.  Smaller layers keep their natural split.


def _o_blocks(Og, min_ob=32):
    """Output-channel blocks to try: Og, then about Og/k rounded up to 8 rows (k = 2,
    3, ...), down to min_ob."""
    out = [Og]
    for k in range(2, Og + 1):
        ob = ceil_div(ceil_div(Og, k), 8) * 8
        if ob < min_ob:
            break
        if ob < out[-1]:
            out.append(ob)
    return out


def _tile_lens(lt_nat, total):
    """Tile lengths to try: multiples of 16 from lt_nat down to a quarter of it, and the
    lengths that split ``total`` into k equal tiles."""
    lts = list(range(lt_nat, max(16, lt_nat // 4) - 1, -16))
    for k in range(1, 65):
        lt = ceil_div(total, k)
        if lt < 16:
            break
        if lt <= lt_nat and lt not in lts:
            lts.append(lt)
    return lts


def _balanced_forward(p, desc, t, name, lt_nat, plane, lt_ok=None):
    """``{"lt", "blk"}`` of a forward route: tiles of ``plane`` columns (a strip tile
    lies in one output plane) and output-channel blocks, balanced (see above)."""
    if not _balance_ok(p, t):
        return {"lt": lt_nat}
    nr = panel_width(p.dtype.itemsize)
    cands = []
    for ob in _o_blocks(p.Og):
        for lt in _tile_lens(lt_nat, plane):
            if lt_ok is not None and not lt_ok(lt):
                continue
            d = desc.configured(ALGO[name], lt, ob if ob < p.Og else 0, 0)
            eff = _gemm_eff(ob, _tiles(plane, lt), nr)
            cands.append(({"lt": lt, "blk": ob if ob < p.Og else 0}, task_work(d), eff))
    return _pick(cands, t)


# ---------------------------------------------------- the algorithms


@register("conv.forward.direct", "1x1x1 kernel, stride 1, no padding: the input planes "
          "are the column matrix; one GEMM per tile")
def _fwd_direct(p, desc, t):
    if not desc.is_direct:
        return None
    return _balanced_forward(p, desc, t, "conv.forward.direct",
                             tile_len(0, p.L, p.dtype.itemsize, t, p.N * p.groups), p.L)


# Depthwise (groups == C, Cg == 1): the tile kernels (fc_dwtile_body.h; 3-D problems:
# row loops).  They support every depthwise problem when forced; by default they are
# chosen for up to depthwise_max_og output channels per group (benchmarks/
# depthwise_table.py: MobileNetV2's depthwise layers, 7 to 112 wide, strides 1 and 2,
# and multiplier 2, all faster than the GEMM routes).


def _depthwise(p, t, direction):
    """True for a depthwise problem the depthwise kernels should run: always when
    forced, else when ``groups > 1`` and ``Og <= depthwise_max_og``."""
    if p.op != "conv" or p.Cg != 1:
        return False
    # (a single input channel, groups == C == 1, is depthwise too, but LeNet conv1's
    # backward ran 1.78 ms on it against 1.28 ms on the chunked grad_weight: by default
    # only layers of several groups)
    return t.forced(direction) is not None or (p.groups > 1 and p.Og <= t.depthwise_max_og)


def _row_block(rows, outside, t, row_elems=0, itemsize=4):
    """Rows per task: a tile of about ``depthwise_tile_bytes`` (``row_elems`` elements
    per row), and small enough that ``outside * ceil(rows / blk)`` reaches
    ``min_tasks``."""
    blk = max(rows, 1)
    if row_elems:
        blk = min(blk, max(1, t.depthwise_tile_bytes // (row_elems * itemsize)))
    if outside < t.min_tasks and rows > 1:
        blk = min(blk, max(1, ceil_div(rows, ceil_div(t.min_tasks, outside))))
    return ceil_div(rows, ceil_div(rows, blk)) if rows > 0 else blk   # blocks of even size


def _group_block(p, rows, blk, out_w, t):
    """Groups per task (``lt``): about ``depthwise_task_elems`` outputs a task (small
    planes: one group's rows are too little work for a task), keeping at least
    ``depthwise_min_tasks`` tasks."""
    nrb = ceil_div(rows, blk)
    gb = max(1, t.depthwise_task_elems // max(1, blk * out_w * p.Og))
    gb = max(1, min(gb, p.groups, (p.N * p.groups * nrb) // t.depthwise_min_tasks))
    return ceil_div(p.groups, ceil_div(p.groups, gb))   # blocks of even size


def _fwd_row_elems(f):
    """Elements of one output row's share of the forward tile: sH*sW phase rows of
    OW + (kW-1)*dW//sW columns (0 for 3-D problems: row loops, no tile)."""
    if f["in"][0] != 1 or f["k"][0] != 1 or f["out"][0] != 1:
        return 0
    return f["s"][1] * f["s"][2] * (f["out"][2] + (f["k"][2] - 1) * f["d"][2] // f["s"][2])


@register("conv.forward.depthwise", "depthwise (one input channel per group): the rows "
          "a task reads in a zero-padded tile split by stride phase; each output a flat "
          "vector loop over it")
def _fwd_depthwise(p, desc, t):
    f = desc.fields()
    if not _depthwise(p, t, "forward"):
        return None
    rows = f["out"][0] * f["out"][1]
    blk = _row_block(rows, p.N * p.groups, t, _fwd_row_elems(f), p.dtype.itemsize)
    return {"blk": blk, "lt": _group_block(p, rows, blk, f["out"][2], t)}


@register("conv.grad_input.depthwise", "depthwise: per stride phase of a task's input "
          "rows, a stride-1 correlation of a grad_output tile (no col2im)")
def _bwi_depthwise(p, desc, t):
    f = desc.fields()
    if not _depthwise(p, t, "grad_input"):
        return None
    row = 0
    if f["in"][0] == 1 and f["k"][0] == 1 and f["out"][0] == 1:
        row = f["in"][2] + 2 * f["s"][2] + (f["k"][2] - 1) * f["d"][2]   # phases' outputs
    rows = f["in"][0] * f["in"][1]
    blk = _row_block(rows, p.N * p.groups, t, row, p.dtype.itemsize)
    return {"blk": blk, "lt": _group_block(p, rows, blk, f["in"][2], t)}


@register("conv.grad_weight.depthwise", "depthwise: per group and chunk of samples, one "
          "dot product per tap of the forward tile with grad_output")
def _bww_depthwise(p, desc, t):
    f = desc.fields()
    if not _depthwise(p, t, "grad_weight"):
        return None
    blk = _row_block(f["out"][0] * f["out"][1], t.min_tasks, t, _fwd_row_elems(f),
                     p.dtype.itemsize)
    # sample chunks to make depthwise_min_tasks tasks; each ends with a reduction of
    # its sums
    chunks = max(1, min(p.N, t.grad_weight_chunks, ceil_div(t.depthwise_min_tasks, p.groups)))
    return {"chunks": chunks, "blk": blk}


def _grouped(p, t, direction):
    """True for the grouped small-plane kernels: rank <= 2, and when not forced,
    groups > 1, 2 <= Cg, Og <= grouped_max_og and L <= grouped_max_plane."""
    if p.op != "conv" or p.rank > 2 or p.Cg < 1 or p.O == 0:
        return False
    if t.forced(direction) is not None:
        return True
    return (p.groups > 1 and p.Cg >= 2 and p.Og <= t.grouped_max_og
            and p.L <= t.grouped_max_plane)


def _grouped_chunk(p, desc, t, per_sample_extra):
    """Samples per task: the copy (and result) of about grouped_bytes, and at least
    min_tasks tasks where the batch allows."""
    f = desc.fields()
    oh, ow = f["out"][1], f["out"][2]
    rows = oh + (f["k"][1] - 1) * f["d"][1] // f["s"][1]
    per = (f["k"][2] * f["s"][1] * p.Cg * rows * ow + per_sample_extra) * p.dtype.itemsize
    nb = max(1, min(p.N, t.grouped_bytes // max(per, 1)))
    if p.groups * ceil_div(p.N, nb) < t.min_tasks:
        nb = max(1, ceil_div(p.N, ceil_div(t.min_tasks, p.groups)))
    return nb


@register("conv.forward.grouped", "small planes, many groups: one GEMM per group over a "
          "chunk of samples, from a copy of the input split by kernel column")
def _fwd_grouped(p, desc, t):
    """One GEMM per (group, chunk of samples): the per-sample GEMMs of a ResNeXt
    grouped layer are tiny (Og = 32, L = 49) and im2col dominates; a copy of the input
    split by kernel column (kW copies instead of im2col's kH*kW) makes each im2col
    row one contiguous run per sample, gathered by whole vectors."""
    if not _grouped(p, t, "forward") or desc.is_direct:
        return None
    nb = _grouped_chunk(p, desc, t, p.Og * p.L)
    return {"blk": nb}
# ---------------------------------------------------------------- Winograd


def _winograd_ok(p, f, t):
    """A 2-D 3x3 convolution with stride 1, dilation 1, one group, non-negative padding
    (the kernel's only case); by default also winograd, at least winograd_min_channels
    in and out, and output rows at least winograd_min_ow wide (winograd_nhwc_min_ow for
    channels-last data)."""
    if p.op != "conv" or p.rank != 2 or p.groups != 1 or p.C == 0 or p.O == 0:
        return False
    if tuple(f["k"][1:]) != (3, 3) or tuple(f["s"][1:]) != (1, 1) or tuple(f["d"][1:]) != (1, 1):
        return False
    if min(min(pr) for pr in p.pads) < 0:
        return False
    if t.forced("forward") is not None:
        return True
    min_ow = t.winograd_nhwc_min_ow if p.layout == "channels_last" else t.winograd_min_ow
    if p.layout == "channels_last" and (p.N * ceil_div(f["out"][1], 2) * ceil_div(f["out"][2], 2)
                                        < t.winograd_nhwc_tiles_per_channel * p.C):
        return False
    return (t.winograd and min(p.C, p.O) >= t.winograd_min_channels
            and f["out"][2] >= min_ow)


@register("conv.forward.winograd", "3x3, stride 1, one group: Winograd F(2x2, 3x3), the "
          "transformed tiles of a block of tile rows times the transformed weights, "
          "sixteen GEMMs per task")
def _fwd_winograd(p, desc, t, name="conv.forward.winograd"):
    """A 2x2 output tile costs 16 multiplies per channel pair instead of 36.  Tasks:
    blocks of whole tile rows (about winograd_min_tiles tiles, the transformed input
    within winograd_v_bytes), each with all output channels (its transformed input is
    computed once), split into groups of output channels only for min_tasks, or for
    many cores where asked."""
    f = desc.fields()
    if not _winograd_ok(p, f, t):
        return None
    th, tw = ceil_div(f["out"][1], 2), ceil_div(f["out"][2], 2)
    rows = p.N * th
    per_row = 16 * p.C * tw * p.dtype.itemsize          # V bytes of one tile row
    v_bytes = t.winograd_nhwc_v_bytes if p.layout == "channels_last" else t.winograd_v_bytes
    min_tiles = (t.winograd_nhwc_min_tiles if p.layout == "channels_last"
                 else t.winograd_min_tiles)
    rb = max(1, min(ceil_div(min_tiles, tw), v_bytes // per_row, rows))
    og = p.O
    # more tasks: first groups of output channels down to 64 (each repeats the input
    # transform, a few per cent), then fewer tile rows (narrow GEMMs: 256@14 at 3 tile
    # rows of 7 tiles ran at 1.25x the strip path's time), then smaller groups
    while ceil_div(rows, rb) * ceil_div(p.O, og) < t.min_tasks and og > 64:
        og = max(64, ceil_div(ceil_div(og, 2), 8) * 8)
    while ceil_div(rows, rb) * ceil_div(p.O, og) < t.min_tasks and rb > 1:
        rb = ceil_div(rb, 2)
    while ceil_div(rows, rb) * ceil_div(p.O, og) < t.min_tasks and og > 8:
        og = ceil_div(ceil_div(og, 2), 8) * 8
    rb = ceil_div(rows, ceil_div(rows, rb))     # equal blocks (28 rows: 7 x 4, not 9 x 3 + 1)
    og = ceil_div(ceil_div(p.O, ceil_div(p.O, og)), 8) * 8 if og < p.O else og
    if not _balance_ok(p, t):
        return {"lt": rb, "blk": og if og < p.O else 0}
    nr = panel_width(p.dtype.itemsize)
    cands = []
    for og_c in [o for o in _o_blocks(p.O, 16) if o <= og] or [og]:
        for rb_c in sorted({rb} | {ceil_div(rows, k) for k in range(1, 257)
                                   if ceil_div(rows, k) <= rb}, reverse=True):
            d = desc.configured(ALGO[name], rb_c, og_c if og_c < p.O else 0, 0)
            # each group repeats the input transform (about an eighth of the work)
            eff = _col_eff([rb_c * tw], nr) / (1.0 + 0.12 * (p.O / og_c - 1) / (p.O / og_c))
            cands.append(({"lt": rb_c, "blk": og_c if og_c < p.O else 0}, task_work(d), eff))
    return _pick(cands, t)


# ---------------------------------------------------------------- regions


def axis_segments(n_out, n_in, k, s, d, pb):
    """The segments of one axis where the range of inside taps is constant:
    ``[(start, end, tap_lo, tap_hi), ...]`` (the rule of ``reg_axes`` in
    regions_kernels.pxi)."""
    pts = {0, n_out}
    for i in range(k):
        x0 = i * d - pb
        lo = 0 if x0 >= 0 else min(n_out, ceil_div(-x0, s))
        hi = 0 if x0 > n_in - 1 else min(n_out, (n_in - 1 - x0) // s + 1)
        if lo < hi:
            pts |= {lo, hi}
    pts = sorted(pts)
    segs = []
    for b, e in zip(pts, pts[1:]):
        inside = [i for i in range(k) if 0 <= b * s - pb + i * d < n_in]
        segs.append((b, e, inside[0], inside[-1] + 1) if inside else (b, e, 0, 0))
    return segs


def inside_fraction(p):
    """The fraction of the dense path's multiply-adds whose input is inside (not padding)."""
    frac = 1.0
    for j in range(p.rank):
        segs = axis_segments(p.out[j], p.spatial[j], p.kernel[j], p.stride[j], p.dilation[j],
                             p.pads[j][0])
        inside = sum((e - b) * (th - tl) for b, e, tl, th in segs)
        frac *= inside / max(1, p.out[j] * p.kernel[j])
    return frac


def _regions_ok(p, t, direction):
    """A convolution the regions algorithms support (kernel at most 64 per axis, at most
    regions_max regions), and by default one of at least regions_min_madds dense
    multiply-adds where at least regions_min_zero of them read padding."""
    if p.op != "conv" or max(p.kernel) > 64:
        return False
    n = 1
    for j in range(p.rank):
        n *= len(axis_segments(p.out[j], p.spatial[j], p.kernel[j], p.stride[j],
                               p.dilation[j], p.pads[j][0]))
    if n > t.regions_max:
        return False
    if t.forced(direction) is not None:
        return True
    if p.N * p.O * p.L * p.Kg < t.regions_min_madds:
        return False    # (tiny layers: the dense routes' tests keep them)
    zero = 1.0 - inside_fraction(p)
    if zero >= t.regions_min_zero:
        return True
    # the forward pass also where the strip path does not apply (im2col would run):
    # DeepLab-like 3x3 dilation 8 on (4, 256, 56, 56), 18% padding: 456 -> 234 ms
    return (direction == "forward" and zero >= t.regions_min_zero_im2col
            and _fwd_strip(p, p.with_(direction="forward").desc(), t) is None)


@register("conv.forward.regions", "dilated or heavily padded: the output split into "
          "regions of constant inside taps, each a gathering GEMM over those taps only")
def _fwd_regions(p, desc, t):
    """Tasks (region, g, block of blk output channels, tile of about lt column-taps).
    The gathered B panels are the cost: each serves the blk GEMM rows, so blk is all
    Og (up to 256), and tiles have regions_task_madds multiply-adds or at least
    regions_min_cols columns of a region with every tap (ASPP dilation 12, 2048 -> 256
    channels, two threads: 16-row blocks of 57 columns 1850 ms, 256 rows 430 ms).
    Tiles are halved, then channel blocks (not below 32 rows), until there are
    min_tasks tasks."""
    if not _regions_ok(p, t, "forward"):
        return None
    Og, Cg, taps = max(p.Og, 1), max(p.Cg, 1), p.taps
    ob = min(Og, 256)
    lt = max(t.regions_task_madds // (ob * Cg), t.regions_min_cols * taps)
    lt = min(lt, max(2048, t.regions_min_cols * taps))
    code = ALGO["conv.forward.regions"]
    while desc.configured(code, lt, ob).tasks < t.min_tasks:
        if lt > 16 * taps:
            lt = max(16 * taps, lt // 2)
        elif ob > 32:
            ob = max(32, ob // 2 // 16 * 16)
        else:
            break
    if not _balance_ok(p, t):
        return {"lt": lt, "blk": ob}
    # many cores: shorter tiles, then smaller channel blocks, the most efficient that
    # balances (_gemm_eff: columns per panel, rows per task)
    cands = []
    for ob_c in sorted({ob, max(32, ob // 2 // 16 * 16), max(32, ob // 4 // 16 * 16)},
                       reverse=True):
        for div in (1, 2, 4, 8):
            lt_c = max(taps, lt // div)
            d = desc.configured(code, lt_c, min(ob_c, Og))
            f = d.fields()
            work = _regions_fwd_work(f)
            cands.append(({"lt": lt_c, "blk": min(ob_c, Og)}, work,
                          _region_eff(min(ob_c, Og), _region_widths(f))))
    return _pick_bounded(cands, t)


@register("conv.forward.strip", "padded, phase-split input strips of each tile; the GEMM "
          "gathers its panels from them (no im2col tile)")
def _fwd_strip(p, desc, t):
    """Needs strides up to strip_max_stride and at least strip_min_o output channels
    per group: a gathered panel is packed once per k-block and serves all Og GEMM
    rows; with few output channels it does not pay (LeNet conv1, 6 channels: 38 ->
    32 GFLOP/s), nor with fewer than strip_min_o_narrow when output rows are
    narrower than a panel (LeNet conv2: 48 -> 38; 8x8 outputs, 128 channels: 66 -> 76)."""
    f = desc.fields()
    sh, sw = f["s"][1], f["s"][2]
    if sh > t.strip_max_stride or sw > t.strip_max_stride or p.Og < t.strip_min_o:
        return None
    if desc.is_direct:
        return None
    halo_w = (f["k"][2] - 1) * f["d"][2] // sw
    min_ow = panel_width(p.dtype.itemsize) if t.strip_min_ow is None else t.strip_min_ow
    if f["out"][2] < min_ow and halo_w > 0 and p.Og < t.strip_min_o_narrow:
        return None
    lt = strip_tile_len(p, desc, t, t.strip_out_bytes, p.N * p.groups * f["out"][0])
    if lt is None:
        return None
    return _balanced_forward(p, desc, t, "conv.forward.strip", lt, f["out_plane"])


@register("conv.forward.im2col", "per-thread im2col tiles, one GEMM each (every padding "
          "mode: the padding is built in the tile)", padding_modes=True)
def _fwd_im2col(p, desc, t):
    return _balanced_forward(p, desc, t, "conv.forward.im2col",
                             tile_len(p.Kg, p.L, p.dtype.itemsize, t, p.N * p.groups), p.L)


def grad_input_pads(p):
    """grad_output's padding when grad_input runs as a forward convolution: before
    ``d*(k-1) - p_before``, after whatever makes the output the input's size."""
    return tuple((p.dilation[j] * (p.kernel[j] - 1) - p.pads[j][0],
                  p.spatial[j] - p.out[j] + p.pads[j][0]) for j in range(p.rank))


@register("conv.grad_input.as_forward", "stride 1: grad_input is a forward convolution of "
          "the padded grad_output with the flipped, channel-transposed kernel",
          layouts=("channels_first", "channels_last"))
def _bwi_as_forward(p, desc, t):
    """The forward route's GEMM has M = Cg rows and an im2col of grad_output with
    Og*taps rows; the col2im route's GEMM has K = Og.  Few input channels (a first
    layer) make the forward route wasteful.  Channels-last (one group): where the forward is
    Winograd, or from the same number of input channels: conv.forward.nhwc beats
    conv.grad_input.nhwc's GEMM and scatter (Zen 5, 2 threads: VGG-16 conv5 3x3,
    2x14x14x512, 4.8 vs 6.9 ms; ResNet-50 layer4, 4x7x7x512, with flat tiles 3.0 vs 3.8;
    4x28x28x128 2.1 vs 2.2)."""
    pads = grad_input_pads(p)
    if (any(s != 1 for s in p.stride) or min(min(pp) for pp in pads) < 0 or desc.is_direct):
        return None
    sub = p.with_(C=p.O, O=p.C, spatial=p.out, out=p.spatial, kernel=p.kernel, pads=pads,
                  direction="forward")
    if p.layout == "channels_last":   # (grad_input_last transposes one group's kernel)
        if p.groups != 1 or (t.forced("grad_input") is None
                             and not _winograd_ok(sub, sub.desc().fields(), t)
                             and p.Cg < t.forward_grad_input_channels):
            return None
        return sub, pads
    # (or when the forward problem is one for the grouped small-plane kernel)
    if p.Cg < t.forward_grad_input_channels and not (
            t.grouped_as_forward and p.Cg > 1 and _grouped(sub, replace(t, force=()), "forward")):
        return None
    return sub, pads


def _bwi_blocks(p, t, desc=None, name=None):
    outside = p.N * p.groups
    cblk = max(1, min(p.Cg, ceil_div(p.Cg, ceil_div(t.min_tasks, outside))))
    if desc is not None and _balance_ok(p, t):
        # channel blocks of about Cg/k channels: more, smaller GEMMs (M = cblk*taps)
        cands = []
        for k in range(1, p.Cg + 1):
            cb = ceil_div(p.Cg, k)
            if cb > cblk or any(c[0][0] == cb for c in cands):
                continue
            lt = tile_len(cb * p.taps, p.L, p.dtype.itemsize, t)
            d = desc.configured(ALGO[name], lt, cb, 0)
            cands.append(((cb, lt), task_work(d), _row_eff(cb * p.taps)))
        return _pick(cands, t)
    return cblk, tile_len(cblk * p.taps, p.L, p.dtype.itemsize, t)


@register("conv.grad_input.direct", "1x1x1, stride 1, no padding: W^T . grad_output tiles "
          "written straight into grad_input")
def _bwi_direct(p, desc, t):
    if not desc.is_direct:
        return None
    cblk, lt = _bwi_blocks(p, t, desc, "conv.grad_input.direct")
    return {"blk": cblk, "lt": lt}


@register("conv.grad_input.col2im", "W^T . grad_output tiles per channel block, "
          "scattered back by col2im (every padding mode: a padded element's gradient goes "
          "to the element it was read from)", padding_modes=True)
def _bwi_col2im(p, desc, t):
    cblk, lt = _bwi_blocks(p, t, desc, "conv.grad_input.col2im")
    return {"blk": cblk, "lt": lt}


def _gw_small(p, t):
    # (the per-sample transpose of grad_output costs more than it saves for wide layers)
    return p.L * (p.Kg + p.Og) * p.dtype.itemsize <= t.chunked_grad_weight_bytes and p.Og <= 32


@register("conv.grad_weight.grouped", "small planes, many groups: per (chunk of samples, "
          "group) the im2col rows read from the forward's copy of the input")
def _bww_grouped(p, desc, t):
    if not _grouped(p, t, "grad_weight") or desc.is_direct:
        return None
    nb = _grouped_chunk(p, desc, t, p.Og * p.L)
    return {"blk": nb, "chunks": ceil_div(p.N, nb)}
@register("conv.grad_weight.regions", "dilated or heavily padded: per tap, the products "
          "over the positions where it is inside, summed over the samples in order")
def _bww_regions(p, desc, t):
    """Tasks (g, tap, block of blk output channels, block of chunks input channels):
    each sums over every sample and writes its elements whole (no partials).  Channel
    blocks are halved (not below 16) until there are 4*min_tasks tasks."""
    if not _regions_ok(p, t, "grad_weight"):
        return None
    ob = min(max(p.Og, 1), 256)
    cb = min(max(p.Cg, 1), 128)
    while (p.groups * p.taps * ceil_div(p.Og, ob) * ceil_div(p.Cg, cb) < 4 * t.min_tasks
           and cb > 16):
        cb = max(16, cb // 2)
    if not _balance_ok(p, t):
        return {"blk": ob, "chunks": cb}
    code = ALGO["conv.grad_weight.regions"]
    cands = []
    for ob_c in sorted({ob, max(16, ob // 2 // 16 * 16)}, reverse=True):
        for cb_c in sorted({cb, max(16, cb // 2), max(16, cb // 4), max(16, cb // 8)},
                           reverse=True):
            ob_c, cb_c = min(ob_c, max(p.Og, 1)), min(cb_c, max(p.Cg, 1))
            work = _regions_bww_work(desc.configured(code, 0, ob_c, cb_c).fields())
            cands.append(({"blk": ob_c, "chunks": cb_c}, work, _region_eff(ob_c, [cb_c])))
    return _pick_bounded(cands, t)


@register("conv.grad_weight.strip", "chunks of samples; the GEMM's A rows (im2col rows) "
          "read straight from input strips, a tile at a time")
def _bww_strip(p, desc, t):
    """Needs what the forward strip path needs and at least strip_min_o output
    channels per group (the GEMM's N).  Its GEMM sums one output-row segment at a time
    into the whole Kg x Og partial, which must stay in cache, and each tile's
    transposed grad_output serves all Kg rows: so Kg*Og within
    grad_weight_strip_c_bytes, at least grad_weight_strip_min_rows im2col rows, output
    rows of at least grad_weight_strip_min_ow (VGG block 47 -> 64 GFLOP/s, ResNet stem
    44 -> 63; ResNet strided, a 1.2 MB partial on 14-wide rows: 58 -> 27)."""
    f = desc.fields()
    if _gw_small(p, t) or p.N == 1:
        return None
    if (f["s"][1] > t.strip_max_stride or f["s"][2] > t.strip_max_stride
            or p.Og < t.strip_min_o or not t.grad_weight_strips
            or p.Kg < t.grad_weight_strip_min_rows or f["out"][2] < t.grad_weight_strip_min_ow
            or p.Kg * p.Og * p.dtype.itemsize > t.grad_weight_strip_c_bytes):
        return None
    lt = strip_tile_len(p, desc, t, t.strip_out_bytes // 2)
    if lt is None:
        return None
    chunks = min(p.N, t.grad_weight_chunks)
    if _balance_ok(p, t):
        # chunks of the flat (sample, tile) sequence, more than N when that balances;
        # each chunk's Kg x Og partial is summed in chunk order by the wrapper
        cap = max(chunks, t.balance_partial_bytes // (p.groups * p.Kg * p.Og
                                                      * p.dtype.itemsize))
        nr = panel_width(p.dtype.itemsize)
        cands = []
        lts = {lt, max(64, lt // 2 // 16 * 16), max(64, lt // 4 // 16 * 16)}
        outside = p.N * f["out"][0]
        lts |= {ceil_div(f["out_plane"], k) for k in range(1, 257)
                if (outside * k) % 16 == 0 and 64 <= ceil_div(f["out_plane"], k) <= lt}
        for lt_c in sorted(lts, reverse=True):
            n_flat = p.N * f["out"][0] * ceil_div(f["out_plane"], lt_c)
            Ps = set(range(chunks, 65)) | set(range(64, 513, 32))
            for P in sorted(P for P in Ps if P <= min(n_flat, cap)):
                d = desc.configured(ALGO["conv.grad_weight.strip"], lt_c, 0, P)
                eff = (1.0 - 0.0005 * P) * (1.0 - 0.03 * (lt_c < lt)) * _col_eff(
                    _tiles(f["out_plane"], lt_c), nr) ** 0.2
                cands.append(({"lt": lt_c, "chunks": P}, task_work(d), eff))
        return _pick(cands, t)
    return {"lt": lt, "chunks": chunks}


@register("conv.grad_weight.chunked", "small planes: chunks of samples, the whole im2col "
          "matrix of each sample times grad_output transposed", padding_modes=True)
def _bww_chunked(p, desc, t):
    if not (_gw_small(p, t) and p.N > 1):
        return None
    return {"chunks": min(p.N, t.grad_weight_chunks)}


@register("conv.grad_weight.rows", "blocks of im2col rows, each summing over every sample "
          "and tile (transposed im2col tiles)", padding_modes=True)
def _bww_rows(p, desc, t):
    kb = min(p.Kg, 64)
    while p.groups * ceil_div(p.Kg, kb) < t.min_tasks and kb > 16:
        kb = max(16, round16(kb // 2))
    kb = min(kb, p.Kg)
    lt = tile_len(kb, p.L, p.dtype.itemsize, t)
    if not _balance_ok(p, t):
        return {"blk": kb, "lt": lt}
    # (chunk of the flat (sample, tile) sequence, g, row block): each chunk sums into its
    # own (O, Kg) partial, summed in chunk order by the wrapper
    nr = panel_width(p.dtype.itemsize)
    cands = []
    for b in sorted({kb, 64, 48, 32, 16} | {ceil_div(p.Kg, k) for k in range(1, 9)},
                    reverse=True):
        if b > p.Kg or b < 16 and b != p.Kg or b > 128:
            continue
        lt_b = tile_len(b, p.L, p.dtype.itemsize, t)
        n_flat = p.N * ceil_div(p.L, lt_b)
        cap = max(1, t.balance_partial_bytes // (p.O * p.Kg * p.dtype.itemsize))
        for P in range(1, min(n_flat, cap, 64) + 1):
            d = desc.configured(ALGO["conv.grad_weight.rows"], lt_b, b, P)
            eff = _col_eff(_tiles(p.Kg, b), nr) * (1.0 - 0.002 * P)
            cands.append(({"blk": b, "lt": lt_b, "chunks": P}, task_work(d), eff))
    return _pick(cands, t)


@register("conv.grad_bias.sum", "grad_output summed per channel over the batch and positions",
          padding_modes=True)
def _bwb_sum(p, desc, t):
    return {}


def _always(p, desc, t):
    return {}


def _reduce_blk(p, t):
    vol = 1
    for s in p.spatial:
        vol *= s
    nc = p.N * p.C
    return {"blk": max(1, min(t.reduce_task_elems // max(vol, 1), ceil_div(nc, t.min_tasks)))}


def _reduce_forward(p, desc, t):
    """Pooling as one reduction per window over its contiguous runs (reduce_kernels.pxi):
    for global pooling (at most reduce_max_outputs outputs per volume) and windows whose
    runs are at least reduce_min_run wide.  Measured on one thread against the window
    kernels (float32, us): global 7x7 (4,2048,7,7) avg 1547 -> 81, max 1689 -> 166;
    14x14/14 on 28x28 avg 1869 -> 1080; 16x16/1 on 64x64 avg 23590 -> 8205 (max with
    indices 28907 -> 33393); but 7-wide windows with 64 outputs avg 4399 -> 14245 and
    3x3/2 10x slower: short runs pay the per-window overhead.  Dilation 1 only (a run is
    contiguous).  Tasks are groups of blk volumes, about reduce_task_elems input
    elements each, and at least min_tasks of them when there are enough volumes."""
    if any(d != 1 for d in p.dilation):
        return None
    if p.L > t.reduce_max_outputs and min(p.kernel[-1], p.spatial[-1]) < t.reduce_min_run:
        return None
    return _reduce_blk(p, t)


def _reduce_grad_input(p, desc, t):
    """Average pooling's gradient, each output's share added over its window's runs:
    where the forward reduction applies, and for windows of at least
    reduce_grad_min_taps taps (one thread, us: 7x7/1 on 14x14 8309 -> 2435, 4x4/4 on
    56x56 2029 -> 1513; but 3x3/2 on 56x56 3718 -> 4851, 2x2/2 643 -> 752)."""
    if _reduce_forward(p, desc, t) is None and p.taps < t.reduce_grad_min_taps:
        return None
    return _reduce_blk(p, t)


register("max_pool.forward.reduce", "global pooling and wide windows: each window reduced "
         "over its contiguous runs in vector lanes; groups of volumes per task")(
    _reduce_forward)
register("avg_pool.forward.reduce", "global pooling and wide windows: each window summed "
         "over its contiguous runs in vector lanes; groups of volumes per task")(
    _reduce_forward)
register("avg_pool.grad_input.reduce", "global pooling, wide or large windows: each "
         "output's gradient added over its window's runs; groups of volumes per task")(
    _reduce_grad_input)
def _rows_forward(p, desc, t):
    """The window kernels with SIMD row loops (fc_pool.h; the same bits): dilation 1
    and, for max pooling, volumes below 2**31 elements (int32 tap offsets) and output
    rows at least pool_rows_min_ow wide (a row narrower than the vector runs the scalar
    select: 7x7/1 on 14x14, one thread, 4.6 -> 6.2 ms).  One thread's CPU ms against the
    window kernels, float32 forward: max 2x2/2 with indices on (32,64,56,56) 5.0 -> 2.3,
    3x3/2 pad 1 on (8,64,112,112) 7.6 -> 2.9, avg 2x2/2 3.4 -> 1.2, avg 7x7/1 on
    (4,512,14,14) 3.8 -> 1.9."""
    if any(d != 1 for d in p.dilation):
        return None
    if p.op == "max_pool" and (math.prod(p.spatial) >= 2**31 - 1
                               or p.out[-1] < t.pool_rows_min_ow):
        return None
    return {}


def _rows_grad_input(p, desc, t):
    """Average pooling's gradient when no two windows overlap (kernel <= stride in
    every dimension): every grad_input element written once (no zeroing pass, no
    read-modify-write), the window kernel's bits."""
    if any(k > s for k, s in zip(p.kernel, p.stride)):
        return None
    return {}


register("max_pool.forward.rows", "dilation 1: one (n, c) volume per task, SIMD loops along "
         "output rows (AVX-512 / AVX2 / baseline)")(_rows_forward)
register("avg_pool.forward.rows", "one (n, c) volume per task, SIMD loops along output rows "
         "(AVX-512 / AVX2 / baseline)")(_rows_forward)
register("avg_pool.grad_input.rows", "no overlapping windows: each grad_input element "
         "written once, one volume per task")(_rows_grad_input)
register("unfold.forward.im2col", "one (n, c) plane of the column matrix per task")(_always)
register("unfold.grad_input.col2im", "one (n, c) plane scattered back per task")(_always)
register("max_pool.forward.window", "one (n, c) volume per task, taps along output rows")(
    _always)
register("max_pool.grad_input.scatter", "grad_output routed to the argmax, one volume per "
         "task")(_always)
register("avg_pool.forward.window", "one (n, c) volume per task, taps along output rows")(
    _always)
register("avg_pool.grad_input.window", "each output's gradient spread over its window, one "
         "volume per task")(_always)


# ------------------------------------------------- channels-last: depthwise
#
# (registered before the general channels-last convolution: the first that
# supports a problem is chosen)
#
# nhwc_depthwise_kernels.pxi: every output position one loop over its channels.  Tasks
# are (sample, block of rows, block of channels): rows per task for about
# depthwise_task_elems outputs, then halved, then the channels split (blocks of 16 or
# more), until there are nhwc_min_tasks tasks.


def _nhwc_dw(p, t, direction):
    """A depthwise problem (Cg == 1) of several groups, or any Cg == 1 problem when
    forced."""
    if p.op != "conv" or p.Cg != 1:
        return False
    return t.forced(direction) is not None or p.groups > 1


def _nhwc_split(outside, rows, row_elems, C, t, max_blk=None, min_blk=16):
    """``(lt, blk)``: rows and channels per task (see above); ``outside`` tasks per row
    block and channel block (the samples); channel blocks of at least ``min_blk``."""
    want = t.nhwc_min_tasks
    lt = max(1, min(rows, t.depthwise_task_elems // max(1, row_elems)))
    while lt > 1 and outside * ceil_div(rows, lt) < want:
        lt = ceil_div(lt, 2)
    lt = ceil_div(rows, ceil_div(rows, lt)) if rows > 0 else 1   # blocks of even size
    blk = max(1, C if max_blk is None else min(C, max_blk))   # (C == 0: no tasks)
    while outside * ceil_div(rows, lt) * ceil_div(C, blk) < want and blk > min_blk:
        blk = max(min_blk, ceil_div(blk // 2, 16) * 16)
    return lt, blk


def _nhwc_dw_blk_cap(p, f):
    """Og > 1: channels per task whose expanded input rows (kD*kH rows of W*blk*Og)
    stay within 256 KB."""
    if p.Og == 1:
        return None
    per = f["k"][0] * f["k"][1] * f["in"][2] * p.Og * p.dtype.itemsize
    return max(16, (256 * 1024) // max(per, 1) // 16 * 16)


@register("conv.forward.depthwise_nhwc", "channels-last depthwise: every output position "
          "one loop over its channels, accumulators in vector registers over its taps",
          layouts=("channels_last",))
def _fwd_dw_nhwc(p, desc, t):
    if not _nhwc_dw(p, t, "forward"):
        return None
    f = desc.fields()
    lt, blk = _nhwc_split(p.N, f["out"][0] * f["out"][1], f["out"][2] * p.O, p.C, t,
                          _nhwc_dw_blk_cap(p, f))
    return {"lt": lt, "blk": blk}


@register("conv.grad_input.depthwise_nhwc", "channels-last depthwise: each grad_input "
          "position gathered from the taps whose output exists, one loop over its channels",
          layouts=("channels_last",))
def _bwi_dw_nhwc(p, desc, t):
    if not _nhwc_dw(p, t, "grad_input"):
        return None
    f = desc.fields()
    lt, blk = _nhwc_split(p.N, f["in"][0] * f["in"][1], f["in"][2] * p.O, p.C, t)
    return {"lt": lt, "blk": blk}


@register("conv.grad_weight.depthwise_nhwc", "channels-last depthwise: per chunk of "
          "samples and block of channels, each output row's dot products per tap along "
          "the channels", layouts=("channels_last",))
def _bww_dw_nhwc(p, desc, t):
    if not _nhwc_dw(p, t, "grad_weight"):
        return None
    f = desc.fields()
    chunks = max(1, min(p.N, t.grad_weight_chunks))
    blk = p.C
    cap = _nhwc_dw_blk_cap(p, f)
    if cap is not None:
        blk = min(blk, cap)
    # (channel splits cost more here -- every task reads all its chunk's rows -- so only
    # to min_tasks: 8x112x112x32, 16 -> 32 channels a task, 7.9 -> 5.0 ms)
    while chunks * ceil_div(p.C, blk) < t.min_tasks and blk > 16:
        blk = max(16, ceil_div(blk // 2, 16) * 16)
    return {"chunks": chunks, "blk": blk}


# ------------------------------------------------- channels-last: convolution
#
# nhwc_conv_kernels.pxi: one algorithm per direction for every channels-last
# convolution (grouped and depthwise included: the fallback of the depthwise
# kernels above).  Tasks aim at min_tasks, or NHWC_TASKS (64 threads) for the layers
# the many-core balance applies to (_balance_ok), where the shape allows: tiles not
# below nhwc_min_rows positions, output-channel blocks not below 32, grad_input
# channel blocks not below nhwc_min_cw (Tuning).  Smaller grad_input channel blocks cost much
# on 2 cores (one thread, float32 ms, blocks of 16 / 32 / 64 / all channels: ResNet
# 3x3/2 128 -> 128 on 8x56x56 66 / 51 / 45 / 41, VGG block 55 / 47 / 41 / 39, a 1-D
# 256 -> 256 k3 layer 96 / 91 / 57 / 53): each block's scatter and GEMM get shorter.

NHWC_TASKS = 64


def _nhwc_tasks(p, t):
    return NHWC_TASKS if _balance_ok(p, t) else t.min_tasks


def _nhwc_rows(row_elems, itemsize, t, total):
    """Positions per tile: a tile of about ``t.tile_bytes`` (``row_elems`` elements a
    position), a multiple of 24 rows (whole micro-tiles of 6 and 8 rows), at most the
    rows there are."""
    lt = t.tile_bytes // (itemsize * max(row_elems, 1))
    lt = min(max(t.nhwc_min_rows, lt // 24 * 24), 1536)
    return max(1, min(lt, total))


def _equal_tiles(rows, lt, outer, inner, want):
    """``lt``, or a tile length near it (a multiple of 8 rows: whole micro-tiles) whose
    tiles keep 2 threads equally busy, where there are few tasks (fewer than 4 * want)
    and ``lt``'s do not: tasks are ``outer`` x tiles x ``inner`` in that order.  (784
    rows in 48-row tiles are 16 tiles and one of 16 rows: 17 tasks, 9 on one thread;
    56-row tiles are 14.)"""
    import numpy as np
    n = ceil_div(rows, lt)
    if rows <= lt or outer * n * inner >= 4 * want:
        return lt

    def bal(c):
        return static_balance(np.tile(np.repeat(_tiles(rows, c), inner), outer), 2)
    if bal(lt) >= 0.97:
        return lt
    best = (bal(lt), 0, lt)
    for c in range(max(8, lt // 2 // 8 * 8), lt * 3 // 2 + 1, 8):
        key = (min(round(bal(c), 2), 0.97), -abs(c - lt), c)
        if key > best:
            best = key
    return best[2]


@register("conv.forward.winograd_nhwc", "channels-last 3x3, stride 1, one group: Winograd "
          "F(2x2, 3x3) as conv.forward.winograd, its transforms vectorised along the "
          "channels, sixteen GEMMs (tiles x C) . (C x O) per task", layouts=("channels_last",))
def _fwd_winograd_nhwc(p, desc, t):
    """The tasks of conv.forward.winograd (the same fields and the same rules)."""
    return _fwd_winograd(p, desc, t, "conv.forward.winograd_nhwc")


def _fwd_nhwc_flat(p, t):
    """Small planes (fewer than nhwc_flat_rows positions a sample): tiles of the flat
    N*L positions, equal and longer than a plane, so each weight block read serves
    more rows (ResNet-50 layer4 3x3, 4x7x7x512 -> 512: tiles of one sample were 49-row
    GEMMs that read the 9.4 MB weight four times); then output-channel blocks for the
    tasks.  None where the tiles cannot be longer than a plane, or (many cores) would
    give too few tasks."""
    rows = p.N * p.L
    n = ceil_div(rows, t.nhwc_flat_rows)
    lt = ceil_div(rows, n)
    if lt <= p.L:
        return None
    want = _nhwc_tasks(p, t)
    ob = p.Og
    while p.groups * n * ceil_div(p.Og, ob) < want and ob > 32:
        ob = max(32, ceil_div(ob // 2, 16) * 16)
    if p.groups * n * ceil_div(p.Og, ob) < want and want > t.min_tasks:
        return None
    return {"lt": lt, "blk": ob if ob < p.Og else 0}


@register("conv.forward.nhwc", "channels-last: per tile of output positions a patch tile "
          "(each tap's channel run of x) times the weight; 1x1 stride 1: x's rows are "
          "the GEMM's A (no copy); every padding mode, built in the tile",
          layouts=("channels_last",), padding_modes=True)
def _fwd_nhwc(p, desc, t):
    direct = desc.is_direct
    if not direct and p.N > 1 and 0 < p.L < t.nhwc_flat_rows:
        r = _fwd_nhwc_flat(p, t)
        if r is not None:
            return r
    rows = p.N * p.L if direct else p.L
    outside = (1 if direct else p.N) * p.groups
    lt = _nhwc_rows(p.Kg, p.dtype.itemsize, t, rows)
    want = _nhwc_tasks(p, t)
    if direct and p.groups * ceil_div(rows, lt) < want:
        # few rows (small planes): tiles and output-channel blocks of least traffic
        # (ResNet-50 layer3 1x1, 4x14x14x256 -> 1024: 9 tiles of 96, 8 and 16 rows on
        # 2 threads became 4 tiles of 196 x 2 blocks of 512)
        lt, ob = _rows_blocks(p, t, rows, p.Kg, p.Og, want)
        return {"lt": lt, "blk": ob}
    while outside * ceil_div(rows, lt) < want and lt > t.nhwc_min_rows:
        lt = max(t.nhwc_min_rows, ceil_div(lt // 2, 24) * 24 if lt >= 48 else lt // 2)
    ob = p.Og
    while outside * ceil_div(rows, lt) * ceil_div(p.Og, ob) < want and ob > 32:
        ob = max(32, ceil_div(ob // 2, 16) * 16)
    if not _balance_ok(p, t):    # (many cores: the task count above rules)
        lt = _equal_tiles(rows, min(lt, rows), 1 if direct else p.N,
                          p.groups * ceil_div(p.Og, ob), want)
    return {"lt": min(lt, rows), "blk": ob if ob < p.Og else 0}


def _rows_blocks(p, t, rows, K, cols, want):
    """Tiles of ``rows`` GEMM rows and blocks of ``cols`` columns together (a direct
    channels-last GEMM, rows x K times K x cols per group, with few rows: small planes):
    at least ``want`` equal tasks (an even number where there are few), of the least
    traffic -- each column block reads all the rows of A (rows * K), each tile reads
    (or packs) all of B (K * cols).  Tiles up to 256 rows (the GEMM reads A a k-block
    of 256 at a time), not below nhwc_min_rows; blocks of whole 16s, at least 32
    columns.  Returns ``(lt, block)`` (block 0: all the columns)."""
    import numpy as np
    balance = _balance_ok(p, t)
    best = None
    cw = cols
    seen = set()
    while True:
        n_cb = ceil_div(cols, cw)
        if n_cb not in seen:
            seen.add(n_cb)
            n_min = ceil_div(rows, 256)
            n_max = max(1, rows // max(1, min(t.nhwc_min_rows, rows)))
            n_t = min(max(n_min, ceil_div(want, p.groups * n_cb)), max(n_min, n_max))
            for n in (n_t, n_t + 1):
                lt = ceil_div(rows, n)
                n = ceil_div(rows, lt)
                tasks = p.groups * n_cb * n
                work = np.tile(np.outer(_tiles(rows, lt), _tiles(cols, cw)).ravel(), p.groups)
                bal = (min_balance(work, t.balance_threads) >= t.balance_target if balance
                       else static_balance(work, 2) >= 0.95)
                cost = n_cb * rows * K + n * K * cols
                key = (tasks >= want, bal, -cost)
                if best is None or key > best[0]:
                    best = (key, (lt, cw if cw < cols else 0))
        if cw <= 32:
            break
        cw = max(32, ceil_div(ceil_div(cw, 2), 16) * 16)
    return best[1]


@register("conv.grad_input.nhwc", "channels-last: per (group, channel block, sample) "
          "grad_output tiles times the block's weight columns transposed, added back into "
          "the input rows in order (a padded element's to the element it was read from); "
          "1x1 stride 1: grad_output rows times W^T",
          layouts=("channels_last",), padding_modes=True)
def _bwi_nhwc(p, desc, t):
    if desc.is_direct:
        rows = p.N * p.L
        want = _nhwc_tasks(p, t)
        lt = _nhwc_rows(max(p.Og, p.Cg), p.dtype.itemsize, t, rows)
        if p.groups * ceil_div(rows, lt) < want:
            # few rows (small planes): tiles and channel blocks of least traffic (A =
            # grad_output rows, K = Og, B = W_g^T packed per block; ResNet-50 layer4
            # 1x1, 4x7x7x512 -> 2048: four 49-row tiles, each packing all of the 4 MB
            # weight, became 2 tiles x 4 blocks of 128 channels)
            lt, cw = _rows_blocks(p, t, rows, p.Og, p.Cg, want)
            return {"lt": lt, "blk": cw}
        if not _balance_ok(p, t):    # (many cores: the task count above rules)
            lt = _equal_tiles(rows, min(lt, rows), 1, p.groups, want)
        return {"lt": min(lt, rows)}
    cw = max(p.Cg, 1)
    want = _nhwc_tasks(p, t)
    min_cw = 8 if _balance_ok(p, t) else t.nhwc_min_cw      # (many cores: tasks first)
    # small planes: groups of ns whole samples a task, one GEMM of ns * L rows, so that
    # each packed weight element serves at least nhwc_gi_min_rows rows (a 7x7 plane:
    # 49), with narrower channel blocks for the tasks
    ns = 1
    if 0 < p.L < t.nhwc_gi_min_rows and p.N > 1:
        ns = min(p.N, ceil_div(t.nhwc_gi_min_rows, p.L))
        min_cw = min(min_cw, t.nhwc_gi_min_cw)
    while ceil_div(p.N, ns) * p.groups * ceil_div(p.Cg, cw) < want and cw > min_cw:
        cw = max(min_cw, ceil_div(cw, 2))
    while ceil_div(p.N, ns) * p.groups * ceil_div(p.Cg, cw) < want and ns > 1:
        ns = ceil_div(ns, 2)
    if ns > 1:
        ns = ceil_div(p.N, ceil_div(p.N, ns))            # equal groups
        return {"lt": ns * p.L, "blk": cw if cw < p.Cg else 0, "chunks": ns}
    # (the tile: its dpatch rows and the grad_output rows the GEMM reads once per panel)
    lt = _nhwc_rows(p.taps * cw + p.Og, p.dtype.itemsize, t, p.L)
    return {"lt": lt, "blk": cw if cw < p.Cg else 0}


@register("conv.grad_weight.nhwc", "channels-last: per (chunk of samples, group, block of "
          "patch columns) grad_output tiles transposed times patch tiles; per-chunk "
          "partials summed in chunk order", layouts=("channels_last",), padding_modes=True)
def _bww_nhwc(p, desc, t):
    """Tasks: chunks of the flat (sample, tile) sequence, each a (*k, Cg, O) partial to
    write, sum and page in, while the partials stay within nhwc_gw_partials of the
    operands (ResNet-50 layer4 1x1/2, 4x14x14x1024 -> 2048: 4 chunks were 34 MB of
    partials, 16 ms; 1 chunk 8 ms); then blocks of patch columns, each of which
    transposes all of grad_output again and makes the GEMMs narrower (float32, 2
    threads: 8x56x56x64 3x3 -> 64 with blocks of 80 columns 17.4 ms, 8 chunks 11.1;
    2x224x224x64: blocks of 80 68.7 ms, 2 blocks of 288 45.1), so not below
    nhwc_gw_min_cols columns unless the many-core balance asks."""
    import numpy as np
    it = p.dtype.itemsize
    kbw = p.Kg
    if p.Og * p.Kg * it > 2 * t.tile_bytes:        # the task's sums stay in cache
        kbw = max(16, 2 * t.tile_bytes // (it * max(p.Og, 1)) // 16 * 16)
    kbw = min(kbw, p.Kg)
    want = _nhwc_tasks(p, t)
    nb0 = ceil_div(p.Kg, kbw)
    n_tiles = p.N * ceil_div(p.L, _nhwc_rows(ceil_div(kbw + p.Og, 2), it, t, p.L))
    operands = it * (p.N * p.C * math.prod(p.spatial) + p.N * p.O * p.L + p.Kg * p.O)
    # (two chunks where one task would be all: within a tenth of the operands)
    budget = max(t.nhwc_gw_partials * operands,
                 min(2 * p.Kg * p.O * it, 0.1 * operands) if p.groups * nb0 == 1 else 0)
    chunks = 1
    while (chunks * p.groups * ceil_div(p.Kg, kbw) < want
           and chunks < min(n_tiles, t.grad_weight_chunks)
           and (chunks + 1) * p.Kg * p.O * it <= budget):
        chunks += 1
    # blocks: as many as the tasks want, none narrower than min_cols, and an even number
    # of tasks when that falls short (3 equal tasks keep 2 threads busy 3/4 of the time)
    balance = _balance_ok(p, t)
    min_cols = 64 if balance else t.nhwc_gw_min_cols
    outside = chunks * p.groups
    nb = max(nb0, min(ceil_div(want, outside), max(1, p.Kg // min_cols)))
    if outside * nb < want and (outside * nb) % 2:
        if nb > nb0:
            nb -= 1
        elif p.Kg >= 16 * (nb + 1):       # (the cache rule's count odd: one block more)
            nb += 1
    # (equal blocks: Kg = 256 in blocks of 192 were 2 tasks of 192 and 64 columns)
    kbw = min(p.Kg, ceil_div(ceil_div(p.Kg, nb), 16) * 16)
    # few tasks of unequal count per thread (11 blocks of 48 of Kg = 512 on 2 threads:
    # 6 and 5): narrower blocks, down to half, where they split evenly
    # (and 6 blocks of 96, 96, 96 | 96, 96, 32: 8 of 64)
    def _bal(kb):
        return static_balance(np.tile(_tiles(p.Kg, kb), outside), 2)
    if not balance and outside * ceil_div(p.Kg, kbw) < 4 * want and _bal(kbw) < 0.95:
        for kb in range(kbw - 16, max(16, kbw // 2) - 1, -16):
            if _bal(kb) >= 0.97:
                kbw = kb
                break
    if balance:   # many cores: the tasks first, more partials if need be
        while (chunks * p.groups * ceil_div(p.Kg, kbw) < want
               and chunks < min(n_tiles, t.grad_weight_chunks)):
            chunks += 1
    # (tiles of twice tile_bytes: the GEMM's k is the tile's positions; 8x56x56x64,
    # 120 / 168 / 336 positions 14.1 / 13.5 / 12.6 ms)
    lt = _nhwc_rows(ceil_div(kbw + p.Og, 2), it, t, p.L)
    n_tiles = p.N * ceil_div(p.L, lt)
    if p.N > 1 and 0 < p.L < t.nhwc_flat_rows:
        # small planes: equal tiles of the flat N*L positions, longer than a plane
        # (ResNet-50 layer4 1x1, 4x7x7x512 -> 2048: 48-row tiles left 1-row GEMMs)
        rows = p.N * p.L
        lt = ceil_div(rows, ceil_div(rows, max(lt, t.nhwc_flat_rows)))
        lt = max(lt, p.L + 1)
        n_tiles = ceil_div(rows, lt)
    chunks = min(chunks, n_tiles)
    return {"lt": lt, "blk": kbw if kbw < p.Kg else 0, "chunks": chunks}


@register("conv.grad_bias.nhwc", "channels-last: grad_output rows summed per block of 64 "
          "channels, in row order", layouts=("channels_last",), padding_modes=True)
def _bwb_nhwc(p, desc, t):
    return {}


# ---------------------------------------------- channels-last: pool, unfold
#
# nhwc_pool_kernels.pxi: every output position one loop over its channels; tasks
# split as the depthwise ones (_nhwc_split), channel blocks of at least 512 channels
# (global average pooling (4, 2048, 7, 7), one thread: blocks of 2048, 1024, 128
# channels 44, 58, 83 us: a block is a run of the rows the window sums).


def _nhwc_pool_forward(p, desc, t):
    f = desc.fields()
    lt, blk = _nhwc_split(p.N, f["out"][0] * f["out"][1], f["out"][2] * p.C * p.taps, p.C, t,
                          min_blk=512)
    return {"lt": lt, "blk": blk}


def _nhwc_avg_grad_input(p, desc, t):
    f = desc.fields()
    lt, blk = _nhwc_split(p.N, f["in"][0] * f["in"][1], f["in"][2] * p.C, p.C, t)
    return {"lt": lt, "blk": blk}


def _nhwc_max_grad_input(p, desc, t):
    """One task per sample, all channels: a task split into channel blocks reads every
    position's indices and grad_output in pieces and writes every grad_input row in
    pieces, and costs more than the parallelism it buys (2 threads, VGG pool1
    2x224x224x64: 2 tasks 1.9 ms, 4 tasks of 32 channels 4.6 ms, 8 of 16 14 ms;
    4x56x56x256: 4 tasks 0.84 ms, 8 of 128 channels 2.4 ms)."""
    return {}


register("max_pool.forward.nhwc", "channels-last: each output position one loop over its "
         "channels (vector lanes), taps in row-major order; global windows one run",
         layouts=("channels_last",))(_nhwc_pool_forward)
register("avg_pool.forward.nhwc", "channels-last: each output position one loop over its "
         "channels (vector lanes); global pooling a column sum", layouts=("channels_last",))(
    _nhwc_pool_forward)
register("max_pool.grad_input.nhwc", "channels-last: grad_output added at the argmax, one "
         "(sample, channel block) per task", layouts=("channels_last",))(_nhwc_max_grad_input)
register("avg_pool.grad_input.nhwc", "channels-last: each grad_input position gathered from "
         "the windows holding it, one loop over its channels", layouts=("channels_last",))(
    _nhwc_avg_grad_input)


# -------------------------------------------------- channels-last: unfold

register("unfold.forward.nhwc", "channels-last: patches in extract_patches order, one "
         "output row per task", layouts=("channels_last",))(_always)
register("unfold.grad_input.nhwc", "channels-last: each image row gathers its patches' "
         "entries, taps in order, one image row per task", layouts=("channels_last",))(_always)


# ---------------------------------------------------------- adaptive pooling

_BOTH = ("channels_first", "channels_last")
register("adaptive_max_pool.forward.window", "torch's windows [floor(o*I/O), ceil((o+1)*I/O)): "
         "one (n, c) volume (channels-last: one output row) per task", layouts=_BOTH)(_always)
register("adaptive_avg_pool.forward.window", "torch's windows: one (n, c) volume "
         "(channels-last: one output row) per task", layouts=_BOTH)(_always)
register("adaptive_max_pool.grad_input.scatter", "grad_output routed to the argmax: one "
         "volume (channels-last: a sample's block of 64 channels) per task",
         layouts=_BOTH)(_always)
register("adaptive_avg_pool.grad_input.window", "each output's gradient spread over its "
         "window: one volume (channels-last: a sample's block of 64 channels) per task",
         layouts=_BOTH)(_always)


# ------------------------------------------------------------ public API


def plan(func, *args, **kwargs):
    """Return the plan a call ``func(*args, **kwargs)`` would use, without running it.

    The plan names the algorithm chosen for each direction the call computes
    (forward; or grad_input, grad_weight and grad_bias), the workspace it needs and
    how many independent tasks it splits into.  It is the plan the call itself takes
    from fastconv's plan cache (a bounded LRU cache keyed by shapes, dtypes,
    arguments and the tuning in effect), so tuning a network, a benchmark or a test
    can ask instead of guessing.

    Parameters
    ----------
    func : callable
        A fastconv op: any of the convolution, transposed convolution, pooling,
        im2col and col2im functions, forward or backward.
    *args, **kwargs
        The arguments the call would get (arrays may be any array-likes).

    Returns
    -------
    Plan
        ``plan.algorithms`` is ``{direction: algorithm name}``;
        ``plan.describe(n_threads)`` a list of dicts with ``direction``,
        ``algorithm``, ``workspace_bytes`` (for ``n_threads`` threads),
        ``tasks`` and, for the convolution algorithms, ``task_work`` (each task's
        multiply-adds, in task order: with :func:`static_balance`, the load balance
        of a static schedule on any number of threads); ``plan.problem`` the
        normalised problem; ``print(plan)`` a table.

    Raises
    ------
    TypeError
        ``func`` is not a fastconv op, or the arguments are invalid for it.
    ValueError
        The arguments are invalid for ``func`` (the same errors the call raises),
        or a forced algorithm (see :func:`tuning`) does not support the problem.

    See Also
    --------
    tuning : Change the thresholds, or force an algorithm, for a block of code.
    algorithms : The registered algorithms.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.zeros((8, 64, 56, 56), np.float32); w = np.zeros((64, 64, 3, 3), np.float32)
    >>> fastconv.plan(fastconv.conv2d, x, w, padding=1).algorithms
    {'forward': 'conv.forward.winograd'}
    >>> p = fastconv.plan(fastconv.conv2d_backward, np.zeros((8, 64, 56, 56), np.float32),
    ...                   x, w, padding=1)
    >>> [d["algorithm"] for d in p.describe()]
    ['conv.grad_input.as_forward', 'conv.grad_weight.strip', 'conv.grad_bias.sum']
    """
    if getattr(func, "_fastconv_op", False) is not True:
        raise TypeError(f"`func` must be a fastconv op, got {func!r}")
    # the call itself, told to return its plan instead of running it: the same
    # validation, the same cache, the same plan
    check_num_threads(kwargs.get("num_threads"))
    kwargs["num_threads"] = PLAN_ONLY
    return func(*args, **kwargs)


def algorithms(op=None, direction=None):
    """List the registered algorithms, in priority order within each op and direction.

    Parameters
    ----------
    op : {'conv', 'max_pool', 'avg_pool', 'unfold'}, optional
        Only this op's algorithms.
    direction : {'forward', 'grad_input', 'grad_weight', 'grad_bias'}, optional
        Only this direction's.

    Returns
    -------
    list of dict
        ``name`` (``'op.direction.short'``), ``op``, ``direction``, ``summary`` and
        ``layouts`` (the data layouts its kernel reads: ``'channels_first'``,
        ``'channels_last'``).

    Raises
    ------
    ValueError
        ``op`` or ``direction`` is not one of the values above.

    See Also
    --------
    plan : Which of them a call uses.
    tuning : Force one of them (``force={direction: short name}``).

    Examples
    --------
    >>> import fastconv
    >>> [a["name"].split(".")[2] for a in fastconv.algorithms("conv", "forward")
    ...  if "channels_first" in a["layouts"]]
    ['direct', 'depthwise', 'grouped', 'winograd', 'regions', 'strip', 'im2col']
    >>> [a["name"].split(".")[2] for a in fastconv.algorithms("conv", "forward")
    ...  if "channels_last" in a["layouts"]]
    ['depthwise_nhwc', 'winograd_nhwc', 'nhwc']
    """
    from ._problem import DIRECTIONS, OPS
    if op is not None and op not in OPS:
        raise ValueError(f"`op` must be one of {sorted(OPS)} or None, got {op!r}")
    if direction is not None and direction not in DIRECTIONS:
        raise ValueError(f"`direction` must be one of {sorted(DIRECTIONS)} or None, got "
                         f"{direction!r}")
    return [{"name": a.name, "op": a.op, "direction": a.direction, "summary": a.summary,
             "layouts": a.layouts}
            for a in registered(op, direction)]
