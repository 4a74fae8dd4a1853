# The one entry point: run(desc, arrays, ws, n_threads).  (Included by _engine.pyx.)
#
# It checks every buffer against the problem (dtype, C-contiguity, alignment and
# size: a wrapper bug is a ValueError here, never a buffer overrun), then releases
# the GIL and calls the kernel of the problem's algorithm.  The arrays, by algorithm:
#
#   FC_CONV_FWD_*        (x, w, bias or None, out)  (also FC_CONV_FWD_GROUPED)
#   FC_CONV_BWI_*        (grad_output, wt = W^T as (G, Kg, Og), grad_input)
#   FC_CONV_BWW_ROWS     (grad_output, x, grad_weight (O, Kg), or (chunks, O, Kg) partials)
#   FC_CONV_BWW_CHUNKED, FC_CONV_BWW_STRIP, FC_CONV_BWW_DEPTHWISE, FC_CONV_BWW_GROUPED
#                        (grad_output, x, partial (chunks, G, Kg, Og))
#   FC_CONV_FWD_REGIONS, FC_CONV_FWD_WINOGRAD(_NHWC)  (x, w, bias or None, out, shared scratch)
#   FC_CONV_BWW_REGIONS  (grad_output, x, grad_weight (O, Kg), shared scratch)
#   FC_CONV_BWB_SUM      (grad_output, grad_bias)
#   FC_UNFOLD_IM2COL     (x, cols);  FC_UNFOLD_COL2IM (cols, out)
#   FC_MAX_POOL_FWD      (x, out, indices or None);  FC_MAX_POOL_BWD (grad_output, indices, grad_input)
#   FC_AVG_POOL_FWD      (x, out);  FC_AVG_POOL_BWD (grad_output, grad_input)
#   FC_MAX_POOL_FWD_REDUCE (x, out, indices or None)
#   FC_AVG_POOL_FWD_REDUCE (x, out);  FC_AVG_POOL_BWD_REDUCE (grad_output, grad_input)
#   FC_MAX_POOL_FWD_ROWS (x, out, indices or None)
#   FC_AVG_POOL_FWD_ROWS (x, out);  FC_AVG_POOL_BWD_ROWS (grad_output, grad_input)
#
#   channels-last (FC_*_NHWC): the same arrays in their channels-last shapes, weights
#   and grad_weight (*k, C/groups, O); see nhwc_*_kernels.pxi
#
# It returns 0, or for FC_MAX_POOL_BWD(_NHWC) the number of indices out of range.

# The arrays a kernel takes, by kind: what decides their size and access.
cdef enum:
    A_X = 0          # (N, C, *in)                    read
    A_W = 1          # O * Kg                          read
    A_BIAS = 2       # O, optional                    read
    A_Y = 3          # (N, O or C, *out)              written
    A_GO = 4         # (N, O or C, *out)              read
    A_GX = 5         # (N, C, *in)                    written
    A_GW = 6         # O * Kg                          written
    A_GB = 7         # O                               written
    A_PART = 8       # the shared workspace           written
    A_COLS_OUT = 9   # (N, C*taps, L)                 written
    A_COLS_IN = 10   # (N, C*taps, L)                 read
    A_IMG_OUT = 11   # (N, C, *in)                    written (col2im's image)
    A_IDX_OUT = 12   # (N, C, *out) int64, optional   written
    A_IDX_IN = 13    # (N, C, *out) int64             read

cdef tuple _KIND_NAMES = ("x", "weight", "bias", "output", "grad_output", "grad_input",
                          "grad_weight", "grad_bias", "partial", "cols", "cols", "output",
                          "indices", "indices")

