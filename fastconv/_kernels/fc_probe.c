/* fastconv: the FMA-peak probe (see fc_probe.h).
 *
 * Each variant keeps FC_PROBE_ACC independent accumulators in vector registers and
 * updates every one of them once per iteration, acc = acc * m + a: with 12 chains
 * the loop covers the latency of two FMA pipes of 4-6 cycles, so it runs at the
 * issue rate.  m is just below 1 and a tiny, so the accumulators settle at a/(1-m)
 * and never overflow or turn subnormal.  The results go to a volatile sink: the
 * compiler cannot drop the loop.
 *
 * AVX-512 and AVX2 use the FMA intrinsics inside functions with target attributes
 * (as fc_gemm.c compiles its variants; no -march=native).  The baseline variant has
 * no FMA on x86-64: a multiply and an add per lane (2 flops), with SSE2.  Off x86
 * (or built with FC_GENERIC_ONLY) a scalar loop stands in for it.
 *
 * Each thread also times its own loop in CPU time (CLOCK_THREAD_CPUTIME_ID, where
 * the platform has it).  On a machine shared with other processes a wall-clock
 * rate on n threads says how much of the cores this process got, not what they
 * can do: while one core runs someone's compiler, two threads take twice as long
 * and the "2-thread peak" equals the 1-thread one (seen on a 2-core Zen 3 VM).
 * A thread's CPU time leaves out the time it was not running, so flops divided
 * by the slowest thread's CPU time is the rate of n concurrent threads, and two
 * threads that do run at once but share one core's FMA pipes (SMT siblings)
 * still show their halved rate.
 */
#include "fc_probe.h"
#include "fc_omp.h"

#include <string.h>
#include <time.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(FC_GENERIC_ONLY)
#define FC_PROBE_X86 1
#include <immintrin.h>
#define FC_PROBE_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define FC_PROBE_AVX2 __attribute__((target("avx2,fma")))
#else
#define FC_PROBE_X86 0
#endif

#define FC_PROBE_ACC 12

static volatile double fc_probe_sink;

typedef double (*fc_probe_fn)(long iters);

/* One variant: VT vector type, VL lanes, SET1/FMA/ADD its intrinsics (FMA(c, m, a) =
 * c * m + a), TO1 the sum of the lanes of one vector as a double (for the sink). */
#define FC_PROBE_BODY(NAME, TGT, VT, T, VL, SET1, FMA, TO1)                    \
    TGT static double NAME(long iters)                                        \
    {                                                                         \
        const VT m = SET1((T)0.99999994), a = SET1((T)1e-7);                  \
        VT c0 = SET1((T)0.0), c1 = SET1((T)0.1), c2 = SET1((T)0.2);           \
        VT c3 = SET1((T)0.3), c4 = SET1((T)0.4), c5 = SET1((T)0.5);           \
        VT c6 = SET1((T)0.6), c7 = SET1((T)0.7), c8 = SET1((T)0.8);           \
        VT c9 = SET1((T)0.9), c10 = SET1((T)1.0), c11 = SET1((T)1.1);         \
        long i;                                                               \
        for (i = 0; i < iters; i++) {                                         \
            c0 = FMA(c0, m, a);                                               \
            c1 = FMA(c1, m, a);                                               \
            c2 = FMA(c2, m, a);                                               \
            c3 = FMA(c3, m, a);                                               \
            c4 = FMA(c4, m, a);                                               \
            c5 = FMA(c5, m, a);                                               \
            c6 = FMA(c6, m, a);                                               \
            c7 = FMA(c7, m, a);                                               \
            c8 = FMA(c8, m, a);                                               \
            c9 = FMA(c9, m, a);                                               \
            c10 = FMA(c10, m, a);                                             \
            c11 = FMA(c11, m, a);                                             \
        }                                                                     \
        fc_probe_sink = TO1(c0) + TO1(c1) + TO1(c2) + TO1(c3) + TO1(c4) +     \
                        TO1(c5) + TO1(c6) + TO1(c7) + TO1(c8) + TO1(c9) +     \
                        TO1(c10) + TO1(c11);                                  \
        return 2.0 * (double)iters * FC_PROBE_ACC * VL;                       \
    }

