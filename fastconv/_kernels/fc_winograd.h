/* fastconv: Winograd F(2x2, 3x3) for conv.forward.winograd (3x3, stride 1,
 * dilation 1, one group, channels-first).  The transforms are here (one task's work
 * each, fc_winograd_body.h); the parallel loop over tasks and the sixteen GEMMs per
 * task are in winograd_kernels.pxi.
 *
 * A 2x2 output tile costs 16 multiplies per (input, output) channel pair instead of
 * 36.  Rounding: each output is a fixed sum of 16 products summed over C channels
 * (the direct path sums 9C products in one sequence), so its error against an exact
 * result is no larger than the direct path's (docs/design.md, tests/test_winograd.py).
 *
 * This header is included once, by _engine.pyx (so everything here is static).  The
 * body is included six times, for float and double and for AVX-512, AVX2+FMA and the
 * baseline ISA; fc_wg_select() takes the GEMM's variant (like fc_dw_select).
 *
 * The channels-last form (fc_wgl_*, conv.forward.winograd_nhwc) computes every value
 * by the same operations, vectorised along the channels.
 */
#ifndef FC_WINOGRAD_H
#define FC_WINOGRAD_H

#include <stddef.h>
#include <string.h>
#include "fc_problem.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(FC_GENERIC_ONLY)
#define FC_WG_X86 1
#else
#define FC_WG_X86 0
#endif

#if defined(__GNUC__)
#define FC_WG_INLINE static inline __attribute__((always_inline))
#define FC_WG_RESTRICT __restrict__
#else
#define FC_WG_INLINE static inline
#define FC_WG_RESTRICT
#endif

/* Output channels of one round of GEMMs (M is 16 x FC_WG_OB x tiles). */
#define FC_WG_OB 64

/* Tiles per output row and column. */
static inline Py_ssize_t fc_wg_tw(const fc_problem *p) { return (p->out[2] + 1) / 2; }
static inline Py_ssize_t fc_wg_th(const fc_problem *p) { return (p->out[1] + 1) / 2; }

static inline Py_ssize_t fc_wg_r16(Py_ssize_t n) { return (n + 15) / 16 * 16; }

/* One thread's scratch (elements) for tasks of up to `rows` tile rows and `ob` output
 * channels: V, M, then the row buffers of the transforms.  U (16 x O x C, all output
 * channels) is shared, computed once per call. */
static inline Py_ssize_t fc_wg_v_elems(const fc_problem *p, Py_ssize_t rows)
{
    return fc_wg_r16(16 * p->C * rows * fc_wg_tw(p));
}
static inline Py_ssize_t fc_wg_u_elems(const fc_problem *p)
{
    return 16 * p->O * p->C;
}
static inline Py_ssize_t fc_wg_m_elems(const fc_problem *p, Py_ssize_t rows, Py_ssize_t ob)
{
    return fc_wg_r16(16 * ob * rows * fc_wg_tw(p));
}
static inline Py_ssize_t fc_wg_ws(const fc_problem *p, Py_ssize_t rows, Py_ssize_t ob)
{
    Py_ssize_t tw = fc_wg_tw(p);
    if (ob > FC_WG_OB)
        ob = FC_WG_OB;
    return fc_wg_v_elems(p, rows) + fc_wg_m_elems(p, rows, ob)
           + fc_wg_r16(2 * (tw + 1) + 32 * rows * tw);
}

#define FC_T float
#define FC_SUF f32_generic
#define FC_TGT
#include "fc_winograd_body.h"
#define FC_T double
#define FC_SUF f64_generic
#define FC_TGT
#include "fc_winograd_body.h"
#if FC_WG_X86
#define FC_T float
#define FC_SUF f32_avx2
#define FC_TGT __attribute__((target("avx2,fma")))
#include "fc_winograd_body.h"
#define FC_T double
#define FC_SUF f64_avx2
#define FC_TGT __attribute__((target("avx2,fma")))
#include "fc_winograd_body.h"
#define FC_T float
#define FC_SUF f32_avx512
#define FC_TGT __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#include "fc_winograd_body.h"
#define FC_T double
#define FC_SUF f64_avx512
#define FC_TGT __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#include "fc_winograd_body.h"
#endif

/* The variant: 2 AVX-512, 1 AVX2, 0 baseline (written once at import). */
static int fc_wg_variant = 0;

static void fc_wg_select(int variant)
{
    fc_wg_variant = FC_WG_X86 ? variant : 0;
}

#if FC_WG_X86
#define FC_WG_DISPATCH(name, suf, args)                                              \
    do {                                                                             \
        if (fc_wg_variant == 2)                                                      \
            name##_##suf##_avx512 args;                                              \
        else if (fc_wg_variant == 1)                                                 \
            name##_##suf##_avx2 args;                                                \
        else                                                                         \
            name##_##suf##_generic args;                                             \
    } while (0)
