"""The benchmark's peers compute the same convolution, and the command runs."""
import io

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
