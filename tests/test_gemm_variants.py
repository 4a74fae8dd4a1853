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
from fastconv._kernels import _engine

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    sys.path.insert(0, {here!r})
    import reference as ref
    import fastconv
    from fastconv._kernels import _engine
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
    print(json.dumps({{"variant": _engine.gemm_variant(), "worst": worst}}))
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


def run_variant_child(variant, code):
    """Run ``code`` in a child interpreter with ``FASTCONV_GEMM=variant`` (skipping when
    this CPU cannot run that variant), from the tests directory with this fastconv first
    on the path; returns the JSON object its last output line prints."""
    if variant not in _supported():
        pytest.skip(f"this CPU cannot run the {variant} kernels")
    env = dict(os.environ, FASTCONV_GEMM=variant)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([pkg_parent, HERE, env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", code], env=env,
                          capture_output=True, text=True, timeout=300, cwd=HERE)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("variant", ["generic", "avx2", "avx512"])
def test_gemm_variant(variant):
    result = run_variant_child(variant, CHILD.format(here=HERE))
    assert result["variant"] == variant
    assert result["worst"]["float32"] < 1e-5, result
    assert result["worst"]["float64"] < 1e-12, result


def test_default_variant_is_the_best_the_cpu_has():
    if os.environ.get("FASTCONV_GEMM"):
        pytest.skip("FASTCONV_GEMM forces a variant")
    assert _engine.gemm_variant() == _supported()[-1]


# --------------------------------------------------------------------------------------------
# The general strided GEMM (fastconv._kernels._gemm.gemm, the test hook of gemm_f32/_f64)
# --------------------------------------------------------------------------------------------

STRIDED_CHILD = textwrap.dedent(
    """
    import json
    import numpy as np
    from fastconv._kernels import _gemm

    rng = np.random.default_rng(11)
    failures = []
    checked = 0
    # M, N, K: ones, partial micro-tiles in rows and columns, several MC/NC blocks,
    # K beyond the default KC and beyond FC_KC_MAX; M beyond gemm_nn's row block (AVX2:
    # 96 rows) with a last panel of at most half the panel width (its half-width kernel)
    shapes = [(1, 1, 1), (1, 7, 3), (5, 1, 9), (3, 4, 1), (9, 33, 17), (17, 31, 300),
              (70, 65, 129), (13, 100, 1100), (2, 250, 5), (200, 37, 600)]
    shapes += [tuple(int(v) for v in rng.integers(1, 80, 3)) for _ in range(4)]
    blockings = [None, dict(mc=1, kc=1, nc=1), dict(mc=8, kc=7, nc=33), dict(kc=1024),
                 dict(mc=1000, kc=5000, nc=100000), dict(mc=24, kc=256, nc=64)]

    def views(a):
        # a as: contiguous, Fortran order (transposed storage), reversed in both
        # axes, and a strided slice of a larger array
        m, n = a.shape
        out = [np.ascontiguousarray(a), np.asfortranarray(a)]
        big = np.zeros((m + 2, n + 3), a.dtype)
        big[1:m + 1, 2:n + 2] = a[::-1, ::-1]
        out.append(big[m:0:-1, n + 1:1:-1])
        big = np.zeros((2 * m, 3 * n), a.dtype)
        big[::2, ::3] = a
        out.append(big[::2, ::3])
        return out

    def out_views(m, n, dt):
        big = np.zeros((2 * m + 1, n), dt)
        return [np.zeros((m, n), dt), np.zeros((n, m), dt).T, big[2 * m:0:-2, ::-1]]

    for dt in (np.float32, np.float64):
        tol = 2e-5 if dt == np.float32 else 1e-13
        for M, N, K in shapes:
            A = rng.standard_normal((M, K)).astype(dt)
            B = rng.standard_normal((K, N)).astype(dt)
            C0 = rng.standard_normal((M, N)).astype(dt)
            exact = A.astype(np.float64) @ B.astype(np.float64)
            scale = np.abs(A).astype(np.float64) @ np.abs(B).astype(np.float64) + 1
            for acc in (False, True):
                ref = C0.copy() if acc else np.zeros((M, N), dt)
                _gemm.gemm_nn(A, B, ref, accumulate=acc)
                want = exact + (C0 if acc else 0)
                err = float(np.max(np.abs(ref - want) / (scale + np.abs(C0))))
                if not err < tol:
                    failures.append(f"gemm_nn {np.dtype(dt).name} {M, N, K} acc={acc}: "
                                    f"error {err:.3g}")
                for ia, a in enumerate(views(A)):
                    for ib, b in enumerate(views(B)):
                        for ic, c in enumerate(out_views(M, N, dt)):
                            for blk in blockings:
                                c[...] = C0 if acc else rng.standard_normal((M, N))
                                _gemm.gemm(a, b, c, accumulate=acc, blocking=blk)
                                checked += 1
                                if not np.array_equal(c, ref):
                                    bad = float(np.max(np.abs(c - ref)))
                                    failures.append(
                                        f"{np.dtype(dt).name} {M, N, K} acc={acc} views "
                                        f"A{ia} B{ib} C{ic} blocking={blk}: differs from "
                                        f"gemm_nn by up to {bad:.3g}")
                                if len(failures) > 20:
                                    raise SystemExit(json.dumps(failures))
        # K = 0: C is zeroed, or left alone with accumulate
        c = np.ones((3, 4), dt)
        _gemm.gemm(np.zeros((3, 0), dt), np.zeros((0, 4), dt), c, accumulate=True)
        if not (c == 1).all():
            failures.append("K = 0 with accumulate changed C")
        _gemm.gemm(np.zeros((3, 0), dt), np.zeros((0, 4), dt), c)
        if not (c == 0).all():
            failures.append("K = 0 without accumulate did not zero C")
    print(json.dumps({"variant": _gemm.variant(), "checked": checked, "failures": failures}))
    """
)


@pytest.mark.parametrize("variant", ["generic", "avx2", "avx512"])
def test_strided_gemm_variant(variant):
    """The strided GEMM of every variant: any strides (transposed, reversed, sliced
    views of A, B and C), accumulate, K beyond KC; bitwise equal to gemm_nn whatever
    the blocking, and within tolerance of a float64 product."""
    if variant not in _supported():
        pytest.skip(f"this CPU cannot run the {variant} kernel")
    env = dict(os.environ, FASTCONV_GEMM=variant)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", STRIDED_CHILD], env=env,
                          capture_output=True, text=True, timeout=600, cwd=HERE)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["variant"] == variant
    assert result["checked"] > 1000
    assert result["failures"] == []