# Every algorithm's registry name (fastconv/_engine.py registers its planner under it)
# and the kinds of the arrays its kernel takes, in order.
cdef object _ALGORITHMS = {
    FC_CONV_FWD_DIRECT: ("conv.forward.direct", (A_X, A_W, A_BIAS, A_Y)),
    FC_CONV_FWD_IM2COL: ("conv.forward.im2col", (A_X, A_W, A_BIAS, A_Y)),
    FC_CONV_FWD_STRIP: ("conv.forward.strip", (A_X, A_W, A_BIAS, A_Y)),
    FC_CONV_BWI_DIRECT: ("conv.grad_input.direct", (A_GO, A_W, A_GX)),
    FC_CONV_BWI_COL2IM: ("conv.grad_input.col2im", (A_GO, A_W, A_GX)),
    FC_CONV_BWW_ROWS: ("conv.grad_weight.rows", (A_GO, A_X, A_GW)),
    FC_CONV_BWW_CHUNKED: ("conv.grad_weight.chunked", (A_GO, A_X, A_PART)),
    FC_CONV_BWW_STRIP: ("conv.grad_weight.strip", (A_GO, A_X, A_PART)),
    FC_CONV_BWB_SUM: ("conv.grad_bias.sum", (A_GO, A_GB)),
    FC_CONV_FWD_GROUPED: ("conv.forward.grouped", (A_X, A_W, A_BIAS, A_Y)),
    FC_CONV_FWD_WINOGRAD: ("conv.forward.winograd", (A_X, A_W, A_BIAS, A_Y, A_PART)),
    FC_CONV_BWW_GROUPED: ("conv.grad_weight.grouped", (A_GO, A_X, A_PART)),
    FC_CONV_FWD_DEPTHWISE: ("conv.forward.depthwise", (A_X, A_W, A_BIAS, A_Y)),
    FC_CONV_BWI_DEPTHWISE: ("conv.grad_input.depthwise", (A_GO, A_W, A_GX)),
    FC_CONV_BWW_DEPTHWISE: ("conv.grad_weight.depthwise", (A_GO, A_X, A_PART)),
    FC_UNFOLD_IM2COL: ("unfold.forward.im2col", (A_X, A_COLS_OUT)),
    FC_UNFOLD_COL2IM: ("unfold.grad_input.col2im", (A_COLS_IN, A_IMG_OUT)),
    FC_MAX_POOL_FWD: ("max_pool.forward.window", (A_X, A_Y, A_IDX_OUT)),
    FC_MAX_POOL_BWD: ("max_pool.grad_input.scatter", (A_GO, A_IDX_IN, A_GX)),
    FC_AVG_POOL_FWD: ("avg_pool.forward.window", (A_X, A_Y)),
    FC_AVG_POOL_BWD: ("avg_pool.grad_input.window", (A_GO, A_GX)),
    FC_MAX_POOL_FWD_REDUCE: ("max_pool.forward.reduce", (A_X, A_Y, A_IDX_OUT)),
    FC_AVG_POOL_FWD_REDUCE: ("avg_pool.forward.reduce", (A_X, A_Y)),
    FC_AVG_POOL_BWD_REDUCE: ("avg_pool.grad_input.reduce", (A_GO, A_GX)),
    FC_MAX_POOL_FWD_ROWS: ("max_pool.forward.rows", (A_X, A_Y, A_IDX_OUT)),
    FC_AVG_POOL_FWD_ROWS: ("avg_pool.forward.rows", (A_X, A_Y)),
    FC_AVG_POOL_BWD_ROWS: ("avg_pool.grad_input.rows", (A_GO, A_GX)),
    FC_CONV_FWD_REGIONS: ("conv.forward.regions", (A_X, A_W, A_BIAS, A_Y, A_PART)),
    FC_CONV_BWW_REGIONS: ("conv.grad_weight.regions", (A_GO, A_X, A_GW, A_PART)),
    # channels-last (weights (*k, C/groups, O), grad_weight the same)
    FC_CONV_FWD_NHWC: ("conv.forward.nhwc", (A_X, A_W, A_BIAS, A_Y)),
    FC_CONV_BWI_NHWC: ("conv.grad_input.nhwc", (A_GO, A_W, A_GX)),
    FC_CONV_BWW_NHWC: ("conv.grad_weight.nhwc", (A_GO, A_X, A_PART)),
    FC_CONV_BWB_NHWC: ("conv.grad_bias.nhwc", (A_GO, A_GB)),
    FC_CONV_FWD_DW_NHWC: ("conv.forward.depthwise_nhwc", (A_X, A_W, A_BIAS, A_Y)),
    FC_CONV_BWI_DW_NHWC: ("conv.grad_input.depthwise_nhwc", (A_GO, A_W, A_GX)),
    FC_CONV_BWW_DW_NHWC: ("conv.grad_weight.depthwise_nhwc", (A_GO, A_X, A_PART)),
    FC_CONV_FWD_WINOGRAD_NHWC: ("conv.forward.winograd_nhwc", (A_X, A_W, A_BIAS, A_Y, A_PART)),
    FC_MAX_POOL_FWD_NHWC: ("max_pool.forward.nhwc", (A_X, A_Y, A_IDX_OUT)),
    FC_MAX_POOL_BWD_NHWC: ("max_pool.grad_input.nhwc", (A_GO, A_IDX_IN, A_GX)),
    FC_AVG_POOL_FWD_NHWC: ("avg_pool.forward.nhwc", (A_X, A_Y)),
    FC_AVG_POOL_BWD_NHWC: ("avg_pool.grad_input.nhwc", (A_GO, A_GX)),
    FC_UNFOLD_IM2COL_NHWC: ("unfold.forward.nhwc", (A_X, A_COLS_OUT)),
    FC_UNFOLD_COL2IM_NHWC: ("unfold.grad_input.nhwc", (A_COLS_IN, A_IMG_OUT)),
    # adaptive pooling (either layout)
    FC_ADAPTIVE_MAX_FWD: ("adaptive_max_pool.forward.window", (A_X, A_Y, A_IDX_OUT)),
    FC_ADAPTIVE_AVG_FWD: ("adaptive_avg_pool.forward.window", (A_X, A_Y)),
    FC_ADAPTIVE_MAX_BWD: ("adaptive_max_pool.grad_input.scatter", (A_GO, A_IDX_IN, A_GX)),
    FC_ADAPTIVE_AVG_BWD: ("adaptive_avg_pool.grad_input.window", (A_GO, A_GX)),
}


