/* fastconv: a small, deterministic GEMM for the convolution kernels.
 *
 * This file is compiled once, into the extension module fastconv._kernels._gemm;
 * other extensions reach it through the cdef functions of _gemm.pxd (Cython's
 * cross-module C function import), never by compiling it again.  fc_gemm.h
 * declares what is here.
 *
 *   fc_gemm_nn_*:   C[M x N] (+)= A[M x K] . B[K x N], row-major, leading dimensions
 *   fc_gemm_ind_*:  the same for an implicit B[k][n] = S[offs[k] + cols[n]]
 *   fc_gemm_rows_*: the same for an implicit A made of row segments of S
 *   fc_gemm_*:      the general product, any row and column strides for A, B and C,
 *                   blocked MC x KC x NC (fc_gemm_blocking) around the same micro-kernel
 *
 * Every element of C is accumulated over k in ascending order by one
 * register-tiled micro-kernel (edges included: missing rows read a zero row,
 * missing columns a zero-padded copy of B), so the result for an element does
 * not depend on where it sits in C, on the blocking, nor on how callers split
 * work between threads.
 *
 * Three variants of the same source are compiled with different target
 * attributes -- AVX-512, AVX2+FMA and the baseline ISA -- and one is chosen
 * at load time with __builtin_cpu_supports.  The environment variable
 * FASTCONV_GEMM=avx2 or =generic restricts the choice (to test every variant);
 * a variant the CPU lacks is never chosen.
 * Nothing is compiled with -march=native, so one wheel runs on any x86-64.
 */
#include "fc_gemm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(FC_GENERIC_ONLY)
#define FC_X86_DISPATCH 1
#define FC_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define FC_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define FC_X86_DISPATCH 0
#endif

/* Vector types that may sit at any element-aligned address and alias the
 * scalar arrays: loads and stores through them compile to unaligned vector
 * moves, and keep accumulators in registers (memcpy did not). */
typedef float fc_v16f __attribute__((vector_size(64), aligned(4), may_alias));
typedef float fc_v8f __attribute__((vector_size(32), aligned(4), may_alias));
typedef float fc_v4f __attribute__((vector_size(16), aligned(4), may_alias));
typedef double fc_v8d __attribute__((vector_size(64), aligned(8), may_alias));
typedef double fc_v4d __attribute__((vector_size(32), aligned(8), may_alias));
typedef double fc_v2d __attribute__((vector_size(16), aligned(8), may_alias));

typedef void (*fc_nn_f32_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t,
                             const float *, ptrdiff_t, float *, ptrdiff_t, int);
typedef void (*fc_nn_f64_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const double *, ptrdiff_t,
                             const double *, ptrdiff_t, double *, ptrdiff_t, int);
typedef void (*fc_ind_f32_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t,
                              const float *, const ptrdiff_t *, const ptrdiff_t *, float *,
                              ptrdiff_t, int, const float *);
typedef void (*fc_ind_f64_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const double *, ptrdiff_t,
                              const double *, const ptrdiff_t *, const ptrdiff_t *, double *,
                              ptrdiff_t, int, const double *);
typedef void (*fc_rows_f32_fn)(ptrdiff_t, ptrdiff_t, const float *, const ptrdiff_t *,
                               const ptrdiff_t *, const ptrdiff_t *, ptrdiff_t, const float *,
                               ptrdiff_t, float *, ptrdiff_t, int);
typedef void (*fc_rows_f64_fn)(ptrdiff_t, ptrdiff_t, const double *, const ptrdiff_t *,
                               const ptrdiff_t *, const ptrdiff_t *, ptrdiff_t, const double *,
                               ptrdiff_t, double *, ptrdiff_t, int);
typedef void (*fc_gen_f32_fn)(const fc_gemm_blocking *, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                              const float *, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t,
                              ptrdiff_t, float *, ptrdiff_t, ptrdiff_t, int);
typedef void (*fc_gen_f64_fn)(const fc_gemm_blocking *, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                              const double *, ptrdiff_t, ptrdiff_t, const double *, ptrdiff_t,
                              ptrdiff_t, double *, ptrdiff_t, ptrdiff_t, int);

