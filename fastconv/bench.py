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
    """Extra peak memory of conv2d forward and backward on the VGG block."""
    import fastconv._parallel as par

    N, C, H, W, O, k, s, p = LAYERS["VGG block"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    w = rng.standard_normal((O, C, k, k), dtype=np.float32)
    y = fastconv.conv2d(x, w, stride=s, padding=p)
    go = np.ones_like(y)
    base = x.nbytes + w.nbytes + y.nbytes
    rows = []
    for name, f in (("forward", lambda: fastconv.conv2d(x, w, stride=s, padding=p)),
                    ("backward", lambda: fastconv.conv2d_backward(go, x, w, stride=s, padding=p))):
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
          f"{y.nbytes / base:.2f}x; the rest is the reused per-thread workspace)", file=out)
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


def report(conv_rows, pool_rows, roof, torch, with_numpy, out):
    peers = (["torch"] if torch is not None else []) + ["cs231n"] + (["numpy"] if with_numpy else [])
    print("\n## conv2d, float32 (ratio = fastconv / peer: medians of interleaved runs)\n",
          file=out)
    head = ("| layer | fwd ms | GFLOP/s | % GEMM roof | " + " | ".join(f"fwd vs {p}" for p in peers)
            + " | bwd ms | " + " | ".join(f"bwd vs {p}" for p in peers) + " |")
    print(head, file=out)
    print("|" + "---|" * (head.count("|") - 1), file=out)
    for r in conv_rows:
        gf = r["flops"] / r["fwd"] / 1e9
        cells = [r["name"], _fmt(r["fwd"] * 1e3, 3), _fmt(gf, 1), _fmt(100 * gf / roof, 0)]
        cells += [_fmt(r["fwd_ratio"][p]) for p in peers]
        cells += [_fmt(r["bwd"] * 1e3, 3)] + [_fmt(r["bwd_ratio"][p]) for p in peers]
        print("| " + " | ".join(cells) + " |", file=out)
    geo = ["**geomean**", "", "", ""]
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


# ------------------------------------------------------- --json and --plot


def results(conv_rows, pool_rows, roof, torch, quick, repeat):
    """The measured results as plain data (what ``--json`` writes).

    Times are medians in seconds; GFLOP/s count 2 flops per multiply-add of the
    forward convolution (the backward pass does twice as many).  A layer's own
    ``fwd_s``/``bwd_s`` come from the first peer's round; each peer's entry also has
    fastconv's medians from that peer's interleaved round, which its ratios use.
    ``config`` is :func:`fastconv.show_config`'s (build, OpenMP runtime, GEMM variant).
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
            "gemm_roof_gflops": roof, "conv2d": conv, "pooling": pool, "config": config}


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


def main(argv=None, out=sys.stdout):
    parser = argparse.ArgumentParser(prog="python -m fastconv bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few layers, fewer repeats")
    parser.add_argument("--repeat", type=int, default=None, help="interleaved rounds per case")
    parser.add_argument("--no-numpy", action="store_true", help="skip the (slow) plain-NumPy peer")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    parser.add_argument("--layers", nargs="*", default=None, help="layer names to run")
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="also write the measured results to FILE as JSON")
    parser.add_argument("--plot", metavar="FILE", default=None,
                        help="also write a PNG bar chart of forward GFLOP/s per layer, one bar "
                             "per peer present, to FILE (needs matplotlib)")
    args = parser.parse_args(argv)
    if args.plot:
        _need_matplotlib()   # fail before the long measurement, not after it
    repeat = args.repeat or (3 if args.quick else 7)
    names = args.layers or (list(QUICK) if args.quick else list(LAYERS))
    torch = None if args.no_torch else _torch()
    if torch is not None:
        torch.set_num_threads(fastconv.get_num_threads())
    config = fastconv.show_config(mode="dicts")
    runtime = " ".join(os.path.basename(p) for p in config["openmp"]["runtime"]) or "none"
    print(f"fastconv {fastconv.__version__}: {config['threads']['default']} threads "
          f"({config['threads']['source']}), OpenMP {config['openmp']['enabled']} "
          f"(runtime {runtime}), GEMM kernel {config['simd']['gemm_variant']}; "
          f"compiler {config['build']['compiler_version']}; numpy {np.__version__}"
          + (f", torch {torch.__version__}" if torch else ", torch not installed"), file=out)
    roof = gemm_roof()
    print(f"GEMM roof (NumPy's BLAS, best of 2048^3 float32): {roof:.1f} GFLOP/s", file=out,
          flush=True)
    time.sleep(0.3)  # let OpenBLAS's threads stop spinning
    # the BLAS-based peers run last (in bench_conv): their after-effects must not
    # reach the other measurements
    pool_rows = [] if args.quick and not torch else bench_pool(repeat, torch, out)
    if not args.quick:
        if fastconv.get_num_threads() > 1:
            bench_threads(repeat, out)
        bench_memory(out)
    bench_routes(names, out)
    conv_rows = bench_conv(names, repeat, not args.no_numpy, torch, out)
    report(conv_rows, pool_rows, roof, torch, not args.no_numpy, out)
    if args.json or args.plot:
        data = results(conv_rows, pool_rows, roof, torch, args.quick, repeat)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(data, f, indent=2)
            print(f"\nresults written to {args.json}", file=out)
        if args.plot:
            plot_gflops(data, args.plot)
            print(f"plot written to {args.plot}", file=out)
    return 0
