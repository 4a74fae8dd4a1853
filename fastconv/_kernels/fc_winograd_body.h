/* fastconv: the Winograd F(2x2, 3x3) transforms, one variant.  Included by
 * fc_winograd.h with FC_T (float or double), FC_SUF (the names' suffix) and FC_TGT
 * (the target attribute, or nothing) defined; it undefines them at the end.
 *
 * A task covers a run of whole tile rows of the flattened (sample, tile row)
 * sequence: tile row r is sample r / TH, tile row ty = r % TH, tiles tx < TW, each
 * the 2x2 outputs (2ty.., 2tx..) read from the 4x4 inputs (2ty - pbH.., 2tx - pbW..),
 * zero outside the input.  Transformed values are indexed xi = 4a + b (a: row, b:
 * column of the 4x4 tile), tile t = (row in the run) * TW + tx:
 *   V[xi][c][t] = (B^T d B)[a][b]       d: channel c's 4x4 input tile
 *   U[xi][o][c] = (G g G^T)[a][b]       g: the 3x3 kernel of (o, c)
 *   M[xi][o][t] = sum_c U[xi][o][c] V[xi][c][t]    (the GEMMs, in the caller)
 *   y[o] tile   = A^T m A (+ bias)      m[a][b] = M[4a + b][o][t]
 * with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; 1/2 1/2 1/2;
 * 1/2 -1/2 1/2; 0 0 1], A^T = [1 1 1 0; 0 1 -1 -1].  Every value is computed by one
 * fixed sequence of operations, whatever the task split or thread count.  The loops
 * run along a tile row (contiguous arrays of TW tiles) and vectorise for the target.
 *
 * No include guard: included once per variant. */
#define FC_WG_CAT2(a, b) a##_##b
#define FC_WG_CAT(a, b) FC_WG_CAT2(a, b)
#define FC_WG_FN(name) FC_WG_CAT(name, FC_SUF)

/* U[xi][o][c] (xi stride xs, o stride C) for the no output channels from o0 (U points
 * at channel o0's row of xi = 0); w is (O, C, 3, 3). */
FC_TGT static void FC_WG_FN(fc_wg_weights)(const FC_T *w, Py_ssize_t C, Py_ssize_t o0,
                                           Py_ssize_t no, FC_T *U, Py_ssize_t xs)
{
    /* blocks of 64 input channels through a local buffer, then sixteen contiguous
     * rows: the sixteen xi planes are xs apart (pages apart), one store each per (o, c)
     * cost more than the transform */
    FC_T tmp[16][64];
    Py_ssize_t o, c0, c, nc;
    int a, j, xi;
    for (o = 0; o < no; o++) {
        for (c0 = 0; c0 < C; c0 += 64) {
            nc = C - c0 < 64 ? C - c0 : 64;
            for (c = 0; c < nc; c++) {
                const FC_T *g = w + ((o0 + o) * C + c0 + c) * 9;
                FC_T t[4][3];
                for (j = 0; j < 3; j++) {           /* t = G g */
                    t[0][j] = g[j];
                    t[1][j] = (FC_T)0.5 * ((g[j] + g[3 + j]) + g[6 + j]);
                    t[2][j] = (FC_T)0.5 * ((g[j] - g[3 + j]) + g[6 + j]);
                    t[3][j] = g[6 + j];
                }
                for (a = 0; a < 4; a++) {           /* U = t G^T */
                    tmp[4 * a + 0][c] = t[a][0];
                    tmp[4 * a + 1][c] = (FC_T)0.5 * ((t[a][0] + t[a][1]) + t[a][2]);
                    tmp[4 * a + 2][c] = (FC_T)0.5 * ((t[a][0] - t[a][1]) + t[a][2]);
                    tmp[4 * a + 3][c] = t[a][2];
                }
            }
            for (xi = 0; xi < 16; xi++)
                memcpy(U + xi * xs + o * C + c0, tmp[xi], (size_t)nc * sizeof(FC_T));
        }
    }
}

/* The four-point steps, along n tiles (restrict parameters: the loops vectorise).
 * B^T: v0 = k0 - k2, v1 = k1 + k2, v2 = k2 - k1, v3 = k1 - k3. */
