"""Velodyne ground truth on the synthetic KITTI-layout drive against the rendered depth."""
import os

import cv2
import numpy as np

from pipelines import export_gt_depth


def _rendered(root, drive, camera, frame):
    path = os.path.join(root, drive, "depth_" + camera[-2:], "data", f"{frame:010d}.png")
    return cv2.imread(path, cv2.IMREAD_UNCHANGED).astype(np.float64) / 256.0


def test_projected_scan_matches_rendered_depth(synthetic_kitti, tmp_path):
    root, _ = synthetic_kitti
    drive = "2000_01_01/2000_01_01_drive_0001_sync"
    tests = tmp_path / "test_files.txt"
    tests.write_text(f"{drive} 3 l\n{drive}/image_03/data/0000000015.png\n")
    output = str(tmp_path / "gt.npz")
    assert export_gt_depth.export(root, str(tests), output) == 2
    compat = str(tmp_path / "gt_compat.npz")
    export_gt_depth.export(root, str(tests), compat, reference_compat=True)
    ours, reference = np.load(output), np.load(compat)
    assert list(ours["files"]) == [f"{drive} 0000000003 l", f"{drive} 0000000015 r"]
    for key, (camera, frame) in zip(["depth_0000", "depth_0001"], [("image_02", 3), ("image_03", 15)]):
        truth = _rendered(root, drive, camera, frame)
        sparse = ours[key]
        valid = (sparse > 0) & (truth > 0)
        assert valid.sum() > 500
        error = np.abs(sparse[valid] - truth[valid]) / truth[valid]
        assert np.median(error) < 0.01, np.median(error)
        shifted = reference[key]
        valid_ref = (shifted > 0) & (truth > 0)
        assert np.median(np.abs(shifted[valid_ref] - truth[valid_ref]) / truth[valid_ref]) > np.median(error)
