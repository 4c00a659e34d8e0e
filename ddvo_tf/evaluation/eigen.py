"""KITTI Eigen split depth (the paper's Table 1): ground truth, the protocol and its report.

Protocol (Zhou et al. / Godard et al.): the prediction for each test image is resized (bilinear) to
the ground truth's full size, pixels with ``1e-3 < gt`` inside Garg et al.'s crop are scored, the
prediction is scaled per image by ``median(gt) / median(pred)`` and clamped to the valid range,
and the seven errors are averaged over images.  Both variants are reported: without a depth cap
(the paper) and with the 80 m cap (most later work).  The ``eigen_benchmark`` split (the KITTI
depth annotations) scores every annotated pixel with the prediction clamped to 80 m.

Ground truth is ``pipelines.export_gt_depth``'s ``.npz`` or monodepth2's ``gt_depths.npz``
(:func:`load_ground_truth`; the latter lists no images, so a model then needs the test list).  The
report (``eigen.json`` and ``eigen.md``) holds the numbers printed, the protocol options, the image
count and the paper's Table 1 rows.  Depth maps are ``[H, W]`` float metres, 0 = no point.
"""
from __future__ import annotations

import json
import os
import pickle
import sys
import zipfile
from typing import Iterable, Iterator, NamedTuple

import cv2
import numpy as np
import tqdm

from ddvo_tf.evaluation import metrics
from ddvo_tf.evaluation.predictions import EvaluationError, inverse_depth_function, load_predictions
from ddvo_tf.evaluation.reports import markdown_table, write_files

PAPER_TABLE_1 = {   # KITTI Eigen split, no depth cap (paper, Table 1)
    "Zhou et al. (K, M)": [0.208, 1.768, 6.856, 0.283, 0.678, 0.885, 0.957],
    "paper: ours (baseline)": [0.213, 3.770, 6.925, 0.294, 0.758, 0.909, 0.958],
    "paper: ours (Pose-CNN)": [0.155, 1.193, 5.613, 0.229, 0.797, 0.935, 0.975],
    "paper: ours (DDVO)": [0.159, 1.347, 5.789, 0.234, 0.796, 0.933, 0.973],
    "paper: ours (Pose-CNN+DDVO)": [0.151, 1.257, 5.583, 0.228, 0.810, 0.936, 0.974],
    "paper: ours (Pose-CNN+DDVO), CS+K": [0.148, 1.187, 5.496, 0.226, 0.812, 0.938, 0.975],
}


GROUND_TRUTH_FORMATS = ("pipelines.export_gt_depth's .npz (files + depth_NNNN arrays), or monodepth2's "
                        "splits/eigen/gt_depths.npz (one object array under 'data')")


GROUND_TRUTH_KINDS = {
    "published": "published (velodyne x as depth, round(u) - 1: comparable with published tables)",
    "exact": "exact (camera z-depth, round(u): NOT comparable with published tables, ~5 % at 5 m)",
    "eigen_benchmark": "eigen_benchmark (KITTI depth annotations of Uhrig et al., 652 frames)",
}
# Protocol per split (monodepth2's evaluate_depth.py): eigen scores inside Garg et al.'s crop with
# and without the 80 m cap; eigen_benchmark scores every annotated pixel (no crop, no cap on the
# annotations) with the prediction clamped to [1e-3, 80] m.
SPLIT_PROTOCOLS = {"eigen": {"crop": "garg", "caps": (None, 80.0), "cap_truth": True},
                   "eigen_benchmark": {"crop": None, "caps": (80.0,), "cap_truth": False}}


class GroundTruth(NamedTuple):
    lines: list[str] | None        # test lines; None for monodepth2's file, which has none
    depths: list[np.ndarray]       # [H, W] float32, 0 = no point
    kind: str                      # "published" / "exact" (pipelines.export_gt_depth), or what is known


