/* fastconv: the pooling row loops, one variant.  Included by fc_pool.h with FC_T
 * (float or double), FC_SUF (the names' suffix) and FC_TGT (the target attribute, or
 * nothing) defined; it undefines them at the end.
 *
 * No include guard: included once per variant. */
#define FC_PL_CAT2(a, b) a##_##b
#define FC_PL_CAT(a, b) FC_PL_CAT2(a, b)
#define FC_PL_FN(name) FC_PL_CAT(name, FC_SUF)

#if FC_PL_VEC
typedef FC_T FC_PL_CAT(fc_plv, FC_SUF)
    __attribute__((vector_size(FC_VB), aligned(sizeof(FC_T)), may_alias));
typedef FC_I FC_PL_CAT(fc_pli, FC_SUF)
    __attribute__((vector_size(FC_VB), aligned(sizeof(FC_T)), may_alias));
#define FC_V FC_PL_CAT(fc_plv, FC_SUF)
#define FC_IV FC_PL_CAT(fc_pli, FC_SUF)

/* The FC_VL taps src[q*S + j] of outputs q in [0, FC_VL): one load for S = 1, two
 * loads and a deinterleave for S = 2 (reading no element past the last tap: the odd
 * lanes of the 2*FC_VL elements from j - 1, or for even j the even lanes of the first
 * FC_VL from j and the odd lanes of the FC_VL from j + FC_VL - 1), lane by lane
 * otherwise. */
FC_TGT FC_PL_INLINE FC_V FC_PL_FN(fc_ptap)(const FC_T *src, Py_ssize_t j, Py_ssize_t S)
{
    if (S == 1)
        return *(const FC_V *)(src + j);
    if (S == 2) {
        if (j & 1) {
            FC_V A = *(const FC_V *)(src + j - 1), B = *(const FC_V *)(src + j - 1 + FC_VL);
            return FC_PL_ODD(A, B);
        } else {
            FC_V A = *(const FC_V *)(src + j), B = *(const FC_V *)(src + j + FC_VL - 1);
            return FC_PL_EVEN(A, B);
        }
    } else {
        FC_V v;
        int l;
        for (l = 0; l < FC_VL; l++)
            v[l] = src[l * S + j];
        return v;
    }
}

#endif

/* One tap row (a, i) of max pooling over the interior outputs [lo, hi) of an output
 * row: the KW taps j of output ox are src[ox*S + j], their offsets from the window's
 * corner tb + j.  FIRST: m and t start at the row's first tap (the same result as
 * starting at -inf: see fc_pool.h); else they continue m[ox], t[ox].  WI: t wanted.
 * KW, S, FIRST and WI are constants where it is inlined.  FC_VL outputs at a time in
 * vector extensions (a compiler does not vectorise the select on its own: the
 * compares may trap), the rest one at a time, with the same operations. */
