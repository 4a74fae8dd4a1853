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
typedef void (*fc_ind_f32_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t,
                              const float *, const ptrdiff_t *, const ptrdiff_t *, float *,
                              ptrdiff_t, int, const float *);
typedef void (*fc_rows_f32_fn)(ptrdiff_t, ptrdiff_t, const float *, const ptrdiff_t *,
                               const ptrdiff_t *, const ptrdiff_t *, ptrdiff_t, const float *,
                               ptrdiff_t, float *, ptrdiff_t, int);
typedef void (*fc_rows_f64_fn)(ptrdiff_t, ptrdiff_t, const double *, const ptrdiff_t *,
                               const ptrdiff_t *, const ptrdiff_t *, ptrdiff_t, const double *,
                               ptrdiff_t, double *, ptrdiff_t, int);
typedef void (*fc_ind_f64_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const double *, ptrdiff_t,
                              const double *, const ptrdiff_t *, const ptrdiff_t *, double *,
                              ptrdiff_t, int, const double *);

/* One variant: T scalar, VT vector of VL lanes, MR rows x NV vectors per tile.
 * PFX##_panel runs the micro-kernel down one column panel of C (all rows, one
 * k-block); the drivers PFX##_nn, PFX##_ind and PFX##_rows differ only in
 * where the A rows and the B panel come from. */
