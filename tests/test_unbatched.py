"""Unbatched inputs (issue 13 item 6): every op takes ``(C, *spatial)`` data as torch does
and returns results without the batch axis, equal bit for bit to the batched call's
first sample; the backward functions and ``input_shape`` likewise."""
import numpy as np
import pytest

import fastconv as fc
from test_layouts import OPS

RNG = np.random.default_rng(12)
DATA = ("x", "grad_output", "indices", "cols")


def _one_sample(arrays):
    return {k: (v[:1] if k in DATA else v) for k, v in arrays.items()}


def _squeeze(arrays):
    return {k: (v[0] if k in DATA else v) for k, v in arrays.items()}


def _tuple(r):
    return r if isinstance(r, tuple) else (r,)


# (the pooling backward calls of OPS fix input_shape: test_pool_backward_unbatched)
@pytest.mark.parametrize("op", sorted(n for n in OPS if not (
    n.startswith(("max_pool", "avg_pool", "adaptive")) and "backward" in n)))
def test_unbatched_equals_first_sample(op):
    make, call = OPS[op]
    arrays = _one_sample(make(RNG, np.float64))
    batched = _tuple(call(**arrays))
    single = _tuple(call(**_squeeze(arrays)))
    assert len(batched) == len(single)
    data_results = {0} if "backward" in op and op.startswith("conv") else set(range(len(single)))
    for i, (b, s) in enumerate(zip(batched, single)):
        if i in data_results:
            assert s.shape == b.shape[1:], (op, i)
            assert s.tobytes() == b[0].tobytes(), (op, i)
        else:       # grad_weight, grad_bias: unchanged
            assert s.tobytes() == b.tobytes(), (op, i)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_pool_backward_unbatched(nd):
    x = RNG.standard_normal((3,) + (6, 5, 4)[:nd])
    mp, mpb = getattr(fc, f"max_pool{nd}d"), getattr(fc, f"max_pool{nd}d_backward")
    ap, apb = getattr(fc, f"avg_pool{nd}d"), getattr(fc, f"avg_pool{nd}d_backward")
    y, idx = mp(x, 2, return_indices=True)
    yb, idxb = mp(x[None], 2, return_indices=True)
    np.testing.assert_array_equal(idx, idxb[0])
    g = mpb(np.ones_like(y), idx, x.shape)
    assert g.shape == x.shape
    np.testing.assert_array_equal(g, mpb(np.ones_like(yb), idxb, (1,) + x.shape)[0])
    g = apb(ap(x, 2), x.shape, 2)
    np.testing.assert_array_equal(g, apb(ap(x[None], 2), (1,) + x.shape, 2)[0])
    a = getattr(fc, f"adaptive_avg_pool{nd}d_backward")(np.ones((3,) + (2,) * nd), x.shape)
    assert a.shape == x.shape


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_torch_oracle_unbatched(nd):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = RNG.standard_normal((4,) + (9, 8, 6)[:nd])
    w = RNG.standard_normal((6, 2) + (3,) * nd)
    y = getattr(fc, f"conv{nd}d")(x, w, stride=2, padding=1, groups=2)
    ty = getattr(F, f"conv{nd}d")(torch.from_numpy(x), torch.from_numpy(w), stride=2,
                                  padding=1, groups=2)
    np.testing.assert_allclose(y, ty.numpy(), rtol=1e-12, atol=1e-12)
    m = getattr(fc, f"max_pool{nd}d")(x, 2)
    np.testing.assert_array_equal(m, getattr(F, f"max_pool{nd}d")(torch.from_numpy(x), 2).numpy())


def test_channels_last_unbatched_and_col2im():
    x = RNG.standard_normal((7, 6, 3))                      # H x W x C, one image
    w = RNG.standard_normal((3, 3, 3, 5))                   # HWIO
    y = fc.conv2d(x, w, padding=1, data_format="NHWC")
    np.testing.assert_array_equal(y, fc.conv2d(x[None], w, padding=1, data_format="NHWC")[0])
    cols = fc.im2col(x, 3, data_format="NHWC")
    assert cols.shape == (5, 4, 27)
    back = fc.col2im(cols, (7, 6), 3, data_format="NHWC")
    np.testing.assert_array_equal(back, fc.col2im(cols[None], (7, 6), 3,
                                                  data_format="NHWC")[0])
    c2 = fc.im2col(np.moveaxis(x, -1, 0), 3)                # (C*k*k, L)
    assert c2.shape == (27, 20) and fc.col2im(c2, (7, 6), 3).shape == (3, 7, 6)


def test_plan_and_errors_of_unbatched_calls():
    x = RNG.standard_normal((3, 8, 8))
    w = RNG.standard_normal((4, 3, 3, 3))
    assert fc.plan(fc.conv2d, x, w).algorithms == fc.plan(fc.conv2d, x[None], w).algorithms
    with pytest.raises(ValueError, match="`x`"):
        fc.conv2d(RNG.standard_normal((8, 8)), w)           # two fewer: not unbatched
    with pytest.raises(ValueError, match="`x`"):     # a mix runs batched: x is the odd one
        fc.conv2d_backward(RNG.standard_normal((1, 4, 6, 6)), x, w)
    with pytest.raises(ValueError, match="`grad_output`"):
        fc.conv2d_backward(RNG.standard_normal((4, 6, 6)), x[None], w)
