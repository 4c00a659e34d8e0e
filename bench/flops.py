"""Floating-point operations of the networks' convolutions per training step, counted from the
Keras layers' shapes (a multiply-add is 2 operations).

Per convolution, forward ``F = 2 * H_out * W_out * k_h * k_w * C_in * C_out`` per image.  Backward
is ``F`` for the weight gradient (trainable networks) plus ``F`` for the input gradient (every layer
but the first, whose input is the image).  Element-wise work (activations, up-sampling, losses,
warps, DDVO) is not counted: it is memory-bound, not what a matmul rate measures.
"""
from __future__ import annotations

import keras


def conv_flops(model: keras.Model) -> list[tuple[str, float]]:
    """``(layer name, forward FLOPs per example)`` for every Conv2D, in order."""
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, out_channels = layer.output.shape
            k_h, k_w, in_channels, _ = layer.kernel.shape
            rows.append((layer.name, 2.0 * height * width * k_h * k_w * in_channels * out_channels))
    return rows


def network_step_flops(model: keras.Model, examples: int, trainable: bool = True) -> float:
    """Forward + backward convolution FLOPs for ``examples`` inputs (frozen: forward only)."""
    rows = conv_flops(model)
    total = 0.0
    for index, (_, forward) in enumerate(rows):
        total += forward
        if trainable:
            total += forward + (forward if index else 0.0)
    return total * examples


def train_step_flops(mode: str, height: int, width: int, batch: int, width_multiplier: float = 1.0) -> dict:
    """Convolution FLOPs of one training step of ``mode``: the Depth-CNN on the three frames of each
    clip, the Pose-CNN (trained, frozen in ``hybrid``, absent in ``ddvo``) on each clip."""
    from ddvo_tf.learning.config import TrainConfig
    from ddvo_tf.learning.depth_net import build_depth_net
    from ddvo_tf.learning.pose_net import build_pose_net
    config = TrainConfig(mode=mode, height=height, width=width, width_multiplier=width_multiplier)
    depth = network_step_flops(build_depth_net(height, width, width_multiplier), 3 * batch)
    pose = 0.0
    if config.uses_pose_net:
        pose = network_step_flops(build_pose_net(height, width, width_multiplier), batch,
                                  trainable=mode != "hybrid")
    return {"depth_net": depth, "pose_net": pose, "total": depth + pose}
