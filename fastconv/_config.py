"""Build and run-time configuration: :func:`fastconv.show_config`.

Everything here is read from the compiled modules (what setup.py recorded in
``fastconv._kernels._gemm`` when it built them) and from the running process;
nothing is guessed from the source tree.
"""
import os
import platform
import sys

import numpy as np

from . import _parallel
from ._kernels import _gemm
from ._version import __version__

# _OPENMP (yyyymm of the specification) -> OpenMP version
_OPENMP_VERSIONS = {200505: "2.5", 200805: "3.0", 201107: "3.1", 201307: "4.0", 201511: "4.5",
                    201811: "5.0", 202011: "5.1", 202111: "5.2", 202411: "6.0"}
_OPENMP_RUNTIMES = ("libgomp", "libomp", "libiomp", "vcomp")


def _openmp_runtimes():
    """Paths of the OpenMP runtime libraries mapped into this process (Linux), or None.

    Read from ``/proc/self/maps``, so it is the library actually loaded (a vendored
    ``libgomp-<hash>.so`` of a wheel included), not the one the build linked against.
    """
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    found = []
    for line in lines:
        path = line.split(None, 5)[5] if len(line.split(None, 5)) == 6 else ""
        if os.path.basename(path).startswith(_OPENMP_RUNTIMES) and path not in found:
            found.append(path)
    return found


def _thread_source():
    """Where :func:`fastconv.get_num_threads`'s value comes from, in words."""
    if _parallel._override is not None:
        return "set_num_threads"
    if not _parallel.openmp_enabled():
        return "serial build (no OpenMP)"
    env = os.environ.get("OMP_NUM_THREADS")
    if env:
        return f"OMP_NUM_THREADS={env}"
    return (f"OpenMP's default (omp_get_max_threads(); {os.cpu_count()} CPUs, "
            "threadpoolctl limits included)")


def _config():
    build = _gemm.build_info()
    blocking = _gemm.default_blocking()
    omp = build["openmp"]
    enabled = _parallel.openmp_enabled()
    return {
        "fastconv": {
            "version": __version__,
            "location": os.path.dirname(os.path.abspath(__file__)),
        },
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
            "machine": platform.machine(),
        },
        "numpy": {"version": np.__version__},
        "build": {
            "compiler": build["compiler"] or None,
            "compiler_version": build["compiler_version"] or None,
            "cflags": build["cflags"],
            "ldflags": build["ldflags"],
        },
        "openmp": {
            "enabled": enabled,
            "version": (f"{omp} (OpenMP {_OPENMP_VERSIONS.get(omp, '?')})" if omp else None),
            "runtime": _openmp_runtimes() if enabled else [],
        },
        "simd": {
            "gemm_variant": _gemm.variant(),
            "forced_by": ("FASTCONV_GEMM=" + os.environ["FASTCONV_GEMM"]
                          if os.environ.get("FASTCONV_GEMM") else None),
            "cpu_features": build["cpu_features"],
            "panel_width": {"float32": _gemm.panel_width(False),
                            "float64": _gemm.panel_width(True)},
            "blocking": {dt: dict(blocking[dt]) for dt in ("float32", "float64")},
            "kc_max": blocking["kc_max"],
        },
        "threads": {
            "default": _parallel.get_num_threads(),
            "source": _thread_source(),
            "serial_threshold": _parallel.SERIAL_WORK,
        },
    }


def _render(value):
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def show_config(mode="stdout"):
    """Show how fastconv was built and how it will run here.

    Like :func:`numpy.show_config`: the fastconv, Python and NumPy versions;
    the compiler that built the extension modules and its flags; OpenMP (whether
    the build has it, its ``_OPENMP`` version, and the runtime library actually
    loaded into this process); the GEMM micro-kernel variant chosen for this CPU
    (and the CPU's SIMD features), with its panel widths and blocking; the
    default thread count and where it comes from; the serial threshold. Include
    its output in bug reports and with benchmark results.

    Parameters
    ----------
    mode : {"stdout", "dicts"}, default="stdout"
        ``"stdout"`` prints the configuration; ``"dicts"`` returns it.

    Returns
    -------
    dict or None
        With ``mode="dicts"``, a dict of sections (``"fastconv"``, ``"python"``,
        ``"numpy"``, ``"build"``, ``"openmp"``, ``"simd"``, ``"threads"``), each a
        dict of plain values; ``None`` with ``mode="stdout"``.

    Raises
    ------
    ValueError
        ``mode`` is neither ``"stdout"`` nor ``"dicts"``.

    See Also
    --------
    openmp_enabled : Whether the build has OpenMP.
    get_num_threads : The default thread count.

    Notes
    -----
    ``simd.gemm_variant`` is ``"avx512"``, ``"avx2"`` or ``"generic"``: the best
    the CPU supports, unless the environment variable ``FASTCONV_GEMM`` forced a
    lower one when fastconv was imported (``simd.forced_by``). ``threads.source``
    is ``"set_num_threads"``, ``"OMP_NUM_THREADS=<value>"``, OpenMP's default or
    the serial build. Problems of fewer than ``threads.serial_threshold``
    multiply-adds run on one thread whatever the thread count.

    Examples
    --------
    >>> import fastconv
    >>> config = fastconv.show_config(mode="dicts")
    >>> sorted(config)
    ['build', 'fastconv', 'numpy', 'openmp', 'python', 'simd', 'threads']
    >>> config["simd"]["gemm_variant"] in ("avx512", "avx2", "generic")
    True
    >>> config["threads"]["default"] == fastconv.get_num_threads()
    True
    >>> fastconv.show_config()  # doctest: +SKIP
    """
    if mode not in ("stdout", "dicts"):
        raise ValueError(f'`mode` must be "stdout" or "dicts", got {mode!r}')
    config = _config()
    if mode == "dicts":
        return config
    for section, items in config.items():
        print(f"{section}:")
        width = max(len(k) for k in items)
        for key, value in items.items():
            if isinstance(value, dict) and value and all(isinstance(v, dict)
                                                         for v in value.values()):
                print(f"  {key}:")
                for sub, inner in value.items():
                    print(f"    {sub}: {_render(inner)}")
            else:
                print(f"  {key + ':':<{width + 1}} {_render(value)}")
    return None
