"""One docstring template per op family, filled in for each rank.

:func:`finish` gives a generated public function its name and docstring (the family's
template with the rank's words and its own examples) and marks it as an op.  The 1-D, 2-D and 3-D functions are one definition
each (``conv._conv_fn`` and friends), so there are no twins to keep in step.
"""

_WORDS = {
    1: dict(x="(N, C, L)", w="(O, C/groups, k)", y="(N, O, Lout)", xin="(N, Cin, L)",
            wt="(Cin, Cout/groups, k)", yt="(N, Cout, Lout)", ints="1 int", what="signals",
            elem="output position", plane="length-L row", vol="L", shape_n="3",
            pool_x="(N, C, L)", pool_y="(N, C, Lout)",
            pad="an int ``p`` (``p`` each side), ``(before, after)``, ``((before, after),)``",
            pad_t="int, (before, after) or 'valid'",
            size="``Lout = floor((L + pad_before + pad_after - dilation*(k-1) - 1) / stride)"
                 " + 1`` (:func:`fastconv.conv_output_size`)",
            size_t="``Lout = (L-1)*stride - pad_before - pad_after + dilation*(k-1)"
                   " + output_padding + 1``",
            axes="the length", dfs=("NCW", "NWC"), wfs=("OIW", "WIO", "OWI"),
            x_last="(N, L, C)", w_hwio="(k, C/groups, O)", w_ohwi="(O, k, C/groups)"),
    2: dict(x="(N, C, H, W)", w="(O, C/groups, kH, kW)", y="(N, O, Hout, Wout)",
            xin="(N, Cin, H, W)", wt="(Cin, Cout/groups, kH, kW)", yt="(N, Cout, Hout, Wout)",
            ints="2 ints", what="images", elem="output pixel", plane="H*W plane", vol="H*W",
            shape_n="4", pool_x="(N, C, H, W)", pool_y="(N, C, Hout, Wout)",
            pad="an int, ``(ph, pw)``, ``((top, bottom), (left, right))``",
            pad_t="int, tuple of 2 ints, ((top, bottom), (left, right)) or 'valid'",
            size="Sizes from :func:`fastconv.conv_output_size`",
            size_t="``Hout = (H-1)*sh - pad_top - pad_bottom + dh*(kH-1) + output_padding"
                   " + 1``, and likewise ``Wout``",
            axes="both spatial axes", dfs=("NCHW", "NHWC"), wfs=("OIHW", "HWIO", "OHWI"),
            x_last="(N, H, W, C)", w_hwio="(kH, kW, C/groups, O)",
            w_ohwi="(O, kH, kW, C/groups)"),
    3: dict(x="(N, C, D, H, W)", w="(O, C/groups, kD, kH, kW)", y="(N, O, Dout, Hout, Wout)",
            xin="(N, Cin, D, H, W)", wt="(Cin, Cout/groups, kD, kH, kW)",
            yt="(N, Cout, Dout, Hout, Wout)", ints="3 ints", what="volumes",
            elem="output voxel", plane="D*H*W volume", vol="D*H*W", shape_n="5",
            pool_x="(N, C, D, H, W)", pool_y="(N, C, Dout, Hout, Wout)",
            pad="an int, ``(pd, ph, pw)``, three ``(before, after)`` pairs",
            pad_t="int, tuple of 3 ints, three (before, after) pairs or 'valid'",
            size="Sizes from :func:`fastconv.conv_output_size`",
            size_t="``Dout = (D-1)*sd - pad_front - pad_back + dd*(kD-1) + output_padding"
                   " + 1``, and likewise ``Hout`` and ``Wout``",
            axes="the three spatial axes", dfs=("NCDHW", "NDHWC"),
            wfs=("OIDHW", "DHWIO", "ODHWI"), x_last="(N, D, H, W, C)",
            w_hwio="(kD, kH, kW, C/groups, O)", w_ohwi="(O, kD, kH, kW, C/groups)"),
}


def _others(family, nd):
    return ", ".join(f":func:`{family}{d}d`" for d in (1, 2, 3) if d != nd)


# ``out=`` (issue 13 item 8): the rules of a caller's buffer, for every op (im2col and col2im
# take the "out" block through :func:`with_out`).
_OUT_RULES = """Each must be a C-contiguous, writeable ndarray of exactly its result's
    shape (in the layout of ``data_format``) and dtype, sharing no memory with any
    input; it is checked before anything is written: a wrong type or dtype raises
    TypeError, a wrong shape, a non-contiguous, read-only or overlapping buffer
    ValueError."""
_OUT = """The array to write the result into, filled and returned instead of a new
    one: a C-contiguous, writeable ndarray of exactly the result's shape (in the
    layout of ``data_format``) and dtype, sharing no memory with any input. It is
    checked before anything is written: a wrong type or dtype raises TypeError, a
    wrong shape, a non-contiguous, read-only or overlapping buffer ValueError. The
    kernel writes into it directly, so a call in a loop allocates no result."""

# Parameter blocks several templates share (formatted with the rank's words first).
_SNIPPETS = {
    "pool_window": """x : ndarray, shape {pool_x}
    The batch of input {what}.
kernel_size : int or tuple of {ints}
    Window size.
stride : int or tuple of {ints}, optional
    Step between windows. Default: ``kernel_size``.""",
    "ceil_mode": """ceil_mode : bool, default False
    Round the output size up (a window starting in the end padding is dropped).""",
    "threads": """num_threads : int, optional
    Threads for this call. Default: :func:`fastconv.get_num_threads`.""",
    "adaptive_args": """x : ndarray, shape {pool_x}
    The batch of input {what}.
output_size : int, tuple of {ints} or None
    The output's spatial size; a ``None`` entry (or ``None``) keeps the input's
    size along that axis, a 1-tuple repeats.""",
    "adaptive_errors": """ValueError
    ``data_format`` is not one of the strings above; ``x`` has the wrong number of
    dimensions or an empty spatial dimension; or an ``output_size`` is not
    positive.
MemoryError
    The result cannot be allocated.""",
    "grad_input_shape": """grad_output : ndarray, shape {pool_y}
    Gradient of the loss with respect to the pooled output.""",
    "out": """out : ndarray, optional
    """ + _OUT + """
    Default: a new array.""",
    "out_indexed": """out : ndarray, optional
    """ + _OUT + """
    An ``indices`` entry out of range is found while the kernel runs: its
    ValueError leaves ``out`` partly written. Default: a new array.""",
    "out_pair": """out : ndarray, or tuple of 2 (ndarray or None), optional
    Buffers for the result, filled and returned in its place: one array, or with
    ``return_indices`` a tuple ``(out, indices)`` (the indices' buffer int64),
    either entry None for a new array; the two must not share memory.
    """ + _OUT_RULES + """ A list instead of the tuple is a TypeError, a
    tuple of another length a ValueError. The kernel writes into them directly.
    Default: new arrays.""",
    "out_grads": """out : tuple of 3 (ndarray or None), optional
    Buffers for ``(grad_input, grad_weight, grad_bias)`` (``grad_weight`` in
    ``weight_format``), filled and returned in their place; a None entry gets a
    new array, an entry for a gradient ``output_mask`` leaves out must be None,
    and no two entries may share memory.
    """ + _OUT_RULES + """ A list instead of the tuple is a TypeError, a
    tuple of another length a ValueError. The kernels write into the buffers
    directly (a ``grad_weight`` they do not produce in its final format or
    orientation is copied there); what a call then allocates is scratch, such as
    ``grad_weight``'s partial sums. Default: new arrays.""",
}

