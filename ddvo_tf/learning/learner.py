"""``DepthLearner``: the paper's training objective (Eq. 6 / 15) as a Keras model.

One ``train_step``; the mode (``config.py``) only picks the pose source and the normalization.

One step on a batch of clips ``frames [B, 3, H, W, 3]`` (frame 1 = the target I_2 of the paper):

1. Depth-CNN on all three frames -> inverse depth at 4 scales, ``[B, 3, H/2^s, W/2^s, 1]``.
2. eta (Eq. 7) per clip when normalization is on.
3. Poses ``[B, 2, 6]`` mapping target-camera points into frames 0 and 2: Pose-CNN, DDVO from the
   identity (the target's normalized finest inverse depth; gradients flow into it, Eq. 8), or DDVO
   from the frozen Pose-CNN's pose.
4. Loss per scale: the four warps of the bidirectional appearance loss (sources into the target
   with the target's depth and the poses; the target into each source with that source's depth and
   the inverse pose) plus ``lambda`` times the smoothness of the three inverse depths; summed over
   scales, mean over clips.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from ddvo_tf.learning import losses
from ddvo_tf.core import geometry
from ddvo_tf.learning.config import TrainConfig
from ddvo_tf.core.ddvo_layer import DirectVisualOdometry
from ddvo_tf.learning.precision import dtype_policy
from ddvo_tf.learning.depth_net import INV_DEPTH_OFFSET, INV_DEPTH_SCALE, NUM_SCALES, build_depth_net
from ddvo_tf.learning.pose_net import build_pose_net

TARGET = 1
SATURATED = 0.01      # a sigmoid output within 1 % of either bound passes (almost) no gradient


def output_health(raw: tf.Tensor, normalized: tf.Tensor) -> dict:
    """Monitors of the finest inverse depth ``[B, 3, H, W, 1]``: its raw mean (before eta), the
    shares of pixels whose sigmoid is saturated high (> 0.99: the collapse seen at the ceiling) and
    low (< 0.01: also where far scenery and sky legitimately go), and the spread of the normalized map
    (per-image coefficient of variation, mean over images): a collapsing map goes flat (-> 0)."""
    sigmoid = (raw - INV_DEPTH_OFFSET) / INV_DEPTH_SCALE
    share = lambda condition: tf.reduce_mean(tf.cast(condition, tf.float32))
    mean, variance = tf.nn.moments(normalized, axes=[2, 3, 4])
    return {"mean_inv_depth": tf.reduce_mean(raw),
            "saturated_high": share(sigmoid > 1 - SATURATED), "saturated_low": share(sigmoid < SATURATED),
            "inv_depth_spread": tf.reduce_mean(tf.sqrt(variance) / tf.maximum(mean, 1e-12))}


class DepthLearner(keras.Model):
    def __init__(self, config: TrainConfig, **kwargs):
        super().__init__(name=f"depth_learner_{config.mode}", **kwargs)
        self.config = config
        with dtype_policy(config.precision):   # networks only: DDVO, geometry and losses stay float32
            self.depth_net = build_depth_net(config.height, config.width, config.width_multiplier,
                                             head_init=config.depth_head_init,
                                             initial_inv_depth=config.scale_anchor,
                                             padding=config.depth_padding)
            self.pose_net = (build_pose_net(config.height, config.width, config.width_multiplier)
                             if config.uses_pose_net else None)
        if config.mode == "hybrid":
            self.pose_net.trainable = False          # pretrained, frozen (Section 5.1)
        self.dvo = (DirectVisualOdometry(num_levels=config.num_ddvo_levels,
                                         num_iterations=config.ddvo_iterations,
                                         gradient=config.ddvo_gradient, robust=config.ddvo_robust,
                                         photometric=config.ddvo_photometric,
                                         interpolation=config.ddvo_interpolation,
                                         occlusion=config.ddvo_occlusion,
                                         weight_hessian=config.ddvo_weight_hessian,
                                         pixel_share=config.ddvo_pixel_share)
                    if config.uses_ddvo else None)

    def call(self, frames, training=False):
        """Inverse depths of the three frames at four scales (finest first)."""
        return self.inverse_depths(frames, training=training)

    def inverse_depths(self, frames: tf.Tensor, training: bool = False) -> list[tf.Tensor]:
        batch = tf.shape(frames)[0]
        flat = tf.reshape(frames, [-1, self.config.height, self.config.width, 3])
        outputs = self.depth_net(flat, training=training)
        return [tf.reshape(o, tf.concat([[batch, 3], tf.shape(o)[1:]], 0)) for o in outputs]

    def poses(self, frames: tf.Tensor, intrinsics: tf.Tensor, target_inv_depth: tf.Tensor,
              training: bool = False) -> tuple[tf.Tensor, dict]:
        """``[B, 2, 6]`` poses target -> frame 0 and target -> frame 2, and diagnostics."""
        info = {}
        init = None
        if self.pose_net is not None:
            init = self.pose_net(frames, training=training and self.config.mode != "hybrid")
            if self.dvo is None:
                return init, info
            init = tf.stop_gradient(init)
        batch = tf.shape(frames)[0]
        # both pairs share the reference (the target): one batched DDVO call
        ref = tf.concat([frames[:, TARGET], frames[:, TARGET]], 0)
        src = tf.concat([frames[:, 0], frames[:, 2]], 0)
        depth = tf.concat([target_inv_depth, target_inv_depth], 0)
        K = tf.concat([intrinsics, intrinsics], 0)
        init_pose = None if init is None else tf.concat([init[:, 0], init[:, 1]], 0)
        pose, diagnostics = self.dvo.solve(ref, src, depth, K, init_pose)
        pose = tf.stack([pose[:batch], pose[batch:]], axis=1)
        info["ddvo_cost"] = tf.reduce_mean(diagnostics["cost"])
        info["ddvo_in_view_fraction"] = tf.reduce_mean(diagnostics["in_view_fraction"])
        info["ddvo_fallback_share"] = tf.reduce_mean(tf.cast(diagnostics["fallback"], tf.float32))
        # Steps tried over all levels: against the budget, how often the solve runs it out.
        info["ddvo_iterations"] = tf.reduce_mean(tf.cast(diagnostics["iterations"], tf.float32))
        if init is not None:
            info["ddvo_refinement"] = tf.reduce_mean(tf.norm(pose - init, axis=-1))
        return pose, info

    def compute_losses(self, batch: dict, training: bool = True) -> dict:
        """All loss terms and monitoring scalars for a batch; ``outputs`` for pictures."""
        config = self.config
        frames = tf.convert_to_tensor(batch["frames"], tf.float32)
        intrinsics = tf.convert_to_tensor(batch["intrinsics"], tf.float32)
        raw = self.inverse_depths(frames, training=training)
        inv_depths = (losses.normalize_inverse_depths(raw, config.normalized_mean, config.normalize_scope)
                      if config.use_normalization else raw)
        poses, info = self.poses(frames, intrinsics, inv_depths[0][:, TARGET], training=training)
        inverse = geometry.invert_pose(poses)
        # (reference frame, source frame, pose reference -> source) of the four warps
        pairs = [(TARGET, 0, poses[:, 0]), (TARGET, 2, poses[:, 1]),
                 (0, TARGET, inverse[:, 0]), (2, TARGET, inverse[:, 1])]
        images = tf.reshape(frames, [-1, config.height, config.width, 3])
        photometric = 0.0
        warped_finest = None
        image_pyramid, depth_pyramid = [], []
        for scale in range(NUM_SCALES):
            if scale:
                images = geometry.downsample(images)
            height, width = images.shape[1], images.shape[2]
            clip_images = tf.reshape(images, [-1, 3, height, width, 3])
            K = geometry.pyramid_intrinsics(intrinsics, scale)
            depth = inv_depths[scale]
            ref_images = tf.concat([clip_images[:, r] for r, _, _ in pairs], 0)
            src_images = tf.concat([clip_images[:, s] for _, s, _ in pairs], 0)
            ref_depth = tf.concat([depth[:, r] for r, _, _ in pairs], 0)
            pose = tf.concat([p for _, _, p in pairs], 0)
            warped, mask = losses.warp(src_images, ref_depth, pose, tf.tile(K, [len(pairs), 1, 1]))
            per_pair = losses.photometric_loss(ref_images, warped, mask, use_ssim=scale == 0)
            photometric += tf.reduce_sum(tf.reshape(per_pair, [len(pairs), -1]), axis=0)
            image_pyramid.append(images)
            depth_pyramid.append(tf.reshape(depth, [-1, height, width, 1]))
            if scale == 0:
                warped_finest = warped
        smooth = losses.prior_loss(depth_pyramid, image_pyramid, config.smoothness_maps)
        smoothness = tf.reduce_sum(tf.reshape(smooth, [-1, 3]), axis=1)
        total = photometric + config.smoothness_weight * smoothness
        anchor = None
        if config.use_normalization and config.scale_anchor_weight > 0:
            anchor = losses.scale_anchor_loss(raw[0], config.scale_anchor)
            total += config.scale_anchor_weight * anchor
        result = {"loss": tf.reduce_mean(total), "photometric": tf.reduce_mean(photometric),
                  "smoothness": tf.reduce_mean(smoothness), **output_health(raw[0], inv_depths[0]),
                  "pose_translation": tf.reduce_mean(tf.norm(poses[..., :3], axis=-1)), **info}
        if anchor is not None:
            result["scale_anchor"] = tf.reduce_mean(anchor)
        result["outputs"] = {"target": frames[:, TARGET], "inv_depth": raw[0][:, TARGET],
                             # sources 0 and 2 warped into the target (the first two warps)
                             "warped": tf.stack(tf.split(warped_finest, len(pairs))[:2], axis=1)}
        return result

    def compute_gradients(self, batch: dict) -> tuple[dict, list]:
        """Scalars of the batch and the gradients of its loss for this replica.

        Under a ``tf.distribute`` strategy the optimizer sums gradients over replicas, so each
        replica differentiates ``mean over its clips / replicas`` (= sum over its clips / global
        batch: per-replica batches are equal); alone it is the plain mean.  With a float16 policy
        the optimizer's loss scale is applied here and undone by ``optimizer.apply``.
        """
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            result = self.compute_losses(batch, training=True)
            scaled = self.optimizer.scale_loss(result["loss"] / replicas)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        result.pop("outputs")
        # norm of this replica's own mean-loss gradient (loss scale and replica split undone)
        unscale = replicas / self.optimizer.scale_loss(tf.constant(1.0))
        result["gradient_norm"] = tf.linalg.global_norm(gradients) * unscale
        return result, gradients

    def apply_gradients(self, gradients: list) -> None:
        self.optimizer.apply(gradients, self.trainable_variables)

    def train_step(self, batch):
        result, gradients = self.compute_gradients(batch)
        self.apply_gradients(gradients)
        return result
