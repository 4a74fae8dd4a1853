"""Side-by-side benchmark: ``python -m fastconv bench [--quick]``.

Every case is timed for fastconv and each peer in one process, interleaved
(fastconv, peer, fastconv, peer, ...; one round per peer), and compared by
the ratio of medians, so a noisy machine moves both sides alike.  Peers:

* ``numpy``: a plain NumPy convolution (``sliding_window_view`` + ``tensordot``)
  and its backward pass written the same way;
* ``cs231n``: the classic approach -- ``np.pad``, a serial element-by-element
  Cython im2col of the whole batch (``_kernels/_classic.pyx``), then one large
  matmul (NumPy/OpenBLAS) -- and col2im for the input gradient;
* ``torch``: ``torch.nn.functional`` and ``torch.ops.aten.convolution_backward``,
  when PyTorch is installed (it is never a dependency of fastconv).

Besides the standard layers (``LAYERS``), the bench measures, in the same run:

* a header: CPU, the SIMD variant of each library, threads, versions; the FMA peak
  (``_gemm.fma_peak``); NumPy's GEMM roof in this process and, in a child process,
  with OpenBLAS's own kernel dispatch; a streaming-sum memory bandwidth;
* global and large-window pooling against that bandwidth and torch;
* the real-network suite (``fastconv/_networks.py``, ``--networks``): every distinct
  conv and pooling layer of ten networks, forward and backward, against torch, summed
  per network, per layer kind and listed per layer;
* a many-core balance model of the plans' static schedules at 16, 32 and 64 threads.

``--isa avx2`` runs all of it in a child process with both libraries held to AVX2;
``--only-networks`` skips the standard-layer sections.  docs/benchmarks.md explains
every column.

``--json FILE`` also writes the measured results as JSON, and ``--plot FILE`` a PNG
bar chart of forward GFLOP/s per layer for fastconv and each peer (needs matplotlib):
``python -m fastconv bench --quick --plot docs/_static/gflops.png`` makes the
documentation's figure.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

import fastconv


# (N, Cin, H, W, Cout, k, stride, pad)
LAYERS = {
    "LeNet conv1": (64, 1, 28, 28, 6, 5, 1, 0),
    "LeNet conv2": (64, 6, 12, 12, 16, 5, 1, 0),
    "CIFAR first": (32, 3, 32, 32, 64, 3, 1, 1),
    "CIFAR mid": (32, 64, 16, 16, 128, 3, 1, 1),
    "VGG block": (8, 64, 56, 56, 64, 3, 1, 1),
    "ResNet 1x1": (8, 256, 56, 56, 64, 1, 1, 0),
    "ResNet strided": (8, 128, 28, 28, 256, 3, 2, 1),
    "ResNet stem": (8, 3, 224, 224, 64, 7, 2, 3),
    "seeds tiny": (1, 2, 4, 4, 2, 2, 1, 0),
}
QUICK = ("LeNet conv2", "CIFAR mid", "ResNet 1x1", "seeds tiny")

# (name, kind, shape, kernel, stride, padding)
POOLS = [
    ("max 2x2/2", "max", (32, 64, 56, 56), 2, 2, 0),
    ("max 3x3/2 pad 1", "max", (8, 64, 112, 112), 3, 2, 1),
    ("avg 2x2/2", "avg", (32, 64, 56, 56), 2, 2, 0),
]


# ----------------------------------------------------------------- timing


def interleaved(funcs, repeat, min_time=0.2, pause=0.003):
    """Median seconds of each function, run in turn ``repeat`` times (after a warm-up).

    Calls that take less than ``min_time / repeat`` are batched so each sample
    lasts long enough to time.  A pause separates the functions: threading
    runtimes keep their idle workers spinning for a while after a parallel call
    (OpenMP for a fraction of a millisecond, OpenBLAS -- behind NumPy's matmul --
    for about 0.1 s), and fastconv, torch and NumPy each have their own, so
    back-to-back calls would steal each other's cores.
    """
    loops = []
    for f in funcs:
        f()
        t0 = time.perf_counter()
        f()
        dt = time.perf_counter() - t0
        loops.append(max(1, int(min_time / repeat / max(dt, 1e-7))))
    samples = [[] for _ in funcs]
    for _ in range(repeat):
        for i, f in enumerate(funcs):
            time.sleep(pause)
            t0 = time.perf_counter()
            for _ in range(loops[i]):
                f()
            samples[i].append((time.perf_counter() - t0) / loops[i])
    return [float(np.median(s)) for s in samples]


def geomean(values):
    values = [v for v in values if v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


# ------------------------------------------------------------------ peers


def numpy_conv2d(x, w, stride, pad):
    """Plain NumPy: sliding_window_view + tensordot."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    k = w.shape[2]
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)


def numpy_conv2d_backward(go, x, w, stride, pad):
    """Plain NumPy backward: tensordot for the weight, scatter over kernel taps for the input."""
    N, C, H, W = x.shape
    k = w.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    gw = np.tensordot(go, win, axes=([0, 2, 3], [0, 2, 3]))
    gxp = np.zeros_like(xp)
    OH, OW = go.shape[2:]
    for i in range(k):
        for j in range(k):
            gxp[:, :, i:i + stride * OH:stride, j:j + stride * OW:stride] += np.tensordot(
                w[:, :, i, j], go, axes=([0], [1])).transpose(1, 0, 2, 3)
    gx = gxp[:, :, pad:pad + H, pad:pad + W]
    return gx, gw, go.sum(axis=(0, 2, 3))


def _classic_cols(x, k, stride, pad):
    from ._kernels._classic import im2col_classic

    N, C, H, W = x.shape
    OH = (H + 2 * pad - k) // stride + 1
    OW = (W + 2 * pad - k) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.zeros((C * k * k, OH * OW * N), dtype=x.dtype)
    im2col_classic(xp, cols, k, stride, OH, OW)
    return cols, OH, OW


def cs231n_conv2d(x, w, stride, pad):
    """The classic approach: serial im2col of the whole batch, then one large matmul."""
    N = x.shape[0]
    O, _, k, _ = w.shape
    cols, OH, OW = _classic_cols(x, k, stride, pad)
    out = w.reshape(O, -1) @ cols
    return out.reshape(O, OH, OW, N).transpose(3, 0, 1, 2)


def cs231n_conv2d_backward(go, x, w, stride, pad):
    from ._kernels._classic import col2im_classic

    N, C, H, W = x.shape
    O, _, k, _ = w.shape
    cols, OH, OW = _classic_cols(x, k, stride, pad)
    go2 = go.transpose(1, 2, 3, 0).reshape(O, -1)
    gw = (go2 @ cols.T).reshape(w.shape)
    dcols = np.ascontiguousarray(w.reshape(O, -1).T @ go2)
    gxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=x.dtype)
    col2im_classic(dcols, gxp, k, stride, OH, OW)
    return gxp[:, :, pad:pad + H, pad:pad + W], gw, go2.sum(axis=1)


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def gemm_roof(dtype=np.float32, n=2048, repeat=5):
    """Best GFLOP/s of NumPy's BLAS on a large square matmul (the GEMM roof here).

    The best of the runs, not the median: it is the rate this machine can reach.
    """
    a = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
    b = a.copy()
    a @ b
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


# ------------------------------------------------------------------ table


