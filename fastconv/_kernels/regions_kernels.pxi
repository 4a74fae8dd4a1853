# Convolution by regions of constant valid taps, rank 1 to 3 (lifted to D, H, W).
# (Included by _engine.pyx.)
#
# With a large dilation or padding most taps of a window read padding: at dilation 36
# on a 28-wide plane only the centre tap is ever inside, and the dense algorithms
# multiply the rest by zeros.  Along each axis, tap i is inside for the outputs of one
# interval [lo_i, hi_i); the union of the interval ends cuts the axis into segments in
# which the set of inside taps is one constant range [tlo, thi).  A region is a product
# of one segment per axis: inside it every tap of the product of the ranges reads the
# input, and no other tap does.  So no zero is ever multiplied and the im2col matrix of
# a region needs no zero fill and no copy: B[k][l] = x[offs[k] + cols[l]], read by the
# gathering GEMM (gemm_ind) straight from the input.
#
#   forward      task (region, g, block of blk output channels, tile of the region's
#                columns over all samples): out = bias + W_g[taps of the region] . B
#   grad_weight  task (g, block of blk output channels, block of chunks input
#                channels, tap): gw[o, c, tap] = sum over the samples, in order, and the
#                positions where the tap is inside of go[o, l] * x[c, l shifted]
#
# Forward: a region whose taps are all the kernel's uses the weight as it is and its
# K runs over (c, tap) as in the dense algorithms: the same non-zero terms in the same
# order, so the same bits (up to the sign of an all-zero sum).  Any other region runs
# over (tap, c), from a copy of the weight transposed to (O, taps, Cg), one GEMM per
# run of consecutive taps added into the task's tile: the same terms in another order
# (a rounding-level difference from the dense algorithms, the same bits for any thread
# count).  The copy holds only the taps such regions use, made in parallel before the
# tasks run, in the shared workspace after the table of regions' first tasks.

cdef enum:
    FC_REG_MAXK = 64                        # kernel taps per axis, at most
    FC_REG_MAXSEG = 2 * FC_REG_MAXK + 1     # segments per axis, at most


cdef struct RegAxes:
    Py_ssize_t nseg[3]
    Py_ssize_t start[3][FC_REG_MAXSEG + 1]  # segment s of axis j: [start[j][s], start[j][s+1])
    Py_ssize_t tlo[3][FC_REG_MAXSEG]        # its inside taps: [tlo, thi) (empty: tlo == thi)
    Py_ssize_t thi[3][FC_REG_MAXSEG]


cdef bint reg_supported(const fc_problem *p) noexcept nogil:
    return p.k[0] <= FC_REG_MAXK and p.k[1] <= FC_REG_MAXK and p.k[2] <= FC_REG_MAXK


cdef void reg_axes(const fc_problem *p, RegAxes *ax) noexcept nogil:
    """Every axis's segments and their ranges of inside taps."""
    cdef Py_ssize_t j, i, n, s, b, u, v, lo, hi, x0
    cdef Py_ssize_t pts[2 * FC_REG_MAXK + 2]
    for j in range(3):
        n = 0
        pts[n] = 0
        n += 1
        pts[n] = p.out[j]
        n += 1
        for i in range(p.k[j]):
            valid_range(i * p.d[j] - p.pb[j], p.s[j], p.out[j], p.in_[j], &lo, &hi)
            if lo < hi:
                pts[n] = lo
                pts[n + 1] = hi
                n += 2
        # sort (insertion: at most 2*FC_REG_MAXK + 2 points) and drop duplicates
        for u in range(1, n):
            b = pts[u]
            v = u
            while v > 0 and pts[v - 1] > b:
                pts[v] = pts[v - 1]
                v -= 1
            pts[v] = b
        s = 0
        ax.start[j][0] = pts[0]
        for u in range(1, n):
            if pts[u] != ax.start[j][s]:
                s += 1
                ax.start[j][s] = pts[u]
        ax.nseg[j] = s
        for s in range(ax.nseg[j]):
            b = ax.start[j][s]
            lo = 0
            hi = 0
            for i in range(p.k[j]):
                x0 = b * p.s[j] - p.pb[j] + i * p.d[j]
                if x0 >= 0 and x0 < p.in_[j]:
                    if hi == lo:
                        lo = i
                    hi = i + 1
            ax.tlo[j][s] = lo
            ax.thi[j][s] = hi