FC_TGT FC_WG_INLINE void FC_WG_FN(fc_wg_bt)(Py_ssize_t n, const FC_T *FC_WG_RESTRICT k0,
                                            const FC_T *FC_WG_RESTRICT k1,
                                            const FC_T *FC_WG_RESTRICT k2,
                                            const FC_T *FC_WG_RESTRICT k3,
                                            FC_T *FC_WG_RESTRICT v0, FC_T *FC_WG_RESTRICT v1,
                                            FC_T *FC_WG_RESTRICT v2, FC_T *FC_WG_RESTRICT v3)
{
    Py_ssize_t t;
    for (t = 0; t < n; t++) {
        v0[t] = k0[t] - k2[t];
        v1[t] = k1[t] + k2[t];
        v2[t] = k2[t] - k1[t];
        v3[t] = k1[t] - k3[t];
    }
}

/* A^T: s0 = (k0 + k1) + k2, s1 = (k1 - k2) - k3. */
FC_TGT FC_WG_INLINE void FC_WG_FN(fc_wg_at)(Py_ssize_t n, const FC_T *FC_WG_RESTRICT k0,
                                            const FC_T *FC_WG_RESTRICT k1,
                                            const FC_T *FC_WG_RESTRICT k2,
                                            const FC_T *FC_WG_RESTRICT k3,
                                            FC_T *FC_WG_RESTRICT s0, FC_T *FC_WG_RESTRICT s1)
{
    Py_ssize_t t;
    for (t = 0; t < n; t++) {
        s0[t] = (k0[t] + k1[t]) + k2[t];
        s1[t] = (k1[t] - k2[t]) - k3[t];
    }
}

/* The last A^T step with the bias, interleaved into an output row: row[2t] = s0 + b,
 * row[2t + 1] = s1 + b for t < nfull pairs, then row[2 nfull] = s0 + b if odd. */
FC_TGT FC_WG_INLINE void FC_WG_FN(fc_wg_at_row)(Py_ssize_t nfull, int odd,
                                                const FC_T *FC_WG_RESTRICT k0,
                                                const FC_T *FC_WG_RESTRICT k1,
                                                const FC_T *FC_WG_RESTRICT k2,
                                                const FC_T *FC_WG_RESTRICT k3, FC_T b,
                                                FC_T *FC_WG_RESTRICT row)
{
    Py_ssize_t t;
    for (t = 0; t < nfull; t++) {
        row[2 * t] = ((k0[t] + k1[t]) + k2[t]) + b;
        row[2 * t + 1] = ((k1[t] - k2[t]) - k3[t]) + b;
    }
    if (odd)
        row[2 * nfull] = ((k0[nfull] + k1[nfull]) + k2[nfull]) + b;
}

/* One input row (iy, possibly outside: zeros) as the four columns of its tiles:
 * dj[tx] = xpad[2 tx + j], tx < TW, through the zero-padded row R (2 TW + 2 elements). */
FC_TGT FC_WG_INLINE void FC_WG_FN(fc_wg_row)(const FC_T *plane, Py_ssize_t iy,
                                             Py_ssize_t H, Py_ssize_t W, Py_ssize_t pb,
                                             Py_ssize_t TW, FC_T *FC_WG_RESTRICT R,
                                             FC_T *FC_WG_RESTRICT d0, FC_T *FC_WG_RESTRICT d1,
                                             FC_T *FC_WG_RESTRICT d2, FC_T *FC_WG_RESTRICT d3)
{
    const Py_ssize_t n = 2 * TW + 2;
    Py_ssize_t m, lo, hi;
    if (iy < 0 || iy >= H) {
        memset(d0, 0, (size_t)TW * sizeof(FC_T));
        memset(d1, 0, (size_t)TW * sizeof(FC_T));
        memset(d2, 0, (size_t)TW * sizeof(FC_T));
        memset(d3, 0, (size_t)TW * sizeof(FC_T));
        return;
    }
    plane += iy * W;
    /* R[u] = x[u - pb] for 0 <= u - pb < W, else 0 */
    lo = pb < n ? pb : n;
    hi = W + pb < n ? W + pb : n;
    for (m = 0; m < lo; m++)
        R[m] = 0;
    for (m = lo; m < hi; m++)
        R[m] = plane[m - pb];
    for (m = hi > lo ? hi : lo; m < n; m++)
        R[m] = 0;
    for (m = 0; m < TW; m++) {
        d0[m] = R[2 * m];
        d1[m] = R[2 * m + 1];
        d2[m] = R[2 * m + 2];
        d3[m] = R[2 * m + 3];
    }
}

/* V for the tile rows [r0, r0 + nr): ldv = nr * TW tiles, xi stride C * ldv.
 * scratch: 2 * (TW + 1) + 32 * nr * TW elements.  Per channel, the 4x4 inputs of all
 * the block's tiles are laid out flat first (D[i][j][t] = d[i][j] of tile t), so the
 * transform's loops run over all nr * TW tiles at once, not one short tile row. */
