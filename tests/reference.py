"""Plain NumPy reference implementations of the fastconv operations.

Written from the formulas in docs/api.md, independently of fastconv (never import it here).
Everything is computed in float64 on explicitly zero-padded arrays, one kernel tap at a time,
and returned as float64. Speed only matters enough for property tests on small shapes.
"""

import itertools

import numpy as np

# --------------------------------------------------------------------------------------------
# argument normalisation
# --------------------------------------------------------------------------------------------


def as_tuple(value, n):
    """An int or a sequence of n ints -> tuple of n Python ints."""
    if np.ndim(value) == 0:
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    assert len(value) == n, value
    return value


def output_size(i, k, s=1, pad_before=0, pad_after=0, d=1, ceil_mode=False):
    """Output length of one spatial dimension (api.md rule); ValueError if out < 1."""
    span = i + pad_before + pad_after - d * (k - 1) - 1
    if ceil_mode:
        out = -(-span // s) + 1  # ceil division (Python's // floors, also for span < 0)
        if (out - 1) * s >= i + pad_before:
            out -= 1
    else:
        out = span // s + 1
    if out < 1:
        raise ValueError(f"kernel {k} (dilation {d}) does not fit input {i} "
                         f"padded by ({pad_before}, {pad_after})")
    return out


def same_padding(i, k, s=1, d=1):
    """(before, after) of TensorFlow's 'same' rule for one dimension."""
    out = -(-i // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - i, 0)
    return total // 2, total - total // 2


def resolve_padding(padding, in_sizes, kernel, stride=1, dilation=1):
    """Any accepted padding form -> list of (before, after) pairs, one per spatial dim."""
    nd = len(in_sizes)
    kernel = as_tuple(kernel, nd)
    stride = as_tuple(stride, nd)
    dilation = as_tuple(dilation, nd)
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * nd
        if padding == "same":
            return [same_padding(i, k, s, d)
                    for i, k, s, d in zip(in_sizes, kernel, stride, dilation)]
        raise ValueError(padding)
    if np.ndim(padding) == 0:
        return [(int(padding), int(padding))] * nd
    padding = list(padding)
    if nd == 1 and len(padding) == 2 and all(np.ndim(p) == 0 for p in padding):
        return [(int(padding[0]), int(padding[1]))]  # 1-D flat (before, after)
    assert len(padding) == nd, padding
    pairs = []
    for p in padding:
        if np.ndim(p) == 0:
            pairs.append((int(p), int(p)))
        else:
            before, after = p
            pairs.append((int(before), int(after)))
    return pairs


def conv_output_size(input_size, kernel_size, stride=1, padding=0, dilation=1,
                     ceil_mode=False):
    """Reference for fastconv.conv_output_size: int for an int input_size, else a tuple."""
    scalar = np.ndim(input_size) == 0
    sizes = (int(input_size),) if scalar else tuple(int(i) for i in input_size)
    nd = len(sizes)
    k = as_tuple(kernel_size, nd)
    s = as_tuple(stride, nd)
    d = as_tuple(dilation, nd)
    pads = resolve_padding(padding, sizes, k, s, d)
    out = tuple(output_size(i, kk, ss, pb, pa, dd, ceil_mode)
                for i, kk, ss, (pb, pa), dd in zip(sizes, k, s, pads, d))
    return out[0] if scalar else out


def _pad2d(x, pads, value=0.0):
    (t, b), (l, r) = pads
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=value)


def _taps(out_len, k, s, d):
    """For each kernel tap i, the padded-input positions o*s + i*d of all outputs o."""
    return [i * d + s * np.arange(out_len) for i in range(k)]


def _to_2d_padding(padding, L, k, s, d):
    """1-D padding -> 2-D per-side padding with no padding on the dummy H axis."""
    (before, after), = resolve_padding(padding, (L,), k, s, d)
    return ((0, 0), (before, after))


# --------------------------------------------------------------------------------------------
# convolution
# --------------------------------------------------------------------------------------------


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, flip=False):
    """out[n,o,y,x] = bias[o] + sum_{c,i,j} w[o,c,i,j] * xpad[n, g*Cg+c, y*s+i*d, x*s+j*d]."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    if flip:
        w = w[:, :, ::-1, ::-1]
    N, C, H, W = x.shape
    O, Cg, kH, kW = w.shape
    assert C == Cg * groups and O % groups == 0
    Og = O // groups
    (sH, sW), (dH, dW) = as_tuple(stride, 2), as_tuple(dilation, 2)
    pads = resolve_padding(padding, (H, W), (kH, kW), (sH, sW), (dH, dW))
    Ho = output_size(H, kH, sH, *pads[0], dH)
    Wo = output_size(W, kW, sW, *pads[1], dW)
    xp = _pad2d(x, pads)
    rows, cols = _taps(Ho, kH, sH, dH), _taps(Wo, kW, sW, dW)
    out = np.zeros((N, O, Ho, Wo))
    for g in range(groups):
        xg = xp[:, g * Cg:(g + 1) * Cg]
        wg = w[g * Og:(g + 1) * Og]
        for i in range(kH):
            for j in range(kW):
                patch = xg[:, :, rows[i][:, None], cols[j][None, :]]  # (N, Cg, Ho, Wo)
                out[:, g * Og:(g + 1) * Og] += np.einsum("nchw,oc->nohw", patch, wg[:, :, i, j])
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64)[None, :, None, None]
    return out


def conv2d_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1,
                    flip=False):
    """(grad_input, grad_weight, grad_bias) of conv2d, each written from the sum directly.

    grad_input scatters go[n,o,y,x]*w[o,c,i,j] to xpad[.., y*s+i*d, x*s+j*d] and crops the
    padding; grad_weight[o,c,i,j] = sum_{n,y,x} go[n,o,y,x]*xpad[n,g*Cg+c,y*s+i*d,x*s+j*d].
    With flip=True the forward used w[..., ::-1, ::-1], so grad_weight is flipped back.
    """
    go = np.asarray(grad_output, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    if flip:
        w = w[:, :, ::-1, ::-1]
    N, C, H, W = x.shape
    O, Cg, kH, kW = w.shape
    Og = O // groups
    (sH, sW), (dH, dW) = as_tuple(stride, 2), as_tuple(dilation, 2)
    pads = resolve_padding(padding, (H, W), (kH, kW), (sH, sW), (dH, dW))
    Ho = output_size(H, kH, sH, *pads[0], dH)
    Wo = output_size(W, kW, sW, *pads[1], dW)
    assert go.shape == (N, O, Ho, Wo), (go.shape, (N, O, Ho, Wo))
    xp = _pad2d(x, pads)
    gxp = np.zeros_like(xp)
    gw = np.zeros_like(w)
    rows, cols = _taps(Ho, kH, sH, dH), _taps(Wo, kW, sW, dW)
    for g in range(groups):
        cs, os_ = slice(g * Cg, (g + 1) * Cg), slice(g * Og, (g + 1) * Og)
        for i in range(kH):
            for j in range(kW):
                r, c = rows[i][:, None], cols[j][None, :]
                # within one tap the positions (r, c) are distinct, so += is a true scatter-add
                gxp[:, cs, r, c] += np.einsum("nohw,oc->nchw", go[:, os_], w[os_, :, i, j])
                gw[os_, :, i, j] = np.einsum("nohw,nchw->oc", go[:, os_], xp[:, cs, r, c])
    (t, _), (l, _) = pads
    grad_input = gxp[:, :, t:t + H, l:l + W].copy()
    if flip:
        gw = gw[:, :, ::-1, ::-1]
    grad_bias = go.sum(axis=(0, 2, 3))
    return grad_input, np.ascontiguousarray(gw), grad_bias


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Scatter form: x[n,ci,h,w] * w[ci,co,i,j] is added at full[n, g*Cog+co, h*s+i*d, w*s+j*d].

    `full` has (H-1)*s + d*(k-1) + 1 + output_padding rows; the output is full cropped by the
    padding at the start: out[.., y, ..] = full[.., y + pad_top, ..] for y < Hout.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    N, Cin, H, W = x.shape
    Cin_w, Cog, kH, kW = w.shape
    assert Cin == Cin_w and Cin % groups == 0
    Cig = Cin // groups
    (sH, sW), (dH, dW) = as_tuple(stride, 2), as_tuple(dilation, 2)
    opH, opW = as_tuple(output_padding, 2)
    (t, b), (l, r) = resolve_padding(padding, (H, W), (kH, kW), (sH, sW), (dH, dW))
    fullH = (H - 1) * sH + dH * (kH - 1) + 1 + opH
    fullW = (W - 1) * sW + dW * (kW - 1) + 1 + opW
    Ho, Wo = fullH - t - b, fullW - l - r
    assert Ho >= 1 and Wo >= 1, (Ho, Wo)
    full = np.zeros((N, Cog * groups, fullH, fullW))
    for g in range(groups):
        xg = x[:, g * Cig:(g + 1) * Cig]
        for i in range(kH):
            for j in range(kW):
                rows = (i * dH + sH * np.arange(H))[:, None]
                cols = (j * dW + sW * np.arange(W))[None, :]
                full[:, g * Cog:(g + 1) * Cog, rows, cols] += np.einsum(
                    "nchw,co->nohw", xg, w[g * Cig:(g + 1) * Cig, :, i, j])
    out = full[:, :, t:t + Ho, l:l + Wo].copy()
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64)[None, :, None, None]
    return out


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, flip=False):
    x, w = np.asarray(x), np.asarray(weight)
    pads = _to_2d_padding(padding, x.shape[2], w.shape[2], as_tuple(stride, 1)[0],
                          as_tuple(dilation, 1)[0])
    out = conv2d(x[:, :, None], w[:, :, None], bias, (1, as_tuple(stride, 1)[0]), pads,
                 (1, as_tuple(dilation, 1)[0]), groups, flip)
    return out[:, :, 0]


def conv1d_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1,
                    flip=False):
    x, w, go = np.asarray(x), np.asarray(weight), np.asarray(grad_output)
    s, d = as_tuple(stride, 1)[0], as_tuple(dilation, 1)[0]
    pads = _to_2d_padding(padding, x.shape[2], w.shape[2], s, d)
    gi, gw, gb = conv2d_backward(go[:, :, None], x[:, :, None], w[:, :, None], (1, s), pads,
                                 (1, d), groups, flip)
    return gi[:, :, 0], gw[:, :, 0], gb


def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    x, w = np.asarray(x), np.asarray(weight)
    s, d = as_tuple(stride, 1)[0], as_tuple(dilation, 1)[0]
    pads = _to_2d_padding(padding, x.shape[2], w.shape[2], s, d)
    out = conv_transpose2d(x[:, :, None], w[:, :, None], bias, (1, s), pads,
                           (0, as_tuple(output_padding, 1)[0]), groups, (1, d))
    return out[:, :, 0]


# --------------------------------------------------------------------------------------------
# im2col / col2im
# --------------------------------------------------------------------------------------------


def im2col(x, kernel_size, dilation=1, padding=0, stride=1):
    """torch unfold layout: (N, C*kH*kW, Ho*Wo), row c*kH*kW + i*kW + j, column oy*Wo + ox."""
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    (kH, kW), (sH, sW), (dH, dW) = (as_tuple(kernel_size, 2), as_tuple(stride, 2),
                                    as_tuple(dilation, 2))
    pads = resolve_padding(padding, (H, W), (kH, kW), (sH, sW), (dH, dW))
    Ho = output_size(H, kH, sH, *pads[0], dH)
    Wo = output_size(W, kW, sW, *pads[1], dW)
    xp = _pad2d(x, pads)
    rows, cols = _taps(Ho, kH, sH, dH), _taps(Wo, kW, sW, dW)
    out = np.zeros((N, C, kH, kW, Ho, Wo))
    for i in range(kH):
        for j in range(kW):
            out[:, :, i, j] = xp[:, :, rows[i][:, None], cols[j][None, :]]
    return out.reshape(N, C * kH * kW, Ho * Wo)


def col2im(cols, output_size_, kernel_size, dilation=1, padding=0, stride=1):
    """torch fold: scatter-add every column entry back to its padded-input position, crop."""
    cols = np.asarray(cols, dtype=np.float64)
    H, W = as_tuple(output_size_, 2)
    (kH, kW), (sH, sW), (dH, dW) = (as_tuple(kernel_size, 2), as_tuple(stride, 2),
                                    as_tuple(dilation, 2))
    pads = resolve_padding(padding, (H, W), (kH, kW), (sH, sW), (dH, dW))
    Ho = output_size(H, kH, sH, *pads[0], dH)
    Wo = output_size(W, kW, sW, *pads[1], dW)
    N, CK, L = cols.shape
    assert CK % (kH * kW) == 0 and L == Ho * Wo, (cols.shape, kH, kW, Ho, Wo)
    C = CK // (kH * kW)
    c6 = cols.reshape(N, C, kH, kW, Ho, Wo)
    (t, b), (l, r) = pads
    xp = np.zeros((N, C, H + t + b, W + l + r))
    rows, cols_ = _taps(Ho, kH, sH, dH), _taps(Wo, kW, sW, dW)
    for i in range(kH):
        for j in range(kW):
            xp[:, :, rows[i][:, None], cols_[j][None, :]] += c6[:, :, i, j]
    return xp[:, :, t:t + H, l:l + W].copy()


# --------------------------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------------------------


def _pool_geometry(shape, kernel_size, stride, padding, dilation, ceil_mode):
    H, W = shape[2], shape[3]
    k = as_tuple(kernel_size, 2)
    s = k if stride is None else as_tuple(stride, 2)
    d = as_tuple(dilation, 2)
    pads = resolve_padding(padding, (H, W), k, s, d)
    Ho = output_size(H, k[0], s[0], *pads[0], d[0], ceil_mode)
    Wo = output_size(W, k[1], s[1], *pads[1], d[1], ceil_mode)
    return k, s, d, pads, Ho, Wo


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """(out, indices) with ATen semantics; raises ValueError for a window with no input.

    Taps are visited in row-major window order; the running max starts at -inf (index: the
    window's first input element) and is replaced when v > max or isnan(v). Padding is
    skipped (never a value).
    """
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    (kH, kW), (sH, sW), (dH, dW), ((t, _), (l, _)), Ho, Wo = _pool_geometry(
        x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    best = np.full((N, C, Ho, Wo), -np.inf)
    index = np.full((N, C, Ho, Wo), -1, dtype=np.int64)
    seen = np.zeros((Ho, Wo), dtype=bool)
    oy, ox = np.arange(Ho)[:, None], np.arange(Wo)[None, :]
    for i in range(kH):
        for j in range(kW):
            ih = oy * sH - t + i * dH  # (Ho, 1) input row of this tap
            iw = ox * sW - l + j * dW  # (1, Wo)
            inside = (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)  # (Ho, Wo)
            seen |= inside
            v = x[:, :, np.clip(ih, 0, H - 1), np.clip(iw, 0, W - 1)]  # (N, C, Ho, Wo)
            tap_index = np.broadcast_to(ih * W + iw, (Ho, Wo))
            # ATen starts each window's index at its first input element (kept if all -inf)
            index = np.where(inside & (index < 0), tap_index, index)
            update = inside & ((v > best) | np.isnan(v))
            best = np.where(update, v, best)
            index = np.where(update, tap_index, index)
    if not seen.all():
        raise ValueError("a pooling window contains no input element")
    return best, index


def max_pool2d_backward(grad_output, indices, input_shape):
    """Scatter-add grad_output[n,c,o] to grad_input[n,c].flat[indices[n,c,o]]."""
    go = np.asarray(grad_output, dtype=np.float64)
    idx = np.asarray(indices)
    N, C, H, W = input_shape
    gi = np.zeros((N * C, H * W))
    plane = np.broadcast_to(np.arange(N * C)[:, None], (N * C, idx[0, 0].size))
    np.add.at(gi, (plane, idx.reshape(N * C, -1)), go.reshape(N * C, -1))
    return gi.reshape(N, C, H, W)


def _avg_windows(shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                 divisor_override=None):
    """Yield (oy, ox, row slice, col slice, divisor) for every average-pooling window.

    A `divisor_override` (a positive int) replaces every window's divisor, as in torch.
    """
    H, W = shape[2], shape[3]
    (kH, kW), (sH, sW), _, ((t, b), (l, r)), Ho, Wo = _pool_geometry(
        shape, kernel_size, stride, padding, 1, ceil_mode)
    for oy in range(Ho):
        h0 = oy * sH - t
        h1 = min(h0 + kH, H + b)
        for ox in range(Wo):
            w0 = ox * sW - l
            w1 = min(w0 + kW, W + r)
            pool = (h1 - h0) * (w1 - w0)
            ch0, ch1, cw0, cw1 = max(h0, 0), min(h1, H), max(w0, 0), min(w1, W)
            count = max(ch1 - ch0, 0) * max(cw1 - cw0, 0)
            divisor = pool if count_include_pad else count
            if divisor_override is not None:
                divisor = int(divisor_override)
            yield oy, ox, slice(ch0, max(ch1, ch0)), slice(cw0, max(cw1, cw0)), divisor


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """ATen average pooling (see api.md for the divisor rule)."""
    x = np.asarray(x, dtype=np.float64)
    N, C = x.shape[:2]
    _, _, _, _, Ho, Wo = _pool_geometry(x.shape, kernel_size, stride, padding, 1, ceil_mode)
    out = np.zeros((N, C, Ho, Wo))
    for oy, ox, rs, cs, divisor in _avg_windows(x.shape, kernel_size, stride, padding,
                                                ceil_mode, count_include_pad,
                                                divisor_override):
        if divisor > 0:
            out[:, :, oy, ox] = x[:, :, rs, cs].sum(axis=(2, 3)) / divisor
    return out


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None):
    """Each window spreads grad_output / divisor uniformly over its clamped input part."""
    go = np.asarray(grad_output, dtype=np.float64)
    gi = np.zeros(tuple(input_shape))
    for oy, ox, rs, cs, divisor in _avg_windows(input_shape, kernel_size, stride, padding,
                                                ceil_mode, count_include_pad,
                                                divisor_override):
        if divisor > 0:
            gi[:, :, rs, cs] += (go[:, :, oy, ox] / divisor)[:, :, None, None]
    return gi


def _pool1d_args(L, kernel_size, stride, padding, dilation=1):
    k = as_tuple(kernel_size, 1)[0]
    s = k if stride is None else as_tuple(stride, 1)[0]
    d = as_tuple(dilation, 1)[0]
    return (1, k), (1, s), _to_2d_padding(padding, L, k, s, d), (1, d)


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    x = np.asarray(x)
    k, s, p, d = _pool1d_args(x.shape[2], kernel_size, stride, padding, dilation)
    out, idx = max_pool2d(x[:, :, None], k, s, p, d, ceil_mode)
    return out[:, :, 0], idx[:, :, 0]  # H == 1, so plane offsets are offsets within L


def max_pool1d_backward(grad_output, indices, input_shape):
    N, C, L = input_shape
    gi = max_pool2d_backward(np.asarray(grad_output)[:, :, None], np.asarray(indices)[:, :, None],
                             (N, C, 1, L))
    return gi[:, :, 0]


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    x = np.asarray(x)
    k, s, p, _ = _pool1d_args(x.shape[2], kernel_size, stride, padding)
    return avg_pool2d(x[:, :, None], k, s, p, ceil_mode, count_include_pad,
                      divisor_override)[:, :, 0]


def avg_pool1d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None):
    N, C, L = input_shape
    k, s, p, _ = _pool1d_args(L, kernel_size, stride, padding)
    gi = avg_pool2d_backward(np.asarray(grad_output)[:, :, None], (N, C, 1, L), k, s, p,
                             ceil_mode, count_include_pad, divisor_override)
    return gi[:, :, 0]


# --------------------------------------------------------------------------------------------
# 3-D ops: written once for any number of spatial dims (nd = x.ndim - 2), tap by tap
# --------------------------------------------------------------------------------------------
#
# Independent of the 2-D code above (which stays as it is): the spatial axes are addressed
# with strided slices, xpad[..., i*d : i*d + s*(out-1) + 1 : s] being the padded-input
# positions o*s + i*d of all outputs o for tap i along one axis.


_SPATIAL = "xyz"  # einsum letters of the spatial axes


def _padn(x, pads, value=0.0):
    return np.pad(x, ((0, 0), (0, 0)) + tuple(tuple(p) for p in pads), constant_values=value)


def _tap_slices(tap, out_sizes, s, d):
    """Index (.., .., slice per spatial axis) of the padded positions o*s + tap*d."""
    return (slice(None), slice(None)) + tuple(
        slice(i * dd, i * dd + ss * (o - 1) + 1, ss)
        for i, o, ss, dd in zip(tap, out_sizes, s, d))


def _all_taps(kernel):
    return itertools.product(*(range(k) for k in kernel))


def _flip_spatial(w):
    nd = w.ndim - 2
    return w[(slice(None), slice(None)) + (slice(None, None, -1),) * nd]


def _conv_geometry(x_shape, w_shape, stride, padding, dilation):
    nd = len(x_shape) - 2
    sizes, k = tuple(x_shape[2:]), tuple(w_shape[2:])
    s, d = as_tuple(stride, nd), as_tuple(dilation, nd)
    pads = resolve_padding(padding, sizes, k, s, d)
    out = tuple(output_size(i, kk, ss, pb, pa, dd)
                for i, kk, ss, (pb, pa), dd in zip(sizes, k, s, pads, d))
    return k, s, d, pads, out


def convnd(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, flip=False):
    """out[n,o,*y] = bias[o] + sum_{c,*i} w[o,c,*i] * xpad[n, g*Cg+c, *(y*s + i*d)]."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    if flip:
        w = _flip_spatial(w)
    N, C = x.shape[:2]
    O, Cg = w.shape[:2]
    assert C == Cg * groups and O % groups == 0, (x.shape, w.shape, groups)
    Og = O // groups
    k, s, d, pads, out_sizes = _conv_geometry(x.shape, w.shape, stride, padding, dilation)
    xp = _padn(x, pads)
    out = np.zeros((N, O) + out_sizes)
    sp = _SPATIAL[:len(k)]
    for g in range(groups):
        cs, os_ = slice(g * Cg, (g + 1) * Cg), slice(g * Og, (g + 1) * Og)
        for tap in _all_taps(k):
            patch = xp[_tap_slices(tap, out_sizes, s, d)][:, cs]  # (N, Cg, *out)
            out[:, os_] += np.einsum(f"nc{sp},oc->no{sp}", patch, w[(os_, slice(None)) + tap])
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64).reshape((1, O) + (1,) * len(k))
    return out


