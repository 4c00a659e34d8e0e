"""kitti_raw.py + clips.py intrinsics: calibration parsing, test lists, hand-computed scaling."""
import os

import numpy as np
import pytest

from pipelines import clips, kitti_raw
from pipelines.sequences import DataError

# Two lines of a real KITTI 2011_09_26 calib_cam_to_cam.txt (P_rect_02 and P_rect_03).
CALIB = """calib_time: 09-Jan-2012 13:57:47
corner_dist: 9.950000e-02
R_rect_00: 9.999239e-01 9.837760e-03 -7.445048e-03 -9.869795e-03 9.999421e-01 -4.278459e-03 7.402527e-03 4.351614e-03 9.999631e-01
P_rect_02: 7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 0.000000e+00 7.215377e+02 1.728540e+02 2.163791e-01 0.000000e+00 0.000000e+00 1.000000e+00 2.745884e-03
P_rect_03: 7.215377e+02 0.000000e+00 6.095593e+02 -3.395242e+02 0.000000e+00 7.215377e+02 1.728540e+02 2.199936e+00 0.000000e+00 0.000000e+00 1.000000e+00 2.729905e-03
"""


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


def test_intrinsics_from_p_rect_and_scaled_to_128x416(tmp_path):
    _write(str(tmp_path / "calib_cam_to_cam.txt"), CALIB)
    K = kitti_raw.camera_intrinsics(str(tmp_path), "image_02")
    np.testing.assert_array_equal(K, [[721.5377, 0, 609.5593], [0, 721.5377, 172.854], [0, 0, 1]])
    assert kitti_raw.camera_intrinsics(str(tmp_path), "image_03")[0, 2] == 609.5593
    scaled = clips.output_intrinsics(K, 375, 1242, clips.ClipOptions(height=128, width=416))
    # By hand: sx = 416/1242, sy = 128/375; c' = (c + 0.5) s - 0.5 (pixel centres at integers).
    sx, sy = 416 / 1242, 128 / 375
    expected = [[721.5377 * sx, 0, 609.5593 * sx + 0.5 * sx - 0.5],
                [0, 721.5377 * sy, 172.854 * sy + 0.5 * sy - 0.5], [0, 0, 1]]
    np.testing.assert_allclose(scaled, expected, rtol=1e-12)
    np.testing.assert_allclose(scaled[0, 0], 241.6745, atol=1e-4)


def test_calibration_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="calib_cam_to_cam.txt: calibration file is missing"):
        kitti_raw.camera_intrinsics(str(tmp_path), "image_02")
    _write(str(tmp_path / "calib_cam_to_cam.txt"), "P_rect_02: 1 2 3\n")
    with pytest.raises(DataError, match="P_rect_02 is missing or does not have 12 numbers"):
        kitti_raw.camera_intrinsics(str(tmp_path), "image_02")
    _write(str(tmp_path / "calib_cam_to_cam.txt"), "this is not a calibration\n")
    with pytest.raises(DataError, match=r"calib_cam_to_cam.txt:1: malformed"):
        kitti_raw.camera_intrinsics(str(tmp_path), "image_02")


def test_test_list_formats_and_missing_entries(synthetic_kitti, tmp_path):
    root, _ = synthetic_kitti
    drive = "2000_01_01/2000_01_01_drive_0002_sync"
    eigen = tmp_path / "eigen.txt"
    eigen.write_text(f"{drive}/image_02/data/0000000005.png\n{drive}/image_03/data/0000000007.png\n")
    split = tmp_path / "split.txt"
    split.write_text(f"{drive} 5 l\n{drive} 0000000007 r\n\n")
    expected = [(drive, "image_02", 5), (drive, "image_03", 7)]
    assert kitti_raw.parse_test_files(str(eigen), root) == expected
    assert kitti_raw.parse_test_files(str(split), root) == expected
    sequences, excluded = kitti_raw.kitti_sequences(root, str(eigen))
    assert excluded == [drive]
    assert {s.drive for s in sequences} == {"2000_01_01_drive_0001_sync"}
    assert {s.camera for s in sequences} == {"image_02", "image_03"}
    missing = tmp_path / "missing.txt"
    missing.write_text(f"{drive} 5 l\n2011_09_26/2011_09_26_drive_0002_sync 69 l\n")
    with pytest.raises(DataError, match="1 test entries do not exist.*2011_09_26_drive_0002_sync"):
        kitti_raw.parse_test_files(str(missing), root)
    assert len(kitti_raw.parse_test_files(str(missing), root, allow_missing=True)) == 2
    bad = tmp_path / "bad.txt"
    bad.write_text("2011_09_26 nonsense here too\n")
    with pytest.raises(DataError, match="bad.txt:1"):
        kitti_raw.parse_test_files(str(bad))


def test_velodyne_projection_matrix_composes_the_three_transforms(synthetic_kitti):
    root, config = synthetic_kitti
    calib_dir = os.path.join(root, "2000_01_01")
    P = kitti_raw.velodyne_to_image(calib_dir, "image_02")
    # The velodyne sits 27 cm behind and 8 cm above camera 0 (KITTI-like): a point 10 m ahead of
    # it (x forward) is 9.73 m ahead of camera 0 and 8 cm above it (y down).
    projected = P @ np.array([10.0, 0.0, 0.0, 1.0])
    K = kitti_raw.camera_intrinsics(calib_dir, "image_02")
    camera_point = np.array([0.06, -0.08, 9.73])  # camera 02 sits 6 cm left of camera 0
    expected = K @ camera_point
    np.testing.assert_allclose(projected[:3], expected, rtol=1e-9)
    scan = kitti_raw.read_velodyne(os.path.join(root, "2000_01_01/2000_01_01_drive_0001_sync",
                                                "velodyne_points/data/0000000000.bin"))
    assert scan.shape[1] == 4 and scan.shape[0] > 10000
