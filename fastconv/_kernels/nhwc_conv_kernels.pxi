# Channels-last convolution (FC_CONV_*_NHWC), rank 1 to 3 (lifted to D, H, W).
# (Included by _engine.pyx, after conv_kernels.pxi: column_of, transpose_columns.)
#
# Arrays (C-contiguous, the compute dtype): x (N, *in, C); y and grad_output
# (N, *out, O); the weight (*k, C/groups, O), i.e. for group g the Kg x Og matrix
# W_g at w + g*Og with leading dimension O (row t*Cg + c: tap t, channel c).  The
# rows of x and y are positions; a "patch" row is what one output position reads:
# Kg = taps*Cg elements, each tap's Cg-run of x (zeros where the tap is padding).
#
#   forward      task (n, tile, g, o block)   y[tile, g] = bias + patch_tile . W_g
#                (1x1 stride 1 unpadded: tiles of the N*L rows, A = x rows, no copy;
#                1-D, one group, dilation 1: inner tiles' patch rows are x's rows;
#                lt > L, small planes: tiles of the flat N*L rows, across samples)
#   grad_input   task (g, c block, n)         dpatch = go_tile . W_g[:, blk]^T, added
#                                             into the task's channels of sample n
#                (direct: task (g, c block, tile of the N*L rows), gx rows = go rows .
#                W_g[:, blk]^T)
#   grad_weight  task (chunk, g, Kg block)    acc = sum go_tile^T . patch_tile, written
#                                             (transposed) into the chunk's partial
#                (lt > L, small planes: the tiles are of the flat N*L rows)
#   grad_bias    task (block of 64 channels)  sums over the N*L rows, in row order
#
# Every output element is produced by one task in a fixed order: results are the same
# bits for any thread count.  A task caches what it packs (the patch tile, W_g^T) in
# its thread's workspace under a tag, so consecutive tasks of one thread sharing it do
# not build it again.

cdef enum:
    NHWC_BIAS_LANES = 64       # grad_bias: channels per task
    NHWC_BIAS_ROWS = 256       # grad_bias: rows summed per block before the total


cdef inline Py_ssize_t nhwc_n_ob(const fc_problem *p) noexcept nogil:
    if p.Og <= 0:
        return 0
    return cdiv(p.Og, p.blk) if p.blk > 0 else 1


cdef inline Py_ssize_t nhwc_n_cb(const fc_problem *p) noexcept nogil:
    """grad_input: channel blocks of blk (0: one block of all Cg)."""
    return cdiv(p.Cg, p.blk if 0 < p.blk < p.Cg else p.Cg)


cdef inline Py_ssize_t nhwc_gi_ns(const fc_problem *p) noexcept nogil:
    """grad_input (not direct): samples per task (chunks; 0 and 1: one).  With more than
    one, the planner makes lt = ns * L: one GEMM takes all the task's samples' rows."""
    return p.chunks if p.chunks > 1 else 1


cdef inline Py_ssize_t nhwc_kbw(const fc_problem *p) noexcept nogil:
    """grad_weight: patch columns per Kg block (blk, 0: all Kg)."""
    return p.blk if 0 < p.blk < p.Kg else p.Kg


cdef inline bint nhwc_flat(const fc_problem *p) noexcept nogil:
    """Forward and grad_weight: tiles longer than a sample's plane are tiles of the
    flat sequence of the N*L output positions, a tile's patch rows built sample segment
    by sample segment (small planes: the GEMMs get more rows).  (The direct forward
    always tiles the flat rows; a direct grad_weight's flat rows are x's.)"""
    return p.lt > p.L


cdef inline Py_ssize_t nhwc_fwd_kb(const fc_problem *p) noexcept nogil:
    """Forward, flat tiles: patch columns built a k-block at a time, FC_KC of them (a
    multiple of the GEMM's k-block: the GEMM a k-block at a time sums as one GEMM)."""
    return FC_KC if p.Kg > FC_KC else p.Kg


cdef inline bint nhwc_gw_rows(const fc_problem *p) noexcept nogil:
    """grad_weight by patch^T . grad_output (rows of the result, written into the partial
    by the GEMM) rather than grad_output^T . patch: where transposing each patch tile
    once costs less than transposing grad_output once per block of patch columns
    (Kg < blocks * Og).  The products and their order are the same either way."""
    return p.Kg < cdiv(p.Kg, nhwc_kbw(p)) * p.Og


