"""Make3D protocol (make3d.py, evaluate --task=make3d): the crop of the published protocol, the errors
against an independent float64 computation, the report equal to the print, and named bad files."""
import json
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import scipy.io
import tensorflow as tf

from ddvo_tf.evaluation import make3d


def write_make3d(root, depths, image_size=(80, 60), seed=0):
    """A Make3D-layout folder: portrait JPEGs and Position3DGrid .mat files holding ``depths``."""
    rng = np.random.default_rng(seed)
    (root / "Test134").mkdir(parents=True)
    (root / "Gridlaserdata").mkdir()
    names = [f"scene{i:02d}" for i in range(len(depths))]
    for name, depth in zip(names, depths):
        image = rng.integers(0, 255, (*image_size, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "Test134" / f"img-{name}.jpg"), image)
        grid = np.stack([rng.normal(size=depth.shape)] * 3 + [depth], axis=-1)
        scipy.io.savemat(str(root / "Gridlaserdata" / f"depth_sph_corr-{name}.mat"), {"Position3DGrid": grid})
    return names


def test_crop_is_the_published_one_on_make3d_sizes():
    # Godard et al.'s script: image rows (2272 - 852) / 2 ..., laser grid rows 17:38 of 55
    image_rows, depth_rows = make3d.crop_rows((2272, 1704, 3), (55, 305))
    assert (image_rows.start, image_rows.stop) == (710, 1562)
    assert (depth_rows.start, depth_rows.stop) == (17, 38)


def _independent(truth, inverse_depth, image_shape):
    height, width = image_shape
    keep = round(width / 2)
    fraction = keep / height
    rows = round(truth.shape[0] * fraction)
    top = (truth.shape[0] - rows) // 2
    gt = truth[top:top + rows]
    pred = 1.0 / cv2.resize(inverse_depth.astype(np.float32), (gt.shape[1], gt.shape[0]),
                            interpolation=cv2.INTER_LINEAR).astype(np.float64)
    valid = (gt > 0) & (gt < 70)
    t, p = gt[valid], pred[valid]
    p = np.clip(p * np.median(t) / np.median(p), 1e-3, 70)
    return [np.mean(np.abs(t - p) / t), np.mean((t - p) ** 2 / t), np.sqrt(np.mean((t - p) ** 2)),
            np.mean(np.abs(np.log10(t) - np.log10(p))), np.sqrt(np.mean((np.log10(t) - np.log10(p)) ** 2))]