FC_TGT FC_PL_INLINE void FC_PL_FN(fc_pmax_pass)(FC_T *FC_PL_RESTRICT m, FC_I *FC_PL_RESTRICT t,
                                                const FC_T *FC_PL_RESTRICT src, Py_ssize_t lo,
                                                Py_ssize_t hi, FC_I tb, Py_ssize_t KW,
                                                Py_ssize_t S, int FIRST, int WI)
{
    Py_ssize_t ox, j;
#if FC_PL_VEC
    Py_ssize_t ov;
    /* the last block overlaps the one before (ov = hi - FC_VL): the update is
     * idempotent -- applying a tap row's taps again to its result keeps it, value
     * and offset (strict >, and a NaN result only takes the same last NaN again) --
     * and FIRST writes the same values again */
    for (ox = lo; ox < hi && hi - lo >= FC_VL; ox += FC_VL) {
        const FC_T *s;
        ov = ox + FC_VL <= hi ? ox : hi - FC_VL;
        s = src + ov * S;
        FC_V mv, v;
        FC_IV tv, u, z = {0};
        if (FIRST) {
            mv = FC_PL_FN(fc_ptap)(s, 0, S);
            tv = z + tb;
        } else {
            mv = *(const FC_V *)(m + ov);
            tv = WI ? *(const FC_IV *)(t + ov) : z;
            v = FC_PL_FN(fc_ptap)(s, 0, S);
            u = (FC_IV)(v > mv) | (FC_IV)(v != v);
            mv = (FC_V)(((FC_IV)v & u) | ((FC_IV)mv & ~u));
            tv = ((z + tb) & u) | (tv & ~u);
        }
        for (j = 1; j < KW; j++) {
            v = FC_PL_FN(fc_ptap)(s, j, S);
            u = (FC_IV)(v > mv) | (FC_IV)(v != v);
            mv = (FC_V)(((FC_IV)v & u) | ((FC_IV)mv & ~u));
            tv = ((z + (tb + (FC_I)j)) & u) | (tv & ~u);
        }
        *(FC_V *)(m + ov) = mv;
        if (WI)
            *(FC_IV *)(t + ov) = tv;
    }
    if (hi - lo >= FC_VL)
        return;
#endif
    for (ox = lo; ox < hi; ox++) {
        const FC_T *s = src + ox * S;
        FC_T mv, v;
        FC_I tv;
        if (FIRST) {
            mv = s[0];
            tv = tb;
        } else {
            mv = m[ox];
            tv = WI ? t[ox] : 0;
            v = s[0];
            if (v > mv || v != v) {
                mv = v;
                tv = tb;
            }
        }
        for (j = 1; j < KW; j++) {
            v = s[j];
            if (v > mv || v != v) {
                mv = v;
                tv = tb + (FC_I)j;
            }
        }
        m[ox] = mv;
        if (WI)
            t[ox] = tv;
    }
}

#define FC_PMAX_PASS(KW, S)                                                              \
    do {                                                                                 \
        if (first && wi)                                                                 \
            FC_PL_FN(fc_pmax_pass)(orow, tap, src, LO, HI, tb, KW, S, 1, 1);             \
        else if (first)                                                                  \
            FC_PL_FN(fc_pmax_pass)(orow, tap, src, LO, HI, tb, KW, S, 1, 0);             \
        else if (wi)                                                                     \
            FC_PL_FN(fc_pmax_pass)(orow, tap, src, LO, HI, tb, KW, S, 0, 1);             \
        else                                                                             \
            FC_PL_FN(fc_pmax_pass)(orow, tap, src, LO, HI, tb, KW, S, 0, 0);             \
    } while (0)

/* Max pooling of one volume (dilation 1, fewer than 2**31 elements), one output row
 * at a time: the interior columns (every tap inside the row) by tap rows in row-major
 * order, the border columns one window at a time; the same rule and order as the
 * window kernel of pool_kernels.pxi, so the same values and indices. */
