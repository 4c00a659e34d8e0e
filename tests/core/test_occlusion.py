"""The z-buffer of ddvo_tf.core.occlusion against a float64 numpy z-buffer and scenes whose occlusion is
known by construction."""
import numpy as np
import tensorflow as tf

from ddvo_tf.core import geometry
from ddvo_tf.core.occlusion import visible_mask


def reference_visible(coords, inv_depth, valid, margin):
    """Loop over points: hidden when another valid point shares one of its 2x2 landing pixels and
    is nearer by more than ``margin`` (relative inverse depth)."""
    batch, height, width, _ = coords.shape
    out = valid.copy()
    for b in range(batch):
        cells = {}
        points = []
        for i in range(height):
            for j in range(width):
                if not valid[b, i, j, 0]:
                    continue
                x, y = coords[b, i, j]
                x0, y0 = int(np.floor(x)), int(np.floor(y))
                mine = {(min(yy, height - 1), min(xx, width - 1)) for yy in (y0, y0 + 1) for xx in (x0, x0 + 1)}
                points.append(((i, j), mine))
                for c in mine:
                    cells[c] = max(cells.get(c, 0.0), inv_depth[b, i, j, 0])
        for (i, j), mine in points:
            if max(cells[c] for c in mine) > inv_depth[b, i, j, 0] * (1 + margin):
                out[b, i, j, 0] = 0.0
    return out


def test_matches_numpy_zbuffer_on_random_landings():
    rng = np.random.default_rng(0)
    coords = np.stack([rng.uniform(0, 11, (2, 6, 12)), rng.uniform(0, 5, (2, 6, 12))], -1)
    inv_depth = rng.uniform(0.1, 1.0, (2, 6, 12, 1))
    valid = (rng.random((2, 6, 12, 1)) > 0.2).astype(np.float64)
    got = visible_mask(tf.constant(coords), tf.constant(inv_depth), tf.constant(valid), margin=0.05).numpy()
    np.testing.assert_array_equal(got, reference_visible(coords, inv_depth, valid, 0.05))
    assert 0 < got.sum() < valid.sum()   # some hidden, some seen


def test_a_wall_behind_a_near_box_is_hidden_where_the_box_slides_over_it():
    # Reference: a fronto-parallel wall at 10 m with a box at 2 m in columns 20-29; the camera moves
    # 0.4 m to the right, so the box shifts left by f*0.4*(1/2 - 1/10) = 8 px more than the wall and
    # covers the wall's columns just left of it.  Nothing else overlaps.
    height, width, focal = 8, 48, 50.0
    intrinsics = tf.constant([[[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]]], tf.float64)
    inv_depth = np.full((1, height, width, 1), 0.1)
    inv_depth[:, :, 20:30] = 0.5
    coords, in_front, src_inv_depth = geometry.transform_pixels(
        tf.constant(inv_depth), tf.eye(3, batch_shape=[1], dtype=tf.float64),
        tf.constant([[-0.4, 0.0, 0.0]], tf.float64), intrinsics, with_inv_depth=True)
    valid = in_front * tf.cast((coords[..., :1] >= 0) & (coords[..., :1] <= width - 1), tf.float64)
    visible = visible_mask(coords, src_inv_depth, valid).numpy()[0, :, :, 0]
    np.testing.assert_allclose(src_inv_depth.numpy(), inv_depth)   # pure sideways motion
    hidden_columns = sorted(set(np.nonzero(visible == 0)[1]) - set(np.nonzero(valid.numpy()[0, :, :, 0] == 0)[1]))
    # Wall columns 12-19 land where box columns 20-27 do (shift 2 px vs 10 px); the landing pixels
    # are shared one column further on each side of the 2x2 footprint.
    assert set(range(13, 20)) <= set(hidden_columns) <= set(range(11, 20)), hidden_columns
    assert np.all(visible[:, 20:30] == 1)                          # the box itself is seen


def test_invalid_points_neither_hide_nor_are_seen():
    coords = tf.constant([[[[2.2, 1.0], [2.3, 1.0], [np.nan, np.inf]]]], tf.float32)
    inv_depth = tf.constant([[[[0.1], [0.9], [5.0]]]], tf.float32)
    valid = tf.constant([[[[1.0], [0.0], [0.0]]]], tf.float32)
    np.testing.assert_array_equal(visible_mask(coords, inv_depth, valid).numpy()[0, 0, :, 0], [1, 0, 0])


def test_compiles_under_xla_and_has_no_gradient():
    rng = np.random.default_rng(1)
    coords = tf.constant(np.stack([rng.uniform(0, 9, (1, 4, 10)), rng.uniform(0, 3, (1, 4, 10))], -1), tf.float32)
    inv_depth = tf.constant(rng.uniform(0.1, 1, (1, 4, 10, 1)), tf.float32)
    valid = tf.ones([1, 4, 10, 1])
    eager = visible_mask(coords, inv_depth, valid)
    np.testing.assert_array_equal(tf.function(visible_mask, jit_compile=True)(coords, inv_depth, valid), eager)
    with tf.GradientTape() as tape:
        tape.watch(inv_depth)
        total = tf.reduce_sum(visible_mask(coords, inv_depth, valid))
    assert tape.gradient(total, inv_depth) is None
