"""Scoring a depth model on frames with exact depth: the synthetic drives' ``depth_XX/data/*.png``
(camera z-depth in metres x 256 as uint16, 0 = none; ``pipelines.synthetic``).

The quick run (``ddvo_tf.train`` without ``--data_dir``) scores and pictures a street it never saw
with it, and ``bench/bench_accuracy.py`` measures learning with it.  The metrics are
``ddvo_tf.evaluation.eigen``'s Eigen-style ones (Garg crop, per-image median scaling, 80 m cap) plus two
correlations of log depth: per image (0 for a flat prediction whatever its scale), and of the
frame-to-frame variation (0 for any prediction that ignores the image, such as one fixed street
layout: a network can score well on the first and learn nothing about what is in front of it).

Frames are ``(image path, depth path)`` pairs; images are read as RGB uint8.
"""
from __future__ import annotations

import glob
import os

import cv2
import numpy as np

from ddvo_tf.core import pictures
from ddvo_tf.evaluation import metrics
from ddvo_tf.evaluation.eigen import evaluate_eigen
from ddvo_tf.evaluation.predictions import inverse_depth_function


def frames_with_depth(raw_root: str, camera: str = "image_02", every: int = 1) -> list[tuple[str, str]]:
    """(image, exact depth) paths of every drive under a synthetic KITTI-layout root."""
    images = sorted(glob.glob(os.path.join(raw_root, "*", "*", camera, "data", "*.png")))[::every]
    depth_folder = camera.replace("image_", "depth_")
    frames = [(p, p.replace(os.sep + camera + os.sep, os.sep + depth_folder + os.sep)) for p in images]
    frames = [(image, depth) for image, depth in frames if os.path.isfile(depth)]
    if not frames:
        raise FileNotFoundError(f"{raw_root}: no {camera} frames with a {depth_folder} exact depth map "
                                "(a pipelines.synthetic render holds both)")
    return frames


def read_depth(path: str) -> np.ndarray:
    """``[H, W]`` float64 metres (0 = no depth) from a KITTI depth-benchmark PNG."""
    depth = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if depth is None or depth.dtype != np.uint16 or depth.ndim != 2:
        raise ValueError(f"{path}: not a 16-bit one-channel depth PNG (metres x 256)")
    return depth.astype(np.float64) / 256.0


