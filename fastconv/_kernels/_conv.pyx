# cython: language_level=3
"""Convolution, im2col and col2im kernels (2-D; 1-D ops use H = 1).

Layout of the work
------------------
Convolution is computed as GEMMs over *tiles* of the im2col matrix: a task
builds the im2col rows it needs for ``lt`` output positions into a per-thread
workspace of ``rows x lt`` elements, then multiplies.  The whole batch's
im2col matrix never exists.  The tiling (``lt``, row and channel blocks) is
chosen by the Python wrapper from the shape alone, never from the thread
count, and each output element is produced by exactly one task that sums in
a fixed order: results are bitwise identical for any number of threads.

* forward:       task (n, g, tile)       out[n, g, tile]   = W_g . cols_tile
* grad_input:    task (n, g, chan block) cols_blk = W_g^T . go[n, g, tile],
                                         col2im-added into its own channels
* grad_weight:   task (g, row block)     gw[g, :, rows]   += go[n, g, tile] . colsT_tile
                                         (the tile is built transposed: positions x rows)
* grad_bias:     task o                  sum over n, positions

1x1 kernels with stride 1 and no padding skip im2col: the input planes are
already the column matrix.

The wrappers in ``fastconv/conv.py`` and ``fastconv/im2col.py`` validate
everything first; nothing here raises.
"""
cimport cython
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.string cimport memset, memcpy

from fastconv._kernels._ranges cimport valid_range

cdef extern from "fc_omp.h" nogil:
    pass

# The GEMM lives in fastconv._kernels._gemm (compiled once; cross-module cimport).
from fastconv._kernels._gemm cimport (
    gemm_nn_f32 as fc_gemm_nn_f32, gemm_nn_f64 as fc_gemm_nn_f64,
    gemm_ind_f32 as fc_gemm_ind_f32, gemm_ind_f64 as fc_gemm_ind_f64,
    gemm_rows_f32 as fc_gemm_rows_f32, gemm_rows_f64 as fc_gemm_rows_f64)
from fastconv._kernels import _gemm

cnp.import_array()


def gemm_variant():
    """The GEMM micro-kernel chosen for this CPU: 'avx512', 'avx2' or 'generic'."""
    return _gemm.variant()


def gemm_panel_width(bint is_f64):
    """Columns per GEMM panel (the micro-kernel's NR) for float32 / float64."""
    return _gemm.panel_width(is_f64)


cdef struct Geom:
    Py_ssize_t C, H, W          # input channels and plane (of the whole tensor)
    Py_ssize_t OH, OW, L        # output plane, L = OH * OW
    Py_ssize_t kh, kw, khw      # kernel
    Py_ssize_t sh, sw           # stride
    Py_ssize_t pt, pl           # padding before (top, left)
    Py_ssize_t dh, dw           # dilation


cdef Geom make_geom(Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                    Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                    Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw) noexcept:
    cdef Geom g
    g.C = C; g.H = H; g.W = W
    g.OH = OH; g.OW = OW; g.L = OH * OW
    g.kh = kh; g.kw = kw; g.khw = kh * kw
    g.sh = sh; g.sw = sw; g.pt = pt; g.pl = pl; g.dh = dh; g.dw = dw
    return g


cdef inline void tap_of(Py_ssize_t r, const Geom *g,
                        Py_ssize_t *c, Py_ssize_t *i, Py_ssize_t *j) noexcept nogil:
    """Channel and kernel tap of im2col row r = c*kh*kw + i*kw + j."""
    c[0] = r // g.khw
    i[0] = (r - c[0] * g.khw) // g.kw
    j[0] = r - c[0] * g.khw - i[0] * g.kw


cdef inline void next_tap(const Geom *g, Py_ssize_t *c, Py_ssize_t *i,
                          Py_ssize_t *j) noexcept nogil:
    """Advance (c, i, j) to the next im2col row, with carries (no division)."""
    j[0] += 1
    if j[0] == g.kw:
        j[0] = 0
        i[0] += 1
        if i[0] == g.kh:
            i[0] = 0
            c[0] += 1