cdef void nhwc_conv_workspace(const fc_problem *p, fc_workspace_layout *w) noexcept nogil:
    cdef int a = p.algo
    cdef bint direct = fc_is_direct(p)
    cdef Py_ssize_t cw, kbw
    if a == FC_CONV_FWD_NHWC:
        if nhwc_flat(p) and not direct:
            w.main = p.lt * nhwc_fwd_kb(p)                      # one k-block of the patch
        elif not direct:
            w.ints = index_elems(1, p.itemsize)                 # tag of the tile built
            w.main = p.lt * p.Kg                                # the patch tile
    elif a == FC_CONV_BWI_NHWC:
        w.ints = index_elems(1, p.itemsize)                     # tag of the W^T packed
        if direct:
            w.main = p.Og * (p.blk if 0 < p.blk < p.Cg else p.Cg)   # W_g[:, blk]^T
        else:
            cw = p.blk if 0 < p.blk < p.Cg else p.Cg
            w.got = round16(p.Og * p.taps * cw)                 # W_g[:, blk]^T
            w.main = p.lt * p.taps * cw                         # the tile's dpatch
    elif a == FC_CONV_BWW_NHWC:
        kbw = nhwc_kbw(p)
        w.got = round16((kbw if nhwc_gw_rows(p) else p.Og) * p.lt)   # go tile^T or patch^T
        w.main = round16(p.Og * kbw)                            # the task's sums
        if not direct:
            w.main = w.main + p.lt * kbw                        # the patch tile
        w.shared = (p.chunks if p.chunks > 1 else 1) * p.Kg * p.O   # per-chunk partials


cdef Py_ssize_t nhwc_conv_tasks(const fc_problem *p) noexcept nogil:
    cdef int a = p.algo
    cdef bint direct = fc_is_direct(p)
    if a == FC_CONV_BWB_NHWC:
        return cdiv(p.O, NHWC_BIAS_LANES)
    if a == FC_CONV_BWW_NHWC:
        return (p.chunks if p.chunks > 1 else 1) * p.groups * cdiv(p.Kg, nhwc_kbw(p))
    if p.lt <= 0:
        return 0
    if a == FC_CONV_FWD_NHWC:
        if direct or nhwc_flat(p):
            return cdiv(p.N * p.L, p.lt) * p.groups * nhwc_n_ob(p)
        return p.N * cdiv(p.L, p.lt) * p.groups * nhwc_n_ob(p)
    if a == FC_CONV_BWI_NHWC:
        if direct:
            return cdiv(p.N * p.L, p.lt) * p.groups * nhwc_n_cb(p)
        return p.groups * nhwc_n_cb(p) * cdiv(p.N, nhwc_gi_ns(p))
    return 0


# ------------------------------------------------------------------ patches

