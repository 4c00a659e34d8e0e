"""The renderer that the DDVO tests trust: its depth against closed-form geometry; the looks'
layouts; the render cache's scene version."""
import dataclasses
import json

import numpy as np
import pytest

from pipelines import street_scene, synthetic
from pipelines.sequences import DataError


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


@pytest.mark.parametrize("seed", [0, 97000])
def test_street_look_has_pavements_behind_the_parked_cars(seed):
    """The street look moves each facade 1.8-3.2 m beyond its kerb; road, kerbs and cars are where
    the waves look (facades at the kerbs, kept for the DDVO benchmarks) has them."""
    street, waves = street_scene.default_street(seed), street_scene.default_street(seed, look="waves")
    left, right = street.surfaces[0].params["kerbs"]
    assert (left, right) == (waves.surfaces[1].offset, waves.surfaces[2].offset)
    assert 1.8 <= left - street.surfaces[1].offset <= 3.2 and 1.8 <= street.surfaces[2].offset - right <= 3.2
    assert len(street.surfaces) == len(waves.surfaces) > 8
    for car, same in zip(street.surfaces[4:], waves.surfaces[4:]):
        np.testing.assert_array_equal(car.bounds, same.bounds)
        assert left < car.bounds[0, 0] < car.bounds[0, 1] < right          # parked on the road, at a kerb
    # The pavement is the road plane (exact depth) in light slabs: brighter on average than the
    # asphalt of the parking lane beside it (both lit alike; means over 500 points each). These
    # two streets: +0.135 and +0.126, and 0.011 and -0.001 with the slabs taken out; the asphalt's
    # metre-scale grain moves the margin with the street (+0.05...+0.15 over 40 seeds).
    rng = np.random.default_rng(0)
    z = rng.uniform(10.0, 60.0, 500)
    pavement = np.stack([rng.uniform(street.surfaces[1].offset + 0.2, left - 0.3, 500),
                         np.full(500, street_scene.CAM_HEIGHT), z], -1)
    lane = np.stack([rng.uniform(left + 0.3, left + 2.2, 500), np.full(500, street_scene.CAM_HEIGHT), z], -1)
    brightness = [street_scene.shade(street, points, np.zeros(500, int)).mean() for points in (pavement, lane)]
    assert brightness[0] > brightness[1] + 0.1, brightness


def test_a_render_cache_of_another_scene_version_is_refused(tmp_path):
    config = synthetic.SyntheticConfig(num_frames=2, height=16, width=52, cameras=("image_02",), velodyne=False,
                                       stop_start=-1, look="street")
    root = str(tmp_path / "street")
    synthetic.generate(root, config, log=lambda *a: None)
    synthetic.generate(root, config, log=lambda *a: None)                 # the same version: reused
    path = tmp_path / "street" / "synthetic.json"
    stored = json.loads(path.read_text())
    assert stored["scene_version"] == street_scene.SCENE_VERSIONS["street"]
    del stored["scene_version"]                                          # as written before versions
    path.write_text(json.dumps(stored))
    with pytest.raises(DataError, match=r"street.*scene_version 1 \(wanted 2\).*use another folder or delete it"):
        synthetic.generate(root, config, log=lambda *a: None)
    # A waves-look cache from before versions were recorded is version 1, the current waves look.
    waves = dataclasses.replace(config, look="waves")
    root = str(tmp_path / "waves")
    synthetic.generate(root, waves, log=lambda *a: None)
    path = tmp_path / "waves" / "synthetic.json"
    path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items() if k != "scene_version"}))
    synthetic.generate(root, waves, log=lambda *a: None)