FC_TGT static void FC_WG_FN(fc_wg_input)(const fc_problem *p, const FC_T *x, Py_ssize_t r0,
                                         Py_ssize_t nr, FC_T *V, FC_T *scratch)
{
    const Py_ssize_t H = p->in[1], W = p->in[2], C = p->C;
    const Py_ssize_t TH = (p->out[1] + 1) / 2, TW = (p->out[2] + 1) / 2;
    const Py_ssize_t nt = nr * TW, xs = C * nt;
    FC_T *Rw = scratch, *D = scratch + 2 * (TW + 1), *cq = D + 16 * nt;
    Py_ssize_t r, c;
    int i, b;
    for (c = 0; c < C; c++) {
        for (r = 0; r < nr; r++) {
            const Py_ssize_t n = (r0 + r) / TH, ty = (r0 + r) % TH;
            const FC_T *plane = x + (n * C + c) * H * W;
            for (i = 0; i < 4; i++) {
                FC_T *d = D + 4 * i * nt + r * TW;
                FC_WG_FN(fc_wg_row)(plane, 2 * ty + i - p->pb[1], H, W, p->pb[2], TW, Rw,
                                    d, d + nt, d + 2 * nt, d + 3 * nt);
            }
        }
        /* cq[i][b] = (d B)[i][b] */
        for (i = 0; i < 4; i++)
            FC_WG_FN(fc_wg_bt)(nt, D + (4 * i) * nt, D + (4 * i + 1) * nt, D + (4 * i + 2) * nt,
                               D + (4 * i + 3) * nt, cq + (4 * i) * nt, cq + (4 * i + 1) * nt,
                               cq + (4 * i + 2) * nt, cq + (4 * i + 3) * nt);
        /* V[4a + b] = (B^T (d B))[a][b] */
        for (b = 0; b < 4; b++)
            FC_WG_FN(fc_wg_bt)(nt, cq + b * nt, cq + (4 + b) * nt, cq + (8 + b) * nt,
                               cq + (12 + b) * nt, V + c * nt + b * xs, V + c * nt + (4 + b) * xs,
                               V + c * nt + (8 + b) * xs, V + c * nt + (12 + b) * xs);
    }
}

/* The outputs of channels [o0, o0 + no) for the tile rows [r0, r0 + nr) from M
 * (ldm = nr * TW tiles, xi stride no * ldm), plus the bias (if any) last.
 * scratch: 8 * nr * TW elements (the first A^T step over all the block's tiles). */
FC_TGT static void FC_WG_FN(fc_wg_output)(const fc_problem *p, const FC_T *M, Py_ssize_t r0,
                                          Py_ssize_t nr, Py_ssize_t o0, Py_ssize_t no,
                                          const FC_T *bias, FC_T *out, FC_T *scratch)
{
    const Py_ssize_t OH = p->out[1], OW = p->out[2], O = p->O;
    const Py_ssize_t TH = (OH + 1) / 2, TW = (OW + 1) / 2;
    const Py_ssize_t nt = nr * TW, xs = no * nt;
    FC_T *s = scratch;
    Py_ssize_t r, o;
    int b, i;
    for (o = 0; o < no; o++) {
        const FC_T bo = bias ? bias[o0 + o] : (FC_T)0;
        const FC_T *m = M + o * nt;
        /* s[i][b] = (A^T m)[i][b] */
        for (b = 0; b < 4; b++)
            FC_WG_FN(fc_wg_at)(nt, m + b * xs, m + (4 + b) * xs, m + (8 + b) * xs,
                               m + (12 + b) * xs, s + b * nt, s + (4 + b) * nt);
        for (r = 0; r < nr; r++) {
            const Py_ssize_t n = (r0 + r) / TH, ty = (r0 + r) % TH;
            FC_T *dst = out + ((n * O + o0 + o) * OH + 2 * ty) * OW;
            /* y[i][j] = ((A^T m) A)[i][j] + bias, interleaved into output row 2ty + i */
            for (i = 0; i < 2 && 2 * ty + i < OH; i++)
                FC_WG_FN(fc_wg_at_row)(OW / 2, (int)(OW % 2), s + (4 * i) * nt + r * TW,
                                       s + (4 * i + 1) * nt + r * TW,
                                       s + (4 * i + 2) * nt + r * TW,
                                       s + (4 * i + 3) * nt + r * TW, bo, dst + i * OW);
        }
    }
}

