"""Make3D test set (Saxena et al., 134 images) and its evaluation protocol (the paper's Table 2).

Layout of ``--make3d_dir`` (the two official archives unpacked side by side)::

    Test134/img-<name>.jpg                  1704 x 2272 (W x H) colour images
    Gridlaserdata/depth_sph_corr-<name>.mat  Position3DGrid [55, 305, 4]; channel 3 = depth in metres

Protocol.  Zhou et al.'s Make3D script was never released (SfMLearner issue #52: "a central crop so
that the image layout roughly matches KITTI"); the only published one is Godard et al.'s, which the
later self-supervised papers use, so we follow it: the image keeps its central rows so that
width : height = 2 : 1 (``aspect``), the depth grid keeps the same central fraction of its first
axis (55 -> rows 17:38), the network sees the cropped image, its inverse depth is resized
(bilinear) to the cropped grid and inverted, pixels with ``0 < gt < 70`` are scored, the prediction
is scaled per image by ``median(gt) / median(pred)`` and clamped to (1e-3, 70).  Reported: abs rel,
sq rel, RMSE, log10 (mean |log10 gt - log10 pred|, Make3D's classic column), and RMSE of log10
(what Godard's script calls "rmse_log"; the paper's "RMSE(log)" column mixes the two: the
supervised rows are log10 errors, the self-supervised ones come from that script).

Images are ``[H, W, 3]`` uint8 RGB; depth grids ``[h, w]`` metres.
"""
from __future__ import annotations

import dataclasses
import glob
import os

import cv2
import numpy as np

from ddvo_tf import metrics

MAX_DEPTH = 70.0
ASPECT = 2.0     # width / height of the evaluated crop
METRICS = ("abs_rel", "sq_rel", "rmse", "log10", "rmse_log10")
PAPER_TABLE_2 = {   # abs rel, sq rel, RMSE, "RMSE(log)" (see the module docstring)
    "Karsch et al. (depth)": [0.428, 5.079, 8.389, 0.149],
    "Liu et al. (depth)": [0.475, 6.562, 10.05, 0.165],
    "Laina et al. (depth)": [0.204, 1.840, 5.683, 0.084],
    "Godard et al. (pose)": [0.544, 10.94, 11.76, 0.193],
    "Zhou et al. (none)": [0.383, 5.321, 10.47, 0.478],
    "paper: ours (none)": [0.387, 4.720, 8.09, 0.204],
}


class Make3DError(Exception):
    """Missing or unreadable Make3D files: the message names the file and the fix."""


@dataclasses.dataclass(frozen=True)
class Sample:
    name: str
    image_path: str
    depth_path: str


def find_samples(root: str) -> list[Sample]:
    """Test images in name order, each with its laser depth file (an image without one is an error)."""
    images = sorted(glob.glob(os.path.join(root, "Test134", "img-*.jpg")))
    if not images:
        raise Make3DError(f"{root}: no Test134/img-*.jpg; unpack Make3D's Test134.tar.gz and "
                          "Test134Depth.tar.gz into this folder")
    samples = []
    for path in images:
        name = os.path.basename(path)[len("img-"):-len(".jpg")]
        depth = os.path.join(root, "Gridlaserdata", f"depth_sph_corr-{name}.mat")
        if not os.path.isfile(depth):
            raise Make3DError(f"{depth}: laser depth of {path} is missing; unpack Test134Depth.tar.gz "
                              f"into {root} (it holds Gridlaserdata/)")
        samples.append(Sample(name, path, depth))
    return samples


def load_depth(path: str) -> np.ndarray:
    """Channel 3 (depth, metres) of the file's ``Position3DGrid``."""
    try:
        import scipy.io
    except ImportError:
        raise Make3DError("reading Make3D's .mat files needs SciPy: pip install -e \".[eval]\"") from None
    try:
        contents = scipy.io.loadmat(path)
    except Exception as error:   # scipy raises several types (IndexError, ValueError...) on a damaged file
        raise Make3DError(f"{path}: not a readable MATLAB file ({type(error).__name__}: {error}); "
                          "download Test134Depth.tar.gz again") from None
    if "Position3DGrid" not in contents:
        raise Make3DError(f"{path}: has no Position3DGrid; is this a Make3D laser depth file?")
    grid = contents["Position3DGrid"]
    if grid.ndim != 3 or grid.shape[2] < 4:
        raise Make3DError(f"{path}: Position3DGrid has shape {grid.shape}, expected [rows, cols, 4]")
    return np.asarray(grid[:, :, 3], np.float64)


def read_image(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise Make3DError(f"{path}: unreadable or truncated image; download Test134.tar.gz again")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def central_rows(height: int, keep: int) -> slice:
    keep = min(height, keep)
    top = (height - keep) // 2
    return slice(top, top + keep)


def crop_rows(image_shape: tuple, depth_shape: tuple, aspect: float = ASPECT) -> tuple[slice, slice]:
    """Rows kept of the image (central, ``width / height = aspect``) and of the depth grid (the same
    central fraction: both cover the same field of view)."""
    height, width = image_shape[:2]
    image_rows = central_rows(height, int(round(width / aspect)))
    fraction = (image_rows.stop - image_rows.start) / height
    return image_rows, central_rows(depth_shape[0], int(round(depth_shape[0] * fraction)))


def errors(truth: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """The reported errors over matched valid pixels (1-D positive depths)."""
    depth = metrics.depth_errors(truth, prediction)
    log_diff = np.log10(np.asarray(truth, np.float64)) - np.log10(np.asarray(prediction, np.float64))
    return {"abs_rel": depth["abs_rel"], "sq_rel": depth["sq_rel"], "rmse": depth["rmse"],
            "log10": metrics.log10_error(truth, prediction),
            "rmse_log10": float(np.sqrt(np.mean(log_diff ** 2)))}


def evaluate(truths: list[np.ndarray], predictions, kind: str = "inverse_depth",
             max_depth: float = MAX_DEPTH, progress: bool = True) -> dict:
    """Mean errors over images of predictions (any size, resized to each cropped grid) against the
    cropped grids, with the median ratio's mean and spread."""
    import sys

    import tqdm
    values, ratios = [], []
    for truth, prediction in tqdm.tqdm(zip(truths, predictions), total=len(truths), unit="image",
                                       file=sys.stdout, disable=not progress):
        height, width = truth.shape
        resized = cv2.resize(np.asarray(prediction, np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
        depth = 1.0 / np.maximum(resized, 1e-6) if kind == "inverse_depth" else resized
        everywhere = np.ones_like(truth, bool)
        scaled = metrics.median_scaled(truth, depth, everywhere, min_depth=0.0, max_depth=max_depth)
        scaled.prediction = np.maximum(scaled.prediction, 1e-3)
        values.append(errors(scaled.truth, scaled.prediction))
        ratios.append(scaled.ratio)
    if len(values) != len(truths):
        raise Make3DError(f"{len(values)} predictions for {len(truths)} test images")
    return {**metrics.summarize(values), "median_ratio_mean": float(np.mean(ratios)),
            "median_ratio_std": float(np.std(ratios))}
