"""``fastconv.conv_output_size``: the seeds' output-size exercises and the formula's edge cases.

Contract (docs/api.md), per spatial dimension:
    out = floor((i + pad_before + pad_after - d*(k-1) - 1) / s) + 1
    ceil_mode: ceil instead of floor, then if (out - 1) * s >= i + pad_before: out -= 1
    'same': out = ceil(i / s); 'valid': no padding; out < 1 raises ValueError.
Every expected value below was worked out by hand from that formula (and, for the symmetric
cases, cross-checked against torch's pooling/conv output shapes in a scratch session).
"""

import numpy as np
import pytest

import fastconv
from fastconv import conv_output_size as cos


# --------------------------------------------------------------------------------------------
# The seeds' exercises
# --------------------------------------------------------------------------------------------

def test_seed000_a_200x200_40x40_stride2():
    """Seed 000, "Convolution as a Sum" (a): 200x200x3 image, 12323 kernels 40x40x3, s=2, p=0.

    (200 + 0 - 40)/2 + 1 = 81, so O is 81x81x12323 (depth = number of kernels).
    """
    assert cos(200, 40, stride=2, padding=0) == 81
    assert cos((200, 200), (40, 40), stride=(2, 2), padding=(0, 0)) == (81, 81)
    assert cos((200, 200), 40, stride=2, padding="valid") == (81, 81)


def test_seed004_sizes():
    """Seed 004: 1(b) 6x5 with a 2x2 kernel, valid -> (6-2+1) x (5-2+1) = 5x4;
    2(a) 48x64 with 3x3 kernels -> 46x62 (x 20 output channels)."""
    assert cos((6, 5), 2) == (5, 4)
    assert cos((6, 5), (2, 2), padding="valid") == (5, 4)
    assert cos((48, 64), 3) == (46, 62)
    h, w = cos((48, 64), 3)
    assert h * w * 20 * 3 * 3 * 10 == 5_133_600          # 2(c) "5.133(10)^6 multiplications"
    assert 3 * 3 * 10 * 20 + 20 == 1820                  # 2(d) parameters


def test_seed003_stride_and_padding():
    """Seed 003, "Hyperparameters, S / P": 5x5 image, F = 3.

    S=1 -> 3x3; S=2 -> 2x2; S=3: (5-3)/3 + 1 = 2/3 + 1 is not an integer ("Oops? We don't want
    to run off the image") -- with the floor semantics every library uses the partial window is
    dropped, giving 1 (a single window at columns 0-2; columns 3-4 are ignored). ceil_mode keeps
    the window that runs off the image: ceil(2/3) + 1 = 2, and it starts at 3 < 5 + 0, so it is
    kept. With P=1, S=2 (the example's choice): (5 + 2 - 3)/2 + 1 = 3 -> 3x3.
    """
    assert cos((5, 5), 3, stride=1) == (3, 3)
    assert cos((5, 5), 3, stride=2) == (2, 2)
    assert cos((5, 5), 3, stride=3) == (1, 1)
    assert cos((5, 5), 3, stride=3, ceil_mode=True) == (2, 2)
    assert cos((5, 5), 3, stride=2, padding=1) == (3, 3)
    assert cos(5, 3, stride=2, padding=1) == 3


def test_seed001_16x16_5x5():
    """Seed 001: TF Conv2D(8, [5,5], [1,1], 'valid') on 16x16 -> 12x12 (x 8 channels)."""
    assert cos((16, 16), (5, 5), stride=(1, 1), padding="valid") == (12, 12)
    assert cos(16, 5) == 12


def test_seed001_and_seed002_small_cases():
    """Seed 001: 1-D Dim(I) - Dim(W) + 1 = 4 - 3 + 1 = 2; half padding keeps 4 (same size);
    2x2/2 pooling of 4x4 -> 2x2; TF conv 3x3/2 'valid' on 5x5 -> 2x2.
    Seed 002: o = (i - k) + 1, 5x5 input with 3x3 kernels -> 3x3."""
    assert cos(4, 3) == 2
    assert cos(4, 3, padding=1) == 4
    assert cos(4, 3, padding="same") == 4
    assert cos((4, 4), 2, stride=2) == (2, 2)
    assert cos((5, 5), 3, stride=2) == (2, 2)
    assert cos((5, 5), (3, 3)) == (3, 3)