/* ---- channels-last (conv.forward.winograd_nhwc): x (N, H, W, C), w (3, 3, C, O),
 * y (N, OH, OW, O).  The same transforms and the same sequence of operations per value
 * as above, vectorised along the channels instead of along a tile row:
 *   U[xi][c][o] at U + xi*C*O + c*O          (the GEMMs' B, C x O a plane)
 *   V[xi][t][c] at V + xi*nt*C + t*C          (A, nt x C)
 *   M[xi][t][o] at M + xi*nt*no + t*no        (nt x no, the no channels from o0) */

/* U for the input channels [c0, c0 + nc), all O output channels. */
FC_TGT static void FC_WG_FN(fc_wgl_weights)(const FC_T *FC_WG_RESTRICT w, Py_ssize_t C,
                                            Py_ssize_t O, Py_ssize_t c0, Py_ssize_t nc,
                                            FC_T *FC_WG_RESTRICT U)
{
    const Py_ssize_t xs = C * O;
    Py_ssize_t c, o;
    for (c = c0; c < c0 + nc; c++) {
        const FC_T *g = w + c * O;             /* tap k of (c, o): g[k * C * O + o] */
        FC_T *u = U + c * O;
        for (o = 0; o < O; o++) {
            FC_T t[4][3];
            int a, j;
            for (j = 0; j < 3; j++) {          /* t = G g */
                const FC_T g0 = g[j * xs + o], g1 = g[(3 + j) * xs + o],
                           g2 = g[(6 + j) * xs + o];
                t[0][j] = g0;
                t[1][j] = (FC_T)0.5 * ((g0 + g1) + g2);
                t[2][j] = (FC_T)0.5 * ((g0 - g1) + g2);
                t[3][j] = g2;
            }
            for (a = 0; a < 4; a++) {          /* U = t G^T */
                u[(4 * a + 0) * xs + o] = t[a][0];
                u[(4 * a + 1) * xs + o] = (FC_T)0.5 * ((t[a][0] + t[a][1]) + t[a][2]);
                u[(4 * a + 2) * xs + o] = (FC_T)0.5 * ((t[a][0] - t[a][1]) + t[a][2]);
                u[(4 * a + 3) * xs + o] = t[a][2];
            }
        }
    }
}

/* V for the tile rows [r0, r0 + nr) (nt = nr * TW tiles).  scratch: 20 * C elements
 * (the sixteen rows of d B, then one input row's four columns with the padding). */
FC_TGT static void FC_WG_FN(fc_wgl_input)(const fc_problem *p, const FC_T *x, Py_ssize_t r0,
                                          Py_ssize_t nr, FC_T *V, FC_T *scratch)
{
    const Py_ssize_t H = p->in[1], W = p->in[2], C = p->C;
    const Py_ssize_t TH = (p->out[1] + 1) / 2, TW = (p->out[2] + 1) / 2;
    const Py_ssize_t nt = nr * TW, xs = nt * C;
    FC_T *cq = scratch, *seg = scratch + 16 * C;
    Py_ssize_t r, tx;
    int i, j, b;
    for (r = 0; r < nr; r++) {
        const Py_ssize_t n = (r0 + r) / TH, ty = (r0 + r) % TH;
        const Py_ssize_t iy0 = 2 * ty - p->pb[1];
        for (tx = 0; tx < TW; tx++) {
            const Py_ssize_t ix0 = 2 * tx - p->pb[2], t = r * TW + tx;
            const int inside = ix0 >= 0 && ix0 + 4 <= W;
            for (i = 0; i < 4; i++) {
                const Py_ssize_t iy = iy0 + i;
                FC_T *q = cq + 4 * i * C;
                const FC_T *s, *row;
                if (iy < 0 || iy >= H) {       /* (d B of a zero row: zeros) */
                    memset(q, 0, (size_t)(4 * C) * sizeof(FC_T));
                    continue;
                }
                row = x + (n * H + iy) * W * C;
                if (inside) {
                    s = row + ix0 * C;
                } else {
                    for (j = 0; j < 4; j++) {
                        if (ix0 + j >= 0 && ix0 + j < W)
                            memcpy(seg + j * C, row + (ix0 + j) * C, (size_t)C * sizeof(FC_T));
                        else
                            memset(seg + j * C, 0, (size_t)C * sizeof(FC_T));
                    }
                    s = seg;
                }
                /* cq[i][b] = (d B)[i][b] */
                FC_WG_FN(fc_wg_bt)(C, s, s + C, s + 2 * C, s + 3 * C, q, q + C, q + 2 * C,
                                   q + 3 * C);
            }
            /* V[4a + b] = (B^T (d B))[a][b] */
            for (b = 0; b < 4; b++)
                FC_WG_FN(fc_wg_bt)(C, cq + b * C, cq + (4 + b) * C, cq + (8 + b) * C,
                                   cq + (12 + b) * C, V + b * xs + t * C,
                                   V + (4 + b) * xs + t * C, V + (8 + b) * xs + t * C,
                                   V + (12 + b) * xs + t * C);
        }
    }
}