static inline char *fc_align64(char *p)
{
    return (char *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
}

static inline ptrdiff_t fc_round_up(ptrdiff_t n, ptrdiff_t m)
{
    return (n + m - 1) / m * m;
}

/* The blocking of one call: the caller's (fields <= 0 mean the default), then
 * mc and nc rounded up to whole tiles, kc capped at FC_KC_MAX, and all three
 * capped at the problem (a small product allocates a small workspace). */
static inline void fc_resolve_blocking(const fc_gemm_blocking *blk, ptrdiff_t dmc,
                                       ptrdiff_t dkc, ptrdiff_t dnc, ptrdiff_t mr,
                                       ptrdiff_t nr, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,
                                       ptrdiff_t *mc, ptrdiff_t *kc, ptrdiff_t *nc)
{
    ptrdiff_t m = (blk && blk->mc > 0) ? blk->mc : dmc;
    ptrdiff_t k = (blk && blk->kc > 0) ? blk->kc : dkc;
    ptrdiff_t n = (blk && blk->nc > 0) ? blk->nc : dnc;
    m = fc_round_up(m < M ? m : M, mr);
    n = fc_round_up(n < N ? n : N, nr);
    k = k < FC_KC_MAX ? k : FC_KC_MAX;
    *mc = m;
    *kc = k < K ? k : K;
    *nc = n;
}


/* Default blocking of the general driver per variant (MC x KC x NC elements).
 * Chosen by measurement (AMD EPYC Zen 4, one thread, FASTCONV_GEMM forcing the
 * lower variants): the best geometric mean, over a grid MC in {64, 128, 256},
 * KC in {128, 256, 512}, NC in {512, 2048, 8192}, of the fraction of the best
 * GFLOP/s on four products M x N x K: 512^3, 64 x 3136 x 576 (a VGG forward
 * sample), 256 x 196 x 2304, 128 x 12544 x 1152.  Most of the grid is within a
 * few per cent of the best; NC = 512 was the clearest choice (the packed
 * KC x NC block of B, 0.25-2 MB, stays near the 1 MB L2).  MC and NC are rounded up to whole micro-tiles. */
#define FC_DMC_GENERIC_F32 256
#define FC_DKC_GENERIC_F32 512
#define FC_DNC_GENERIC_F32 2048
#define FC_DMC_GENERIC_F64 64
#define FC_DKC_GENERIC_F64 512
#define FC_DNC_GENERIC_F64 2048
#define FC_DMC_AVX2_F32 256
#define FC_DKC_AVX2_F32 512
#define FC_DNC_AVX2_F32 512
#define FC_DMC_AVX2_F64 64
#define FC_DKC_AVX2_F64 128
#define FC_DNC_AVX2_F64 512
#define FC_DMC_AVX512_F32 64
#define FC_DKC_AVX512_F32 512
#define FC_DNC_AVX512_F32 512
#define FC_DMC_AVX512_F64 128
#define FC_DKC_AVX512_F64 512
#define FC_DNC_AVX512_F64 512

/* Row blocks of the nn and rows drivers (0: all rows at once) -- the A rows of one
 * FC_KC-deep k-block that sweep the column panels while they stay in L2.  For AVX2,
 * by measurement on an AMD EPYC Zen 3 (512 KiB L2), one thread: without it a
 * 2048-row A (2 MiB per k-block) came from L3 for every 16-column panel. */
#ifndef FC_MCB_AVX2_F32
#define FC_MCB_AVX2_F32 96
#endif
#ifndef FC_MCB_AVX2_F64
#define FC_MCB_AVX2_F64 48
#endif

/* Panels the ind driver gathers at once when it blocks the rows (64 KiB of float32
 * panels for AVX2). */
#define FC_IND_GROUP 4

/* Copies n bytes (n a multiple of the element size, n >= 4) from src to dst with
 * fixed-size moves: whole 64-byte blocks and one more ending at the last byte
 * (overlapping the one before), or two overlapping moves of the largest power of
 * two <= n below 64.  The gather of the ind driver copies runs of a few dozen
 * elements; per element it cost 3-5% of a strip GEMM's time.  Inlined into
 * each variant, the moves take that variant's widest vectors. */
static inline __attribute__((always_inline)) void fc_copy_run(char *dst, const char *src,
                                                              size_t n)
{
    size_t o;
    if (n >= 64) {
        for (o = 0; o + 64 <= n; o += 64)
            memcpy(dst + o, src + o, 64);
        if (o < n)
            memcpy(dst + n - 64, src + n - 64, 64);
    } else if (n >= 32) {
        memcpy(dst, src, 32);
        memcpy(dst + n - 32, src + n - 32, 32);
    } else if (n >= 16) {
        memcpy(dst, src, 16);
        memcpy(dst + n - 16, src + n - 16, 16);
    } else if (n >= 8) {
        memcpy(dst, src, 8);
        memcpy(dst + n - 8, src + n - 8, 8);
    } else {
        memcpy(dst, src, 4);
    }
}

#define FC_PRAGMA(x) _Pragma(#x)
#define FC_UNROLL FC_PRAGMA(GCC unroll 32)

/* One k step of the micro-kernel: MR x NV vectors of C += A[:, k] * B[k, :]. */
#define FC_KSTEP(T, VT, VL, MR, NV)                                              \
    {                                                                            \
        VT b[NV];                                                                \
        FC_UNROLL                                                                \
        for (v = 0; v < NV; v++)                                                 \
            b[v] = *(const VT *)(bp + k * bld + v * VL);                         \
        FC_UNROLL                                                                \
        for (r = 0; r < MR; r++) {                                               \
            T a = ap[r][k];                                                      \
            FC_UNROLL                                                            \
            for (v = 0; v < NV; v++)                                             \
                acc[r][v] += a * b[v];                                           \
        }                                                                        \
    }

/* NAME runs the micro-kernel (MR rows x NV vectors of VL lanes) down one
 * column panel of C: all M rows, one k-block, B a kc x (VL * NV) panel. */
#define FC_DEFINE_PANEL(NAME, ATTR, T, VT, VL, MR, NV)                           \
ATTR static void NAME(ptrdiff_t M, ptrdiff_t kc,                                 \
                             const T *A, ptrdiff_t lda,  /* column k0 of A */    \
                             const ptrdiff_t *aoffs,     /* or rows at A+aoffs[i] */ \
                             const T *bp, ptrdiff_t bld, /* kc x NR panel of B */\
                             T *C, ptrdiff_t ldc, ptrdiff_t nr, int load_c,      \
                             const T *rowinit, /* !load_c: C starts at these */  \
                             const T *bpf,     /* next panel to prefetch, or NULL */\
                             ptrdiff_t pld)    /* its leading dimension */       \
{                                                                                \
    enum { NR = VL * NV };                                                       \
    static const T zero_row[FC_KC_MAX];                                          \
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
        if (bpf && i == 0) { /* the first row tile prefetches the next panel */  \
            for (k = 0; k < kc; k++) {                                           \
                FC_UNROLL                                                        \
                for (q = 0; q < (ptrdiff_t)(NR * sizeof(T)); q += 64)            \
                    __builtin_prefetch((const char *)(bpf + k * pld) + q, 0, 3); \
                FC_KSTEP(T, VT, VL, MR, NV)                                      \
            }                                                                    \
        } else {                                                                 \
            for (k = 0; k < kc; k++) {                                           \
                FC_KSTEP(T, VT, VL, MR, NV)                                      \
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
}

/* One variant: T scalar, VT vector of VL lanes, MR rows x NV vectors per tile
 * (any NV >= 2).  PFX##_panel is the micro-kernel down one column panel, PFX##_half
 * the same at about half width (PFX##_NH = VL * ceil(NV / 2) columns) for a last
 * panel of at most NH
 * columns; the drivers PFX##_nn, PFX##_ind and PFX##_rows differ only in where
 * the A rows and the B panel come from.  MCB > 0 blocks the rows of the nn and
 * rows drivers (at most MCB rows of A, one k-block deep, stay in L2 while they
 * sweep the columns); PACKB copies every B panel of those two drivers into a
 * contiguous L1 buffer (B's rows may be far apart: cache-set conflicts, TLB).
 * Neither changes a sum: each element is still summed over k in ascending
 * order by the same micro-kernel. */
#define FC_DEFINE_GEMM(PFX, ATTR, T, VT, VL, MR, NV, DMC, DKC, DNC, MCB, PACKB)  \
enum { PFX##_NR = VL * NV, PFX##_NH = VL * (((NV) + 1) / 2), PFX##_MR = MR,      \
       PFX##_MC = DMC, PFX##_KC = DKC, PFX##_NC = DNC };                         \
FC_DEFINE_PANEL(PFX##_panel, ATTR, T, VT, VL, MR, NV)                            \
FC_DEFINE_PANEL(PFX##_half, ATTR, T, VT, VL, MR, (((NV) + 1) / 2))               \
/* One panel of the nn / rows drivers: columns j.. of B (leading dimension ldb,  \
 * nr <= NR of them), straight from B or through bpad (padded with zeros).  */   \
ATTR static void PFX##_bpanel(ptrdiff_t M, ptrdiff_t kc, const T *A, ptrdiff_t lda, \
                              const ptrdiff_t *aoffs, const T *B, ptrdiff_t ldb, \
                              ptrdiff_t nr, ptrdiff_t ncols_after, T *C,         \
                              ptrdiff_t ldc, int load_c, T *bpad)                \
{                                                                                \
    enum { NR = PFX##_NR, NH = PFX##_NH };                                       \
    ptrdiff_t k, v;                                                              \
    if (nr == NR && !(PACKB)) {                                                  \
        PFX##_panel(M, kc, A, lda, aoffs, B, ldb, C, ldc, nr, load_c, NULL,      \
                    ncols_after >= NR ? B + NR : NULL, ldb);                     \
    } else if (nr == NR) {                                                       \
        for (k = 0; k < kc; k++) {                                               \
            FC_UNROLL                                                            \
            for (v = 0; v < NV; v++)                                             \
                *(VT *)(bpad + k * NR + v * VL) = *(const VT *)(B + k * ldb + v * VL); \
        }                                                                        \
        PFX##_panel(M, kc, A, lda, aoffs, bpad, NR, C, ldc, nr, load_c, NULL,    \
                    ncols_after >= NR ? B + NR : NULL, ldb);                     \
    } else if (nr <= NH) {                                                       \
        for (k = 0; k < kc; k++) {                                               \
            memcpy(bpad + k * NH, B + k * ldb, (size_t)nr * sizeof(T));          \
            memset(bpad + k * NH + nr, 0, (size_t)(NH - nr) * sizeof(T));        \
        }                                                                        \
        PFX##_half(M, kc, A, lda, aoffs, bpad, NH, C, ldc, nr, load_c, NULL, NULL, 0); \
    } else {                                                                     \
        for (k = 0; k < kc; k++) {                                               \
            memcpy(bpad + k * NR, B + k * ldb, (size_t)nr * sizeof(T));          \
            memset(bpad + k * NR + nr, 0, (size_t)(NR - nr) * sizeof(T));        \
        }                                                                        \
        PFX##_panel(M, kc, A, lda, aoffs, bpad, NR, C, ldc, nr, load_c, NULL, NULL, 0); \
    }                                                                            \
}                                                                                \
/* Rows per block of the nn / rows drivers: all M, or M split into equal blocks \
 * of at most MCB rows (whole tiles). */                                         \
static inline ptrdiff_t PFX##_row_block(ptrdiff_t M)                             \
{                                                                                \
    ptrdiff_t blk = (MCB), nb;                                                   \
    if (blk <= 0 || M <= blk)                                                    \
        return M;                                                                \
    nb = (M + blk - 1) / blk;                                                    \
    return fc_round_up((M + nb - 1) / nb, MR);                                   \
}                                                                                \
/* C (+)= A . B, B row-major with leading dimension ldb */                       \
ATTR static void PFX##_nn(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,                 \
                          const T *A, ptrdiff_t lda, const T *B, ptrdiff_t ldb,  \
                          T *C, ptrdiff_t ldc, int accumulate)                   \
{                                                                                \
    enum { NR = PFX##_NR };                                                      \
    T bpad[FC_KC * NR] __attribute__((aligned(64)));                             \
    ptrdiff_t k0, i0, j, mb;                                                     \
    if (M <= 0 || N <= 0)                                                        \
        return;                                                                  \
    if (K <= 0) {                                                                \
        if (!accumulate)                                                         \
            for (j = 0; j < M; j++)                                              \
                memset(C + j * ldc, 0, (size_t)N * sizeof(T));                   \
        return;                                                                  \
    }                                                                            \
    mb = PFX##_row_block(M);                                                     \
    for (k0 = 0; k0 < K; k0 += FC_KC) {                                          \
        ptrdiff_t kc = (K - k0 < FC_KC) ? (K - k0) : FC_KC;                      \
        for (i0 = 0; i0 < M; i0 += mb) {                                         \
            ptrdiff_t mcur = (M - i0 < mb) ? (M - i0) : mb;                      \
            for (j = 0; j < N; j += NR) {                                        \
                ptrdiff_t nr = (N - j < NR) ? (N - j) : NR;                      \
                PFX##_bpanel(mcur, kc, A + i0 * lda + k0, lda, NULL,             \
                             B + k0 * ldb + j, ldb, nr, N - j - nr, C + i0 * ldc + j, \
                             ldc, accumulate || k0 > 0, bpad);                   \
            }                                                                    \
        }                                                                        \
    }                                                                            \
}                                                                                \
/* C (+)= A . B for an implicit B: B[k][n] = S[offs[k] + cols[n]], with cols    \
 * strictly increasing.  Each kc x NR panel is gathered into an L1-resident     \
 * buffer (vector copies where the panel's columns are contiguous in S).        \
 * Without accumulate, row i of C starts at rowinit[i] (0 if rowinit is NULL):  \
 * C[i][n] = rowinit[i] + sum_k A[i][k] B[k][n], summed in that order.          \
 * With row blocks (MCB > 0, M > MCB) up to FC_IND_GROUP panels are gathered at \
 * once and each row block sweeps them while its A rows stay in L2.  */         \
ATTR static void PFX##_ind(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,                \
                           const T *A, ptrdiff_t lda, const T *S,                \
                           const ptrdiff_t *offs, const ptrdiff_t *cols,         \
                           T *C, ptrdiff_t ldc, int accumulate,                  \
                           const T *rowinit)                                     \
{                                                                                \
    enum { NR = PFX##_NR, GP = (MCB) > 0 ? FC_IND_GROUP : 1 };                   \
    T bpk[FC_KC * NR * GP] __attribute__((aligned(64)));                         \
    ptrdiff_t k0, j0, j, k, v, q, i0, mb = PFX##_row_block(M);                   \
    ptrdiff_t gp = mb < M ? GP : 1; /* panels gathered at once */                \
    if (M <= 0 || N <= 0 || K <= 0)                                              \
        return; /* (callers have K >= 1) */                                      \
    for (k0 = 0; k0 < K; k0 += FC_KC) {                                          \
        ptrdiff_t kc = (K - k0 < FC_KC) ? (K - k0) : FC_KC;                      \
        for (j0 = 0; j0 < N; j0 += gp * NR) {                                    \
            ptrdiff_t j1 = (N - j0 < gp * NR) ? N : j0 + gp * NR;                \
            for (j = j0; j < j1; j += NR) {                                      \
                ptrdiff_t nr = (N - j < NR) ? (N - j) : NR;                      \
                const ptrdiff_t *cj = cols + j;                                  \
                ptrdiff_t w = (nr <= PFX##_NH) ? PFX##_NH : NR; /* panel width */ \
                T *bp = bpk + (j - j0) * kc;                                     \
                if (nr == NR && cj[NR - 1] - cj[0] == NR - 1) {                  \
                    const T *s0 = S + cj[0];                                     \
                    for (k = 0; k < kc; k++) {                                   \
                        const T *src = s0 + offs[k0 + k];                        \
                        FC_UNROLL                                                \
                        for (v = 0; v < NV; v++)                                 \
                            *(VT *)(bp + k * NR + v * VL) = *(const VT *)(src + v * VL); \
                    }                                                            \
                } else { /* split the panel into runs of consecutive columns */ \
                    ptrdiff_t run_src[NR], run_dst[NR], run_len[NR], nrun = 0, r; \
                    for (q = 0; q < nr; q = v) {                                 \
                        for (v = q + 1; v < nr && cj[v] == cj[v - 1] + 1; v++)   \
                            ;                                                    \
                        run_src[nrun] = cj[q];                                   \
                        run_dst[nrun] = q;                                       \
                        run_len[nrun++] = v - q;                                 \
                    }                                                            \
                    for (k = 0; k < kc; k++) {                                   \
                        const T *src = S + offs[k0 + k];                         \
                        T *dst = bp + k * w;                                     \
                        for (r = 0; r < nrun; r++)                               \
                            fc_copy_run((char *)(dst + run_dst[r]),              \
                                        (const char *)(src + run_src[r]),        \
                                        (size_t)run_len[r] * sizeof(T));         \
                        for (q = nr; q < w; q++)                                 \
                            dst[q] = 0;                                          \
                    }                                                            \
                }                                                                \
            }                                                                    \
            for (i0 = 0; i0 < M; i0 += mb) {                                     \
                ptrdiff_t mcur = (M - i0 < mb) ? (M - i0) : mb;                  \
                const T *ri = rowinit ? rowinit + i0 : NULL;                     \
                for (j = j0; j < j1; j += NR) {                                  \
                    ptrdiff_t nr = (N - j < NR) ? (N - j) : NR;                  \
                    const T *bp = bpk + (j - j0) * kc;                           \
                    if (nr > PFX##_NH)                                           \
                        PFX##_panel(mcur, kc, A + i0 * lda + k0, lda, NULL, bp, NR, \
                                    C + i0 * ldc + j, ldc, nr, accumulate || k0 > 0, \
                                    ri, NULL, 0);                                \
                    else                                                         \
                        PFX##_half(mcur, kc, A + i0 * lda + k0, lda, NULL, bp, PFX##_NH, \
                                   C + i0 * ldc + j, ldc, nr, accumulate || k0 > 0, \
                                   ri, NULL, 0);                                 \
                }                                                                \
            }                                                                    \
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
    ptrdiff_t sg, k0, kb = 0, i0, j, mb = PFX##_row_block(M);                    \
    if (M <= 0 || N <= 0)                                                        \
        return;                                                                  \
    for (sg = 0; sg < nseg; sg++) {                                              \
        for (k0 = 0; k0 < seg_len[sg]; k0 += FC_KC) {                            \
            ptrdiff_t kc = (seg_len[sg] - k0 < FC_KC) ? (seg_len[sg] - k0) : FC_KC; \
            const T *a = S + seg_src[sg] + k0;                                   \
            const T *b = B + kb * ldb;                                           \
            int load_c = accumulate || kb > 0;                                   \
            for (i0 = 0; i0 < M; i0 += mb) {                                     \
                ptrdiff_t mcur = (M - i0 < mb) ? (M - i0) : mb;                  \
                for (j = 0; j < N; j += NR) {                                    \
                    ptrdiff_t nr = (N - j < NR) ? (N - j) : NR;                  \
                    PFX##_bpanel(mcur, kc, a, 0, aoffs + i0, b + j, ldb, nr,     \
                                 N - j - nr, C + i0 * ldc + j, ldc, load_c, bpad); \
                }                                                                \
            }                                                                    \
            kb += kc;                                                            \
        }                                                                        \
    }                                                                            \
}                                                                                \
/* C (+)= A . B with any row and column strides (BLIS's loop order):           \
 *   for each NC-wide column block of B and C                                    \
 *     for each KC-deep k-block:  pack B's KC x NC block into NR-wide panels      \
 *       for each MC-high row block: pack A's MC x KC block (unless its columns   \
 *                                   are already contiguous, csa == 1)            \
 *         for each NR panel: the micro-kernel over the MC rows                   \
 * Every element of C is summed over k in ascending order by PFX##_panel, its    \
 * partial sum stored in C (type T) between k-blocks: the result does not        \
 * depend on the blocking and equals PFX##_nn's bit for bit.  C goes through a   \
 * small MC x NR buffer when its columns are not contiguous (csc != 1).          \
 * abuf (MC x KC, only if csa != 1), bbuf (KC x NC) and cbuf (MC x NR, only if   \
 * csc != 1) are the caller's; mc, nc are multiples of MR, NR.  */               \
ATTR static void PFX##_gemm_run(ptrdiff_t mc, ptrdiff_t kc, ptrdiff_t nc,         \
                                ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,            \
                                const T *A, ptrdiff_t rsa, ptrdiff_t csa,         \
                                const T *B, ptrdiff_t rsb, ptrdiff_t csb,         \
                                T *C, ptrdiff_t rsc, ptrdiff_t csc, int accumulate, \
                                T *abuf, T *bbuf, T *cbuf)                        \
{                                                                                \
    enum { NR = PFX##_NR };                                                      \
    ptrdiff_t jc, pc, ic, jr, i, k, q;                                           \
    for (jc = 0; jc < N; jc += nc) {                                             \
        ptrdiff_t ncur = (N - jc < nc) ? (N - jc) : nc;                          \
        for (pc = 0; pc < K; pc += kc) {                                         \
            ptrdiff_t kcur = (K - pc < kc) ? (K - pc) : kc;                      \
            int load_c = accumulate || pc > 0;                                   \
            for (jr = 0; jr < ncur; jr += NR) {                                  \
                ptrdiff_t nr = (ncur - jr < NR) ? (ncur - jr) : NR;              \
                const T *src = B + pc * rsb + (jc + jr) * csb;                   \
                T *dst = bbuf + jr * kcur;  /* panel jr / NR: kcur x NR */       \
                for (k = 0; k < kcur; k++) {                                     \
                    const T *s = src + k * rsb;                                  \
                    T *d = dst + k * NR;                                         \
                    if (csb == 1)                                                \
                        memcpy(d, s, (size_t)nr * sizeof(T));                    \
                    else                                                         \
                        for (q = 0; q < nr; q++)                                 \
                            d[q] = s[q * csb];                                   \
                    for (q = nr; q < NR; q++)                                    \
                        d[q] = 0;                                                \
                }                                                                \
            }                                                                    \
            for (ic = 0; ic < M; ic += mc) {                                     \
                ptrdiff_t mcur = (M - ic < mc) ? (M - ic) : mc;                  \
                const T *a = A + ic * rsa + pc * csa;                            \
                ptrdiff_t lda = rsa;                                             \
                if (csa != 1) {                                                  \
                    for (k = 0; k < kcur; k++)                                   \
                        for (i = 0; i < mcur; i++)                               \
                            abuf[i * kcur + k] = a[i * rsa + k * csa];           \
                    a = abuf;                                                    \
                    lda = kcur;                                                  \
                }                                                                \
                for (jr = 0; jr < ncur; jr += NR) {                              \
                    ptrdiff_t nr = (ncur - jr < NR) ? (ncur - jr) : NR;          \
                    const T *bp = bbuf + jr * kcur;                              \
                    T *cc = C + ic * rsc + (jc + jr) * csc;                      \
                    if (csc == 1) {                                              \
                        PFX##_panel(mcur, kcur, a, lda, NULL, bp, NR, cc, rsc, nr, \
                                    load_c, NULL, NULL, 0);                      \
                        continue;                                                \
                    }                                                            \
                    if (load_c)                                                  \
                        for (i = 0; i < mcur; i++)                               \
                            for (q = 0; q < nr; q++)                             \
                                cbuf[i * NR + q] = cc[i * rsc + q * csc];        \
                    PFX##_panel(mcur, kcur, a, lda, NULL, bp, NR, cbuf, NR, nr,  \
                                load_c, NULL, NULL, 0);                          \
                    for (i = 0; i < mcur; i++)                                   \
                        for (q = 0; q < nr; q++)                                 \
                            cc[i * rsc + q * csc] = cbuf[i * NR + q];            \
                }                                                                \
            }                                                                    \
        }                                                                        \
    }                                                                            \
}                                                                                \
/* Without heap memory: one MR x NR tile at a time, k-blocks of FC_KC, from     \
 * stack buffers (the same sums: the blocking never changes a result).  */      \
ATTR static void PFX##_gemm_small(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,         \
                                  const T *A, ptrdiff_t rsa, ptrdiff_t csa,       \
                                  const T *B, ptrdiff_t rsb, ptrdiff_t csb,       \
                                  T *C, ptrdiff_t rsc, ptrdiff_t csc, int accumulate) \
{                                                                                \
    enum { NR = PFX##_NR };                                                      \
    T abuf[MR * FC_KC] __attribute__((aligned(64)));                             \
    T bbuf[FC_KC * NR] __attribute__((aligned(64)));                             \
    T cbuf[MR * NR] __attribute__((aligned(64)));                                \
    PFX##_gemm_run(MR, FC_KC, NR, M, N, K, A, rsa, csa, B, rsb, csb, C, rsc, csc, \
                   accumulate, abuf, bbuf, cbuf);                                \
}                                                                                \
ATTR static void PFX##_gemm(const fc_gemm_blocking *blk,                         \
                            ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,               \
                            const T *A, ptrdiff_t rsa, ptrdiff_t csa,            \
                            const T *B, ptrdiff_t rsb, ptrdiff_t csb,            \
                            T *C, ptrdiff_t rsc, ptrdiff_t csc, int accumulate)  \
{                                                                                \
    enum { NR = PFX##_NR };                                                      \
    ptrdiff_t mc, kc, nc, i, q;                                                  \
    size_t na, nb, ncb;                                                          \
    char *mem;                                                                   \
    T *abuf, *bbuf, *cbuf;                                                       \
    if (M <= 0 || N <= 0)                                                        \
        return;                                                                  \
    if (K <= 0) {                                                                \
        if (!accumulate)                                                         \
            for (i = 0; i < M; i++)                                              \
                for (q = 0; q < N; q++)                                          \
                    C[i * rsc + q * csc] = 0;                                    \
        return;                                                                  \
    }                                                                            \
    fc_resolve_blocking(blk, PFX##_MC, PFX##_KC, PFX##_NC, MR, NR, M, N, K,      \
                        &mc, &kc, &nc);                                          \
    na = (csa != 1) ? (size_t)(mc * kc) : 0;                                     \
    nb = (size_t)(kc * nc);                                                      \
    ncb = (csc != 1) ? (size_t)(mc * NR) : 0;                                    \
    mem = (char *)malloc((na + nb + ncb) * sizeof(T) + 3 * 64);                  \
    if (!mem) {                                                                  \
        PFX##_gemm_small(M, N, K, A, rsa, csa, B, rsb, csb, C, rsc, csc, accumulate); \
        return;                                                                  \
    }                                                                            \
    bbuf = (T *)fc_align64(mem);                                                 \
    abuf = (T *)fc_align64((char *)(bbuf + nb));                                 \
    cbuf = (T *)fc_align64((char *)(abuf + na));                                 \
    PFX##_gemm_run(mc, kc, nc, M, N, K, A, rsa, csa, B, rsb, csb, C, rsc, csc,   \
                   accumulate, abuf, bbuf, cbuf);                                \
    free(mem);                                                                   \
}

