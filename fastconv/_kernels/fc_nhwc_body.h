/* fastconv: the channel-vector loops of the channels-last depthwise and pooling
 * kernels, one variant.  Included by fc_nhwc.h with FC_T (float or double), FC_I (the
 * signed integer of FC_T's width), FC_SUF (the names' suffix), FC_TGT (the target
 * attribute, or nothing), FC_VB (vector bytes) and FC_VL (lanes) defined; it
 * undefines them at the end.
 *
 * Every function works on n consecutive channels: whole blocks of 4, 2 and 1 vectors
 * of FC_VL channels (accumulators in registers), then the last channels one at a time
 * with the same operations in the same order (lanes are channels: the order of every
 * channel's sum is the same whatever the vector width).
 *
 * A window is R rows of Q taps: tap (r, q) of channel c is src[soff[r] + q*ss + c]
 * (a weight's: w[woff[r] + q*ws + c]).  The window functions take P positions at once
 * (position pp reads src + pp*ps and writes out + pp*os; max pooling's indices advance
 * by pp*pis): the interior of an output row, whose windows are all the same shape.
 *
 * No include guard: included once per variant. */
#define FC_NC_CAT2(a, b) a##_##b
#define FC_NC_CAT(a, b) FC_NC_CAT2(a, b)
#define FC_NC_FN(name) FC_NC_CAT(name, FC_SUF)

#if FC_NC_VEC
typedef FC_T FC_NC_CAT(fc_ncv, FC_SUF)
    __attribute__((vector_size(FC_VB), aligned(sizeof(FC_T)), may_alias));
typedef FC_I FC_NC_CAT(fc_nci, FC_SUF)
    __attribute__((vector_size(FC_VB), aligned(sizeof(FC_T)), may_alias));
#define FC_V FC_NC_CAT(fc_ncv, FC_SUF)
#define FC_IV FC_NC_CAT(fc_nci, FC_SUF)
#define FC_LD(p) (*(const FC_V *)(p))
#define FC_ST(p, v) (*(FC_V *)(p) = (v))

/* the block loops: NV (1, 2 or 4) is a constant where they are inlined */
FC_TGT FC_NC_INLINE void FC_NC_FN(fc_nc_dot_blk)(int NV, Py_ssize_t P, Py_ssize_t ps,
                                                 Py_ssize_t os, Py_ssize_t R, Py_ssize_t Q,
                                                 const FC_T *src, const Py_ssize_t *soff,
                                                 Py_ssize_t ss, const FC_T *w,
                                                 const Py_ssize_t *woff, Py_ssize_t ws,
                                                 const FC_T *init, FC_T *out)
{
    FC_V acc[4];
    Py_ssize_t r, q, pp;
    int v;
    for (pp = 0; pp < P; pp++, src += ps, out += os) {
    for (v = 0; v < NV; v++) {
        if (init)
            acc[v] = FC_LD(init + v * FC_VL);
        else
            acc[v] = (FC_V){0};
    }
    for (r = 0; r < R; r++) {
        const FC_T *s = src + soff[r], *ww = w + woff[r];
        for (q = 0; q < Q; q++, s += ss, ww += ws)
            for (v = 0; v < NV; v++)
                acc[v] += FC_LD(s + v * FC_VL) * FC_LD(ww + v * FC_VL);
    }
    for (v = 0; v < NV; v++)
        FC_ST(out + v * FC_VL, acc[v]);
    }
}

FC_TGT FC_NC_INLINE void FC_NC_FN(fc_nc_dot2_blk)(int NV, Py_ssize_t Q, const FC_T *a,
                                                  Py_ssize_t sa, const FC_T *b, Py_ssize_t sb,
                                                  FC_T *acc)
{
    FC_V s[4];
    Py_ssize_t q;
    int v;
    for (v = 0; v < NV; v++)
        s[v] = (FC_V){0};
    for (q = 0; q < Q; q++, a += sa, b += sb)
        for (v = 0; v < NV; v++)
            s[v] += FC_LD(a + v * FC_VL) * FC_LD(b + v * FC_VL);
    for (v = 0; v < NV; v++)
        FC_ST(acc + v * FC_VL, FC_LD(acc + v * FC_VL) + s[v]);
}

