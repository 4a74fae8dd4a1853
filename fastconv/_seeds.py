"""Input data of the worked examples in the source documents (the "seeds").

Every function returns fresh float64 NumPy arrays in the seed's own, unbatched layout; use
:func:`batched` to add the leading batch (and channel) axes that fastconv's ops expect.
Nothing here imports fastconv: this module is pure data, shared by ``python -m fastconv``.

Seeds (``/work/shared/seeds`` in the development tree):

* 000 -- "Exercise: Convolutional Neural Networks - Pen & Paper" (B. Voigt, deep.TEACHING)
* 001 -- "Convolutional Neural Networks" lecture slides (Torch/TF examples)
* 002 -- "Introduction to Convolutional Neural Networks" (M. Wolter, Uni Bonn), no numbers
* 003 -- "Guide to CNN's" toy 5x5 image example
* 004 -- "Introduction to Machine Learning, Homework 8" solutions (S. Rangan)

Several printed values in the seeds are typos or come from garbled slide layouts; the
expected values in ``tests/test_seeds.py`` were re-derived by hand and the discrepancies are
documented there and in :data:`PRINTED_TYPOS`.
"""

import numpy as np

__all__ = [
    "PRINTED_TYPOS",
    "batched",
    "conv1d_slides",
    "conv1d_tf_gradweight",
    "two_filter_conv",
    "two_filter_conv_tf_nhwc",
    "tf_conv_transpose",
    "pool_4x4",
    "tf_max_pool_4x4",
    "pen_and_paper",
    "toy_5x5",
    "toy_5x5_fully_connected",
    "max_pool_annotation",
    "hw8_difference_kernel",
]

#: Printed values in the seeds that are wrong (where, printed, correct, why).
PRINTED_TYPOS = (
    ("seed 001, 2x4x4 two-filter slides, O[1][0, 0]", -3.1, 3.1,
     "sign typo: 1*1 + (-2)*(-2) + (-2)*2 + 1*1 = 2 from plane 1, 1*3 + 1*(-2) = 1 from "
     "plane 2, + bias 0.1 = 3.1; the other 17 outputs match"),
    ("seed 001, TF NHWC Conv2D print, O[0, 2, 2, 0]", -20.1, 20.1,
     "sign typo: 2*1 + (-1)*(-2) + 5*1 + 3*3 + 1*2 + bias 0.1 = 20.1; the other 17 match"),
    ("seed 001, 4x4 average pooling", (36, 43, 53, 50), (35.75, 42.5, 53.0, 50.25),
     "printed rounded to integers (35.75 -> 36, 42.5 -> 43, 50.25 -> 50)"),
)


def batched(a, ndim):
    """Return ``a`` as float64 with leading length-1 axes prepended until it has ``ndim`` dims."""
    a = np.asarray(a, dtype=np.float64)
    return a.reshape((1,) * (ndim - a.ndim) + a.shape)


def conv1d_slides():
    """Seed 001, slides "Convolution (Discrete 1D)" and "Convolution - Backward".

    Returns ``(I, W, dL_dO)``: I = [1, 2, 3, 4], W = [1, 2, 3] and the upstream gradient
    LO = dL/dO = [1, 2] used on the backward slides. The "Half-padding (same size output)"
    slide pads I to [0, 1, 2, 3, 4, 0] with the same W (no output printed there).
    """
    return (np.array([1.0, 2.0, 3.0, 4.0]),
            np.array([1.0, 2.0, 3.0]),
            np.array([1.0, 2.0]))


def conv1d_tf_gradweight():
    """Seed 001, slides "Convolution - Forward/Backward" (TensorFlow Conv1D, float32 prints).

    Returns ``(n, nextgrad)``: the printed ``tf.random_normal`` input (1, 4, 1) and the upstream
    gradient (1, 2, 1), flattened to 1-D. The Conv1D kernel was randomly initialised and never
    printed, so the printed forward output m = [-0.7662684, 0.2175143] cannot be reproduced
    (2 equations, 3 unknown weights); only gradWeight can be checked.
    """
    return (np.array([0.20350695, -0.31481498, -0.85656077, 0.5981919]),
            np.array([-0.47567356, -2.3547919]))


