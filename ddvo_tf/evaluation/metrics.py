"""Metric formulas of the evaluation protocols (numpy, float64): depth errors with the Garg crop
and per-image median scaling (Eigen split, Zhou et al. / Godard et al.), Make3D's log10, and the
absolute trajectory error of SfMLearner's pose evaluation.

Depth maps are ``[H, W]`` metres (ground truth 0 = no measurement).  Trajectories are ``[N, 3]``
camera positions of one snippet.
"""
from __future__ import annotations

import dataclasses

import numpy as np

GARG_CROP = (0.40810811, 0.99189189, 0.03594771, 0.96405229)   # rows top/bottom, columns left/right
DEPTH_METRICS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")


def garg_crop_mask(height: int, width: int) -> np.ndarray:
    """Boolean mask of Garg et al.'s crop, with the reference scripts' integer truncation."""
    top, bottom, left, right = (np.array(GARG_CROP) * [height, height, width, width]).astype(np.int32)
    mask = np.zeros((height, width), bool)
    mask[top:bottom, left:right] = True
    return mask


def depth_errors(truth: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """The seven standard errors over matched valid pixels (1-D arrays of positive depths)."""
    truth = np.asarray(truth, np.float64)
    prediction = np.asarray(prediction, np.float64)
    ratio = np.maximum(truth / prediction, prediction / truth)
    return {
        "abs_rel": float(np.mean(np.abs(truth - prediction) / truth)),
        "sq_rel": float(np.mean((truth - prediction) ** 2 / truth)),
        "rmse": float(np.sqrt(np.mean((truth - prediction) ** 2))),
        "rmse_log": float(np.sqrt(np.mean((np.log(truth) - np.log(prediction)) ** 2))),
        "a1": float(np.mean(ratio < 1.25)),
        "a2": float(np.mean(ratio < 1.25 ** 2)),
        "a3": float(np.mean(ratio < 1.25 ** 3)),
    }


def log10_error(truth: np.ndarray, prediction: np.ndarray) -> float:
    return float(np.mean(np.abs(np.log10(np.asarray(truth, np.float64)) - np.log10(np.asarray(prediction, np.float64)))))


@dataclasses.dataclass
class ScaledDepth:
    truth: np.ndarray          # valid ground-truth depths (1-D)
    prediction: np.ndarray     # matching median-scaled, clamped predictions (1-D)
    ratio: float               # median(truth) / median(prediction) before scaling


def median_scaled(truth: np.ndarray, prediction: np.ndarray, mask: np.ndarray, min_depth: float = 1e-3,
                  max_depth: float | None = None, cap_truth: bool = True) -> ScaledDepth:
    """Valid pixels (``min_depth < truth``, ``truth < max_depth`` when capped and ``cap_truth``,
    inside ``mask``), prediction scaled by ``median(truth) / median(prediction)`` and clamped to
    the same range."""
    truth = np.asarray(truth, np.float64)
    prediction = np.asarray(prediction, np.float64)
    if truth.shape != prediction.shape or truth.shape != mask.shape:
        raise ValueError(f"shapes differ: truth {truth.shape}, prediction {prediction.shape}, mask {mask.shape}")
    valid = mask & (truth > min_depth)
    if max_depth is not None and cap_truth:
        valid &= truth < max_depth
    if not np.any(valid):
        raise ValueError("no valid ground-truth pixel inside the crop")
    t, p = truth[valid], prediction[valid]
    ratio = float(np.median(t) / np.median(p))
    p = np.clip(p * ratio, min_depth, max_depth if max_depth is not None else np.inf)
    return ScaledDepth(t, p, ratio)


def trajectory_error(truth_xyz: np.ndarray, predicted_xyz: np.ndarray) -> float:
    """SfMLearner's snippet ATE: translate the prediction so its first position matches, scale it
    by the least-squares factor ``<truth, pred> / <pred, pred>``, and return
    ``sqrt(sum ||scaled - truth||^2) / N`` -- the reference formula (note: sqrt of the sum over N,
    not a root mean square), kept so numbers compare with published ones."""
    truth = np.asarray(truth_xyz, np.float64)
    predicted = np.asarray(predicted_xyz, np.float64) + (truth[0] - np.asarray(predicted_xyz, np.float64)[0])
    denominator = np.sum(predicted ** 2)
    scale = np.sum(truth * predicted) / denominator if denominator > 0 else 1.0
    return float(np.sqrt(np.sum((predicted * scale - truth) ** 2)) / truth.shape[0])


def summarize(values: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over images."""
    return {key: float(np.mean([v[key] for v in values])) for key in values[0]}
