"""Differentiable direct visual odometry (paper Section 3): inverse-compositional Gauss-Newton.

Conventions are those of :mod:`ddvo_tf.geometry` (pose reference -> source, pixel centres at
integers, intrinsics at each tensor's own resolution).  Given a reference image ``I``, its inverse
depth ``d`` and a source image ``I'``, the layer minimises Eq. 11,
``sum_i || I'(W(x_i; p, d_i)) - I(x_i) ||^2`` over the pose ``p``.

Algorithm, per pyramid level (coarsest first; 2x2 average pooling, :func:`geometry.build_pyramid`):

1. Precompute on the reference image the Jacobian of Eq. 12, ``J = grad I . dW/dp |_0``
   (image gradients by central differences, one row per pixel and colour channel) and the
   Gauss-Newton matrix ``H = J^T J`` with its Cholesky factor.
2. Warp the source image with the current pose; the in-view mask ``M`` (Eq. 13's binary ``W``) is 1
   where the reference point lands inside the source image and in front of the camera.
3. ``delta = H^-1 J^T M (I'_p - I)`` is the pose that moves the *reference* image onto the warped
   source; the inverse-compositional update is ``T(p) <- T(p) T(delta)^-1``.  This is Eq. 13-14
   with the paper's ``dp = J^+ W (I - I'_p) = -delta``: Eq. 14's "left multiplication" is written
   for a pose in the paper's code convention; in ours (reference -> source) the same update is the
   right product above.  We use the exact inverse ``T(delta)^-1`` rather than ``T(-delta)``; both
   agree to first order.
4. A fixed number of iterations per level (``tf.while_loop``, so the graph stays small).  The
   in-view photometric cost (mean squared residual over in-view pixels and channels) is evaluated
   at every iterate including the last, and the level returns the iterate of lowest cost (the
   authors keep the last iterate that lowered the cost; the best one is never worse).  A level
   whose start pose is never improved on returns it unchanged, so texture-less or fully
   out-of-view inputs fall back to the initial pose; ``diagnostics["fallback"]`` reports it.

With ``weight_hessian=False`` (default, as in the authors' code) ``H`` comes from all pixels and is
factorised once per level.  ``True`` recomputes ``H = J^T M J`` each iteration from the current
in-view mask, the exact Gauss-Newton step for the masked cost of Eq. 13; it is slightly more
accurate and about 1.75x slower forward+backward (BUILD_NOTES.md compares both).
The 6x6 solve is Jacobi-scaled and damped (``H_s = S H S + lambda I``, ``S = diag(H)^-1/2``) so it
is always positive definite and never produces NaN.

Every step is differentiable, so gradients of a loss of the returned pose reach ``ref_inv_depth``
through the Jacobian (its translation columns are proportional to ``d``), through ``H^-1`` and
through every warp (Eq. 8).  Batch elements are solved independently.
"""
from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf

from ddvo_tf import geometry
from ddvo_tf.sampling import neighbourhoods, sample_neighbourhoods

_ABS_EPS = 1e-8


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


def _scaled_cholesky(hessian: tf.Tensor, damping: float) -> tuple[tf.Tensor, tf.Tensor]:
    """Cholesky factor of the Jacobi-scaled, damped ``hessian [B, 6, 6]`` and the scaling ``[B, 6]``."""
    finite = tf.reduce_all(tf.math.is_finite(hessian), axis=[-2, -1], keepdims=True)
    hessian = tf.where(finite, hessian, tf.zeros_like(hessian))
    scale = tf.math.rsqrt(tf.linalg.diag_part(hessian) + _ABS_EPS)
    scaled = hessian * scale[:, :, None] * scale[:, None, :]
    scaled += damping * tf.eye(6, dtype=hessian.dtype)
    return tf.linalg.cholesky(scaled), scale


def _solve(chol: tf.Tensor, scale: tf.Tensor, rhs: tf.Tensor) -> tf.Tensor:
    """``H^-1 rhs`` for the factorisation of :func:`_scaled_cholesky`; ``rhs [B, 6]``."""
    step = scale * tf.linalg.cholesky_solve(chol, (scale * rhs)[..., None])[..., 0]
    return tf.where(tf.math.is_finite(step), step, tf.zeros_like(step))


