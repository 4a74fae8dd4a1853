/* fastconv: the one index-range rule of every kernel (Cython reaches it through
 * _ranges.pxd as valid_range; the C row loops of fc_depthwise.h call it directly). */
#ifndef FC_RANGES_H
#define FC_RANGES_H

/* [lo, hi): the q in [0, count) with 0 <= x0 + q*step < W (step >= 1; no division for
 * step 1). */
static inline void fc_valid_range(Py_ssize_t x0, Py_ssize_t step, Py_ssize_t count,
                                  Py_ssize_t W, Py_ssize_t *lo, Py_ssize_t *hi)
{
    Py_ssize_t a, b;
    if (step == 1) {
        a = x0 < 0 ? -x0 : 0;
        b = W - x0;
    } else {
        a = x0 >= 0 ? 0 : (-x0 + step - 1) / step;
        b = x0 > W - 1 ? 0 : (W - 1 - x0) / step + 1;
    }
    if (a > count)
        a = count;
    if (b > count)
        b = count;
    if (b < a)
        b = a;
    *lo = a;
    *hi = b;
}

#endif /* FC_RANGES_H */
