/* fastconv: a small, deterministic GEMM for the convolution kernels -- declarations.
 *
 * The definitions are in fc_gemm.c, compiled once into fastconv._kernels._gemm.
 * Other extensions do not call these C functions directly (they are not
 * exported from _gemm's shared object): they cimport the cdef wrappers of
 * _gemm.pxd, which Cython resolves at import through _gemm's C-API capsule.
 * See fc_gemm.c for the algorithm and the determinism contract.
 */
#ifndef FC_GEMM_H
#define FC_GEMM_H

#include <stddef.h>

#define FC_KC 256      /* k-block of the nn/ind/rows drivers: a B panel of FC_KC x NR in L1 */
#define FC_KC_MAX 1024 /* the largest k-block of the general driver (fc_gemm_blocking.kc) */

#if defined(__GNUC__) && !defined(_WIN32)
#define FC_HIDDEN __attribute__((visibility("hidden")))
#else
#define FC_HIDDEN
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Blocking of the general driver, in elements: C is computed in MC x NC blocks
 * and k in KC-deep blocks (BLIS's MC, KC, NC).  A field <= 0, or a NULL
 * pointer for the whole struct, takes the chosen variant's default.  mc and nc
 * are rounded up to whole micro-tiles (MR rows, NR columns); kc is capped at
 * FC_KC_MAX.  The blocking changes speed only, never a result. */
typedef struct fc_gemm_blocking {
    ptrdiff_t mc, kc, nc;
} fc_gemm_blocking;

/* Choose the variant (once, at _gemm's import, before any kernel runs); returns its name. */
FC_HIDDEN const char *fc_gemm_init(void);
FC_HIDDEN const char *fc_gemm_variant(void); /* "avx512", "avx2" or "generic" */
FC_HIDDEN const char *fc_cpu_features(void); /* space-separated, as __builtin_cpu_supports names them */

/* C (+)= A . B, row-major with leading dimensions; accumulate=0 overwrites C. */
FC_HIDDEN void fc_gemm_nn_f32(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A,
                              ptrdiff_t lda, const float *B, ptrdiff_t ldb, float *C,
                              ptrdiff_t ldc, int accumulate);
FC_HIDDEN void fc_gemm_nn_f64(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const double *A,
                              ptrdiff_t lda, const double *B, ptrdiff_t ldb, double *C,
                              ptrdiff_t ldc, int accumulate);

/* C = rowinit (per row; 0 if NULL) + A . B for B[k][n] = S[offs[k] + cols[n]],
 * cols strictly increasing. */
FC_HIDDEN void fc_gemm_ind_f32(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A,
                               ptrdiff_t lda, const float *S, const ptrdiff_t *offs,
                               const ptrdiff_t *cols, float *C, ptrdiff_t ldc,
                               const float *rowinit);
FC_HIDDEN void fc_gemm_ind_f64(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const double *A,
                               ptrdiff_t lda, const double *S, const ptrdiff_t *offs,
                               const ptrdiff_t *cols, double *C, ptrdiff_t ldc,
                               const double *rowinit);

/* C += A . B for the same implicit B (several runs of k summed into one C). */
FC_HIDDEN void fc_gemm_ind_acc_f32(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A,
                                   ptrdiff_t lda, const float *S, const ptrdiff_t *offs,
                                   const ptrdiff_t *cols, float *C, ptrdiff_t ldc);
FC_HIDDEN void fc_gemm_ind_acc_f64(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const double *A,
                                   ptrdiff_t lda, const double *S, const ptrdiff_t *offs,
                                   const ptrdiff_t *cols, double *C, ptrdiff_t ldc);

/* C += A . B for A[i][k] = S[aoffs[i] + seg_src[s] + (k - k_s)] (segments of
 * seg_len[s] consecutive k, in order). */
FC_HIDDEN void fc_gemm_rows_f32(ptrdiff_t M, ptrdiff_t N, const float *S,
                                const ptrdiff_t *aoffs, const ptrdiff_t *seg_src,
                                const ptrdiff_t *seg_len, ptrdiff_t nseg, const float *B,
                                ptrdiff_t ldb, float *C, ptrdiff_t ldc);
FC_HIDDEN void fc_gemm_rows_f64(ptrdiff_t M, ptrdiff_t N, const double *S,
                                const ptrdiff_t *aoffs, const ptrdiff_t *seg_src,
                                const ptrdiff_t *seg_len, ptrdiff_t nseg, const double *B,
                                ptrdiff_t ldb, double *C, ptrdiff_t ldc);

/* The general product C (+)= A . B: element (i, j) of X at X + i*rsx + j*csx
 * (any strides, negative included; C must not overlap A or B).  blk may be NULL.
 * Gives bit for bit the result of fc_gemm_nn on the same operands. */
FC_HIDDEN void fc_gemm_f32(const fc_gemm_blocking *blk, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,
                           const float *A, ptrdiff_t rsa, ptrdiff_t csa, const float *B,
                           ptrdiff_t rsb, ptrdiff_t csb, float *C, ptrdiff_t rsc,
                           ptrdiff_t csc, int accumulate);
FC_HIDDEN void fc_gemm_f64(const fc_gemm_blocking *blk, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,
                           const double *A, ptrdiff_t rsa, ptrdiff_t csa, const double *B,
                           ptrdiff_t rsb, ptrdiff_t csb, double *C, ptrdiff_t rsc,
                           ptrdiff_t csc, int accumulate);

FC_HIDDEN ptrdiff_t fc_gemm_nr(int is_f64); /* panel width NR: the column granule */
FC_HIDDEN ptrdiff_t fc_gemm_mr(int is_f64); /* micro-tile rows MR */
FC_HIDDEN fc_gemm_blocking fc_gemm_default_blocking(int is_f64);

/* How this file was built: the compiler's __VERSION__ and the _OPENMP date (0 without). */
FC_HIDDEN const char *fc_build_compiler_version(void);
FC_HIDDEN long fc_build_openmp(void);

#ifdef __cplusplus
}
#endif

#endif /* FC_GEMM_H */
