/* fastconv: depthwise convolution (groups == C, one input channel per group), the
 * row loops of conv.forward.depthwise, conv.grad_input.depthwise and
 * conv.grad_weight.depthwise.  The parallel loops over tasks are in
 * depthwise_kernels.pxi; each function here is one task's work.
 *
 * This header is included once, by _engine.pyx (so everything here is static).
 * fc_depthwise_body.h holds the loops; it is included six times, for float and
 * double and for three targets -- AVX-512, AVX2+FMA and the baseline ISA -- and
 * fc_dw_select() picks the variant the GEMM uses (fc_gemm.c chooses it from the CPU
 * and FASTCONV_GEMM), so one build runs anywhere and the two agree.  The inner loops
 * are plain loops along contiguous output or input rows, which the compiler
 * vectorises for the target; no intrinsics.
 *
 * Determinism: every output element is summed by one task in a fixed order (bias or
 * zero, then the multipliers m, the taps (a, i, j) in row-major order; grad_weight: the
 * samples, rows and positions in ascending order), whatever the thread count.  The
 * variants differ only in FMA contraction, like the GEMM's variants.
 */
#ifndef FC_DEPTHWISE_H
#define FC_DEPTHWISE_H

#include <stddef.h>
#include <string.h>
#include "fc_problem.h"
#include "fc_ranges.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(FC_GENERIC_ONLY)
#define FC_DW_X86 1
#else
#define FC_DW_X86 0
#endif

#if defined(__GNUC__)
#define FC_DW_INLINE static inline __attribute__((always_inline))
#define FC_DW_RESTRICT __restrict__
#else
#define FC_DW_INLINE static inline
#define FC_DW_RESTRICT
#endif

#define FC_T float
#define FC_SUF f32_generic
#define FC_TGT
#include "fc_depthwise_body.h"
#define FC_T double
#define FC_SUF f64_generic
#define FC_TGT
#include "fc_depthwise_body.h"
#if FC_DW_X86
#define FC_T float
#define FC_SUF f32_avx2
#define FC_TGT __attribute__((target("avx2,fma")))
#include "fc_depthwise_body.h"
#define FC_T double
#define FC_SUF f64_avx2
#define FC_TGT __attribute__((target("avx2,fma")))
#include "fc_depthwise_body.h"
#define FC_T float
#define FC_SUF f32_avx512
#define FC_TGT __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#include "fc_depthwise_body.h"
#define FC_T double
#define FC_SUF f64_avx512
#define FC_TGT __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#include "fc_depthwise_body.h"
#endif

typedef void (*fc_dw_fwd_f32_fn)(const fc_problem *, const float *, const float *, float,
                                 float *, Py_ssize_t, Py_ssize_t);
typedef void (*fc_dw_fwd_f64_fn)(const fc_problem *, const double *, const double *, double,
                                 double *, Py_ssize_t, Py_ssize_t);
typedef void (*fc_dw_bwi_f32_fn)(const fc_problem *, const float *, const float *, float *,
                                 float *, Py_ssize_t, Py_ssize_t);
typedef void (*fc_dw_bwi_f64_fn)(const fc_problem *, const double *, const double *, double *,
                                 double *, Py_ssize_t, Py_ssize_t);
typedef void (*fc_dw_bww_f32_fn)(const fc_problem *, const float *, const float *, float *,
                                 float *, Py_ssize_t, Py_ssize_t);
typedef void (*fc_dw_bww_f64_fn)(const fc_problem *, const double *, const double *, double *,
                                 double *, Py_ssize_t, Py_ssize_t);

static struct {
    fc_dw_fwd_f32_fn fwd_f32;
    fc_dw_fwd_f64_fn fwd_f64;
    fc_dw_bwi_f32_fn bwi_f32;
    fc_dw_bwi_f64_fn bwi_f64;
    fc_dw_bww_f32_fn bww_f32;
    fc_dw_bww_f64_fn bww_f64;
} fc_dw = {fc_dw_fwd_f32_generic, fc_dw_fwd_f64_generic, fc_dw_bwi_f32_generic,
           fc_dw_bwi_f64_generic, fc_dw_bww_f32_generic, fc_dw_bww_f64_generic};

#define FC_DW_USE(V)                        \
    do {                                    \
        fc_dw.fwd_f32 = fc_dw_fwd_f32_##V;  \
        fc_dw.fwd_f64 = fc_dw_fwd_f64_##V;  \
        fc_dw.bwi_f32 = fc_dw_bwi_f32_##V;  \
        fc_dw.bwi_f64 = fc_dw_bwi_f64_##V;  \
        fc_dw.bww_f32 = fc_dw_bww_f32_##V;  \
        fc_dw.bww_f64 = fc_dw_bww_f64_##V;  \
    } while (0)

/* 2: AVX-512, 1: AVX2+FMA, else the baseline ISA (called once, at import, with the
 * GEMM's variant: fc_gemm.c has checked that the CPU has it). */
static void fc_dw_select(int variant)
{
    FC_DW_USE(generic);
#if FC_DW_X86
    if (variant == 2)
        FC_DW_USE(avx512);
    else if (variant == 1)
        FC_DW_USE(avx2);
#else
    (void)variant;
#endif
}

/* One task each: see fc_depthwise_body.h. */
static inline void fc_dw_fwd_f32(const fc_problem *p, const float *xc, const float *w, float b,
                                 float *yo, Py_ssize_t r0, Py_ssize_t r1)
{ fc_dw.fwd_f32(p, xc, w, b, yo, r0, r1); }
static inline void fc_dw_fwd_f64(const fc_problem *p, const double *xc, const double *w,
                                 double b, double *yo, Py_ssize_t r0, Py_ssize_t r1)
{ fc_dw.fwd_f64(p, xc, w, b, yo, r0, r1); }
static inline void fc_dw_bwi_f32(const fc_problem *p, const float *go, const float *wt,
                                 float *gx, float *buf, Py_ssize_t r0, Py_ssize_t r1)
{ fc_dw.bwi_f32(p, go, wt, gx, buf, r0, r1); }
static inline void fc_dw_bwi_f64(const fc_problem *p, const double *go, const double *wt,
                                 double *gx, double *buf, Py_ssize_t r0, Py_ssize_t r1)
{ fc_dw.bwi_f64(p, go, wt, gx, buf, r0, r1); }
static inline void fc_dw_bww_f32(const fc_problem *p, const float *go, const float *x,
                                 float *part, float *acc, Py_ssize_t chunk, Py_ssize_t o)
{ fc_dw.bww_f32(p, go, x, part, acc, chunk, o); }
static inline void fc_dw_bww_f64(const fc_problem *p, const double *go, const double *x,
                                 double *part, double *acc, Py_ssize_t chunk, Py_ssize_t o)
{ fc_dw.bww_f64(p, go, x, part, acc, chunk, o); }

#endif /* FC_DEPTHWISE_H */
