"""setup.py's OpenMP probe: the sdist builds on a compiler with OpenMP and on one without.

``check_openmp_support`` compiles, links and runs a small OpenMP program; when that fails the
build is the serial one (the same path as ``FASTCONV_NO_OPENMP=1``, which .ci/run builds from
the sdist and tests).  "A compiler without OpenMP" is the machine's C compiler behind a wrapper
that rejects every OpenMP flag, as a compiler without OpenMP support does.  Skipped only where
there is no setup.py beside the tests or no C compiler at all (an installed wheel on a user's
machine).
"""
import importlib.util
import os
import shutil
import stat
import sys

import pytest

import fastconv

SETUP_PY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "setup.py")
CC = os.environ.get("CC", "").split()[:1] or [shutil.which("cc") or shutil.which("gcc") or ""]

pytestmark = [
    pytest.mark.skipif(not os.path.isfile(SETUP_PY), reason="no setup.py beside the tests"),
    pytest.mark.skipif(not shutil.which(CC[0] or "cc"), reason="no C compiler"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="GCC-style flags (Linux)"),
]


@pytest.fixture(scope="module")
def setup_module_():
    pytest.importorskip("setuptools")
    spec = importlib.util.spec_from_file_location("_fastconv_setup", SETUP_PY)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)        # defines the probe; setup() runs only as __main__
    return mod


def _compiler(cc=None):
    try:
        from setuptools._distutils import ccompiler, sysconfig
    except ImportError:                 # setuptools before the vendored distutils
        from distutils import ccompiler, sysconfig
    compiler = ccompiler.new_compiler()
    sysconfig.customize_compiler(compiler)
    if cc is not None:                  # same flags, another compiler driver
        for name in ("compiler", "compiler_so", "linker_exe"):
            cmd = list(getattr(compiler, name))
            compiler.set_executables(**{name: [cc] + cmd[1:]})
    return compiler


def _no_openmp_cc(tmp_path):
    real = shutil.which(CC[0] or "cc")
    path = tmp_path / "cc-without-openmp"
    path.write_text(
        "#!/bin/sh\n"
        "for a in \"$@\"; do case \"$a\" in -fopenmp*|-openmp|-qopenmp|-lomp|-lgomp|-liomp5)\n"
        "  echo \"cc-without-openmp: error: unsupported option '$a'\" >&2; exit 1;; esac; done\n"
        f"exec '{real}' \"$@\"\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_the_compiler_with_openmp_is_found(setup_module_, monkeypatch):
    monkeypatch.delenv("FASTCONV_NO_OPENMP", raising=False)
    found = setup_module_.check_openmp_support(_compiler())
    if fastconv.openmp_enabled():       # this machine built the fastconv under test with it
        assert found is not None and "-fopenmp" in found[0], found


def test_a_compiler_without_openmp_gives_the_serial_build(setup_module_, tmp_path, monkeypatch):
    monkeypatch.delenv("FASTCONV_NO_OPENMP", raising=False)
    cc = _no_openmp_cc(tmp_path)
    compiler = _compiler(cc)
    # the wrapper is a working compiler for plain C: only OpenMP is missing
    src = tmp_path / "plain.c"
    src.write_text("int main(void) { return 0; }\n")
    objs = compiler.compile([str(src)], output_dir=str(tmp_path))
    compiler.link_executable(objs, str(tmp_path / "plain"))
    assert os.access(tmp_path / "plain", os.X_OK)
    assert setup_module_.check_openmp_support(compiler) is None


def test_fastconv_no_openmp_skips_the_probe(setup_module_, monkeypatch):
    monkeypatch.setenv("FASTCONV_NO_OPENMP", "1")
    assert setup_module_.check_openmp_support(_compiler()) is None