# Layout keywords (formatted after the rank's words: dfs and wfs are tuples there).
_LAYOUT_SNIPPETS = {
    "data_format": """data_format : {{{df0!r}, {df1!r}}}, optional
    The layout of the data arrays (TensorFlow's names): channels-first
    ``{df0!r}`` (the default, torch's) or channels-last ``{df1!r}``, where every
    data array above is ``{x_last}``-shaped instead (its channel axis last).
    Results come back in the same layout, as C-contiguous arrays; the
    channels-last kernels read and write that layout directly (no transposing
    copy of the data).""",
    "weight_format": """weight_format : {{{wf0!r}, {wf1!r}, {wf2!r}}}, optional
    The layout of ``weight``: ``{wf0!r}`` (torch, {w}),
    ``{wf1!r}`` (TensorFlow / JAX, {w_hwio}) or
    ``{wf2!r}`` (oneDNN / XNNPACK / TFLite, {w_ohwi}).
    Default: ``{wf0!r}`` for channels-first data, ``{wf1!r}`` for channels-last
    data.""",
}

_TEMPLATES = {}

_TEMPLATES["conv"] = """{nd}-D convolution (cross-correlation, as in deep learning) of a batch of {what}.

``out[n, o, *p] = bias[o] + sum_{{c, *t}} weight[o, c, *t] * xpad[n, g*C/groups + c,
*(p*stride + t*dilation)]`` over the kernel taps ``t``, where ``g`` is the group of
output channel ``o``. Arguments and result follow ``torch.nn.functional.conv{nd}d``.

Parameters
----------
x : ndarray, shape {x}
    The batch of input {what}. Any real dtype (see the dtype rules in the API
    semantics page); any memory layout.
weight : ndarray, shape {w}
    The filters.
bias : ndarray, shape (O,), optional
    Added to every {elem} of each channel. Default: no bias.
stride : int or tuple of {ints}, default 1
    Step between neighbouring windows.
padding : int, tuple or {{'valid', 'same'}}, default 0
    Zeros added at both ends of each spatial axis: {pad}, ``'valid'`` (none) or
    ``'same'`` (``ceil(size / stride)`` outputs; an odd extra zero goes at the end).
dilation : int or tuple of {ints}, default 1
    Spacing between kernel taps.
groups : int, default 1
    Number of channel groups; must divide both C and O.
flip : bool, default False
    Flip the kernel along every spatial axis: compute the true (mathematical)
    convolution instead of the cross-correlation.
padding_mode : {{'zeros', 'reflect', 'replicate', 'circular'}}, default 'zeros'
    What the padding holds, as torch's ``nn.Conv{nd}d(padding_mode=...)``: zeros,
    the input mirrored without repeating its edge, the edge repeated, or the
    input wrapped around. ``'reflect'`` needs padding smaller than the input,
    ``'circular'`` at most its size. Built inside the kernels' tiles (no padded
    copy of the input), in either layout.
{data_format}
{weight_format}
{threads}
{out}

Returns
-------
ndarray, shape {y}
    {size}. float32 when every input is float32 or float16, else float64.

Raises
------
TypeError
    An array has an unsupported dtype (complex, object, string, datetime, long
    double), a size argument is not an int (a bool, float or string), or
    ``flip`` is not a bool.
ValueError
    ``data_format`` or ``weight_format`` is not one of the strings above;
    An array has the wrong number of dimensions; ``groups`` does not divide the
    input or output channels, or the weight's channel count does not match the
    input; ``bias`` is not of shape (O,); ``stride``, ``dilation`` or ``groups`` is
    not positive or ``padding`` is negative; or the dilated kernel is larger than
    the padded input.
MemoryError
    The result cannot be allocated.

See Also
--------
conv{nd}d_backward : The gradients of this function.
conv_transpose{nd}d : The transposed convolution (the input gradient as an op).
fastconv.plan : The algorithm, workspace and tasks a call would use.
{others} : The other ranks.
"""