def two_filter_conv():
    """Seed 001, slides "Spatial Dimension - Convolution" (Torch layout).

    Returns ``(I, W, b)``: I is 2x4x4 (nInputPlane x H x W), W is 2x2x2x2
    (nOutputPlane x nInputPlane x kH x kW), b = [0.1, 0.2]. The slides' W layout is garbled;
    the reconstruction W[1,1] = [[1,-2],[-2,1]], W[1,2] = [[1,0],[0,1]], W[2,1] = [[3,1],[2,2]],
    W[2,2] = [[0,0],[0,4]] (1-based, as on the slides) is the only assignment of the four
    printed 2x2 blocks (out of 24 orders x flipped or not) that reproduces 17 of the 18
    printed outputs; the 18th is a typo (see :data:`PRINTED_TYPOS`).
    """
    I = np.array([[[1, -2, 2, 2],
                   [2, 1, 3, -2],
                   [-2, 3, -3, 1],
                   [-1, 2, -4, 2]],
                  [[3, 0, 0, 0],
                   [-2, -2, 1, -1],
                   [2, -1, 3, 1],
                   [5, -2, 0, 1]]], dtype=np.float64)
    W = np.array([[[[1, -2], [-2, 1]],    # W[1, 1]
                   [[1, 0], [0, 1]]],     # W[1, 2]
                  [[[3, 1], [2, 2]],      # W[2, 1]
                   [[0, 0], [0, 4]]]],    # W[2, 2]
                 dtype=np.float64)
    b = np.array([0.1, 0.2])
    return I, W, b


def two_filter_conv_tf_nhwc():
    """Seed 001, the TF re-run of the two-filter example (``tf.layers.Conv2D(2, [2,2])``).

    The TF code does NOT feed the slides' image: its ``tf.constant`` is a (1, 4, 4, 2) NHWC
    tensor whose values are the slides' numbers re-chunked in pairs, and
    ``tf.constant_initializer`` fills the HWIO kernel (2, 2, 2, 2) with the 16 listed values in
    order. Returns ``(x, w, b)`` already converted to fastconv's layouts: x (2, 4, 4) CHW and
    w (2, 2, 2, 2) OIHW (``w = hwio.transpose(3, 2, 0, 1)``), b = [0.1, 0.2].
    """
    x_hwc = np.array([[[1, -2], [2, 1], [-2, 3], [-1, 2]],
                      [[2, 2], [3, -2], [-3, 1], [-4, 2]],
                      [[3, 0], [-2, -2], [2, -1], [5, -2]],
                      [[0, 0], [1, -1], [3, 1], [0, 1]]], dtype=np.float64)
    hwio = np.array([1, -2, -2, 1, 1, 0, 0, 1, 3, 1, 2, 2, 0, 0, 0, 4],
                    dtype=np.float64).reshape(2, 2, 2, 2)
    return (np.ascontiguousarray(x_hwc.transpose(2, 0, 1)),
            np.ascontiguousarray(hwio.transpose(3, 2, 0, 1)),
            np.array([0.1, 0.2]))


def tf_conv_transpose():
    """Seed 001, slides "Convolution" (TF Conv2D 3x3 stride 2 'valid' and Conv2DTranspose).

    Returns ``(w, r)``: the printed 3x3 kernel and the printed 2x2 forward output r, which is
    also the gradOutput (the loss is 0.5 * r**2). The 5x5 input imgC was never printed, so r
    itself cannot be checked, but the printed 5x5 grad_input (= Conv2DTranspose(r)) can.
    """
    w = np.array([[0.13429713, 1.9649408, 0.74939513],
                  [0.6982393, 1.2397809, 1.4247327],
                  [1.5534406, 0.1190145, 1.3256309]])
    r = np.array([[25.535583, 28.583742],
                  [23.470192, 20.622599]])
    return w, r


