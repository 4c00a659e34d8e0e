"""One pyramid level of DDVO's objective (paper Eq. 11-13): the reference's Jacobian, the warp and
residual rows at a pose, the robust scale and cost, the damped Gauss-Newton step, and the step's
derivative in the pose that the implicit gradient needs.

Rows are stacked over pixels and colour channels, ``[B, N = H*W*C]``; the Jacobian is stored
transposed, ``[B, 6, N]``, so its products with row vectors (``J^T W r``, ``J^T W J``) read
contiguous memory (stored ``[B, N, 6]``, XLA's CPU code for ``J^T v`` was 16x slower at batch 2,
128x416).  Poses are ``(rotation
[B, 3, 3], translation [B, 3])``, reference -> source (:mod:`ddvo_tf.core.geometry`).  The
iterations over levels and the gradient are in :mod:`ddvo_tf.core.ddvo_solver`.

Longer than 300 lines because :class:`Level` is one state -- the level's Jacobian, texture and
sampling tables -- with the methods that use it (objective, step, the step's derivative); split,
they would pass that state around.
"""
from __future__ import annotations

import tensorflow as tf

from ddvo_tf.core import geometry
from ddvo_tf.core.iterations import check_pixel_share
from ddvo_tf.core.occlusion import visible_mask
from ddvo_tf.core.robust import ROBUST_KINDS, robust_penalty, robust_weights, weighted_median
from ddvo_tf.core.sampling import check_interpolation, in_image, neighbourhoods, sample_neighbourhoods

_ABS_EPS = 1e-8
PHOTOMETRIC_KINDS = ("none", "gain")
# sigma = 1.4826 * median |r| is the standard deviation for Gaussian residuals.
_MAD_TO_SIGMA = 1.4826
# Gradient magnitude (intensity per pixel, per channel) below which a row's texture weight falls
# off: about 2.5 grey levels of 255, the order of 8-bit quantisation and sensor noise.
TEXTURE_SCALE = 0.01
# sigma is a statistic of the level's ~10^4-10^5 rows: every 4th row (which also cycles through
# the colour channels) estimates it within ~1 % for a quarter of the bisection work (the median
# was a noticeable share of a robust solve, bench/results/ddvo_objective.md).
_MEDIAN_STRIDE = 4
# The re-weighted Hessian from every 4th row on levels of >= 2^15 rows (the two finest at
# 128x416), where its per-iteration product is a large part of an iteration's cost.
_HESSIAN_STRIDE = 4
_HESSIAN_STRIDE_ROWS = 2 ** 15
# Brightness matching: the gain's range, and a floor of the summed intensity (a black channel
# keeps gain 1).
_GAIN_MIN, _GAIN_MAX = 0.5, 2.0
_MEAN_EPS = 1e-3


