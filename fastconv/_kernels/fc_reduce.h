/* fastconv: the lane loops of the pooling reductions (reduce_kernels.pxi).
 *
 * A run of n elements is folded into FC_RLANES (16) lane accumulators: element q
 * of the first 16*(n/16) goes to lane q % 16, in ascending q; the r = n % 16 others
 * go to lane q - n + 16 when n >= 16 (one overlapping vector block of the run's last
 * 16 elements, masked), to lane q when n < 16.  The order is fixed by n alone, so the
 * result is the same whatever thread runs it and whichever branch below is
 * compiled: the vector branch (GCC/Clang vector extensions, 16-byte vectors, so
 * the baseline x86-64 ISA suffices -- the loops are bound by memory, not by the
 * vector width) and the scalar fallback do the same operations lane by lane.
 *
 * Cython cannot be trusted with these loops: GCC unrolls a constant 16-trip inner
 * loop completely and then leaves the max select as compare-and-branch code
 * (mispredicted on random data; 8x slower than the sum).
 *
 * Max uses ATen's update rule per lane: m takes v when v > m or v != v (NaN sticks).
 */
#ifndef FC_REDUCE_H
#define FC_REDUCE_H

#include <math.h>
#include <stdint.h>

#define FC_RLANES 16

#if defined(__GNUC__) && !defined(FC_REDUCE_SCALAR)

typedef float fc_r4f __attribute__((vector_size(16), aligned(4), may_alias));
typedef int32_t fc_r4i __attribute__((vector_size(16), aligned(4), may_alias));
typedef double fc_r2d __attribute__((vector_size(16), aligned(8), may_alias));
typedef int64_t fc_r2l __attribute__((vector_size(16), aligned(8), may_alias));

/* in-vector lane swaps for the last steps of the max trees (f64 vectors have 2 lanes:
 * no halves to swap) */
#if defined(__clang__)
#define FC_SWAP_HALVES_f32(v, I) __builtin_shufflevector(v, v, 2, 3, 0, 1)
#else
#define FC_SWAP_HALVES_f32(v, I) __builtin_shuffle(v, (I){2, 3, 0, 1})
#endif
#define FC_SWAP_HALVES_f64(v, I) (v)
#if defined(__clang__)
#define FC_SWAP_PAIRS4(v, I) __builtin_shufflevector(v, v, 1, 0, 3, 2)
#define FC_SWAP_PAIRS2(v, I) __builtin_shufflevector(v, v, 1, 0)
#else
#define FC_SWAP_PAIRS4(v, I) __builtin_shuffle(v, (I){1, 0, 3, 2})
#define FC_SWAP_PAIRS2(v, I) __builtin_shuffle(v, (I){1, 0})
#endif
#define FC_SWAP_PAIRS_f32 FC_SWAP_PAIRS4
#define FC_SWAP_PAIRS_f64 FC_SWAP_PAIRS2

/* NV vectors of T (VL = 16 / NV lanes each) make the 16 lanes.  The lanes of a sum
 * are combined by a fixed tree: for w = 8, 4, 2, 1, lane l += lane l + w (l < w); the
 * lanes of a max by the same tree with the max rule (which maximum of equal values or
 * which NaN survives does not matter: the caller resolves 0 and NaN by a scan). */