cdef bint _reads_layout(int algo, int layout) noexcept:
    """Whether the kernel of ``algo`` reads data in ``layout``."""
    if FC_ADAPTIVE_MAX_FWD <= algo <= FC_ADAPTIVE_AVG_BWD:
        return True                        # either layout
    return (FC_CONV_FWD_NHWC <= algo <= FC_UNFOLD_COL2IM_NHWC
            or algo == FC_CONV_FWD_WINOGRAD_NHWC) == (layout == FC_CHANNELS_LAST)


def algorithm_codes():
    """``{registry name: C enum value}`` of every kernel."""
    return {name: code for code, (name, _) in _ALGORITHMS.items()}


cdef Py_ssize_t _elements(const fc_problem *p, int kind) noexcept:
    """Elements the kernel reads or writes in an array of this kind."""
    if kind == A_X or kind == A_GX or kind == A_IMG_OUT:
        return p.N * p.C * p.in_vol
    if kind == A_Y or kind == A_GO or kind == A_IDX_OUT or kind == A_IDX_IN:
        return p.N * (p.O if p.op == FC_OP_CONV else p.C) * p.L
    if kind == A_GW and p.algo == FC_CONV_BWW_ROWS and p.chunks > 1:
        return p.chunks * p.O * p.Kg     # one (O, Kg) partial per chunk of samples
    if kind == A_W or kind == A_GW:
        return p.O * p.Kg
    if kind == A_BIAS or kind == A_GB:
        return p.O
    if kind == A_PART:
        return fc_workspace(p).shared
    return p.N * p.C * p.taps * p.L      # cols


cdef void *_checked(object arr, int kind, const fc_problem *p) except? NULL:
    """The data pointer of ``arr`` after checking it fits the problem."""
    cdef cnp.ndarray a
    cdef bint is_index = kind == A_IDX_OUT or kind == A_IDX_IN
    cdef bint written = kind in (A_Y, A_GX, A_GW, A_GB, A_PART, A_COLS_OUT, A_IMG_OUT,
                                 A_IDX_OUT)
    cdef int typenum
    if arr is None:
        if kind == A_BIAS or (kind == A_IDX_OUT and not p.want_indices):
            return NULL
        raise ValueError(f"kernel argument `{_KIND_NAMES[kind]}` is missing")
    if type(arr) is not cnp.ndarray and not isinstance(arr, cnp.ndarray):
        raise TypeError(f"kernel argument `{_KIND_NAMES[kind]}` must be an ndarray")
    a = <cnp.ndarray>arr
    typenum = cnp.NPY_INT64 if is_index else (cnp.NPY_FLOAT32 if p.itemsize == 4
                                             else cnp.NPY_FLOAT64)
    if cnp.PyArray_TYPE(a) != typenum:
        raise ValueError(f"kernel argument `{_KIND_NAMES[kind]}` has dtype {a.dtype}, the "
                         f"problem needs {cnp.PyArray_DescrFromType(typenum)}")
    if not (cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_ISALIGNED(a)):
        raise ValueError(f"kernel argument `{_KIND_NAMES[kind]}` must be C-contiguous and "
                         "aligned")
    if written and not cnp.PyArray_ISWRITEABLE(a):
        raise ValueError(f"kernel argument `{_KIND_NAMES[kind]}` must be writeable")
    if cnp.PyArray_SIZE(a) < _elements(p, kind):
        raise ValueError(f"kernel argument `{_KIND_NAMES[kind]}` has {cnp.PyArray_SIZE(a)} "
                         f"elements, the problem needs {_elements(p, kind)}")
    return cnp.PyArray_DATA(a)


