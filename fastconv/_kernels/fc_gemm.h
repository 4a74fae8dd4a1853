/* fastconv: a small, deterministic GEMM for the convolution kernels.
 *
 *   fc_gemm_nn_f32 / _f64:   C[M x N] (+)= A[M x K] . B[K x N]
 *
 * All matrices are row-major with explicit leading dimensions.  Every element
 * of C is accumulated over k in ascending order by one register-tiled
 * micro-kernel (edges included: missing rows read a zero row, missing
 * columns a zero-padded copy of B), so the result for an element does not
 * depend on where it sits in C, nor on how callers split work between
 * threads.
 *
 * Three variants of the same source are compiled with different target
 * attributes -- AVX-512, AVX2+FMA and the baseline ISA -- and one is chosen
 * at load time with __builtin_cpu_supports.  The environment variable
 * FASTCONV_GEMM=avx2 or =generic restricts the choice (to test every variant);
 * a variant the CPU lacks is never chosen.
 * Nothing is compiled with -march=native, so one wheel runs on any x86-64.
 */
#ifndef FC_GEMM_H
#define FC_GEMM_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define FC_KC 256 /* k-block: a B panel of FC_KC x NR stays in L1 */

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(FC_GENERIC_ONLY)
#define FC_X86_DISPATCH 1
#define FC_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define FC_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define FC_X86_DISPATCH 0
#endif

#define FC_PRAGMA(x) _Pragma(#x)
#define FC_UNROLL FC_PRAGMA(GCC unroll 32)

/* Vector types that may sit at any element-aligned address and alias the
 * scalar arrays: loads and stores through them compile to unaligned vector
 * moves, and keep accumulators in registers (memcpy did not). */
typedef float fc_v16f __attribute__((vector_size(64), aligned(4), may_alias));
typedef float fc_v8f __attribute__((vector_size(32), aligned(4), may_alias));
typedef float fc_v4f __attribute__((vector_size(16), aligned(4), may_alias));
typedef double fc_v8d __attribute__((vector_size(64), aligned(8), may_alias));
typedef double fc_v4d __attribute__((vector_size(32), aligned(8), may_alias));
typedef double fc_v2d __attribute__((vector_size(16), aligned(8), may_alias));

typedef void (*fc_gemm_f32_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t,
                               const float *, ptrdiff_t, float *, ptrdiff_t, int);
typedef void (*fc_gemm_f64_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const double *, ptrdiff_t,
                               const double *, ptrdiff_t, double *, ptrdiff_t, int);

/* One variant: T scalar, VT vector of VL lanes, MR rows x NV vectors per tile. */
#define FC_DEFINE_GEMM(NAME, ATTR, T, VT, VL, MR, NV)                            \
ATTR static void NAME(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,                     \
                      const T *A, ptrdiff_t lda, const T *B, ptrdiff_t ldb,      \
                      T *C, ptrdiff_t ldc, int accumulate)                       \
{                                                                                \
    enum { NR = VL * NV };                                                       \
    static const T zero_row[FC_KC];                                              \
    T bpad[FC_KC * NR] __attribute__((aligned(64)));                             \
    T ctile[MR * NR] __attribute__((aligned(64)));                               \
    ptrdiff_t k0, i, j, k, r, v, q;                                              \
    if (M <= 0 || N <= 0)                                                        \
        return;                                                                  \
    if (K <= 0) {                                                                \
        if (!accumulate)                                                         \
            for (i = 0; i < M; i++)                                              \
                memset(C + i * ldc, 0, (size_t)N * sizeof(T));                   \
        return;                                                                  \
    }                                                                            \
    for (k0 = 0; k0 < K; k0 += FC_KC) {                                          \
        ptrdiff_t kc = (K - k0 < FC_KC) ? (K - k0) : FC_KC;                      \
        int load_c = accumulate || k0 > 0;                                       \
        for (j = 0; j < N; j += NR) {                                            \
            ptrdiff_t nr = (N - j < NR) ? (N - j) : NR;                          \
            const T *bp;                                                         \
            ptrdiff_t bld;                                                       \
            if (nr == NR) {                                                      \
                bp = B + k0 * ldb + j;                                           \
                bld = ldb;                                                       \
            } else {                                                             \
                for (k = 0; k < kc; k++) {                                       \
                    memcpy(bpad + k * NR, B + (k0 + k) * ldb + j,                \
                           (size_t)nr * sizeof(T));                              \
                    memset(bpad + k * NR + nr, 0, (size_t)(NR - nr) * sizeof(T));\
                }                                                                \
                bp = bpad;                                                       \
                bld = NR;                                                        \
            }                                                                    \
            for (i = 0; i < M; i += MR) {                                        \
                ptrdiff_t mr = (M - i < MR) ? (M - i) : MR;                      \
                int full = (mr == MR && nr == NR);                               \
                const T *ap[MR];                                                 \
                VT acc[MR][NV];                                                  \
                FC_UNROLL                                                        \
                for (r = 0; r < MR; r++)                                         \
                    ap[r] = (r < mr) ? A + (i + r) * lda + k0 : zero_row;        \
                if (!full) {                                                     \
                    memset(ctile, 0, sizeof(ctile));                             \
                    if (load_c)                                                  \
                        for (r = 0; r < mr; r++)                                 \
                            memcpy(ctile + r * NR, C + (i + r) * ldc + j,        \
                                   (size_t)nr * sizeof(T));                      \
                }                                                                \
                FC_UNROLL                                                        \
                for (r = 0; r < MR; r++) {                                       \
                    FC_UNROLL                                                    \
                    for (v = 0; v < NV; v++) {                                   \
                        if (full && load_c)                                      \
                            acc[r][v] = *(const VT *)(C + (i + r) * ldc + j + v * VL); \
                        else if (full) {                                         \
                            VT z = {0};                                          \
                            acc[r][v] = z;                                       \
                        } else                                                   \
                            acc[r][v] = *(const VT *)(ctile + r * NR + v * VL);  \
                    }                                                            \
                }                                                                \
                for (k = 0; k < kc; k++) {                                       \
                    VT b[NV];                                                    \
                    FC_UNROLL                                                    \
                    for (v = 0; v < NV; v++)                                     \
                        b[v] = *(const VT *)(bp + k * bld + v * VL);             \
                    FC_UNROLL                                                    \
                    for (r = 0; r < MR; r++) {                                   \
                        T a = ap[r][k];                                          \
                        FC_UNROLL                                                \
                        for (v = 0; v < NV; v++)                                 \
                            acc[r][v] += a * b[v];                               \
                    }                                                            \
                }                                                                \
                if (full) {                                                      \
                    FC_UNROLL                                                    \
                    for (r = 0; r < MR; r++) {                                   \
                        FC_UNROLL                                                \
                        for (v = 0; v < NV; v++)                                 \
                            *(VT *)(C + (i + r) * ldc + j + v * VL) = acc[r][v]; \
                    }                                                            \
                } else {                                                         \
                    for (r = 0; r < MR; r++)                                     \
                        for (v = 0; v < NV; v++)                                 \
                            *(VT *)(ctile + r * NR + v * VL) = acc[r][v];        \
                    for (r = 0; r < mr; r++)                                     \
                        for (q = 0; q < nr; q++)                                 \
                            C[(i + r) * ldc + j + q] = ctile[r * NR + q];        \
                }                                                                \
            }                                                                    \
        }                                                                        \
    }                                                                            \
}

