"""Rigid-body and camera geometry, written once for the whole project.

Conventions (every other module refers here):

* **Pose** ``p = [tx, ty, tz, wx, wy, wz]`` (shape ``[..., 6]``): a translation and the exponential
  coordinates of a rotation, ``R = exp([w]x)`` (Rodrigues).  It maps points of the *reference*
  camera into the *source* camera: ``X_src = R @ X_ref + t``.  This is the paper's parametrisation
  (Section 3.1: "concatenation of translation t and exponential coordinates w"), not the SE(3)
  twist: the translation is stored as is.
* **Cameras** look down +z, x to the right, y down (KITTI camera frame).  Units are metres.
* **Pixels** have their centres at integer coordinates: pixel ``(row i, col j)`` covers
  ``[j - 0.5, j + 0.5] x [i - 0.5, i + 0.5]``.  Coordinates are ordered ``(x, y) = (col, row)``.
* **Intrinsics** ``K`` are ``[B, 3, 3]`` and always describe the tensor they travel with, at that
  tensor's own resolution (see :func:`resize_intrinsics` and :func:`pyramid_intrinsics`).
* **Images** are float32 in [0, 1], NHWC.  **Inverse depth** ``d = 1/z`` is ``[B, H, W, 1]``.

The warp of Eq. 9-10 is ``x' = < R x~ + d t >`` with ``x~ = K^-1 [x, y, 1]^T`` and ``<.>`` the
perspective division followed by ``K``; multiplying ``X_ref = x~ / d`` by ``d`` keeps it finite
for points at infinity (``d = 0``).
"""
from __future__ import annotations

from typing import Optional, Sequence

import tensorflow as tf

# Below this squared angle the Rodrigues coefficients switch to their Taylor series; at 1e-6 rad^2
# the truncation error of the series is < 1e-13 and float32 round-off dominates either way.
_SMALL_ANGLE_SQ = 1e-6


def skew(vector: tf.Tensor) -> tf.Tensor:
    """Cross-product matrix ``[v]x`` of ``vector [..., 3]``, shape ``[..., 3, 3]``."""
    with tf.name_scope("skew"):
        vector = tf.convert_to_tensor(vector)
        x, y, z = tf.unstack(vector, axis=-1)
        zero = tf.zeros_like(x)
        rows = [tf.stack([zero, -z, y], -1), tf.stack([z, zero, -x], -1), tf.stack([-y, x, zero], -1)]
        return tf.stack(rows, axis=-2)


def so3_exp(omega: tf.Tensor) -> tf.Tensor:
    """Rodrigues' formula ``R = I + A [w]x + B [w]x^2``, ``A = sin t / t``, ``B = (1 - cos t) / t^2``.

    ``omega [..., 3]`` -> ``R [..., 3, 3]``.  Near ``t = |w| = 0`` the coefficients come from their
    Taylor series and the large-angle branch is evaluated at a safe dummy angle, so both the value
    and the gradient are exact and finite at (and around) zero.
    """
    with tf.name_scope("so3_exp"):
        omega = tf.convert_to_tensor(omega)
        theta_sq = tf.reduce_sum(tf.square(omega), axis=-1)
        small = theta_sq < _SMALL_ANGLE_SQ
        safe_theta_sq = tf.where(small, tf.ones_like(theta_sq), theta_sq)
        safe_theta = tf.sqrt(safe_theta_sq)
        a = tf.where(small, 1.0 - theta_sq / 6.0 + tf.square(theta_sq) / 120.0,
                     tf.sin(safe_theta) / safe_theta)
        b = tf.where(small, 0.5 - theta_sq / 24.0 + tf.square(theta_sq) / 720.0,
                     (1.0 - tf.cos(safe_theta)) / safe_theta_sq)
        w = skew(omega)
        eye = tf.eye(3, batch_shape=tf.shape(omega)[:-1], dtype=omega.dtype)
        return eye + a[..., None, None] * w + b[..., None, None] * tf.matmul(w, w)