_TEMPLATES["conv_backward"] = """Compute the gradients of :func:`conv{nd}d` with respect to its input, weight and bias.

Pass the gradient of the loss with respect to ``conv{nd}d(x, weight, bias, ...)``
together with the forward call's ``x``, ``weight`` and arguments (the bias is
not needed).

Parameters
----------
grad_output : ndarray, shape {y}
    Gradient of the loss with respect to the output of :func:`conv{nd}d`.
x : ndarray, shape {x}
    The forward call's input.
weight : ndarray, shape {w}
    The forward call's weight.
stride : int or tuple of {ints}, default 1
    As passed to :func:`conv{nd}d`.
padding : int, tuple or {{'valid', 'same'}}, default 0
    As passed to :func:`conv{nd}d`.
dilation : int or tuple of {ints}, default 1
    As passed to :func:`conv{nd}d`.
groups : int, default 1
    As passed to :func:`conv{nd}d`.
flip : bool, default False
    As passed to :func:`conv{nd}d`; ``grad_weight`` is then with respect to the
    unflipped ``weight``.
padding_mode : str, default 'zeros'
    As passed to :func:`conv{nd}d`; the padded border's gradient is folded back
    onto the input elements it was read from.
output_mask : tuple of 3 bools, default (True, True, True)
    Which of ``(grad_input, grad_weight, grad_bias)`` to compute (as
    ``torch.ops.aten.convolution_backward``); one that is False comes back as
    None and costs nothing (a first layer needs no ``grad_input``).
{data_format}
{weight_format}
    ``grad_weight`` comes back in this format.
{threads}
{out_grads}

Returns
-------
grad_input : ndarray, shape {x}
    Gradient with respect to ``x``: the transposed convolution of
    ``grad_output`` with ``weight`` (what :func:`conv_transpose{nd}d` computes).
grad_weight : ndarray, shape {w}
    Gradient with respect to ``weight``: the cross-correlation of ``x`` with
    ``grad_output``, summed over the batch.
grad_bias : ndarray, shape (O,)
    Gradient with respect to the bias: ``grad_output`` summed over the batch and
    {axes}.

Raises
------
TypeError
    An array has an unsupported dtype, a size argument is not an int, or
    ``flip`` is not a bool.
ValueError
    Any reason the forward call would raise, ``grad_output`` does not have the
    shape of the forward output, or ``output_mask`` is not 3 bools.
MemoryError
    A gradient cannot be allocated.

See Also
--------
conv{nd}d : The forward function.
conv_transpose{nd}d : ``grad_input`` as an op of its own.
fastconv.plan : The algorithm of each gradient, its workspace and tasks.
"""

_TEMPLATES["conv_transpose"] = """{nd}-D transposed convolution ("deconvolution"): the input gradient of :func:`conv{nd}d`.

``conv_transpose{nd}d(g, w, stride=s, padding=p, dilation=d, output_padding=op)``
equals the ``grad_input`` of :func:`conv{nd}d_backward` for an input of the
output's size. Arguments follow ``torch.nn.functional.conv_transpose{nd}d``.

Parameters
----------
x : ndarray, shape {xin}
    The batch of input {what}.
weight : ndarray, shape {wt}
    The filters, laid out as for :func:`conv{nd}d` with ``O = Cin``.
bias : ndarray, shape (Cout,), optional
    Added to every {elem} of each channel. Default: no bias.
stride : int or tuple of {ints}, default 1
    Step between the positions each input element is spread to.
padding : {pad_t}, default 0
    Removed from the borders of the full output.
output_padding : int or tuple of {ints}, default 0
    Extra size at the end of each spatial axis; smaller than
    ``max(stride, dilation)``.
groups : int, default 1
    Number of channel groups; must divide Cin.
dilation : int or tuple of {ints}, default 1
    Spacing between kernel taps.
{data_format}
{weight_format}
    The letters name the axes of the convolution whose input gradient this is
    (``O`` is this op's Cin): ``{wf0}`` is torch's {wt}, ``{wf1}`` is
    TensorFlow's ``conv{nd}d_transpose`` filter (``..., Cout/groups, Cin``).
{threads}
{out}

Returns
-------
ndarray, shape {yt}
    {size_t}.

Raises
------
TypeError
    An array has an unsupported dtype, or a size argument is not an int.
ValueError
    ``data_format`` or ``weight_format`` is not one of the strings above;
    An array has the wrong number of dimensions; the weight's first dimension is
    not the input's channel count; ``groups`` does not divide it; ``bias`` is not
    of shape (Cout,); ``padding`` is ``'same'`` or negative; an
    ``output_padding`` is not smaller than ``max(stride, dilation)``; or the
    output would be empty.
MemoryError
    The result cannot be allocated.

See Also
--------
conv{nd}d_backward : Computes the same values as its ``grad_input``.
{others} : The other ranks.
"""

_TEMPLATES["max_pool"] = """{nd}-D max pooling.

Each output is the maximum of its window; padding is never a candidate value.
NaN propagates (a window holding NaN yields NaN) and ties go to the first
maximum in row-major order. Arguments and result follow
``torch.nn.functional.max_pool{nd}d``.

Parameters
----------
{pool_window}
padding : int, tuple or {{'valid', 'same'}}, default 0
    Virtual padding ({pad}); at most half the dilated window.
dilation : int or tuple of {ints}, default 1
    Spacing between window taps.
{ceil_mode}
return_indices : bool, default False
    Also return the argmax positions, for :func:`max_pool{nd}d_backward`.
{data_format}
    ``indices`` are laid out like the output; their values are the same in
    either layout.
{threads}
{out_pair}

Returns
-------
out : ndarray, shape {pool_y}
    The maxima, in the compute dtype (float32 for float32/float16 input, else
    float64).
indices : ndarray of int64, shape {pool_y}
    Only with ``return_indices``: flat offsets of the maxima within each
    {plane} (``[0, {vol})``).

Raises
------
TypeError
    ``x`` has an unsupported dtype, a size argument is not an int, or a flag is
    not a bool.
ValueError
    ``data_format`` is not one of the strings above;
    ``x`` has the wrong number of dimensions or an empty spatial dimension;
    ``kernel_size``, ``stride`` or ``dilation`` is not positive; ``padding`` is
    negative or more than half the dilated window; a window contains no input
    element; or the window is larger than the padded input.
MemoryError
    The result cannot be allocated.

See Also
--------
max_pool{nd}d_backward : The gradient.
avg_pool{nd}d : Average pooling.
{others} : The other ranks.
"""

_TEMPLATES["max_pool_backward"] = """Gradient of :func:`max_pool{nd}d`: ``grad_output`` routed to the argmax positions.

Only the indices and the input's shape are needed, not the input itself.

Parameters
----------
{grad_input_shape}
indices : ndarray of ints, shape {pool_y}
    As returned by ``max_pool{nd}d(..., return_indices=True)``: offsets in
    ``[0, {vol})``.
input_shape : tuple of {shape_n} ints
    ``{pool_x}`` of the pooled input.
{data_format}
    ``input_shape`` is the shape of ``x`` as passed, in this layout.
{threads}
{out_indexed}

Returns
-------
ndarray, shape ``input_shape``
    Gradient with respect to the pooled input. Contributions to the same
    position (overlapping windows) are summed; positions that were no window's
    maximum get 0.

Raises
------
TypeError
    ``grad_output`` has an unsupported dtype, ``indices`` is not an integer
    array, or ``input_shape`` is not a sequence of ints.
ValueError
    ``data_format`` is not one of the strings above;
    ``grad_output`` has the wrong number of dimensions; ``indices`` does not
    have its shape; its batch and channels differ from ``input_shape``'s; or an
    index lies outside the {plane}, ``[0, {vol})``.
MemoryError
    The result cannot be allocated.

See Also
--------
max_pool{nd}d : The forward function.
"""

