/* fastconv: the channel-vector loops of the channels-last depthwise convolution and
 * pooling kernels (nhwc_depthwise_kernels.pxi, nhwc_pool_kernels.pxi; the parallel
 * loops over tasks are there).  On channels-last data every tap of a window is a run
 * of contiguous channels, so each loop here is a loop over channels: accumulators of
 * 4, 2 or 1 vectors of channels stay in registers over all the taps of an output.
 *
 * This header is included once, by _engine.pyx (so everything here is static).
 * fc_nhwc_body.h holds the loops; it is included six times, for float and double and
 * for three targets -- AVX-512, AVX2+FMA and the baseline ISA -- and fc_nc_select()
 * picks the variant the GEMM uses (fc_gemm.c chooses it from the CPU and
 * FASTCONV_GEMM), as fc_pool.h and fc_depthwise.h do.  GCC/Clang vector extensions,
 * no intrinsics; elsewhere (or with -DFC_POOL_SCALAR) the same functions run their
 * one-channel-at-a-time loops.
 *
 * Determinism: a channel's result is the same sequence of operations in every path
 * (lanes are channels), so the order of its sum is fixed by the shape; the variants
 * differ only in FMA contraction (the convolutions), like the GEMM's variants.
 * Max pooling and average pooling contract nothing: every variant gives the same bits.
 */
#ifndef FC_NHWC_H
#define FC_NHWC_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include "fc_problem.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(FC_GENERIC_ONLY) \
    && !defined(FC_POOL_SCALAR)
#define FC_NC_X86 1
#else
#define FC_NC_X86 0
#endif
#if defined(__GNUC__) && !defined(FC_POOL_SCALAR)
#define FC_NC_VEC 1
#else
#define FC_NC_VEC 0
#endif
#if defined(__GNUC__)
#define FC_NC_INLINE static inline __attribute__((always_inline))
#else
#define FC_NC_INLINE static inline
#endif
#if defined(__GNUC__)
#define FC_NC_RESTRICT __restrict__
#else
#define FC_NC_RESTRICT
#endif

#define FC_T float
#define FC_I int32_t
#define FC_SUF f32_generic
#define FC_TGT
#define FC_VB 16
#define FC_VL 4
#include "fc_nhwc_body.h"
#define FC_T double
#define FC_I int64_t
#define FC_SUF f64_generic
#define FC_TGT
#define FC_VB 16
#define FC_VL 2
#include "fc_nhwc_body.h"
#if FC_NC_X86
#define FC_T float
#define FC_I int32_t
#define FC_SUF f32_avx2
#define FC_TGT __attribute__((target("avx2,fma")))
#define FC_VB 32
#define FC_VL 8
#include "fc_nhwc_body.h"
#define FC_T double
#define FC_I int64_t
#define FC_SUF f64_avx2
#define FC_TGT __attribute__((target("avx2,fma")))
#define FC_VB 32
#define FC_VL 4
#include "fc_nhwc_body.h"
#define FC_T float
#define FC_I int32_t
#define FC_SUF f32_avx512
#define FC_TGT __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define FC_VB 64
#define FC_VL 16
#include "fc_nhwc_body.h"
#define FC_T double
#define FC_I int64_t
#define FC_SUF f64_avx512
#define FC_TGT __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define FC_VB 64
#define FC_VL 8
#include "fc_nhwc_body.h"
#endif

#define FC_NC_FNS(T)                                                                     \
    struct {                                                                             \
        void (*dot)(Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, const T *, const Py_ssize_t *,   \
                    Py_ssize_t, const T *, const Py_ssize_t *, Py_ssize_t, const T *, T *); \
        void (*dot2)(Py_ssize_t, Py_ssize_t, const T *, Py_ssize_t, const T *, Py_ssize_t, \
                     T *);                                                               \
        void (*max)(Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, const T *, const Py_ssize_t *,   \
                    Py_ssize_t, const int64_t *, Py_ssize_t, int64_t, T *, int64_t *, int); \
        void (*sum)(Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, const T *, const Py_ssize_t *,   \
                    Py_ssize_t, const T *, T, T *);                                      \
        void (*expand)(Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, const T *, T *);   \
        void (*fold)(Py_ssize_t, Py_ssize_t, const T *, T *);                            \
    }

static FC_NC_FNS(float) fc_nc32 = {fc_nc_dot_f32_generic, fc_nc_dot2_f32_generic,
                                   fc_nc_max_f32_generic, fc_nc_sum_f32_generic,
                                   fc_nc_expand_f32_generic, fc_nc_fold_f32_generic};