FC_TGT static void FC_PL_FN(fc_pmax_vol)(const fc_problem *p, const FC_T *x, FC_T *out,
                                         int64_t *idx, FC_I *tap)
{
    const Py_ssize_t D = p->in[0], H = p->in[1], W = p->in[2];
    const Py_ssize_t OD = p->out[0], OH = p->out[1], OW = p->out[2];
    const Py_ssize_t kw = p->k[2], sw = p->s[2], pw = p->pb[2];
    const int wi = idx != NULL;
    Py_ssize_t LO, HI, oz, oy, ox, a, i, j, a0, a1, i0, i1, z0, y0, x0, j0, j1;
    fc_pool_interior(p, &LO, &HI);
    for (oz = 0; oz < OD; oz++) {
        z0 = oz * p->s[0] - p->pb[0];
        fc_valid_range(z0, 1, p->k[0], D, &a0, &a1);
        for (oy = 0; oy < OH; oy++) {
            FC_T *orow = out + (oz * OH + oy) * OW;
            int first = 1;  /* no interior tap row yet */
            y0 = oy * p->s[1] - p->pb[1];
            fc_valid_range(y0, 1, p->k[1], H, &i0, &i1);
            if (a1 > a0 && i1 > i0 && LO < HI) {
                for (a = a0; a < a1; a++)
                    for (i = i0; i < i1; i++) {
                        const FC_T *src = x + ((z0 + a) * H + y0 + i) * W - pw;
                        FC_I tb = (FC_I)((a * H + i) * W);
                        if (kw == 2 && sw == 2)
                            FC_PMAX_PASS(2, 2);
                        else if (kw == 3 && sw == 2)
                            FC_PMAX_PASS(3, 2);
                        else if (kw == 3 && sw == 1)
                            FC_PMAX_PASS(3, 1);
                        else if (kw == 2 && sw == 1)
                            FC_PMAX_PASS(2, 1);
                        else if (sw == 1)
                            FC_PMAX_PASS(kw, 1);
                        else if (sw == 2)
                            FC_PMAX_PASS(kw, 2);
                        else
                            FC_PMAX_PASS(kw, sw);
                        first = 0;
                    }
            }
            /* the border columns (and every column of a row no interior tap reaches) */
            for (ox = 0; ox < OW; ox++) {
                FC_T mv = -(FC_T)INFINITY, v;
                FC_I tv = -1;
                if (ox == LO && !first) {
                    ox = HI - 1;
                    continue;
                }
                x0 = ox * sw - pw;
                fc_valid_range(x0, 1, kw, W, &j0, &j1);
                for (a = a0; a < a1; a++)
                    for (i = i0; i < i1; i++) {
                        const FC_T *src = x + ((z0 + a) * H + y0 + i) * W + x0;
                        for (j = j0; j < j1; j++) {
                            v = src[j];
                            if (v > mv || v != v) {
                                mv = v;
                                tv = (FC_I)((a * H + i) * W + j);
                            }
                        }
                    }
                orow[ox] = mv;
                tap[ox] = tv;
            }
            if (wi) {
                int64_t *irow = idx + (oz * OH + oy) * OW;
                const Py_ssize_t corner = (z0 * H + y0) * W - pw;
                const Py_ssize_t fv = ((z0 > 0 ? z0 : 0) * H + (y0 > 0 ? y0 : 0)) * W;
                for (ox = 0; ox < OW; ox++) {
                    x0 = ox * sw - pw;
                    irow[ox] = tap[ox] < 0 ? (int64_t)(fv + (x0 > 0 ? x0 : 0))
                                           : (int64_t)(corner + ox * sw + tap[ox]);
                }
            }
        }
    }
}

#undef FC_PMAX_PASS

/* One tap row of average pooling over the interior outputs [lo, hi): acc[ox] (0 when
 * FIRST) += src[ox*S + j] for j in [0, KW), in ascending j. */
FC_TGT FC_PL_INLINE void FC_PL_FN(fc_pavg_pass)(FC_T *FC_PL_RESTRICT acc,
                                                const FC_T *FC_PL_RESTRICT src, Py_ssize_t lo,
                                                Py_ssize_t hi, Py_ssize_t KW, Py_ssize_t S,
                                                int FIRST)
{
    Py_ssize_t ox, j;
    for (ox = lo; ox < hi; ox++) {
        const FC_T *s = src + ox * S;
        FC_T v = FIRST ? (FC_T)0 : acc[ox];
        for (j = 0; j < KW; j++)
            v = v + s[j];
        acc[ox] = v;
    }
}

#define FC_PAVG_PASS(KW, S)                                                              \
    do {                                                                                 \
        if (first)                                                                       \
            FC_PL_FN(fc_pavg_pass)(orow, src, LO, HI, KW, S, 1);                         \
        else                                                                             \
            FC_PL_FN(fc_pavg_pass)(orow, src, LO, HI, KW, S, 0);                         \
    } while (0)

