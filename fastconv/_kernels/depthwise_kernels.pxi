# Depthwise convolution (groups == C, Cg == 1, any channel multiplier Og = O/groups),
# rank 1 to 3 (lifted to D, H, W).  (Included by _engine.pyx.)
#
# Direct loops along rows instead of GEMMs with M = Og and K = taps (the generic
# routes' shape for depthwise layers, which wastes the GEMM on tiny products):
#
#   forward      task (n, o, block of blk output rows)  each output row: bias, then
#                every tap row inside the input added along the row
#   grad_input   task (n, g, block of blk input rows)   gathered per input row over
#                the multipliers and taps (no scatter: the task owns its rows)
#   grad_weight  task (chunk of samples, o)             per tap and output column,
#                summed over the chunk's samples and rows; partial[chunk, g, tap, m]
#
# The row loops are C (fc_depthwise.h), compiled for AVX-512, AVX2+FMA and the
# baseline ISA; the variant is the GEMM's (fc_dw_select, at import).

cdef extern from "fc_depthwise.h" nogil:
    void fc_dw_select(int variant)
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

fc_dw_select({"avx512": 2, "avx2": 1}.get(_gemm.variant(), 0))


cdef void depthwise_forward(const fc_problem *p,
                            const floating *x, const floating *w, const floating *bias,  # IN
                            floating *out,                                              # OUT
                            int n_threads) noexcept nogil:
    """FC_CONV_FWD_DEPTHWISE: task (n, o, block of ``blk`` output rows)."""
    cdef Py_ssize_t R = p.out[0] * p.out[1], rb = p.blk
    cdef Py_ssize_t nrb = cdiv(R, rb) if rb > 0 else 0
    cdef Py_ssize_t O = p.O, Og = p.Og
    cdef Py_ssize_t task, n, o, b, r0, r1
    cdef floating bo
    if nrb == 0:
        return
    for task in prange(p.N * O * nrb, num_threads=n_threads, schedule="static"):
        n = task // (O * nrb)
        o = (task // nrb) % O
        b = task % nrb
        r0 = b * rb
        r1 = r0 + rb
        if r1 > R:
            r1 = R
        bo = bias[o] if bias != NULL else 0
        if floating is float:
            fc_dw_fwd_f32(p, x + (n * p.C + o // Og) * p.in_vol, w + o * p.taps, bo,
                          out + (n * O + o) * p.L, r0, r1)
        else:
            fc_dw_fwd_f64(p, x + (n * p.C + o // Og) * p.in_vol, w + o * p.taps, bo,
                          out + (n * O + o) * p.L, r0, r1)


cdef void depthwise_grad_input(const fc_problem *p,
                               const floating *go,    # IN  (N, O, L)
                               const floating *wt,    # IN  (G, taps, Og): W^T
                               floating *gx,          # OUT (N, C, in_vol), written whole
                               floating *ws, int n_threads) noexcept nogil:
    """FC_CONV_BWI_DEPTHWISE: task (n, g, block of ``blk`` input rows)."""
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t R = p.in_[0] * p.in_[1], rb = p.blk
    cdef Py_ssize_t nrb = cdiv(R, rb) if rb > 0 else 0
    cdef Py_ssize_t G = p.groups, Og = p.Og
    cdef Py_ssize_t task, n, gi, b, r0, r1
    cdef floating *buf
    if nrb == 0:
        return
    for task in prange(p.N * G * nrb, num_threads=n_threads, schedule="static"):
        n = task // (G * nrb)
        gi = (task // nrb) % G
        b = task % nrb
        r0 = b * rb
        r1 = r0 + rb
        if r1 > R:
            r1 = R
        buf = ws + threadid() * lay.per_thread
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
    """FC_CONV_BWW_DEPTHWISE: task (chunk of samples, o); the caller sums the partials
    in chunk order."""
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t O = p.O
    cdef Py_ssize_t task
    for task in prange(p.chunks * O, num_threads=n_threads, schedule="static"):
        if floating is float:
            fc_dw_bww_f32(p, go, x, part, ws + threadid() * lay.per_thread, task // O,
                          task % O)
        else:
            fc_dw_bww_f64(p, go, x, part, ws + threadid() * lay.per_thread, task // O,
                          task % O)
