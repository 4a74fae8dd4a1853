/* fastconv: the row loops of the SIMD pooling window kernels (max_pool.forward.rows,
 * avg_pool.forward.rows, avg_pool.grad_input.rows).  The parallel loops over the
 * (n, c) volumes are in pool_kernels.pxi; each function here is one volume's work.
 *
 * This header is included once, by pool_kernels.pxi (so everything here is static).
 * fc_pool_body.h holds the loops; it is included six times, for float and double and
 * for three targets -- AVX-512, AVX2 and the baseline ISA -- and fc_pool_select()
 * picks the variant the GEMM uses (fc_gemm.c chooses it from the CPU and
 * FASTCONV_GEMM), as fc_depthwise.h does.  No intrinsics: the loops along an output
 * row take the kernel width and stride as constants (2x2/2, 3x3/2, 3x3/1, ... are
 * instantiated), so the compiler vectorises them for the target, stride-2 loads
 * becoming permutes.  No contraction is possible (compares, sums, one division), so
 * the variants give the same bits.
 *
 * Semantics (ATen), the window kernel's exactly:
 *   max: taps in row-major (a, i, j) order, m takes v when v > m or v != v (NaN sticks,
 *        the first maximum wins ties, the last NaN is kept); indices are flat offsets
 *        in the volume.  Where every tap of a window is inside the input (the interior
 *        columns), m starts at the first tap instead of -inf: if that tap is -inf the
 *        result is the same -inf at the same (first valid) index, else the first tap
 *        is taken either way.
 *   avg: each window summed from 0 in row-major tap order, divided once by the
 *        divisor_override or the product of the clipped extents (formed in double).
 */
#ifndef FC_POOL_H
#define FC_POOL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "fc_problem.h"
#include "fc_ranges.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(FC_GENERIC_ONLY) \
    && !defined(FC_POOL_SCALAR)
#define FC_PL_X86 1
#else
#define FC_PL_X86 0
#endif

/* the vector paths need GCC/Clang vector extensions; elsewhere (or with -DFC_POOL_SCALAR)
 * the same functions run their one-output-at-a-time loops, with the same results */
#if defined(__GNUC__) && !defined(FC_POOL_SCALAR)
#define FC_PL_VEC 1
#else
#define FC_PL_VEC 0
#endif

#if defined(__GNUC__)
#define FC_PL_INLINE static inline __attribute__((always_inline))
#define FC_PL_RESTRICT __restrict__
#else
#define FC_PL_INLINE static inline
#define FC_PL_RESTRICT
#endif

/* The window's length along one dimension: clipped to the padded input
 * (count_include_pad) or to the input itself (pool_kernels.pxi's avg_extent). */
static inline Py_ssize_t fc_avg_extent(Py_ssize_t o, Py_ssize_t s, Py_ssize_t pb,
                                       Py_ssize_t k, Py_ssize_t size, Py_ssize_t pa,
                                       int include_pad)
{
    Py_ssize_t a = o * s - pb, b = a + k;
    if (b > size + pa)
        b = size + pa;
    if (!include_pad) {
        if (a < 0)
            a = 0;
        if (b > size)
            b = size;
    }
    return b - a;
}

/* The divisor of output column ox of a row whose depth*height extent is dz_dy. */
static inline double fc_avg_divisor(const fc_problem *p, double dz_dy, Py_ssize_t ox)
{
    if (p->divisor > 0)
        return (double)p->divisor;
    return dz_dy * (double)fc_avg_extent(ox, p->s[2], p->pb[2], p->k[2], p->in[2], p->pa[2],
                                         p->count_include_pad);
}

/* [LO, HI): the output columns whose every tap (dilation 1) lies inside the row. */
static inline void fc_pool_interior(const fc_problem *p, Py_ssize_t *LO, Py_ssize_t *HI)
{
    Py_ssize_t lo0, hi0, lo1, hi1;
    fc_valid_range(-p->pb[2], p->s[2], p->out[2], p->in[2], &lo0, &hi0);
    fc_valid_range(p->k[2] - 1 - p->pb[2], p->s[2], p->out[2], p->in[2], &lo1, &hi1);
    *LO = lo0 > lo1 ? lo0 : lo1;
    *HI = hi0 < hi1 ? hi0 : hi1;
    if (*HI < *LO)
        *HI = *LO;
}

/* FC_PL_SHn(A, B, 1): the odd lanes of the 2n lanes of (A, B); FC_PL_EVn(A, B): the
 * even lanes of A, then the odd lanes of B */
#if defined(__clang__)
#define FC_PL_EV16(A, B) __builtin_shufflevector(A, B, 0, 2, 4, 6, 8, 10, 12, 14, 17, 19, \
    21, 23, 25, 27, 29, 31)
