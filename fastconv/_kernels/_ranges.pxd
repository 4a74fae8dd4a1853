# cython: language_level=3
"""Index-range helpers shared by the kernels: the C rule of fc_ranges.h (inline, so no
cross-module calls), also used by the C row loops of fc_depthwise.h."""

cdef extern from "fc_ranges.h" nogil:
    void valid_range "fc_valid_range"(Py_ssize_t x0, Py_ssize_t step, Py_ssize_t count,
                                      Py_ssize_t W, Py_ssize_t *lo, Py_ssize_t *hi)