#define FC_DEFINE_LANES(SFX, T, V, I, NV)                                              \
static inline T fc_tree_sum_##SFX(V *a) {                                              \
    Py_ssize_t j, w;                                                                   \
    T t[16 / NV];                                                                      \
    for (w = NV / 2; w > 0; w /= 2)                                                    \
        for (j = 0; j < w; j++) a[j] += a[j + w];                                      \
    for (j = 0; j < 16 / NV; j++) t[j] = a[0][j];                                      \
    for (w = 16 / NV / 2; w > 0; w /= 2)                                               \
        for (j = 0; j < w; j++) t[j] += t[j + w];                                      \
    return t[0];                                                                       \
}                                                                                      \
static inline V fc_sel_##SFX(V m, V v) {                                               \
    I take = (I)(v > m) | (I)(v != v);                                                 \
    return (V)(((I)v & take) | ((I)m & ~take));                                        \
}                                                                                      \
static inline T fc_tree_max_##SFX(V *a) {                                              \
    Py_ssize_t j, w;                                                                   \
    T t[16 / NV];                                                                      \
    (void)t;                                                                           \
    for (w = NV / 2; w > 0; w /= 2)                                                    \
        for (j = 0; j < w; j++) a[j] = fc_sel_##SFX(a[j], a[j + w]);                   \
    if (16 / NV == 4) a[0] = fc_sel_##SFX(a[0], (V)FC_SWAP_HALVES_##SFX((I)a[0], I));     \
    a[0] = fc_sel_##SFX(a[0], (V)FC_SWAP_PAIRS_##SFX((I)a[0], I));                     \
    return a[0][0];                                                                    \
}                                                                                      \
/* add a run into the lane vectors: element q < 16*nb to lane q % 16; the r tail  \
 * elements, when nb >= 1, by one more overlapping block of the run's last 16,     \
 * masked to its last r lanes (so q goes to lane q - n + 16), else to lane q */    \
static inline void fc_add_run_##SFX(V *a, const T *src, Py_ssize_t n) {               \
    Py_ssize_t i, j, nb = n / FC_RLANES, r = n - nb * FC_RLANES;                       \
    V v;                                                                               \
    I lane, keep;  /* int32 or int64 lanes: r < 16 fits both */                        \
    for (i = 0; i < nb; i++)                                                           \
        for (j = 0; j < NV; j++) a[j] += *(const V *)(src + i * FC_RLANES + j * (16 / NV)); \
    if (r == 0) return;                                                                \
    if (nb == 0) {          /* a short run: through a zero-padded copy, lanes < r */  \
        T buf[FC_RLANES] = {0};                                                        \
        for (j = 0; j < r; j++) buf[j] = src[j];                                       \
        for (j = 0; j < NV; j++) {                                                     \
            for (i = 0; i < 16 / NV; i++) lane[i] = j * (16 / NV) + i;                 \
            keep = (I)(lane < (int)r);                                                 \
            v = a[j] + *(const V *)(buf + j * (16 / NV));                              \
            a[j] = (V)(((I)v & keep) | ((I)a[j] & ~keep));                             \
        }                                                                              \
        return;                                                                        \
    }                                                                                  \
    for (j = 0; j < NV; j++) {                                                         \
        for (i = 0; i < 16 / NV; i++) lane[i] = j * (16 / NV) + i;                     \
        keep = (I)(lane >= (int)(FC_RLANES - r));                                      \
        v = a[j] + *(const V *)(src + n - FC_RLANES + j * (16 / NV));                  \
        a[j] = (V)(((I)v & keep) | ((I)a[j] & ~keep));                                 \
    }                                                                                  \
}                                                                                      \
/* the sum of one run: its lanes, combined */                                          \
static inline T fc_run_sum_##SFX(const T *src, Py_ssize_t n) {                         \
    V a[NV];                                                                           \
    Py_ssize_t j;                                                                      \
    for (j = 0; j < NV; j++) a[j] = (V){0};                                            \
    fc_add_run_##SFX(a, src, n);                                                       \
    return fc_tree_sum_##SFX(a);                                                       \
}                                                                                      \
static inline T fc_lanes_total_##SFX(const T *acc) {                                   \
    V a[NV];                                                                           \
    Py_ssize_t j;                                                                      \
    for (j = 0; j < NV; j++) a[j] = *(const V *)(acc + j * (16 / NV));                 \
    return fc_tree_sum_##SFX(a);                                                       \
}                                                                                      \
/* max a run into the lane vectors (idempotent: the tail block, when nb >= 1, is   \
 * the run's last 16 elements, overlapping the blocks before it) */                \