cdef inline Py_ssize_t reg_count(const RegAxes *ax) noexcept nogil:
    return ax.nseg[0] * ax.nseg[1] * ax.nseg[2]


cdef struct Region:
    Py_ssize_t lo[3]              # first output per axis
    Py_ssize_t n[3]               # extent per axis
    Py_ssize_t tlo[3]             # first inside tap per axis
    Py_ssize_t nt[3]              # inside taps per axis
    Py_ssize_t area, ntaps, cols  # positions, inside taps, columns (all samples)
    Py_ssize_t tiles, lt          # column tiles and their length


cdef void reg_region(const fc_problem *p, const RegAxes *ax, Py_ssize_t r,
                     Region *g) noexcept nogil:
    """Region r (row-major over the axes' segments) and its column tiles: about
    ``p.lt`` column-taps each, so tasks of regions with few taps have more columns."""
    cdef Py_ssize_t j, s
    cdef Py_ssize_t idx[3]
    idx[2] = r % ax.nseg[2]
    idx[1] = (r // ax.nseg[2]) % ax.nseg[1]
    idx[0] = r // (ax.nseg[2] * ax.nseg[1])
    g.area = 1
    g.ntaps = 1
    for j in range(3):
        s = idx[j]
        g.lo[j] = ax.start[j][s]
        g.n[j] = ax.start[j][s + 1] - ax.start[j][s]
        g.tlo[j] = ax.tlo[j][s]
        g.nt[j] = ax.thi[j][s] - ax.tlo[j][s]
        g.area *= g.n[j]
        g.ntaps *= g.nt[j]
    g.cols = p.N * g.area
    g.tiles = cdiv(g.cols * (g.ntaps if g.ntaps > 0 else 1), p.lt)
    if g.tiles < 1:
        g.tiles = 1
    g.lt = cdiv(g.cols, g.tiles)


cdef Py_ssize_t reg_fwd_tasks_of(const fc_problem *p, const Region *g) noexcept nogil:
    return p.groups * cdiv(p.Og, p.blk) * g.tiles


cdef void reg_fwd_sizes(const fc_problem *p, Py_ssize_t *n_regions, Py_ssize_t *tasks,
                        Py_ssize_t *lt_max) noexcept nogil:
    """Regions, tasks and the longest column tile of the forward algorithm."""
    cdef RegAxes ax
    cdef Region g
    cdef Py_ssize_t r
    n_regions[0] = 0
    tasks[0] = 0
    lt_max[0] = 0
    if not reg_supported(p) or p.lt <= 0 or p.blk <= 0:
        return
    reg_axes(p, &ax)
    n_regions[0] = reg_count(&ax)
    for r in range(n_regions[0]):
        reg_region(p, &ax, r, &g)
        tasks[0] += reg_fwd_tasks_of(p, &g)
        if g.lt > lt_max[0]:
            lt_max[0] = g.lt
    if p.N == 0:
        tasks[0] = 0


cdef inline Py_ssize_t reg_tap_off(const fc_problem *p, Py_ssize_t a, Py_ssize_t i,
                                   Py_ssize_t j) noexcept nogil:
    """Offset of tap (a, i, j) from an output position's corner in the input volume."""
    return (((a * p.d[0] - p.pb[0]) * p.in_[1] + i * p.d[1] - p.pb[1]) * p.in_[2]
            + j * p.d[2] - p.pb[2])


cdef void reg_fwd_workspace(const fc_problem *p, fc_workspace_layout *w) noexcept nogil:
    """Per thread: tap offsets (Kg) and columns (the longest tile), then the output
    tile (blk x longest tile).  Shared: the regions' first tasks (regions + 1) and the
    taps the transposed copy holds (taps), then that copy (O x Kg)."""
    cdef Py_ssize_t nr, nt, lt_max
    reg_fwd_sizes(p, &nr, &nt, &lt_max)
    w.ints = index_elems(p.Kg + lt_max, p.itemsize)
    w.main = p.blk * lt_max
    w.shared = index_elems(nr + 1 + p.taps, p.itemsize) + p.O * p.Kg


cdef Py_ssize_t reg_fwd_tasks(const fc_problem *p) noexcept nogil:
    cdef Py_ssize_t nr, nt, lt_max
    reg_fwd_sizes(p, &nr, &nt, &lt_max)
    return nt


cdef void reg_fwd_task(const fc_problem *p, const RegAxes *ax, const Py_ssize_t *first,
                       Py_ssize_t n_regions, Py_ssize_t task,
                       const floating *x, const floating *w, const floating *wt,
                       const floating *bias, floating *out,
                       Py_ssize_t *ind, floating *cbuf) noexcept nogil:
    """One forward task: a tile of one region's columns, one block of output
    channels of one group, computed in ``cbuf`` and copied into ``out``."""
    cdef Region g
    cdef Py_ssize_t lo = 0, hi = n_regions - 1, mid, r, local, gi, ob, tile, o0, m
    cdef Py_ssize_t l0, nl, v, q, n, dz, dy, dx, seg, o, k, c, a, i, j, t, tapmin
    cdef Py_ssize_t rs, rl, st, K
    cdef Py_ssize_t nob = cdiv(p.Og, p.blk)
    cdef Py_ssize_t H = p.in_[1], W = p.in_[2], OH = p.out[1], OW = p.out[2]
    cdef Py_ssize_t kH = p.k[1], kW = p.k[2], Cg = p.Cg, Kg = p.Kg, L = p.L
    cdef Py_ssize_t *offs = ind
    cdef Py_ssize_t *cols = ind + Kg
    cdef const floating *S
    cdef const floating *rowinit = NULL
    cdef floating *dst
    cdef floating bv
    cdef bint started
    # the region: the last whose first task is <= task
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if first[mid] <= task:
            lo = mid
        else:
            hi = mid - 1
    r = lo
    reg_region(p, ax, r, &g)
    local = task - first[r]
    tile = local % g.tiles
    ob = (local // g.tiles) % nob
    gi = local // (g.tiles * nob)
    o0 = ob * p.blk
    m = p.Og - o0
    if m > p.blk:
        m = p.blk
    l0 = tile * g.lt
    nl = g.cols - l0
    if nl > g.lt:
        nl = g.lt
    if nl <= 0:
        return
    if bias != NULL:
        rowinit = bias + gi * p.Og + o0
    # the columns: position (n, oz, oy, ox) of the region, relative to the input corner
    # of the group (tapmin, the smallest tap offset, moved from offs into cols, keeps
    # both non-negative)
    tapmin = reg_tap_off(p, g.tlo[0], g.tlo[1], g.tlo[2])
    n = l0 // g.area
    q = l0 - n * g.area
    dz = q // (g.n[1] * g.n[2])
    q = q - dz * g.n[1] * g.n[2]
    dy = q // g.n[2]
    dx = q - dy * g.n[2]
    if g.ntaps > 0:
        for v in range(nl):
            cols[v] = (n * p.C * p.in_vol + (((g.lo[0] + dz) * p.s[0]) * H
                                             + (g.lo[1] + dy) * p.s[1]) * W
                       + (g.lo[2] + dx) * p.s[2] + tapmin)
            dx += 1
            if dx == g.n[2]:
                dx = 0
                dy += 1
                if dy == g.n[1]:
                    dy = 0
                    dz += 1
                    if dz == g.n[0]:
                        dz = 0
                        n += 1
        S = x + gi * Cg * p.in_vol
        if g.ntaps == p.taps:
            # every tap inside: the weight as it is, K over (c, tap) as the dense path
            k = 0
            for c in range(Cg):
                for a in range(p.k[0]):
                    for i in range(kH):
                        for j in range(kW):
                            offs[k] = c * p.in_vol + reg_tap_off(p, a, i, j) - tapmin
                            k += 1
            gemm_ind(m, nl, Kg, w + (gi * p.Og + o0) * Kg, Kg, S, offs, cols, cbuf, nl,
                     rowinit)
        else:
            # runs of consecutive taps of the transposed copy, K over (tap, c)
            started = False
            rs = -1
            rl = 0
            for a in range(g.tlo[0], g.tlo[0] + g.nt[0]):
                for i in range(g.tlo[1], g.tlo[1] + g.nt[1]):
                    st = (a * kH + i) * kW + g.tlo[2]
                    if rs >= 0 and st == rs + rl:
                        rl += g.nt[2]
                        continue
                    if rs >= 0:
                        reg_fwd_run(p, rs, rl, tapmin, m, nl, wt + (gi * p.Og + o0) * Kg,
                                    S, offs, cols, cbuf, rowinit, started)
                        started = True
                    rs = st
                    rl = g.nt[2]
            reg_fwd_run(p, rs, rl, tapmin, m, nl, wt + (gi * p.Og + o0) * Kg, S, offs,
                        cols, cbuf, rowinit, started)
    # copy the tile into the output, a run of consecutive ox at a time
    n = l0 // g.area
    q = l0 - n * g.area
    dz = q // (g.n[1] * g.n[2])
    q = q - dz * g.n[1] * g.n[2]
    dy = q // g.n[2]
    dx = q - dy * g.n[2]
    v = 0
    while v < nl:
        seg = g.n[2] - dx
        if seg > nl - v:
            seg = nl - v
        dst = out + ((n * p.O + gi * p.Og + o0) * L
                     + ((g.lo[0] + dz) * OH + g.lo[1] + dy) * OW + g.lo[2] + dx)
        if g.ntaps > 0:
            for o in range(m):
                memcpy(dst + o * L, cbuf + o * nl + v, seg * sizeof(floating))
        else:
            for o in range(m):
                bv = rowinit[o] if rowinit != NULL else 0
                for q in range(seg):
                    dst[o * L + q] = bv
        v += seg
        dx = 0
        dy += 1
        if dy == g.n[1]:
            dy = 0
            dz += 1
            if dz == g.n[0]:
                dz = 0
                n += 1


cdef void reg_fwd_run(const fc_problem *p, Py_ssize_t rs, Py_ssize_t rl, Py_ssize_t tapmin,
                      Py_ssize_t m, Py_ssize_t nl, const floating *wt_rows,
                      const floating *S, Py_ssize_t *offs, const Py_ssize_t *cols,
                      floating *cbuf, const floating *rowinit, bint accumulate) noexcept nogil:
    """Taps [rs, rs + rl) of the transposed weight (O, taps, Cg): cbuf (+)= A . B."""
    cdef Py_ssize_t t, a, i, j, c, k = 0, off, khw = p.k[1] * p.k[2]
    for t in range(rs, rs + rl):
        a = t // khw
        i = (t - a * khw) // p.k[2]
        j = t - a * khw - i * p.k[2]
        off = reg_tap_off(p, a, i, j) - tapmin
        for c in range(p.Cg):
            offs[k] = c * p.in_vol + off
            k += 1
    if accumulate:
        gemm_ind_acc(m, nl, rl * p.Cg, wt_rows + rs * p.Cg, p.Kg, S, offs, cols, cbuf, nl)
    else:
        gemm_ind(m, nl, rl * p.Cg, wt_rows + rs * p.Cg, p.Kg, S, offs, cols, cbuf, nl,
                 rowinit)


cdef void regions_forward(const fc_problem *p,
                          const floating *x, const floating *w, const floating *bias,  # IN
                          floating *out,                                               # OUT
                          floating *shared, floating *ws, int n_threads) noexcept nogil:
    """The forward convolution by regions (FC_CONV_FWD_REGIONS)."""
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef RegAxes ax
    cdef Region g
    cdef Py_ssize_t n_regions, n_tasks, lt_max, r, t, a, i, j, o, c, task, Kg = p.Kg
    cdef Py_ssize_t taps = p.taps, Cg = p.Cg
    cdef Py_ssize_t *first = <Py_ssize_t *>shared
    cdef Py_ssize_t *need
    cdef floating *wt
    cdef bint any_need = False
    reg_fwd_sizes(p, &n_regions, &n_tasks, &lt_max)
    if n_tasks == 0 or p.Og == 0:
        return
    need = first + n_regions + 1
    wt = shared + index_elems(n_regions + 1 + taps, p.itemsize)
    reg_axes(p, &ax)
    # the regions' first tasks, and the taps the regions that are not full read
    for t in range(taps):
        need[t] = 0
    first[0] = 0
    for r in range(n_regions):
        reg_region(p, &ax, r, &g)
        first[r + 1] = first[r] + reg_fwd_tasks_of(p, &g)
        if g.ntaps > 0 and g.ntaps < taps:
            any_need = True
            for a in range(g.tlo[0], g.tlo[0] + g.nt[0]):
                for i in range(g.tlo[1], g.tlo[1] + g.nt[1]):
                    for j in range(g.tlo[2], g.tlo[2] + g.nt[2]):
                        need[(a * p.k[1] + i) * p.k[2] + j] = 1
    if any_need:
        for o in prange(p.O, num_threads=n_threads, schedule="static"):
            reg_transpose_row(w + o * Kg, need, taps, Cg, wt + o * Kg)
    for task in prange(n_tasks, num_threads=n_threads, schedule="static"):
        reg_fwd_task(p, &ax, first, n_regions, task, x, w, wt, bias, out,
                     <Py_ssize_t *>(ws + threadid() * lay.per_thread),
                     ws + threadid() * lay.per_thread + lay.ints)


cdef void reg_transpose_row(const floating *src, const Py_ssize_t *need, Py_ssize_t taps,
                            Py_ssize_t Cg, floating *dst) noexcept nogil:
    """One output channel's weight row (Cg, taps) -> (taps, Cg), the needed taps only."""
    cdef Py_ssize_t t, c
    for t in range(taps):
        if need[t]:
            for c in range(Cg):
                dst[t * Cg + c] = src[c * taps + t]


# ------------------------------------------------------------- grad weight
#
# The input is first copied channels-last (xT[n, position, c], in the shared workspace)
# so that the GEMM's B rows -- one position, a block of channels -- are contiguous.

cdef enum:
    FC_REG_KP = 256      # grad_weight: positions per GEMM (the GEMM's k-block)


cdef bint reg_tap_inside(const fc_problem *p, Py_ssize_t t) noexcept nogil:
    """Is tap t inside the input for some output position?"""
    cdef Py_ssize_t khw = p.k[1] * p.k[2], lo, hi, j
    cdef Py_ssize_t tap[3]
    tap[0] = t // khw
    tap[1] = (t - tap[0] * khw) // p.k[2]
    tap[2] = t - tap[0] * khw - tap[1] * p.k[2]
    for j in range(3):
        valid_range(tap[j] * p.d[j] - p.pb[j], p.s[j], p.out[j], p.in_[j], &lo, &hi)
        if lo >= hi:
            return False
    return True


cdef Py_ssize_t reg_inside_taps(const fc_problem *p) noexcept nogil:
    cdef Py_ssize_t t, n = 0
    for t in range(p.taps):
        if reg_tap_inside(p, t):
            n += 1
    return n


cdef Py_ssize_t reg_bww_tasks(const fc_problem *p) noexcept nogil:
    """Tasks (g, block of blk output channels, block of chunks input channels, tap that
    is inside somewhere); the others' gradients are zeros."""
    if p.blk <= 0 or p.chunks <= 0:
        return 0
    return p.groups * reg_inside_taps(p) * cdiv(p.Og, p.blk) * cdiv(p.Cg, p.chunks)


cdef void reg_bww_workspace(const fc_problem *p, fc_workspace_layout *w) noexcept nogil:
    """Per thread: position offsets (FC_REG_KP) and channel offsets (chunks); grad_output
    gathered (blk x FC_REG_KP); the task's sums (blk x chunks).  Shared: x channels-last."""
    w.ints = index_elems(FC_REG_KP + p.chunks, p.itemsize)
    w.got = p.blk * FC_REG_KP
    w.main = p.blk * p.chunks
    w.shared = p.N * p.C * p.in_vol


cdef void reg_bww_task(const fc_problem *p, Py_ssize_t task,
                       const floating *go, const floating *xt, floating *gw,
                       Py_ssize_t *ind, floating *abuf, floating *cbuf) noexcept nogil:
    cdef Py_ssize_t nob = cdiv(p.Og, p.blk), ncb = cdiv(p.Cg, p.chunks)
    # the tap varies fastest: a static schedule's contiguous block of tasks mixes taps
    # of every box size
    cdef Py_ssize_t nti = reg_inside_taps(p), ti = task % nti, t = -1
    cdef Py_ssize_t cb = (task // nti) % ncb
    cdef Py_ssize_t ob = (task // (nti * ncb)) % nob, gi = task // (nti * ncb * nob)
    cdef Py_ssize_t o0 = ob * p.blk, c0 = cb * p.chunks, m, nc, a, i, j, khw = p.k[1] * p.k[2]
    cdef Py_ssize_t lo[3]
    cdef Py_ssize_t hi[3]
    cdef Py_ssize_t n, oz, oy, ox, k, o, c, jx, off, L = p.L, C = p.C
    cdef Py_ssize_t H = p.in_[1], W = p.in_[2], OH = p.out[1], OW = p.out[2]
    cdef Py_ssize_t *offs = ind
    cdef Py_ssize_t *cols = ind + FC_REG_KP
    cdef const floating *gop
    cdef const floating *S = xt + gi * p.Cg + c0
    cdef bint started = False
    m = p.Og - o0
    if m > p.blk:
        m = p.blk
    nc = p.Cg - c0
    if nc > p.chunks:
        nc = p.chunks
    # the ti-th tap that is inside somewhere
    while ti >= 0:
        t += 1
        if reg_tap_inside(p, t):
            ti -= 1
    a = t // khw
    i = (t - a * khw) // p.k[2]
    j = t - a * khw - i * p.k[2]
    valid_range(a * p.d[0] - p.pb[0], p.s[0], p.out[0], p.in_[0], &lo[0], &hi[0])
    valid_range(i * p.d[1] - p.pb[1], p.s[1], p.out[1], p.in_[1], &lo[1], &hi[1])
    valid_range(j * p.d[2] - p.pb[2], p.s[2], p.out[2], p.in_[2], &lo[2], &hi[2])
    off = reg_tap_off(p, a, i, j)
    for c in range(nc):
        cols[c] = c
    if lo[0] < hi[0] and lo[1] < hi[1] and lo[2] < hi[2]:
        for n in range(p.N):
            gop = go + (n * p.O + gi * p.Og + o0) * L
            # the positions where the tap is inside, FC_REG_KP at a time
            k = 0
            for oz in range(lo[0], hi[0]):
                for oy in range(lo[1], hi[1]):
                    ox = lo[2]
                    while ox < hi[2]:
                        jx = hi[2] - ox
                        if jx > FC_REG_KP - k:
                            jx = FC_REG_KP - k
                        for o in range(m):
                            memcpy(abuf + o * FC_REG_KP + k,
                                   gop + o * L + (oz * OH + oy) * OW + ox,
                                   jx * sizeof(floating))
                        for c in range(jx):
                            offs[k + c] = (n * p.in_vol + ((oz * p.s[0]) * H + oy * p.s[1]) * W
                                           + (ox + c) * p.s[2] + off) * C
                        k += jx
                        ox += jx
                        if k == FC_REG_KP:
                            reg_bww_gemm(m, nc, k, abuf, S, offs, cols, cbuf, started)
                            started = True
                            k = 0
            if k > 0:
                reg_bww_gemm(m, nc, k, abuf, S, offs, cols, cbuf, started)
                started = True
    for o in range(m):
        for c in range(nc):
            gw[(gi * p.Og + o0 + o) * p.Kg + (c0 + c) * p.taps + t] = (
                cbuf[o * nc + c] if started else 0)


cdef inline void reg_bww_gemm(Py_ssize_t m, Py_ssize_t nc, Py_ssize_t k,
                              const floating *abuf, const floating *S,
                              const Py_ssize_t *offs, const Py_ssize_t *cols,
                              floating *cbuf, bint accumulate) noexcept nogil:
    if accumulate:
        gemm_ind_acc(m, nc, k, abuf, FC_REG_KP, S, offs, cols, cbuf, nc)
    else:
        gemm_ind(m, nc, k, abuf, FC_REG_KP, S, offs, cols, cbuf, nc, NULL)


cdef void reg_channels_last(const floating *src, Py_ssize_t C, Py_ssize_t P,
                            Py_ssize_t p0, Py_ssize_t p1, floating *dst) noexcept nogil:
    """Positions [p0, p1) of one sample (C, P) -> (P, C), 16 positions at a time."""
    cdef Py_ssize_t q, q1, c, l
    q = p0
    while q < p1:
        q1 = q + 16 if q + 16 < p1 else p1
        for c in range(C):
            for l in range(q, q1):
                dst[l * C + c] = src[c * P + l]
        q = q1


cdef void regions_grad_weight(const fc_problem *p,
                              const floating *go,     # IN  (N, O, L)
                              const floating *x,      # IN  (N, C, in_vol)
                              floating *gw,           # OUT (O, Kg)
                              floating *xt,           # scratch (N, in_vol, C)
                              floating *ws, int n_threads) noexcept nogil:
    """grad_weight per tap over the positions where it is inside (FC_CONV_BWW_REGIONS):
    each task sums over every sample in order, so it writes its elements whole."""
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t n_tasks = reg_bww_tasks(p), task, blk
    cdef Py_ssize_t nb = cdiv(p.in_vol, 256)
    cdef floating *base
    cdef Py_ssize_t o
    for o in prange(p.O, num_threads=n_threads, schedule="static"):
        memset(gw + o * p.Kg, 0, p.Kg * sizeof(floating))   # (taps never inside stay 0)
    for blk in prange(p.N * nb, num_threads=n_threads, schedule="static"):
        reg_channels_last(x + (blk // nb) * p.C * p.in_vol, p.C, p.in_vol,
                          (blk % nb) * 256,
                          (blk % nb) * 256 + 256 if (blk % nb) * 256 + 256 < p.in_vol
                          else p.in_vol,
                          xt + (blk // nb) * p.C * p.in_vol)
    for task in prange(n_tasks, num_threads=n_threads, schedule="static"):
        base = ws + threadid() * lay.per_thread
        reg_bww_task(p, task, go, xt, gw, <Py_ssize_t *>base, base + lay.ints,
                     base + lay.ints + lay.got)
