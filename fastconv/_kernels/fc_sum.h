/* fastconv: sums of contiguous runs in a fixed order that vectorises.
 *
 * A plain running sum (s += x[l]) is one chain of dependent additions: the compiler
 * may not reorder it (that would change the rounding), so it runs at one addition per
 * add latency, several times slower than memory.  Here element l of a run goes to
 * lane l % FC_SUM_LANES of an accumulator the caller keeps across runs, and the lanes
 * are combined once, in a fixed pairwise order.  The order depends only on the run
 * lengths, never on the SIMD width the compiler picks (the lanes are plain array
 * elements; additions are not contracted), so every build and CPU gives the same bits.
 *
 * Included once, by _engine.pyx (everything here is static).
 */
#ifndef FC_SUM_H
#define FC_SUM_H

#include <stddef.h>

#define FC_SUM_LANES 16

#define FC_DEFINE_SUM(T, SUF)                                                   \
static inline void fc_sum_zero_##SUF(T *acc)                                     \
{                                                                                \
    int q;                                                                       \
    for (q = 0; q < FC_SUM_LANES; q++)                                           \
        acc[q] = 0;                                                              \
}                                                                                \
/* acc[l % FC_SUM_LANES] += x[l] for l in [0, n), in ascending l per lane. */    \
static inline void fc_sum_add_##SUF(T *acc, const T *x, ptrdiff_t n)             \
{                                                                                \
    T a[FC_SUM_LANES];                                                           \
    ptrdiff_t l = 0;                                                             \
    int q;                                                                       \
    for (q = 0; q < FC_SUM_LANES; q++)                                           \
        a[q] = acc[q];                                                           \
    for (; l + FC_SUM_LANES <= n; l += FC_SUM_LANES)                             \
        for (q = 0; q < FC_SUM_LANES; q++)                                       \
            a[q] += x[l + q];                                                    \
    for (q = 0; l + q < n; q++)                                                  \
        a[q] += x[l + q];                                                        \
    for (q = 0; q < FC_SUM_LANES; q++)                                           \
        acc[q] = a[q];                                                           \
}                                                                                \
/* The lanes combined pairwise: ((a0 + a8) + (a4 + a12)) + ... (a fixed tree). */ \
static inline T fc_sum_finish_##SUF(const T *acc)                                \
{                                                                                \
    T a[FC_SUM_LANES];                                                           \
    int q, h;                                                                    \
    for (q = 0; q < FC_SUM_LANES; q++)                                           \
        a[q] = acc[q];                                                           \
    for (h = FC_SUM_LANES / 2; h >= 1; h /= 2)                                   \
        for (q = 0; q < h; q++)                                                  \
            a[q] = a[q] + a[q + h];                                              \
    return a[0];                                                                 \
}

FC_DEFINE_SUM(float, f32)
FC_DEFINE_SUM(double, f64)

#endif
