"""fastconv: fast convolution, im2col and pooling kernels for NumPy arrays.

NCHW data, OIHW weights and the argument names of ``torch.nn.functional``;
compiled Cython kernels that release the GIL and run in parallel with OpenMP.
"""
from ._parallel import get_num_threads, openmp_enabled, set_num_threads
from ._validation import conv_output_size
from ._version import __version__
from .conv import (
    conv1d,
    conv1d_backward,
    conv2d,
    conv2d_backward,
    conv_transpose1d,
    conv_transpose2d,
)
from .im2col import col2im, im2col
from .pool import (
    avg_pool1d,
    avg_pool1d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    max_pool1d,
    max_pool1d_backward,
    max_pool2d,
    max_pool2d_backward,
)

__all__ = [
    "__version__",
    "avg_pool1d",
    "avg_pool1d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "col2im",
    "conv1d",
    "conv1d_backward",
    "conv2d",
    "conv2d_backward",
    "conv_output_size",
    "conv_transpose1d",
    "conv_transpose2d",
    "get_num_threads",
    "im2col",
    "max_pool1d",
    "max_pool1d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "openmp_enabled",
    "set_num_threads",
]
