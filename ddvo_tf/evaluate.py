"""Evaluation: KITTI Eigen split depth (``--task=eigen``), Make3D depth (``--task=make3d``, protocol in
make3d.py) and KITTI odometry pose (``--task=pose``).

    python -m ddvo_tf.evaluate --task=pose --odometry_dir=/data/kitti_odometry --model_dir=runs/hybrid \\
        --output_dir=reports/hybrid          # ATE of 5-frame snippets on sequences 09 and 10, see pose_eval.py
    python -m ddvo_tf.evaluate --task=eigen --raw_dir=/data/kitti_raw \\
        --gt_depths=gt_depths.npz --model=runs/hybrid/saved_model --output_dir=reports/hybrid
    python -m ddvo_tf.evaluate --task=make3d --make3d_dir=/data/make3d \
        --model=runs/hybrid/saved_model --output_dir=reports/hybrid

Protocol (Zhou et al. / Godard et al., the paper's Table 1): the prediction for each test image is
resized (bilinear) to the ground truth's full size, pixels with ``1e-3 < gt`` inside Garg et al.'s
crop are scored, the prediction is scaled per image by ``median(gt) / median(pred)`` and clamped to
the valid range, and the seven errors are averaged over images.  Both variants are reported: without
a depth cap (the paper) and with the 80 m cap (most later work).

Predictions come from a SavedModel (``ddvo_tf.export``; a training run's folder works too, through
its latest checkpoint when it has no SavedModel yet), fed the
full-size test image, or from ``--predictions=FILE.npy`` ``[N, h, w]`` (``--prediction_kind``
inverse_depth, disparity -- monodepth2's, the same thing up to scale -- or depth) in test-list order.
Ground truth is ``pipelines.export_gt_depth``'s ``.npz`` or monodepth2's ``gt_depths.npz``
(:func:`load_ground_truth`; the latter lists no images, so ``--model`` then needs ``--test_files``).
The report (``eigen.json`` and ``eigen.md``) holds the numbers printed, the protocol
options, the image count and the paper's Table 1 rows.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # before TensorFlow loads, also in workers
if __name__ == "__main__":      # as a command: TensorFlow's native log lines filtered (ddvo_tf/cli.py)
    from ddvo_tf import cli
    cli.quiet_native_logs()

import json
import pickle
import sys
import zipfile
from typing import NamedTuple

import cv2
import numpy as np
import tqdm
from absl import flags

from ddvo_tf import make3d, metrics

PAPER_TABLE_1 = {   # KITTI Eigen split, no depth cap (paper, Table 1)
    "Zhou et al. (K, M)": [0.208, 1.768, 6.856, 0.283, 0.678, 0.885, 0.957],
    "paper: ours (baseline)": [0.213, 3.770, 6.925, 0.294, 0.758, 0.909, 0.958],
    "paper: ours (Pose-CNN)": [0.155, 1.193, 5.613, 0.229, 0.797, 0.935, 0.975],
    "paper: ours (DDVO)": [0.159, 1.347, 5.789, 0.234, 0.796, 0.933, 0.973],
    "paper: ours (Pose-CNN+DDVO)": [0.151, 1.257, 5.583, 0.228, 0.810, 0.936, 0.974],
    "paper: ours (Pose-CNN+DDVO), CS+K": [0.148, 1.187, 5.496, 0.226, 0.812, 0.938, 0.975],
}


class EvaluationError(Exception):
    """Inputs that do not fit together: the message names the file and the fix."""


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


def read_test_lines(path: str) -> list[str]:
    """``DATE/DRIVE FRAME l|r`` lines from an Eigen test list of either format (monodepth2's or
    SfMLearner's, see :func:`pipelines.kitti_raw.parse_test_files`)."""
    from pipelines.kitti_raw import parse_test_files    # the CLI may use pipelines; the library never does
    from pipelines.sequences import DataError
    try:
        entries = parse_test_files(path)
    except DataError as error:
        raise EvaluationError(str(error)) from None
    return [f"{drive} {frame:010d} {'l' if camera == 'image_02' else 'r'}" for drive, camera, frame in entries]


def _test_image_path(raw_dir: str, line: str) -> str:
    drive, frame, side = line.split()
    camera = "image_02" if side == "l" else "image_03"
    return os.path.join(raw_dir, drive, camera, "data", f"{int(frame):010d}.png")


def inverse_depth_function(model: str):
    """``rgb uint8 [H, W, 3] -> inverse depth [H, W]`` through a SavedModel's float32 signature, or,
    for a training run without one (still training, interrupted), through its latest checkpoint."""
    import tensorflow as tf
    from ddvo_tf.predict import PredictError, load_model
    module = None
    try:
        serve = load_model(model)
    except PredictError:
        if not os.path.isfile(os.path.join(model, "config.json")):
            raise
        from ddvo_tf.export import DepthModule
        from ddvo_tf.runs import RunError, load_run
        try:
            run = load_run(model, with_pose_net=False)
        except RunError as error:
            raise EvaluationError(str(error)) from None
        print(f"{model}: no SavedModel, evaluating checkpoint {run.checkpoint}")
        module = DepthModule(run.depth_net, run.config.height, run.config.width)
        serve = module.serve

    def inverse_depth(rgb: np.ndarray) -> np.ndarray:
        images = tf.constant(rgb.astype(np.float32)[None] / 255.0)
        return serve(images=images)["inverse_depth"].numpy()[0, ..., 0]
    inverse_depth.module = module   # a tf.function method holds its module only weakly
    return inverse_depth


def predict_inverse_depths(model: str, raw_dir: str, lines: list[str]):
    """Yield each test image's inverse depth at the image's size from a SavedModel."""
    inverse_depth = inverse_depth_function(model)
    for line in lines:
        path = _test_image_path(raw_dir, line)
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise EvaluationError(f"{path}: test image missing or unreadable (test line {line!r})")
        yield inverse_depth(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def evaluate_eigen(ground_truth: list[np.ndarray], predictions, kind: str = "inverse_depth",
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
    header = "| method | " + " | ".join(metrics.DEPTH_METRICS) + " |\n|" + " --- |" * (len(metrics.DEPTH_METRICS) + 1)
    rows = [f"| {name} ({key.replace('_', ' ')}) | " + " | ".join(f"{results[key][m]:.3f}" for m in metrics.DEPTH_METRICS) + " |"
            for key in results]
    split = options.get("split", "eigen")
    # The paper's rows were measured on the velodyne ground truth of the eigen split only.
    paper = ([f"| {label} | " + " | ".join(f"{v:.3f}" for v in values) + " |" for label, values in PAPER_TABLE_1.items()]
             if split == "eigen" else [])
    ratio = "; ".join(f"{key}: median ratio {results[key]['median_ratio_mean']:.3f} ± "
                      f"{results[key]['median_ratio_std']:.3f}" for key in results)
    protocol = ", ".join(f"{k}={v}" for k, v in options.items())
    note = "Paper rows: Table 1, no cap. " if paper else "The paper reports no numbers on this ground truth. "
    return (f"# KITTI {split} split: {count} images\n\n{header}\n" + "\n".join(rows + paper) +
            f"\n\n{note}{ratio}.\n\nProtocol: {protocol}\n")


def _write_files(output_dir: str, files: dict[str, str]) -> None:
    """Each report file written whole or not at all."""
    os.makedirs(output_dir, exist_ok=True)
    for filename, text in files.items():
        path = os.path.join(output_dir, filename)
        with open(path + ".tmp", "w") as handle:
            handle.write(text)
        os.replace(path + ".tmp", path)


def write_report(output_dir: str, results: dict, options: dict, count: int, name: str) -> str:
    payload = {"task": "eigen", "images": count, "results": results, "protocol": options}
    if options.get("split", "eigen") == "eigen":
        payload["paper_table_1_no_cap"] = {k: dict(zip(metrics.DEPTH_METRICS, v)) for k, v in PAPER_TABLE_1.items()}
    _write_files(output_dir, {"eigen.json": json.dumps(payload, indent=2) + "\n",
                              "eigen.md": markdown_report(results, options, count, name)})
    return os.path.join(output_dir, "eigen.md")


def run_pose(odometry_dir: str, model_dir: str, output_dir: str, sequences=("09", "10")) -> dict:
    """ATE of the run's Pose-CNN (if any) and of DDVO on its Depth-CNN's inverse depth."""
    from ddvo_tf import pose_eval
    from ddvo_tf.runs import RunError, load_run
    try:
        run = load_run(model_dir)
    except RunError as error:
        raise EvaluationError(str(error)) from None
    config, depth_net, pose_net = run.config, run.depth_net, run.pose_net

    def inverse_depth(indices, images):
        return depth_net(images, training=False)[0].numpy()

    try:
        results = pose_eval.evaluate_sequences(odometry_dir, sequences, config.height, config.width,
                                               pose_net, inverse_depth)
    except pose_eval.PoseEvaluationError as error:
        raise EvaluationError(str(error)) from None
    rows = [f"| {sequence} | {method} | {r['ate_mean']:.4f} ± {r['ate_std']:.4f} | {r['snippets']} |"
            for sequence, methods in results.items() for method, r in methods.items()]
    text = ("# KITTI odometry: ATE of 5-frame snippets (SfMLearner protocol)\n\n"
            "| sequence | pose from | ATE (m) | snippets |\n| --- | --- | --- | --- |\n" + "\n".join(rows) +
            "\n\nPer-snippet alignment: first position, least-squares scale. The paper reports no pose numbers. "
            f"Model: {model_dir}; odometry: {odometry_dir}.\n")
    _write_files(output_dir, {"pose.json": json.dumps({"task": "pose", "results": results, "model": model_dir,
                                                       "sequences": list(sequences)}, indent=2) + "\n",
                              "pose.md": text})
    return {"results": results, "report": os.path.join(output_dir, "pose.md")}


def _load_predictions(path: str, count: int, what: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise EvaluationError(f"{path}: predictions file does not exist")
    try:
        values = np.load(path)
    except (OSError, ValueError, EOFError) as error:
        raise EvaluationError(f"{path} is not a predictions .npy ({str(error)[:120]}); save an [N, H, W] float "
                              "array with numpy.save") from None
    if not isinstance(values, np.ndarray) or values.ndim not in (3, 4) or not np.issubdtype(values.dtype, np.number):
        raise EvaluationError(f"{path}: expected an [N, H, W] float array of predictions, got "
                              f"{getattr(values, 'shape', type(values).__name__)}")
    if values.ndim == 4:          # [N, 1, H, W] (PyTorch) or [N, H, W, 1]: one channel
        if values.shape[1] == 1:
            values = values[:, 0]
        elif values.shape[-1] == 1:
            values = values[..., 0]
        else:
            raise EvaluationError(f"{path}: expected [N, H, W] (or a single channel), got {values.shape}")
    if len(values) != count:
        raise EvaluationError(f"{path} holds {len(values)} predictions but {what} has {count} test images; "
                              "they must be in the same order and number")
    return values


def run_eigen(gt_depths: str, output_dir: str, model: str | None = None, raw_dir: str | None = None,
              predictions: str | None = None, prediction_kind: str = "inverse_depth", name: str = "ours",
              test_files: str | None = None, split: str | None = None) -> dict:
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
        values = _load_predictions(predictions, len(truth), gt_depths)
        source = {"predictions": predictions, "prediction_kind": prediction_kind}
    else:
        if raw_dir is None:
            raise EvaluationError("--model needs --raw_dir (to read the test images)")
        if test_files is not None:
            lines = read_test_lines(test_files)
        if lines is None:
            raise EvaluationError(f"{gt_depths} (monodepth2's format) does not list its test images; pass "
                                  "--test_files=splits/eigen/test_files.txt, the list it was made from")
        if len(lines) != len(truth):
            raise EvaluationError(f"{test_files} lists {len(lines)} images but {gt_depths} holds {len(truth)} "
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


def _central_fraction(prediction: np.ndarray, rows: slice, height: int) -> np.ndarray:
    """The rows of a whole-image prediction (any resolution) that the image crop ``rows`` keeps."""
    prediction = np.asarray(prediction)
    keep = int(round(prediction.shape[0] * (rows.stop - rows.start) / height))
    return prediction[make3d.central_rows(prediction.shape[0], keep)]


def run_make3d(make3d_dir: str, output_dir: str, model: str | None = None, predictions: str | None = None,
               prediction_kind: str = "inverse_depth", name: str = "ours", aspect: float = make3d.ASPECT,
               network_input: str = "crop") -> dict:
    """Make3D Test134 with the central-crop protocol of make3d.py; report make3d.json / make3d.md.

    ``network_input``: ``crop`` feeds the network the central crop (Godard et al.); ``full`` feeds
    the whole image (the authors' prediction script) and crops the prediction's central rows.
    ``--predictions`` hold predictions of the crops or of the whole images accordingly."""
    if (model is None) == (predictions is None):
        raise EvaluationError("give exactly one of --model and --predictions")
    if network_input not in ("crop", "full"):
        raise EvaluationError(f"network input must be 'crop' or 'full', got {network_input!r}")
    try:
        samples = make3d.find_samples(make3d_dir)
        truths, image_rows, heights = [], [], []
        for sample in tqdm.tqdm(samples, desc="ground truth", unit="image", file=sys.stdout):
            depth = make3d.load_depth(sample.depth_path)
            shape = make3d.read_image(sample.image_path).shape
            rows, depth_rows = make3d.crop_rows(shape, depth.shape, aspect)
            truths.append(depth[depth_rows])
            image_rows.append(rows)
            heights.append(shape[0])
        if predictions is not None:
            values = _load_predictions(predictions, len(samples), make3d_dir)
            source = {"predictions": predictions, "prediction_kind": prediction_kind}
        else:
            inverse_depth = inverse_depth_function(model)
            if network_input == "crop":
                values = (inverse_depth(make3d.read_image(s.image_path)[rows]) for s, rows in zip(samples, image_rows))
            else:
                values = (inverse_depth(make3d.read_image(s.image_path)) for s in samples)
            prediction_kind, source = "inverse_depth", {"model": model}
        if network_input == "full":   # the same central fraction of each whole-image prediction
            values = (_central_fraction(value, rows, height) for value, rows, height in zip(values, image_rows, heights))
        results = make3d.evaluate(truths, values, prediction_kind)
    except make3d.Make3DError as error:
        raise EvaluationError(str(error)) from None
    options = {"image_crop": f"central rows, width:height = {aspect:g}:1", "depth_crop": "same central row fraction",
               "network_input": {"crop": "the crop", "full": "the whole image, prediction cropped"}[network_input],
               "valid": f"0 < gt < {make3d.MAX_DEPTH:g} m", "scaling": "per-image median",
               "resize": "bilinear inverse depth to the cropped grid", "order": "sorted image names",
               "make3d_dir": make3d_dir, **source}
    header = "| method | " + " | ".join(make3d.METRICS) + " |\n|" + " --- |" * (len(make3d.METRICS) + 1)
    ours = f"| {name} | " + " | ".join(f"{results[m]:.3f}" for m in make3d.METRICS) + " |"
    paper = [f"| {label} | {v[0]:.3f} | {v[1]:.3f} | {v[2]:.3f} | {v[3]:.3f} (RMSE(log)) | |"
             for label, v in make3d.PAPER_TABLE_2.items()]
    text = (f"# Make3D: {len(samples)} images\n\n{header}\n" + "\n".join([ours] + paper) +
            f"\n\nPaper rows: Table 2; its 4th column \"RMSE(log)\" is placed under log10 (see make3d.py). "
            f"Median ratio {results['median_ratio_mean']:.3f} ± {results['median_ratio_std']:.3f}.\n\n"
            "Protocol: " + ", ".join(f"{k}={v}" for k, v in options.items()) + "\n")
    payload = {"task": "make3d", "images": len(samples), "results": results, "protocol": options,
               "paper_table_2": {k: dict(zip(("abs_rel", "sq_rel", "rmse", "rmse_log"), v))
                                 for k, v in make3d.PAPER_TABLE_2.items()}}
    _write_files(output_dir, {"make3d.json": json.dumps(payload, indent=2) + "\n", "make3d.md": text})
    return {"results": results, "report": os.path.join(output_dir, "make3d.md"), "images": len(samples)}


FLAGS = flags.FLAGS


def define_flags() -> None:
    """Flags of the command line only: defining them at import would clash with other
    entry points' flags of the same name in one process (absl flags are global)."""
    flags.DEFINE_enum("task", "eigen", ["eigen", "make3d", "pose"], "Evaluation protocol.")
    flags.DEFINE_string("make3d_dir", None, "make3d: folder holding Test134/ and Gridlaserdata/.")
    flags.DEFINE_float("make3d_aspect", make3d.ASPECT, "make3d: width/height of the central crop evaluated.")
    flags.DEFINE_enum("make3d_input", "crop", ["crop", "full"], "make3d: the network sees the central crop "
                      "(Godard et al.) or the whole image, its prediction then cropped (the paper authors' script).")
    flags.DEFINE_string("odometry_dir", None, "pose: KITTI odometry root (sequences/, poses/).")
    flags.DEFINE_list("sequences", ["09", "10"], "pose: odometry sequences.")
    flags.DEFINE_string("model_dir", None, "pose: a ddvo_tf.train run (its Pose-CNN and Depth-CNN).")
    flags.DEFINE_string("gt_depths", None, "Ground truth .npz: pipelines.export_gt_depth's, or monodepth2's "
                        "gt_depths.npz (then --model also needs --test_files).")
    flags.DEFINE_enum("split", None, list(SPLIT_PROTOCOLS), "eigen: Garg crop, no cap and 80 m; eigen_benchmark: "
                      "every annotated pixel, 80 m. Default: what the ground-truth file holds (monodepth2's: eigen).")
    flags.DEFINE_string("test_files", None, "eigen: the test list the ground truth was made from (monodepth2 "
                        "'DATE/DRIVE FRAME l' or SfMLearner lines); needed with --model for monodepth2's file.")
    flags.DEFINE_string("model", None, "SavedModel, or training run (its saved_model/, else its latest "
                        "checkpoint) to evaluate.")
    flags.DEFINE_string("raw_dir", None, "KITTI raw root, to read the test images for --model.")
    flags.DEFINE_string("predictions", None, "Precomputed predictions .npy [N, h, w] instead of --model "
                        "(test-list order; make3d: sorted image names, of the cropped images).")
    flags.DEFINE_enum("prediction_kind", "inverse_depth", ["inverse_depth", "disparity", "depth"],
                      "What --predictions holds (disparity: monodepth2's, the same as inverse_depth up to scale).")
    flags.DEFINE_alias("predictions_kind", "prediction_kind")
    flags.DEFINE_string("output_dir", "reports", "Where the report (<task>.json and <task>.md) goes.")
    flags.DEFINE_string("name", "ours", "Row label in the report.")


def main(argv):
    del argv
    kind = "inverse_depth" if FLAGS.prediction_kind == "disparity" else FLAGS.prediction_kind
    from ddvo_tf.predict import PredictError
    try:
        if FLAGS.task == "pose":
            if not FLAGS.odometry_dir or not FLAGS.model_dir:
                raise EvaluationError("--task=pose needs --odometry_dir and --model_dir")
            outcome = run_pose(FLAGS.odometry_dir, FLAGS.model_dir, FLAGS.output_dir, FLAGS.sequences)
        elif FLAGS.task == "make3d":
            if not FLAGS.make3d_dir:
                raise EvaluationError("--task=make3d needs --make3d_dir (Test134/ and Gridlaserdata/)")
            outcome = run_make3d(FLAGS.make3d_dir, FLAGS.output_dir, FLAGS.model, FLAGS.predictions,
                                 kind, FLAGS.name, FLAGS.make3d_aspect, FLAGS.make3d_input)
        else:
            if not FLAGS.gt_depths:
                raise EvaluationError("--task=eigen needs --gt_depths (from pipelines.export_gt_depth)")
            outcome = run_eigen(FLAGS.gt_depths, FLAGS.output_dir, FLAGS.model, FLAGS.raw_dir, FLAGS.predictions,
                                kind, FLAGS.name, FLAGS.test_files, FLAGS.split)
    except (EvaluationError, PredictError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with open(outcome["report"]) as handle:
        print(handle.read())
    return 0


if __name__ == "__main__":
    define_flags()
    cli.run(main)
