# cython: language_level=3
"""The GEMM (fc_gemm.c) and its ISA dispatch table, compiled once; the FMA-peak probe.

The cdef functions declared in ``_gemm.pxd`` are what the other kernel modules
call; the ``def`` functions here tell which variant was chosen and expose the
general strided GEMM to the tests (``gemm``); ``fma_peak`` times the register-only
FMA loop of ``fc_probe.c`` in the same variant (for the benchmark's header).  The variant is chosen when this
module is imported, before any kernel runs (``FASTCONV_GEMM`` restricts it).
"""
cimport numpy as cnp

import time

import numpy as np

cdef extern from "fc_gemm.h" nogil:
    int FC_KC_MAX
    const char *fc_gemm_init()
    const char *fc_cpu_features()
    void fc_gemm_nn_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                        const float *A, Py_ssize_t lda, const float *B, Py_ssize_t ldb,
                        float *C, Py_ssize_t ldc, int accumulate)
    void fc_gemm_nn_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                        const double *A, Py_ssize_t lda, const double *B, Py_ssize_t ldb,
                        double *C, Py_ssize_t ldc, int accumulate)
    void fc_gemm_ind_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                         const float *A, Py_ssize_t lda, const float *S,
                         const Py_ssize_t *offs, const Py_ssize_t *cols,
                         float *C, Py_ssize_t ldc, const float *rowinit)
    void fc_gemm_ind_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                         const double *A, Py_ssize_t lda, const double *S,
                         const Py_ssize_t *offs, const Py_ssize_t *cols,
                         double *C, Py_ssize_t ldc, const double *rowinit)
    void fc_gemm_ind_acc_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                             const float *A, Py_ssize_t lda, const float *S,
                             const Py_ssize_t *offs, const Py_ssize_t *cols,
                             float *C, Py_ssize_t ldc)
    void fc_gemm_ind_acc_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                             const double *A, Py_ssize_t lda, const double *S,
                             const Py_ssize_t *offs, const Py_ssize_t *cols,
                             double *C, Py_ssize_t ldc)
    void fc_gemm_rows_f32(Py_ssize_t M, Py_ssize_t N, const float *S, const Py_ssize_t *aoffs,
                          const Py_ssize_t *seg_src, const Py_ssize_t *seg_len,
                          Py_ssize_t nseg, const float *B, Py_ssize_t ldb,
                          float *C, Py_ssize_t ldc)
    void fc_gemm_rows_f64(Py_ssize_t M, Py_ssize_t N, const double *S, const Py_ssize_t *aoffs,
                          const Py_ssize_t *seg_src, const Py_ssize_t *seg_len,
                          Py_ssize_t nseg, const double *B, Py_ssize_t ldb,
                          double *C, Py_ssize_t ldc)
    void fc_gemm_f32(const fc_gemm_blocking *blk, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                     const float *A, Py_ssize_t rsa, Py_ssize_t csa,
                     const float *B, Py_ssize_t rsb, Py_ssize_t csb,
                     float *C, Py_ssize_t rsc, Py_ssize_t csc, int accumulate)
    void fc_gemm_f64(const fc_gemm_blocking *blk, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                     const double *A, Py_ssize_t rsa, Py_ssize_t csa,
                     const double *B, Py_ssize_t rsb, Py_ssize_t csb,
                     double *C, Py_ssize_t rsc, Py_ssize_t csc, int accumulate)
    Py_ssize_t fc_gemm_nr(int is_f64)
    Py_ssize_t fc_gemm_mr(int is_f64)
    fc_gemm_blocking fc_gemm_default_blocking(int is_f64)
    const char *fc_build_compiler_version()
    long fc_build_openmp()

cdef extern from "fc_probe.h" nogil:
    double fc_probe_fma(int is_f64, int n_threads, long iters, int *threads_run,
                        double *cpu_seconds)
    const char *fc_probe_variant()

# The compiler command and flags, recorded by setup.py as string macros.
cdef extern from *:
    """
    #ifndef FC_BUILD_COMPILER
    #define FC_BUILD_COMPILER ""
    #endif
    #ifndef FC_BUILD_CFLAGS
    #define FC_BUILD_CFLAGS ""
    #endif
    #ifndef FC_BUILD_LDFLAGS
    #define FC_BUILD_LDFLAGS ""
    #endif
    static const char *fc_build_compiler_cmd(void) { return FC_BUILD_COMPILER; }
    static const char *fc_build_cflags(void) { return FC_BUILD_CFLAGS; }
    static const char *fc_build_ldflags(void) { return FC_BUILD_LDFLAGS; }
    """
    const char *fc_build_compiler_cmd()
    const char *fc_build_cflags()
    const char *fc_build_ldflags()

cnp.import_array()
_VARIANT = fc_gemm_init().decode()


# ------------------------------------------------ what the other kernels cimport