def _fmt(v, digits=2):
    return "-" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def bench_conv(names, repeat, with_numpy, torch, out):
    """Peer-major: every layer against torch first, then against cs231n, then NumPy.

    The cs231n and NumPy peers allocate huge temporaries and call OpenBLAS;
    running them last keeps their after-effects (memory handed back to the OS
    and faulted in again, spinning BLAS threads) out of the torch comparison.
    """
    cases = []
    for name in names:
        N, C, H, W, O, k, s, p = LAYERS[name]
        rng = np.random.default_rng(0)
        x = rng.standard_normal((N, C, H, W), dtype=np.float32)
        w = rng.standard_normal((O, C, k, k), dtype=np.float32)
        b = rng.standard_normal(O, dtype=np.float32)
        y = fastconv.conv2d(x, w, b, stride=s, padding=p)
        go = rng.standard_normal(y.shape, dtype=np.float32)
        cases.append(dict(name=name, x=x, w=w, b=b, go=go, s=s, p=p, O=O,
                          flops=2.0 * y.size * C * k * k))

    def ours(c):
        return (lambda: fastconv.conv2d(c["x"], c["w"], c["b"], stride=c["s"], padding=c["p"]),
                lambda: fastconv.conv2d_backward(c["go"], c["x"], c["w"], stride=c["s"],
                                                 padding=c["p"]))

    def torch_peer(c):
        tx, tw, tb, tgo = (torch.from_numpy(c[a]) for a in ("x", "w", "b", "go"))
        s, p, O = c["s"], c["p"], c["O"]
        return (lambda: torch.nn.functional.conv2d(tx, tw, tb, stride=s, padding=p),
                lambda: torch.ops.aten.convolution_backward(
                    tgo, tx, tw, [O], [s, s], [p, p], [1, 1], False, [0, 0], 1,
                    [True, True, True]))

    def cs231n_peer(c):
        return (lambda: cs231n_conv2d(c["x"], c["w"], c["s"], c["p"]),
                lambda: cs231n_conv2d_backward(c["go"], c["x"], c["w"], c["s"], c["p"]))

    def numpy_peer(c):
        return (lambda: numpy_conv2d(c["x"], c["w"], c["s"], c["p"]),
                lambda: numpy_conv2d_backward(c["go"], c["x"], c["w"], c["s"], c["p"]))

    peers = ([("torch", torch_peer, 0.003)] if torch is not None else [])
    # the cs231n and numpy peers call OpenBLAS, whose idle threads spin ~0.1 s
    peers += [("cs231n", cs231n_peer, 0.15)]
    peers += [("numpy", numpy_peer, 0.15)] if with_numpy else []
    rows = [{"name": c["name"], "flops": c["flops"], "fwd_ratio": {}, "bwd_ratio": {},
             "fwd_peer": {}, "bwd_peer": {}, "fwd_ours": {}, "bwd_ours": {}} for c in cases]
    for peer_name, make, pause in peers:
        print(f"  -- vs {peer_name}", file=out, flush=True)
        for c, row in zip(cases, rows):
            f_ours, b_ours = ours(c)
            f_peer, b_peer = make(c)
            tf, tpf = interleaved([f_ours, f_peer], repeat, pause=pause)
            tb, tpb = interleaved([b_ours, b_peer], repeat, pause=pause)
            row.setdefault("fwd", tf)   # fastconv's own times: from the first peer's round
            row.setdefault("bwd", tb)
            row["fwd_ratio"][peer_name] = tf / tpf
            row["bwd_ratio"][peer_name] = tb / tpb
            row["fwd_peer"][peer_name] = tpf   # the peer's own medians (for --json, --plot)
            row["bwd_peer"][peer_name] = tpb
            row["fwd_ours"][peer_name] = tf    # fastconv's medians in this peer's round
            row["bwd_ours"][peer_name] = tb
            print(f"  {c['name']:15s} fwd {tf * 1e3:9.3f} ms ({c['flops'] / tf / 1e9:6.1f} GF/s) "
                  f"ratio {tf / tpf:5.2f} | bwd {tb * 1e3:9.3f} ms ratio {tb / tpb:5.2f}",
                  file=out, flush=True)
    return rows


def bench_pool(repeat, torch, out):
    rows = []
    for name, kind, shape, k, s, p in POOLS:
        x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
        if kind == "max":
            y, idx = fastconv.max_pool2d(x, k, s, p, return_indices=True)
            go = np.ones_like(y)
            ours = lambda: fastconv.max_pool2d_backward(  # noqa: E731
                go, fastconv.max_pool2d(x, k, s, p, return_indices=True)[1], x.shape)
        else:
            y = fastconv.avg_pool2d(x, k, s, p)
            go = np.ones_like(y)
            ours = lambda: (fastconv.avg_pool2d(x, k, s, p),  # noqa: E731
                            fastconv.avg_pool2d_backward(go, x.shape, k, s, p))
        funcs = [ours]
        if torch is not None:
            tx = torch.from_numpy(x)
            tgo = torch.from_numpy(go)
            if kind == "max":
                def theirs():
                    o, i = torch.nn.functional.max_pool2d(tx, k, s, p, return_indices=True)
                    return torch.ops.aten.max_pool2d_with_indices_backward(
                        tgo, tx, [k, k], [s, s], [p, p], [1, 1], False, i)
            else:
                def theirs():
                    torch.nn.functional.avg_pool2d(tx, k, s, p)
                    return torch.ops.aten.avg_pool2d_backward(tgo, tx, [k, k], [s, s], [p, p],
                                                              False, True, None)
            funcs.append(theirs)
        t = interleaved(funcs, repeat)
        moved = (x.nbytes * 2 + y.nbytes * 2) / t[0] / 1e9
        rows.append({"name": name, "t": t, "gbps": moved})
        tt = f"  torch {t[-1] * 1e3:8.3f} ms  ratio {t[0] / t[-1]:5.2f}" if torch else ""
        print(f"  {name:17s} fwd+bwd {t[0] * 1e3:8.3f} ms ({moved:5.1f} GB/s){tt}", file=out,
              flush=True)
    return rows


def peak_extra_bytes(func):
    """Peak bytes NumPy allocated during ``func()`` beyond what was live before.

    Counts the result and every temporary (fastconv's workspaces are NumPy
    arrays, so they are counted when they are first made); run ``func`` once
    before to see the steady state, where cached workspaces already exist.
    """
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = func()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return peak - base


