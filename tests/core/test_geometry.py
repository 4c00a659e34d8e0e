"""geometry.py against scipy / numpy float64 references."""
import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial.transform import Rotation

from ddvo_tf.core import geometry
from ddvo_tf.core.ddvo_level import warp_jacobian


def _random_rotvecs(rng, n, max_angle):
    axes = rng.standard_normal((n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    return axes * rng.uniform(0, max_angle, (n, 1))


@pytest.mark.parametrize("max_angle", [3.0, 1e-2, 1e-4, 1e-7])
def test_so3_exp_matches_scipy(max_angle):
    rng = np.random.default_rng(0)
    omega = _random_rotvecs(rng, 64, max_angle)
    got = geometry.so3_exp(tf.constant(omega)).numpy()
    np.testing.assert_allclose(got, Rotation.from_rotvec(omega).as_matrix(), atol=1e-12)


def test_so3_exp_float32_and_zero():
    np.testing.assert_allclose(geometry.so3_exp(tf.zeros([2, 3])).numpy(), np.tile(np.eye(3), (2, 1, 1)))


@pytest.mark.parametrize("point", [np.zeros(3), np.array([1e-5, -2e-5, 3e-6]), np.array([0.3, -0.2, 0.5])])
def test_so3_exp_gradient_matches_finite_differences(point):
    theoretical, numerical = tf.test.compute_gradient(
        lambda w: geometry.so3_exp(w), [tf.constant(point[None])], delta=1e-6)
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-7)
    assert np.all(np.isfinite(theoretical[0]))


@pytest.mark.parametrize("max_angle", [3.0, 1e-2, 1e-4, 1e-7])
def test_so3_log_inverts_exp(max_angle):
    rng = np.random.default_rng(1)
    omega = _random_rotvecs(rng, 64, max_angle)
    matrices = Rotation.from_rotvec(omega).as_matrix()
    np.testing.assert_allclose(geometry.so3_log(tf.constant(matrices)).numpy(), omega, atol=1e-9)


@pytest.mark.parametrize("point", [np.zeros(3), np.array([2e-4, 1e-4, -3e-4]), np.array([0.2, 0.4, -0.1])])
def test_so3_log_gradient_finite_and_correct(point):
    matrix = Rotation.from_rotvec(point).as_matrix()[None]
    theoretical, numerical = tf.test.compute_gradient(
        lambda m: geometry.so3_log(m), [tf.constant(matrix)], delta=1e-7)
    assert np.all(np.isfinite(theoretical[0]))
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)


def _random_poses(rng, n):
    return np.concatenate([rng.normal(0, 2, (n, 3)), _random_rotvecs(rng, n, 2.5)], axis=1)