cdef void im2col_tile(const floating *xc, const Geom *g,          # IN: channel-block base
                      Py_ssize_t r0, Py_ssize_t r1,
                      Py_ssize_t l0, Py_ssize_t nl,
                      floating *buf, Py_ssize_t rs, Py_ssize_t cs) noexcept nogil:  # OUT
    """Rows [r0, r1) and columns [l0, l0+nl) of the im2col matrix of one sample.

    Row r = c*kh*kw + i*kw + j (c relative to ``xc``), column l = oy*OW + ox.
    Element (r, l) goes to ``buf[(r - r0)*rs + (l - l0)*cs]``: ``cs == 1`` writes
    the im2col tile, ``rs == 1`` its transpose.  The rows are walked as
    (c, i, j) with carries and the columns as output-row segments, so the
    only divisions are per tile (and per segment for strides > 1).
    """
    cdef Py_ssize_t r, c, i, j, oy, ox, oy0, ox0, p, seg, iy, lo, hi, q
    cdef Py_ssize_t ix0 = 0
    cdef const floating *plane
    cdef const floating *src = xc
    cdef floating *row
    cdef Py_ssize_t nrows
    cdef bint inside
    if r1 <= r0 or nl <= 0:
        return
    oy0 = l0 // g.OW
    ox0 = l0 - oy0 * g.OW
    tap_of(r0, g, &c, &i, &j)
    # every window inside the input (no padding reached), stride 1 along rows, and a
    # tile of whole output rows: each segment is a plain copy of OW elements
    inside = (g.pt == 0 and g.pl == 0 and (g.OH - 1) * g.sh + (g.kh - 1) * g.dh < g.H
              and (g.OW - 1) * g.sw + (g.kw - 1) * g.dw < g.W)
    if inside and cs == 1 and g.sw == 1 and ox0 == 0 and nl % g.OW == 0:
        nrows = nl // g.OW
        for r in range(r0, r1):
            src = xc + c * g.H * g.W + (oy0 * g.sh + i * g.dh) * g.W + j * g.dw
            row = buf + (r - r0) * rs
            for oy in range(nrows):
                for q in range(g.OW):
                    row[oy * g.OW + q] = src[oy * g.sh * g.W + q]
            next_tap(g, &c, &i, &j)
        return
    for r in range(r0, r1):
        plane = xc + c * g.H * g.W
        row = buf + (r - r0) * rs
        oy = oy0
        ox = ox0
        p = 0
        while p < nl:
            seg = g.OW - ox
            if seg > nl - p:
                seg = nl - p
            iy = oy * g.sh - g.pt + i * g.dh
            if iy < 0 or iy >= g.H:
                lo = seg
                hi = seg
            else:
                src = plane + iy * g.W
                ix0 = ox * g.sw - g.pl + j * g.dw
                valid_range(ix0, g.sw, seg, g.W, &lo, &hi)
            if cs == 1:
                for q in range(lo):
                    row[p + q] = 0
                if g.sw == 1:
                    for q in range(lo, hi):
                        row[p + q] = src[ix0 + q]
                else:
                    for q in range(lo, hi):
                        row[p + q] = src[ix0 + q * g.sw]
                for q in range(hi, seg):
                    row[p + q] = 0
            else:
                for q in range(lo):
                    row[(p + q) * cs] = 0
                for q in range(lo, hi):
                    row[(p + q) * cs] = src[ix0 + q * g.sw]
                for q in range(hi, seg):
                    row[(p + q) * cs] = 0
            p += seg
            ox = 0
            oy += 1
        next_tap(g, &c, &i, &j)


cdef void col2im_tile_add(const floating *buf, Py_ssize_t ldb,           # IN: (r1-r0) x nl
                          const Geom *g, Py_ssize_t r0, Py_ssize_t r1,
                          Py_ssize_t l0, Py_ssize_t nl,
                          floating *xc) noexcept nogil:                   # IN/OUT: channel-block base
    """Scatter-add rows [r0, r1), columns [l0, l0+nl) of a column matrix into images."""
    cdef Py_ssize_t r, c, i, j, oy, ox, oy0, ox0, p, seg, iy, ix0, lo, hi, q
    cdef floating *dst
    cdef const floating *row
    if r1 <= r0 or nl <= 0:
        return
    oy0 = l0 // g.OW
    ox0 = l0 - oy0 * g.OW
    tap_of(r0, g, &c, &i, &j)
    for r in range(r0, r1):
        row = buf + (r - r0) * ldb
        oy = oy0
        ox = ox0
        p = 0
        while p < nl:
            seg = g.OW - ox
            if seg > nl - p:
                seg = nl - p
            iy = oy * g.sh - g.pt + i * g.dh
            if iy >= 0 and iy < g.H:
                dst = xc + c * g.H * g.W + iy * g.W
                ix0 = ox * g.sw - g.pl + j * g.dw
                valid_range(ix0, g.sw, seg, g.W, &lo, &hi)
                if g.sw == 1:
                    for q in range(lo, hi):
                        dst[ix0 + q] += row[p + q]
                else:
                    for q in range(lo, hi):
                        dst[ix0 + q * g.sw] += row[p + q]
            p += seg
            ox = 0
            oy += 1
        next_tap(g, &c, &i, &j)


