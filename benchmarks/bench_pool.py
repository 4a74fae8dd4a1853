"""Max and average pooling, 1-D, 2-D and 3-D, forward and backward.

Each layer's convolution output (random data of that shape) is pooled with a
window of 2 and stride 2.  Max pooling returns its int64 indices, which the
backward pass needs.
"""
import fastconv

from .common import POOL, Grid, conv_geometry, pooled, random


class _Pool(Grid):
    ndim = None

    def setup(self, dtype, layer, threads):
        self.use_threads(threads)
        shape = conv_geometry(layer, self.ndim)["y"]
        if min(shape[2:]) < POOL:
            raise NotImplementedError("the layer's output is smaller than the window")
        self.x = random(shape, dtype, 5)
        self.gy = random(pooled(shape), dtype, 6)
        max_pool = getattr(fastconv, f"max_pool{self.ndim}d")
        self.indices = max_pool(self.x, POOL, return_indices=True)[1]


class Pool1d(_Pool):
    ndim = 1

    def time_max_pool1d(self, dtype, layer, threads):
        fastconv.max_pool1d(self.x, POOL, return_indices=True)

    def time_max_pool1d_backward(self, dtype, layer, threads):
        fastconv.max_pool1d_backward(self.gy, self.indices, self.x.shape)

    def time_avg_pool1d(self, dtype, layer, threads):
        fastconv.avg_pool1d(self.x, POOL)

    def time_avg_pool1d_backward(self, dtype, layer, threads):
        fastconv.avg_pool1d_backward(self.gy, self.x.shape, POOL)


class Pool2d(_Pool):
    ndim = 2

    def time_max_pool2d(self, dtype, layer, threads):
        fastconv.max_pool2d(self.x, POOL, return_indices=True)

    def time_max_pool2d_backward(self, dtype, layer, threads):
        fastconv.max_pool2d_backward(self.gy, self.indices, self.x.shape)

    def time_avg_pool2d(self, dtype, layer, threads):
        fastconv.avg_pool2d(self.x, POOL)

    def time_avg_pool2d_backward(self, dtype, layer, threads):
        fastconv.avg_pool2d_backward(self.gy, self.x.shape, POOL)


class Pool3d(_Pool):
    ndim = 3

    def time_max_pool3d(self, dtype, layer, threads):
        fastconv.max_pool3d(self.x, POOL, return_indices=True)

    def time_max_pool3d_backward(self, dtype, layer, threads):
        fastconv.max_pool3d_backward(self.gy, self.indices, self.x.shape)

    def time_avg_pool3d(self, dtype, layer, threads):
        fastconv.avg_pool3d(self.x, POOL)

    def time_avg_pool3d_backward(self, dtype, layer, threads):
        fastconv.avg_pool3d_backward(self.gy, self.x.shape, POOL)


class GlobalPool2d:
    """Global pooling of classifier heads (kernel = the whole plane): the reduce
    algorithms.  Shapes are ResNet-50 / ResNet-18 / MobileNetV2 final feature maps."""

    params = [["float32", "float64"], ["(4, 2048, 7, 7)", "(4, 512, 7, 7)", "(4, 1280, 7, 7)"],
              [1, "default"]]
    param_names = ["dtype", "shape", "threads"]
    timeout = 120

    def setup(self, dtype, shape, threads):
        Grid.use_threads(self, threads)
        s = tuple(int(v) for v in shape.strip("()").split(","))
        self.x = random(s, dtype, 5)
        self.k = s[2:]
        self.gy = random(s[:2] + (1, 1), dtype, 6)
        self.indices = fastconv.max_pool2d(self.x, self.k, return_indices=True)[1]

    def teardown(self, *args):
        fastconv.set_num_threads(None)

    def time_avg_pool2d(self, dtype, shape, threads):
        fastconv.avg_pool2d(self.x, self.k)

    def time_avg_pool2d_backward(self, dtype, shape, threads):
        fastconv.avg_pool2d_backward(self.gy, self.x.shape, self.k)

    def time_max_pool2d(self, dtype, shape, threads):
        fastconv.max_pool2d(self.x, self.k, return_indices=True)

    def time_max_pool2d_backward(self, dtype, shape, threads):
        fastconv.max_pool2d_backward(self.gy, self.indices, self.x.shape)
