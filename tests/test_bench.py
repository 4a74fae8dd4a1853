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


def test_bench_command_runs():
    out = io.StringIO()
    assert bench.main(["--quick", "--repeat", "1", "--no-torch", "--layers", "seeds tiny"],
                      out=out) == 0
    text = out.getvalue()
    assert "| seeds tiny |" in text and "geomean" in text


def test_bench_json_and_plot(tmp_path):
    """--json writes every layer's times and GFLOP/s for fastconv and each peer; --plot a PNG."""
    pytest.importorskip("matplotlib")
    out = io.StringIO()
    json_path, png_path = tmp_path / "results.json", tmp_path / "gflops.png"
    assert bench.main(["--quick", "--repeat", "1", "--no-torch", "--layers", "seeds tiny",
                       "--json", str(json_path), "--plot", str(png_path)], out=out) == 0
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
