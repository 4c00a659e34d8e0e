"""Differentiable direct visual odometry (paper Section 3): inverse-compositional Gauss-Newton,
robust and damped.

Conventions are those of :mod:`ddvo_tf.core.geometry` (pose reference -> source, pixel centres at
integers, intrinsics at each tensor's own resolution).  Given a reference image ``I``, its inverse
depth ``d`` and a source image ``I'``, the layer minimises Eq. 11 with a robust penalty,
``sum_i rho(I'(W(x_i; p, d_i)) - I(x_i))`` over the pose ``p`` (``rho(r) = r^2`` is the paper's).

Algorithm, per pyramid level (coarsest first; 2x2 average pooling, :func:`geometry.build_pyramid`):

1. Precompute on the reference image the Jacobian of Eq. 12, ``J = grad I . dW/dp |_0``
   (image gradients by central differences, one row per pixel and colour channel).
2. Warp the source image with the current pose (bicubic by default, :mod:`ddvo_tf.core.sampling`); the
   in-view mask ``M`` (Eq. 13's binary ``W``) is 1 where the reference point lands inside the source
   image and in front of the camera.  With ``occlusion`` (default), at the two finest levels, it is
   also 0 for points that land behind a nearer point (:mod:`ddvo_tf.core.occlusion`), tested once per
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
   basin, the finest level's are most of the cost; by default 10 per level and 30 at the
   coarsest (:func:`ddvo_tf.core.iterations.default_iterations`).  With ``pixel_share`` < 1 the
   finest level uses only the most textured pixels of every 2x2 block
   (:func:`ddvo_tf.core.ddvo_level.textured_pixels`).  A level whose iterates never beat its start
   returns the start pose unchanged, so texture-less or fully out-of-view inputs fall back to the
   initial pose (``diagnostics["fallback"]``).

Every step is differentiable, so gradients of a loss of the returned pose reach ``ref_inv_depth``
through the Jacobian (its translation columns are proportional to ``d``), through ``H^-1``, the
robust weights and every warp (Eq. 8); ``sigma`` and the accept/reject decisions are treated as
constants.  Batch elements are solved independently.

The per-level pieces (Jacobian, warp, step, the step's derivative) are in
:mod:`ddvo_tf.core.ddvo_level`, the Keras layer in :mod:`ddvo_tf.core.ddvo_layer`.

Longer than 300 lines because of this docstring: the algorithm is written out once, here, beside
the coarse-to-fine loop and its implicit gradient, which must agree on every detail of the
converged step (damping, acceptance, scaling, fallback).
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf

from ddvo_tf.core import geometry
from ddvo_tf.core.ddvo_level import Evaluation, Level, check_options, damped_solve
from ddvo_tf.core.iterations import Iterations, level_iterations

# Defaults of the layer and the functional forms, chosen by bench/bench_ddvo_accuracy.py
# (bench/results/ddvo_objective.md).
DEFAULT_ROBUST = "student_t"
DEFAULT_PHOTOMETRIC = "gain"
DEFAULT_INTERPOLATION = "bicubic"
DEFAULT_OCCLUSION = True
# RMS pixel motion of a step below which an element stops iterating at a level (looser is not
# free: bench/results/ddvo_objective.md, fifth round).
DEFAULT_TOLERANCE = 1e-3
# Share of the finest level's pixels the solve uses (ddvo_level.textured_pixels).
DEFAULT_PIXEL_SHARE = 1.0
# Levenberg-Marquardt: after a rejected step lambda grows 10x, at least to 0.1 (below that, the
# Jacobi-scaled step is barely shorter); an element whose lambda passes 1e6 has stalled.
_LM_REJECT_FLOOR = 0.1
# Robust weights are for refining near the solution: far from it every misaligned pixel looks
# like an outlier, and down-weighting the large residuals of near, peripheral pixels (which carry
# the forward motion) leaves the pose to the far field and stalls (measured in
# bench/results/ddvo_objective.md).  So they apply only at the ROBUST_LEVELS finest pyramid levels, and there
# only to an element once a step has moved its pixels by less than ROBUST_NEAR_PX.  The occlusion
# test is for the same finest levels (at coarse ones, from a still-wrong pose, it hides good rows).
ROBUST_LEVELS = 2
ROBUST_NEAR_PX = 0.5
_LM_MAX = 1e6


def _compose_inverse_step(rotation, translation, delta):
    """``T <- T T(delta)^-1`` with ``T(delta)^-1 = [R_d^T, -R_d^T t_d]``."""
    rotation_delta_t = tf.linalg.matrix_transpose(geometry.so3_exp(delta[:, 3:]))
    new_rotation = tf.matmul(rotation, rotation_delta_t)
    new_translation = translation - tf.linalg.matvec(new_rotation, delta[:, :3])
    return new_rotation, new_translation


def _select(better, new, old):
    """Per batch element ``new`` where ``better [B]``, else ``old`` (static shapes kept)."""
    return tf.where(tf.reshape(better, [-1] + [1] * (new.shape.rank - 1)), new, old)


def _solve_level(level: Level, rotation, translation, num_iterations, damping, tolerance):
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
        delta = level.step(Evaluation(residual, mask), scale, lam, robust=near)
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
            cost = tf.where(move, level.cost(Evaluation(residual, mask), scale), cost)
            # The best iterate's cost at the new sigma: the current cost where the best is the
            # current iterate (or sigma did not move); evaluated only when some element climbed.
            stale = move & tf.logical_not(better)
            best_cost = tf.where(better, cost, best_cost)
            best_cost = tf.cond(tf.reduce_any(stale),
                                lambda: tf.where(stale, level.cost(Evaluation(best_residual, best_mask), scale),
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
    scale, best = out[5], Evaluation(out[11], out[12])
    return dict(rotation=out[9], translation=out[10], evaluation=best, scale=scale,
                cost=out[13], accepted=out[14], iterations=out[15], update=out[16])


def solve_pose(ref_image: tf.Tensor, src_image: tf.Tensor, ref_inv_depth: tf.Tensor,
               intrinsics: tf.Tensor, init_pose: Optional[tf.Tensor] = None, num_levels: int = 5,
               num_iterations: Optional[Iterations] = None, weight_hessian: bool = True, damping: float = 1e-4,
               robust: str = DEFAULT_ROBUST, tolerance: float = DEFAULT_TOLERANCE,
               photometric: str = DEFAULT_PHOTOMETRIC, interpolation: str = DEFAULT_INTERPOLATION,
               occlusion: bool = DEFAULT_OCCLUSION, pixel_share: float = DEFAULT_PIXEL_SHARE
               ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
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
    check_options(robust, photometric, interpolation, pixel_share)
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
                level = Level(refs[index], srcs[index], inv_depths[index],
                               geometry.pyramid_intrinsics(intrinsics, index), weight_hessian,
                               robust if index < ROBUST_LEVELS else "none", photometric, interpolation,
                               occlusion and index < ROBUST_LEVELS, pixel_share if index == 0 else 1.0)
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
                       "visible": (tf.ones_like(ref_inv_depth) if level.visible_image is None
                                   else level.visible_image)}
        return pose, diagnostics


def implicit_vjp(ref_image: tf.Tensor, src_image: tf.Tensor, ref_inv_depth: tf.Tensor, intrinsics: tf.Tensor,
                 pose: tf.Tensor, upstream: tf.Tensor, weight_hessian: bool = True, damping: float = 1e-4,
                 regularization: float = 1e-4, robust: str = DEFAULT_ROBUST,
                 photometric: str = DEFAULT_PHOTOMETRIC, interpolation: str = DEFAULT_INTERPOLATION,
                 occlusion: bool = DEFAULT_OCCLUSION, visible: Optional[tf.Tensor] = None,
                 pixel_share: float = DEFAULT_PIXEL_SHARE) -> tf.Tensor:
    """``dL/d ref_inv_depth`` from ``upstream = dL/d pose`` at the solution ``pose [B, 6]`` (finest
    level), by the implicit function theorem instead of back-propagating through every iteration.

    At convergence the Gauss-Newton step vanishes: ``phi(eps, d) = 0`` where ``phi`` is the step
    computed at the pose ``T(pose) exp(eps)`` and ``eps = 0`` (with the robust weights as functions
    of the residual, and ``sigma`` held at its value at the solution).  Hence
    ``d eps / d d = -A^-1 dphi/dd`` with ``A = dphi/deps`` (6x6, close to the identity), and with
    ``P = dpose/deps``::

        dL/dd = -w^T dphi/dd,    A^T w = P^T upstream

    ``A`` comes by forward mode in one pass over the rows (:meth:`Level.step_jacobian`) and
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
    check_options(robust, photometric, interpolation, pixel_share)
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
        level = Level(ref_image, src_image, ref_inv_depth, intrinsics, weight_hessian, robust, photometric,
                       interpolation, occlusion, pixel_share)
        if visible is None:
            level.fix_visibility(rotation0, translation0)
        elif occlusion:
            level.use_visibility(visible)
        evaluation = level.evaluate(rotation0, translation0)
        scale = level.scale(evaluation)
        rhs, hessian = level.normal_equations(evaluation, scale)
        step = damped_solve(rhs, hessian, damping)
    a_matrix = tf.stop_gradient(level.step_jacobian(rotation0, translation0, scale, damping,
                                                    tf.nest.map_structure(tf.stop_gradient, (rhs, hessian))))
    target = tf.linalg.matvec(a_matrix, tf.linalg.matvec(p_matrix, upstream, transpose_a=True))
    normal = tf.matmul(a_matrix, a_matrix, transpose_b=True) + regularization * tf.eye(6, dtype=dtype)
    w = tf.linalg.solve(normal, target[..., None])[..., 0]
    w = tf.where(tf.math.is_finite(w), w, tf.zeros_like(w))
    grad = tape.gradient(step, ref_inv_depth, output_gradients=-tf.stop_gradient(w))
    return tf.where(tf.math.is_finite(grad), grad, tf.zeros_like(grad))
