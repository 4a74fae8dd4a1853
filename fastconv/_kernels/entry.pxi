# The one entry point: run(desc, arrays, ws, n_threads).  (Included by _engine.pyx.)
#
# It checks every buffer against the problem (dtype, C-contiguity, alignment and
# size: a wrapper bug is a ValueError here, never a buffer overrun), then releases
# the GIL and calls the kernel of the problem's algorithm.  The arrays, by algorithm:
#
#   FC_CONV_FWD_*        (x, w, bias or None, out)
#   FC_CONV_BWI_*        (grad_output, wt = W^T as (G, Kg, Og), grad_input)
#   FC_CONV_BWW_ROWS     (grad_output, x, grad_weight (O, Kg))
#   FC_CONV_BWW_CHUNKED, FC_CONV_BWW_STRIP
#                        (grad_output, x, partial (chunks, G, Kg, Og))
#   FC_CONV_BWB_SUM      (grad_output, grad_bias)
#   FC_UNFOLD_IM2COL     (x, cols);  FC_UNFOLD_COL2IM (cols, out)
#   FC_MAX_POOL_FWD      (x, out, indices or None);  FC_MAX_POOL_BWD (grad_output, indices, grad_input)
#   FC_AVG_POOL_FWD      (x, out);  FC_AVG_POOL_BWD (grad_output, grad_input)
#
# It returns 0, or for FC_MAX_POOL_BWD the number of indices out of range.

cdef object _ALGO_ARRAYS = {
    FC_CONV_FWD_DIRECT: ("x", "weight", "bias", "output"),
    FC_CONV_FWD_IM2COL: ("x", "weight", "bias", "output"),
    FC_CONV_FWD_STRIP: ("x", "weight", "bias", "output"),
    FC_CONV_BWI_DIRECT: ("grad_output", "weight", "grad_input"),
    FC_CONV_BWI_COL2IM: ("grad_output", "weight", "grad_input"),
    FC_CONV_BWW_ROWS: ("grad_output", "x", "grad_weight"),
    FC_CONV_BWW_CHUNKED: ("grad_output", "x", "partial"),
    FC_CONV_BWW_STRIP: ("grad_output", "x", "partial"),
    FC_CONV_BWB_SUM: ("grad_output", "grad_bias"),
    FC_UNFOLD_IM2COL: ("x", "cols"),
    FC_UNFOLD_COL2IM: ("cols", "output"),
    FC_MAX_POOL_FWD: ("x", "output", "indices"),
    FC_MAX_POOL_BWD: ("grad_output", "indices", "grad_input"),
    FC_AVG_POOL_FWD: ("x", "output"),
    FC_AVG_POOL_BWD: ("grad_output", "grad_input"),
}


cdef Py_ssize_t _elements(const fc_problem *p, str name) except -1:
    """Elements the kernel reads or writes in the array called ``name``."""
    cdef Py_ssize_t x = p.N * p.C * p.in_vol
    cdef Py_ssize_t y = p.N * (p.O if p.op == FC_OP_CONV else p.C) * p.L
    if name == "x":
        return x
    if name in ("output", "grad_output", "indices"):
        if p.op == FC_OP_UNFOLD:
            return x
        return y
    if name == "grad_input":
        return x
    if name == "weight":
        return p.O * p.Kg
    if name in ("bias", "grad_bias"):
        return p.O
    if name == "grad_weight":
        return p.O * p.Kg
    if name == "partial":
        return fc_workspace(p).shared
    if name == "cols":
        return p.N * p.C * p.taps * p.L
    raise AssertionError(name)


cdef void *_checked(object arr, str name, const fc_problem *p, bint is_index,
                    bint optional) except? NULL:
    """The data pointer of ``arr`` after checking it fits the problem."""
    cdef cnp.ndarray a
    cdef Py_ssize_t need, itemsize
    if arr is None:
        if optional:
            return NULL
        raise ValueError(f"kernel argument `{name}` is missing")
    if not isinstance(arr, cnp.ndarray):
        raise TypeError(f"kernel argument `{name}` must be an ndarray")
    a = <cnp.ndarray>arr
    itemsize = 8 if is_index else p.itemsize
    if cnp.PyArray_ITEMSIZE(a) != itemsize or (
            cnp.PyArray_TYPE(a) != (cnp.NPY_INT64 if is_index else
                                    (cnp.NPY_FLOAT32 if itemsize == 4 else cnp.NPY_FLOAT64))):
        raise ValueError(f"kernel argument `{name}` has dtype {a.dtype}, the problem needs "
                         f"{'int64' if is_index else ('float32' if itemsize == 4 else 'float64')}")
    if not (cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_ISALIGNED(a)):
        raise ValueError(f"kernel argument `{name}` must be C-contiguous and aligned")
    if name in ("output", "grad_input", "grad_weight", "grad_bias", "partial", "cols",
                "indices") and not cnp.PyArray_ISWRITEABLE(a):
        if not (name == "indices" and p.algo == FC_MAX_POOL_BWD) and not (
                name == "cols" and p.algo == FC_UNFOLD_COL2IM):
            raise ValueError(f"kernel argument `{name}` must be writeable")
    need = _elements(p, name)
    if cnp.PyArray_SIZE(a) < need:
        raise ValueError(f"kernel argument `{name}` has {cnp.PyArray_SIZE(a)} elements, "
                         f"the problem needs {need}")
    return cnp.PyArray_DATA(a)


