"""DDVO's pyramid level (ddvo_tf/core/ddvo_level.py): the warp Jacobian, image gradients, the
sub-sampled Hessian, the forward-mode step Jacobian, the exposure gain and the occlusion test."""
import numpy as np
import pytest
import tensorflow as tf

from ddvo_tf.core import geometry
from ddvo_tf.core.ddvo_layer import DirectVisualOdometry
from ddvo_tf.core.ddvo_level import image_gradients, warp_jacobian
from ddvo_tf.core.ddvo_solver import solve_pose


def test_jacobian_matches_finite_differences_of_the_warp():
    rng = np.random.default_rng(0)
    # With a skew term, so the pixel-x row must include s * dv/dp.
    intrinsics = tf.constant([[[40.0, 0.7, 15.3], [0, 38.0, 9.6], [0, 0, 1]]], tf.float64)
    inv_depth = tf.constant(rng.uniform(0.05, 0.8, (1, 20, 30, 1)))
    rays = geometry.pixel_rays(intrinsics, 20, 30)
    jac_x, jac_y = warp_jacobian(rays, inv_depth, intrinsics)
    analytic = tf.stack([jac_x, jac_y], axis=-2).numpy()    # [1, H, W, 2, 6]
    eps = 1e-7
    for k in range(6):
        delta = np.zeros((1, 6))
        delta[0, k] = eps
        plus, _ = geometry.warp_coordinates(inv_depth, tf.constant(delta), intrinsics)
        minus, _ = geometry.warp_coordinates(inv_depth, tf.constant(-delta), intrinsics)
        numeric = (plus.numpy() - minus.numpy()) / (2 * eps)
        np.testing.assert_allclose(analytic[..., k], numeric, atol=1e-5)


def test_image_gradients_central_differences():
    ramp = np.tile(np.arange(8.0)[None, :], (5, 1)) * 0.1
    grad_x, grad_y = image_gradients(tf.constant(ramp[None, ..., None]))
    np.testing.assert_allclose(grad_x.numpy()[0, :, 1:-1, 0], 0.1, atol=1e-12)
    np.testing.assert_allclose(grad_x.numpy()[0, :, 0, 0], 0.05, atol=1e-12)  # half difference
    np.testing.assert_allclose(grad_y.numpy(), 0.0, atol=1e-12)


def test_the_hessian_from_every_4th_row_estimates_that_of_all_rows(street_pair):
    # 64x208x3 rows (>= 2^15): the re-weighted Hessian uses every 4th row, scaled back; against
    # all rows, at the weights of a realistic iterate (robust weights, part of the view lost).
    from ddvo_tf.core.ddvo_level import Level
    from ddvo_tf.core.robust import robust_weights
    ref, src, inv_depth, intrinsics = (tf.constant(a.astype(np.float64)) for a in street_pair.batch([0, 1, 2]))
    level = Level(ref, src, inv_depth, intrinsics, True, "student_t", "gain", "bilinear", False)
    start = street_pair.true_poses[:3] + np.array([0.02, -0.01, 0.05, 0.002, -0.003, 0.001])
    ev = level.evaluate(geometry.so3_exp(tf.constant(start[:, 3:])), tf.constant(start[:, :3]))
    weight = ev.mask * level.texture * robust_weights(ev.residual, level.scale(ev), "student_t")
    assert level.hessian_stride == 4
    strided = level.weighted_hessian(weight).numpy()
    level.use_hessian_stride(1)
    full = level.weighted_hessian(weight).numpy()
    error = np.linalg.norm(strided - full, axis=(1, 2)) / np.linalg.norm(full, axis=(1, 2))
    assert np.all(error < 0.05) and np.all(error > 0), error


@pytest.mark.parametrize("interpolation, photometric, robust, occlusion, weight_hessian, pixel_share", [
    ("bilinear", "gain", "student_t", False, True, 1.0), ("bicubic", "none", "huber", True, True, 1.0),
    ("bicubic", "gain", "none", True, True, 1.0), ("bilinear", "gain", "student_t", False, False, 1.0),
    ("bicubic", "gain", "student_t", True, True, 0.5)])
