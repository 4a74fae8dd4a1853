# Max and average pooling, forward and backward, rank 1 to 3 (lifted to D, H, W).
# (Included by _engine.pyx.)
#
# One flat prange over the N*C volumes: every task reads one input volume and writes
# one output volume, so backward += writes never collide and every element is summed
# in the same order whatever the thread count.
#
# Semantics follow ATen: padding is never a value; a window's maximum starts at -inf
# and is replaced when ``v > max or v != v`` (NaN wins), taps visited in row-major
# (d, h, w) order so the first maximum wins ties; indices are flat offsets within the
# D*H*W volume; the average divisor is divisor_override, else the window clipped to the
# padded input (count_include_pad) or to the input itself.


cdef inline Py_ssize_t first_valid(Py_ssize_t start, Py_ssize_t d) noexcept nogil:
    """Smallest start + t*d >= 0 (t >= 0)."""
    if start >= 0:
        return start
    return start + ((-start + d - 1) // d) * d


cdef void max_volume(const fc_problem *p, const floating *xp, floating *op, int64_t *ip,
                     int32_t *tap) noexcept nogil:
    """Max pooling of one volume, one output row at a time.

    For each window tap (a, i, j) in row-major order, the whole output row is updated
    with ``v > m or v != v`` -- the same order and rule as visiting each window on its
    own, but the inner loop runs along the row.  With ``ip`` (indices wanted), ``tap``
    (a row of OW int32: narrow, so the update vectorises with the values) records the
    winning tap: its offset from the window's corner ``(z0*H + y0)*W + ox*sW - pW`` when
    the volume has fewer than 2**31 elements (no division to make the index), else its
    number (a, i, j); -1 means no element beat -inf and the index is the window's first
    input element, as in ATen.
    """
    cdef Py_ssize_t D = p.in_[0], H = p.in_[1], W = p.in_[2]
    cdef Py_ssize_t OD = p.out[0], OH = p.out[1], OW = p.out[2]
    cdef Py_ssize_t kh = p.k[1], kw = p.k[2], sw = p.s[2], dw = p.d[2]
    cdef Py_ssize_t pl = p.pb[2]
    cdef Py_ssize_t oz, oy, ox, a, i, j, iz, iy, x0, lo, hi, a0, a1, i0, i1, j0, j1, z0, y0
    cdef Py_ssize_t corner, ta, ti, tj
    cdef bint rel = p.in_vol < 2147483647
    cdef floating *orow
    cdef int64_t *irow
    cdef const floating *src
    cdef floating v, m
    cdef int32_t t
    cdef bint upd
    # only the taps that reach the input: a huge kernel over a small input padded by
    # half of it has few (the loops must not run over all kD*kH*kW taps)
    valid_range((OW - 1) * sw - pl, dw, kw, W + (OW - 1) * sw, &j0, &j1)
    for oz in range(OD):
        z0 = oz * p.s[0] - p.pb[0]
        valid_range(z0, p.d[0], p.k[0], D, &a0, &a1)
        for oy in range(OH):
            y0 = oy * p.s[1] - p.pb[1]
            valid_range(y0, p.d[1], kh, H, &i0, &i1)
            orow = op + (oz * OH + oy) * OW
            for ox in range(OW):
                orow[ox] = -INFINITY
            if ip != NULL:
                for ox in range(OW):
                    tap[ox] = -1
            for a in range(a0, a1):
                iz = z0 + a * p.d[0]
                for i in range(i0, i1):
                    iy = y0 + i * p.d[1]
                    for j in range(j0, j1):
                        x0 = j * dw - pl
                        valid_range(x0, sw, OW, W, &lo, &hi)
                        src = xp + (iz * H + iy) * W + x0
                        if ip != NULL:
                            if rel:
                                t = <int32_t>((a * p.d[0] * H + i * p.d[1]) * W + j * dw)
                            else:
                                t = <int32_t>((a * kh + i) * kw + j)
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
                irow = ip + (oz * OH + oy) * OW
                corner = (z0 * H + y0) * W - pl
                for ox in range(OW):
                    if tap[ox] < 0:
                        irow[ox] = ((first_valid(z0, p.d[0]) * H + first_valid(y0, p.d[1])) * W
                                    + first_valid(ox * sw - pl, dw))
                    elif rel:
                        irow[ox] = corner + ox * sw + tap[ox]
                    else:
                        ti = tap[ox] // kw
                        tj = tap[ox] - ti * kw
                        ta = ti // kh
                        ti = ti - ta * kh
                        irow[ox] = (((z0 + ta * p.d[0]) * H + y0 + ti * p.d[1]) * W
                                    + ox * sw - pl + tj * dw)


cdef int max_pool_forward(const fc_problem *p, const floating *x,    # IN  (N, C, in_vol)
                          floating *out,                              # OUT (N, C, out_vol)
                          int64_t *indices,                           # OUT, or NULL
                          floating *ws, int n_threads) noexcept nogil:
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t vol, ovol = p.L
    for vol in prange(p.N * p.C, num_threads=n_threads, schedule="static"):
        max_volume(p, x + vol * p.in_vol, out + vol * ovol,
                   indices + vol * ovol if indices != NULL else NULL,
                   <int32_t *>(ws + threadid() * lay.per_thread))
    return 0


cdef Py_ssize_t max_pool_backward(const fc_problem *p,
                                  const floating *go,         # IN  (N, C, out_vol)
                                  const int64_t *indices,     # IN  (N, C, out_vol)
                                  floating *gx,               # OUT (N, C, in_vol), written whole
                                  int n_threads) noexcept nogil:
    """Route grad_output to the argmax positions.  Returns how many indices were
    outside [0, D*H*W) (those are skipped; the caller raises)."""
    cdef Py_ssize_t vol, l, V = p.in_vol, ovol = p.L
    cdef int64_t k
    cdef Py_ssize_t bad = 0
    cdef floating *gp
    cdef const int64_t *ip
    cdef const floating *gop
    for vol in prange(p.N * p.C, num_threads=n_threads, schedule="static"):
        gp = gx + vol * V
        ip = indices + vol * ovol
        gop = go + vol * ovol
        if V > 0:  # each task zeroes its own volume (first touch in parallel)
            memset(gp, 0, V * sizeof(floating))
        for l in range(ovol):
            k = ip[l]
            if k < 0 or k >= V:
                bad += 1
            else:
                gp[k] = gp[k] + gop[l]
    return bad


cdef inline Py_ssize_t avg_extent(Py_ssize_t o, Py_ssize_t s, Py_ssize_t pb_, Py_ssize_t k,
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


cdef inline double avg_divisor(const fc_problem *p, double dz_dy,
                               Py_ssize_t ox) noexcept nogil:
    """The divisor of output column ox of a row whose depth*height extent is dz_dy: the
    divisor_override, else the product of the three extents (in double: the product of
    a huge padded kernel overflows int64; exact below 2**53)."""
    if p.divisor > 0:
        return <double>p.divisor
    return dz_dy * avg_extent(ox, p.s[2], p.pb[2], p.k[2], p.in_[2], p.pa[2],
                              p.count_include_pad)


cdef void avg_volume(const fc_problem *p, const floating *xp, floating *op,
                     bint backward) noexcept nogil:
    """Average pooling of one volume (forward: xp input, op output), or its gradient
    (backward: xp grad_output, op grad_input, zeroed by the caller), one output row at
    a time.  Each output's sum runs over its window in row-major order, then is divided
    once; backward spreads each output's gradient / divisor over its window."""
    cdef Py_ssize_t D = p.in_[0], H = p.in_[1], W = p.in_[2]
    cdef Py_ssize_t OD = p.out[0], OH = p.out[1], OW = p.out[2]
    cdef Py_ssize_t sw = p.s[2], pl = p.pb[2]
    cdef Py_ssize_t oz, oy, ox, a, i, j, iz, iy, x0, lo, hi, a0, a1, i0, i1, j0, j1, z0, y0
    cdef double ext
    cdef floating *orow
    cdef const floating *grow
    cdef const floating *src
    cdef floating *dst
    valid_range((OW - 1) * sw - pl, 1, p.k[2], W + (OW - 1) * sw, &j0, &j1)
    for oz in range(OD):
        z0 = oz * p.s[0] - p.pb[0]
        valid_range(z0, 1, p.k[0], D, &a0, &a1)   # only the taps that reach the input
        for oy in range(OH):
            y0 = oy * p.s[1] - p.pb[1]
            valid_range(y0, 1, p.k[1], H, &i0, &i1)
            ext = (<double>avg_extent(oz, p.s[0], p.pb[0], p.k[0], D, p.pa[0], p.count_include_pad)
                   * avg_extent(oy, p.s[1], p.pb[1], p.k[1], H, p.pa[1], p.count_include_pad))
            if backward:
                grow = xp + (oz * OH + oy) * OW
                for a in range(a0, a1):
                    iz = z0 + a
                    for i in range(i0, i1):
                        iy = y0 + i
                        for j in range(j0, j1):
                            x0 = j - pl
                            valid_range(x0, sw, OW, W, &lo, &hi)
                            dst = op + (iz * H + iy) * W + x0
                            for ox in range(lo, hi):
                                dst[ox * sw] = dst[ox * sw] + grow[ox] / <floating>avg_divisor(
                                    p, ext, ox)
                continue
            orow = op + (oz * OH + oy) * OW
            for ox in range(OW):
                orow[ox] = 0
            for a in range(a0, a1):
                iz = z0 + a
                for i in range(i0, i1):
                    iy = y0 + i
                    for j in range(j0, j1):
                        x0 = j - pl
                        valid_range(x0, sw, OW, W, &lo, &hi)
                        src = xp + (iz * H + iy) * W + x0
                        for ox in range(lo, hi):
                            orow[ox] = orow[ox] + src[ox * sw]
            for ox in range(OW):
                orow[ox] = orow[ox] / <floating>avg_divisor(p, ext, ox)


cdef void avg_pool(const fc_problem *p, const floating *src,   # IN  x, or grad_output
                   floating *dst,                              # OUT out, or grad_input (whole)
                   int n_threads) noexcept nogil:
    cdef Py_ssize_t vol
    cdef bint backward = p.direction == FC_GRAD_INPUT
    cdef Py_ssize_t in_step = p.L if backward else p.in_vol
    cdef Py_ssize_t out_step = p.in_vol if backward else p.L
    for vol in prange(p.N * p.C, num_threads=n_threads, schedule="static"):
        if backward:
            memset(dst + vol * out_step, 0, out_step * sizeof(floating))
        avg_volume(p, src + vol * in_step, dst + vol * out_step, backward)


# ------------------------------------------------ SIMD row loops (fc_pool.h)
#
# max_pool.forward.rows, avg_pool.forward.rows, avg_pool.grad_input.rows: the same
# per-volume tasks and the same results (bits) as the window kernels above, with the
# row loops in C compiled for AVX-512, AVX2 and the baseline ISA (the GEMM's variant,
# chosen at import), the kernel width and stride constants of the common windows.

cdef extern from "fc_pool.h" nogil:
    void fc_pool_select(int variant)
    void fc_pmax_vol_f32(const fc_problem *p, const float *x, float *out, int64_t *idx,
                         int32_t *tap)
    void fc_pmax_vol_f64(const fc_problem *p, const double *x, double *out, int64_t *idx,
                         int64_t *tap)
    void fc_pavg_vol_f32(const fc_problem *p, const float *x, float *out)
    void fc_pavg_vol_f64(const fc_problem *p, const double *x, double *out)
    void fc_pavg_bwd_vol_f32(const fc_problem *p, const float *go, float *gx)
    void fc_pavg_bwd_vol_f64(const fc_problem *p, const double *go, double *gx)
    Py_ssize_t fc_pargmax_f32(const float *src, Py_ssize_t n, Py_ssize_t base, float *val)
    Py_ssize_t fc_pargmax_f64(const double *src, Py_ssize_t n, Py_ssize_t base, double *val)

fc_pool_select({"avx512": 2, "avx2": 1}.get(_gemm.variant(), 0))


cdef int max_pool_rows(const fc_problem *p, const floating *x,    # IN  (N, C, in_vol)
                       floating *out,                              # OUT (N, C, out_vol)
                       int64_t *indices,                           # OUT, or NULL
                       floating *ws, int n_threads) noexcept nogil:
    """FC_MAX_POOL_FWD_ROWS: one volume per task (dilation 1, volumes below 2**31)."""
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t vol, ovol = p.L
    for vol in prange(p.N * p.C, num_threads=n_threads, schedule="static"):
        if floating is float:
            fc_pmax_vol_f32(p, x + vol * p.in_vol, out + vol * ovol,
                            indices + vol * ovol if indices != NULL else NULL,
                            <int32_t *>(ws + threadid() * lay.per_thread))
        else:
            fc_pmax_vol_f64(p, x + vol * p.in_vol, out + vol * ovol,
                            indices + vol * ovol if indices != NULL else NULL,
                            <int64_t *>(ws + threadid() * lay.per_thread))
    return 0


cdef void avg_pool_rows(const fc_problem *p, const floating *src,   # IN  x, or grad_output
                        floating *dst,                              # OUT out, or grad_input
                        int n_threads) noexcept nogil:
    """FC_AVG_POOL_FWD_ROWS (dilation 1) and FC_AVG_POOL_BWD_ROWS (no two windows
    overlap: every grad_input element written once, no zeroing): one volume per task."""
    cdef Py_ssize_t vol
    cdef bint backward = p.direction == FC_GRAD_INPUT
    cdef Py_ssize_t in_step = p.L if backward else p.in_vol
    cdef Py_ssize_t out_step = p.in_vol if backward else p.L
    for vol in prange(p.N * p.C, num_threads=n_threads, schedule="static"):
        if backward:
            if floating is float:
                fc_pavg_bwd_vol_f32(p, src + vol * in_step, dst + vol * out_step)
            else:
                fc_pavg_bwd_vol_f64(p, src + vol * in_step, dst + vol * out_step)
        else:
            if floating is float:
                fc_pavg_vol_f32(p, src + vol * in_step, dst + vol * out_step)
            else:
                fc_pavg_vol_f64(p, src + vol * in_step, dst + vol * out_step)
