"""Shape and workspace arithmetic near 2**31 and 2**63 elements, without allocating them.

Contract (docs/api.md, "Errors"): a result or workspace that cannot exist raises
``MemoryError`` (or ``ValueError`` for absurd sizes) before anything is allocated -- never a
crash, a hang, or a result whose size wrapped around in 32 or 64 bits.  Huge inputs are
zero-strided views of a single element (``np.broadcast_to``), so they cost no memory.

Every case runs in a child interpreter (tests/isolated.py), so a crash or a hang fails its
own case only.  The child caps its address space at 2 GB above what it uses at start
(``RLIMIT_AS``), so a request that is representable but larger than that -- say the 16 GB of a
2**31-element float64 result -- fails with MemoryError instead of paging the machine to death;
such cases accept MemoryError *or* the right answer.  Under AddressSanitizer (which reserves
terabytes of shadow memory, so no address-space cap) the same job is done by ASan's
``max_allocation_size_mb``, which .ci/sanitize sets; without it those cases are skipped.

test_errors.py's ABSURD table covers huge single parameters (2**40 ... 2**70); this file
covers element counts at the 32-bit and 64-bit boundaries, and huge kernels that fit because
of equally huge padding (which once made the pooling kernels loop over every one of their
2**40 taps: a hang).
"""
import os

import numpy as np
import pytest

import fastconv as fc
import isolated
import reference as ref

CAP_BYTES = 2 * 2**30


def _under_asan():
    try:
        with open("/proc/self/maps") as f:
            return "libasan" in f.read()
    except OSError:
        return "asan" in os.environ.get("LD_PRELOAD", "")


def _cap_memory():
    """Child side: at most CAP_BYTES more address space (not under ASan)."""
    import resource
    if _under_asan():
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        return  # already capped (an earlier case in this child)
    with open("/proc/self/statm") as f:
        used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_AS, (used + CAP_BYTES, hard))


def _zs(*shape, value=1.0, dtype=np.float64):
    """A zero-strided (broadcast) array of `shape`: no memory, whatever its size."""
    return np.broadcast_to(np.asarray(value, dtype), shape)


def _must_raise(call):
    def run():
        _cap_memory()
        out = call()
        shapes = [getattr(o, "shape", o) for o in (out if isinstance(out, tuple) else (out,))]
        raise AssertionError(f"returned {shapes} instead of raising")
    return run


def _raise_or_equal(call, expected):
    """Representable: MemoryError/ValueError is fine, and so is exactly the right answer."""
    def run():
        _cap_memory()
        out = call()
        exp = expected()
        out = out if isinstance(out, tuple) else (out,)
        exp = exp if isinstance(exp, tuple) else (exp,)
        assert len(out) == len(exp), (len(out), len(exp))
        for o, e in zip(out, exp):
            assert isinstance(o, np.ndarray) and o.shape == e.shape, (
                f"shape {getattr(o, 'shape', o)} != {e.shape}")
            np.testing.assert_allclose(o, e, rtol=1e-12, atol=0)
        return "returned the correct result"
    return run


_X1 = np.ones((1, 1, 1, 1))
_X33 = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
_W1 = np.full((1, 1, 1, 1), 2.0)
B31 = 2**31

