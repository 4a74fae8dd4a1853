# cython: language_level=3
"""Max and average pooling kernels, forward and backward (2-D; 1-D uses H = 1).

One flat ``prange`` over the N*C planes: every task reads one input plane and
writes one output plane, so backward ``+=`` writes never collide and every
element is summed in the same order whatever the thread count.

Semantics follow ATen: padding is never a value, a window's maximum starts at
-inf and is replaced when ``v > max or v != v`` (NaN wins), indices are
offsets within the H*W plane; the average divisor is the window clipped to the
padded input (``count_include_pad``) or to the input itself.

The wrappers in ``fastconv/pool.py`` validate everything first; nothing here
raises.
"""
cimport cython
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY
from libc.stdint cimport int64_t

cdef extern from "fc_omp.h" nogil:
    pass


cdef inline Py_ssize_t first_valid(Py_ssize_t start, Py_ssize_t d) noexcept nogil:
    """Smallest start + t*d >= 0 (t >= 0)."""
    if start >= 0:
        return start
    return start + ((-start + d - 1) // d) * d


@cython.boundscheck(False)
@cython.wraparound(False)
def max_pool2d_forward(const floating[:, :, :, ::1] x,     # IN  (N, C, H, W)
                       floating[:, :, :, ::1] out,         # OUT (N, C, OH, OW)
                       int64_t[:, :, :, ::1] indices,      # OUT (N, C, OH, OW) if want_indices
                       bint want_indices,
                       Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                       Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw,
                       int n_threads):
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t plane, n, c, oy, ox, hs, ws_, iy, ix, i, j, best
    cdef floating m, v
    cdef const floating *xp
    with nogil:
        for plane in prange(N * C, num_threads=n_threads, schedule="static"):
            n = plane // C
            c = plane % C
            xp = &x[n, c, 0, 0]
            for oy in range(OH):
                hs = first_valid(oy * sh - pt, dh)
                for ox in range(OW):
                    ws_ = first_valid(ox * sw - pl, dw)
                    m = -INFINITY
                    best = hs * W + ws_
                    iy = hs
                    while iy < H and iy < oy * sh - pt + kh * dh:
                        ix = ws_
                        while ix < W and ix < ox * sw - pl + kw * dw:
                            v = xp[iy * W + ix]
                            if v > m or v != v:
                                m = v
                                best = iy * W + ix
                            ix = ix + dw
                        iy = iy + dh
                    out[n, c, oy, ox] = m
                    if want_indices:
                        indices[n, c, oy, ox] = best


@cython.boundscheck(False)
@cython.wraparound(False)
def max_pool2d_backward(const floating[:, :, :, ::1] go,       # IN  (N, C, OH, OW)
                        const int64_t[:, :, :, ::1] indices,   # IN  (N, C, OH, OW)
                        floating[:, :, :, ::1] gx,             # OUT (N, C, H, W), zero-filled
                        int n_threads):
    """Route grad_output to the argmax positions.  Returns how many indices were
    outside [0, H*W) (those are skipped; the caller raises)."""
    cdef Py_ssize_t N = go.shape[0], C = go.shape[1], OH = go.shape[2], OW = go.shape[3]
    cdef Py_ssize_t HW = gx.shape[2] * gx.shape[3]
    cdef Py_ssize_t plane, n, c, oy, ox
    cdef int64_t k
    cdef Py_ssize_t bad = 0
    cdef floating *gp
    with nogil:
        for plane in prange(N * C, num_threads=n_threads, schedule="static"):
            n = plane // C
            c = plane % C
            gp = &gx[n, c, 0, 0] if HW > 0 else NULL
            for oy in range(OH):
                for ox in range(OW):
                    k = indices[n, c, oy, ox]
                    if k < 0 or k >= HW:
                        bad += 1
                    else:
                        gp[k] = gp[k] + go[n, c, oy, ox]
    return bad


cdef inline Py_ssize_t clamp(Py_ssize_t v, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    return lo if v < lo else (hi if v > hi else v)


# Window bounds are computed by plain assignments inside the prange bodies:
# Cython makes assigned variables thread-private, but not variables written
# only through a pointer (those would be shared between threads -- a race).


@cython.boundscheck(False)
@cython.wraparound(False)
def avg_pool2d_forward(const floating[:, :, :, ::1] x,     # IN  (N, C, H, W)
                       floating[:, :, :, ::1] out,         # OUT (N, C, OH, OW)
                       Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                       Py_ssize_t pt, Py_ssize_t pb, Py_ssize_t pl, Py_ssize_t pr,
                       bint count_include_pad, int n_threads):
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t plane, n, c, oy, ox, y0, y1, x0, x1, ph, pw, iy, ix, div
    cdef floating s
    cdef const floating *xp
    with nogil:
        for plane in prange(N * C, num_threads=n_threads, schedule="static"):
            n = plane // C
            c = plane % C
            xp = &x[n, c, 0, 0]
            for oy in range(OH):
                y0 = oy * sh - pt
                y1 = y0 + kh if y0 + kh < H + pb else H + pb
                ph = y1 - y0
                y0 = clamp(y0, 0, H)
                y1 = clamp(y1, 0, H)
                for ox in range(OW):
                    x0 = ox * sw - pl
                    x1 = x0 + kw if x0 + kw < W + pr else W + pr
                    pw = x1 - x0
                    x0 = clamp(x0, 0, W)
                    x1 = clamp(x1, 0, W)
                    s = 0
                    for iy in range(y0, y1):
                        for ix in range(x0, x1):
                            s = s + xp[iy * W + ix]
                    div = ph * pw if count_include_pad else (y1 - y0) * (x1 - x0)
                    out[n, c, oy, ox] = s / div


@cython.boundscheck(False)
@cython.wraparound(False)
def avg_pool2d_backward(const floating[:, :, :, ::1] go,   # IN  (N, C, OH, OW)
                        floating[:, :, :, ::1] gx,         # OUT (N, C, H, W), zero-filled
                        Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                        Py_ssize_t pt, Py_ssize_t pb, Py_ssize_t pl, Py_ssize_t pr,
                        bint count_include_pad, int n_threads):
    cdef Py_ssize_t N = gx.shape[0], C = gx.shape[1], H = gx.shape[2], W = gx.shape[3]
    cdef Py_ssize_t OH = go.shape[2], OW = go.shape[3]
    cdef Py_ssize_t plane, n, c, oy, ox, y0, y1, x0, x1, ph, pw, iy, ix, div
    cdef floating gval
    cdef floating *gp
    with nogil:
        for plane in prange(N * C, num_threads=n_threads, schedule="static"):
            n = plane // C
            c = plane % C
            gp = &gx[n, c, 0, 0]
            for oy in range(OH):
                y0 = oy * sh - pt
                y1 = y0 + kh if y0 + kh < H + pb else H + pb
                ph = y1 - y0
                y0 = clamp(y0, 0, H)
                y1 = clamp(y1, 0, H)
                for ox in range(OW):
                    x0 = ox * sw - pl
                    x1 = x0 + kw if x0 + kw < W + pr else W + pr
                    pw = x1 - x0
                    x0 = clamp(x0, 0, W)
                    x1 = clamp(x1, 0, W)
                    div = ph * pw if count_include_pad else (y1 - y0) * (x1 - x0)
                    gval = go[n, c, oy, ox] / div
                    for iy in range(y0, y1):
                        for ix in range(x0, x1):
                            gp[iy * W + ix] = gp[iy * W + ix] + gval
