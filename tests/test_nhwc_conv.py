"""Channels-last convolution: data_format= / weight_format= on conv{1,2,3}d, their
backward functions and conv_transpose{1,2,3}d, and the native NHWC kernels
(conv.*.nhwc).  The reference is the channels-first NumPy reference applied to the
arrays transposed back to channels-first (fine in tests)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv as fc
from fastconv._engine import MANY_CORE
import reference as ref
from conftest import assert_close, conv_reference
from strategies import conv_cases, conv_transpose_cases

SP = {1: "W", 2: "HW", 3: "DHW"}
DATA = {1: ("NCW", "NWC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}
WEIGHT = {nd: ("OI" + sp, sp + "IO", "O" + sp + "I") for nd, sp in SP.items()}
NHWC = ("conv.forward.nhwc", "conv.grad_input.nhwc", "conv.grad_weight.nhwc",
        "conv.grad_bias.nhwc")


def fns(nd):
    return (getattr(fc, f"conv{nd}d"), getattr(fc, f"conv{nd}d_backward"),
            getattr(fc, f"conv_transpose{nd}d"))


# ------------------------------------------------------- layouts, by hand


def to_last(a):
    """(N, C, *sp) -> a C-contiguous (N, *sp, C) copy."""
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def to_first(a):
    return np.moveaxis(a, -1, 1)


def w_to(w, fmt):
    """An (O, I, *k) weight as a C-contiguous array in ``fmt``."""
    nd = w.ndim - 2
    src = "OI" + SP[nd]
    return np.ascontiguousarray(np.transpose(w, [src.index(a) for a in fmt]))


def w_from(w, fmt):
    """A weight in ``fmt`` as (O, I, *k)."""
    nd = w.ndim - 2
    return np.transpose(w, [fmt.index(a) for a in "OI" + SP[nd]])


def kw_of(c):
    return dict(stride=c.stride, padding=c.padding, dilation=c.dilation, groups=c.groups)


def check_case(nd, c, fmt, last=True):
    """Forward and backward of case ``c`` with the weight in ``fmt`` and channels-last
    (or first) data, against the reference on the channels-first arrays."""
    conv, bwd, _ = fns(nd)
    kw = kw_of(c)
    want = ref.convnd(c.x, c.w, c.b, flip=c.flip, **kw)
    scale = ref.convnd(np.abs(c.x), np.abs(c.w), None if c.b is None else np.abs(c.b),
                       flip=c.flip, **kw)
    df = DATA[nd][1 if last else 0]
    xa = to_last(c.x) if last else c.x
    wa = w_to(c.w, fmt)
    y = conv(xa, wa, c.b, flip=c.flip, data_format=df, weight_format=fmt, **kw)
    assert y.dtype == c.dtype and y.flags.c_contiguous
    assert_close(to_first(y) if last else y, want, c.dtype, scale=scale, err_msg="forward")
    go = c.rng.standard_normal(want.shape).astype(c.dtype)
    rg = ref.convnd_backward(go, c.x, c.w, flip=c.flip, **kw)
    rs = ref.convnd_backward(np.abs(go), np.abs(c.x), np.abs(c.w), flip=c.flip, **kw)
    goa = to_last(go) if last else go
    gx, gw, gb = bwd(goa, xa, wa, flip=c.flip, data_format=df, weight_format=fmt, **kw)
    assert gx.shape == xa.shape and gw.shape == wa.shape and gb.shape == (c.w.shape[0],)
    assert gx.flags.c_contiguous and gw.flags.c_contiguous
    assert_close(to_first(gx) if last else gx, rg[0], c.dtype, scale=rs[0], err_msg="grad_input")
    assert_close(w_from(gw, fmt), rg[1], c.dtype, scale=rs[1], err_msg="grad_weight")
    assert_close(gb, rg[2], c.dtype, scale=rs[2], err_msg="grad_bias")
    if last:
        plan = fc.plan(bwd, goa, xa, wa, flip=c.flip, data_format=df, weight_format=fmt, **kw)
        assert all(d["algorithm"].endswith("nhwc") or d.get("runs", "").endswith("nhwc")
                   for d in plan.describe()), plan.algorithms


@pytest.mark.parametrize("nd", [1, 2, 3])
@settings(max_examples=40)
@given(data=st.data())
def test_channels_last_matches_reference(nd, data):
    c = data.draw(conv_cases(nd=nd, max_k=3 if nd == 3 else 4, extra=5 if nd == 3 else 8))
    check_case(nd, c, data.draw(st.sampled_from(WEIGHT[nd])))


@pytest.mark.parametrize("nd", [1, 2, 3])
@settings(max_examples=15)
@given(data=st.data())
def test_channels_first_data_with_any_weight_format(nd, data):
    c = data.draw(conv_cases(nd=nd, max_k=3, extra=4))
    check_case(nd, c, data.draw(st.sampled_from(WEIGHT[nd])), last=False)


@pytest.mark.parametrize("nd", [1, 2, 3])
@settings(max_examples=30)
@given(data=st.data())
def test_conv_transpose_channels_last(nd, data):
    c = data.draw(conv_transpose_cases(nd=nd, max_size=5 if nd == 3 else 8,
                                       max_k=3 if nd == 3 else 5))
    fmt = data.draw(st.sampled_from(WEIGHT[nd]))
    last = data.draw(st.booleans())
    _, _, tconv = fns(nd)
    kw = dict(stride=c.stride, padding=c.padding, output_padding=c.output_padding,
              groups=c.groups, dilation=c.dilation)
    want = ref.conv_transposend(c.x, c.w, c.b, **kw)
    scale = ref.conv_transposend(np.abs(c.x), np.abs(c.w), None if c.b is None
                                 else np.abs(c.b), **kw)
    # the transposed conv's (Cin, Cout/groups, *k) weight is "OI..." (O = Cin)
    got = tconv(to_last(c.x) if last else c.x, w_to(c.w, fmt), c.b,
                data_format=DATA[nd][int(last)], weight_format=fmt, **kw)
    assert got.dtype == c.dtype and got.flags.c_contiguous
    assert_close(to_first(got) if last else got, want, c.dtype, scale=scale)


def test_transposed_hwio_is_tensorflows_filter_layout():
    # conv2d_transpose's (kH, kW, Cout, Cin) filter is "HWIO", the default for NHWC data
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 6, 4))            # NHWC, Cin = 4
    filt = rng.standard_normal((3, 3, 7, 4))          # (kH, kW, Cout, Cin)
    got = fc.conv_transpose2d(x, filt, stride=2, data_format="NHWC")
    want = ref.conv_transposend(to_first(x), np.transpose(filt, (3, 2, 0, 1)), stride=2)
    assert got.shape == (2, 11, 13, 7)
    assert_close(to_first(got), want, np.float64)


# ---------------------------------------------------------- the kernels


# (nd, x shape NCHW-style, weight OI shape, kwargs): direct 1x1, padded, strided and
# dilated, grouped, depthwise, 1-D and 3-D
KERNEL_CASES = [
    (2, (3, 16, 7, 9), (24, 16, 1, 1), {}),
    (2, (2, 8, 9, 8), (12, 8, 3, 3), dict(padding=1)),
    (2, (2, 6, 11, 10), (10, 6, 3, 2), dict(stride=(2, 1), padding=(2, 1), dilation=(1, 2))),
    (2, (2, 8, 6, 7), (12, 4, 3, 3), dict(padding=1, groups=2)),
    (2, (2, 6, 7, 7), (12, 1, 3, 3), dict(padding=1, groups=6)),
    (2, (2, 130, 5, 6), (20, 130, 3, 3), dict(padding=(1, 0))),
    (1, (3, 5, 17), (7, 5, 4), dict(stride=2, padding=3, dilation=2)),
    (3, (2, 4, 5, 4, 6), (6, 4, 2, 3, 2), dict(padding=(1, 0, 1), stride=(1, 2, 1))),
    (2, (2, 6, 8, 8), (10, 6, 1, 1), dict(stride=2)),
    (2, (1, 8, 3, 4), (80, 8, 3, 3), dict(padding=1)),
    (2, (3, 8, 6, 5), (10, 8, 3, 3), dict(padding=1)),
    (2, (2, 96, 3, 3), (40, 96, 1, 1), {}),      # direct, few rows: grad_input c blocks
]
# tunings that split the work differently: small tiles (many tiles, Kg blocks), many
# tasks (output-channel and grad_input channel blocks)
SMALL = {"nhwc_min_rows": 5, "nhwc_min_cw": 3, "nhwc_gw_min_cols": 16}
# (small planes take flat tiles across samples by default; nhwc_flat_rows 0 keeps the
# per-sample tiles, a small one gives several flat tiles, some ending inside a sample)
TUNINGS = [{}, {"tile_bytes": 2048, **SMALL},
           {"min_tasks": 64, "tile_bytes": 8192, "nhwc_gw_partials": 100.0, **SMALL},
           {"min_tasks": 2},
           {"nhwc_flat_rows": 0, "tile_bytes": 2048, **SMALL},
           {"nhwc_flat_rows": 0, "min_tasks": 64, "tile_bytes": 8192,
            "nhwc_gw_partials": 100.0, **SMALL},
           {"nhwc_flat_rows": 24, "min_tasks": 16, "nhwc_gw_partials": 100.0, **SMALL}]
FORCE = {"forward": "nhwc", "grad_input": "nhwc", "grad_weight": "nhwc", "grad_bias": "nhwc"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(KERNEL_CASES)))
@pytest.mark.parametrize("tune", range(len(TUNINGS)))
def test_forced_kernels_against_reference(dtype, case, tune):
    nd, xs, ws, kw = KERNEL_CASES[case]
    rng = np.random.default_rng(case)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    want, scale, go, rg, rs = conv_reference(x, w, b, kw, case)
    conv, bwd, _ = fns(nd)
    df = DATA[nd][1]
    xl, wl, gol = to_last(x), w_to(w, WEIGHT[nd][1]), to_last(go)
    with fc.tuning(force=FORCE, **TUNINGS[tune]):
        plan = fc.plan(bwd, gol, xl, wl, data_format=df, **kw)
        assert set(plan.algorithms.values()) == set(NHWC[1:])
        assert fc.plan(conv, xl, wl, b, data_format=df, **kw).algorithms == {
            "forward": "conv.forward.nhwc"}
        y = conv(xl, wl, b, data_format=df, **kw)
        assert_close(to_first(y), want, dtype, scale=scale, err_msg="forward")
        grads = bwd(gol, xl, wl, data_format=df, **kw)
        gx, gw, gb = grads
        assert_close(to_first(gx), rg[0], dtype, scale=rs[0], err_msg="grad_input")
        assert_close(w_from(gw, WEIGHT[nd][1]), rg[1], dtype, scale=rs[1], err_msg="grad_weight")
        assert_close(gb, rg[2], dtype, scale=rs[2], err_msg="grad_bias")
        for n in (1, 2, 3):
            assert np.array_equal(conv(xl, wl, b, data_format=df, num_threads=n, **kw), y), n
            for a, e in zip(bwd(gol, xl, wl, data_format=df, num_threads=n, **kw), grads):
                assert np.array_equal(a, e), n


def test_the_tunings_reach_every_split():
    """The forced-kernel cases cover direct and patch kernels, several tiles, output
    channel blocks, grad_input channel blocks, Kg blocks and several chunks, more
    chunks than samples among them, both forms of the grad_weight GEMM, and grad_input
    tasks of one and of several samples (a last group smaller)."""
    seen = set()
    for nd, xs, ws, kw in KERNEL_CASES:
        xl = np.zeros(xs[:1] + xs[2:] + xs[1:2], np.float32)
        wl = np.zeros(ws[2:] + ws[1:2] + ws[:1], np.float32)
        gol = np.zeros(fns(nd)[0](xl, wl, data_format=DATA[nd][1], **kw).shape, np.float32)
        for tune in TUNINGS:
            with fc.tuning(force=FORCE, **tune):
                plan = fc.plan(fns(nd)[1], gol, xl, wl, data_format=DATA[nd][1], **kw)
                fwd = fc.plan(fns(nd)[0], xl, wl, data_format=DATA[nd][1], **kw)
            f = fwd.routes[0].desc.fields()
            direct = fwd.routes[0].desc.is_direct
            flat = f["lt"] > f["L"] and not direct        # tiles of the flat N*L rows
            seen.add(("fwd direct", direct))
            seen.add(("fwd tiles>1", f["lt"] < (f["N"] * f["L"] if direct or flat
                                               else f["L"])))
            seen.add(("fwd flat", flat))
            if flat:
                seen.add(("fwd flat k blocks", f["Kg"] > 256))      # (FC_KC)
                seen.add(("fwd flat tiles>1", f["lt"] < f["N"] * f["L"]))
                seen.add(("fwd flat tile inside a sample", f["lt"] % f["L"] != 0
                          and f["lt"] < f["N"] * f["L"]))
            seen.add(("fwd o blocks", 0 < f["blk"] < f["Og"]))
            gi = plan.route("grad_input").desc.fields()
            seen.add(("gi c blocks", 0 < gi["blk"] < gi["Cg"]))
            if plan.route("grad_input").desc.is_direct:
                seen.add(("gi direct c blocks", 0 < gi["blk"] < gi["Cg"]))
                seen.add(("gi direct c blocks and tiles", 0 < gi["blk"] < gi["Cg"]
                          and gi["lt"] < gi["N"] * gi["L"]))
            if not plan.route("grad_input").desc.is_direct:     # the three weight packs
                blocks = 0 < gi["blk"] < gi["Cg"]
                seen.add(("gi pack", "whole" if not blocks else
                          "one tap" if gi["taps"] == 1 else "tap rows"))
                ns = gi["chunks"] if gi["chunks"] > 1 else 1    # samples a task (one GEMM)
                seen.add(("gi samples>1", ns > 1))
                seen.add(("gi uneven groups", gi["N"] % ns != 0))
            gw = plan.route("grad_weight").desc.fields()
            seen.add(("gw k blocks", 0 < gw["blk"] < gw["Kg"]))
            seen.add(("gw chunks>1", gw["chunks"] > 1))
            seen.add(("gw chunks>N", gw["chunks"] > gw["N"]))   # (chunks end inside samples)
            gflat = gw["lt"] > gw["L"]
            seen.add(("gw flat", gflat))
            if gflat:
                seen.add(("gw flat chunks>1", gw["chunks"] > 1))
                seen.add(("gw flat direct", plan.route("grad_weight").desc.is_direct))
                seen.add(("gw flat tile inside a sample", gw["lt"] % gw["L"] != 0
                          and gw["lt"] < gw["N"] * gw["L"]))
            kbw = gw["blk"] if 0 < gw["blk"] < gw["Kg"] else gw["Kg"]   # (nhwc_gw_rows)
            seen.add(("gw rows form", gw["Kg"] < -(-gw["Kg"] // kbw) * gw["Og"]))
    assert all((k, True) in seen for k in ("fwd direct", "fwd tiles>1", "fwd o blocks",
                                           "gi c blocks", "gw k blocks", "gw chunks>1",
                                           "gw chunks>N", "gw rows form", "gi samples>1",
                                           "gi uneven groups", "fwd flat",
                                           "fwd flat k blocks", "fwd flat tiles>1",
                                           "fwd flat tile inside a sample", "gw flat",
                                           "gw flat chunks>1", "gw flat direct",
                                           "gw flat tile inside a sample",
                                           "gi direct c blocks",
                                           "gi direct c blocks and tiles")), seen
    assert ("gi direct c blocks", False) in seen
    assert ("fwd flat", False) in seen and ("gw flat", False) in seen
    assert ("gw flat direct", False) in seen
    assert ("gi samples>1", False) in seen
    assert ("gw rows form", False) in seen
    assert ("fwd direct", False) in seen
    assert {("gi pack", k) for k in ("one tap", "tap rows", "whole")} <= seen, seen


@pytest.mark.parametrize("many", [False, True])
def test_task_work_model_and_many_core_tasks(many):
    """task_work has one entry per kernel task and sums to the direction's
    multiply-adds; with the many-core balance on, a VGG-sized layer splits every
    GEMM direction into at least 64 tasks.  (Winograd off: these are the patch GEMM
    kernels' models; test_winograd_nhwc.py checks its own.)"""
    x = np.zeros((8, 56, 56, 64), np.float32)
    w = np.zeros((3, 3, 64, 64), np.float32)
    go = np.zeros((8, 56, 56, 64), np.float32)
    macs = 8 * 64 * 56 * 56 * 576
    with fc.tuning(winograd=False, **(MANY_CORE if many else {})):
        routes = (fc.plan(fc.conv2d, x, w, padding=1, data_format="NHWC").routes
                  + fc.plan(fc.conv2d_backward, go, x, w, padding=1, data_format="NHWC").routes)
    for r in routes:
        work = r.task_work()
        assert len(work) == r.tasks, r.algorithm
        assert sum(work) == (8 * 56 * 56 * 64 if r.direction == "grad_bias" else macs)
        if many and r.direction != "grad_bias":
            assert r.tasks >= 64, (r.algorithm, r.tasks)
    # the direct kernels and grouped problems too
    for xs, ws, kw in (((4, 9, 9, 32), (1, 1, 32, 48), {}),
                       ((2, 7, 8, 6), (3, 3, 2, 9), dict(groups=3, padding=1))):
        xa, wa = np.zeros(xs), np.zeros(ws)
        y = fc.conv2d(xa, wa, data_format="NHWC", **kw)
        for r in (fc.plan(fc.conv2d, xa, wa, data_format="NHWC", **kw).routes
                  + fc.plan(fc.conv2d_backward, y, xa, wa, data_format="NHWC", **kw).routes):
            work = r.task_work()
            assert len(work) == r.tasks, r.algorithm
            N, L = y.shape[0], y.shape[1] * y.shape[2]
            total = N * L * y.shape[3] * (1 if r.direction == "grad_bias"
                                          else ws[0] * ws[1] * ws[2])
            assert sum(work) == total, r.algorithm


def test_every_channels_last_conv_algorithm_is_forced_here():
    mine = {a["name"] for a in fc.algorithms("conv") if a["name"].endswith(".nhwc")}
    assert mine == set(NHWC)
    for a in fc.algorithms("conv"):
        if a["name"] in NHWC:
            assert a["layouts"] == ("channels_last",)


def test_finite_differences():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 5, 6, 3))                 # NHWC
    w = rng.standard_normal((3, 2, 3, 4))                 # HWIO
    b = rng.standard_normal(4)
    kw = dict(stride=(2, 1), padding=1, dilation=(1, 2), data_format="NHWC")
    go = rng.standard_normal(fc.conv2d(x, w, b, **kw).shape)
    gx, gw, gb = fc.conv2d_backward(go, x, w, **kw)

    def loss(xx, ww, bb):
        return float(np.sum(fc.conv2d(xx, ww, bb, **kw) * go))

    eps = 1e-6
    for arr, g, name in ((x, gx, "x"), (w, gw, "w"), (b, gb, "b")):
        dirn = rng.standard_normal(arr.shape)
        args = {"x": x, "w": w, "b": b}
        plus, minus = dict(args), dict(args)
        plus[name] = arr + eps * dirn
        minus[name] = arr - eps * dirn
        fd = (loss(plus["x"], plus["w"], plus["b"]) - loss(minus["x"], minus["w"], minus["b"]))
        fd /= 2 * eps
        assert abs(fd - np.sum(g * dirn)) <= 1e-6 * (1 + abs(fd)), name