cdef void gemm_nn_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                      const float *A, Py_ssize_t lda, const float *B, Py_ssize_t ldb,
                      float *C, Py_ssize_t ldc, int accumulate) noexcept nogil:
    fc_gemm_nn_f32(M, N, K, A, lda, B, ldb, C, ldc, accumulate)


cdef void gemm_nn_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                      const double *A, Py_ssize_t lda, const double *B, Py_ssize_t ldb,
                      double *C, Py_ssize_t ldc, int accumulate) noexcept nogil:
    fc_gemm_nn_f64(M, N, K, A, lda, B, ldb, C, ldc, accumulate)


cdef void gemm_ind_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                       const float *A, Py_ssize_t lda, const float *S,
                       const Py_ssize_t *offs, const Py_ssize_t *cols,
                       float *C, Py_ssize_t ldc, const float *rowinit) noexcept nogil:
    fc_gemm_ind_f32(M, N, K, A, lda, S, offs, cols, C, ldc, rowinit)


cdef void gemm_ind_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                       const double *A, Py_ssize_t lda, const double *S,
                       const Py_ssize_t *offs, const Py_ssize_t *cols,
                       double *C, Py_ssize_t ldc, const double *rowinit) noexcept nogil:
    fc_gemm_ind_f64(M, N, K, A, lda, S, offs, cols, C, ldc, rowinit)


cdef void gemm_ind_acc_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                           const float *A, Py_ssize_t lda, const float *S,
                           const Py_ssize_t *offs, const Py_ssize_t *cols,
                           float *C, Py_ssize_t ldc) noexcept nogil:
    fc_gemm_ind_acc_f32(M, N, K, A, lda, S, offs, cols, C, ldc)


cdef void gemm_ind_acc_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                           const double *A, Py_ssize_t lda, const double *S,
                           const Py_ssize_t *offs, const Py_ssize_t *cols,
                           double *C, Py_ssize_t ldc) noexcept nogil:
    fc_gemm_ind_acc_f64(M, N, K, A, lda, S, offs, cols, C, ldc)


cdef void gemm_rows_f32(Py_ssize_t M, Py_ssize_t N, const float *S, const Py_ssize_t *aoffs,
                        const Py_ssize_t *seg_src, const Py_ssize_t *seg_len,
                        Py_ssize_t nseg, const float *B, Py_ssize_t ldb,
                        float *C, Py_ssize_t ldc) noexcept nogil:
    fc_gemm_rows_f32(M, N, S, aoffs, seg_src, seg_len, nseg, B, ldb, C, ldc)


cdef void gemm_rows_f64(Py_ssize_t M, Py_ssize_t N, const double *S, const Py_ssize_t *aoffs,
                        const Py_ssize_t *seg_src, const Py_ssize_t *seg_len,
                        Py_ssize_t nseg, const double *B, Py_ssize_t ldb,
                        double *C, Py_ssize_t ldc) noexcept nogil:
    fc_gemm_rows_f64(M, N, S, aoffs, seg_src, seg_len, nseg, B, ldb, C, ldc)


cdef Py_ssize_t gemm_nr(bint is_f64) noexcept nogil:
    return fc_gemm_nr(is_f64)


cdef void gemm_f32(const fc_gemm_blocking *blk, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                   const float *A, Py_ssize_t rsa, Py_ssize_t csa,
                   const float *B, Py_ssize_t rsb, Py_ssize_t csb,
                   float *C, Py_ssize_t rsc, Py_ssize_t csc, int accumulate) noexcept nogil:
    fc_gemm_f32(blk, M, N, K, A, rsa, csa, B, rsb, csb, C, rsc, csc, accumulate)


cdef void gemm_f64(const fc_gemm_blocking *blk, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                   const double *A, Py_ssize_t rsa, Py_ssize_t csa,
                   const double *B, Py_ssize_t rsb, Py_ssize_t csb,
                   double *C, Py_ssize_t rsc, Py_ssize_t csc, int accumulate) noexcept nogil:
    fc_gemm_f64(blk, M, N, K, A, rsa, csa, B, rsb, csb, C, rsc, csc, accumulate)


# ------------------------------------------------ Python-level queries

def variant():
    """The GEMM micro-kernel chosen for this CPU: 'avx512', 'avx2' or 'generic'."""
    return _VARIANT


def panel_width(bint is_f64):
    """Columns per GEMM panel (the micro-kernel's NR) for float32 / float64."""
    return fc_gemm_nr(is_f64)


