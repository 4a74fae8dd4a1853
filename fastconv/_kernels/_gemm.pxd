# cython: language_level=3
"""The GEMM of fastconv (fc_gemm.c), compiled once into this module.

Other kernel modules ``cimport`` these functions (Cython's cross-module C
function import: one indirect call through ``_gemm``'s C-API capsule, then
the chosen variant's table entry).  Semantics are those of ``fc_gemm.h``:

* ``gemm_nn_*``:   C[M x N] (+)= A[M x K] . B[K x N], row-major, leading dimensions
* ``gemm_ind_*``:  C = rowinit + A . B for an implicit B[k][n] = S[offs[k] + cols[n]]
* ``gemm_ind_acc_*``: C += A . B for the same implicit B
* ``gemm_rows_*``: C += A . B for an implicit A of row segments of S
* ``gemm_*``:      C (+)= A . B with row and column strides for A, B and C,
                   blocked by ``blk`` (NULL: the variant's default)
* ``gemm_nr``:     the panel width NR (the column granule of the GEMM)

Every element of C is summed over k in ascending order by one micro-kernel, so
results depend neither on the blocking nor on how callers split the work.
"""

cdef extern from "fc_gemm.h" nogil:
    enum: FC_KC      # the k-block of the nn driver: splitting K at its multiples
                     # changes no sum (C holds the partial sums between k-blocks)
    ctypedef struct fc_gemm_blocking:
        Py_ssize_t mc
        Py_ssize_t kc
        Py_ssize_t nc

cdef void gemm_nn_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                      const float *A, Py_ssize_t lda, const float *B, Py_ssize_t ldb,
                      float *C, Py_ssize_t ldc, int accumulate) noexcept nogil
cdef void gemm_nn_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                      const double *A, Py_ssize_t lda, const double *B, Py_ssize_t ldb,
                      double *C, Py_ssize_t ldc, int accumulate) noexcept nogil
cdef void gemm_ind_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                       const float *A, Py_ssize_t lda, const float *S,
                       const Py_ssize_t *offs, const Py_ssize_t *cols,
                       float *C, Py_ssize_t ldc, const float *rowinit) noexcept nogil
cdef void gemm_ind_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                       const double *A, Py_ssize_t lda, const double *S,
                       const Py_ssize_t *offs, const Py_ssize_t *cols,
                       double *C, Py_ssize_t ldc, const double *rowinit) noexcept nogil
cdef void gemm_ind_acc_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                           const float *A, Py_ssize_t lda, const float *S,
                           const Py_ssize_t *offs, const Py_ssize_t *cols,
                           float *C, Py_ssize_t ldc) noexcept nogil
cdef void gemm_ind_acc_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                           const double *A, Py_ssize_t lda, const double *S,
                           const Py_ssize_t *offs, const Py_ssize_t *cols,
                           double *C, Py_ssize_t ldc) noexcept nogil
cdef void gemm_rows_f32(Py_ssize_t M, Py_ssize_t N, const float *S, const Py_ssize_t *aoffs,
                        const Py_ssize_t *seg_src, const Py_ssize_t *seg_len,
                        Py_ssize_t nseg, const float *B, Py_ssize_t ldb,
                        float *C, Py_ssize_t ldc) noexcept nogil
cdef void gemm_rows_f64(Py_ssize_t M, Py_ssize_t N, const double *S, const Py_ssize_t *aoffs,
                        const Py_ssize_t *seg_src, const Py_ssize_t *seg_len,
                        Py_ssize_t nseg, const double *B, Py_ssize_t ldb,
                        double *C, Py_ssize_t ldc) noexcept nogil
cdef Py_ssize_t gemm_nr(bint is_f64) noexcept nogil
cdef void gemm_f32(const fc_gemm_blocking *blk, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                   const float *A, Py_ssize_t rsa, Py_ssize_t csa,
                   const float *B, Py_ssize_t rsb, Py_ssize_t csb,
                   float *C, Py_ssize_t rsc, Py_ssize_t csc, int accumulate) noexcept nogil
cdef void gemm_f64(const fc_gemm_blocking *blk, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                   const double *A, Py_ssize_t rsa, Py_ssize_t csa,
                   const double *B, Py_ssize_t rsb, Py_ssize_t csb,
                   double *C, Py_ssize_t rsc, Py_ssize_t csc, int accumulate) noexcept nogil