_TEMPLATES["avg_pool"] = """{nd}-D average pooling.

Each output is the mean of its window. Arguments and result follow
``torch.nn.functional.avg_pool{nd}d``.

Parameters
----------
{pool_window}
padding : int, tuple or {{'valid', 'same'}}, default 0
    Zero padding ({pad}); at most half the window.
{ceil_mode}
count_include_pad : bool, default True
    Divide by the window size including padding; if False, by the number of
    input elements the window covers.
divisor_override : int, optional
    Divide every window's sum by this positive int instead (as torch's).
{data_format}
{threads}
{out}

Returns
-------
ndarray, shape {pool_y}
    The means, in the compute dtype (float32 for float32/float16 input, else
    float64).

Raises
------
TypeError
    ``x`` has an unsupported dtype, a size argument or ``divisor_override`` is
    not an int, or a flag is not a bool.
ValueError
    ``data_format`` is not one of the strings above;
    ``x`` has the wrong number of dimensions or an empty spatial dimension;
    ``kernel_size`` or ``stride`` is not positive; ``padding`` is negative or
    more than half the window; ``divisor_override`` is not positive; or the
    window is larger than the padded input.
MemoryError
    The result cannot be allocated.

See Also
--------
avg_pool{nd}d_backward : The gradient.
max_pool{nd}d : Max pooling.
{others} : The other ranks.
"""

_TEMPLATES["avg_pool_backward"] = """Gradient of :func:`avg_pool{nd}d`: each output's gradient spread evenly over its window.

Parameters
----------
{grad_input_shape}
input_shape : tuple of {shape_n} ints
    ``{pool_x}`` of the pooled input.
kernel_size : int or tuple of {ints}
    As passed to :func:`avg_pool{nd}d`.
stride : int or tuple of {ints}, optional
    As passed to :func:`avg_pool{nd}d`. Default: ``kernel_size``.
padding : int, tuple or {{'valid', 'same'}}, default 0
    As passed to :func:`avg_pool{nd}d`.
ceil_mode : bool, default False
    As passed to :func:`avg_pool{nd}d`.
count_include_pad : bool, default True
    As passed to :func:`avg_pool{nd}d`.
divisor_override : int, optional
    As passed to :func:`avg_pool{nd}d`.
{data_format}
    ``input_shape`` is the shape of ``x`` as passed, in this layout.
{threads}
{out}

Returns
-------
ndarray, shape ``input_shape``
    Gradient with respect to the pooled input: each output's gradient divided by
    its divisor and added to every input element of its window.

Raises
------
TypeError
    ``grad_output`` has an unsupported dtype, ``input_shape`` is not a sequence
    of ints, a size argument is not an int, or a flag is not a bool.
ValueError
    Any reason the forward call would raise for ``input_shape``, or
    ``grad_output`` does not have the pooled output's shape.
MemoryError
    The result cannot be allocated.

See Also
--------
avg_pool{nd}d : The forward function.
"""

_TEMPLATES["adaptive_avg_pool"] = """{nd}-D adaptive average pooling: the output size is given, the windows follow.

Output ``o`` along an axis of input size ``I`` and output size ``O`` is the mean of
the window ``[floor(o*I/O), ceil((o+1)*I/O))``, as in
``torch.nn.functional.adaptive_avg_pool{nd}d``; windows may overlap and differ in size
by one. ``output_size=1`` is global average pooling (every classifier head).

Parameters
----------
{adaptive_args}
{data_format}
{threads}
{out}

Returns
-------
ndarray, shape {pool_y}
    The pooled batch: float32 for float32 or float16 input, else float64.

Raises
------
TypeError
    ``x`` has an unsupported dtype or ``output_size`` is not an int, tuple or None.
{adaptive_errors}

See Also
--------
adaptive_avg_pool{nd}d_backward : Its gradient.
avg_pool{nd}d : Pooling with a given window.
"""

_TEMPLATES["adaptive_max_pool"] = """{nd}-D adaptive max pooling: the output size is given, the windows follow.

Output ``o`` along an axis of input size ``I`` and output size ``O`` is the maximum of
the window ``[floor(o*I/O), ceil((o+1)*I/O))``, as in
``torch.nn.functional.adaptive_max_pool{nd}d`` (NaN wins; the first maximum wins
ties; a window of only -inf reports its first element).

Parameters
----------
{adaptive_args}
return_indices : bool, default False
    Also return the argmax indices (for :func:`adaptive_max_pool{nd}d_backward`).
{data_format}
    ``indices`` are laid out like the output; their values are the same in
    either layout.
{threads}
{out_pair}

Returns
-------
out : ndarray, shape {pool_y}
    The pooled batch: float32 for float32 or float16 input, else float64.
indices : ndarray of int64, shape {pool_y}
    Only with ``return_indices=True``: the flat offset of each maximum within its
    channel's {plane}, as torch's.

Raises
------
TypeError
    ``x`` has an unsupported dtype, ``output_size`` is not an int, tuple or None,
    or ``return_indices`` is not a bool.
{adaptive_errors}

See Also
--------
adaptive_max_pool{nd}d_backward : Its gradient.
max_pool{nd}d : Pooling with a given window.
"""

_TEMPLATES["adaptive_avg_pool_backward"] = """Gradient of :func:`adaptive_avg_pool{nd}d`: each output's gradient spread evenly over its window.

Parameters
----------
{grad_input_shape}
input_shape : tuple of {shape_n} ints
    The shape of the forward call's ``x``; the output size is ``grad_output``'s.
{data_format}
    ``input_shape`` is the shape of ``x`` as passed, in this layout.
{threads}
{out}

Returns
-------
ndarray, shape ``input_shape``
    Gradient with respect to the pooled input (overlapping windows add).

Raises
------
TypeError
    ``grad_output`` has an unsupported dtype or ``input_shape`` is not a sequence
    of ints.
ValueError
    ``data_format`` is not one of the strings above; an array has the wrong number
    of dimensions; ``input_shape`` has an empty spatial dimension; or
    ``grad_output``'s batch and channels differ from ``input_shape``'s.
MemoryError
    The result cannot be allocated.

See Also
--------
adaptive_avg_pool{nd}d : The forward function.
"""

