"""Every GEMM micro-kernel variant (chosen at import from the CPU, or forced with
FASTCONV_GEMM) gives correct convolutions, including row/column edge tiles.

Each variant runs in a child interpreter, because the choice is made once when
the kernels are imported.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastconv
from fastconv._kernels import _engine as _conv

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    sys.path.insert(0, {here!r})
    import reference as ref
    import fastconv
    from fastconv._kernels import _engine as _conv
    rng = np.random.default_rng(7)
    worst = {{}}
    # shapes chosen to hit full tiles and every kind of edge: O not a multiple
    # of the row block, positions not a multiple of the column block, K > 256
    cases = [(2, 3, 9, 11, 5, 3, 1, 1), (1, 40, 13, 17, 19, 3, 2, 1), (2, 7, 8, 8, 70, 1, 1, 0),
             (1, 300, 6, 6, 9, 1, 1, 0), (3, 4, 20, 21, 33, 5, 1, 2)]
    for dt in (np.float32, np.float64):
        err = 0.0
        for N, C, H, W, O, k, s, p in cases:
            x = rng.standard_normal((N, C, H, W)).astype(dt)
            w = rng.standard_normal((O, C, k, k)).astype(dt)
            b = rng.standard_normal(O).astype(dt)
            out = fastconv.conv2d(x, w, b, stride=s, padding=p)
            exp = ref.conv2d(x, w, b, stride=s, padding=p)
            scale = ref.conv2d(np.abs(x), np.abs(w), np.abs(b), stride=s, padding=p) + 1
            err = max(err, float(np.max(np.abs(out - exp) / scale)))
            go = rng.standard_normal(out.shape).astype(dt)
            got = fastconv.conv2d_backward(go, x, w, stride=s, padding=p)
            want = ref.conv2d_backward(go, x, w, stride=s, padding=p)
            for a, e in zip(got, want):
                err = max(err, float(np.max(np.abs(a - e)) / (np.max(np.abs(e)) + 1)))
        worst[np.dtype(dt).name] = err
    print(json.dumps({{"variant": _conv.gemm_variant(), "worst": worst}}))
    """
)


def _supported():
    variants = ["generic"]
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return variants
    if " avx2" in flags and " fma" in flags:
        variants.append("avx2")
    if all(f" {f}" in flags for f in ("avx512f", "avx512vl", "avx512dq", "avx512bw")):
        variants.append("avx512")
    return variants


@pytest.mark.parametrize("variant", ["generic", "avx2", "avx512"])
def test_gemm_variant(variant):
    if variant not in _supported():
        pytest.skip(f"this CPU cannot run the {variant} kernel")
    env = dict(os.environ, FASTCONV_GEMM=variant)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", CHILD.format(here=HERE)], env=env,
                          capture_output=True, text=True, timeout=300, cwd=HERE)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["variant"] == variant
    assert result["worst"]["float32"] < 1e-5, result
    assert result["worst"]["float64"] < 1e-12, result


def test_default_variant_is_the_best_the_cpu_has():
    if os.environ.get("FASTCONV_GEMM"):
        pytest.skip("FASTCONV_GEMM forces a variant")
    assert _conv.gemm_variant() == _supported()[-1]
