# Channels-last depthwise convolution (FC_CONV_*_DW_NHWC): Cg == 1, any channel
# multiplier Og = O/groups, rank 1 to 3 (lifted to D, H, W).  (Included by _engine.pyx.)
#
# Arrays (C-contiguous): x (N, D, H, W, C); weight (kD, kH, kW, 1, O) -- element
# (tap, o) at tap*O + o, output channel o = c*Og + m reads input channel c; y and
# grad_output (N, OD, OH, OW, O); grad_input like x.  Every tap of a window is a run
# of contiguous channels, so each output position is one loop over its channels
# (fc_nhwc.h: accumulators of 1, 2 or 4 vectors of channels over all its taps):
#
#   forward      task (n, lt output rows, blk input channels): y[.., o] = bias[o] +
#                the taps in row-major order of x[.., o // Og] * w[tap, o]; for Og > 1
#                the task's input rows are first expanded (each channel repeated Og
#                times) into its thread's workspace
#   grad_input   task (n, lt input rows, blk input channels), gathered (each element
#                owned by one task): over the taps (a, i, j) in row-major order whose
#                output position exists, grad_output * w, then (Og > 1) the Og sums
#                of each input channel added in order m = 0, 1, ...
#   grad_weight  task (chunk of samples, blk input channels): partial[chunk, tap, o]
#                = the chunk's samples and output rows in order, each row's sum over
#                its positions added once; the wrapper sums the chunks in order
#
# p.lt: rows per task; p.blk: input channels per task (its o range [c0*Og, c1*Og));
# p.chunks: grad_weight's sample chunks (chunk k: samples [k*N//chunks, (k+1)*N//chunks)).

cdef extern from "fc_nhwc.h" nogil:
    void fc_nc_select(int variant)
    void fc_nc_dot_f32(Py_ssize_t n, Py_ssize_t P, Py_ssize_t ps, Py_ssize_t os, Py_ssize_t R,
                       Py_ssize_t Q, const float *src, const Py_ssize_t *soff, Py_ssize_t ss,
                       const float *w, const Py_ssize_t *woff, Py_ssize_t ws,
                       const float *init, float *out)
    void fc_nc_dot_f64(Py_ssize_t n, Py_ssize_t P, Py_ssize_t ps, Py_ssize_t os, Py_ssize_t R,
                       Py_ssize_t Q, const double *src, const Py_ssize_t *soff, Py_ssize_t ss,
                       const double *w, const Py_ssize_t *woff, Py_ssize_t ws,
                       const double *init, double *out)
    void fc_nc_dot2_f32(Py_ssize_t n, Py_ssize_t Q, const float *a, Py_ssize_t sa,
                        const float *b, Py_ssize_t sb, float *acc)
    void fc_nc_dot2_f64(Py_ssize_t n, Py_ssize_t Q, const double *a, Py_ssize_t sa,
                        const double *b, Py_ssize_t sb, double *acc)
    void fc_nc_max_f32(Py_ssize_t n, Py_ssize_t P, Py_ssize_t ps, Py_ssize_t os,
                       Py_ssize_t pis, Py_ssize_t R, Py_ssize_t Q, const float *src,
                       const Py_ssize_t *soff, Py_ssize_t ss, const int64_t *ridx,
                       Py_ssize_t qstep, int64_t first, float *out, int64_t *idx, int narrow)
    void fc_nc_max_f64(Py_ssize_t n, Py_ssize_t P, Py_ssize_t ps, Py_ssize_t os,
                       Py_ssize_t pis, Py_ssize_t R, Py_ssize_t Q, const double *src,
                       const Py_ssize_t *soff, Py_ssize_t ss, const int64_t *ridx,
                       Py_ssize_t qstep, int64_t first, double *out, int64_t *idx, int narrow)
    void fc_nc_sum_f32(Py_ssize_t n, Py_ssize_t P, Py_ssize_t ps, Py_ssize_t os, Py_ssize_t R,
                       Py_ssize_t Q, const float *src, const Py_ssize_t *soff, Py_ssize_t ss,
                       const float *dv, float div, float *out)
    void fc_nc_sum_f64(Py_ssize_t n, Py_ssize_t P, Py_ssize_t ps, Py_ssize_t os, Py_ssize_t R,
                       Py_ssize_t Q, const double *src, const Py_ssize_t *soff, Py_ssize_t ss,
                       const double *dv, double div, double *out)