static inline void fc_max_run_##SFX(V *a, const T *src, Py_ssize_t n) {               \
    Py_ssize_t i, j, nb = n / FC_RLANES, r = n - nb * FC_RLANES;                       \
    for (i = 0; i < nb; i++)                                                           \
        for (j = 0; j < NV; j++)                                                       \
            a[j] = fc_sel_##SFX(a[j], *(const V *)(src + i * FC_RLANES + j * (16 / NV))); \
    if (r == 0) return;                                                                \
    if (nb == 0) {          /* a short run: through a -inf-padded copy */             \
        T buf[FC_RLANES];                                                              \
        for (j = 0; j < r; j++) buf[j] = src[j];                                       \
        for (; j < FC_RLANES; j++) buf[j] = -(T)INFINITY;                              \
        for (j = 0; j < NV; j++) a[j] = fc_sel_##SFX(a[j], *(const V *)(buf + j * (16 / NV))); \
        return;                                                                        \
    }                                                                                  \
    for (j = 0; j < NV; j++)                                                           \
        a[j] = fc_sel_##SFX(a[j], *(const V *)(src + n - FC_RLANES + j * (16 / NV)));  \
}                                                                                      \
/* the max of one run (NaN if it has one; either zero if the max is 0) */              \
static inline T fc_run_max_##SFX(const T *src, Py_ssize_t n) {                         \
    V a[NV];                                                                           \
    Py_ssize_t j;                                                                      \
    for (j = 0; j < NV; j++) a[j] = (V){0} - (T)INFINITY;                              \
    fc_max_run_##SFX(a, src, n);                                                       \
    return fc_tree_max_##SFX(a);                                                       \
}                                                                                      \
static inline T fc_lanes_maxtotal_##SFX(const T *m) {                                  \
    V a[NV];                                                                           \
    Py_ssize_t j;                                                                      \
    for (j = 0; j < NV; j++) a[j] = *(const V *)(m + j * (16 / NV));                   \
    return fc_tree_max_##SFX(a);                                                       \
}                                                                                      \
static inline void fc_lanes_sum_##SFX(const T *src, Py_ssize_t n, T *acc) {            \
    V a[NV];                                                                           \
    Py_ssize_t j;                                                                      \
    for (j = 0; j < NV; j++) a[j] = *(const V *)(acc + j * (16 / NV));                 \
    fc_add_run_##SFX(a, src, n);                                                       \
    for (j = 0; j < NV; j++) *(V *)(acc + j * (16 / NV)) = a[j];                       \
}                                                                                      \
static inline void fc_lanes_max_##SFX(const T *src, Py_ssize_t n, T *m) {              \
    V a[NV];                                                                           \
    Py_ssize_t j;                                                                      \
    for (j = 0; j < NV; j++) a[j] = *(const V *)(m + j * (16 / NV));                   \
    fc_max_run_##SFX(a, src, n);                                                       \
    for (j = 0; j < NV; j++) *(V *)(m + j * (16 / NV)) = a[j];                         \
}                                                                                      \
/* ATen's argmax of one run in one pass: each lane keeps its first maximum (v > m)   \
 * or its last NaN and that element's offset (base + q: int32 lanes for float, so  \
 * the caller keeps base + n below 2**31); the tail block overlaps (an element seen \
 * twice keeps its offset).  The lanes are combined by the same rule on offsets:    \
 * the last NaN, else the largest value and, among equal ones, the first offset.    \
 * Returns the offset (-1: every element is -inf) and the element at *val. */       \