/* The variants.  The last three arguments are the default MC, KC and NC of the
 * general driver (chosen by measurement; see docs/design.md). */
#define FC_NOATTR
FC_DEFINE_GEMM(fc_f32_generic, FC_NOATTR, float, fc_v4f, 4, 6, 2, FC_DMC_GENERIC_F32, FC_DKC_GENERIC_F32, FC_DNC_GENERIC_F32, 0, 0)
FC_DEFINE_GEMM(fc_f64_generic, FC_NOATTR, double, fc_v2d, 2, 6, 2, FC_DMC_GENERIC_F64, FC_DKC_GENERIC_F64, FC_DNC_GENERIC_F64, 0, 0)
#if FC_X86_DISPATCH
FC_DEFINE_GEMM(fc_f32_avx2, FC_TARGET_AVX2, float, fc_v8f, 8, 6, 2, FC_DMC_AVX2_F32, FC_DKC_AVX2_F32, FC_DNC_AVX2_F32, FC_MCB_AVX2_F32, 1)
FC_DEFINE_GEMM(fc_f64_avx2, FC_TARGET_AVX2, double, fc_v4d, 4, 6, 2, FC_DMC_AVX2_F64, FC_DKC_AVX2_F64, FC_DNC_AVX2_F64, FC_MCB_AVX2_F64, 1)
FC_DEFINE_GEMM(fc_f32_avx512, FC_TARGET_AVX512, float, fc_v16f, 16, 8, 2, FC_DMC_AVX512_F32, FC_DKC_AVX512_F32, FC_DNC_AVX512_F32, 0, 0)
FC_DEFINE_GEMM(fc_f64_avx512, FC_TARGET_AVX512, double, fc_v8d, 8, 8, 2, FC_DMC_AVX512_F64, FC_DKC_AVX512_F64, FC_DNC_AVX512_F64, 0, 0)
#endif