def pool_4x4():
    """Seed 001, slide "Pooling in action": the 4x4 input of the 2x2 max / average pooling."""
    return np.array([[38, 20, 77, 33],
                     [36, 49, 12, 48],
                     [26, 65, 100, 40],
                     [90, 31, 43, 18]], dtype=np.float64)


def tf_max_pool_4x4():
    """Seed 001, slide "Pooling (Max Pooling) in Tensorflow" (float32 prints).

    The (1, 4, 4, 1) tensor is printed in two side-by-side columns. Reading rows 0 and 1 as the
    first and second groups of four in the left column and rows 2 and 3 as those of the right
    column makes the printed pooled output AND the printed gradInput (laid out the same way)
    consistent; the row-by-row readings of the two columns are not. Returns the 4x4 input.
    """
    return np.array([[0.58009243, 1.1895669, 2.6777048, 0.15597591],
                     [-0.94100916, -0.7437242, -1.0578039, -0.30651447],
                     [0.53753567, 0.10521288, -0.43827865, -0.7727399],
                     [-0.42974523, -1.669584, -0.92768306, -0.19861951]])


def pen_and_paper():
    """Seed 000, exercise "Convolution as a Sum" (b): returns ``(I, K)``, 5x5 and 3x3.

    Used with stride 2 and padding 0 in (b), (c), the im2col version and (d) max pooling.
    """
    I = np.array([[1, 1, -2, 0, 1],
                  [1, 0, 0, 2, 1],
                  [0, 1, 0, 5, -1],
                  [-2, 1, 0, -1, 1],
                  [0, 1, 0, 5, -1]], dtype=np.float64)
    K = np.array([[0, 1, 1],
                  [1, 0, 0],
                  [0, 1, 0]], dtype=np.float64)
    return I, K


def toy_5x5():
    """Seed 003, "Image Example": returns ``(x, F, b)``.

    x is the 5x5 greyscale image, F stacks the filters F^1 and F^2 as (2, 3, 3), b = [b^1, b^2]
    = [1, 0]. The example uses stride 2, padding 1, ReLU and a 3x3 max pool.
    """
    x = np.array([[0, 2, 0, 0, 2],
                  [0, 0, 0, 2, 0],
                  [2, 1, 2, 0, 0],
                  [2, 2, 1, 1, 0],
                  [1, 2, 2, 1, 0]], dtype=np.float64)
    F = np.array([[[-1, 0, -1],
                   [1, 1, -1],
                   [-1, 1, -1]],
                  [[-1, -1, 0],
                   [0, 1, 1],
                   [-1, 0, 1]]], dtype=np.float64)
    b = np.array([1.0, 0.0])
    return x, F, b


def toy_5x5_fully_connected():
    """Seed 003, "Image Example: Fully Connected": ``(omega_0, omega)``.

    sigma(omega_0 + 2 * omega^1 + 5 * omega^2) = sigma(0.3 - 2 + 1): omega_0 = 0.3,
    omega^1 = -1 (stated on the backpropagation slide) and omega^2 = 0.2.
    """
    return 0.3, np.array([-1.0, 0.2])


def max_pool_annotation():
    """Seed 003, "Image Example: Max Pooling Annotation": the 4x4 matrix pooled 2x2, stride 2."""
    return np.array([[1, 2, 6, 7],
                     [-4, 5, 0, 1],
                     [1, 3, 1, 1],
                     [3, 3, 2, 1]], dtype=np.float64)


def hw8_difference_kernel():
    """Seed 004, problem 1(c)-(e): returns ``(X_rows_1_2, W)``.

    Z[i, j] = X[i, j] + X[i+1, j] - X[i, j+1] - X[i+1, j+1], i.e. the 2x2 kernel
    W = [[1, -1], [1, -1]]. The 6x5 image X is not printed; the solution quotes only rows 1
    and 2 completely (X[1, :] = X[2, :] = [0, 3, 3, 3, 0]), so only row 1 of Z can be checked.
    """
    X12 = np.array([[0, 3, 3, 3, 0],
                    [0, 3, 3, 3, 0]], dtype=np.float64)
    W = np.array([[1, -1],
                  [1, -1]], dtype=np.float64)
    return X12, W
