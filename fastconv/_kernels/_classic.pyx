# cython: language_level=3
"""The classic teaching implementation of im2col / col2im, for the benchmark only.

This is the approach of the CS231n assignments that many NumPy CNNs still
use: pad the whole batch with ``np.pad``, then fill a ``(C*k*k, OH*OW*N)``
matrix element by element in a plain serial Cython loop (batch index
innermost in the columns), and let one large matmul do the rest.  It is a
baseline that ``python -m fastconv bench`` compares against, not part of the
public API.
"""
cimport cython
from cython cimport floating

import numpy as np


def im2col_classic(floating[:, :, :, :] xp, floating[:, ::1] cols, int k, int stride,
                   int OH, int OW):
    """cols[c*k*k + i*k + j, (y*OW + x)*N + n] = xp[n, c, y*stride + i, x*stride + j]."""
    cdef int N = xp.shape[0], C = xp.shape[1]
    cdef int c, i, j, y, x, n, row, col
    for c in range(C):
        for y in range(OH):
            for x in range(OW):
                for i in range(k):
                    for j in range(k):
                        row = c * k * k + i * k + j
                        for n in range(N):
                            col = (y * OW + x) * N + n
                            cols[row, col] = xp[n, c, stride * y + i, stride * x + j]


def col2im_classic(floating[:, ::1] cols, floating[:, :, :, ::1] xp, int k, int stride,
                   int OH, int OW):
    """The adjoint: xp[n, c, y*stride + i, x*stride + j] += cols[row, col]."""
    cdef int N = xp.shape[0], C = xp.shape[1]
    cdef int c, i, j, y, x, n, row, col
    for c in range(C):
        for i in range(k):
            for j in range(k):
                row = c * k * k + i * k + j
                for y in range(OH):
                    for x in range(OW):
                        for n in range(N):
                            col = (y * OW + x) * N + n
                            xp[n, c, stride * y + i, stride * x + j] += cols[row, col]