def load_ground_truth(path: str) -> GroundTruth:
    """The test lines, depth maps and ground-truth kind of a ``.npz`` of either format of
    :data:`GROUND_TRUTH_FORMATS`.  Anything else is an :class:`EvaluationError` naming the file
    and the formats read."""
    if not os.path.isfile(path):
        raise EvaluationError(f"{path}: ground truth does not exist; make it with "
                              "`python -m pipelines.export_gt_depth --raw_dir=... --test_files=... --output=...`")
    bad = f"{path} is not a ground-truth file: expected {GROUND_TRUTH_FORMATS}"
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic[:4] != b"PK\x03\x04":         # an .npz is a zip; nothing else is opened (or unpickled)
        kind = "an .npy array" if magic == b"\x93NUMPY" else "empty" if not magic else "not a zip archive"
        raise EvaluationError(f"{bad}, but it is {kind}")
    try:
        # monodepth2 stores its maps as one pickled object array: a format users bring, read as data.
        archive = np.load(path, allow_pickle=True)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise EvaluationError(f"{bad} ({type(error).__name__}: {str(error)[:120]})") from None
    try:
        with archive:
            if "files" in archive.files:
                files = [str(f) for f in archive["files"]]
                depths = [archive[f"depth_{i:04d}"] for i in range(len(files))]
                # Files written before the kind was recorded held the exact (camera z) maps.
                kind = str(archive["ground_truth"]) if "ground_truth" in archive.files else "exact"
            elif "data" in archive.files:
                files = None
                depths = list(archive["data"])
                kind = "published (monodepth2's gt_depths.npz)"
            else:
                raise EvaluationError(f"{bad}; it holds {sorted(archive.files)[:5]}")
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as error:
        raise EvaluationError(f"{bad} (damaged: {str(error)[:120]})") from None
    for index, depth in enumerate(depths):
        if np.ndim(depth) != 2 or not np.issubdtype(np.asarray(depth).dtype, np.number):
            raise EvaluationError(f"{path}: ground truth {index} is not a 2-D depth map (shape {np.shape(depth)})")
    return GroundTruth(files, [np.asarray(d, np.float32) for d in depths], kind)


def _test_image_path(raw_dir: str, line: str) -> str:
    drive, frame, side = line.split()
    camera = "image_02" if side == "l" else "image_03"
    return os.path.join(raw_dir, drive, camera, "data", f"{int(frame):010d}.png")


