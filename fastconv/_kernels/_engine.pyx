# cython: language_level=3
"""fastconv's kernels: every op, every direction, rank 1 to 3, from one problem struct.

Each kernel takes a ``const fc_problem *`` (``fc_problem.h``): sizes lifted to three
spatial dimensions (D, H, W; a 2-D problem has D = 1, a 1-D problem D = H = 1), the
chosen algorithm and its parameters.  :class:`Desc` builds that struct once per plan
from the Python problem (``fastconv/_problem.py``); :func:`run` is the one entry point:
it checks every buffer's dtype, size and strides against the struct, releases the GIL
and calls the algorithm's kernel.  The workspace each algorithm needs, its layout and
its task count are computed here (``fc_workspace``, ``fc_tasks``) from the same struct,
and exported to Python through ``Desc``: nothing about workspaces is computed twice.

Work split: every kernel is one flat ``prange(tasks, schedule="static")`` over tasks
fixed by the shape (never by the thread count), each output element produced by one
task that sums in a fixed order, so results are bitwise identical for any number of
threads.  Nothing here raises inside a parallel region; the wrappers validate first.

The kernels themselves are in ``conv_kernels.pxi`` (convolution, im2col, col2im),
``depthwise_kernels.pxi`` (depthwise convolution; its row loops in ``fc_depthwise.h``),
``regions_kernels.pxi`` (convolutions split into regions of constant valid taps)
and ``pool_kernels.pxi`` (max and average pooling).
"""
cimport cython
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.math cimport INFINITY
from libc.stdint cimport int32_t, int64_t
from libc.string cimport memcpy, memset

from fastconv._kernels._ranges cimport valid_range

cdef extern from "fc_omp.h" nogil:
    pass

cdef extern from "fc_problem.h" nogil:
    enum:
        FC_OP_CONV
        FC_OP_MAX_POOL
        FC_OP_AVG_POOL
        FC_OP_UNFOLD
        FC_OP_ADAPTIVE_MAX_POOL
        FC_OP_ADAPTIVE_AVG_POOL
        FC_FORWARD
        FC_GRAD_INPUT
        FC_GRAD_WEIGHT
        FC_GRAD_BIAS
        FC_PAD_ZEROS
        FC_PAD_REFLECT
        FC_PAD_REPLICATE
        FC_PAD_CIRCULAR
        FC_CHANNELS_FIRST
        FC_CHANNELS_LAST
    ctypedef struct fc_problem:
        int op, direction, rank, itemsize, padding_mode, algo, layout
        Py_ssize_t N, C, O, groups, Cg, Og
        Py_ssize_t in_ "in"[3]
        Py_ssize_t out[3]
        Py_ssize_t k[3]
        Py_ssize_t s[3]
        Py_ssize_t d[3]
        Py_ssize_t pb[3]
        Py_ssize_t pa[3]
        Py_ssize_t x_stride[5]
        Py_ssize_t y_stride[5]
        Py_ssize_t w_stride[5]
        int count_include_pad, want_indices
        Py_ssize_t divisor
        Py_ssize_t taps, Kg, in_vol, out_plane, L
        Py_ssize_t lt, blk, chunks
    ctypedef struct fc_workspace_layout:
        Py_ssize_t ints, got, main, per_thread, shared

from fastconv._kernels._gemm cimport (
    gemm_nn_f32, gemm_nn_f64, gemm_ind_f32, gemm_ind_f64, gemm_ind_acc_f32, gemm_ind_acc_f64,
    gemm_rows_f32, gemm_rows_f64, FC_KC)
from fastconv._kernels import _gemm

cnp.import_array()


def gemm_variant():
    """The GEMM micro-kernel chosen for this CPU: 'avx512', 'avx2' or 'generic'."""
    return _gemm.variant()


def gemm_panel_width(bint is_f64):
    """Columns per GEMM panel (the micro-kernel's NR) for float32 / float64."""
    return _gemm.panel_width(is_f64)


cdef inline void gemm_nn(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                         const floating *A, Py_ssize_t lda, const floating *B, Py_ssize_t ldb,
                         floating *C, Py_ssize_t ldc, int accumulate) noexcept nogil:
    if floating is float:
        gemm_nn_f32(M, N, K, A, lda, B, ldb, C, ldc, accumulate)
    else:
        gemm_nn_f64(M, N, K, A, lda, B, ldb, C, ldc, accumulate)


cdef inline void gemm_ind(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                          const floating *A, Py_ssize_t lda, const floating *S,
                          const Py_ssize_t *offs, const Py_ssize_t *cols,
                          floating *C, Py_ssize_t ldc, const floating *rowinit) noexcept nogil:
    """C = rowinit (per row; zeros if NULL) + A . B, B[k][n] = S[offs[k] + cols[n]]."""
    if floating is float:
        gemm_ind_f32(M, N, K, A, lda, S, offs, cols, C, ldc, rowinit)
    else:
        gemm_ind_f64(M, N, K, A, lda, S, offs, cols, C, ldc, rowinit)


cdef inline void gemm_ind_acc(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                              const floating *A, Py_ssize_t lda, const floating *S,
                              const Py_ssize_t *offs, const Py_ssize_t *cols,
                              floating *C, Py_ssize_t ldc) noexcept nogil:
    """C += A . B, B[k][n] = S[offs[k] + cols[n]]."""
    if floating is float:
        gemm_ind_acc_f32(M, N, K, A, lda, S, offs, cols, C, ldc)
    else:
        gemm_ind_acc_f64(M, N, K, A, lda, S, offs, cols, C, ldc)


cdef inline void gemm_rows(Py_ssize_t M, Py_ssize_t N, const floating *S,
                           const Py_ssize_t *aoffs, const Py_ssize_t *seg_src,
                           const Py_ssize_t *seg_len, Py_ssize_t nseg,
                           const floating *B, Py_ssize_t ldb,
                           floating *C, Py_ssize_t ldc) noexcept nogil:
    if floating is float:
        gemm_rows_f32(M, N, S, aoffs, seg_src, seg_len, nseg, B, ldb, C, ldc)
    else:
        gemm_rows_f64(M, N, S, aoffs, seg_src, seg_len, nseg, B, ldb, C, ldc)


include "problem.pxi"
include "conv_kernels.pxi"
include "depthwise_kernels.pxi"
include "pool_kernels.pxi"
include "reduce_kernels.pxi"
include "regions_kernels.pxi"
include "nhwc_conv_kernels.pxi"
include "nhwc_depthwise_kernels.pxi"
include "nhwc_pool_kernels.pxi"
include "nhwc_unfold_kernels.pxi"
include "adaptive_kernels.pxi"
include "winograd_kernels.pxi"
include "entry.pxi"
