/* fastconv: the depthwise loops, one variant.  Included by fc_depthwise.h with
 * FC_T (float or double), FC_SUF (the names' suffix) and FC_TGT (the target
 * attribute, or nothing) defined; it undefines them at the end.
 *
 * No include guard: included once per variant. */
#define FC_DW_CAT2(a, b) a##_##b
#define FC_DW_CAT(a, b) FC_DW_CAT2(a, b)
#define FC_DW_FN(name) FC_DW_CAT(name, FC_SUF)

/* acc[q] += w[0]*src[off + q*s] + w[ws]*src[off + dt + q*s] + ... (K taps, in this
 * order) for q in [lo, hi).  K and s are constants where it is inlined: the tap loop
 * unrolls and the loop along the row vectorises. */
FC_TGT FC_DW_INLINE void FC_DW_FN(fc_dw_taps)(FC_T *FC_DW_RESTRICT acc,
                                              const FC_T *FC_DW_RESTRICT src, Py_ssize_t off,
                                              Py_ssize_t dt, Py_ssize_t s, const FC_T *w,
                                              Py_ssize_t ws, int K, Py_ssize_t lo, Py_ssize_t hi)
{
    FC_T wk[7];
    Py_ssize_t q;
    int k;
    for (k = 0; k < K; k++)
        wk[k] = w[k * ws];
    for (q = lo; q < hi; q++) {
        FC_T t = acc[q];
        for (k = 0; k < K; k++)
            t += wk[k] * src[off + k * dt + q * s];
        acc[q] = t;
    }
}

#define FC_DW_TAPS_K(S)                                                                  \
    switch (g) {                                                                         \
    case 1: FC_DW_FN(fc_dw_taps)(acc, src, o0, dt, S, w0, ws, 1, LO, HI); break;         \
    case 2: FC_DW_FN(fc_dw_taps)(acc, src, o0, dt, S, w0, ws, 2, LO, HI); break;         \
    case 3: FC_DW_FN(fc_dw_taps)(acc, src, o0, dt, S, w0, ws, 3, LO, HI); break;         \
    case 4: FC_DW_FN(fc_dw_taps)(acc, src, o0, dt, S, w0, ws, 4, LO, HI); break;         \
    case 5: FC_DW_FN(fc_dw_taps)(acc, src, o0, dt, S, w0, ws, 5, LO, HI); break;         \
    case 6: FC_DW_FN(fc_dw_taps)(acc, src, o0, dt, S, w0, ws, 6, LO, HI); break;         \
    default: FC_DW_FN(fc_dw_taps)(acc, src, o0, dt, S, w0, ws, 7, LO, HI); break;        \
    }

/* One kernel row: acc[q] (q in [0, n)) += w[k*ws] * src[off + k*dt + q*s] for the taps
 * k in [0, K) whose source index lies in [0, ns), in ascending k.  Taps go in groups
 * of at most 7: the range where all of a group's taps are inside runs them fused
 * (one pass over acc), the borders run them one at a time. */
FC_TGT static void FC_DW_FN(fc_dw_row)(FC_T *FC_DW_RESTRICT acc, Py_ssize_t n,
                                       const FC_T *FC_DW_RESTRICT src, Py_ssize_t ns,
                                       Py_ssize_t off, Py_ssize_t dt, Py_ssize_t s,
                                       const FC_T *w, Py_ssize_t ws, Py_ssize_t K)
{
    Py_ssize_t k0, k, g, lo, hi, LO, HI, h, l, o0;
    const FC_T *w0;
    for (k0 = 0; k0 < K; k0 += 7) {
        g = K - k0 < 7 ? K - k0 : 7;
        LO = 0;
        HI = n;
        for (k = k0; k < k0 + g; k++) {
            fc_valid_range(off + k * dt, s, n, ns, &lo, &hi);
            if (lo > LO)
                LO = lo;
            if (hi < HI)
                HI = hi;
        }
        if (LO >= HI)
            LO = HI = n;   /* no interior: the borders below cover every tap's range */
        o0 = off + k0 * dt;
        w0 = w + k0 * ws;
        if (LO < HI) {
            if (s == 1) {
                FC_DW_TAPS_K(1)
            } else if (s == 2) {
                FC_DW_TAPS_K(2)
            } else {
                FC_DW_TAPS_K(s)
            }
        }
        for (k = k0; k < k0 + g; k++) {
            fc_valid_range(off + k * dt, s, n, ns, &lo, &hi);
            h = hi < LO ? hi : LO;
            l = lo > HI ? lo : HI;
            if (s == 1) {
                if (lo < h)
                    FC_DW_FN(fc_dw_taps)(acc, src, off + k * dt, 0, 1, w + k * ws, 0, 1, lo, h);
                if (l < hi)
                    FC_DW_FN(fc_dw_taps)(acc, src, off + k * dt, 0, 1, w + k * ws, 0, 1, l, hi);
            } else {
                if (lo < h)
                    FC_DW_FN(fc_dw_taps)(acc, src, off + k * dt, 0, s, w + k * ws, 0, 1, lo, h);
                if (l < hi)
                    FC_DW_FN(fc_dw_taps)(acc, src, off + k * dt, 0, s, w + k * ws, 0, 1, l, hi);
            }
        }
    }
}