# each value: (runner, needs a memory cap: True when a representable size is requested)
CASES = {
    # ---- element counts at 2**31 (would wrap a 32-bit int): MemoryError under the cap, or
    # the exact answer where memory allows
    "conv2d-N-2**31": (_raise_or_equal(lambda: fc.conv2d(_zs(B31, 1, 1, 1), _W1),
                                       lambda: np.full((B31, 1, 1, 1), 2.0)), True),
    "conv2d-N-2**31-1": (_raise_or_equal(lambda: fc.conv2d(_zs(B31 - 1, 1, 1, 1), _W1),
                                         lambda: np.full((B31 - 1, 1, 1, 1), 2.0)), True),
    "conv2d-C-2**31-reduced-to-one": (_raise_or_equal(
        lambda: fc.conv2d(_zs(1, B31, 1, 1), _zs(1, B31, 1, 1)),
        lambda: np.full((1, 1, 1, 1), float(B31))), True),
    "conv1d-padding-2**30": (_raise_or_equal(
        lambda: fc.conv1d(_X1[:, :, 0], _W1[:, :, 0], padding=2**30),
        lambda: np.where(np.arange(B31 + 1) == 2**30, 2.0, 0.0)[None, None]), True),
    "conv2d_backward-x-2**31": (_raise_or_equal(
        lambda: fc.conv2d_backward(_zs(1, 1, 1, 1), _zs(1, 1, B31, 1), _W1, stride=(B31, 1)),
        lambda: (np.where(np.arange(B31) == 0, 2.0, 0.0).reshape(1, 1, B31, 1),
                 np.ones((1, 1, 1, 1)), np.ones(1))), True),
    "conv_transpose1d-out-2**31": (_raise_or_equal(
        lambda: fc.conv_transpose1d(np.ones((1, 1, 2)), _W1[:, :, 0], stride=B31 - 1),
        lambda: np.where(np.isin(np.arange(B31), [0, B31 - 1]), 2.0, 0.0)[None, None]), True),
    "conv_transpose2d-out-2**31": (_must_raise(
        lambda: fc.conv_transpose2d(np.ones((1, 1, 2, 2)), _W1, stride=(B31, 1))), True),
    "im2col-rows-2**31": (_must_raise(lambda: fc.im2col(_zs(1, B31, 1, 1), 1)), True),
    "im2col-kernel-taps-2**31": (_must_raise(
        lambda: fc.im2col(_X1, (2**16, 2**15), padding="same")), True),
    "col2im-columns-2**31": (_must_raise(
        lambda: fc.col2im(_zs(1, 1, B31), (1, B31), 1)), True),
    "col2im-rows-2**31": (_must_raise(
        lambda: fc.col2im(_zs(1, B31, 1), (B31, 1), (B31, 1))), True),
    "max_pool2d-kernel-2**31-taps": (_must_raise(
        lambda: fc.max_pool2d(_X1, (2**16, 2**15), stride=1, padding="same")), False),
    "max_pool2d_backward-plane-2**31": (_must_raise(
        lambda: fc.max_pool2d_backward(_X1, np.array([[[[B31 - 1]]]]), (1, 1, 2**16, 2**15))),
        True),
    "avg_pool2d_backward-input-2**31": (_must_raise(
        lambda: fc.avg_pool2d_backward(_zs(1, 1, B31, 1), (1, 1, B31, 1), 1)), True),
    # ---- element counts at 2**63 (would wrap a 64-bit int): refused before allocating
    "conv2d-output-2**63": (_must_raise(
        lambda: fc.conv2d(_zs(2**32, 1, 1, 1), _zs(B31, 1, 1, 1))), False),
    "conv2d-output-2**63-minus-1": (_must_raise(
        lambda: fc.conv2d(_zs(2**32 - 1, 1, 1, 1), _zs(B31 + 1, 1, 1, 1))), False),
    "conv2d-output-2**64": (_must_raise(
        lambda: fc.conv2d(_zs(2**32, 1, 1, 1), _zs(2**32, 1, 1, 1))), False),
    "conv2d_backward-grad_input-2**62-elements": (_must_raise(
        lambda: fc.conv2d_backward(_zs(2**62, 1, 1, 1), _zs(2**62, 1, 1, 1), _W1)), False),
    "conv1d-L-2**62": (_must_raise(lambda: fc.conv1d(_zs(1, 1, 2**62), _W1[:, :, 0])), False),
    "conv_transpose2d-output-2**65": (_must_raise(
        lambda: fc.conv_transpose2d(_zs(B31, 1, 2, 2), _zs(1, 2**32, 1, 1))), False),
    "im2col-output-2**64": (_must_raise(
        lambda: fc.im2col(_zs(B31, B31, 1, 1), 2, padding="same")), False),
    "max_pool1d-input-2**62": (_must_raise(
        lambda: fc.max_pool1d(_zs(1, 1, 2**62), 2**40, padding=2**39)), False),
    "max_pool2d_backward-input_shape-2**63": (_must_raise(
        lambda: fc.max_pool2d_backward(_X1, np.zeros((1, 1, 1, 1), np.int64),
                                       (1, 1, 2**32, B31))), False),
    "max_pool2d_backward-input_shape-2**63-1": (_must_raise(
        lambda: fc.max_pool2d_backward(_X1, np.zeros((1, 1, 1, 1), np.int64),
                                       (1, 1, 2**63 - 1, 1))), False),
    "max_pool1d_backward-input_shape-2**64": (_must_raise(
        lambda: fc.max_pool1d_backward(_X1[:, :, 0], np.zeros((1, 1, 1), np.int64),
                                       (1, 1, 2**64))), False),
    "avg_pool2d_backward-input_shape-2**63": (_must_raise(
        lambda: fc.avg_pool2d_backward(_X1, (1, 1, 2**63, 1), 2**40)), False),
    "col2im-empty-channels-output-2**63": (_raise_or_equal(
        lambda: fc.col2im(np.ones((1, 0, 1)), (2**32, B31), (2**32, B31)),
        lambda: np.zeros((1, 0, 2**32, B31))), False),
    # ---- huge kernels made to fit by huge padding: few taps reach the input (regression:
    # the pooling kernels looped over all 2**40 taps of each window) and the average's
    # divisor kh*kw = 2**80 overflows an int64 (regression: it gave inf)
    "avg_pool2d-kernel-2**40-same": (_raise_or_equal(
        lambda: fc.avg_pool2d(_X33, 2**40, stride=1, padding="same"),
        lambda: ref.avg_pool2d(_X33, 2**40, 1, "same")), False),
    "avg_pool2d-kernel-2**40-same-no-pad-count": (_raise_or_equal(
        lambda: fc.avg_pool2d(_X33, 2**40, stride=1, padding="same", count_include_pad=False),
        lambda: ref.avg_pool2d(_X33, 2**40, 1, "same", count_include_pad=False)), False),
    "avg_pool2d_backward-kernel-2**40-same": (_raise_or_equal(
        lambda: fc.avg_pool2d_backward(_X33, (1, 1, 3, 3), 2**40, stride=1, padding="same"),
        lambda: ref.avg_pool2d_backward(_X33, (1, 1, 3, 3), 2**40, 1, "same")), False),
    "avg_pool1d-kernel-2**40-padding-2**39": (_raise_or_equal(
        lambda: fc.avg_pool1d(_X33[:, :, 0], 2**40, stride=1, padding=2**39),
        lambda: ref.avg_pool1d(_X33[:, :, 0], 2**40, 1, 2**39)), False),
    "avg_pool1d_backward-kernel-2**40-padding-2**39": (_raise_or_equal(
        lambda: fc.avg_pool1d_backward(np.ones((1, 1, 3)), (1, 1, 3), 2**40, stride=1,
                                       padding=2**39, count_include_pad=False),
        lambda: ref.avg_pool1d_backward(np.ones((1, 1, 3)), (1, 1, 3), 2**40, 1, 2**39,
                                        count_include_pad=False)), False),
    "max_pool1d-kernel-2**31-1-same": (_raise_or_equal(
        lambda: fc.max_pool1d(_X33[:, :, 0], B31 - 1, stride=1, padding="same",
                              return_indices=True),
        # (the reference loops over taps: every window covers the whole row [1, 2, 3])
        lambda: (np.full((1, 1, 3), 3.0), np.full((1, 1, 3), 2))), False),
    "max_pool2d-kernel-2**15-squared-same": (_raise_or_equal(
        lambda: fc.max_pool2d(_X33, 2**15, stride=1, padding="same", return_indices=True),
        lambda: (np.full((1, 1, 3, 3), 9.0), np.full((1, 1, 3, 3), 8))), False),
}
RUNNERS = {name: run for name, (run, _) in CASES.items()}


def _asan_without_allocation_limit():
    return _under_asan() and "max_allocation_size_mb" not in os.environ.get("ASAN_OPTIONS", "")


@pytest.fixture(scope="module")
def results():
    ids = [n for n, (_, capped) in CASES.items()
           if not (capped and _asan_without_allocation_limit())]
    return isolated.run_isolated(__file__, "RUNNERS", ids, timeout=120)


@pytest.mark.parametrize("case_id", list(CASES))
def test_huge_sizes_raise_or_are_exact(case_id, results):
    if case_id not in results:
        pytest.skip("needs ASAN_OPTIONS=max_allocation_size_mb=... under AddressSanitizer")
    r = results[case_id]
    assert "crash" not in r, (
        f"the interpreter died or hung in {case_id} (exit status {r['crash']}):\n{r['stderr']}")
    if r["exc"] is None:  # only _raise_or_equal cases return
        return
    assert {"ValueError", "MemoryError"} & set(r["builtin_bases"]), (
        f"{case_id}: raised {r['module']}.{r['exc']}: {r['msg']}")
