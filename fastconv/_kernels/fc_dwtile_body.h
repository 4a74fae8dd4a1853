/* fastconv: the depthwise tile loops (planar problems: one input depth, kD == 1), one
 * variant.  Included by fc_depthwise.h with FC_T, FC_SUF, FC_TGT and FC_VB (the
 * vector's bytes: 64 AVX-512, 32 AVX2, 16 baseline) defined; it undefines FC_VB and
 * leaves the others to fc_depthwise_body.h, included after it.
 *
 * Each task copies the rows it reads into a zero-padded tile in its thread's
 * workspace (split by stride phase, so every tap reads a contiguous run), and then
 * every output of the task is one flat vector loop over "flattened" positions
 * f = row*Wq + col with a tap at a fixed offset each: no borders, no masks, no
 * branches; columns past the output row (Wq - OW of each row) are computed and
 * dropped when the rows are copied out.  Small planes (7, 14 wide) therefore use
 * whole vectors, not one partial vector per row.
 *
 * No include guard: included once per variant. */
#define FC_DT_CAT2(a, b) a##_##b
#define FC_DT_CAT(a, b) FC_DT_CAT2(a, b)
#define FC_DT_FN(name) FC_DT_CAT(name, FC_SUF)
#define FC_DT_VEC FC_DT_FN(fc_dwt_vec)
#define FC_DT_VL ((Py_ssize_t)(FC_VB / sizeof(FC_T)))

/* The copy and zero loops stay loops: GCC would turn them into calls to memcpy and
 * memset, which cost more than the short rows they move. */
#if defined(__GNUC__) && !defined(__clang__)
#define FC_DT_TGT FC_TGT __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define FC_DT_TGT FC_TGT
#endif

typedef FC_T FC_DT_VEC __attribute__((vector_size(FC_VB), aligned(sizeof(FC_T)), may_alias));
#if FC_DT_AVX512
/* AVX-512 rows of the tile: masked loads read only the input's columns (lanes outside
 * get zeros, and a masked-off lane never faults), a masked store ends the row exactly;
 * stride 2 splits 2V columns into the two phase rows with two permutes. */
#if FC_DT_F64
#define FC_DT_MT __mmask8
#define FC_DT_VR __m512d
#define FC_DT_MLOAD_(m, a) _mm512_maskz_loadu_pd((m), (a))
#define FC_DT_MSTORE_(a, m, v) _mm512_mask_storeu_pd((a), (m), (v))
#define FC_DT_LOADU(a) _mm512_loadu_pd(a)
#define FC_DT_STOREU(a, v) _mm512_storeu_pd((a), (v))
#define FC_DT_PERM2(a, i, b) _mm512_permutex2var_pd((a), (i), (b))
#define FC_DT_EVEN _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0)
#define FC_DT_ODD _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1)
#else
#define FC_DT_MT __mmask16
#define FC_DT_VR __m512
#define FC_DT_MLOAD_(m, a) _mm512_maskz_loadu_ps((m), (a))
#define FC_DT_MSTORE_(a, m, v) _mm512_mask_storeu_ps((a), (m), (v))
#define FC_DT_LOADU(a) _mm512_loadu_ps(a)
#define FC_DT_STOREU(a, v) _mm512_storeu_ps((a), (v))
#define FC_DT_PERM2(a, i, b) _mm512_permutex2var_ps((a), (i), (b))
#define FC_DT_EVEN _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0)
#define FC_DT_ODD _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1)
#endif

/* Masked loads and stores only where the mask is partial: plain ones inside the rows
 * (the masked forms measured 2.5x slower on 112-wide stride-2 rows). */
#define FC_DT_FULL ((FC_DT_MT)~0u)
#define FC_DT_MLOAD(m, a) ((m) == FC_DT_FULL ? FC_DT_LOADU(a) : FC_DT_MLOAD_((m), (a)))
#define FC_DT_MSTORE(a, m, v)                          \
    do {                                               \
        if ((m) == FC_DT_FULL)                         \
            FC_DT_STOREU((a), (v));                    \
        else                                           \
            FC_DT_MSTORE_((a), (m), (v));              \
    } while (0)