def default_blocking():
    """The general GEMM's default blocking and tile of the chosen variant.

    ``{"float32": {"mc", "kc", "nc", "mr", "nr"}, "float64": {...}, "kc_max": int}``,
    in elements.
    """
    out = {"kc_max": FC_KC_MAX}
    cdef fc_gemm_blocking b
    for name, is_f64 in (("float32", 0), ("float64", 1)):
        b = fc_gemm_default_blocking(is_f64)
        out[name] = {"mc": b.mc, "kc": b.kc, "nc": b.nc,
                     "mr": fc_gemm_mr(is_f64), "nr": fc_gemm_nr(is_f64)}
    return out


def build_info():
    """How this module was compiled and what the CPU offers (for fastconv.show_config).

    ``compiler_version``: the compiler's ``__VERSION__``; ``compiler`` and ``cflags`` /
    ``ldflags``: the command and the flags setup.py used; ``openmp``: the ``_OPENMP``
    date (0: built without OpenMP); ``cpu_features``: the SIMD extensions
    ``__builtin_cpu_supports`` reports (empty off x86).
    """
    return {
        "compiler_version": fc_build_compiler_version().decode("utf-8", "replace"),
        "compiler": fc_build_compiler_cmd().decode("utf-8", "replace"),
        "cflags": fc_build_cflags().decode("utf-8", "replace"),
        "ldflags": fc_build_ldflags().decode("utf-8", "replace"),
        "openmp": int(fc_build_openmp()),
        "cpu_features": fc_cpu_features().decode().split(),
    }


def fma_peak(bint is_f64=False, int n_threads=1, double seconds=0.3):
    """Peak GFLOP/s of a register-only FMA loop on ``n_threads`` OpenMP threads.

    The loop of ``fc_probe.c`` (independent accumulators in vector registers, no
    memory traffic), in the variant the GEMM uses (``variant()``): AVX-512, AVX2+FMA,
    or the baseline ISA's multiply and add.  A multiply-add counts 2 flops per lane.
    The best of three runs of about ``seconds / 3`` each (after a calibration run):
    the rate the cores reach, not a typical one.

    ``gflops`` divides the flops by the CPU time of the slowest thread (each thread
    times its own loop), so other processes that take a core for a while do not
    lower it -- on a busy 2-core machine the wall-clock rate of 2 threads can fall
    to that of 1.  Threads that run at once but share a core's FMA units still
    show their shared rate.  ``wall_gflops`` is the wall-clock rate of the same
    runs; ``clock`` says which clock ``gflops`` used ("wall" where the platform has
    no per-thread CPU clock).

    Returns ``{"gflops", "wall_gflops", "clock", "variant", "threads", "dtype"}``;
    ``threads`` is how many threads ran (1 in a build without OpenMP).
    """
    if n_threads < 1:
        raise ValueError(f"`n_threads` must be a positive int, got {n_threads}")
    if not seconds > 0:
        raise ValueError(f"`seconds` must be positive, got {seconds}")
    cdef long iters = 1 << 16
    cdef int ran = 0
    cdef double flops = 0.0, cpu = -1.0
    cdef int f64 = 1 if is_f64 else 0
    while True:   # calibrate: iterations for a run of seconds / 3
        t0 = time.perf_counter()
        with nogil:
            flops = fc_probe_fma(f64, n_threads, iters, &ran, &cpu)
        dt = time.perf_counter() - t0
        if dt >= 0.02 or iters >= (1 << 40):
            break
        iters *= 8
    iters = max(1, <long>(iters * (seconds / 3) / max(dt, 1e-9)))
    best_wall = best_cpu = float("inf")
    timed = True
    for _ in range(3):
        t0 = time.perf_counter()
        with nogil:
            flops = fc_probe_fma(f64, n_threads, iters, &ran, &cpu)
        best_wall = min(best_wall, time.perf_counter() - t0)
        if cpu > 0:
            best_cpu = min(best_cpu, cpu)
        else:
            timed = False
    wall = flops / best_wall / 1e9
    return {"gflops": flops / best_cpu / 1e9 if timed else wall, "wall_gflops": wall,
            "clock": "thread CPU time" if timed else "wall",
            "variant": fc_probe_variant().decode(), "threads": ran,
            "dtype": "float64" if is_f64 else "float32"}


# ------------------------------------------------ the test hook

def _operand(name, a, dtype, shape, writeable=False):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"`{name}` must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"`{name}` must have dtype {dtype}, got {name}.dtype={a.dtype}")
    if a.shape != shape:
        raise ValueError(f"`{name}` must have shape {shape}, got {a.shape}")
    if not a.flags.aligned or any(s % a.itemsize for s in a.strides):
        raise ValueError(f"`{name}` must be aligned with strides in whole elements, "
                         f"got strides {a.strides}")
    if writeable:
        if not a.flags.writeable:
            raise ValueError(f"`{name}` must be writeable")
        if any(s == 0 and n > 1 for s, n in zip(a.strides, a.shape)):
            raise ValueError(f"`{name}` must not repeat elements (a zero stride), "
                             f"got strides {a.strides}")


