"""fastconv: fast convolution, im2col and pooling kernels for NumPy arrays.

NCHW data, OIHW weights and the argument names of ``torch.nn.functional``;
compiled Cython kernels that release the GIL and run in parallel with OpenMP.
"""
from ._version import __version__

__all__ = [
    "__version__",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool1d_backward",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool3d",
    "adaptive_avg_pool3d_backward",
    "adaptive_max_pool1d",
    "adaptive_max_pool1d_backward",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_backward",
    "adaptive_max_pool3d",
    "adaptive_max_pool3d_backward",
    "algorithms",
    "avg_pool1d",
    "avg_pool1d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "avg_pool3d",
    "avg_pool3d_backward",
    "col2im",
    "conv1d",
    "conv1d_backward",
    "conv2d",
    "conv2d_backward",
    "conv3d",
    "conv3d_backward",
    "conv_output_size",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_transpose1d_backward",
    "conv_transpose2d_backward",
    "conv_transpose3d_backward",
    "get_num_threads",
    "im2col",
    "max_pool1d",
    "max_pool1d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "max_pool3d",
    "max_pool3d_backward",
    "openmp_enabled",
    "plan",
    "set_num_threads",
    "tuning",
    "show_config",
]


def _raise_build_error(error):
    """Raise an ImportError saying why the compiled kernels cannot be imported and how
    to fix it (scikit-learn's ``__check_build`` is the model)."""
    import glob
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    kernels = os.path.join(here, "_kernels")
    try:
        present = sorted(os.listdir(kernels))
    except OSError:
        present = []
    listing = "\n".join("    " + name for name in present) or "    (nothing)"
    built = [n for n in present if n.endswith((".so", ".pyd"))]
    msg = [f"fastconv's compiled kernels cannot be imported: {error}",
           f"The package imported from {here}; its _kernels directory contains:",
           listing]
    # a source checkout shadowing an installed copy (e.g. `python -m fastconv` run in the
    # repository root after `pip install .`)
    source_tree = os.path.isfile(os.path.join(os.path.dirname(here), "setup.py"))
    installed = []
    for entry in sys.path:
        candidate = os.path.join(os.path.abspath(entry or os.getcwd()), "fastconv")
        if candidate != here and candidate not in installed and any(
                f.endswith((".so", ".pyd"))
                for f in glob.glob(os.path.join(candidate, "_kernels", "_engine.*"))):
            installed.append(candidate)
    if source_tree and installed and not built:
        msg.append(f"This is an unbuilt source checkout, found before the installed copy in "
                   f"{installed[0]}: run Python from another directory (outside "
                   f"{os.path.dirname(here)}) to use the installed copy, or build this "
                   f"checkout in place.")
    if built:
        msg.append("Some extension modules are there but do not import: the build is "
                   "incomplete or made for another Python or platform. Rebuild it:")
    else:
        msg.append("The extension modules have not been built. Build them:")
    msg.append("    pip install .                          (from the source directory), or")
    msg.append("    python setup.py build_ext --inplace    (to work on the source tree)")
    msg.append("and import fastconv again.")
    raise ImportError("\n".join(msg)) from error


try:
    from ._kernels import _gemm, _engine, _threads  # noqa: F401
except ImportError as _error:
    _raise_build_error(_error)
else:
    from ._config import show_config
    from .adaptive import (
        adaptive_avg_pool1d, adaptive_avg_pool1d_backward, adaptive_avg_pool2d,
        adaptive_avg_pool2d_backward, adaptive_avg_pool3d, adaptive_avg_pool3d_backward,
        adaptive_max_pool1d, adaptive_max_pool1d_backward, adaptive_max_pool2d,
        adaptive_max_pool2d_backward, adaptive_max_pool3d, adaptive_max_pool3d_backward,
    )
    from ._engine import algorithms, plan, tuning
    from ._parallel import get_num_threads, openmp_enabled, set_num_threads
    from ._validation import conv_output_size
    from .conv import (
        conv1d, conv1d_backward, conv2d, conv2d_backward, conv3d, conv3d_backward,
        conv_transpose1d, conv_transpose1d_backward, conv_transpose2d,
        conv_transpose2d_backward, conv_transpose3d, conv_transpose3d_backward,
    )
    from .im2col import col2im, im2col
    from .pool import (
        avg_pool1d, avg_pool1d_backward, avg_pool2d, avg_pool2d_backward, avg_pool3d,
        avg_pool3d_backward, max_pool1d, max_pool1d_backward, max_pool2d, max_pool2d_backward,
        max_pool3d, max_pool3d_backward,
    )
