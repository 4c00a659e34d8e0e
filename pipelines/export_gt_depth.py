"""Ground-truth depth for the KITTI Eigen split from the raw velodyne scans.

    python -m pipelines.export_gt_depth --raw_dir=/data/kitti_raw --test_files=test_files_eigen.txt \\
        --output=gt_depths.npz [--ground_truth=published|exact] [--format=ddvo|monodepth2]

Per test line, velodyne points with forward ``x >= 0`` are projected through
``P_rect_0X @ R_rect_00 @ [R|T]_velo_to_cam`` into the full-size image of camera 02 (``l`` /
image_02 lines) or 03, and where several land on one pixel the nearest one wins (``np.minimum.at``:
deterministic, unlike a repeated fancy-index assignment).  Two ground truths:

- ``published`` (default): the protocol behind every published KITTI Eigen number (Zhou et al.'s
  and Godard et al.'s ``generate_depth_map(..., vel_depth=True)``, the paper's Table 1): pixel
  ``round(u) - 1`` (KITTI's 1-based MATLAB indices carried over) and the velodyne's forward ``x``
  as the depth, which is ~0.27 m more than the camera's (5 % at 5 m, the size of the gaps between
  rows of Table 1).  Numbers made with it compare with published tables.
- ``exact``: the pixel the point projects to (pixel centres at integers, ``round(u)``) and the
  camera z-depth, in front of the camera only.  Geometrically right, not comparable with tables.

``--split=eigen_benchmark`` reads instead the improved ground truth of Uhrig et al. (KITTI depth
completion annotations: ``proj_depth/groundtruth/image_0X/FRAME.png``, uint16 / 256, 0 = none) for
the 652-frame ``eigen_benchmark`` test list (monodepth2's ``splits/eigen_benchmark/test_files.txt``),
from ``--depth_dir`` (the ``data_depth_annotated`` download, holding ``train/`` and ``val/``) or, when
that is not given, from the raw drive folders (where monodepth2 has users copy them).

Output formats: ``ddvo`` (default), an ``.npz`` with ``depth_NNNN`` float32 ``[H, W]`` arrays
(0 = no point) in test-list order, ``files`` (the test lines) and ``ground_truth`` (the kind);
``monodepth2``, its ``splits/eigen/gt_depths.npz`` layout (one object array under ``data``).
"""
from __future__ import annotations

import os
import sys

import cv2
import numpy as np
import tqdm
from absl import flags

from ddvo_tf import cli
from pipelines import kitti_raw
from pipelines.sequences import DataError, read_image


GROUND_TRUTHS = ("published", "exact")
FORMATS = ("ddvo", "monodepth2")
SPLITS = ("eigen", "eigen_benchmark")
ANNOTATIONS = "data_depth_annotated (https://www.cvlibs.net/datasets/kitti/eval_depth.php?benchmark=depth_completion)"


def annotated_depth(raw_dir: str, depth_dir: str | None, drive: str, camera: str, frame: int) -> np.ndarray:
    """The KITTI depth-completion annotation of one frame, metres ``[H, W]`` float32 (0 = none)."""
    relative = os.path.join("proj_depth", "groundtruth", camera, f"{frame:010d}.png")
    if depth_dir:
        candidates = [os.path.join(depth_dir, part, os.path.basename(drive), relative) for part in ("train", "val")]
    else:
        candidates = [os.path.join(raw_dir, drive, relative)]
    for path in candidates:
        if os.path.isfile(path):
            image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
            if image is None or image.dtype != np.uint16 or image.ndim != 2:
                raise DataError(f"{path}: not a 16-bit depth annotation PNG; re-extract {ANNOTATIONS}")
            return image.astype(np.float32) / 256.0
    where = "--depth_dir's train/ and val/" if depth_dir else "the raw drive folder (or pass --depth_dir)"
    raise DataError(f"{candidates[0]}: no depth annotation for this eigen_benchmark frame in {where}; "
                    f"download {ANNOTATIONS}")