def test_protocol_matches_an_independent_computation_and_the_report_equals_the_print(tmp_path):
    rng = np.random.default_rng(1)
    # beyond 70 m, zero and negative (no return) entries must all be ignored
    depths = [np.where(rng.uniform(size=(55, 30)) < 0.9, rng.uniform(1, 90, (55, 30)), -1.0) for _ in range(3)]
    write_make3d(tmp_path / "make3d", depths)
    predictions = rng.uniform(0.02, 1.0, (3, 12, 24)).astype(np.float32)
    np.save(tmp_path / "pred.npy", predictions)
    result = subprocess.run([sys.executable, "-m", "ddvo_tf.evaluate", "--task=make3d",
                             f"--make3d_dir={tmp_path / 'make3d'}", f"--predictions={tmp_path / 'pred.npy'}",
                             f"--output_dir={tmp_path / 'report'}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.load(open(tmp_path / "report" / "make3d.json"))
    expected = np.mean([_independent(d, p, (80, 60)) for d, p in zip(depths, predictions)], axis=0)
    np.testing.assert_allclose([report["results"][m] for m in make3d.METRICS], expected, rtol=1e-5)
    assert report["images"] == 3
    printed = re.search(r"\| ours \| (.*) \|", result.stdout).group(1).split(" | ")
    assert [float(v) for v in printed] == [round(report["results"][m], 3) for m in make3d.METRICS]


def test_true_depth_at_any_scale_scores_zero():
    rng = np.random.default_rng(2)
    depths = [rng.uniform(2, 60, (55, 30)) for _ in range(2)]
    crops = [d[make3d.crop_rows((80, 60), d.shape)[1]] for d in depths]
    results = make3d.evaluate(crops, [3.0 / c for c in crops], progress=False)
    for metric in make3d.METRICS:
        assert results[metric] == pytest.approx(0.0, abs=1e-5)   # float32 resize rounding
    assert results["median_ratio_mean"] == pytest.approx(3.0)   # inverse depth 3/d is depth d/3


def test_missing_and_corrupt_files_are_named(tmp_path):
    names = write_make3d(tmp_path, [np.full((55, 30), 10.0)] * 2)
    (tmp_path / "Gridlaserdata" / f"depth_sph_corr-{names[1]}.mat").write_bytes(b"MATLAB 5.0 truncated")
    with pytest.raises(make3d.Make3DError, match=f"depth_sph_corr-{names[1]}.mat"):
        make3d.load_depth(str(tmp_path / "Gridlaserdata" / f"depth_sph_corr-{names[1]}.mat"))
    (tmp_path / "Gridlaserdata" / f"depth_sph_corr-{names[1]}.mat").unlink()
    with pytest.raises(make3d.Make3DError, match=f"depth_sph_corr-{names[1]}.mat.*missing"):
        make3d.find_samples(str(tmp_path))
    with pytest.raises(make3d.EvaluationError, match="no Test134"):
        make3d.run_make3d(str(tmp_path / "nowhere"), str(tmp_path / "out"), predictions="x.npy")


def test_make3d_with_a_savedmodel_feeds_the_network_the_central_crop(fake_run, exported, tmp_path):
    from ddvo_tf.evaluation import make3d
    rng = np.random.default_rng(4)
    depths = [rng.uniform(2, 60, (55, 30)) for _ in range(2)]
    names = write_make3d(tmp_path / "make3d", depths, image_size=(96, 64))
    with_model = make3d.run_make3d(str(tmp_path / "make3d"), str(tmp_path / "a"), model=exported)
    serve = tf.saved_model.load(exported).signatures["serving_default"]
    expected = []
    for name in names:
        image = cv2.cvtColor(cv2.imread(str(tmp_path / "make3d" / "Test134" / f"img-{name}.jpg")), cv2.COLOR_BGR2RGB)
        crop = image[32:64]   # 96 rows, width 64 -> the central 32 rows
        expected.append(serve(images=tf.constant(crop[None].astype(np.float32) / 255))["inverse_depth"][0, ..., 0])
    np.save(tmp_path / "pred.npy", np.stack(expected))
    with_file = make3d.run_make3d(str(tmp_path / "make3d"), str(tmp_path / "b"), predictions=str(tmp_path / "pred.npy"))
    # a run without a SavedModel is evaluated through its checkpoint (the export's --scale cancels out)
    with_checkpoint = make3d.run_make3d(str(tmp_path / "make3d"), str(tmp_path / "c"), model=fake_run[0])
    # whole image in, central rows of the prediction scored (the paper authors' input handling)
    full = [serve(images=tf.constant(cv2.cvtColor(cv2.imread(str(tmp_path / "make3d" / "Test134" / f"img-{n}.jpg")),
                                                  cv2.COLOR_BGR2RGB)[None].astype(np.float32) / 255))["inverse_depth"][0, 32:64, :, 0]
            for n in names]
    np.save(tmp_path / "full.npy", np.stack(full))
    with_full = make3d.run_make3d(str(tmp_path / "make3d"), str(tmp_path / "d"), model=exported, network_input="full")
    full_file = make3d.run_make3d(str(tmp_path / "make3d"), str(tmp_path / "e"), predictions=str(tmp_path / "full.npy"))
    for metric in make3d.METRICS:
        assert with_full["results"][metric] == pytest.approx(full_file["results"][metric], rel=1e-5)
        assert with_model["results"][metric] == pytest.approx(with_file["results"][metric], rel=1e-5)
        assert with_checkpoint["results"][metric] == pytest.approx(with_file["results"][metric], rel=1e-4)