def so3_log(rotation: tf.Tensor) -> tf.Tensor:
    """Inverse of :func:`so3_exp` for rotations of angle < pi: ``R [..., 3, 3]`` -> ``w [..., 3]``.

    ``w = t / sin t * vee((R - R^T) / 2)`` with ``t = atan2(sin t, cos t)``; the ratio uses its
    series near zero so the gradient is finite at the identity.  Camera motion between video
    frames is far from pi, where this map is ill-conditioned anyway.
    """
    with tf.name_scope("so3_log"):
        rotation = tf.convert_to_tensor(rotation)
        v = 0.5 * tf.stack([rotation[..., 2, 1] - rotation[..., 1, 2],
                            rotation[..., 0, 2] - rotation[..., 2, 0],
                            rotation[..., 1, 0] - rotation[..., 0, 1]], axis=-1)
        cos_theta = 0.5 * (tf.linalg.trace(rotation) - 1.0)
        sin_sq = tf.reduce_sum(tf.square(v), axis=-1)
        small = sin_sq < _SMALL_ANGLE_SQ
        safe_sin = tf.sqrt(tf.where(small, tf.ones_like(sin_sq), sin_sq))
        theta = tf.atan2(safe_sin, cos_theta)
        # t / sin t = 1 + s^2/6 + 3 s^4/40 + ...  with s = sin t (valid for cos t > 0).
        ratio = tf.where(small, 1.0 + sin_sq / 6.0 + 0.075 * tf.square(sin_sq), theta / safe_sin)
        return ratio[..., None] * v


def pose_to_matrix(pose: tf.Tensor) -> tf.Tensor:
    """``pose [..., 6]`` -> homogeneous transform ``[..., 4, 4]`` mapping reference to source."""
    with tf.name_scope("pose_to_matrix"):
        pose = tf.convert_to_tensor(pose)
        rotation = so3_exp(pose[..., 3:])
        top = tf.concat([rotation, pose[..., :3, None]], axis=-1)
        bottom = tf.broadcast_to(tf.constant([0.0, 0.0, 0.0, 1.0], pose.dtype),
                                 tf.concat([tf.shape(pose)[:-1], [1, 4]], 0))
        return tf.concat([top, bottom], axis=-2)


def matrix_to_pose(matrix: tf.Tensor) -> tf.Tensor:
    """Homogeneous ``[..., 4, 4]`` (or ``[..., 3, 4]``) transform -> ``pose [..., 6]``."""
    with tf.name_scope("matrix_to_pose"):
        matrix = tf.convert_to_tensor(matrix)
        return tf.concat([matrix[..., :3, 3], so3_log(matrix[..., :3, :3])], axis=-1)


def compose_poses(first: tf.Tensor, second: tf.Tensor) -> tf.Tensor:
    """Pose of ``T(first) @ T(second)``: apply ``second``, then ``first``."""
    with tf.name_scope("compose_poses"):
        return matrix_to_pose(tf.matmul(pose_to_matrix(first), pose_to_matrix(second)))


def invert_pose(pose: tf.Tensor) -> tf.Tensor:
    """Pose of ``T(pose)^-1``, i.e. ``[-R^T t, -w]``."""
    with tf.name_scope("invert_pose"):
        pose = tf.convert_to_tensor(pose)
        rotation_t = tf.linalg.matrix_transpose(so3_exp(pose[..., 3:]))
        translation = -tf.linalg.matvec(rotation_t, pose[..., :3])
        return tf.concat([translation, -pose[..., 3:]], axis=-1)


def pixel_grid(height: int, width: int, dtype: tf.DType = tf.float32) -> tf.Tensor:
    """Pixel-centre coordinates ``[H, W, 2]`` ordered ``(x, y)``: ``grid[i, j] = (j, i)``."""
    xs, ys = tf.meshgrid(tf.range(width, dtype=dtype), tf.range(height, dtype=dtype))
    return tf.stack([xs, ys], axis=-1)