FC_TGT FC_NC_INLINE void FC_NC_FN(fc_nc_max_blk)(int NV, Py_ssize_t R, Py_ssize_t Q,
                                                 const FC_T *src, const Py_ssize_t *soff,
                                                 Py_ssize_t ss, const int64_t *ridx,
                                                 Py_ssize_t ishift, Py_ssize_t qstep,
                                                 int64_t first, FC_T *out, int64_t *idx)
{
    FC_V m[4];
    FC_IV t[4], z = {0};
    Py_ssize_t r, q;
    int v, l;
    for (v = 0; v < NV; v++) {
        m[v] = (FC_V){0} - (FC_T)INFINITY;
        t[v] = z + (FC_I)first;
    }
    for (r = 0; r < R; r++) {
        const FC_T *s = src + soff[r];
        FC_I ti = (FC_I)(ridx[r] + ishift);
        for (q = 0; q < Q; q++, s += ss, ti += (FC_I)qstep)
            for (v = 0; v < NV; v++) {
                FC_V x = FC_LD(s + v * FC_VL);
                FC_IV u = (FC_IV)(x > m[v]) | (FC_IV)(x != x);
                m[v] = (FC_V)(((FC_IV)x & u) | ((FC_IV)m[v] & ~u));
                if (idx)
                    t[v] = ((z + ti) & u) | (t[v] & ~u);
            }
    }
    for (v = 0; v < NV; v++) {
        FC_ST(out + v * FC_VL, m[v]);
        if (idx)
            for (l = 0; l < FC_VL; l++)
                idx[v * FC_VL + l] = (int64_t)t[v][l];
    }
}

FC_TGT FC_NC_INLINE void FC_NC_FN(fc_nc_sum_blk)(int NV, Py_ssize_t P, Py_ssize_t ps,
                                                 Py_ssize_t os, Py_ssize_t R, Py_ssize_t Q,
                                                 const FC_T *src, const Py_ssize_t *soff,
                                                 Py_ssize_t ss, const FC_T *dv, FC_T div,
                                                 FC_T *out)
{
    FC_V acc[4], d;
    Py_ssize_t r, q, pp;
    int v, l;
    for (l = 0; l < FC_VL; l++)
        d[l] = div;
    for (pp = 0; pp < P; pp++, src += ps, out += os) {
    for (v = 0; v < NV; v++)
        acc[v] = (FC_V){0};
    for (r = 0; r < R; r++) {
        const FC_T *s = src + soff[r];
        for (q = 0; q < Q; q++, s += ss) {
            if (dv) {
                FC_V e;
                for (l = 0; l < FC_VL; l++)
                    e[l] = dv[r * Q + q];
                for (v = 0; v < NV; v++)
                    acc[v] += FC_LD(s + v * FC_VL) / e;
            } else {
                for (v = 0; v < NV; v++)
                    acc[v] += FC_LD(s + v * FC_VL);
            }
        }
    }
    for (v = 0; v < NV; v++) {
        if (!dv)
            acc[v] = acc[v] / d;
        FC_ST(out + v * FC_VL, acc[v]);
    }
    }
}
#endif

/* The blocks of n channels: 4, 2, 1 vectors, then one channel at a time. */
#if FC_NC_VEC
#define FC_NC_BLOCKS(CALL, SCALAR)                                                       \
    Py_ssize_t c = 0;                                                                    \
    for (; c + 4 * FC_VL <= n; c += 4 * FC_VL)                                           \
        CALL(4);                                                                         \
    if (c + 2 * FC_VL <= n) {                                                            \
        CALL(2);                                                                         \
        c += 2 * FC_VL;                                                                  \
    }                                                                                    \
    if (c + FC_VL <= n) {                                                                \
        CALL(1);                                                                         \
        c += FC_VL;                                                                      \
    }                                                                                    \
    for (; c < n; c++)                                                                   \
        SCALAR;
#else
#define FC_NC_BLOCKS(CALL, SCALAR)                                                       \
    Py_ssize_t c;                                                                        \
    for (c = 0; c < n; c++)                                                              \
        SCALAR;
#endif

/* out[c] = init[c] (0 without init) + the taps' src * w, rows then taps in order;
 * w's tap (r, q) is w[woff[r] + q*ws + c]. */
FC_TGT static void FC_NC_FN(fc_nc_dot)(Py_ssize_t n, Py_ssize_t P, Py_ssize_t ps,
                                       Py_ssize_t os, Py_ssize_t R, Py_ssize_t Q,
                                       const FC_T *src, const Py_ssize_t *soff, Py_ssize_t ss,
                                       const FC_T *w, const Py_ssize_t *woff, Py_ssize_t ws,
                                       const FC_T *init, FC_T *out)
{
#define FC_NC_CALL(NV) FC_NC_FN(fc_nc_dot_blk)(NV, 1, 0, 0, R, Q, src + pp * ps + c, soff, ss, \
                                               w + c, woff, ws, init ? init + c : NULL, \
                                               out + pp * os + c)
