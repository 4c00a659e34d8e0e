"""ddvo_tf/evaluation/eigen.py: the Eigen protocol against an independent float64 computation, end to end on the
synthetic drive, and the report equal to what is printed."""
import json
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from ddvo_tf.evaluation import eigen
from pipelines import export_gt_depth


def _independent(truth, inverse_depth, cap):
    """The protocol written out step by step (float64)."""
    h, w = truth.shape
    pred = 1.0 / cv2.resize(inverse_depth.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float64)
    crop = np.zeros((h, w), bool)
    crop[int(0.40810811 * h):int(0.99189189 * h), int(0.03594771 * w):int(0.96405229 * w)] = True
    valid = crop & (truth > 1e-3) & ((truth < cap) if cap else True)
    t, p = truth[valid], pred[valid]
    p = np.clip(p * np.median(t) / np.median(p), 1e-3, cap or np.inf)
    r = np.maximum(t / p, p / t)
    return [np.mean(np.abs(t - p) / t), np.mean((t - p) ** 2 / t), np.sqrt(np.mean((t - p) ** 2)),
            np.sqrt(np.mean((np.log(t) - np.log(p)) ** 2)), np.mean(r < 1.25), np.mean(r < 1.5625),
            np.mean(r < 1.953125)]


def test_eigen_protocol_matches_an_independent_computation():
    rng = np.random.default_rng(0)
    truth = [np.where(rng.uniform(size=(60, 200)) < 0.3, rng.uniform(2, 100, (60, 200)), 0.0) for _ in range(3)]
    preds = [rng.uniform(0.05, 1.0, (16, 52)) for _ in range(3)]
    report = eigen.evaluate_eigen(truth, preds, progress=False)
    for key, cap in (("no_cap", None), ("cap_80", 80.0)):
        expected = np.mean([_independent(t, p, cap) for t, p in zip(truth, preds)], axis=0)
        np.testing.assert_allclose([report[key][m] for m in eigen.metrics.DEPTH_METRICS], expected, rtol=1e-5)


