"""Batched bilinear sampling with an in-view mask (plain TF gathers, XLA-compilable).

Semantics follow ``tfa.image.resampler`` (see BUILD_NOTES.md for why that package is not used):
pixel centres at integer coordinates (``geometry`` module docstring), coordinates ordered
``(x, y)``, and each of the four neighbours that falls outside the image contributes zero.
The result is differentiable with respect to the image and to the coordinates (through the
bilinear weights; the neighbour indices are piecewise constant).
"""
from __future__ import annotations

import tensorflow as tf


def bilinear_sample(image: tf.Tensor, coords: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Sample ``image [B, H, W, C]`` at ``coords [B, H', W', 2]`` (pixel units, ``(x, y)``).

    Returns ``values [B, H', W', C]`` and ``in_view [B, H', W', 1]`` (float 0/1), which is 1 where
    the point lies inside the convex hull of the pixel centres, ``0 <= x <= W-1`` and
    ``0 <= y <= H-1``, i.e. where all four neighbours exist and the value is a true interpolation.
    Non-finite coordinates give value 0 and mask 0.
    """
    with tf.name_scope("bilinear_sample"):
        image = tf.convert_to_tensor(image)
        coords = tf.convert_to_tensor(coords, dtype=image.dtype)
        if image.shape.rank != 4 or coords.shape.rank != 4 or coords.shape[-1] != 2:
            raise ValueError(f"expected image [B,H,W,C] and coords [B,H',W',2], "
                             f"got {image.shape} and {coords.shape}")
        batch = tf.shape(image)[0]
        height, width = tf.shape(image)[1], tf.shape(image)[2]
        channels = image.shape[-1]
        out_shape = tf.shape(coords)[:3]

        finite = tf.reduce_all(tf.math.is_finite(coords), axis=-1)
        coords = tf.where(finite[..., None], coords, tf.fill(tf.shape(coords), tf.constant(-2.0, image.dtype)))
        x, y = coords[..., 0], coords[..., 1]
        w_max = tf.cast(width - 1, image.dtype)
        h_max = tf.cast(height - 1, image.dtype)
        in_view = finite & (x >= 0.0) & (x <= w_max) & (y >= 0.0) & (y <= h_max)

        # Clamp far-away points to a band around the image first so that floor() and the int cast
        # stay exact; every neighbour of a clamped point is outside and weighs zero anyway.
        x = tf.clip_by_value(x, -2.0, w_max + 2.0)
        y = tf.clip_by_value(y, -2.0, h_max + 2.0)
        x0 = tf.floor(x)
        y0 = tf.floor(y)
        wx1 = x - x0
        wy1 = y - y0
        wx0 = 1.0 - wx1
        wy0 = 1.0 - wy1
        x0i = tf.cast(x0, tf.int32)
        y0i = tf.cast(y0, tf.int32)

        flat = tf.reshape(image, [batch, -1, channels])
        result = tf.zeros(tf.concat([out_shape, [channels]], 0), image.dtype)
        for dx, dy, weight in ((0, 0, wx0 * wy0), (1, 0, wx1 * wy0), (0, 1, wx0 * wy1),
                               (1, 1, wx1 * wy1)):
            xi = x0i + dx
            yi = y0i + dy
            valid = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
            index = tf.clip_by_value(yi, 0, height - 1) * width + tf.clip_by_value(xi, 0, width - 1)
            gathered = tf.gather(flat, tf.reshape(index, [batch, -1]), batch_dims=1)
            gathered = tf.reshape(gathered, tf.shape(result))
            weight = tf.where(valid, weight, tf.zeros_like(weight))
            result += weight[..., None] * gathered
        return result, tf.cast(in_view, image.dtype)[..., None]
