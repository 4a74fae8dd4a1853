# Convolution, im2col and col2im kernels, rank 1 to 3 (lifted to D, H, W).
# (Included by _engine.pyx.)
#
# Convolution is computed as GEMMs over tiles of the im2col matrix of one sample and
# one group: Kg = Cg*kD*kH*kW rows (row ((c*kD + a)*kH + i)*kW + j) and L = OD*OH*OW
# columns (column (oz*OH + oy)*OW + ox).  A task builds only the rows and columns it
# needs, in its thread's workspace; the whole matrix never exists.
#
#   forward       task (n, g, tile)        out[n, g, tile] = W_g . cols_tile
#   grad_input    task (n, g, chan block)  cols_blk = W_g^T . go[n, g, tile], col2im-added
#   grad_weight   task (g, row block)      gw[g, :, rows] += go[n, g, tile] . colsT_tile
#                 or (chunk, g)            partial[chunk, g] += cols . go^T (summed in order)
#   grad_bias     task o                   sum over n and positions


cdef inline void tap_of(Py_ssize_t r, const fc_problem *p, Py_ssize_t *c, Py_ssize_t *a,
                        Py_ssize_t *i, Py_ssize_t *j) noexcept nogil:
    """Channel and kernel tap of im2col row r = ((c*kD + a)*kH + i)*kW + j."""
    cdef Py_ssize_t khw = p.k[1] * p.k[2], rem
    c[0] = r // p.taps
    rem = r - c[0] * p.taps
    a[0] = rem // khw
    rem = rem - a[0] * khw
    i[0] = rem // p.k[2]
    j[0] = rem - i[0] * p.k[2]


cdef inline void next_tap(const fc_problem *p, Py_ssize_t *c, Py_ssize_t *a, Py_ssize_t *i,
                          Py_ssize_t *j) noexcept nogil:
    """Advance (c, a, i, j) to the next im2col row, with carries (no division)."""
    j[0] += 1
    if j[0] == p.k[2]:
        j[0] = 0
        i[0] += 1
        if i[0] == p.k[1]:
            i[0] = 0
            a[0] += 1
            if a[0] == p.k[0]:
                a[0] = 0
                c[0] += 1


cdef inline void column_of(Py_ssize_t l, const fc_problem *p, Py_ssize_t *oz, Py_ssize_t *oy,
                           Py_ssize_t *ox) noexcept nogil:
    oz[0] = l // p.out_plane
    l = l - oz[0] * p.out_plane
    oy[0] = l // p.out[2]
    ox[0] = l - oy[0] * p.out[2]


cdef inline bint im2col_inside(const fc_problem *p) noexcept nogil:
    """No padding, and every window lies inside the input."""
    cdef int j
    for j in range(3):
        if p.pb[j] != 0 or (p.out[j] - 1) * p.s[j] + (p.k[j] - 1) * p.d[j] >= p.in_[j]:
            return False
    return True


cdef inline Py_ssize_t pad_index(Py_ssize_t i, Py_ssize_t n, int mode) noexcept nogil:
    """Where padded coordinate ``i`` (maybe outside [0, n)) reads the input, for the
    reflect, replicate and circular modes (the planner keeps the padding below n for
    reflect and at most n for circular, so one reflection or wrap suffices)."""
    if i >= 0 and i < n:
        return i
    if mode == FC_PAD_REFLECT:
        return -i if i < 0 else 2 * (n - 1) - i
    if mode == FC_PAD_REPLICATE:
        return 0 if i < 0 else n - 1
    return i + n if i < 0 else i - n      # circular


cdef void im2col_tile_mode(const floating *xc, const fc_problem *p, Py_ssize_t r0,
                           Py_ssize_t r1, Py_ssize_t l0, Py_ssize_t nl, floating *buf,
                           Py_ssize_t rs, Py_ssize_t cs) noexcept nogil:
    """im2col_tile for a padding mode other than zeros: every padded coordinate read
    through pad_index (the padding is built inside the tile, never as a padded copy)."""
    cdef Py_ssize_t r, c, a, i, j, oz0, oy0, ox0, oz, oy, ox, q, iz, iy, ix
    cdef Py_ssize_t D = p.in_[0], H = p.in_[1], W = p.in_[2], OH = p.out[1], OW = p.out[2]
    cdef int mode = p.padding_mode
    cdef const floating *plane
    column_of(l0, p, &oz0, &oy0, &ox0)
    tap_of(r0, p, &c, &a, &i, &j)
    for r in range(r0, r1):
        plane = xc + c * p.in_vol
        oz, oy, ox = oz0, oy0, ox0
        for q in range(nl):
            iz = pad_index(oz * p.s[0] - p.pb[0] + a * p.d[0], D, mode)
            iy = pad_index(oy * p.s[1] - p.pb[1] + i * p.d[1], H, mode)
            ix = pad_index(ox * p.s[2] - p.pb[2] + j * p.d[2], W, mode)
            buf[(r - r0) * rs + q * cs] = plane[(iz * H + iy) * W + ix]
            ox += 1
            if ox == OW:
                ox = 0
                oy += 1
                if oy == OH:
                    oy = 0
                    oz += 1
        next_tap(p, &c, &a, &i, &j)


