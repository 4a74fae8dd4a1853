"""``python -m fastconv bench --layouts``: channels-last against channels-first and torch.

For every distinct conv and pooling layer of the real-network suite (``_networks``) it
times, interleaved, forward and backward: fastconv on channels-last data
(``data_format="NHWC"``, ``"NWC"``; the weight HWIO / WIO, the default for
channels-last data), fastconv's own channels-first path on the same problem, and torch
on ``torch.channels_last`` tensors (1-D: the channels-last array viewed as (N, C, L),
which torch reads as it is).  It prints each layer's ratios and each network's
time-weighted totals, and the extra peak memory of an NHWC VGG-block conv2d forward and
backward against x + w + y (the issue's proof that no transposing copy is made).
"""
import numpy as np

import fastconv

from . import _networks as nets
from ._layout import DATA_FORMATS


def _last(a, nd):
    """A C-contiguous channels-last copy of a channels-first array."""
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def _w_last(w, nd):
    """(O, I, *k) -> (*k, I, O): the HWIO family."""
    return np.ascontiguousarray(np.transpose(w, tuple(range(2, nd + 2)) + (1, 0)))


def _torch_last(torch, a, nd):
    """A torch tensor of channels-first shape whose memory is channels-last."""
    return torch.from_numpy(_last(a, nd)).movedim(-1, 1)


def layout_calls(layer, torch, rng):
    """``{name: (fwd, bwd)}`` for 'nhwc', 'nchw' and 'torch' (bwd None where none)."""
    kw = dict(layer.kwargs)
    nd = layer.nd
    fmt = DATA_FORMATS[nd][1]
    F = torch.nn.functional
    x = rng.standard_normal(layer.x, dtype=np.float32)
    y_shape = nets.out_shape(layer)
    go = rng.standard_normal(y_shape, dtype=np.float32)
    xl, gol = _last(x, nd), _last(go, nd)
    tx, tgo = _torch_last(torch, x, nd), _torch_last(torch, go, nd)
    if layer.is_conv:
        w = rng.standard_normal(layer.w, dtype=np.float32)
        wl = _w_last(w, nd)
        O = y_shape[1]
        b = rng.standard_normal(O, dtype=np.float32) if layer.bias else None
        tw = torch.from_numpy(w)
        if nd == 2:
            tw = tw.contiguous(memory_format=torch.channels_last)
        tb = torch.from_numpy(b) if b is not None else None
        if layer.op == "conv_transpose2d":
            f = fastconv.conv_transpose2d
            return {"nhwc": (lambda: f(xl, wl, b, **kw, data_format=fmt), None),
                    "nchw": (lambda: f(x, w, b, **kw), None),
                    "torch": (lambda: F.conv_transpose2d(tx, tw, tb, **kw), None)}
        fwd = getattr(fastconv, layer.op)
        bwd = getattr(fastconv, layer.op + "_backward")
        lists = [[kw[a]] * nd for a in ("stride", "padding", "dilation")]
        g = kw["groups"]
        tf = getattr(F, layer.op)
        return {"nhwc": (lambda: fwd(xl, wl, b, **kw, data_format=fmt),
                         lambda: bwd(gol, xl, wl, **kw, data_format=fmt)),
                "nchw": (lambda: fwd(x, w, b, **kw), lambda: bwd(go, x, w, **kw)),
                "torch": (lambda: tf(tx, tw, tb, **kw),
                          lambda: torch.ops.aten.convolution_backward(
                              tgo, tx, tw, [O], *lists, False, [0] * nd, g,
                              [True, True, True]))}
    k, s, p = kw["kernel_size"], kw["stride"], kw["padding"]
    K, S, P = (list(nets._tup(v, 2)) for v in (k, s, p))
    if layer.op == "max_pool2d":
        _, idx = fastconv.max_pool2d(x, k, s, p, return_indices=True)
        _, idxl = fastconv.max_pool2d(xl, k, s, p, return_indices=True, data_format=fmt)
        _, tidx = F.max_pool2d(tx, k, s, p, return_indices=True)
        return {"nhwc": (lambda: fastconv.max_pool2d(xl, k, s, p, return_indices=True,
                                                     data_format=fmt),
                         lambda: fastconv.max_pool2d_backward(gol, idxl, xl.shape,
                                                              data_format=fmt)),
                "nchw": (lambda: fastconv.max_pool2d(x, k, s, p, return_indices=True),
                         lambda: fastconv.max_pool2d_backward(go, idx, x.shape)),
                "torch": (lambda: F.max_pool2d(tx, k, s, p, return_indices=True),
                          lambda: torch.ops.aten.max_pool2d_with_indices_backward(
                              tgo, tx, K, S, P, [1, 1], False, tidx))}
    return {"nhwc": (lambda: fastconv.avg_pool2d(xl, k, s, p, data_format=fmt),
                     lambda: fastconv.avg_pool2d_backward(gol, xl.shape, k, s, p,
                                                          data_format=fmt)),
            "nchw": (lambda: fastconv.avg_pool2d(x, k, s, p),
                     lambda: fastconv.avg_pool2d_backward(go, x.shape, k, s, p)),
            "torch": (lambda: F.avg_pool2d(tx, k, s, p),
                      lambda: torch.ops.aten.avg_pool2d_backward(tgo, tx, K, S, P, False,
                                                                 True, None))}