cdef inline void gemm_nn(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                         const floating *A, Py_ssize_t lda, const floating *B, Py_ssize_t ldb,
                         floating *C, Py_ssize_t ldc, int accumulate) noexcept nogil:
    if floating is float:
        fc_gemm_nn_f32(M, N, K, A, lda, B, ldb, C, ldc, accumulate)
    else:
        fc_gemm_nn_f64(M, N, K, A, lda, B, ldb, C, ldc, accumulate)


cdef inline bint is_direct(const Geom *g) noexcept nogil:
    """1x1 kernel, stride 1, no padding: the input planes are the column matrix."""
    return (g.kh == 1 and g.kw == 1 and g.sh == 1 and g.sw == 1 and g.pt == 0 and g.pl == 0
            and g.OH == g.H and g.OW == g.W)


# ------------------------------------------------------------------ strips
#
# The strip path of the forward convolution never builds im2col tiles.  For a
# tile of output columns it copies the input rows the tile reads into a strip:
# zero-padded, and split by stride phase, so that every tap (c, i, j) sees the
# tile's output columns as a run of consecutive strip elements within an
# output row.  The GEMM then gathers its B panels straight from the strip
# (fc_gemm_ind: B[k][v] = S[offs[k] + cols[v]]).

cdef struct Strip:
    Py_ssize_t oya          # first output row of the tile
    Py_ssize_t qa           # first phase column kept (single-row tiles start mid-row)
    Py_ssize_t rows, wt     # rows and width of one phase plane


cdef Strip strip_of(const Geom *g, Py_ssize_t l0, Py_ssize_t nl) noexcept nogil:
    """The strip shape for output columns [l0, l0+nl) of a plane."""
    cdef Strip st
    cdef Py_ssize_t oyb = (l0 + nl - 1) // g.OW
    st.oya = l0 // g.OW
    if oyb == st.oya:
        st.qa = l0 - st.oya * g.OW
        st.wt = nl + (g.kw - 1) * g.dw // g.sw
    else:
        st.qa = 0
        st.wt = g.OW + (g.kw - 1) * g.dw // g.sw
    st.rows = oyb - st.oya + 1 + (g.kh - 1) * g.dh // g.sh
    return st


cdef void build_strip(const floating *xc, const Geom *g, Py_ssize_t Cg, const Strip *st,
                      floating *S) noexcept nogil:                       # OUT
    """Plane (c, pi, pj) at S + ((c*sh + pi)*sw + pj)*rows*wt holds
    xpad[c, (oya + t)*sh + pi, (qa + q)*sw + pj] at (t, q); phases no tap reads are skipped."""
    cdef Py_ssize_t c, pi, pj, t, q, i, iy, ix0, lo, hi
    cdef Py_ssize_t plane = st.rows * st.wt
    cdef const floating *src
    cdef floating *row
    cdef bint used
    for pi in range(g.sh):
        used = False
        for i in range(g.kh):
            if (i * g.dh) % g.sh == pi:
                used = True
        if not used:
            continue
        for pj in range(g.sw):
            used = False
            for i in range(g.kw):
                if (i * g.dw) % g.sw == pj:
                    used = True
            if not used:
                continue
            ix0 = st.qa * g.sw + pj - g.pl
            valid_range(ix0, g.sw, st.wt, g.W, &lo, &hi)
            for c in range(Cg):
                for t in range(st.rows):
                    row = S + ((c * g.sh + pi) * g.sw + pj) * plane + t * st.wt
                    iy = (st.oya + t) * g.sh + pi - g.pt
                    if iy < 0 or iy >= g.H:
                        memset(row, 0, st.wt * sizeof(floating))
                        continue
                    src = xc + (c * g.H + iy) * g.W + ix0
                    for q in range(lo):
                        row[q] = 0
                    if g.sw == 1:
                        for q in range(lo, hi):
                            row[q] = src[q]
                    else:
                        for q in range(lo, hi):
                            row[q] = src[q * g.sw]
                    for q in range(hi, st.wt):
                        row[q] = 0


