"""DDVO's Gauss-Newton (ddvo_tf/core/ddvo_solver.py): recovers known motions of a rendered street
and of a real pair, falls back on degenerate input, and its implicit gradient is the unrolled one."""
import numpy as np
import pytest
import tensorflow as tf

from conftest import pose_errors
from ddvo_tf.core import geometry
from ddvo_tf.core.ddvo_layer import DirectVisualOdometry
from ddvo_tf.core.ddvo_solver import solve_pose


def _cosine(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("weight_hessian", [True, False])
def test_recovers_forward_motion_with_yaw_from_identity(street_pair, weight_hessian):
    ref, src, inv_depth, intrinsics = street_pair.batch([0])
    layer = DirectVisualOdometry(num_levels=5, num_iterations=10, weight_hessian=weight_hessian,
                                 jit_compile=False)
    pose = layer(ref, src, inv_depth, intrinsics).numpy()[0]
    true = street_pair.true_poses[0]
    assert abs(true[2]) > 0.99 and np.rad2deg(abs(true[4])) > 1.9   # ~1 m forward, ~2 deg yaw
    t_err, r_err = pose_errors(pose, true)
    assert t_err < 0.02, (pose, true)
    assert r_err < 0.1, (pose, true)


def test_noisy_initial_pose_converges_at_finest_level(street_pair):
    ref, src, inv_depth, intrinsics = street_pair.batch([0])
    true = street_pair.true_poses[0]
    init = true + np.array([0.04, -0.03, 0.06, 0.004, -0.006, 0.003])
    init_t_err, init_r_err = pose_errors(init, true)
    pose, diagnostics = solve_pose(ref, src, inv_depth, intrinsics, init_pose=init[None].astype(np.float32),
                                   num_levels=1, num_iterations=10)
    t_err, r_err = pose_errors(pose.numpy()[0], true)
    assert init_t_err > 0.05 and init_r_err > 0.4
    assert t_err < 0.02 and r_err < 0.1
    assert not diagnostics["fallback"].numpy()[0]
    # Moving 1 m forward, the borders of the reference leave the source view.
    assert 0.5 < diagnostics["in_view_fraction"].numpy()[0] < 0.95
    assert 0 < diagnostics["cost"].numpy()[0] < 0.01


def test_batch_equals_one_at_a_time(street_pair):
    # In float64 the batch elements must agree to round-off; in float32 reduction order differs
    # between batch sizes and ten Gauss-Newton steps amplify it a little.
    layer = DirectVisualOdometry(num_levels=5, num_iterations=10)   # float32, XLA
    as64 = lambda arrays: [a.astype(np.float64) for a in arrays]
    batched = solve_pose(*as64(street_pair.batch([0, 1, 2])))[0].numpy()
    batched32 = layer(*street_pair.batch([0, 1, 2])).numpy()
    for index in range(3):
        single = solve_pose(*as64(street_pair.batch([index])))[0].numpy()[0]
        np.testing.assert_allclose(batched[index], single, atol=1e-9)
        np.testing.assert_allclose(batched32[index], single, atol=2e-3)
        t_err, r_err = pose_errors(batched[index], street_pair.true_poses[index])
        assert t_err < 0.03 and r_err < 0.15, index


@pytest.mark.parametrize("case", ["textureless", "out_of_view", "zero_depth"])
def test_degenerate_inputs_stay_finite_and_fall_back(case):
    height, width = 32, 104
    intrinsics = np.repeat(np.array([[[60.0, 0, 51.5], [0, 60.0, 15.5], [0, 0, 1]]], np.float32), 2, 0)
    rng = np.random.default_rng(0)
    ref = rng.random((2, height, width, 3)).astype(np.float32)
    src = rng.random((2, height, width, 3)).astype(np.float32)
    inv_depth = np.full((2, height, width, 1), 0.2, np.float32)
    init = np.zeros((2, 6), np.float32)
    if case == "textureless":
        ref = np.full_like(ref, 0.5)
        src = np.full_like(src, 0.5)
        init[:, 2] = 0.3
    elif case == "out_of_view":
        init[:, 0] = 500.0
    else:
        inv_depth[:] = 0.0
    inv_var = tf.Variable(inv_depth)
    with tf.GradientTape() as tape:
        pose, diagnostics = solve_pose(ref, src, inv_var, intrinsics, init_pose=init, num_levels=3,
                                       num_iterations=4)
        total = tf.reduce_sum(pose)
    grad = tape.gradient(total, inv_var)
    assert np.all(np.isfinite(pose.numpy()))
    assert grad is None or np.all(np.isfinite(grad.numpy()))
    if case in ("textureless", "out_of_view"):
        np.testing.assert_array_equal(pose.numpy(), init)
        assert np.all(diagnostics["fallback"].numpy())
    if case == "out_of_view":
        np.testing.assert_array_equal(diagnostics["in_view_fraction"].numpy(), 0.0)
        assert np.all(np.isinf(diagnostics["cost"].numpy()))


def test_a_per_level_iteration_budget_runs_each_level_its_own_count(street_pair):
    # tolerance 0: every element runs each level's full budget, so the steps tried add up to the
    # budget's first num_levels counts (finest first); a list of equal counts is the plain count.
    inputs = [tf.constant(x) for x in street_pair.batch([0, 1])]
    _, info = solve_pose(*inputs, num_levels=3, num_iterations=[1, 2, 4, 99], tolerance=0.0)
    np.testing.assert_array_equal(info["iterations"].numpy(), [7, 7])
    same = [solve_pose(*inputs, num_levels=3, num_iterations=n)[0].numpy() for n in (3, [3, 3, 3])]
    np.testing.assert_array_equal(same[0], same[1])
    with pytest.raises(ValueError, match="finest first"):
        solve_pose(*inputs, num_levels=3, num_iterations=[5, 5])
    with pytest.raises(ValueError, match=">= 0"):
        DirectVisualOdometry(num_levels=2, num_iterations=[3, -1])


def test_implicit_gradient_equals_the_unrolled_one_at_convergence(street_pair):
    # Started near the solution with many iterations, the solve converges and back-propagating
    # through every iteration must agree with the implicit-function-theorem gradient.
    ref, src, inv_depth, intrinsics = street_pair.batch([0, 1, 2])
    init = (np.asarray(street_pair.true_poses) * 0.9).astype(np.float32)
    weights = tf.constant([[1.0, -2.0, 3.0, 10.0, -20.0, 30.0]])
    grads = {}
    for gradient, jit in (("unrolled", False), ("implicit", True), ("implicit", False)):
        layer = DirectVisualOdometry(num_levels=2, num_iterations=20, gradient=gradient, jit_compile=jit)
        inv = tf.Variable(inv_depth)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(ref, src, inv, intrinsics, init_pose=init) * weights)
        grads[gradient, jit] = tape.gradient(loss, inv).numpy()
    implicit = grads["implicit", True]
    # XLA and the plain graph round differently; a few pixels near a switch of the robust weights
    # (measured: 13 of 39936) may differ by a few per cent of their own gradient.
    far = np.abs(grads["implicit", False] - implicit) > 1e-3 * np.abs(implicit).max()
    assert far.mean() < 1e-3, far.sum()
    assert np.linalg.norm(grads["implicit", False] - implicit) < 1e-2 * np.linalg.norm(implicit)
    cosines = [_cosine(grads["unrolled", False][i], implicit[i]) for i in range(3)]
    assert min(cosines) > 0.95, cosines
    # Norms within 15 % (measured with the occlusion test: 1.00, 1.12, 0.99; the finite-difference
    # test below is the exact reference of the implicit one).
    norms = [np.linalg.norm(implicit[i]) / np.linalg.norm(grads["unrolled", False][i]) for i in range(3)]
    np.testing.assert_allclose(norms, 1.0, atol=0.15)


