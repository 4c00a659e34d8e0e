"""Pose-CNN (paper, Section 5 "Pose-CNN architecture"): SfMLearner's network without the
explainability decoder; the triplet concatenated along channels, seven stride-2 convolutions
(16, 32, 64, 128, 256, 256, 256; kernels 7, 5, 3, ...), a 1x1 convolution to 6 numbers per
source frame, spatial mean, times 0.01 (SfMLearner's output scaling, which keeps early poses small).

Input ``[B, 3, H, W, 3]`` (frames in time order, target in the middle).  Output ``[B, 2, 6]``:
the poses ``[tx, ty, tz, wx, wy, wz]`` (exponential coordinates, ``ddvo_tf.core.geometry``) that map
target-camera points into frame 1 and frame 3 cameras.  The translation is in the units of the
(normalized) depth the loss uses: with normalization on, the depth scale is pinned, so the network
learns translations at that scale (docs/design_notes.md, "Translation scale").
"""
from __future__ import annotations

import keras
from keras import layers, ops

CHANNELS = (16, 32, 64, 128, 256, 256, 256)
KERNELS = (7, 5, 3, 3, 3, 3, 3)
OUTPUT_SCALE = 0.01


def _channels(count: int, multiplier: float) -> int:
    return max(4, int(round(count * multiplier)))


@keras.saving.register_keras_serializable(package="ddvo_tf")
class StackTargetFirst(layers.Layer):
    """``[B, 3, H, W, C]`` -> ``[B, H, W, 3C]`` with the target (middle) frame first, as SfMLearner."""

    def call(self, frames):
        return ops.concatenate([frames[:, 1], frames[:, 0], frames[:, 2]], axis=-1)


@keras.saving.register_keras_serializable(package="ddvo_tf")
class PoseOutput(layers.Layer):
    """Spatially pooled 12 numbers -> ``[B, 2, 6]`` poses, scaled by 0.01."""

    def call(self, x):
        return ops.reshape(x * OUTPUT_SCALE, (-1, 2, 6))


def build_pose_net(height: int = 128, width: int = 416, width_multiplier: float = 1.0,
                   name: str = "pose_net") -> keras.Model:
    frames = keras.Input((3, height, width, 3), name="frames")
    x = StackTargetFirst(name="stack_target_first")(frames)
    x = (x - 0.5) * 2.0
    for index, (count, kernel) in enumerate(zip(CHANNELS, KERNELS)):
        x = layers.Conv2D(_channels(count, width_multiplier), kernel, strides=2, padding="same",
                          activation="relu", name=f"conv{index + 1}")(x)
    x = layers.Conv2D(12, 1, name="pose")(x)
    x = layers.GlobalAveragePooling2D(name="mean")(x)
    poses = PoseOutput(name="poses", dtype="float32")(x)   # float32 under any mixed policy
    return keras.Model(frames, poses, name=name)