static inline I fc_am_take_##SFX(V a, I ia, V b, I ib) {                               \
    I an = (I)(a != a), bn = (I)(b != b);                                              \
    return (bn & (~an | (I)(ib > ia)))                                                 \
           | (~an & ~bn & ((I)(b > a) | ((I)(b == a) & (I)(ib < ia))));                \
}                                                                                      \
static inline Py_ssize_t fc_run_argmax_##SFX(const T *src, Py_ssize_t n, Py_ssize_t base, \
                                             T *val) {                                 \
    V a[NV], v;                                                                        \
    I ix[NV], lid[NV], take;                                                           \
    Py_ssize_t i, j, l, w, nb = n / FC_RLANES, r = n - nb * FC_RLANES;                 \
    T buf[FC_RLANES], bv;                                                              \
    for (j = 0; j < NV; j++) {                                                         \
        a[j] = (V){0} - (T)INFINITY;                                                   \
        for (l = 0; l < 16 / NV; l++) { lid[j][l] = j * (16 / NV) + l; ix[j][l] = -1; } \
    }                                                                                  \
    for (i = 0; i <= nb; i++) {                                                        \
        const T *blk = src + i * FC_RLANES;                                            \
        Py_ssize_t off = base + i * FC_RLANES;                                         \
        if (i == nb) {                                                                 \
            if (r == 0) break;                                                         \
            if (nb == 0) {                                                             \
                for (l = 0; l < r; l++) buf[l] = src[l];                               \
                for (; l < FC_RLANES; l++) buf[l] = -(T)INFINITY;                      \
                blk = buf;                                                             \
            } else {                                                                   \
                blk = src + n - FC_RLANES;                                             \
                off = base + n - FC_RLANES;                                            \
            }                                                                          \
        }                                                                              \
        for (j = 0; j < NV; j++) {                                                     \
            v = *(const V *)(blk + j * (16 / NV));                                     \
            take = (I)(v > a[j]) | (I)(v != v);                                        \
            a[j] = (V)(((I)v & take) | ((I)a[j] & ~take));                             \
            ix[j] = ((lid[j] + (__typeof__(lid[0][0]))off) & take) | (ix[j] & ~take);    \
        }                                                                              \
    }                                                                                  \
    for (w = NV / 2; w > 0; w /= 2)                                                    \
        for (j = 0; j < w; j++) {                                                      \
            take = fc_am_take_##SFX(a[j], ix[j], a[j + w], ix[j + w]);                 \
            a[j] = (V)(((I)a[j + w] & take) | ((I)a[j] & ~take));                      \
            ix[j] = (ix[j + w] & take) | (ix[j] & ~take);                              \
        }                                                                              \
    (void)bv;                                                                          \
    for (w = 0; w < 2; w++) {                      /* within the vector, branch-free */\
        V b;                                                                           \
        I ib;                                                                          \
        if (w == 0) {                                                                  \
            if (16 / NV != 4) continue;                                                \
            b = (V)FC_SWAP_HALVES_##SFX((I)a[0], I);                                      \
            ib = FC_SWAP_HALVES_##SFX(ix[0], I);                                          \
        } else {                                                                       \
            b = (V)FC_SWAP_PAIRS_##SFX((I)a[0], I);                                    \
            ib = FC_SWAP_PAIRS_##SFX(ix[0], I);                                        \
        }                                                                              \
        take = fc_am_take_##SFX(a[0], ix[0], b, ib);                                   \
        a[0] = (V)(((I)b & take) | ((I)a[0] & ~take));                                 \
        ix[0] = (ib & take) | (ix[0] & ~take);                                         \
    }                                                                                  \
    *val = a[0][0];                                                                    \
    return ix[0][0];                                                                   \
}                                                                                      \
/* the first q with src[q] == x (x not NaN), else -1: 16 lanes compared at a time */   \
static inline Py_ssize_t fc_find_eq_##SFX(const T *src, Py_ssize_t n, T x) {           \
    Py_ssize_t i, j, q;                                                                \
    V vx;                                                                              \
    I hit;                                                                             \
    for (j = 0; j < (Py_ssize_t)(sizeof(V) / sizeof(T)); j++) vx[j] = x;               \
    for (i = 0; i + FC_RLANES <= n; i += FC_RLANES) {                                  \
        hit = (I)(*(const V *)(src + i) == vx);                                        \
        for (j = 1; j < NV; j++) hit |= (I)(*(const V *)(src + i + j * (16 / NV)) == vx); \
        for (j = 1; j < (Py_ssize_t)(sizeof(V) / sizeof(T)); j++) hit[0] |= hit[j];    \
        if (hit[0])                                                                    \
            for (q = i; q < i + FC_RLANES; q++)                                        \
                if (src[q] == x) return q;                                             \
    }                                                                                  \
    for (q = i; q < n; q++)                                                            \
        if (src[q] == x) return q;                                                     \
    return -1;                                                                         \
}

