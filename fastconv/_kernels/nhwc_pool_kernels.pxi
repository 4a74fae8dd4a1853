# Channels-last pooling and unfold (FC_*_POOL_*_NHWC, FC_UNFOLD_*_NHWC).  (Included by _engine.pyx.)
# SCAFFOLD: the pooling kernels are being written; unfold is in nhwc_unfold_kernels.pxi.


cdef void nhwc_pool_workspace(const fc_problem *p, fc_workspace_layout *w) noexcept nogil:
    if p.algo >= FC_UNFOLD_IM2COL_NHWC:
        nhwc_unfold_workspace(p, w)


cdef Py_ssize_t nhwc_pool_tasks(const fc_problem *p) noexcept nogil:
    if p.algo >= FC_UNFOLD_IM2COL_NHWC:
        return nhwc_unfold_tasks(p)
    return 0


cdef Py_ssize_t nhwc_pool_run(const fc_problem *p, void **arrays, void *ws,
                              int n_threads) noexcept nogil:
    """Run the problem's algorithm on ``arrays`` (checked by entry.pxi's run)."""
    if p.algo >= FC_UNFOLD_IM2COL_NHWC:
        return nhwc_unfold_run(p, arrays, ws, n_threads)
    return 0
