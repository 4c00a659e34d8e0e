"""The renderer that the DDVO tests trust: its depth against closed-form geometry."""
import numpy as np

from pipelines import street_scene


def test_road_depth_matches_plane_formula():
    height, width = 64, 208
    intrinsics = street_scene.kitti_like_intrinsics(height, width)
    scene = street_scene.default_street(0)
    _, depth = street_scene.render(scene, street_scene.camera_pose([0, 0, 0]), intrinsics, height, width)
    fy, cy = intrinsics[1, 1], intrinsics[1, 2]
    # The bottom centre pixels see the road plane y = 1.65 m: z = 1.65 fy / (row - cy).
    rows = np.arange(height - 6, height)
    expected = 1.65 * fy / (rows - cy)
    np.testing.assert_allclose(depth[rows, width // 2], expected, rtol=1e-5)


def test_facade_depth_matches_plane_formula():
    height, width = 64, 208
    intrinsics = street_scene.kitti_like_intrinsics(height, width)
    scene = street_scene.default_street(0)
    left_x = scene.surfaces[1].offset
    _, depth = street_scene.render(scene, street_scene.camera_pose([0, 0, 0]), intrinsics, height, width)
    fx, cx = intrinsics[0, 0], intrinsics[0, 2]
    # Top-left corner pixel looks at the left facade x = left_x: z = left_x fx / (col - cx).
    np.testing.assert_allclose(depth[0, 0], left_x * fx / (0 - cx), rtol=1e-5)


def test_relative_pose_maps_reference_points_into_source():
    ref = street_scene.camera_pose([1.0, 0.0, 2.0], yaw=0.1)
    src = street_scene.camera_pose([1.2, 0.1, 3.0], yaw=0.15, pitch=0.01)
    world_point = np.array([0.5, 0.3, 10.0, 1.0])
    in_ref = np.linalg.inv(ref) @ world_point
    in_src = np.linalg.inv(src) @ world_point
    np.testing.assert_allclose(street_scene.relative_pose(ref, src) @ in_ref, in_src, atol=1e-12)
