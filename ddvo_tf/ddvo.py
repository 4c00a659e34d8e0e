"""Differentiable direct visual odometry (paper Section 3): inverse-compositional Gauss-Newton,
robust and damped.

Conventions are those of :mod:`ddvo_tf.geometry` (pose reference -> source, pixel centres at
integers, intrinsics at each tensor's own resolution).  Given a reference image ``I``, its inverse
depth ``d`` and a source image ``I'``, the layer minimises Eq. 11 with a robust penalty,
``sum_i rho(I'(W(x_i; p, d_i)) - I(x_i))`` over the pose ``p`` (``rho(r) = r^2`` is the paper's).

Algorithm, per pyramid level (coarsest first; 2x2 average pooling, :func:`geometry.build_pyramid`):

1. Precompute on the reference image the Jacobian of Eq. 12, ``J = grad I . dW/dp |_0``
   (image gradients by central differences, one row per pixel and colour channel).
2. Warp the source image with the current pose (bicubic by default, :mod:`ddvo_tf.sampling`); the
   in-view mask ``M`` (Eq. 13's binary ``W``) is 1 where the reference point lands inside the source
   image and in front of the camera.  With ``occlusion`` (default), at the two finest levels, it is
   also 0 for points that land behind a nearer point (:mod:`ddvo_tf.occlusion`), tested once per
   level at the level's starting pose.
3. Iteratively re-weighted Gauss-Newton: each row gets the weight ``w = M t w_rho(r / sigma)``,
   ``t = |grad I|^2 / (|grad I|^2 + tau^2)`` (a texture weight: rows without image gradient carry no
   information about the pose, but would dominate the residual statistics), ``w_rho`` the Huber or
   Student-t weight and ``sigma`` the residuals' robust scale (1.4826 x weighted median of ``|r|``,
   re-estimated at every iterate).  ``robust="none"`` is the paper's L2 (``w = M``).  The robust
   weights apply at the two finest levels only, and there only once a step has moved the pixels by
   less than half a pixel (``ROBUST_LEVELS``, ``ROBUST_NEAR_PX``: far from the solution they
   discard exactly the residuals that carry the motion).
   With ``photometric="gain"`` the warped source is first scaled per channel to the in-view mean
   of the reference (an exposure change is not motion).
4. ``delta = (S H S + lambda I)^-1 S J^T W (I'_p - I)`` (``H = J^T W J`` each iteration with
   ``weight_hessian=True``, the default, from every 4th row on large levels; ``J^T T J`` of the
   level otherwise, as the authors' code: same fixed point, but from a Pose-CNN start its steps
   are too short to converge in 10 iterations), ``S = diag(H)^-1/2``: Levenberg-Marquardt
   damping in Marquardt's scaling.  The inverse-compositional update is
   ``T(p) <- T(p) T(delta)^-1``, Eq. 13-14 with the paper's ``dp = -delta`` (Eq. 14's "left
   multiplication" is written for the pose of the paper's code; in ours, reference -> source, the
   same update is the right product).
5. The path follows every step, also one that raises the cost (inverse-compositional Gauss-Newton
   often climbs out of a shallow dip on its way; a monotone rule stalls there), except a step to a
   pose that keeps less than half of the level's starting textured in-view share (a step that
   pushes the textured part out of view and leaves only sky).  ``lambda`` shrinks 10x after a fall
   of the cost and grows 10x (at least to 0.1) after a rise.  The level returns its best iterate
   by the robust cost (mean of ``t rho`` over in-view rows, compared at the current ``sigma``).
6. Convergence, per batch element: a step that moves the level's pixels by less than
   ``tolerance`` (RMS, in pixels) ends that element's iterations; the others go on, inside a
   ``tf.while_loop`` of at most ``num_iterations`` steps (static shapes, masked updates, so XLA
   compiles one small graph and batch elements stay independent).  The budget may differ per
   level: coarse iterations are cheap (a quarter of the pixels per level up) and decide the
   basin, the finest level's are most of the cost.  A level whose iterates never beat its start
   returns the start pose unchanged, so texture-less or fully out-of-view inputs fall back to the
   initial pose (``diagnostics["fallback"]``).

Every step is differentiable, so gradients of a loss of the returned pose reach ``ref_inv_depth``
through the Jacobian (its translation columns are proportional to ``d``), through ``H^-1``, the
robust weights and every warp (Eq. 8); ``sigma`` and the accept/reject decisions are treated as
constants.  Batch elements are solved independently.
"""
from __future__ import annotations

import numbers
from typing import Optional

import keras
import tensorflow as tf

from ddvo_tf import geometry
from ddvo_tf.iterations import Iterations, as_counts, level_iterations
from ddvo_tf.occlusion import visible_mask
from ddvo_tf.sampling import check_interpolation, in_image, neighbourhoods, sample_neighbourhoods

_ABS_EPS = 1e-8
ROBUST_KINDS = ("none", "huber", "student_t")
# Defaults of the layer and the functional forms, chosen by bench/bench_ddvo_accuracy.py
# (BUILD_NOTES.md, "DDVO objective").
DEFAULT_ROBUST = "student_t"
DEFAULT_PHOTOMETRIC = "gain"
DEFAULT_INTERPOLATION = "bicubic"
DEFAULT_OCCLUSION = True
# Huber threshold and Student-t degrees of freedom in units of sigma: the 95 %-efficiency Huber
# constant, and Kerl et al. (2013)'s nu = 5 for photometric residuals.
HUBER_THRESHOLD = 1.345
STUDENT_T_DOF = 5.0
# sigma = 1.4826 * median |r| is the standard deviation for Gaussian residuals.
_MAD_TO_SIGMA = 1.4826
# Gradient magnitude (intensity per pixel, per channel) below which a row's texture weight falls
# off: about 2.5 grey levels of 255, the order of 8-bit quantisation and sensor noise.
TEXTURE_SCALE = 0.01
# The weighted median by bisection: 2^-18 of the largest residual is far below any sigma of use.
_MEDIAN_BISECTIONS = 18
# sigma is a statistic of the level's ~10^4-10^5 rows: every 4th row (which also cycles through
# the colour channels) estimates it within ~1 % for a quarter of the bisection work (the median
# was ~15 % of a robust finest-level solve, BUILD_NOTES.md "DDVO objective").
_MEDIAN_STRIDE = 4
# The re-weighted Hessian from every 4th row on levels of >= 2^15 rows (the two finest at
# 128x416), where its per-iteration product is a large part of an iteration's cost.
_HESSIAN_STRIDE = 4
_HESSIAN_STRIDE_ROWS = 2 ** 15
# Levenberg-Marquardt: after a rejected step lambda grows 10x, at least to 0.1 (below that, the
# Jacobi-scaled step is barely shorter); an element whose lambda passes 1e6 has stalled.
_LM_REJECT_FLOOR = 0.1
# Robust weights are for refining near the solution: far from it every misaligned pixel looks
# like an outlier, and down-weighting the large residuals of near, peripheral pixels (which carry
# the forward motion) leaves the pose to the far field and stalls (measured in BUILD_NOTES.md,
# "DDVO objective").  So they apply only at the ROBUST_LEVELS finest pyramid levels, and there
# only to an element once a step has moved its pixels by less than ROBUST_NEAR_PX.  The occlusion
# test is for the same finest levels (at coarse ones, from a still-wrong pose, it hides good rows).
ROBUST_LEVELS = 2
ROBUST_NEAR_PX = 0.5
PHOTOMETRIC_KINDS = ("none", "gain")
# Brightness matching: the gain's range, and a floor of the summed intensity (a black channel
# keeps gain 1).
_GAIN_MIN, _GAIN_MAX = 0.5, 2.0
_MEAN_EPS = 1e-3
_LM_MAX = 1e6