def inverse_intrinsics(intrinsics: tf.Tensor) -> tf.Tensor:
    """Closed-form inverse of upper-triangular ``intrinsics [..., 3, 3]`` (with skew)."""
    fx, fy = intrinsics[..., 0, 0], intrinsics[..., 1, 1]
    skew_term, cx, cy = intrinsics[..., 0, 1], intrinsics[..., 0, 2], intrinsics[..., 1, 2]
    zero, one = tf.zeros_like(fx), tf.ones_like(fx)
    return tf.stack([tf.stack([1.0 / fx, -skew_term / (fx * fy), (skew_term * cy - cx * fy) / (fx * fy)], -1),
                     tf.stack([zero, 1.0 / fy, -cy / fy], -1),
                     tf.stack([zero, zero, one], -1)], axis=-2)


def pixel_rays(intrinsics: tf.Tensor, height: int, width: int, grid: Optional[tf.Tensor] = None) -> tf.Tensor:
    """Normalised rays ``x~ = K^-1 [x, y, 1]^T`` of every pixel, shape ``[B, H, W, 3]`` (z = 1);
    ``grid``: the pixels' coordinates ``[1 or B, H', W', 2]`` instead (e.g. a subset of them),
    rays ``[B, H', W', 3]``."""
    with tf.name_scope("pixel_rays"):
        intrinsics = tf.convert_to_tensor(intrinsics)
        grid = pixel_grid(height, width, intrinsics.dtype)[None] if grid is None else grid
        pixels = tf.concat([grid, tf.ones_like(grid[..., :1])], axis=-1)
        return tf.reduce_sum(inverse_intrinsics(intrinsics)[:, None, None] * pixels[..., None, :], axis=-1)


def backproject(inv_depth: tf.Tensor, intrinsics: tf.Tensor) -> tf.Tensor:
    """3-D points ``X = x~ / d`` of every pixel, ``inv_depth [B, H, W, 1]`` -> ``[B, H, W, 3]``."""
    with tf.name_scope("backproject"):
        height, width = inv_depth.shape[1], inv_depth.shape[2]
        return pixel_rays(intrinsics, height, width) / inv_depth


def project(points: tf.Tensor, intrinsics: tf.Tensor, min_depth: float = 1e-6
            ) -> tuple[tf.Tensor, tf.Tensor]:
    """Perspective projection (Eq. 10) of ``points [B, H, W, 3]`` (any positive scale).

    Returns pixel coordinates ``[B, H, W, 2]`` and a float mask ``[B, H, W, 1]`` that is 1 where the
    point lies in front of the camera.  Points behind it are divided by ``min_depth`` instead of
    their (negative) depth so the coordinates stay finite; the mask tells the caller to drop them.
    """
    with tf.name_scope("project"):
        x, y, z = tf.unstack(points, axis=-1)
        in_front = z > min_depth
        safe_z = tf.where(in_front, z, tf.fill(tf.shape(z), tf.cast(min_depth, z.dtype)))
        fx, fy = intrinsics[:, 0, 0, None, None], intrinsics[:, 1, 1, None, None]
        cx, cy = intrinsics[:, 0, 2, None, None], intrinsics[:, 1, 2, None, None]
        coords = tf.stack([fx * x / safe_z + cx, fy * y / safe_z + cy], axis=-1)
        return coords, tf.cast(in_front, points.dtype)[..., None]


