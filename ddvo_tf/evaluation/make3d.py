"""Make3D test set (Saxena et al., 134 images) and its protocol: the paper's Table 2.

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
import json
import os
import sys

import cv2
import numpy as np
import tqdm

from ddvo_tf.evaluation import metrics
from ddvo_tf.evaluation.predictions import EvaluationError, inverse_depth_function, load_predictions
from ddvo_tf.evaluation.reports import markdown_table, write_files

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


class Make3DError(EvaluationError):
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


def _central_fraction(prediction: np.ndarray, rows: slice, height: int) -> np.ndarray:
    """The rows of a whole-image prediction (any resolution) that the image crop ``rows`` keeps."""
    prediction = np.asarray(prediction)
    keep = int(round(prediction.shape[0] * (rows.stop - rows.start) / height))
    return prediction[central_rows(prediction.shape[0], keep)]


def run_make3d(make3d_dir: str, output_dir: str, model: str | None = None, predictions: str | None = None,
               prediction_kind: str = "inverse_depth", name: str = "ours", aspect: float = ASPECT,
               network_input: str = "crop") -> dict:
    """Make3D Test134 with the protocol of this module's docstring; report ``make3d.json`` / ``make3d.md``.

    ``network_input``: ``crop`` feeds the network the central crop (Godard et al.); ``full`` feeds
    the whole image (the authors' prediction script) and crops the prediction's central rows.
    ``--predictions`` hold predictions of the crops or of the whole images accordingly."""
    if (model is None) == (predictions is None):
        raise EvaluationError("give exactly one of --model and --predictions")
    if network_input not in ("crop", "full"):
        raise EvaluationError(f"network input must be 'crop' or 'full', got {network_input!r}")
    samples = find_samples(make3d_dir)
    truths, image_rows, heights = [], [], []
    for sample in tqdm.tqdm(samples, desc="ground truth", unit="image", file=sys.stdout):
        depth = load_depth(sample.depth_path)
        shape = read_image(sample.image_path).shape
        rows, depth_rows = crop_rows(shape, depth.shape, aspect)
        truths.append(depth[depth_rows])
        image_rows.append(rows)
        heights.append(shape[0])
    if predictions is not None:
        values = load_predictions(predictions, len(samples), make3d_dir)
        source = {"predictions": predictions, "prediction_kind": prediction_kind}
    else:
        inverse_depth = inverse_depth_function(model)
        if network_input == "crop":
            values = (inverse_depth(read_image(s.image_path)[rows]) for s, rows in zip(samples, image_rows))
        else:
            values = (inverse_depth(read_image(s.image_path)) for s in samples)
        prediction_kind, source = "inverse_depth", {"model": model}
    if network_input == "full":   # the same central fraction of each whole-image prediction
        values = (_central_fraction(value, rows, height) for value, rows, height in zip(values, image_rows, heights))
    results = evaluate(truths, values, prediction_kind)
    options = {"image_crop": f"central rows, width:height = {aspect:g}:1", "depth_crop": "same central row fraction",
               "network_input": {"crop": "the crop", "full": "the whole image, prediction cropped"}[network_input],
               "valid": f"0 < gt < {MAX_DEPTH:g} m", "scaling": "per-image median",
               "resize": "bilinear inverse depth to the cropped grid", "order": "sorted image names",
               "make3d_dir": make3d_dir, **source}
    ours = (name, [f"{results[m]:.3f}" for m in METRICS])
    paper = [(label, [f"{v[0]:.3f}", f"{v[1]:.3f}", f"{v[2]:.3f}", f"{v[3]:.3f} (RMSE(log))", ""])
             for label, v in PAPER_TABLE_2.items()]
    text = (f"# Make3D: {len(samples)} images\n\n" + markdown_table(METRICS, [ours] + paper) +
            f"\n\nPaper rows: Table 2; its 4th column \"RMSE(log)\" is placed under log10 (see ddvo_tf/evaluation/make3d.py). "
            f"Median ratio {results['median_ratio_mean']:.3f} ± {results['median_ratio_std']:.3f}.\n\n"
            "Protocol: " + ", ".join(f"{k}={v}" for k, v in options.items()) + "\n")
    payload = {"task": "make3d", "images": len(samples), "results": results, "protocol": options,
               "paper_table_2": {k: dict(zip(("abs_rel", "sq_rel", "rmse", "rmse_log"), v))
                                 for k, v in PAPER_TABLE_2.items()}}
    write_files(output_dir, {"make3d.json": json.dumps(payload, indent=2) + "\n", "make3d.md": text})
    return {"results": results, "report": os.path.join(output_dir, "make3d.md"), "images": len(samples)}
