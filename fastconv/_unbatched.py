"""Unbatched inputs, as torch: ``(C, *spatial)`` in, no batch axis out (issue 13 item 6).

:func:`unbatched` wraps a public op: when its first data argument has one dimension
fewer than the batched form, a batch axis of length 1 is put in front of every data
argument (a view) and of every shape argument (``input_shape``), the op runs, and the
axis is taken off the data results (views of the results, which stay C-contiguous).
``out=`` buffers have the unbatched shape of their result: those of the results losing
the axis get it (a view, so the kernel writes into the caller's array), and the call
returns the caller's objects.  Anything else -- the plan (``fastconv.plan``), errors --
is the batched op's.
"""
import functools

import numpy as np

from ._parallel import PLAN_ONLY
from ._validation import OutShapeError


def _add_axis(a):
    return np.asarray(a)[None]


def unbatched(fn, batched_ndim, data, shapes=(), results=(0,), is_unbatched=None):
    """Wrap ``fn``.

    data : ((position, name), ...) of the data arguments with a batch axis, the first
        deciding (unbatched when its ndim is ``batched_ndim - 1``, or when
        ``is_unbatched(ndim of first, kwargs)`` says so; every other data argument given
        must then have that ndim too).
    shapes : ((position, name), ...) of shape arguments to prefix with 1.
    results : which results lose the batch axis ("all" for every array result; the
        result itself when it is a single array).
    """
    (pos0, name0) = data[0]

    def ndim(a):
        return a.ndim if type(a) is np.ndarray else np.ndim(a)

    @functools.wraps(fn)
    def op(*args, **kwargs):
        first = args[pos0] if len(args) > pos0 else kwargs.get(name0)
        try:
            nd = ndim(first)
            unb = (is_unbatched(nd, kwargs) if is_unbatched is not None
                   else nd == batched_ndim - 1)
            # every other data argument given must be unbatched too (a mix runs batched,
            # so that the error names the argument with the odd shape)
            for pos, name in data[1:]:
                if not unb:
                    break
                a = args[pos] if len(args) > pos else kwargs.get(name)
                unb = a is None or ndim(a) == batched_ndim - 1
        except Exception:        # not array-like: the op raises its own error
            return fn(*args, **kwargs)
        if not unb:
            return fn(*args, **kwargs)
        args = list(args)
        for pos, name in data:
            if len(args) > pos:
                if args[pos] is not None:
                    args[pos] = _add_axis(args[pos])
            elif kwargs.get(name) is not None:
                kwargs[name] = _add_axis(kwargs[name])
        for pos, name in shapes:
            if len(args) > pos:
                args[pos] = _prefixed(args[pos])
            elif name in kwargs:
                kwargs[name] = _prefixed(kwargs[name])
        given = kwargs.get("out")
        if given is not None:
            kwargs["out"] = _batched_out(given, results)
            try:
                out = fn(*args, **kwargs)
            except OutShapeError as e:   # state the shapes the caller sees, unbatched
                i = 0 if e.name == "out" else int(e.name[4:-1])
                if results == "all" or i in results:
                    raise OutShapeError(e.name, e.shape[1:], e.got[1:]) from None
                raise
        else:
            out = fn(*args, **kwargs)
        if kwargs.get("num_threads") is PLAN_ONLY:
            return out
        if isinstance(out, tuple):
            out = tuple(r[0] if (results == "all" or i in results) and r is not None else r
                        for i, r in enumerate(out))
            if type(given) is tuple:   # the caller's buffers themselves
                out = tuple(g if g is not None else r for g, r in zip(given, out))
            return out
        return given if given is not None else out[0]

    op._fastconv_unbatched = True
    return op


def _batched_out(given, results):
    """``out=`` for the batched op: a batch axis on each array of a result that loses
    it (anything else is left to the op to check)."""
    def add(a, i):
        return a[None] if isinstance(a, np.ndarray) and (results == "all" or i in results) else a
    if type(given) is tuple:
        return tuple(add(g, i) for i, g in enumerate(given))
    return add(given, 0)


def _prefixed(shape):
    """A shape argument with a leading 1 (a non-sequence is left to the op to reject)."""
    if isinstance(shape, (tuple, list)):
        return (1,) + tuple(shape)
    try:
        return (1,) + tuple(np.asarray(shape).tolist())
    except TypeError:
        return shape