cdef void col2im_tile_add_mode(const floating *buf, Py_ssize_t ldb, const fc_problem *p,
                               Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t l0, Py_ssize_t nl,
                               floating *xc) noexcept nogil:
    """col2im_tile_add for a padding mode other than zeros: the gradient of a padded
    element is added to the input element it was read from (the border folds back)."""
    cdef Py_ssize_t r, c, a, i, j, oz0, oy0, ox0, oz, oy, ox, q, iz, iy, ix
    cdef Py_ssize_t D = p.in_[0], H = p.in_[1], W = p.in_[2], OH = p.out[1], OW = p.out[2]
    cdef int mode = p.padding_mode
    cdef floating *plane
    column_of(l0, p, &oz0, &oy0, &ox0)
    tap_of(r0, p, &c, &a, &i, &j)
    for r in range(r0, r1):
        plane = xc + c * p.in_vol
        oz, oy, ox = oz0, oy0, ox0
        for q in range(nl):
            iz = pad_index(oz * p.s[0] - p.pb[0] + a * p.d[0], D, mode)
            iy = pad_index(oy * p.s[1] - p.pb[1] + i * p.d[1], H, mode)
            ix = pad_index(ox * p.s[2] - p.pb[2] + j * p.d[2], W, mode)
            plane[(iz * H + iy) * W + ix] += buf[(r - r0) * ldb + q]
            ox += 1
            if ox == OW:
                ox = 0
                oy += 1
                if oy == OH:
                    oy = 0
                    oz += 1
        next_tap(p, &c, &a, &i, &j)


cdef void im2col_tile(const floating *xc, const fc_problem *p,      # IN: channel-block base
                      Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t l0, Py_ssize_t nl,
                      floating *buf, Py_ssize_t rs, Py_ssize_t cs) noexcept nogil:  # OUT
    """Rows [r0, r1) and columns [l0, l0+nl) of the im2col matrix of one sample.

    Element (r, l) goes to ``buf[(r - r0)*rs + (l - l0)*cs]``: ``cs == 1`` writes the
    tile, ``rs == 1`` its transpose.  Rows are walked as (c, a, i, j) with carries and
    columns as output-row segments, so the only divisions are per tile.
    """
    cdef Py_ssize_t r, c, a, i, j, oz, oy, ox, oz0, oy0, ox0, q0, seg, iz, iy, lo, hi, q
    cdef Py_ssize_t ix0 = 0
    cdef Py_ssize_t D = p.in_[0], H = p.in_[1], W = p.in_[2], OH = p.out[1], OW = p.out[2]
    cdef Py_ssize_t sw = p.s[2]
    cdef const floating *base
    cdef const floating *src = xc
    cdef floating *row
    if r1 <= r0 or nl <= 0:
        return
    if p.padding_mode != FC_PAD_ZEROS:
        im2col_tile_mode(xc, p, r0, r1, l0, nl, buf, rs, cs)
        return
    column_of(l0, p, &oz0, &oy0, &ox0)
    tap_of(r0, p, &c, &a, &i, &j)
    # every window inside the input (no padding reached), stride 1 along rows, and a
    # tile of whole output rows: each segment is a plain copy of OW elements
    if (cs == 1 and sw == 1 and ox0 == 0 and nl % OW == 0 and im2col_inside(p)):
        for r in range(r0, r1):
            row = buf + (r - r0) * rs
            oz = oz0
            oy = oy0
            src = xc + c * p.in_vol + ((oz * p.s[0] + a * p.d[0]) * H + oy * p.s[1]
                                       + i * p.d[1]) * W + j * p.d[2]
            q0 = 0
            while q0 < nl:
                for q in range(OW):
                    row[q0 + q] = src[q]
                q0 += OW
                oy += 1
                src = src + p.s[1] * W
                if oy == OH:
                    oy = 0
                    oz += 1
                    src = xc + c * p.in_vol + ((oz * p.s[0] + a * p.d[0]) * H
                                               + i * p.d[1]) * W + j * p.d[2]
            next_tap(p, &c, &a, &i, &j)
        return
    if cs == 1 and ox0 == 0 and nl % OW == 0:
        # whole output rows (small planes, whole-plane tiles): a row's valid range
        # along x is the same for every output row, so it is found once per im2col row
        for r in range(r0, r1):
            base = xc + c * p.in_vol
            row = buf + (r - r0) * rs
            ix0 = -p.pb[2] + j * p.d[2]
            valid_range(ix0, sw, OW, W, &lo, &hi)
            oz = oz0
            oy = oy0
            q0 = 0
            while q0 < nl:
                iz = oz * p.s[0] - p.pb[0] + a * p.d[0]
                iy = oy * p.s[1] - p.pb[1] + i * p.d[1]
                if iz < 0 or iz >= D or iy < 0 or iy >= H:
                    memset(row + q0, 0, OW * sizeof(floating))
                else:
                    src = base + (iz * H + iy) * W + ix0
                    for q in range(lo):
                        row[q0 + q] = 0
                    if sw == 1:
                        memcpy(row + q0 + lo, src + lo, (hi - lo) * sizeof(floating))
                    else:
                        for q in range(lo, hi):
                            row[q0 + q] = src[q * sw]
                    for q in range(hi, OW):
                        row[q0 + q] = 0
                q0 += OW
                oy += 1
                if oy == OH:
                    oy = 0
                    oz += 1
            next_tap(p, &c, &a, &i, &j)
        return
    for r in range(r0, r1):
        base = xc + c * p.in_vol
        row = buf + (r - r0) * rs
        oz = oz0
        oy = oy0
        ox = ox0
        q0 = 0
        while q0 < nl:
            seg = OW - ox
            if seg > nl - q0:
                seg = nl - q0
            iz = oz * p.s[0] - p.pb[0] + a * p.d[0]
            iy = oy * p.s[1] - p.pb[1] + i * p.d[1]
            if iz < 0 or iz >= D or iy < 0 or iy >= H:
                lo = seg
                hi = seg
            else:
                src = base + (iz * H + iy) * W
                ix0 = ox * sw - p.pb[2] + j * p.d[2]
                valid_range(ix0, sw, seg, W, &lo, &hi)
            if cs == 1:
                for q in range(lo):
                    row[q0 + q] = 0
                if sw == 1:
                    for q in range(lo, hi):
                        row[q0 + q] = src[ix0 + q]
                else:
                    for q in range(lo, hi):
                        row[q0 + q] = src[ix0 + q * sw]
                for q in range(hi, seg):
                    row[q0 + q] = 0
            else:
                for q in range(lo):
                    row[(q0 + q) * cs] = 0
                for q in range(lo, hi):
                    row[(q0 + q) * cs] = src[ix0 + q * sw]
                for q in range(hi, seg):
                    row[(q0 + q) * cs] = 0
            q0 += seg
            ox = 0
            oy += 1
            if oy == OH:
                oy = 0
                oz += 1
        next_tap(p, &c, &a, &i, &j)


