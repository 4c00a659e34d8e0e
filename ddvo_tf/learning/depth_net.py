"""Depth-CNN (paper, Section 5 "Depth-CNN architecture"): the VGG-encoder U-Net of Godard et al.
with inverse-depth outputs at four scales through ``sigmoid * 10 + 0.01``.

Encoder: seven blocks of two convolutions (the second with stride 2), channels 32, 64, 128, 256,
512, 512, 512 and kernels 7, 5, 3, 3, 3, 3, 3.  Decoder: per level, nearest 2x upsampling and a
3x3 convolution, concatenation with the encoder feature of that resolution (and, at the three
finest levels, the upsampled coarser inverse depth), then a 3x3 convolution.  ELU activations, as
Godard et al.  Inverse depth comes out at 1/8, 1/4, 1/2 and full resolution.

``padding``: what every convolution sees beyond the border.  ``"zeros"`` (Keras' "same", the
authors' and Godard et al.'s): zero padding tells the network where the border is, and where the
loss gives little signal there (pixels leaving the view under forward motion) it paints a dark
band of "far" down both sides.  ``"symmetric"`` mirrors the feature map instead, so a uniform
image gives a uniform map (Monodepth2 pads its decoder by reflection for the same reason).  The
two have the same layers and weights, so checkpoints load into either.

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


@keras.saving.register_keras_serializable(package="ddvo_tf")
class SymmetricConv2D(layers.Conv2D):
    """``Conv2D`` with ``padding="same"`` geometry (output ``ceil(n / stride)``, odd kernels) whose
    border is the mirrored feature map (``SYMMETRIC``: edge rows repeated, valid on 1-pixel maps)
    instead of zeros.  One layer, Conv2D's weights: checkpoints are interchangeable."""

    def __init__(self, filters, kernel_size, strides=1, **kwargs):
        kwargs.pop("padding", None)
        super().__init__(filters, kernel_size, strides=strides, padding="valid", **kwargs)
        if any(k % 2 == 0 for k in self.kernel_size):
            raise ValueError(f"SymmetricConv2D needs odd kernels, got {self.kernel_size}")

    def call(self, inputs):
        pad_h, pad_w = self.kernel_size[0] // 2, self.kernel_size[1] // 2
        padded = ops.pad(inputs, [[0, 0], [pad_h, pad_h], [pad_w, pad_w], [0, 0]], mode="symmetric")
        return super().call(padded)

    def compute_output_shape(self, input_shape):
        size = lambda n, stride: None if n is None else -(-n // stride)
        return (input_shape[0], size(input_shape[1], self.strides[0]), size(input_shape[2], self.strides[1]),
                self.filters)


PADDINGS = ("zeros", "symmetric")


def _conv(padding: str, filters: int, kernel: int, **kwargs) -> layers.Layer:
    if padding == "symmetric":
        return SymmetricConv2D(filters, kernel, **kwargs)
    return layers.Conv2D(filters, kernel, padding="same", **kwargs)


HEAD_INITS = ("zeros", "glorot")


def build_depth_net(height: int = 128, width: int = 416, width_multiplier: float = 1.0,
                    name: str = "depth_net", head_init: str = "zeros",
                    initial_inv_depth: float = 1.0, padding: str = "zeros") -> keras.Model:
    """The Depth-CNN as a functional Keras model (image -> four inverse depths, finest first).

    ``head_init="zeros"`` starts the four inverse-depth heads flat at ``initial_inv_depth`` (zero
    kernels, the bias at the matching logit), with no random structure for the smoothness prior to
    remove by saturating the sigmoid (bench/results/collapse.md); ``"glorot"`` is
    Keras' default (random kernels, zero bias: 5.01 on average).
    """
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
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
        x = _conv(padding, channels, kernel, activation="elu", name=f"conv{index + 1}a")(x)
        x = _conv(padding, channels, kernel, strides=2, activation="elu", name=f"conv{index + 1}b")(x)
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
        x = _conv(padding, channels, 3, activation="elu", name=f"upconv{7 - level}")(x)
        parts = [x] + ([skips[target_index]] if target_index >= 0 else [])
        if coarser is not None:
            up = layers.UpSampling2D(2, interpolation="bilinear", name=f"up_inv_depth{7 - level}")(coarser)
            parts.append(CropToMatch(name=f"match_inv_depth{7 - level}")(up, reference))
        x = layers.Concatenate(name=f"concat{7 - level}")(parts) if len(parts) > 1 else x
        x = _conv(padding, channels, 3, activation="elu", name=f"iconv{7 - level}")(x)
        if level >= len(DECODER_CHANNELS) - NUM_SCALES:
            logits = _conv(padding, 1, 3, name=f"inv_depth{7 - level}_logits", **head)(x)
            # float32 whatever the policy: losses, normalization and DDVO work on it
            coarser = InverseDepthActivation(name=f"inv_depth{7 - level}", dtype="float32")(logits)
            inverse_depths.append(coarser)
    return keras.Model(image, inverse_depths[::-1], name=name)