#define FC_NC_SCALAR                                                                     \
    do {                                                                                 \
        Py_ssize_t r, q;                                                                 \
        {                                                                                \
            FC_T a = init ? init[c] : (FC_T)0;                                           \
            for (r = 0; r < R; r++) {                                                    \
                const FC_T *s = src + pp * ps + soff[r] + c, *ww = w + woff[r] + c;      \
                for (q = 0; q < Q; q++, s += ss, ww += ws)                               \
                    a += *s * *ww;                                                       \
            }                                                                            \
            out[pp * os + c] = a;                                                        \
        }                                                                                \
    } while (0)
    Py_ssize_t pp;
    for (pp = 0; pp < P; pp++) {
        FC_NC_BLOCKS(FC_NC_CALL, FC_NC_SCALAR)
    }
#undef FC_NC_CALL
#undef FC_NC_SCALAR
}

/* acc[c] += (0 + sum over q of a[q*sa + c] * b[q*sb + c]) */
FC_TGT static void FC_NC_FN(fc_nc_dot2)(Py_ssize_t n, Py_ssize_t Q, const FC_T *a,
                                        Py_ssize_t sa, const FC_T *b, Py_ssize_t sb, FC_T *acc)
{
#define FC_NC_CALL(NV) FC_NC_FN(fc_nc_dot2_blk)(NV, Q, a + c, sa, b + c, sb, acc + c)
#define FC_NC_SCALAR                                                                     \
    do {                                                                                 \
        FC_T s = 0;                                                                      \
        Py_ssize_t q;                                                                    \
        for (q = 0; q < Q; q++)                                                          \
            s += a[q * sa + c] * b[q * sb + c];                                          \
        acc[c] = acc[c] + s;                                                             \
    } while (0)
    FC_NC_BLOCKS(FC_NC_CALL, FC_NC_SCALAR)
#undef FC_NC_CALL
#undef FC_NC_SCALAR
}

/* Max pooling of P windows (position pp: src + pp*ps, out + pp*os, indices + pp*pis;
 * ATen's rule: from -inf, a tap wins when v > m or v is NaN, so the first maximum and
 * the last NaN are kept; `first` is the index when no tap beats -inf).  Tap (r, q)
 * has index ridx[r] + q*qstep; idx may be NULL.  Tap indices are FC_I in the vector
 * lanes: the caller passes `narrow` = 0 when the volume has 2**31 elements or more
 * (float), and the scalar loop runs. */
FC_TGT static void FC_NC_FN(fc_nc_max)(Py_ssize_t n, Py_ssize_t P, Py_ssize_t ps,
                                       Py_ssize_t os, Py_ssize_t pis, Py_ssize_t R, Py_ssize_t Q,
                                       const FC_T *src, const Py_ssize_t *soff, Py_ssize_t ss,
                                       const int64_t *ridx, Py_ssize_t qstep, int64_t first,
                                       FC_T *out, int64_t *idx, int narrow)
{
#define FC_NC_CALL(NV) FC_NC_FN(fc_nc_max_blk)(NV, R, Q, src + pp * ps + c, soff, ss, ridx, \
                                               pp * pis, qstep, first, out + pp * os + c, \
                                               idx ? idx + pp * os + c : NULL)
#define FC_NC_SCALAR                                                                     \
    do {                                                                                 \
        Py_ssize_t r, q;                                                                 \
        FC_T m = -(FC_T)INFINITY;                                                        \
        int64_t t = first;                                                               \
        for (r = 0; r < R; r++) {                                                        \
            const FC_T *s = src + pp * ps + soff[r] + c;                                 \
            for (q = 0; q < Q; q++, s += ss) {                                           \
                FC_T x = *s;                                                             \
                if (x > m || x != x) {                                                   \
                    m = x;                                                               \
                    t = ridx[r] + pp * pis + q * qstep;                                  \
                }                                                                        \
            }                                                                            \
        }                                                                                \
        out[pp * os + c] = m;                                                            \
        if (idx)                                                                         \
            idx[pp * os + c] = t;                                                        \
    } while (0)
    Py_ssize_t pp;
    for (pp = 0; pp < P; pp++, first += pis) {
        if (!narrow) {
            Py_ssize_t c;
            for (c = 0; c < n; c++)
                FC_NC_SCALAR;
        } else {
            FC_NC_BLOCKS(FC_NC_CALL, FC_NC_SCALAR)
        }
    }
#undef FC_NC_CALL
#undef FC_NC_SCALAR
}

/* Average pooling of P windows (position pp: src + pp*ps, out + pp*os): out[c] =
 * (0 + the taps in order) / div (forward, dv NULL), or (0 + tap (r, q) / dv[r*Q + q],
 * in order) (the gradient gathered per input element). */