#define FC_PL_EV8(A, B) __builtin_shufflevector(A, B, 0, 2, 4, 6, 9, 11, 13, 15)
#define FC_PL_EV4(A, B) __builtin_shufflevector(A, B, 0, 2, 5, 7)
#define FC_PL_EV2(A, B) __builtin_shufflevector(A, B, 0, 3)
#define FC_PL_SH16(A, B, o) __builtin_shufflevector(A, B, o, o + 2, o + 4, o + 6, o + 8, \
    o + 10, o + 12, o + 14, o + 16, o + 18, o + 20, o + 22, o + 24, o + 26, o + 28, o + 30)
#define FC_PL_SH8(A, B, o) __builtin_shufflevector(A, B, o, o + 2, o + 4, o + 6, o + 8, \
    o + 10, o + 12, o + 14)
#define FC_PL_SH4(A, B, o) __builtin_shufflevector(A, B, o, o + 2, o + 4, o + 6)
#define FC_PL_SH2(A, B, o) __builtin_shufflevector(A, B, o, o + 2)
#else
#define FC_PL_SH16(A, B, o) __builtin_shuffle(A, B, (FC_IV){o, o + 2, o + 4, o + 6, o + 8, \
    o + 10, o + 12, o + 14, o + 16, o + 18, o + 20, o + 22, o + 24, o + 26, o + 28, o + 30})
#define FC_PL_SH8(A, B, o) __builtin_shuffle(A, B, (FC_IV){o, o + 2, o + 4, o + 6, o + 8, \
    o + 10, o + 12, o + 14})
#define FC_PL_SH4(A, B, o) __builtin_shuffle(A, B, (FC_IV){o, o + 2, o + 4, o + 6})
#define FC_PL_SH2(A, B, o) __builtin_shuffle(A, B, (FC_IV){o, o + 2})
#define FC_PL_EV16(A, B) __builtin_shuffle(A, B, (FC_IV){0, 2, 4, 6, 8, 10, 12, 14, 17, 19, \
    21, 23, 25, 27, 29, 31})
#define FC_PL_EV8(A, B) __builtin_shuffle(A, B, (FC_IV){0, 2, 4, 6, 9, 11, 13, 15})
#define FC_PL_EV4(A, B) __builtin_shuffle(A, B, (FC_IV){0, 2, 5, 7})
#define FC_PL_EV2(A, B) __builtin_shuffle(A, B, (FC_IV){0, 3})
#endif

/* a vector's lanes in the order of the index vector w */
#if defined(__clang__)
#define FC_PL_PERMUTE(a, w) __extension__({ __typeof__(a) r_; int l_;                 \
    for (l_ = 0; l_ < FC_VL; l_++) r_[l_] = (a)[(w)[l_]]; r_; })
#else
#define FC_PL_PERMUTE(a, w) __builtin_shuffle(a, w)
#endif

/* FC_VB: vector bytes; FC_VL: lanes; FC_I: the signed integer of FC_T's width */

#define FC_T float
#define FC_I int32_t
#define FC_SUF f32_generic
#define FC_TGT
#define FC_VB 16
#define FC_VL 4
#define FC_PL_EVEN(A, B) FC_PL_EV4(A, B)
#define FC_PL_ODD(A, B) FC_PL_SH4(A, B, 1)
#include "fc_pool_body.h"
#define FC_T double
#define FC_I int64_t
#define FC_SUF f64_generic
#define FC_TGT
#define FC_VB 16
#define FC_VL 2
#define FC_PL_EVEN(A, B) FC_PL_EV2(A, B)
#define FC_PL_ODD(A, B) FC_PL_SH2(A, B, 1)
#include "fc_pool_body.h"
#if FC_PL_X86
#define FC_T float
#define FC_I int32_t
#define FC_SUF f32_avx2
#define FC_TGT __attribute__((target("avx2,fma")))
#define FC_VB 32
#define FC_VL 8
#define FC_PL_EVEN(A, B) FC_PL_EV8(A, B)
#define FC_PL_ODD(A, B) FC_PL_SH8(A, B, 1)
#include "fc_pool_body.h"
#define FC_T double
#define FC_I int64_t
#define FC_SUF f64_avx2
#define FC_TGT __attribute__((target("avx2,fma")))
#define FC_VB 32
#define FC_VL 4
#define FC_PL_EVEN(A, B) FC_PL_EV4(A, B)
#define FC_PL_ODD(A, B) FC_PL_SH4(A, B, 1)
#include "fc_pool_body.h"
#define FC_T float
#define FC_I int32_t
#define FC_SUF f32_avx512
#define FC_TGT __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define FC_VB 64
#define FC_VL 16
#define FC_PL_EVEN(A, B) FC_PL_EV16(A, B)
#define FC_PL_ODD(A, B) FC_PL_SH16(A, B, 1)
#include "fc_pool_body.h"
#define FC_T double
#define FC_I int64_t
#define FC_SUF f64_avx512
#define FC_TGT __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define FC_VB 64
#define FC_VL 8
#define FC_PL_EVEN(A, B) FC_PL_EV8(A, B)
#define FC_PL_ODD(A, B) FC_PL_SH8(A, B, 1)
#include "fc_pool_body.h"
#endif