#define FC_DEFINE_GEMM(PFX, ATTR, T, VT, VL, MR, NV)                             \
enum { PFX##_NR = VL * NV };                                                     \
ATTR static void PFX##_panel(ptrdiff_t M, ptrdiff_t kc,                          \
                             const T *A, ptrdiff_t lda,  /* column k0 of A */    \
                             const ptrdiff_t *aoffs,     /* or rows at A+aoffs[i] */ \
                             const T *bp, ptrdiff_t bld, /* kc x NR panel of B */\
                             T *C, ptrdiff_t ldc, ptrdiff_t nr, int load_c,      \
                             const T *rowinit) /* !load_c: C starts at these */  \
{                                                                                \
    enum { NR = PFX##_NR };                                                      \
    static const T zero_row[FC_KC];                                              \
    T ctile[MR * NR] __attribute__((aligned(64)));                               \
    ptrdiff_t i, k, r, v, q;                                                     \
    for (i = 0; i < M; i += MR) {                                                \
        ptrdiff_t mr = (M - i < MR) ? (M - i) : MR;                              \
        int full = (mr == MR && nr == NR);                                       \
        const T *ap[MR];                                                         \
        VT acc[MR][NV];                                                          \
        FC_UNROLL                                                                \
        for (r = 0; r < MR; r++)                                                 \
            ap[r] = (r < mr) ? A + (aoffs ? aoffs[i + r] : (i + r) * lda) : zero_row; \
        if (!full) {                                                             \
            memset(ctile, 0, sizeof(ctile));                                     \
            if (load_c)                                                          \
                for (r = 0; r < mr; r++)                                         \
                    memcpy(ctile + r * NR, C + (i + r) * ldc, (size_t)nr * sizeof(T)); \
            else if (rowinit)                                                    \
                for (r = 0; r < mr; r++)                                         \
                    for (q = 0; q < NR; q++)                                     \
                        ctile[r * NR + q] = rowinit[i + r];                      \
        }                                                                        \
        FC_UNROLL                                                                \
        for (r = 0; r < MR; r++) {                                               \
            FC_UNROLL                                                            \
            for (v = 0; v < NV; v++) {                                           \
                if (full && load_c)                                              \
                    acc[r][v] = *(const VT *)(C + (i + r) * ldc + v * VL);       \
                else if (full) {                                                 \
                    VT z = {0};                                                  \
                    if (rowinit)                                                 \
                        z += rowinit[i + r];                                     \
                    acc[r][v] = z;                                               \
                } else                                                           \
                    acc[r][v] = *(const VT *)(ctile + r * NR + v * VL);          \
            }                                                                    \
        }                                                                        \
        for (k = 0; k < kc; k++) {                                               \
            VT b[NV];                                                            \
            FC_UNROLL                                                            \
            for (v = 0; v < NV; v++)                                             \
                b[v] = *(const VT *)(bp + k * bld + v * VL);                     \
            FC_UNROLL                                                            \
            for (r = 0; r < MR; r++) {                                           \
                T a = ap[r][k];                                                  \
                FC_UNROLL                                                        \
                for (v = 0; v < NV; v++)                                         \
                    acc[r][v] += a * b[v];                                       \
            }                                                                    \
        }                                                                        \
        if (full) {                                                              \
            FC_UNROLL                                                            \
            for (r = 0; r < MR; r++) {                                           \
                FC_UNROLL                                                        \
                for (v = 0; v < NV; v++)                                         \
                    *(VT *)(C + (i + r) * ldc + v * VL) = acc[r][v];             \
            }                                                                    \
        } else {                                                                 \
            for (r = 0; r < MR; r++)                                             \
                for (v = 0; v < NV; v++)                                         \
                    *(VT *)(ctile + r * NR + v * VL) = acc[r][v];                \
            for (r = 0; r < mr; r++)                                             \
                for (q = 0; q < nr; q++)                                         \
                    C[(i + r) * ldc + q] = ctile[r * NR + q];                    \
        }                                                                        \
    }                                                                            \
}                                                                                \
/* C (+)= A . B, B row-major with leading dimension ldb */                       \
ATTR static void PFX##_nn(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,                 \
                          const T *A, ptrdiff_t lda, const T *B, ptrdiff_t ldb,  \
                          T *C, ptrdiff_t ldc, int accumulate)                   \
{                                                                                \
    enum { NR = PFX##_NR };                                                      \
    T bpad[FC_KC * NR] __attribute__((aligned(64)));                             \
    ptrdiff_t k0, j, k;                                                          \
    if (M <= 0 || N <= 0)                                                        \
        return;                                                                  \
    if (K <= 0) {                                                                \
        if (!accumulate)                                                         \
            for (j = 0; j < M; j++)                                              \
                memset(C + j * ldc, 0, (size_t)N * sizeof(T));                   \
        return;                                                                  \
    }                                                                            \
    for (k0 = 0; k0 < K; k0 += FC_KC) {                                          \
        ptrdiff_t kc = (K - k0 < FC_KC) ? (K - k0) : FC_KC;                      \
        for (j = 0; j < N; j += NR) {                                            \
            ptrdiff_t nr = (N - j < NR) ? (N - j) : NR;                          \
            if (nr == NR) {                                                      \
                PFX##_panel(M, kc, A + k0, lda, NULL, B + k0 * ldb + j, ldb,     \
                            C + j, ldc, nr, accumulate || k0 > 0, NULL);         \
                continue;                                                        \
            }                                                                    \
            for (k = 0; k < kc; k++) {                                           \
                memcpy(bpad + k * NR, B + (k0 + k) * ldb + j, (size_t)nr * sizeof(T)); \
                memset(bpad + k * NR + nr, 0, (size_t)(NR - nr) * sizeof(T));    \
            }                                                                    \
            PFX##_panel(M, kc, A + k0, lda, NULL, bpad, NR, C + j, ldc, nr,      \
                        accumulate || k0 > 0, NULL);                             \
        }                                                                        \
    }                                                                            \
}                                                                                \
/* C (+)= A . B for an implicit B: B[k][n] = S[offs[k] + cols[n]], with cols    \
 * strictly increasing.  Each kc x NR panel is gathered into an L1-resident     \
 * buffer (vector copies where the panel's columns are contiguous in S).        \
 * Without accumulate, row i of C starts at rowinit[i] (0 if rowinit is NULL):  \
 * C[i][n] = rowinit[i] + sum_k A[i][k] B[k][n], summed in that order.  */       \
