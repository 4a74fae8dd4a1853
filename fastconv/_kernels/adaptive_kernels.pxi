# Adaptive max and average pooling, forward and backward, rank 1 to 3, either layout.
# (Included by _engine.pyx.)
#
# Output o along an axis of input size I and output size O pools the window
# [floor(o*I/O), ceil((o+1)*I/O)) -- torch's rule; windows may overlap and differ in
# size by one.  Max: the maximum starts at -inf and is replaced when ``v > m or v != v``
# (NaN wins), row-major order, so the first maximum wins ties; with no element above
# -inf the index is the window's first element (as ATen).  Indices are flat offsets
# within the (D, H, W) volume in either layout.  Average: the window's sum in row-major
# order divided by its size.
#
# Channels-first: one (n, c) volume per task.  Channels-last: forward, one output row
# (n, oz, oy) per task, the channel loop innermost (contiguous); backward, one
# (sample, block of ADAPTIVE_CB channels) per task, outputs visited in order.  Every
# element is summed by one task in a fixed order: the same bits for any thread count.

cdef enum:
    ADAPTIVE_CB = 64       # channels per channels-last backward task


cdef inline void adaptive_window(Py_ssize_t o, Py_ssize_t size, Py_ssize_t out,
                                 Py_ssize_t *a, Py_ssize_t *b) noexcept nogil:
    a[0] = (o * size) // out
    b[0] = ((o + 1) * size + out - 1) // out


cdef void _adaptive_max_volume(const fc_problem *p, const floating *xp, floating *op,
                               int64_t *ip) noexcept nogil:
    cdef Py_ssize_t D = p.in_[0], H = p.in_[1], W = p.in_[2]
    cdef Py_ssize_t OD = p.out[0], OH = p.out[1], OW = p.out[2]
    cdef Py_ssize_t oz, oy, ox, z, y, x, z0, z1, y0, y1, x0, x1, best, l = 0
    cdef floating m, v
    for oz in range(OD):
        adaptive_window(oz, D, OD, &z0, &z1)
        for oy in range(OH):
            adaptive_window(oy, H, OH, &y0, &y1)
            for ox in range(OW):
                adaptive_window(ox, W, OW, &x0, &x1)
                m = -INFINITY
                best = (z0 * H + y0) * W + x0
                for z in range(z0, z1):
                    for y in range(y0, y1):
                        for x in range(x0, x1):
                            v = xp[(z * H + y) * W + x]
                            if v > m or v != v:
                                m = v
                                best = (z * H + y) * W + x
                op[l] = m
                if ip != NULL:
                    ip[l] = best
                l += 1


cdef void _adaptive_avg_volume(const fc_problem *p, const floating *src, floating *dst,
                               bint backward) noexcept nogil:
    """Forward: dst[o] = mean of src over o's window.  Backward: dst (the zeroed
    grad_input volume) gets src[o] / size spread over o's window, outputs in order."""
    cdef Py_ssize_t D = p.in_[0], H = p.in_[1], W = p.in_[2]
    cdef Py_ssize_t OD = p.out[0], OH = p.out[1], OW = p.out[2]
    cdef Py_ssize_t oz, oy, ox, z, y, x, z0, z1, y0, y1, x0, x1, l = 0
    cdef floating acc, g
    for oz in range(OD):
        adaptive_window(oz, D, OD, &z0, &z1)
        for oy in range(OH):
            adaptive_window(oy, H, OH, &y0, &y1)
            for ox in range(OW):
                adaptive_window(ox, W, OW, &x0, &x1)
                if backward:
                    g = src[l] / <floating>((z1 - z0) * (y1 - y0) * (x1 - x0))
                    for z in range(z0, z1):
                        for y in range(y0, y1):
                            for x in range(x0, x1):
                                dst[(z * H + y) * W + x] += g
                else:
                    acc = 0
                    for z in range(z0, z1):
                        for y in range(y0, y1):
                            for x in range(x0, x1):
                                acc = acc + src[(z * H + y) * W + x]
                    dst[l] = acc / <floating>((z1 - z0) * (y1 - y0) * (x1 - x0))
                l += 1


cdef void _adaptive_row_last(const fc_problem *p, const floating *x, floating *y,
                             int64_t *ind, Py_ssize_t row, bint is_max) noexcept nogil:
    """Channels-last forward of output row ``row`` = (n, oz, oy): for each output, the
    window's elements visited in row-major order, all C channels at once (the output
    row itself is the accumulator)."""
    cdef Py_ssize_t C = p.C, D = p.in_[0], H = p.in_[1], W = p.in_[2]
    cdef Py_ssize_t OD = p.out[0], OH = p.out[1], OW = p.out[2]
    cdef Py_ssize_t n = row // (OD * OH), oz = row // OH % OD, oy = row % OH
    cdef Py_ssize_t ox, z, yy, xx, z0, z1, y0, y1, x0, x1, c, off
    cdef floating *o
    cdef int64_t *io = NULL
    cdef const floating *s
    cdef floating v, inv
    adaptive_window(oz, D, OD, &z0, &z1)
    adaptive_window(oy, H, OH, &y0, &y1)
    for ox in range(OW):
        adaptive_window(ox, W, OW, &x0, &x1)
        o = y + (row * OW + ox) * C
        if ind != NULL:
            io = ind + (row * OW + ox) * C
        for c in range(C):
            o[c] = -INFINITY if is_max else 0
        if io != NULL:
            for c in range(C):
                io[c] = (z0 * H + y0) * W + x0
        for z in range(z0, z1):
            for yy in range(y0, y1):
                for xx in range(x0, x1):
                    off = (z * H + yy) * W + xx
                    s = x + (n * D * H * W + off) * C
                    if not is_max:
                        for c in range(C):
                            o[c] = o[c] + s[c]
                    elif io == NULL:
                        for c in range(C):
                            v = s[c]
                            if v > o[c] or v != v:
                                o[c] = v
                    else:
                        for c in range(C):
                            v = s[c]
                            if v > o[c] or v != v:
                                o[c] = v
                                io[c] = off
        if not is_max:
            inv = <floating>((z1 - z0) * (y1 - y0) * (x1 - x0))
            for c in range(C):
                o[c] = o[c] / inv