/* Average pooling of one volume (dilation 1): each output's window summed from 0 in
 * row-major tap order, then divided once -- the window kernel's order and divisor, so
 * the same bits. */
FC_TGT static void FC_PL_FN(fc_pavg_vol)(const fc_problem *p, const FC_T *x, FC_T *out)
{
    const Py_ssize_t D = p->in[0], H = p->in[1], W = p->in[2];
    const Py_ssize_t OD = p->out[0], OH = p->out[1], OW = p->out[2];
    const Py_ssize_t kw = p->k[2], sw = p->s[2], pw = p->pb[2];
    Py_ssize_t LO, HI, oz, oy, ox, a, i, j, a0, a1, i0, i1, z0, y0, x0, j0, j1;
    double ext;
    FC_T dc;
    fc_pool_interior(p, &LO, &HI);
    for (oz = 0; oz < OD; oz++) {
        z0 = oz * p->s[0] - p->pb[0];
        fc_valid_range(z0, 1, p->k[0], D, &a0, &a1);
        for (oy = 0; oy < OH; oy++) {
            FC_T *orow = out + (oz * OH + oy) * OW;
            int first = 1;
            y0 = oy * p->s[1] - p->pb[1];
            fc_valid_range(y0, 1, p->k[1], H, &i0, &i1);
            ext = (double)fc_avg_extent(oz, p->s[0], p->pb[0], p->k[0], D, p->pa[0],
                                        p->count_include_pad)
                  * fc_avg_extent(oy, p->s[1], p->pb[1], p->k[1], H, p->pa[1],
                                  p->count_include_pad);
            if (LO < HI) {
                for (a = a0; a < a1; a++)
                    for (i = i0; i < i1; i++) {
                        const FC_T *src = x + ((z0 + a) * H + y0 + i) * W - pw;
                        if (kw == 2 && sw == 2)
                            FC_PAVG_PASS(2, 2);
                        else if (kw == 3 && sw == 2)
                            FC_PAVG_PASS(3, 2);
                        else if (kw == 3 && sw == 1)
                            FC_PAVG_PASS(3, 1);
                        else if (sw == 1)
                            FC_PAVG_PASS(kw, 1);
                        else if (sw == 2)
                            FC_PAVG_PASS(kw, 2);
                        else
                            FC_PAVG_PASS(kw, sw);
                        first = 0;
                    }
                if (first)      /* no tap row reaches the input */
                    for (ox = LO; ox < HI; ox++)
                        orow[ox] = 0;
                /* inside the input the window's width is kw in both divisor modes */
                dc = (FC_T)(p->divisor > 0 ? (double)p->divisor : ext * (double)kw);
                for (ox = LO; ox < HI; ox++)
                    orow[ox] = orow[ox] / dc;
            }
            for (ox = 0; ox < OW; ox++) {
                FC_T v = 0;
                if (ox == LO && LO < HI) {
                    ox = HI - 1;
                    continue;
                }
                x0 = ox * sw - pw;
                fc_valid_range(x0, 1, kw, W, &j0, &j1);
                for (a = a0; a < a1; a++)
                    for (i = i0; i < i1; i++) {
                        const FC_T *src = x + ((z0 + a) * H + y0 + i) * W + x0;
                        for (j = j0; j < j1; j++)
                            v = v + src[j];
                    }
                orow[ox] = v / (FC_T)fc_avg_divisor(p, ext, ox);
            }
        }
    }
}

#undef FC_PAVG_PASS

/* dst[q*S + j] = 0 + g[q] / dc for j in [0, S), q in [0, n) */
FC_TGT FC_PL_INLINE void FC_PL_FN(fc_pavg_spread)(FC_T *FC_PL_RESTRICT dst,
                                                  const FC_T *FC_PL_RESTRICT g, Py_ssize_t n,
                                                  FC_T dc, Py_ssize_t S)
{
    Py_ssize_t q, j;
    for (q = 0; q < n; q++) {
        FC_T v = (FC_T)0 + g[q] / dc;
        for (j = 0; j < S; j++)
            dst[q * S + j] = v;
    }
}