def run(Desc desc, tuple arrays, object ws, int n_threads):
    """Run the problem's algorithm on ``arrays`` (see the table at the top of entry.pxi)
    with the per-thread scratch ``ws`` (``n_threads * desc.workspace[0]`` elements)."""
    cdef fc_problem *p = &desc.p
    cdef int algo = p.algo
    cdef object entry = _ALGORITHMS.get(algo)
    cdef tuple kinds
    cdef void *ptr[5]
    cdef void *pws = NULL
    cdef fc_workspace_layout lay = fc_workspace(p)
    cdef Py_ssize_t j, result = 0
    cdef void *ad_dst = NULL
    cdef void *ad_idx = NULL
    cdef bint f32 = p.itemsize == 4
    if entry is None:
        raise ValueError(f"the problem has no algorithm (algo={algo})")
    kinds = entry[1]
    if len(arrays) != len(kinds):
        raise ValueError(f"algorithm {entry[0]} takes {len(kinds)} arrays, got {len(arrays)}")
    if n_threads < 1:
        raise ValueError(f"n_threads must be positive, got {n_threads}")
    if not _reads_layout(algo, p.layout):
        raise ValueError(f"algorithm {entry[0]} does not read this problem's layout "
                         f"(layout={p.layout})")
    if p.padding_mode != FC_PAD_ZEROS and algo not in (
            FC_CONV_FWD_IM2COL, FC_CONV_BWI_COL2IM, FC_CONV_BWW_ROWS, FC_CONV_BWW_CHUNKED,
            FC_CONV_BWB_SUM, FC_CONV_FWD_NHWC, FC_CONV_BWI_NHWC, FC_CONV_BWW_NHWC,
            FC_CONV_BWB_NHWC):
        raise ValueError(f"algorithm {entry[0]} reads only zero padding (padding mode "
                         f"{p.padding_mode})")
    for j in range(len(kinds)):
        ptr[j] = _checked(arrays[j], kinds[j], p)
    if algo == FC_ADAPTIVE_MAX_BWD:
        ad_idx, ad_dst = ptr[1], ptr[2]
    elif FC_ADAPTIVE_MAX_FWD <= algo <= FC_ADAPTIVE_AVG_BWD:
        ad_dst = ptr[1]
        ad_idx = ptr[2] if algo == FC_ADAPTIVE_MAX_FWD else NULL
    if lay.per_thread > 0:
        if not isinstance(ws, cnp.ndarray) or cnp.PyArray_ITEMSIZE(<cnp.ndarray>ws) != p.itemsize \
                or not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>ws) \
                or cnp.PyArray_SIZE(<cnp.ndarray>ws) < lay.per_thread * n_threads:
            raise ValueError(f"the workspace must be a contiguous array of at least "
                             f"{lay.per_thread * n_threads} elements of {p.itemsize} bytes")
        pws = cnp.PyArray_DATA(<cnp.ndarray>ws)
    with nogil:
        if FC_ADAPTIVE_MAX_FWD <= algo <= FC_ADAPTIVE_AVG_BWD:   # (src, dst[, indices]) or (src, indices, dst)
            if f32:
                result = adaptive_pool[float](p, <const float *>ptr[0], <float *>ad_dst,
                                              <int64_t *>ad_idx, n_threads)
            else:
                result = adaptive_pool[double](p, <const double *>ptr[0], <double *>ad_dst,
                                               <int64_t *>ad_idx, n_threads)
        elif FC_CONV_FWD_NHWC <= algo <= FC_UNFOLD_COL2IM_NHWC:   # channels-last: each kernel file dispatches its own
            if algo <= FC_CONV_BWB_NHWC:
                result = nhwc_conv_run(p, ptr, pws, n_threads)
            elif algo <= FC_CONV_BWW_DW_NHWC:
                result = nhwc_dw_run(p, ptr, pws, n_threads)
            else:
                result = nhwc_pool_run(p, ptr, pws, n_threads)
        elif algo == FC_CONV_FWD_DIRECT or algo == FC_CONV_FWD_IM2COL or algo == FC_CONV_FWD_STRIP:
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
        elif algo == FC_CONV_FWD_REGIONS:
            if f32:
                regions_forward[float](p, <const float *>ptr[0], <const float *>ptr[1],
                                       <const float *>ptr[2], <float *>ptr[3], <float *>ptr[4],
                                       <float *>pws, n_threads)
            else:
                regions_forward[double](p, <const double *>ptr[0], <const double *>ptr[1],
                                        <const double *>ptr[2], <double *>ptr[3],
                                        <double *>ptr[4], <double *>pws, n_threads)
        elif algo == FC_CONV_BWW_REGIONS:
            if f32:
                regions_grad_weight[float](p, <const float *>ptr[0], <const float *>ptr[1],
                                           <float *>ptr[2], <float *>ptr[3], <float *>pws,
                                           n_threads)
            else:
                regions_grad_weight[double](p, <const double *>ptr[0], <const double *>ptr[1],
                                            <double *>ptr[2], <double *>ptr[3], <double *>pws,
                                            n_threads)
        elif algo == FC_CONV_FWD_WINOGRAD:
            if f32:
                conv_winograd_forward[float](p, <const float *>ptr[0], <const float *>ptr[1],
                                             <const float *>ptr[2], <float *>ptr[3],
                                             <float *>ptr[4], <float *>pws, n_threads)
            else:
                conv_winograd_forward[double](p, <const double *>ptr[0],
                                              <const double *>ptr[1], <const double *>ptr[2],
                                              <double *>ptr[3], <double *>ptr[4],
                                              <double *>pws, n_threads)
        elif algo == FC_CONV_FWD_WINOGRAD_NHWC:
            if f32:
                conv_winograd_nhwc_forward[float](p, <const float *>ptr[0],
                                                  <const float *>ptr[1], <const float *>ptr[2],
                                                  <float *>ptr[3], <float *>ptr[4],
                                                  <float *>pws, n_threads)
            else:
                conv_winograd_nhwc_forward[double](p, <const double *>ptr[0],
                                                   <const double *>ptr[1],
                                                   <const double *>ptr[2], <double *>ptr[3],
                                                   <double *>ptr[4], <double *>pws, n_threads)
        elif algo == FC_CONV_FWD_GROUPED:
            if f32:
                conv_grouped_forward[float](p, <const float *>ptr[0], <const float *>ptr[1],
                                            <const float *>ptr[2], <float *>ptr[3],
                                            <float *>pws, n_threads)
            else:
                conv_grouped_forward[double](p, <const double *>ptr[0],
                                             <const double *>ptr[1], <const double *>ptr[2],
                                             <double *>ptr[3], <double *>pws, n_threads)
        elif algo == FC_CONV_BWW_GROUPED:
            if f32:
                conv_grouped_grad_weight[float](p, <const float *>ptr[0],
                                                <const float *>ptr[1], <float *>ptr[2],
                                                <float *>pws, n_threads)
            else:
                conv_grouped_grad_weight[double](p, <const double *>ptr[0],
                                                 <const double *>ptr[1], <double *>ptr[2],
                                                 <double *>pws, n_threads)
        elif algo == FC_CONV_FWD_DEPTHWISE:
            if f32:
                depthwise_forward[float](p, <const float *>ptr[0], <const float *>ptr[1],
                                         <const float *>ptr[2], <float *>ptr[3],
                                         <float *>pws, n_threads)
            else:
                depthwise_forward[double](p, <const double *>ptr[0], <const double *>ptr[1],
                                          <const double *>ptr[2], <double *>ptr[3],
                                          <double *>pws, n_threads)
        elif algo == FC_CONV_BWI_DEPTHWISE:
            if f32:
                depthwise_grad_input[float](p, <const float *>ptr[0], <const float *>ptr[1],
                                            <float *>ptr[2], <float *>pws, n_threads)
            else:
                depthwise_grad_input[double](p, <const double *>ptr[0], <const double *>ptr[1],
                                             <double *>ptr[2], <double *>pws, n_threads)
        elif algo == FC_CONV_BWW_DEPTHWISE:
            if f32:
                depthwise_grad_weight[float](p, <const float *>ptr[0], <const float *>ptr[1],
                                             <float *>ptr[2], <float *>pws, n_threads)
            else:
                depthwise_grad_weight[double](p, <const double *>ptr[0],
                                              <const double *>ptr[1], <double *>ptr[2],
                                              <double *>pws, n_threads)
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
        elif algo == FC_MAX_POOL_FWD_REDUCE:
            if f32:
                max_pool_reduce[float](p, <const float *>ptr[0], <float *>ptr[1],
                                       <int64_t *>ptr[2], n_threads)
            else:
                max_pool_reduce[double](p, <const double *>ptr[0], <double *>ptr[1],
                                        <int64_t *>ptr[2], n_threads)
        elif algo == FC_AVG_POOL_FWD_REDUCE or algo == FC_AVG_POOL_BWD_REDUCE:
            if f32:
                avg_pool_reduce[float](p, <const float *>ptr[0], <float *>ptr[1], n_threads)
            else:
                avg_pool_reduce[double](p, <const double *>ptr[0], <double *>ptr[1], n_threads)
        elif algo == FC_MAX_POOL_FWD_ROWS:
            if f32:
                max_pool_rows[float](p, <const float *>ptr[0], <float *>ptr[1],
                                     <int64_t *>ptr[2], <float *>pws, n_threads)
            else:
                max_pool_rows[double](p, <const double *>ptr[0], <double *>ptr[1],
                                      <int64_t *>ptr[2], <double *>pws, n_threads)
        elif algo == FC_AVG_POOL_FWD_ROWS or algo == FC_AVG_POOL_BWD_ROWS:
            if f32:
                avg_pool_rows[float](p, <const float *>ptr[0], <float *>ptr[1], n_threads)
            else:
                avg_pool_rows[double](p, <const double *>ptr[0], <double *>ptr[1], n_threads)
    return result


