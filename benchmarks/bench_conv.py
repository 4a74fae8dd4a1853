"""Convolution: conv1d / conv2d / conv3d forward and backward, and the transposed ones.

Time of each op, achieved GFLOP/s of conv2d, and the peak memory of conv2d
forward and backward.  The grid (dtype x layer x threads) and the inputs are in
``common.py``.
"""
import fastconv

from .common import (DTYPES, THREADS, CachedInputs, Grid, conv_geometry, conv_inputs,
                     median_seconds, random, round3)


class _Conv(Grid):
    """The layer's inputs as an ``ndim``-D convolution.

    The transposed convolution takes the layer's output shape in and gives its
    input shape out: ``conv_transpose(grad_output, weight)`` is the grad_input
    of the layer's convolution.
    """

    ndim = None

    def setup(self, dtype, layer, threads):
        self.use_threads(threads)
        g = conv_geometry(layer, self.ndim)
        self.stride, self.padding, self.flops = g["stride"], g["padding"], g["flops"]
        for name, arr in conv_inputs(dtype, layer, self.ndim).items():
            setattr(self, name, arr)


class Conv1d(_Conv):
    ndim = 1

    def time_conv1d(self, dtype, layer, threads):
        fastconv.conv1d(self.x, self.w, self.b, stride=self.stride, padding=self.padding)

    def time_conv1d_backward(self, dtype, layer, threads):
        fastconv.conv1d_backward(self.gy, self.x, self.w, stride=self.stride, padding=self.padding)

    def time_conv_transpose1d(self, dtype, layer, threads):
        fastconv.conv_transpose1d(self.gy, self.w, stride=self.stride, padding=self.padding)


class Conv2d(_Conv):
    ndim = 2

    def time_conv2d(self, dtype, layer, threads):
        fastconv.conv2d(self.x, self.w, self.b, stride=self.stride, padding=self.padding)

    def time_conv2d_backward(self, dtype, layer, threads):
        fastconv.conv2d_backward(self.gy, self.x, self.w, stride=self.stride, padding=self.padding)

    def time_conv_transpose2d(self, dtype, layer, threads):
        fastconv.conv_transpose2d(self.gy, self.w, stride=self.stride, padding=self.padding)

    def track_conv2d_gflops(self, dtype, layer, threads):
        t = median_seconds(lambda: fastconv.conv2d(self.x, self.w, self.b, stride=self.stride,
                                                   padding=self.padding))
        return round3(self.flops / t / 1e9)

    track_conv2d_gflops.unit = "GFLOP/s"

    def track_conv2d_backward_gflops(self, dtype, layer, threads):
        # grad_input and grad_weight each cost as much as the forward pass
        t = median_seconds(lambda: fastconv.conv2d_backward(self.gy, self.x, self.w,
                                                            stride=self.stride,
                                                            padding=self.padding))
        return round3(2 * self.flops / t / 1e9)

    track_conv2d_backward_gflops.unit = "GFLOP/s"


class Conv3d(_Conv):
    ndim = 3

    def time_conv3d(self, dtype, layer, threads):
        fastconv.conv3d(self.x, self.w, self.b, stride=self.stride, padding=self.padding)

    def time_conv3d_backward(self, dtype, layer, threads):
        fastconv.conv3d_backward(self.gy, self.x, self.w, stride=self.stride, padding=self.padding)

    def time_conv_transpose3d(self, dtype, layer, threads):
        fastconv.conv_transpose3d(self.gy, self.w, stride=self.stride, padding=self.padding)

    def track_conv3d_gflops(self, dtype, layer, threads):
        t = median_seconds(lambda: fastconv.conv3d(self.x, self.w, self.b, stride=self.stride,
                                                   padding=self.padding))
        return round3(self.flops / t / 1e9)

    track_conv3d_gflops.unit = "GFLOP/s"


class Conv2dMemory(CachedInputs):
    """Peak resident memory of conv2d forward and backward (inputs from setup_cache)."""

    inputs = "conv2d"

    def setup(self, files, dtype, layer, threads):
        super().setup(files, dtype, layer, threads)
        g = conv_geometry(layer, 2)
        self.stride, self.padding = g["stride"], g["padding"]

    def peakmem_conv2d(self, files, dtype, layer, threads):
        fastconv.conv2d(self.x, self.w, self.b, stride=self.stride, padding=self.padding)

    def peakmem_conv2d_backward(self, files, dtype, layer, threads):
        fastconv.conv2d_backward(self.gy, self.x, self.w, stride=self.stride, padding=self.padding)


class DepthwiseConv2d(Grid):
    """MobileNetV2-style depthwise 3x3 layers (groups == C): the depthwise algorithms
    (``conv.*.depthwise``) where the plan chooses them, the GEMM routes elsewhere."""

    #: name -> (N, C, H, multiplier, stride)
    DEPTHWISE = {"dw 112 s1": (4, 32, 112, 1, 1), "dw 56 s2": (4, 144, 56, 1, 2),
                 "dw 28 s1": (4, 192, 28, 1, 1), "dw 7 s1": (4, 960, 7, 1, 1),
                 "dw 112 x2": (4, 32, 112, 2, 1)}
    params = [DTYPES, list(DEPTHWISE), THREADS]

    def setup(self, dtype, layer, threads):
        self.use_threads(threads)
        N, C, H, mult, s = self.DEPTHWISE[layer]
        self.kw = dict(stride=s, padding=1, groups=C)
        self.x = random((N, C, H, H), dtype, 0)
        self.w = random((C * mult, 1, 3, 3), dtype, 1)
        self.gy = random(fastconv.conv2d(self.x, self.w, **self.kw).shape, dtype, 3)

    def time_conv2d(self, dtype, layer, threads):
        fastconv.conv2d(self.x, self.w, **self.kw)

    def time_conv2d_backward(self, dtype, layer, threads):
        fastconv.conv2d_backward(self.gy, self.x, self.w, **self.kw)