def project_scan(points: np.ndarray, velo_to_image: np.ndarray, height: int, width: int,
                 ground_truth: str = "published") -> np.ndarray:
    """Sparse depth ``[H, W]`` (0 = none) of a velodyne scan ``[N, 4]`` in one camera."""
    if ground_truth not in GROUND_TRUTHS:
        raise ValueError(f"ground_truth must be one of {GROUND_TRUTHS}, got {ground_truth!r}")
    points = points[points[:, 0] >= 0]
    homogeneous = np.concatenate([points[:, :3], np.ones((len(points), 1))], axis=1).astype(np.float64)
    projected = homogeneous @ velo_to_image[:3].T
    z = projected[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u, v = projected[:, 0] / z, projected[:, 1] / z
    if ground_truth == "published":
        # As the reference: no in-front test (x >= 0 only), a non-finite u or v drops out below.
        u, v, depth = np.round(u) - 1, np.round(v) - 1, points[:, 0].astype(np.float64)
    else:
        keep = z > 0
        u, v, depth = np.round(u[keep]), np.round(v[keep]), z[keep]
    inside = (u >= 0) & (v >= 0) & (u < width) & (v < height)
    u, v, depth = u[inside].astype(np.int64), v[inside].astype(np.int64), depth[inside]
    nearest = np.full((height, width), np.inf)
    np.minimum.at(nearest, (v, u), depth)
    nearest[~np.isfinite(nearest) | (nearest < 0)] = 0.0
    return nearest.astype(np.float32)


def export(raw_dir: str, test_files: str, output: str, ground_truth: str = "published",
           output_format: str = "ddvo", split: str = "eigen", depth_dir: str | None = None) -> int:
    if output_format not in FORMATS or split not in SPLITS:
        raise ValueError(f"format must be one of {FORMATS} and split one of {SPLITS}, got {output_format!r}, {split!r}")
    entries = kitti_raw.parse_test_files(test_files, None if split == "eigen_benchmark" else raw_dir)
    if split == "eigen_benchmark":
        ground_truth = "eigen_benchmark"
    depths = []
    for drive, camera, frame in tqdm.tqdm(entries, unit="image", file=sys.stdout):
        if split == "eigen_benchmark":
            depths.append(annotated_depth(raw_dir, depth_dir, drive, camera, frame))
            continue
        image = os.path.join(raw_dir, drive, camera, "data", f"{frame:010d}.png")
        height, width = read_image(image).shape[:2]
        scan = kitti_raw.read_velodyne(os.path.join(raw_dir, drive, "velodyne_points", "data", f"{frame:010d}.bin"))
        transform = kitti_raw.velodyne_to_image(os.path.join(raw_dir, os.path.dirname(drive)), camera)
        depths.append(project_scan(scan, transform, height, width, ground_truth))
    tmp = output + ".tmp.npz"
    if output_format == "monodepth2":
        data = np.empty(len(depths), dtype=object)
        data[:] = depths
        np.savez_compressed(tmp, data=data)
    else:
        np.savez_compressed(tmp, files=np.array([f"{d} {f:010d} {'l' if c == 'image_02' else 'r'}"
                                                 for d, c, f in entries]),
                            ground_truth=np.array(ground_truth),
                            **{f"depth_{i:04d}": depth for i, depth in enumerate(depths)})
    os.replace(tmp, output)
    return len(entries)


FLAGS = flags.FLAGS


def define_flags() -> None:
    """Flags of the command line only: defining them at import would clash with other
    entry points' flags of the same name in one process (absl flags are global)."""
    flags.DEFINE_string("raw_dir", None, "KITTI raw root (the folder holding the date folders).")
    flags.DEFINE_string("test_files", None, "Eigen test list (either line format).")
    flags.DEFINE_string("output", "gt_depths.npz", "Output .npz.")
    flags.DEFINE_enum("ground_truth", "published", list(GROUND_TRUTHS), "published: the protocol of every "
                      "published Eigen number (round(u) - 1, velodyne x as depth); exact: round(u), camera z.")
    flags.DEFINE_enum("split", "eigen", list(SPLITS), "eigen: velodyne scans (697 frames); eigen_benchmark: "
                      "the KITTI depth annotations (652 frames, its own test list).")
    flags.DEFINE_string("depth_dir", None, "eigen_benchmark: the data_depth_annotated folder (train/, val/); "
                        "default: the annotations copied into the raw drive folders.")
    flags.DEFINE_enum("format", "ddvo", list(FORMATS), "ddvo: depth_NNNN + files + ground_truth; "
                      "monodepth2: its gt_depths.npz layout (one object array under 'data').")


def main(argv):
    del argv
    try:
        count = export(FLAGS.raw_dir, FLAGS.test_files, FLAGS.output, FLAGS.ground_truth, FLAGS.format,
                       FLAGS.split, FLAGS.depth_dir)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    kind = "eigen_benchmark" if FLAGS.split == "eigen_benchmark" else FLAGS.ground_truth
    print(f"wrote {kind} ground truth for {count} images to {FLAGS.output} ({FLAGS.format} format)")
    return 0


def _define_flags() -> None:
    define_flags()
    flags.mark_flags_as_required(["raw_dir", "test_files"])


def console_main() -> None:
    cli.command(_define_flags, main)


if __name__ == "__main__":
    console_main()