_TEMPLATES["adaptive_max_pool_backward"] = """Gradient of :func:`adaptive_max_pool{nd}d`: ``grad_output`` routed to the argmax positions.

Parameters
----------
{grad_input_shape}
indices : ndarray of ints, the shape of ``grad_output``
    The indices :func:`adaptive_max_pool{nd}d` returned with ``return_indices=True``.
input_shape : tuple of {shape_n} ints
    The shape of the forward call's ``x``.
{data_format}
    ``input_shape`` is the shape of ``x`` as passed, in this layout.
{threads}
{out_indexed}

Returns
-------
ndarray, shape ``input_shape``
    Gradient with respect to the pooled input (collisions add).

Raises
------
TypeError
    ``grad_output`` has an unsupported dtype, ``indices`` is not an integer array,
    or ``input_shape`` is not a sequence of ints.
ValueError
    ``data_format`` is not one of the strings above; ``indices`` does not have
    ``grad_output``'s shape or holds an offset outside the channel's {plane};
    ``grad_output``'s batch and channels differ from ``input_shape``'s.
MemoryError
    The result cannot be allocated.

See Also
--------
adaptive_max_pool{nd}d : The forward function.
"""

_TEMPLATES["conv_transpose_backward"] = """Compute the gradients of :func:`conv_transpose{nd}d` with respect to its input, weight and bias.

The transposed convolution is the input gradient of a convolution, so its
gradients are that convolution's other operations: ``grad_input`` is
:func:`conv{nd}d` of ``grad_output`` with ``weight`` (same stride, padding,
dilation and groups), ``grad_weight`` that convolution's weight gradient with the
roles of the arrays swapped, and ``grad_bias`` the sum of ``grad_output``.

Parameters
----------
grad_output : ndarray, shape {yt}
    Gradient of the loss with respect to the output of :func:`conv_transpose{nd}d`.
x : ndarray, shape {xin}
    The forward call's input.
weight : ndarray, shape {wt}
    The forward call's weight.
stride : int or tuple of {ints}, default 1
    As passed to :func:`conv_transpose{nd}d`.
padding : {pad_t}, default 0
    As passed to :func:`conv_transpose{nd}d`.
output_padding : int or tuple of {ints}, default 0
    As passed to :func:`conv_transpose{nd}d`.
groups : int, default 1
    As passed to :func:`conv_transpose{nd}d`.
dilation : int or tuple of {ints}, default 1
    As passed to :func:`conv_transpose{nd}d`.
output_mask : tuple of 3 bools, default (True, True, True)
    Which of ``(grad_input, grad_weight, grad_bias)`` to compute; one that is
    False comes back as None and is not computed.
{data_format}
{weight_format}
    ``grad_weight`` comes back in this format.
{threads}
{out_grads}

Returns
-------
grad_input : ndarray, shape {xin}
    Gradient with respect to ``x``.
grad_weight : ndarray, shape {wt}
    Gradient with respect to ``weight``.
grad_bias : ndarray, shape (Cout,)
    Gradient with respect to the bias: ``grad_output`` summed over the batch and
    {axes}.

Raises
------
TypeError
    An array has an unsupported dtype, or a size argument is not an int.
ValueError
    Any reason the forward call would raise, ``grad_output`` does not have the
    shape of the forward output, or ``output_mask`` is not 3 bools.
MemoryError
    A gradient cannot be allocated.

See Also
--------
conv_transpose{nd}d : The forward function.
conv{nd}d_backward : The gradients of the convolution.
"""

# ------------------------------------------------------------------ examples
# Each runs as a doctest (docs/build.sh).

