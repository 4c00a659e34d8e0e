"""Cut a frame sequence into training clips: crop, resize, drop static frames, encode, split.

Each frame is read, resized (OpenCV ``INTER_AREA``, an area average, so downscaling does not
alias) and encoded once, then shared by the up to three clips it belongs to.  Clips are
consecutive triplets of *kept* frames.  Intrinsics follow the crop (bottom rows only: ``K``
unchanged) and the resize (``ddvo_tf.core.geometry.resize_intrinsics``, exact for area resizes).
The train/validation choice of a clip is a seeded hash of its drive, camera and target frame,
so it does not depend on sharding, worker count or machine split.
"""
from __future__ import annotations

import dataclasses
import zlib
from typing import Callable, Iterator

import cv2
import numpy as np

from ddvo_tf.data import records
from ddvo_tf.core import geometry
from pipelines.sequences import DataError, FrameSequence, iter_images
from pipelines.static_frames import StaticFilter


@dataclasses.dataclass(frozen=True)
class ClipOptions:
    height: int = 128
    width: int = 416
    image_format: str = "png"           # or "jpeg" (quality >= 95, 4:4:4 chroma)
    jpeg_quality: int = 95
    static_threshold: float = 1.0       # mean flow in original-image pixels; 0 keeps every frame
    val_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self):
        if self.image_format not in ("png", "jpeg"):
            raise ValueError(f"image_format must be png or jpeg, got {self.image_format!r}")
        if self.image_format == "jpeg" and self.jpeg_quality < 95:
            raise ValueError("JPEG quality below 95 measurably changes results; use >= 95 or PNG")
        if self.height < 8 or self.width < 8:
            raise ValueError(f"output size {self.height}x{self.width} is too small")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")


@dataclasses.dataclass
class Clip:
    encoded: tuple[bytes, bytes, bytes]
    intrinsics: np.ndarray
    frame_numbers: tuple[int, int, int]
    split: str                          # "train" or "val"

    def serialize(self, sequence: FrameSequence, options: ClipOptions) -> bytes:
        return records.encode_clip(self.encoded, options.height, options.width, self.intrinsics,
                                   sequence.drive, sequence.camera, self.frame_numbers,
                                   options.image_format)


@dataclasses.dataclass
class SequenceStats:
    frames: int = 0
    static: int = 0
    clips: dict = dataclasses.field(default_factory=lambda: {"train": 0, "val": 0})


def split_of(sequence: FrameSequence, target_frame: int, options: ClipOptions) -> str:
    key = f"{options.seed}/{sequence.drive}/{sequence.camera}/{target_frame}".encode()
    return "val" if zlib.crc32(key) / 2.0 ** 32 < options.val_fraction else "train"


def output_intrinsics(intrinsics: np.ndarray, cropped_height: int, width: int,
                      options: ClipOptions) -> np.ndarray:
    """Intrinsics after cropping rows below ``cropped_height`` and resizing to the output size."""
    scaled = geometry.resize_intrinsics(np.asarray(intrinsics, np.float64),
                                        options.width / width, options.height / cropped_height)
    return np.asarray(scaled, np.float64)


def encode_image(image: np.ndarray, options: ClipOptions) -> bytes:
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if options.image_format == "png":
        ok, data = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    else:
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, options.jpeg_quality,
                                              cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                                              cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])
    if not ok:
        raise RuntimeError("OpenCV failed to encode a frame")
    return data.tobytes()


def cut_clips(sequence: FrameSequence, options: ClipOptions, static_list: set | None = None,
              stats: SequenceStats | None = None, on_frame: Callable[[], None] | None = None
              ) -> Iterator[Clip]:
    """Yield the clips of one sequence; ``stats`` (if given) counts frames, static frames, clips.

    ``static_list`` (``(drive, frame)`` pairs) replaces the optical-flow test when given.
    """
    stats = stats if stats is not None else SequenceStats()
    static_filter = None
    intrinsics = None
    kept: list[tuple[int, bytes]] = []
    for number, label, image in iter_images(sequence):
        if intrinsics is None:
            height, width = image.shape[:2]
            cropped = int(round(height * (1.0 - sequence.crop_bottom)))
            if cropped < options.height // 2:
                raise DataError(f"{label}: after cropping the bottom {sequence.crop_bottom:.0%} the "
                                f"frame has {cropped} rows, too few for {options.height}")
            intrinsics = output_intrinsics(sequence.intrinsics, cropped, width, options)
            static_filter = StaticFilter(options.static_threshold if static_list is None else 0.0,
                                         width / options.width, cropped / options.height)
        small = cv2.resize(image[:cropped], (options.width, options.height),
                           interpolation=cv2.INTER_AREA)
        stats.frames += 1
        if on_frame is not None:
            on_frame()
        if static_list is not None:
            static = (sequence.drive, number) in static_list
        else:
            static = static_filter.is_static(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        if static:
            stats.static += 1
            continue
        kept = kept[-2:] + [(number, encode_image(small, options))]
        if len(kept) == records.CLIP_LENGTH:
            split = split_of(sequence, kept[1][0], options)
            stats.clips[split] += 1
            yield Clip(encoded=tuple(data for _, data in kept), intrinsics=intrinsics,
                       frame_numbers=tuple(n for n, _ in kept), split=split)