class _Level:
    """Everything of one pyramid level that does not change across iterations."""

    def __init__(self, ref_image, src_image, inv_depth, intrinsics, weight_hessian, damping):
        self.ref_image = ref_image
        self.src_neighbourhoods = neighbourhoods(src_image)
        self.inv_depth = inv_depth
        self.intrinsics = intrinsics
        self.weight_hessian = weight_hessian
        self.damping = damping
        batch = tf.shape(ref_image)[0]
        height, width, channels = ref_image.shape[1], ref_image.shape[2], ref_image.shape[3]
        self.channels = channels
        rays = geometry.pixel_rays(intrinsics, height, width)
        grad_x, grad_y = image_gradients(ref_image)
        jac_x, jac_y = warp_jacobian(rays, inv_depth, intrinsics)
        # Rows stacked over pixels and colour channels: [B, H*W, C, 6].
        jacobian = tf.reshape(grad_x[..., None] * jac_x[:, :, :, None, :]
                              + grad_y[..., None] * jac_y[:, :, :, None, :],
                              [batch, height * width, channels, 6])
        self.jacobian = tf.reshape(jacobian, [batch, height * width * channels, 6])
        if weight_hessian:
            # The in-view mask is per pixel, so H = sum_pixels mask * (sum_channels J_c J_c^T): keep
            # the per-pixel 6x6 blocks and each iteration's H is one [HW] x [HW, 36] product.
            per_pixel = tf.einsum("bpck,bpcl->bpkl", jacobian, jacobian)
            self.pixel_hessians = tf.reshape(per_pixel, [batch, height * width, 36])
        else:
            # One [6, N] x [N, 6] product: as a batch of HW tiny 3x6 products its gradient is ~10x
            # slower under XLA on CPU.
            hessian = tf.matmul(self.jacobian, self.jacobian, transpose_a=True)
            self.chol, self.scale = _scaled_cholesky(hessian, damping)

    def residual(self, rotation, translation):
        """``I'_p - I`` (zero outside the mask), the in-view mask and the mean squared in-view
        residual ``[B]`` (``inf`` when no pixel is in view, so such a pose is never preferred)."""
        coords, in_front = geometry.transform_pixels(self.inv_depth, rotation, translation, self.intrinsics)
        warped, in_view = sample_neighbourhoods(self.src_neighbourhoods, coords)
        mask = in_view * in_front
        residual = (warped - self.ref_image) * mask
        count = tf.reduce_sum(mask, axis=[1, 2, 3]) * float(self.channels)
        sq_sum = tf.reduce_sum(tf.square(residual), axis=[1, 2, 3])
        infinite = tf.fill(tf.shape(count), tf.constant(float("inf"), count.dtype))
        cost = tf.where(count > 0, sq_sum / tf.maximum(count, 1.0), infinite)
        return residual, mask, cost

    def step(self, residual, mask):
        """Gauss-Newton pose ``delta [B, 6]`` that moves the reference onto the warped source."""
        batch = tf.shape(residual)[0]
        rhs = tf.einsum("bnk,bn->bk", self.jacobian, tf.reshape(residual, [batch, -1]))
        if self.weight_hessian:
            hessian = tf.einsum("bp,bpq->bq", tf.reshape(mask, [batch, -1]), self.pixel_hessians)
            chol, scale = _scaled_cholesky(tf.reshape(hessian, [batch, 6, 6]), self.damping)
        else:
            chol, scale = self.chol, self.scale
        return _solve(chol, scale, rhs)


def _compose_inverse_step(rotation, translation, delta):
    """``T <- T T(delta)^-1`` with ``T(delta)^-1 = [R_d^T, -R_d^T t_d]``."""
    rotation_delta_t = tf.linalg.matrix_transpose(geometry.so3_exp(delta[:, 3:]))
    new_rotation = tf.matmul(rotation, rotation_delta_t)
    new_translation = translation - tf.linalg.matvec(new_rotation, delta[:, :3])
    return new_rotation, new_translation


def _select(better, new, old):
    shape = tf.concat([tf.shape(better), tf.ones([tf.rank(new) - 1], tf.int32)], 0)
    return tf.where(tf.reshape(better, shape), new, old)


def _solve_level(level: _Level, rotation, translation, num_iterations):
    """Run ``num_iterations`` updates from ``(rotation, translation)``; return the best iterate,
    its cost and in-view fraction, and whether it improved on the start pose.  Each iterate is
    scored once."""
    residual, mask, start_cost = level.residual(rotation, translation)
    in_view = lambda m: tf.reduce_mean(m, axis=[1, 2, 3])

    def body(i, rot, trans, residual, mask, best_rot, best_trans, best_cost, best_in_view):
        rot, trans = _compose_inverse_step(rot, trans, level.step(residual, mask))
        residual, mask, cost = level.residual(rot, trans)
        better = cost < best_cost
        best_rot = _select(better, rot, best_rot)
        best_trans = _select(better, trans, best_trans)
        best_cost = tf.where(better, cost, best_cost)
        best_in_view = tf.where(better, in_view(mask), best_in_view)
        return i + 1, rot, trans, residual, mask, best_rot, best_trans, best_cost, best_in_view

    loop_vars = (tf.constant(0), rotation, translation, residual, mask, rotation, translation,
                 start_cost, in_view(mask))
    *_, best_rot, best_trans, best_cost, best_in_view = tf.while_loop(
        lambda i, *_: i < num_iterations, body, loop_vars, maximum_iterations=num_iterations)
    return best_rot, best_trans, best_cost, best_in_view, best_cost < start_cost


