"""What the asv suite's benchmark files share: the parameter grid and the inputs.

Every benchmark class runs on one grid, ``dtype x layer x threads``:

* ``dtype``: float32 and float64 (one code path for both; no per-dtype copies).
* ``layer``: a handful of layers from the standard set ``fastconv.bench.LAYERS``,
  ``(N, Cin, H, W, Cout, k, stride, pad)``.  They are copied here, not imported:
  asv runs today's benchmarks against past commits, and a benchmark's inputs
  must not change with the commit under test.  1-D ops run the same layer on
  each image flattened to a signal of length ``H*W`` (kernel ``k``, same stride
  and padding); pooling ops pool the layer's convolution output with a window
  of 2 and stride 2 (2x2 in 2-D), as a conv -> pool network does.
* ``threads``: 1, and ``"default"`` (OpenMP's default: every core unless
  ``OMP_NUM_THREADS`` says otherwise), set process-wide with
  ``fastconv.set_num_threads`` so the timed call is exactly what a user writes.

Inputs are random, from a fixed seed, built outside the timed region: in
``setup`` for the ``time_`` and ``track_`` benchmarks, and in ``setup_cache``
for the ``peakmem_`` ones (see :class:`CachedInputs`).

This module has no benchmarks of its own (asv looks for ``time_``, ``peakmem_``
and ``track_`` names).  The benchmarks call only fastconv's public API; the one
private name read here (defensively, with ``getattr``) is the flag that tells a
forked process, which must not be measured (see ``Grid.use_threads``).
"""
import os
import time

import numpy as np

import fastconv

DTYPES = ["float32", "float64"]

#: name -> (N, Cin, H, W, Cout, k, stride, pad); the names and shapes of fastconv.bench.LAYERS
LAYERS = {
    "seeds tiny": (1, 2, 4, 4, 2, 2, 1, 0),            # per-call overhead
    "LeNet conv2": (64, 6, 12, 12, 16, 5, 1, 0),        # few channels, 5x5
    "CIFAR mid": (32, 64, 16, 16, 128, 3, 1, 1),        # compute-bound 3x3, stride 1
    "ResNet 1x1": (8, 256, 56, 56, 64, 1, 1, 0),        # 1x1: no im2col, a plain GEMM
    "ResNet strided": (8, 128, 28, 28, 256, 3, 2, 1),   # stride 2: the other grad_input path
}

THREADS = [1, "default"]

#: pooling window and stride
POOL = 2


class Grid:
    """The parameter grid, and the thread setting every benchmark runs under."""

    params = [DTYPES, list(LAYERS), THREADS]
    param_names = ["dtype", "layer", "threads"]
    timeout = 120

    def use_threads(self, threads):
        if threads == "default":
            # GNU OpenMP's pool does not survive fork(), so fastconv runs a forked
            # child on one thread: "default" would silently measure one thread.
            # asv.conf.json sets "launch_method": "spawn" for this reason.
            parallel = getattr(fastconv, "_parallel", None)
            if getattr(parallel, "_forked_child", False):
                raise RuntimeError("benchmark process was forked, so fastconv runs on one "
                                   'thread; run asv with "launch_method": "spawn"')
            fastconv.set_num_threads(None)
        else:
            fastconv.set_num_threads(threads)

    def teardown(self, *args):
        fastconv.set_num_threads(None)


# ------------------------------------------------------------------ shapes


def out_size(i, k, s, p):
    return (i + 2 * p - k) // s + 1