def bench_memory(out):
    """Extra peak memory of conv2d forward and backward on the VGG block, allocating the
    results and (``out=``) writing them into buffers allocated once before."""
    import fastconv._parallel as par

    N, C, H, W, O, k, s, p = LAYERS["VGG block"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    w = rng.standard_normal((O, C, k, k), dtype=np.float32)
    y = fastconv.conv2d(x, w, stride=s, padding=p)
    go = np.ones_like(y)
    base = x.nbytes + w.nbytes + y.nbytes
    y_out = np.empty_like(y)
    grads_out = (np.empty_like(x), np.empty_like(w), np.empty((O,), np.float32))
    rows = []
    for name, f in (("forward", lambda: fastconv.conv2d(x, w, stride=s, padding=p)),
                    ("backward", lambda: fastconv.conv2d_backward(go, x, w, stride=s, padding=p)),
                    ("forward, out=", lambda: fastconv.conv2d(x, w, stride=s, padding=p,
                                                              out=y_out)),
                    ("backward, out=", lambda: fastconv.conv2d_backward(
                        go, x, w, stride=s, padding=p, out=grads_out))):
        if hasattr(par._local, "buffers"):
            par._local.buffers.clear()   # cold: the workspace is allocated inside the call
        cold = peak_extra_bytes(f)
        warm = peak_extra_bytes(f)
        rows.append((name, cold, warm))
    print("\n## extra peak memory, VGG block float32 (x + weight + output = "
          f"{base / 2**20:.1f} MiB)\n", file=out)
    print("| pass | first call | later calls | first call / (x+w+out) |", file=out)
    print("|---|---|---|---|", file=out)
    for name, cold, warm in rows:
        print(f"| {name} | {cold / 2**20:.2f} MiB | {warm / 2**20:.2f} MiB | {cold / base:.2f}x |",
              file=out)
    print("(results included: the forward output alone is "
          f"{y.nbytes / base:.2f}x; the rest is the reused per-thread workspace; with out= "
          "the results are the caller's buffers, so a later call allocates only scratch: "
          "for the backward the grad_weight partial sums)", file=out)
    return rows


def bench_routes(names, out):
    """The algorithm, workspace and task count of every direction of each layer, as
    :func:`fastconv.plan` reports them (the plan each timed call uses)."""
    n = fastconv.get_num_threads()
    print(f"\n## algorithms chosen (fastconv.plan), float32, workspace for {n} threads\n",
          file=out)
    print("| layer | direction | algorithm | workspace KiB | tasks |", file=out)
    print("|---|---|---|---|---|", file=out)
    rows = []
    for name in names:
        N, C, H, W, O, k, s, p = LAYERS[name]
        x = np.zeros((N, C, H, W), np.float32)
        w = np.zeros((O, C, k, k), np.float32)
        fwd = fastconv.plan(fastconv.conv2d, x, w, None, s, p)
        go = np.zeros(fwd.problem.y_shape, np.float32)
        bwd = fastconv.plan(fastconv.conv2d_backward, go, x, w, s, p)
        for d in fwd.describe(n) + bwd.describe(n):
            algo = d["algorithm"] + (f" ({d['runs']})" if "runs" in d else "")
            rows.append((name, d["direction"], algo, d["workspace_bytes"], d["tasks"]))
            print(f"| {name} | {d['direction']} | {algo} | {d['workspace_bytes'] / 1024:.0f} | "
                  f"{d['tasks']} |", file=out)
    return rows


def bench_threads(repeat, out):
    """Speed-up of the default thread count over one thread on the big layers."""
    n = fastconv.get_num_threads()
    print(f"\n## thread scaling, conv2d forward + backward float32 ({n} threads vs 1)\n",
          file=out)
    print("| layer | 1 thread ms | %d threads ms | speed-up |" % n, file=out)
    print("|---|---|---|---|", file=out)
    for name in ("VGG block", "CIFAR mid", "ResNet 1x1", "ResNet strided", "ResNet stem"):
        N, C, H, W, O, k, s, p = LAYERS[name]
        rng = np.random.default_rng(0)
        x = rng.standard_normal((N, C, H, W), dtype=np.float32)
        w = rng.standard_normal((O, C, k, k), dtype=np.float32)
        go = np.ones_like(fastconv.conv2d(x, w, stride=s, padding=p))

        def step(t):
            fastconv.conv2d(x, w, stride=s, padding=p, num_threads=t)
            fastconv.conv2d_backward(go, x, w, stride=s, padding=p, num_threads=t)
        t1, tn = interleaved([lambda: step(1), lambda: step(n)], repeat)
        print(f"| {name} | {t1 * 1e3:.1f} | {tn * 1e3:.1f} | {t1 / tn:.2f}x |", file=out, flush=True)


def report(conv_rows, pool_rows, roof, torch, with_numpy, out, peak=None):
    """The conv2d and pooling tables.  ``roof``: the GEMM roof in GFLOP/s (NumPy's BLAS
    with its own dispatch); ``peak``: the float32 FMA peak on the bench's threads."""
    peers = (["torch"] if torch is not None else []) + ["cs231n"] + (["numpy"] if with_numpy else [])
    print("\n## conv2d, float32 (ratio = fastconv / peer: medians of interleaved runs)\n",
          file=out)
    head = ("| layer | fwd ms | GFLOP/s | % GEMM roof | % FMA peak | "
            + " | ".join(f"fwd vs {p}" for p in peers)
            + " | bwd ms | " + " | ".join(f"bwd vs {p}" for p in peers) + " |")
    print(head, file=out)
    print("|" + "---|" * (head.count("|") - 1), file=out)
    for r in conv_rows:
        gf = r["flops"] / r["fwd"] / 1e9
        cells = [r["name"], _fmt(r["fwd"] * 1e3, 3), _fmt(gf, 1), _fmt(100 * gf / roof, 0),
                 _fmt(100 * gf / peak, 0) if peak else "-"]
        cells += [_fmt(r["fwd_ratio"][p]) for p in peers]
        cells += [_fmt(r["bwd"] * 1e3, 3)] + [_fmt(r["bwd_ratio"][p]) for p in peers]
        print("| " + " | ".join(cells) + " |", file=out)
    geo = ["**geomean**", "", "", "", ""]
    geo += [_fmt(geomean([r["fwd_ratio"][p] for r in conv_rows])) for p in peers]
    geo += [""] + [_fmt(geomean([r["bwd_ratio"][p] for r in conv_rows])) for p in peers]
    print("| " + " | ".join(geo) + " |", file=out)
    print(file=out)
    for p in peers:
        f = [r["fwd_ratio"][p] for r in conv_rows]
        b = [r["bwd_ratio"][p] for r in conv_rows]
        both = math.sqrt(geomean(f) * geomean(b))
        print(f"fastconv vs {p:6s}: fwd geomean {_fmt(geomean(f), 3)}, bwd geomean "
              f"{_fmt(geomean(b), 3)}, together {_fmt(both, 3)} (speed-up {_fmt(1 / both, 1)}x); "
              f"worst fwd {_fmt(max(f))}, worst bwd {_fmt(max(b))}", file=out)
    if pool_rows:
        has_t = torch is not None
        print("\n## pooling forward + backward, float32\n", file=out)
        print("| case | ms | GB/s |" + (" vs torch |" if has_t else ""), file=out)
        print("|---|---|---|" + ("---|" if has_t else ""), file=out)
        for r in pool_rows:
            cells = [r["name"], _fmt(r["t"][0] * 1e3, 3), _fmt(r["gbps"], 1)]
            if has_t:
                cells.append(_fmt(r["t"][0] / r["t"][-1]))
            print("| " + " | ".join(cells) + " |", file=out)
        if has_t:
            print(f"\npooling vs torch: geomean ratio "
                  f"{_fmt(geomean([r['t'][0] / r['t'][-1] for r in pool_rows]), 3)}", file=out)


# ------------------------------------------------- header, probes and roofs


def cpu_info(path="/proc/cpuinfo"):
    """The CPU's model name, vendor, family, model and stepping from ``/proc/cpuinfo``
    (where it exists), and the logical CPU count; missing fields are None."""
    info = {"model_name": None, "vendor": None, "family": None, "model": None,
            "stepping": None, "logical_cpus": os.cpu_count()}
    keys = {"model name": "model_name", "vendor_id": "vendor", "cpu family": "family",
            "model": "model", "stepping": "stepping"}
    try:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    break                       # the first processor's block is enough
                k, _, v = line.partition(":")
                k = k.strip()
                if k in keys and info[keys[k]] is None:
                    info[keys[k]] = v.strip()
    except OSError:
        pass
    if info["model_name"] is None:
        import platform
        info["model_name"] = platform.processor() or platform.machine() or None
    return info


_ISA_ENV = {   # what --isa sets in the child's environment, before either library loads
    "avx2": {"FASTCONV_GEMM": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "ATEN_CPU_CAPABILITY": "avx2"},
    "generic": {"FASTCONV_GEMM": "generic", "ONEDNN_MAX_CPU_ISA": "SSE41",
                "ATEN_CPU_CAPABILITY": "default"},
}
_ENV_SHOWN = ("FASTCONV_GEMM", "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS",
              "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS")
_BLAS_HOLDS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _blas_info():
    """NumPy's BLAS as threadpoolctl sees it (None without threadpoolctl)."""
    try:
        import threadpoolctl
    except ImportError:
        return None
    for lib in threadpoolctl.threadpool_info():
        if lib.get("user_api") == "blas":
            return {k: lib.get(k) for k in ("internal_api", "version", "architecture",
                                              "num_threads")}
    return None


def _package_root():
    """The directory holding this very fastconv package (a child started there, with it
    first on PYTHONPATH, imports it -- not a source tree that happens to be the cwd,
    which ``python -c`` and ``-m`` put before PYTHONPATH)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))


def _package_env(extra=None, drop=()):
    """A copy of this process's environment for a child that must import this very
    fastconv: its package root first on PYTHONPATH; ``extra`` set, ``drop`` removed.
    Start the child with ``cwd=_package_root()``."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    root = _package_root()
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(
        os.pathsep) if p])
    env.update(extra or {})
    return env


_ROOF_CHILD = """
import json
from fastconv.bench import gemm_roof, _blas_info
print(json.dumps({"gflops": gemm_roof(), "blas": _blas_info()}))
"""


def gemm_roof_own_dispatch(timeout=300):
    """The GEMM roof measured in a child process whose environment lacks
    ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE``, so OpenBLAS picks its kernels for
    this CPU itself (this process's environment is left alone).  Returns
    ``{"gflops", "blas"}``, or ``{"gflops": None, "error": ...}`` if the child fails."""
    import subprocess
    try:
        done = subprocess.run([sys.executable, "-c", _ROOF_CHILD], capture_output=True,
                              text=True, timeout=timeout, env=_package_env(drop=_BLAS_HOLDS),
                              cwd=_package_root())
        if done.returncode != 0:
            return {"gflops": None, "error": done.stderr.strip().splitlines()[-1:]}
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        return {"gflops": None, "error": str(e)}