cdef void col2im_tile_add(const floating *buf, Py_ssize_t ldb,            # IN: (r1-r0) x nl
                          const fc_problem *p, Py_ssize_t r0, Py_ssize_t r1,
                          Py_ssize_t l0, Py_ssize_t nl,
                          floating *xc) noexcept nogil:                    # IN/OUT: block base
    """Scatter-add rows [r0, r1), columns [l0, l0+nl) of a column matrix into volumes."""
    cdef Py_ssize_t r, c, a, i, j, oz, oy, ox, oz0, oy0, ox0, q0, seg, iz, iy, ix0, lo, hi, q
    cdef Py_ssize_t D = p.in_[0], H = p.in_[1], W = p.in_[2], OH = p.out[1], OW = p.out[2]
    cdef Py_ssize_t sw = p.s[2]
    cdef floating *dst
    cdef const floating *row
    if r1 <= r0 or nl <= 0:
        return
    if p.padding_mode != FC_PAD_ZEROS:
        col2im_tile_add_mode(buf, ldb, p, r0, r1, l0, nl, xc)
        return
    column_of(l0, p, &oz0, &oy0, &ox0)
    tap_of(r0, p, &c, &a, &i, &j)
    if ox0 == 0 and nl % OW == 0:
        # whole output rows: the valid range along x is found once per row (as im2col)
        for r in range(r0, r1):
            row = buf + (r - r0) * ldb
            ix0 = -p.pb[2] + j * p.d[2]
            valid_range(ix0, sw, OW, W, &lo, &hi)
            oz = oz0
            oy = oy0
            q0 = 0
            while q0 < nl:
                iz = oz * p.s[0] - p.pb[0] + a * p.d[0]
                iy = oy * p.s[1] - p.pb[1] + i * p.d[1]
                if iz >= 0 and iz < D and iy >= 0 and iy < H:
                    dst = xc + c * p.in_vol + (iz * H + iy) * W + ix0
                    if sw == 1:
                        for q in range(lo, hi):
                            dst[q] += row[q0 + q]
                    else:
                        for q in range(lo, hi):
                            dst[q * sw] += row[q0 + q]
                q0 += OW
                oy += 1
                if oy == OH:
                    oy = 0
                    oz += 1
            next_tap(p, &c, &a, &i, &j)
        return
    for r in range(r0, r1):
        row = buf + (r - r0) * ldb
        oz = oz0
        oy = oy0
        ox = ox0
        q0 = 0
        while q0 < nl:
            seg = OW - ox
            if seg > nl - q0:
                seg = nl - q0
            iz = oz * p.s[0] - p.pb[0] + a * p.d[0]
            iy = oy * p.s[1] - p.pb[1] + i * p.d[1]
            if iz >= 0 and iz < D and iy >= 0 and iy < H:
                dst = xc + c * p.in_vol + (iz * H + iy) * W
                ix0 = ox * sw - p.pb[2] + j * p.d[2]
                valid_range(ix0, sw, seg, W, &lo, &hi)
                if sw == 1:
                    for q in range(lo, hi):
                        dst[ix0 + q] += row[q0 + q]
                else:
                    for q in range(lo, hi):
                        dst[ix0 + q * sw] += row[q0 + q]
            q0 += seg
            ox = 0
            oy += 1
            if oy == OH:
                oy = 0
                oz += 1
        next_tap(p, &c, &a, &i, &j)


# ------------------------------------------------------------------ strips