def transform_pixels(inv_depth: tf.Tensor, rotation: tf.Tensor, translation: tf.Tensor,
                     intrinsics: tf.Tensor, with_inv_depth: bool = False,
                     grid: Optional[tf.Tensor] = None) -> tuple[tf.Tensor, ...]:
    """Eq. 9-10 in pixel units: ``x' = < K R K^-1 x + d K t >`` for every reference pixel ``x``.

    ``inv_depth [B, H, W, 1]``, ``rotation [B, 3, 3]``, ``translation [B, 3]``, ``intrinsics
    [B, 3, 3]``.  Folding ``K R K^-1`` into one 3x3 matrix makes the per-pixel work a handful of
    multiply-adds.  Returns source pixel coordinates ``[B, H, W, 2]`` and the in-front mask of
    :func:`project`; with ``with_inv_depth`` also each point's inverse depth in the source camera
    ``[B, H, W, 1]`` (``d / (R x~ + d t)_z``; 0 behind the camera).  ``grid``: the reference
    pixels' own coordinates ``[1 or B, H, W, 2]`` when they are not the full image (a subset of
    its pixels laid out as ``H x W``); default :func:`pixel_grid`.
    """
    with tf.name_scope("transform_pixels"):
        height, width = inv_depth.shape[1], inv_depth.shape[2]
        homography = tf.matmul(intrinsics, tf.matmul(rotation, inverse_intrinsics(intrinsics)))
        offset = tf.linalg.matvec(intrinsics, translation)
        grid = pixel_grid(height, width, inv_depth.dtype)[None] if grid is None else grid
        xs, ys = grid[..., 0], grid[..., 1]
        d = inv_depth[..., 0]
        m = homography[:, :, :, None, None]
        points = [m[:, i, 0] * xs + m[:, i, 1] * ys + m[:, i, 2] + d * offset[:, i, None, None]
                  for i in range(3)]
        identity = tf.eye(3, batch_shape=[1], dtype=inv_depth.dtype)
        # ``points`` are already in pixel units; project with the identity "intrinsics".
        coords, in_front = project(tf.stack(points, axis=-1), identity)
        if not with_inv_depth:
            return coords, in_front
        safe_z = tf.where(in_front[..., 0] > 0, points[2], tf.ones_like(points[2]))
        return coords, in_front, (d / safe_z)[..., None] * in_front


def transform_pixels_jacobian(inv_depth: tf.Tensor, rotation: tf.Tensor, translation: tf.Tensor,
                              intrinsics: tf.Tensor, grid: Optional[tf.Tensor] = None) -> tf.Tensor:
    """How :func:`transform_pixels`' coordinates move under a small pose change applied in the
    reference camera, ``(R, t) -> (R exp(w), t + R v)``: ``d coords / d (v, w)`` at 0, shape
    ``[B, H, W, 2, 6]`` (0 for points not in front of the source camera).

    The homogeneous pixel ``P = K R x~ + d K t`` (``x~ = K^-1 [x, y, 1]``) moves by
    ``K R (d v + w x x~)``; ``coords = P_xy / P_z`` then moves by ``(dP_xy - coords dP_z) / P_z``.
    At the identity pose this is :func:`ddvo_tf.core.ddvo_level.warp_jacobian`.  ``grid`` as in
    :func:`transform_pixels`.
    """
    with tf.name_scope("transform_pixels_jacobian"):
        height, width = inv_depth.shape[1], inv_depth.shape[2]
        rays = pixel_rays(intrinsics, height, width, grid)
        d = inv_depth[..., 0]
        k_r = tf.matmul(intrinsics, rotation)
        points = tf.einsum("bij,bhwj->bhwi", k_r, rays) + d[..., None] * tf.linalg.matvec(intrinsics, translation)[:, None, None]
        x, y, z = rays[..., 0], rays[..., 1], rays[..., 2]
        zero = tf.zeros_like(x)
        # Columns e_k x x~ of the rotation part, [B, H, W, 3 (row), 3 (k)].
        cross = tf.stack([tf.stack([zero, z, -y], -1), tf.stack([-z, zero, x], -1), tf.stack([y, -x, zero], -1)], -2)
        moves = tf.concat([d[..., None, None] * k_r[:, None, None], tf.einsum("bij,bhwjk->bhwik", k_r, cross)],
                          axis=-1)                                                 # [B, H, W, 3, 6]
        in_front = points[..., 2] > 1e-6   # as project()
        depth = tf.where(in_front, points[..., 2], tf.ones_like(points[..., 2]))[..., None, None]
        coords = points[..., :2, None] / depth
        jacobian = (moves[..., :2, :] - coords * moves[..., 2:, :]) / depth
        return tf.where(in_front[..., None, None], jacobian, tf.zeros_like(jacobian))


