# Channels-last pooling (FC_*_POOL_*_NHWC; unfold, FC_UNFOLD_*_NHWC, is in
# nhwc_unfold_kernels.pxi).  (Included by
# _engine.pyx, after pool_kernels.pxi, whose avg_extent / avg_divisor it uses, and
# nhwc_depthwise_kernels.pxi, which declares the channel loops of fc_nhwc.h.)
#
# Arrays (C-contiguous): x and grad_input (N, D, H, W, C); y, grad_output and indices
# (N, OD, OH, OW, C).  Indices are what torch's are, whatever the layout: the flat
# offset of the argmax within its D*H*W volume (the channels-first call's numbers).
# Every tap of a window is a run of contiguous channels: each output position is one
# loop over its channels (fc_nhwc.h), the taps in row-major (a, i, j) order with the
# semantics of pool_kernels.pxi (max: from -inf, v > m or v != v wins, so the first
# maximum and the last NaN are kept, the first element of the window when nothing
# beats -inf; avg: summed from 0 in tap order, divided once) -- the same bits as the
# channels-first window kernels.
#
#   forward (max, avg)  task (n, lt output rows, blk channels); windows that cover
#                       whole rows (global pooling) are merged into one run per
#                       plane or per volume: a column sum over the volume's positions
#   avg grad_input      task (n, lt input rows, blk channels), gathered: each input
#                       element sums grad_output / divisor of the windows holding it,
#                       in the order the channels-first scatter adds them (output rows
#                       ascending, then ox descending)
#   max grad_input      task n: the sample's volume zeroed, then grad_output added at
#                       the argmax in output order (exact: channels never mix);
#                       out-of-range indices are counted


cdef inline void nc_sum(Py_ssize_t n, Py_ssize_t P, Py_ssize_t ps, Py_ssize_t os, Py_ssize_t R,
                        Py_ssize_t Q, const floating *src, const Py_ssize_t *soff, Py_ssize_t ss,
                        const floating *dv, double div, floating *out) noexcept nogil:
    if floating is float:
        fc_nc_sum_f32(n, P, ps, os, R, Q, src, soff, ss, dv, <float>div, out)
    else:
        fc_nc_sum_f64(n, P, ps, os, R, Q, src, soff, ss, dv, div, out)


cdef inline void nc_max(Py_ssize_t n, Py_ssize_t P, Py_ssize_t ps, Py_ssize_t os,
                        Py_ssize_t pis, Py_ssize_t R, Py_ssize_t Q, const floating *src,
                        const Py_ssize_t *soff, Py_ssize_t ss, const int64_t *ridx,
                        Py_ssize_t qstep, int64_t first, floating *out, int64_t *idx,
                        int narrow) noexcept nogil:
    if floating is float:
        fc_nc_max_f32(n, P, ps, os, pis, R, Q, src, soff, ss, ridx, qstep, first, out, idx,
                      narrow)
    else:
        fc_nc_max_f64(n, P, ps, os, pis, R, Q, src, soff, ss, ridx, qstep, first, out, idx, 1)


