# The problem struct from Python (Desc), and everything computed from it alone:
# the direct-1x1 test, strip shapes, workspace layouts and task counts.
# (Included by _engine.pyx.)

# The kernels, one value per algorithm of the registry in fastconv/_engine.py (the
# fc_problem struct's `algo`); entry.pxi names each and dispatches on it.
cdef enum fc_algo:
    FC_ALGO_NONE = 0
    FC_CONV_FWD_DIRECT = 1     # 1x1x1, stride 1, no padding: the input is the column matrix
    FC_CONV_FWD_IM2COL = 2     # per-thread im2col tiles + GEMM
    FC_CONV_FWD_STRIP = 3      # padded, phase-split input strips + gathering GEMM
    FC_CONV_BWI_DIRECT = 4     # grad_input of a direct 1x1: one GEMM per tile
    FC_CONV_BWI_COL2IM = 5     # W^T . grad_output tiles, scattered back by col2im
    FC_CONV_BWW_ROWS = 6       # blocks of im2col rows, transposed tiles
    FC_CONV_BWW_CHUNKED = 7    # chunks of samples, whole im2col matrix per sample
    FC_CONV_BWW_STRIP = 8      # chunks of samples, im2col rows read from strips
    FC_CONV_BWB_SUM = 9        # grad_bias: grad_output summed per channel
    FC_UNFOLD_IM2COL = 10
    FC_UNFOLD_COL2IM = 11
    FC_MAX_POOL_FWD = 12
    FC_MAX_POOL_BWD = 13
    FC_AVG_POOL_FWD = 14
    FC_AVG_POOL_BWD = 15
    FC_CONV_FWD_DEPTHWISE = 16  # depthwise (Cg == 1): direct loops along output rows
    FC_CONV_BWI_DEPTHWISE = 17  # depthwise grad_input, gathered per input row
    FC_CONV_BWW_DEPTHWISE = 18  # depthwise grad_weight, chunks of samples per channel
    FC_MAX_POOL_FWD_REDUCE = 19   # per-window reductions over contiguous runs, blk volumes a task
    FC_AVG_POOL_FWD_REDUCE = 20
    FC_AVG_POOL_BWD_REDUCE = 21
    FC_CONV_FWD_GROUPED = 22    # small planes, many groups: a group's samples in one GEMM
    FC_CONV_BWW_GROUPED = 23    # ... its grad_weight, the im2col rows read from the same copy
    FC_MAX_POOL_FWD_ROWS = 24     # window kernels with SIMD row loops (fc_pool.h), dilation 1
    FC_AVG_POOL_FWD_ROWS = 25
    FC_AVG_POOL_BWD_ROWS = 26     # no two windows overlap: each input element written once
    FC_CONV_FWD_REGIONS = 27    # regions of constant inside taps: no zero multiplied
    FC_CONV_BWW_REGIONS = 28    # per tap, the positions where it is inside
    # channels-last data (x (N, *sp, C), y (N, *out, O)), weight (*k, C/groups, O):
    # nhwc_conv_kernels.pxi
    FC_CONV_FWD_NHWC = 29       # rows of output positions: a patch tile (positions x taps*Cg) . W
    FC_CONV_BWI_NHWC = 30       # grad_output rows . W^T, scattered back into the input rows
    FC_CONV_BWW_NHWC = 31       # patch tiles^T . grad_output rows, per-chunk partials
    FC_CONV_BWB_NHWC = 32       # grad_bias: grad_output rows summed per channel
    # nhwc_depthwise_kernels.pxi: depthwise (Cg == 1), vectorised along the channels
    FC_CONV_FWD_DW_NHWC = 33
    FC_CONV_BWI_DW_NHWC = 34
    FC_CONV_BWW_DW_NHWC = 35
    # nhwc_pool_kernels.pxi: pooling and unfold, vectorised along the channels
    FC_MAX_POOL_FWD_NHWC = 36
    FC_MAX_POOL_BWD_NHWC = 37
    FC_AVG_POOL_FWD_NHWC = 38
    FC_AVG_POOL_BWD_NHWC = 39
    FC_UNFOLD_IM2COL_NHWC = 40  # patches (N, *out, taps*C), TensorFlow's extract_patches order
    FC_UNFOLD_COL2IM_NHWC = 41
    # adaptive_kernels.pxi: adaptive pooling, either layout
    FC_ADAPTIVE_MAX_FWD = 42
    FC_ADAPTIVE_AVG_FWD = 43
    FC_ADAPTIVE_MAX_BWD = 44
    FC_ADAPTIVE_AVG_BWD = 45
    FC_CONV_FWD_WINOGRAD = 46   # 3x3, stride 1: Winograd F(2x2, 3x3), winograd_kernels.pxi
    FC_CONV_FWD_WINOGRAD_NHWC = 47   # ... for channels-last data, weight (3, 3, C, O)