FC_TGT static void FC_NC_FN(fc_nc_sum)(Py_ssize_t n, Py_ssize_t P, Py_ssize_t ps,
                                       Py_ssize_t os, Py_ssize_t R, Py_ssize_t Q,
                                       const FC_T *src, const Py_ssize_t *soff, Py_ssize_t ss,
                                       const FC_T *dv, FC_T div, FC_T *out)
{
#define FC_NC_CALL(NV) FC_NC_FN(fc_nc_sum_blk)(NV, 1, 0, 0, R, Q, src + pp * ps + c, soff, ss, \
                                               dv, div, out + pp * os + c)
#define FC_NC_SCALAR                                                                     \
    do {                                                                                 \
        Py_ssize_t r, q;                                                                 \
        FC_T a = 0;                                                                      \
        for (r = 0; r < R; r++) {                                                        \
            const FC_T *s = src + pp * ps + soff[r] + c;                                 \
            for (q = 0; q < Q; q++, s += ss)                                             \
                a += dv ? *s / dv[r * Q + q] : *s;                                       \
        }                                                                                \
        out[pp * os + c] = dv ? a : a / div;                                             \
    } while (0)
    Py_ssize_t pp;
    if (!dv && P == 1 && R * Q >= 16) {
        /* a large window (global pooling): the sums kept in `out` (in L1), each tap's
         * run of channels added whole -- the input read in long contiguous runs, not
         * a block of channels at a time down the window; the same operations per
         * channel in the same order */
        FC_T *FC_NC_RESTRICT o = out;
        Py_ssize_t r, q, c;
        for (c = 0; c < n; c++)
            o[c] = 0;
        for (r = 0; r < R; r++) {
            const FC_T *s = src + soff[r];
            for (q = 0; q < Q; q++, s += ss) {
                const FC_T *FC_NC_RESTRICT t = s;
                for (c = 0; c < n; c++)
                    o[c] += t[c];
            }
        }
        for (c = 0; c < n; c++)
            o[c] = o[c] / div;
        return;
    }
    for (pp = 0; pp < P; pp++) {
        FC_NC_BLOCKS(FC_NC_CALL, FC_NC_SCALAR)
    }
#undef FC_NC_CALL
#undef FC_NC_SCALAR
}

/* dst[ix, k*Og + m] = x[ix*C + k] (k < nc, m < Og): an input row's channels each
 * repeated Og times, the o order of the weight and the output (Og = 2 and 4 as
 * constants: the compiler vectorises them into interleaving stores). */
FC_TGT static void FC_NC_FN(fc_nc_expand)(Py_ssize_t W, Py_ssize_t C, Py_ssize_t nc,
                                          Py_ssize_t Og, const FC_T *x, FC_T *FC_NC_RESTRICT dst)
{
    Py_ssize_t ix, k, m;
    for (ix = 0; ix < W; ix++, x += C, dst += nc * Og) {
        const FC_T *FC_NC_RESTRICT s = x;
        if (Og == 2) {
            for (k = 0; k < nc; k++) {
                dst[2 * k] = s[k];
                dst[2 * k + 1] = s[k];
            }
        } else if (Og == 4) {
            for (k = 0; k < nc; k++) {
                dst[4 * k] = s[k];
                dst[4 * k + 1] = s[k];
                dst[4 * k + 2] = s[k];
                dst[4 * k + 3] = s[k];
            }
        } else {
            for (k = 0; k < nc; k++)
                for (m = 0; m < Og; m++)
                    dst[k * Og + m] = s[k];
        }
    }
}

/* out[k] = acc[k*Og] + acc[k*Og + 1] + ... (in order m = 0, 1, ...; Og = 2 as a
 * constant: the compiler vectorises it with deinterleaving loads). */
FC_TGT static void FC_NC_FN(fc_nc_fold)(Py_ssize_t nc, Py_ssize_t Og,
                                        const FC_T *FC_NC_RESTRICT acc, FC_T *FC_NC_RESTRICT out)
{
    Py_ssize_t k, m;
    if (Og == 2) {
        for (k = 0; k < nc; k++)
            out[k] = acc[2 * k] + acc[2 * k + 1];
        return;
    }
    for (k = 0; k < nc; k++) {
        FC_T a = acc[k * Og];
        for (m = 1; m < Og; m++)
            a += acc[k * Og + m];
        out[k] = a;
    }
}

#undef FC_NC_BLOCKS
#if FC_NC_VEC
#undef FC_V
#undef FC_IV
#undef FC_LD
#undef FC_ST
#endif
#undef FC_NC_FN
#undef FC_NC_CAT
#undef FC_NC_CAT2
#undef FC_T
#undef FC_I
#undef FC_SUF
#undef FC_TGT
#undef FC_VB
#undef FC_VL