def image_gradients(image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Central differences ``dI/dx, dI/dy`` of ``image [B, H, W, C]`` (half-differences at borders
    via symmetric padding), each ``[B, H, W, C]``."""
    padded = tf.pad(image, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
    grad_x = 0.5 * (padded[:, 1:-1, 2:, :] - padded[:, 1:-1, :-2, :])
    grad_y = 0.5 * (padded[:, 2:, 1:-1, :] - padded[:, :-2, 1:-1, :])
    return grad_x, grad_y


def textured_pixels(image: tf.Tensor, share: float,
                    gradients: tuple[tf.Tensor, tf.Tensor] | None = None) -> tf.Tensor:
    """Flat indices ``[B, K]`` (into ``H * W``) of the ``4 share`` pixels of largest gradient
    ``|grad I|^2`` (summed over channels) in every 2x2 block of ``image [B, H, W, C]``; ``share``
    one of :data:`ddvo_tf.core.iterations.PIXEL_SHARES`; ``gradients``: the image's
    :func:`image_gradients` when the caller has them.

    Per block rather than over the whole image (as DSO picks its points), so every region keeps
    rows and the pose stays as well constrained in every direction; an odd last row or column is
    left out.  Depends on the image alone, so the forward solve and the implicit gradient pick the
    same rows.
    """
    keep = int(round(4 * share))
    grad_x, grad_y = image_gradients(image) if gradients is None else gradients
    score = tf.reduce_sum(tf.square(grad_x) + tf.square(grad_y), axis=-1)
    height, width = image.shape[1] // 2 * 2, image.shape[2] // 2 * 2
    blocks = tf.reshape(score[:, :height, :width], [-1, height // 2, 2, width // 2, 2])
    blocks = tf.reshape(tf.transpose(blocks, [0, 1, 3, 2, 4]), [-1, height // 2, width // 2, 4])
    picked = tf.math.top_k(blocks, k=keep, sorted=False).indices            # [B, H/2, W/2, keep]
    rows = 2 * tf.range(height // 2)[:, None, None] + picked // 2
    cols = 2 * tf.range(width // 2)[None, :, None] + picked % 2
    return tf.reshape(rows * image.shape[2] + cols, [tf.shape(image)[0], -1])


def take_pixels(tensor: tf.Tensor, pixels: tf.Tensor) -> tf.Tensor:
    """The rows ``pixels [B, K]`` (flat indices) of ``tensor [B, H, W, C]``, laid out as an image
    ``[B, 1, K, C]`` so per-pixel code runs on them unchanged."""
    flat = tf.reshape(tensor, [tf.shape(tensor)[0], -1, tensor.shape[-1]])
    return tf.gather(flat, pixels, batch_dims=1)[:, None]


def warp_jacobian(rays: tf.Tensor, inv_depth: tf.Tensor, intrinsics: tf.Tensor
                  ) -> tuple[tf.Tensor, tf.Tensor]:
    """``dW/dp`` at the identity pose for every pixel: two ``[B, H, W, 6]`` tensors (x and y rows).

    With ``x~ = (u, v, 1)`` and ``W = K <R x~ + d t>``, a small pose ``(dt, dw)`` moves the scaled
    point by ``d dt + dw x x~``, so the normalised coordinates move by
    ``du/dp = [d, 0, -d u, -u v, 1 + u^2, -v]`` and ``dv/dp = [0, d, -d v, -(1 + v^2), u v, u]``;
    in pixels ``dx = fx du + s dv`` (``s`` the skew, 0 for every dataset here) and ``dy = fy dv``.
    """
    return tuple(tf.stack(columns, axis=-1) for columns in _warp_jacobian_columns(rays, inv_depth, intrinsics))


def _warp_jacobian_columns(rays, inv_depth, intrinsics) -> tuple[list, list]:
    """:func:`warp_jacobian`'s six x and six y columns, each ``[B, H, W]`` (stacked along whichever
    axis the caller's layout needs: a stack fused into its consumer reads them contiguously, a
    transposed one does not)."""
    u, v = rays[..., 0], rays[..., 1]
    d = inv_depth[..., 0]
    zero = tf.zeros_like(u)
    du = [d, zero, -d * u, -u * v, 1.0 + u * u, -v]
    dv = [zero, d, -d * v, -(1.0 + v * v), u * v, u]
    fx, skew, fy = (intrinsics[:, i, j, None, None] for i, j in ((0, 0), (0, 1), (1, 1)))
    return [fx * a + skew * b for a, b in zip(du, dv)], [fy * b for b in dv]


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


def damped_solve(rhs: tf.Tensor, hessian: tf.Tensor, damping) -> tf.Tensor:
    """The Levenberg-Marquardt step ``S (S H S + damping I)^-1 S rhs`` for ``rhs [B, 6]`` and
    ``hessian [B, 6, 6]``, ``S = diag(H)^-1/2`` (Marquardt's scaling)."""
    return _solve(*_scaled_cholesky(hessian, damping), rhs)


def _brightness_gain(warped: tf.Tensor, ref_image: tf.Tensor, mask: tf.Tensor
                     ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """The per-channel gain ``[B, 1, 1, C]`` that gives ``warped [B, H, W, C]`` the in-view mean of
    ``ref_image`` (``mask``, same shape, marks the in-view pixels); also whether it is inside its
    clip range (where it moves with ``warped``) and the in-view sum of ``warped``, for its slope.

    A gain, not a gain and bias: an exposure (or camera gain) change multiplies the linear
    intensity, and a gamma-encoded intensity too (``(k x)^g = k^g x^g``).  A ratio of means is
    unaffected by misalignment, which only permutes pixels.  The gain is kept within [1/2, 2]:
    larger exposure changes are not what the model is for, and a dark warped image would
    otherwise be amplified without bound.
    """
    sum_w = tf.reduce_sum(warped * mask, axis=[1, 2], keepdims=True) + _MEAN_EPS
    sum_r = tf.reduce_sum(ref_image * mask, axis=[1, 2], keepdims=True) + _MEAN_EPS
    raw_gain = sum_r / sum_w
    free = tf.cast((raw_gain > _GAIN_MIN) & (raw_gain < _GAIN_MAX), warped.dtype)
    return tf.clip_by_value(raw_gain, _GAIN_MIN, _GAIN_MAX), free, sum_w


class Evaluation:
    """Residual rows ``[B, N]`` (zero outside the mask) and their in-view mask ``[B, N]`` at a pose."""

    def __init__(self, residual, mask):
        self.residual, self.mask = residual, mask


class Level:
    """Everything of one pyramid level that does not change across iterations."""

    def __init__(self, ref_image, src_image, inv_depth, intrinsics, weight_hessian, robust, photometric,
                 interpolation, occlusion, pixel_share=1.0):
        self.occlusion = occlusion
        self.visible = None
        self.visible_image = None
        self.photometric = photometric
        self.interpolation = interpolation
        self.src_neighbourhoods = neighbourhoods(src_image, interpolation)
        self.intrinsics = intrinsics
        self.weight_hessian = weight_hessian
        self.robust = robust
        self.image_size = ref_image.shape[1:3]
        self.full_inv_depth = inv_depth
        grad_x, grad_y = image_gradients(ref_image)
        # The level's pixels: all of them as the image, or the textured_pixels laid out as a
        # [B, 1, K] image, with their own coordinates (``grid``); the motion metric, the in-view
        # share and the gain are then those of the pixels used.
        self.pixels, self.grid = None, None
        if pixel_share != 1.0:
            self.pixels = textured_pixels(ref_image, pixel_share, (grad_x, grad_y))
            width = ref_image.shape[2]
            self.grid = tf.cast(tf.stack([self.pixels % width, self.pixels // width], -1)[:, None],
                                ref_image.dtype)
            ref_image, inv_depth, grad_x, grad_y = (take_pixels(t, self.pixels)
                                                    for t in (ref_image, inv_depth, grad_x, grad_y))
        self.ref_image = ref_image
        self.inv_depth = inv_depth
        batch = tf.shape(ref_image)[0]
        height, width, channels = ref_image.shape[1], ref_image.shape[2], ref_image.shape[3]
        self.channels = channels
        self.batch = batch
        rays = geometry.pixel_rays(intrinsics, height, width, self.grid)
        columns_x, columns_y = _warp_jacobian_columns(rays, inv_depth, intrinsics)
        # Rows stacked over pixels and colour channels, transposed: [B, 6, H*W*C].
        self.jacobian = tf.reshape(tf.stack([grad_x * col_x[..., None] + grad_y * col_y[..., None]
                                             for col_x, col_y in zip(columns_x, columns_y)], axis=1),
                                   [batch, 6, height * width * channels])
        self.use_hessian_stride(_HESSIAN_STRIDE if height * width * channels >= _HESSIAN_STRIDE_ROWS else 1)
        if robust == "none":
            self.texture = tf.ones([batch, height * width * channels], ref_image.dtype)
        else:
            grad_sq = tf.reshape(tf.square(grad_x) + tf.square(grad_y), [-1, height * width * channels])
            self.texture = grad_sq / (grad_sq + TEXTURE_SCALE ** 2)
        # Mean squared pixel displacement of a small pose delta is delta^T G delta.
        jac_x, jac_y = (tf.reshape(tf.stack(c, axis=1), [batch, 6, height * width]) for c in (columns_x, columns_y))
        self.motion_metric = (tf.matmul(jac_x, jac_x, transpose_b=True)
                              + tf.matmul(jac_y, jac_y, transpose_b=True)) / float(height * width)
        if not weight_hessian:
            # One [6, N] x [N, 6] product per level (as a batch of HW tiny per-pixel products its
            # gradient is much slower under XLA on CPU).
            self.hessian = tf.matmul(self.jacobian * self.texture[:, None], self.jacobian, transpose_b=True)

    def use_hessian_stride(self, stride: int) -> None:
        """Estimate the re-weighted Hessian from every ``stride``-th row (:meth:`weighted_hessian`)."""
        self.hessian_stride = stride
        # Sliced once here: inside the iterations XLA re-slices it every time.
        self.hessian_jacobian = self.jacobian[:, :, ::stride]

    def evaluate(self, rotation, translation) -> Evaluation:
        coords, in_front = geometry.transform_pixels(self.inv_depth, rotation, translation, self.intrinsics,
                                                     grid=self.grid)
        warped, in_view = sample_neighbourhoods(self.src_neighbourhoods, coords, self.interpolation)
        mask = self._mask(in_view, in_front, warped)
        if self.photometric == "gain":
            warped *= _brightness_gain(warped, self.ref_image, mask)[0]
        residual = (warped - self.ref_image) * mask
        # [-1, rows] rather than [batch, -1]: keeps the static batch size through the loop.
        rows = self.jacobian.shape[2]
        return Evaluation(tf.reshape(residual, [-1, rows]), tf.reshape(mask, [-1, rows]))

    def _mask(self, in_view, in_front, warped) -> tf.Tensor:
        """In view, in front and (with ``occlusion``) not hidden, broadcast to ``warped``'s shape."""
        mask = in_view * in_front
        if self.visible is not None:
            mask *= self.visible
        return tf.broadcast_to(mask, tf.shape(warped))

    def fix_visibility(self, rotation, translation) -> None:
        """With ``occlusion``, drop from now on the rows of the points hidden at this pose.

        Fixed for the level rather than re-tested at every iterate: a test at each iterate lets a
        wrong pose hide its own worst residuals (measured: from the identity, coarse levels then
        diverged), and the level starts from the coarser levels' answer, where it is nearly right.
        """
        if not self.occlusion:
            return
        # Over all the level's pixels (also those it does not use): any of them may hide a used one.
        coords, in_front, src_inv_depth = geometry.transform_pixels(
            self.full_inv_depth, rotation, translation, self.intrinsics, with_inv_depth=True)
        in_view = in_image(coords, *self.image_size)
        valid = tf.cast(in_view, in_front.dtype)[..., None] * in_front
        # Points out of view stay usable: a later iterate may bring them in.
        self.use_visibility(visible_mask(coords, src_inv_depth, valid) + (1.0 - valid))

    def use_visibility(self, visible) -> None:
        """Use the occlusion test's result ``visible [B, H, W, 1]`` (all the level's pixels) from now on."""
        self.visible_image = tf.stop_gradient(tf.cast(visible, self.ref_image.dtype))
        self.visible = (self.visible_image if self.pixels is None
                        else take_pixels(self.visible_image, self.pixels))

    def in_view_fraction(self, ev: Evaluation) -> tf.Tensor:
        """Share of the level's (used) pixels in view ``[B]``."""
        return tf.reduce_mean(ev.mask, axis=1)

    def textured_share(self, ev: Evaluation) -> tf.Tensor:
        """Share of the reference's texture weight in view ``[B]``: what the acceptance rule keeps."""
        return tf.reduce_sum(ev.mask * self.texture, axis=1) / (tf.reduce_sum(self.texture, axis=1) + _ABS_EPS)

    def scale(self, ev: Evaluation) -> tf.Tensor:
        """Robust residual scale ``sigma [B]`` (1 for L2, where it is unused)."""
        if self.robust == "none":
            return tf.ones([self.batch], ev.residual.dtype)
        weights = ev.mask * self.texture
        median = weighted_median(tf.abs(ev.residual[:, ::_MEDIAN_STRIDE]), weights[:, ::_MEDIAN_STRIDE])
        return tf.stop_gradient(_MAD_TO_SIGMA * median + 1e-6)

    def cost(self, ev: Evaluation, scale) -> tf.Tensor:
        """Mean robust penalty over in-view rows (texture-weighted) ``[B]``; ``inf`` when no row is in
        view, so such a pose is never accepted.  For L2 the in-view mean squared residual."""
        weight = ev.mask * self.texture
        total = tf.reduce_sum(weight, axis=1)
        penalty = tf.reduce_sum(weight * robust_penalty(ev.residual, scale, self.robust), axis=1)
        return tf.where(total > 0, penalty / tf.maximum(total, _ABS_EPS), float("inf"))

    def step(self, ev: Evaluation, scale, damping, robust=None) -> tf.Tensor:
        """Damped Gauss-Newton pose ``delta [B, 6]`` that moves the reference onto the warped source;
        ``robust [B]`` (bool, default all) picks the elements whose rows get the robust weights."""
        return damped_solve(*self.normal_equations(ev, scale, robust), damping)

    def normal_equations(self, ev: Evaluation, scale, robust=None) -> tuple[tf.Tensor, tf.Tensor]:
        """The step's right-hand side ``J^T W r [B, 6]`` and Hessian ``[B, 6, 6]`` (see :meth:`step`)."""
        weight = self.row_weights(ev, scale, robust)
        rhs = tf.linalg.matvec(self.jacobian, weight * ev.residual)
        return rhs, self.weighted_hessian(weight) if self.weight_hessian else self.hessian

    def row_weights(self, ev: Evaluation, scale, robust=None) -> tf.Tensor:
        """IRLS row weights ``[B, N]``: in-view mask x texture x robust weight (``robust``: see
        :meth:`step`)."""
        weight = ev.mask * self.texture
        if self.robust != "none":
            robust_w = robust_weights(ev.residual, scale, self.robust)
            if robust is not None:
                robust_w = tf.where(robust[:, None], robust_w, tf.ones_like(robust_w))
            weight *= robust_w
        return weight

    def step_jacobian(self, rotation, translation, scale, damping, normal_equations) -> tf.Tensor:
        """``A = d delta / d eps [B, 6, 6]`` of :meth:`step` (every row robust) at the pose
        ``(rotation, translation)`` moved by ``eps`` in the reference camera (as
        :func:`geometry.transform_pixels_jacobian`), at ``eps = 0``, with ``sigma`` held;
        ``normal_equations``: :meth:`normal_equations` at that pose, which the caller has already.

        Forward mode by hand: the six directions move each row through its own sample only (plus
        the per-channel gain), so ``d(J^T W r)/d eps`` and ``d(J^T W J)/d eps`` take one pass over
        the rows (the sample's slopes come with it from one gather), where reverse mode needs one
        pass per direction; only the 6x6 solve is differentiated by TensorFlow.
        """
        coords, in_front = geometry.transform_pixels(self.inv_depth, rotation, translation, self.intrinsics,
                                                     grid=self.grid)
        coords_jacobian = geometry.transform_pixels_jacobian(self.inv_depth, rotation, translation,
                                                             self.intrinsics, self.grid)   # [B, H, W, 2, 6]
        warped, in_view, slope_x, slope_y = sample_neighbourhoods(self.src_neighbourhoods, coords,
                                                                  self.interpolation, with_slopes=True)
        # [B, H, W, C, 6]: how each sample moves.
        moved = (slope_x[..., None] * coords_jacobian[:, :, :, None, 0, :]
                 + slope_y[..., None] * coords_jacobian[:, :, :, None, 1, :])
        mask = self._mask(in_view, in_front, warped)
        if self.photometric == "gain":
            gain, free, sum_w = _brightness_gain(warped, self.ref_image, mask)
            gain_moved = -free[..., None] * gain[..., None] / sum_w[..., None] * tf.reduce_sum(
                mask[..., None] * moved, axis=[1, 2], keepdims=True)              # [B, 1, 1, C, 6]
            moved = gain[..., None] * moved + warped[..., None] * gain_moved
            warped = warped * gain
        # The row layout [B, N, 6] here: its products with the [B, N, 6] sample motions are faster
        # as (N x 6)^T (N x 6) than as (6 x N)(N x 6).
        jacobian = tf.linalg.matrix_transpose(self.jacobian)
        rows = jacobian.shape[1]
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
        rhs_moved = tf.einsum("bnk,bnl->bkl", jacobian, (row_weight * psi_slope)[..., None] * moved)
        rhs, hessian = normal_equations
        # The damped, scaled 6x6 solve's own derivatives: reverse mode on 6x6 tensors.
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([hessian, rhs])
            step = damped_solve(rhs, hessian, damping)
        by_rhs = tape.batch_jacobian(step, rhs, experimental_use_pfor=False)                 # [B, 6, 6]
        by_hessian = tape.batch_jacobian(step, hessian, experimental_use_pfor=False)         # [B, 6, 6, 6]
        del tape
        step_moved = tf.einsum("bkj,bjl->bkl", by_rhs, rhs_moved)
        if not self.weight_hessian:     # the authors' H does not move with the pose
            return step_moved
        stride = self.hessian_stride
        jacobian = tf.linalg.matrix_transpose(self.hessian_jacobian)     # the rows the Hessian sums
        weight_moved = (row_weight * weight_slope)[:, ::stride, None] * moved[:, ::stride]
        hessian_moved = float(stride) * tf.einsum("bnk,bnm,bnl->blkm", jacobian, jacobian, weight_moved)
        return step_moved + tf.einsum("bkij,blij->bkl", by_hessian, hessian_moved)

    def weighted_hessian(self, weight) -> tf.Tensor:
        """``J^T diag(weight) J [B, 6, 6]`` for row weights ``[B, N]``, from every
        ``hessian_stride``-th row: H only sets the step's length and direction, not where the step
        vanishes, so the fixed point and its implicit gradient stay those of all rows, and a
        quarter of a large level's rows estimate the 21 numbers well (bench/results/ddvo_objective.md)."""
        stride = self.hessian_stride
        jacobian = self.hessian_jacobian
        return float(stride) * tf.matmul(jacobian * weight[:, None, ::stride], jacobian, transpose_b=True)

    def motion(self, delta) -> tf.Tensor:
        """RMS pixel displacement ``[B]`` of the level's pixels under a small pose ``delta [B, 6]``."""
        quad = tf.einsum("bk,bkl,bl->b", delta, self.motion_metric, delta)
        return tf.sqrt(tf.maximum(quad, 0.0))


def check_options(robust: str, photometric: str, interpolation: str, pixel_share: float = 1.0) -> None:
    check_interpolation(interpolation)
    check_pixel_share(pixel_share)
    if robust not in ROBUST_KINDS:
        raise ValueError(f"robust must be one of {ROBUST_KINDS}, got {robust!r}")
    if photometric not in PHOTOMETRIC_KINDS:
        raise ValueError(f"photometric must be one of {PHOTOMETRIC_KINDS}, got {photometric!r}")
