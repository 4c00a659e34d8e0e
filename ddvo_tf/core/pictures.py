"""Colour-mapped inverse depth (magma, near = bright) and side-by-side panels.

Numpy/OpenCV at the edges only (summaries, exported pictures), never inside a train step.
Images are float32 RGB in [0, 1]; outputs uint8 RGB.
"""
from __future__ import annotations

import cv2
import numpy as np

from ddvo_tf.core.files import write_atomic


def colorize_inverse_depth(inv_depth: np.ndarray, low: float | None = None, high: float | None = None
                           ) -> np.ndarray:
    """``[H, W]`` or ``[H, W, 1]`` inverse depth -> ``[H, W, 3]`` uint8 RGB, magma, near = bright.

    The range defaults to the 5th-95th percentile, so a few extreme pixels do not wash it out.
    """
    values = np.asarray(inv_depth, np.float64)
    if values.ndim == 3 and values.shape[-1] == 1:
        values = values[..., 0]          # not squeeze(): a 1-pixel-wide map must keep its axes
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"expected an [H, W] or [H, W, 1] inverse depth, got shape {values.shape}")
    low = np.percentile(values, 5) if low is None else low
    high = np.percentile(values, 95) if high is None else high
    scaled = np.clip((values - low) / max(high - low, 1e-12), 0.0, 1.0)
    bgr = cv2.applyColorMap(np.round(scaled * 255).astype(np.uint8), cv2.COLORMAP_MAGMA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).reshape(values.shape + (3,))


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(np.asarray(image, np.float64), 0, 1) * 255).astype(np.uint8)


def side_by_side(*panels: np.ndarray) -> np.ndarray:
    """Concatenate uint8 RGB panels horizontally (resized to the first panel's height)."""
    height = panels[0].shape[0]
    resized = [p if p.shape[0] == height else
               cv2.resize(p, (max(1, round(p.shape[1] * height / p.shape[0])), height), interpolation=cv2.INTER_AREA)
               for p in panels]
    return np.concatenate(resized, axis=1)


def write_png(path: str, rgb: np.ndarray) -> None:
    """Write atomically (temporary name, then rename)."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"could not encode {path}")
    write_atomic(path, data.tobytes())
