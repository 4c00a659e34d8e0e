"""Depth-CNN (paper, Section 5 "Depth-CNN architecture"): the VGG-encoder U-Net of Godard et al.
with inverse-depth outputs at four scales through ``sigmoid * 10 + 0.01``.

Encoder: seven blocks of two convolutions (the second with stride 2), channels 32, 64, 128, 256,
512, 512, 512 and kernels 7, 5, 3, 3, 3, 3, 3.  Decoder: per level, nearest 2x upsampling and a
3x3 convolution, concatenation with the encoder feature of that resolution (and, at the three
finest levels, the upsampled coarser inverse depth), then a 3x3 convolution.  ELU activations, as
Godard et al.  Inverse depth comes out at 1/8, 1/4, 1/2 and full resolution.

Input ``[B, H, W, 3]`` float32 in [0, 1]; any H, W (odd intermediate sizes are handled by
cropping the upsampled feature to the skip's size, so 128x416 -- 416 = 13 * 32 -- works).
Output: list of four ``[B, H / 2^s, W / 2^s, 1]`` inverse depths, finest first.
``width_multiplier`` scales every channel count (tests use narrow networks).
"""
from __future__ import annotations

import math

import keras
from keras import layers, ops

ENCODER_CHANNELS = (32, 64, 128, 256, 512, 512, 512)
ENCODER_KERNELS = (7, 5, 3, 3, 3, 3, 3)
DECODER_CHANNELS = (512, 512, 256, 128, 64, 32, 16)
NUM_SCALES = 4
INV_DEPTH_SCALE = 10.0
INV_DEPTH_OFFSET = 0.01


def _channels(count: int, multiplier: float) -> int:
    return max(4, int(round(count * multiplier)))


@keras.saving.register_keras_serializable(package="ddvo_tf")
class CropToMatch(layers.Layer):
    """Crop the upsampled ``x`` to the spatial size of ``reference``.

    The encoder's stride-2 "same" convolutions give ``ceil(n / 2)``, so doubling overshoots by at
    most one row/column, always at the far edge.  A slice (not a resize: XLA has no kernel for the
    nearest-resize gradient) keeps the train step compilable.
    """

    def call(self, x, reference):
        height, width = reference.shape[1], reference.shape[2]
        if x.shape[1] < height or x.shape[2] < width:
            raise ValueError(f"cannot crop {x.shape} to {reference.shape}")
        return x[:, :height, :width]


@keras.saving.register_keras_serializable(package="ddvo_tf")
class InverseDepthActivation(layers.Layer):
    """``sigmoid(x) * 10 + 0.01``: bounded inverse depth (paper, Section 5)."""

    def call(self, x):
        return ops.sigmoid(x) * INV_DEPTH_SCALE + INV_DEPTH_OFFSET


HEAD_INITS = ("zeros", "glorot")


def build_depth_net(height: int = 128, width: int = 416, width_multiplier: float = 1.0,
                    name: str = "depth_net", head_init: str = "zeros",
                    initial_inv_depth: float = 1.0) -> keras.Model:
    """The Depth-CNN as a functional Keras model (image -> four inverse depths, finest first).

    ``head_init="zeros"`` starts the four inverse-depth heads flat at ``initial_inv_depth`` (zero
    kernels, the bias at the matching logit), with no random structure for the smoothness prior to
    remove by saturating the sigmoid (BUILD_NOTES.md, "Why training collapsed"); ``"glorot"`` is
    Keras' default (random kernels, zero bias: 5.01 on average).
    """
    if head_init not in HEAD_INITS:
        raise ValueError(f"head_init must be one of {HEAD_INITS}, got {head_init!r}")
    if not INV_DEPTH_OFFSET < initial_inv_depth < INV_DEPTH_OFFSET + INV_DEPTH_SCALE:
        raise ValueError(f"initial_inv_depth must lie inside the sigmoid's range, got {initial_inv_depth}")
    level = (initial_inv_depth - INV_DEPTH_OFFSET) / INV_DEPTH_SCALE
    head = (dict(kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(math.log(level / (1 - level))))
            if head_init == "zeros" else {})
    image = keras.Input((height, width, 3), name="image")
    x = (image - 0.5) * 2.0   # zero-centred input, as the authors' pre-processing
    skips = []
    for index, (count, kernel) in enumerate(zip(ENCODER_CHANNELS, ENCODER_KERNELS)):
        channels = _channels(count, width_multiplier)
        x = layers.Conv2D(channels, kernel, padding="same", activation="elu", name=f"conv{index + 1}a")(x)
        x = layers.Conv2D(channels, kernel, strides=2, padding="same", activation="elu",
                          name=f"conv{index + 1}b")(x)
        skips.append(x)
    # skips[i] is at 1/2^(i+1); decoder level j produces 1/2^(7-j-1) ... down to full resolution.
    inverse_depths = []
    coarser = None
    for level, count in enumerate(DECODER_CHANNELS):
        channels = _channels(count, width_multiplier)
        target_index = len(ENCODER_CHANNELS) - 2 - level        # skip at the new resolution (-1: input)
        reference = skips[target_index] if target_index >= 0 else image
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"up{7 - level}")(x)
        x = CropToMatch(name=f"match{7 - level}")(x, reference)
        x = layers.Conv2D(channels, 3, padding="same", activation="elu", name=f"upconv{7 - level}")(x)
        parts = [x] + ([skips[target_index]] if target_index >= 0 else [])
        if coarser is not None:
            up = layers.UpSampling2D(2, interpolation="bilinear", name=f"up_inv_depth{7 - level}")(coarser)
            parts.append(CropToMatch(name=f"match_inv_depth{7 - level}")(up, reference))
        x = layers.Concatenate(name=f"concat{7 - level}")(parts) if len(parts) > 1 else x
        x = layers.Conv2D(channels, 3, padding="same", activation="elu", name=f"iconv{7 - level}")(x)
        if level >= len(DECODER_CHANNELS) - NUM_SCALES:
            logits = layers.Conv2D(1, 3, padding="same", name=f"inv_depth{7 - level}_logits", **head)(x)
            # float32 whatever the policy: losses, normalization and DDVO work on it
            coarser = InverseDepthActivation(name=f"inv_depth{7 - level}", dtype="float32")(logits)
            inverse_depths.append(coarser)
    return keras.Model(image, inverse_depths[::-1], name=name)