/* Forward, output rows [r0, r1) (of the OD*OH rows) of one output channel's plane
 * yo: bias b, then for each tap row (a, i) inside the input, its kW taps in order.
 * xc is the input channel's volume, w the channel's taps (kD*kH*kW). */
FC_TGT static void FC_DW_FN(fc_dw_fwd)(const fc_problem *p, const FC_T *xc, const FC_T *w,
                                       FC_T b, FC_T *yo, Py_ssize_t r0, Py_ssize_t r1)
{
    const Py_ssize_t D = p->in[0], H = p->in[1], W = p->in[2], OH = p->out[1], OW = p->out[2];
    Py_ssize_t r, q, oz, oy, a, i, a0, a1, i0, i1, iz, iy;
    for (r = r0; r < r1; r++) {
        FC_T *acc = yo + r * OW;
        oz = r / OH;
        oy = r - oz * OH;
        for (q = 0; q < OW; q++)
            acc[q] = b;
        fc_valid_range(oz * p->s[0] - p->pb[0], p->d[0], p->k[0], D, &a0, &a1);
        fc_valid_range(oy * p->s[1] - p->pb[1], p->d[1], p->k[1], H, &i0, &i1);
        for (a = a0; a < a1; a++) {
            iz = oz * p->s[0] - p->pb[0] + a * p->d[0];
            for (i = i0; i < i1; i++) {
                iy = oy * p->s[1] - p->pb[1] + i * p->d[1];
                FC_DW_FN(fc_dw_row)(acc, OW, xc + (iz * H + iy) * W, W, -p->pb[2], p->d[2],
                                    p->s[2], w + (a * p->k[1] + i) * p->k[2], 1, p->k[2]);
            }
        }
    }
}

/* grad_input, input rows [r0, r1) (of the D*H rows) of one input channel's volume gx,
 * gathered: input x[iz, iy, ix] receives w[m, a, i, j] * go[m, oz, oy, ox] for every
 * multiplier m and tap with oz*sD - pD + a*dD = iz (and so on), summed in the order
 * m, a, i, j.  go is the group's Og output planes, wt its taps as (taps, Og).
 * With sW > 1 the input columns of one stride phase ph (ix = ph + q*sW) read
 * consecutive columns of go: they are summed in buf (sW phases of cdiv(W, sW)) and
 * then interleaved into the row. */
FC_TGT static void FC_DW_FN(fc_dw_bwi)(const fc_problem *p, const FC_T *go, const FC_T *wt,
                                       FC_T *gx, FC_T *buf, Py_ssize_t r0, Py_ssize_t r1)
{
    const Py_ssize_t H = p->in[1], W = p->in[2];
    const Py_ssize_t OD = p->out[0], OH = p->out[1], OW = p->out[2];
    const Py_ssize_t sD = p->s[0], sH = p->s[1], sW = p->s[2];
    const Py_ssize_t kH = p->k[1], kW = p->k[2], dW = p->d[2], pW = p->pb[2];
    const Py_ssize_t Og = p->Og, L = p->L;
    const Py_ssize_t Wq = (W + sW - 1) / sW;
    Py_ssize_t r, q, iz, iy, m, a, i, tz, ty, oz, oy, j0, ph, c, nq, K, P, gcd, u, v;
    const FC_T *gorow;
    const FC_T *wr;
    FC_T *row;
    /* taps j and j + P have the same phase (P = sW / gcd(dW, sW)) */
    gcd = sW;
    u = dW % sW;
    while (u) {
        v = gcd % u;
        gcd = u;
        u = v;
    }
    P = sW / gcd;
    for (r = r0; r < r1; r++) {
        iz = r / H;
        iy = r - iz * H;
        row = gx + r * W;
        if (sW == 1)
            memset(row, 0, W * sizeof(FC_T));
        else
            memset(buf, 0, sW * Wq * sizeof(FC_T));
        for (m = 0; m < Og; m++) {
            for (a = 0; a < p->k[0]; a++) {
                tz = iz + p->pb[0] - a * p->d[0];
                if (tz < 0 || tz % sD)
                    continue;
                oz = tz / sD;
                if (oz >= OD)
                    continue;
                for (i = 0; i < kH; i++) {
                    ty = iy + p->pb[1] - i * p->d[1];
                    if (ty < 0 || ty % sH)
                        continue;
                    oy = ty / sH;
                    if (oy >= OH)
                        continue;
                    gorow = go + m * L + (oz * OH + oy) * OW;
                    wr = wt + (a * kH + i) * kW * Og + m;
                    if (sW == 1) {
                        FC_DW_FN(fc_dw_row)(row, W, gorow, OW, pW, -dW, 1, wr, Og, kW);
                        continue;
                    }
                    for (j0 = 0; j0 < P && j0 < kW; j0++) {
                        ph = ((j0 * dW - pW) % sW + sW) % sW;
                        if (ph >= W)
                            continue;
                        c = (ph + pW - j0 * dW) / sW;   /* exact */
                        nq = (W - ph + sW - 1) / sW;
                        K = (kW - 1 - j0) / P + 1;
                        FC_DW_FN(fc_dw_row)(buf + ph * Wq, nq, gorow, OW, c, -(P * dW) / sW,
                                            1, wr + j0 * Og, P * Og, K);
                    }
                }
            }
        }
        if (sW > 1) {
            for (ph = 0; ph < sW && ph < W; ph++) {
                nq = (W - ph + sW - 1) / sW;
                for (q = 0; q < nq; q++)
                    row[ph + q * sW] = buf[ph * Wq + q];
            }
        }
    }
}

