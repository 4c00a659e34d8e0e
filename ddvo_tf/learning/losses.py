"""Training losses (paper, Section 4) and the inverse-depth normalization eta (Eq. 7).

Shapes: images ``[B, H, W, 3]`` in [0, 1]; inverse depth ``[B, H, W, 1]``; per-clip losses are
``[B]`` so that a batch's loss is exactly the mean of its clips' losses.

* :func:`normalize_inverse_depth` -- eta: divide by the mean over the whole clip (all three frames,
  so their relative scale, which the poses tie together, is kept), times ``target_mean``.
* :func:`photometric_loss` -- masked mean of L1, or of ``0.85 * (1 - SSIM) / 2 + 0.15 * L1`` (single
  scale 3x3 SSIM, Godard et al.) at the finest scale; pixels warped out of view or from behind
  the camera are excluded.
* :func:`smoothness_loss` -- Eq. 16: ``exp(-|lap I|) (|d_xx| + |d_xy| + |d_yy|)`` of the inverse
  depth, evaluated after downsampling by 2 three times and summed over the two coarsest
  (``d_xx``, ``d_yy`` central, ``d_xy`` the 2x2 mixed difference, each on its valid pixels).
"""
from __future__ import annotations

import tensorflow as tf

from ddvo_tf.core import geometry
from ddvo_tf.core.sampling import bilinear_sample

SSIM_WEIGHT = 0.85
SSIM_C1 = 0.01 ** 2
SSIM_C2 = 0.03 ** 2


def normalize_inverse_depth(inv_depth: tf.Tensor, target_mean: float = 1.0) -> tf.Tensor:
    """eta of Eq. 7 per clip: ``inv_depth [B, 3, H, W, 1] / mean over the clip * target_mean``."""
    mean = tf.reduce_mean(inv_depth, axis=[1, 2, 3, 4], keepdims=True)
    return inv_depth / mean * target_mean


def normalize_inverse_depths(inv_depths: list[tf.Tensor], target_mean: float = 1.0,
                             scope: str = "finest") -> list[tf.Tensor]:
    """eta on the four scales ``[B, 3, H_s, W_s, 1]`` of a clip: ``"finest"`` divides every scale by
    the finest scale's clip mean (the authors' code: the scales keep their relative size, so a coarse
    head cannot flatten itself apart from the finest one); ``"per_scale"`` gives each its own mean."""
    if scope == "per_scale":
        return [normalize_inverse_depth(d, target_mean) for d in inv_depths]
    mean = tf.reduce_mean(inv_depths[0], axis=[1, 2, 3, 4], keepdims=True)
    return [d / mean * target_mean for d in inv_depths]


def _pad_reflect(x: tf.Tensor) -> tf.Tensor:
    return tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")


def ssim_dissimilarity(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """``(1 - SSIM) / 2`` per pixel with 3x3 mean windows (reflect-padded: same size as input)."""
    pool = lambda t: tf.nn.avg_pool2d(_pad_reflect(t), 3, 1, "VALID")
    mu_x, mu_y = pool(x), pool(y)
    sigma_x = pool(x * x) - mu_x ** 2
    sigma_y = pool(y * y) - mu_y ** 2
    sigma_xy = pool(x * y) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + SSIM_C1) * (2 * sigma_xy + SSIM_C2)
    denominator = (mu_x ** 2 + mu_y ** 2 + SSIM_C1) * (sigma_x + sigma_y + SSIM_C2)
    return tf.clip_by_value((1 - numerator / denominator) / 2, 0.0, 1.0)