def warp_coordinates(inv_depth: tf.Tensor, pose: tf.Tensor, intrinsics: tf.Tensor
                     ) -> tuple[tf.Tensor, tf.Tensor]:
    """Eq. 9-10: where each reference pixel lands in the source image.

    ``inv_depth [B, H, W, 1]`` of the reference view, ``pose [B, 6]`` reference -> source, shared
    ``intrinsics [B, 3, 3]``.  Returns source pixel coordinates ``[B, H, W, 2]`` and the in-front
    mask ``[B, H, W, 1]`` of :func:`project`.
    """
    with tf.name_scope("warp_coordinates"):
        return transform_pixels(inv_depth, so3_exp(pose[:, 3:]), pose[:, :3], intrinsics)


def resize_intrinsics(intrinsics: tf.Tensor, scale_x: tf.Tensor | float, scale_y: tf.Tensor | float,
                      half_pixel_centers: bool = True) -> tf.Tensor:
    """Intrinsics after resizing an image by ``scale_x = W'/W`` and ``scale_y = H'/H``.

    Focal lengths scale by the factor.  With pixel centres at integers and a resize that maps pixel
    areas onto each other (``tf.image.resize``, OpenCV ``INTER_AREA``/``INTER_LINEAR``, PIL), the
    exact principal point is ``c' = (c + 0.5) s - 0.5``.  ``half_pixel_centers=False`` gives the
    plain ``c' = c s`` used by SfMLearner-era preprocessing (off by ``0.5 (1 - s)`` pixel).
    """
    with tf.name_scope("resize_intrinsics"):
        intrinsics = tf.convert_to_tensor(intrinsics)
        dtype = intrinsics.dtype
        # convert with a hint first: tf.cast of a Python float would round it to float32
        sx = tf.cast(tf.convert_to_tensor(scale_x, dtype_hint=dtype), dtype)
        sy = tf.cast(tf.convert_to_tensor(scale_y, dtype_hint=dtype), dtype)
        offset = tf.constant(0.5 if half_pixel_centers else 0.0, dtype)
        fx = intrinsics[..., 0, 0] * sx
        fy = intrinsics[..., 1, 1] * sy
        skew_term = intrinsics[..., 0, 1] * sx
        cx = (intrinsics[..., 0, 2] + offset) * sx - offset
        cy = (intrinsics[..., 1, 2] + offset) * sy - offset
        zero, one = tf.zeros_like(fx), tf.ones_like(fx)
        return tf.stack([tf.stack([fx, skew_term, cx], -1),
                         tf.stack([zero, fy, cy], -1),
                         tf.stack([zero, zero, one], -1)], axis=-2)


def pyramid_intrinsics(intrinsics: tf.Tensor, level: int) -> tf.Tensor:
    """Intrinsics of pyramid level ``level`` built by ``level`` rounds of 2x2 average pooling."""
    factor = 0.5 ** level
    return resize_intrinsics(intrinsics, factor, factor, half_pixel_centers=True)


def downsample(tensor: tf.Tensor) -> tf.Tensor:
    """One pyramid step: 2x2 average pooling (VALID, so an odd last row/column is dropped, which
    leaves :func:`pyramid_intrinsics` exact)."""
    return tf.nn.avg_pool2d(tensor, ksize=2, strides=2, padding="VALID")


def build_pyramid(tensor: tf.Tensor, num_levels: int) -> list[tf.Tensor]:
    """``[tensor, downsample(tensor), ...]`` with ``num_levels`` entries, finest first."""
    if num_levels < 1:
        raise ValueError(f"num_levels must be >= 1, got {num_levels}")
    levels = [tensor]
    for _ in range(num_levels - 1):
        levels.append(downsample(levels[-1]))
    return levels


def check_shapes(tensors: Sequence[tf.Tensor], names: Sequence[str], ranks: Sequence[int]) -> None:
    """Static rank checks with a message that names the argument (tensorflow-graphics style)."""
    for tensor, name, rank in zip(tensors, names, ranks):
        if tensor.shape.rank is not None and tensor.shape.rank != rank:
            raise ValueError(f"{name} must have rank {rank}, got shape {tensor.shape}")