NAMES = ("nhwc", "nchw", "torch")


def time_layers(net_names, repeat, torch, out, interleaved):
    """``{network: [row]}``: a row has the layer, its count, kind and the medians
    ``(fwd, bwd)`` of each of NAMES (bwd None for the transposed convolution)."""
    timed, per_net = {}, {}
    rng = np.random.default_rng(0)
    for net in net_names:
        layers = nets.distinct(nets.layers(net))
        print(f"  -- {net}: {len(layers)} distinct layers", file=out, flush=True)
        rows = []
        for layer in layers:
            if layer.key not in timed:
                calls = layout_calls(layer, torch, rng)
                fw = interleaved([calls[n][0] for n in NAMES], repeat)
                bw = ((None,) * 3 if calls["nhwc"][1] is None
                      else interleaved([calls[n][1] for n in NAMES], repeat))
                timed[layer.key] = {n: (fw[i], bw[i]) for i, n in enumerate(NAMES)}
                del calls
                r = timed[layer.key]
                both = {n: r[n][0] + (r[n][1] or 0.0) for n in NAMES}
                print(f"  {layer.name[:30]:30s} fwd+bwd NHWC {both['nhwc'] * 1e3:9.3f} ms  "
                      f"vs NCHW {both['nhwc'] / both['nchw']:5.2f}  vs torch channels_last "
                      f"{both['nhwc'] / both['torch']:5.2f}", file=out, flush=True)
            rows.append({"name": layer.name, "count": layer.count, "kind": nets.kind(layer),
                         **timed[layer.key]})
        per_net[net] = rows
    return per_net


def _totals(rows):
    t = {n: sum(r["count"] * (r[n][0] + (r[n][1] or 0.0)) for r in rows) for n in NAMES}
    return t


def report(per_net, out):
    """The per-network table: time-weighted fwd+bwd, NHWC vs NCHW and vs torch."""
    print("\n## channels-last (NHWC / NWC) vs fastconv channels-first vs torch channels_last, "
          "float32, forward + backward, time-weighted per network\n", file=out)
    print("| network | NHWC ms | NCHW ms | torch channels_last ms | NHWC / NCHW | "
          "NHWC / torch |", file=out)
    print("|---|---|---|---|---|---|", file=out)
    summary = {}
    all_rows = []
    for net, rows in per_net.items():
        t = _totals(rows)
        all_rows += rows
        summary[net] = {n: t[n] for n in NAMES}
        print(f"| {net} | {t['nhwc'] * 1e3:.1f} | {t['nchw'] * 1e3:.1f} | "
              f"{t['torch'] * 1e3:.1f} | {t['nhwc'] / t['nchw']:.2f} | "
              f"{t['nhwc'] / t['torch']:.2f} |", file=out)
    ratios_c = [summary[n]["nhwc"] / summary[n]["nchw"] for n in summary]
    ratios_t = [summary[n]["nhwc"] / summary[n]["torch"] for n in summary]
    if summary:
        g = lambda v: float(np.exp(np.mean(np.log(v))))   # noqa: E731
        print(f"| **geomean** | | | | {g(ratios_c):.2f} | {g(ratios_t):.2f} |", file=out)
    kinds = {}
    for r in all_rows:
        kinds.setdefault(r["kind"], []).append(r)
    print("\n| layer kind | NHWC / NCHW | NHWC / torch |\n|---|---|---|", file=out)
    for kind, rows in sorted(kinds.items()):
        t = _totals(rows)
        print(f"| {kind} | {t['nhwc'] / t['nchw']:.2f} | {t['nhwc'] / t['torch']:.2f} |",
              file=out)
    return summary


def memory(out, peak_extra_bytes):
    """Extra peak memory of the NHWC VGG block (8x56x56x64, 3x3 -> 64, pad 1)."""
    import fastconv._parallel as par
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 56, 56, 64), dtype=np.float32)
    w = rng.standard_normal((3, 3, 64, 64), dtype=np.float32)
    y = fastconv.conv2d(x, w, padding=1, data_format="NHWC")
    go = np.ones_like(y)
    base = x.nbytes + w.nbytes + y.nbytes
    rows = []
    calls = (("forward", lambda: fastconv.conv2d(x, w, padding=1, data_format="NHWC")),
             ("backward", lambda: fastconv.conv2d_backward(go, x, w, padding=1,
                                                           data_format="NHWC")))
    for name, f in calls:
        if hasattr(par._local, "buffers"):
            par._local.buffers.clear()
        cold = peak_extra_bytes(f)
        warm = peak_extra_bytes(f)
        rows.append((name, cold, warm))
    print(f"\n## extra peak memory, NHWC VGG block float32 (x + weight + output = "
          f"{base / 2**20:.1f} MiB)\n", file=out)
    print("| pass | first call | later calls | first call / (x+w+out) | beyond the results "
          "/ (x+w+out) |\n|---|---|---|---|---|", file=out)
    res = {"forward": y.nbytes, "backward": x.nbytes + w.nbytes + 64 * 4}
    for name, cold, warm in rows:
        print(f"| {name} | {cold / 2**20:.2f} MiB | {warm / 2**20:.2f} MiB | {cold / base:.2f}x "
              f"| {(cold - res[name]) / base:.2f}x |", file=out)
    return [{"pass": n, "cold": c, "warm": w_, "base": base, "results": res[n]}
            for n, c, w_ in rows]