/* The chosen variant's entry points: written once by fc_gemm_init, read only after. */
static struct {
    fc_nn_f32_fn nn_f32;
    fc_nn_f64_fn nn_f64;
    fc_ind_f32_fn ind_f32;
    fc_ind_f64_fn ind_f64;
    fc_rows_f32_fn rows_f32;
    fc_rows_f64_fn rows_f64;
    fc_gen_f32_fn gemm_f32;
    fc_gen_f64_fn gemm_f64;
    ptrdiff_t nr_f32, nr_f64;  /* panel widths: the column granule of the GEMM */
    ptrdiff_t mr_f32, mr_f64;  /* rows per micro-tile */
    fc_gemm_blocking blk_f32, blk_f64;  /* the general driver's default blocking */
    const char *name;
} fc_gemm;

#define FC_USE(V)                                                                \
    do {                                                                         \
        fc_gemm.nn_f32 = fc_f32_##V##_nn;                                        \
        fc_gemm.nn_f64 = fc_f64_##V##_nn;                                        \
        fc_gemm.ind_f32 = fc_f32_##V##_ind;                                      \
        fc_gemm.ind_f64 = fc_f64_##V##_ind;                                      \
        fc_gemm.rows_f32 = fc_f32_##V##_rows;                                    \
        fc_gemm.rows_f64 = fc_f64_##V##_rows;                                    \
        fc_gemm.gemm_f32 = fc_f32_##V##_gemm;                                    \
        fc_gemm.gemm_f64 = fc_f64_##V##_gemm;                                    \
        fc_gemm.nr_f32 = fc_f32_##V##_NR;                                        \
        fc_gemm.nr_f64 = fc_f64_##V##_NR;                                        \
        fc_gemm.mr_f32 = fc_f32_##V##_MR;                                        \
        fc_gemm.mr_f64 = fc_f64_##V##_MR;                                        \
        fc_gemm.blk_f32.mc = fc_f32_##V##_MC;                                    \
        fc_gemm.blk_f32.kc = fc_f32_##V##_KC;                                    \
        fc_gemm.blk_f32.nc = fc_f32_##V##_NC;                                    \
        fc_gemm.blk_f64.mc = fc_f64_##V##_MC;                                    \
        fc_gemm.blk_f64.kc = fc_f64_##V##_KC;                                    \
        fc_gemm.blk_f64.nc = fc_f64_##V##_NC;                                    \
        fc_gemm.name = #V;                                                       \
    } while (0)

