/* fastconv: transposing a block of a row-major matrix, dst[l*rows + o] = src[o*lds + l].
 *
 * The grad_weight kernels transpose each tile of grad_output (Og x nl -> nl x Og) for
 * the GEMM; element by element that is one strided store per element and cost as much
 * as a tenth of the GEMM.  Here 8 x 8 (float) or 4 x 4 (double) blocks go through
 * vector registers (GCC vector extensions and __builtin_shufflevector, compiled for
 * AVX2 and chosen at run time where the CPU has it); edges are copied one by one.
 * A transpose moves values without arithmetic: every variant gives the same bits.
 *
 * Included once, by _engine.pyx (everything here is static).
 */
#ifndef FC_TRANSPOSE_H
#define FC_TRANSPOSE_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && __GNUC__ >= 12 && (defined(__x86_64__) || defined(__i386__)) && \
    !defined(FC_GENERIC_ONLY)
#define FC_TR_AVX2 1
#define FC_TR_TARGET __attribute__((target("avx2")))
#else
#define FC_TR_AVX2 0
#endif

#define FC_DEFINE_TR_SCALAR(T, SUF)                                              \
static void fc_tr_scalar_##SUF(const T *src, ptrdiff_t lds, ptrdiff_t rows,      \
                               ptrdiff_t cols, T *dst)                           \
{                                                                                \
    ptrdiff_t q, q1, o, l;                                                       \
    for (q = 0; q < cols; q = q1) { /* 16 destination rows at a time stay in L1 */ \
        q1 = q + 16 < cols ? q + 16 : cols;                                      \
        for (o = 0; o < rows; o++)                                               \
            for (l = q; l < q1; l++)                                             \
                dst[l * rows + o] = src[o * lds + l];                            \
    }                                                                            \
}
FC_DEFINE_TR_SCALAR(float, f32)
FC_DEFINE_TR_SCALAR(double, f64)

#if FC_TR_AVX2
typedef float fc_tr_v8f __attribute__((vector_size(32), aligned(4), may_alias));
typedef double fc_tr_v4d __attribute__((vector_size(32), aligned(8), may_alias));

/* The edges (columns past the last whole block, rows past the last whole block). */
#define FC_TR_EDGES()                                                            \
    for (l = 0; l < cols; l++) {                                                 \
        ptrdiff_t o0 = (l < cb) ? rb : 0;                                        \
        for (o = o0; o < rows; o++)                                              \
            dst[l * rows + o] = src[o * lds + l];                                \
    }

