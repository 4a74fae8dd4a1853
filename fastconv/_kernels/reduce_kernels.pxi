# Pooling as per-window reductions over contiguous runs (max_pool.forward.reduce,
# avg_pool.forward.reduce, avg_pool.grad_input.reduce).  (Included by _engine.pyx,
# after pool_kernels.pxi, whose avg_divisor it uses.)
#
# For global pooling (one output per plane) and windows that are large next to the
# output, the window kernels' loops -- every tap updates a whole output row --
# degenerate into taps over rows of one or a few outputs.  Here each output's window,
# clipped to the input (padding is never a value; dilation 1 only), is a box of the
# volume, walked as contiguous runs: whole rows merge into one run per plane, whole
# planes into one run per box.  A run is summed (or maxed) in RLANES lane
# accumulators -- element q of a run goes to lane q % RLANES, the lanes are combined
# in a fixed tree -- so the inner loop vectorises and the order is fixed by the shape.
#
# Tasks are groups of `blk` consecutive (n, c) volumes (fixed by the shape, see the
# planner), so tiny planes do not pay a task each; every task writes only its own
# volumes' outputs, in ascending order.
#
# Max pooling keeps ATen's rule exactly, in two passes: the lanes find the maximum
# value (a lane takes v when ``v > m or v != v``, so NaN sticks); when the index is
# wanted, or the maximum is 0 (which zero came first decides the sign) or NaN (which
# NaN came last decides the payload), a scalar scan finds the element ATen would
# keep -- the first one equal to the maximum, or the last NaN -- and the output is
# that element.

cdef enum:
    RLANES = 16     # lane accumulators of a run (a multiple of every SIMD width)


cdef struct Box:
    # the runs of one window: for z in [z0, z1), y in [y0, y1): the rlen elements
    # from (z*H + y)*W + x0 (whole rows and planes are merged into longer runs)
    Py_ssize_t z0, z1, y0, y1, x0, rlen, H, W


cdef inline void clip(Py_ssize_t o, Py_ssize_t s, Py_ssize_t pb_, Py_ssize_t k,
                      Py_ssize_t size, Py_ssize_t *lo, Py_ssize_t *hi) noexcept nogil:
    cdef Py_ssize_t a = o * s - pb_
    cdef Py_ssize_t b = a + k
    lo[0] = a if a > 0 else 0
    hi[0] = b if b < size else size


cdef inline Box box_of(const fc_problem *p, Py_ssize_t oz, Py_ssize_t oy,
                       Py_ssize_t ox) noexcept nogil:
    cdef Box b
    cdef Py_ssize_t x1
    b.H = p.in_[1]
    b.W = p.in_[2]
    clip(oz, p.s[0], p.pb[0], p.k[0], p.in_[0], &b.z0, &b.z1)
    clip(oy, p.s[1], p.pb[1], p.k[1], b.H, &b.y0, &b.y1)
    clip(ox, p.s[2], p.pb[2], p.k[2], b.W, &b.x0, &x1)
    b.rlen = x1 - b.x0
    if b.z1 <= b.z0 or b.y1 <= b.y0 or b.rlen <= 0:
        b.z1 = b.z0          # empty (never for a valid problem; no runs)
        return b
    if b.rlen == b.W:                       # whole rows: one run per plane
        b.rlen = (b.y1 - b.y0) * b.W
        b.y1 = b.y0 + 1
        if b.rlen == b.H * b.W:             # whole planes: one run
            b.rlen = (b.z1 - b.z0) * b.rlen
            b.z1 = b.z0 + 1
    return b


cdef inline Py_ssize_t box_start(const Box *b, Py_ssize_t z, Py_ssize_t y) noexcept nogil:
    return (z * b.H + y) * b.W + b.x0


# ----------------------------------------------------------------- sums