def test_implicit_gradient_matches_finite_differences_of_the_converged_solve(street_pair):
    # Directional derivatives of the converged float64 solve (central differences) along a smooth
    # perturbation of the inverse depth.  The solve is only piecewise smooth (bilinear sampling,
    # best-iterate selection), so the tolerance is that of the unrolled gradient's own agreement.
    from ddvo_tf.core.ddvo_solver import implicit_vjp
    weights = tf.constant([[1.0, -2.0, 3.0, 10.0, -20.0, 30.0]], tf.float64)
    rng = np.random.default_rng(0)
    for index in range(3):
        ref, src, inv_depth, intrinsics = street_pair.batch([index])
        r, s, d, k = (tf.constant(x, tf.float64) for x in (ref, src, inv_depth, intrinsics))
        init = tf.constant(np.asarray(street_pair.true_poses[index:index + 1]) * 0.9, tf.float64)
        # Without the occlusion test: its flags are piecewise constant in the depth, and one flag
        # that switches between d - h and d + h moves the pose by ~1/N, which central differences
        # divide by 2h.  (The implicit gradient with it is compared with the unrolled one above.)
        solve = tf.function(lambda depth: solve_pose(r, s, depth, k, init_pose=init, num_levels=2,
                                                     num_iterations=60, occlusion=False))
        pose, info = solve(d)
        gradient = implicit_vjp(r, s, d, k, pose, weights, occlusion=False).numpy()
        direction = tf.image.resize(rng.normal(size=(1, 8, 26, 1)), d.shape[1:3]).numpy() * d.numpy() * 0.5
        h = 1e-4
        numerical = float(tf.reduce_sum((solve(d + h * direction)[0] - solve(d - h * direction)[0]) * weights)) / (2 * h)
        assert abs(np.sum(gradient * direction) - numerical) < 0.1 * abs(numerical) + 0.03, (index, numerical)