static struct {
    void (*max_f32)(const fc_problem *, const float *, float *, int64_t *, int32_t *);
    void (*max_f64)(const fc_problem *, const double *, double *, int64_t *, int64_t *);
    void (*avg_f32)(const fc_problem *, const float *, float *);
    void (*avg_f64)(const fc_problem *, const double *, double *);
    void (*avg_bwd_f32)(const fc_problem *, const float *, float *);
    void (*avg_bwd_f64)(const fc_problem *, const double *, double *);
    Py_ssize_t (*argmax_f32)(const float *, Py_ssize_t, Py_ssize_t, float *);
    Py_ssize_t (*argmax_f64)(const double *, Py_ssize_t, Py_ssize_t, double *);
} fc_pl = {fc_pmax_vol_f32_generic, fc_pmax_vol_f64_generic, fc_pavg_vol_f32_generic,
           fc_pavg_vol_f64_generic, fc_pavg_bwd_vol_f32_generic, fc_pavg_bwd_vol_f64_generic,
           fc_pargmax_f32_generic, fc_pargmax_f64_generic};

#define FC_PL_USE(V)                              \
    do {                                          \
        fc_pl.max_f32 = fc_pmax_vol_f32_##V;      \
        fc_pl.max_f64 = fc_pmax_vol_f64_##V;      \
        fc_pl.avg_f32 = fc_pavg_vol_f32_##V;      \
        fc_pl.avg_f64 = fc_pavg_vol_f64_##V;      \
        fc_pl.avg_bwd_f32 = fc_pavg_bwd_vol_f32_##V; \
        fc_pl.avg_bwd_f64 = fc_pavg_bwd_vol_f64_##V; \
        fc_pl.argmax_f32 = fc_pargmax_f32_##V;       \
        fc_pl.argmax_f64 = fc_pargmax_f64_##V;       \
    } while (0)

/* 2: AVX-512, 1: AVX2, else the baseline ISA (called once, at import, with the GEMM's
 * variant: fc_gemm.c has checked that the CPU has it). */
static void fc_pool_select(int variant)
{
    FC_PL_USE(generic);
#if FC_PL_X86
    if (variant == 2)
        FC_PL_USE(avx512);
    else if (variant == 1)
        FC_PL_USE(avx2);
#else
    (void)variant;
#endif
}

/* One volume each: see fc_pool_body.h. */
static inline void fc_pmax_vol_f32(const fc_problem *p, const float *x, float *out,
                                   int64_t *idx, int32_t *tap)
{ fc_pl.max_f32(p, x, out, idx, tap); }
static inline void fc_pmax_vol_f64(const fc_problem *p, const double *x, double *out,
                                   int64_t *idx, int64_t *tap)
{ fc_pl.max_f64(p, x, out, idx, tap); }
static inline void fc_pavg_vol_f32(const fc_problem *p, const float *x, float *out)
{ fc_pl.avg_f32(p, x, out); }
static inline void fc_pavg_vol_f64(const fc_problem *p, const double *x, double *out)
{ fc_pl.avg_f64(p, x, out); }
static inline void fc_pavg_bwd_vol_f32(const fc_problem *p, const float *go, float *gx)
{ fc_pl.avg_bwd_f32(p, go, gx); }
static inline void fc_pavg_bwd_vol_f64(const fc_problem *p, const double *go, double *gx)
{ fc_pl.avg_bwd_f64(p, go, gx); }
/* ATen's argmax of one run (reduce_kernels.pxi, global max pooling): see fc_pool_body.h */
static inline Py_ssize_t fc_pargmax_f32(const float *src, Py_ssize_t n, Py_ssize_t base,
                                        float *val)
{ return fc_pl.argmax_f32(src, n, base, val); }
static inline Py_ssize_t fc_pargmax_f64(const double *src, Py_ssize_t n, Py_ssize_t base,
                                        double *val)
{ return fc_pl.argmax_f64(src, n, base, val); }

#endif /* FC_POOL_H */