def convnd_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1,
                    flip=False):
    """(grad_input, grad_weight, grad_bias) of convnd, each written from the sum directly."""
    go = np.asarray(grad_output, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    if flip:
        w = _flip_spatial(w)
    N, C = x.shape[:2]
    O, Cg = w.shape[:2]
    Og = O // groups
    k, s, d, pads, out_sizes = _conv_geometry(x.shape, w.shape, stride, padding, dilation)
    assert go.shape == (N, O) + out_sizes, (go.shape, (N, O) + out_sizes)
    xp = _padn(x, pads)
    gxp = np.zeros_like(xp)
    gw = np.zeros_like(w)
    sp = _SPATIAL[:len(k)]
    for g in range(groups):
        cs, os_ = slice(g * Cg, (g + 1) * Cg), slice(g * Og, (g + 1) * Og)
        for tap in _all_taps(k):
            where = _tap_slices(tap, out_sizes, s, d)
            # one tap's positions are distinct, so += through the slice is a true scatter-add
            view = gxp[where]
            view[:, cs] += np.einsum(f"no{sp},oc->nc{sp}", go[:, os_],
                                     w[(os_, slice(None)) + tap])
            gw[(os_, slice(None)) + tap] = np.einsum(f"no{sp},nc{sp}->oc", go[:, os_],
                                                     xp[where][:, cs])
    crop = (slice(None), slice(None)) + tuple(slice(pb, pb + i)
                                              for (pb, _), i in zip(pads, x.shape[2:]))
    grad_input = gxp[crop].copy()
    if flip:
        gw = _flip_spatial(gw)
    grad_bias = go.sum(axis=(0,) + tuple(range(2, go.ndim)))
    return grad_input, np.ascontiguousarray(gw), grad_bias


def conv_transposend(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Scatter form: x[n,ci,*h] * w[ci,co,*i] is added at full[n, g*Cog+co, *(h*s + i*d)].

    `full` has (H-1)*s + d*(k-1) + 1 + output_padding positions per axis; the output is full
    cropped by the padding: out[.., *y] = full[.., *(y + pad_before)] for y < out size.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    N, Cin = x.shape[:2]
    sizes = tuple(x.shape[2:])
    nd = len(sizes)
    Cin_w, Cog = w.shape[:2]
    k = tuple(w.shape[2:])
    assert Cin == Cin_w and Cin % groups == 0, (x.shape, w.shape, groups)
    Cig = Cin // groups
    s, d = as_tuple(stride, nd), as_tuple(dilation, nd)
    op = as_tuple(output_padding, nd)
    pads = resolve_padding(padding, sizes, k, s, d)
    full_sizes = tuple((i - 1) * ss + dd * (kk - 1) + 1 + oo
                       for i, ss, dd, kk, oo in zip(sizes, s, d, k, op))
    out_sizes = tuple(f - pb - pa for f, (pb, pa) in zip(full_sizes, pads))
    assert min(out_sizes) >= 1, out_sizes
    full = np.zeros((N, Cog * groups) + full_sizes)
    sp = _SPATIAL[:nd]
    for g in range(groups):
        cis, cos = slice(g * Cig, (g + 1) * Cig), slice(g * Cog, (g + 1) * Cog)
        for tap in _all_taps(k):
            view = full[_tap_slices(tap, sizes, s, d)]
            view[:, cos] += np.einsum(f"nc{sp},co->no{sp}", x[:, cis],
                                      w[(cis, slice(None)) + tap])
    crop = (slice(None), slice(None)) + tuple(slice(pb, pb + o)
                                              for (pb, _), o in zip(pads, out_sizes))
    out = full[crop].copy()
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64).reshape((1, -1) + (1,) * nd)
    return out


def _pool_geometry_nd(shape, kernel_size, stride, padding, dilation, ceil_mode):
    sizes = tuple(shape[2:])
    nd = len(sizes)
    k = as_tuple(kernel_size, nd)
    s = k if stride is None else as_tuple(stride, nd)
    d = as_tuple(dilation, nd)
    pads = resolve_padding(padding, sizes, k, s, d)
    out = tuple(output_size(i, kk, ss, pb, pa, dd, ceil_mode)
                for i, kk, ss, (pb, pa), dd in zip(sizes, k, s, pads, d))
    return sizes, k, s, d, pads, out


def max_poolnd(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """(out, indices) with ATen semantics; ValueError for a window with no input element.

    Taps are visited in row-major window order; the running max starts at -inf (index: the
    window's first input element) and is replaced when v > max or isnan(v); padding is never
    a value. Indices are row-major offsets within each input volume (D*H*W for 3-D).
    """
    x = np.asarray(x, dtype=np.float64)
    N, C = x.shape[:2]
    sizes, k, s, d, pads, out_sizes = _pool_geometry_nd(x.shape, kernel_size, stride, padding,
                                                        dilation, ceil_mode)
    nd = len(sizes)
    best = np.full((N, C) + out_sizes, -np.inf)
    index = np.full((N, C) + out_sizes, -1, dtype=np.int64)
    seen = np.zeros(out_sizes, dtype=bool)
    for tap in _all_taps(k):
        pos, inside = [], np.ones(out_sizes, dtype=bool)
        for a in range(nd):  # input coordinate of this tap along axis a, shaped to broadcast
            shape = [1] * nd
            shape[a] = out_sizes[a]
            p = (np.arange(out_sizes[a]) * s[a] - pads[a][0] + tap[a] * d[a]).reshape(shape)
            inside = inside & (p >= 0) & (p < sizes[a])
            pos.append(p)
        seen |= inside
        v = x[(slice(None), slice(None)) + tuple(np.clip(p, 0, n - 1)
                                                 for p, n in zip(pos, sizes))]
        flat = np.zeros(out_sizes, dtype=np.int64)
        for p, n in zip(pos, sizes):  # row-major offset: ((i0 * n1) + i1) * n2 + i2
            flat = flat * n + p
        index = np.where(inside & (index < 0), flat, index)
        update = inside & ((v > best) | np.isnan(v))
        best = np.where(update, v, best)
        index = np.where(update, flat, index)
    if not seen.all():
        raise ValueError("a pooling window contains no input element")
    return best, index


def max_poolnd_backward(grad_output, indices, input_shape):
    """Scatter-add grad_output[n,c,*o] to grad_input[n,c].flat[indices[n,c,*o]]."""
    go = np.asarray(grad_output, dtype=np.float64)
    idx = np.asarray(indices)
    N, C = input_shape[:2]
    volume = int(np.prod(input_shape[2:]))
    assert idx.shape == go.shape and ((idx >= 0) & (idx < volume)).all()
    gi = np.zeros((N * C, volume))
    plane = np.broadcast_to(np.arange(N * C)[:, None], (N * C, int(np.prod(idx.shape[2:]))))
    np.add.at(gi, (plane, idx.reshape(N * C, -1)), go.reshape(N * C, -1))
    return gi.reshape(tuple(input_shape))


def _avg_windows_nd(shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                    divisor_override):
    """Yield (output position, clamped window index, divisor) for every window (ATen rule)."""
    sizes, k, s, _, pads, out_sizes = _pool_geometry_nd(shape, kernel_size, stride, padding, 1,
                                                        ceil_mode)
    for o in itertools.product(*(range(n) for n in out_sizes)):
        pool, count, window = 1, 1, [slice(None), slice(None)]
        for oo, kk, ss, (pb, pa), n in zip(o, k, s, pads, sizes):
            start = oo * ss - pb
            end = min(start + kk, n + pa)
            pool *= end - start
            lo, hi = max(start, 0), min(end, n)
            count *= max(hi - lo, 0)
            window.append(slice(lo, max(hi, lo)))
        divisor = pool if count_include_pad else count
        if divisor_override is not None:
            divisor = int(divisor_override)
        yield o, tuple(window), divisor


def avg_poolnd(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """ATen average pooling: each window's clamped sum over its divisor (api.md rule)."""
    x = np.asarray(x, dtype=np.float64)
    *_, out_sizes = _pool_geometry_nd(x.shape, kernel_size, stride, padding, 1, ceil_mode)
    out = np.zeros(x.shape[:2] + out_sizes)
    nd = x.ndim - 2
    for o, window, divisor in _avg_windows_nd(x.shape, kernel_size, stride, padding,
                                              ceil_mode, count_include_pad, divisor_override):
        if divisor > 0:
            out[(slice(None), slice(None)) + o] = x[window].sum(
                axis=tuple(range(2, 2 + nd))) / divisor
    return out


def avg_poolnd_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None):
    """Each window spreads grad_output / divisor uniformly over its clamped input part."""
    go = np.asarray(grad_output, dtype=np.float64)
    gi = np.zeros(tuple(input_shape))
    nd = len(input_shape) - 2
    for o, window, divisor in _avg_windows_nd(tuple(input_shape), kernel_size, stride, padding,
                                              ceil_mode, count_include_pad, divisor_override):
        if divisor > 0:
            g = go[(slice(None), slice(None)) + o] / divisor
            gi[window] += g.reshape(g.shape + (1,) * nd)
    return gi


def _check_nd(a, nd, name):
    assert np.ndim(a) == nd + 2, f"{name} must have {nd + 2} dims, got shape {np.shape(a)}"


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, flip=False):
    _check_nd(x, 3, "x")
    return convnd(x, weight, bias, stride, padding, dilation, groups, flip)


def conv3d_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1,
                    flip=False):
    _check_nd(x, 3, "x")
    return convnd_backward(grad_output, x, weight, stride, padding, dilation, groups, flip)