def test_motorcycle_real_pair_beats_the_authors_directvo():
    # Middlebury 2014 Motorcycle (real photographs, ground-truth disparity), 5 levels from the
    # identity.  The authors' DirectVO on these inputs: 1.09 % / 0.017 deg (736x496) and
    # 2.17 % / 0.076 deg (184x124).  The default (Student-t, gain, bicubic, occlusion test,
    # re-weighted Hessian) must be at most 0.6x its translation error (issue 14) with no larger
    # rotation error; the paper's objective (L2, raw intensities, bilinear, authors' Hessian) is not.
    from bench import ddvo_cases
    authors = {1: (0.0109, 0.017), 4: (0.0217, 0.076)}
    for factor, (authors_t, authors_r) in authors.items():
        case = ddvo_cases.motorcycle(factor)
        inputs = [x[None] for x in (case.ref, case.src, case.inv_depth, case.intrinsics)]
        errors = {}
        for name, options in (("default", {}),
                              ("paper", dict(robust="none", photometric="none", interpolation="bilinear",
                                             occlusion=False, weight_hessian=False))):
            pose = DirectVisualOdometry(num_levels=5, **options)(*inputs).numpy().astype(np.float64)
            errors[name] = [e[0] for e in ddvo_cases.pose_errors(pose, case.pose[None])]
        t_err, r_err = errors["default"]
        assert t_err <= 0.6 * authors_t and r_err <= authors_r, (factor, errors)
        assert errors["paper"][0] > 0.6 * authors_t, (factor, errors)


def test_hybrid_refinement_converges_from_a_posecnn_like_start(street_pair):
    # hybrid's setting: start 0.5 deg and ~30 % translation off (x1.3 + 5 cm), 10 iterations per
    # level, the default 3 levels; every pair must end below 2 % translation error.
    from bench import ddvo_cases
    from ddvo_tf.learning.config import HYBRID_DDVO_LEVELS
    ref, src, inv_depth, intrinsics = street_pair.batch([0, 1, 2])
    true = np.asarray(street_pair.true_poses)
    start = ddvo_cases.perturb(true)
    assert np.min(ddvo_cases.pose_errors(start, true)[0]) > 0.2
    layer = DirectVisualOdometry(num_levels=HYBRID_DDVO_LEVELS, num_iterations=10)
    pose, info = layer.solve(ref, src, inv_depth, intrinsics, tf.constant(start, tf.float32))
    t_err, r_err = ddvo_cases.pose_errors(pose.numpy().astype(np.float64), true)
    assert np.all(t_err < 0.02) and np.all(r_err < 0.1), (t_err, r_err)
    assert np.all(info["iterations"].numpy() <= 10 * HYBRID_DDVO_LEVELS)


