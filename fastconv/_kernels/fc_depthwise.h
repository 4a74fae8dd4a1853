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
#if FC_DW_X86
#include <immintrin.h>
#endif

#if defined(__GNUC__)
#define FC_DW_INLINE static inline __attribute__((always_inline))
#define FC_DW_RESTRICT __restrict__
#else
#define FC_DW_INLINE static inline
#define FC_DW_RESTRICT
#endif


/* ---- the tile kernels (fc_dwtile_body.h): planar problems, any stride, dilation,
 * padding, kernel and multiplier.  Sizes shared by the kernels and fc_dwt_ws. */

/* 1-D and 2-D problems (one input depth, no depth taps or padding): the tile
 * kernels; 3-D problems run the row loops of fc_depthwise_body.h. */
static inline int fc_dwt_planar(const fc_problem *p)
{
    return p->in[0] == 1 && p->k[0] == 1 && p->out[0] == 1 && p->pb[0] == 0;
}

#define FC_DWT_SLACK 64   /* elements after a flattened buffer: a vector's overrun */
#define FC_DWT_MAXVL 16   /* elements of the widest vector (float, AVX-512) */

static inline Py_ssize_t fc_dwt_r16(Py_ssize_t n) { return (n + 15) / 16 * 16; }

static inline Py_ssize_t fc_dwt_floordiv(Py_ssize_t a, Py_ssize_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* After a tile: the flattened positions of the dropped columns read up to a kernel
 * row's width past the tile's last row, and a vector more. */
static inline Py_ssize_t fc_dwt_slack(const fc_problem *p)
{
    return fc_dwt_r16(FC_DWT_SLACK + (p->k[2] - 1) * p->d[2]);
}

/* Forward and grad_weight tile of `rows` output rows: Wq columns and TR rows per
 * stride phase (sH*sW phases). */
static inline void fc_dwt_fwd_dims(const fc_problem *p, Py_ssize_t rows, Py_ssize_t *Wq,
                                   Py_ssize_t *TR)
{
    *Wq = p->out[2] + (p->k[2] - 1) * p->d[2] / p->s[2];
    *TR = rows + (p->k[1] - 1) * p->d[1] / p->s[1];
}

/* Forward tiles in the ring (fc_dwt_fwd): 4 when a tile is small (at most 4 KB), else
 * one. */
static inline Py_ssize_t fc_dwt_ring(const fc_problem *p)
{
    Py_ssize_t Wq, TR;
    fc_dwt_fwd_dims(p, p->blk, &Wq, &TR);
    return p->s[1] * p->s[2] * TR * Wq * p->itemsize <= 4096 ? 4 : 1;
}

/* grad_input tile (grad_output rows and columns) of blk input rows: TRb x Wt, bounds
 * of the grad_output rows and columns any blk consecutive input rows read. */
static inline void fc_dwt_bwi_dims(const fc_problem *p, Py_ssize_t *TRb, Py_ssize_t *Wt)
{
    *TRb = (p->blk - 1 + (p->k[1] - 1) * p->d[1]) / p->s[1] + 2;
    *Wt = (p->in[2] - 1 + (p->k[2] - 1) * p->d[2]) / p->s[2] + 2;
}

/* Per-thread workspace (elements) of the depthwise kernel `which` (0 forward,
 * 1 grad_input, 2 grad_weight), tile or row loops as the problem takes. */
static inline Py_ssize_t fc_dwt_ws(const fc_problem *p, int which)
{
    Py_ssize_t Wq, TR, TRb, Wt, ints;
    const Py_ssize_t isz = p->itemsize;
    ints = fc_dwt_r16((p->taps * (Py_ssize_t)sizeof(Py_ssize_t) + isz - 1) / isz);
    if (!fc_dwt_planar(p)) {
        if (which == 1)
            return p->s[2] > 1 ? p->s[2] * ((p->in[2] + p->s[2] - 1) / p->s[2]) : 0;
        if (which == 2)
            return p->taps * p->out[2];
        return 0;
    }
    if (which == 1) {
        fc_dwt_bwi_dims(p, &TRb, &Wt);
        return fc_dwt_r16(TRb * Wt + fc_dwt_slack(p))
               + fc_dwt_r16(p->s[2] * p->blk * Wt + p->s[1] * p->s[2] * (FC_DWT_SLACK + 16))
               + fc_dwt_r16(p->taps)
               + fc_dwt_r16(((3 * p->taps + p->s[1] * p->s[2] + 1) * (Py_ssize_t)sizeof(Py_ssize_t)
                             + isz - 1) / isz);
    }
    fc_dwt_fwd_dims(p, p->blk, &Wq, &TR);
    return (which == 0 ? fc_dwt_ring(p) : 1) * fc_dwt_r16(p->s[1] * p->s[2] * TR * Wq
                                                          + fc_dwt_slack(p))
           + fc_dwt_r16(p->blk * Wq + FC_DWT_SLACK)
           + (which == 2 ? fc_dwt_r16(p->Og * p->taps * FC_DWT_MAXVL) : 0) + ints;
}

#define FC_T float
#define FC_SUF f32_generic
#define FC_TGT
#define FC_VB 16
#define FC_DT_AVX512 0
#define FC_DT_F64 0
#include "fc_dwtile_body.h"
#include "fc_depthwise_body.h"
#define FC_T double
#define FC_SUF f64_generic
#define FC_TGT
#define FC_VB 16
#define FC_DT_AVX512 0
#define FC_DT_F64 1
#include "fc_dwtile_body.h"
#include "fc_depthwise_body.h"
#if FC_DW_X86
#define FC_T float
#define FC_SUF f32_avx2
#define FC_TGT __attribute__((target("avx2,fma")))
#define FC_VB 32
#define FC_DT_AVX512 0
#define FC_DT_F64 0
#include "fc_dwtile_body.h"
#include "fc_depthwise_body.h"
#define FC_T double
#define FC_SUF f64_avx2
#define FC_TGT __attribute__((target("avx2,fma")))
#define FC_VB 32
#define FC_DT_AVX512 0
#define FC_DT_F64 1
#include "fc_dwtile_body.h"
#include "fc_depthwise_body.h"
#define FC_T float
#define FC_SUF f32_avx512
#define FC_TGT __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define FC_VB 64
#define FC_DT_AVX512 1
#define FC_DT_F64 0
#include "fc_dwtile_body.h"
#include "fc_depthwise_body.h"
#define FC_T double
#define FC_SUF f64_avx512
#define FC_TGT __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define FC_VB 64
#define FC_DT_AVX512 1
#define FC_DT_F64 1
#include "fc_dwtile_body.h"
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

typedef void (*fc_dwt_fwd_f32_fn)(const fc_problem *, const float *, const float *,
                                  const float *, float *, float *, Py_ssize_t, Py_ssize_t,
                                  Py_ssize_t, Py_ssize_t);
typedef void (*fc_dwt_fwd_f64_fn)(const fc_problem *, const double *, const double *,
                                  const double *, double *, double *, Py_ssize_t, Py_ssize_t,
                                  Py_ssize_t, Py_ssize_t);
typedef void (*fc_dwt_bwi_f32_fn)(const fc_problem *, const float *, const float *, float *,
                                  float *, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t);
typedef void (*fc_dwt_bwi_f64_fn)(const fc_problem *, const double *, const double *,
                                  double *, double *, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                  Py_ssize_t);

static struct {
    fc_dwt_fwd_f32_fn tfwd_f32;
    fc_dwt_fwd_f64_fn tfwd_f64;
    fc_dwt_bwi_f32_fn tbwi_f32;
    fc_dwt_bwi_f64_fn tbwi_f64;
    fc_dw_bww_f32_fn tbww_f32;
    fc_dw_bww_f64_fn tbww_f64;
    fc_dw_fwd_f32_fn fwd_f32;
    fc_dw_fwd_f64_fn fwd_f64;
    fc_dw_bwi_f32_fn bwi_f32;
    fc_dw_bwi_f64_fn bwi_f64;
    fc_dw_bww_f32_fn bww_f32;
    fc_dw_bww_f64_fn bww_f64;
} fc_dw = {fc_dwt_fwd_f32_generic, fc_dwt_fwd_f64_generic, fc_dwt_bwi_f32_generic,
           fc_dwt_bwi_f64_generic, fc_dwt_bww_f32_generic, fc_dwt_bww_f64_generic,
           fc_dw_fwd_f32_generic, fc_dw_fwd_f64_generic, fc_dw_bwi_f32_generic,
           fc_dw_bwi_f64_generic, fc_dw_bww_f32_generic, fc_dw_bww_f64_generic};

#define FC_DW_USE(V)                        \
    do {                                    \
        fc_dw.tfwd_f32 = fc_dwt_fwd_f32_##V; \
        fc_dw.tfwd_f64 = fc_dwt_fwd_f64_##V; \
        fc_dw.tbwi_f32 = fc_dwt_bwi_f32_##V; \
        fc_dw.tbwi_f64 = fc_dwt_bwi_f64_##V; \
        fc_dw.tbww_f32 = fc_dwt_bww_f32_##V; \
        fc_dw.tbww_f64 = fc_dwt_bww_f64_##V; \
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

/* The tile kernels, one task each: see fc_dwtile_body.h. */
static inline void fc_dwt_fwd_f32(const fc_problem *p, const float *xn, const float *w,
                                  const float *b, float *yn, float *ws, Py_ssize_t g0,
                                  Py_ssize_t g1, Py_ssize_t r0, Py_ssize_t r1)
{ fc_dw.tfwd_f32(p, xn, w, b, yn, ws, g0, g1, r0, r1); }
static inline void fc_dwt_fwd_f64(const fc_problem *p, const double *xn, const double *w,
                                  const double *b, double *yn, double *ws, Py_ssize_t g0,
                                  Py_ssize_t g1, Py_ssize_t r0, Py_ssize_t r1)
{ fc_dw.tfwd_f64(p, xn, w, b, yn, ws, g0, g1, r0, r1); }
static inline void fc_dwt_bwi_f32(const fc_problem *p, const float *go, const float *wt,
                                  float *gx, float *ws, Py_ssize_t g0, Py_ssize_t g1,
                                  Py_ssize_t r0, Py_ssize_t r1)
{ fc_dw.tbwi_f32(p, go, wt, gx, ws, g0, g1, r0, r1); }
static inline void fc_dwt_bwi_f64(const fc_problem *p, const double *go, const double *wt,
                                  double *gx, double *ws, Py_ssize_t g0, Py_ssize_t g1,
                                  Py_ssize_t r0, Py_ssize_t r1)
{ fc_dw.tbwi_f64(p, go, wt, gx, ws, g0, g1, r0, r1); }
static inline void fc_dwt_bww_f32(const fc_problem *p, const float *go, const float *x,
                                  float *part, float *ws, Py_ssize_t chunk, Py_ssize_t g)
{ fc_dw.tbww_f32(p, go, x, part, ws, chunk, g); }
static inline void fc_dwt_bww_f64(const fc_problem *p, const double *go, const double *x,
                                  double *part, double *ws, Py_ssize_t chunk, Py_ssize_t g)
{ fc_dw.tbww_f64(p, go, x, part, ws, chunk, g); }

#endif /* FC_DEPTHWISE_H */