FC_TR_TARGET static void fc_tr_avx2_f32(const float *src, ptrdiff_t lds, ptrdiff_t rows,
                                        ptrdiff_t cols, float *dst)
{
    ptrdiff_t rb = rows / 8 * 8, cb = cols / 8 * 8, o, l;
    for (l = 0; l < cb; l += 8) {
        for (o = 0; o < rb; o += 8) {
            const float *s = src + o * lds + l;
            fc_tr_v8f r0 = *(const fc_tr_v8f *)(s), r1 = *(const fc_tr_v8f *)(s + lds);
            fc_tr_v8f r2 = *(const fc_tr_v8f *)(s + 2 * lds), r3 = *(const fc_tr_v8f *)(s + 3 * lds);
            fc_tr_v8f r4 = *(const fc_tr_v8f *)(s + 4 * lds), r5 = *(const fc_tr_v8f *)(s + 5 * lds);
            fc_tr_v8f r6 = *(const fc_tr_v8f *)(s + 6 * lds), r7 = *(const fc_tr_v8f *)(s + 7 * lds);
            /* pairs of rows interleaved, then pairs of pairs, then halves */
            fc_tr_v8f t0 = __builtin_shufflevector(r0, r1, 0, 8, 1, 9, 4, 12, 5, 13);
            fc_tr_v8f t1 = __builtin_shufflevector(r0, r1, 2, 10, 3, 11, 6, 14, 7, 15);
            fc_tr_v8f t2 = __builtin_shufflevector(r2, r3, 0, 8, 1, 9, 4, 12, 5, 13);
            fc_tr_v8f t3 = __builtin_shufflevector(r2, r3, 2, 10, 3, 11, 6, 14, 7, 15);
            fc_tr_v8f t4 = __builtin_shufflevector(r4, r5, 0, 8, 1, 9, 4, 12, 5, 13);
            fc_tr_v8f t5 = __builtin_shufflevector(r4, r5, 2, 10, 3, 11, 6, 14, 7, 15);
            fc_tr_v8f t6 = __builtin_shufflevector(r6, r7, 0, 8, 1, 9, 4, 12, 5, 13);
            fc_tr_v8f t7 = __builtin_shufflevector(r6, r7, 2, 10, 3, 11, 6, 14, 7, 15);
            fc_tr_v8f u0 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
            fc_tr_v8f u1 = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
            fc_tr_v8f u2 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
            fc_tr_v8f u3 = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
            fc_tr_v8f u4 = __builtin_shufflevector(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13);
            fc_tr_v8f u5 = __builtin_shufflevector(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
            fc_tr_v8f u6 = __builtin_shufflevector(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13);
            fc_tr_v8f u7 = __builtin_shufflevector(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
            float *d = dst + l * rows + o;
            *(fc_tr_v8f *)(d) = __builtin_shufflevector(u0, u4, 0, 1, 2, 3, 8, 9, 10, 11);
            *(fc_tr_v8f *)(d + rows) = __builtin_shufflevector(u1, u5, 0, 1, 2, 3, 8, 9, 10, 11);
            *(fc_tr_v8f *)(d + 2 * rows) = __builtin_shufflevector(u2, u6, 0, 1, 2, 3, 8, 9, 10, 11);
            *(fc_tr_v8f *)(d + 3 * rows) = __builtin_shufflevector(u3, u7, 0, 1, 2, 3, 8, 9, 10, 11);
            *(fc_tr_v8f *)(d + 4 * rows) = __builtin_shufflevector(u0, u4, 4, 5, 6, 7, 12, 13, 14, 15);
            *(fc_tr_v8f *)(d + 5 * rows) = __builtin_shufflevector(u1, u5, 4, 5, 6, 7, 12, 13, 14, 15);
            *(fc_tr_v8f *)(d + 6 * rows) = __builtin_shufflevector(u2, u6, 4, 5, 6, 7, 12, 13, 14, 15);
            *(fc_tr_v8f *)(d + 7 * rows) = __builtin_shufflevector(u3, u7, 4, 5, 6, 7, 12, 13, 14, 15);
        }
    }
    FC_TR_EDGES()
}

FC_TR_TARGET static void fc_tr_avx2_f64(const double *src, ptrdiff_t lds, ptrdiff_t rows,
                                        ptrdiff_t cols, double *dst)
{
    ptrdiff_t rb = rows / 4 * 4, cb = cols / 4 * 4, o, l;
    for (l = 0; l < cb; l += 4) {
        for (o = 0; o < rb; o += 4) {
            const double *s = src + o * lds + l;
            fc_tr_v4d r0 = *(const fc_tr_v4d *)(s), r1 = *(const fc_tr_v4d *)(s + lds);
            fc_tr_v4d r2 = *(const fc_tr_v4d *)(s + 2 * lds), r3 = *(const fc_tr_v4d *)(s + 3 * lds);
            fc_tr_v4d t0 = __builtin_shufflevector(r0, r1, 0, 4, 2, 6);
            fc_tr_v4d t1 = __builtin_shufflevector(r0, r1, 1, 5, 3, 7);
            fc_tr_v4d t2 = __builtin_shufflevector(r2, r3, 0, 4, 2, 6);
            fc_tr_v4d t3 = __builtin_shufflevector(r2, r3, 1, 5, 3, 7);
            double *d = dst + l * rows + o;
            *(fc_tr_v4d *)(d) = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);
            *(fc_tr_v4d *)(d + rows) = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
            *(fc_tr_v4d *)(d + 2 * rows) = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
            *(fc_tr_v4d *)(d + 3 * rows) = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
        }
    }
    FC_TR_EDGES()
}
#endif

/* 0: scalar; 1: AVX2 -- set once at import by fc_tr_select (the GEMM's variant:
 * FASTCONV_GEMM=generic holds it to scalar, so a test can compare the two; the bits
 * agree either way). */
static int fc_tr_variant = 0;

static void fc_tr_select(int gemm_variant)
{
    int v = 0;
#if FC_TR_AVX2
    __builtin_cpu_init();
    v = gemm_variant >= 1 && __builtin_cpu_supports("avx2");
#endif
    (void)gemm_variant;
    fc_tr_variant = v;
}

static void fc_transpose_f32(const float *src, ptrdiff_t lds, ptrdiff_t rows, ptrdiff_t cols,
                             float *dst)
{
    int v = fc_tr_variant;
#if FC_TR_AVX2
    if (v) {
        fc_tr_avx2_f32(src, lds, rows, cols, dst);
        return;
    }
#endif
    (void)v;
    fc_tr_scalar_f32(src, lds, rows, cols, dst);
}

static void fc_transpose_f64(const double *src, ptrdiff_t lds, ptrdiff_t rows,
                             ptrdiff_t cols, double *dst)
{
    int v = fc_tr_variant;
#if FC_TR_AVX2
    if (v) {
        fc_tr_avx2_f64(src, lds, rows, cols, dst);
        return;
    }
#endif
    (void)v;
    fc_tr_scalar_f64(src, lds, rows, cols, dst);
}

#endif
