"""KITTI raw (synced + rectified) drives: calibration, frame sequences, velodyne scans, test lists.

Layout (the official one)::

    ROOT/DATE/calib_cam_to_cam.txt, calib_velo_to_cam.txt, calib_imu_to_velo.txt
    ROOT/DATE/DATE_drive_NNNN_sync/image_02/data/0000000000.png   (and image_03)
    ROOT/DATE/DATE_drive_NNNN_sync/velodyne_points/data/0000000000.bin
    ROOT/DATE/DATE_drive_NNNN_sync/oxts/data/0000000000.txt, .../timestamps.txt

Cameras 02 and 03 are two monocular sequences.  Their intrinsics are the left 3x3 block of
``P_rect_02`` / ``P_rect_03`` (rectified images; ``P = K [I | t]`` with ``t`` the stereo offset).
"""
from __future__ import annotations

import os
import re

import numpy as np

from pipelines.sequences import DataError, FrameSequence, list_image_files

CAMERAS = ("image_02", "image_03")
_DRIVE_RE = re.compile(r"^(\d{4}_\d{2}_\d{2})_drive_(\d{4})_sync$")


def read_calib_file(path: str) -> dict[str, np.ndarray]:
    """``key: numbers`` lines of a KITTI calibration file (non-numeric values such as
    ``calib_time`` are skipped)."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: calibration file is missing; download the drive's calibration "
                        "zip (e.g. 2011_09_26_calib.zip) and unpack it into the date folder")
    values = {}
    with open(path) as handle:
        for line_number, line in enumerate(handle, 1):
            if ":" not in line:
                if line.strip():
                    raise DataError(f"{path}:{line_number}: malformed calibration line {line.strip()!r}")
                continue
            key, text = line.split(":", 1)
            try:
                values[key.strip()] = np.array([float(x) for x in text.split()], np.float64)
            except ValueError:
                continue  # calib_time and other text fields
    return values


def camera_intrinsics(calib_dir: str, camera: str) -> np.ndarray:
    """3x3 intrinsics of a rectified camera from ``P_rect_XX`` in ``calib_cam_to_cam.txt``."""
    path = os.path.join(calib_dir, "calib_cam_to_cam.txt")
    key = "P_rect_" + camera[-2:]
    projection = read_calib_file(path).get(key)
    if projection is None or projection.size != 12:
        raise DataError(f"{path}: {key} is missing or does not have 12 numbers; the file is not a "
                        "complete KITTI calibration (re-download the date's calib zip)")
    return projection.reshape(3, 4)[:, :3].copy()


def velodyne_to_image(calib_dir: str, camera: str) -> np.ndarray:
    """4x4-padded ``P_rect_XX @ R_rect_00 @ [R|T]_velo_to_cam`` (3x4 in the top rows): velodyne
    points to homogeneous rectified image coordinates of ``camera``."""
    cam = read_calib_file(os.path.join(calib_dir, "calib_cam_to_cam.txt"))
    velo = read_calib_file(os.path.join(calib_dir, "calib_velo_to_cam.txt"))
    needed = {"P_rect_" + camera[-2:]: (cam, 12), "R_rect_00": (cam, 9), "R": (velo, 9), "T": (velo, 3)}
    for key, (table, size) in needed.items():
        if key not in table or table[key].size != size:
            raise DataError(f"{calib_dir}: calibration entry {key} missing or malformed")
    rect = np.eye(4)
    rect[:3, :3] = cam["R_rect_00"].reshape(3, 3)
    velo_to_cam = np.eye(4)
    velo_to_cam[:3, :3] = velo["R"].reshape(3, 3)
    velo_to_cam[:3, 3] = velo["T"]
    projection = np.eye(4)
    projection[:3] = cam["P_rect_" + camera[-2:]].reshape(3, 4)
    return projection @ rect @ velo_to_cam


def read_velodyne(path: str) -> np.ndarray:
    """``[N, 4]`` float32 points (x forward, y left, z up, reflectance) of one scan."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: velodyne scan is missing; download the drive's velodyne data")
    data = np.fromfile(path, dtype=np.float32)
    if data.size % 4:
        raise DataError(f"{path}: truncated velodyne scan ({data.size} floats, not a multiple of 4)")
    return data.reshape(-1, 4)