# --------------------------------------------------------------------------------------------
# Formula edge cases
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("i, k, s, p, floor_out, ceil_out", [
    # last ceil window would start inside the right padding -> dropped again
    (5, 2, 2, 1, 3, 3),    # floor(5/2)+1 = 3; ceil -> 4, but (4-1)*2 = 6 >= 5+1 -> 3
    (5, 2, 3, 1, 2, 2),    # floor(5/3)+1 = 2; ceil -> 3, but (3-1)*3 = 6 >= 5+1 -> 2
    # last ceil window starts inside the input -> kept
    (6, 3, 2, 0, 2, 3),    # floor(3/2)+1 = 2; ceil(3/2)+1 = 3, start 4 < 6
    (6, 3, 2, 1, 3, 4),    # floor(5/2)+1 = 3; ceil(5/2)+1 = 4, start 6 < 7
    (5, 3, 3, 0, 1, 2),    # seed 003's S=3
    # exact fit: no difference
    (7, 3, 2, 1, 4, 4),
    (4, 2, 2, 0, 2, 2),
    (1, 1, 1, 0, 1, 1),
])
def test_ceil_mode(i, k, s, p, floor_out, ceil_out):
    """ceil_mode rule: ceil instead of floor, minus one if the last window would start in the
    right padding, i.e. at or beyond i + pad_before."""
    assert cos(i, k, stride=s, padding=p) == floor_out
    assert cos(i, k, stride=s, padding=p, ceil_mode=False) == floor_out
    assert cos(i, k, stride=s, padding=p, ceil_mode=True) == ceil_out
    assert cos((i, i), k, stride=s, padding=p, ceil_mode=True) == (ceil_out, ceil_out)


def test_ceil_mode_uses_pad_before():
    """Per-side padding with ceil_mode: i=4, k=2, s=2, total padding 1 -> floor(3/2)+1 = 2,
    ceil -> 3; the last window starts at 4: kept if pad_before = 1 (4 < 5), dropped if the
    padding is all after (4 >= 4)."""
    assert cos((4,), 2, stride=2, padding=((1, 0),), ceil_mode=True) == (3,)
    assert cos((4,), 2, stride=2, padding=((0, 1),), ceil_mode=True) == (2,)
    assert cos((4, 4), 2, stride=2, padding=((1, 0), (0, 1)), ceil_mode=True) == (3, 2)
    assert cos((4, 4), 2, stride=2, padding=((1, 0), (0, 1))) == (2, 2)


