"""What the DDVO timing benches share: the layer's options as training builds them, the street
pairs as TensorFlow inputs, and one forward+backward call.

Used by ``bench.bench_ddvo_ab`` and ``bench.profile_ddvo``; the inputs follow
``ddvo_tf.core.geometry``'s conventions (images ``[B, H, W, 3]`` in [0, 1], inverse depth
``[B, H, W, 1]`` as a variable so the backward pass has something to differentiate, intrinsics
``[B, 3, 3]``, poses reference -> source).
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from bench import ddvo_cases
from ddvo_tf.learning.config import TrainConfig


def layer_options(kind: str, levels: int) -> dict:
    """``"layer"``: the layer's own defaults (no options); ``"training"``: the interpolation,
    occlusion and iterations ``train.py`` builds the layer with, for ``levels`` levels."""
    if kind == "layer":
        return {}
    if kind != "training":
        raise ValueError(f"options must be 'layer' or 'training', not {kind!r}")
    config = TrainConfig()
    return dict(interpolation=config.ddvo_interpolation, occlusion=config.ddvo_occlusion,
                num_iterations=list(config.ddvo_iterations)[:levels])


@dataclasses.dataclass
class StreetInputs:
    ref: tf.Tensor
    src: tf.Tensor
    inv_depth: tf.Variable
    intrinsics: tf.Tensor
    start: tf.Tensor          # a Pose-CNN-like start near the true poses (ddvo_cases.perturb)


def street_inputs(pairs: int) -> StreetInputs:
    """``pairs`` rendered 128x416 street pairs with a near parked car, batched."""
    ref, src, inv_depth, intrinsics, true = ddvo_cases.stack(ddvo_cases.street_pairs(count=pairs))
    return StreetInputs(tf.constant(ref), tf.constant(src), tf.Variable(inv_depth), tf.constant(intrinsics),
                        tf.constant(ddvo_cases.perturb(true), tf.float32))


def forward_backward(layer, inputs: StreetInputs, init: tf.Tensor | None = None):
    """The gradient of a loss of the solved poses w.r.t. the inverse depth (as numpy, so the
    call has finished when it returns)."""
    with tf.GradientTape() as tape:
        pose = layer(inputs.ref, inputs.src, inputs.inv_depth, inputs.intrinsics, init)
        loss = tf.reduce_sum(tf.square(pose))
    return tape.gradient(loss, inputs.inv_depth).numpy()
