"""fastconv._layout: the data_format / weight_format strings and the weight views."""
import itertools

import numpy as np
import pytest

from fastconv import _layout as L


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_data_formats(nd):
    first, last = L.DATA_FORMATS[nd]
    assert L.data_format(nd, None) == (False, first)
    assert L.data_format(nd, first) == (False, first)
    assert L.data_format(nd, last) == (True, last)
    assert first == "NC" + "DHW"[3 - nd:] and last == "N" + "DHW"[3 - nd:] + "C"


@pytest.mark.parametrize("nd,bad", [(2, "NCW"), (2, "NDHWC"), (1, "NCHW"), (2, "nhwc"),
                                    (2, "NHCW"), (3, ""), (2, "channels_last")])
def test_bad_data_format(nd, bad):
    with pytest.raises(ValueError, match="`data_format` must be") as e:
        L.data_format(nd, bad)
    assert repr(bad) in str(e.value)
    if bad in ("NCW", "NDHWC", "NCHW"):
        assert "-D format" in str(e.value)


@pytest.mark.parametrize("bad", [1, b"NHWC", ("NHWC",), True])
def test_data_format_type(bad):
    with pytest.raises(TypeError, match="`data_format` must be a str"):
        L.data_format(2, bad)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_weight_format_defaults_and_errors(nd):
    oi, hwio, ohwi = L.WEIGHT_FORMATS[nd]
    assert L.weight_format(nd, None, False) == oi
    assert L.weight_format(nd, None, True) == hwio
    for f in (oi, hwio, ohwi):
        assert L.weight_format(nd, f, True) == f == L.weight_format(nd, f, False)
    wrong = L.WEIGHT_FORMATS[nd % 3 + 1][1]
    with pytest.raises(ValueError, match="`weight_format` must be one of"):
        L.weight_format(nd, wrong, False)
    with pytest.raises(TypeError, match="`weight_format` must be a str"):
        L.weight_format(nd, 3, False)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_weight_views_are_the_named_axes(nd):
    """Element (o, i, *t) of the OI... array sits at the place its letters say."""
    rng = np.random.default_rng(nd)
    oi_shape = (5, 3) + (2, 4, 3)[:nd]
    w = rng.standard_normal(oi_shape)
    sp = "DHW"[3 - nd:] if nd > 1 else "W"
    for fmt in L.WEIGHT_FORMATS[nd]:
        shape = L.weight_from_oi_shape(nd, oi_shape, fmt)
        assert L.weight_oi_shape(nd, shape, fmt) == oi_shape
        v = L.weight_view(nd, w, L.WEIGHT_FORMATS[nd][0], fmt)
        assert v.shape == shape
        assert np.shares_memory(v, w)
        for idx in itertools.islice(np.ndindex(*oi_shape), 0, None, 7):
            pos = {"O": idx[0], "I": idx[1], **dict(zip(sp, idx[2:]))}
            assert v[tuple(pos[a] for a in fmt)] == w[idx]
        # and back, from every format to every other
        for other in L.WEIGHT_FORMATS[nd]:
            back = L.weight_view(nd, L.weight_view(nd, v, fmt, other), other,
                                 L.WEIGHT_FORMATS[nd][0])
            np.testing.assert_array_equal(back, w)


def test_data_shapes():
    assert L.data_shape((2, 3, 5, 7), True) == (2, 5, 7, 3)
    assert L.data_shape((2, 3, 5, 7), False) == (2, 3, 5, 7)
    assert L.first_shape((2, 5, 7, 3), True) == (2, 3, 5, 7)
    assert L.first_shape(L.data_shape((4, 6, 9), True), True) == (4, 6, 9)
    assert L.data_axes(2, True) == "(N, H, W, C)"
    assert L.data_axes(3, False) == "(N, C, D, H, W)"
    assert L.data_axes(1, True, ("N", "O")) == "(N, L, O)"