cdef extern from "fc_reduce.h" nogil:
    void fc_lanes_sum_f32(const float *src, Py_ssize_t n, float *acc)
    void fc_lanes_sum_f64(const double *src, Py_ssize_t n, double *acc)
    void fc_lanes_max_f32(const float *src, Py_ssize_t n, float *m)
    void fc_lanes_max_f64(const double *src, Py_ssize_t n, double *m)
    Py_ssize_t fc_find_eq_f32(const float *src, Py_ssize_t n, float x)
    Py_ssize_t fc_find_eq_f64(const double *src, Py_ssize_t n, double x)
    float fc_lanes_total_f32(const float *acc)
    double fc_lanes_total_f64(const double *acc)
    float fc_lanes_maxtotal_f32(const float *m)
    double fc_lanes_maxtotal_f64(const double *m)
    float fc_run_sum_f32(const float *src, Py_ssize_t n)
    double fc_run_sum_f64(const double *src, Py_ssize_t n)
    float fc_run_max_f32(const float *src, Py_ssize_t n)
    double fc_run_max_f64(const double *src, Py_ssize_t n)
    Py_ssize_t fc_run_argmax_f32(const float *src, Py_ssize_t n, Py_ssize_t base, float *val)
    Py_ssize_t fc_run_argmax_f64(const double *src, Py_ssize_t n, Py_ssize_t base, double *val)


cdef inline void lanes_sum(const floating *src, Py_ssize_t n, floating *acc) noexcept nogil:
    """acc[q % RLANES] += src[q] for q in [0, n), in ascending q (fc_reduce.h)."""
    if floating is float:
        fc_lanes_sum_f32(src, n, acc)
    else:
        fc_lanes_sum_f64(src, n, acc)


cdef inline floating box_sum(const floating *xp, const Box *b) noexcept nogil:
    """The sum of one window: its runs folded into RLANES lanes, combined by a fixed
    tree (fc_reduce.h); a window of one run never leaves the registers."""
    cdef floating acc[RLANES]
    cdef Py_ssize_t z, y, l
    if b.z1 == b.z0 + 1 and b.y1 == b.y0 + 1:
        if floating is float:
            return fc_run_sum_f32(xp + box_start(b, b.z0, b.y0), b.rlen)
        else:
            return fc_run_sum_f64(xp + box_start(b, b.z0, b.y0), b.rlen)
    for l in range(RLANES):
        acc[l] = 0
    for z in range(b.z0, b.z1):
        for y in range(b.y0, b.y1):
            lanes_sum(xp + box_start(b, z, y), b.rlen, acc)
    if floating is float:
        return fc_lanes_total_f32(acc)
    else:
        return fc_lanes_total_f64(acc)


cdef inline double avg_divisor_at(const fc_problem *p, Py_ssize_t oz, Py_ssize_t oy,
                                   Py_ssize_t ox) noexcept nogil:
    return avg_divisor(p, <double>avg_extent(oz, p.s[0], p.pb[0], p.k[0], p.in_[0], p.pa[0],
                                             p.count_include_pad)
                       * avg_extent(oy, p.s[1], p.pb[1], p.k[1], p.in_[1], p.pa[1],
                                    p.count_include_pad), ox)


cdef void avg_reduce_volume(const fc_problem *p, const floating *xp,
                            floating *op) noexcept nogil:
    cdef Py_ssize_t oz, oy, ox, l = 0
    cdef double ext
    cdef Box b
    for oz in range(p.out[0]):
        for oy in range(p.out[1]):
            ext = (<double>avg_extent(oz, p.s[0], p.pb[0], p.k[0], p.in_[0], p.pa[0],
                                      p.count_include_pad)
                   * avg_extent(oy, p.s[1], p.pb[1], p.k[1], p.in_[1], p.pa[1],
                                p.count_include_pad))
            for ox in range(p.out[2]):
                b = box_of(p, oz, oy, ox)
                op[l] = box_sum(xp, &b) / <floating>avg_divisor(p, ext, ox)
                l += 1


