"""im2col and col2im: time, and peak memory (inputs from setup_cache).

The layer's input batch is unfolded with the layer's kernel, stride and
padding; col2im folds a column matrix of that shape back into the batch.
"""
import fastconv

from .common import CachedInputs, Grid, LAYERS, im2col_inputs


def _window(layer):
    N, C, H, W, O, k, s, p = LAYERS[layer]
    return (H, W), k, s, p


class Im2col(Grid):
    def setup(self, dtype, layer, threads):
        self.use_threads(threads)
        self.size, self.k, self.stride, self.padding = _window(layer)
        for name, arr in im2col_inputs(dtype, layer).items():
            setattr(self, name, arr)

    def time_im2col(self, dtype, layer, threads):
        fastconv.im2col(self.x, self.k, padding=self.padding, stride=self.stride)

    def time_col2im(self, dtype, layer, threads):
        fastconv.col2im(self.cols, self.size, self.k, padding=self.padding, stride=self.stride)


class Im2colMemory(CachedInputs):
    inputs = "im2col"

    def setup(self, files, dtype, layer, threads):
        super().setup(files, dtype, layer, threads)
        self.size, self.k, self.stride, self.padding = _window(layer)

    def peakmem_im2col(self, files, dtype, layer, threads):
        fastconv.im2col(self.x, self.k, padding=self.padding, stride=self.stride)

    def peakmem_col2im(self, files, dtype, layer, threads):
        fastconv.col2im(self.cols, self.size, self.k, padding=self.padding, stride=self.stride)