cdef void build_strip(const floating *xc, const fc_problem *p, const Strip *st,
                      Py_ssize_t oz, floating *S) noexcept nogil:                # OUT
    """Plane (vc, pi, pj) at S + ((vc*sH + pi)*sW + pj)*rows*wt, vc = c*kD + a, holds
    xpad[c, oz*sD + a*dD, (oya + t)*sH + pi, (qa + q)*sW + pj] at (t, q); phases no tap
    reads are skipped."""
    cdef Py_ssize_t c, a, vc, pi, pj, t, q, i, iz, iy, ix0, lo, hi
    cdef Py_ssize_t D = p.in_[0], H = p.in_[1], W = p.in_[2]
    cdef Py_ssize_t sh = p.s[1], sw = p.s[2]
    cdef Py_ssize_t plane = st.rows * st.wt
    cdef const floating *src
    cdef floating *row
    cdef bint used
    for pi in range(sh):
        used = False
        for i in range(p.k[1]):
            if (i * p.d[1]) % sh == pi:
                used = True
        if not used:
            continue
        for pj in range(sw):
            used = False
            for i in range(p.k[2]):
                if (i * p.d[2]) % sw == pj:
                    used = True
            if not used:
                continue
            ix0 = st.qa * sw + pj - p.pb[2]
            valid_range(ix0, sw, st.wt, W, &lo, &hi)
            for c in range(p.Cg):
                for a in range(p.k[0]):
                    vc = c * p.k[0] + a
                    iz = oz * p.s[0] - p.pb[0] + a * p.d[0]
                    for t in range(st.rows):
                        row = S + ((vc * sh + pi) * sw + pj) * plane + t * st.wt
                        iy = (st.oya + t) * sh + pi - p.pb[1]
                        if iz < 0 or iz >= D or iy < 0 or iy >= H:
                            memset(row, 0, st.wt * sizeof(floating))
                            continue
                        src = xc + ((c * D + iz) * H + iy) * W + ix0
                        for q in range(lo):
                            row[q] = 0
                        if sw == 1:
                            for q in range(lo, hi):
                                row[q] = src[q]
                        elif sw == 2:   # a constant stride: the loop vectorises
                            for q in range(lo, hi):
                                row[q] = src[2 * q]
                        else:
                            for q in range(lo, hi):
                                row[q] = src[q * sw]
                        for q in range(hi, st.wt):
                            row[q] = 0


cdef void strip_taps(const fc_problem *p, const Strip *st,
                     Py_ssize_t *offs) noexcept nogil:                   # OUT (Kg)
    """offs[k] for every tap k = (c, a, i, j): strip element offs[k] + cols[l] is the
    input tap k reads for output column l (see strip_cols)."""
    cdef Py_ssize_t c, a, i, j, k = 0, hrow, vc
    cdef Py_ssize_t sh = p.s[1], sw = p.s[2]
    cdef Py_ssize_t plane = st.rows * st.wt
    for c in range(p.Cg):
        for a in range(p.k[0]):
            vc = c * p.k[0] + a
            for i in range(p.k[1]):
                hrow = ((vc * sh + (i * p.d[1]) % sh) * sw) * plane + (i * p.d[1]) // sh * st.wt
                for j in range(p.k[2]):
                    offs[k] = hrow + (j * p.d[2]) % sw * plane + (j * p.d[2]) // sw
                    k += 1


cdef void strip_cols(const fc_problem *p, const Strip *st, Py_ssize_t l0, Py_ssize_t nl,
                     Py_ssize_t *cols) noexcept nogil:                   # OUT (nl)
    """cols[v] for every column l0 + v of the tile (within its plane)."""
    cdef Py_ssize_t v, oy, ox, OW = p.out[2]
    oy = st.oya
    ox = l0 - oy * OW
    for v in range(nl):
        cols[v] = (oy - st.oya) * st.wt + ox - st.qa
        ox += 1
        if ox == OW:
            ox = 0
            oy += 1


cdef Py_ssize_t strip_segments(const fc_problem *p, const Strip *st, Py_ssize_t l0,
                               Py_ssize_t nl, Py_ssize_t *seg_src,
                               Py_ssize_t *seg_len) noexcept nogil:     # OUT
    """The tile's output-row segments as runs of strip columns; returns their count."""
    cdef Py_ssize_t nseg = 0, l = 0, OW = p.out[2]
    cdef Py_ssize_t oy = st.oya
    cdef Py_ssize_t ox = l0 - oy * OW
    while l < nl:
        seg_src[nseg] = (oy - st.oya) * st.wt + ox - st.qa
        seg_len[nseg] = OW - ox if OW - ox < nl - l else nl - l
        l = l + seg_len[nseg]
        nseg = nseg + 1
        ox = 0
        oy = oy + 1
    return nseg


# ------------------------------------------------------------------ forward