cdef Py_ssize_t _adaptive_bwd_last(const fc_problem *p, const floating *go,
                                   const int64_t *ind, floating *gx,
                                   Py_ssize_t task) noexcept nogil:
    """Channels-last backward of (sample, channel block) ``task``: gx (zeroed here) gets
    each output's gradient -- spread over its window (average) or routed to its index
    (max) -- outputs in order.  Returns the out-of-range indices met."""
    cdef Py_ssize_t C = p.C, D = p.in_[0], H = p.in_[1], W = p.in_[2]
    cdef Py_ssize_t OD = p.out[0], OH = p.out[1], OW = p.out[2]
    cdef Py_ssize_t nb = (C + ADAPTIVE_CB - 1) // ADAPTIVE_CB
    cdef Py_ssize_t n = task // nb, c0 = task % nb * ADAPTIVE_CB
    cdef Py_ssize_t c1 = c0 + ADAPTIVE_CB if c0 + ADAPTIVE_CB < C else C
    cdef Py_ssize_t V = D * H * W, e, l = 0, oz, oy, ox, z, yy, xx, z0, z1, y0, y1, x0, x1, c
    cdef Py_ssize_t bad = 0
    cdef int64_t k
    cdef floating *base = gx + n * V * C
    cdef const floating *g
    cdef floating *d
    cdef floating inv
    for e in range(V):
        memset(base + e * C + c0, 0, (c1 - c0) * sizeof(floating))
    for oz in range(OD):
        adaptive_window(oz, D, OD, &z0, &z1)
        for oy in range(OH):
            adaptive_window(oy, H, OH, &y0, &y1)
            for ox in range(OW):
                g = go + ((n * OD * OH * OW) + l) * C
                if ind != NULL:
                    for c in range(c0, c1):
                        k = ind[(n * OD * OH * OW + l) * C + c]
                        if k < 0 or k >= V:
                            bad += 1
                        else:
                            base[k * C + c] += g[c]
                else:
                    adaptive_window(ox, W, OW, &x0, &x1)
                    inv = <floating>((z1 - z0) * (y1 - y0) * (x1 - x0))
                    for z in range(z0, z1):
                        for yy in range(y0, y1):
                            for xx in range(x0, x1):
                                d = base + ((z * H + yy) * W + xx) * C
                                for c in range(c0, c1):
                                    d[c] = d[c] + g[c] / inv
                l += 1
    return bad


cdef Py_ssize_t adaptive_pool(const fc_problem *p, const floating *src, floating *dst,
                              int64_t *ind, int n_threads) noexcept nogil:
    """Every adaptive kernel (FC_ADAPTIVE_*): forward (src x, dst out, ind indices or
    NULL) or backward (src grad_output, dst grad_input written whole, ind the indices
    for max, NULL for average).  Returns the out-of-range indices of a max backward."""
    cdef Py_ssize_t t, bad = 0
    cdef Py_ssize_t V = p.in_vol, L = p.L
    cdef bint is_max = p.algo == FC_ADAPTIVE_MAX_FWD or p.algo == FC_ADAPTIVE_MAX_BWD
    cdef bint backward = p.direction == FC_GRAD_INPUT
    cdef Py_ssize_t k
    cdef int64_t j
    if p.layout == FC_CHANNELS_LAST:
        if backward:
            for t in prange(p.N * ((p.C + ADAPTIVE_CB - 1) // ADAPTIVE_CB),
                            num_threads=n_threads, schedule="static"):
                bad += _adaptive_bwd_last(p, src, ind if is_max else NULL, dst, t)
        else:
            for t in prange(p.N * p.out[0] * p.out[1], num_threads=n_threads,
                            schedule="static"):
                _adaptive_row_last(p, src, dst, ind, t, is_max)
        return bad
    for t in prange(p.N * p.C, num_threads=n_threads, schedule="static"):
        if not backward:
            if is_max:
                _adaptive_max_volume(p, src + t * V, dst + t * L,
                                     ind + t * L if ind != NULL else NULL)
            else:
                _adaptive_avg_volume(p, src + t * V, dst + t * L, False)
        else:
            memset(dst + t * V, 0, V * sizeof(floating))
            if is_max:
                for k in range(L):
                    j = ind[t * L + k]
                    if j < 0 or j >= V:
                        bad += 1
                    else:
                        dst[t * V + j] += src[t * L + k]
            else:
                _adaptive_avg_volume(p, src + t * L, dst + t * V, True)
    return bad
