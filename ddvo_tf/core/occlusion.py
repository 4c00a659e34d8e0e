"""Which warped points are hidden behind nearer ones: a z-buffer by scatter-max (XLA-compilable).

When the reference image is warped into the source view, two reference points can land on the
same source pixel; only the nearer one is seen there, and the farther one's photometric residual
compares it with the occluder's intensity.  Each point writes its source-camera inverse depth into
the 2x2 source pixels around its landing point (``tf.math.unsorted_segment_max``: one scatter, no
sort, static shapes), then reads the largest value written there; a point is occluded when that
value exceeds its own by more than a relative ``margin`` (points of one surface landing side by
side differ by far less; an occluding edge by much more).

Shapes: ``coords [B, H, W, 2]`` (``(x, y)`` pixel coordinates in a source image of the same
``H x W``, pixel centres at integers as in :mod:`ddvo_tf.core.geometry`), ``inv_depth [B, H, W, 1]``
(each point's inverse depth in the source camera), ``valid [B, H, W, 1]`` (1 where the point is in
view and in front).  The result is a constant of the pose for differentiation (piecewise constant).
"""
from __future__ import annotations

import tensorflow as tf

# A farther point is occluded when a point landing within a pixel of it is nearer by more than this
# share of inverse depth (bench/results/ddvo_objective.md).
DEFAULT_MARGIN = 0.05


def visible_mask(coords: tf.Tensor, inv_depth: tf.Tensor, valid: tf.Tensor,
                 margin: float = DEFAULT_MARGIN) -> tf.Tensor:
    """``[B, H, W, 1]`` float: 1 where the point is valid and no valid point landing in the same
    2x2 source pixels is nearer by more than ``margin`` (relative inverse depth), else 0."""
    with tf.name_scope("visible_mask"):
        coords, inv_depth, valid = (tf.stop_gradient(tf.convert_to_tensor(t)) for t in (coords, inv_depth, valid))
        batch = tf.shape(coords)[0]
        height, width = coords.shape[1], coords.shape[2]
        depth = tf.where(valid > 0, inv_depth, tf.zeros_like(inv_depth))[..., 0]
        # Invalid points may lie anywhere (or be non-finite): park them on pixel 0, where they
        # write 0 and are not read.
        x = tf.where(valid[..., 0] > 0, coords[..., 0], tf.zeros_like(coords[..., 0]))
        y = tf.where(valid[..., 0] > 0, coords[..., 1], tf.zeros_like(coords[..., 1]))
        x0 = tf.clip_by_value(tf.cast(tf.floor(x), tf.int32), 0, width - 1)
        y0 = tf.clip_by_value(tf.cast(tf.floor(y), tf.int32), 0, height - 1)
        x1 = tf.minimum(x0 + 1, width - 1)
        y1 = tf.minimum(y0 + 1, height - 1)
        base = tf.range(batch)[:, None, None] * (height * width)
        cells = tf.stack([base + yy * width + xx for yy in (y0, y1) for xx in (x0, x1)], axis=-1)  # [B,H,W,4]
        values = tf.broadcast_to(depth[..., None], tf.shape(cells))
        nearest = tf.math.unsorted_segment_max(tf.reshape(values, [-1]), tf.reshape(cells, [-1]),
                                               batch * height * width)
        seen = tf.reduce_max(tf.gather(nearest, cells), axis=-1)
        hidden = seen > depth * (1.0 + margin)
        return tf.where(hidden[..., None], tf.zeros_like(valid), valid)