def memory_bandwidth(nbytes=256 * 2**20, repeat=5):
    """GB/s of a NumPy streaming sum (``np.sum`` over an ``nbytes`` float32 array, best of
    ``repeat``): the read bandwidth one core gets, the pooling rows' yardstick."""
    big = np.ones(nbytes // 4, dtype=np.float32)
    big.sum()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        big.sum()
        best = min(best, time.perf_counter() - t0)
    return big.nbytes / best / 1e9


def fma_peaks(threads, seconds=0.3):
    """Peak GFLOP/s of the register-only FMA loop (``_gemm.fma_peak``) in the GEMM's
    variant: float32 and float64, on ``threads`` threads and on one."""
    from ._kernels import _gemm

    out = {}
    for dt, f64 in (("float32", False), ("float64", True)):
        for t in dict.fromkeys((threads, 1)):
            r = _gemm.fma_peak(f64, t, seconds)
            out[f"{dt}_{t}"] = r["gflops"]
            out[f"{dt}_{t}_wall"] = r["wall_gflops"]
            out["variant"] = r["variant"]
            out["clock"] = r["clock"]
    out["threads"] = threads
    return out


def header(torch, out, quick=False):
    """Print and return what the run is on: CPU, SIMD variants, threads, versions, the
    FMA peak, the two GEMM roofs and the memory bandwidth."""
    from ._kernels import _gemm

    config = fastconv.show_config(mode="dicts")
    threads = fastconv.get_num_threads()
    runtime = " ".join(os.path.basename(p) for p in config["openmp"]["runtime"]) or "none"
    print(f"fastconv {fastconv.__version__}: {config['threads']['default']} threads "
          f"({config['threads']['source']}), OpenMP {config['openmp']['enabled']} "
          f"(runtime {runtime}), GEMM kernel {config['simd']['gemm_variant']}; "
          f"compiler {config['build']['compiler_version']}; python "
          f"{sys.version.split()[0]}, numpy {np.__version__}"
          + (f", torch {torch.__version__}" if torch else ", torch not installed"), file=out)
    cpu = cpu_info()
    ident = ", ".join(f"{k} {cpu[k]}" for k in ("family", "model", "stepping") if cpu[k])
    print(f"CPU: {cpu['model_name'] or 'unknown'}"
          + (f" ({cpu['vendor']}{', ' + ident if ident else ''})" if cpu["vendor"] else "")
          + f", {cpu['logical_cpus']} logical CPUs; SIMD: "
          + (" ".join(_gemm.build_info()["cpu_features"]) or "not reported"), file=out)
    torch_isa = None
    if torch is not None:
        try:
            torch_isa = torch.backends.cpu.get_cpu_capability()
        except AttributeError:
            torch_isa = None
    env = {k: os.environ.get(k) for k in _ENV_SHOWN}
    print(f"SIMD variant in use: fastconv {_gemm.variant()}"
          + (f", torch {torch_isa}" if torch_isa else "") + "; threads: fastconv "
          f"{threads}" + (f", torch {torch.get_num_threads()}" if torch else "")
          + "; environment: " + (", ".join(f"{k}={v}" for k, v in env.items() if v)
                                 or "none of " + ", ".join(_ENV_SHOWN)), file=out, flush=True)
    peaks = fma_peaks(threads, 0.1 if quick else 0.3)
    cells = [f"{dt} {peaks[f'{dt}_{threads}']:.1f} GFLOP/s on {threads} thread"
             f"{'s' if threads > 1 else ''}"
             + (f" ({peaks[f'{dt}_1']:.1f} on 1)" if threads > 1 else "")
             for dt in ("float32", "float64")]
    clock = f"; timed in {peaks['clock']}" if peaks.get("clock") else ""
    wall = peaks.get(f"float32_{threads}_wall")
    if wall and wall < 0.9 * peaks[f"float32_{threads}"]:
        clock += (f" (by wall clock float32 {wall:.1f} on {threads}: other processes had "
                  "part of the cores)")
    print(f"FMA peak (register-only loop, {peaks['variant']}): " + "; ".join(cells) + clock,
          file=out, flush=True)
    roof_here = gemm_roof()
    blas_here = _blas_info()
    time.sleep(0.3)   # let OpenBLAS's threads stop spinning
    own = gemm_roof_own_dispatch()

    def arch(b):
        return f", kernels {b['architecture']}" if b and b.get("architecture") else ""
    held = ", ".join(f"{k}={os.environ[k]}" for k in _BLAS_HOLDS if k in os.environ)
    print(f"GEMM roof (NumPy's BLAS, best of 2048^3 float32): {roof_here:.1f} GFLOP/s in this "
          f"process ({held or 'no OPENBLAS_* hold'}{arch(blas_here)}); "
          + (f"{own['gflops']:.1f} GFLOP/s with its own dispatch (a child without "
             f"{' and '.join(_BLAS_HOLDS)}{arch(own.get('blas'))})" if own.get("gflops")
             else f"own dispatch not measured ({own.get('error')})"), file=out, flush=True)
    bw = memory_bandwidth(repeat=3 if quick else 5)
    print(f"memory bandwidth (np.sum over 256 MiB float32, best of {3 if quick else 5}, one "
          f"thread): {bw:.1f} GB/s", file=out, flush=True)
    roof = own["gflops"] or roof_here
    return {"cpu": cpu, "fastconv_variant": _gemm.variant(), "torch_cpu_capability": torch_isa,
            "threads": threads, "torch_threads": torch.get_num_threads() if torch else None,
            "environment": env, "fma_peak": peaks, "gemm_roof_gflops": roof,
            "gemm_roof_inprocess_gflops": roof_here, "gemm_roof_own_dispatch": own,
            "blas_inprocess": blas_here, "bandwidth_gbps": bw,
            "versions": {"fastconv": fastconv.__version__, "numpy": np.__version__,
                         "torch": torch.__version__ if torch else None,
                         "python": sys.version.split()[0],
                         "compiler": config["build"]["compiler_version"]}}


# ------------------------------------------ global and large-window pooling vs bandwidth

# (name, kind, shape, kernel, stride, with indices)
BANDWIDTH_POOLS = [
    ("global avg (4,2048,7,7)", "avg", (4, 2048, 7, 7), 7, 7, False),
    ("global max (4,2048,7,7)", "max", (4, 2048, 7, 7), 7, 7, False),
    ("global max+idx (4,2048,7,7)", "max", (4, 2048, 7, 7), 7, 7, True),
    ("global avg (4,1280,7,7)", "avg", (4, 1280, 7, 7), 7, 7, False),
    ("global max (4,1280,7,7)", "max", (4, 1280, 7, 7), 7, 7, False),
    ("global max+idx (4,1280,7,7)", "max", (4, 1280, 7, 7), 7, 7, True),
    ("global avg (32,256,56,56)", "avg", (32, 256, 56, 56), 56, 56, False),
    ("global max (32,256,56,56)", "max", (32, 256, 56, 56), 56, 56, False),
    ("global max+idx (32,256,56,56)", "max", (32, 256, 56, 56), 56, 56, True),
    ("avg 7x7/1 (4,512,14,14)", "avg", (4, 512, 14, 14), 7, 1, False),
]


def bench_bandwidth_pools(repeat, torch, bandwidth, out):
    """Forward global and large-window poolings: GB/s of input read (x.nbytes / time),
    as % of the streaming-sum bandwidth, and the ratio to torch."""
    print(f"\n## global and large-window pooling, forward, float32 (GB/s of input read; % of "
          f"the {bandwidth:.1f} GB/s streaming sum)\n", file=out)
    has_t = torch is not None
    print("| case | algorithm | ms | GB/s read | % bandwidth |" + (" torch ms | vs torch |"
                                                               if has_t else ""), file=out)
    print("|---|---|---|---|---|" + ("---|---|" if has_t else ""), file=out)
    rows = []
    for name, kind, shape, k, s, idx in BANDWIDTH_POOLS:
        x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
        if kind == "max":
            funcs = [lambda: fastconv.max_pool2d(x, k, s, return_indices=idx)]
            plan = fastconv.plan(fastconv.max_pool2d, x, k, s, return_indices=idx)
        else:
            funcs = [lambda: fastconv.avg_pool2d(x, k, s)]
            plan = fastconv.plan(fastconv.avg_pool2d, x, k, s)
        if has_t:
            tx = torch.from_numpy(x)
            funcs.append((lambda: torch.nn.functional.max_pool2d(tx, k, s, return_indices=idx))
                         if kind == "max" else (lambda: torch.nn.functional.avg_pool2d(tx, k, s)))
        t = interleaved(funcs, repeat)
        gbps = x.nbytes / t[0] / 1e9
        row = {"name": name, "algorithm": plan.algorithms["forward"], "s": t[0], "gbps": gbps,
               "pct_bandwidth": 100 * gbps / bandwidth,
               "torch_s": t[1] if has_t else None, "ratio": t[0] / t[1] if has_t else None}
        rows.append(row)
        cells = [name, row["algorithm"].split(".")[-1], _fmt(t[0] * 1e3, 3), _fmt(gbps, 1),
                 _fmt(row["pct_bandwidth"], 0)]
        if has_t:
            cells += [_fmt(t[1] * 1e3, 3), _fmt(row["ratio"])]
        print("| " + " | ".join(cells) + " |", file=out, flush=True)
    if has_t:
        print(f"\nglobal pooling vs torch: geomean ratio "
              f"{_fmt(geomean([r['ratio'] for r in rows]), 3)}", file=out)
    return rows


# output_mask cases: (layer, mask, what a network uses it for)
OUTPUT_MASKS = [
    ("ResNet stem", (False, True, True), "first layer: no grad_input"),
    ("VGG block", (True, True, False), "before a batch norm: no grad_bias"),
    ("VGG block", (False, True, False), "frozen input, no bias"),
    ("ResNet 1x1", (True, False, False), "frozen weights"),
]


def bench_output_mask(repeat, out):
    """conv2d_backward with an output_mask against the full backward, same run."""
    print("\n## conv2d_backward with output_mask, float32 (time / the full backward's)\n",
          file=out)
    print("| layer | output_mask | use | full ms | masked ms | ratio |\n|---|---|---|---|---|---|",
          file=out)
    rows = []
    rng = np.random.default_rng(0)
    for name, mask, use in OUTPUT_MASKS:
        N, C, H, W, O, k, st, p = LAYERS[name]
        x = rng.standard_normal((N, C, H, W), dtype=np.float32)
        w = rng.standard_normal((O, C, k, k), dtype=np.float32)
        go = np.ones(fastconv.conv2d(x, w, stride=st, padding=p).shape, np.float32)
        t = interleaved([lambda: fastconv.conv2d_backward(go, x, w, stride=st, padding=p),
                         lambda m=mask: fastconv.conv2d_backward(go, x, w, stride=st, padding=p,
                                                                 output_mask=m)], repeat)
        rows.append({"layer": name, "mask": mask, "full_s": t[0], "masked_s": t[1],
                     "ratio": t[1] / t[0]})
        print(f"| {name} | {mask} | {use} | {t[0] * 1e3:.2f} | {t[1] * 1e3:.2f} | "
              f"{t[1] / t[0]:.2f} |", file=out, flush=True)
    return rows


# (name, kind, x shape, output size)
ADAPTIVE_POOLS = [
    ("adaptive avg ->1 (4,2048,7,7)", "avg", (4, 2048, 7, 7), 1),
    ("adaptive avg ->1 (32,256,56,56)", "avg", (32, 256, 56, 56), 1),
    ("adaptive max ->1 (4,2048,7,7)", "max", (4, 2048, 7, 7), 1),
    ("adaptive avg ->7 (8,512,14,14)", "avg", (8, 512, 14, 14), 7),
    ("adaptive avg ->5 (8,512,13,13)", "avg", (8, 512, 13, 13), 5),
    ("adaptive max ->5 (8,512,13,13)", "max", (8, 512, 13, 13), 5),
    ("adaptive avg ->(6,6) (8,256,15,15)", "avg", (8, 256, 15, 15), (6, 6)),
]


def bench_adaptive_pools(repeat, torch, bandwidth, out):
    """Adaptive pooling, forward and forward + backward, against torch; GB/s of the
    forward's input read as % of the streaming-sum bandwidth."""
    has_t = torch is not None
    print(f"\n## adaptive pooling, float32 (GB/s of the forward's input read; % of the "
          f"{bandwidth:.1f} GB/s streaming sum)\n", file=out)
    print("| case | algorithm | fwd ms | GB/s read | % bandwidth |" +
          (" fwd vs torch | fwd+bwd vs torch |" if has_t else ""), file=out)
    print("|---|---|---|---|---|" + ("---|---|" if has_t else ""), file=out)
    rows = []
    for name, kind, shape, size in ADAPTIVE_POOLS:
        x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
        fwd = getattr(fastconv, f"adaptive_{kind}_pool2d")
        bwd = getattr(fastconv, f"adaptive_{kind}_pool2d_backward")
        kw = {"return_indices": True} if kind == "max" else {}
        y = fwd(x, size, **kw)
        go = np.ones_like(y[0] if kind == "max" else y)

        def both(x=x, fwd=fwd, bwd=bwd, kw=kw, go=go, size=size, kind=kind):
            r = fwd(x, size, **kw)
            return bwd(go, r[1], x.shape) if kind == "max" else bwd(go, x.shape)
        funcs = [lambda x=x, fwd=fwd, kw=kw, size=size: fwd(x, size, **kw)]
        bfuncs = [both]
        if has_t:
            F = torch.nn.functional
            tx = torch.from_numpy(x)
            tf = getattr(F, f"adaptive_{kind}_pool2d")
            tgo = torch.from_numpy(go)
            funcs.append(lambda tx=tx, tf=tf, size=size: tf(tx, size))
            if kind == "max":
                def tboth(tx=tx, size=size, tgo=tgo):
                    o, i = F.adaptive_max_pool2d(tx, size, return_indices=True)
                    return torch.ops.aten.adaptive_max_pool2d_backward(tgo, tx, i)
            else:
                def tboth(tx=tx, size=size, tgo=tgo):
                    F.adaptive_avg_pool2d(tx, size)
                    return torch.ops.aten._adaptive_avg_pool2d_backward(tgo, tx)
            bfuncs.append(tboth)
        t = interleaved(funcs, repeat)
        tb = interleaved(bfuncs, repeat)
        alg = fastconv.plan(fwd, x, size, **kw).algorithms["forward"]
        gbps = x.nbytes / t[0] / 1e9
        row = {"name": name, "algorithm": alg, "s": t[0], "both_s": tb[0], "gbps": gbps,
               "pct_bandwidth": 100 * gbps / bandwidth,
               "ratio": t[0] / t[1] if has_t else None,
               "both_ratio": tb[0] / tb[1] if has_t else None}
        rows.append(row)
        cells = [name, alg, _fmt(t[0] * 1e3, 3), _fmt(gbps, 1), _fmt(row["pct_bandwidth"], 0)]
        if has_t:
            cells += [_fmt(row["ratio"]), _fmt(row["both_ratio"])]
        print("| " + " | ".join(cells) + " |", file=out, flush=True)
    return rows


# ------------------------------------------------------------ real networks


def network_calls(layer, torch, rng=None):
    """The timed calls of one layer: ``(fastconv fwd, torch fwd, fastconv bwd, torch bwd)``,
    the backward ones None where fastconv has none (the transposed convolution).

    conv: ``conv{1,2}d`` and ``conv{1,2}d_backward`` (grad_input, grad_weight, grad_bias)
    against ``torch.nn.functional`` and ``aten.convolution_backward`` with output_mask all
    True.  max pool: with indices, and its backward from them; avg pool: its backward.
    """
    from . import _networks as nets

    rng = np.random.default_rng(0) if rng is None else rng
    F = torch.nn.functional
    kw = layer.kwargs
    nd = layer.nd
    x = rng.standard_normal(layer.x, dtype=np.float32)
    tx = torch.from_numpy(x)
    y_shape = nets.out_shape(layer)
    go = rng.standard_normal(y_shape, dtype=np.float32)
    tgo = torch.from_numpy(go)
    if layer.is_conv:
        w = rng.standard_normal(layer.w, dtype=np.float32)
        O = y_shape[1]
        b = rng.standard_normal(O, dtype=np.float32) if layer.bias else None
        tw, tb = torch.from_numpy(w), (torch.from_numpy(b) if layer.bias else None)
        if layer.op == "conv_transpose2d":
            # the transposed convolution's gradients: fastconv's conv_transpose2d_backward,
            # torch's convolution_backward with transposed=True
            lists = [list(nets._tup(kw.get(a, d), 2)) for a, d in
                     (("stride", 1), ("padding", 0), ("dilation", 1))]
            opad = list(nets._tup(kw.get("output_padding", 0), 2))
            O = y_shape[1]
            return (lambda: fastconv.conv_transpose2d(x, w, b, **kw),
                    lambda: F.conv_transpose2d(tx, tw, tb, **kw),
                    lambda: fastconv.conv_transpose2d_backward(go, x, w, **kw),
                    lambda: torch.ops.aten.convolution_backward(
                        tgo, tx, tw, [O], *lists, True, opad, kw.get("groups", 1),
                        [True, True, True]))
        fwd = getattr(fastconv, layer.op)
        bwd = getattr(fastconv, layer.op + "_backward")
        tfwd = getattr(F, layer.op)
        lists = [[kw[a]] * nd for a in ("stride", "padding", "dilation")]
        g = kw["groups"]
        return (lambda: fwd(x, w, b, **kw), lambda: tfwd(tx, tw, tb, **kw),
                lambda: bwd(go, x, w, **kw),
                lambda: torch.ops.aten.convolution_backward(
                    tgo, tx, tw, [O], *lists, False, [0] * nd, g, [True, True, True]))
    k = kw["kernel_size"]
    s, p = kw["stride"], kw["padding"]
    K, S, P = (list(nets._tup(v, 2)) for v in (k, s, p))
    if layer.op == "max_pool2d":
        _, idx = fastconv.max_pool2d(x, k, s, p, return_indices=True)
        _, tidx = F.max_pool2d(tx, k, s, p, return_indices=True)
        return (lambda: fastconv.max_pool2d(x, k, s, p, return_indices=True),
                lambda: F.max_pool2d(tx, k, s, p, return_indices=True),
                lambda: fastconv.max_pool2d_backward(go, idx, x.shape),
                lambda: torch.ops.aten.max_pool2d_with_indices_backward(
                    tgo, tx, K, S, P, [1, 1], False, tidx))
    return (lambda: fastconv.avg_pool2d(x, k, s, p), lambda: F.avg_pool2d(tx, k, s, p),
            lambda: fastconv.avg_pool2d_backward(go, x.shape, k, s, p),
            lambda: torch.ops.aten.avg_pool2d_backward(tgo, tx, K, S, P, False, True, None))


def _zeros(shape):
    return np.zeros(shape, np.float32)   # calloc: the pages are never touched by plan()


def layer_plans(layer):
    """``{direction: description}`` of fastconv's plans for the layer's calls (forward;
    grad_input, grad_weight, grad_bias; a pooling's grad_input), from :func:`fastconv.plan`."""
    from . import _networks as nets

    kw = layer.kwargs
    x = _zeros(layer.x)
    go = _zeros(nets.out_shape(layer))
    if layer.is_conv:
        w = _zeros(layer.w)
        b = _zeros(layer.w[1] if layer.op == "conv_transpose2d" else layer.w[0]) \
            if layer.bias else None
        plans = [fastconv.plan(getattr(fastconv, layer.op), x, w, b, **kw)]
        if layer.has_backward:
            plans.append(fastconv.plan(getattr(fastconv, layer.op + "_backward"), go, x, w,
                                       **kw))
    elif layer.op == "max_pool2d":
        k, s, p = kw["kernel_size"], kw["stride"], kw["padding"]
        plans = [fastconv.plan(fastconv.max_pool2d, x, k, s, p, return_indices=True),
                 fastconv.plan(fastconv.max_pool2d_backward, go, np.zeros(go.shape, np.int64),
                               layer.x)]
    else:
        k, s, p = kw["kernel_size"], kw["stride"], kw["padding"]
        plans = [fastconv.plan(fastconv.avg_pool2d, x, k, s, p),
                 fastconv.plan(fastconv.avg_pool2d_backward, go, layer.x, k, s, p)]
    return plans


def _algorithms(plans):
    """``fwd strip; gi as_forward>strip, gw strip``: the plans' algorithms, in brief."""
    names = []
    short = {"forward": "fwd", "grad_input": "gi", "grad_weight": "gw"}
    for i, pl in enumerate(plans):
        for d in pl.describe():
            if d["direction"] == "grad_bias":
                continue
            tag = short.get(d["direction"], d["direction"])
            if i and tag == "gi" and not pl.problem.op == "conv":
                tag = "bwd"
            a = d["algorithm"].split(".")[-1] + (f">{d['runs'].split('.')[-1]}" if "runs" in d
                                                 else "")
            names.append(f"{tag} {a}")
    return ", ".join(names)


def time_network_layers(names, repeat, torch, out):
    """Time every distinct layer of the networks ``names`` once (a layer shared by two
    networks too), fastconv and torch interleaved, forward and backward.

    Returns ``{network: [row]}``; a row has the layer, its count in that network and
    the medians ``fwd``, ``fwd_torch``, ``bwd``, ``bwd_torch`` in seconds (the backward
    ones None for the transposed convolution), ``flops`` and ``algorithms``.
    """
    from . import _networks as nets

    timed = {}
    per_net = {}
    for net in names:
        layers = nets.distinct(nets.layers(net))
        print(f"  -- {net}: {sum(la.count for la in layers)} layers, {len(layers)} distinct",
              file=out, flush=True)
        rows = []
        for layer in layers:
            if layer.key not in timed:
                f, tf, b, tb = network_calls(layer, torch)
                t_f, t_tf = interleaved([f, tf], repeat)
                t_b, t_tb = interleaved([b, tb], repeat) if b is not None else (None, None)
                del f, tf, b, tb
                timed[layer.key] = {"fwd": t_f, "fwd_torch": t_tf, "bwd": t_b,
                                    "bwd_torch": t_tb, "algorithms": _algorithms(
                                        layer_plans(layer))}
                again = ""
            else:
                again = " (timed before)"
            r = timed[layer.key]
            rows.append({"name": layer.name, "layer": layer, "count": layer.count,
                         "kind": nets.kind(layer), "flops": nets.flops(layer), **r})
            bwd = (f"bwd {r['bwd'] * 1e3:9.3f} ms ratio {r['bwd'] / r['bwd_torch']:5.2f}"
                   if r["bwd"] is not None else "bwd -  (no conv_transpose backward)")
            print(f"  {layer.name[:30]:30s} x{layer.count:<3d} fwd {r['fwd'] * 1e3:9.3f} ms "
                  f"ratio {r['fwd'] / r['fwd_torch']:5.2f} | {bwd}{again}", file=out,
                  flush=True)
        per_net[net] = rows
    return per_net


def aggregate(rows, worst=3):
    """A network's totals from its layer rows (``count``, ``fwd``, ``fwd_torch``, ``bwd``,
    ``bwd_torch``; backward None where not timed).  Time-weighted ratios:
    ``sum(count * t_fastconv) / sum(count * t_torch)`` over the layers -- forward, backward
    (layers with one), and both together; the ``worst`` layers by ratio, forward and
    backward, as ``(name, ratio)``."""
    fwd = sum(r["count"] * r["fwd"] for r in rows)
    fwd_t = sum(r["count"] * r["fwd_torch"] for r in rows)
    with_b = [r for r in rows if r["bwd"] is not None]
    bwd = sum(r["count"] * r["bwd"] for r in with_b)
    bwd_t = sum(r["count"] * r["bwd_torch"] for r in with_b)

    def ratio(a, b):
        return a / b if b > 0 else float("nan")

    def worst_of(key, sub):
        ranked = sorted(sub, key=lambda r: r[key] / r[key + "_torch"], reverse=True)
        return [(r["name"], r[key] / r[key + "_torch"]) for r in ranked[:worst]]
    return {"layers": sum(r["count"] for r in rows), "distinct": len(rows),
            "fwd_flops": sum(r["count"] * r.get("flops", 0) for r in rows),
            "fwd_s": fwd, "fwd_torch_s": fwd_t, "bwd_s": bwd, "bwd_torch_s": bwd_t,
            "fwd_ratio": ratio(fwd, fwd_t), "bwd_ratio": ratio(bwd, bwd_t),
            "ratio": ratio(fwd + bwd, fwd_t + bwd_t),
            "no_backward": [r["name"] for r in rows if r["bwd"] is None],
            "worst_fwd": worst_of("fwd", rows), "worst_bwd": worst_of("bwd", with_b)}


def summarize(aggs):
    """Over networks (``{name: aggregate(...)}``): the geometric means of their ratios and
    the overall ratios of the total times (every network's layers with their counts)."""
    tot = {k: sum(a[k] for a in aggs.values())
           for k in ("fwd_s", "fwd_torch_s", "bwd_s", "bwd_torch_s")}

    def ratio(a, b):
        return a / b if b > 0 else float("nan")
    return {"geomean_fwd": geomean([a["fwd_ratio"] for a in aggs.values()]),
            "geomean_bwd": geomean([a["bwd_ratio"] for a in aggs.values()]),
            "geomean": geomean([a["ratio"] for a in aggs.values()]),
            "overall_fwd": ratio(tot["fwd_s"], tot["fwd_torch_s"]),
            "overall_bwd": ratio(tot["bwd_s"], tot["bwd_torch_s"]),
            "overall": ratio(tot["fwd_s"] + tot["bwd_s"], tot["fwd_torch_s"] + tot["bwd_torch_s"]),
            **tot}


def by_kind(per_net):
    """Count-weighted totals per layer kind over all networks: ``{kind: aggregate}``."""
    groups = {}
    for rows in per_net.values():
        for r in rows:
            groups.setdefault(r["kind"], []).append(r)
    return {k: aggregate(v) for k, v in groups.items()}


def report_networks(per_net, out):
    """The per-network table, the geomean and overall lines, the per-layer-kind table and
    the per-layer table."""
    aggs = {net: aggregate(rows) for net, rows in per_net.items()}
    summ = summarize(aggs)
    print("\n## real networks, float32, fastconv vs torch (ratio = time(fastconv) / "
          "time(torch), time-weighted: sum of count x median over the layers)\n", file=out)
    print("| network | layers (distinct) | fwd GFLOP | fwd ms | torch fwd ms | fwd ratio | "
          "bwd ms | torch bwd ms | bwd ratio | fwd+bwd ratio | worst fwd | worst bwd |",
          file=out)
    print("|---|---|---|---|---|---|---|---|---|---|---|---|", file=out)

    def worst(ws):
        return "; ".join(f"{n} {v:.2f}" for n, v in ws) or "-"
    for net, a in aggs.items():
        print(f"| {net} | {a['layers']} ({a['distinct']}) | {a['fwd_flops'] / 1e9:.1f} | "
              f"{a['fwd_s'] * 1e3:.1f} | {a['fwd_torch_s'] * 1e3:.1f} | {_fmt(a['fwd_ratio'])} | "
              f"{a['bwd_s'] * 1e3:.1f} | {a['bwd_torch_s'] * 1e3:.1f} | {_fmt(a['bwd_ratio'])} | "
              f"**{_fmt(a['ratio'])}** | {worst(a['worst_fwd'])} | {worst(a['worst_bwd'])} |",
              file=out)
    print(f"| **geomean over networks** | | | | | {_fmt(summ['geomean_fwd'])} | | | "
          f"{_fmt(summ['geomean_bwd'])} | **{_fmt(summ['geomean'])}** | | |", file=out)
    print(f"| **overall (total time)** | | | {summ['fwd_s'] * 1e3:.1f} | "
          f"{summ['fwd_torch_s'] * 1e3:.1f} | {_fmt(summ['overall_fwd'])} | "
          f"{summ['bwd_s'] * 1e3:.1f} | {summ['bwd_torch_s'] * 1e3:.1f} | "
          f"{_fmt(summ['overall_bwd'])} | **{_fmt(summ['overall'])}** | | |", file=out)
    fwd_only = {net: a["no_backward"] for net, a in aggs.items() if a["no_backward"]}
    if fwd_only:
        print("\nforward only (no backward timed; these layers count in fwd and fwd+bwd "
              "with their forward time only, for both libraries): "
              + "; ".join(f"{net}: {', '.join(v)}" for net, v in fwd_only.items()), file=out)
    kinds = by_kind(per_net)
    total = summ["fwd_s"] + summ["bwd_s"]
    print("\n## real networks by layer kind (all networks, count-weighted)\n", file=out)
    print("| kind | layer calls (distinct) | fastconv ms | share of suite % | fwd ratio | "
          "bwd ratio | fwd+bwd ratio |", file=out)
    print("|---|---|---|---|---|---|---|", file=out)
    for k, a in sorted(kinds.items(), key=lambda kv: -(kv[1]["fwd_s"] + kv[1]["bwd_s"])):
        ms = (a["fwd_s"] + a["bwd_s"]) * 1e3
        print(f"| {k} | {a['layers']} ({a['distinct']}) | {ms:.1f} | "
              f"{_fmt(100 * ms / 1e3 / total, 1)} | {_fmt(a['fwd_ratio'])} | "
              f"{_fmt(a['bwd_ratio'])} | {_fmt(a['ratio'])} |", file=out)
    print("\n## real networks, per layer (ms: one call's median; share: count x (fwd + bwd) "
          "of the network's fastconv time)\n", file=out)
    print("| network | layer | kind | call | count | fwd GFLOP | fwd ms | fwd ratio | bwd ms | "
          "bwd ratio | share % | algorithms |", file=out)
    print("|---|---|---|---|---|---|---|---|---|---|---|---|", file=out)
    from . import _networks as nets
    for net, rows in per_net.items():
        net_total = aggs[net]["fwd_s"] + aggs[net]["bwd_s"]
        for r in rows:
            both = r["fwd"] + (r["bwd"] or 0)
            print(f"| {net} | {r['name']} | {r['kind']} | {nets.describe(r['layer'])} | "
                  f"{r['count']} | {r['flops'] / 1e9:.2f} | {r['fwd'] * 1e3:.3f} | "
                  f"{_fmt(r['fwd'] / r['fwd_torch'])} | "
                  + (f"{r['bwd'] * 1e3:.3f} | {_fmt(r['bwd'] / r['bwd_torch'])}"
                     if r["bwd"] is not None else "- | - (no backward)")
                  + f" | {_fmt(100 * r['count'] * both / net_total, 1)} | {r['algorithms']} |",
                  file=out)
    return aggs, summ


# ------------------------------------------------------ many-core balance model

BALANCE_THREADS = (16, 32, 64)


def static_balance(tasks, threads, work=None):
    """Load balance of libgomp's static schedule (no chunk) of ``tasks`` tasks on
    ``threads`` threads: thread t gets one contiguous block, the first ``tasks % threads``
    threads ``tasks // threads + 1`` tasks, the others ``tasks // threads``.

    ``work`` is each task's relative cost (None: all equal).  The balance is
    ``(total work / threads) / (largest work of one thread)``: 1.0 when every thread has
    the same, ``tasks / threads`` when there are fewer tasks than threads (equal costs).
    NaN for no work at all.
    """
    from fastconv._engine import static_balance as model

    if tasks < 0 or threads < 1:
        raise ValueError(f"need tasks >= 0 and threads >= 1, got {tasks} and {threads}")
    work = [1.0] * tasks if work is None else [float(c) for c in work]
    if len(work) != tasks:
        raise ValueError(f"`work` has {len(work)} costs for {tasks} tasks")
    if sum(work) <= 0:
        return float("nan")
    return model(work, threads)


def balance_rows(names, min_flops=1e9, threads=BALANCE_THREADS):
    """Every distinct layer of the networks ``names`` whose forward does more than
    ``min_flops`` (each of grad_input and grad_weight does as many): per direction of its
    plans (forward, grad_input, grad_weight), the tasks and the static-schedule balance at
    each thread count (``task_work`` of the plan's description as the costs when it has
    them, else equal costs)."""
    from . import _networks as nets

    seen, rows = set(), []
    for net in names:
        for layer in nets.distinct(nets.layers(net)):
            if layer.key in seen or not layer.is_conv or nets.flops(layer) <= min_flops:
                continue
            seen.add(layer.key)
            for pl in layer_plans(layer):
                for d in pl.describe(max(threads)):
                    if d["direction"] == "grad_bias":
                        continue
                    work = d.get("task_work")
                    rows.append({"network": net, "layer": layer.name, "call": nets.describe(layer),
                                 "direction": d["direction"], "algorithm": d["algorithm"],
                                 "tasks": d["tasks"], "costs": "task_work" if work else "equal",
                                 "gflops": nets.flops(layer) / 1e9,
                                 "balance": {t: static_balance(d["tasks"], t, work)
                                             for t in threads}})
    return rows


def report_balance(rows, out, threads=BALANCE_THREADS, limit=0.9, title=None):
    print("\n## many-core balance model: static schedule of each plan's tasks (layers above "
          "1 GFLOP per direction; balance = mean / max work per thread)"
          + (f", {title}" if title else "") + "\n", file=out)
    print("| network | layer | direction | algorithm | tasks | costs | "
          + " | ".join(f"{t} threads" for t in threads) + " |", file=out)
    print("|---|---|---|---|---|---|" + "---|" * len(threads), file=out)
    for r in rows:
        print(f"| {r['network']} | {r['layer']} | {r['direction']} | "
              f"{r['algorithm'].split('.')[-1]} | {r['tasks']} | {r['costs']} | "
              + " | ".join(f"{100 * r['balance'][t]:.0f}%" for t in threads) + " |", file=out)
    below = {t: sum(1 for r in rows if r["balance"][t] < limit) for t in threads}
    print(f"\nlayer-directions below {100 * limit:.0f}% balance, of {len(rows)}: "
          + ", ".join(f"{below[t]} at {t} threads" for t in threads), file=out)
    return below


def run_isa_child(argv, isa, out):
    """Run this bench again in a child process whose environment holds both libraries to
    ``isa`` (set before either loads: fastconv's GEMM variant, oneDNN's and ATen's
    kernels); its output is copied to ``out``.  Returns the child's exit status."""
    import subprocess

    env = _package_env(extra={**_ISA_ENV[isa], "FASTCONV_BENCH_ISA": isa})
    print(f"--isa {isa}: running the bench in a child process with "
          + ", ".join(f"{k}={v}" for k, v in _ISA_ENV[isa].items()), file=out, flush=True)
    proc = subprocess.Popen([sys.executable, "-m", "fastconv", "bench", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=_package_root())
    for line in proc.stdout:
        out.write(line)
        out.flush()
    return proc.wait()


# ------------------------------------------------------- --json and --plot


def results(conv_rows, pool_rows, roof, torch, quick, repeat, extra=None):
    """The measured results as plain data (what ``--json`` writes).

    Times are medians in seconds; GFLOP/s count 2 flops per multiply-add of the
    forward convolution (the backward pass does twice as many).  A layer's own
    ``fwd_s``/``bwd_s`` come from the first peer's round; each peer's entry also has
    fastconv's medians from that peer's interleaved round, which its ratios use.
    ``config`` is :func:`fastconv.show_config`'s (build, OpenMP runtime, GEMM variant).
    ``extra`` (merged in): ``header`` (CPU, SIMD variants, FMA peak, roofs, bandwidth),
    ``bandwidth_pooling``, ``networks`` (per network: totals, ratios, worst layers and its
    layers), ``network_summary``, ``network_kinds`` and ``balance``.
    """
    config = fastconv.show_config(mode="dicts")
    conv = []
    for r in conv_rows:
        peers = {p: {"fwd_s": r["fwd_peer"][p], "bwd_s": r["bwd_peer"][p],
                     "fwd_gflops": r["flops"] / r["fwd_peer"][p] / 1e9,
                     "fastconv_fwd_s": r["fwd_ours"][p], "fastconv_bwd_s": r["bwd_ours"][p],
                     "fwd_ratio": r["fwd_ratio"][p], "bwd_ratio": r["bwd_ratio"][p]}
                 for p in r["fwd_ratio"]}
        conv.append({"name": r["name"],
                     "layer": dict(zip(("N", "C", "H", "W", "O", "k", "stride", "padding"),
                                       LAYERS[r["name"]])),
                     "fwd_flops": r["flops"], "fwd_s": r["fwd"], "bwd_s": r["bwd"],
                     "fwd_gflops": r["flops"] / r["fwd"] / 1e9, "peers": peers})
    pool = [{"name": r["name"], "fwd_bwd_s": r["t"][0], "gbps": r["gbps"],
             **({"torch_fwd_bwd_s": r["t"][-1]} if len(r["t"]) > 1 else {})}
            for r in pool_rows]
    return {"fastconv": fastconv.__version__, "threads": fastconv.get_num_threads(),
            "openmp": fastconv.openmp_enabled(), "gemm_kernel": config["simd"]["gemm_variant"],
            "numpy": np.__version__, "torch": torch.__version__ if torch else None,
            "dtype": "float32", "repeat": repeat, "quick": quick,
            "gemm_roof_gflops": roof, "conv2d": conv, "pooling": pool, "config": config,
            **(extra or {})}


def _need_matplotlib():
    """matplotlib's Figure class (no pyplot, no GUI backend), or exit saying what to install."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise SystemExit("python -m fastconv bench: --plot needs matplotlib, which is not "
                         "installed (pip install matplotlib)") from None
    return Figure


def plot_gflops(data, path):
    """Write a PNG bar chart of forward GFLOP/s per layer, one bar per peer present.

    fastconv runs once in every peer's round; its bar uses the fastest of those
    medians, since another peer's round can only slow fastconv down (OpenBLAS
    threads left spinning by the NumPy-based peers), never speed it up.
    """
    Figure = _need_matplotlib()
    conv = data["conv2d"]
    names = [r["name"] for r in conv]

    def ours(r):
        times = [p["fastconv_fwd_s"] for p in r["peers"].values()] or [r["fwd_s"]]
        return r["fwd_flops"] / float(min(times)) / 1e9

    series = [("fastconv", [ours(r) for r in conv])]
    for peer in ("torch", "cs231n", "numpy"):
        if conv and all(peer in r["peers"] for r in conv):
            series.append((peer, [r["peers"][peer]["fwd_gflops"] for r in conv]))
    colors = {"fastconv": "#1f77b4", "torch": "#ff7f0e", "cs231n": "#2ca02c", "numpy": "#7f7f7f"}
    fig = Figure(figsize=(max(6.0, 0.9 * len(names) + 4), 4.2))
    ax = fig.add_subplot()
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(names))]
        ax.bar(xs, values, width, label=label, color=colors[label])
    ax.axhline(data["gemm_roof_gflops"], color="black", ls="--", lw=1,
               label=f"GEMM roof (NumPy's BLAS) {data['gemm_roof_gflops']:.0f}")
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylabel("forward GFLOP/s (log scale)")
    ax.set_title(f"conv2d forward, float32: fastconv {data['fastconv']}, {data['threads']} "
                 f"threads, {data['gemm_kernel']} GEMM"
                 + (f", torch {data['torch']}" if data["torch"] else ""), fontsize=10)
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _networks_json(per_net, aggs, summ):
    from . import _networks as nets

    def row(r):
        la = r["layer"]
        return {"name": r["name"], "op": la.op, "kind": r["kind"], "x": list(la.x),
                "w": list(la.w) if la.w else None, "bias": la.bias,
                "args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in la.args},
                "out": list(nets.out_shape(la)), "count": r["count"], "fwd_flops": r["flops"],
                "fwd_s": r["fwd"], "torch_fwd_s": r["fwd_torch"], "bwd_s": r["bwd"],
                "torch_bwd_s": r["bwd_torch"], "algorithms": r["algorithms"]}
    return {net: {**aggs[net], "layers": [row(r) for r in rows],
                  "layer_calls": aggs[net]["layers"]} for net, rows in per_net.items()}


def main(argv=None, out=sys.stdout):
    from . import _networks as nets

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m fastconv bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few layers, fewer repeats")
    parser.add_argument("--repeat", type=int, default=None, help="interleaved rounds per case")
    parser.add_argument("--no-numpy", action="store_true", help="skip the (slow) plain-NumPy peer")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    parser.add_argument("--layers", nargs="*", default=None, help="layer names to run")
    parser.add_argument("--networks", default=None, metavar="NAME[,NAME]",
                        help="real networks to run against torch: all, quick, none, or names "
                             f"({', '.join([*nets.NETWORKS, *nets.EXTRA])}); default: all, "
                             f"with --quick: {','.join(nets.QUICK)}")
    parser.add_argument("--only-networks", action="store_true",
                        help="skip the standard-layer sections (conv2d table, pooling, thread "
                             "scaling, memory, algorithms): header, probes, global pooling, "
                             "networks and the balance model only")
    parser.add_argument("--header-only", action="store_true",
                        help="print the header (CPU, SIMD variants, threads, versions, FMA "
                             "peak, GEMM roofs, memory bandwidth) and stop")
    parser.add_argument("--isa", choices=sorted(_ISA_ENV), default=None,
                        help="hold both libraries to this instruction set: run the bench in a "
                             "child process with FASTCONV_GEMM, ONEDNN_MAX_CPU_ISA and "
                             "ATEN_CPU_CAPABILITY set")
    parser.add_argument("--layouts", action="store_true",
                        help="instead of the standard run: channels-last (NHWC) against "
                             "channels-first and torch channels_last on the real-network layers "
                             "(--networks to choose), and the NHWC memory figure")
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="also write the measured results to FILE as JSON")
    parser.add_argument("--plot", metavar="FILE", default=None,
                        help="also write a PNG bar chart of forward GFLOP/s per layer, one bar "
                             "per peer present, to FILE (needs matplotlib)")
    args = parser.parse_args(argv)
    if args.plot:
        _need_matplotlib()   # fail before the long measurement, not after it
    try:
        net_names = nets.select(args.networks if args.networks is not None
                                else ("quick" if args.quick else "all"))
    except ValueError as e:
        parser.error(str(e))
    if args.isa and os.environ.get("FASTCONV_BENCH_ISA") != args.isa:
        return run_isa_child(argv, args.isa, out)
    repeat = args.repeat or (3 if args.quick else 7)
    names = args.layers or (list(QUICK) if args.quick else list(LAYERS))
    if args.only_networks:
        names = []
    torch = None if args.no_torch else _torch()
    if torch is not None:
        torch.set_num_threads(fastconv.get_num_threads())
    head = header(torch, out, quick=args.quick)
    if args.isa:
        want = args.isa
        if head["fastconv_variant"] != want:
            print(f"warning: --isa {want} but fastconv runs its {head['fastconv_variant']} "
                  f"variant (this CPU lacks {want}?)", file=out)
    if args.header_only:
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"header": head}, f, indent=2, default=_json_default)
        return 0
    if args.layouts:
        return _run_layouts(net_names, repeat, torch, head, args.json, out)
    roof = head["gemm_roof_gflops"]
    peak = head["fma_peak"].get(f"float32_{head['threads']}")
    time.sleep(0.3)  # let OpenBLAS's threads stop spinning
    # the BLAS-based peers run last (in bench_conv): their after-effects must not
    # reach the other measurements
    pool_rows = ([] if (args.quick and not torch) or args.only_networks
                 else bench_pool(repeat, torch, out))
    if not args.quick and not args.only_networks:
        if fastconv.get_num_threads() > 1:
            bench_threads(repeat, out)
        bench_memory(out)
    bw_rows = bench_bandwidth_pools(repeat, torch, head["bandwidth_gbps"], out)
    extra = {"header": head, "bandwidth_pooling": bw_rows}
    if not args.only_networks:
        extra["adaptive_pooling"] = bench_adaptive_pools(repeat, torch, head["bandwidth_gbps"],
                                                         out)
        extra["output_mask"] = bench_output_mask(repeat, out)
    if net_names:
        if torch is None:
            print("\n(the real-network suite compares with torch, which is not available: "
                  "skipped)", file=out)
        else:
            print(f"\n## real networks: timing {', '.join(net_names)} (fastconv and torch "
                  f"interleaved, {repeat} rounds)", file=out, flush=True)
            per_net = time_network_layers(net_names, repeat, torch, out)
            aggs, summ = report_networks(per_net, out)
            extra["networks"] = _networks_json(per_net, aggs, summ)
            extra["network_summary"] = summ
            extra["network_kinds"] = by_kind(per_net)
        brows = balance_rows(net_names)
        below = report_balance(brows, out, title="default tuning")
        from fastconv._engine import MANY_CORE
        with fastconv.tuning(**MANY_CORE):
            mrows = balance_rows(net_names)
        mbelow = report_balance(mrows, out, title="with fastconv.tuning(**MANY_CORE)")
        extra["balance"] = {"rows": brows, "below_90": below,
                            "many_core_rows": mrows, "many_core_below_90": mbelow}
    if names:
        bench_routes(names, out)
        conv_rows = bench_conv(names, repeat, not args.no_numpy, torch, out)
        report(conv_rows, pool_rows, roof, torch, not args.no_numpy, out, peak=peak)
    else:
        conv_rows = []
    if args.json or args.plot:
        data = results(conv_rows, pool_rows, roof, torch, args.quick, repeat, extra)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(data, f, indent=2, default=_json_default)
            print(f"\nresults written to {args.json}", file=out)
        if args.plot and conv_rows:
            plot_gflops(data, args.plot)
            print(f"plot written to {args.plot}", file=out)
        elif args.plot:
            print("no plot: it draws the standard-layer conv2d table, which --only-networks "
                  "skips", file=out)
    return 0


def _run_layouts(net_names, repeat, torch, head, json_path, out):
    """The ``--layouts`` run (see fastconv/_bench_layouts.py)."""
    from . import _bench_layouts as bl
    mem = bl.memory(out, peak_extra_bytes)
    data = {"header": head, "layout_memory": mem}
    if torch is None:
        print("\n(the channels-last table compares with torch, which is not available: "
              "skipped)", file=out)
    else:
        print(f"\n## channels-last: timing {', '.join(net_names)} (NHWC, NCHW and torch "
              f"channels_last interleaved, {repeat} rounds)", file=out, flush=True)
        per_net = bl.time_layers(net_names, repeat, torch, out, interleaved)
        data["layout_networks"] = bl.report(per_net, out)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(data, f, indent=2, default=_json_default)
        print(f"\nresults written to {json_path}", file=out)
    return 0


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
