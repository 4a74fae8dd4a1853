"""Build script: Cython extension modules, with OpenMP where the compiler has it.

Environment switches (build time):

* ``FASTCONV_DEBUG=1``: Cython bounds and wraparound checks on, ``-O0 -g`` --
  for debugging and sanitizer runs.
* ``FASTCONV_NO_OPENMP=1``: build the serial version even if OpenMP works.
* ``FASTCONV_EXTRA_CFLAGS`` / ``FASTCONV_EXTRA_LDFLAGS``: appended flags
  (e.g. ``-fsanitize=address``).

Nothing here adds ``-march=native``: wheels must run on any x86-64.  Wide SIMD
comes from per-function target attributes in ``fastconv/_kernels/fc_gemm.c``,
chosen at import time from the CPU's features.  That file is compiled once, into
``fastconv._kernels._gemm``; the other extensions cimport its functions.
"""
import glob
import os
import shlex
import sys
import tempfile
import textwrap

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
KERNELS = os.path.join("fastconv", "_kernels")
MODULES = ["_gemm", "_engine", "_threads", "_classic"]
# C sources compiled into one extension only (the GEMM is compiled once, in _gemm; the
# FMA-peak probe of the benchmark beside it, in the GEMM's variants)
EXTRA_SOURCES = {"_gemm": [os.path.join(KERNELS, "fc_gemm.c"), os.path.join(KERNELS, "fc_probe.c")]}


def _flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def check_openmp_support(compiler):
    """Compile, link and run a small OpenMP program (as scikit-learn's build does)."""
    if _flag("FASTCONV_NO_OPENMP"):
        return None
    if compiler.compiler_type == "msvc":
        candidates = [(["/openmp"], [])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"]), (["-Xpreprocessor", "-fopenmp"], ["-lomp"])]
    code = textwrap.dedent(
        """
        #include <omp.h>
        #include <stdio.h>
        int main(void) {
            int n = 0;
            #pragma omp parallel reduction(+:n)
            n += 1;
            printf("%d\\n", n > 0);
            return n > 0 ? 0 : 1;
        }
        """
    )
    for cflags, ldflags in candidates:
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "test_openmp.c")
            with open(src, "w") as f:
                f.write(code)
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
                exe = os.path.join(tmp, "test_openmp")
                compiler.link_executable(objs, exe, extra_postargs=ldflags)
                if os.system(shlex.quote(exe) + " > " + os.devnull) != 0:
                    continue
            except Exception:  # the compiler or linker refused the flags
                continue
            return cflags, ldflags
    return None


class BuildExt(build_ext):
    def build_extensions(self):
        omp = check_openmp_support(self.compiler)
        if omp is None:
            print("fastconv: OpenMP not available -- building the serial version", file=sys.stderr)
        else:
            print("fastconv: building with OpenMP (%s)" % " ".join(omp[0]), file=sys.stderr)
        debug = _flag("FASTCONV_DEBUG")
        extra_c = shlex.split(os.environ.get("FASTCONV_EXTRA_CFLAGS", ""))
        extra_l = shlex.split(os.environ.get("FASTCONV_EXTRA_LDFLAGS", ""))
        for ext in self.extensions:
            cflags = ["-O0", "-g"] if debug else ["-O3"]
            cflags += ["-fno-math-errno", "-Wno-unused-function", "-Wno-unreachable-code"]
            ldflags = []
            if omp is not None:
                cflags += omp[0]
                ldflags += omp[1]
            ext.extra_compile_args = cflags + extra_c
            ext.extra_link_args = ldflags + extra_l
            if ext.name == "fastconv._kernels._gemm":  # for fastconv.show_config()
                cc = getattr(self.compiler, "compiler_so", None) or [self.compiler.compiler_type]
                ext.define_macros = list(ext.define_macros) + [
                    ("FC_BUILD_COMPILER", _c_string(" ".join(cc))),
                    ("FC_BUILD_CFLAGS", _c_string(" ".join(ext.extra_compile_args))),
                    ("FC_BUILD_LDFLAGS", _c_string(" ".join(ext.extra_link_args))),
                ]
        super().build_extensions()


def _c_string(text):
    """``text`` as a C string literal for a -D macro (quotes and backslashes dropped)."""
    return '"%s"' % "".join(ch for ch in text if ch not in '"\\' and ch.isprintable())


def extensions():
    import numpy
    from Cython.Build import cythonize

    debug = _flag("FASTCONV_DEBUG")
    exts = [
        Extension(
            "fastconv._kernels." + name,
            [os.path.join(KERNELS, name + ".pyx")] + EXTRA_SOURCES.get(name, []),
            include_dirs=[KERNELS, numpy.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            # every C header: a header-only change must recompile the extensions
            depends=sorted(glob.glob(os.path.join(KERNELS, "fc_*.h"))),
        )
        for name in MODULES
    ]
    directives = {
        "language_level": 3,
        "boundscheck": debug,
        "wraparound": debug,
        "initializedcheck": debug,
        "cdivision": True,
        "nonecheck": False,
        "embedsignature": True,
    }
    return cythonize(exts, compiler_directives=directives, annotate=False)


# setuptools' build backend runs this file as __main__ too; the guard lets
# tests/test_build_probe.py import check_openmp_support without building anything
if __name__ == "__main__":
    setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