cdef void avg_reduce_grad_volume(const fc_problem *p, const floating *gop,
                                 floating *gp) noexcept nogil:
    """grad_input of one volume: every output's gradient / divisor added over its box
    (outputs in ascending order); a single window covering the whole volume is a fill."""
    cdef Py_ssize_t oz, oy, ox, z, y, q, l = 0
    cdef double ext
    cdef floating g
    cdef floating *dst
    cdef Box b
    memset(gp, 0, p.in_vol * sizeof(floating))
    for oz in range(p.out[0]):
        for oy in range(p.out[1]):
            ext = (<double>avg_extent(oz, p.s[0], p.pb[0], p.k[0], p.in_[0], p.pa[0],
                                      p.count_include_pad)
                   * avg_extent(oy, p.s[1], p.pb[1], p.k[1], p.in_[1], p.pa[1],
                                p.count_include_pad))
            for ox in range(p.out[2]):
                b = box_of(p, oz, oy, ox)
                g = gop[l] / <floating>avg_divisor(p, ext, ox)
                l += 1
                for z in range(b.z0, b.z1):
                    for y in range(b.y0, b.y1):
                        dst = gp + box_start(&b, z, y)
                        for q in range(b.rlen):
                            dst[q] = dst[q] + g


cdef void avg_pool_reduce(const fc_problem *p, const floating *src,   # IN  x, or grad_output
                          floating *dst,                              # OUT out, or grad_input
                          int n_threads) noexcept nogil:
    cdef Py_ssize_t t, v, v0, v1, q, NC = p.N * p.C, blk = p.blk, V = p.in_vol
    cdef bint backward = p.direction == FC_GRAD_INPUT
    # one window per volume (global pooling): its box and divisor are the same for
    # every volume; a box of the whole volume is one run (a fill, backward)
    cdef Box b0 = box_of(p, 0, 0, 0)
    cdef floating div0 = <floating>avg_divisor_at(p, 0, 0, 0)
    cdef bint one = p.L == 1
    cdef bint whole = one and b0.rlen == V
    cdef floating g
    cdef floating *gp
    for t in prange(fc_tasks(p), num_threads=n_threads, schedule="static"):
        v0 = t * blk
        v1 = v0 + blk
        if v1 > NC:
            v1 = NC
        if whole and backward:
            for v in range(v0, v1):
                g = src[v] / div0
                gp = dst + v * V
                for q in range(V):
                    gp[q] = g
        elif one and not backward:
            for v in range(v0, v1):
                dst[v] = box_sum(src + v * V, &b0) / div0
        else:
            for v in range(v0, v1):
                if backward:
                    avg_reduce_grad_volume(p, src + v * p.L, dst + v * V)
                else:
                    avg_reduce_volume(p, src + v * V, dst + v * p.L)


# ------------------------------------------------------------------ max


cdef inline void lanes_max(const floating *src, Py_ssize_t n, floating *m) noexcept nogil:
    """m[q % RLANES] takes src[q] when ``src[q] > m or src[q] != src[q]`` (fc_reduce.h)."""
    if floating is float:
        fc_lanes_max_f32(src, n, m)
    else:
        fc_lanes_max_f64(src, n, m)


cdef inline Py_ssize_t find_eq(const floating *src, Py_ssize_t n, floating x) noexcept nogil:
    if floating is float:
        return fc_find_eq_f32(src, n, x)
    else:
        return fc_find_eq_f64(src, n, x)


cdef inline Py_ssize_t box_find(const floating *xp, const Box *b, floating mx) noexcept nogil:
    """The offset ATen's sequential rule keeps: the last NaN when mx is NaN, else the
    first element equal to mx; -1 for an empty box."""
    cdef Py_ssize_t z, y, q, s, last = -1
    cdef const floating *src
    for z in range(b.z0, b.z1):
        for y in range(b.y0, b.y1):
            s = box_start(b, z, y)
            src = xp + s
            if mx != mx:
                for q in range(b.rlen):
                    if src[q] != src[q]:
                        last = s + q
            else:
                q = find_eq(src, b.rlen, mx)
                if q >= 0:
                    return s + q
    return last