cdef void nhwc_pool_forward(const fc_problem *p,
                            const floating *x,    # IN  (N, D, H, W, C)
                            floating *y,          # OUT (N, OD, OH, OW, C)
                            int64_t *indices,     # OUT (N, OD, OH, OW, C), or NULL
                            floating *ws, int n_threads) noexcept nogil:
    """FC_MAX_POOL_FWD_NHWC, FC_AVG_POOL_FWD_NHWC."""
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef bint is_max = p.algo == FC_MAX_POOL_FWD_NHWC
    cdef Py_ssize_t D = p.in_[0], H = p.in_[1], W = p.in_[2], C = p.C, V = p.in_vol
    cdef Py_ssize_t OH = p.out[1], OW = p.out[2], rows = p.out[0] * OH
    cdef Py_ssize_t KR = p.k[0] * p.k[1], kw = p.k[2], sw = p.s[2], dw = p.d[2], pw = p.pb[2]
    cdef Py_ssize_t nrb = cdiv(rows, p.lt), ncb = cdiv(C, p.blk)
    cdef Py_ssize_t span = (kw - 1) * dw + 1
    cdef Py_ssize_t lo = interior_lo(pw, sw), hi = interior_hi(span, pw, sw, W, OW)
    cdef int narrow = V < 2147483647
    cdef Py_ssize_t task, n, b, cb, c0, nc, row, oz, oy, z0, y0, a0, a1, i0, i1, a, i
    cdef Py_ssize_t R, r, ox, x0, j0, j1, Q, RR, QQ, off
    cdef Py_ssize_t *soff
    cdef Py_ssize_t *toff
    cdef int64_t *ridx
    cdef int64_t *tidx
    cdef floating *yrow
    cdef int64_t *irow
    cdef double ext
    if hi < lo:
        hi = lo
    for task in prange(p.N * nrb * ncb, num_threads=n_threads, schedule="static"):
        n = task // (nrb * ncb)
        b = (task // ncb) % nrb
        cb = task % ncb
        c0 = cb * p.blk
        nc = C - c0 if C - c0 < p.blk else p.blk
        soff = <Py_ssize_t *>(ws + threadid() * lay.per_thread)
        toff = soff + KR
        ridx = <int64_t *>(toff + KR)
        tidx = ridx + KR
        a0 = a1 = i0 = i1 = j0 = j1 = 0   # (assigned here: private; set by address below)
        for row in range(b * p.lt, min(rows, (b + 1) * p.lt)):
            oz = row // OH
            oy = row - oz * OH
            z0 = oz * p.s[0] - p.pb[0]
            y0 = oy * p.s[1] - p.pb[1]
            valid_range(z0, p.d[0], p.k[0], D, &a0, &a1)
            valid_range(y0, p.d[1], p.k[1], H, &i0, &i1)
            R = 0
            for a in range(a0, a1):
                for i in range(i0, i1):
                    ridx[R] = ((z0 + a * p.d[0]) * H + y0 + i * p.d[1]) * W
                    R = R + 1
            ext = 0
            if not is_max:
                ext = (<double>avg_extent(oz, p.s[0], p.pb[0], p.k[0], D, p.pa[0],
                                          p.count_include_pad)
                       * avg_extent(oy, p.s[1], p.pb[1], p.k[1], H, p.pa[1], p.count_include_pad))
            yrow = y + (n * rows + row) * OW * C + c0
            irow = indices + (n * rows + row) * OW * C + c0 if indices != NULL else NULL
            for ox in range(OW):
                if lo <= ox < hi and ox != lo:
                    continue
                x0 = ox * sw - pw
                if ox == lo and hi > lo:      # the interior: every tap inside, one call
                    j0 = 0
                    j1 = kw
                else:
                    valid_range(x0, dw, kw, W, &j0, &j1)
                RR = R
                QQ = j1 - j0
                if dw == 1 and QQ == W and p.d[1] == 1 and p.d[0] == 1 and not (
                        ox == lo and hi > lo and hi - lo > 1):
                    # whole rows: one run per plane, or per volume
                    RR = a1 - a0
                    QQ = (i1 - i0) * W
                    if i1 - i0 == H:
                        RR = 1 if a1 > a0 else 0
                        QQ = (a1 - a0) * H * W
                    for r in range(RR):
                        tidx[r] = ridx[r * (i1 - i0)]
                        toff[r] = (n * V + tidx[r]) * C + c0
                else:
                    for r in range(RR):
                        tidx[r] = ridx[r] + x0 + j0 * dw
                        toff[r] = (n * V + tidx[r]) * C + c0
                off = lo if (ox == lo and hi > lo) else ox
                if is_max:
                    nc_max(nc, hi - lo if (ox == lo and hi > lo) else 1, sw * C, C, sw, RR,
                           QQ, x, toff, dw * C, tidx, dw, tidx[0] if RR > 0 and QQ > 0 else 0,
                           yrow + off * C, irow + off * C if irow != NULL else NULL, narrow)
                else:
                    nc_sum(nc, hi - lo if (ox == lo and hi > lo) else 1, sw * C, C, RR, QQ,
                           x, toff, dw * C, <const floating *>NULL, avg_divisor(p, ext, off),
                           yrow + off * C)


cdef inline void window_range(Py_ssize_t i, Py_ssize_t s, Py_ssize_t pb_, Py_ssize_t k,
                              Py_ssize_t count, Py_ssize_t *lo, Py_ssize_t *hi) noexcept nogil:
    """[lo, hi): the outputs o whose window [o*s - pb_, o*s - pb_ + k) holds i."""
    cdef Py_ssize_t t = i + pb_ - k + 1
    lo[0] = 0 if t <= 0 else (t + s - 1) // s
    hi[0] = (i + pb_) // s + 1
    if hi[0] > count:
        hi[0] = count
    if hi[0] < lo[0]:
        hi[0] = lo[0]


cdef void nhwc_avg_pool_backward(const fc_problem *p,
                                 const floating *go,   # IN  (N, OD, OH, OW, C)
                                 floating *gx,         # OUT (N, D, H, W, C), written whole
                                 floating *ws, int n_threads) noexcept nogil:
    """FC_AVG_POOL_BWD_NHWC: gathered per input element."""
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t D = p.in_[0], H = p.in_[1], W = p.in_[2], C = p.C
    cdef Py_ssize_t OD = p.out[0], OH = p.out[1], OW = p.out[2], rows = D * H
    cdef Py_ssize_t KR = p.k[0] * p.k[1], taps = p.taps
    cdef Py_ssize_t nrb = cdiv(rows, p.lt), ncb = cdiv(C, p.blk)
    cdef Py_ssize_t task, n, b, cb, c0, nc, row, iz, iy, ix, oz, oy, ox, R, r, q, Q
    cdef Py_ssize_t zlo, zhi, ylo, yhi, xlo, xhi
    cdef Py_ssize_t *roff
    cdef Py_ssize_t *soff
    cdef double *ext
    cdef floating *dv
    cdef floating *grow
    for task in prange(p.N * nrb * ncb, num_threads=n_threads, schedule="static"):
        n = task // (nrb * ncb)
        b = (task // ncb) % nrb
        cb = task % ncb
        c0 = cb * p.blk
        nc = C - c0 if C - c0 < p.blk else p.blk
        roff = <Py_ssize_t *>(ws + threadid() * lay.per_thread)
        soff = roff + KR
        ext = <double *>(soff + KR)
        dv = ws + threadid() * lay.per_thread + lay.ints
        zlo = zhi = ylo = yhi = xlo = xhi = 0   # (assigned here: private; set by address)
        for row in range(b * p.lt, min(rows, (b + 1) * p.lt)):
            iz = row // H
            iy = row - iz * H
            # the output rows whose windows hold row (iz, iy), ascending
            window_range(iz, p.s[0], p.pb[0], p.k[0], OD, &zlo, &zhi)
            window_range(iy, p.s[1], p.pb[1], p.k[1], OH, &ylo, &yhi)
            R = 0
            for oz in range(zlo, zhi):
                for oy in range(ylo, yhi):
                    roff[R] = ((n * OD + oz) * OH + oy) * OW * C + c0
                    ext[R] = (<double>avg_extent(oz, p.s[0], p.pb[0], p.k[0], D, p.pa[0],
                                                 p.count_include_pad)
                              * avg_extent(oy, p.s[1], p.pb[1], p.k[1], H, p.pa[1],
                                           p.count_include_pad))
                    R = R + 1
            grow = gx + (n * rows + row) * W * C + c0
            for ix in range(W):
                window_range(ix, p.s[2], p.pb[2], p.k[2], OW, &xlo, &xhi)
                Q = xhi - xlo
                for r in range(R):
                    soff[r] = roff[r] + (xhi - 1) * C   # ox descending: the scatter's order
                    for q in range(Q):
                        dv[r * Q + q] = <floating>avg_divisor(p, ext[r], xhi - 1 - q)
                nc_sum(nc, 1, 0, 0, R if Q > 0 else 0, Q, go, soff, -C, dv, 1.0,
                       grow + ix * C)


cdef Py_ssize_t nhwc_max_pool_backward(const fc_problem *p,
                                       const floating *go,       # IN  (N, *out, C)
                                       const int64_t *indices,   # IN  (N, *out, C)
                                       floating *gx,             # OUT (N, *in, C), whole
                                       int n_threads) noexcept nogil:
    """FC_MAX_POOL_BWD_NHWC, task n (all channels: see _nhwc_max_grad_input): returns
    how many indices were outside [0, D*H*W) (skipped; the caller raises)."""
    cdef Py_ssize_t V = p.in_vol, L = p.L, C = p.C
    cdef Py_ssize_t n, l, c
    cdef int64_t k
    cdef Py_ssize_t bad = 0
    cdef floating *g
    cdef const floating *gop
    cdef const int64_t *ip
    for n in prange(p.N, num_threads=n_threads, schedule="static"):
        g = gx + n * V * C
        memset(g, 0, V * C * sizeof(floating))   # (first touch in parallel)
        gop = go + n * L * C
        ip = indices + n * L * C
        for l in range(L):
            for c in range(C):
                k = ip[l * C + c]
                if k < 0 or k >= V:
                    bad += 1
                else:
                    g[k * C + c] = g[k * C + c] + gop[l * C + c]
    return bad


# ------------------------------------------------------- workspace, tasks, run


cdef void nhwc_pool_workspace(const fc_problem *p, fc_workspace_layout *w) noexcept nogil:
    cdef int a = p.algo
    cdef Py_ssize_t KR = p.k[0] * p.k[1]
    if a == FC_MAX_POOL_FWD_NHWC or a == FC_AVG_POOL_FWD_NHWC:
        # row offsets and tap offsets; row and tap indices (int64)
        w.ints = index_elems(4 * KR + 4, p.itemsize)
    elif a == FC_AVG_POOL_BWD_NHWC:
        # output-row offsets, tap offsets, row extents (double); per-tap divisors
        w.ints = index_elems(3 * KR + 4, p.itemsize)
        w.main = round16(p.taps)
    elif a == FC_UNFOLD_IM2COL_NHWC or a == FC_UNFOLD_COL2IM_NHWC:
        nhwc_unfold_workspace(p, w)


cdef Py_ssize_t nhwc_pool_tasks(const fc_problem *p) noexcept nogil:
    cdef int a = p.algo
    if a == FC_UNFOLD_IM2COL_NHWC or a == FC_UNFOLD_COL2IM_NHWC:
        return nhwc_unfold_tasks(p)
    if a == FC_MAX_POOL_BWD_NHWC:
        return p.N if p.C > 0 else 0
    if p.blk <= 0:
        return 0
    if p.lt <= 0:
        return 0
    if a == FC_AVG_POOL_BWD_NHWC:
        return p.N * cdiv(p.in_[0] * p.in_[1], p.lt) * cdiv(p.C, p.blk)
    return p.N * cdiv(p.out[0] * p.out[1], p.lt) * cdiv(p.C, p.blk)


cdef Py_ssize_t nhwc_pool_run(const fc_problem *p, void **arrays, void *ws,
                          int n_threads) noexcept nogil:
    """Run the problem's algorithm on ``arrays`` (checked by entry.pxi's run)."""
    cdef int a = p.algo
    cdef bint f32 = p.itemsize == 4
    if a == FC_MAX_POOL_FWD_NHWC:
        if f32:
            nhwc_pool_forward[float](p, <const float *>arrays[0], <float *>arrays[1],
                                     <int64_t *>arrays[2], <float *>ws, n_threads)
        else:
            nhwc_pool_forward[double](p, <const double *>arrays[0], <double *>arrays[1],
                                      <int64_t *>arrays[2], <double *>ws, n_threads)
    elif a == FC_AVG_POOL_FWD_NHWC:
        if f32:
            nhwc_pool_forward[float](p, <const float *>arrays[0], <float *>arrays[1], NULL,
                                     <float *>ws, n_threads)
        else:
            nhwc_pool_forward[double](p, <const double *>arrays[0], <double *>arrays[1], NULL,
                                      <double *>ws, n_threads)
    elif a == FC_AVG_POOL_BWD_NHWC:
        if f32:
            nhwc_avg_pool_backward[float](p, <const float *>arrays[0], <float *>arrays[1],
                                          <float *>ws, n_threads)
        else:
            nhwc_avg_pool_backward[double](p, <const double *>arrays[0], <double *>arrays[1],
                                           <double *>ws, n_threads)
    elif a == FC_MAX_POOL_BWD_NHWC:
        if f32:
            return nhwc_max_pool_backward[float](p, <const float *>arrays[0],
                                                 <const int64_t *>arrays[1],
                                                 <float *>arrays[2], n_threads)
        return nhwc_max_pool_backward[double](p, <const double *>arrays[0],
                                              <const int64_t *>arrays[1], <double *>arrays[2],
                                              n_threads)
    elif a == FC_UNFOLD_IM2COL_NHWC or a == FC_UNFOLD_COL2IM_NHWC:
        return nhwc_unfold_run(p, arrays, ws, n_threads)
    return 0