_EXAMPLES = {
    ("conv_transpose_backward", 1): """The seeds' 1-D example read backwards: the gradient of the
transposed convolution with respect to its input is the convolution itself.

>>> import numpy as np, fastconv
>>> x = np.array([[[1., 2.]]]); w = np.array([[[1., 2., 3.]]])
>>> y = fastconv.conv_transpose1d(x, w)
>>> gx, gw, gb = fastconv.conv_transpose1d_backward(np.ones_like(y), x, w)
>>> gx, gw, gb
(array([[[6., 6.]]]), array([[[3., 3., 3.]]]), array([4.]))
>>> fastconv.conv_transpose1d_backward(np.ones_like(y), x, w,
...                                    output_mask=(True, False, False))[1] is None
True
""",
    ("conv_transpose_backward", 2): """>>> import numpy as np, fastconv
>>> x = np.ones((1, 2, 3, 3)); w = np.ones((2, 4, 2, 2))
>>> y = fastconv.conv_transpose2d(x, w, stride=2)
>>> [g.shape for g in fastconv.conv_transpose2d_backward(np.ones_like(y), x, w, stride=2)]
[(1, 2, 3, 3), (2, 4, 2, 2), (4,)]
""",
    ("conv_transpose_backward", 3): """>>> import numpy as np, fastconv
>>> x = np.ones((1, 1, 2, 2, 2)); w = np.ones((1, 1, 2, 2, 2))
>>> y = fastconv.conv_transpose3d(x, w)
>>> gx, gw, gb = fastconv.conv_transpose3d_backward(np.ones_like(y), x, w)
>>> gx[0, 0, 0], gb
(array([[8., 8.],
       [8., 8.]]), array([27.]))
""",
    ("adaptive_avg_pool", 1): """Windows [0, 2), [1, 3), [2, 4) of a length-4 signal, to 3 outputs:

>>> import numpy as np, fastconv
>>> fastconv.adaptive_avg_pool1d(np.array([[[1., 2., 3., 4.]]]), 3)
array([[[1.5, 2.5, 3.5]]])
""",
    ("adaptive_avg_pool", 2): """Global average pooling, and a 5x5 image to 2x2 (windows of 3, overlapping):

>>> import numpy as np, fastconv
>>> x = np.arange(25.).reshape(1, 1, 5, 5)
>>> fastconv.adaptive_avg_pool2d(x, 1)
array([[[[12.]]]])
>>> fastconv.adaptive_avg_pool2d(x, 2)
array([[[[ 6.,  8.],
         [16., 18.]]]])
>>> fastconv.adaptive_avg_pool2d(x, (None, 1)).shape
(1, 1, 5, 1)
""",
    ("adaptive_avg_pool", 3): """>>> import numpy as np, fastconv
>>> x = np.arange(27.).reshape(1, 1, 3, 3, 3)
>>> fastconv.adaptive_avg_pool3d(x, 1)
array([[[[[13.]]]]])
>>> fastconv.adaptive_avg_pool3d(x, (1, 3, 2)).shape
(1, 1, 1, 3, 2)
""",
    ("adaptive_max_pool", 1): """>>> import numpy as np, fastconv
>>> out, idx = fastconv.adaptive_max_pool1d(np.array([[[3., 1., 4., 1., 5.]]]), 2,
...                                         return_indices=True)
>>> out, idx
(array([[[4., 5.]]]), array([[[2, 4]]]))
""",
    ("adaptive_max_pool", 2): """>>> import numpy as np, fastconv
>>> x = np.arange(25.).reshape(1, 1, 5, 5)
>>> out, idx = fastconv.adaptive_max_pool2d(x, 2, return_indices=True)
>>> out
array([[[[12., 14.],
         [22., 24.]]]])
>>> idx
array([[[[12, 14],
         [22, 24]]]])
""",
    ("adaptive_max_pool", 3): """>>> import numpy as np, fastconv
>>> x = np.arange(8.).reshape(1, 1, 2, 2, 2)
>>> fastconv.adaptive_max_pool3d(x, 1, return_indices=True)
(array([[[[[7.]]]]]), array([[[[[7]]]]]))
""",
    ("adaptive_avg_pool_backward", 1): """Each output's gradient is split over its window:

>>> import numpy as np, fastconv
>>> fastconv.adaptive_avg_pool1d_backward(np.array([[[2., 2., 2.]]]), (1, 1, 4))
array([[[1., 2., 2., 1.]]])
""",
    ("adaptive_avg_pool_backward", 2): """>>> import numpy as np, fastconv
>>> fastconv.adaptive_avg_pool2d_backward(np.full((1, 1, 1, 1), 4.), (1, 1, 2, 2))
array([[[[1., 1.],
         [1., 1.]]]])
""",
    ("adaptive_avg_pool_backward", 3): """>>> import numpy as np, fastconv
>>> g = fastconv.adaptive_avg_pool3d_backward(np.ones((1, 1, 1, 1, 1)), (1, 1, 2, 2, 2))
>>> g.shape, float(g.sum())
((1, 1, 2, 2, 2), 1.0)
""",
    ("adaptive_max_pool_backward", 1): """>>> import numpy as np, fastconv
>>> x = np.array([[[3., 1., 4., 1., 5.]]])
>>> out, idx = fastconv.adaptive_max_pool1d(x, 2, return_indices=True)
>>> fastconv.adaptive_max_pool1d_backward(np.ones_like(out), idx, x.shape)
array([[[0., 0., 1., 0., 1.]]])
""",
    ("adaptive_max_pool_backward", 2): """>>> import numpy as np, fastconv
>>> x = np.arange(16.).reshape(1, 1, 4, 4)
>>> out, idx = fastconv.adaptive_max_pool2d(x, 1, return_indices=True)
>>> fastconv.adaptive_max_pool2d_backward(out, idx, x.shape)[0, 0]
array([[ 0.,  0.,  0.,  0.],
       [ 0.,  0.,  0.,  0.],
       [ 0.,  0.,  0.,  0.],
       [ 0.,  0.,  0., 15.]])
""",
    ("adaptive_max_pool_backward", 3): """>>> import numpy as np, fastconv
>>> x = np.arange(8.).reshape(1, 1, 2, 2, 2)
>>> out, idx = fastconv.adaptive_max_pool3d(x, 1, return_indices=True)
>>> fastconv.adaptive_max_pool3d_backward(np.ones_like(out), idx, x.shape).ravel()
array([0., 0., 0., 0., 0., 0., 0., 1.])
""",
    ("conv", 1): """The seeds' 1-D example: correlation, and true convolution with ``flip=True``.

>>> import numpy as np, fastconv
>>> x = np.array([[[1., 2., 3., 4.]]]); w = np.array([[[1., 2., 3.]]])
>>> fastconv.conv1d(x, w)
array([[[14., 20.]]])
>>> fastconv.conv1d(x, w, flip=True)
array([[[10., 16.]]])
>>> fastconv.conv1d(x, w, padding="same")
array([[[ 8., 14., 20., 11.]]])
""",
    ("conv", 2): """>>> import numpy as np, fastconv
>>> x = np.arange(16.).reshape(1, 1, 4, 4)
>>> fastconv.conv2d(x, np.ones((1, 1, 2, 2)), stride=2)
array([[[[10., 18.],
         [42., 50.]]]])
>>> fastconv.conv2d(x, np.ones((3, 1, 3, 3)), np.zeros(3), padding="same").shape
(1, 3, 4, 4)

Into a buffer allocated once (``out``), the same object returned:

>>> y = np.empty((1, 1, 2, 2))
>>> fastconv.conv2d(x, np.ones((1, 1, 2, 2)), stride=2, out=y) is y
True
""",
    ("conv", 3): """A 2x2x2 box filter with stride 2 sums each octant of a 4x4x4 volume:

>>> import numpy as np, fastconv
>>> x = np.arange(64.).reshape(1, 1, 4, 4, 4)
>>> fastconv.conv3d(x, np.ones((1, 1, 2, 2, 2)), stride=2)[0, 0]
array([[[ 84., 100.],
        [148., 164.]],
<BLANKLINE>
       [[340., 356.],
        [404., 420.]]])
>>> fastconv.conv3d(x, np.ones((2, 1, 3, 3, 3)), padding="same").shape
(1, 2, 4, 4, 4)
""",
    ("conv_backward", 1): """The seeds' 1-D backward slides, with ``dL/dO = [1, 2]``:

>>> import numpy as np, fastconv
>>> x = np.array([[[1., 2., 3., 4.]]]); w = np.array([[[1., 2., 3.]]])
>>> gx, gw, gb = fastconv.conv1d_backward(np.array([[[1., 2.]]]), x, w)
>>> gx, gw, gb
(array([[[1., 4., 7., 6.]]]), array([[[ 5.,  8., 11.]]]), array([3.]))
""",
    ("conv_backward", 2): """A 2x2 kernel with stride 2 sees every pixel of a 4x4 image exactly once:

>>> import numpy as np, fastconv
>>> x = np.arange(16.).reshape(1, 1, 4, 4); w = np.ones((1, 1, 2, 2))
>>> gx, gw, gb = fastconv.conv2d_backward(np.ones((1, 1, 2, 2)), x, w, stride=2)
>>> gx[0, 0]
array([[1., 1., 1., 1.],
       [1., 1., 1., 1.],
       [1., 1., 1., 1.],
       [1., 1., 1., 1.]])
>>> gw
array([[[[20., 24.],
         [36., 40.]]]])
>>> gb
array([4.])
>>> bufs = (None, np.empty((1, 1, 2, 2)), np.empty(1))   # None: a new grad_input
>>> g = fastconv.conv2d_backward(np.ones((1, 1, 2, 2)), x, w, stride=2, out=bufs)
>>> g[1] is bufs[1], g[2] is bufs[2], g[0].shape
(True, True, (1, 1, 4, 4))
""",
    ("conv_backward", 3): """With a 1x1x1 kernel, grad_weight is the sum of ``x * grad_output``:

>>> import numpy as np, fastconv
>>> x = np.arange(8.).reshape(1, 1, 2, 2, 2); w = np.full((1, 1, 1, 1, 1), 2.)
>>> gx, gw, gb = fastconv.conv3d_backward(np.ones((1, 1, 2, 2, 2)), x, w)
>>> gx[0, 0, 1]
array([[2., 2.],
       [2., 2.]])
>>> gw.ravel(), gb
(array([28.]), array([8.]))
""",
    ("conv_transpose", 1): """The seeds' ``dL/dI``: the upstream gradient [1, 2] spread by the kernel [1, 2, 3].

>>> import numpy as np, fastconv
>>> fastconv.conv_transpose1d(np.array([[[1., 2.]]]), np.array([[[1., 2., 3.]]]))
array([[[1., 4., 7., 6.]]])
""",
    ("conv_transpose", 2): """>>> import numpy as np, fastconv
>>> fastconv.conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)))
array([[[[1., 2., 1.],
         [2., 4., 2.],
         [1., 2., 1.]]]])
>>> fastconv.conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)),
...                           stride=2).shape
(1, 1, 5, 5)
""",
    ("conv_transpose", 3): """A 2x2x2 kernel with stride 2 doubles every side (the U-Net upsampling):

>>> import numpy as np, fastconv
>>> y = fastconv.conv_transpose3d(np.ones((1, 4, 3, 3, 3)), np.ones((4, 2, 2, 2, 2)),
...                               stride=2)
>>> y.shape, float(y.min()), float(y.max())
((1, 2, 6, 6, 6), 4.0, 4.0)
""",
    ("max_pool", 1): """>>> import numpy as np, fastconv
>>> x = np.array([[[1., 3., 2., 5., 4.]]])
>>> fastconv.max_pool1d(x, 2, return_indices=True)
(array([[[3., 5.]]]), array([[[1, 3]]]))
>>> fastconv.max_pool1d(x, 2, ceil_mode=True)
array([[[3., 5., 4.]]])
""",
    ("max_pool", 2): """The seeds' "pooling in action" slide:

>>> import numpy as np, fastconv
>>> x = np.array([[[[38, 20, 77, 33], [36, 49, 12, 48],
...                 [26, 65, 100, 40], [90, 31, 43, 18]]]])
>>> fastconv.max_pool2d(x, 2)
array([[[[ 49.,  77.],
         [ 90., 100.]]]])
>>> fastconv.max_pool2d(x, 2, return_indices=True)[1]
array([[[[ 5,  2],
         [12, 10]]]])
>>> out, idx = np.empty((1, 1, 2, 2)), np.empty((1, 1, 2, 2), np.int64)
>>> fastconv.max_pool2d(x, 2, return_indices=True, out=(out, idx))[1] is idx
True
""",
    ("max_pool", 3): """Indices are flat offsets within each D*H*W volume:

>>> import numpy as np, fastconv
>>> x = np.arange(27.).reshape(1, 1, 3, 3, 3)
>>> out, idx = fastconv.max_pool3d(x, 2, stride=1, return_indices=True)
>>> out[0, 0, 0], idx[0, 0, 0]
(array([[13., 14.],
       [16., 17.]]), array([[13, 14],
       [16, 17]]))
""",
    ("max_pool_backward", 1): """>>> import numpy as np, fastconv
>>> x = np.array([[[1., 3., 2., 5., 4.]]])
>>> out, idx = fastconv.max_pool1d(x, 2, return_indices=True)
>>> fastconv.max_pool1d_backward(np.ones_like(out), idx, x.shape)
array([[[0., 1., 0., 1., 0.]]])
""",
    ("max_pool_backward", 2): """>>> import numpy as np, fastconv
>>> x = np.array([[[[38, 20, 77, 33], [36, 49, 12, 48],
...                 [26, 65, 100, 40], [90, 31, 43, 18]]]])
>>> out, idx = fastconv.max_pool2d(x, 2, return_indices=True)
>>> fastconv.max_pool2d_backward(np.ones_like(out), idx, x.shape)
array([[[[0., 0., 1., 0.],
         [0., 1., 0., 0.],
         [0., 0., 1., 0.],
         [1., 0., 0., 0.]]]])
""",
    ("max_pool_backward", 3): """The maximum of a 2x2x2 volume is its last element:

>>> import numpy as np, fastconv
>>> x = np.arange(8.).reshape(1, 1, 2, 2, 2)
>>> out, idx = fastconv.max_pool3d(x, 2, return_indices=True)
>>> fastconv.max_pool3d_backward(np.ones_like(out), idx, x.shape).ravel()
array([0., 0., 0., 0., 0., 0., 0., 1.])
""",
    ("avg_pool", 1): """>>> import numpy as np, fastconv
>>> x = np.array([[[3., 3., 6., 6.]]])
>>> fastconv.avg_pool1d(x, 3, stride=1, padding=1)
array([[[2., 4., 5., 4.]]])
>>> fastconv.avg_pool1d(x, 3, stride=1, padding=1, count_include_pad=False)
array([[[3., 4., 5., 6.]]])
""",
    ("avg_pool", 2): """The seeds' "pooling in action" slide (which prints these means rounded to
integers), and the window sums through ``divisor_override=1``:

>>> import numpy as np, fastconv
>>> x = np.array([[[[38, 20, 77, 33], [36, 49, 12, 48],
...                 [26, 65, 100, 40], [90, 31, 43, 18]]]])
>>> fastconv.avg_pool2d(x, 2)
array([[[[35.75, 42.5 ],
         [53.  , 50.25]]]])
>>> fastconv.avg_pool2d(x, 2, divisor_override=1)
array([[[[143., 170.],
         [212., 201.]]]])
""",
    ("avg_pool", 3): """Global average pooling of a volume, as a classifier head does it:

>>> import numpy as np, fastconv
>>> x = np.arange(2 * 8.).reshape(1, 2, 2, 2, 2)
>>> fastconv.avg_pool3d(x, 2).ravel()
array([ 3.5, 11.5])
""",
    ("avg_pool_backward", 1): """The last element belongs to no window of length 2, stride 2:

>>> import numpy as np, fastconv
>>> fastconv.avg_pool1d_backward(np.ones((1, 1, 2)), (1, 1, 5), 2)
array([[[0.5, 0.5, 0.5, 0.5, 0. ]]])
""",
    ("avg_pool_backward", 2): """>>> import numpy as np, fastconv
>>> fastconv.avg_pool2d_backward(np.ones((1, 1, 2, 2)), (1, 1, 4, 4), 2)
array([[[[0.25, 0.25, 0.25, 0.25],
         [0.25, 0.25, 0.25, 0.25],
         [0.25, 0.25, 0.25, 0.25],
         [0.25, 0.25, 0.25, 0.25]]]])
""",
    ("avg_pool_backward", 3): """>>> import numpy as np, fastconv
>>> g = fastconv.avg_pool3d_backward(np.ones((1, 1, 1, 1, 1)), (1, 1, 2, 2, 2), 2)
>>> g.ravel()
array([0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125])
""",
}