/* lanes l in [0, n) with 0 <= i0 + l < W */
static inline FC_DT_MT FC_DT_FN(fc_dwt_lanes)(Py_ssize_t i0, Py_ssize_t W, Py_ssize_t n)
{
    Py_ssize_t lo = i0 < 0 ? -i0 : 0, hi = W - i0;
    if (hi > n)
        hi = n;
    if (lo >= hi)
        return 0;
    return (FC_DT_MT)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

#endif


/* Short copies and zero fills inline (the tile rows are 7 to 120 elements: the
 * calls to memcpy / memset cost more than the copies). */
FC_DT_TGT FC_DW_INLINE void FC_DT_FN(fc_dwt_copy)(FC_T *FC_DW_RESTRICT dst,
                                               const FC_T *FC_DW_RESTRICT src, Py_ssize_t n)
{
    const Py_ssize_t V = FC_DT_VL;
    Py_ssize_t u = 0;
#if FC_DT_AVX512
    for (; u < n; u += V) {
        FC_DT_MT m = n - u >= V ? (FC_DT_MT)~0u : (FC_DT_MT)((1u << (n - u)) - 1);
        FC_DT_MSTORE(dst + u, m, FC_DT_MLOAD(m, src + u));
    }
#else
    for (; u + V <= n; u += V)
        *(FC_DT_VEC *)(dst + u) = *(const FC_DT_VEC *)(src + u);
    for (; u < n; u++)
        dst[u] = src[u];
#endif
}

/* dst[0:n] = src[0:n] in whole vectors, writing and reading up to a vector past n
 * where that stays below dst_end and src_end (the caller writes what follows later,
 * or does not care), else exactly. */
FC_DT_TGT FC_DW_INLINE void FC_DT_FN(fc_dwt_copy_over)(FC_T *FC_DW_RESTRICT dst,
                                                    const FC_T *FC_DW_RESTRICT src,
                                                    Py_ssize_t n, const FC_T *dst_end,
                                                    const FC_T *src_end)
{
    const Py_ssize_t V = FC_DT_VL, nr = (n + V - 1) / V * V;
    Py_ssize_t u;
    if (FC_DT_AVX512 || !(dst + nr <= dst_end && src + nr <= src_end)) {
        FC_DT_FN(fc_dwt_copy)(dst, src, n);   /* AVX-512: exact, masked */
    } else {
        for (u = 0; u < nr; u += V)
            *(FC_DT_VEC *)(dst + u) = *(const FC_DT_VEC *)(src + u);
    }
}

/* dst[0:n] = 0 in whole vectors, up to a vector past n (the caller has room). */
FC_DT_TGT FC_DW_INLINE void FC_DT_FN(fc_dwt_zero_over)(FC_T *dst, Py_ssize_t n)
{
    const Py_ssize_t V = FC_DT_VL;
    const FC_DT_VEC z = {0};
    Py_ssize_t u;
    for (u = 0; u < n; u += V)
        *(FC_DT_VEC *)(dst + u) = z;
}

FC_DT_TGT FC_DW_INLINE void FC_DT_FN(fc_dwt_zero)(FC_T *dst, Py_ssize_t n)
{
    const Py_ssize_t V = FC_DT_VL;
    const FC_DT_VEC z = {0};
    Py_ssize_t u = 0;
    for (; u + V <= n; u += V)
        *(FC_DT_VEC *)(dst + u) = z;
    for (; u < n; u++)
        dst[u] = 0;
}

/* acc[f] = (init ? b : acc[f]) + w[0]*src[f + off[0]] + ... + w[nt-1]*src[f + off[nt-1]]
 * (taps in this order) for f in [0, nf) rounded up to whole vectors (both buffers have
 * the slack). */
FC_DT_TGT static void FC_DT_FN(fc_dwt_taps)(FC_T *FC_DW_RESTRICT acc, Py_ssize_t nf,
                                         const FC_T *FC_DW_RESTRICT src,
                                         const Py_ssize_t *off, const FC_T *w, Py_ssize_t nt,
                                         int init, FC_T b)
{
    const Py_ssize_t V = FC_DT_VL;
    const Py_ssize_t nfr = (nf + V - 1) / V * V;
    Py_ssize_t f, k;
    FC_DT_VEC a0, a1, a2, a3, z = {0};
    const FC_T *s;
    for (f = 0; f + 4 * V <= nfr; f += 4 * V) {
        if (init) {
            a0 = z + b;
            a1 = a0;
            a2 = a0;
            a3 = a0;
        } else {
            a0 = *(const FC_DT_VEC *)(acc + f);
            a1 = *(const FC_DT_VEC *)(acc + f + V);
            a2 = *(const FC_DT_VEC *)(acc + f + 2 * V);
            a3 = *(const FC_DT_VEC *)(acc + f + 3 * V);
        }
        for (k = 0; k < nt; k++) {
            const FC_T wk = w[k];
            s = src + off[k] + f;
            a0 += *(const FC_DT_VEC *)s * wk;
            a1 += *(const FC_DT_VEC *)(s + V) * wk;
            a2 += *(const FC_DT_VEC *)(s + 2 * V) * wk;
            a3 += *(const FC_DT_VEC *)(s + 3 * V) * wk;
        }
        *(FC_DT_VEC *)(acc + f) = a0;
        *(FC_DT_VEC *)(acc + f + V) = a1;
        *(FC_DT_VEC *)(acc + f + 2 * V) = a2;
        *(FC_DT_VEC *)(acc + f + 3 * V) = a3;
    }
    for (; f < nfr; f += V) {
        if (init)
            a0 = z + b;
        else
            a0 = *(const FC_DT_VEC *)(acc + f);
        for (k = 0; k < nt; k++)
            a0 += *(const FC_DT_VEC *)(src + off[k] + f) * w[k];
        *(FC_DT_VEC *)(acc + f) = a0;
    }
}

/* Stride 1, dilation 1 along the rows: output rows t and t + 1 together (positions f
 * and f + Wq), each tile row loaded once for both: tile row r (of kH + 1) feeds row t
 * with the kernel's row r and row t + 1 with its row r - 1.  Each output still sums
 * bias, then the taps (i, j) in order, as fc_dwt_taps does, so the positions both
 * compute (a vector's overrun into the next row) get the same bits.  offj: the column
 * offset of each tap j (the tile's offsets of kernel row 0). */
FC_DT_TGT static void FC_DT_FN(fc_dwt_taps_rows)(FC_T *FC_DW_RESTRICT acc, Py_ssize_t rows,
                                              Py_ssize_t Wq, const FC_T *FC_DW_RESTRICT src,
                                              const Py_ssize_t *offj, const FC_T *w,
                                              Py_ssize_t kH, Py_ssize_t kW, FC_T b)
{
    const Py_ssize_t V = FC_DT_VL;
    const Py_ssize_t R = (Wq + V - 1) / V * V;
    Py_ssize_t t, f, r, j;
    FC_DT_VEC a0, a1, c0, c1, v, u, z = {0};
    const FC_T *s;
    for (t = 0; t + 1 < rows; t += 2) {
        FC_T *A = acc + t * Wq;
        const FC_T *S = src + t * Wq;
        for (f = 0; f + 2 * V <= R; f += 2 * V) {
            a0 = z + b;
            a1 = a0;
            c0 = a0;
            c1 = a0;
            for (r = 0; r <= kH; r++) {
                for (j = 0; j < kW; j++) {
                    s = S + r * Wq + offj[j] + f;
                    v = *(const FC_DT_VEC *)s;
                    u = *(const FC_DT_VEC *)(s + V);
                    if (r < kH) {
                        a0 += v * w[r * kW + j];
                        a1 += u * w[r * kW + j];
                    }
                    if (r > 0) {
                        c0 += v * w[(r - 1) * kW + j];
                        c1 += u * w[(r - 1) * kW + j];
                    }
                }
            }
            *(FC_DT_VEC *)(A + f) = a0;
            *(FC_DT_VEC *)(A + f + V) = a1;
            *(FC_DT_VEC *)(A + Wq + f) = c0;
            *(FC_DT_VEC *)(A + Wq + f + V) = c1;
        }
        for (; f < R; f += V) {
            a0 = z + b;
            c0 = a0;
            for (r = 0; r <= kH; r++) {
                for (j = 0; j < kW; j++) {
                    v = *(const FC_DT_VEC *)(S + r * Wq + offj[j] + f);
                    if (r < kH)
                        a0 += v * w[r * kW + j];
                    if (r > 0)
                        c0 += v * w[(r - 1) * kW + j];
                }
            }
            *(FC_DT_VEC *)(A + f) = a0;
            *(FC_DT_VEC *)(A + Wq + f) = c0;
        }
    }
}

/* K (<= 9) dot products, acc[k*V + lane] += g[f] * src[f + off[k]] over f in [0, nfr)
 * (whole vectors; lanes summed later in a fixed order).  K is a constant where it is
 * inlined: the accumulators stay in registers. */
FC_DT_TGT FC_DW_INLINE void FC_DT_FN(fc_dwt_dots_k)(FC_T *FC_DW_RESTRICT acc, Py_ssize_t nfr,
                                                 const FC_T *FC_DW_RESTRICT g,
                                                 const FC_T *FC_DW_RESTRICT src,
                                                 const Py_ssize_t *off, int K)
{
    const Py_ssize_t V = FC_DT_VL;
    FC_DT_VEC a[9], gv;
    const FC_T *s[9];
    Py_ssize_t f;
    int k;
    for (k = 0; k < K; k++) {
        a[k] = *(const FC_DT_VEC *)(acc + k * V);
        s[k] = src + off[k];
    }
    for (f = 0; f < nfr; f += V) {
        gv = *(const FC_DT_VEC *)(g + f);
        for (k = 0; k < K; k++)
            a[k] += gv * *(const FC_DT_VEC *)(s[k] + f);
    }
    for (k = 0; k < K; k++)
        *(FC_DT_VEC *)(acc + k * V) = a[k];
}

FC_DT_TGT static void FC_DT_FN(fc_dwt_dots)(FC_T *acc, Py_ssize_t nfr, const FC_T *g,
                                         const FC_T *src, const Py_ssize_t *off, Py_ssize_t nt)
{
    Py_ssize_t k0, K;
    for (k0 = 0; k0 < nt; k0 += 9) {
        K = nt - k0 < 9 ? nt - k0 : 9;
        FC_T *a = acc + k0 * FC_DT_VL;
        const Py_ssize_t *o = off + k0;
        switch (K) {
        case 1: FC_DT_FN(fc_dwt_dots_k)(a, nfr, g, src, o, 1); break;
        case 2: FC_DT_FN(fc_dwt_dots_k)(a, nfr, g, src, o, 2); break;
        case 3: FC_DT_FN(fc_dwt_dots_k)(a, nfr, g, src, o, 3); break;
        case 4: FC_DT_FN(fc_dwt_dots_k)(a, nfr, g, src, o, 4); break;
        case 5: FC_DT_FN(fc_dwt_dots_k)(a, nfr, g, src, o, 5); break;
        case 6: FC_DT_FN(fc_dwt_dots_k)(a, nfr, g, src, o, 6); break;
        case 7: FC_DT_FN(fc_dwt_dots_k)(a, nfr, g, src, o, 7); break;
        case 8: FC_DT_FN(fc_dwt_dots_k)(a, nfr, g, src, o, 8); break;
        default: FC_DT_FN(fc_dwt_dots_k)(a, nfr, g, src, o, 9); break;
        }
    }
}


#if FC_DT_AVX512
/* dst[u] = row[i0 + u] (zero outside [0, W) of the row), u in [0, Wq) */
FC_DT_TGT static inline void FC_DT_FN(fc_dwt_row1)(FC_T *dst, const FC_T *row, Py_ssize_t i0,
                                                   Py_ssize_t W, Py_ssize_t Wq)
{
    const Py_ssize_t V = FC_DT_VL;
    Py_ssize_t u;
    for (u = 0; u < Wq; u += V) {
        FC_DT_MT m = FC_DT_FN(fc_dwt_lanes)(i0 + u, W, V);
        FC_DT_MT e = Wq - u >= V ? (FC_DT_MT)~0u : (FC_DT_MT)((1u << (Wq - u)) - 1);
        FC_DT_MSTORE(dst + u, e, FC_DT_MLOAD(m, row + i0 + u));
    }
}

/* d0[u] = row[i0 + 2u], d1[u] = row[i0 + 2u + 1] (zero outside [0, W)), u in [0, Wq) */
FC_DT_TGT static inline void FC_DT_FN(fc_dwt_row2)(FC_T *d0, FC_T *d1, const FC_T *row,
                                                   Py_ssize_t i0, Py_ssize_t W, Py_ssize_t Wq)
{
    const Py_ssize_t V = FC_DT_VL;
    const __m512i ev = FC_DT_EVEN, od = FC_DT_ODD;
    Py_ssize_t u;
    for (u = 0; u < Wq; u += V) {
        const Py_ssize_t j = i0 + 2 * u;
        FC_DT_VR a = FC_DT_MLOAD(FC_DT_FN(fc_dwt_lanes)(j, W, V), row + j);
        FC_DT_VR b = FC_DT_MLOAD(FC_DT_FN(fc_dwt_lanes)(j + V, W, V), row + j + V);
        FC_DT_MT e = Wq - u >= V ? (FC_DT_MT)~0u : (FC_DT_MT)((1u << (Wq - u)) - 1);
        FC_DT_MSTORE(d0 + u, e, FC_DT_PERM2(a, ev, b));
        FC_DT_MSTORE(d1 + u, e, FC_DT_PERM2(a, od, b));
    }
}
#endif

/* The tile: tile[((pr*sW + pc)*TR + t)*Wq + u] = src[y0 + pr + sH*t, x0 + pc + sW*u]
 * (zero outside the H x W plane), then slack zeros. */
FC_DT_TGT static void FC_DT_FN(fc_dwt_fill)(FC_T *FC_DW_RESTRICT tile,
                                         const FC_T *FC_DW_RESTRICT src, Py_ssize_t H,
                                         Py_ssize_t W, Py_ssize_t y0, Py_ssize_t x0,
                                         Py_ssize_t sH, Py_ssize_t sW, Py_ssize_t TR,
                                         Py_ssize_t Wq, Py_ssize_t slack)
{
    Py_ssize_t pr, pc, t, u, iy, lo, hi;
    FC_T *dst;
    const FC_T *row;
    const FC_T *src_end = src + H * W;
#if FC_DT_AVX512
    /* (rows of up to 64: on 112-wide stride-2 rows these rows measured 1.8x slower than
     * the loops below, on 14-28 wide rows 1.4-1.8x faster) */
    if (sW <= 2 && W <= 64) {
        for (pr = 0; pr < sH; pr++) {
            for (t = 0; t < TR; t++) {
                iy = y0 + pr + sH * t;
                dst = tile + (pr * sW * TR + t) * Wq;
                row = src + iy * W;
                if (iy < 0 || iy >= H) {
                    FC_DT_FN(fc_dwt_zero)(dst, Wq);
                    if (sW == 2)
                        FC_DT_FN(fc_dwt_zero)(dst + TR * Wq, Wq);
                } else if (sW == 1) {
                    FC_DT_FN(fc_dwt_row1)(dst, row, x0, W, Wq);
                } else {
                    FC_DT_FN(fc_dwt_row2)(dst, dst + TR * Wq, row, x0, W, Wq);
                }
            }
        }
        FC_DT_FN(fc_dwt_zero)(tile + sH * sW * TR * Wq, slack);
        return;
    }
#endif
    /* rows in ascending order, each written whole and past its end by up to a vector
     * (the next row, or the slack, written after it) */
    for (pr = 0; pr < sH; pr++) {
        for (pc = 0; pc < sW; pc++) {
            fc_valid_range(x0 + pc, sW, Wq, W, &lo, &hi);
            for (t = 0; t < TR; t++) {
                dst = tile + ((pr * sW + pc) * TR + t) * Wq;
                iy = y0 + pr + sH * t;
                if (iy < 0 || iy >= H || lo >= hi) {
                    FC_DT_FN(fc_dwt_zero_over)(dst, Wq);
                    continue;
                }
                row = src + iy * W + x0 + pc;
                for (u = 0; u < lo; u++)
                    dst[u] = 0;
                if (sW == 1) {
                    FC_DT_FN(fc_dwt_copy_over)(dst + lo, row + lo, hi - lo, dst + Wq + FC_DT_VL,
                                               src_end);
                } else if (sW == 2) {
                    for (u = lo; u < hi; u++)
                        dst[u] = row[2 * u];
                } else {
                    for (u = lo; u < hi; u++)
                        dst[u] = row[sW * u];
                }
                FC_DT_FN(fc_dwt_zero_over)(dst + hi, Wq - hi);
            }
        }
    }
    FC_DT_FN(fc_dwt_zero)(tile + sH * sW * TR * Wq, slack);
}

/* The tap offsets into a forward tile of TR rows per phase: tap (i, j) of output
 * (oy, ox) reads input (oy*sH - pH + i*dH, ox*sW - pW + j*dW), in the tile phase
 * ((i*dH) % sH, (j*dW) % sW) at row oy - r0 + (i*dH)/sH, column ox + (j*dW)/sW. */
FC_DT_TGT static inline void FC_DT_FN(fc_dwt_fwd_offsets)(const fc_problem *p, Py_ssize_t TR,
                                                Py_ssize_t Wq, Py_ssize_t *off)
{
    const Py_ssize_t sH = p->s[1], sW = p->s[2], dH = p->d[1], dW = p->d[2];
    Py_ssize_t i, j, qi = 0, ri = 0, qj, rj;   /* i*dH = qi*sH + ri, j*dW = qj*sW + rj */
    for (i = 0; i < p->k[1]; i++) {
        qj = 0;
        rj = 0;
        for (j = 0; j < p->k[2]; j++) {
            off[i * p->k[2] + j] = ((ri * sW + rj) * TR + qi) * Wq + qj;
            for (rj += dW; rj >= sW; rj -= sW)
                qj++;
        }
        for (ri += dH; ri >= sH; ri -= sH)
            qi++;
    }
}

/* Forward, one task: output rows [r0, r1) of groups [g0, g1) of one sample (xn, yn: the
 * sample's input and output; w: O x taps; bias: O or NULL).  One tile per group serves
 * every multiplier. */
FC_DT_TGT static void FC_DT_FN(fc_dwt_fwd)(const fc_problem *p, const FC_T *xn, const FC_T *w,
                                        const FC_T *bias, FC_T *yn, FC_T *ws, Py_ssize_t g0,
                                        Py_ssize_t g1, Py_ssize_t r0, Py_ssize_t r1)
{
    const Py_ssize_t OW = p->out[2], taps = p->taps, Og = p->Og, rows = r1 - r0;
    const Py_ssize_t ring = fc_dwt_ring(p);
    const int pairs = p->s[1] == 1 && p->d[1] == 1 && rows >= 2;
    Py_ssize_t Wq, TR, TRmax, tsz, g, o, t;
    FC_T bo;
    FC_T *tile, *buf, *yo;
    const FC_T *buf_end;
    Py_ssize_t *off;
    fc_dwt_fwd_dims(p, p->blk, &Wq, &TRmax);
    fc_dwt_fwd_dims(p, rows, &Wq, &TR);
    tsz = fc_dwt_r16(p->s[1] * p->s[2] * TRmax * Wq + fc_dwt_slack(p));
    buf = ws + ring * tsz;
    buf_end = buf + rows * Wq + FC_DWT_SLACK;
    off = (Py_ssize_t *)(buf + fc_dwt_r16(p->blk * Wq + FC_DWT_SLACK));
    FC_DT_FN(fc_dwt_fwd_offsets)(p, TR, Wq, off);
    /* small tiles: filled ring - 1 groups ahead, so that their stores have left the
     * store buffer when the taps read them back */
    for (g = g0; g < g1 + ring - 1; g++) {
        if (g < g1)
            FC_DT_FN(fc_dwt_fill)(ws + (g % ring) * tsz, xn + g * p->in_vol, p->in[1],
                                  p->in[2], r0 * p->s[1] - p->pb[1], -p->pb[2], p->s[1],
                                  p->s[2], TR, Wq, fc_dwt_slack(p));
        if (g - (ring - 1) < g0)
            continue;
        tile = ws + ((g - (ring - 1)) % ring) * tsz;
        for (o = (g - (ring - 1)) * Og; o < (g - (ring - 1) + 1) * Og; o++) {
            bo = bias != NULL ? bias[o] : (FC_T)0;
            if (pairs) {
                /* pairs of rows, then the last row of an odd count alone */
                FC_DT_FN(fc_dwt_taps_rows)(buf, rows, Wq, tile, off, w + o * taps, p->k[1],
                                           p->k[2], bo);
                if (rows % 2)
                    FC_DT_FN(fc_dwt_taps)(buf + (rows - 1) * Wq, Wq, tile + (rows - 1) * Wq,
                                          off, w + o * taps, taps, 1, bo);
            } else {
                FC_DT_FN(fc_dwt_taps)(buf, rows * Wq, tile, off, w + o * taps, taps, 1, bo);
            }
            yo = yn + o * p->L;
            for (t = 0; t < rows; t++)
                FC_DT_FN(fc_dwt_copy_over)(yo + (r0 + t) * OW, buf + t * Wq, OW,
                                           yo + r1 * OW, buf_end);
        }
    }
}

/* grad_input, one task: input rows [R0, R1) of groups [g0, g1) of one sample (gon: the
 * sample's grad_output, wt: G x taps x Og, gxn: the sample's grad_input).  Split by
 * stride phase (py, px): the inputs (py + sH*t, px + sW*u) receive, from the taps
 * (i, j) with py + pH - i*dH and px + pW - j*dW divisible by the strides, w[m, i, j] *
 * go[m, t + ci, u + cj] -- a stride-1 correlation per phase over one zero-padded tile
 * of grad_output; summed in the order m, i, j, then interleaved into the rows. */
FC_DT_TGT static void FC_DT_FN(fc_dwt_bwi)(const fc_problem *p, const FC_T *gon, const FC_T *wt,
                                        FC_T *gxn, FC_T *ws, Py_ssize_t g0, Py_ssize_t g1,
                                        Py_ssize_t R0, Py_ssize_t R1)
{
    const Py_ssize_t W = p->in[2], OH = p->out[1], OW = p->out[2];
    const Py_ssize_t sH = p->s[1], sW = p->s[2], dH = p->d[1], dW = p->d[2];
    const Py_ssize_t pH = p->pb[1], pW = p->pb[2], kH = p->k[1], kW = p->k[2];
    const Py_ssize_t Og = p->Og, taps = p->taps, NP = sH * sW;
    Py_ssize_t TRb, Wt, oyA, oxA, g, m, ph, py, px, i, j, tA, tB, nU, nt, t, u, v, ci, cj, k;
    FC_T *tile, *acc, *accp, *wk, *dst, *gxc;
    Py_ssize_t *off, *tap, *first;
    fc_dwt_bwi_dims(p, &TRb, &Wt);
    tile = ws;
    acc = tile + fc_dwt_r16(TRb * Wt + fc_dwt_slack(p));
    wk = acc + fc_dwt_r16(sW * p->blk * Wt + sH * sW * (FC_DWT_SLACK + 16));
    off = (Py_ssize_t *)(wk + fc_dwt_r16(taps));
    tap = off + taps;               /* the tap (i*kW + j) of each offset */
    first = tap + taps;             /* phase ph's taps: [first[ph], first[ph + 1]) */
    oyA = fc_dwt_floordiv(R0 + pH - (kH - 1) * dH, sH);
    oxA = fc_dwt_floordiv(pW - (kW - 1) * dW, sW);
    /* each phase's taps and offsets, once per task */
    nt = 0;
    for (py = 0; py < sH; py++) {
        tA = R0 - py > 0 ? (R0 - py + sH - 1) / sH : 0;
        for (px = 0; px < sW; px++) {
            first[py * sW + px] = nt;
            for (i = 0; i < kH; i++) {
                v = py + pH - i * dH;
                ci = sH == 1 ? v : fc_dwt_floordiv(v, sH);
                if (ci * sH != v)
                    continue;
                for (j = 0; j < kW; j++) {
                    u = px + pW - j * dW;
                    cj = sW == 1 ? u : fc_dwt_floordiv(u, sW);
                    if (cj * sW != u)
                        continue;
                    off[nt] = (tA + ci - oyA) * Wt + (cj - oxA);
                    tap[nt] = i * kW + j;
                    nt++;
                }
            }
        }
    }
    first[NP] = nt;
    for (g = g0; g < g1; g++) {
        gxc = gxn + g * p->in_vol;
        for (m = 0; m < Og; m++) {
            FC_DT_FN(fc_dwt_fill)(tile, gon + (g * Og + m) * p->L, OH, OW, oyA, oxA, 1, 1,
                                  TRb, Wt, fc_dwt_slack(p));
            accp = acc;
            for (py = 0; py < sH; py++) {
                tA = R0 - py > 0 ? (R0 - py + sH - 1) / sH : 0;
                tB = R1 - py > 0 ? (R1 - py + sH - 1) / sH : 0;
                if (tB <= tA)
                    continue;
                for (px = 0; px < sW && px < W; px++) {
                    ph = py * sW + px;
                    for (k = first[ph]; k < first[ph + 1]; k++)
                        wk[k] = wt[(g * taps + tap[k]) * Og + m];
                    FC_DT_FN(fc_dwt_taps)(accp, (tB - tA) * Wt, tile, off + first[ph],
                                          wk + first[ph], first[ph + 1] - first[ph], m == 0,
                                          (FC_T)0);
                    if (m == Og - 1) {
                        nU = (W - px + sW - 1) / sW;
                        for (t = tA; t < tB; t++) {
                            dst = gxc + (py + sH * t) * W + px;
                            if (sW == 1 && sH == 1) {
                                FC_DT_FN(fc_dwt_copy_over)(dst, accp + (t - tA) * Wt, nU,
                                                           gxc + R1 * W,
                                                           accp + (tB - tA) * Wt
                                                           + FC_DWT_SLACK);
                            } else if (sW == 1) {
                                FC_DT_FN(fc_dwt_copy)(dst, accp + (t - tA) * Wt, nU);
                            } else {
                                for (u = 0; u < nU; u++)
                                    dst[u * sW] = accp[(t - tA) * Wt + u];
                            }
                        }
                    }
                    accp += fc_dwt_r16((tB - tA) * Wt + FC_DWT_SLACK);
                }
            }
        }
    }
}

/* grad_weight, one task: the chunk's samples of group g, all Og multipliers; per
 * sample and block of blk output rows (fixed by the shape), the forward tile of x and
 * grad_output's rows laid out like the tile's flattened positions (zeros in the
 * dropped columns) give each tap's sum as one dot product, in vector lanes; the lanes
 * are summed in ascending order at the end into part[chunk, g, tap, m]. */
FC_DT_TGT static void FC_DT_FN(fc_dwt_bww)(const fc_problem *p, const FC_T *go, const FC_T *x,
                                        FC_T *part, FC_T *ws, Py_ssize_t chunk, Py_ssize_t g)
{
    const Py_ssize_t OH = p->out[1], OW = p->out[2], taps = p->taps, Og = p->Og;
    const Py_ssize_t V = FC_DT_VL, blk = p->blk;
    const Py_ssize_t n0 = chunk * p->N / p->chunks, n1 = (chunk + 1) * p->N / p->chunks;
    Py_ssize_t Wq, TR, TRmax, n, r0, rows, m, t, nfr, l, h;
    FC_T *tile, *gob, *acc;
    Py_ssize_t *off;
    const FC_T *gop;
    fc_dwt_fwd_dims(p, blk, &Wq, &TRmax);
    tile = ws;
    gob = tile + fc_dwt_r16(p->s[1] * p->s[2] * TRmax * Wq + fc_dwt_slack(p));
    acc = gob + fc_dwt_r16(blk * Wq + FC_DWT_SLACK);
    off = (Py_ssize_t *)(acc + fc_dwt_r16(Og * taps * FC_DWT_MAXVL));
    memset(acc, 0, Og * taps * V * sizeof(FC_T));
    for (n = n0; n < n1; n++) {
        for (r0 = 0; r0 < OH; r0 += blk) {
            rows = OH - r0 < blk ? OH - r0 : blk;
            fc_dwt_fwd_dims(p, rows, &Wq, &TR);
            FC_DT_FN(fc_dwt_fill)(tile, x + (n * p->C + g) * p->in_vol, p->in[1], p->in[2],
                                  r0 * p->s[1] - p->pb[1], -p->pb[2], p->s[1], p->s[2], TR,
                                  Wq, fc_dwt_slack(p));
            FC_DT_FN(fc_dwt_fwd_offsets)(p, TR, Wq, off);
            nfr = (rows * Wq + V - 1) / V * V;
            for (m = 0; m < Og; m++) {
                gop = go + (n * p->O + g * Og + m) * p->L + r0 * OW;
                for (t = 0; t < rows; t++) {   /* ascending: each row past its end */
#if FC_DT_AVX512
                    FC_DT_FN(fc_dwt_row1)(gob + t * Wq, gop + t * OW, 0, OW, Wq);
#else
                    FC_DT_FN(fc_dwt_copy_over)(gob + t * Wq, gop + t * OW, OW,
                                               gob + rows * Wq + FC_DWT_SLACK,
                                               gop + rows * OW);
                    FC_DT_FN(fc_dwt_zero_over)(gob + t * Wq + OW, Wq - OW);
#endif
                }
                FC_DT_FN(fc_dwt_zero)(gob + rows * Wq, nfr - rows * Wq);
                FC_DT_FN(fc_dwt_dots)(acc + m * taps * V, nfr, gob, tile, off, taps);
            }
        }
    }
    /* each tap's lanes summed pairwise (lane l += lane l + h, h = V/2, ..., 1): a fixed
     * order, and independent sums the processor overlaps */
    for (h = V / 2; h >= 1; h /= 2)
        for (t = 0; t < Og * taps; t++)
            for (l = 0; l < h; l++)
                acc[t * V + l] += acc[t * V + l + h];
    for (m = 0; m < Og; m++)
        for (t = 0; t < taps; t++)
            part[((chunk * p->groups + g) * taps + t) * Og + m] = acc[(m * taps + t) * V];
}

#undef FC_DT_TGT
#if FC_DT_AVX512
#undef FC_DT_MT
#undef FC_DT_VR
#undef FC_DT_MLOAD
#undef FC_DT_MSTORE
#undef FC_DT_MLOAD_
#undef FC_DT_MSTORE_
#undef FC_DT_LOADU
#undef FC_DT_STOREU
#undef FC_DT_FULL
#undef FC_DT_PERM2
#undef FC_DT_EVEN
#undef FC_DT_ODD
#endif
#undef FC_DT_AVX512
#undef FC_DT_F64
#undef FC_DT_VL
#undef FC_DT_VEC
#undef FC_DT_FN
#undef FC_DT_CAT
#undef FC_DT_CAT2
#undef FC_VB