/* Average pooling's gradient of one volume when no two windows overlap (k <= s in
 * every dimension, dilation 1): each input element receives at most one output's
 * share, so it is written once -- 0 + grad / divisor, the window kernel's bits (which
 * zeroes, then adds) -- with no zeroing pass and no read-modify-write. */
FC_TGT static void FC_PL_FN(fc_pavg_bwd_vol)(const fc_problem *p, const FC_T *go, FC_T *gx)
{
    const Py_ssize_t D = p->in[0], H = p->in[1], W = p->in[2];
    const Py_ssize_t OD = p->out[0], OH = p->out[1], OW = p->out[2];
    const Py_ssize_t kw = p->k[2], sw = p->s[2], pw = p->pb[2];
    Py_ssize_t iz, iy, ix, oz, oy, ox, r, LO, HI, nf;
    double ext;
    FC_T dc;
    fc_pool_interior(p, &LO, &HI);
    for (iz = 0; iz < D; iz++) {
        r = iz + p->pb[0];
        oz = r / p->s[0];
        int cz = r - oz * p->s[0] < p->k[0] && oz < OD;
        for (iy = 0; iy < H; iy++) {
            FC_T *drow = gx + (iz * H + iy) * W;
            const FC_T *grow;
            r = iy + p->pb[1];
            oy = r / p->s[1];
            if (!cz || r - oy * p->s[1] >= p->k[1] || oy >= OH) {
                memset(drow, 0, (size_t)W * sizeof(FC_T));
                continue;
            }
            grow = go + (oz * OH + oy) * OW;
            ext = (double)fc_avg_extent(oz, p->s[0], p->pb[0], p->k[0], D, p->pa[0],
                                        p->count_include_pad)
                  * fc_avg_extent(oy, p->s[1], p->pb[1], p->k[1], H, p->pa[1],
                                  p->count_include_pad);
            ix = 0;
            if (pw == 0 && kw == sw && LO == 0 && HI > 0) {
                /* windows [0, HI) tile the row's first HI*sw columns */
                dc = (FC_T)(p->divisor > 0 ? (double)p->divisor : ext * (double)kw);
                nf = HI;
                if (sw == 2)
                    FC_PL_FN(fc_pavg_spread)(drow, grow, nf, dc, 2);
                else if (sw == 3)
                    FC_PL_FN(fc_pavg_spread)(drow, grow, nf, dc, 3);
                else
                    FC_PL_FN(fc_pavg_spread)(drow, grow, nf, dc, sw);
                ix = nf * sw;
            }
            for (; ix < W; ix++) {
                r = ix + pw;
                ox = r / sw;
                drow[ix] = (r - ox * sw < kw && ox < OW)
                               ? (FC_T)0 + grow[ox] / (FC_T)fc_avg_divisor(p, ext, ox)
                               : (FC_T)0;
            }
        }
    }
}

/* ATen's argmax of one run of n elements (offsets base + q, base + n < 2**31 for
 * float): the last NaN if there is one, else the first maximum.  Each of FC_VL lanes
 * keeps its own first maximum or last NaN (the last block overlaps the one before: an
 * element seen twice keeps its offset); the lanes are combined in a tree by the same
 * rule on (value, offset) -- the last NaN, else the largest value and among equal ones
 * the first offset -- an order on the pairs, so the result does not depend on the
 * lane width: every variant gives fc_reduce.h's fc_run_argmax result.  Returns the
 * offset and the element at *val. */
#if FC_PL_VEC
FC_TGT FC_PL_INLINE FC_IV FC_PL_FN(fc_am_take)(FC_V a, FC_IV ia, FC_V b, FC_IV ib)
{
    FC_IV an = (FC_IV)(a != a), bn = (FC_IV)(b != b);
    return (bn & (~an | (FC_IV)(ib > ia)))
           | (~an & ~bn & ((FC_IV)(b > a) | ((FC_IV)(b == a) & (FC_IV)(ib < ia))));
}

