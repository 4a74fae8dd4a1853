# conv.forward.winograd (FC_CONV_FWD_WINOGRAD): Winograd F(2x2, 3x3) for 3x3 kernels,
# stride 1, dilation 1, one group, channels-first 2-D data.  (Included by _engine.pyx.)
#
# First the transformed weights U (16 x O x C, the shared scratch), in tasks of 8 output
# channels.  Then task (block of lt tile rows of the flattened (sample, tile row)
# sequence, group of blk output channels, 0: all), group innermost: the block's
# transformed input V (16 x C x nt, nt = tile rows x TW tiles) once, then for each chunk
# of FC_WG_OB output channels sixteen GEMMs M[xi] = U[xi] . V[xi] (ob x nt, summed over C in ascending order by the GEMM's
# micro-kernel), then the output transform writes the tiles' outputs.  Each output is
# computed by one task in a fixed order, so the bits do not depend on the split or the
# thread count.  The transforms are C (fc_winograd.h), compiled for AVX-512, AVX2+FMA and
# the baseline ISA; the variant is the GEMM's.
#
# conv.forward.winograd_nhwc (FC_CONV_FWD_WINOGRAD_NHWC) is the same for channels-last
# data (x (N, H, W, C), weight (3, 3, C, O), y (N, OH, OW, O)) with the same tasks and
# the same operations per value; its planes are transposed: U[xi] is C x O (in tasks of
# 16 input channels), V[xi] nt x C, and the GEMMs M[xi] = V[xi] . U[xi][:, chunk].

cdef extern from "fc_winograd.h" nogil:
    enum: FC_WG_OB
    void fc_wg_select(int variant)
    Py_ssize_t fc_wg_tw(const fc_problem *p)
    Py_ssize_t fc_wg_v_elems(const fc_problem *p, Py_ssize_t rows)
    Py_ssize_t fc_wg_m_elems(const fc_problem *p, Py_ssize_t rows, Py_ssize_t ob)
    void fc_wg_weights_f32(const float *w, Py_ssize_t C, Py_ssize_t o0, Py_ssize_t no,
                           float *U, Py_ssize_t xs)
    void fc_wg_weights_f64(const double *w, Py_ssize_t C, Py_ssize_t o0, Py_ssize_t no,
                           double *U, Py_ssize_t xs)
    void fc_wg_input_f32(const fc_problem *p, const float *x, Py_ssize_t r0, Py_ssize_t nr,
                         float *V, float *scratch)
    void fc_wg_input_f64(const fc_problem *p, const double *x, Py_ssize_t r0, Py_ssize_t nr,
                         double *V, double *scratch)
    void fc_wg_output_f32(const fc_problem *p, const float *M, Py_ssize_t r0, Py_ssize_t nr,
                          Py_ssize_t o0, Py_ssize_t no, const float *bias, float *out,
                          float *scratch)
    void fc_wg_output_f64(const fc_problem *p, const double *M, Py_ssize_t r0, Py_ssize_t nr,
                          Py_ssize_t o0, Py_ssize_t no, const double *bias, double *out,
                          double *scratch)
    void fc_wgl_weights_f32(const float *w, Py_ssize_t C, Py_ssize_t O, Py_ssize_t c0,
                            Py_ssize_t nc, float *U)
    void fc_wgl_weights_f64(const double *w, Py_ssize_t C, Py_ssize_t O, Py_ssize_t c0,
                            Py_ssize_t nc, double *U)
    void fc_wgl_input_f32(const fc_problem *p, const float *x, Py_ssize_t r0, Py_ssize_t nr,
                          float *V, float *scratch)
    void fc_wgl_input_f64(const fc_problem *p, const double *x, Py_ssize_t r0, Py_ssize_t nr,
                          double *V, double *scratch)
    void fc_wgl_output_f32(const fc_problem *p, const float *M, Py_ssize_t r0, Py_ssize_t nr,
                           Py_ssize_t o0, Py_ssize_t no, const float *bias, float *out,
                           float *scratch)
    void fc_wgl_output_f64(const fc_problem *p, const double *M, Py_ssize_t r0, Py_ssize_t nr,
                           Py_ssize_t o0, Py_ssize_t no, const double *bias, double *out,
                           double *scratch)

fc_wg_select({"avx512": 2, "avx2": 1}.get(_gemm.variant(), 0))


