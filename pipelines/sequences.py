"""What every source hands the build job: monocular frame sequences with their intrinsics.

A :class:`FrameSequence` is one camera of one drive (KITTI ``image_02`` and ``image_03`` are two
sequences), a Cityscapes snippet, or a user's video.  Frames are listed by number and file;
a video sequence lists the video file and reads it in order.  Intrinsics are 3x3 at the
sequence's full image size (the convention of ``ddvo_tf.core.geometry``), before any crop or resize.

Sources raise :class:`DataError` with a message naming the offending file and the fix; the build
job prints it instead of a traceback.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Iterator

import cv2
import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff")


class DataError(Exception):
    """Bad input data: the message names the file and says how to fix it."""


@dataclasses.dataclass
class FrameSequence:
    drive: str                         # e.g. 2011_09_26_drive_0001_sync, or a city/snippet name
    camera: str                        # e.g. image_02
    intrinsics: np.ndarray             # [3, 3] at the full image size
    frames: list[tuple[int, str]]      # (frame number, image file); for video: (index, video file)
    crop_bottom: float = 0.0           # fraction of rows removed at the bottom (car hood)
    video: str | None = None           # frames are read from this video file, in order
    frame_stride: int = 1              # keep every n-th frame (e.g. 2 for 17 Hz Cityscapes)

    @property
    def name(self) -> str:
        return f"{self.drive}/{self.camera}"

    def to_json(self) -> dict:
        return {"drive": self.drive, "camera": self.camera, "num_frames": len(self.frames),
                "intrinsics": np.asarray(self.intrinsics).tolist(), "crop_bottom": self.crop_bottom,
                "frame_stride": self.frame_stride, "video": self.video}


def read_image(path: str) -> np.ndarray:
    """An RGB ``uint8 [H, W, 3]`` image, or :class:`DataError` naming the file."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: image file does not exist")
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{path}: unreadable or truncated image; re-download or re-extract it "
                        "(or delete it and the frames after it to cut the sequence there)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def iter_images(sequence: FrameSequence) -> Iterator[tuple[int, str, np.ndarray]]:
    """Yield ``(frame number, label for messages, RGB uint8 image)`` every ``frame_stride`` frames,
    checking that all frames of the sequence have one size."""
    size = None
    if sequence.video is not None:
        images = _iter_video(sequence.video, sequence.frame_stride)
    else:
        images = ((number, path, read_image(path))
                  for number, path in sequence.frames[::sequence.frame_stride])
    for number, label, image in images:
        if size is None:
            size = image.shape
        elif image.shape != size:
            raise DataError(f"{label}: frame is {image.shape[1]}x{image.shape[0]} but earlier frames "
                            f"of {sequence.name} are {size[1]}x{size[0]}; a sequence must have one size")
        yield number, label, image


def _iter_video(path: str, stride: int) -> Iterator[tuple[int, str, np.ndarray]]:
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise DataError(f"{path}: OpenCV cannot open this video; convert it to .mp4 (H.264) or pass "
                        "a folder of frames")
    index = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % stride == 0:
                yield index, f"{path} (frame {index})", cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise DataError(f"{path}: no frame could be decoded from this video")


def list_image_files(folder: str) -> list[str]:
    """Image files of a folder in name order."""
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if name.lower().endswith(IMAGE_EXTENSIONS))