cdef inline void nhwc_copy(floating *dst, const floating *src, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t q
    if n >= 16:
        memcpy(dst, src, n * sizeof(floating))
    else:
        for q in range(n):
            dst[q] = src[q]


cdef inline void nhwc_zero(floating *dst, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t q
    if n >= 16:
        memset(dst, 0, n * sizeof(floating))
    else:
        for q in range(n):
            dst[q] = 0


cdef void nhwc_patch_mode(const floating *xn, const fc_problem *p, Py_ssize_t gi,
                          Py_ssize_t l0, Py_ssize_t nl, Py_ssize_t r0, Py_ssize_t r1,
                          floating *buf, Py_ssize_t ldb) noexcept nogil:
    """nhwc_patch for a padding mode other than zeros: every padded coordinate read
    through pad_index (conv_kernels.pxi), the padding built in the tile."""
    cdef Py_ssize_t Cg = p.Cg, C = p.C, D = p.in_[0], H = p.in_[1], W = p.in_[2]
    cdef Py_ssize_t kH = p.k[1], kW = p.k[2], khw = p.k[1] * p.k[2]
    cdef Py_ssize_t oz, oy, ox, l, t, a, i, j, iz, iy, ix, cs, ce
    cdef Py_ssize_t t0 = r0 // Cg, t1 = cdiv(r1, Cg)
    cdef int mode = p.padding_mode
    cdef const floating *xg = xn + gi * Cg
    cdef floating *row
    column_of(l0, p, &oz, &oy, &ox)
    for l in range(nl):
        row = buf + l * ldb - r0
        for t in range(t0, t1):
            a = t // khw
            i = (t - a * khw) // kW
            j = t - a * khw - i * kW
            cs = t * Cg if t * Cg > r0 else r0
            ce = t * Cg + Cg if t * Cg + Cg < r1 else r1
            iz = pad_index(oz * p.s[0] - p.pb[0] + a * p.d[0], D, mode)
            iy = pad_index(oy * p.s[1] - p.pb[1] + i * p.d[1], H, mode)
            ix = pad_index(ox * p.s[2] - p.pb[2] + j * p.d[2], W, mode)
            nhwc_copy(row + cs, xg + ((iz * H + iy) * W + ix) * C + cs - t * Cg, ce - cs)
        ox += 1
        if ox == p.out[2]:
            ox = 0
            oy += 1
            if oy == p.out[1]:
                oy = 0
                oz += 1


cdef void nhwc_scatter_mode(const floating *dp, Py_ssize_t ldd, const fc_problem *p,
                            Py_ssize_t l0, Py_ssize_t nl, Py_ssize_t cw,
                            floating *gxc) noexcept nogil:
    """nhwc_scatter for a padding mode other than zeros: a padded element's gradient
    is added to the input element it was read from (positions in order, taps in order)."""
    cdef Py_ssize_t C = p.C, D = p.in_[0], H = p.in_[1], W = p.in_[2]
    cdef Py_ssize_t kD = p.k[0], kH = p.k[1], kW = p.k[2]
    cdef Py_ssize_t oz, oy, ox, l, a, i, j, iz, iy, ix, q
    cdef int mode = p.padding_mode
    cdef const floating *src
    cdef floating *dst
    column_of(l0, p, &oz, &oy, &ox)
    for l in range(nl):
        for a in range(kD):
            iz = pad_index(oz * p.s[0] - p.pb[0] + a * p.d[0], D, mode)
            for i in range(kH):
                iy = pad_index(oy * p.s[1] - p.pb[1] + i * p.d[1], H, mode)
                for j in range(kW):
                    ix = pad_index(ox * p.s[2] - p.pb[2] + j * p.d[2], W, mode)
                    src = dp + l * ldd + ((a * kH + i) * kW + j) * cw
                    dst = gxc + ((iz * H + iy) * W + ix) * C
                    for q in range(cw):
                        dst[q] += src[q]
        ox += 1
        if ox == p.out[2]:
            ox = 0
            oy += 1
            if oy == p.out[1]:
                oy = 0
                oz += 1


cdef void nhwc_patch(const floating *xn, const fc_problem *p,     # IN: sample n's rows
                     Py_ssize_t gi, Py_ssize_t l0, Py_ssize_t nl,
                     Py_ssize_t r0, Py_ssize_t r1,
                     floating *buf, Py_ssize_t ldb) noexcept nogil:   # OUT nl x (r1-r0)
    """Patch columns [r0, r1) of output positions [l0, l0+nl) of one sample and group:
    ``buf[(l - l0)*ldb + r - r0]``.  A whole patch (r0 = 0, r1 = Kg) of one group
    (Cg == C) with dilation 1 along W copies each kernel row as one run of kW*C."""
    cdef Py_ssize_t Cg = p.Cg, C = p.C, D = p.in_[0], H = p.in_[1], W = p.in_[2]
    cdef Py_ssize_t kD = p.k[0], kH = p.k[1], kW = p.k[2], khw = p.k[1] * p.k[2]
    cdef Py_ssize_t oz, oy, ox, l, t, a, i, j, iz, iy, ix, bz, by, bx, cs, ce, jlo, jhi
    cdef Py_ssize_t t0 = r0 // Cg, t1 = cdiv(r1, Cg), a0, i0, j0, rem
    cdef bint rows = (r0 == 0 and r1 == p.Kg and Cg == C and p.d[2] == 1)
    cdef const floating *xg = xn + gi * Cg
    cdef floating *row
    if nl <= 0 or r1 <= r0:
        return
    if p.padding_mode != FC_PAD_ZEROS:
        nhwc_patch_mode(xn, p, gi, l0, nl, r0, r1, buf, ldb)
        return
    a0 = t0 // khw
    rem = t0 - a0 * khw
    i0 = rem // kW
    j0 = rem - i0 * kW
    column_of(l0, p, &oz, &oy, &ox)
    for l in range(nl):
        row = buf + l * ldb - r0
        bz = oz * p.s[0] - p.pb[0]
        by = oy * p.s[1] - p.pb[1]
        bx = ox * p.s[2] - p.pb[2]
        if rows:
            # kernel rows (a, i): taps j in [jlo, jhi) inside, one run of (jhi-jlo)*C
            jlo = 0 if bx >= 0 else -bx
            if jlo > kW:
                jlo = kW
            jhi = W - bx if W - bx < kW else kW
            if jhi < jlo:
                jhi = jlo
            for a in range(kD):
                iz = bz + a * p.d[0]
                for i in range(kH):
                    iy = by + i * p.d[1]
                    t = (a * kH + i) * kW
                    if iz < 0 or iz >= D or iy < 0 or iy >= H:
                        nhwc_zero(row + t * C, kW * C)
                        continue
                    nhwc_zero(row + t * C, jlo * C)
                    nhwc_copy(row + (t + jlo) * C, xn + ((iz * H + iy) * W + bx + jlo) * C,
                              (jhi - jlo) * C)
                    nhwc_zero(row + (t + jhi) * C, (kW - jhi) * C)
        else:
            a = a0
            i = i0
            j = j0
            for t in range(t0, t1):
                cs = t * Cg
                ce = cs + Cg
                if cs < r0:
                    cs = r0
                if ce > r1:
                    ce = r1
                iz = bz + a * p.d[0]
                iy = by + i * p.d[1]
                ix = bx + j * p.d[2]
                if iz < 0 or iz >= D or iy < 0 or iy >= H or ix < 0 or ix >= W:
                    nhwc_zero(row + cs, ce - cs)
                else:
                    nhwc_copy(row + cs, xg + ((iz * H + iy) * W + ix) * C + cs - t * Cg,
                              ce - cs)
                j += 1
                if j == kW:
                    j = 0
                    i += 1
                    if i == kH:
                        i = 0
                        a += 1
        ox += 1
        if ox == p.out[2]:
            ox = 0
            oy += 1
            if oy == p.out[1]:
                oy = 0
                oz += 1


cdef void nhwc_patch_flat(const floating *x, const fc_problem *p,   # IN: all of x
                          Py_ssize_t gi, Py_ssize_t f0, Py_ssize_t nl,
                          Py_ssize_t r0, Py_ssize_t r1,
                          floating *buf, Py_ssize_t ldb) noexcept nogil:  # OUT nl x (r1-r0)
    """nhwc_patch for the flat positions [f0, f0+nl) of the N*L (n*L + l): one call a
    sample segment, rows in order."""
    cdef Py_ssize_t n, l, seg
    while nl > 0:
        n = f0 // p.L
        l = f0 - n * p.L
        seg = p.L - l
        if seg > nl:
            seg = nl
        nhwc_patch(x + n * p.in_vol * p.C, p, gi, l, seg, r0, r1, buf, ldb)
        buf = buf + seg * ldb
        f0 = f0 + seg
        nl = nl - seg


cdef void nhwc_scatter(const floating *dp, Py_ssize_t ldd,      # IN: nl x taps*cw
                       const fc_problem *p, Py_ssize_t l0, Py_ssize_t nl, Py_ssize_t cw,
                       floating *gxc) noexcept nogil:              # IN/OUT: block base
    """Add the dpatch rows of positions [l0, l0+nl) (tap-major, cw channels each) into
    the input rows at gxc (channel stride 1, position stride C): positions in order,
    taps in order.  With cw == C and dilation 1 along W a kernel row is one run."""
    cdef Py_ssize_t C = p.C, D = p.in_[0], H = p.in_[1], W = p.in_[2]
    cdef Py_ssize_t kD = p.k[0], kH = p.k[1], kW = p.k[2]
    cdef Py_ssize_t oz, oy, ox, l, t, a, i, j, iz, iy, ix, bz, by, bx, jlo, jhi, q, n
    cdef bint rows = (cw == C and p.d[2] == 1)
    cdef const floating *src
    cdef floating *dst
    if p.padding_mode != FC_PAD_ZEROS:
        nhwc_scatter_mode(dp, ldd, p, l0, nl, cw, gxc)
        return
    column_of(l0, p, &oz, &oy, &ox)
    for l in range(nl):
        bz = oz * p.s[0] - p.pb[0]
        by = oy * p.s[1] - p.pb[1]
        bx = ox * p.s[2] - p.pb[2]
        jlo = 0 if bx >= 0 else -bx
        jhi = W - bx if W - bx < kW else kW
        for a in range(kD):
            iz = bz + a * p.d[0]
            if iz < 0 or iz >= D:
                continue
            for i in range(kH):
                iy = by + i * p.d[1]
                if iy < 0 or iy >= H:
                    continue
                t = (a * kH + i) * kW
                if rows:
                    if jhi > jlo:
                        src = dp + l * ldd + (t + jlo) * C
                        dst = gxc + ((iz * H + iy) * W + bx + jlo) * C
                        n = (jhi - jlo) * C
                        for q in range(n):
                            dst[q] += src[q]
                    continue
                for j in range(kW):
                    ix = bx + j * p.d[2]
                    if ix < 0 or ix >= W:
                        continue
                    src = dp + l * ldd + (t + j) * cw
                    dst = gxc + ((iz * H + iy) * W + ix) * C
                    for q in range(cw):
                        dst[q] += src[q]
        ox += 1
        if ox == p.out[2]:
            ox = 0
            oy += 1
            if oy == p.out[1]:
                oy = 0
                oz += 1


cdef inline bint nhwc_rows_view(const fc_problem *p, Py_ssize_t l0, Py_ssize_t nl,
                                Py_ssize_t *off, Py_ssize_t *ld) noexcept nogil:
    """Whether the patch rows of positions [l0, l0+nl) are a strided view of x's rows:
    a 1-D problem of one group, dilation 1, every window of the tile inside.  Then row
    l is the kW*C elements at x_n + off + (l - l0)*ld."""
    cdef Py_ssize_t first = l0 * p.s[2] - p.pb[2]
    if (p.in_[0] != 1 or p.in_[1] != 1 or p.k[0] != 1 or p.k[1] != 1 or p.Cg != p.C
            or p.d[2] != 1 or nl <= 0 or first < 0
            or (l0 + nl - 1) * p.s[2] - p.pb[2] + p.k[2] > p.in_[2]):
        return False
    off[0] = first * p.C
    ld[0] = p.s[2] * p.C
    return True


cdef inline Py_ssize_t *nhwc_tag(floating *ws, const fc_workspace_layout *lay,
                                 Py_ssize_t th) noexcept nogil:
    return <Py_ssize_t *>(ws + th * lay.per_thread)


# ------------------------------------------------------------------ forward

cdef void nhwc_forward(const fc_problem *p,
                       const floating *x, const floating *w, const floating *bias,  # IN
                       floating *y,                                                # OUT
                       floating *ws, int n_threads) noexcept nogil:
    """FC_CONV_FWD_NHWC.  Task (n, tile of lt positions, g, o block), o block innermost:
    a thread's consecutive tasks share the patch tile (built once, tagged).  Direct
    (1x1 stride 1 unpadded): tiles of the N*L rows, the GEMM's A is x itself.  Flat
    (lt > L, small planes): tiles of the N*L rows across samples, each task building
    its patch a k-block (nhwc_fwd_kb columns) at a time, one GEMM per k-block."""
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t G = p.groups, Cg = p.Cg, Og = p.Og, Kg = p.Kg, L = p.L, O = p.O
    cdef Py_ssize_t lt = p.lt
    cdef Py_ssize_t ob = p.blk if 0 < p.blk < Og else Og
    cdef Py_ssize_t n_ob = nhwc_n_ob(p)
    cdef bint direct = fc_is_direct(p)
    cdef bint flat = nhwc_flat(p)
    cdef Py_ssize_t rows = p.N * L if direct or flat else L
    cdef Py_ssize_t n_tiles = cdiv(rows, lt) if lt > 0 else 0
    cdef Py_ssize_t n_tasks = (1 if direct or flat else p.N) * n_tiles * G * n_ob
    cdef Py_ssize_t task, n, t, gi, o0, no, l0, nl, l, o, key, th, voff, k0, kc
    cdef Py_ssize_t kb = nhwc_fwd_kb(p)
    cdef floating *buf
    cdef floating *dst
    cdef Py_ssize_t *tag
    cdef const floating *a
    cdef Py_ssize_t lda
    if n_tasks == 0 or Og == 0:
        return
    if not direct and not flat:
        for th in range(n_threads):
            nhwc_tag(ws, &lay, th)[0] = -1
    for task in prange(n_tasks, num_threads=n_threads, schedule="static"):
        o0 = (task % n_ob) * ob
        gi = (task // n_ob) % G
        t = (task // (n_ob * G)) % n_tiles
        n = task // (n_ob * G * n_tiles)
        no = Og - o0
        if no > ob:
            no = ob
        l0 = t * lt
        nl = rows - l0
        if nl > lt:
            nl = lt
        dst = y + (n * L + l0) * O + gi * Og + o0
        if bias != NULL:
            for l in range(nl):
                for o in range(no):
                    dst[l * O + o] = bias[gi * Og + o0 + o]
        if flat and not direct:      # (n is 0: l0 is a flat position)
            buf = ws + threadid() * lay.per_thread + lay.ints
            k0 = 0
            while k0 < Kg:
                kc = Kg - k0
                if kc > kb:
                    kc = kb
                nhwc_patch_flat(x, p, gi, l0, nl, k0, k0 + kc, buf, kc)
                gemm_nn(nl, no, kc, buf, kc, w + k0 * O + gi * Og + o0, O, dst, O,
                        1 if bias != NULL or k0 > 0 else 0)
                k0 = k0 + kc
            continue
        if direct:
            a = x + l0 * p.C + gi * Cg
            lda = p.C
        elif not flat and nhwc_rows_view(p, l0, nl, &voff, &lda):
            a = x + n * p.in_vol * p.C + voff
        else:
            th = threadid()
            tag = nhwc_tag(ws, &lay, th)
            buf = ws + th * lay.per_thread + lay.ints
            key = (n * n_tiles + t) * G + gi
            if tag[0] != key:
                nhwc_patch(x + n * p.in_vol * p.C, p, gi, l0, nl, 0, Kg, buf, Kg)
                tag[0] = key
            a = buf
            lda = Kg
        gemm_nn(nl, no, Kg, a, lda, w + gi * Og + o0, O, dst, O, 1 if bias != NULL else 0)


# -------------------------------------------------------------- grad input

cdef void nhwc_grad_input(const fc_problem *p,
                          const floating *go,      # IN  (N, *out, O)
                          const floating *w,       # IN  (*k, Cg, O)
                          floating *gx,            # OUT (N, *in, C), written whole
                          floating *ws, int n_threads) noexcept nogil:
    """FC_CONV_BWI_NHWC.  Direct: task (g, channel block, tile of the N*L rows), the
    tile's gx rows in the block = go rows . W_g[:, blk]^T (packed per thread, tagged by
    (g, block): small planes take few tiles and several blocks, so each weight element
    is packed once and serves all the rows).  Otherwise task (g, channel block, group of
    ns samples): the block's W_g columns transposed (tagged), then per tile of positions
    in order dpatch = go_tile . that, added into the task's channels of the sample; with
    ns > 1 (small planes) one GEMM over all the group's rows (lt = ns * L), then each
    sample's scatter in order (the same sums either way)."""
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t G = p.groups, Cg = p.Cg, Og = p.Og, Kg = p.Kg, L = p.L, O = p.O
    cdef Py_ssize_t C = p.C, taps = p.taps, lt = p.lt, vol = p.in_vol
    cdef bint direct = fc_is_direct(p)
    cdef Py_ssize_t cw = p.blk if 0 < p.blk < Cg else Cg
    cdef Py_ssize_t n_cb = cdiv(Cg, cw) if Cg > 0 else 0
    cdef Py_ssize_t n_tiles = cdiv(p.N * L if direct else L, lt) if lt > 0 else 0
    cdef Py_ssize_t ns = nhwc_gi_ns(p)
    cdef Py_ssize_t n_sg = cdiv(p.N, ns)
    cdef Py_ssize_t n_tasks = n_tiles * G * n_cb if direct else G * n_cb * n_sg
    cdef Py_ssize_t n1, s
    cdef Py_ssize_t task, n, gi, cb, c0, c1, nc, t, tp, l0, nl, o, c, l, th, key, kw
    cdef Py_ssize_t *tag
    cdef floating *bt
    cdef floating *dp
    cdef floating *gxc
    cdef const floating *wsrc
    if n_tasks == 0 or Og == 0 or L == 0:
        return
    for th in range(n_threads):
        nhwc_tag(ws, &lay, th)[0] = -1
    for task in prange(n_tasks, num_threads=n_threads, schedule="static"):
        th = threadid()
        tag = nhwc_tag(ws, &lay, th)
        bt = ws + th * lay.per_thread + lay.ints
        if direct:
            t = task % n_tiles
            cb = (task // n_tiles) % n_cb
            gi = task // (n_tiles * n_cb)
            c0 = cb * cw
            nc = Cg - c0
            if nc > cw:
                nc = cw
            key = gi * n_cb + cb
            if tag[0] != key:    # bt[o, c] = W[c0 + c, g*Og + o]: a blocked transpose
                transpose_columns(w + c0 * O + gi * Og, O, nc, Og, bt)
                tag[0] = key
            l0 = t * lt
            nl = p.N * L - l0
            if nl > lt:
                nl = lt
            gemm_nn(nl, nc, Og, go + l0 * O + gi * Og, O, bt, nc,
                    gx + l0 * C + gi * Cg + c0, C, 0)
            continue
        n = (task % n_sg) * ns
        n1 = n + ns
        if n1 > p.N:
            n1 = p.N
        cb = (task // n_sg) % n_cb
        gi = task // (n_sg * n_cb)
        c0 = cb * cw
        c1 = c0 + cw
        if c1 > Cg:
            c1 = Cg
        nc = c1 - c0
        kw = taps * nc
        key = gi * n_cb + cb
        if tag[0] != key and (nc == Cg or taps == 1):   # rows tp*nc + c contiguous in W:
            transpose_columns(w + c0 * O + gi * Og, O, taps * nc, Og, bt)   # bt[o, r] =
            tag[0] = key                                # W[c0 + r, g*Og + o]
        if tag[0] != key:    # bt[o, tp*nc + c] = W[tp, c0 + c, g*Og + o]
            for o in range(Og):
                for tp in range(taps):
                    wsrc = w + (tp * Cg + c0) * O + gi * Og + o
                    for c in range(nc):
                        bt[o * kw + tp * nc + c] = wsrc[c * O]
            tag[0] = key
        dp = bt + lay.got
        gxc = gx + n * vol * C + gi * Cg + c0
        for l in range((n1 - n) * vol):      # the task's channels start at zero
            nhwc_zero(gxc + l * C, nc)
        if ns > 1:                # all the samples' rows in one GEMM (lt >= ns * L)
            gemm_nn((n1 - n) * L, kw, Og, go + n * L * O + gi * Og, O, bt, kw, dp, kw, 0)
            for s in range(n1 - n):
                nhwc_scatter(dp + s * L * kw, kw, p, 0, L, nc, gxc + s * vol * C)
            continue
        for t in range(n_tiles):
            l0 = t * lt
            nl = L - l0
            if nl > lt:
                nl = lt
            gemm_nn(nl, kw, Og, go + (n * L + l0) * O + gi * Og, O, bt, kw, dp, kw, 0)
            nhwc_scatter(dp, kw, p, l0, nl, nc, gxc)


# ------------------------------------------------------------- grad weight

cdef void nhwc_grad_weight(const fc_problem *p,
                           const floating *go,     # IN  (N, *out, O)
                           const floating *x,      # IN  (N, *in, C)
                           floating *part,         # OUT (chunks, *k, Cg, O) partials
                           floating *ws, int n_threads) noexcept nogil:
    """FC_CONV_BWW_NHWC, task (chunk, g, block of kbw patch columns): over the chunk's
    tiles in order, acc (Og x kbw) += go_tile^T . patch_tile (direct: the patch is x's
    rows), then acc written transposed into the chunk's partial; or (nhwc_gw_rows) the
    chunk's partial rows (kbw x Og) += patch_tile^T . go_tile straight, the same
    products summed in the same order.  Chunk c holds the
    tiles [c*NT//P, (c+1)*NT//P) of the flat (sample, tile) sequence (NT = N tiles a
    sample: a chunk may end inside a sample, so two samples give many chunks); the
    wrapper sums the partials in chunk order."""
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t G = p.groups, Cg = p.Cg, Og = p.Og, Kg = p.Kg, L = p.L, O = p.O
    cdef Py_ssize_t C = p.C, lt = p.lt, N = p.N
    cdef Py_ssize_t P = p.chunks if p.chunks > 1 else 1
    cdef Py_ssize_t kbw = nhwc_kbw(p)
    cdef Py_ssize_t n_kb = cdiv(Kg, kbw) if Kg > 0 else 0
    cdef bint direct = fc_is_direct(p)
    cdef bint flat = nhwc_flat(p)
    cdef Py_ssize_t rows = N * L if flat else L     # (flat: one "sample" of N*L rows)
    cdef Py_ssize_t n_tiles = cdiv(rows, lt) if lt > 0 else 0
    cdef Py_ssize_t task, c, gi, kb, r0, r1, nr, n, t, q, l0, nl, o, r, th, voff
    cdef Py_ssize_t NT = (1 if flat else N) * n_tiles
    cdef bint rows_form = nhwc_gw_rows(p)
    cdef int first
    cdef floating *got
    cdef floating *acc
    cdef floating *pt
    cdef floating *dst
    cdef const floating *b
    cdef Py_ssize_t ldb
    if Kg == 0 or O == 0:
        return
    for task in prange(P * G * n_kb, num_threads=n_threads, schedule="static"):
        kb = task % n_kb
        gi = (task // n_kb) % G
        c = task // (n_kb * G)
        r0 = kb * kbw
        r1 = r0 + kbw
        if r1 > Kg:
            r1 = Kg
        nr = r1 - r0
        th = threadid()
        got = ws + th * lay.per_thread + lay.ints
        acc = got + lay.got
        pt = acc + round16(Og * kbw)
        first = 1
        dst = part + c * Kg * O + r0 * O + gi * Og
        for q in range(c * NT // P, (c + 1) * NT // P):
            n = q // n_tiles
            t = q - n * n_tiles
            l0 = t * lt
            nl = rows - l0
            if nl > lt:
                nl = lt
            # the tile's patch columns [r0, r1): x's rows themselves where they are
            # (direct, or a 1-D strided view), else built in pt
            if direct:
                b = x + (n * p.in_vol + l0) * C + gi * Cg + r0
                ldb = C
            elif flat:
                nhwc_patch_flat(x, p, gi, l0, nl, r0, r1, pt, nr)
                b = pt
                ldb = nr
            elif nhwc_rows_view(p, l0, nl, &voff, &ldb):
                b = x + n * p.in_vol * C + voff + r0
            else:
                nhwc_patch(x + n * p.in_vol * C, p, gi, l0, nl, r0, r1, pt, nr)
                b = pt
                ldb = nr
            if rows_form:
                transpose_columns(b, ldb, nl, nr, got)             # patch^T (nr x nl)
                gemm_nn(nr, Og, nl, got, nl, go + (n * L + l0) * O + gi * Og, O, dst, O,
                        1 - first)
            else:
                transpose_columns(go + (n * L + l0) * O + gi * Og, O, nl, Og, got)
                gemm_nn(Og, nr, nl, got, nl, b, ldb, acc, nr, 1 - first)
            first = 0
        if first:       # a chunk without tiles (the planner keeps P <= NT: not reached)
            for r in range(nr):
                nhwc_zero(dst + r * O, Og)
        elif rows_form:
            pass        # (the GEMMs wrote it)
        elif G == 1:
            transpose_columns(acc, nr, Og, nr, dst)
        else:
            for r in range(nr):
                for o in range(Og):
                    dst[r * O + o] = acc[o * nr + r]


# --------------------------------------------------------------- grad bias

cdef void nhwc_bias_block(const floating *go, Py_ssize_t rows, Py_ssize_t O,
                          Py_ssize_t o0, Py_ssize_t no,
                          floating *gb) noexcept nogil:     # OUT gb[o0 : o0+no]
    """One grad_bias task: channels [o0, o0+no) (no <= 64) summed over the rows in
    blocks of 256 rows (each block in row order, the blocks' sums in block order).
    (A function of its own: its arrays are the calling thread's.)"""
    cdef floating tot[NHWC_BIAS_LANES]
    cdef floating acc[NHWC_BIAS_LANES]
    cdef const floating *src
    cdef Py_ssize_t r0 = 0, r1, r, o
    for o in range(NHWC_BIAS_LANES):
        tot[o] = 0
    while r0 < rows:
        r1 = r0 + NHWC_BIAS_ROWS
        if r1 > rows:
            r1 = rows
        for o in range(NHWC_BIAS_LANES):
            acc[o] = 0
        for r in range(r0, r1):
            src = go + r * O + o0
            for o in range(no):
                acc[o] = acc[o] + src[o]
        for o in range(NHWC_BIAS_LANES):
            tot[o] = tot[o] + acc[o]
        r0 = r1
    for o in range(no):
        gb[o0 + o] = tot[o]


cdef void nhwc_grad_bias(const fc_problem *p, const floating *go,      # IN  (N*L, O)
                         floating *gb, int n_threads) noexcept nogil:   # OUT (O,)
    """grad_bias, task (block of 64 channels): see nhwc_bias_block (vectorised along O)."""
    cdef Py_ssize_t task, no
    for task in prange(cdiv(p.O, NHWC_BIAS_LANES), num_threads=n_threads, schedule="static"):
        no = p.O - task * NHWC_BIAS_LANES
        if no > NHWC_BIAS_LANES:
            no = NHWC_BIAS_LANES
        nhwc_bias_block(go, p.N * p.L, p.O, task * NHWC_BIAS_LANES, no, gb)


# ------------------------------------------------------------------ entry

cdef Py_ssize_t nhwc_conv_run(const fc_problem *p, void **arrays, void *ws,
                              int n_threads) noexcept nogil:
    """Run the problem's algorithm on ``arrays`` (checked by entry.pxi's run)."""
    cdef int a = p.algo
    cdef bint f32 = p.itemsize == 4
    if a == FC_CONV_FWD_NHWC:
        if f32:
            nhwc_forward[float](p, <const float *>arrays[0], <const float *>arrays[1],
                                <const float *>arrays[2], <float *>arrays[3], <float *>ws,
                                n_threads)
        else:
            nhwc_forward[double](p, <const double *>arrays[0], <const double *>arrays[1],
                                 <const double *>arrays[2], <double *>arrays[3],
                                 <double *>ws, n_threads)
    elif a == FC_CONV_BWI_NHWC:
        if f32:
            nhwc_grad_input[float](p, <const float *>arrays[0], <const float *>arrays[1],
                                   <float *>arrays[2], <float *>ws, n_threads)
        else:
            nhwc_grad_input[double](p, <const double *>arrays[0], <const double *>arrays[1],
                                    <double *>arrays[2], <double *>ws, n_threads)
    elif a == FC_CONV_BWW_NHWC:
        if f32:
            nhwc_grad_weight[float](p, <const float *>arrays[0], <const float *>arrays[1],
                                    <float *>arrays[2], <float *>ws, n_threads)
        else:
            nhwc_grad_weight[double](p, <const double *>arrays[0], <const double *>arrays[1],
                                     <double *>arrays[2], <double *>ws, n_threads)
    elif a == FC_CONV_BWB_NHWC:
        if f32:
            nhwc_grad_bias[float](p, <const float *>arrays[0], <float *>arrays[1], n_threads)
        else:
            nhwc_grad_bias[double](p, <const double *>arrays[0], <double *>arrays[1],
                                   n_threads)
    return 0
