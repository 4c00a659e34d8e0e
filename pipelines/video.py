"""A user's own video: a video file, a folder of frames, or a folder of video files.

Intrinsics come from a text file (9 numbers of a 3x3 ``K``, or ``fx fy cx cy``) at the video's
resolution.  When unknown they are guessed from a horizontal field of view: ``fx = fy =
(W / 2) / tan(hfov / 2)``, principal point at the image centre ``((W - 1) / 2, (H - 1) / 2)``.
The default 80 degrees is close to KITTI's 81; wide-angle dashcams (100-140 degrees) also bend
straight lines, which a pinhole model cannot represent -- undistort such footage first.
"""
from __future__ import annotations

import math
import os

import cv2
import numpy as np

from pipelines.sequences import IMAGE_EXTENSIONS, DataError, FrameSequence, list_image_files, read_image

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def read_intrinsics_file(path: str) -> np.ndarray:
    try:
        values = np.loadtxt(path, dtype=np.float64).reshape(-1)
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: cannot read intrinsics ({error})") from None
    if values.size == 9:
        K = values.reshape(3, 3)
    elif values.size == 4:
        fx, fy, cx, cy = values
        K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
    else:
        raise DataError(f"{path}: expected 9 numbers (3x3 K) or 4 (fx fy cx cy), found {values.size}")
    if not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], [0, 0, 1]):
        raise DataError(f"{path}: not a valid intrinsics matrix: {K.tolist()}")
    return K


def intrinsics_from_hfov(height: int, width: int, hfov_deg: float) -> np.ndarray:
    if not 10.0 <= hfov_deg <= 170.0:
        raise ValueError(f"horizontal field of view must be in [10, 170] degrees, got {hfov_deg}")
    focal = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    return np.array([[focal, 0, (width - 1) / 2.0], [0, focal, (height - 1) / 2.0], [0, 0, 1.0]])


def _video_info(path: str) -> tuple[int, int, int]:
    capture = cv2.VideoCapture(path)
    try:
        ok, frame = capture.read()
        if not capture.isOpened() or not ok:
            raise DataError(f"{path}: OpenCV cannot decode this video; convert it to .mp4 (H.264)")
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        return frame.shape[0], frame.shape[1], max(count, 1)
    finally:
        capture.release()


def video_sequences(path: str, intrinsics_file: str | None = None, hfov_deg: float = 80.0,
                    frame_stride: int = 1) -> list[FrameSequence]:
    if not os.path.exists(path):
        raise DataError(f"{path}: no such video file or folder")
    if os.path.isdir(path):
        images = list_image_files(path)
        videos = sorted(os.path.join(path, n) for n in os.listdir(path) if n.lower().endswith(VIDEO_EXTENSIONS))
        if images:
            height, width = read_image(images[0]).shape[:2]
            entries = [(os.path.basename(os.path.normpath(path)), None, (height, width),
                        list(enumerate(images)))]
        elif videos:
            entries = []
            for video in videos:
                height, width, count = _video_info(video)
                entries.append((os.path.splitext(os.path.basename(video))[0], video, (height, width),
                                [(i, video) for i in range(count)]))
        else:
            raise DataError(f"{path}: folder holds no images ({' '.join(IMAGE_EXTENSIONS)}) or videos ({' '.join(VIDEO_EXTENSIONS)})")
    else:
        height, width, count = _video_info(path)
        entries = [(os.path.splitext(os.path.basename(path))[0], path, (height, width),
                    [(i, path) for i in range(count)])]
    sequences = []
    for name, video, (height, width), frames in entries:
        K = read_intrinsics_file(intrinsics_file) if intrinsics_file else intrinsics_from_hfov(height, width, hfov_deg)
        sequences.append(FrameSequence(drive=name, camera="video", intrinsics=K, frames=frames,
                                       video=video, frame_stride=frame_stride))
    return sequences