/* grad_weight of output channel o over the samples of one chunk: acc (taps rows of OW)
 * sums go[n, o, oz, oy, ox] * x[n, g, iz, iy, ix] per tap and output column, over the
 * chunk's samples and output rows in ascending order; then each tap's row is summed in
 * ascending ox into part[chunk, g, tap, m] (partials laid out (chunks, G, taps, Og)). */
FC_TGT static void FC_DW_FN(fc_dw_bww)(const fc_problem *p, const FC_T *go, const FC_T *x,
                                       FC_T *part, FC_T *acc, Py_ssize_t chunk, Py_ssize_t o)
{
    const Py_ssize_t D = p->in[0], H = p->in[1], W = p->in[2], OH = p->out[1], OW = p->out[2];
    const Py_ssize_t sW = p->s[2], dW = p->d[2], pW = p->pb[2], kW = p->k[2];
    const Py_ssize_t Og = p->Og, taps = p->taps, R = p->out[0] * OH;
    const Py_ssize_t g = o / Og, m = o - g * Og;
    const Py_ssize_t n0 = chunk * p->N / p->chunks, n1 = (chunk + 1) * p->N / p->chunks;
    Py_ssize_t n, r, q, oz, oy, a, i, j, a0, a1, i0, i1, iz, iy, ix0, lo, hi, t;
    const FC_T *FC_DW_RESTRICT gorow;
    const FC_T *FC_DW_RESTRICT src;
    FC_T *FC_DW_RESTRICT accr;
    FC_T sum;
    memset(acc, 0, taps * OW * sizeof(FC_T));
    for (n = n0; n < n1; n++) {
        const FC_T *xc = x + (n * p->C + g) * p->in_vol;
        for (r = 0; r < R; r++) {
            gorow = go + (n * p->O + o) * p->L + r * OW;
            oz = r / OH;
            oy = r - oz * OH;
            fc_valid_range(oz * p->s[0] - p->pb[0], p->d[0], p->k[0], D, &a0, &a1);
            fc_valid_range(oy * p->s[1] - p->pb[1], p->d[1], p->k[1], H, &i0, &i1);
            for (a = a0; a < a1; a++) {
                iz = oz * p->s[0] - p->pb[0] + a * p->d[0];
                for (i = i0; i < i1; i++) {
                    iy = oy * p->s[1] - p->pb[1] + i * p->d[1];
                    src = xc + (iz * H + iy) * W;
                    for (j = 0; j < kW; j++) {
                        ix0 = j * dW - pW;
                        fc_valid_range(ix0, sW, OW, W, &lo, &hi);
                        accr = acc + ((a * p->k[1] + i) * kW + j) * OW;
                        if (sW == 1) {
                            for (q = lo; q < hi; q++)
                                accr[q] += gorow[q] * src[ix0 + q];
                        } else if (sW == 2) {
                            for (q = lo; q < hi; q++)
                                accr[q] += gorow[q] * src[ix0 + 2 * q];
                        } else {
                            for (q = lo; q < hi; q++)
                                accr[q] += gorow[q] * src[ix0 + q * sW];
                        }
                    }
                }
            }
        }
    }
    for (t = 0; t < taps; t++) {
        sum = 0;
        for (q = 0; q < OW; q++)
            sum += acc[t * OW + q];
        part[((chunk * p->groups + g) * taps + t) * Og + m] = sum;
    }
}

#undef FC_DW_TAPS_K
#undef FC_DW_FN
#undef FC_DW_CAT
#undef FC_DW_CAT2
#undef FC_T
#undef FC_SUF
#undef FC_TGT