#endif

FC_TGT static Py_ssize_t FC_PL_FN(fc_pargmax)(const FC_T *src, Py_ssize_t n, Py_ssize_t base,
                                              FC_T *val)
{
#if FC_PL_VEC
    FC_V a, v;
    FC_IV ix, lane, take, w, nan;
    Py_ssize_t q, l;
    if (n < FC_VL) {
#else
    Py_ssize_t q;
    {
#endif
        FC_T m = -(FC_T)INFINITY;
        Py_ssize_t k = -1;
        for (q = 0; q < n; q++)
            if (src[q] > m || src[q] != src[q]) {
                m = src[q];
                k = base + q;
            }
        *val = m;
        return k;
    }
#if FC_PL_VEC
    for (l = 0; l < FC_VL; l++)
        lane[l] = (FC_I)l;
    a = *(const FC_V *)src;
    ix = lane + (FC_I)base;
    for (q = FC_VL; q < n; q += FC_VL) {
        Py_ssize_t o = q + FC_VL <= n ? q : n - FC_VL;
        v = *(const FC_V *)(src + o);
        take = (FC_IV)(v > a) | (FC_IV)(v != v);
        a = (FC_V)(((FC_IV)v & take) | ((FC_IV)a & ~take));
        ix = ((lane + (FC_I)(base + o)) & take) | (ix & ~take);
    }
    /* any NaN lane?  (a butterfly OR: every lane holds the answer) */
    nan = (FC_IV)(a != a);
    for (l = FC_VL / 2; l > 0; l /= 2)
        nan |= FC_PL_PERMUTE(nan, lane ^ (FC_I)l);
    if (!nan[0]) {
        /* no NaN: the largest value (a butterfly max: every lane holds it; which of
         * two equal zeros does not matter), then the first offset among the lanes
         * equal to it, and the element itself from there (its sign) */
        FC_V m = a;
        FC_IV big = (FC_IV){0} + (FC_I)(((uint64_t)1 << (8 * sizeof(FC_I) - 1)) - 1), first;
        for (l = FC_VL / 2; l > 0; l /= 2) {
            FC_V b = FC_PL_PERMUTE(m, lane ^ (FC_I)l);
            take = (FC_IV)(b > m);
            m = (FC_V)(((FC_IV)b & take) | ((FC_IV)m & ~take));
        }
        take = (FC_IV)(a == m);
        first = (ix & take) | (big & ~take);
        for (l = FC_VL / 2; l > 0; l /= 2) {
            FC_IV b = FC_PL_PERMUTE(first, lane ^ (FC_I)l);
            take = (FC_IV)(b < first);
            first = (b & take) | (first & ~take);
        }
        *val = src[first[0] - base];
        return (Py_ssize_t)first[0];
    }
    for (l = FC_VL / 2; l > 0; l /= 2) {
        FC_V b;
        FC_IV ib;
        w = lane ^ (FC_I)l;
        b = FC_PL_PERMUTE(a, w);
        ib = FC_PL_PERMUTE(ix, w);
        take = FC_PL_FN(fc_am_take)(a, ix, b, ib);
        a = (FC_V)(((FC_IV)b & take) | ((FC_IV)a & ~take));
        ix = (ib & take) | (ix & ~take);
    }
    *val = a[0];
    return (Py_ssize_t)ix[0];
#endif
}

#if FC_PL_VEC
#undef FC_V
#undef FC_IV
#endif
#undef FC_PL_FN
#undef FC_PL_CAT
#undef FC_PL_CAT2
#undef FC_T
#undef FC_SUF
#undef FC_TGT
#undef FC_I
#undef FC_VB
#undef FC_VL
#undef FC_PL_EVEN
#undef FC_PL_ODD
