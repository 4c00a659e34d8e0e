"""Ground-truth depth for the KITTI Eigen split from the raw velodyne scans.

    python -m pipelines.export_gt_depth --raw_dir=/data/kitti_raw --test_files=test_files_eigen.txt \\
        --output=gt_depths.npz [--reference_compat]

Per test line: velodyne points with forward ``x >= 0`` are projected through
``P_rect_0X @ R_rect_00 @ [R|T]_velo_to_cam`` into the full-size image of camera 02 (``l`` / image_02
lines) or 03; each point lands on its nearest pixel (pixel centres at integers: ``round(u)``), the
nearest point wins where several land on one pixel, and the stored value is the camera z-depth.

``--reference_compat`` reproduces the Python 2 reference scripts (Godard et al., SfMLearner):
``round(u) - 1`` (mimicking KITTI's 1-based MATLAB indices) and the velodyne's forward ``x`` as
depth, so published numbers can be matched exactly.  It shifts every point by one pixel up and left
and measures depth from the velodyne (~0.27 m behind the camera).

Output: an ``.npz`` with ``depth_NNNN`` float32 ``[H, W]`` arrays (0 = no point) in test-list order,
and ``files`` (the test lines).
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys

import numpy as np
import tqdm
from absl import app, flags

from pipelines import kitti_raw
from pipelines.sequences import DataError, read_image


def project_scan(points: np.ndarray, velo_to_image: np.ndarray, height: int, width: int,
                 reference_compat: bool = False) -> np.ndarray:
    """Sparse depth ``[H, W]`` (0 = none) of a velodyne scan ``[N, 4]`` in one camera."""
    points = points[points[:, 0] >= 0]
    homogeneous = np.concatenate([points[:, :3], np.ones((len(points), 1))], axis=1).astype(np.float64)
    projected = homogeneous @ velo_to_image[:3].T
    depth = projected[:, 2]
    in_front = depth > 0
    projected, depth, forward = projected[in_front], depth[in_front], points[in_front, 0].astype(np.float64)
    u = np.round(projected[:, 0] / depth)
    v = np.round(projected[:, 1] / depth)
    if reference_compat:
        u, v, depth = u - 1, v - 1, forward
    inside = (u >= 0) & (v >= 0) & (u < width) & (v < height)
    u, v, depth = u[inside].astype(np.int64), v[inside].astype(np.int64), depth[inside]
    order = np.argsort(-depth)                       # far first, so the nearest point is written last
    result = np.zeros((height, width), np.float32)
    result[v[order], u[order]] = depth[order]
    return result


def export(raw_dir: str, test_files: str, output: str, reference_compat: bool = False) -> int:
    entries = kitti_raw.parse_test_files(test_files, raw_dir)
    depths = {}
    for index, (drive, camera, frame) in enumerate(tqdm.tqdm(entries, unit="image", file=sys.stdout)):
        image = os.path.join(raw_dir, drive, camera, "data", f"{frame:010d}.png")
        height, width = read_image(image).shape[:2]
        scan = kitti_raw.read_velodyne(os.path.join(raw_dir, drive, "velodyne_points", "data", f"{frame:010d}.bin"))
        transform = kitti_raw.velodyne_to_image(os.path.join(raw_dir, os.path.dirname(drive)), camera)
        depths[f"depth_{index:04d}"] = project_scan(scan, transform, height, width, reference_compat)
    tmp = output + ".tmp.npz"
    np.savez_compressed(tmp, files=np.array([f"{d} {f:010d} {'l' if c == 'image_02' else 'r'}"
                                             for d, c, f in entries]), **depths)
    os.replace(tmp, output)
    return len(entries)


FLAGS = flags.FLAGS


def define_flags() -> None:
    """Flags of the command line only: defining them at import would clash with other
    entry points' flags of the same name in one process (absl flags are global)."""
    flags.DEFINE_string("raw_dir", None, "KITTI raw root (the folder holding the date folders).")
    flags.DEFINE_string("test_files", None, "Eigen test list (either line format).")
    flags.DEFINE_string("output", "gt_depths.npz", "Output .npz.")
    flags.DEFINE_bool("reference_compat", False, "Reproduce the reference scripts' round(u) - 1 and "
                      "velodyne-x depth (to match published numbers).")


def main(argv):
    del argv
    try:
        count = export(FLAGS.raw_dir, FLAGS.test_files, FLAGS.output, FLAGS.reference_compat)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote ground truth for {count} images to {FLAGS.output}")
    return 0


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["raw_dir", "test_files"])
    app.run(main)