def conv_transpose3d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    _check_nd(x, 3, "x")
    return conv_transposend(x, weight, bias, stride, padding, output_padding, groups, dilation)


def max_pool3d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """(out, indices); indices are offsets within each D*H*W volume."""
    _check_nd(x, 3, "x")
    return max_poolnd(x, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool3d_backward(grad_output, indices, input_shape):
    assert len(input_shape) == 5, input_shape
    return max_poolnd_backward(grad_output, indices, input_shape)


def avg_pool3d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    _check_nd(x, 3, "x")
    return avg_poolnd(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                      divisor_override)


def avg_pool3d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None):
    assert len(input_shape) == 5, input_shape
    return avg_poolnd_backward(grad_output, input_shape, kernel_size, stride, padding,
                               ceil_mode, count_include_pad, divisor_override)


def pool_padding_ok(pads, kernel, dilation=1, kind="max"):
    """api.md limit: each side <= (d*(k-1)+1)//2 (max) or <= k//2 (avg)."""
    nd = len(pads)
    kernel, dilation = as_tuple(kernel, nd), as_tuple(dilation, nd)
    for (before, after), k, d in zip(pads, kernel, dilation):
        limit = (d * (k - 1) + 1) // 2 if kind == "max" else k // 2
        if before > limit or after > limit:
            return False
    return True


def naive_dot(a, b):
    """<a, b> accumulated in long double."""
    return float(np.sum(np.asarray(a, np.longdouble) * np.asarray(b, np.longdouble)))

