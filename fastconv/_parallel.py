"""Thread count and per-thread workspaces.

Kernels run OpenMP ``prange`` loops with an explicit ``num_threads``.  The
default is OpenMP's own (``omp_get_max_threads()``), read at every call, so
``OMP_NUM_THREADS`` and threadpoolctl's ``threadpool_limits`` are honoured;
``set_num_threads`` overrides it process-wide and the ``num_threads=``
keyword per call.  fastconv calls no BLAS, so OpenMP threads never multiply
with BLAS threads.
"""
import operator
import os
import threading

import numpy as np

from ._kernels import _threads

_override = None
_forked_child = False
MAX_THREADS = 4096

# Problems smaller than this many multiply-adds run on one thread: starting a
# parallel region costs more than it saves.  Shape-based only, so results do
# not change (kernels are deterministic for any thread count anyway).
SERIAL_WORK = 1 << 16


def openmp_enabled():
    """Tell whether the compiled kernels were built with OpenMP.

    Returns
    -------
    bool
        ``True`` when ``prange`` loops run in parallel; ``False`` for the
        serial build (compilers without OpenMP, or ``FASTCONV_NO_OPENMP=1``).

    See Also
    --------
    get_num_threads : The default thread count.

    Examples
    --------
    >>> import fastconv
    >>> fastconv.openmp_enabled() in (True, False)
    True
    """
    return _threads.openmp_enabled()


def _check_threads(name, n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"`{name}` must be a positive int or None, got {n!r}")
    n = operator.index(n)
    if n < 1 or n > MAX_THREADS:
        raise ValueError(f"`{name}` must be a positive int (at most {MAX_THREADS}) or None, got {n}")
    return n


def get_num_threads():
    """Return the number of threads fastconv ops use when ``num_threads`` is not given.

    Problems too small to gain from threads run on one thread whatever this says,
    and so does every op in a process started by ``fork()``.

    Returns
    -------
    int
        The value set by :func:`set_num_threads`, else OpenMP's default
        (which honours ``OMP_NUM_THREADS`` and threadpoolctl limits; 1 for a
        serial build, where every op runs on one thread whatever this says).

    See Also
    --------
    set_num_threads : Change it.

    Examples
    --------
    >>> import fastconv
    >>> fastconv.get_num_threads() >= 1
    True
    """
    if _override is not None:
        return _override
    return max(1, int(_threads.omp_max_threads()))


def set_num_threads(n):
    """Set the default number of threads for every fastconv op.

    Results are bitwise identical for any thread count; only speed changes. The
    ``num_threads`` keyword of each op overrides this for one call.

    Parameters
    ----------
    n : int or None
        A thread count from 1 to 4096, or ``None`` to go back to OpenMP's default.

    Raises
    ------
    TypeError
        ``n`` is not an int or None (a bool or a float, say).
    ValueError
        ``n`` is smaller than 1 or larger than 4096.

    See Also
    --------
    get_num_threads : Read it.

    Examples
    --------
    >>> import fastconv
    >>> fastconv.set_num_threads(2)
    >>> fastconv.get_num_threads()
    2
    >>> fastconv.set_num_threads(None)    # back to OpenMP's default
    """
    global _override
    _override = None if n is None else _check_threads("n", n)


# Passed as ``num_threads`` by fastconv.plan (which validated the caller's count): the op
# returns its plan instead of running it.  (An identity test: free on the hot path.)
PLAN_ONLY = object()


def check_num_threads(num_threads):
    """Validate a ``num_threads=`` keyword up front: a call with an empty result never
    gets to :func:`resolve_threads`, and must reject a bad count all the same."""
    if num_threads is not None and num_threads is not PLAN_ONLY:
        _check_threads("num_threads", num_threads)


def resolve_threads(num_threads, work=None):
    """The thread count for one call.

    An explicit ``num_threads`` is used as given; the default
    (:func:`get_num_threads`) drops to 1 for problems under ``SERIAL_WORK``.
    Forked children always run on one thread.
    """
    if num_threads is not None:
        n = _check_threads("num_threads", num_threads)
    else:
        n = get_num_threads()
        if work is not None and work < SERIAL_WORK:
            n = 1
    return 1 if _forked_child else n


def _after_fork_in_child():
    # GNU OpenMP's thread pool does not survive fork(): a child that starts a
    # parallel region after its parent ran one waits forever for workers that
    # do not exist.  Forked children (multiprocessing's default on Linux) run
    # every op on one thread; spawned processes are unaffected.
    global _forked_child
    _forked_child = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


_local = threading.local()


def _cached(key, need, dtype):
    """A flat, 64-byte aligned array of at least ``need`` elements of ``dtype``, kept
    per Python thread under ``key`` and reused across calls."""
    need = need if need > 0 else 1
    try:
        buf = _local.buffers[key]
    except (AttributeError, KeyError):
        buf = None
    if buf is None or buf.shape[0] < need:
        itemsize = np.dtype(dtype).itemsize
        raw = np.empty(need * itemsize + 64, dtype=np.uint8)
        start = (-raw.ctypes.data) % 64
        buf = raw[start:start + need * itemsize].view(dtype)
        if not hasattr(_local, "buffers"):
            _local.buffers = {}
        _local.buffers[key] = buf
    return buf


def shared_workspace(n, dtype):
    """Scratch shared by the threads of one kernel call (``n`` elements: the Winograd
    weights, the regions' copies), reused across calls like :func:`workspace`."""
    return _cached(("shared", np.dtype(dtype).str), n, dtype)


def weight_workspace(n, dtype):
    """Scratch for a wrapper's rearranged copy of the weight (the flipped, transposed
    kernel of a grad_input run as a forward convolution), reused across calls like
    :func:`workspace` (fresh pages for a 512-channel 3x3 kernel, 9.4 MB, cost more than
    the copy)."""
    return _cached(("weight", np.dtype(dtype).str), n, dtype)


def workspace(rows, cols, dtype):
    """Scratch memory for ``rows`` threads of ``cols`` elements each (a flat array).

    Kept per Python thread and reused across calls, which avoids first-touch
    page faults on every call.  Its size is bounded by the tile sizes the
    wrappers choose (see ``conv.py``).  The data start on a 64-byte boundary
    (a cache line): with tiles a multiple of 16 elements wide, every tile row
    the GEMM reads is line-aligned.
    """
    return _cached(dtype, rows * cols, dtype)