cdef inline floating box_max(const floating *xp, const Box *b, int64_t *ip) noexcept nogil:
    """The maximum of one window by ATen's rule (and its offset at ``ip``, if not NULL)."""
    cdef floating m[RLANES]
    cdef floating mx
    cdef Py_ssize_t z, y, l, k
    if ip != NULL and b.z1 == b.z0 + 1 and b.y1 == b.y0 + 1 and (
            floating is double or box_start(b, b.z0, b.y0) + b.rlen < 2147483647):
        # one run: value and offset in one pass (int32 offsets for float lanes)
        # (the SIMD variant of fc_pool.h: AVX-512 / AVX2 / baseline; the same result as
        # fc_run_argmax, which fixes it by ATen's rule whatever the lanes)
        if floating is float:
            k = fc_pargmax_f32(xp + box_start(b, b.z0, b.y0), b.rlen,
                               box_start(b, b.z0, b.y0), &mx)
        else:
            k = fc_pargmax_f64(xp + box_start(b, b.z0, b.y0), b.rlen,
                               box_start(b, b.z0, b.y0), &mx)
        if k < 0:           # every element -inf: ATen's first element
            k = box_start(b, b.z0, b.y0)
        ip[0] = k
        return mx
    if b.z1 == b.z0 + 1 and b.y1 == b.y0 + 1:
        if floating is float:
            mx = fc_run_max_f32(xp + box_start(b, b.z0, b.y0), b.rlen)
        else:
            mx = fc_run_max_f64(xp + box_start(b, b.z0, b.y0), b.rlen)
    else:
        for l in range(RLANES):
            m[l] = -INFINITY
        for z in range(b.z0, b.z1):
            for y in range(b.y0, b.y1):
                lanes_max(xp + box_start(b, z, y), b.rlen, m)
        if floating is float:
            mx = fc_lanes_maxtotal_f32(m)
        else:
            mx = fc_lanes_maxtotal_f64(m)
    if ip != NULL or mx == 0 or mx != mx:
        k = box_find(xp, b, mx)
        if k < 0:       # empty box (not a valid problem): ATen's first element
            k = box_start(b, b.z0, b.y0)
        else:
            mx = xp[k]
        if ip != NULL:
            ip[0] = k
    return mx


cdef void max_reduce_volume(const fc_problem *p, const floating *xp, floating *op,
                            int64_t *ip) noexcept nogil:
    cdef Py_ssize_t oz, oy, ox, o = 0
    cdef Box b
    for oz in range(p.out[0]):
        for oy in range(p.out[1]):
            for ox in range(p.out[2]):
                b = box_of(p, oz, oy, ox)
                op[o] = box_max(xp, &b, ip + o if ip != NULL else NULL)
                o += 1


cdef int max_pool_reduce(const fc_problem *p, const floating *x,    # IN  (N, C, in_vol)
                         floating *out,                              # OUT (N, C, out_vol)
                         int64_t *indices,                           # OUT, or NULL
                         int n_threads) noexcept nogil:
    cdef Py_ssize_t t, v, v0, v1, NC = p.N * p.C, blk = p.blk, V = p.in_vol
    cdef Box b0 = box_of(p, 0, 0, 0)    # global pooling: the one window of every volume
    cdef bint one = p.L == 1
    for t in prange(fc_tasks(p), num_threads=n_threads, schedule="static"):
        v0 = t * blk
        v1 = v0 + blk
        if v1 > NC:
            v1 = NC
        if one:
            for v in range(v0, v1):
                out[v] = box_max(x + v * V, &b0, indices + v if indices != NULL else NULL)
        else:
            for v in range(v0, v1):
                max_reduce_volume(p, x + v * V, out + v * p.L,
                                  indices + v * p.L if indices != NULL else NULL)
    return 0
