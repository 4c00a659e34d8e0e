"""Velodyne ground truth on the synthetic KITTI-layout drive: the published protocol against a
step-by-step re-implementation of the reference scripts, the exact one against the rendered depth."""
import os
from collections import Counter

import cv2
import numpy as np

from ddvo_tf.evaluation import eigen
from pipelines import export_gt_depth, kitti_raw


def _rendered(root, drive, camera, frame):
    path = os.path.join(root, drive, "depth_" + camera[-2:], "data", f"{frame:010d}.png")
    return cv2.imread(path, cv2.IMREAD_UNCHANGED).astype(np.float64) / 256.0


def test_projected_scan_matches_rendered_depth(synthetic_kitti, tmp_path):
    root, _ = synthetic_kitti
    drive = "2000_01_01/2000_01_01_drive_0001_sync"
    tests = tmp_path / "test_files.txt"
    tests.write_text(f"{drive} 3 l\n{drive}/image_03/data/0000000015.png\n")
    output = str(tmp_path / "gt.npz")
    assert export_gt_depth.export(root, str(tests), output, ground_truth="exact") == 2
    compat = str(tmp_path / "gt_compat.npz")
    export_gt_depth.export(root, str(tests), compat)              # the default: published
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



def _reference_depth_map(velo, velo_to_image, height, width):
    """The reference scripts' generate_depth_map(vel_depth=True), written out step by step."""
    velo = velo[velo[:, 0] >= 0, :].astype(np.float64)
    velo[:, 3] = 1.0
    points = np.dot(velo_to_image[:3], velo.T).T
    points[:, :2] = points[:, :2] / points[:, 2][..., None]
    points[:, 2] = velo[:, 0]
    points[:, 0] = np.round(points[:, 0]) - 1
    points[:, 1] = np.round(points[:, 1]) - 1
    valid = (points[:, 0] >= 0) & (points[:, 1] >= 0) & (points[:, 0] < width) & (points[:, 1] < height)
    points = points[valid]
    depth = np.zeros((height, width))
    inds = points[:, 1].astype(int) * width + points[:, 0].astype(int)
    for index in range(len(points)):                       # one point at a time, in order
        depth[int(points[index, 1]), int(points[index, 0])] = points[index, 2]
    for dupe in [item for item, count in Counter(inds).items() if count > 1]:
        where = np.where(inds == dupe)[0]                   # several points: the nearest wins
        depth[int(points[where[0], 1]), int(points[where[0], 0])] = points[where, 2].min()
    depth[depth < 0] = 0
    return depth


def test_published_ground_truth_equals_the_reference_projection(synthetic_kitti, tmp_path):
    root, _ = synthetic_kitti
    drive = "2000_01_01/2000_01_01_drive_0001_sync"
    tests = tmp_path / "test_files.txt"
    frames = [(3, "l"), (15, "r"), (20, "l")]
    tests.write_text("".join(f"{drive} {f} {side}\n" for f, side in frames))
    output = str(tmp_path / "gt.npz")
    export_gt_depth.export(root, str(tests), output)
    lines, ours, kind = eigen.load_ground_truth(output)
    assert kind == "published"
    assert str(np.load(output)["ground_truth"]) == "published"
    duplicates = 0
    for (frame, side), depth in zip(frames, ours):
        camera = "image_02" if side == "l" else "image_03"
        scan = kitti_raw.read_velodyne(os.path.join(root, drive, "velodyne_points", "data", f"{frame:010d}.bin"))
        transform = kitti_raw.velodyne_to_image(os.path.join(root, "2000_01_01"), camera)
        reference = _reference_depth_map(scan, transform, *depth.shape)
        np.testing.assert_array_equal(depth, reference.astype(np.float32))
        duplicates += len(scan) - np.count_nonzero(reference)
    assert duplicates > 0 and all(np.count_nonzero(d) > 500 for d in ours)
    # monodepth2's layout holds the same maps.
    mono = str(tmp_path / "gt_depths.npz")
    export_gt_depth.export(root, str(tests), mono, output_format="monodepth2")
    lines, theirs, _ = eigen.load_ground_truth(mono)
    assert lines is None and all(np.array_equal(a, b) for a, b in zip(ours, theirs))


def test_the_nearest_point_wins_whatever_the_order():
    # velodyne (x forward, y left, z up) into a 100x100 image, principal point (50, 50)
    velo_to_image = np.array([[50.0, -100, 0, 0], [50, 0, -100, 0], [1, 0, 0, 0], [0, 0, 0, 1]])
    points = np.array([[9.0, 0.0, 0.0, 1], [4.0, 0.001, 0.0, 1], [6.0, 0.0, 0.001, 1]], np.float32)
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        depth = export_gt_depth.project_scan(points[order], velo_to_image, 100, 100)
        assert np.count_nonzero(depth) == 1 and depth.max() == 4.0