cdef inline Py_ssize_t cdiv(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return (a + b - 1) // b


cdef inline Py_ssize_t round16(Py_ssize_t n) noexcept nogil:
    """n rounded up to a multiple of 16 elements (at least 16): what follows is line-aligned."""
    if n < 16:
        return 16
    return (n + 15) // 16 * 16


cdef inline Py_ssize_t index_elems(Py_ssize_t count, int itemsize) noexcept nogil:
    """Workspace elements holding ``count`` Py_ssize_t indices, rounded to 16 elements."""
    return round16((count * <Py_ssize_t>sizeof(Py_ssize_t) + itemsize - 1) // itemsize)


cdef bint fc_is_direct(const fc_problem *p) noexcept nogil:
    """1x1x1 kernel, stride 1, no padding, output volume == input volume: the input
    planes are the column matrix (no im2col, no workspace)."""
    cdef int j
    for j in range(3):
        if (p.k[j] != 1 or p.s[j] != 1 or p.pb[j] != 0 or p.pa[j] != 0
                or p.out[j] != p.in_[j]):
            return False
    return True


# ------------------------------------------------------------------ strips
#
# The strip algorithms never build im2col tiles.  A tile of output columns lies in
# one output plane (fixed output depth oz).  Its strip holds the input rows the tile
# reads: for each channel c and depth tap a (a "virtual channel" c*kD + a, reading
# input depth oz*sD - pD + a*dD), zero-padded and split by stride phase, so that
# every tap (c, a, i, j) sees the tile's output columns as consecutive elements
# within an output row.  The GEMM gathers its B panels (forward) or reads its A rows
# (grad_weight) straight from the strip.

cdef struct Strip:
    Py_ssize_t oya          # first output row of the tile (within its plane)
    Py_ssize_t qa           # first phase column kept (single-row tiles start mid-row)
    Py_ssize_t rows, wt     # rows and width of one phase plane


cdef inline Py_ssize_t strip_halo_h(const fc_problem *p) noexcept nogil:
    return (p.k[1] - 1) * p.d[1] // p.s[1]


cdef inline Py_ssize_t strip_halo_w(const fc_problem *p) noexcept nogil:
    return (p.k[2] - 1) * p.d[2] // p.s[2]


cdef Strip strip_of(const fc_problem *p, Py_ssize_t l0, Py_ssize_t nl) noexcept nogil:
    """The strip shape for columns [l0, l0+nl) of one output plane."""
    cdef Strip st
    cdef Py_ssize_t OW = p.out[2]
    cdef Py_ssize_t oyb = (l0 + nl - 1) // OW
    st.oya = l0 // OW
    if oyb == st.oya:
        st.qa = l0 - st.oya * OW
        st.wt = nl + strip_halo_w(p)
    else:
        st.qa = 0
        st.wt = OW + strip_halo_w(p)
    st.rows = oyb - st.oya + 1 + strip_halo_h(p)
    return st


cdef Py_ssize_t fc_strip_elems(const fc_problem *p, Py_ssize_t lt) noexcept nogil:
    """Elements of the largest strip a tile of ``lt`` columns reads (see strip_of):
    sH*sW phase planes of Cg*kD virtual channels."""
    cdef Py_ssize_t OH = p.out[1], OW = p.out[2]
    cdef Py_ssize_t hh = strip_halo_h(p), hw = strip_halo_w(p)
    cdef Py_ssize_t one_row = (1 + hh) * ((lt if lt < OW else OW) + hw)
    cdef Py_ssize_t rows = (lt - 1) // OW + 2
    cdef Py_ssize_t many_rows = 0
    if rows > OH:
        rows = OH
    if OH > 1:
        many_rows = (rows + hh) * (OW + hw)
    if many_rows > one_row:
        one_row = many_rows
    return p.Cg * p.k[0] * p.s[1] * p.s[2] * one_row


# ------------------------------------------------------ grouped small planes
#
# FC_CONV_FWD_GROUPED / FC_CONV_BWW_GROUPED (rank <= 2): a task takes one group and a
# chunk of blk samples.  Its copy of the input holds, for each kernel column j, row
# phase pi, channel c and sample, the T = OH + halo rows xpad[t*sH + pi, ox*sW + j*dW]
# (ox < OW): im2col's row (c, i, j) is then a run of OH*OW contiguous elements per
# sample (rows t = oy + i*dH // sH of phase (i*dH) % sH), so one GEMM covers all the
# chunk's samples with whole-vector panel gathers.

cdef inline Py_ssize_t grouped_rows(const fc_problem *p) noexcept nogil:
    return p.out[1] + strip_halo_h(p)


cdef inline Py_ssize_t grouped_copy_elems(const fc_problem *p, Py_ssize_t nb) noexcept nogil:
    return p.k[2] * p.s[1] * p.Cg * nb * grouped_rows(p) * p.out[2]


# --------------------------------------------------------- workspace, tasks

cdef extern from "fc_depthwise.h" nogil:
    Py_ssize_t fc_dwt_ws(const fc_problem *p, int which)   # the depthwise kernels' scratch

cdef extern from "fc_winograd.h" nogil:
    Py_ssize_t fc_wg_ws(const fc_problem *p, Py_ssize_t rows, Py_ssize_t ob)
    Py_ssize_t fc_wgl_ws(const fc_problem *p, Py_ssize_t rows, Py_ssize_t ob)
    Py_ssize_t fc_wg_u_elems(const fc_problem *p)
    Py_ssize_t fc_wg_th(const fc_problem *p)


cdef inline Py_ssize_t winograd_ob(const fc_problem *p) noexcept nogil:
    """conv.forward.winograd's output channels per task (blk, 0: all)."""
    return p.blk if 0 < p.blk < p.O else p.O


cdef Py_ssize_t winograd_tasks(const fc_problem *p) noexcept nogil:
    """conv.forward.winograd: (block of lt tile rows, group of blk output channels)."""
    if p.lt <= 0 or p.O == 0:
        return 0
    return cdiv(p.N * fc_wg_th(p), p.lt) * cdiv(p.O, winograd_ob(p))


cdef fc_workspace_layout fc_workspace(const fc_problem *p) noexcept nogil:
    """One thread's scratch for the problem's algorithm, and the shared scratch."""
    cdef fc_workspace_layout w
    cdef int a = p.algo
    w.ints = 0
    w.got = 0
    w.main = 0
    w.shared = 0
    if a == FC_CONV_FWD_IM2COL:
        w.main = p.Kg * p.lt
    elif a == FC_CONV_FWD_STRIP:
        w.ints = index_elems(p.Kg + p.lt, p.itemsize)              # tap offsets, columns
        w.main = round16(fc_strip_elems(p, p.lt))
    elif a == FC_CONV_BWI_COL2IM:
        w.main = p.blk * p.taps * p.lt
    elif a == FC_CONV_BWW_ROWS:
        w.main = p.blk * p.lt
    elif a == FC_CONV_BWW_CHUNKED:
        w.got = p.L * p.Og                                       # grad_output transposed
        w.main = p.L * p.Kg                                      # the whole im2col matrix
        w.shared = p.chunks * p.groups * p.Kg * p.Og             # per-chunk partials
    elif a == FC_CONV_BWW_STRIP:
        w.ints = index_elems(p.Kg + 2 * (p.lt + 2), p.itemsize)  # taps, segment sources, lengths
        w.got = round16(p.lt * p.Og)
        w.main = fc_strip_elems(p, p.lt)
        w.shared = p.chunks * p.groups * p.Kg * p.Og
    elif a == FC_CONV_FWD_WINOGRAD:
        w.main = fc_wg_ws(p, p.lt, winograd_ob(p))               # V, M, rows
        w.shared = fc_wg_u_elems(p)                              # U
    elif a == FC_CONV_FWD_WINOGRAD_NHWC:
        w.main = fc_wgl_ws(p, p.lt, winograd_ob(p))              # V, M, rows
        w.shared = fc_wg_u_elems(p)                              # U
    elif a == FC_CONV_FWD_GROUPED:
        w.ints = index_elems(p.Kg + p.blk * p.L, p.itemsize)      # tap offsets, columns
        w.got = round16(p.Og * p.blk * p.L)                      # the GEMM's result
        w.main = grouped_copy_elems(p, p.blk)
    elif a == FC_CONV_BWW_GROUPED:
        w.ints = index_elems(p.Kg + 2 * p.blk, p.itemsize)       # tap offsets, segments
        w.got = round16(p.blk * p.L * p.Og)                      # grad_output transposed
        w.main = grouped_copy_elems(p, p.blk)
        w.shared = p.chunks * p.groups * p.Kg * p.Og             # per-chunk partials
    elif a == FC_CONV_FWD_DEPTHWISE:
        w.main = fc_dwt_ws(p, 0)                                 # tile, outputs, offsets
    elif a == FC_CONV_BWI_DEPTHWISE:
        w.main = fc_dwt_ws(p, 1)                                 # tile, phases, taps
    elif a == FC_CONV_BWW_DEPTHWISE:
        w.main = fc_dwt_ws(p, 2)                                 # tile, grad_output, sums
        w.shared = p.chunks * p.O * p.taps                       # per-chunk partials
    elif a == FC_MAX_POOL_FWD and p.want_indices:
        w.main = ((p.out[2] + 1) * <Py_ssize_t>sizeof(int32_t) + p.itemsize - 1) // p.itemsize
    elif a == FC_MAX_POOL_FWD_ROWS:
        w.main = p.out[2] + 1          # a row of tap offsets, integers of the dtype's width
    elif a == FC_CONV_FWD_REGIONS:
        reg_fwd_workspace(p, &w)                                 # regions_kernels.pxi
    elif a == FC_CONV_BWW_REGIONS:
        reg_bww_workspace(p, &w)
    elif FC_CONV_FWD_NHWC <= a <= FC_CONV_BWB_NHWC:
        nhwc_conv_workspace(p, &w)                               # nhwc_conv_kernels.pxi
    elif FC_CONV_FWD_DW_NHWC <= a <= FC_CONV_BWW_DW_NHWC:
        nhwc_dw_workspace(p, &w)                                 # nhwc_depthwise_kernels.pxi
    elif FC_MAX_POOL_FWD_NHWC <= a <= FC_UNFOLD_COL2IM_NHWC:
        nhwc_pool_workspace(p, &w)                               # nhwc_pool_kernels.pxi
    w.per_thread = 0
    if w.ints + w.got + w.main > 0:
        w.per_thread = round16(w.ints + w.got + w.main)
    return w


cdef Py_ssize_t fc_tasks(const fc_problem *p) noexcept nogil:
    """Independent tasks of the problem's algorithm (fixed by the shape)."""
    cdef int a = p.algo
    cdef Py_ssize_t n_ob = cdiv(p.Og, p.blk) if p.blk > 0 else 1   # forward o blocks
    if a == FC_CONV_FWD_DIRECT or a == FC_CONV_FWD_IM2COL:
        return p.N * p.groups * cdiv(p.L, p.lt) * n_ob
    if a == FC_CONV_FWD_WINOGRAD or a == FC_CONV_FWD_WINOGRAD_NHWC:
        return winograd_tasks(p)
    if a == FC_CONV_FWD_STRIP:
        return p.N * p.groups * p.out[0] * cdiv(p.out_plane, p.lt) * n_ob
    if a == FC_CONV_BWI_DIRECT or a == FC_CONV_BWI_COL2IM:
        return p.N * p.groups * cdiv(p.Cg, p.blk)
    if a == FC_CONV_BWW_ROWS:
        return (p.chunks if p.chunks > 1 else 1) * p.groups * cdiv(p.Kg, p.blk)
    if a == FC_CONV_BWW_CHUNKED or a == FC_CONV_BWW_STRIP:
        return p.chunks * p.groups
    if a == FC_CONV_FWD_GROUPED or a == FC_CONV_BWW_GROUPED:
        return p.groups * cdiv(p.N, p.blk) if p.blk > 0 else 0
    if a == FC_CONV_BWB_SUM:
        return p.O
    if a == FC_CONV_FWD_REGIONS:
        return reg_fwd_tasks(p)
    if a == FC_CONV_BWW_REGIONS:
        return reg_bww_tasks(p)
    if FC_CONV_FWD_NHWC <= a <= FC_CONV_BWB_NHWC:
        return nhwc_conv_tasks(p)
    if FC_CONV_FWD_DW_NHWC <= a <= FC_CONV_BWW_DW_NHWC:
        return nhwc_dw_tasks(p)
    if FC_MAX_POOL_FWD_NHWC <= a <= FC_UNFOLD_COL2IM_NHWC:
        return nhwc_pool_tasks(p)
    if FC_ADAPTIVE_MAX_FWD <= a <= FC_ADAPTIVE_AVG_BWD:
        if p.layout == FC_CHANNELS_FIRST:
            return p.N * p.C
        if p.direction == FC_GRAD_INPUT:   # (sample, block of 64 channels)
            return p.N * cdiv(p.C, 64)
        return p.N * p.out[0] * p.out[1]   # output rows
    if a == FC_CONV_FWD_DEPTHWISE:   # (n, lt groups, blk output rows)
        if p.blk <= 0 or p.lt <= 0:
            return 0
        return p.N * cdiv(p.groups, p.lt) * cdiv(p.out[0] * p.out[1], p.blk)
    if a == FC_CONV_BWI_DEPTHWISE:   # (n, lt groups, blk input rows)
        if p.blk <= 0 or p.lt <= 0:
            return 0
        return p.N * cdiv(p.groups, p.lt) * cdiv(p.in_[0] * p.in_[1], p.blk)
    if a == FC_CONV_BWW_DEPTHWISE:
        return p.chunks * p.groups
    if a == FC_MAX_POOL_FWD_REDUCE or a == FC_AVG_POOL_FWD_REDUCE or a == FC_AVG_POOL_BWD_REDUCE:
        return cdiv(p.N * p.C, p.blk)   # groups of blk consecutive volumes
    return p.N * p.C   # im2col, col2im and pooling: one (n, c) plane or volume each


# ------------------------------------------------------------------- Desc

cdef void _lift3(object values, Py_ssize_t *dst, Py_ssize_t fill) except *:
    """Spatial values of rank 1-3 into (D, H, W), leading dims filled with ``fill``."""
    cdef Py_ssize_t n = len(values), j
    for j in range(3 - n):
        dst[j] = fill
    for j in range(n):
        dst[3 - n + j] = values[j]


cdef void _c_strides(Py_ssize_t *dst, Py_ssize_t a, Py_ssize_t b, const Py_ssize_t *sp) noexcept:
    """Element strides of a C-contiguous (a, b, *sp[0:3]) array."""
    dst[4] = 1
    dst[3] = sp[2]
    dst[2] = sp[1] * sp[2]
    dst[1] = sp[0] * sp[1] * sp[2]
    dst[0] = b * dst[1]


cdef void _last_strides(Py_ssize_t *dst, Py_ssize_t a, Py_ssize_t b, const Py_ssize_t *sp) noexcept:
    """Element strides, indexed (a, b, *sp), of a C-contiguous (a, *sp[0:3], b) array."""
    dst[1] = 1
    dst[4] = b
    dst[3] = sp[2] * b
    dst[2] = sp[1] * sp[2] * b
    dst[0] = sp[0] * sp[1] * sp[2] * b


cdef void _weight_last_strides(Py_ssize_t *dst, Py_ssize_t O, Py_ssize_t Cg,
                               const Py_ssize_t *k) noexcept:
    """Element strides, indexed (O, Cg, *k), of a C-contiguous (*k[0:3], Cg, O) array."""
    dst[0] = 1
    dst[1] = O
    dst[4] = Cg * O
    dst[3] = k[2] * Cg * O
    dst[2] = k[1] * k[2] * Cg * O


cdef class Desc:
    """The C problem struct of one op and direction, filled once per plan.

    Built from a :class:`fastconv._problem.Problem` by ``fastconv._engine``;
    :meth:`configured` returns a copy with an algorithm and its parameters set.
    ``workspace``, ``tasks``, ``is_direct`` and :meth:`strip_elems` are computed by
    the C functions the kernels use.
    """
    cdef fc_problem p

    def __init__(self, int op, int direction, int rank, int itemsize,
                 Py_ssize_t N, Py_ssize_t C, Py_ssize_t O, Py_ssize_t groups,
                 spatial, out, kernel, stride, dilation, pads, *,
                 int padding_mode=FC_PAD_ZEROS, bint count_include_pad=True,
                 bint want_indices=False, Py_ssize_t divisor=0, bint channels_last=False):
        cdef Py_ssize_t kern[3]
        cdef int j
        memset(&self.p, 0, sizeof(fc_problem))
        self.p.op = op
        self.p.direction = direction
        self.p.rank = rank
        self.p.itemsize = itemsize
        self.p.padding_mode = padding_mode
        self.p.N = N
        self.p.C = C
        self.p.O = O
        self.p.groups = groups
        self.p.Cg = C // groups if groups else 0
        self.p.Og = O // groups if groups else 0
        _lift3(spatial, self.p.in_, 1)
        _lift3(out, self.p.out, 1)
        _lift3(kernel, self.p.k, 1)
        _lift3(stride, self.p.s, 1)
        _lift3(dilation, self.p.d, 1)
        _lift3([pr[0] for pr in pads], self.p.pb, 0)
        _lift3([pr[1] for pr in pads], self.p.pa, 0)
        self.p.count_include_pad = count_include_pad
        self.p.want_indices = want_indices
        self.p.divisor = divisor
        self.p.taps = self.p.k[0] * self.p.k[1] * self.p.k[2]
        self.p.Kg = self.p.Cg * self.p.taps
        self.p.in_vol = self.p.in_[0] * self.p.in_[1] * self.p.in_[2]
        self.p.out_plane = self.p.out[1] * self.p.out[2]
        self.p.L = self.p.out[0] * self.p.out_plane
        # C-contiguous arrays in the problem's layout
        self.p.layout = FC_CHANNELS_LAST if channels_last else FC_CHANNELS_FIRST
        if channels_last:
            _last_strides(self.p.x_stride, N, C, self.p.in_)
            _last_strides(self.p.y_stride, N, O, self.p.out)
            _weight_last_strides(self.p.w_stride, O, self.p.Cg, self.p.k)
        else:
            _c_strides(self.p.x_stride, N, C, self.p.in_)
            _c_strides(self.p.y_stride, N, O, self.p.out)
            _c_strides(self.p.w_stride, O, self.p.Cg, self.p.k)

    def configured(self, int algo, Py_ssize_t lt=0, Py_ssize_t blk=0, Py_ssize_t chunks=0):
        """A copy with the algorithm and its parameters set."""
        cdef Desc other = Desc.__new__(Desc)
        other.p = self.p
        other.p.algo = algo
        other.p.lt = lt
        other.p.blk = blk
        other.p.chunks = chunks
        return other

    def strip_elems(self, Py_ssize_t lt):
        """Elements of the largest strip a tile of ``lt`` output columns reads."""
        return fc_strip_elems(&self.p, lt)

    @property
    def is_direct(self):
        return fc_is_direct(&self.p)

    @property
    def algo(self):
        return self.p.algo

    @property
    def channels_last(self):
        return self.p.layout == FC_CHANNELS_LAST

    @property
    def tasks(self):
        return fc_tasks(&self.p)

    @property
    def workspace(self):
        """``(per_thread, shared, ints, got, main)`` elements of the compute dtype."""
        cdef fc_workspace_layout w = fc_workspace(&self.p)
        return (w.per_thread, w.shared, w.ints, w.got, w.main)

    def fields(self):
        """The struct's fields as a dict (for debugging and tests)."""
        cdef fc_problem *p = &self.p
        return {"op": p.op, "direction": p.direction, "rank": p.rank, "itemsize": p.itemsize,
                "padding_mode": p.padding_mode, "algo": p.algo, "layout": p.layout, "N": p.N, "C": p.C, "O": p.O,
                "groups": p.groups, "Cg": p.Cg, "Og": p.Og,
                "count_include_pad": p.count_include_pad, "want_indices": p.want_indices,
                "divisor": p.divisor, "taps": p.taps, "Kg": p.Kg, "in_vol": p.in_vol,
                "out_plane": p.out_plane, "L": p.L, "lt": p.lt, "blk": p.blk,
                "chunks": p.chunks,
                "in": (p.in_[0], p.in_[1], p.in_[2]), "out": (p.out[0], p.out[1], p.out[2]),
                "k": (p.k[0], p.k[1], p.k[2]), "s": (p.s[0], p.s[1], p.s[2]),
                "d": (p.d[0], p.d[1], p.d[2]), "pb": (p.pb[0], p.pb[1], p.pb[2]),
                "pa": (p.pa[0], p.pa[1], p.pa[2])}
