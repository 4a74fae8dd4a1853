/* fastconv: the FMA-peak probe -- declarations.
 *
 * A register-only loop of fused multiply-adds (independent accumulators, no loads
 * or stores in the loop) in the three variants of the GEMM -- AVX-512, AVX2+FMA and
 * the baseline ISA -- so the benchmark can say how close a kernel comes to what the
 * cores can do with the variant in use.  The definitions are in fc_probe.c, compiled
 * once into fastconv._kernels._gemm beside fc_gemm.c; _gemm.fma_peak() times them.
 */
#ifndef FC_PROBE_H
#define FC_PROBE_H

#include "fc_gemm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Run `iters` iterations of the loop on each of `n_threads` OpenMP threads (one
 * thread without OpenMP), with the variant fc_gemm_variant() names; returns the
 * floating-point operations done (2 per lane of each multiply-add), summed over the
 * threads that ran.  `*threads_run` (if not NULL) is set to that thread count and
 * `*cpu_seconds` (if not NULL) to the largest CPU time one thread spent in the loop
 * (-1 where the platform has no per-thread CPU clock). */
FC_HIDDEN double fc_probe_fma(int is_f64, int n_threads, long iters, int *threads_run,
                              double *cpu_seconds);

/* The variant fc_probe_fma runs: the GEMM's, or "generic" off x86. */
FC_HIDDEN const char *fc_probe_variant(void);

#ifdef __cplusplus
}
#endif

#endif /* FC_PROBE_H */
