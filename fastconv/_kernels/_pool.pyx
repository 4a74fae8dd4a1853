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
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

from fastconv._kernels._ranges cimport valid_range

cdef extern from "fc_omp.h" nogil:
    pass


cdef inline Py_ssize_t first_valid(Py_ssize_t start, Py_ssize_t d) noexcept nogil:
    """Smallest start + t*d >= 0 (t >= 0)."""
    if start >= 0:
        return start
    return start + ((-start + d - 1) // d) * d


cdef void max_plane(const floating *xp, floating *op, int64_t *ip, int32_t *tap,
                    Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                    Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                    Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw) noexcept nogil:
    """Max pooling of one plane, one output row at a time.

    For each window tap (i, j) in row-major order, the whole output row is
    updated with ``v > m or v != v`` -- the same order and rule as visiting
    each window on its own, but the inner loop runs along the row.  With
    ``ip`` (indices wanted), ``tap`` (a row of OW int32) records the winning
    tap, turned into an offset in the plane once the row is done; -1 means
    no element beat -inf and the index is the window's first input element,
    as in ATen.
    """
    cdef Py_ssize_t oy, ox, i, j, iy, x0, lo, hi, hs, i0, i1, j0, j1
    cdef floating *orow
    cdef int64_t *irow
    cdef const floating *src
    cdef floating v, m
    cdef int32_t t
    cdef bint upd
    for oy in range(OH):
        orow = op + oy * OW
        for ox in range(OW):
            orow[ox] = -INFINITY
        if ip != NULL:
            for ox in range(OW):
                tap[ox] = -1
        # only the taps that reach the input: a huge kernel over a small input padded by
        # half of it has few (the loops must not run over all kh*kw taps)
        valid_range(oy * sh - pt, dh, kh, H, &i0, &i1)
        valid_range((OW - 1) * sw - pl, dw, kw, W + (OW - 1) * sw, &j0, &j1)
        for i in range(i0, i1):
            iy = oy * sh - pt + i * dh
            for j in range(j0, j1):
                x0 = j * dw - pl
                valid_range(x0, sw, OW, W, &lo, &hi)
                src = xp + iy * W + x0
                if ip != NULL:
                    t = <int32_t>(i * kw + j)
                    for ox in range(lo, hi):
                        v = src[ox * sw]
                        m = orow[ox]
                        upd = (v > m) | (v != v)
                        orow[ox] = v if upd else m
                        tap[ox] = t if upd else tap[ox]
                else:
                    for ox in range(lo, hi):
                        v = src[ox * sw]
                        m = orow[ox]
                        orow[ox] = v if ((v > m) | (v != v)) else m
        if ip != NULL:
            irow = ip + oy * OW
            hs = first_valid(oy * sh - pt, dh)
            for ox in range(OW):
                if tap[ox] < 0:
                    irow[ox] = hs * W + first_valid(ox * sw - pl, dw)
                else:
                    irow[ox] = ((oy * sh - pt + (tap[ox] // kw) * dh) * W
                                + ox * sw - pl + (tap[ox] % kw) * dw)


def max_pool2d_forward(const floating[:, :, :, ::1] x,     # IN  (N, C, H, W)
                       floating[:, :, :, ::1] out,         # OUT (N, C, OH, OW)
                       int64_t[:, :, :, ::1] indices,      # OUT (N, C, OH, OW) if want_indices
                       bint want_indices,
                       Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                       Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw,
                       int n_threads):
    """Returns False if a thread could not allocate its row of tap numbers."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t plane, n, c
    cdef int32_t *tap = NULL
    cdef int failed = 0
    cdef int *status = &failed   # written through a pointer: shared by the threads
    with nogil, parallel(num_threads=n_threads):
        tap = NULL
        if want_indices:
            tap = <int32_t *>malloc((OW + 1) * sizeof(int32_t))
            if tap == NULL:
                status[0] = 1
        for plane in prange(N * C, schedule="static"):
            if want_indices and tap == NULL:
                continue
            n = plane // C
            c = plane % C
            max_plane(&x[n, c, 0, 0], &out[n, c, 0, 0],
                      &indices[n, c, 0, 0] if want_indices else NULL, tap,
                      H, W, OH, OW, kh, kw, sh, sw, pt, pl, dh, dw)
        free(tap)
    return not failed


def max_pool2d_backward(const floating[:, :, :, ::1] go,       # IN  (N, C, OH, OW)
                        const int64_t[:, :, :, ::1] indices,   # IN  (N, C, OH, OW)
                        floating[:, :, :, ::1] gx,             # OUT (N, C, H, W), written whole
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
            if HW > 0:  # each task zeroes its own plane (first touch in parallel)
                memset(gp, 0, HW * sizeof(floating))
            for oy in range(OH):
                for ox in range(OW):
                    k = indices[n, c, oy, ox]
                    if k < 0 or k >= HW:
                        bad += 1
                    else:
                        gp[k] = gp[k] + go[n, c, oy, ox]
    return bad


# Per-plane work lives in cdef functions whose locals are their own; a prange
# body only computes the plane.  (Variables a prange body writes only through
# a pointer would be shared between threads -- the average-pooling kernels once
# raced that way.)


cdef inline Py_ssize_t avg_div(Py_ssize_t o, Py_ssize_t s, Py_ssize_t pb_, Py_ssize_t k,
                               Py_ssize_t size, Py_ssize_t pa, bint include_pad) noexcept nogil:
    """Window length along one dimension: clipped to the padded input
    (count_include_pad) or to the input itself."""
    cdef Py_ssize_t a = o * s - pb_
    cdef Py_ssize_t b = a + k
    if b > size + pa:
        b = size + pa
    if not include_pad:
        if a < 0:
            a = 0
        if b > size:
            b = size
    return b - a


cdef void avg_plane(const floating *xp, floating *op,
                    Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                    Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                    Py_ssize_t pt, Py_ssize_t pb, Py_ssize_t pl, Py_ssize_t pr,
                    bint include_pad) noexcept nogil:
    """Average pooling of one plane, one output row at a time.  Each output's
    sum runs over its window in row-major order, then is divided once."""
    cdef Py_ssize_t oy, ox, i, j, iy, x0, lo, hi, ph, y0, i0, i1, j0, j1
    cdef floating *orow
    cdef const floating *src
    for oy in range(OH):
        orow = op + oy * OW
        y0 = oy * sh - pt
        ph = avg_div(oy, sh, pt, kh, H, pb, include_pad)
        for ox in range(OW):
            orow[ox] = 0
        valid_range(y0, 1, kh, H, &i0, &i1)  # only the taps that reach the input
        valid_range((OW - 1) * sw - pl, 1, kw, W + (OW - 1) * sw, &j0, &j1)
        for i in range(i0, i1):
            iy = y0 + i
            for j in range(j0, j1):
                x0 = j - pl
                valid_range(x0, sw, OW, W, &lo, &hi)
                src = xp + iy * W + x0
                for ox in range(lo, hi):
                    orow[ox] = orow[ox] + src[ox * sw]
        for ox in range(OW):
            # the divisor's product in double: kh*kw of a huge padded kernel overflows int64
            # (exact below 2**53, so the same result as the integer product otherwise)
            orow[ox] = orow[ox] / <floating>(<double>ph * avg_div(ox, sw, pl, kw, W, pr,
                                                                   include_pad))


def avg_pool2d_forward(const floating[:, :, :, ::1] x,     # IN  (N, C, H, W)
                       floating[:, :, :, ::1] out,         # OUT (N, C, OH, OW)
                       Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                       Py_ssize_t pt, Py_ssize_t pb, Py_ssize_t pl, Py_ssize_t pr,
                       bint count_include_pad, int n_threads):
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t plane, n, c
    with nogil:
        for plane in prange(N * C, num_threads=n_threads, schedule="static"):
            n = plane // C
            c = plane % C
            avg_plane(&x[n, c, 0, 0], &out[n, c, 0, 0], H, W, OH, OW, kh, kw, sh, sw,
                      pt, pb, pl, pr, count_include_pad)


cdef void avg_plane_backward(const floating *gp, floating *xp,
                             Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                             Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                             Py_ssize_t pt, Py_ssize_t pb, Py_ssize_t pl, Py_ssize_t pr,
                             bint include_pad) noexcept nogil:
    """Spread each output's gradient / divisor over its window, one output row at a time."""
    cdef Py_ssize_t oy, ox, i, j, iy, x0, lo, hi, ph, y0, i0, i1, j0, j1
    cdef const floating *grow
    cdef floating *dst
    for oy in range(OH):
        grow = gp + oy * OW
        y0 = oy * sh - pt
        ph = avg_div(oy, sh, pt, kh, H, pb, include_pad)
        valid_range(y0, 1, kh, H, &i0, &i1)  # only the taps that reach the input
        valid_range((OW - 1) * sw - pl, 1, kw, W + (OW - 1) * sw, &j0, &j1)
        for i in range(i0, i1):
            iy = y0 + i
            for j in range(j0, j1):
                x0 = j - pl
                valid_range(x0, sw, OW, W, &lo, &hi)
                dst = xp + iy * W + x0
                for ox in range(lo, hi):
                    dst[ox * sw] = dst[ox * sw] + grow[ox] / <floating>(
                        <double>ph * avg_div(ox, sw, pl, kw, W, pr, include_pad))


def avg_pool2d_backward(const floating[:, :, :, ::1] go,   # IN  (N, C, OH, OW)
                        floating[:, :, :, ::1] gx,         # OUT (N, C, H, W), written whole
                        Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                        Py_ssize_t pt, Py_ssize_t pb, Py_ssize_t pl, Py_ssize_t pr,
                        bint count_include_pad, int n_threads):
    cdef Py_ssize_t N = gx.shape[0], C = gx.shape[1], H = gx.shape[2], W = gx.shape[3]
    cdef Py_ssize_t OH = go.shape[2], OW = go.shape[3]
    cdef Py_ssize_t plane, n, c
    with nogil:
        for plane in prange(N * C, num_threads=n_threads, schedule="static"):
            n = plane // C
            c = plane % C
            memset(&gx[n, c, 0, 0], 0, H * W * sizeof(floating))
            avg_plane_backward(&go[n, c, 0, 0], &gx[n, c, 0, 0], H, W, OH, OW, kh, kw, sh, sw,
                               pt, pb, pl, pr, count_include_pad)