#if FC_PROBE_X86
#define FC_MULADD_PS(c, m, a) _mm_add_ps(_mm_mul_ps((c), (m)), (a))
#define FC_MULADD_PD(c, m, a) _mm_add_pd(_mm_mul_pd((c), (m)), (a))
#define FC_TO1_512PS(v) ((double)_mm512_reduce_add_ps(v))
#define FC_TO1_512PD(v) (_mm512_reduce_add_pd(v))
#define FC_TO1_256PS(v) ((double)_mm_cvtss_f32(_mm256_castps256_ps128(v)))
#define FC_TO1_256PD(v) (_mm_cvtsd_f64(_mm256_castpd256_pd128(v)))
#define FC_TO1_128PS(v) ((double)_mm_cvtss_f32(v))
#define FC_TO1_128PD(v) (_mm_cvtsd_f64(v))
FC_PROBE_BODY(fc_probe_avx512_f32, FC_PROBE_AVX512, __m512, float, 16, _mm512_set1_ps,
              _mm512_fmadd_ps, FC_TO1_512PS)
FC_PROBE_BODY(fc_probe_avx512_f64, FC_PROBE_AVX512, __m512d, double, 8, _mm512_set1_pd,
              _mm512_fmadd_pd, FC_TO1_512PD)
FC_PROBE_BODY(fc_probe_avx2_f32, FC_PROBE_AVX2, __m256, float, 8, _mm256_set1_ps,
              _mm256_fmadd_ps, FC_TO1_256PS)
FC_PROBE_BODY(fc_probe_avx2_f64, FC_PROBE_AVX2, __m256d, double, 4, _mm256_set1_pd,
              _mm256_fmadd_pd, FC_TO1_256PD)
FC_PROBE_BODY(fc_probe_generic_f32, , __m128, float, 4, _mm_set1_ps, FC_MULADD_PS,
              FC_TO1_128PS)
FC_PROBE_BODY(fc_probe_generic_f64, , __m128d, double, 2, _mm_set1_pd, FC_MULADD_PD,
              FC_TO1_128PD)
#else
#define FC_SET1_SCALAR(x) (x)
#define FC_MULADD_SCALAR(c, m, a) ((c) * (m) + (a))
#define FC_TO1_SCALAR(v) ((double)(v))
FC_PROBE_BODY(fc_probe_generic_f32, , float, float, 1, FC_SET1_SCALAR, FC_MULADD_SCALAR,
              FC_TO1_SCALAR)
FC_PROBE_BODY(fc_probe_generic_f64, , double, double, 1, FC_SET1_SCALAR, FC_MULADD_SCALAR,
              FC_TO1_SCALAR)
#endif

const char *fc_probe_variant(void)
{
#if FC_PROBE_X86
    const char *v = fc_gemm_variant();
    if (strcmp(v, "avx512") == 0 || strcmp(v, "avx2") == 0)
        return v;
#endif
    return "generic";
}

static fc_probe_fn fc_probe_pick(int is_f64)
{
#if FC_PROBE_X86
    const char *v = fc_probe_variant();
    if (strcmp(v, "avx512") == 0)
        return is_f64 ? fc_probe_avx512_f64 : fc_probe_avx512_f32;
    if (strcmp(v, "avx2") == 0)
        return is_f64 ? fc_probe_avx2_f64 : fc_probe_avx2_f32;
#endif
    return is_f64 ? fc_probe_generic_f64 : fc_probe_generic_f32;
}

/* The calling thread's CPU time in seconds, or -1 where there is no such clock. */
static double fc_thread_cpu_seconds(void)
{
#if defined(CLOCK_THREAD_CPUTIME_ID)
    struct timespec t;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) == 0)
        return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
#endif
    return -1.0;
}

double fc_probe_fma(int is_f64, int n_threads, long iters, int *threads_run,
                    double *cpu_seconds)
{
    fc_probe_fn fn = fc_probe_pick(is_f64);
    double flops = 0.0, slowest = 0.0;
    int ran = 0, untimed = 0;
    if (n_threads < 1)
        n_threads = 1;
#ifdef _OPENMP
#pragma omp parallel num_threads(n_threads) reduction(+ : flops, ran, untimed) \
    reduction(max : slowest)
#endif
    {
        double t0 = fc_thread_cpu_seconds(), t1;
        flops += fn(iters);
        t1 = fc_thread_cpu_seconds();
        ran += 1;
        if (t0 < 0 || t1 < 0)
            untimed += 1;
        else if (t1 - t0 > slowest)
            slowest = t1 - t0;
    }
    (void)n_threads;
    if (threads_run)
        *threads_run = ran;
    if (cpu_seconds)
        *cpu_seconds = (untimed || slowest <= 0) ? -1.0 : slowest;
    return flops;
}