_OTHERS = {"conv": "conv", "conv_transpose": "conv_transpose",
           "conv_transpose_backward": "conv_transpose_backward", "max_pool": "max_pool",
           "avg_pool": "avg_pool", "adaptive_avg_pool": "adaptive_avg_pool",
           "adaptive_max_pool": "adaptive_max_pool"}


def docstring(family, nd):
    """The docstring of ``family`` (``'conv'``, ``'max_pool_backward'``, ...) at rank ``nd``."""
    words = dict(_WORDS[nd], nd=nd, others=_others(_OTHERS.get(family, family), nd))
    words.update({k: v.format(**words) for k, v in _SNIPPETS.items()})
    lw = dict(words, df0=words["dfs"][0], df1=words["dfs"][1], wf0=words["wfs"][0],
              wf1=words["wfs"][1], wf2=words["wfs"][2])
    words.update({k: v.format(**lw) for k, v in _LAYOUT_SNIPPETS.items()})
    words.update(df0=lw["df0"], df1=lw["df1"], wf0=lw["wf0"], wf1=lw["wf1"], wf2=lw["wf2"])
    text = _with_out_errors(_TEMPLATES[family].format(**words),
                            tuple_out=family in _TUPLE_OUT)
    return text + "\nExamples\n--------\n" + _EXAMPLES[(family, nd)]


