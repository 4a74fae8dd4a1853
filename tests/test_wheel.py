"""The installed release wheel (.ci/wheel): its own OpenMP runtime, and nothing it does not need.

These run only against a wheel repaired by auditwheel, which .ci/run says by setting
``FASTCONV_EXPECT_WHEEL=1``; a build from source links the system's libgomp, and an in-place
build is not installed at all.
"""
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

import fastconv

pytestmark = pytest.mark.skipif(os.environ.get("FASTCONV_EXPECT_WHEEL") != "1",
                                reason="not the installed release wheel (FASTCONV_EXPECT_WHEEL=1)")

PKG = os.path.dirname(os.path.abspath(fastconv.__file__))
SITE = os.path.dirname(PKG)
LIBS = os.path.join(SITE, "fastconv.libs")       # auditwheel's directory of vendored libraries
KERNELS = os.path.join(PKG, "_kernels")
VENDORED_GOMP = re.compile(r"^libgomp-[0-9a-f]{8}\.so(\.\d+)*$")


def _extensions():
    found = sorted(os.path.join(KERNELS, f) for f in os.listdir(KERNELS) if f.endswith(".so"))
    assert found, f"no extension modules in {KERNELS}"
    return found


def test_installed_from_a_repaired_wheel():
    assert "site-packages" in PKG, PKG
    assert fastconv.openmp_enabled(), "the release wheel must be built with OpenMP"
    wheel = importlib.metadata.distribution("fastconv").read_text("WHEEL")
    tags = re.findall(r"^Tag: (\S+)$", wheel, re.M)
    assert tags and all(re.fullmatch(r"cp3\d+-cp3\d+-manylinux_2_\d+_x86_64", t)
                        for t in tags), wheel
    gomp = os.listdir(LIBS)
    assert len(gomp) == 1 and VENDORED_GOMP.match(gomp[0]), gomp


def test_a_parallel_op_runs_on_the_vendored_openmp_runtime(tmp_path):
    # a fresh interpreter: this session may have loaded torch, and torch its own libgomp
    code = textwrap.dedent("""
        import json, os
        import numpy as np
        import fastconv
        x = np.ones((2, 8, 32, 32), np.float32)
        w = np.ones((8, 8, 3, 3), np.float32)
        y = fastconv.conv2d(x, w, padding=1, num_threads=2)
        assert y[0, 0, 5, 5] == 72.0
        maps = [line.split(None, 5)[5] for line in open("/proc/self/maps")
                if len(line.split(None, 5)) == 6]
        omp = sorted({p for p in maps if os.path.basename(p).startswith(("libgomp", "libomp",
                                                                        "libiomp"))})
        print(json.dumps({"omp": omp, "threads": len(os.listdir("/proc/self/task"))}))
        """)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OMP_NUM_THREADS")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    omp = json.loads(proc.stdout)["omp"]
    assert len(omp) == 1, f"OpenMP runtimes mapped: {omp}"
    assert os.path.dirname(os.path.realpath(omp[0])) == os.path.realpath(LIBS), omp
    assert VENDORED_GOMP.match(os.path.basename(omp[0])), omp


def test_extensions_resolve_openmp_inside_the_package():
    ldd = shutil.which("ldd")
    assert ldd, "ldd is needed to check the installed extensions"
    linked = []
    for so in _extensions():
        out = subprocess.run([ldd, so], capture_output=True, text=True, check=True).stdout
        deps = dict(re.findall(r"^\s*(\S+) => (\S+)", out, re.M))
        assert "not found" not in deps.values(), out
        assert not any(name.startswith("libgomp.so") for name in deps), out   # the system's
        for name, path in deps.items():
            if name.startswith("libgomp"):
                assert VENDORED_GOMP.match(name), out
                assert os.path.dirname(os.path.realpath(path)) == os.path.realpath(LIBS), out
                linked.append(os.path.basename(so).split(".")[0])
    # every parallel extension; _classic (the serial cs231n baseline of the benchmark) has none
    assert sorted(linked) == ["_engine", "_gemm", "_threads"], linked


def test_installed_files_are_only_what_runs():
    files = [str(f) for f in importlib.metadata.files("fastconv")]
    unexpected = [f for f in files if not (
        re.fullmatch(r"fastconv(/[A-Za-z_]\w*)*/\w+\.py", f)
        or re.fullmatch(r"fastconv/_kernels/_\w+\.cpython-\d+-x86_64-linux-gnu\.so", f)
        or (f.startswith("fastconv.libs/") and VENDORED_GOMP.match(f.split("/", 1)[1]))
        or f.startswith("fastconv-" + fastconv.__version__ + ".dist-info/")
        or f.startswith(("fastconv/__pycache__/", "fastconv/_kernels/__pycache__/",
                         "fastconv/examples/__pycache__/"))
        or f.startswith("../../../bin/fastconv"))]
    assert not unexpected, f"the wheel installed files it does not need: {unexpected}"
    assert "fastconv/examples/digits.py" in files    # the demo ships
    assert not any(f.startswith("tests/") or "/tests/" in f for f in files)