def masked_mean(error: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Per-clip mean of ``error [B, H, W, C]`` over pixels where ``mask [B, H, W, 1]`` is 1."""
    total = tf.reduce_sum(error * mask, axis=[1, 2, 3])
    count = tf.reduce_sum(mask, axis=[1, 2, 3]) * tf.cast(tf.shape(error)[-1], error.dtype)
    return total / tf.maximum(count, 1.0)


def warp(src_image: tf.Tensor, ref_inv_depth: tf.Tensor, pose: tf.Tensor, intrinsics: tf.Tensor
         ) -> tuple[tf.Tensor, tf.Tensor]:
    """Inverse-warp ``src_image`` into the reference view: ``(warped, valid mask)``."""
    coords, in_front = geometry.warp_coordinates(ref_inv_depth, pose, intrinsics)
    warped, in_view = bilinear_sample(src_image, coords)
    return warped, in_view * in_front


def photometric_loss(ref_image: tf.Tensor, warped: tf.Tensor, mask: tf.Tensor, use_ssim: bool
                     ) -> tf.Tensor:
    """Per-clip appearance dissimilarity ``[B]`` between the reference and a warped source."""
    l1 = tf.abs(ref_image - warped)
    if not use_ssim:
        return masked_mean(l1, mask)
    error = SSIM_WEIGHT * ssim_dissimilarity(ref_image, warped) + (1 - SSIM_WEIGHT) * l1
    return masked_mean(error, mask)


_LAPLACIAN = [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]


def _laplacian_weight(grey: tf.Tensor) -> tf.Tensor:
    """``exp(-|lap I|)`` per pixel (symmetric padding at the border)."""
    kernel = tf.constant(_LAPLACIAN, grey.dtype)[:, :, None, None]
    padded = tf.pad(grey, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
    return tf.exp(-tf.abs(tf.nn.conv2d(padded, kernel, 1, "VALID")))


def second_order_cost(inv_depth: tf.Tensor, weight: tf.Tensor) -> tf.Tensor:
    """Per-clip ``mean(w |d_xx|) + mean(w |d_xy|) + mean(w |d_yy|)`` over each derivative's valid
    pixels (no padding: a padded border would charge a linear ramp); a derivative that does not fit
    a tiny map (fewer than 3 rows or columns) is left out."""
    d, w = inv_depth, weight
    height, width = d.shape[1], d.shape[2]
    terms = []
    if width >= 3:
        terms.append((d[:, :, 2:] - 2 * d[:, :, 1:-1] + d[:, :, :-2], w[:, :, 1:-1]))
    if height >= 3:
        terms.append((d[:, 2:] - 2 * d[:, 1:-1] + d[:, :-2], w[:, 1:-1]))
    if height >= 2 and width >= 2:
        terms.append((d[:, 1:, 1:] - d[:, 1:, :-1] - d[:, :-1, 1:] + d[:, :-1, :-1], w[:, :-1, :-1]))
    total = tf.zeros(tf.shape(d)[:1], d.dtype)
    for derivative, term_weight in terms:
        total += tf.reduce_mean(term_weight * tf.abs(derivative), axis=[1, 2, 3])
    return total


def scale_anchor_loss(raw_inv_depth: tf.Tensor, anchor: float) -> tf.Tensor:
    """Per-clip ``(log mean(raw finest inverse depth of the clip) - log anchor)^2`` ``[B]``.

    eta makes the photometric loss blind to the raw scale, so the raw scale is a gauge freedom; but
    the output ``sigmoid * 10 + 0.01`` is not scale-equivariant: shifting every logit up (or far
    down) flattens the normalized map, which lowers the smoothness prior at no photometric cost,
    until the sigmoid saturates and passes no gradient (bench/results/collapse.md).
    This term fixes the gauge: it pins the raw clip mean near ``anchor`` (where the sigmoid is near
    its exponential regime, so a logit shift is almost a pure scale, and leaves 10x headroom above
    the mean for near objects and 100x below for far ones) and leaves every normalized shape free.
    """
    mean = tf.reduce_mean(raw_inv_depth, axis=[1, 2, 3, 4])
    return tf.square(tf.math.log(mean) - tf.math.log(tf.constant(anchor, mean.dtype)))


def prior_loss(inv_depths: list[tf.Tensor], images: list[tf.Tensor], maps: str = "authors",
               levels: tuple[int, ...] = (2, 3)) -> tf.Tensor:
    """Per-image smoothness ``[N]`` of the four scales ``inv_depths[s] [N, H_s, W_s, 1]`` with their
    images ``images[s] [N, H_s, W_s, 3]``.

    ``"authors"`` (their ``multi_scale_image_aware_smoothness_cost``, Section 4 (2)): at each pyramid
    level ``l`` in ``levels`` (1/4 and 1/8), the finest map downsampled ``l`` times and the network's
    own level-``l`` output, each weighted ``1 / 2^l``.  ``"halvings"``: every scale halved three times,
    the two coarsest summed, unweighted (this project's first reading; 2x6 maps at the coarsest).
    """
    if maps == "halvings":
        return tf.add_n([smoothness_loss(d, i) for d, i in zip(inv_depths, images)])
    if min(len(inv_depths), len(images)) <= max(levels):
        raise ValueError(f"levels {levels} need {max(levels) + 1} scales, got {len(inv_depths)} maps "
                         f"and {len(images)} images")
    total = tf.zeros(tf.shape(inv_depths[0])[:1], inv_depths[0].dtype)
    finest = inv_depths[0]
    for level in range(1, max(levels) + 1):
        if finest.shape[1] >= 2 and finest.shape[2] >= 2:
            finest = geometry.downsample(finest)
        if level in levels:
            weight = _laplacian_weight(tf.reduce_mean(images[level], axis=-1, keepdims=True))
            own = second_order_cost(inv_depths[level], weight)
            total += (second_order_cost(finest, weight) + own) / 2 ** level
    return total


def smoothness_loss(inv_depth: tf.Tensor, image: tf.Tensor, num_downsamples: int = 3,
                    levels_used: int = 2) -> tf.Tensor:
    """Per-clip Eq. 16 ``[B]`` summed over the ``levels_used`` coarsest of ``num_downsamples``
    halvings of ``inv_depth [B, H, W, 1]``, weighted by the Laplacian of ``image [B, H, W, 3]``."""
    depth, grey = inv_depth, tf.reduce_mean(image, axis=-1, keepdims=True)
    total = tf.zeros(tf.shape(inv_depth)[:1], inv_depth.dtype)
    for level in range(1, num_downsamples + 1):
        if depth.shape[1] >= 2 and depth.shape[2] >= 2:   # tiny test images stop halving at 1 pixel
            depth, grey = geometry.downsample(depth), geometry.downsample(grey)
        if level > num_downsamples - levels_used:
            total += second_order_cost(depth, _laplacian_weight(grey))
    return total
