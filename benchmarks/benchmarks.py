"""Timing suite for fastconv in the style of airspeed velocity (asv).

Each class is one operation. ``params`` / ``param_names`` define the grid (dtype x layer
shape), ``setup`` builds the inputs outside the timed region, and each ``time_*`` method
times exactly one fastconv call. asv itself is not imported: the classes are plain Python
and can also be run by hand::

    b = Conv2dForward()
    b.setup("float32", "lenet-conv2")
    b.time_conv2d("float32", "lenet-conv2")

Layer shapes are ``(N, Cin, H, W, Cout, k, stride, pad)``. The pooling benchmarks pool each
layer's convolution output with a 2x2 window and stride 2, as a conv -> pool network would.
"""
import numpy as np

import fastconv

#: name -> (N, Cin, H, W, Cout, k, stride, pad)
LAYERS = {
    # seed 001's two-filter example: a 2x4x4 input and two 2x2 filters (per-call overhead)
    "seed-2x4x4": (1, 2, 4, 4, 2, 2, 1, 0),
    # LeNet-5's second convolution on a batch of 64
    "lenet-conv2": (64, 6, 12, 12, 16, 5, 1, 0),
    # a padded 3x3 layer on 32x32 feature maps (CIFAR-sized ResNet/VGG block)
    "cifar-3x3": (16, 16, 32, 32, 32, 3, 1, 1),
}

DTYPES = ["float32", "float64"]


def _conv_inputs(dtype, layer):
    N, C, H, W, O, k, s, p = LAYERS[layer]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((O, C, k, k)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    return x, w, b, s, p


def _pool_input(dtype, layer):
    """The layer's convolution output shape ``(N, Cout, Hout, Wout)``, random data."""
    N, C, H, W, O, k, s, p = LAYERS[layer]
    oh, ow = fastconv.conv_output_size((H, W), k, stride=s, padding=p)
    return np.random.default_rng(1).standard_normal((N, O, oh, ow)).astype(dtype)


class _Grid:
    params = [DTYPES, list(LAYERS)]
    param_names = ["dtype", "layer"]


class Conv2dForward(_Grid):
    def setup(self, dtype, layer):
        self.x, self.w, self.b, self.stride, self.padding = _conv_inputs(dtype, layer)

    def time_conv2d(self, dtype, layer):
        fastconv.conv2d(self.x, self.w, self.b, stride=self.stride, padding=self.padding)


class Conv2dBackward(_Grid):
    def setup(self, dtype, layer):
        self.x, self.w, self.b, self.stride, self.padding = _conv_inputs(dtype, layer)
        out = fastconv.conv2d(self.x, self.w, self.b, stride=self.stride, padding=self.padding)
        self.grad_output = np.random.default_rng(2).standard_normal(out.shape).astype(dtype)

    def time_conv2d_backward(self, dtype, layer):
        fastconv.conv2d_backward(self.grad_output, self.x, self.w, stride=self.stride,
                                 padding=self.padding)


class MaxPool2d(_Grid):
    def setup(self, dtype, layer):
        self.x = _pool_input(dtype, layer)
        out, self.indices = fastconv.max_pool2d(self.x, 2, return_indices=True)
        self.grad_output = np.ones_like(out)

    def time_max_pool2d(self, dtype, layer):
        fastconv.max_pool2d(self.x, 2, return_indices=True)

    def time_max_pool2d_backward(self, dtype, layer):
        fastconv.max_pool2d_backward(self.grad_output, self.indices, self.x.shape)


class AvgPool2d(_Grid):
    def setup(self, dtype, layer):
        self.x = _pool_input(dtype, layer)
        self.grad_output = np.ones_like(fastconv.avg_pool2d(self.x, 2))

    def time_avg_pool2d(self, dtype, layer):
        fastconv.avg_pool2d(self.x, 2)

    def time_avg_pool2d_backward(self, dtype, layer):
        fastconv.avg_pool2d_backward(self.grad_output, self.x.shape, 2)