cdef extern from "fc_nhwc.h" nogil:
    void fc_nc_expand_f32(Py_ssize_t W, Py_ssize_t C, Py_ssize_t nc, Py_ssize_t Og,
                          const float *x, float *dst)
    void fc_nc_expand_f64(Py_ssize_t W, Py_ssize_t C, Py_ssize_t nc, Py_ssize_t Og,
                          const double *x, double *dst)
    void fc_nc_fold_f32(Py_ssize_t nc, Py_ssize_t Og, const float *acc, float *out)
    void fc_nc_fold_f64(Py_ssize_t nc, Py_ssize_t Og, const double *acc, double *out)

fc_nc_select({"avx512": 2, "avx2": 1}.get(_gemm.variant(), 0))


cdef inline void nc_dot(Py_ssize_t n, Py_ssize_t P, Py_ssize_t ps, Py_ssize_t os, Py_ssize_t R,
                        Py_ssize_t Q, const floating *src, const Py_ssize_t *soff, Py_ssize_t ss,
                        const floating *w, const Py_ssize_t *woff, Py_ssize_t ws,
                        const floating *init, floating *out) noexcept nogil:
    if floating is float:
        fc_nc_dot_f32(n, P, ps, os, R, Q, src, soff, ss, w, woff, ws, init, out)
    else:
        fc_nc_dot_f64(n, P, ps, os, R, Q, src, soff, ss, w, woff, ws, init, out)


cdef inline Py_ssize_t interior_lo(Py_ssize_t pb_, Py_ssize_t s) noexcept nogil:
    """The first output column whose window starts inside the row (o*s - pb_ >= 0)."""
    return (pb_ + s - 1) // s if pb_ > 0 else 0


cdef inline Py_ssize_t interior_hi(Py_ssize_t span, Py_ssize_t pb_, Py_ssize_t s,
                                   Py_ssize_t size, Py_ssize_t count) noexcept nogil:
    """One past the last output column whose window (span wide) ends inside the row."""
    cdef Py_ssize_t last = size - span + pb_       # o*s <= last
    if last < 0:
        return 0
    last = last // s + 1
    return last if last < count else count


cdef inline Py_ssize_t dw_rows_setup(const fc_problem *p, const floating *x, Py_ssize_t n,
                                     Py_ssize_t oz, Py_ssize_t oy, Py_ssize_t c0,
                                     Py_ssize_t nc, floating *ebuf, Py_ssize_t *ints,
                                     Py_ssize_t *ldx) noexcept nogil:
    """The input rows output row (oz, oy) reads: for each kernel row (a, i) that lies
    inside, ints[r] = the offset of its column 0 (channel c0) in x, or (Og > 1) in the
    expanded copies ``ebuf``, and ints[KR + r] the offset of its tap (a, i, 0) in the
    weight.  Returns their count.

    Og > 1: ``ebuf`` holds KR slots of one expanded input row each (W*nc*Og); the row
    cached in a slot is ints[4*KR + slot] (-1: none; the task sets them), so a row
    read by several output rows of a task is expanded once."""
    cdef Py_ssize_t D = p.in_[0], H = p.in_[1], W = p.in_[2], C = p.C, Og = p.Og
    cdef Py_ssize_t KR = p.k[0] * p.k[1]
    cdef Py_ssize_t z0 = oz * p.s[0] - p.pb[0], y0 = oy * p.s[1] - p.pb[1]
    cdef Py_ssize_t a0, a1, i0, i1, a, i, key, R = 0, r, q, slot
    cdef Py_ssize_t *tags = ints + 4 * KR
    cdef Py_ssize_t *mark = ints + 5 * KR
    cdef Py_ssize_t *keys = ints + 6 * KR
    valid_range(z0, p.d[0], p.k[0], D, &a0, &a1)
    valid_range(y0, p.d[1], p.k[1], H, &i0, &i1)
    ldx[0] = C if Og == 1 else nc * Og
    for a in range(a0, a1):
        for i in range(i0, i1):
            key = (n * D + z0 + a * p.d[0]) * H + y0 + i * p.d[1]
            if Og == 1:
                ints[R] = key * W * C + c0
            keys[R] = key
            ints[KR + R] = (a * p.k[1] + i) * p.k[2] * p.O + c0 * Og
            R = R + 1
    if Og == 1:
        return R
    for q in range(KR):
        mark[q] = 0
    for r in range(R):               # the rows already expanded
        ints[r] = -1
        for q in range(KR):
            if tags[q] == keys[r]:
                ints[r] = q
                mark[q] = 1
                break
    slot = 0
    for r in range(R):               # the others, into slots no row here uses
        if ints[r] < 0:
            while mark[slot]:
                slot = slot + 1
            mark[slot] = 1
            tags[slot] = keys[r]
            ints[r] = slot
            if floating is float:
                fc_nc_expand_f32(W, C, nc, Og, x + keys[r] * W * C + c0,
                                 ebuf + slot * W * nc * Og)
            else:
                fc_nc_expand_f64(W, C, nc, Og, x + keys[r] * W * C + c0,
                                 ebuf + slot * W * nc * Og)
    for r in range(R):
        ints[r] = ints[r] * W * nc * Og
    return R


