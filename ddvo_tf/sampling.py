"""Batched bilinear sampling with an in-view mask (plain TF gathers, XLA-compilable).

Semantics follow ``tfa.image.resampler`` (see BUILD_NOTES.md for why that package is not used):
pixel centres at integer coordinates (``geometry`` module docstring), coordinates ordered
``(x, y)``, and each of the four neighbours that falls outside the image contributes zero.
The result is differentiable with respect to the image and to the coordinates (through the
bilinear weights; the neighbour indices are piecewise constant).
"""
from __future__ import annotations

import tensorflow as tf


def neighbourhoods(image: tf.Tensor) -> tf.Tensor:
    """The 2x2 neighbourhood of every pixel of ``image [B, H, W, C]`` zero-padded by one pixel
    left/top and two right/bottom: ``[B, H + 2, W + 2, 4C]``, channels ordered
    ``(top-left, top-right, bottom-left, bottom-right)``.

    Stacking the neighbours once turns each bilinear lookup into one contiguous gather, and the
    padding makes every clamped index valid, so no per-corner bounds checks are needed.  Callers
    that sample the same image many times (the DDVO iterations) compute this once.
    """
    padded = tf.pad(image, [[0, 0], [1, 2], [1, 2], [0, 0]])
    return tf.concat([padded[:, :-1, :-1], padded[:, :-1, 1:], padded[:, 1:, :-1], padded[:, 1:, 1:]],
                     axis=-1)


def sample_neighbourhoods(stacked: tf.Tensor, coords: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """:func:`bilinear_sample` on the output of :func:`neighbourhoods` (same return values)."""
    with tf.name_scope("bilinear_sample"):
        coords = tf.convert_to_tensor(coords, dtype=stacked.dtype)
        if stacked.shape.rank != 4 or coords.shape.rank != 4 or coords.shape[-1] != 2:
            raise ValueError(f"expected image [B,H,W,C] and coords [B,H',W',2], "
                             f"got {stacked.shape} and {coords.shape}")
        batch = tf.shape(stacked)[0]
        stacked_width = tf.shape(stacked)[2]                       # W + 2
        height = tf.cast(tf.shape(stacked)[1] - 2, stacked.dtype)
        width = tf.cast(stacked_width - 2, stacked.dtype)
        channels = stacked.shape[-1] // 4

        finite = tf.reduce_all(tf.math.is_finite(coords), axis=-1)
        coords = tf.where(finite[..., None], coords, tf.fill(tf.shape(coords), tf.constant(-2.0, stacked.dtype)))
        x, y = coords[..., 0], coords[..., 1]
        in_view = finite & (x >= 0.0) & (x <= width - 1.0) & (y >= 0.0) & (y <= height - 1.0)
        # Points beyond one pixel outside the image read only zero padding; clamping them there
        # keeps floor() and the index exact.  Shift by one for the top/left padding.
        x = tf.clip_by_value(x, -1.0, width) + 1.0
        y = tf.clip_by_value(y, -1.0, height) + 1.0
        x0 = tf.floor(x)
        y0 = tf.floor(y)
        wx1, wy1 = x - x0, y - y0
        wx0, wy0 = 1.0 - wx1, 1.0 - wy1
        index = tf.cast(y0, tf.int32) * stacked_width + tf.cast(x0, tf.int32)
        flat = tf.reshape(stacked, [batch, -1, 4 * channels])
        corners = tf.gather(flat, tf.reshape(index, [batch, -1]), batch_dims=1)
        corners = tf.reshape(corners, tf.concat([tf.shape(coords)[:3], [4, channels]], 0))
        weights = tf.stack([wx0 * wy0, wx1 * wy0, wx0 * wy1, wx1 * wy1], axis=-1)
        values = tf.reduce_sum(weights[..., None] * corners, axis=-2)
        return values, tf.cast(in_view, stacked.dtype)[..., None]


def bilinear_sample(image: tf.Tensor, coords: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Sample ``image [B, H, W, C]`` at ``coords [B, H', W', 2]`` (pixel units, ``(x, y)``).

    Returns ``values [B, H', W', C]`` and ``in_view [B, H', W', 1]`` (float 0/1), which is 1 where
    the point lies inside the convex hull of the pixel centres, ``0 <= x <= W-1`` and
    ``0 <= y <= H-1``, i.e. where all four neighbours exist and the value is a true interpolation.
    Non-finite coordinates give value 0 and mask 0.
    """
    image = tf.convert_to_tensor(image)
    if image.shape.rank != 4:
        raise ValueError(f"expected image [B,H,W,C] and coords [B,H',W',2], got {image.shape}")
    return sample_neighbourhoods(neighbourhoods(image), coords)