# what a wrong ``out=`` raises, added to every op's TypeError and ValueError entries
# (the second form for the families whose ``out`` may be a tuple)
OUT_ERRORS = {
    "TypeError": ("An ``out`` buffer is not an ndarray of the result's dtype (see\n"
                  "    ``out``).",
                  "An ``out`` buffer is not an ndarray of the result's dtype, or ``out``\n"
                  "    is a list or another type where a tuple is needed (see ``out``)."),
    "ValueError": ("An ``out`` buffer has the wrong shape, is not C-contiguous or\n"
                   "    writeable, or shares memory with an input (see ``out``).",
                   "An ``out`` buffer has the wrong shape, is not C-contiguous or\n"
                   "    writeable, or shares memory with an input or another buffer; or\n"
                   "    ``out`` is a tuple of the wrong length (see ``out``)."),
}
_TUPLE_OUT = ("conv_backward", "conv_transpose_backward", "max_pool", "adaptive_max_pool")


def _with_out_errors(text, indent="", tuple_out=False):
    """``text`` with the :data:`OUT_ERRORS` line at the end of its Raises section's
    TypeError and ValueError entries (lines indented by ``indent``)."""
    lines = text.split("\n")
    start = lines.index(indent + "Raises") + 2
    out, entry = lines[:start], None
    for line in lines[start:]:
        # a new entry (or the end of the section) closes the one before
        if entry is not None and not line.startswith(indent + "    "):
            out.append(indent + "    "
                       + OUT_ERRORS[entry][tuple_out].replace("\n", "\n" + indent))
            entry = None
        if line.strip() in OUT_ERRORS and not line.startswith(indent + " "):
            entry = line.strip()
        out.append(line)
    return "\n".join(out)


def with_out(doc):
    """A handwritten docstring with its ``{out}`` line (indented by 4) replaced by the
    shared ``out`` parameter block, and the ``out`` errors in its Raises section."""
    block = _SNIPPETS["out"].replace("\n", "\n    ")
    assert doc.count("    {out}\n") == 1
    return _with_out_errors(doc.replace("    {out}\n", "    " + block + "\n"), "    ")


def public_name(family, nd):
    if family.endswith("_backward"):
        return f"{family[:-len('_backward')]}{nd}d_backward"
    return f"{family}{nd}d"


def finish(fn, family, nd):
    """Name and document a generated public function, and mark it as an op that
    :func:`fastconv.plan` can ask for its plan."""
    fn.__name__ = fn.__qualname__ = public_name(family, nd)
    fn.__doc__ = docstring(family, nd)
    fn._fastconv_op = True
    return fn