def solve_pose(ref_image: tf.Tensor, src_image: tf.Tensor, ref_inv_depth: tf.Tensor,
               intrinsics: tf.Tensor, init_pose: Optional[tf.Tensor] = None, num_levels: int = 5,
               num_iterations: int = 10, weight_hessian: bool = False, damping: float = 1e-4
               ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Functional form of :class:`DirectVisualOdometry`; returns ``(pose [B, 6], diagnostics)``.

    ``diagnostics``: ``cost`` ``[B]`` in-view mean squared residual at the finest level for the
    returned pose; ``in_view_fraction`` ``[B]``; ``fallback`` ``[B]`` bool, true when no level
    improved on its start pose (the result is then ``init_pose``, or identity).
    """
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
        for index in reversed(range(num_levels)):
            with tf.name_scope(f"level_{index}"):
                level = _Level(refs[index], srcs[index], inv_depths[index],
                               geometry.pyramid_intrinsics(intrinsics, index), weight_hessian, damping)
                rotation, translation, cost, in_view, level_improved = _solve_level(
                    level, rotation, translation, num_iterations)
                improved = improved | level_improved
        pose = tf.concat([translation, geometry.so3_log(rotation)], axis=-1)
        if init_pose is not None:
            # Exact pass-through (no exp/log round-off) when nothing improved on the start.
            pose = _select(improved, pose, init_pose)
        else:
            pose = _select(improved, pose, tf.zeros_like(pose))
        diagnostics = {"cost": cost,
                       "in_view_fraction": in_view,
                       "fallback": tf.logical_not(improved)}
        return pose, diagnostics


def implicit_vjp(ref_image: tf.Tensor, src_image: tf.Tensor, ref_inv_depth: tf.Tensor, intrinsics: tf.Tensor,
                 pose: tf.Tensor, upstream: tf.Tensor, weight_hessian: bool = False, damping: float = 1e-4,
                 regularization: float = 1e-4) -> tf.Tensor:
    """``dL/d ref_inv_depth`` from ``upstream = dL/d pose`` at the solution ``pose [B, 6]`` (finest
    level), by the implicit function theorem instead of back-propagating through every iteration.

    At convergence the Gauss-Newton step vanishes: ``phi(eps, d) = 0`` where ``phi`` is the step
    computed at the pose ``T(pose) exp(eps)`` and ``eps = 0``.  Hence ``d eps / d d = -A^-1 dphi/dd``
    with ``A = dphi/deps`` (6x6, close to the identity), and with ``P = dpose/deps``::

        dL/dd = -w^T dphi/dd,    A^T w = P^T upstream

    ``A`` comes from one batched Jacobian (6 reverse passes of a single residual evaluation) and
    ``w^T dphi/dd`` from one more, so the cost is that of a few iterations, whatever the number of
    levels and iterations of the forward solve, and nothing of the forward needs to be kept.  The
    6x6 solve is Tikhonov-regularised (``(A A^T + mu I) w = A P^T upstream``) so a degenerate ``A``
    (texture-less input) gives a small gradient, never a huge one.  Equal to the unrolled gradient
    when the solve has converged (tested); coarse levels and ``init_pose`` do not move a fixed point,
    so they get no gradient.
    """
    dtype = pose.dtype
    batch = tf.shape(pose)[0]
    rotation0 = geometry.so3_exp(pose[:, 3:])
    translation0 = pose[:, :3]
    eps = tf.zeros([batch, 6], dtype)

    def perturbed(eps):
        return (tf.matmul(rotation0, geometry.so3_exp(eps[:, 3:])),
                translation0 + tf.linalg.matvec(rotation0, eps[:, :3]))

    with tf.GradientTape() as pose_tape:   # P: small tensors only, kept apart from the image work
        pose_tape.watch(eps)
        rotation, translation = perturbed(eps)
        moved = tf.concat([translation, geometry.so3_log(rotation)], axis=-1)
    p_matrix = pose_tape.batch_jacobian(moved, eps)                  # [B, 6, 6]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([eps, ref_inv_depth])
        level = _Level(ref_image, src_image, ref_inv_depth, intrinsics, weight_hessian, damping)
        residual, mask, _ = level.residual(*perturbed(eps))
        step = level.step(residual, mask)
    a_matrix = tape.batch_jacobian(step, eps)                        # [B, 6, 6]
    rhs = tf.linalg.matvec(a_matrix, tf.linalg.matvec(p_matrix, upstream, transpose_a=True))
    normal = tf.matmul(a_matrix, a_matrix, transpose_b=True) + regularization * tf.eye(6, dtype=dtype)
    w = tf.linalg.solve(normal, rhs[..., None])[..., 0]
    w = tf.where(tf.math.is_finite(w), w, tf.zeros_like(w))
    grad = tape.gradient(step, ref_inv_depth, output_gradients=-tf.stop_gradient(w))
    del tape
    return tf.where(tf.math.is_finite(grad), grad, tf.zeros_like(grad))


class DirectVisualOdometry(keras.layers.Layer):
    """Keras layer: ``layer(ref_image, src_image, ref_inv_depth, intrinsics, init_pose=None)``
    -> ``pose [B, 6]`` (reference -> source).  See the module docstring for the algorithm.

    Args:
      num_levels: pyramid levels, coarse to fine (paper: 5 from identity, 1 when a Pose-CNN
        provides ``init_pose``).
      num_iterations: Gauss-Newton updates per level (authors' code: 10).
      weight_hessian: re-weight ``H`` by the in-view mask each iteration (exact Gauss-Newton);
        ``False`` follows the authors' code.
      damping: ``lambda`` added to the Jacobi-scaled 6x6 system.
      jit_compile: run the solve (and its gradient) as one XLA cluster.  On the 2-core CPU this
        is 3-4x faster than the plain graph (BUILD_NOTES.md); set False to debug.
      gradient: ``"implicit"`` (default): :func:`implicit_vjp`, the exact derivative of the
        converged pose, at the cost of a few iterations; ``"unrolled"``: back-propagation through
        every level and iteration, as the authors' code does (about 4x the forward's cost).
    """

    def __init__(self, num_levels: int = 5, num_iterations: int = 10, weight_hessian: bool = False,
                 damping: float = 1e-4, jit_compile: bool = True, gradient: str = "implicit", **kwargs):
        # The solve always runs in float32, also under a mixed-precision policy (a 6x6 normal
        # equation over ~10^5 rows is not safe in float16).
        kwargs["dtype"] = "float32"
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        if num_levels < 1 or num_iterations < 0:
            raise ValueError(f"need num_levels >= 1 and num_iterations >= 0, got {num_levels}, "
                             f"{num_iterations}")
        self.num_levels = num_levels
        self.num_iterations = num_iterations
        self.weight_hessian = weight_hessian
        self.damping = damping
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
                          weight_hessian=self.weight_hessian, damping=self.damping)

    def _forward(self, ref_image, src_image, ref_inv_depth, intrinsics, init_pose):
        # Flat float outputs: what tf.custom_gradient and the XLA boundary accept.
        pose, info = self._solve_pose(ref_image, src_image, ref_inv_depth, intrinsics, init_pose)
        return pose, info["cost"], info["in_view_fraction"], tf.cast(info["fallback"], pose.dtype)

    def _vjp(self, ref_image, src_image, ref_inv_depth, intrinsics, init_pose, upstream):
        with tf.GradientTape() as tape:
            tape.watch([ref_inv_depth, init_pose])
            pose = self._forward(ref_image, src_image, ref_inv_depth, intrinsics, init_pose)[0]
        return tape.gradient(pose, [ref_inv_depth, init_pose], output_gradients=upstream)

    def _implicit_vjp(self, ref_image, src_image, ref_inv_depth, intrinsics, pose, fallback, upstream):
        grad_depth = implicit_vjp(ref_image, src_image, ref_inv_depth, intrinsics, pose, upstream,
                                  self.weight_hessian, self.damping)
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
                    return self._compiled_implicit_vjp(ref_image, src_image, inv_depth, intrinsics,
                                                       outputs[0], outputs[3], upstream_pose)
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
        pose, cost, in_view, fallback = self._solve_compiled(
            ref_image, src_image, ref_inv_depth, intrinsics, tf.cast(init_pose, tf.float32))
        return pose, {"cost": tf.stop_gradient(cost), "in_view_fraction": tf.stop_gradient(in_view),
                      "fallback": tf.cast(tf.stop_gradient(fallback), tf.bool)}

    def call(self, ref_image, src_image, ref_inv_depth, intrinsics, init_pose=None):
        pose, _ = self.solve(ref_image, src_image, ref_inv_depth, intrinsics, init_pose)
        return pose

    def compute_output_shape(self, ref_image_shape, *args, **kwargs):
        return (ref_image_shape[0], 6)

    def get_config(self):
        config = super().get_config()
        config.update(num_levels=self.num_levels, num_iterations=self.num_iterations,
                      weight_hessian=self.weight_hessian, damping=self.damping,
                      jit_compile=self.jit_compile, gradient=self.gradient)
        return config