cdef void conv_winograd_forward(const fc_problem *p,
                                const floating *x, const floating *w,
                                const floating *bias,                    # IN
                                floating *out,                           # OUT
                                floating *U,                             # shared scratch
                                floating *ws, int n_threads) noexcept nogil:
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t C = p.C, ob = winograd_ob(p), rb = p.lt, TW = fc_wg_tw(p)
    cdef Py_ssize_t rows = p.N * fc_wg_th(p)
    cdef Py_ssize_t n_ob = cdiv(p.O, ob)
    cdef Py_ssize_t n_tasks = winograd_tasks(p)
    cdef Py_ssize_t task, r0, nr, nt, g0, gn, o0, no, xi
    cdef Py_ssize_t n_wt = cdiv(p.O, 8)
    cdef floating *V
    cdef floating *M
    cdef floating *S
    if n_tasks == 0:
        return
    for task in prange(n_wt, num_threads=n_threads, schedule="static"):
        o0 = task * 8
        no = p.O - o0
        if no > 8:
            no = 8
        if floating is float:
            fc_wg_weights_f32(w, C, o0, no, U + o0 * C, p.O * C)
        else:
            fc_wg_weights_f64(w, C, o0, no, U + o0 * C, p.O * C)
    for task in prange(n_tasks, num_threads=n_threads, schedule="static"):
        r0 = (task // n_ob) * rb
        nr = rows - r0
        if nr > rb:
            nr = rb
        nt = nr * TW
        g0 = (task % n_ob) * ob
        gn = p.O - g0
        if gn > ob:
            gn = ob
        V = ws + threadid() * lay.per_thread
        M = V + fc_wg_v_elems(p, rb)
        S = M + fc_wg_m_elems(p, rb, ob if ob < FC_WG_OB else FC_WG_OB)   # (as fc_wg_ws)
        if floating is float:
            fc_wg_input_f32(p, x, r0, nr, V, S)
        else:
            fc_wg_input_f64(p, x, r0, nr, V, S)
        # the task's output channels in chunks of FC_WG_OB: M stays small, V is reused
        o0 = g0
        while o0 < g0 + gn:
            no = g0 + gn - o0
            if no > FC_WG_OB:
                no = FC_WG_OB
            for xi in range(16):
                gemm_nn(no, nt, C, U + (xi * p.O + o0) * C, C, V + xi * C * nt, nt,
                        M + xi * no * nt, nt, 0)
            if floating is float:
                fc_wg_output_f32(p, M, r0, nr, o0, no, bias, out, S)
            else:
                fc_wg_output_f64(p, M, r0, nr, o0, no, bias, out, S)
            o0 = o0 + no


cdef void conv_winograd_nhwc_forward(const fc_problem *p,
                                     const floating *x, const floating *w,
                                     const floating *bias,                 # IN
                                     floating *out,                        # OUT
                                     floating *U,                          # shared scratch
                                     floating *ws, int n_threads) noexcept nogil:
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t C = p.C, O = p.O, ob = winograd_ob(p), rb = p.lt, TW = fc_wg_tw(p)
    cdef Py_ssize_t rows = p.N * fc_wg_th(p)
    cdef Py_ssize_t n_ob = cdiv(p.O, ob)
    cdef Py_ssize_t n_tasks = winograd_tasks(p)
    cdef Py_ssize_t task, r0, nr, nt, g0, gn, o0, no, xi, c0, nc
    cdef Py_ssize_t n_wt = cdiv(C, 16)
    cdef floating *V
    cdef floating *M
    cdef floating *S
    if n_tasks == 0:
        return
    for task in prange(n_wt, num_threads=n_threads, schedule="static"):
        c0 = task * 16
        nc = C - c0
        if nc > 16:
            nc = 16
        if floating is float:
            fc_wgl_weights_f32(w, C, O, c0, nc, U)
        else:
            fc_wgl_weights_f64(w, C, O, c0, nc, U)
    for task in prange(n_tasks, num_threads=n_threads, schedule="static"):
        r0 = (task // n_ob) * rb
        nr = rows - r0
        if nr > rb:
            nr = rb
        nt = nr * TW
        g0 = (task % n_ob) * ob
        gn = O - g0
        if gn > ob:
            gn = ob
        V = ws + threadid() * lay.per_thread
        M = V + fc_wg_v_elems(p, rb)
        S = M + fc_wg_m_elems(p, rb, ob if ob < FC_WG_OB else FC_WG_OB)   # (as fc_wgl_ws)
        if floating is float:
            fc_wgl_input_f32(p, x, r0, nr, V, S)
        else:
            fc_wgl_input_f64(p, x, r0, nr, V, S)
        o0 = g0
        while o0 < g0 + gn:
            no = g0 + gn - o0
            if no > FC_WG_OB:
                no = FC_WG_OB
            for xi in range(16):
                gemm_nn(nt, no, C, V + xi * nt * C, C, U + xi * C * O + o0, O,
                        M + xi * nt * no, no, 0)
            if floating is float:
                fc_wgl_output_f32(p, M, r0, nr, o0, no, bias, out, S)
            else:
                fc_wgl_output_f64(p, M, r0, nr, o0, no, bias, out, S)
            o0 = o0 + no