static char fc_cpu_feature_list[256];

#define FC_FEATURE(s)                                                            \
    do {                                                                         \
        if (__builtin_cpu_supports(s)) {                                         \
            if (fc_cpu_feature_list[0])                                          \
                strcat(fc_cpu_feature_list, " ");                                \
            strcat(fc_cpu_feature_list, s);                                      \
        }                                                                        \
    } while (0)

const char *fc_gemm_init(void)
{
    const char *want = getenv("FASTCONV_GEMM");
    FC_USE(generic);
#if FC_X86_DISPATCH
    {
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
        fc_cpu_feature_list[0] = 0;
        FC_FEATURE("sse2");
        FC_FEATURE("sse3");
        FC_FEATURE("ssse3");
        FC_FEATURE("sse4.1");
        FC_FEATURE("sse4.2");
        FC_FEATURE("avx");
        FC_FEATURE("fma");
        FC_FEATURE("avx2");
        FC_FEATURE("avx512f");
        FC_FEATURE("avx512vl");
        FC_FEATURE("avx512dq");
        FC_FEATURE("avx512bw");
        FC_FEATURE("avx512cd");
        FC_FEATURE("avx512vnni");
        FC_FEATURE("avx512bf16");
    }
#else
    (void)want;
#endif
    return fc_gemm.name;
}

