"""The TFRecord schema of a training clip, defined once: encode (pipelines) and decode (reader).

One ``tf.train.Example`` per clip of ``CLIP_LENGTH`` consecutive frames:

=======================  ==========  ===============================================================
key                      type        meaning
=======================  ==========  ===============================================================
``schema_version``       int64       :data:`SCHEMA_VERSION`
``image/encoded``        bytes x 3   the frames, PNG (or JPEG >= 95, 4:4:4), in time order
``image/format``         bytes       ``png`` or ``jpeg``
``image/height``         int64       height of every frame
``image/width``          int64       width of every frame
``intrinsics``           float x 9   row-major 3x3 ``K`` at the stored resolution (``geometry``)
``source/drive``         bytes       drive or sequence name, e.g. ``2011_09_26_drive_0001_sync``
``source/camera``        bytes       camera name, e.g. ``image_02``
``source/frames``        int64 x 3   frame numbers in the source sequence
=======================  ==========  ===============================================================

The middle frame is the target (the paper's I_2); frames 0 and 2 are the sources I_1 and I_3.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

SCHEMA_VERSION = 1
CLIP_LENGTH = 3

FEATURES = {
    "schema_version": tf.io.FixedLenFeature([], tf.int64),
    "image/encoded": tf.io.FixedLenFeature([CLIP_LENGTH], tf.string),
    "image/format": tf.io.FixedLenFeature([], tf.string),
    "image/height": tf.io.FixedLenFeature([], tf.int64),
    "image/width": tf.io.FixedLenFeature([], tf.int64),
    "intrinsics": tf.io.FixedLenFeature([9], tf.float32),
    "source/drive": tf.io.FixedLenFeature([], tf.string),
    "source/camera": tf.io.FixedLenFeature([], tf.string),
    "source/frames": tf.io.FixedLenFeature([CLIP_LENGTH], tf.int64),
}


def _bytes(values: Sequence[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _ints(values: Sequence[int]) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def encode_clip(encoded_frames: Sequence[bytes], height: int, width: int, intrinsics: np.ndarray,
                drive: str, camera: str, frame_numbers: Sequence[int], image_format: str = "png"
                ) -> bytes:
    """Serialise one clip.  ``encoded_frames`` are already-encoded images (the pipelines encode
    with OpenCV in worker processes); the caller guarantees they are ``height x width``."""
    if len(encoded_frames) != CLIP_LENGTH or len(frame_numbers) != CLIP_LENGTH:
        raise ValueError(f"a clip has {CLIP_LENGTH} frames, got {len(encoded_frames)} images and "
                         f"{len(frame_numbers)} frame numbers")
    if image_format not in ("png", "jpeg"):
        raise ValueError(f"image_format must be 'png' or 'jpeg', got {image_format!r}")
    intrinsics = np.asarray(intrinsics, np.float32)
    if intrinsics.shape != (3, 3) or not np.all(np.isfinite(intrinsics)):
        raise ValueError(f"intrinsics must be a finite 3x3 matrix, got {intrinsics!r}")
    feature = {
        "schema_version": _ints([SCHEMA_VERSION]),
        "image/encoded": _bytes(encoded_frames),
        "image/format": _bytes([image_format.encode()]),
        "image/height": _ints([height]),
        "image/width": _ints([width]),
        "intrinsics": tf.train.Feature(float_list=tf.train.FloatList(value=intrinsics.reshape(-1))),
        "source/drive": _bytes([drive.encode()]),
        "source/camera": _bytes([camera.encode()]),
        "source/frames": _ints(frame_numbers),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def decode_clip(serialized: tf.Tensor, height: int, width: int) -> dict[str, tf.Tensor]:
    """Parse one serialised clip (traceable; use inside ``tf.data.Dataset.map``).

    Returns ``frames [3, H, W, 3]`` float32 in [0, 1], ``intrinsics [3, 3]`` float32, and the
    source ids.  ``height``/``width`` are the size the dataset was built at (from its manifest):
    a record of another size, or of another schema version, fails with a message saying so.
    """
    parsed = tf.io.parse_single_example(serialized, FEATURES)
    checks = [
        tf.debugging.assert_equal(parsed["schema_version"], tf.constant(SCHEMA_VERSION, tf.int64),
                                  message=f"record schema version differs from {SCHEMA_VERSION}: "
                                          "rebuild the dataset with this version of pipelines.build"),
        tf.debugging.assert_equal(tf.stack([parsed["image/height"], parsed["image/width"]]),
                                  tf.constant([height, width], tf.int64),
                                  message=f"record image size differs from the expected {height}x{width}"),
    ]
    with tf.control_dependencies(checks):
        frames = tf.map_fn(lambda data: tf.io.decode_image(data, channels=3, expand_animations=False),
                           parsed["image/encoded"], fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
    frames = tf.ensure_shape(frames, [CLIP_LENGTH, height, width, 3])
    return {
        "frames": tf.image.convert_image_dtype(frames, tf.float32),
        "intrinsics": tf.reshape(parsed["intrinsics"], [3, 3]),
        "drive": parsed["source/drive"],
        "camera": parsed["source/camera"],
        "frame_numbers": parsed["source/frames"],
    }