def predict_inverse_depths(model: str, raw_dir: str, lines: list[str]) -> Iterator[np.ndarray]:
    """Yield each test image's inverse depth at the image's size from a SavedModel."""
    inverse_depth = inverse_depth_function(model)
    for line in lines:
        path = _test_image_path(raw_dir, line)
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise EvaluationError(f"{path}: test image missing or unreadable (test line {line!r})")
        yield inverse_depth(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def evaluate_eigen(ground_truth: list[np.ndarray], predictions: Iterable[np.ndarray], kind: str = "inverse_depth",
                   min_depth: float = 1e-3, caps=(None, 80.0), progress: bool = True, crop: str | None = "garg",
                   cap_truth: bool = True) -> dict:
    """Metrics per cap (``"no_cap"``, ``"cap_80"``): errors averaged over images, ratio statistics.
    ``crop``: ``"garg"`` or None (every pixel); ``cap_truth=False`` keeps annotated pixels beyond
    the cap (the prediction is still clamped to it), as the eigen_benchmark protocol does."""
    per_cap = {cap: [] for cap in caps}
    ratios = {cap: [] for cap in caps}
    count = 0
    for truth, prediction in tqdm.tqdm(zip(ground_truth, predictions), total=len(ground_truth), unit="image",
                                       file=sys.stdout, disable=not progress):
        height, width = truth.shape
        resized = cv2.resize(np.asarray(prediction, np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
        depth = 1.0 / resized if kind == "inverse_depth" else resized
        mask = metrics.garg_crop_mask(height, width) if crop == "garg" else np.ones((height, width), bool)
        for cap in caps:
            scaled = metrics.median_scaled(truth, depth, mask, min_depth, cap, cap_truth=cap_truth)
            per_cap[cap].append(metrics.depth_errors(scaled.truth, scaled.prediction))
            ratios[cap].append(scaled.ratio)
        count += 1
    if count != len(ground_truth):
        raise EvaluationError(f"{count} predictions for {len(ground_truth)} ground-truth images")
    report = {}
    for cap in caps:
        key = "no_cap" if cap is None else f"cap_{cap:g}"
        report[key] = {**metrics.summarize(per_cap[cap]),
                       "median_ratio_mean": float(np.mean(ratios[cap])),
                       "median_ratio_std": float(np.std(ratios[cap]))}
    return report


def markdown_report(results: dict, options: dict, count: int, name: str) -> str:
    rows = [(f"{name} ({key.replace('_', ' ')})", [f"{results[key][m]:.3f}" for m in metrics.DEPTH_METRICS])
            for key in results]
    split = options.get("split", "eigen")
    # The paper's rows were measured on the velodyne ground truth of the eigen split only.
    paper = ([(label, [f"{v:.3f}" for v in values]) for label, values in PAPER_TABLE_1.items()]
             if split == "eigen" else [])
    ratio = "; ".join(f"{key}: median ratio {results[key]['median_ratio_mean']:.3f} ± "
                      f"{results[key]['median_ratio_std']:.3f}" for key in results)
    protocol = ", ".join(f"{k}={v}" for k, v in options.items())
    note = "Paper rows: Table 1, no cap. " if paper else "The paper reports no numbers on this ground truth. "
    return (f"# KITTI {split} split: {count} images\n\n" + markdown_table(metrics.DEPTH_METRICS, rows + paper) +
            f"\n\n{note}{ratio}.\n\nProtocol: {protocol}\n")


def write_report(output_dir: str, results: dict, options: dict, count: int, name: str) -> str:
    payload = {"task": "eigen", "images": count, "results": results, "protocol": options}
    if options.get("split", "eigen") == "eigen":
        payload["paper_table_1_no_cap"] = {k: dict(zip(metrics.DEPTH_METRICS, v)) for k, v in PAPER_TABLE_1.items()}
    write_files(output_dir, {"eigen.json": json.dumps(payload, indent=2) + "\n",
                              "eigen.md": markdown_report(results, options, count, name)})
    return os.path.join(output_dir, "eigen.md")


def run_eigen(gt_depths: str, output_dir: str, model: str | None = None, raw_dir: str | None = None,
              predictions: str | None = None, prediction_kind: str = "inverse_depth", name: str = "ours",
              test_lines: list[str] | None = None, split: str | None = None) -> dict:
    """Score a model (``model`` + ``raw_dir``) or precomputed ``predictions`` against ``gt_depths``;
    writes ``eigen.json`` / ``eigen.md`` into ``output_dir``.  ``test_lines`` (``DATE/DRIVE FRAME
    l|r``) name the test images when the ground-truth file does not; ``split``: default what the
    file holds."""
    lines, truth, kind = load_ground_truth(gt_depths)
    file_split = "eigen_benchmark" if kind == "eigen_benchmark" else ("eigen" if lines is not None else None)
    if split is not None and file_split is not None and split != file_split:
        raise EvaluationError(f"{gt_depths} holds {file_split} ground truth but --split={split}; drop --split or "
                              "pass the other file")
    split = split or file_split or "eigen"
    if lines is None and split == "eigen_benchmark":
        kind = "eigen_benchmark (monodepth2's gt_depths.npz)"
    if (model is None) == (predictions is None):
        raise EvaluationError("give exactly one of --model and --predictions")
    if predictions is not None:
        values = load_predictions(predictions, len(truth), gt_depths)
        source = {"predictions": predictions, "prediction_kind": prediction_kind}
    else:
        if raw_dir is None:
            raise EvaluationError("--model needs --raw_dir (to read the test images)")
        if test_lines is not None:
            lines = test_lines
        if lines is None:
            raise EvaluationError(f"{gt_depths} (monodepth2's format) does not list its test images; pass "
                                  "--test_files=splits/eigen/test_files.txt, the list it was made from")
        if len(lines) != len(truth):
            raise EvaluationError(f"the test list has {len(lines)} images but {gt_depths} holds {len(truth)} "
                                  "depth maps; pass the test list the ground truth was made from")
        values = predict_inverse_depths(model, raw_dir, lines)
        prediction_kind = "inverse_depth"
        source = {"model": model}
    protocol = SPLIT_PROTOCOLS[split]
    results = evaluate_eigen(truth, values, prediction_kind, caps=protocol["caps"], crop=protocol["crop"],
                             cap_truth=protocol["cap_truth"])
    caps = " and ".join("none" if c is None else f"{c:g} m" for c in protocol["caps"])
    options = {"split": split, "crop": protocol["crop"] or "none (every annotated pixel)", "min_depth": 1e-3,
               "caps": caps + ("" if protocol["cap_truth"] else " (prediction clamped; annotations not capped)"),
               "scaling": "per-image median",
               "resize": "bilinear to ground-truth size", "ground_truth_file": gt_depths,
               "ground_truth": GROUND_TRUTH_KINDS.get(kind, kind), **source}
    report = write_report(output_dir, results, options, len(truth), name)
    return {"results": results, "report": report, "images": len(truth)}