def test_pose_matrix_round_trip_and_scipy():
    rng = np.random.default_rng(2)
    poses = _random_poses(rng, 32)
    matrices = geometry.pose_to_matrix(tf.constant(poses)).numpy()
    np.testing.assert_allclose(matrices[:, :3, :3], Rotation.from_rotvec(poses[:, 3:]).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(matrices[:, :3, 3], poses[:, :3])
    np.testing.assert_allclose(matrices[:, 3], np.tile([0, 0, 0, 1.0], (32, 1)))
    np.testing.assert_allclose(geometry.matrix_to_pose(tf.constant(matrices)).numpy(), poses, atol=1e-9)


def test_compose_and_invert():
    rng = np.random.default_rng(3)
    a, b = _random_poses(rng, 16), _random_poses(rng, 16) * 0.3
    composed = geometry.compose_poses(tf.constant(a), tf.constant(b)).numpy()
    ma, mb = geometry.pose_to_matrix(a).numpy(), geometry.pose_to_matrix(b).numpy()
    np.testing.assert_allclose(geometry.pose_to_matrix(composed).numpy(), ma @ mb, atol=1e-9)
    inverse = geometry.invert_pose(tf.constant(a)).numpy()
    np.testing.assert_allclose(geometry.pose_to_matrix(inverse).numpy(), np.linalg.inv(ma), atol=1e-9)
    identity = geometry.compose_poses(tf.constant(a), tf.constant(inverse)).numpy()
    np.testing.assert_allclose(identity, np.zeros_like(a), atol=1e-9)


def _intrinsics(batch=2, height=24, width=40):
    k = np.array([[30.0, 0, width / 2 - 0.3], [0, 28.0, height / 2 + 0.7], [0, 0, 1]])
    return np.repeat(k[None], batch, 0)


def test_projection_of_backprojection_is_identity():
    rng = np.random.default_rng(4)
    intrinsics = _intrinsics()
    inv_depth = rng.uniform(0.01, 2.0, (2, 24, 40, 1))
    points = geometry.backproject(tf.constant(inv_depth), tf.constant(intrinsics))
    np.testing.assert_allclose(points.numpy()[..., 2], 1.0 / inv_depth[..., 0])
    coords, in_front = geometry.project(points, tf.constant(intrinsics))
    grid = np.stack(np.meshgrid(np.arange(40.0), np.arange(24.0)), -1)
    np.testing.assert_allclose(coords.numpy(), np.broadcast_to(grid, coords.shape), atol=1e-10)
    assert np.all(in_front.numpy() == 1)


def test_warp_coordinates_matches_numpy_reference():
    rng = np.random.default_rng(5)
    intrinsics = _intrinsics()
    inv_depth = rng.uniform(0.05, 1.0, (2, 24, 40, 1))
    poses = np.array([[0.1, -0.05, 0.4, 0.01, -0.03, 0.02], [-0.3, 0.0, 0.2, 0.0, 0.05, 0.0]])
    coords, mask = geometry.warp_coordinates(tf.constant(inv_depth), tf.constant(poses), tf.constant(intrinsics))
    for b in range(2):
        k = intrinsics[b]
        xs, ys = np.meshgrid(np.arange(40.0), np.arange(24.0))
        pixels = np.stack([xs, ys, np.ones_like(xs)], -1).reshape(-1, 3)
        points = (np.linalg.inv(k) @ pixels.T) / inv_depth[b].reshape(1, -1)
        moved = Rotation.from_rotvec(poses[b, 3:]).as_matrix() @ points + poses[b, :3, None]
        projected = k @ moved
        expected = (projected[:2] / projected[2]).T.reshape(24, 40, 2)
        np.testing.assert_allclose(coords.numpy()[b], expected, atol=1e-9)
        np.testing.assert_array_equal(mask.numpy()[b, ..., 0], (moved[2] > 1e-6).reshape(24, 40))


def test_points_behind_camera_are_masked_and_finite():
    intrinsics = _intrinsics(1)
    inv_depth = np.full((1, 24, 40, 1), 1.0)   # everything 1 m ahead ...
    pose = np.array([[0, 0, -2.0, 0, 0, 0]])    # ... and the source camera 2 m further forward
    coords, mask = geometry.warp_coordinates(tf.constant(inv_depth), tf.constant(pose), tf.constant(intrinsics))
    assert np.all(np.isfinite(coords.numpy()))
    assert np.all(mask.numpy() == 0)


def test_resize_intrinsics_hand_computed():
    # KITTI camera 02 (1242x375) resized to 416x128; values worked out by hand:
    # fx' = 721.5377 * 416/1242, cx' = (609.5593 + 0.5) * 416/1242 - 0.5, likewise for y.
    k = np.array([[[721.5377, 0, 609.5593], [0, 721.5377, 172.854], [0, 0, 1]]])
    sx, sy = 416 / 1242, 128 / 375
    exact = geometry.resize_intrinsics(tf.constant(k), sx, sy).numpy()[0]
    np.testing.assert_allclose(exact, [[241.674463, 0, 203.835482], [0, 246.284868, 58.671499], [0, 0, 1]],
                               atol=1e-6)
    plain = geometry.resize_intrinsics(tf.constant(k), sx, sy, half_pixel_centers=False).numpy()[0]
    np.testing.assert_allclose(plain[:2, 2], [204.168010, 59.000832], atol=1e-6)


def test_pyramid_intrinsics_match_average_pooling():
    # Pool an image of its own x and y coordinates: pooled pixel j sits at x = 2j + 0.5, so the
    # intrinsics of the pooled image must project a point where the pooled "coordinate image" says.
    height, width = 32, 48
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    image = tf.constant(np.stack([xs, ys], -1)[None])
    k = tf.constant(_intrinsics(1, height, width))
    point = np.array([0.7, -0.4, 3.0])
    full_pixel = (k.numpy()[0] @ point)[:2] / point[2]
    for level, pooled in enumerate(geometry.build_pyramid(image, 3)):
        kl = geometry.pyramid_intrinsics(k, level).numpy()[0]
        level_pixel = (kl @ point)[:2] / point[2]
        # Bilinear lookup of the pooled coordinate image at level_pixel gives full-res coordinates.
        x0, y0 = int(np.floor(level_pixel[0])), int(np.floor(level_pixel[1]))
        fx_, fy_ = level_pixel[0] - x0, level_pixel[1] - y0
        p = pooled.numpy()[0]
        value = ((1 - fx_) * (1 - fy_) * p[y0, x0] + fx_ * (1 - fy_) * p[y0, x0 + 1]
                 + (1 - fx_) * fy_ * p[y0 + 1, x0] + fx_ * fy_ * p[y0 + 1, x0 + 1])
        np.testing.assert_allclose(value, full_pixel, atol=1e-9)


def test_build_pyramid_shapes_and_errors():
    levels = geometry.build_pyramid(tf.zeros([1, 128, 416, 3]), 5)
    assert [tuple(t.shape[1:3]) for t in levels] == [(128, 416), (64, 208), (32, 104), (16, 52), (8, 26)]
    with pytest.raises(ValueError, match="num_levels"):
        geometry.build_pyramid(tf.zeros([1, 8, 8, 1]), 0)


def test_transform_pixels_jacobian_matches_central_differences_and_the_identity_jacobian():
    # Pose moved in the reference camera: (R, t) -> (R exp(w), t + R v); float64 central differences.
    rng = np.random.default_rng(3)
    batch, height, width = 2, 5, 7
    inv_depth = tf.constant(rng.uniform(0.05, 0.5, (batch, height, width, 1)))
    intrinsics = tf.constant(np.tile([[60.0, 0.4, 3.5], [0.0, 55.0, 2.5], [0.0, 0.0, 1.0]], (batch, 1, 1)))
    rotvec, translation = rng.normal(0, 0.1, (batch, 3)), rng.normal(0, 0.3, (batch, 3))
    rotation = Rotation.from_rotvec(rotvec).as_matrix()
    got = geometry.transform_pixels_jacobian(inv_depth, tf.constant(rotation), tf.constant(translation),
                                             intrinsics).numpy()
    step = 1e-6
    for k in range(6):
        coords = []
        for sign in (1.0, -1.0):
            eps = np.zeros((batch, 6))
            eps[:, k] = sign * step
            moved_r = rotation @ Rotation.from_rotvec(eps[:, 3:]).as_matrix()
            moved_t = translation + np.einsum("bij,bj->bi", rotation, eps[:, :3])
            coords.append(geometry.transform_pixels(inv_depth, tf.constant(moved_r), tf.constant(moved_t),
                                                    intrinsics)[0].numpy())
        np.testing.assert_allclose(got[..., k], (coords[0] - coords[1]) / (2 * step), rtol=1e-6, atol=1e-6)
    at_identity = geometry.transform_pixels_jacobian(inv_depth, tf.eye(3, batch_shape=[batch], dtype=tf.float64),
                                                     tf.zeros([batch, 3], tf.float64), intrinsics).numpy()
    jac_x, jac_y = warp_jacobian(geometry.pixel_rays(intrinsics, height, width), inv_depth, intrinsics)
    np.testing.assert_allclose(at_identity, np.stack([jac_x, jac_y], axis=-2), atol=1e-12)
