"""Adaptive max and average pooling, forward and backward, every rank, both layouts.

The reference is written here from torch's rule: output o along an axis of input size I
and output size O pools [floor(o*I/O), ceil((o+1)*I/O)), in plain NumPy loops (NaN wins
a max, the first maximum wins ties, a window of only -inf reports its first element).
"""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv
from conftest import assert_close

FMT = {1: ("NCW", "NWC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}


def _fn(kind, nd, backward=False):
    return getattr(fastconv, f"adaptive_{kind}_pool{nd}d" + ("_backward" if backward else ""))


def _windows(size, out):
    return [((o * size) // out, -(-((o + 1) * size) // out)) for o in range(out)]


def ref_forward(kind, x, out):
    """(result float64, indices) of channels-first x."""
    N, C, *sp = x.shape
    wins = [_windows(s, o) for s, o in zip(sp, out)]
    res = np.zeros((N, C) + tuple(out))
    idx = np.zeros((N, C) + tuple(out), np.int64)
    for n, c in itertools.product(range(N), range(C)):
        for o in itertools.product(*(range(k) for k in out)):
            ranges = [range(*wins[j][o[j]]) for j in range(len(sp))]
            cells = list(itertools.product(*ranges))
            if kind == "avg":
                res[(n, c) + o] = sum(float(x[(n, c) + e]) for e in cells) / len(cells)
            else:
                m, best = -math.inf, cells[0]
                for e in cells:
                    val = float(x[(n, c) + e])
                    if val > m or val != val:
                        m, best = val, e
                res[(n, c) + o] = m
                idx[(n, c) + o] = np.ravel_multi_index(best, sp)
    return res, idx


def ref_avg_backward(go, in_shape):
    N, C, *sp = in_shape
    out = go.shape[2:]
    wins = [_windows(s, o) for s, o in zip(sp, out)]
    g = np.zeros(in_shape)
    for n, c in itertools.product(range(N), range(C)):
        for o in itertools.product(*(range(k) for k in out)):
            sl = tuple(slice(*wins[j][o[j]]) for j in range(len(sp)))
            cnt = math.prod(b - a for a, b in (wins[j][o[j]] for j in range(len(sp))))
            g[(n, c) + sl] += go[(n, c) + o] / cnt
    return g


def ref_max_backward(go, idx, in_shape):
    N, C, *sp = in_shape
    g = np.zeros((N, C, math.prod(sp)))
    for n, c in itertools.product(range(N), range(C)):
        np.add.at(g[n, c], idx[n, c].ravel(), go[n, c].ravel())
    return g.reshape(in_shape)


def _last(a):
    return np.moveaxis(a, 1, -1)


@st.composite
def cases(draw):
    nd = draw(st.integers(1, 3))
    sp = tuple(draw(st.integers(1, 9 if nd < 3 else 6)) for _ in range(nd))
    out = tuple(draw(st.integers(1, 2 * s + 1)) for s in sp)
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**31))
    last = draw(st.booleans())
    spec = draw(st.sampled_from(["tuple", "int", "none"])) if len(set(out)) == 1 else "tuple"
    return nd, (N, C) + sp, out, dtype, seed, last, spec


def _output_size(out, spec, sp):
    if spec == "int":
        return out[0]
    if spec == "none":   # None entries where the output keeps the input's size
        return tuple(None if o == s else o for o, s in zip(out, sp))
    return out


@given(cases())
@settings(max_examples=60, deadline=None)
def test_forward_and_backward_match_reference(case):
    nd, shape, out, dtype, seed, last, spec = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    if rng.random() < 0.3:   # ties
        x = np.round(x).astype(dtype)
    size = _output_size(out, spec, shape[2:])
    fmt = FMT[nd][last]
    xin = _last(x) if last else x
    for kind in ("avg", "max"):
        exp, eidx = ref_forward(kind, x, out)
        if kind == "avg":
            got = _fn(kind, nd)(xin, size, data_format=fmt)
        else:
            got, idx = _fn(kind, nd)(xin, size, return_indices=True, data_format=fmt)
            np.testing.assert_array_equal(np.moveaxis(idx, -1, 1) if last else idx, eidx)
        assert got.dtype == dtype and got.flags.c_contiguous
        got_first = np.moveaxis(got, -1, 1) if last else got
        assert got_first.shape == exp.shape
        assert_close(got_first, exp, dtype, np.abs(exp) + 1, err_msg=f"{kind} forward")
        go = rng.standard_normal(exp.shape).astype(dtype)
        goin = np.ascontiguousarray(_last(go)) if last else go
        if kind == "avg":
            g = _fn(kind, nd, True)(goin, xin.shape, data_format=fmt)
            eg = ref_avg_backward(go.astype(np.float64), shape)
            scale = ref_avg_backward(np.abs(go).astype(np.float64), shape)
        else:
            g = _fn(kind, nd, True)(goin, idx, xin.shape, data_format=fmt)
            eg = ref_max_backward(go.astype(np.float64), eidx, shape)
            scale = ref_max_backward(np.abs(go).astype(np.float64), eidx, shape)
        assert g.shape == xin.shape and g.dtype == dtype and g.flags.c_contiguous
        g_first = np.moveaxis(g, -1, 1) if last else g
        assert_close(g_first, eg, dtype, scale, err_msg=f"{kind} backward")


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("last", [False, True])
def test_threads_bitwise_and_noncontiguous(nd, last):
    rng = np.random.default_rng(nd)
    sp = (13, 11, 7)[:nd]
    base = rng.standard_normal((3, 70) + sp).astype(np.float32)
    x = np.moveaxis(base, 1, -1) if last else base[..., ::-1]     # views, not contiguous
    fmt = FMT[nd][last]
    out = (5, 4, 3)[:nd]
    for kind in ("avg", "max"):
        kw = dict(return_indices=True) if kind == "max" else {}
        r = [_fn(kind, nd)(x, out, data_format=fmt, num_threads=t, **kw) for t in (1, 2, 3)]
        r0 = r[0] if kind == "avg" else r[0][0]
        go = rng.standard_normal(r0.shape).astype(np.float32)
        args = (go, r[0][1]) if kind == "max" else (go,)
        b = [_fn(kind, nd, True)(*args, x.shape, data_format=fmt, num_threads=t)
             for t in (1, 2, 3)]
        for t in (1, 2):
            got, first = (r[t], r[0]) if kind == "max" else ((r[t],), (r[0],))
            for u, w in zip(got, first):
                assert u.tobytes() == w.tobytes()
            assert b[t].tobytes() == b[0].tobytes()
        ref = _fn(kind, nd)(np.ascontiguousarray(x), out, data_format=fmt, **kw)
        np.testing.assert_array_equal(r0, ref if kind == "avg" else ref[0])


def test_nan_and_minus_inf_windows():
    x = np.array([[[-np.inf, -np.inf, 1.0, np.nan, 2.0, -np.inf]]])
    out, idx = fastconv.adaptive_max_pool1d(x, 3, return_indices=True)
    assert np.isneginf(out[0, 0, 0]) and idx[0, 0, 0] == 0    # only -inf: first element
    assert np.isnan(out[0, 0, 1]) and idx[0, 0, 1] == 3       # NaN wins
    assert out[0, 0, 2] == 2.0 and idx[0, 0, 2] == 4
    outl, idxl = fastconv.adaptive_max_pool1d(np.moveaxis(x, 1, -1), 3, return_indices=True,
                                              data_format="NWC")
    np.testing.assert_array_equal(np.moveaxis(idxl, -1, 1), idx)


def test_global_pooling_runs_the_reduction():
    x = np.zeros((2, 8, 7, 7), np.float32)
    assert fastconv.plan(fastconv.adaptive_avg_pool2d, x, 1).algorithms == {
        "forward": "avg_pool.forward.reduce"}
    assert fastconv.plan(fastconv.adaptive_avg_pool2d, x, 3).algorithms == {
        "forward": "adaptive_avg_pool.forward.window"}
    assert fastconv.plan(fastconv.adaptive_max_pool2d, x, (7, None)).algorithms["forward"] \
        .startswith("max_pool.")


def test_avg_backward_is_the_adjoint():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 11, 8))
    y = fastconv.adaptive_avg_pool2d(x, (4, 3))
    go = rng.standard_normal(y.shape)
    g = fastconv.adaptive_avg_pool2d_backward(go, x.shape)
    assert np.isclose(np.vdot(y, go), np.vdot(x, g))


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_torch_oracle(nd):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(10 + nd)
    for sp, out in [((17, 9, 6)[:nd], (5, 4, 4)[:nd]), ((8, 8, 8)[:nd], (3, 8, 1)[:nd])]:
        x = rng.standard_normal((2, 4) + sp).astype(np.float32)
        tx = torch.from_numpy(x).requires_grad_()
        ty = getattr(F, f"adaptive_avg_pool{nd}d")(tx, out)
        go = rng.standard_normal(ty.shape).astype(np.float32)
        ty.backward(torch.from_numpy(go))
        np.testing.assert_allclose(_fn("avg", nd)(x, out), ty.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(_fn("avg", nd, True)(go, x.shape), tx.grad.numpy(),
                                   rtol=1e-5, atol=1e-6)
        tx = torch.from_numpy(x).requires_grad_()
        tm, ti = getattr(F, f"adaptive_max_pool{nd}d")(tx, out, return_indices=True)
        tm.backward(torch.from_numpy(go))
        m, i = _fn("max", nd)(x, out, return_indices=True)
        np.testing.assert_array_equal(m, tm.detach().numpy())
        np.testing.assert_array_equal(i, ti.numpy())
        np.testing.assert_allclose(_fn("max", nd, True)(go, i, x.shape), tx.grad.numpy(),
                                   rtol=1e-6, atol=1e-6)
        if nd == 2:   # torch on channels_last tensors, fastconv on NHWC arrays
            txl = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
            ml = fastconv.adaptive_avg_pool2d(np.moveaxis(x, 1, -1), out, data_format="NHWC")
            np.testing.assert_allclose(np.moveaxis(ml, -1, 1),
                                       F.adaptive_avg_pool2d(txl, out).numpy(), rtol=1e-5,
                                       atol=1e-6)


@pytest.mark.parametrize("bad,err,match", [
    (0, ValueError, "`output_size` must be a positive int"),
    ((2, 0), ValueError, "`output_size`"),
    ((2, 2, 2), ValueError, "`output_size` must be an int or a tuple of 2 ints or None"),
    (2.5, TypeError, "`output_size`"),
    ("2", TypeError, "`output_size`"),
])
def test_output_size_errors(bad, err, match):
    with pytest.raises(err, match=match):
        fastconv.adaptive_avg_pool2d(np.zeros((1, 1, 4, 4)), bad)
    with pytest.raises(err, match=match):
        fastconv.adaptive_max_pool2d(np.zeros((1, 1, 4, 4)), bad)


def test_errors():
    x = np.zeros((1, 2, 4, 4))
    with pytest.raises(ValueError, match="data_format"):
        fastconv.adaptive_avg_pool2d(x, 2, data_format="NCW")
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        fastconv.adaptive_avg_pool2d(np.zeros((4, 2)), 2, data_format="NHWC")  # (3-D: unbatched)
    with pytest.raises(ValueError, match="non-empty spatial"):
        fastconv.adaptive_avg_pool2d(np.zeros((1, 2, 0, 4)), 2)
    with pytest.raises(TypeError, match="return_indices"):
        fastconv.adaptive_max_pool2d(x, 2, return_indices=2)
    with pytest.raises(TypeError, match="dtype"):
        fastconv.adaptive_avg_pool2d(x.astype(complex), 2)
    out, idx = fastconv.adaptive_max_pool2d(x, 2, return_indices=True)
    with pytest.raises(ValueError, match="batch and channels"):
        fastconv.adaptive_avg_pool2d_backward(np.zeros((1, 3, 2, 2)), x.shape)
    with pytest.raises(ValueError, match="shape of `grad_output`"):
        fastconv.adaptive_max_pool2d_backward(out, idx[..., :1], x.shape)
    with pytest.raises(ValueError, match=r"outside \[0, 16\)"):
        fastconv.adaptive_max_pool2d_backward(out, idx + 16, x.shape)
    with pytest.raises(TypeError, match="integer"):
        fastconv.adaptive_max_pool2d_backward(out, idx.astype(float), x.shape)
    with pytest.raises(TypeError, match="input_shape"):
        fastconv.adaptive_avg_pool2d_backward(out, (1, 2, 4.0, 4))


def test_plan_and_empty_batch():
    x = np.zeros((0, 3, 5, 5), np.float32)
    assert fastconv.adaptive_avg_pool2d(x, 2).shape == (0, 3, 2, 2)
    g = fastconv.adaptive_avg_pool2d_backward(np.zeros((0, 3, 2, 2)), (0, 3, 5, 5))
    assert g.shape == (0, 3, 5, 5)
    assert "adaptive_avg_pool.forward.window" in repr(
        fastconv.plan(fastconv.adaptive_avg_pool2d, np.zeros((1, 3, 5, 5)), 2))
