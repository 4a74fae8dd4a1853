"""fastconv.show_config, and the ImportError of a package whose kernels are not built."""
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastconv
from fastconv._kernels import _gemm

PKG = os.path.dirname(os.path.abspath(fastconv.__file__))
SECTIONS = ["build", "fastconv", "numpy", "openmp", "python", "simd", "threads"]


def _child(code, cwd, pythonpath=None, extra_env=None):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_dicts_has_every_section():
    config = fastconv.show_config(mode="dicts")
    assert sorted(config) == SECTIONS
    assert config["fastconv"]["version"] == fastconv.__version__
    assert config["fastconv"]["location"] == PKG
    assert config["numpy"]["version"] == np.__version__
    assert config["python"]["executable"] == sys.executable
    assert config["openmp"]["enabled"] is fastconv.openmp_enabled()
    simd = config["simd"]
    assert simd["gemm_variant"] == _gemm.variant()
    assert simd["gemm_variant"] in ("avx512", "avx2", "generic")
    assert simd["panel_width"] == {"float32": _gemm.panel_width(False),
                                   "float64": _gemm.panel_width(True)}
    for dt in ("float32", "float64"):
        assert simd["blocking"][dt] == _gemm.default_blocking()[dt]
    assert config["threads"]["default"] == fastconv.get_num_threads()
    assert config["threads"]["serial_threshold"] > 0


def test_compiler_recorded_at_build_time():
    build = fastconv.show_config(mode="dicts")["build"]
    assert build["compiler"]               # the command setup.py compiled with
    assert build["compiler_version"]       # the compiler's own __VERSION__
    assert "-march=native" not in build["cflags"]
    assert ("-O3" in build["cflags"]) or ("-O0" in build["cflags"])


def test_openmp_version_and_runtime():
    omp = fastconv.show_config(mode="dicts")["openmp"]
    if not omp["enabled"]:
        assert omp["runtime"] == []
        pytest.skip("serial build")
    assert omp["version"] and omp["version"][:6].isdigit()   # _OPENMP, e.g. 201511
    if sys.platform.startswith("linux"):
        libs = [os.path.basename(p) for p in omp["runtime"]]
        assert any(name.startswith(("libgomp", "libomp", "libiomp")) for name in libs), libs


def test_cpu_features_agree_with_the_variant():
    simd = fastconv.show_config(mode="dicts")["simd"]
    features = set(simd["cpu_features"])
    if simd["gemm_variant"] == "avx512":
        assert {"avx512f", "avx512vl", "avx512dq", "avx512bw"} <= features
    elif simd["gemm_variant"] == "avx2":
        assert {"avx2", "fma"} <= features


def test_thread_source_follows_set_num_threads():
    try:
        fastconv.set_num_threads(1)
        threads = fastconv.show_config(mode="dicts")["threads"]
        assert threads == dict(threads, default=1, source="set_num_threads")
    finally:
        fastconv.set_num_threads(None)
    assert fastconv.show_config(mode="dicts")["threads"]["source"] != "set_num_threads"