cdef void strip_taps(const Geom *g, Py_ssize_t Cg, const Strip *st,
                     Py_ssize_t *offs) noexcept nogil:                   # OUT (Cg*kh*kw)
    """offs[k] for every tap k = (c, i, j): strip element offs[k] + cols[l] is the
    input tap k reads for output column l (see strip_cols)."""
    cdef Py_ssize_t c, i, j, k = 0, hrow
    cdef Py_ssize_t plane = st.rows * st.wt
    for c in range(Cg):
        for i in range(g.kh):
            hrow = ((c * g.sh + (i * g.dh) % g.sh) * g.sw) * plane + (i * g.dh) // g.sh * st.wt
            for j in range(g.kw):
                offs[k] = hrow + (j * g.dw) % g.sw * plane + (j * g.dw) // g.sw
                k += 1


cdef void strip_cols(const Geom *g, const Strip *st, Py_ssize_t l0, Py_ssize_t nl,
                     Py_ssize_t *cols) noexcept nogil:                   # OUT (nl)
    """cols[v] for every column l0 + v of the tile."""
    cdef Py_ssize_t v, oy, ox
    oy = st.oya
    ox = l0 - oy * g.OW
    for v in range(nl):
        cols[v] = (oy - st.oya) * st.wt + ox - st.qa
        ox += 1
        if ox == g.OW:
            ox = 0
            oy += 1


cdef inline void gemm_ind(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                          const floating *A, Py_ssize_t lda, const floating *S,
                          const Py_ssize_t *offs, const Py_ssize_t *cols,
                          floating *C, Py_ssize_t ldc, const floating *rowinit) noexcept nogil:
    """C = rowinit (per row; zeros if NULL) + A . B, B[k][n] = S[offs[k] + cols[n]]."""
    if floating is float:
        fc_gemm_ind_f32(M, N, K, A, lda, S, offs, cols, C, ldc, rowinit)
    else:
        fc_gemm_ind_f64(M, N, K, A, lda, S, offs, cols, C, ldc, rowinit)


# ------------------------------------------------------------------ forward