def test_non_contiguous_inputs_give_the_same_bits():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 8, 9, 10)).astype(np.float32)     # NCHW
    w = rng.standard_normal((6, 8, 3, 3)).astype(np.float32)      # OIHW
    kw = dict(padding=1, stride=(1, 2), data_format="NHWC")
    xv = np.moveaxis(x, 1, -1)                                     # an NHWC view of NCHW
    wv = np.transpose(w, (2, 3, 1, 0))                             # an HWIO view of OIHW
    assert not xv.flags.c_contiguous and not wv.flags.c_contiguous
    y = fc.conv2d(xv, wv, **kw)
    assert np.array_equal(y, fc.conv2d(np.ascontiguousarray(xv), np.ascontiguousarray(wv), **kw))
    go = rng.standard_normal(y.shape[:1] + y.shape[3:] + y.shape[1:3]).astype(np.float32)
    gov = np.moveaxis(go, 1, -1)
    got = fc.conv2d_backward(gov, xv, wv, **kw)
    want = fc.conv2d_backward(np.ascontiguousarray(gov), np.ascontiguousarray(xv),
                              np.ascontiguousarray(wv), **kw)
    for a, e in zip(got, want):
        assert np.array_equal(a, e)
    # a reversed, strided view too
    xr = np.ascontiguousarray(xv)[:, ::-1, ::2]
    assert_close(to_first(fc.conv2d(xr, wv, **kw)),
                 ref.convnd(to_first(xr), w, padding=1, stride=(1, 2)), np.float32,
                 scale=ref.convnd(np.abs(to_first(xr)), np.abs(w), padding=1, stride=(1, 2)))