def test_thread_source_names_omp_num_threads(tmp_path):
    if not fastconv.openmp_enabled():
        pytest.skip("serial build")
    proc = _child("""
        import fastconv
        t = fastconv.show_config(mode="dicts")["threads"]
        print(t["default"], t["source"])
        """, tmp_path, [os.path.dirname(PKG)], {"OMP_NUM_THREADS": "3"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["3", "OMP_NUM_THREADS=3"]


def test_forced_variant_is_reported(tmp_path):
    proc = _child("""
        import fastconv
        s = fastconv.show_config(mode="dicts")["simd"]
        print(s["gemm_variant"], s["forced_by"])
        """, tmp_path, [os.path.dirname(PKG)], {"FASTCONV_GEMM": "generic"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["generic", "FASTCONV_GEMM=generic"]


def test_stdout_prints_every_section(capsys):
    assert fastconv.show_config() is None
    out = capsys.readouterr().out
    for section in SECTIONS:
        assert f"\n{section}:\n" in "\n" + out
    assert f"version:  {fastconv.__version__}" in out
    assert f"gemm_variant: {_gemm.variant()}" in out
    assert out == _stdout_of(fastconv.show_config, capsys)   # deterministic


def _stdout_of(func, capsys):
    func()
    return capsys.readouterr().out


def test_bad_mode():
    with pytest.raises(ValueError, match="`mode` must be \"stdout\" or \"dicts\", got 'json'"):
        fastconv.show_config(mode="json")


def test_info_command_prints_the_config(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "fastconv", "info"], cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=os.path.dirname(PKG)),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for section in SECTIONS:
        assert f"\n{section}:\n" in proc.stdout
    assert f"gemm_variant: {_gemm.variant()}" in proc.stdout


# --------------------------------------------------------------------------------------------
# A package without its compiled kernels: an ImportError that says how to fix it
# --------------------------------------------------------------------------------------------

def _unbuilt_copy(root):
    """A copy of the fastconv package under ``root`` without its .so/.pyd files."""
    dest = os.path.join(root, "fastconv")
    shutil.copytree(PKG, dest, ignore=shutil.ignore_patterns(
        "*.so", "*.pyd", "__pycache__"))
    return dest


IMPORT = """
    try:
        import fastconv
    except ImportError as e:
        print(type(e.__cause__).__name__ if e.__cause__ else "no cause")
        print(e)
    else:
        print("imported", fastconv.__file__)
    """


def test_unbuilt_package_raises_an_import_error_that_says_how_to_fix_it(tmp_path):
    pkg = _unbuilt_copy(str(tmp_path))
    proc = _child(IMPORT, tmp_path)
    assert proc.returncode == 0, proc.stderr
    cause, msg = proc.stdout.split("\n", 1)
    assert cause in ("ModuleNotFoundError", "ImportError")     # the original error, chained
    assert f"imported from {pkg}" in msg
    # what the directory holds (a source tree has the .pyx files, a wheel only __init__.py)
    listing = msg.split("contains:", 1)[1]
    assert "__init__.py" in listing and ".so" not in listing
    assert "have not been built" in msg
    assert "pip install ." in msg
    assert "python setup.py build_ext --inplace" in msg
    assert "another directory" not in msg                    # no installed copy to point at


def test_source_checkout_shadowing_an_installed_copy_says_to_run_elsewhere(tmp_path):
    src = tmp_path / "checkout"
    src.mkdir()
    _unbuilt_copy(str(src))
    (src / "setup.py").write_text("# a source checkout\n")
    # the installed copy: this test's own, built package, later on sys.path
    proc = _child(IMPORT, src, [os.path.dirname(PKG)])
    assert proc.returncode == 0, proc.stderr
    msg = proc.stdout
    assert "imported" not in msg.splitlines()[0]             # no silent fallback
    assert "unbuilt source checkout" in msg
    assert f"installed copy in {PKG}" in msg
    assert f"run Python from another directory (outside {src})" in msg
    assert "python setup.py build_ext --inplace" in msg
    # and from another directory the installed copy is what imports
    proc = _child(IMPORT, tmp_path, [os.path.dirname(PKG)])
    assert proc.stdout.strip() == f"imported {os.path.join(PKG, '__init__.py')}"


def test_broken_extension_says_rebuild(tmp_path):
    pkg = _unbuilt_copy(str(tmp_path))
    gemm_so = [f for f in os.listdir(os.path.join(PKG, "_kernels")) if f.startswith("_gemm.")
               and f.endswith((".so", ".pyd"))]
    if not gemm_so:
        pytest.skip("no compiled _gemm next to this package")
    with open(os.path.join(pkg, "_kernels", gemm_so[0]), "wb") as f:
        f.write(b"not a shared object")
    proc = _child(IMPORT, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "do not import" in proc.stdout
    assert "pip install ." in proc.stdout
