"""Static-frame filter (paper, Section 5 after Zhou et al.): drop a frame whose mean optical-flow
magnitude with respect to the previous *kept* frame is below a threshold (1 px).

The mean alone cannot tell camera motion from object motion: a static camera filming a moving
object (a hand, a passing car) has a mean flow above 1 px and no camera motion at all, and the
method's model (a rigid scene seen by a moving camera) does not hold.  So a frame also counts as
static when the *median* flow is below half the threshold: when the camera moves, most pixels
move (only the focus of expansion and the far field stay put); when only an object moves, the
majority of pixels, the background, does not.

Flow is OpenCV's DIS (dense inverse search, Kroeger et al. 2016, "fast" preset) on grey frames already
downscaled to the output size -- cheap beside decoding the frames, and robust on weak texture.
Flow vectors are scaled back to the pixels of the original frame before averaging, so the
threshold keeps the meaning "pixels of the camera image" whatever the output size.
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from pipelines.sequences import DataError


class StaticFilter:
    """Stateful filter for one sequence: call :meth:`is_static` on consecutive frames."""

    def __init__(self, threshold: float, scale_x: float = 1.0, scale_y: float = 1.0):
        """``scale_x/y`` = original size / size of the frames passed in (>= 1 when downscaled)."""
        self.threshold = float(threshold)
        self.scale = np.array([scale_x, scale_y], np.float32)
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self._previous = None
        self.last_magnitude = float("nan")
        self.last_median = float("nan")

    def is_static(self, grey: np.ndarray) -> bool:
        """True when ``grey`` (uint8 [H, W]) barely moved from the last kept frame; a frame
        that is not static becomes the new reference."""
        if self._previous is None or self.threshold <= 0:
            self._previous = grey
            return False
        self.last_magnitude, self.last_median = flow_magnitude(self._flow, self._previous, grey, self.scale)
        if self.last_magnitude < self.threshold or self.last_median < 0.5 * self.threshold:
            return True
        self._previous = grey
        return False


def flow_magnitude(flow: cv2.DISOpticalFlow, first: np.ndarray, second: np.ndarray,
                   scale: np.ndarray) -> tuple[float, float]:
    """Mean and median optical-flow magnitude (pixels of the original frame) from ``first`` to ``second``."""
    magnitude = np.linalg.norm(flow.calc(first, second, None) * scale, axis=-1)
    return float(np.mean(magnitude)), float(np.median(magnitude))


def read_static_list(path: str) -> set[tuple[str, int]]:
    """``(drive, frame)`` pairs of a static-frames list, applied to every camera of the drive.

    Accepts SfMLearner's ``static_frames.txt`` lines (``DATE DRIVE FRAME``) and
    ``DATE/DRIVE FRAME`` or ``DRIVE FRAME`` lines; the drive is the token's last path component.
    """
    if not os.path.isfile(path):
        raise DataError(f"{path}: static-frames list does not exist")
    entries = set()
    with open(path) as handle:
        for line_number, line in enumerate(handle, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                frame = int(os.path.splitext(os.path.basename(parts[-1]))[0])
            except ValueError:
                raise DataError(f"{path}:{line_number}: expected '[DATE] DRIVE FRAME', got "
                                f"{line.strip()!r}") from None
            if len(parts) < 2:
                raise DataError(f"{path}:{line_number}: no drive name in {line.strip()!r}")
            entries.add((os.path.basename(parts[-2].rstrip("/")), frame))
    return entries