const char *fc_gemm_variant(void) { return fc_gemm.name; }

const char *fc_cpu_features(void) { return fc_cpu_feature_list; }

void fc_gemm_nn_f32(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, ptrdiff_t lda,
                    const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate)
{
    fc_gemm.nn_f32(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

void fc_gemm_nn_f64(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const double *A, ptrdiff_t lda,
                    const double *B, ptrdiff_t ldb, double *C, ptrdiff_t ldc, int accumulate)
{
    fc_gemm.nn_f64(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

void fc_gemm_ind_f32(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, ptrdiff_t lda,
                     const float *S, const ptrdiff_t *offs, const ptrdiff_t *cols, float *C,
                     ptrdiff_t ldc, const float *rowinit)
{
    fc_gemm.ind_f32(M, N, K, A, lda, S, offs, cols, C, ldc, 0, rowinit);
}

void fc_gemm_ind_f64(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const double *A, ptrdiff_t lda,
                     const double *S, const ptrdiff_t *offs, const ptrdiff_t *cols, double *C,
                     ptrdiff_t ldc, const double *rowinit)
{
    fc_gemm.ind_f64(M, N, K, A, lda, S, offs, cols, C, ldc, 0, rowinit);
}

/* The same product added into C (C += A . B): a sum over several runs of k. */
void fc_gemm_ind_acc_f32(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, ptrdiff_t lda,
                         const float *S, const ptrdiff_t *offs, const ptrdiff_t *cols,
                         float *C, ptrdiff_t ldc)
{
    fc_gemm.ind_f32(M, N, K, A, lda, S, offs, cols, C, ldc, 1, NULL);
}

void fc_gemm_ind_acc_f64(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const double *A, ptrdiff_t lda,
                         const double *S, const ptrdiff_t *offs, const ptrdiff_t *cols,
                         double *C, ptrdiff_t ldc)
{
    fc_gemm.ind_f64(M, N, K, A, lda, S, offs, cols, C, ldc, 1, NULL);
}

void fc_gemm_rows_f32(ptrdiff_t M, ptrdiff_t N, const float *S, const ptrdiff_t *aoffs,
                      const ptrdiff_t *seg_src, const ptrdiff_t *seg_len, ptrdiff_t nseg,
                      const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc)
{
    fc_gemm.rows_f32(M, N, S, aoffs, seg_src, seg_len, nseg, B, ldb, C, ldc, 1);
}

void fc_gemm_rows_f64(ptrdiff_t M, ptrdiff_t N, const double *S, const ptrdiff_t *aoffs,
                      const ptrdiff_t *seg_src, const ptrdiff_t *seg_len, ptrdiff_t nseg,
                      const double *B, ptrdiff_t ldb, double *C, ptrdiff_t ldc)
{
    fc_gemm.rows_f64(M, N, S, aoffs, seg_src, seg_len, nseg, B, ldb, C, ldc, 1);
}

void fc_gemm_f32(const fc_gemm_blocking *blk, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,
                 const float *A, ptrdiff_t rsa, ptrdiff_t csa, const float *B, ptrdiff_t rsb,
                 ptrdiff_t csb, float *C, ptrdiff_t rsc, ptrdiff_t csc, int accumulate)
{
    fc_gemm.gemm_f32(blk, M, N, K, A, rsa, csa, B, rsb, csb, C, rsc, csc, accumulate);
}

void fc_gemm_f64(const fc_gemm_blocking *blk, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,
                 const double *A, ptrdiff_t rsa, ptrdiff_t csa, const double *B, ptrdiff_t rsb,
                 ptrdiff_t csb, double *C, ptrdiff_t rsc, ptrdiff_t csc, int accumulate)
{
    fc_gemm.gemm_f64(blk, M, N, K, A, rsa, csa, B, rsb, csb, C, rsc, csc, accumulate);
}

ptrdiff_t fc_gemm_nr(int is_f64) { return is_f64 ? fc_gemm.nr_f64 : fc_gemm.nr_f32; }

ptrdiff_t fc_gemm_mr(int is_f64) { return is_f64 ? fc_gemm.mr_f64 : fc_gemm.mr_f32; }

fc_gemm_blocking fc_gemm_default_blocking(int is_f64)
{
    return is_f64 ? fc_gemm.blk_f64 : fc_gemm.blk_f32;
}

/* What built this file (for fastconv.show_config). */
const char *fc_build_compiler_version(void)
{
#ifdef __VERSION__
    return __VERSION__;
#else
    return "";
#endif
}

long fc_build_openmp(void)
{
#ifdef _OPENMP
    return (long)_OPENMP;
#else
    return 0;
#endif
}