cdef void conv_forward(const fc_problem *p,
                       const floating *x, const floating *w, const floating *bias,  # IN
                       floating *out,                                              # OUT
                       floating *ws, int n_threads) noexcept nogil:                # scratch
    """The forward convolution: FC_CONV_FWD_DIRECT, _IM2COL or _STRIP.

    Task (n, g, tile, o block): ``blk`` output channels (0: all Og) of one column tile;
    the o block is innermost, so a thread's consecutive tasks share the tile's input."""
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t G = p.groups, Cg = p.Cg, Og = p.Og, Kg = p.Kg, L = p.L, lt = p.lt
    cdef Py_ssize_t L2 = p.out_plane
    cdef Py_ssize_t ob = p.blk if p.blk > 0 else Og
    cdef Py_ssize_t n_ob = cdiv(Og, ob) if Og > 0 else 0
    cdef bint strip = p.algo == FC_CONV_FWD_STRIP
    cdef bint direct = p.algo == FC_CONV_FWD_DIRECT
    cdef Py_ssize_t per_plane = cdiv(L2, lt)
    cdef Py_ssize_t n_tiles = p.out[0] * per_plane if strip else cdiv(L, lt)
    cdef Py_ssize_t n_tasks = p.N * G * n_tiles * n_ob
    cdef Py_ssize_t task, n, gi, t, oz, l0, nl, o, l, o0, no
    cdef floating *buf
    cdef floating *dst
    cdef const floating *xc
    cdef Py_ssize_t *ind
    cdef Strip st
    if n_tasks == 0 or Og == 0:
        return
    for task in prange(n_tasks, num_threads=n_threads, schedule="static"):
        n = task // (G * n_tiles * n_ob)
        gi = (task // (n_tiles * n_ob)) % G
        t = (task // n_ob) % n_tiles
        o0 = (task % n_ob) * ob
        no = Og - o0
        if no > ob:
            no = ob
        xc = x + (n * p.C + gi * Cg) * p.in_vol
        if strip:
            # per-thread workspace: offs (Kg) and cols (lt) indices, then the strip;
            # the GEMM starts each output row at its bias (no separate pass over dst)
            oz = t // per_plane
            l0 = (t - oz * per_plane) * lt
            nl = L2 - l0
            if nl > lt:
                nl = lt
            dst = out + (n * p.O + gi * Og + o0) * L + oz * L2 + l0
            ind = <Py_ssize_t *>(ws + threadid() * lay.per_thread)
            buf = ws + threadid() * lay.per_thread + lay.ints
            st = strip_of(p, l0, nl)
            build_strip(xc, p, &st, oz, buf)
            strip_taps(p, &st, ind)
            strip_cols(p, &st, l0, nl, ind + Kg)
            gemm_ind(no, nl, Kg, w + (gi * Og + o0) * Kg, Kg, buf, ind, ind + Kg, dst, L,
                     bias + gi * Og + o0 if bias != NULL else NULL)
            continue
        l0 = t * lt
        nl = L - l0
        if nl > lt:
            nl = lt
        dst = out + (n * p.O + gi * Og + o0) * L + l0
        for o in range(no):
            for l in range(nl):
                dst[o * L + l] = bias[gi * Og + o0 + o] if bias != NULL else 0
        if direct:
            gemm_nn(no, nl, Kg, w + (gi * Og + o0) * Kg, Kg, xc + l0, L, dst, L, 1)
        else:
            buf = ws + threadid() * lay.per_thread
            im2col_tile(xc, p, 0, Kg, l0, nl, buf, lt, 1)
            gemm_nn(no, nl, Kg, w + (gi * Og + o0) * Kg, Kg, buf, lt, dst, L, 1)


# -------------------------------------------------------------- grad input

cdef void conv_grad_input(const fc_problem *p,
                          const floating *go,      # IN  (N, O, L)
                          const floating *wt,      # IN  (G, Kg, Og): W_g^T
                          floating *gx,            # OUT (N, C, in_vol), written whole
                          floating *ws, int n_threads) noexcept nogil:
    """grad_input by W^T . grad_output tiles: FC_CONV_BWI_DIRECT writes the GEMM into
    grad_input; FC_CONV_BWI_COL2IM scatters each tile into the task's own channels."""
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t G = p.groups, Cg = p.Cg, Og = p.Og, Kg = p.Kg, L = p.L, lt = p.lt
    cdef Py_ssize_t cblk = p.blk
    cdef Py_ssize_t n_cb = cdiv(Cg, cblk)
    cdef Py_ssize_t n_tiles = cdiv(L, lt)
    cdef Py_ssize_t n_tasks = p.N * G * n_cb
    cdef Py_ssize_t task, n, gi, cb, c0, c1, r0, r1, t, l0, nl
    cdef bint direct = p.algo == FC_CONV_BWI_DIRECT
    cdef floating *buf
    cdef floating *xc
    cdef const floating *gop
    if n_tasks == 0 or L == 0:
        return
    for task in prange(n_tasks, num_threads=n_threads, schedule="static"):
        n = task // (G * n_cb)
        gi = (task // n_cb) % G
        cb = task % n_cb
        c0 = cb * cblk
        c1 = c0 + cblk
        if c1 > Cg:
            c1 = Cg
        r0 = c0 * p.taps
        r1 = c1 * p.taps
        xc = gx + (n * p.C + gi * Cg) * p.in_vol
        gop = go + (n * p.O + gi * Og) * L
        buf = ws + threadid() * lay.per_thread
        if not direct:  # the task's own channels start at zero (first touch in parallel)
            memset(xc + c0 * p.in_vol, 0, (c1 - c0) * p.in_vol * sizeof(floating))
        for t in range(n_tiles):
            l0 = t * lt
            nl = L - l0
            if nl > lt:
                nl = lt
            if direct:
                gemm_nn(r1 - r0, nl, Og, wt + (gi * Kg + r0) * Og, Og, gop + l0, L,
                        xc + c0 * L + l0, L, 0)
            else:
                gemm_nn(r1 - r0, nl, Og, wt + (gi * Kg + r0) * Og, Og, gop + l0, L, buf, lt, 0)
                col2im_tile_add(buf, lt, p, r0, r1, l0, nl, xc)


# ------------------------------------------------------------- grad weight

cdef extern from "fc_transpose.h" nogil:
    void fc_tr_select(int gemm_variant)
    void fc_transpose_f32(const float *src, Py_ssize_t lds, Py_ssize_t rows, Py_ssize_t cols,
                          float *dst)
    void fc_transpose_f64(const double *src, Py_ssize_t lds, Py_ssize_t rows,
                          Py_ssize_t cols, double *dst)

fc_tr_select({"avx512": 2, "avx2": 1}.get(_gemm.variant(), 0))


cdef inline void transpose_columns(const floating *src, Py_ssize_t lds, Py_ssize_t rows,
                                   Py_ssize_t cols, floating *dst) noexcept nogil:  # OUT cols x rows
    """dst[l, o] = src[o*lds + l]: a rows x cols block transposed (fc_transpose.h)."""
    if floating is float:
        fc_transpose_f32(src, lds, rows, cols, dst)
    else:
        fc_transpose_f64(src, lds, rows, cols, dst)


cdef void conv_grad_weight(const fc_problem *p,
                           const floating *go,     # IN  (N, O, L)
                           const floating *x,      # IN  (N, C, in_vol)
                           floating *gw,           # OUT (O, Kg) [rows] or (P, G, Kg, Og) [chunks]
                           floating *ws, int n_threads) noexcept nogil:
    """grad_weight.

    * FC_CONV_BWW_ROWS, task (g, block of ``blk`` im2col rows): for each sample, then each
      column tile, in order: the rows' im2col tile transposed, then
      ``gw[g, :, rows] += go_tile . tile``.
    * FC_CONV_BWW_CHUNKED, task (chunk p of the batch, g): for each of its samples, the
      whole im2col matrix and grad_output transposed, ``partial[p, g] += cols . go^T``.
    * FC_CONV_BWW_STRIP, task (chunk, g): the same sum, a column tile at a time, the GEMM's
      A rows read straight from the tile's strip (``gemm_rows``).

    The chunks are fixed by the shape; the caller sums the partials in chunk order.
    Each task zeroes what it writes.
    """
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t G = p.groups, Cg = p.Cg, Og = p.Og, Kg = p.Kg, L = p.L, lt = p.lt
    cdef Py_ssize_t L2 = p.out_plane, N = p.N, P = p.chunks, kb = p.blk
    cdef Py_ssize_t n_kb = cdiv(Kg, kb) if kb > 0 else 0
    cdef Py_ssize_t n_tiles = cdiv(L, lt) if lt > 0 else 0
    cdef Py_ssize_t per_plane = cdiv(L2, lt) if lt > 0 else 0
    cdef Py_ssize_t task, n, gi, b, r0, r1, t, l0, nl, o, c, oz, nseg, f, f0, f1, tps, NT
    cdef int algo = p.algo
    cdef floating *buf
    cdef floating *part
    cdef floating *got
    cdef floating *S
    cdef const floating *xc
    cdef const floating *gop
    cdef Py_ssize_t *aoffs
    cdef Py_ssize_t *seg_src
    cdef Py_ssize_t *seg_len
    cdef Strip st
    if P < 1:
        P = 1
    if algo == FC_CONV_BWW_ROWS:
        # task (chunk, g, row block): chunk c sums the flat (sample, tile) range
        # [c*NT//P, (c+1)*NT//P) into its own (O, Kg) partial (gw itself when P == 1)
        NT = N * n_tiles
        for task in prange(P * G * n_kb, num_threads=n_threads, schedule="static"):
            c = task // (G * n_kb)
            gi = (task // n_kb) % G
            b = task % n_kb
            r0 = b * kb
            r1 = r0 + kb
            if r1 > Kg:
                r1 = Kg
            part = gw + c * p.O * Kg
            for o in range(Og):
                memset(part + (gi * Og + o) * Kg + r0, 0, (r1 - r0) * sizeof(floating))
            buf = ws + threadid() * lay.per_thread
            f0 = c * NT // P
            f1 = (c + 1) * NT // P
            for f in range(f0, f1):
                n = f // n_tiles
                t = f - n * n_tiles
                xc = x + (n * p.C + gi * Cg) * p.in_vol
                gop = go + (n * p.O + gi * Og) * L
                l0 = t * lt
                nl = L - l0
                if nl > lt:
                    nl = lt
                im2col_tile(xc, p, r0, r1, l0, nl, buf, 1, kb)
                gemm_nn(Og, r1 - r0, nl, gop + l0, L, buf, kb, part + gi * Og * Kg + r0, Kg, 1)
        return
    # task (chunk, g): chunk c sums the flat (sample, tile) range [c*NT//P, (c+1)*NT//P)
    # (chunked: one tile per sample, the whole im2col matrix)
    tps = 1 if algo == FC_CONV_BWW_CHUNKED else p.out[0] * per_plane
    NT = N * tps
    for task in prange(P * G, num_threads=n_threads, schedule="static"):
        c = task // G
        gi = task % G
        f0 = c * NT // P
        f1 = (c + 1) * NT // P
        part = gw + (c * G + gi) * Kg * Og
        memset(part, 0, Kg * Og * sizeof(floating))
        buf = ws + threadid() * lay.per_thread
        aoffs = <Py_ssize_t *>buf
        seg_src = aoffs + Kg
        seg_len = seg_src + lt + 2
        got = buf + lay.ints
        S = got + lay.got
        for f in range(f0, f1):
            n = f // tps
            t = f - n * tps
            xc = x + (n * p.C + gi * Cg) * p.in_vol
            gop = go + (n * p.O + gi * Og) * L
            if algo == FC_CONV_BWW_CHUNKED:
                im2col_tile(xc, p, 0, Kg, 0, L, S, L, 1)
                transpose_columns(gop, L, Og, L, got)
                gemm_nn(Kg, Og, L, S, L, got, Og, part, Og, 1)
                continue
            oz = t // per_plane
            l0 = (t - oz * per_plane) * lt
            nl = L2 - l0
            if nl > lt:
                nl = lt
            st = strip_of(p, l0, nl)
            build_strip(xc, p, &st, oz, S)
            strip_taps(p, &st, aoffs)
            nseg = strip_segments(p, &st, l0, nl, seg_src, seg_len)
            transpose_columns(gop + oz * L2 + l0, L, Og, nl, got)
            gemm_rows(Kg, Og, S, aoffs, seg_src, seg_len, nseg, got, Og, part, Og)


# ------------------------------------------------- grouped, small planes

cdef void grouped_build(const floating *x, const fc_problem *p, Py_ssize_t n0,
                        Py_ssize_t nb, Py_ssize_t gi, floating *S) noexcept nogil:   # OUT
    """The task's input copy (see problem.pxi): plane (j, pi, c, sample) of T x OW at
    S + (((j*sH + pi)*Cg + c)*nb + s)*T*OW holds xpad[t*sH + pi, ox*sW + j*dW]."""
    cdef Py_ssize_t T = grouped_rows(p), OW = p.out[2], H = p.in_[1], W = p.in_[2]
    cdef Py_ssize_t sh = p.s[1], sw = p.s[2], j, pi, c, sm, t, iy, ix0, lo, hi, q
    cdef const floating *src
    cdef floating *row
    for j in range(p.k[2]):
        ix0 = j * p.d[2] - p.pb[2]
        valid_range(ix0, sw, OW, W, &lo, &hi)
        for pi in range(sh):
            for c in range(p.Cg):
                for sm in range(nb):
                    row = S + (((j * sh + pi) * p.Cg + c) * nb + sm) * T * OW
                    for t in range(T):
                        iy = t * sh + pi - p.pb[1]
                        if iy < 0 or iy >= H:
                            memset(row, 0, OW * sizeof(floating))
                        else:
                            src = x + ((n0 + sm) * p.C + gi * p.Cg + c) * p.in_vol + iy * W + ix0
                            for q in range(lo):
                                row[q] = 0
                            if sw == 1:   # (short rows: a loop, not a memcpy call)
                                for q in range(lo, hi):
                                    row[q] = src[q]
                            elif sw == 2:   # a constant stride: the loop vectorises
                                for q in range(lo, hi):
                                    row[q] = src[2 * q]
                            else:
                                for q in range(lo, hi):
                                    row[q] = src[q * sw]
                            for q in range(hi, OW):
                                row[q] = 0
                        row = row + OW


cdef void grouped_taps(const fc_problem *p, Py_ssize_t nb, Py_ssize_t *offs) noexcept nogil:
    """offs[k] for im2col row k = (c*kH + i)*kW + j: where its run starts in the copy."""
    cdef Py_ssize_t T = grouped_rows(p), OW = p.out[2], sh = p.s[1], c, i, j, k = 0
    for c in range(p.Cg):
        for i in range(p.k[1]):
            for j in range(p.k[2]):
                offs[k] = (((j * sh + (i * p.d[1]) % sh) * p.Cg + c) * nb * T
                           + (i * p.d[1]) // sh) * OW
                k += 1


cdef void conv_grouped_forward(const fc_problem *p,
                               const floating *x, const floating *w,
                               const floating *bias,                    # IN
                               floating *out,                           # OUT
                               floating *ws, int n_threads) noexcept nogil:
    """FC_CONV_FWD_GROUPED, task (chunk of blk samples, g): the chunk's copy, then one
    GEMM ``W_g . cols`` over all its samples' columns (bias as each row's start),
    copied out per sample."""
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t G = p.groups, Og = p.Og, Kg = p.Kg, L = p.L, N = p.N, nb = p.blk
    cdef Py_ssize_t T = grouped_rows(p), OW = p.out[2]
    cdef Py_ssize_t P = cdiv(N, nb) if nb > 0 else 0
    cdef Py_ssize_t task, c, gi, n0, nbc, sm, v, o, ncols
    cdef Py_ssize_t *offs
    cdef Py_ssize_t *cols
    cdef floating *Ct
    cdef floating *S
    if P == 0 or Og == 0 or L == 0:
        return
    for task in prange(P * G, num_threads=n_threads, schedule="static"):
        c = task // G
        gi = task % G
        n0 = c * nb
        nbc = N - n0
        if nbc > nb:
            nbc = nb
        ncols = nbc * L
        offs = <Py_ssize_t *>(ws + threadid() * lay.per_thread)
        cols = offs + Kg
        Ct = ws + threadid() * lay.per_thread + lay.ints
        S = Ct + lay.got
        grouped_build(x, p, n0, nbc, gi, S)
        grouped_taps(p, nbc, offs)
        for sm in range(nbc):
            for v in range(L):
                cols[sm * L + v] = sm * T * OW + v
        gemm_ind(Og, ncols, Kg, w + gi * Og * Kg, Kg, S, offs, cols, Ct, ncols,
                 bias + gi * Og if bias != NULL else NULL)
        for sm in range(nbc):
            for o in range(Og):
                memcpy(out + ((n0 + sm) * p.O + gi * Og + o) * L, Ct + o * ncols + sm * L,
                       L * sizeof(floating))


cdef void conv_grouped_grad_weight(const fc_problem *p,
                                   const floating *go,   # IN  (N, O, L)
                                   const floating *x,    # IN  (N, C, in_vol)
                                   floating *gw,         # OUT partial (P, G, Kg, Og)
                                   floating *ws, int n_threads) noexcept nogil:
    """FC_CONV_BWW_GROUPED, task (chunk of blk samples, g): the chunk's copy and its
    grad_output transposed, then ``partial[chunk, g] = cols . go^T`` with the im2col
    rows read from the copy, one segment per sample (``gemm_rows``)."""
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t G = p.groups, Og = p.Og, Kg = p.Kg, L = p.L, N = p.N, nb = p.blk
    cdef Py_ssize_t T = grouped_rows(p), OW = p.out[2]
    cdef Py_ssize_t P = cdiv(N, nb) if nb > 0 else 0
    cdef Py_ssize_t task, c, gi, n0, nbc, sm
    cdef Py_ssize_t *offs
    cdef Py_ssize_t *seg_src
    cdef Py_ssize_t *seg_len
    cdef floating *got
    cdef floating *S
    cdef floating *part
    if P == 0:
        return
    for task in prange(P * G, num_threads=n_threads, schedule="static"):
        c = task // G
        gi = task % G
        n0 = c * nb
        nbc = N - n0
        if nbc > nb:
            nbc = nb
        part = gw + (c * G + gi) * Kg * Og
        memset(part, 0, Kg * Og * sizeof(floating))
        offs = <Py_ssize_t *>(ws + threadid() * lay.per_thread)
        seg_src = offs + Kg
        seg_len = seg_src + nb
        got = ws + threadid() * lay.per_thread + lay.ints
        S = got + lay.got
        grouped_build(x, p, n0, nbc, gi, S)
        grouped_taps(p, nbc, offs)
        for sm in range(nbc):
            seg_src[sm] = sm * T * OW
            seg_len[sm] = L
            transpose_columns(go + ((n0 + sm) * p.O + gi * Og) * L, L, Og, L, got + sm * L * Og)
        gemm_rows(Kg, Og, S, offs, seg_src, seg_len, nbc, got, Og, part, Og)


cdef extern from "fc_sum.h" nogil:
    void fc_sum_zero_f32(float *acc)
    void fc_sum_add_f32(float *acc, const float *x, Py_ssize_t n)
    float fc_sum_finish_f32(const float *acc)
    void fc_sum_zero_f64(double *acc)
    void fc_sum_add_f64(double *acc, const double *x, Py_ssize_t n)
    double fc_sum_finish_f64(const double *acc)


cdef inline floating lane_sum(const floating *x, Py_ssize_t rows, Py_ssize_t ld,
                              Py_ssize_t n) noexcept nogil:
    """Sum of rows x[r*ld : r*ld + n], r < rows, in fc_sum.h's fixed lane order."""
    cdef floating acc[16]
    cdef Py_ssize_t r
    if floating is float:
        fc_sum_zero_f32(acc)
        for r in range(rows):
            fc_sum_add_f32(acc, x + r * ld, n)
        return fc_sum_finish_f32(acc)
    else:
        fc_sum_zero_f64(acc)
        for r in range(rows):
            fc_sum_add_f64(acc, x + r * ld, n)
        return fc_sum_finish_f64(acc)


cdef void conv_grad_bias(const fc_problem *p, const floating *go,   # IN  (N, O, L)
                         floating *gb, int n_threads) noexcept nogil:  # OUT (O,)
    """grad_bias[o]: the sum over samples and positions, by vector lanes (fc_sum.h)."""
    cdef Py_ssize_t o
    for o in prange(p.O, num_threads=n_threads, schedule="static"):
        gb[o] = lane_sum(go + o * p.L, p.N, p.O * p.L, p.L)


# ---------------------------------------------------------- im2col / col2im

cdef void unfold_im2col(const fc_problem *p, const floating *x,    # IN  (N, C, in_vol)
                        floating *cols, int n_threads) noexcept nogil:  # OUT (N, C*taps, L)
    cdef Py_ssize_t plane
    for plane in prange(p.N * p.C, num_threads=n_threads, schedule="static"):
        im2col_tile(x + plane * p.in_vol, p, 0, p.taps, 0, p.L,
                    cols + plane * p.taps * p.L, p.L, 1)


cdef void unfold_col2im(const fc_problem *p, const floating *cols,  # IN  (N, C*taps, L)
                        floating *out, int n_threads) noexcept nogil:  # OUT (N, C, in_vol)
    cdef Py_ssize_t plane
    for plane in prange(p.N * p.C, num_threads=n_threads, schedule="static"):
        memset(out + plane * p.in_vol, 0, p.in_vol * sizeof(floating))
        col2im_tile_add(cols + plane * p.taps * p.L, p.L, p, 0, p.taps, 0, p.L,
                        out + plane * p.in_vol)