ATTR static void PFX##_ind(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,                \
                           const T *A, ptrdiff_t lda, const T *S,                \
                           const ptrdiff_t *offs, const ptrdiff_t *cols,         \
                           T *C, ptrdiff_t ldc, int accumulate,                  \
                           const T *rowinit)                                     \
{                                                                                \
    enum { NR = PFX##_NR };                                                      \
    T bpk[FC_KC * NR] __attribute__((aligned(64)));                              \
    ptrdiff_t k0, j, k, v, q;                                                    \
    if (M <= 0 || N <= 0 || K <= 0)                                              \
        return; /* (callers have K >= 1) */                                      \
    for (k0 = 0; k0 < K; k0 += FC_KC) {                                          \
        ptrdiff_t kc = (K - k0 < FC_KC) ? (K - k0) : FC_KC;                      \
        for (j = 0; j < N; j += NR) {                                            \
            ptrdiff_t nr = (N - j < NR) ? (N - j) : NR;                          \
            const ptrdiff_t *cj = cols + j;                                      \
            if (nr == NR && cj[NR - 1] - cj[0] == NR - 1) {                      \
                const T *s0 = S + cj[0];                                         \
                for (k = 0; k < kc; k++) {                                       \
                    const T *src = s0 + offs[k0 + k];                            \
                    FC_UNROLL                                                    \
                    for (v = 0; v < NV; v++)                                     \
                        *(VT *)(bpk + k * NR + v * VL) = *(const VT *)(src + v * VL); \
                }                                                                \
            } else { /* split the panel into runs of consecutive columns */     \
                ptrdiff_t run_src[NR], run_dst[NR], run_len[NR], nrun = 0, r;    \
                for (q = 0; q < nr; q = v) {                                     \
                    for (v = q + 1; v < nr && cj[v] == cj[v - 1] + 1; v++)       \
                        ;                                                        \
                    run_src[nrun] = cj[q];                                       \
                    run_dst[nrun] = q;                                           \
                    run_len[nrun++] = v - q;                                     \
                }                                                                \
                for (k = 0; k < kc; k++) {                                       \
                    const T *src = S + offs[k0 + k];                             \
                    T *dst = bpk + k * NR;                                       \
                    for (r = 0; r < nrun; r++)                                   \
                        for (q = 0; q < run_len[r]; q++)                         \
                            dst[run_dst[r] + q] = src[run_src[r] + q];           \
                    for (q = nr; q < NR; q++)                                    \
                        dst[q] = 0;                                              \
                }                                                                \
            }                                                                    \
            PFX##_panel(M, kc, A + k0, lda, NULL, bpk, NR, C + j, ldc, nr,       \
                        accumulate || k0 > 0, rowinit);                          \
        }                                                                        \
    }                                                                            \
}                                                                                \
/* C (+)= A . B for an implicit A whose rows start at S + aoffs[i] and whose k  \
 * runs in segments: A[i][k] = S[aoffs[i] + seg_src[s] + (k - k_s)] for the k   \
 * of segment s (seg_len[s] consecutive k from k_s, segments in order).  */      \
ATTR static void PFX##_rows(ptrdiff_t M, ptrdiff_t N, const T *S,               \
                            const ptrdiff_t *aoffs, const ptrdiff_t *seg_src,    \
                            const ptrdiff_t *seg_len, ptrdiff_t nseg,            \
                            const T *B, ptrdiff_t ldb, T *C, ptrdiff_t ldc,      \
                            int accumulate)                                      \
{                                                                                \
    enum { NR = PFX##_NR };                                                      \
    T bpad[FC_KC * NR] __attribute__((aligned(64)));                             \
    ptrdiff_t sg, k0, kb = 0, j, k;                                              \
    if (M <= 0 || N <= 0)                                                        \
        return;                                                                  \
    for (sg = 0; sg < nseg; sg++) {                                              \
        for (k0 = 0; k0 < seg_len[sg]; k0 += FC_KC) {                            \
            ptrdiff_t kc = (seg_len[sg] - k0 < FC_KC) ? (seg_len[sg] - k0) : FC_KC; \
            const T *a = S + seg_src[sg] + k0;                                   \
            const T *b = B + kb * ldb;                                           \
            int load_c = accumulate || kb > 0;                                   \
            for (j = 0; j < N; j += NR) {                                        \
                ptrdiff_t nr = (N - j < NR) ? (N - j) : NR;                      \
                if (nr == NR) {                                                  \
                    PFX##_panel(M, kc, a, 0, aoffs, b + j, ldb, C + j, ldc, nr,  \
                                load_c, NULL);                                   \
                    continue;                                                    \
                }                                                                \
                for (k = 0; k < kc; k++) {                                       \
                    memcpy(bpad + k * NR, b + k * ldb + j, (size_t)nr * sizeof(T)); \
                    memset(bpad + k * NR + nr, 0, (size_t)(NR - nr) * sizeof(T)); \
                }                                                                \
                PFX##_panel(M, kc, a, 0, aoffs, bpad, NR, C + j, ldc, nr, load_c, \
                            NULL);                                               \
            }                                                                    \
            kb += kc;                                                            \
        }                                                                        \
    }                                                                            \
}

#define FC_NOATTR
FC_DEFINE_GEMM(fc_f32_generic, FC_NOATTR, float, fc_v4f, 4, 6, 2)
FC_DEFINE_GEMM(fc_f64_generic, FC_NOATTR, double, fc_v2d, 2, 6, 2)
#if FC_X86_DISPATCH
FC_DEFINE_GEMM(fc_f32_avx2, FC_TARGET_AVX2, float, fc_v8f, 8, 6, 2)
FC_DEFINE_GEMM(fc_f64_avx2, FC_TARGET_AVX2, double, fc_v4d, 4, 6, 2)
FC_DEFINE_GEMM(fc_f32_avx512, FC_TARGET_AVX512, float, fc_v16f, 16, 8, 2)
FC_DEFINE_GEMM(fc_f64_avx512, FC_TARGET_AVX512, double, fc_v8d, 8, 8, 2)
#endif