FC_DEFINE_LANES(f32, float, fc_r4f, fc_r4i, 4)
FC_DEFINE_LANES(f64, double, fc_r2d, fc_r2l, 8)

#else  /* scalar: the same lanes, one element at a time */

#define FC_DEFINE_LANES(SFX, T)                                                        \
static inline T fc_lanes_total_##SFX(const T *acc) {                                   \
    T t[FC_RLANES];                                                                    \
    Py_ssize_t j, w;                                                                   \
    for (j = 0; j < FC_RLANES; j++) t[j] = acc[j];                                     \
    for (w = FC_RLANES / 2; w > 0; w /= 2)                                             \
        for (j = 0; j < w; j++) t[j] += t[j + w];                                      \
    return t[0];                                                                       \
}                                                                                      \
static inline T fc_lanes_maxtotal_##SFX(const T *m) {                                  \
    T t[FC_RLANES];                                                                    \
    Py_ssize_t j, w;                                                                   \
    for (j = 0; j < FC_RLANES; j++) t[j] = m[j];                                       \
    for (w = FC_RLANES / 2; w > 0; w /= 2)                                             \
        for (j = 0; j < w; j++)                                                        \
            if (t[j + w] > t[j] || t[j + w] != t[j + w]) t[j] = t[j + w];              \
    return t[0];                                                                       \
}                                                                                      \
static inline void fc_lanes_sum_##SFX(const T *src, Py_ssize_t n, T *acc) {            \
    Py_ssize_t q, nb = n / FC_RLANES;                                                  \
    for (q = 0; q < nb * FC_RLANES; q++) acc[q % FC_RLANES] += src[q];                 \
    for (; q < n; q++) acc[nb ? q - n + FC_RLANES : q] += src[q];                      \
}                                                                                      \
static inline T fc_run_sum_##SFX(const T *src, Py_ssize_t n) {                         \
    T acc[FC_RLANES] = {0};                                                            \
    fc_lanes_sum_##SFX(src, n, acc);                                                   \
    return fc_lanes_total_##SFX(acc);                                                  \
}                                                                                      \
static inline T fc_run_max_##SFX(const T *src, Py_ssize_t n) {                         \
    T m[FC_RLANES];                                                                    \
    Py_ssize_t q;                                                                      \
    for (q = 0; q < FC_RLANES; q++) m[q] = -(T)INFINITY;                               \
    for (q = 0; q < n; q++)                                                            \
        if (src[q] > m[q % FC_RLANES] || src[q] != src[q]) m[q % FC_RLANES] = src[q];  \
    return fc_lanes_maxtotal_##SFX(m);                                                 \
}                                                                                      \
static inline void fc_lanes_max_##SFX(const T *src, Py_ssize_t n, T *m) {              \
    Py_ssize_t q;                                                                      \
    for (q = 0; q < n; q++)                                                            \
        if (src[q] > m[q % FC_RLANES] || src[q] != src[q]) m[q % FC_RLANES] = src[q];  \
}                                                                                      \
static inline Py_ssize_t fc_find_eq_##SFX(const T *src, Py_ssize_t n, T x) {           \
    Py_ssize_t q;                                                                      \
    for (q = 0; q < n; q++)                                                            \
        if (src[q] == x) return q;                                                     \
    return -1;                                                                         \
}                                                                                      \
static inline Py_ssize_t fc_run_argmax_##SFX(const T *src, Py_ssize_t n, Py_ssize_t base, \
                                             T *val) {                                 \
    Py_ssize_t q, k = -1;                                                              \
    T m = -(T)INFINITY;                                                                \
    for (q = 0; q < n; q++)                                                            \
        if (src[q] > m || src[q] != src[q]) { m = src[q]; k = base + q; }              \
    *val = m;                                                                          \
    return k;                                                                          \
}

FC_DEFINE_LANES(f32, float)
FC_DEFINE_LANES(f64, double)

#endif
#endif /* FC_REDUCE_H */
