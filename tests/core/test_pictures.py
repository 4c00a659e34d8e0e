"""Pictures (ddvo_tf/core/pictures.py): near is bright, the default range ignores a few extreme pixels,
panels of other heights are scaled to the first, PNGs are written whole."""
import os

import cv2
import numpy as np
import pytest

from ddvo_tf.core import pictures


def _brightness(rgb):
    return rgb.astype(np.float64).sum(axis=-1)


def test_near_is_bright_and_a_few_outliers_do_not_wash_out_the_map():
    inv_depth = np.tile(np.linspace(0.1, 1.0, 50), (20, 1))     # right = nearer
    inv_depth[0, 0] = 1e6                                         # one absurd pixel
    colour = pictures.colorize_inverse_depth(inv_depth)
    assert colour.shape == (20, 50, 3) and colour.dtype == np.uint8
    row = _brightness(colour[10])
    assert np.all(np.diff(row) >= 0) and row[-1] > row[0] + 300   # monotone, full range despite the outlier
    fixed = pictures.colorize_inverse_depth(inv_depth, low=0.0, high=2.0)
    assert _brightness(fixed[10]).max() < _brightness(colour[10]).max()   # an explicit range is kept


@pytest.mark.parametrize("shape", [(1, 1), (5, 1), (1, 5), (4, 6, 1)])
def test_any_map_keeps_its_shape(shape):
    assert pictures.colorize_inverse_depth(np.random.default_rng(0).uniform(size=shape)).shape[:2] == shape[:2]


def test_a_map_that_is_not_two_dimensional_is_refused():
    with pytest.raises(ValueError, match=r"expected an \[H, W\]"):
        pictures.colorize_inverse_depth(np.zeros((2, 3, 4)))


def test_side_by_side_scales_panels_to_the_first_height_and_png_round_trips(tmp_path):
    left = pictures.to_uint8(np.full((10, 8, 3), 0.5))
    right = np.zeros((20, 20, 3), np.uint8)
    joined = pictures.side_by_side(left, right)
    assert joined.shape == (10, 18, 3) and joined[0, 0, 0] == 128
    path = str(tmp_path / "p.png")
    pictures.write_png(path, joined)
    assert os.listdir(tmp_path) == ["p.png"]                      # no temporary file left
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB), joined)