cdef inline Py_ssize_t gcd(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    cdef Py_ssize_t t
    while b:
        t = a % b
        a = b
        b = t
    return a


cdef void nhwc_dw_forward(const fc_problem *p,
                          const floating *x, const floating *w, const floating *bias,  # IN
                          floating *y,                                                # OUT
                          floating *ws, int n_threads) noexcept nogil:
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t OH = p.out[1], OW = p.out[2], O = p.O, Og = p.Og
    cdef Py_ssize_t rows = p.out[0] * OH, rb = p.lt, cbk = p.blk
    cdef Py_ssize_t nrb = cdiv(rows, rb), ncb = cdiv(p.C, cbk)
    cdef Py_ssize_t W = p.in_[2], sw = p.s[2], dw = p.d[2], pw = p.pb[2], kw = p.k[2]
    cdef Py_ssize_t span = (kw - 1) * dw + 1
    cdef Py_ssize_t lo = interior_lo(pw, sw), hi = interior_hi(span, pw, sw, W, OW)
    cdef Py_ssize_t task, n, b, cb, c0, nc, no, row, oz, oy, ox, R, r, ldx, j0, j1, x0
    cdef Py_ssize_t *ints
    cdef floating *ebuf
    cdef const floating *src
    cdef const floating *init
    cdef floating *yrow
    if hi < lo:
        hi = lo
    for task in prange(p.N * nrb * ncb, num_threads=n_threads, schedule="static"):
        n = task // (nrb * ncb)
        b = (task // ncb) % nrb
        cb = task % ncb
        c0 = cb * cbk
        nc = p.C - c0 if p.C - c0 < cbk else cbk
        no = nc * Og
        ints = <Py_ssize_t *>(ws + threadid() * lay.per_thread)
        ebuf = ws + threadid() * lay.per_thread + lay.ints
        init = bias + c0 * Og if bias != NULL else NULL
        src = x if Og == 1 else ebuf
        ldx = j0 = j1 = 0   # (assigned here: private; the calls below set them by address)
        for r in range(p.k[0] * p.k[1]):
            ints[4 * p.k[0] * p.k[1] + r] = -1      # no expanded rows cached yet
        for row in range(b * rb, min(rows, (b + 1) * rb)):
            oz = row // OH
            oy = row - oz * OH
            R = dw_rows_setup(p, x, n, oz, oy, c0, nc, ebuf, ints, &ldx)
            yrow = y + (n * rows + row) * OW * O + c0 * Og
            for ox in range(OW):
                if ox == lo and hi > lo:   # the interior: every tap inside, one call
                    for r in range(R):
                        ints[2 * p.k[0] * p.k[1] + r] = ints[r] + (lo * sw - pw) * ldx
                        ints[3 * p.k[0] * p.k[1] + r] = ints[p.k[0] * p.k[1] + r]
                    nc_dot(no, hi - lo, sw * ldx, O, R, kw, src, ints + 2 * p.k[0] * p.k[1],
                           dw * ldx, w, ints + 3 * p.k[0] * p.k[1], O, init, yrow + lo * O)
                if lo <= ox < hi:
                    continue
                x0 = ox * sw - pw
                valid_range(x0, dw, kw, W, &j0, &j1)
                for r in range(R):
                    ints[2 * p.k[0] * p.k[1] + r] = ints[r] + (x0 + j0 * dw) * ldx
                    ints[3 * p.k[0] * p.k[1] + r] = ints[p.k[0] * p.k[1] + r] + j0 * O
                nc_dot(no, 1, 0, 0, R, j1 - j0, src, ints + 2 * p.k[0] * p.k[1], dw * ldx, w,
                       ints + 3 * p.k[0] * p.k[1], O, init, yrow + ox * O)


cdef void nhwc_dw_grad_input(const fc_problem *p,
                             const floating *go,   # IN  (N, OD, OH, OW, O)
                             const floating *w,    # IN  (kD, kH, kW, 1, O)
                             floating *gx,         # OUT (N, D, H, W, C), written whole
                             floating *ws, int n_threads) noexcept nogil:
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t D = p.in_[0], H = p.in_[1], W = p.in_[2], C = p.C, O = p.O, Og = p.Og
    cdef Py_ssize_t OD = p.out[0], OH = p.out[1], OW = p.out[2]
    cdef Py_ssize_t rows = D * H, rb = p.lt, cbk = p.blk
    cdef Py_ssize_t nrb = cdiv(rows, rb), ncb = cdiv(C, cbk)
    cdef Py_ssize_t KR = p.k[0] * p.k[1], kw = p.k[2], sw = p.s[2], dw = p.d[2], pw = p.pb[2]
    cdef Py_ssize_t task, n, b, cb, c0, nc, no, row, iz, iy, ix, a, i, j, t, oz, oy, ox
    cdef Py_ssize_t R, Q, r, m, jstep, jfirst, g, oxs
    cdef Py_ssize_t *ints
    cdef floating *acc
    cdef floating *grow
    cdef Py_ssize_t ilo = (kw - 1) * dw - pw, ihi = sw * OW - pw, P
    g = gcd(sw, dw)
    jstep = sw // g
    if ilo < 0:
        ilo = 0
    if ihi > W:
        ihi = W
    if ihi < ilo:
        ihi = ilo
    for task in prange(p.N * nrb * ncb, num_threads=n_threads, schedule="static"):
        n = task // (nrb * ncb)
        b = (task // ncb) % nrb
        cb = task % ncb
        c0 = cb * cbk
        nc = C - c0 if C - c0 < cbk else cbk
        no = nc * Og
        ints = <Py_ssize_t *>(ws + threadid() * lay.per_thread)
        acc = ws + threadid() * lay.per_thread + lay.ints
        for row in range(b * rb, min(rows, (b + 1) * rb)):
            iz = row // H
            iy = row - iz * H
            # the (a, i) kernel rows whose output row exists: their grad_output row
            # (channel c0*Og) and weight tap (a, i, 0)
            R = 0
            for a in range(p.k[0]):
                t = iz + p.pb[0] - a * p.d[0]
                if t < 0 or t % p.s[0] != 0 or t // p.s[0] >= OD:
                    continue
                oz = t // p.s[0]
                for i in range(p.k[1]):
                    t = iy + p.pb[1] - i * p.d[1]
                    if t < 0 or t % p.s[1] != 0 or t // p.s[1] >= OH:
                        continue
                    oy = t // p.s[1]
                    ints[R] = ((n * OD + oz) * OH + oy) * OW * O + c0 * Og
                    ints[KR + R] = (a * p.k[1] + i) * kw * O + c0 * Og
                    R = R + 1
            grow = gx + (n * rows + row) * W * C + c0
            for ix in range(W):
                if Og == 1 and ilo + sw <= ix < ihi:
                    continue   # (done with the first sw interior positions, one per phase)
                # taps j with (ix + pw - j*dw) a multiple of sw and ox in range: an
                # arithmetic progression (step sw/g in j, -dw/g in ox)
                jfirst = -1
                for j in range(min(kw, jstep)):
                    if (ix + pw - j * dw) % sw == 0:
                        jfirst = j
                        break
                Q = 0
                oxs = 0
                if jfirst >= 0:
                    t = ix + pw - jfirst * dw
                    while jfirst < kw and t >= sw * OW:   # past the row's end
                        jfirst = jfirst + jstep
                        t = t - jstep * dw
                    oxs = t // sw
                    j = jfirst
                    while j < kw and t >= 0:
                        Q = Q + 1
                        j = j + jstep
                        t = t - jstep * dw
                for r in range(R):
                    ints[2 * KR + r] = ints[r] + oxs * O
                    ints[3 * KR + r] = ints[KR + r] + jfirst * O
                if Og == 1:
                    # interior positions (every tap's output inside the row) of one phase
                    # share their taps: ix, ix + sw, ... in one call (ox advances by one)
                    P = 1
                    if ilo <= ix < ilo + sw and ix < ihi:
                        P = (ihi - 1 - ix) // sw + 1
                    nc_dot(nc, P, O, sw * C, R if Q > 0 else 0, Q, go, ints + 2 * KR,
                           -(dw // g) * O, w, ints + 3 * KR, jstep * O, <const floating *>NULL,
                           grow + ix * C)
                else:
                    nc_dot(no, 1, 0, 0, R if Q > 0 else 0, Q, go, ints + 2 * KR,
                           -(dw // g) * O, w, ints + 3 * KR, jstep * O, <const floating *>NULL,
                           acc)
                    if floating is float:   # the Og sums of each input channel, in order
                        fc_nc_fold_f32(nc, Og, acc, grow + ix * C)
                    else:
                        fc_nc_fold_f64(nc, Og, acc, grow + ix * C)


cdef void nhwc_dw_grad_weight(const fc_problem *p,
                              const floating *go,   # IN  (N, OD, OH, OW, O)
                              const floating *x,    # IN  (N, D, H, W, C)
                              floating *part,       # OUT (chunks, kD, kH, kW, 1, O)
                              floating *ws, int n_threads) noexcept nogil:
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t W = p.in_[2], O = p.O, Og = p.Og, taps = p.taps
    cdef Py_ssize_t OH = p.out[1], OW = p.out[2], rows = p.out[0] * OH
    cdef Py_ssize_t KR = p.k[0] * p.k[1], kw = p.k[2], sw = p.s[2], dw = p.d[2], pw = p.pb[2]
    cdef Py_ssize_t cbk = p.blk, ncb = cdiv(p.C, cbk), P = p.chunks
    cdef Py_ssize_t task, chunk, cb, c0, nc, no, n, row, oz, oy, R, r, j, lo_, hi_, ldx, tap
    cdef Py_ssize_t *ints
    cdef floating *acc
    cdef floating *ebuf
    cdef const floating *src
    cdef const floating *grow
    for task in prange(P * ncb, num_threads=n_threads, schedule="static"):
        chunk = task // ncb
        cb = task % ncb
        c0 = cb * cbk
        nc = p.C - c0 if p.C - c0 < cbk else cbk
        no = nc * Og
        ints = <Py_ssize_t *>(ws + threadid() * lay.per_thread)
        acc = ws + threadid() * lay.per_thread + lay.ints
        ebuf = acc + lay.got
        src = x if Og == 1 else ebuf
        ldx = lo_ = hi_ = 0   # (assigned here: private; set by address below)
        for r in range(KR):
            ints[4 * KR + r] = -1                   # no expanded rows cached yet
        memset(acc, 0, taps * no * sizeof(floating))
        for n in range(chunk * p.N // P, (chunk + 1) * p.N // P):
            for row in range(rows):
                oz = row // OH
                oy = row - oz * OH
                R = dw_rows_setup(p, x, n, oz, oy, c0, nc, ebuf, ints, &ldx)
                grow = go + (n * rows + row) * OW * O + c0 * Og
                for r in range(R):
                    tap = ints[KR + r] - c0 * Og
                    tap = tap // O
                    for j in range(kw):
                        valid_range(j * dw - pw, sw, OW, W, &lo_, &hi_)
                        if hi_ <= lo_:
                            continue
                        if floating is float:
                            fc_nc_dot2_f32(no, hi_ - lo_, grow + lo_ * O, O,
                                           src + ints[r] + (lo_ * sw - pw + j * dw) * ldx,
                                           sw * ldx, acc + (tap + j) * no)
                        else:
                            fc_nc_dot2_f64(no, hi_ - lo_, grow + lo_ * O, O,
                                           src + ints[r] + (lo_ * sw - pw + j * dw) * ldx,
                                           sw * ldx, acc + (tap + j) * no)
        for tap in range(taps):
            memcpy(part + (chunk * taps + tap) * O + c0 * Og, acc + tap * no,
                   no * sizeof(floating))


# ------------------------------------------------------- workspace, tasks, run


cdef void nhwc_dw_workspace(const fc_problem *p, fc_workspace_layout *w) noexcept nogil:
    cdef Py_ssize_t KR = p.k[0] * p.k[1]
    cdef Py_ssize_t no = (p.blk if p.blk < p.C else p.C) * p.Og
    cdef Py_ssize_t ebuf = KR * p.in_[2] * no if p.Og > 1 else 0
    # row and tap offsets (twice), the expanded rows' cache: tags, marks, keys
    w.ints = index_elems(7 * KR + 4, p.itemsize)
    if p.algo == FC_CONV_FWD_DW_NHWC:
        w.main = ebuf
    elif p.algo == FC_CONV_BWI_DW_NHWC:
        w.main = round16(no) if p.Og > 1 else 0             # the o sums of one position
    elif p.algo == FC_CONV_BWW_DW_NHWC:
        w.got = round16(p.taps * no)                         # the task's sums
        w.main = ebuf
        w.shared = (p.chunks if p.chunks > 1 else 1) * p.taps * p.O


cdef Py_ssize_t nhwc_dw_tasks(const fc_problem *p) noexcept nogil:
    if p.blk <= 0:
        return 0
    if p.algo == FC_CONV_BWW_DW_NHWC:
        return p.chunks * cdiv(p.C, p.blk) if p.chunks > 0 else 0
    if p.lt <= 0:
        return 0
    if p.algo == FC_CONV_FWD_DW_NHWC:
        return p.N * cdiv(p.out[0] * p.out[1], p.lt) * cdiv(p.C, p.blk)
    return p.N * cdiv(p.in_[0] * p.in_[1], p.lt) * cdiv(p.C, p.blk)


cdef Py_ssize_t nhwc_dw_run(const fc_problem *p, void **arrays, void *ws,
                          int n_threads) noexcept nogil:
    """Run the problem's algorithm on ``arrays`` (checked by entry.pxi's run)."""
    cdef int a = p.algo
    cdef bint f32 = p.itemsize == 4
    if a == FC_CONV_FWD_DW_NHWC:
        if f32:
            nhwc_dw_forward[float](p, <const float *>arrays[0], <const float *>arrays[1],
                                   <const float *>arrays[2], <float *>arrays[3], <float *>ws,
                                   n_threads)
        else:
            nhwc_dw_forward[double](p, <const double *>arrays[0], <const double *>arrays[1],
                                    <const double *>arrays[2], <double *>arrays[3],
                                    <double *>ws, n_threads)
    elif a == FC_CONV_BWI_DW_NHWC:
        if f32:
            nhwc_dw_grad_input[float](p, <const float *>arrays[0], <const float *>arrays[1],
                                      <float *>arrays[2], <float *>ws, n_threads)
        else:
            nhwc_dw_grad_input[double](p, <const double *>arrays[0], <const double *>arrays[1],
                                       <double *>arrays[2], <double *>ws, n_threads)
    elif a == FC_CONV_BWW_DW_NHWC:
        if f32:
            nhwc_dw_grad_weight[float](p, <const float *>arrays[0], <const float *>arrays[1],
                                       <float *>arrays[2], <float *>ws, n_threads)
        else:
            nhwc_dw_grad_weight[double](p, <const double *>arrays[0],
                                        <const double *>arrays[1], <double *>arrays[2],
                                        <double *>ws, n_threads)
    return 0