def gemm(A, B, C, accumulate=False, blocking=None):
    """C (+)= A @ B through the general strided GEMM (a test and tuning hook).

    A (M, K), B (K, N) and C (M, N) are 2-D float32 or float64 ndarrays of one
    dtype with any strides (transposed and negative-stride views included); C
    is written in place and must not overlap A or B.  ``blocking`` is None (the
    variant's default) or a dict with any of ``mc``, ``kc``, ``nc``.
    """
    cdef fc_gemm_blocking blk
    cdef const fc_gemm_blocking *pblk = NULL
    cdef Py_ssize_t M, N, K, rsa, csa, rsb, csb, rsc, csc
    cdef Py_ssize_t pa, pb, pc
    cdef int acc = 1 if accumulate else 0
    if not isinstance(C, np.ndarray) or C.ndim != 2 or C.dtype not in (np.float32, np.float64):
        raise TypeError("`C` must be a 2-D float32 or float64 numpy.ndarray")
    if not isinstance(A, np.ndarray) or A.ndim != 2 or not isinstance(B, np.ndarray) \
            or B.ndim != 2:
        raise TypeError("`A` and `B` must be 2-D numpy.ndarrays")
    M, K = A.shape
    N = B.shape[1]
    _operand("A", A, C.dtype, (M, K))
    _operand("B", B, C.dtype, (K, N))
    _operand("C", C, C.dtype, (M, N), writeable=True)
    if np.shares_memory(C, A) or np.shares_memory(C, B):
        raise ValueError("`C` must not overlap `A` or `B`")
    if blocking is not None:
        unknown = set(blocking) - {"mc", "kc", "nc"}
        if unknown:
            raise ValueError(f"`blocking` keys are mc, kc and nc, got {sorted(unknown)}")
        blk.mc = int(blocking.get("mc", 0))
        blk.kc = int(blocking.get("kc", 0))
        blk.nc = int(blocking.get("nc", 0))
        pblk = &blk
    isz = C.itemsize
    rsa, csa = A.strides[0] // isz, A.strides[1] // isz
    rsb, csb = B.strides[0] // isz, B.strides[1] // isz
    rsc, csc = C.strides[0] // isz, C.strides[1] // isz
    pa = <Py_ssize_t>cnp.PyArray_DATA(A)
    pb = <Py_ssize_t>cnp.PyArray_DATA(B)
    pc = <Py_ssize_t>cnp.PyArray_DATA(C)
    if C.dtype == np.float32:
        with nogil:
            fc_gemm_f32(pblk, M, N, K, <const float *>pa, rsa, csa, <const float *>pb, rsb, csb,
                        <float *>pc, rsc, csc, acc)
    else:
        with nogil:
            fc_gemm_f64(pblk, M, N, K, <const double *>pa, rsa, csa, <const double *>pb, rsb,
                        csb, <double *>pc, rsc, csc, acc)
    return C


def gemm_nn(A, B, C, accumulate=False):
    """C (+)= A @ B through gemm_nn (rows of A, B, C contiguous): the hook's reference.

    The strided ``gemm`` must give bit for bit what this gives on the same operands.
    """
    if not all(isinstance(a, np.ndarray) and a.ndim == 2 for a in (A, B, C)):
        raise TypeError("`A`, `B` and `C` must be 2-D numpy.ndarrays")
    for name, a in (("A", A), ("B", B), ("C", C)):
        if a.shape[1] > 1 and a.strides[1] != a.itemsize:
            raise ValueError(f"`{name}` must have contiguous rows, got strides {a.strides}")
    cdef Py_ssize_t M = A.shape[0], K = A.shape[1], N = B.shape[1]
    _operand("A", A, C.dtype, (M, K))
    _operand("B", B, C.dtype, (K, N))
    _operand("C", C, C.dtype, (M, N), writeable=True)
    isz = C.itemsize
    cdef Py_ssize_t lda = A.strides[0] // isz, ldb = B.strides[0] // isz
    cdef Py_ssize_t ldc = C.strides[0] // isz
    cdef Py_ssize_t pa = <Py_ssize_t>cnp.PyArray_DATA(A), pb = <Py_ssize_t>cnp.PyArray_DATA(B)
    cdef Py_ssize_t pc = <Py_ssize_t>cnp.PyArray_DATA(C)
    cdef int acc = 1 if accumulate else 0
    if C.dtype == np.float32:
        with nogil:
            fc_gemm_nn_f32(M, N, K, <const float *>pa, lda, <const float *>pb, ldb,
                           <float *>pc, ldc, acc)
    elif C.dtype == np.float64:
        with nogil:
            fc_gemm_nn_f64(M, N, K, <const double *>pa, lda, <const double *>pb, ldb,
                           <double *>pc, ldc, acc)
    else:
        raise TypeError("`C` must be float32 or float64")
    return C