def conv_geometry(layer, ndim):
    """Shapes and arguments of the layer as an ``ndim``-D convolution."""
    N, C, H, W, O, k, s, p = LAYERS[layer]
    # 1-D: the plane as one signal; 3-D: a volume of about the plane's size
    spatial = {1: (H * W,), 2: (H, W), 3: (max(k, 4), max(k, H // 2), max(k, W // 2))}[ndim]
    out = tuple(out_size(i, k, s, p) for i in spatial)
    return {
        "x": (N, C) + spatial,
        "w": (O, C) + (k,) * ndim,
        "b": (O,),
        "y": (N, O) + out,
        "spatial": spatial,
        "k": k,
        "stride": s,
        "padding": p,
        # multiply-adds x 2 of the forward pass (the backward pass does twice this)
        "flops": 2.0 * N * O * int(np.prod(out)) * C * k**ndim,
    }


def pooled(shape):
    """Shape after pooling with window and stride POOL."""
    return shape[:2] + tuple(out_size(i, POOL, POOL, 0) for i in shape[2:])


# ------------------------------------------------------------------ inputs


def random(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def conv_inputs(dtype, layer, ndim):
    """x, weight, bias and a grad_output for the layer (no fastconv call)."""
    g = conv_geometry(layer, ndim)
    return {
        "x": random(g["x"], dtype, 0),
        "w": random(g["w"], dtype, 1),
        "b": random(g["b"], dtype, 2),
        "gy": random(g["y"], dtype, 3),
    }


def im2col_inputs(dtype, layer):
    """An image batch for im2col, and a column matrix of the matching shape for col2im."""
    g = conv_geometry(layer, 2)
    N, C = g["x"][:2]
    return {
        "x": random(g["x"], dtype, 0),
        "cols": random((N, C * g["k"] ** 2, int(np.prod(g["y"][2:]))), dtype, 4),
    }


#: inputs of the ``peakmem_`` benchmarks: kind -> fn(dtype, layer) -> {name: array}
CACHED = {
    "conv2d": lambda dtype, layer: conv_inputs(dtype, layer, 2),
    "im2col": im2col_inputs,
}


class CachedInputs(Grid):
    """Inputs for ``peakmem_`` benchmarks, built once in ``setup_cache``.

    asv's ``peakmem_`` is the peak resident memory of the whole benchmark
    process, ``setup`` included.  So ``setup_cache`` (its own process) builds
    every input once and writes it to ``.npy`` files in its working directory,
    and ``setup`` only reads the current case's arrays back: no random-number
    temporaries and no fastconv call before the measured one.  The peak is then
    the process's baseline (interpreter, NumPy, fastconv: read it off the
    ``seeds tiny`` case), plus the inputs, plus what the op itself allocates --
    its result and its workspace.

    asv keys a ``setup_cache`` by where it is defined, so this one is shared by
    every subclass and builds the inputs of every kind in ``CACHED``; a
    subclass picks its kind with ``inputs = "..."``.
    """

    inputs = None

    def setup_cache(self):
        files = {}
        for kind, make in CACHED.items():
            for dtype in DTYPES:
                for layer in LAYERS:
                    for name, arr in make(dtype, layer).items():
                        path = os.path.abspath(f"{kind}-{dtype}-{layer}-{name}.npy")
                        np.save(path, arr)
                        files[kind, dtype, layer, name] = path
        return files

    def setup(self, files, dtype, layer, threads):
        self.use_threads(threads)
        for (kind, d, lay, name), path in files.items():
            if (kind, d, lay) == (self.inputs, dtype, layer):
                setattr(self, name, np.load(path))


# ------------------------------------------------------------------ track helpers


def median_seconds(func, samples=7, min_sample=0.02):
    """Median seconds per call of ``func`` (after one warm-up call).

    Calls shorter than ``min_sample`` are batched so each sample lasts at least
    that long, as asv's own ``time_`` benchmarks do.
    """
    func()
    t0 = time.perf_counter()
    func()
    once = time.perf_counter() - t0
    number = max(1, int(min_sample / max(once, 1e-7)))
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(number):
            func()
        times.append((time.perf_counter() - t0) / number)
    return float(np.median(times))


def round3(value):
    """Three significant digits: a rate is not measured more precisely than that."""
    return float(f"{value:.3g}")
