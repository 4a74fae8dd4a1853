# Depthwise convolution (groups == C, Cg == 1, any channel multiplier Og = O/groups),
# rank 1 to 3 (lifted to D, H, W).  (Included by _engine.pyx.)
#
# Direct loops along rows instead of GEMMs with M = Og and K = taps (the generic
# routes' shape for depthwise layers, which wastes the GEMM on tiny products):
#
#   forward      task (n, lt groups, blk output rows)    the rows the block reads copied
#                into a zero-padded, stride-phase-split tile; each multiplier's
#                outputs one flat vector loop over it (a tap = an offset)
#   grad_input   task (n, lt groups, blk input rows)    per stride phase of the rows, a
#                stride-1 correlation of a grad_output tile (no scatter: the task
#                owns its rows), summed over the multipliers
#   grad_weight  task (chunk of samples, g)             per tap, a dot product of the
#                forward tile with grad_output; partial[chunk, g, tap, m]
#
# Those are the tile kernels of 1-D and 2-D problems (fc_dwtile_body.h); 3-D problems
# run the row loops of fc_depthwise_body.h in the same tasks.  Both are C
# (fc_depthwise.h), compiled for AVX-512, AVX2+FMA and the baseline ISA; the variant
# is the GEMM's (fc_dw_select, at import).

cdef extern from "fc_depthwise.h" nogil:
    void fc_dw_select(int variant)
    bint fc_dwt_planar(const fc_problem *p)
    void fc_dw_fwd_f32(const fc_problem *p, const float *xc, const float *w, float b,
                       float *yo, Py_ssize_t r0, Py_ssize_t r1)
    void fc_dw_fwd_f64(const fc_problem *p, const double *xc, const double *w, double b,
                       double *yo, Py_ssize_t r0, Py_ssize_t r1)
    void fc_dw_bwi_f32(const fc_problem *p, const float *go, const float *wt, float *gx,
                       float *buf, Py_ssize_t r0, Py_ssize_t r1)
    void fc_dw_bwi_f64(const fc_problem *p, const double *go, const double *wt, double *gx,
                       double *buf, Py_ssize_t r0, Py_ssize_t r1)
    void fc_dw_bww_f32(const fc_problem *p, const float *go, const float *x, float *part,
                       float *acc, Py_ssize_t chunk, Py_ssize_t o)
    void fc_dw_bww_f64(const fc_problem *p, const double *go, const double *x, double *part,
                       double *acc, Py_ssize_t chunk, Py_ssize_t o)
    void fc_dwt_fwd_f32(const fc_problem *p, const float *xn, const float *w, const float *b,
                        float *yn, float *ws, Py_ssize_t g0, Py_ssize_t g1, Py_ssize_t r0,
                        Py_ssize_t r1)
    void fc_dwt_fwd_f64(const fc_problem *p, const double *xn, const double *w,
                        const double *b, double *yn, double *ws, Py_ssize_t g0, Py_ssize_t g1,
                        Py_ssize_t r0, Py_ssize_t r1)
    void fc_dwt_bwi_f32(const fc_problem *p, const float *go, const float *wt, float *gx,
                        float *ws, Py_ssize_t g0, Py_ssize_t g1, Py_ssize_t r0, Py_ssize_t r1)
    void fc_dwt_bwi_f64(const fc_problem *p, const double *go, const double *wt, double *gx,
                        double *ws, Py_ssize_t g0, Py_ssize_t g1, Py_ssize_t r0, Py_ssize_t r1)
    void fc_dwt_bww_f32(const fc_problem *p, const float *go, const float *x, float *part,
                        float *ws, Py_ssize_t chunk, Py_ssize_t g)
    void fc_dwt_bww_f64(const fc_problem *p, const double *go, const double *x, double *part,
                        double *ws, Py_ssize_t chunk, Py_ssize_t g)

fc_dw_select({"avx512": 2, "avx2": 1}.get(_gemm.variant(), 0))


