/* fastconv: small, deterministic GEMM cores used by the convolution kernels.
 *
 * All matrices are row-major with explicit leading dimensions.  Every output
 * element is accumulated over k in ascending order by one thread, so results
 * do not depend on how callers split the work between threads.
 *
 *   fc_gemm_nn_*:  C[M x N] (+)= A[M x K] . B[K x N]
 *   fc_gemm_nt_*:  C[M x N]  += A[M x K] . B[N x K]^T   (dot-product form)
 *
 * The hot loops are written with GCC/Clang vector extensions and compiled
 * once per instruction set with `target_clones`, so a portable wheel still
 * runs AVX-512 / AVX2+FMA code where the CPU has it (dispatch happens once,
 * at load time, through an ifunc resolver).  Define FC_NO_TARGET_CLONES to
 * build a single generic version (e.g. for sanitizer builds).
 */
#ifndef FC_GEMM_H
#define FC_GEMM_H

#include <stddef.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(_M_X64)) && \
    !defined(FC_NO_TARGET_CLONES) && !defined(__clang_analyzer__)
#define FC_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FC_CLONES
#endif

/* GCC and Clang vector extensions; the compiler lowers them to whatever
 * vector width the clone's instruction set has. */
typedef float fc_v16f __attribute__((vector_size(64), aligned(4)));
typedef double fc_v8d __attribute__((vector_size(64), aligned(8)));

#define FC_MR 4

/* ------------------------------------------------------------------ NN */

#define FC_DEFINE_GEMM_NN(NAME, T, VT, VL)                                    \
FC_CLONES static void NAME(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,             \
                           const T *A, ptrdiff_t lda,                         \
                           const T *B, ptrdiff_t ldb,                         \
                           T *C, ptrdiff_t ldc, int accumulate)               \
{                                                                             \
    ptrdiff_t i, j, k, r;                                                     \
    for (i = 0; i < M; i += FC_MR) {                                          \
        ptrdiff_t mr = (M - i < FC_MR) ? (M - i) : FC_MR;                     \
        const T *a0 = A + i * lda;                                            \
        for (j = 0; j + VL <= N; j += VL) {                                   \
            VT acc[FC_MR];                                                    \
            for (r = 0; r < FC_MR; r++) {                                     \
                VT z = {0};                                                   \
                acc[r] = z;                                                   \
                if (accumulate && r < mr)                                     \
                    memcpy(&acc[r], C + (i + r) * ldc + j, sizeof(VT));       \
            }                                                                 \
            if (mr == FC_MR) {                                                \
                for (k = 0; k < K; k++) {                                     \
                    VT b;                                                     \
                    memcpy(&b, B + k * ldb + j, sizeof(VT));                  \
                    acc[0] += a0[k] * b;                                      \
                    acc[1] += a0[lda + k] * b;                                \
                    acc[2] += a0[2 * lda + k] * b;                            \
                    acc[3] += a0[3 * lda + k] * b;                            \
                }                                                             \
            } else {                                                          \
                for (k = 0; k < K; k++) {                                     \
                    VT b;                                                     \
                    memcpy(&b, B + k * ldb + j, sizeof(VT));                  \
                    for (r = 0; r < mr; r++)                                  \
                        acc[r] += a0[r * lda + k] * b;                        \
                }                                                             \
            }                                                                 \
            for (r = 0; r < mr; r++)                                          \
                memcpy(C + (i + r) * ldc + j, &acc[r], sizeof(VT));           \
        }                                                                     \
        for (; j < N; j++) {                                                  \
            for (r = 0; r < mr; r++) {                                        \
                T s = accumulate ? C[(i + r) * ldc + j] : (T)0;               \
                const T *ar = a0 + r * lda;                                   \
                for (k = 0; k < K; k++)                                       \
                    s += ar[k] * B[k * ldb + j];                              \
                C[(i + r) * ldc + j] = s;                                     \
            }                                                                 \
        }                                                                     \
    }                                                                         \
}

/* ------------------------------------------------------------------ NT */
/* C[i, j] += sum_k A[i, k] * B[j, k]; partial sums are kept in VL lanes
 * (lane q sums k = q, q + VL, ...), then reduced lane by lane in order.   */

#define FC_DEFINE_GEMM_NT(NAME, T, VT, VL)                                    \
FC_CLONES static void NAME(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,             \
                           const T *A, ptrdiff_t lda,                         \
                           const T *B, ptrdiff_t ldb,                         \
                           T *C, ptrdiff_t ldc)                               \
{                                                                             \
    ptrdiff_t i, j, k, q, r, c;                                               \
    ptrdiff_t Kv = K - K % VL;                                                \
    for (i = 0; i < M; i += 4) {                                              \
        ptrdiff_t mr = (M - i < 4) ? (M - i) : 4;                             \
        for (j = 0; j < N; j += 4) {                                          \
            ptrdiff_t nr = (N - j < 4) ? (N - j) : 4;                         \
            VT acc[4][4];                                                     \
            for (r = 0; r < 4; r++)                                           \
                for (c = 0; c < 4; c++) {                                     \
                    VT z = {0};                                               \
                    acc[r][c] = z;                                            \
                }                                                             \
            if (mr == 4 && nr == 4) {                                         \
                for (k = 0; k < Kv; k += VL) {                                \
                    VT a[4], b[4];                                            \
                    for (r = 0; r < 4; r++)                                   \
                        memcpy(&a[r], A + (i + r) * lda + k, sizeof(VT));     \
                    for (c = 0; c < 4; c++)                                   \
                        memcpy(&b[c], B + (j + c) * ldb + k, sizeof(VT));     \
                    for (r = 0; r < 4; r++)                                   \
                        for (c = 0; c < 4; c++)                               \
                            acc[r][c] += a[r] * b[c];                         \
                }                                                             \
            } else {                                                          \
                for (k = 0; k < Kv; k += VL) {                                \
                    for (r = 0; r < mr; r++) {                                \
                        VT a;                                                 \
                        memcpy(&a, A + (i + r) * lda + k, sizeof(VT));        \
                        for (c = 0; c < nr; c++) {                            \
                            VT b;                                             \
                            memcpy(&b, B + (j + c) * ldb + k, sizeof(VT));    \
                            acc[r][c] += a * b;                               \
                        }                                                     \
                    }                                                         \
                }                                                             \
            }                                                                 \
            for (r = 0; r < mr; r++)                                          \
                for (c = 0; c < nr; c++) {                                    \
                    T s = 0;                                                  \
                    const T *ar = A + (i + r) * lda;                          \
                    const T *bc = B + (j + c) * ldb;                          \
                    for (k = Kv; k < K; k++)                                  \
                        s += ar[k] * bc[k];                                   \
                    for (q = 0; q < VL; q++)                                  \
                        s += acc[r][c][q];                                    \
                    C[(i + r) * ldc + j + c] += s;                            \
                }                                                             \
        }                                                                     \
    }                                                                         \
}

FC_DEFINE_GEMM_NN(fc_gemm_nn_f32, float, fc_v16f, 16)
FC_DEFINE_GEMM_NN(fc_gemm_nn_f64, double, fc_v8d, 8)
FC_DEFINE_GEMM_NT(fc_gemm_nt_f32, float, fc_v16f, 16)
FC_DEFINE_GEMM_NT(fc_gemm_nt_f64, double, fc_v8d, 8)

#endif /* FC_GEMM_H */
