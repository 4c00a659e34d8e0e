"""DDVO as a Keras layer: :func:`ddvo_tf.core.ddvo_solver.solve_pose` compiled (XLA by default)
with its gradient -- implicit (default) or unrolled -- attached by ``tf.custom_gradient``.

``layer(ref_image [B, H, W, C], src_image, ref_inv_depth [B, H, W, 1], intrinsics [B, 3, 3],
init_pose=None) -> pose [B, 6]`` (reference -> source, :mod:`ddvo_tf.core.geometry`).
"""
from __future__ import annotations

import numbers
from typing import Optional

import keras
import tensorflow as tf

from ddvo_tf.core.ddvo_level import check_options
from ddvo_tf.core.ddvo_solver import (DEFAULT_INTERPOLATION, DEFAULT_OCCLUSION, DEFAULT_PHOTOMETRIC,
                                      DEFAULT_PIXEL_SHARE, DEFAULT_ROBUST, DEFAULT_TOLERANCE, implicit_vjp,
                                      solve_pose)
from ddvo_tf.core.iterations import Iterations, as_counts, level_iterations


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
        level, finest first (:func:`level_iterations`); default (``None``): 10 per level and 30 at
        the coarsest, where a large motion needs more to reach its basin.
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
        view (:mod:`ddvo_tf.core.occlusion`; default True); False compares them too, as the paper.
      tolerance: an element stops iterating at a level once a step moves its pixels by less than
        this RMS distance (pixels of that level).
      pixel_share: share of the finest level's pixels the solve uses: 1 (all), 0.5 or 0.25 (in
        every 2x2 block the 2 or 1 of largest image gradient, :func:`ddvo_level.textured_pixels`);
        the finest level is most of the solve's cost.  The gradient then reaches the depth of
        those pixels only.
      jit_compile: run the solve (and its gradient) as one XLA cluster.  On the 2-core CPU this
        is several times faster than the plain graph (BUILD_NOTES.md, decisions: XLA); set False to debug.
      gradient: ``"implicit"`` (default): :func:`implicit_vjp`, the exact derivative of the
        converged pose, at the cost of a few iterations; ``"unrolled"``: back-propagation through
        every level and iteration, as the authors' code does (about 4x the forward's cost).
    """

    def __init__(self, num_levels: int = 5, num_iterations: Optional[Iterations] = None,
                 weight_hessian: bool = True,
                 damping: float = 1e-4, jit_compile: bool = True, gradient: str = "implicit",
                 robust: str = DEFAULT_ROBUST, tolerance: float = DEFAULT_TOLERANCE,
                 photometric: str = DEFAULT_PHOTOMETRIC, interpolation: str = DEFAULT_INTERPOLATION,
                 occlusion: bool = DEFAULT_OCCLUSION, pixel_share: float = DEFAULT_PIXEL_SHARE, **kwargs):
        # The solve always runs in float32, also under a mixed-precision policy (a 6x6 normal
        # equation over ~10^5 rows is not safe in float16).
        kwargs["dtype"] = "float32"
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        if num_levels < 1:
            raise ValueError(f"need num_levels >= 1, got {num_levels}")
        level_iterations(num_iterations, num_levels)   # checked here, not at the first call
        self.num_levels = num_levels
        if num_iterations is None:
            self.num_iterations = list(level_iterations(None, num_levels))
        else:
            counts = as_counts(num_iterations)
            self.num_iterations = counts[0] if isinstance(num_iterations, numbers.Integral) else list(counts)
        self.weight_hessian = weight_hessian
        self.damping = damping
        check_options(robust, photometric, interpolation, pixel_share)
        self.pixel_share = pixel_share
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
                          interpolation=self.interpolation, occlusion=self.occlusion,
                          pixel_share=self.pixel_share)

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
                                  occlusion=self.occlusion, visible=visible, pixel_share=self.pixel_share)
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
                      occlusion=self.occlusion, tolerance=self.tolerance, pixel_share=self.pixel_share)
        return config