def test_plans_are_cached_per_layout():
    x = np.zeros((2, 4, 4, 4))
    w = np.zeros((4, 4, 1, 1))
    first = fc.plan(fc.conv2d, x, w)
    last = fc.plan(fc.conv2d, x, w, data_format="NHWC", weight_format="OIHW")
    assert first.algorithms["forward"] != last.algorithms["forward"]
    assert last.problem.channels_last and not first.problem.channels_last
    assert fc.plan(fc.conv2d, x, w, data_format="NHWC", weight_format="OIHW") is last


def test_extra_peak_memory_of_the_vgg_block_forward():
    """The issue's proof of native kernels: no transposing copy of x or y."""
    from fastconv.bench import peak_extra_bytes
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 56, 56, 64), dtype=np.float32)
    w = rng.standard_normal((3, 3, 64, 64), dtype=np.float32)
    y = fc.conv2d(x, w, padding=1, data_format="NHWC")
    base = x.nbytes + w.nbytes + y.nbytes
    for _ in range(2):   # (the first call may allocate the workspace)
        extra = peak_extra_bytes(lambda: fc.conv2d(x, w, padding=1, data_format="NHWC"))
        assert extra - y.nbytes <= 0.15 * base, (extra - y.nbytes) / base


# ---------------------------------------------------------------- torch


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [dict(padding=1), dict(stride=2, padding=1, groups=2),
                                dict(dilation=2), {}])
