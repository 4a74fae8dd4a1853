# cython: language_level=3
"""Index-range helpers shared by the kernel modules (inline, so no cross-module calls)."""


cdef inline void valid_range(Py_ssize_t x0, Py_ssize_t step, Py_ssize_t count, Py_ssize_t W,
                             Py_ssize_t *lo, Py_ssize_t *hi) noexcept nogil:
    """[lo, hi): the q in [0, count) with 0 <= x0 + q*step < W (no division for step 1)."""
    cdef Py_ssize_t a, b
    if step == 1:
        a = -x0 if x0 < 0 else 0
        b = W - x0
    else:
        a = 0 if x0 >= 0 else (-x0 + step - 1) // step
        b = 0 if x0 > W - 1 else (W - 1 - x0) // step + 1
    if a > count:
        a = count
    if b > count:
        b = count
    if b < a:
        b = a
    lo[0] = a
    hi[0] = b