/* The chosen variant's entry points. */
static struct {
    fc_gemm_f32_fn nn_f32;
    fc_gemm_f64_fn nn_f64;
    fc_ind_f32_fn ind_f32;
    fc_ind_f64_fn ind_f64;
    fc_rows_f32_fn rows_f32;
    fc_rows_f64_fn rows_f64;
    ptrdiff_t nr_f32, nr_f64;  /* panel widths: the column granule of the GEMM */
    const char *name;
} fc_gemm = {fc_f32_generic_nn, fc_f64_generic_nn, fc_f32_generic_ind, fc_f64_generic_ind,
             fc_f32_generic_rows, fc_f64_generic_rows, fc_f32_generic_NR, fc_f64_generic_NR,
             "generic"};

#define FC_USE(V)                                                                \
    do {                                                                         \
        fc_gemm.nn_f32 = fc_f32_##V##_nn;                                        \
        fc_gemm.nn_f64 = fc_f64_##V##_nn;                                        \
        fc_gemm.ind_f32 = fc_f32_##V##_ind;                                      \
        fc_gemm.ind_f64 = fc_f64_##V##_ind;                                      \
        fc_gemm.rows_f32 = fc_f32_##V##_rows;                                    \
        fc_gemm.rows_f64 = fc_f64_##V##_rows;                                    \
        fc_gemm.nr_f32 = fc_f32_##V##_NR;                                        \
        fc_gemm.nr_f64 = fc_f64_##V##_NR;                                        \
        fc_gemm.name = #V;                                                       \
    } while (0)

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
    if (avx512)
        FC_USE(avx512);
    else if (avx2)
        FC_USE(avx2);
    else
        FC_USE(generic);
#else
    (void)want;
#endif
    return fc_gemm.name;
}

static inline void fc_gemm_nn_f32(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A,
                                  ptrdiff_t lda, const float *B, ptrdiff_t ldb, float *C,
                                  ptrdiff_t ldc, int accumulate)
{
    fc_gemm.nn_f32(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

static inline void fc_gemm_nn_f64(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const double *A,
                                  ptrdiff_t lda, const double *B, ptrdiff_t ldb, double *C,
                                  ptrdiff_t ldc, int accumulate)
{
    fc_gemm.nn_f64(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

static inline void fc_gemm_ind_f32(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A,
                                   ptrdiff_t lda, const float *S, const ptrdiff_t *offs,
                                   const ptrdiff_t *cols, float *C, ptrdiff_t ldc,
                                   const float *rowinit)
{
    fc_gemm.ind_f32(M, N, K, A, lda, S, offs, cols, C, ldc, 0, rowinit);
}

static inline void fc_gemm_ind_f64(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const double *A,
                                   ptrdiff_t lda, const double *S, const ptrdiff_t *offs,
                                   const ptrdiff_t *cols, double *C, ptrdiff_t ldc,
                                   const double *rowinit)
{
    fc_gemm.ind_f64(M, N, K, A, lda, S, offs, cols, C, ldc, 0, rowinit);
}

static inline void fc_gemm_rows_f32(ptrdiff_t M, ptrdiff_t N, const float *S,
                                    const ptrdiff_t *aoffs, const ptrdiff_t *seg_src,
                                    const ptrdiff_t *seg_len, ptrdiff_t nseg, const float *B,
                                    ptrdiff_t ldb, float *C, ptrdiff_t ldc)
{
    fc_gemm.rows_f32(M, N, S, aoffs, seg_src, seg_len, nseg, B, ldb, C, ldc, 1);
}

static inline void fc_gemm_rows_f64(ptrdiff_t M, ptrdiff_t N, const double *S,
                                    const ptrdiff_t *aoffs, const ptrdiff_t *seg_src,
                                    const ptrdiff_t *seg_len, ptrdiff_t nseg, const double *B,
                                    ptrdiff_t ldb, double *C, ptrdiff_t ldc)
{
    fc_gemm.rows_f64(M, N, S, aoffs, seg_src, seg_len, nseg, B, ldb, C, ldc, 1);
}

static inline ptrdiff_t fc_gemm_nr(int is_f64)
{
    return is_f64 ? fc_gemm.nr_f64 : fc_gemm.nr_f32;
}

#endif /* FC_GEMM_H */