def test_torch_channels_last_oracle(torch, dtype, kw):
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 8, 9, 11)).astype(dtype)
    w = rng.standard_normal((6, 8 // kw.get("groups", 1), 3, 3)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    tx = torch.from_numpy(x).to(memory_format=torch.channels_last).requires_grad_()
    tw = torch.from_numpy(w).to(memory_format=torch.channels_last).requires_grad_()
    tb = torch.from_numpy(b).requires_grad_()
    ty = F.conv2d(tx, tw, tb, **kw)
    go = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.from_numpy(go).to(memory_format=torch.channels_last))
    # torch's channels_last tensors are NHWC in memory: their permuted views are
    # C-contiguous NHWC / OHWI arrays
    xl = tx.detach().permute(0, 2, 3, 1).numpy()
    wl = tw.detach().permute(0, 2, 3, 1).numpy()
    assert xl.flags.c_contiguous and wl.flags.c_contiguous
    tol = 1e-4 if dtype == np.float32 else 1e-10
    y = fc.conv2d(xl, wl, b, data_format="NHWC", weight_format="OHWI", **kw)
    np.testing.assert_allclose(y, ty.detach().permute(0, 2, 3, 1).numpy(), rtol=tol, atol=tol)
    gx, gw, gb = fc.conv2d_backward(to_last(go), xl, wl, data_format="NHWC",
                                    weight_format="OHWI", **kw)
    np.testing.assert_allclose(gx, tx.grad.permute(0, 2, 3, 1).numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(gw, tw.grad.permute(0, 2, 3, 1).numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(gb, tb.grad.numpy(), rtol=tol, atol=tol)
    # the transposed convolution is torch's conv_transpose2d of the same weight
    tt = F.conv_transpose2d(torch.from_numpy(go).to(memory_format=torch.channels_last),
                            tw.detach(), **kw)
    got = fc.conv_transpose2d(to_last(go), wl, data_format="NHWC", weight_format="OHWI", **kw)
    np.testing.assert_allclose(got, tt.permute(0, 2, 3, 1).numpy(), rtol=tol, atol=tol)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("value, exc, match", [
    ("NCW", ValueError, "1-D format"), ("nhwc", ValueError, "'NCHW' or 'NHWC'"),
    (2, TypeError, "must be a str"), ("NDHWC", ValueError, "3-D format")])
def test_bad_data_format(value, exc, match):
    x, w = np.zeros((1, 2, 4, 4)), np.zeros((3, 2, 1, 1))
    with pytest.raises(exc, match=match):
        fc.conv2d(x, w, data_format=value)
    with pytest.raises(exc, match=match):
        fc.conv2d_backward(np.zeros((1, 3, 4, 4)), x, w, data_format=value)
    with pytest.raises(exc, match=match):
        fc.conv_transpose2d(x, np.zeros((2, 3, 1, 1)), data_format=value)


@pytest.mark.parametrize("value, exc", [("IOHW", ValueError), ("OIW", ValueError),
                                        (b"HWIO", TypeError)])
def test_bad_weight_format(value, exc):
    x, w = np.zeros((1, 4, 4, 2)), np.zeros((1, 1, 2, 3))
    with pytest.raises(exc, match="weight_format"):
        fc.conv2d(x, w, data_format="NHWC", weight_format=value)
    with pytest.raises(exc, match="weight_format"):
        fc.conv_transpose2d(x, w, data_format="NHWC", weight_format=value)


def test_channel_mismatch_names_both_arrays_shapes_and_formats():
    x = np.zeros((1, 5, 5, 3))          # NHWC, 3 channels
    w = np.zeros((3, 3, 4, 8))          # HWIO, 4 input channels
    for call in (lambda: fc.conv2d(x, w, data_format="NHWC"),
                 lambda: fc.conv2d_backward(np.zeros((1, 3, 3, 8)), x, w,
                                            data_format="NHWC")):
        with pytest.raises(ValueError) as e:
            call()
        msg = str(e.value)
        for part in ("`x`", "`weight`", "(1, 5, 5, 3)", "(3, 3, 4, 8)", "'NHWC'", "'HWIO'"):
            assert part in msg, (part, msg)
    # read as NCHW the same x has 5 channels: the message says which layout was used
    with pytest.raises(ValueError, match=r"'NCHW'.*has 5|has 5.*'NCHW'"):
        fc.conv2d(np.zeros((1, 5, 5, 4)), np.zeros((3, 3, 4, 8)), weight_format="HWIO")
    with pytest.raises(ValueError) as e:
        fc.conv_transpose2d(x, np.zeros((3, 3, 2, 4)), data_format="NHWC")
    for part in ("`x`", "`weight`", "(1, 5, 5, 3)", "(3, 3, 2, 4)", "'NHWC'", "'HWIO'"):
        assert part in str(e.value), (part, str(e.value))


def test_wrong_grad_output_shape_in_channels_last():
    x, w = np.zeros((2, 6, 6, 3)), np.zeros((3, 3, 3, 4))
    with pytest.raises(ValueError, match=r"\(2, 4, 4, 4\).*'NHWC'"):
        fc.conv2d_backward(np.zeros((2, 4, 4, 4 + 1)), x, w, data_format="NHWC")
    # channels-first grad_output with channels-last data is a shape error too
    with pytest.raises(ValueError, match="grad_output"):
        fc.conv2d_backward(np.zeros((2, 4, 4, 4)), x, w, data_format="NHWC", padding=1)


def test_wrong_rank_message_uses_the_layouts_axes():
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):   # (3-D: unbatched)
        fc.conv2d(np.zeros((3, 4)), np.zeros((1, 1, 3, 2)), data_format="NHWC")
    with pytest.raises(ValueError, match=r"\(kH, kW, C/groups, O\)"):
        fc.conv2d(np.zeros((2, 3, 4, 1)), np.zeros((1, 3, 2)), data_format="NHWC")
    with pytest.raises(ValueError, match=r"\(O, kH, kW, C/groups\)"):
        fc.conv2d(np.zeros((2, 3, 4, 1)), np.zeros((1, 3, 2)), data_format="NHWC",
                  weight_format="OHWI")


def test_empty_batch_in_channels_last():
    gx, gw, gb = fc.conv2d_backward(np.zeros((0, 3, 3, 2)), np.zeros((0, 5, 5, 3)),
                                    np.zeros((2, 3, 3, 3)), data_format="NHWC",
                                    weight_format="OHWI")
    assert gx.shape == (0, 5, 5, 3) and gw.shape == (2, 3, 3, 3) and gb.shape == (2,)
    assert not gw.any()
    assert fc.conv2d(np.zeros((0, 5, 5, 3)), np.zeros((3, 3, 3, 2)),
                     data_format="NHWC").shape == (0, 3, 3, 2)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("geom", [dict(padding=1), dict(padding=((2, 1), (1, 2)), stride=2,
                                                         dilation=(1, 2)),
                                  dict(padding=2, groups=2)])
def test_padding_modes_on_channels_last_data(mode, geom):
    """reflect / replicate / circular on NHWC data (the patch tiles and the scatter map
    every padded coordinate): the channels-first results, moved to the layout."""
    rng = np.random.default_rng(7)
    xf = rng.standard_normal((2, 4, 7, 6))
    wf = rng.standard_normal((6, 4 // geom.get("groups", 1), 3, 3))
    y = fc.conv2d(xf, wf, padding_mode=mode, **geom)
    xl, wl = np.ascontiguousarray(xf.transpose(0, 2, 3, 1)), np.ascontiguousarray(
        wf.transpose(2, 3, 1, 0))
    yl = fc.conv2d(xl, wl, padding_mode=mode, data_format="NHWC", **geom)
    np.testing.assert_allclose(yl, y.transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-12)
    go = rng.standard_normal(y.shape)
    g = fc.conv2d_backward(go, xf, wf, padding_mode=mode, **geom)
    gl = fc.conv2d_backward(np.ascontiguousarray(go.transpose(0, 2, 3, 1)), xl, wl,
                            padding_mode=mode, data_format="NHWC", **geom)
    np.testing.assert_allclose(gl[0], g[0].transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gl[1], g[1].transpose(2, 3, 1, 0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gl[2], g[2], rtol=1e-12, atol=1e-12)
    for t in (2, 3):
        assert fc.conv2d(xl, wl, padding_mode=mode, data_format="NHWC", num_threads=t,
                         **geom).tobytes() == yl.tobytes()


def test_padding_modes_with_hwio_weights_on_channels_first_data():
    # channels-first data with an HWIO weight takes every mode
    xf = np.random.default_rng(0).standard_normal((1, 2, 6, 6))
    wf = np.random.default_rng(1).standard_normal((3, 3, 2, 4))
    assert np.array_equal(fc.conv2d(xf, wf, padding=1, padding_mode="reflect",
                                    weight_format="HWIO"),
                          fc.conv2d(xf, np.ascontiguousarray(wf.transpose(3, 2, 0, 1)),
                                    padding=1, padding_mode="reflect"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spatial,kw", [((5, 6), dict(padding=1)),
                                        ((4, 4), dict(padding=(2, 1), dilation=(2, 1)))])
def test_small_plane_grad_input_runs_the_flat_forward(dtype, spatial, kw):
    """Stride-1 grad_input on small planes with many channels is the forward of the
    flipped, channel-transposed kernel with flat tiles across samples (the kernel
    rearranged in a reused buffer, taps reversed): right, and the same bits for any
    thread count and on a second call."""
    rng = np.random.default_rng(7)
    N, C, O = 3, 64, 40
    x = rng.standard_normal((N, *spatial, C)).astype(dtype)
    w = rng.standard_normal((3, 3, C, O)).astype(dtype)
    y = fc.conv2d(x, w, data_format="NHWC", **kw)
    go = rng.standard_normal(y.shape).astype(dtype)
    plan = fc.plan(fc.conv2d_backward, go, x, w, data_format="NHWC", **kw)
    gi = [d for d in plan.describe() if d["direction"] == "grad_input"][0]
    assert (gi["algorithm"], gi["runs"]) == ("conv.grad_input.as_forward", "conv.forward.nhwc")
    sub = plan.route("grad_input").sub.desc.fields()
    assert sub["lt"] > sub["L"]                                 # flat tiles
    gx = fc.conv2d_backward(go, x, w, data_format="NHWC", output_mask=(True, False, False),
                            **kw)[0]
    wo = np.transpose(w, (3, 2, 0, 1))
    want = ref.convnd_backward(to_first(go), to_first(x), wo, **kw)[0]
    scale = ref.convnd_backward(np.abs(to_first(go)), np.abs(to_first(x)), np.abs(wo), **kw)[0]
    assert_close(to_first(gx), want, dtype, scale=scale)
    for n in (1, 2, 3):
        again = fc.conv2d_backward(go, x, w, data_format="NHWC", num_threads=n,
                                   output_mask=(True, False, False), **kw)[0]
        assert np.array_equal(again, gx), n
    with fc.tuning(nhwc_flat_rows=0):        # conv.grad_input.nhwc: within rounding
        other = fc.conv2d_backward(go, x, w, data_format="NHWC",
                                   output_mask=(True, False, False), **kw)[0]
    assert_close(to_first(other), want, dtype, scale=scale)


# (nd, x NC* shape, weight OI* shape, kwargs): border taps that read only padding
TRIM_CASES = [
    (2, (2, 6, 5, 7), (4, 6, 3, 3), dict(padding=6, dilation=6)),          # a 1x1 left
    (2, (2, 6, 5, 9), (4, 3, 3, 3), dict(padding=(5, 2), dilation=(5, 1), groups=2)),
    (2, (1, 4, 4, 4), (5, 4, 3, 2), dict(padding=(4, 3), dilation=(4, 3), stride=(2, 1))),
    (1, (3, 5, 6), (4, 5, 3), dict(padding=7, dilation=7)),
    (3, (1, 3, 3, 4, 5), (2, 3, 3, 3, 3), dict(padding=(3, 1, 4), dilation=(3, 1, 4))),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(TRIM_CASES)))
@pytest.mark.parametrize("flip", [False, True])
def test_taps_reading_only_padding_are_dropped(dtype, case, flip):
    """Channels-last, zero padding: kernel taps that read only padding for every output
    position are left out of the planned problem (a smaller kernel, less padding); the
    results and all three gradients still match the reference, grad_weight has zeros
    for the dropped taps, in every weight format, with out= buffers too."""
    nd, xs, ws, kw = TRIM_CASES[case]
    rng = np.random.default_rng(case)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    want, scale, go, rg, rs = conv_reference(x, w, b, dict(kw, flip=flip), case)
    conv, bwd, _ = fns(nd)
    df = DATA[nd][1]
    xl, gol = to_last(x), to_last(go)
    plan = fc.plan(conv, xl, w_to(w, WEIGHT[nd][1]), b, data_format=df, flip=flip, **kw)
    assert tuple(plan.routes[0].desc.fields()["k"][3 - nd:]) != ws[2:]   # trimmed
    for fmt in WEIGHT[nd]:
        wa = w_to(w, fmt)
        y = conv(xl, wa, b, data_format=df, weight_format=fmt, flip=flip, **kw)
        assert_close(to_first(y), want, dtype, scale=scale, err_msg="forward")
        gx, gw, gb = bwd(gol, xl, wa, data_format=df, weight_format=fmt, flip=flip, **kw)
        assert_close(to_first(gx), rg[0], dtype, scale=rs[0], err_msg="grad_input")
        assert_close(w_from(gw, fmt), rg[1], dtype, scale=rs[1], err_msg="grad_weight")
        assert_close(gb, rg[2], dtype, scale=rs[2], err_msg="grad_bias")
        outs = (np.full_like(gx, np.nan), np.full_like(gw, np.nan), np.full_like(gb, np.nan))
        got = bwd(gol, xl, wa, data_format=df, weight_format=fmt, flip=flip, out=outs, **kw)
        assert all(a is o for a, o in zip(got, outs))
        for a, e in zip(got, (gx, gw, gb)):
            assert np.array_equal(a, e)
        only_w = bwd(gol, xl, wa, data_format=df, weight_format=fmt, flip=flip,
                     output_mask=(False, True, False), **kw)[1]
        assert np.array_equal(only_w, gw)
        for n in (1, 2, 3):
            assert np.array_equal(conv(xl, wa, b, data_format=df, weight_format=fmt,
                                       flip=flip, num_threads=n, **kw), y)


@settings(max_examples=200, deadline=None)
@given(k=st.integers(1, 6), s=st.integers(1, 4), d=st.integers(1, 9), pb=st.integers(0, 20),
       pa=st.integers(0, 20), size=st.integers(1, 30))
def test_tap_range_is_the_taps_that_read_the_input(k, s, d, pb, pa, size):
    from fastconv.conv import _tap_range
    out = (size + pb + pa - d * (k - 1) - 1) // s + 1
    if out < 1:
        return
    used = [j for j in range(k)
            if any(0 <= o * s + j * d - pb < size for o in range(out))]
    j0, j1 = _tap_range(k, s, d, pb, size, out)
    if used:
        assert (j0, j1) == (used[0], used[-1] + 1)     # (inner taps may read only padding)
    else:
        assert (j0, j1) == (0, k)