def image_gradients(image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Central differences ``dI/dx, dI/dy`` of ``image [B, H, W, C]`` (half-differences at borders
    via symmetric padding), each ``[B, H, W, C]``."""
    padded = tf.pad(image, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
    grad_x = 0.5 * (padded[:, 1:-1, 2:, :] - padded[:, 1:-1, :-2, :])
    grad_y = 0.5 * (padded[:, 2:, 1:-1, :] - padded[:, :-2, 1:-1, :])
    return grad_x, grad_y


def warp_jacobian(rays: tf.Tensor, inv_depth: tf.Tensor, intrinsics: tf.Tensor
                  ) -> tuple[tf.Tensor, tf.Tensor]:
    """``dW/dp`` at the identity pose for every pixel: two ``[B, H, W, 6]`` tensors (x and y rows).

    With ``x~ = (u, v, 1)`` and ``W = K <R x~ + d t>``, a small pose ``(dt, dw)`` moves the scaled
    point by ``d dt + dw x x~``, so the normalised coordinates move by
    ``du/dp = [d, 0, -d u, -u v, 1 + u^2, -v]`` and ``dv/dp = [0, d, -d v, -(1 + v^2), u v, u]``;
    in pixels ``dx = fx du + s dv`` (``s`` the skew, 0 for every dataset here) and ``dy = fy dv``.
    """
    u, v = rays[..., 0], rays[..., 1]
    d = inv_depth[..., 0]
    zero = tf.zeros_like(u)
    du = tf.stack([d, zero, -d * u, -u * v, 1.0 + u * u, -v], axis=-1)
    dv = tf.stack([zero, d, -d * v, -(1.0 + v * v), u * v, u], axis=-1)
    fx = intrinsics[:, 0, 0, None, None, None]
    skew = intrinsics[:, 0, 1, None, None, None]
    fy = intrinsics[:, 1, 1, None, None, None]
    return fx * du + skew * dv, fy * dv


def weighted_median(values: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """Per-row weighted median of non-negative ``values [B, N]`` with ``weights [B, N] >= 0``:
    the smallest ``m`` (to 2^-18 of the row's maximum) with ``sum(w [v <= m]) >= sum(w) / 2``.

    Bisection on the value, a fixed number of masked reductions: no sort of 10^5 residuals per
    iteration, static shapes, and rows stay independent.  No gradient (a statistic, held fixed).
    """
    values, weights = tf.stop_gradient(values), tf.stop_gradient(weights)
    half = 0.5 * tf.reduce_sum(weights, axis=1)
    high = tf.reduce_max(tf.where(weights > 0, values, tf.zeros_like(values)), axis=1)
    low = tf.zeros_like(high)

    def body(i, low, high):
        mid = 0.5 * (low + high)
        below = tf.reduce_sum(tf.where(values <= mid[:, None], weights, tf.zeros_like(weights)), axis=1)
        enough = below >= half
        return i + 1, tf.where(enough, low, mid), tf.where(enough, mid, high)

    _, _, high = tf.while_loop(lambda i, *_: i < _MEDIAN_BISECTIONS, body, (tf.constant(0), low, high),
                               maximum_iterations=_MEDIAN_BISECTIONS)
    return high


def robust_weights(residual: tf.Tensor, scale: tf.Tensor, robust: str) -> tf.Tensor:
    """IRLS weights ``w(r) = rho'(r) / (2 r)`` of ``residual [B, N]`` at ``scale [B]``."""
    if robust == "none":
        return tf.ones_like(residual)
    x_sq = tf.square(residual / scale[:, None])
    if robust == "huber":
        # k / |x| beyond the threshold; written with rsqrt of a clamped square so the gradient
        # is finite everywhere.
        return tf.minimum(1.0, HUBER_THRESHOLD * tf.math.rsqrt(tf.maximum(x_sq, HUBER_THRESHOLD ** 2)))
    # Kerl et al.'s (nu + 1) / (nu + x^2), divided by its value at 0 so inliers keep weight 1
    # (the fixed Hessian J^T T J assumes unit weights).
    return STUDENT_T_DOF / (STUDENT_T_DOF + x_sq)


def robust_penalty(residual: tf.Tensor, scale: tf.Tensor, robust: str) -> tf.Tensor:
    """``rho(r)`` of ``residual [B, N]``, normalised so ``rho(r) = r^2 + O(r^4)`` for every kind."""
    if robust == "none":
        return tf.square(residual)
    sigma = scale[:, None]
    x_sq = tf.square(residual / sigma)
    if robust == "huber":
        k = HUBER_THRESHOLD
        x_abs = tf.sqrt(tf.maximum(x_sq, k * k))
        return tf.square(sigma) * tf.where(x_sq <= k * k, x_sq, 2.0 * k * x_abs - k * k)
    return tf.square(sigma) * STUDENT_T_DOF * tf.math.log1p(x_sq / STUDENT_T_DOF)


def _scaled_cholesky(hessian: tf.Tensor, damping: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Cholesky factor of the Jacobi-scaled ``hessian [B, 6, 6]`` plus ``damping [B]`` (or a
    scalar) on the unit diagonal (Marquardt's scaling), and the scaling ``[B, 6]``."""
    finite = tf.reduce_all(tf.math.is_finite(hessian), axis=[-2, -1], keepdims=True)
    hessian = tf.where(finite, hessian, tf.zeros_like(hessian))
    scale = tf.math.rsqrt(tf.linalg.diag_part(hessian) + _ABS_EPS)
    scaled = hessian * scale[:, :, None] * scale[:, None, :]
    damping = tf.broadcast_to(tf.cast(damping, hessian.dtype), tf.shape(hessian)[:1])
    scaled += damping[:, None, None] * tf.eye(6, dtype=hessian.dtype)
    return tf.linalg.cholesky(scaled), scale


def _solve(chol: tf.Tensor, scale: tf.Tensor, rhs: tf.Tensor) -> tf.Tensor:
    """``H^-1 rhs`` for the factorisation of :func:`_scaled_cholesky`; ``rhs [B, 6]`` or
    ``[B, 6, K]``."""
    columns = rhs if rhs.shape.rank == 3 else rhs[..., None]
    step = scale[..., None] * tf.linalg.cholesky_solve(chol, scale[..., None] * columns)
    step = step if rhs.shape.rank == 3 else step[..., 0]
    return tf.where(tf.math.is_finite(step), step, tf.zeros_like(step))


def _match_brightness(warped: tf.Tensor, ref_image: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """``warped [B, H, W, C]`` times the per-channel gain that gives it the in-view mean of
    ``ref_image`` (``mask``, same shape, marks the in-view pixels).

    A gain, not a gain and bias: an exposure (or camera gain) change multiplies the linear
    intensity, and a gamma-encoded intensity too (``(k x)^g = k^g x^g``).  A ratio of means is
    unaffected by misalignment, which only permutes pixels.  The gain is kept within [1/2, 2]:
    larger exposure changes are not what the model is for, and a dark warped image would
    otherwise be amplified without bound.
    """
    sum_w = tf.reduce_sum(warped * mask, axis=[1, 2], keepdims=True)
    sum_r = tf.reduce_sum(ref_image * mask, axis=[1, 2], keepdims=True)
    gain = tf.clip_by_value((sum_r + _MEAN_EPS) / (sum_w + _MEAN_EPS), _GAIN_MIN, _GAIN_MAX)
    return warped * gain


class _Evaluation:
    """Residual rows ``[B, N]`` (zero outside the mask) and their in-view mask ``[B, N]`` at a pose."""

    def __init__(self, residual, mask):
        self.residual, self.mask = residual, mask


class _Level:
    """Everything of one pyramid level that does not change across iterations."""

    def __init__(self, ref_image, src_image, inv_depth, intrinsics, weight_hessian, robust, photometric,
                 interpolation, occlusion):
        self.ref_image = ref_image
        self.occlusion = occlusion
        self.visible = None
        self.photometric = photometric
        self.interpolation = interpolation
        self.src_neighbourhoods = neighbourhoods(src_image, interpolation)
        self.inv_depth = inv_depth
        self.intrinsics = intrinsics
        self.weight_hessian = weight_hessian
        self.robust = robust
        batch = tf.shape(ref_image)[0]
        height, width, channels = ref_image.shape[1], ref_image.shape[2], ref_image.shape[3]
        self.channels = channels
        self.batch = batch
        rays = geometry.pixel_rays(intrinsics, height, width)
        grad_x, grad_y = image_gradients(ref_image)
        jac_x, jac_y = warp_jacobian(rays, inv_depth, intrinsics)
        # Rows stacked over pixels and colour channels: [B, H*W*C, 6].
        jacobian = (grad_x[..., None] * jac_x[:, :, :, None, :] + grad_y[..., None] * jac_y[:, :, :, None, :])
        self.jacobian = tf.reshape(jacobian, [batch, height * width * channels, 6])
        self.hessian_stride = _HESSIAN_STRIDE if height * width * channels >= _HESSIAN_STRIDE_ROWS else 1
        if robust == "none":
            self.texture = tf.ones([batch, height * width * channels], ref_image.dtype)
        else:
            grad_sq = tf.reshape(tf.square(grad_x) + tf.square(grad_y), [-1, height * width * channels])
            self.texture = grad_sq / (grad_sq + TEXTURE_SCALE ** 2)
        # Mean squared pixel displacement of a small pose delta is delta^T G delta.
        self.motion_metric = (tf.einsum("bhwk,bhwl->bkl", jac_x, jac_x)
                              + tf.einsum("bhwk,bhwl->bkl", jac_y, jac_y)) / float(height * width)
        if not weight_hessian:
            # One [6, N] x [N, 6] product per level (as a batch of HW tiny per-pixel products its
            # gradient is much slower under XLA on CPU).
            self.hessian = tf.matmul(self.jacobian * self.texture[..., None], self.jacobian, transpose_a=True)

    def evaluate(self, rotation, translation) -> _Evaluation:
        coords, in_front = geometry.transform_pixels(self.inv_depth, rotation, translation, self.intrinsics)
        warped, in_view = sample_neighbourhoods(self.src_neighbourhoods, coords, self.interpolation)
        mask = in_view * in_front
        if self.visible is not None:
            mask *= self.visible
        mask = tf.broadcast_to(mask, tf.shape(warped))
        if self.photometric == "gain":
            warped = _match_brightness(warped, self.ref_image, mask)
        residual = (warped - self.ref_image) * mask
        # [-1, rows] rather than [batch, -1]: keeps the static batch size through the loop.
        rows = self.jacobian.shape[1]
        return _Evaluation(tf.reshape(residual, [-1, rows]), tf.reshape(mask, [-1, rows]))

    def fix_visibility(self, rotation, translation) -> None:
        """With ``occlusion``, drop from now on the rows of the points hidden at this pose.

        Fixed for the level rather than re-tested at every iterate: a test at each iterate lets a
        wrong pose hide its own worst residuals (measured: from the identity, coarse levels then
        diverged), and the level starts from the coarser levels' answer, where it is nearly right.
        """
        if not self.occlusion:
            return
        coords, in_front, src_inv_depth = geometry.transform_pixels(
            self.inv_depth, rotation, translation, self.intrinsics, with_inv_depth=True)
        in_view = in_image(coords, self.ref_image.shape[1], self.ref_image.shape[2])
        valid = tf.cast(in_view, in_front.dtype)[..., None] * in_front
        # Points out of view stay usable: a later iterate may bring them in.
        self.visible = tf.stop_gradient(visible_mask(coords, src_inv_depth, valid) + (1.0 - valid))

    def in_view_fraction(self, ev: _Evaluation) -> tf.Tensor:
        """Share of the reference's pixels in view ``[B]``."""
        return tf.reduce_mean(ev.mask, axis=1)

    def textured_share(self, ev: _Evaluation) -> tf.Tensor:
        """Share of the reference's texture weight in view ``[B]``: what the acceptance rule keeps."""
        return tf.reduce_sum(ev.mask * self.texture, axis=1) / (tf.reduce_sum(self.texture, axis=1) + _ABS_EPS)

    def scale(self, ev: _Evaluation) -> tf.Tensor:
        """Robust residual scale ``sigma [B]`` (1 for L2, where it is unused)."""
        if self.robust == "none":
            return tf.ones([self.batch], ev.residual.dtype)
        weights = ev.mask * self.texture
        median = weighted_median(tf.abs(ev.residual[:, ::_MEDIAN_STRIDE]), weights[:, ::_MEDIAN_STRIDE])
        return tf.stop_gradient(_MAD_TO_SIGMA * median + 1e-6)

    def cost(self, ev: _Evaluation, scale) -> tf.Tensor:
        """Mean robust penalty over in-view rows (texture-weighted) ``[B]``; ``inf`` when no row is in
        view, so such a pose is never accepted.  For L2 the in-view mean squared residual."""
        weight = ev.mask * self.texture
        total = tf.reduce_sum(weight, axis=1)
        penalty = tf.reduce_sum(weight * robust_penalty(ev.residual, scale, self.robust), axis=1)
        return tf.where(total > 0, penalty / tf.maximum(total, _ABS_EPS), float("inf"))

    def step(self, ev: _Evaluation, scale, damping, robust=None) -> tf.Tensor:
        """Damped Gauss-Newton pose ``delta [B, 6]`` that moves the reference onto the warped source;
        ``robust [B]`` (bool, default all) picks the elements whose rows get the robust weights."""
        weight = self.row_weights(ev, scale, robust)
        rhs = tf.einsum("bnk,bn->bk", self.jacobian, weight * ev.residual)
        hessian = self.weighted_hessian(weight) if self.weight_hessian else self.hessian
        return _solve(*_scaled_cholesky(hessian, damping), rhs)

    def row_weights(self, ev: _Evaluation, scale, robust=None) -> tf.Tensor:
        """IRLS row weights ``[B, N]``: in-view mask x texture x robust weight (``robust``: see
        :meth:`step`)."""
        weight = ev.mask * self.texture
        if self.robust != "none":
            robust_w = robust_weights(ev.residual, scale, self.robust)
            if robust is not None:
                robust_w = tf.where(robust[:, None], robust_w, tf.ones_like(robust_w))
            weight *= robust_w
        return weight

    def step_jacobian(self, rotation, translation, scale, damping) -> tf.Tensor:
        """``A = d delta / d eps [B, 6, 6]`` of :meth:`step` (every row robust) at the pose
        ``(rotation, translation)`` moved by ``eps`` in the reference camera (as
        :func:`geometry.transform_pixels_jacobian`), at ``eps = 0``, with ``sigma`` held.

        Forward mode by hand: the six directions move each row through its own sample only (plus
        the per-channel gain), so ``d(J^T W r)/d eps`` and ``d(J^T W J)/d eps`` take one pass over
        the rows, where reverse mode needs one pass per direction; only the 6x6 solve is
        differentiated by TensorFlow.
        """
        coords, in_front = geometry.transform_pixels(self.inv_depth, rotation, translation, self.intrinsics)
        coords_jacobian = geometry.transform_pixels_jacobian(self.inv_depth, rotation, translation,
                                                             self.intrinsics)          # [B, H, W, 2, 6]
        # The sample's slope along x and y: forward-mode, one pass per image axis.
        slopes = []
        for axis in range(2):
            with tf.autodiff.ForwardAccumulator(coords, tf.one_hot(tf.fill(tf.shape(coords)[:3], axis), 2,
                                                                   dtype=coords.dtype)) as acc:
                warped, in_view = sample_neighbourhoods(self.src_neighbourhoods, coords, self.interpolation)
            slopes.append(acc.jvp(warped, unconnected_gradients=tf.UnconnectedGradients.ZERO))
        # [B, H, W, C, 6]: how each sample moves.
        moved = (slopes[0][..., None] * coords_jacobian[:, :, :, None, 0, :]
                 + slopes[1][..., None] * coords_jacobian[:, :, :, None, 1, :])
        mask = in_view * in_front
        if self.visible is not None:
            mask *= self.visible
        mask = tf.broadcast_to(mask, tf.shape(warped))
        if self.photometric == "gain":
            sum_w = tf.reduce_sum(warped * mask, axis=[1, 2], keepdims=True) + _MEAN_EPS
            sum_r = tf.reduce_sum(self.ref_image * mask, axis=[1, 2], keepdims=True) + _MEAN_EPS
            raw_gain = sum_r / sum_w
            gain = tf.clip_by_value(raw_gain, _GAIN_MIN, _GAIN_MAX)
            free = tf.cast((raw_gain > _GAIN_MIN) & (raw_gain < _GAIN_MAX), warped.dtype)
            gain_moved = -free[..., None] * gain[..., None] / sum_w[..., None] * tf.reduce_sum(
                mask[..., None] * moved, axis=[1, 2], keepdims=True)              # [B, 1, 1, C, 6]
            moved = gain[..., None] * moved + warped[..., None] * gain_moved
            warped = warped * gain
        rows = self.jacobian.shape[1]
        residual = tf.reshape((warped - self.ref_image) * mask, [-1, rows])
        moved = tf.reshape(moved * mask[..., None], [-1, rows, 6])
        # The robust weight w(r) and psi(r) = w(r) r: their slopes, row by row, from one reverse
        # pass each (rows are independent).
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(residual)
            robust_w = robust_weights(residual, scale, self.robust)
            psi = robust_w * residual
        psi_slope = tape.gradient(psi, residual, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        weight_slope = tape.gradient(robust_w, residual, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        del tape
        mask = tf.reshape(mask, [-1, rows])
        row_weight = mask * self.texture
        weight = row_weight * robust_w
        rhs = tf.einsum("bnk,bn->bk", self.jacobian, weight * residual)
        rhs_moved = tf.einsum("bnk,bnl->bkl", self.jacobian, (row_weight * psi_slope)[..., None] * moved)
        hessian = self.weighted_hessian(weight) if self.weight_hessian else self.hessian
        # The damped, scaled 6x6 solve's own derivatives: reverse mode on 6x6 tensors.
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([hessian, rhs])
            step = _solve(*_scaled_cholesky(hessian, damping), rhs)
        by_rhs = tape.batch_jacobian(step, rhs, experimental_use_pfor=False)                 # [B, 6, 6]
        by_hessian = tape.batch_jacobian(step, hessian, experimental_use_pfor=False)         # [B, 6, 6, 6]
        del tape
        step_moved = tf.einsum("bkj,bjl->bkl", by_rhs, rhs_moved)
        if not self.weight_hessian:     # the authors' H does not move with the pose
            return step_moved
        stride = self.hessian_stride
        jacobian = self.jacobian[:, ::stride]
        weight_moved = (row_weight * weight_slope)[:, ::stride, None] * moved[:, ::stride]
        hessian_moved = float(stride) * tf.einsum("bnk,bnm,bnl->blkm", jacobian, jacobian, weight_moved)
        return step_moved + tf.einsum("bkij,blij->bkl", by_hessian, hessian_moved)

    def weighted_hessian(self, weight) -> tf.Tensor:
        """``J^T diag(weight) J [B, 6, 6]`` for row weights ``[B, N]``, from every
        ``hessian_stride``-th row: H only sets the step's length and direction, not where the step
        vanishes, so the fixed point and its implicit gradient stay those of all rows, and a
        quarter of a large level's rows estimate the 21 numbers well (BUILD_NOTES.md)."""
        stride = self.hessian_stride
        jacobian = self.jacobian[:, ::stride]
        return float(stride) * tf.matmul(jacobian * weight[:, ::stride, None], jacobian, transpose_a=True)

    def motion(self, delta) -> tf.Tensor:
        """RMS pixel displacement ``[B]`` of the level's pixels under a small pose ``delta [B, 6]``."""
        quad = tf.einsum("bk,bkl,bl->b", delta, self.motion_metric, delta)
        return tf.sqrt(tf.maximum(quad, 0.0))


def _compose_inverse_step(rotation, translation, delta):
    """``T <- T T(delta)^-1`` with ``T(delta)^-1 = [R_d^T, -R_d^T t_d]``."""
    rotation_delta_t = tf.linalg.matrix_transpose(geometry.so3_exp(delta[:, 3:]))
    new_rotation = tf.matmul(rotation, rotation_delta_t)
    new_translation = translation - tf.linalg.matvec(new_rotation, delta[:, :3])
    return new_rotation, new_translation


def _select(better, new, old):
    """Per batch element ``new`` where ``better [B]``, else ``old`` (static shapes kept)."""
    return tf.where(tf.reshape(better, [-1] + [1] * (new.shape.rank - 1)), new, old)


def _solve_level(level: _Level, rotation, translation, num_iterations, damping, tolerance):
    """Damped Gauss-Newton iterations from ``(rotation, translation)`` (module docstring, steps
    3-6).  Returns a dict: the best pose, its evaluation, the scale and its cost, whether any
    iterate beat the start, iterations used, and the size of the last step tried (RMS pixels)."""
    level.fix_visibility(rotation, translation)
    start = level.evaluate(rotation, translation)
    start_share = level.textured_share(start)
    scale = level.scale(start)
    cost = level.cost(start, scale)
    # State shaped like ``cost`` keeps the loop's static batch size.
    lam = tf.ones_like(cost) * damping
    # An element with no finite cost (nothing in view) has nothing to iterate on.
    active = tf.math.is_finite(cost)

    def body(i, rot, trans, residual, mask, scale, cost, lam, active,
             best_rot, best_trans, best_residual, best_mask, best_cost, improved, used, update, near):
        delta = level.step(_Evaluation(residual, mask), scale, lam, robust=near)
        size = level.motion(delta)
        cand_rot, cand_trans = _compose_inverse_step(rot, trans, delta)
        cand = level.evaluate(cand_rot, cand_trans)
        cand_cost = level.cost(cand, scale)
        # The path moves on even when the cost rises (IC Gauss-Newton often climbs out of a
        # shallow dip on its way, and a monotone rule would stop there), but never to a pose
        # that leaves less than half of the level's starting textured share in view.
        move = active & tf.math.is_finite(cand_cost) & (level.textured_share(cand) >= 0.5 * start_share)
        better = move & (cand_cost < best_cost)
        rot, trans = _select(move, cand_rot, rot), _select(move, cand_trans, trans)
        residual, mask = _select(move, cand.residual, residual), _select(move, cand.mask, mask)
        best_rot, best_trans = _select(better, cand_rot, best_rot), _select(better, cand_trans, best_trans)
        best_residual = _select(better, cand.residual, best_residual)
        best_mask = _select(better, cand.mask, best_mask)
        # Levenberg-Marquardt: shorter steps after a rise of the cost, longer after a fall.
        lam = tf.where(move & (cand_cost < cost), tf.maximum(lam * 0.1, damping),
                       tf.where(active, tf.maximum(lam * 10.0, _LM_REJECT_FLOOR), lam))
        if level.robust != "none":
            scale = tf.where(move, level.scale(cand), scale)
            cost = tf.where(move, level.cost(_Evaluation(residual, mask), scale), cost)
            # The best iterate's cost at the new sigma: the current cost where the best is the
            # current iterate (or sigma did not move); evaluated only when some element climbed.
            stale = move & tf.logical_not(better)
            best_cost = tf.where(better, cost, best_cost)
            best_cost = tf.cond(tf.reduce_any(stale),
                                lambda: tf.where(stale, level.cost(_Evaluation(best_residual, best_mask), scale),
                                                 best_cost),
                                lambda: best_cost)
        else:
            cost = tf.where(move, cand_cost, cost)
            best_cost = tf.where(better, cand_cost, best_cost)
        used += tf.cast(active, tf.int32)
        update = tf.where(active, size, update)
        improved = improved | better
        # Converged (the step moved pixels by less than the tolerance) or stalled.
        active = active & (size >= tolerance) & (lam <= _LM_MAX)
        near = near | (size < ROBUST_NEAR_PX)
        return (i + 1, rot, trans, residual, mask, scale, cost, lam, active,
                best_rot, best_trans, best_residual, best_mask, best_cost, improved, used, update, near)

    loop_vars = (tf.constant(0), rotation, translation, start.residual, start.mask, scale, cost, lam, active,
                 rotation, translation, start.residual, start.mask, cost, tf.zeros_like(active),
                 tf.zeros_like(cost, tf.int32), tf.zeros_like(cost), tf.zeros_like(active))
    out = tf.while_loop(lambda i, *state: (i < num_iterations) & tf.reduce_any(state[7]), body, loop_vars,
                        maximum_iterations=num_iterations)
    scale, best = out[5], _Evaluation(out[11], out[12])
    return dict(rotation=out[9], translation=out[10], evaluation=best, scale=scale,
                cost=out[13], accepted=out[14], iterations=out[15], update=out[16])


def _check_options(robust: str, photometric: str, interpolation: str) -> None:
    check_interpolation(interpolation)
    if robust not in ROBUST_KINDS:
        raise ValueError(f"robust must be one of {ROBUST_KINDS}, got {robust!r}")
    if photometric not in PHOTOMETRIC_KINDS:
        raise ValueError(f"photometric must be one of {PHOTOMETRIC_KINDS}, got {photometric!r}")


def solve_pose(ref_image: tf.Tensor, src_image: tf.Tensor, ref_inv_depth: tf.Tensor,
               intrinsics: tf.Tensor, init_pose: Optional[tf.Tensor] = None, num_levels: int = 5,
               num_iterations: Iterations = 10, weight_hessian: bool = True, damping: float = 1e-4,
               robust: str = DEFAULT_ROBUST, tolerance: float = 1e-3,
               photometric: str = DEFAULT_PHOTOMETRIC, interpolation: str = DEFAULT_INTERPOLATION,
               occlusion: bool = DEFAULT_OCCLUSION) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Functional form of :class:`DirectVisualOdometry`; returns ``(pose [B, 6], diagnostics)``.

    ``diagnostics`` (all ``[B]``): ``cost``, the robust cost at the finest level for the returned
    pose (for ``robust="none"`` the in-view mean squared residual); ``in_view_fraction``;
    ``fallback`` (bool), true when no level accepted a step (the result is then ``init_pose``, or
    identity); ``iterations``, steps tried over all levels (int32); ``update_size``, RMS pixel
    motion of the last step tried at the finest level; ``fixed_point_residual``, RMS pixel motion
    of the (undamped) step at the returned pose, ``|phi|`` of :func:`implicit_vjp`, which is exact
    when it is 0; and ``visible [B, H, W, 1]``, the finest level's occlusion test (1 where a point
    is used if in view), which :func:`implicit_vjp` needs to differentiate the same objective.
    """
    _check_options(robust, photometric, interpolation)
    iterations_per_level = level_iterations(num_iterations, num_levels)
    with tf.name_scope("direct_visual_odometry"):
        # float32 normally; float64 works too (used by the finite-difference gradient tests).
        ref_image = tf.convert_to_tensor(ref_image)
        dtype = ref_image.dtype if ref_image.dtype.is_floating else tf.float32
        ref_image = tf.cast(ref_image, dtype)
        src_image = tf.cast(src_image, dtype)
        ref_inv_depth = tf.cast(ref_inv_depth, dtype)
        intrinsics = tf.cast(intrinsics, dtype)
        geometry.check_shapes([ref_image, src_image, ref_inv_depth, intrinsics],
                              ["ref_image", "src_image", "ref_inv_depth", "intrinsics"], [4, 4, 4, 3])
        if ref_image.shape[1:] != src_image.shape[1:] or ref_inv_depth.shape[1:3] != ref_image.shape[1:3]:
            raise ValueError(f"ref_image {ref_image.shape}, src_image {src_image.shape} and "
                             f"ref_inv_depth {ref_inv_depth.shape} must share height and width")
        height, width = ref_image.shape[1], ref_image.shape[2]
        if height is None or width is None:
            raise ValueError("DirectVisualOdometry needs static image height and width")
        if min(height, width) // 2 ** (num_levels - 1) < 2:
            raise ValueError(f"{num_levels} pyramid levels are too many for a {height}x{width} image")
        batch = tf.shape(ref_image)[0]
        if init_pose is None:
            rotation = tf.eye(3, batch_shape=[batch], dtype=dtype)
            translation = tf.zeros([batch, 3], dtype)
        else:
            init_pose = tf.cast(init_pose, dtype)
            rotation = geometry.so3_exp(init_pose[:, 3:])
            translation = init_pose[:, :3]

        refs = geometry.build_pyramid(ref_image, num_levels)
        srcs = geometry.build_pyramid(src_image, num_levels)
        inv_depths = geometry.build_pyramid(ref_inv_depth, num_levels)
        improved = tf.zeros([batch], tf.bool)
        iterations = tf.zeros([batch], tf.int32)
        for index in reversed(range(num_levels)):
            with tf.name_scope(f"level_{index}"):
                level = _Level(refs[index], srcs[index], inv_depths[index],
                               geometry.pyramid_intrinsics(intrinsics, index), weight_hessian,
                               robust if index < ROBUST_LEVELS else "none", photometric, interpolation,
                               occlusion and index < ROBUST_LEVELS)
                result = _solve_level(level, rotation, translation, iterations_per_level[index], damping,
                                      tolerance)
                rotation, translation = result["rotation"], result["translation"]
                improved = improved | result["accepted"]
                iterations += result["iterations"]
        final_step = level.step(result["evaluation"], result["scale"], damping)
        pose = tf.concat([translation, geometry.so3_log(rotation)], axis=-1)
        if init_pose is not None:
            # Exact pass-through (no exp/log round-off) when nothing improved on the start.
            pose = _select(improved, pose, init_pose)
        else:
            pose = _select(improved, pose, tf.zeros_like(pose))
        diagnostics = {"cost": result["cost"],
                       "in_view_fraction": level.in_view_fraction(result["evaluation"]),
                       "fallback": tf.logical_not(improved),
                       "iterations": iterations,
                       "update_size": result["update"],
                       "fixed_point_residual": tf.stop_gradient(level.motion(final_step)),
                       "visible": (tf.ones_like(ref_inv_depth) if level.visible is None else level.visible)}
        return pose, diagnostics


def implicit_vjp(ref_image: tf.Tensor, src_image: tf.Tensor, ref_inv_depth: tf.Tensor, intrinsics: tf.Tensor,
                 pose: tf.Tensor, upstream: tf.Tensor, weight_hessian: bool = True, damping: float = 1e-4,
                 regularization: float = 1e-4, robust: str = DEFAULT_ROBUST,
                 photometric: str = DEFAULT_PHOTOMETRIC, interpolation: str = DEFAULT_INTERPOLATION,
                 occlusion: bool = DEFAULT_OCCLUSION, visible: Optional[tf.Tensor] = None) -> tf.Tensor:
    """``dL/d ref_inv_depth`` from ``upstream = dL/d pose`` at the solution ``pose [B, 6]`` (finest
    level), by the implicit function theorem instead of back-propagating through every iteration.

    At convergence the Gauss-Newton step vanishes: ``phi(eps, d) = 0`` where ``phi`` is the step
    computed at the pose ``T(pose) exp(eps)`` and ``eps = 0`` (with the robust weights as functions
    of the residual, and ``sigma`` held at its value at the solution).  Hence
    ``d eps / d d = -A^-1 dphi/dd`` with ``A = dphi/deps`` (6x6, close to the identity), and with
    ``P = dpose/deps``::

        dL/dd = -w^T dphi/dd,    A^T w = P^T upstream

    ``A`` comes by forward mode in one pass over the rows (:meth:`_Level.step_jacobian`) and
    ``w^T dphi/dd`` from one reverse pass, so the cost is that
    of a few iterations, whatever the number of levels and iterations of the forward solve, and
    nothing of the forward needs to be kept.  The
    6x6 solve is Tikhonov-regularised (``(A A^T + mu I) w = A P^T upstream``) so a degenerate ``A``
    (texture-less input) gives a small gradient, never a huge one.  Exact when the solve has
    converged (``diagnostics["fixed_point_residual"]`` of :func:`solve_pose` is then 0); coarse
    levels and ``init_pose`` do not move a fixed point, so they get no gradient.  ``visible``: the
    forward solve's ``diagnostics["visible"]`` (with ``occlusion``; tested at the returned pose
    when omitted, which differs slightly from the objective the solve minimised).
    """
    _check_options(robust, photometric, interpolation)
    dtype = pose.dtype
    batch = tf.shape(pose)[0]
    rotation0 = geometry.so3_exp(pose[:, 3:])
    translation0 = pose[:, :3]
    eps = tf.zeros([batch, 6], dtype)

    def perturbed(eps):
        return (tf.matmul(rotation0, geometry.so3_exp(eps[:, 3:])),
                translation0 + tf.linalg.matvec(rotation0, eps[:, :3]))

    # P: 6 reverse passes over small tensors (experimental_use_pfor=False: TensorFlow's
    # vectorisation (pfor) of so3_exp's batched 3x3 matmul gradient corrupts the heap on CPU
    # outside XLA, BUILD_NOTES.md "Known TensorFlow problems").
    with tf.GradientTape(persistent=True) as pose_tape:
        pose_tape.watch(eps)
        rotation, translation = perturbed(eps)
        moved = tf.concat([translation, geometry.so3_log(rotation)], axis=-1)
    p_matrix = pose_tape.batch_jacobian(moved, eps, experimental_use_pfor=False)  # [B, 6, 6]
    with tf.GradientTape() as tape:
        tape.watch(ref_inv_depth)
        level = _Level(ref_image, src_image, ref_inv_depth, intrinsics, weight_hessian, robust, photometric,
                       interpolation, occlusion)
        if visible is None:
            level.fix_visibility(rotation0, translation0)
        elif occlusion:
            level.visible = tf.stop_gradient(tf.cast(visible, dtype))
        evaluation = level.evaluate(rotation0, translation0)
        scale = level.scale(evaluation)
        step = level.step(evaluation, scale, damping)
    a_matrix = tf.stop_gradient(level.step_jacobian(rotation0, translation0, scale, damping))  # [B, 6, 6]
    rhs = tf.linalg.matvec(a_matrix, tf.linalg.matvec(p_matrix, upstream, transpose_a=True))
    normal = tf.matmul(a_matrix, a_matrix, transpose_b=True) + regularization * tf.eye(6, dtype=dtype)
    w = tf.linalg.solve(normal, rhs[..., None])[..., 0]
    w = tf.where(tf.math.is_finite(w), w, tf.zeros_like(w))
    grad = tape.gradient(step, ref_inv_depth, output_gradients=-tf.stop_gradient(w))
    return tf.where(tf.math.is_finite(grad), grad, tf.zeros_like(grad))


# Order of the diagnostics in the compiled forward's flat outputs.
_DIAGNOSTICS = ("cost", "in_view_fraction", "fallback", "iterations", "update_size", "fixed_point_residual")
# ... followed by the finest level's visibility map [B, H, W, 1] (for the implicit gradient).


class DirectVisualOdometry(keras.layers.Layer):
    """Keras layer: ``layer(ref_image, src_image, ref_inv_depth, intrinsics, init_pose=None)``
    -> ``pose [B, 6]`` (reference -> source).  See the module docstring for the algorithm.

    Args:
      num_levels: pyramid levels, coarse to fine (paper: 5 from identity, 1 when a Pose-CNN
        provides ``init_pose``).
      num_iterations: Gauss-Newton updates per level (authors' code: 10), or a list of them per
        level, finest first (:func:`level_iterations`).
      weight_hessian: re-weight ``H`` by each iteration's row weights (mask, texture, robust
        weight: exact Gauss-Newton; default); ``False`` follows the authors' code (``H`` of all rows,
        once per level), whose steps fall short when part of the image leaves the view.
      damping: the smallest (and first) Levenberg-Marquardt ``lambda`` on the Jacobi-scaled
        6x6 system.
      robust: ``"student_t"`` (default), ``"huber"`` or ``"none"`` (the paper's L2): the penalty
        of the photometric residuals, by iteratively re-weighted least squares (module docstring).
      photometric: ``"gain"`` (default): before each comparison the warped source is scaled, per
        colour channel, to the in-view mean of the reference (an exposure change between frames
        is then not mistaken for motion); ``"none"``: raw intensities, as the paper.
      interpolation: how the source image is sampled at the warped points: ``"bicubic"``
        (default; Catmull-Rom, whose slope at pixel centres is the central difference the Jacobian
        uses) or ``"bilinear"`` (the paper's).
      occlusion: drop the rows of reference points that land behind a nearer point in the source
        view (:mod:`ddvo_tf.occlusion`; default True); False compares them too, as the paper.
      tolerance: an element stops iterating at a level once a step moves its pixels by less than
        this RMS distance (pixels of that level).
      jit_compile: run the solve (and its gradient) as one XLA cluster.  On the 2-core CPU this
        is 3-4x faster than the plain graph (BUILD_NOTES.md); set False to debug.
      gradient: ``"implicit"`` (default): :func:`implicit_vjp`, the exact derivative of the
        converged pose, at the cost of a few iterations; ``"unrolled"``: back-propagation through
        every level and iteration, as the authors' code does (about 4x the forward's cost).
    """

    def __init__(self, num_levels: int = 5, num_iterations: Iterations = 10, weight_hessian: bool = True,
                 damping: float = 1e-4, jit_compile: bool = True, gradient: str = "implicit",
                 robust: str = DEFAULT_ROBUST, tolerance: float = 1e-3,
                 photometric: str = DEFAULT_PHOTOMETRIC, interpolation: str = DEFAULT_INTERPOLATION,
                 occlusion: bool = DEFAULT_OCCLUSION, **kwargs):
        # The solve always runs in float32, also under a mixed-precision policy (a 6x6 normal
        # equation over ~10^5 rows is not safe in float16).
        kwargs["dtype"] = "float32"
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        if num_levels < 1:
            raise ValueError(f"need num_levels >= 1, got {num_levels}")
        level_iterations(num_iterations, num_levels)   # checked here, not at the first call
        self.num_levels = num_levels
        counts = as_counts(num_iterations)
        self.num_iterations = counts[0] if isinstance(num_iterations, numbers.Integral) else list(counts)
        self.weight_hessian = weight_hessian
        self.damping = damping
        _check_options(robust, photometric, interpolation)
        self.robust = robust
        self.interpolation = interpolation
        self.occlusion = occlusion
        self.photometric = photometric
        self.tolerance = tolerance
        if gradient not in ("implicit", "unrolled"):
            raise ValueError(f"gradient must be 'implicit' or 'unrolled', got {gradient!r}")
        self.jit_compile = jit_compile
        self.gradient = gradient
        self._compiled_forward = tf.function(self._forward, jit_compile=jit_compile, reduce_retracing=True)
        self._compiled_vjp = tf.function(self._vjp, jit_compile=jit_compile, reduce_retracing=True)
        self._compiled_implicit_vjp = tf.function(self._implicit_vjp, jit_compile=jit_compile,
                                                  reduce_retracing=True)

    def _solve_pose(self, ref_image, src_image, ref_inv_depth, intrinsics, init_pose):
        return solve_pose(ref_image, src_image, ref_inv_depth, intrinsics, init_pose,
                          num_levels=self.num_levels, num_iterations=self.num_iterations,
                          weight_hessian=self.weight_hessian, damping=self.damping,
                          robust=self.robust, tolerance=self.tolerance, photometric=self.photometric,
                          interpolation=self.interpolation, occlusion=self.occlusion)

    def _forward(self, ref_image, src_image, ref_inv_depth, intrinsics, init_pose):
        # Flat float outputs: what tf.custom_gradient and the XLA boundary accept.
        pose, info = self._solve_pose(ref_image, src_image, ref_inv_depth, intrinsics, init_pose)
        return (pose,) + tuple(tf.cast(info[name], pose.dtype) for name in _DIAGNOSTICS) + (info["visible"],)

    def _vjp(self, ref_image, src_image, ref_inv_depth, intrinsics, init_pose, upstream):
        with tf.GradientTape() as tape:
            tape.watch([ref_inv_depth, init_pose])
            pose = self._forward(ref_image, src_image, ref_inv_depth, intrinsics, init_pose)[0]
        return tape.gradient(pose, [ref_inv_depth, init_pose], output_gradients=upstream)

    def _implicit_vjp(self, ref_image, src_image, ref_inv_depth, intrinsics, pose, fallback, visible, upstream):
        grad_depth = implicit_vjp(ref_image, src_image, ref_inv_depth, intrinsics, pose, upstream,
                                  self.weight_hessian, self.damping, robust=self.robust,
                                  photometric=self.photometric, interpolation=self.interpolation,
                                  occlusion=self.occlusion, visible=visible)
        # Where nothing improved on init_pose the output *is* init_pose.
        fell_back = fallback[:, None] > 0.5
        grad_depth = tf.where(fell_back[:, :, None, None], tf.zeros_like(grad_depth), grad_depth)
        return grad_depth, tf.where(fell_back, upstream, tf.zeros_like(upstream))

    def _solve_compiled(self, ref_image, src_image, ref_inv_depth, intrinsics, init_pose):
        # The forward is one compiled function whose own gradient is never taken; the backward is a
        # second one: the implicit gradient at the returned pose, or (unrolled) a recomputation of the
        # forward under a tape -- a jit-compiled function may not hand the while-loop accumulators of
        # its gradient across the XLA boundary.
        @tf.custom_gradient
        def solve(inv_depth, init):
            # stop_gradient: no tape may record the compiled forward (its own gradient is below).
            outputs = self._compiled_forward(*(tf.stop_gradient(x) for x in (
                ref_image, src_image, inv_depth, intrinsics, init)))

            def grad(upstream_pose, *unused_upstream):
                if self.gradient == "implicit":
                    fallback = outputs[1 + _DIAGNOSTICS.index("fallback")]
                    visible = outputs[-1]
                    return self._compiled_implicit_vjp(ref_image, src_image, inv_depth, intrinsics,
                                                       outputs[0], fallback, visible, upstream_pose)
                return self._compiled_vjp(ref_image, src_image, inv_depth, intrinsics, init,
                                          upstream_pose)

            return outputs, grad

        return solve(ref_inv_depth, init_pose)

    def solve(self, ref_image, src_image, ref_inv_depth, intrinsics, init_pose=None):
        """Like ``__call__`` but also returns the diagnostics dict of :func:`solve_pose`.

        Gradients flow to ``ref_inv_depth`` and ``init_pose`` (Eq. 8).  Unless ``jit_compile=False``
        with ``gradient="unrolled"`` (plain autodiff), the images and intrinsics are treated as data
        (no gradient), which is all training needs.
        """
        ref_image, src_image, ref_inv_depth, intrinsics = (
            tf.cast(x, tf.float32) for x in (ref_image, src_image, ref_inv_depth, intrinsics))
        if not self.jit_compile and self.gradient == "unrolled":
            return self._solve_pose(ref_image, src_image, ref_inv_depth, intrinsics,
                                    None if init_pose is None else tf.cast(init_pose, tf.float32))
        if init_pose is None:
            # T(0) is exactly the identity, so this matches solve_pose(init_pose=None).
            init_pose = tf.zeros([tf.shape(ref_image)[0], 6], tf.float32)
        pose, *info = self._solve_compiled(
            ref_image, src_image, ref_inv_depth, intrinsics, tf.cast(init_pose, tf.float32))
        info = {name: tf.stop_gradient(value) for name, value in zip(_DIAGNOSTICS + ("visible",), info)}
        info["fallback"] = info["fallback"] > 0.5
        info["iterations"] = tf.cast(tf.round(info["iterations"]), tf.int32)
        return pose, info

    def call(self, ref_image, src_image, ref_inv_depth, intrinsics, init_pose=None):
        pose, _ = self.solve(ref_image, src_image, ref_inv_depth, intrinsics, init_pose)
        return pose

    def compute_output_shape(self, ref_image_shape, *args, **kwargs):
        return (ref_image_shape[0], 6)

    def get_config(self):
        config = super().get_config()
        config.update(num_levels=self.num_levels, num_iterations=self.num_iterations,
                      weight_hessian=self.weight_hessian, damping=self.damping,
                      jit_compile=self.jit_compile, gradient=self.gradient, robust=self.robust,
                      photometric=self.photometric, interpolation=self.interpolation,
                      occlusion=self.occlusion, tolerance=self.tolerance)
        return config