#define FC_NOATTR
FC_DEFINE_GEMM(fc_gemm_f32_generic, FC_NOATTR, float, fc_v4f, 4, 6, 2)
FC_DEFINE_GEMM(fc_gemm_f64_generic, FC_NOATTR, double, fc_v2d, 2, 6, 2)
#if FC_X86_DISPATCH
FC_DEFINE_GEMM(fc_gemm_f32_avx2, FC_TARGET_AVX2, float, fc_v8f, 8, 6, 2)
FC_DEFINE_GEMM(fc_gemm_f64_avx2, FC_TARGET_AVX2, double, fc_v4d, 4, 6, 2)
FC_DEFINE_GEMM(fc_gemm_f32_avx512, FC_TARGET_AVX512, float, fc_v16f, 16, 8, 2)
FC_DEFINE_GEMM(fc_gemm_f64_avx512, FC_TARGET_AVX512, double, fc_v8d, 8, 8, 2)
#endif

static fc_gemm_f32_fn fc_gemm_nn_f32_ptr = fc_gemm_f32_generic;
static fc_gemm_f64_fn fc_gemm_nn_f64_ptr = fc_gemm_f64_generic;
static const char *fc_gemm_variant = "generic";

/* Pick the variant once, at module import (before any thread runs a kernel). */
static const char *fc_gemm_init(void)
{
    const char *want = getenv("FASTCONV_GEMM");
#if FC_X86_DISPATCH
    int avx512, avx2;
    __builtin_cpu_init();
    avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
    avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (want && strcmp(want, "generic") == 0)
        avx512 = avx2 = 0;
    else if (want && strcmp(want, "avx2") == 0)
        avx512 = 0;
    if (avx512) {
        fc_gemm_nn_f32_ptr = fc_gemm_f32_avx512;
        fc_gemm_nn_f64_ptr = fc_gemm_f64_avx512;
        fc_gemm_variant = "avx512";
    } else if (avx2) {
        fc_gemm_nn_f32_ptr = fc_gemm_f32_avx2;
        fc_gemm_nn_f64_ptr = fc_gemm_f64_avx2;
        fc_gemm_variant = "avx2";
    } else {
        fc_gemm_nn_f32_ptr = fc_gemm_f32_generic;
        fc_gemm_nn_f64_ptr = fc_gemm_f64_generic;
        fc_gemm_variant = "generic";
    }
#else
    (void)want;
#endif
    return fc_gemm_variant;
}

static inline void fc_gemm_nn_f32(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A,
                                  ptrdiff_t lda, const float *B, ptrdiff_t ldb, float *C,
                                  ptrdiff_t ldc, int accumulate)
{
    fc_gemm_nn_f32_ptr(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

static inline void fc_gemm_nn_f64(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const double *A,
                                  ptrdiff_t lda, const double *B, ptrdiff_t ldb, double *C,
                                  ptrdiff_t ldc, int accumulate)
{
    fc_gemm_nn_f64_ptr(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

#endif /* FC_GEMM_H */