def read_rgb(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def log_depth_correlation(truth: np.ndarray, depth: np.ndarray) -> float:
    """Pearson correlation of log depths over valid cropped pixels (0 when the prediction is flat)."""
    mask = metrics.garg_crop_mask(*truth.shape) & (truth > 1e-3) & (truth < 80.0)
    t, p = np.log(truth[mask]), np.log(depth[mask])
    if np.std(p) < 1e-9 * max(abs(np.mean(p)), 1.0):
        return 0.0
    return float(np.corrcoef(t, p)[0, 1])


def image_specific_correlation(truths: list[np.ndarray], depths: list[np.ndarray]) -> float:
    """Pearson correlation of log depth after removing what every frame shares: each frame's mean
    (the scale) and, per pixel, the mean over the frames (the layout).  ``truths`` and ``depths``
    are same-sized ``[H, W]`` depth maps of frames from one kind of scene (e.g. one drive); pixels
    count where every frame has a valid truth inside the Garg crop.  1 for a perfect prediction,
    0 for one that is the same map for every frame; ``nan`` for fewer than two frames.
    """
    if len(truths) < 2 or len({t.shape for t in truths} | {d.shape for d in depths}) != 1:
        return float("nan")
    truth, depth = np.stack(truths), np.stack(depths)
    mask = metrics.garg_crop_mask(*truth.shape[1:]) & np.all((truth > 1e-3) & (truth < 80.0), axis=0)
    if not mask.any():
        return float("nan")
    logs = []
    for stack in (truth, depth):
        values = np.log(np.maximum(stack[:, mask], 1e-9))
        values -= values.mean(axis=1, keepdims=True)
        logs.append((values - values.mean(axis=0, keepdims=True)).ravel())
    if np.std(logs[1]) < 1e-9:
        return 0.0
    return float(np.corrcoef(logs[0], logs[1])[0, 1])


def predict(model: str | None, frames: list[tuple[str, str]]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(rgb, exact depth, predicted inverse depth at the model's size)`` per frame; ``model=None``
    predicts a constant (the reference every learned model must beat)."""
    inverse_depth = inverse_depth_function(model) if model else None
    results = []
    for image_path, depth_path in frames:
        rgb, truth = read_rgb(image_path), read_depth(depth_path)
        prediction = (np.ones(truth.shape, np.float32) if inverse_depth is None else inverse_depth(rgb))
        results.append((rgb, truth, prediction))
    return results


def score(predictions: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Eigen-style metrics (80 m cap), the mean log-depth correlation and the image-specific one
    (:func:`image_specific_correlation`) of :func:`predict`'s output."""
    truths = [truth for _, truth, _ in predictions]
    inverse = [prediction for _, _, prediction in predictions]
    correlations, depths = [], []
    for truth, prediction in zip(truths, inverse):
        resized = cv2.resize(prediction.astype(np.float32), truth.shape[::-1], interpolation=cv2.INTER_LINEAR)
        depths.append(1.0 / np.maximum(resized.astype(np.float64), 1e-9))
        correlations.append(log_depth_correlation(truth, depths[-1]))
    report = evaluate_eigen(truths, inverse, caps=(80.0,), progress=False)["cap_80"]
    return {**{k: float(report[k]) for k in ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")},
            "log_corr": float(np.mean(correlations)), "image_corr": image_specific_correlation(truths, depths)}


DEPTH_BINS = (0.0, 10.0, 20.0, 40.0, 80.0)    # metres: near, middle, far, far field


def errors_by_depth(predictions: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                    edges: tuple[float, ...] = DEPTH_BINS) -> list[dict[str, float]]:
    """Where the errors are: :func:`predict`'s output scored as :func:`score` does (Garg crop, per
    image median scaling, 80 m cap), its pixels then pooled over frames and split by their true
    depth into ``[edges[i], edges[i+1])``.  Per bin: the share of scored pixels, abs rel, RMSE (m)
    and the mean log ratio ``log(pred / truth)`` (< 0: too near).  A bin without pixels has
    ``pixels`` 0 and ``nan`` errors."""
    truths, scaled = [], []
    for _, truth, prediction in predictions:
        resized = cv2.resize(prediction.astype(np.float32), truth.shape[::-1], interpolation=cv2.INTER_LINEAR)
        depth = 1.0 / np.maximum(resized.astype(np.float64), 1e-9)
        result = metrics.median_scaled(truth, depth, metrics.garg_crop_mask(*truth.shape), 1e-3, edges[-1])
        truths.append(result.truth)
        scaled.append(result.prediction)
    truth, prediction = np.concatenate(truths), np.concatenate(scaled)
    rows = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (truth >= low) & (truth < high)
        t, p = truth[inside], prediction[inside]
        empty = not inside.any()
        rows.append({"from_m": float(low), "to_m": float(high), "pixels": float(inside.mean()),
                     "abs_rel": float("nan") if empty else float(np.mean(np.abs(p - t) / t)),
                     "rmse": float("nan") if empty else float(np.sqrt(np.mean((p - t) ** 2))),
                     "log_ratio": float("nan") if empty else float(np.mean(np.log(p / t)))})
    return rows


def comparison_picture(rgb: np.ndarray, truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """frame | predicted inverse depth | exact inverse depth, one colour scale: the prediction is
    median-scaled to the truth (monocular depth has no scale), the range is the truth's."""
    height, width = prediction.shape[:2]
    truth_small = cv2.resize(truth.astype(np.float32), (width, height), interpolation=cv2.INTER_NEAREST)
    valid = truth_small > 1e-3
    exact_inverse = np.where(valid, 1.0 / np.maximum(truth_small, 1e-3), 0.0)
    predicted = np.asarray(prediction, np.float64)
    if valid.any() and np.median(predicted[valid]) > 0:
        predicted = predicted * np.median(exact_inverse[valid]) / np.median(predicted[valid])
    low, high = (np.percentile(exact_inverse[valid], (2, 98)) if valid.any() else (0.0, 1.0))
    frame = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    return pictures.side_by_side(frame, pictures.colorize_inverse_depth(predicted, low, high),
                            pictures.colorize_inverse_depth(exact_inverse, low, high))


def write_pictures(predictions: list[tuple[np.ndarray, np.ndarray, np.ndarray]], output_dir: str,
                   count: int = 4, prefix: str = "held_out") -> list[str]:
    """``PREFIX_NN.png`` comparison pictures of ``count`` frames spread over the list."""
    if not predictions:
        return []
    picks = np.unique(np.linspace(0, len(predictions) - 1, min(count, len(predictions))).round().astype(int))
    paths = []
    for number, index in enumerate(picks):
        path = os.path.join(output_dir, f"{prefix}_{number:02d}.png")
        pictures.write_png(path, comparison_picture(*predictions[index]))
        paths.append(path)
    return paths