cdef void forward_impl(const floating *x, const floating *w, const floating *bias,
                       floating *out, floating *ws, Py_ssize_t ws_stride,
                       Py_ssize_t N, Py_ssize_t O, const Geom *g,
                       Py_ssize_t groups, Py_ssize_t lt, bint strip, Py_ssize_t ws_ints,
                       int n_threads) noexcept nogil:
    cdef Py_ssize_t Cg = g.C // groups, Og = O // groups, Kg = Cg * g.khw, L = g.L
    cdef Py_ssize_t n_tiles = (L + lt - 1) // lt
    cdef Py_ssize_t n_tasks = N * groups * n_tiles
    cdef Py_ssize_t task, n, gi, t, l0, nl, o, l
    cdef bint direct = is_direct(g)
    cdef floating *buf
    cdef floating *dst
    cdef const floating *xc
    cdef Py_ssize_t *ind
    cdef Strip st
    if n_tasks == 0 or Og == 0:
        return
    for task in prange(n_tasks, num_threads=n_threads, schedule="static"):
        n = task // (groups * n_tiles)
        gi = (task // n_tiles) % groups
        t = task % n_tiles
        l0 = t * lt
        nl = L - l0
        if nl > lt:
            nl = lt
        dst = out + (n * O + gi * Og) * L + l0
        xc = x + (n * g.C + gi * Cg) * g.H * g.W
        if strip:
            # per-thread workspace: offs (Kg) and cols (lt) indices, then the strip;
            # the GEMM starts each output row at its bias (no separate pass over dst)
            ind = <Py_ssize_t *>(ws + threadid() * ws_stride)
            buf = ws + threadid() * ws_stride + ws_ints
            st = strip_of(g, l0, nl)
            build_strip(xc, g, Cg, &st, buf)
            strip_taps(g, Cg, &st, ind)
            strip_cols(g, &st, l0, nl, ind + Kg)
            gemm_ind(Og, nl, Kg, w + gi * Og * Kg, Kg, buf, ind, ind + Kg, dst, L,
                     bias + gi * Og if bias != NULL else NULL)
            continue
        for o in range(Og):
            for l in range(nl):
                dst[o * L + l] = bias[gi * Og + o] if bias != NULL else 0
        if direct:
            gemm_nn(Og, nl, Kg, w + gi * Og * Kg, Kg, xc + l0, L, dst, L, 1)
        else:
            buf = ws + threadid() * ws_stride
            im2col_tile(xc, g, 0, Kg, l0, nl, buf, lt, 1)
            gemm_nn(Og, nl, Kg, w + gi * Og * Kg, Kg, buf, lt, dst, L, 1)


def conv2d_forward(cnp.ndarray x,       # IN  (N, C, H, W), C-contiguous float32/float64
                   cnp.ndarray w,       # IN  (O, Cg*kh*kw), same dtype
                   object bias,         # IN  (O,) same dtype, or None
                   cnp.ndarray out,     # OUT (N, O, OH, OW)
                   cnp.ndarray ws,      # scratch: n_threads * ws_stride elements
                   Py_ssize_t ws_stride,
                   Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                   Py_ssize_t O, Py_ssize_t OH, Py_ssize_t OW,
                   Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                   Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw,
                   Py_ssize_t groups, Py_ssize_t lt, bint strip, Py_ssize_t ws_ints,
                   int n_threads):
    """Forward convolution.  The wrapper guarantees dtypes, contiguity and sizes:
    this entry takes raw buffers (no memoryview set-up) to keep small calls cheap.
    ``strip``: gather GEMM panels from padded input strips (else im2col tiles);
    each thread's ``ws_stride`` elements then start with ``ws_ints`` elements
    holding Kg + lt Py_ssize_t indices."""
    cdef Geom g = make_geom(C, H, W, OH, OW, kh, kw, sh, sw, pt, pl, dh, dw)
    cdef void *b = NULL if bias is None else cnp.PyArray_DATA(<cnp.ndarray>bias)
    cdef void *px = cnp.PyArray_DATA(x)
    cdef void *pw = cnp.PyArray_DATA(w)
    cdef void *po = cnp.PyArray_DATA(out)
    cdef void *pws = cnp.PyArray_DATA(ws)
    if cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT32:
        with nogil:
            forward_impl[float](<const float *>px, <const float *>pw, <const float *>b,
                                <float *>po, <float *>pws, ws_stride, N, O, &g, groups, lt,
                                strip, ws_ints, n_threads)
    else:
        with nogil:
            forward_impl[double](<const double *>px, <const double *>pw, <const double *>b,
                                 <double *>po, <double *>pws, ws_stride, N, O, &g, groups, lt,
                                 strip, ws_ints, n_threads)


# -------------------------------------------------------------- grad input

def conv2d_backward_input(const floating[:, :, :, ::1] go,   # IN  (N, O, OH, OW)
                          const floating[:, :, ::1] wt,      # IN  (G, Cg*kh*kw, Og): W_g^T
                          floating[:, :, :, ::1] gx,         # OUT (N, C, H, W)
                          floating[:, ::1] ws,               # scratch (threads, cblk*kh*kw*lt)
                          Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                          Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw,
                          Py_ssize_t groups, Py_ssize_t cblk, Py_ssize_t lt, int n_threads):
    cdef Py_ssize_t N = gx.shape[0], O = go.shape[1]
    cdef Geom g = make_geom(gx.shape[1], gx.shape[2], gx.shape[3], go.shape[2], go.shape[3],
                            kh, kw, sh, sw, pt, pl, dh, dw)
    cdef Py_ssize_t Cg = g.C // groups, Og = O // groups, L = g.L
    cdef Py_ssize_t n_cb = (Cg + cblk - 1) // cblk
    cdef Py_ssize_t n_tiles = (L + lt - 1) // lt
    cdef Py_ssize_t n_tasks = N * groups * n_cb
    cdef Py_ssize_t task, n, gi, cb, c0, c1, r0, r1, t, l0, nl
    cdef bint direct = is_direct(&g)
    cdef floating *buf
    cdef floating *xc
    cdef const floating *gop
    if n_tasks == 0 or L == 0:
        return
    with nogil:
        for task in prange(n_tasks, num_threads=n_threads, schedule="static"):
            n = task // (groups * n_cb)
            gi = (task // n_cb) % groups
            cb = task % n_cb
            c0 = cb * cblk
            c1 = c0 + cblk
            if c1 > Cg:
                c1 = Cg
            r0 = c0 * g.khw
            r1 = c1 * g.khw
            xc = &gx[n, gi * Cg, 0, 0]
            gop = &go[n, gi * Og, 0, 0]
            buf = &ws[threadid(), 0]
            if not direct:  # the task's own channels start at zero (first touch in parallel)
                memset(xc + c0 * g.H * g.W, 0, (c1 - c0) * g.H * g.W * sizeof(floating))
            for t in range(n_tiles):
                l0 = t * lt
                nl = L - l0
                if nl > lt:
                    nl = lt
                if direct:
                    gemm_nn(r1 - r0, nl, Og, &wt[gi, r0, 0], Og, gop + l0, L,
                            xc + c0 * L + l0, L, 0)
                else:
                    gemm_nn(r1 - r0, nl, Og, &wt[gi, r0, 0], Og, gop + l0, L, buf, lt, 0)
                    col2im_tile_add(buf, lt, &g, r0, r1, l0, nl, xc)


# ------------------------------------------------------------- grad weight

def conv2d_backward_weight(const floating[:, :, :, ::1] go,   # IN  (N, O, OH, OW)
                           const floating[:, :, :, ::1] x,    # IN  (N, C, H, W)
                           floating[:, ::1] gw,               # OUT (O, Cg*kh*kw), zero-filled
                           floating[:, ::1] ws,               # scratch (threads, lt*kb)
                           Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                           Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw,
                           Py_ssize_t groups, Py_ssize_t kb, Py_ssize_t lt, int n_threads):
    cdef Py_ssize_t N = x.shape[0], O = go.shape[1]
    cdef Geom g = make_geom(x.shape[1], x.shape[2], x.shape[3], go.shape[2], go.shape[3],
                            kh, kw, sh, sw, pt, pl, dh, dw)
    cdef Py_ssize_t Cg = g.C // groups, Og = O // groups, Kg = Cg * g.khw, L = g.L
    cdef Py_ssize_t n_kb = (Kg + kb - 1) // kb
    cdef Py_ssize_t n_tiles = (L + lt - 1) // lt
    cdef Py_ssize_t n_tasks = groups * n_kb
    cdef Py_ssize_t task, n, gi, b, r0, r1, t, l0, nl
    cdef floating *buf
    cdef const floating *xc
    cdef const floating *gop
    if n_tasks == 0 or Og == 0 or N == 0 or L == 0:
        return
    with nogil:
        for task in prange(n_tasks, num_threads=n_threads, schedule="static"):
            gi = task // n_kb
            b = task % n_kb
            r0 = b * kb
            r1 = r0 + kb
            if r1 > Kg:
                r1 = Kg
            buf = &ws[threadid(), 0]
            for n in range(N):
                xc = &x[n, gi * Cg, 0, 0]
                gop = &go[n, gi * Og, 0, 0]
                for t in range(n_tiles):
                    l0 = t * lt
                    nl = L - l0
                    if nl > lt:
                        nl = lt
                    # transposed im2col tile (nl x rows), then gw += go_tile . tile
                    im2col_tile(xc, &g, r0, r1, l0, nl, buf, 1, kb)
                    gemm_nn(Og, r1 - r0, nl, gop + l0, L, buf, kb, &gw[gi * Og, r0], Kg, 1)


cdef void transpose_columns(const floating *src, Py_ssize_t lds, Py_ssize_t rows,
                            Py_ssize_t cols, floating *dst) noexcept nogil:   # OUT cols x rows
    """dst[l, o] = src[o*lds + l]: a rows x cols block transposed, in blocks of 16
    columns so that the 16 destination rows being written stay in L1."""
    cdef Py_ssize_t q, q1, o, l
    q = 0
    while q < cols:
        q1 = q + 16 if q + 16 < cols else cols
        for o in range(rows):
            for l in range(q, q1):
                dst[l * rows + o] = src[o * lds + l]
        q = q1


def conv2d_backward_weight_strip(const floating[:, :, :, ::1] go,   # IN  (N, O, OH, OW)
                                 const floating[:, :, :, ::1] x,    # IN  (N, C, H, W)
                                 floating[:, :, :, ::1] partial,    # OUT (P, G, Kg, Og), zero-filled
                                 floating[:, ::1] ws,               # scratch (threads, ws_cols)
                                 Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                                 Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw,
                                 Py_ssize_t groups, Py_ssize_t lt,
                                 Py_ssize_t ws_ints, Py_ssize_t ws_got, int n_threads):
    """grad_weight transposed, split over samples, from strips.

    Task (chunk p of the batch, group g): for each of its samples, then each
    column tile, in order: the tile's strip, grad_output's tile transposed
    (``nl x Og``), and ``partial[p, g] += cols . go_tile^T`` by a GEMM whose A
    rows (the im2col rows) are read straight from the strip, one output-row
    segment of the tile at a time (``fc_gemm_rows``).  The chunks are fixed by
    the shape; the caller sums the partials in chunk order.  Workspace per
    thread: ``ws_ints`` elements of indices (Kg tap offsets, segment sources and
    lengths), ``ws_got`` for the transposed tile, then the strip.
    """
    cdef Py_ssize_t N = x.shape[0], O = go.shape[1], P = partial.shape[0]
    cdef Geom g = make_geom(x.shape[1], x.shape[2], x.shape[3], go.shape[2], go.shape[3],
                            kh, kw, sh, sw, pt, pl, dh, dw)
    cdef Py_ssize_t Cg = g.C // groups, Og = O // groups, Kg = Cg * g.khw, L = g.L
    cdef Py_ssize_t n_tiles = (L + lt - 1) // lt
    cdef Py_ssize_t task, p, n, n0, n1, gi, t, l0, nl, nseg, l, oy, ox
    cdef floating *base
    cdef floating *got
    cdef floating *S
    cdef Py_ssize_t *aoffs
    cdef Py_ssize_t *seg_src
    cdef Py_ssize_t *seg_len
    cdef const floating *gop
    cdef Strip st
    if P == 0 or Og == 0 or L == 0:
        return
    with nogil:
        for task in prange(P * groups, num_threads=n_threads, schedule="static"):
            p = task // groups
            gi = task % groups
            n0 = p * N // P
            n1 = (p + 1) * N // P
            base = &ws[threadid(), 0]
            aoffs = <Py_ssize_t *>base
            seg_src = aoffs + Kg
            seg_len = seg_src + lt + 2
            got = base + ws_ints
            S = got + ws_got
            for n in range(n0, n1):
                gop = &go[n, gi * Og, 0, 0]
                for t in range(n_tiles):
                    l0 = t * lt
                    nl = L - l0
                    if nl > lt:
                        nl = lt
                    st = strip_of(&g, l0, nl)
                    build_strip(&x[n, gi * Cg, 0, 0], &g, Cg, &st, S)
                    strip_taps(&g, Cg, &st, aoffs)
                    # the tile's output-row segments, as runs of strip columns
                    nseg = 0
                    oy = st.oya
                    ox = l0 - oy * g.OW
                    l = 0
                    while l < nl:
                        seg_src[nseg] = (oy - st.oya) * st.wt + ox - st.qa
                        seg_len[nseg] = g.OW - ox if g.OW - ox < nl - l else nl - l
                        l = l + seg_len[nseg]
                        nseg = nseg + 1
                        ox = 0
                        oy = oy + 1
                    transpose_columns(gop + l0, L, Og, nl, got)
                    gemm_rows(Kg, Og, S, aoffs, seg_src, seg_len, nseg, got, Og,
                              &partial[p, gi, 0, 0], Og)


cdef inline void gemm_rows(Py_ssize_t M, Py_ssize_t N, const floating *S,
                           const Py_ssize_t *aoffs, const Py_ssize_t *seg_src,
                           const Py_ssize_t *seg_len, Py_ssize_t nseg,
                           const floating *B, Py_ssize_t ldb,
                           floating *C, Py_ssize_t ldc) noexcept nogil:
    if floating is float:
        fc_gemm_rows_f32(M, N, S, aoffs, seg_src, seg_len, nseg, B, ldb, C, ldc)
    else:
        fc_gemm_rows_f64(M, N, S, aoffs, seg_src, seg_len, nseg, B, ldb, C, ldc)


def conv2d_backward_weight_chunked(const floating[:, :, :, ::1] go,   # IN  (N, O, OH, OW)
                                   const floating[:, :, :, ::1] x,    # IN  (N, C, H, W)
                                   floating[:, :, :, ::1] partial,    # OUT (P, G, Kg, Og), zero-filled
                                   floating[:, ::1] ws,               # scratch (threads, L*(Kg+Og))
                                   Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                                   Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw,
                                   Py_ssize_t groups, int n_threads):
    """grad_weight for small planes, split over samples.

    Task (chunk p of the batch, group g): for each of its samples in order, the
    whole im2col matrix (Kg x L, contiguous rows) and grad_output transposed
    (L x Og) are built, and ``partial[p, g] += cols . go^T`` (Kg x Og).  The
    chunks are fixed by the shape; the caller sums the partials in chunk order.
    """
    cdef Py_ssize_t N = x.shape[0], O = go.shape[1], P = partial.shape[0]
    cdef Geom g = make_geom(x.shape[1], x.shape[2], x.shape[3], go.shape[2], go.shape[3],
                            kh, kw, sh, sw, pt, pl, dh, dw)
    cdef Py_ssize_t Cg = g.C // groups, Og = O // groups, Kg = Cg * g.khw, L = g.L
    cdef Py_ssize_t task, p, gi, n, n0, n1
    cdef floating *cols
    cdef floating *goT
    cdef const floating *gop
    if P == 0 or Og == 0 or L == 0:
        return
    with nogil:
        for task in prange(P * groups, num_threads=n_threads, schedule="static"):
            p = task // groups
            gi = task % groups
            n0 = p * N // P
            n1 = (p + 1) * N // P
            cols = &ws[threadid(), 0]
            goT = cols + Kg * L
            for n in range(n0, n1):
                im2col_tile(&x[n, gi * Cg, 0, 0], &g, 0, Kg, 0, L, cols, L, 1)
                gop = &go[n, gi * Og, 0, 0]
                transpose_columns(gop, L, Og, L, goT)
                gemm_nn(Kg, Og, L, cols, L, goT, Og, &partial[p, gi, 0, 0], Og, 1)


def conv_backward_bias(const floating[:, :, ::1] go,    # IN  (N, O, L)
                       floating[::1] gb,                # OUT (O,)
                       int n_threads):
    cdef Py_ssize_t N = go.shape[0], O = go.shape[1], L = go.shape[2]
    cdef Py_ssize_t o, n, l
    cdef floating s
    with nogil:
        for o in prange(O, num_threads=n_threads, schedule="static"):
            s = 0
            for n in range(N):
                for l in range(L):
                    s = s + go[n, o, l]
            gb[o] = s


# ---------------------------------------------------------- im2col / col2im

def im2col(const floating[:, :, :, ::1] x,          # IN  (N, C, H, W)
           floating[:, :, ::1] cols,                # OUT (N, C*kh*kw, OH*OW)
           Py_ssize_t OH, Py_ssize_t OW,
           Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
           Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw, int n_threads):
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1]
    cdef Geom g = make_geom(C, x.shape[2], x.shape[3], OH, OW, kh, kw, sh, sw, pt, pl, dh, dw)
    cdef Py_ssize_t plane, n, c
    if N * C == 0 or g.L == 0:
        return
    with nogil:
        for plane in prange(N * C, num_threads=n_threads, schedule="static"):
            n = plane // C
            c = plane % C
            im2col_tile(&x[n, c, 0, 0], &g, 0, g.khw, 0, g.L, &cols[n, c * g.khw, 0], g.L, 1)


def col2im(const floating[:, :, ::1] cols,         # IN  (N, C*kh*kw, OH*OW)
           floating[:, :, :, ::1] out,             # OUT (N, C, H, W)
           Py_ssize_t OH, Py_ssize_t OW,
           Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
           Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw, int n_threads):
    cdef Py_ssize_t N = out.shape[0], C = out.shape[1]
    cdef Geom g = make_geom(C, out.shape[2], out.shape[3], OH, OW, kh, kw, sh, sw, pt, pl, dh, dw)
    cdef Py_ssize_t plane, n, c
    if N * C == 0 or g.L == 0:
        return
    with nogil:
        for plane in prange(N * C, num_threads=n_threads, schedule="static"):
            n = plane // C
            c = plane % C
            memset(&out[n, c, 0, 0], 0, g.H * g.W * sizeof(floating))
            col2im_tile_add(&cols[n, c * g.khw, 0], g.L, &g, 0, g.khw, 0, g.L, &out[n, c, 0, 0])