def test_true_depth_scores_nearly_perfectly_and_the_report_equals_the_print(synthetic_kitti, tmp_path):
    root, _ = synthetic_kitti
    drive = "2000_01_01/2000_01_01_drive_0001_sync"
    tests = tmp_path / "tests.txt"
    tests.write_text("".join(f"{drive} {f} l\n" for f in (2, 8, 16)))
    gt = str(tmp_path / "gt.npz")
    export_gt_depth.export(root, str(tests), gt, ground_truth="exact")   # the rendered depth is camera z
    truth = [cv2.imread(os.path.join(root, drive, "depth_02", "data", f"{f:010d}.png"), cv2.IMREAD_UNCHANGED) / 256.0
             for f in (2, 8, 16)]
    predictions = str(tmp_path / "pred.npy")
    np.save(predictions, np.stack([1.0 / np.maximum(t, 1e-3) * 7.0 for t in truth]))   # any scale
    result = subprocess.run([sys.executable, "-m", "ddvo_tf.evaluate", f"--gt_depths={gt}",
                             f"--predictions={predictions}", f"--output_dir={tmp_path}/report"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.load(open(tmp_path / "report" / "eigen.json"))
    assert report["images"] == 3 and report["protocol"]["ground_truth"].startswith("exact (camera z-depth")
    assert "NOT comparable with published tables" in open(tmp_path / "report" / "eigen.md").read()
    # sparse points vs depth at pixel centres: ~1 % apart on the grazing road, never more
    assert report["results"]["no_cap"]["abs_rel"] < 0.02 and report["results"]["no_cap"]["a1"] > 0.99
    assert report["results"]["no_cap"]["median_ratio_mean"] == pytest.approx(7.0, rel=0.01)
    printed = re.search(r"\| ours \(no cap\) \| (.*) \|", result.stdout).group(1).split(" | ")
    assert [float(v) for v in printed] == [round(report["results"]["no_cap"][m], 3) for m in eigen.metrics.DEPTH_METRICS]
    np.save(predictions, np.zeros((2, 5, 5)))
    result = subprocess.run([sys.executable, "-m", "ddvo_tf.evaluate", f"--gt_depths={gt}",
                             f"--predictions={predictions}", f"--output_dir={tmp_path}/report"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "holds 2 predictions but" in result.stderr


def test_monodepth2_ground_truth_and_disparities_work_end_to_end(synthetic_kitti, tmp_path):
    # monodepth2's splits/eigen/gt_depths.npz holds one object array under "data", and its
    # evaluation saves disparities [N, H, W] at the network's size: both must be read as they are.
    root, _ = synthetic_kitti
    drive = "2000_01_01/2000_01_01_drive_0001_sync"
    truth = [cv2.imread(os.path.join(root, drive, "depth_02", "data", f"{f:010d}.png"), cv2.IMREAD_UNCHANGED) / 256.0
             for f in (3, 9)]
    gt = str(tmp_path / "gt_depths.npz")
    data = np.empty(len(truth), dtype=object)
    data[:] = [t.astype(np.float32) for t in truth]
    np.savez_compressed(gt, data=data)
    disparities = np.stack([cv2.resize((1.0 / np.maximum(t, 1e-3)).astype(np.float32), (64, 20)) for t in truth])
    predictions = str(tmp_path / "disps.npy")
    np.save(predictions, disparities)
    result = subprocess.run([sys.executable, "-m", "ddvo_tf.evaluate", f"--gt_depths={gt}", f"--predictions={predictions}",
                             "--predictions_kind=disparity", f"--output_dir={tmp_path}/report"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.load(open(tmp_path / "report" / "eigen.json"))
    assert report["images"] == 2 and report["results"]["no_cap"]["a1"] > 0.7
    lines, depths, kind = eigen.load_ground_truth(gt)
    assert kind.startswith("published")
    assert lines is None and [d.shape for d in depths] == [t.shape for t in truth]
    with pytest.raises(eigen.EvaluationError, match="does not list its test images; pass --test_files"):
        eigen.run_eigen(gt, str(tmp_path / "r2"), model=str(tmp_path), raw_dir=root)


@pytest.mark.parametrize("content", ["text", "npy", "other_keys", "empty"])
def test_files_that_are_not_ground_truth_are_named(tmp_path, content):
    path = tmp_path / "gt.npz"
    if content == "text":
        path.write_text("2011_09_26 0000000069 l\n")
    elif content == "npy":
        with open(path, "wb") as handle:
            np.save(handle, np.zeros((2, 3, 4)))
    elif content == "other_keys":
        np.savez(str(tmp_path / "gt"), depths=np.zeros((2, 3, 4)))
    else:
        path.write_bytes(b"")
    with pytest.raises(eigen.EvaluationError, match=r"gt.npz is not a ground-truth file: expected .*monodepth2"):
        eigen.load_ground_truth(str(path))
    result = subprocess.run([sys.executable, "-m", "ddvo_tf.evaluate", f"--gt_depths={path}",
                             f"--predictions={path}", f"--output_dir={tmp_path}/r"], capture_output=True, text=True)
    assert result.returncode == 2 and "not a ground-truth file" in result.stderr and "Traceback" not in result.stderr


def test_eigen_benchmark_reads_the_official_annotation_layout(synthetic_kitti, tmp_path):
    # The KITTI depth-completion annotations (data_depth_annotated/{train,val}/DRIVE/proj_depth/
    # groundtruth/image_0X/FRAME.png, uint16 / 256), written here from the drive's exact depth, sparse.
    from pipelines.sequences import DataError
    root, _ = synthetic_kitti
    drive = "2000_01_01/2000_01_01_drive_0001_sync"
    annotations = tmp_path / "data_depth_annotated"
    exact = {}
    for part, frame in (("train", 4), ("val", 10)):
        depth = cv2.imread(os.path.join(root, drive, "depth_02", "data", f"{frame:010d}.png"), cv2.IMREAD_UNCHANGED)
        depth[::2] = 0                                                    # sparse, like the real ones
        folder = annotations / part / os.path.basename(drive) / "proj_depth" / "groundtruth" / "image_02"
        folder.mkdir(parents=True)
        cv2.imwrite(str(folder / f"{frame:010d}.png"), depth)
        exact[frame] = depth / 256.0
    tests = tmp_path / "eigen_benchmark.txt"              # both list formats
    tests.write_text(f"{drive} 4 l\n{drive}/image_02/data/0000000010.png\n")
    gt = str(tmp_path / "gt_benchmark.npz")
    export_gt_depth.export(root, str(tests), gt, split="eigen_benchmark", depth_dir=str(annotations))
    lines, depths, kind = eigen.load_ground_truth(gt)
    assert kind == "eigen_benchmark" and [np.array_equal(d, exact[f]) for d, f in zip(depths, (4, 10))] == [True, True]
    predictions = str(tmp_path / "pred.npy")
    np.save(predictions, np.stack([3.0 / np.maximum(exact[f], 1e-3) for f in (4, 10)]))
    result = eigen.run_eigen(gt, str(tmp_path / "report"), predictions=predictions)
    # Every annotated pixel counts, also beyond 80 m, where the prediction is clamped to 80 m.
    expected = np.mean([np.mean(np.abs(t - np.clip(t, 1e-3, 80.0)) / t)
                        for t in (exact[f][exact[f] > 1e-3] for f in (4, 10))])
    assert list(result["results"]) == ["cap_80"]
    assert result["results"]["cap_80"]["abs_rel"] == pytest.approx(expected, rel=1e-3, abs=1e-6)
    report = json.load(open(tmp_path / "report" / "eigen.json"))
    assert report["protocol"]["split"] == "eigen_benchmark" and report["protocol"]["crop"].startswith("none")
    assert "paper_table_1_no_cap" not in report
    assert "KITTI eigen_benchmark split: 2 images" in open(tmp_path / "report" / "eigen.md").read()
    with pytest.raises(eigen.EvaluationError, match="holds eigen_benchmark ground truth but --split=eigen"):
        eigen.run_eigen(gt, str(tmp_path / "r2"), predictions=predictions, split="eigen")
    tests.write_text(f"{drive} 5 l\n")
    with pytest.raises(DataError, match=r"0000000005.png: no depth annotation .*download data_depth_annotated"):
        export_gt_depth.export(root, str(tests), gt, split="eigen_benchmark", depth_dir=str(annotations))
