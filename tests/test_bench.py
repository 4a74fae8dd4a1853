"""The benchmark's peers compute the same convolution, and the command runs."""
import io
import json
import sys

import numpy as np
import pytest

import fastconv as fc
from fastconv import bench


@pytest.mark.parametrize("shape", [(2, 3, 9, 9, 4, 3, 2, 1), (3, 2, 7, 8, 5, 2, 1, 0),
                                   (1, 2, 4, 4, 2, 2, 1, 0)])
@pytest.mark.parametrize("peer", ["cs231n", "numpy"])
def test_peers_agree_with_fastconv(shape, peer):
    N, C, H, W, O, k, s, p = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((O, C, k, k))
    y = fc.conv2d(x, w, stride=s, padding=p)
    go = rng.standard_normal(y.shape)
    fwd = getattr(bench, f"{peer}_conv2d")
    bwd = getattr(bench, f"{peer}_conv2d_backward")
    np.testing.assert_allclose(fwd(x, w, s, p), y, rtol=1e-12, atol=1e-12)
    for got, want in zip(bwd(go, x, w, s, p), fc.conv2d_backward(go, x, w, stride=s, padding=p)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_bench_command_runs(fast_probes):
    out = io.StringIO()
    assert bench.main(["--quick", "--repeat", "1", "--no-torch", "--layers", "seeds tiny",
                       "--networks", "none"], out=out) == 0
    text = out.getvalue()
    assert "| seeds tiny |" in text and "geomean" in text


def test_bench_json_and_plot(tmp_path, fast_probes):
    """--json writes every layer's times and GFLOP/s for fastconv and each peer; --plot a PNG."""
    pytest.importorskip("matplotlib")
    out = io.StringIO()
    json_path, png_path = tmp_path / "results.json", tmp_path / "gflops.png"
    assert bench.main(["--quick", "--repeat", "1", "--no-torch", "--layers", "seeds tiny",
                       "--networks", "none", "--json", str(json_path), "--plot", str(png_path)],
                      out=out) == 0
    data = json.loads(json_path.read_text())
    assert data["fastconv"] == fc.__version__ and data["repeat"] == 1 and data["torch"] is None
    (layer,) = data["conv2d"]
    assert layer["name"] == "seeds tiny" and layer["layer"]["k"] == 2
    assert layer["fwd_gflops"] == pytest.approx(layer["fwd_flops"] / layer["fwd_s"] / 1e9)
    assert set(layer["peers"]) == {"cs231n", "numpy"}
    for peer in layer["peers"].values():
        assert peer["fwd_s"] > 0 and peer["fwd_gflops"] > 0
        assert peer["fwd_ratio"] == pytest.approx(peer["fastconv_fwd_s"] / peer["fwd_s"])
        assert peer["bwd_ratio"] == pytest.approx(peer["fastconv_bwd_s"] / peer["bwd_s"])
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot written to {png_path}" in out.getvalue()


def test_bench_plot_without_matplotlib(tmp_path, monkeypatch):
    """--plot without matplotlib stops at once with a message naming the package."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # makes `import matplotlib` fail
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setattr(bench, "gemm_roof", lambda *a, **k: pytest.fail("measured anyway"))
    with pytest.raises(SystemExit, match="needs matplotlib.*pip install matplotlib"):
        bench.main(["--quick", "--plot", str(tmp_path / "g.png")], out=io.StringIO())
    assert not (tmp_path / "g.png").exists()


# ------------------------------------------------ the probes, networks and balance model

import math  # noqa: E402

from fastconv import _networks as nets  # noqa: E402


@pytest.fixture
def fast_probes(monkeypatch):
    """The bench without its slow probes: fixed roofs, peak and bandwidth, one small
    global-pooling case (the tests check what is printed, never a speed)."""
    monkeypatch.setattr(bench, "gemm_roof", lambda *a, **k: 100.0)
    monkeypatch.setattr(bench, "gemm_roof_own_dispatch",
                        lambda *a, **k: {"gflops": 200.0, "blas": None})
    monkeypatch.setattr(bench, "memory_bandwidth", lambda *a, **k: 10.0)
    monkeypatch.setattr(bench, "fma_peaks", lambda t, s=0.3: {
        "variant": "avx2", "threads": t, f"float32_{t}": 300.0, "float32_1": 150.0,
        f"float64_{t}": 150.0, "float64_1": 75.0, "clock": "thread CPU time",
        f"float32_{t}_wall": 150.0})
    monkeypatch.setattr(bench, "BANDWIDTH_POOLS", [("global avg (2,8,7,7)", "avg", (2, 8, 7, 7),
                                                    7, 7, False)])


def fake_interleaved(funcs, repeat, **kw):
    """Run each function once (so every call is exercised) and return made-up times."""
    for f in funcs:
        f()
    return [1e-3 * (i + 1) for i in range(len(funcs))]


def test_static_balance_equal_costs():
    assert bench.static_balance(64, 64) == 1.0
    assert bench.static_balance(65, 64) == pytest.approx(65 / 128)
    assert bench.static_balance(10, 16) == pytest.approx(10 / 16)
    assert bench.static_balance(128, 32) == 1.0
    assert bench.static_balance(33, 32) == pytest.approx(33 / 64)
    assert math.isnan(bench.static_balance(0, 16))
    for n in (1, 7, 63, 64, 65, 100, 1000):   # the closed form is the general loop's
        for t in (1, 16, 32, 64):
            assert bench.static_balance(n, t) == pytest.approx(
                bench.static_balance(n, t, [1.0] * n))


def test_static_balance_unequal_costs():
    # 2 threads: blocks [4, 1] and [1, 1] -> max 5, mean 3.5
    assert bench.static_balance(4, 2, [4, 1, 1, 1]) == pytest.approx(3.5 / 5)
    # contiguous blocks, not round robin: [1, 1] | [1, 9] -> max 10, mean 6
    assert bench.static_balance(4, 2, [1, 1, 1, 9]) == pytest.approx(0.6)
    # the first n % T threads take the extra task: [2, 2] | [2]  -> max 4, mean 3
    assert bench.static_balance(3, 2, [2, 2, 2]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="3 costs for 4 tasks"):
        bench.static_balance(4, 2, [1, 1, 1])
    with pytest.raises(ValueError):
        bench.static_balance(4, 0)


# multiply-adds per image of the convolutions, as the architectures' papers and
# torchvision's model tables give them (VGG-16 without its fully connected layers)
PUBLISHED_GMACS = {"ResNet-18": 1.81, "ResNet-50": 4.09, "ResNeXt-50": 4.23,
                   "MobileNetV2": 0.30, "VGG-16": 15.35}


@pytest.mark.parametrize("name", sorted(PUBLISHED_GMACS))
def test_network_transcriptions_add_up(name):
    layers = nets.layers(name)
    batch = layers[0].x[0]
    gmacs = sum(nets.flops(la) for la in layers) / 2e9 / batch
    assert gmacs == pytest.approx(PUBLISHED_GMACS[name], rel=0.02)


def test_network_details():
    w2v = nets.layers("wav2vec2")
    assert [nets.out_shape(la)[2] for la in w2v] == [3199, 1599, 799, 399, 199, 99, 49]
    dl = {la.name: la for la in nets.layers("DeepLabV3")}
    assert nets.out_shape(dl["layer4.2.conv3 1x1"])[2:] == (28, 28)   # output stride 8
    assert dl["aspp 3x3 d36"].kwargs["dilation"] == 36
    rx = [la for la in nets.layers("ResNeXt-50") if "conv2" in la.name]
    assert {la.kwargs["groups"] for la in rx} == {32}
    mb = [la for la in nets.layers("MobileNetV2") if ".dw " in la.name]
    assert all(la.kwargs["groups"] == la.x[1] and la.w[1] == 1 for la in mb)
    wn = nets.distinct(nets.layers("WaveNet"))
    assert {la.name: la.count for la in wn}["skip 1x1"] == 30
    assert sorted(la.kwargs["dilation"] for la in wn if la.name.startswith("dilated")) == [
        2 ** i for i in range(10)]
    un = [la for la in nets.layers("U-Net") if la.op == "conv_transpose2d"]
    assert [nets.out_shape(la)[2] for la in un] == [32, 64, 128, 256]
    for name in nets.NETWORKS:
        layers = nets.layers(name)
        merged = nets.distinct(layers)
        assert sum(la.count for la in merged) == len(layers)
        assert len({la.key for la in merged}) == len(merged)
    assert nets.select("resnet50, quick,ResNet-50") == ["ResNet-50", *nets.QUICK]
    assert nets.select("all") == list(nets.NETWORKS) and nets.select("none") == []
    with pytest.raises(ValueError, match="unknown network 'alexnet'"):
        nets.select("alexnet")


def test_layer_kinds():
    by_name = {la.name: nets.kind(la) for la in nets.layers("tiny")}
    assert by_name == {"conv 3x3": "conv 3x3", "grouped 3x3": "conv 3x3 grouped",
                       "depthwise 3x3/2": "conv 3x3 depthwise strided",
                       "dilated 3x3 d2": "conv 3x3 dilated", "max 2x2/2": "max pool 2x2",
                       "avgpool (global)": "global avg pool", "avg 3x3/1": "avg pool 3x3",
                       "up 2x2/2": "transposed 2x2", "conv1d k2 d4": "conv1d k2 dilated",
                       "conv1d k3/2": "conv1d k3 strided"}


def _meta_out(torch, la):
    F = torch.nn.functional
    x = torch.empty(la.x, device="meta")
    kw = la.kwargs
    if la.is_conv:
        w = torch.empty(la.w, device="meta")
        return tuple(getattr(F, la.op)(x, w, **kw).shape)
    return tuple(getattr(F, la.op)(x, **kw).shape)


@pytest.mark.parametrize("name", [*nets.NETWORKS, *nets.EXTRA])
def test_network_layers_are_valid_calls(name):
    """Every layer is a call fastconv plans (forward and backward), with the output shape
    the tables assume -- which is also torch's (on meta tensors: no compute)."""
    torch = bench._torch()
    for la in nets.distinct(nets.layers(name)):
        plans = bench.layer_plans(la)
        assert len(plans) == (2 if la.has_backward else 1)
        if la.is_conv and la.op != "conv_transpose2d":
            assert tuple(plans[0].problem.y_shape) == nets.out_shape(la), la
        if torch is not None:
            assert _meta_out(torch, la) == nets.out_shape(la), la


def test_network_aggregation():
    rows = [{"name": "a", "count": 2, "fwd": 1.0, "fwd_torch": 2.0, "bwd": 3.0, "bwd_torch": 2.0},
            {"name": "b", "count": 1, "fwd": 4.0, "fwd_torch": 1.0, "bwd": 1.0, "bwd_torch": 4.0},
            {"name": "up", "count": 1, "fwd": 1.0, "fwd_torch": 1.0, "bwd": None,
             "bwd_torch": None}]
    a = bench.aggregate(rows)
    assert a["layers"] == 4 and a["distinct"] == 3
    assert a["fwd_s"] == 7.0 and a["fwd_torch_s"] == 6.0 and a["fwd_ratio"] == pytest.approx(7 / 6)
    assert a["bwd_s"] == 7.0 and a["bwd_torch_s"] == 8.0 and a["bwd_ratio"] == pytest.approx(7 / 8)
    assert a["ratio"] == pytest.approx(14 / 14)
    assert a["worst_fwd"][0] == ("b", 4.0) and a["worst_bwd"] == [("a", 1.5), ("b", 0.25)]
    assert a["no_backward"] == ["up"]
    other = bench.aggregate([{"name": "c", "count": 1, "fwd": 1.0, "fwd_torch": 4.0, "bwd": 2.0,
                              "bwd_torch": 8.0}])
    s = bench.summarize({"n1": a, "n2": other})
    assert s["geomean"] == pytest.approx(math.sqrt(1.0 * 0.25))
    assert s["geomean_fwd"] == pytest.approx(math.sqrt(7 / 6 * 0.25))
    assert s["overall"] == pytest.approx((14 + 3) / (14 + 12))
    assert s["overall_bwd"] == pytest.approx((7 + 2) / (8 + 8))


def test_cpu_info(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\n"
                 "model name\t: AMD EPYC 9B45\nstepping\t: 1\n\nprocessor\t: 1\n"
                 "model name\t: other\n")
    info = bench.cpu_info(str(f))
    assert (info["vendor"], info["family"], info["model"], info["model_name"],
            info["stepping"]) == ("AuthenticAMD", "26", "2", "AMD EPYC 9B45", "1")
    assert bench.cpu_info(str(tmp_path / "missing"))["vendor"] is None


def test_fma_peak_probe_runs():
    from fastconv._kernels import _gemm

    for f64 in (False, True):
        r = _gemm.fma_peak(f64, 1, 0.01)
        assert r["gflops"] > 0 and r["variant"] == _gemm.variant() and r["threads"] == 1
        assert r["dtype"] == ("float64" if f64 else "float32")
        assert r["wall_gflops"] > 0 and r["clock"] in ("thread CPU time", "wall")
    with pytest.raises(ValueError, match="n_threads"):
        _gemm.fma_peak(False, 0)


def test_bench_networks_tables(fast_probes, monkeypatch, tmp_path):
    """A network run prints the per-network, per-kind, per-layer and balance tables and
    writes them to --json (times faked: every call runs once)."""
    if bench._torch() is None:
        pytest.skip("the network suite compares with torch")
    monkeypatch.setattr(bench, "interleaved", fake_interleaved)
    out = io.StringIO()
    path = tmp_path / "r.json"
    assert bench.main(["--only-networks", "--networks", "tiny", "--repeat", "1",
                       "--json", str(path)], out=out) == 0
    text = out.getvalue()
    for needle in ("| tiny | 11 (10) |", "**geomean over networks**", "**overall (total time)**",
                   "## real networks by layer kind", "| conv 3x3 dilated | 2 (1) |",
                   "many-core balance",
                   "GEMM roof", "FMA peak", "memory bandwidth", "| global avg (2,8,7,7) |",
                   "SIMD variant in use: fastconv",
                   "timed in thread CPU time (by wall clock float32 150.0 on"):
        assert needle in text, needle
    assert "forward only" not in text   # the transposed layer's backward is timed too
    data = json.loads(path.read_text())
    tiny = data["networks"]["tiny"]
    assert tiny["layer_calls"] == 11 and len(tiny["layers"]) == 10
    # fake times: fastconv 1 ms, torch 2 ms for every call
    assert tiny["fwd_ratio"] == pytest.approx(0.5) and tiny["ratio"] == pytest.approx(0.5)
    assert data["network_summary"]["overall"] == pytest.approx(0.5)
    assert data["header"]["gemm_roof_gflops"] == 200.0
    assert data["header"]["gemm_roof_inprocess_gflops"] == 100.0
    assert data["bandwidth_pooling"][0]["pct_bandwidth"] > 0
    assert data["balance"]["below_90"] == {"16": 0, "32": 0, "64": 0}   # nothing > 1 GFLOP


def test_bench_isa_child():
    """--isa avx2 runs the bench in a child whose fastconv (and torch) are held to AVX2."""
    from fastconv._kernels import _gemm

    if "avx2" not in _gemm.build_info()["cpu_features"]:
        pytest.skip("this CPU has no AVX2")
    out = io.StringIO()
    assert bench.main(["--isa", "avx2", "--header-only", "--quick", "--no-torch"], out=out) == 0
    text = out.getvalue()
    assert "FASTCONV_GEMM=avx2" in text and "SIMD variant in use: fastconv avx2" in text
    assert "FMA peak (register-only loop, avx2)" in text


def test_bench_memory_reports_the_calls_with_out():
    """The memory table has the out= rows: with the results in the caller's buffers, a
    later forward call allocates almost nothing, a backward only its scratch."""
    out = io.StringIO()
    rows = {name: (cold, warm) for name, cold, warm in bench.bench_memory(out)}
    assert list(rows) == ["forward", "backward", "forward, out=", "backward, out="]
    assert "| forward, out= |" in out.getvalue()
    assert rows["forward, out="][1] < rows["forward"][1] / 100
    assert rows["backward, out="][1] < rows["backward"][1] / 2