static FC_NC_FNS(double) fc_nc64 = {fc_nc_dot_f64_generic, fc_nc_dot2_f64_generic,
                                    fc_nc_max_f64_generic, fc_nc_sum_f64_generic,
                                    fc_nc_expand_f64_generic, fc_nc_fold_f64_generic};

#define FC_NC_USE(V)                                                                     \
    do {                                                                                 \
        fc_nc32.dot = fc_nc_dot_f32_##V;                                                 \
        fc_nc32.dot2 = fc_nc_dot2_f32_##V;                                               \
        fc_nc32.max = fc_nc_max_f32_##V;                                                 \
        fc_nc32.sum = fc_nc_sum_f32_##V;                                                 \
        fc_nc32.expand = fc_nc_expand_f32_##V;                                           \
        fc_nc32.fold = fc_nc_fold_f32_##V;                                               \
        fc_nc64.dot = fc_nc_dot_f64_##V;                                                 \
        fc_nc64.dot2 = fc_nc_dot2_f64_##V;                                               \
        fc_nc64.max = fc_nc_max_f64_##V;                                                 \
        fc_nc64.sum = fc_nc_sum_f64_##V;                                                 \
        fc_nc64.expand = fc_nc_expand_f64_##V;                                           \
        fc_nc64.fold = fc_nc_fold_f64_##V;                                               \
    } while (0)

/* 2: AVX-512, 1: AVX2+FMA, else the baseline ISA (called once, at import, with the
 * GEMM's variant: fc_gemm.c has checked that the CPU has it). */
static void fc_nc_select(int variant)
{
    FC_NC_USE(generic);
#if FC_NC_X86
    if (variant == 2)
        FC_NC_USE(avx512);
    else if (variant == 1)
        FC_NC_USE(avx2);
#else
    (void)variant;
#endif
}

/* see fc_nhwc_body.h */
#define FC_NC_WRAP(T, S, TAB)                                                            \
    static inline void fc_nc_dot_##S(Py_ssize_t n, Py_ssize_t P, Py_ssize_t ps, Py_ssize_t os, Py_ssize_t R, Py_ssize_t Q, const T *src, \
                                     const Py_ssize_t *soff, Py_ssize_t ss, const T *w,  \
                                     const Py_ssize_t *woff, Py_ssize_t ws, const T *init, \
                                     T *out)                                             \
    { TAB.dot(n, P, ps, os, R, Q, src, soff, ss, w, woff, ws, init, out); }                         \
    static inline void fc_nc_dot2_##S(Py_ssize_t n, Py_ssize_t Q, const T *a, Py_ssize_t sa, \
                                      const T *b, Py_ssize_t sb, T *acc)                 \
    { TAB.dot2(n, Q, a, sa, b, sb, acc); }                                               \
    static inline void fc_nc_max_##S(Py_ssize_t n, Py_ssize_t P, Py_ssize_t ps, Py_ssize_t os, Py_ssize_t pis, Py_ssize_t R, Py_ssize_t Q, const T *src, \
                                     const Py_ssize_t *soff, Py_ssize_t ss,              \
                                     const int64_t *ridx, Py_ssize_t qstep, int64_t first, \
                                     T *out, int64_t *idx, int narrow)                   \
    { TAB.max(n, P, ps, os, pis, R, Q, src, soff, ss, ridx, qstep, first, out, idx, narrow); }           \
    static inline void fc_nc_sum_##S(Py_ssize_t n, Py_ssize_t P, Py_ssize_t ps, Py_ssize_t os, Py_ssize_t R, Py_ssize_t Q, const T *src, \
                                     const Py_ssize_t *soff, Py_ssize_t ss, const T *dv, \
                                     T div, T *out)                                      \
    { TAB.sum(n, P, ps, os, R, Q, src, soff, ss, dv, div, out); }                       \
    static inline void fc_nc_expand_##S(Py_ssize_t W, Py_ssize_t C, Py_ssize_t nc,        \
                                        Py_ssize_t Og, const T *x, T *dst)               \
    { TAB.expand(W, C, nc, Og, x, dst); }                                               \
    static inline void fc_nc_fold_##S(Py_ssize_t nc, Py_ssize_t Og, const T *acc, T *out) \
    { TAB.fold(nc, Og, acc, out); }
FC_NC_WRAP(float, f32, fc_nc32)
FC_NC_WRAP(double, f64, fc_nc64)
#undef FC_NC_WRAP

#endif /* FC_NHWC_H */