def run(Desc desc, tuple arrays, object ws, int n_threads):
    """Run the problem's algorithm on ``arrays`` (see the table at the top of entry.pxi)
    with the per-thread scratch ``ws`` (``n_threads * desc.workspace[0]`` elements)."""
    cdef fc_problem *p = &desc.p
    cdef int algo = p.algo
    cdef object names = _ALGO_ARRAYS.get(algo)
    cdef void *ptr[4]
    cdef void *pws = NULL
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t j, result = 0
    cdef bint f32 = p.itemsize == 4
    if names is None:
        raise ValueError(f"the problem has no algorithm (algo={algo})")
    if len(arrays) != len(names):
        raise ValueError(f"algorithm {algo} takes {len(names)} arrays, got {len(arrays)}")
    if n_threads < 1:
        raise ValueError(f"n_threads must be positive, got {n_threads}")
    for j in range(len(names)):
        ptr[j] = _checked(arrays[j], names[j], p, names[j] == "indices",
                          names[j] == "bias" or (names[j] == "indices"
                                                 and algo == FC_MAX_POOL_FWD
                                                 and not p.want_indices))
    if lay.per_thread > 0:
        if not isinstance(ws, cnp.ndarray) or cnp.PyArray_ITEMSIZE(<cnp.ndarray>ws) != p.itemsize \
                or not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>ws) \
                or cnp.PyArray_SIZE(<cnp.ndarray>ws) < lay.per_thread * n_threads:
            raise ValueError(f"the workspace must be a contiguous array of at least "
                             f"{lay.per_thread * n_threads} elements of {p.itemsize} bytes")
        pws = cnp.PyArray_DATA(<cnp.ndarray>ws)
    with nogil:
        if algo == FC_CONV_FWD_DIRECT or algo == FC_CONV_FWD_IM2COL or algo == FC_CONV_FWD_STRIP:
            if f32:
                conv_forward[float](p, <const float *>ptr[0], <const float *>ptr[1],
                                    <const float *>ptr[2], <float *>ptr[3], <float *>pws,
                                    n_threads)
            else:
                conv_forward[double](p, <const double *>ptr[0], <const double *>ptr[1],
                                     <const double *>ptr[2], <double *>ptr[3], <double *>pws,
                                     n_threads)
        elif algo == FC_CONV_BWI_DIRECT or algo == FC_CONV_BWI_COL2IM:
            if f32:
                conv_grad_input[float](p, <const float *>ptr[0], <const float *>ptr[1],
                                       <float *>ptr[2], <float *>pws, n_threads)
            else:
                conv_grad_input[double](p, <const double *>ptr[0], <const double *>ptr[1],
                                        <double *>ptr[2], <double *>pws, n_threads)
        elif algo == FC_CONV_BWW_ROWS or algo == FC_CONV_BWW_CHUNKED or algo == FC_CONV_BWW_STRIP:
            if f32:
                conv_grad_weight[float](p, <const float *>ptr[0], <const float *>ptr[1],
                                        <float *>ptr[2], <float *>pws, n_threads)
            else:
                conv_grad_weight[double](p, <const double *>ptr[0], <const double *>ptr[1],
                                         <double *>ptr[2], <double *>pws, n_threads)
        elif algo == FC_CONV_BWB_SUM:
            if f32:
                conv_grad_bias[float](p, <const float *>ptr[0], <float *>ptr[1], n_threads)
            else:
                conv_grad_bias[double](p, <const double *>ptr[0], <double *>ptr[1], n_threads)
        elif algo == FC_UNFOLD_IM2COL:
            if f32:
                unfold_im2col[float](p, <const float *>ptr[0], <float *>ptr[1], n_threads)
            else:
                unfold_im2col[double](p, <const double *>ptr[0], <double *>ptr[1], n_threads)
        elif algo == FC_UNFOLD_COL2IM:
            if f32:
                unfold_col2im[float](p, <const float *>ptr[0], <float *>ptr[1], n_threads)
            else:
                unfold_col2im[double](p, <const double *>ptr[0], <double *>ptr[1], n_threads)
        elif algo == FC_MAX_POOL_FWD:
            if f32:
                max_pool_forward[float](p, <const float *>ptr[0], <float *>ptr[1],
                                        <int64_t *>ptr[2], <float *>pws, n_threads)
            else:
                max_pool_forward[double](p, <const double *>ptr[0], <double *>ptr[1],
                                         <int64_t *>ptr[2], <double *>pws, n_threads)
        elif algo == FC_MAX_POOL_BWD:
            if f32:
                result = max_pool_backward[float](p, <const float *>ptr[0],
                                                  <const int64_t *>ptr[1], <float *>ptr[2],
                                                  n_threads)
            else:
                result = max_pool_backward[double](p, <const double *>ptr[0],
                                                   <const int64_t *>ptr[1], <double *>ptr[2],
                                                   n_threads)
        elif algo == FC_AVG_POOL_FWD or algo == FC_AVG_POOL_BWD:
            if f32:
                avg_pool[float](p, <const float *>ptr[0], <float *>ptr[1], n_threads)
            else:
                avg_pool[double](p, <const double *>ptr[0], <double *>ptr[1], n_threads)
    return result


def workspace_layout(Desc desc):
    """``{'per_thread', 'shared', 'ints', 'got', 'main'}`` elements of ``desc``'s scratch."""
    cdef fc_workspace_layout w = fc_workspace(&desc.p)
    return {"per_thread": w.per_thread, "shared": w.shared, "ints": w.ints, "got": w.got,
            "main": w.main}