def workspace_layout(Desc desc):
    """``{'per_thread', 'shared', 'ints', 'got', 'main'}`` elements of ``desc``'s scratch."""
    cdef fc_workspace_layout w = fc_workspace(&desc.p)
    return {"per_thread": w.per_thread, "shared": w.shared, "ints": w.ints, "got": w.got,
            "main": w.main}


def transpose_last2(src, dst, bint reverse=False, int n_threads=1):
    """dst[b] = src[b].T for C-contiguous arrays src (B, R, K) and dst (B, K, R) of one
    float dtype (the wrappers' weight and partial transposes: fc_transpose.h's blocked
    copy through registers, much faster than NumPy's strided copy for large blocks).
    ``reverse``: dst[b] = src[B-1-b].T (a kernel flipped in space: its taps in reverse
    order).  The B blocks run on ``n_threads`` threads (a copy: the same bits)."""
    cdef Py_ssize_t B, R, K, b, sb
    cdef char *s
    cdef char *d
    cdef cnp.ndarray a = src
    cdef cnp.ndarray o = dst
    if (a.ndim != 3 or o.ndim != 3 or a.dtype != o.dtype
            or a.dtype.char not in "fd"
            or not a.flags.c_contiguous or not o.flags.c_contiguous
            or not o.flags.writeable
            or o.shape[0] != a.shape[0] or o.shape[1] != a.shape[2]
            or o.shape[2] != a.shape[1]):
        raise ValueError("transpose_last2: C-contiguous float arrays (B, R, K) -> (B, K, R)")
    B, R, K = a.shape[0], a.shape[1], a.shape[2]
    s = <char *>cnp.PyArray_DATA(a)
    d = <char *>cnp.PyArray_DATA(o)
    if n_threads < 1 or B < 2:
        n_threads = 1
    if a.dtype.char == "f":
        with nogil:
            for b in prange(B, num_threads=n_threads, schedule="static"):
                sb = B - 1 - b if reverse else b
                fc_transpose_f32(<const float *>s + sb * R * K, K, R, K, <float *>d + b * R * K)
    else:
        with nogil:
            for b in prange(B, num_threads=n_threads, schedule="static"):
                sb = B - 1 - b if reverse else b
                fc_transpose_f64(<const double *>s + sb * R * K, K, R, K,
                                 <double *>d + b * R * K)