cdef void depthwise_forward(const fc_problem *p,
                            const floating *x, const floating *w, const floating *bias,  # IN
                            floating *out,                                              # OUT
                            floating *ws, int n_threads) noexcept nogil:
    """FC_CONV_FWD_DEPTHWISE: task (n, block of ``lt`` groups, block of ``blk`` output
    rows), all Og multipliers of each group."""
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t R = p.out[0] * p.out[1], rb = p.blk, G = p.groups, Og = p.Og
    cdef Py_ssize_t nrb = cdiv(R, rb) if rb > 0 else 0
    cdef Py_ssize_t ngb = cdiv(G, p.lt) if p.lt > 0 else 0
    cdef Py_ssize_t task, n, gb, b, r0, r1, g0, g1, gi, m, o
    cdef bint planar = fc_dwt_planar(p)
    cdef floating *buf
    cdef floating bo
    if nrb == 0 or ngb == 0:
        return
    for task in prange(p.N * ngb * nrb, num_threads=n_threads, schedule="static"):
        n = task // (ngb * nrb)
        gb = (task // nrb) % ngb
        b = task % nrb
        r0 = b * rb
        r1 = r0 + rb
        if r1 > R:
            r1 = R
        g0 = gb * p.lt
        g1 = g0 + p.lt
        if g1 > G:
            g1 = G
        buf = ws + threadid() * lay.per_thread
        if planar:
            if floating is float:
                fc_dwt_fwd_f32(p, x + n * p.C * p.in_vol, w, bias, out + n * p.O * p.L, buf,
                               g0, g1, r0, r1)
            else:
                fc_dwt_fwd_f64(p, x + n * p.C * p.in_vol, w, bias, out + n * p.O * p.L, buf,
                               g0, g1, r0, r1)
            continue
        for o in range(g0 * Og, g1 * Og):
            gi = o // Og
            bo = bias[o] if bias != NULL else 0
            if floating is float:
                fc_dw_fwd_f32(p, x + (n * p.C + gi) * p.in_vol, w + o * p.taps, bo,
                              out + (n * p.O + o) * p.L, r0, r1)
            else:
                fc_dw_fwd_f64(p, x + (n * p.C + gi) * p.in_vol, w + o * p.taps, bo,
                              out + (n * p.O + o) * p.L, r0, r1)


cdef void depthwise_grad_input(const fc_problem *p,
                               const floating *go,    # IN  (N, O, L)
                               const floating *wt,    # IN  (G, taps, Og): W^T
                               floating *gx,          # OUT (N, C, in_vol), written whole
                               floating *ws, int n_threads) noexcept nogil:
    """FC_CONV_BWI_DEPTHWISE: task (n, block of ``lt`` groups, block of ``blk`` input
    rows)."""
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t R = p.in_[0] * p.in_[1], rb = p.blk, G = p.groups, Og = p.Og
    cdef Py_ssize_t nrb = cdiv(R, rb) if rb > 0 else 0
    cdef Py_ssize_t ngb = cdiv(G, p.lt) if p.lt > 0 else 0
    cdef Py_ssize_t task, n, gb, b, r0, r1, g0, g1, gi
    cdef bint planar = fc_dwt_planar(p)
    cdef floating *buf
    if nrb == 0 or ngb == 0:
        return
    for task in prange(p.N * ngb * nrb, num_threads=n_threads, schedule="static"):
        n = task // (ngb * nrb)
        gb = (task // nrb) % ngb
        b = task % nrb
        r0 = b * rb
        r1 = r0 + rb
        if r1 > R:
            r1 = R
        g0 = gb * p.lt
        g1 = g0 + p.lt
        if g1 > G:
            g1 = G
        buf = ws + threadid() * lay.per_thread
        if planar:
            if floating is float:
                fc_dwt_bwi_f32(p, go + n * p.O * p.L, wt, gx + n * p.C * p.in_vol, buf,
                               g0, g1, r0, r1)
            else:
                fc_dwt_bwi_f64(p, go + n * p.O * p.L, wt, gx + n * p.C * p.in_vol, buf,
                               g0, g1, r0, r1)
            continue
        for gi in range(g0, g1):
            if floating is float:
                fc_dw_bwi_f32(p, go + (n * p.O + gi * Og) * p.L, wt + gi * p.taps * Og,
                              gx + (n * p.C + gi) * p.in_vol, buf, r0, r1)
            else:
                fc_dw_bwi_f64(p, go + (n * p.O + gi * Og) * p.L, wt + gi * p.taps * Og,
                              gx + (n * p.C + gi) * p.in_vol, buf, r0, r1)


cdef void depthwise_grad_weight(const fc_problem *p,
                                const floating *go,   # IN  (N, O, L)
                                const floating *x,    # IN  (N, C, in_vol)
                                floating *part,       # OUT (chunks, G, taps, Og)
                                floating *ws, int n_threads) noexcept nogil:
    """FC_CONV_BWW_DEPTHWISE: task (chunk of samples, g), all Og multipliers; the
    caller sums the partials in chunk order."""
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t G = p.groups, Og = p.Og
    cdef Py_ssize_t task, m
    cdef bint planar = fc_dwt_planar(p)
    cdef floating *buf
    for task in prange(p.chunks * G, num_threads=n_threads, schedule="static"):
        buf = ws + threadid() * lay.per_thread
        if planar:
            if floating is float:
                fc_dwt_bww_f32(p, go, x, part, buf, task // G, task % G)
            else:
                fc_dwt_bww_f64(p, go, x, part, buf, task // G, task % G)
            continue
        for m in range(Og):
            if floating is float:
                fc_dw_bww_f32(p, go, x, part, buf, task // G, (task % G) * Og + m)
            else:
                fc_dw_bww_f64(p, go, x, part, buf, task // G, (task % G) * Og + m)