@pytest.mark.parametrize("i, s, expected", [
    (5, 1, 5), (5, 2, 3), (6, 2, 3), (7, 3, 3), (6, 4, 2), (1, 3, 1), (10, 10, 1), (11, 10, 2),
])
@pytest.mark.parametrize("k, d", [(1, 1), (2, 1), (3, 1), (4, 1), (3, 2), (5, 3)])
def test_same_is_ceil_i_over_s(i, s, expected, k, d):
    """'same': out = ceil(i / s) for any kernel, stride and dilation (TensorFlow's rule)."""
    assert expected == -(-i // s)
    assert cos(i, k, stride=s, padding="same", dilation=d) == expected
    assert cos((i, i), k, stride=s, padding="same", dilation=d) == (expected, expected)


def test_same_with_kernel_larger_than_input():
    """'same' pads enough for any kernel: i=3, k=7 -> total padding (3-1) + 6 + 1 - 3 = 6
    -> 3 (stride 1); i=2, k=5, s=2 -> ceil(2/2) = 1."""
    assert cos(3, 7, padding="same") == 3
    assert cos((3, 2), (7, 5), stride=(1, 2), padding="same") == (3, 1)


def test_valid():
    """'valid' = no padding: i - d*(k-1) - 1 over s, plus one."""
    assert cos(10, 3, padding="valid") == 8
    assert cos(10, 3, stride=3, padding="valid") == 3          # floor(7/3)+1
    assert cos((10, 9), (3, 2), stride=(3, 2), padding="valid") == (3, 4)
    assert cos(10, 3, dilation=2, padding="valid") == 6        # effective kernel 5


def test_per_side_padding():
    """Explicit per-side padding: only the total matters without ceil_mode."""
    assert cos((5, 5), 3, padding=((0, 2), (1, 0))) == (5, 4)
    assert cos((5,), 3, padding=((0, 2),)) == (5,)
    assert cos((5,), 3, padding=(0, 2)) == (5,)             # 1-D flat (before, after) pair
    assert cos((5, 6), 3, stride=2, padding=((2, 1), (0, 0))) == (3, 2)  # floor(5/2)+1
    assert cos((5, 6), 3, stride=2, padding=(1, 0)) == (3, 2)  # (ph, pw) pair


def test_int_input_with_flat_pair_padding():
    """An int input size is one spatial dimension, so the 1-D flat (before, after) pair
    applies: 5 + 0 + 2 - 3 + 1 = 5."""
    assert cos(5, 3, padding=(0, 2)) == 5
    assert cos(5, 3, padding=((0, 2),)) == 5


def test_dilation():
    """Dilation widens the kernel to d*(k-1)+1: i=7, k=3, d=2 -> 7-5+1 = 3; with padding 2,
    stride 2: floor((7+4-5)/2)+1 = 4; per-dimension tuples."""
    assert cos(7, 3, dilation=2) == 3
    assert cos(7, 3, stride=2, padding=2, dilation=2) == 4
    assert cos((7, 9), (3, 2), dilation=(2, 3)) == (3, 6)
    assert cos((7, 9), 3, dilation=(1, 4)) == (5, 1)


def test_return_types_and_dims():
    """int in -> int out; tuple (or list) of 1-3 dims in -> tuple of that length out."""
    r = cos(9, 3)
    assert type(r) is int and r == 7
    assert cos((9,), 3) == (7,)
    assert cos((9,), (3,)) == (7,)
    assert cos([9], 3) == (7,)
    assert cos((9, 8), 3) == (7, 6)
    assert cos([9, 8], [3, 2]) == (7, 7)
    assert cos((9, 8, 7), 3) == (7, 6, 5)
    assert cos((9, 8, 7), (3, 2, 1), stride=(1, 2, 3), padding=(1, 0, 2)) == (9, 4, 4)
    r = cos((9, 8, 7), 3, stride=2)
    assert isinstance(r, tuple) and all(type(v) is int for v in r) and r == (4, 3, 3)


def test_numpy_integer_arguments():
    """NumPy integer scalars are accepted wherever ints are."""
    assert cos(np.int64(200), np.int32(40), stride=np.int64(2)) == 81
    assert cos((np.int64(6), np.int64(5)), np.int16(2)) == (5, 4)


@pytest.mark.parametrize("args, kwargs", [
    ((3, 5), {}),                                   # kernel larger than the input
    ((5, 7), {"stride": 2}),
    ((3, 3), {"dilation": 2}),                      # effective kernel 5 > 3
    ((2, 4), {"padding": ((0, 1),)}),               # 2 + 1 < 4
    (((6, 3), 4), {}),                              # only the second dimension fails
    (((6, 3, 4), (1, 1, 5)), {}),
])
def test_kernel_too_large_raises(args, kwargs):
    """out < 1 (kernel larger than the padded input) raises ValueError naming the argument."""
    with pytest.raises(ValueError, match="kernel_size") as info:
        cos(*args, **kwargs)
    assert "`" in str(info.value)  # arguments are named in backticks


def test_kernel_fits_exactly_after_padding():
    """The boundary just before the error: padded input == effective kernel -> 1."""
    assert cos(3, 5, padding=1) == 1
    assert cos(3, 3, dilation=2, padding=1) == 1
    assert cos(2, 4, padding=(1, 1)) == 1
