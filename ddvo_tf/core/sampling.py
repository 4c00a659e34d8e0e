"""Batched bilinear and bicubic sampling with an in-view mask: plain TF gathers, XLA-compilable.

Bilinear semantics follow ``tfa.image.resampler`` (see BUILD_NOTES.md for why that package is not
used): pixel centres at integer coordinates (``geometry`` module docstring), coordinates ordered
``(x, y)``, and each of the four neighbours that falls outside the image contributes zero.
Bicubic is Keys' cubic convolution with ``a = -1/2`` (Catmull-Rom), whose slope at a pixel centre
is the central difference there: the derivative the DDVO Jacobian is built from, so the warped
image and its linearisation agree.  Outside the image it reads the border pixels repeated.
Both are differentiable with respect to the image and to the coordinates (through the
interpolation weights; the neighbour indices are piecewise constant).
"""
from __future__ import annotations

import tensorflow as tf


INTERPOLATIONS = ("bilinear", "bicubic")


def check_interpolation(interpolation: str) -> None:
    """Raise a ``ValueError`` naming the choices unless ``interpolation`` is one of them."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")


def in_image(coords: tf.Tensor, height, width) -> tf.Tensor:
    """``[B, H', W']`` bool: finite ``coords [B, H', W', 2]`` inside the convex hull of the pixel
    centres of an ``height x width`` image, where every interpolation is a true one."""
    x, y = coords[..., 0], coords[..., 1]
    finite = tf.reduce_all(tf.math.is_finite(coords), axis=-1)
    return finite & (x >= 0.0) & (x <= width - 1.0) & (y >= 0.0) & (y <= height - 1.0)


def neighbourhoods(image: tf.Tensor, interpolation: str = "bilinear") -> tf.Tensor:
    """The 2x2 neighbourhood of every pixel of ``image [B, H, W, C]`` zero-padded by one pixel
    left/top and two right/bottom: ``[B, H + 2, W + 2, 4C]``, channels ordered
    ``(top-left, top-right, bottom-left, bottom-right)``.

    Stacking the neighbours once turns each bilinear lookup into one contiguous gather, and the
    padding makes every clamped index valid, so no per-corner bounds checks are needed.  Callers
    that sample the same image many times (the DDVO iterations) compute this once.

    ``interpolation="bicubic"``: the 4x4 neighbourhood (rows, then columns, from one above/left of
    the 2x2 one), ``[B, H + 2, W + 2, 16C]``, the image extended by repeating its border pixels.
    """
    check_interpolation(interpolation)
    if interpolation == "bilinear":
        padded = tf.pad(image, [[0, 0], [1, 2], [1, 2], [0, 0]])
        taps = 2
    else:
        height, width = image.shape[1], image.shape[2]
        # Border repeated (index clamping), two pixels left/top and three right/bottom.
        rows = tf.clip_by_value(tf.range(-2, height + 3), 0, height - 1)
        cols = tf.clip_by_value(tf.range(-2, width + 3), 0, width - 1)
        padded = tf.gather(tf.gather(image, rows, axis=1), cols, axis=2)
        taps = 4
    size_y, size_x = padded.shape[1] - taps + 1, padded.shape[2] - taps + 1
    return tf.concat([padded[:, dy:dy + size_y, dx:dx + size_x] for dy in range(taps) for dx in range(taps)],
                     axis=-1)


def _cubic_weights(t: tf.Tensor) -> tf.Tensor:
    """Keys' (a = -1/2) weights of the taps at offsets -1, 0, 1, 2 for a fraction ``t`` in [0, 1)
    (``[...]`` -> ``[..., 4]``, summing to 1)."""
    t2 = t * t
    t3 = t2 * t
    return 0.5 * tf.stack([-t3 + 2.0 * t2 - t, 3.0 * t3 - 5.0 * t2 + 2.0,
                           -3.0 * t3 + 4.0 * t2 + t, t3 - t2], axis=-1)


def _cubic_slopes(t: tf.Tensor) -> tf.Tensor:
    """``d/dt`` of :func:`_cubic_weights`."""
    t2 = t * t
    return 0.5 * tf.stack([-3.0 * t2 + 4.0 * t - 1.0, 9.0 * t2 - 10.0 * t,
                           -9.0 * t2 + 8.0 * t + 1.0, 3.0 * t2 - 2.0 * t], axis=-1)


def sample_neighbourhoods(stacked: tf.Tensor, coords: tf.Tensor, interpolation: str = "bilinear",
                          with_slopes: bool = False) -> tuple[tf.Tensor, ...]:
    """:func:`bilinear_sample` (or its bicubic counterpart) on the output of :func:`neighbourhoods`
    made with the same ``interpolation`` (same return values).

    ``with_slopes``: also the derivatives of the values along x and along y (``[B, H', W', C]``
    each, those of the coordinates' derivative; 0 beyond the padding), from the same gather: the
    DDVO step's derivative needs them at every row, and two forward-mode passes through the
    sampling cost two more gathers."""
    with tf.name_scope("sample"):
        check_interpolation(interpolation)
        coords = tf.convert_to_tensor(coords, dtype=stacked.dtype)
        if stacked.shape.rank != 4 or coords.shape.rank != 4 or coords.shape[-1] != 2:
            raise ValueError(f"expected image [B,H,W,C] and coords [B,H',W',2], "
                             f"got {stacked.shape} and {coords.shape}")
        taps = 2 if interpolation == "bilinear" else 4
        batch = tf.shape(stacked)[0]
        stacked_width = tf.shape(stacked)[2]                       # W + 2
        height = tf.cast(tf.shape(stacked)[1] - 2, stacked.dtype)
        width = tf.cast(stacked_width - 2, stacked.dtype)
        channels = stacked.shape[-1] // taps ** 2

        in_view = in_image(coords, height, width)
        finite = tf.reduce_all(tf.math.is_finite(coords), axis=-1)
        coords = tf.where(finite[..., None], coords, tf.fill(tf.shape(coords), tf.constant(-2.0, stacked.dtype)))
        x, y = coords[..., 0], coords[..., 1]
        if with_slopes:   # beyond the padding the value is constant along that axis
            inside_x = tf.cast((x >= -1.0) & (x <= width), stacked.dtype)
            inside_y = tf.cast((y >= -1.0) & (y <= height), stacked.dtype)
        # Points beyond one pixel outside the image read only padding; clamping them there
        # keeps floor() and the index exact.  Shift by one for the top/left padding.
        x = tf.clip_by_value(x, -1.0, width) + 1.0
        y = tf.clip_by_value(y, -1.0, height) + 1.0
        x0 = tf.floor(x)
        y0 = tf.floor(y)
        fx, fy = x - x0, y - y0
        index = tf.cast(y0, tf.int32) * stacked_width + tf.cast(x0, tf.int32)
        flat = tf.reshape(stacked, [batch, -1, taps * taps * channels])
        taps_values = tf.gather(flat, tf.reshape(index, [batch, -1]), batch_dims=1)
        taps_values = tf.reshape(taps_values, tf.concat([tf.shape(coords)[:3], [taps * taps, channels]], 0))
        if taps == 2:
            weights_x = tf.stack([1.0 - fx, fx], axis=-1)
            weights_y = tf.stack([1.0 - fy, fy], axis=-1)
        else:
            weights_x, weights_y = _cubic_weights(fx), _cubic_weights(fy)
        taps_shape = tf.concat([tf.shape(coords)[:3], [taps * taps]], 0)

        def combine(along_y, along_x):
            # Row-major taps: weight (dy, dx) = w_y[dy] w_x[dx].
            weights = tf.reshape(along_y[..., :, None] * along_x[..., None, :], taps_shape)
            return tf.reduce_sum(weights[..., None] * taps_values, axis=-2)

        in_view = tf.cast(in_view, stacked.dtype)[..., None]
        values = combine(weights_y, weights_x)
        if not with_slopes:
            return values, in_view
        if taps == 2:
            slopes_x = tf.stack([-tf.ones_like(fx), tf.ones_like(fx)], axis=-1)
            slopes_y = tf.stack([-tf.ones_like(fy), tf.ones_like(fy)], axis=-1)
        else:
            slopes_x, slopes_y = _cubic_slopes(fx), _cubic_slopes(fy)
        return (values, in_view, combine(weights_y, slopes_x) * inside_x[..., None],
                combine(slopes_y, weights_x) * inside_y[..., None])


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


def bicubic_sample(image: tf.Tensor, coords: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """:func:`bilinear_sample` with Keys' cubic convolution (``a = -1/2``) over the 4x4 neighbours,
    the image extended by its border pixels; ``in_view`` as there.  Reproduces quadratic
    intensity exactly where the 4x4 neighbourhood lies inside the image."""
    image = tf.convert_to_tensor(image)
    if image.shape.rank != 4:
        raise ValueError(f"expected image [B,H,W,C] and coords [B,H',W',2], got {image.shape}")
    return sample_neighbourhoods(neighbourhoods(image, "bicubic"), coords, "bicubic")