#else
#define FC_WG_DISPATCH(name, suf, args) name##_##suf##_generic args
#endif

static void fc_wg_weights_f32(const float *w, Py_ssize_t C, Py_ssize_t o0, Py_ssize_t no,
                              float *U, Py_ssize_t xs)
{
    FC_WG_DISPATCH(fc_wg_weights, f32, (w, C, o0, no, U, xs));
}
static void fc_wg_weights_f64(const double *w, Py_ssize_t C, Py_ssize_t o0, Py_ssize_t no,
                              double *U, Py_ssize_t xs)
{
    FC_WG_DISPATCH(fc_wg_weights, f64, (w, C, o0, no, U, xs));
}
static void fc_wg_input_f32(const fc_problem *p, const float *x, Py_ssize_t r0, Py_ssize_t nr,
                            float *V, float *scratch)
{
    FC_WG_DISPATCH(fc_wg_input, f32, (p, x, r0, nr, V, scratch));
}
static void fc_wg_input_f64(const fc_problem *p, const double *x, Py_ssize_t r0,
                            Py_ssize_t nr, double *V, double *scratch)
{
    FC_WG_DISPATCH(fc_wg_input, f64, (p, x, r0, nr, V, scratch));
}
static void fc_wg_output_f32(const fc_problem *p, const float *M, Py_ssize_t r0,
                             Py_ssize_t nr, Py_ssize_t o0, Py_ssize_t no, const float *bias,
                             float *out, float *scratch)
{
    FC_WG_DISPATCH(fc_wg_output, f32, (p, M, r0, nr, o0, no, bias, out, scratch));
}
static void fc_wg_output_f64(const fc_problem *p, const double *M, Py_ssize_t r0,
                             Py_ssize_t nr, Py_ssize_t o0, Py_ssize_t no, const double *bias,
                             double *out, double *scratch)
{
    FC_WG_DISPATCH(fc_wg_output, f64, (p, M, r0, nr, o0, no, bias, out, scratch));
}

/* channels-last (conv.forward.winograd_nhwc): one thread's scratch is V and M as
 * above, then the transforms' rows: 20 C (input) or 8 ob (output) elements. */
static inline Py_ssize_t fc_wgl_ws(const fc_problem *p, Py_ssize_t rows, Py_ssize_t ob)
{
    Py_ssize_t s;
    if (ob > FC_WG_OB)
        ob = FC_WG_OB;
    s = 20 * p->C > 8 * ob ? 20 * p->C : 8 * ob;
    return fc_wg_v_elems(p, rows) + fc_wg_m_elems(p, rows, ob) + fc_wg_r16(s);
}

static void fc_wgl_weights_f32(const float *w, Py_ssize_t C, Py_ssize_t O, Py_ssize_t c0,
                               Py_ssize_t nc, float *U)
{
    FC_WG_DISPATCH(fc_wgl_weights, f32, (w, C, O, c0, nc, U));
}
static void fc_wgl_weights_f64(const double *w, Py_ssize_t C, Py_ssize_t O, Py_ssize_t c0,
                               Py_ssize_t nc, double *U)
{
    FC_WG_DISPATCH(fc_wgl_weights, f64, (w, C, O, c0, nc, U));
}
static void fc_wgl_input_f32(const fc_problem *p, const float *x, Py_ssize_t r0,
                             Py_ssize_t nr, float *V, float *scratch)
{
    FC_WG_DISPATCH(fc_wgl_input, f32, (p, x, r0, nr, V, scratch));
}
static void fc_wgl_input_f64(const fc_problem *p, const double *x, Py_ssize_t r0,
                             Py_ssize_t nr, double *V, double *scratch)
{
    FC_WG_DISPATCH(fc_wgl_input, f64, (p, x, r0, nr, V, scratch));
}
static void fc_wgl_output_f32(const fc_problem *p, const float *M, Py_ssize_t r0,
                              Py_ssize_t nr, Py_ssize_t o0, Py_ssize_t no, const float *bias,
                              float *out, float *scratch)
{
    FC_WG_DISPATCH(fc_wgl_output, f32, (p, M, r0, nr, o0, no, bias, out, scratch));
}
static void fc_wgl_output_f64(const fc_problem *p, const double *M, Py_ssize_t r0,
                              Py_ssize_t nr, Py_ssize_t o0, Py_ssize_t no, const double *bias,
                              double *out, double *scratch)
{
    FC_WG_DISPATCH(fc_wgl_output, f64, (p, M, r0, nr, o0, no, bias, out, scratch));
}

#endif /* FC_WINOGRAD_H */