def test_converged_elements_stop_early_and_report_their_fixed_point(street_pair):
    # Started at the truth, an element converges within a few iterations of each level while a
    # far one in the same batch keeps iterating; the reported fixed-point residual is tiny.
    ref, src, inv_depth, intrinsics = street_pair.batch([0, 1])
    true = np.asarray(street_pair.true_poses[:2])
    start = np.stack([true[0], np.zeros(6)]).astype(np.float32)
    layer = DirectVisualOdometry(num_levels=3, num_iterations=10)
    pose, info = layer.solve(ref, src, inv_depth, intrinsics, tf.constant(start))
    iterations = info["iterations"].numpy()
    assert iterations[0] < iterations[1] and iterations[0] <= 15, iterations
    assert np.all(info["fixed_point_residual"].numpy() < 0.05), info["fixed_point_residual"]
    assert np.all(info["update_size"].numpy() >= 0)
    # Zeros would pass the bounds above: one step from the identity is far from its fixed point,
    # and both diagnostics must say so.
    _, rough = DirectVisualOdometry(num_levels=1, num_iterations=1).solve(ref, src, inv_depth, intrinsics)
    assert np.all(rough["fixed_point_residual"].numpy() > 0.05), rough["fixed_point_residual"]
    assert np.all(rough["update_size"].numpy() > 0.05), rough["update_size"]
    from bench import ddvo_cases
    t_err, _ = ddvo_cases.pose_errors(pose.numpy().astype(np.float64), true)
    assert np.all(t_err < 0.03), t_err


@pytest.mark.parametrize("robust", ["student_t", "none"])
def test_the_carried_cost_is_the_cost_of_the_returned_pose(street_pair, robust):
    # The solve carries the best iterate's cost through its loop instead of re-evaluating it every
    # iteration; re-evaluated from scratch at the pose it returns, at its final sigma, it must agree.
    from ddvo_tf.core.ddvo_level import Evaluation, Level
    from ddvo_tf.core.ddvo_solver import _solve_level
    ref, src, inv_depth, intrinsics = (a.astype(np.float64) for a in street_pair.batch([0, 1, 2]))
    start = street_pair.true_poses[:3] + np.array([0.06, -0.04, 0.12, 0.006, -0.008, 0.004])
    level = Level(tf.constant(ref), tf.constant(src), tf.constant(inv_depth), tf.constant(intrinsics),
                   False, robust, "gain", "bicubic", True)
    result = _solve_level(level, geometry.so3_exp(tf.constant(start[:, 3:])), tf.constant(start[:, :3]),
                          num_iterations=10, damping=1e-4, tolerance=1e-3)
    again = level.evaluate(result["rotation"], result["translation"])
    np.testing.assert_allclose(result["cost"].numpy(), level.cost(again, result["scale"]).numpy(), rtol=1e-9)
    np.testing.assert_allclose(result["cost"].numpy(),
                               level.cost(Evaluation(result["evaluation"].residual, result["evaluation"].mask),
                                          result["scale"]).numpy(), rtol=1e-12)
    assert np.all(result["accepted"].numpy()) and np.all(result["iterations"].numpy() >= 2)


def test_the_default_budget_brings_a_large_motion_into_its_basin():
    # 1.4 m forward with 2.9 deg of yaw and a car 5 m ahead (the accuracy bench's third street
    # pair, 128x416): with 10 iterations at the coarsest level every objective ended in the
    # yaw-for-sideways-translation minimum (93 % translation error); the default's 30 there reach
    # the basin (bench/results/ddvo_objective.md, sixth round).
    from bench import ddvo_cases
    case = ddvo_cases.street_pairs(count=3)[2]
    assert case.pose[2] < -1.35 and np.rad2deg(abs(case.pose[4])) > 2.8
    inputs = [x[None] for x in (case.ref, case.src, case.inv_depth, case.intrinsics)]
    pose = DirectVisualOdometry(num_levels=5)(*inputs).numpy().astype(np.float64)
    t_err, r_err = ddvo_cases.pose_errors(pose, case.pose[None])
    assert t_err[0] < 0.01 and r_err[0] < 0.05, (t_err, r_err)