def test_one_dispatch_table():
    """_engine reports the variant chosen once, in _gemm."""
    from fastconv._kernels import _gemm

    assert _engine.gemm_variant() == _gemm.variant()
    for is_f64 in (False, True):
        assert _engine.gemm_panel_width(is_f64) == _gemm.panel_width(is_f64)
    blk = _gemm.default_blocking()
    assert blk["kc_max"] >= 512
    for dt in ("float32", "float64"):
        assert set(blk[dt]) == {"mc", "kc", "nc", "mr", "nr"}
        assert 1 <= blk[dt]["kc"] <= blk["kc_max"]
        assert blk[dt]["nr"] == _gemm.panel_width(dt == "float64")


def test_strided_gemm_hook_rejects_bad_operands():
    from fastconv._kernels import _gemm

    a = np.ones((3, 4), np.float32)
    b = np.ones((4, 5), np.float32)
    with pytest.raises(TypeError, match="dtype"):
        _gemm.gemm(a, b.astype(np.float64), np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="shape"):
        _gemm.gemm(a, b, np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="overlap"):
        c = np.zeros((4, 5), np.float32)
        _gemm.gemm(c[:3, :4], c, c[1:, :])
    with pytest.raises(ValueError, match="zero stride"):
        repeated = np.lib.stride_tricks.as_strided(np.zeros(5, np.float32), (3, 5), (0, 4))
        _gemm.gemm(a, b, repeated)
    with pytest.raises(ValueError, match="blocking"):
        _gemm.gemm(a, b, np.zeros((3, 5), np.float32), blocking={"mr": 4})