def find_drives(root: str) -> list[str]:
    """Drive folders ``DATE/DATE_drive_NNNN_sync`` under ``root``, sorted."""
    if not os.path.isdir(root):
        raise DataError(f"{root}: KITTI raw folder does not exist")
    drives = []
    for date in sorted(os.listdir(root)):
        date_dir = os.path.join(root, date)
        if not os.path.isdir(date_dir):
            continue
        for name in sorted(os.listdir(date_dir)):
            match = _DRIVE_RE.match(name)
            if match and match.group(1) == date and os.path.isdir(os.path.join(date_dir, name)):
                drives.append(os.path.join(date, name))
    if not drives:
        raise DataError(f"{root}: no DATE/DATE_drive_NNNN_sync folders found; pass the folder that "
                        "holds the date folders (e.g. 2011_09_26/) of the KITTI raw download")
    return drives


def parse_test_files(path: str, root: str | None = None, allow_missing: bool = False
                     ) -> list[tuple[str, str, int]]:
    """Entries ``(DATE/DRIVE, camera, frame)`` of an Eigen test list.

    Accepts both ``DATE/DRIVE/image_02/data/FRAME.png`` lines (SfMLearner's
    ``test_files_eigen.txt``) and ``DATE/DRIVE FRAME l|r`` lines (monodepth's split files).
    With ``root``, every entry must exist there unless ``allow_missing``.
    """
    if not os.path.isfile(path):
        raise DataError(f"{path}: test list does not exist")
    entries, missing = [], []
    with open(path) as handle:
        for line_number, line in enumerate(handle, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) == 1:
                pieces = parts[0].split("/")
                if len(pieces) != 5 or pieces[2] not in CAMERAS:
                    raise DataError(f"{path}:{line_number}: expected DATE/DRIVE/image_0X/data/FRAME.png,"
                                    f" got {line.strip()!r}")
                drive, camera, frame = "/".join(pieces[:2]), pieces[2], os.path.splitext(pieces[4])[0]
            elif len(parts) == 3 and parts[2] in ("l", "r"):
                drive, frame = parts[0], parts[1]
                camera = "image_02" if parts[2] == "l" else "image_03"
            else:
                raise DataError(f"{path}:{line_number}: expected 'DATE/DRIVE FRAME l|r', got {line.strip()!r}")
            try:
                number = int(frame)
            except ValueError:
                raise DataError(f"{path}:{line_number}: frame {frame!r} is not a number") from None
            entries.append((drive.strip("/"), camera, number))
            if root is not None:
                image = os.path.join(root, drive, camera, "data", f"{number:010d}.png")
                if not os.path.isfile(image):
                    missing.append(image)
    if missing and not allow_missing:
        raise DataError(f"{path}: {len(missing)} test entries do not exist under the KITTI root, "
                        f"e.g. {missing[0]}; download those drives, or pass --allow_missing_test_files "
                        "if you build from a subset of KITTI on purpose")
    return entries


def drive_sequences(root: str, drive: str, cameras=CAMERAS) -> list[FrameSequence]:
    """The camera sequences of one drive (``drive`` = ``DATE/DATE_drive_NNNN_sync``)."""
    calib_dir = os.path.join(root, os.path.dirname(drive))
    sequences = []
    for camera in cameras:
        folder = os.path.join(root, drive, camera, "data")
        if not os.path.isdir(folder):
            raise DataError(f"{folder}: camera folder is missing; unpack the drive's sync zip, or "
                            f"choose cameras with --cameras")
        frames = []
        for path in list_image_files(folder):
            stem = os.path.splitext(os.path.basename(path))[0]
            if not stem.isdigit():
                raise DataError(f"{path}: unexpected file name in a KITTI image folder")
            frames.append((int(stem), path))
        sequences.append(FrameSequence(drive=os.path.basename(drive), camera=camera,
                                       intrinsics=camera_intrinsics(calib_dir, camera), frames=frames))
    return sequences


def kitti_sequences(root: str, test_files: str | None = None, cameras=CAMERAS,
                    allow_missing_test_files: bool = False) -> tuple[list[FrameSequence], list[str]]:
    """Training sequences of all drives not in the test list; also returns the excluded drives."""
    drives = find_drives(root)
    excluded = set()
    if test_files:
        excluded = {d for d, _, _ in parse_test_files(test_files, root, allow_missing_test_files)}
    sequences = []
    for drive in drives:
        if drive not in excluded:
            sequences.extend(drive_sequences(root, drive, cameras))
    return sequences, sorted(excluded)
