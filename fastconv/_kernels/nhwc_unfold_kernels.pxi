# Channels-last unfold: im2col and col2im on (N, *sp, C) data.  (Included by _engine.pyx.)
#
# The patches are TensorFlow's extract_patches order: cols (N, *out, taps*C), element
# [n, *o, t*C + c] = xpad[n, *(o*stride + tap(t)*dilation), c] with the taps t in
# row-major (kD,) kH, kW order.  Every patch is a run of C-element copies, and col2im
# gathers (each image element summed by the task of its row, taps in ascending order),
# so both are exact and the same for any thread count.


cdef inline Py_ssize_t _tap_in(Py_ssize_t o, Py_ssize_t t, const fc_problem *p,
                               int j) noexcept nogil:
    """Input coordinate along lifted axis ``j`` of output ``o``, tap ``t`` (may be outside)."""
    return o * p.s[j] + t * p.d[j] - p.pb[j]


cdef void _im2col_row(const fc_problem *p, const floating *x, floating *cols,
                      Py_ssize_t row) noexcept nogil:
    """Output row ``row`` (n, oz, oy) of the patches: OW patches of taps*C elements."""
    cdef Py_ssize_t C = p.C, OD = p.out[0], OH = p.out[1], OW = p.out[2]
    cdef Py_ssize_t D = p.in_[0], H = p.in_[1], W = p.in_[2]
    cdef Py_ssize_t n = row // (OD * OH), oz = row // OH % OD, oy = row % OH
    cdef Py_ssize_t ox, a, i, j, z, y, xx
    cdef floating *dst = cols + row * OW * p.taps * C
    for ox in range(OW):
        for a in range(p.k[0]):
            z = _tap_in(oz, a, p, 0)
            for i in range(p.k[1]):
                y = _tap_in(oy, i, p, 1)
                for j in range(p.k[2]):
                    xx = _tap_in(ox, j, p, 2)
                    if 0 <= z < D and 0 <= y < H and 0 <= xx < W:
                        memcpy(dst, x + (((n * D + z) * H + y) * W + xx) * C,
                               C * sizeof(floating))
                    else:
                        memset(dst, 0, C * sizeof(floating))
                    dst += C


cdef void nhwc_unfold_im2col(const fc_problem *p, const floating *x,   # IN  (N, *in, C)
                             floating *cols, int n_threads) noexcept nogil:  # OUT (N, *out, taps*C)
    cdef Py_ssize_t row
    for row in prange(p.N * p.out[0] * p.out[1], num_threads=n_threads, schedule="static"):
        _im2col_row(p, x, cols, row)


cdef inline bint _tap_out(Py_ssize_t i_in, Py_ssize_t t, const fc_problem *p, int j,
                          Py_ssize_t *o) noexcept nogil:
    """The output along axis ``j`` whose tap ``t`` reads input ``i_in``, if any."""
    cdef Py_ssize_t q = i_in + p.pb[j] - t * p.d[j]
    if q < 0 or q % p.s[j]:
        return False
    o[0] = q // p.s[j]
    return o[0] < p.out[j]


cdef void _col2im_row(const fc_problem *p, const floating *cols, floating *out,
                      Py_ssize_t row) noexcept nogil:
    """Image row ``row`` (n, z, y): each element the sum of its patch entries, taps in order."""
    cdef Py_ssize_t C = p.C, OD = p.out[0], OH = p.out[1], OW = p.out[2]
    cdef Py_ssize_t D = p.in_[0], H = p.in_[1], W = p.in_[2]
    cdef Py_ssize_t n = row // (D * H), z = row // H % D, y = row % H
    cdef Py_ssize_t xx, a, i, j, oz = 0, oy = 0, ox = 0, t, c
    cdef floating *dst
    cdef const floating *src
    memset(out + row * W * C, 0, W * C * sizeof(floating))
    for xx in range(W):
        dst = out + (row * W + xx) * C
        for a in range(p.k[0]):
            if not _tap_out(z, a, p, 0, &oz):
                continue
            for i in range(p.k[1]):
                if not _tap_out(y, i, p, 1, &oy):
                    continue
                for j in range(p.k[2]):
                    if not _tap_out(xx, j, p, 2, &ox):
                        continue
                    t = (a * p.k[1] + i) * p.k[2] + j
                    src = cols + ((((n * OD + oz) * OH + oy) * OW + ox) * p.taps + t) * C
                    for c in range(C):
                        dst[c] = dst[c] + src[c]


cdef void nhwc_unfold_col2im(const fc_problem *p, const floating *cols,  # IN  (N, *out, taps*C)
                             floating *out, int n_threads) noexcept nogil:  # OUT (N, *in, C)
    cdef Py_ssize_t row
    for row in prange(p.N * p.in_[0] * p.in_[1], num_threads=n_threads, schedule="static"):
        _col2im_row(p, cols, out, row)


cdef void nhwc_unfold_workspace(const fc_problem *p, fc_workspace_layout *w) noexcept nogil:
    pass   # no scratch


cdef Py_ssize_t nhwc_unfold_tasks(const fc_problem *p) noexcept nogil:
    if p.direction == FC_FORWARD:
        return p.N * p.out[0] * p.out[1]      # one output row each
    return p.N * p.in_[0] * p.in_[1]          # one image row each


cdef Py_ssize_t nhwc_unfold_run(const fc_problem *p, void **arrays, void *ws,
                                int n_threads) noexcept nogil:
    if p.algo == FC_UNFOLD_IM2COL_NHWC:
        if p.itemsize == 4:
            nhwc_unfold_im2col[float](p, <const float *>arrays[0], <float *>arrays[1], n_threads)
        else:
            nhwc_unfold_im2col[double](p, <const double *>arrays[0], <double *>arrays[1],
                                       n_threads)
    else:
        if p.itemsize == 4:
            nhwc_unfold_col2im[float](p, <const float *>arrays[0], <float *>arrays[1], n_threads)
        else:
            nhwc_unfold_col2im[double](p, <const double *>arrays[0], <double *>arrays[1],
                                       n_threads)
    return 0
