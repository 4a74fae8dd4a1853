# Channels-last convolution (FC_CONV_*_NHWC).  (Included by _engine.pyx.)
# SCAFFOLD: the kernels are being written; no algorithm here is registered yet.


cdef void nhwc_conv_workspace(const fc_problem *p, fc_workspace_layout *w) noexcept nogil:
    pass


cdef Py_ssize_t nhwc_conv_tasks(const fc_problem *p) noexcept nogil:
    return 0


cdef Py_ssize_t nhwc_conv_run(const fc_problem *p, void **arrays, void *ws,
                          int n_threads) noexcept nogil:
    """Run the problem's algorithm on ``arrays`` (checked by entry.pxi's run)."""
    return 0