def test_the_forward_mode_step_jacobian_equals_reverse_mode_autodiff(street_pair, interpolation, photometric,
                                                                     robust, occlusion, weight_hessian,
                                                                     pixel_share):
    # A = d step / d eps of the implicit gradient, by hand in one pass over the rows, against six
    # reverse passes of TensorFlow's autodiff (float64), at poses off the solution where the gain,
    # the robust weights, the re-weighted H and the in-view mask all vary; also on half the pixels
    # (a [B, 1, K] layout with its own pixel grid).
    from ddvo_tf.core.ddvo_level import Level
    ref, src, inv_depth, intrinsics = (tf.constant(x, tf.float64) for x in street_pair.batch([0, 1]))
    pose = tf.constant(np.asarray(street_pair.true_poses[:2]) * 0.8 + [0.02, -0.01, 0.05, 0.004, -0.006, 0.003],
                       tf.float64)
    rotation, translation = geometry.so3_exp(pose[:, 3:]), pose[:, :3]
    level = Level(ref, src, inv_depth, intrinsics, weight_hessian, robust, photometric, interpolation, occlusion,
                  pixel_share)
    level.fix_visibility(rotation, translation)
    at_pose = level.evaluate(rotation, translation)
    scale = level.scale(at_pose)
    got = level.step_jacobian(rotation, translation, scale, 1e-4, level.normal_equations(at_pose, scale)).numpy()
    eps = tf.zeros([2, 6], tf.float64)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(eps)
        moved = level.evaluate(tf.matmul(rotation, geometry.so3_exp(eps[:, 3:])),
                               translation + tf.linalg.matvec(rotation, eps[:, :3]))
        step = level.step(moved, scale, 1e-4)
    expected = tape.batch_jacobian(step, eps, experimental_use_pfor=False).numpy()
    assert np.abs(expected).max() > 0.5      # a 6x6 near the identity, not zeros
    np.testing.assert_allclose(got, expected, atol=1e-10 * np.abs(expected).max())


def test_exposure_change_is_matched_by_the_gain():
    # The source 25 % darker: raw intensities pull the pose away, the per-channel gain does not.
    from bench import ddvo_cases
    case = ddvo_cases.street_pairs(64, 208, count=1, seed=3)[0]
    darker = case.src * np.float32(0.75)
    errors = {}
    for photometric in ("gain", "none"):
        layer = DirectVisualOdometry(num_levels=4, photometric=photometric)
        pose = layer(case.ref[None], darker[None], case.inv_depth[None], case.intrinsics[None]).numpy()
        errors[photometric] = ddvo_cases.pose_errors(pose.astype(np.float64), case.pose[None])[0][0]
    assert errors["gain"] < 0.02, errors
    assert errors["none"] > 2 * errors["gain"], errors


def test_the_occlusion_test_hides_the_band_behind_the_motorcycle_and_only_when_asked():
    # Quarter-size Motorcycle from the true pose: the left view's points that the right view sees
    # behind nearer ones (a numpy z-buffer on the ground truth: ~12 %; measured here 21 %, the block
    # averaging mixing depths at edges) are the rows the finest level drops; without the option,
    # none are.
    from bench import ddvo_cases
    case = ddvo_cases.motorcycle(4)
    inputs = [tf.constant(x[None]) for x in (case.ref, case.src, case.inv_depth, case.intrinsics)]
    init = tf.constant(case.pose[None], tf.float32)
    hidden = {}
    for occlusion in (True, False):
        _, info = solve_pose(*inputs, init_pose=init, num_levels=2, num_iterations=3, occlusion=occlusion)
        hidden[occlusion] = 1.0 - float(tf.reduce_mean(info["visible"]))
    assert 0.05 < hidden[True] < 0.3, hidden
    assert hidden[False] == 0.0