/* The last A^T step into one output position's channels (bias, or zeros, added last):
 * y0 = ((k0 + k1) + k2) + b, and y1 = ((k1 - k2) - k3) + b when y1 is not NULL. */
FC_TGT FC_WG_INLINE void FC_WG_FN(fc_wgl_at_out)(Py_ssize_t n, const FC_T *FC_WG_RESTRICT k0,
                                                 const FC_T *FC_WG_RESTRICT k1,
                                                 const FC_T *FC_WG_RESTRICT k2,
                                                 const FC_T *FC_WG_RESTRICT k3,
                                                 const FC_T *FC_WG_RESTRICT bias,
                                                 FC_T *FC_WG_RESTRICT y0,
                                                 FC_T *FC_WG_RESTRICT y1)
{
    Py_ssize_t o;
    if (bias && y1) {
        for (o = 0; o < n; o++) {
            y0[o] = ((k0[o] + k1[o]) + k2[o]) + bias[o];
            y1[o] = ((k1[o] - k2[o]) - k3[o]) + bias[o];
        }
    } else if (bias) {
        for (o = 0; o < n; o++)
            y0[o] = ((k0[o] + k1[o]) + k2[o]) + bias[o];
    } else if (y1) {
        for (o = 0; o < n; o++) {
            y0[o] = ((k0[o] + k1[o]) + k2[o]) + (FC_T)0;
            y1[o] = ((k1[o] - k2[o]) - k3[o]) + (FC_T)0;
        }
    } else {
        for (o = 0; o < n; o++)
            y0[o] = ((k0[o] + k1[o]) + k2[o]) + (FC_T)0;
    }
}

/* The outputs of channels [o0, o0 + no) for the tile rows [r0, r0 + nr) from M.
 * scratch: 8 * no elements (the first A^T step of one tile). */
FC_TGT static void FC_WG_FN(fc_wgl_output)(const fc_problem *p, const FC_T *M, Py_ssize_t r0,
                                           Py_ssize_t nr, Py_ssize_t o0, Py_ssize_t no,
                                           const FC_T *bias, FC_T *out, FC_T *scratch)
{
    const Py_ssize_t OH = p->out[1], OW = p->out[2], O = p->O;
    const Py_ssize_t TH = (OH + 1) / 2, TW = (OW + 1) / 2;
    const Py_ssize_t nt = nr * TW, xs = nt * no;
    const FC_T *bo = bias ? bias + o0 : NULL;
    FC_T *s = scratch;
    Py_ssize_t r, tx;
    int b, i;
    for (r = 0; r < nr; r++) {
        const Py_ssize_t n = (r0 + r) / TH, ty = (r0 + r) % TH;
        for (tx = 0; tx < TW; tx++) {
            const FC_T *m = M + (r * TW + tx) * no;
            const int two = 2 * tx + 1 < OW;
            /* s[i][b] = (A^T m)[i][b] at s + (4i + b) no */
            for (b = 0; b < 4; b++)
                FC_WG_FN(fc_wg_at)(no, m + b * xs, m + (4 + b) * xs, m + (8 + b) * xs,
                                   m + (12 + b) * xs, s + b * no, s + (4 + b) * no);
            for (i = 0; i < 2 && 2 * ty + i < OH; i++) {
                FC_T *dst = out + ((n * OH + 2 * ty + i) * OW + 2 * tx) * O + o0;
                FC_WG_FN(fc_wgl_at_out)(no, s + (4 * i) * no, s + (4 * i + 1) * no,
                                        s + (4 * i + 2) * no, s + (4 * i + 3) * no, bo, dst,
                                        two ? dst + O : NULL);
            }
        }
    }
}

#undef FC_WG_FN
#undef FC_WG_CAT
#undef FC_WG_CAT2
#undef FC_T
#undef FC_SUF
#undef FC_TGT
