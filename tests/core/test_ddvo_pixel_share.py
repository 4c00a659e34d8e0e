"""DDVO on a share of the finest level's pixels (``pixel_share``, ddvo_tf/core/ddvo_level.py): which
pixels are kept, that a level on them is the full level at those rows, and that the solve and its
implicit gradient still hold there (the step's derivative on them: test_ddvo_level.py)."""
import numpy as np
import pytest
import tensorflow as tf

from bench import ddvo_cases
from ddvo_tf.core import geometry
from ddvo_tf.core.ddvo_layer import DirectVisualOdometry
from ddvo_tf.core.ddvo_level import Level, image_gradients, textured_pixels
from ddvo_tf.core.ddvo_solver import implicit_vjp, solve_pose


@pytest.mark.parametrize("share, keep", [(0.5, 2), (0.25, 1)])
def test_textured_pixels_keeps_the_most_textured_of_every_2x2_block(share, keep):
    rng = np.random.default_rng(1)
    image = rng.uniform(size=(2, 9, 13, 3))            # odd sizes: the last row and column are left out
    picked = textured_pixels(tf.constant(image), share).numpy()
    grad_x, grad_y = (g.numpy() for g in image_gradients(tf.constant(image)))
    score = (grad_x ** 2 + grad_y ** 2).sum(-1)
    assert picked.shape == (2, 4 * 6 * keep)
    for b in range(2):
        expected = []
        for by in range(4):
            for bx in range(6):
                block = [(2 * by + dy) * 13 + 2 * bx + dx for dy in (0, 1) for dx in (0, 1)]
                expected += sorted(block, key=lambda i: -score[b].ravel()[i])[:keep]
        assert sorted(picked[b]) == sorted(expected)


def _levels(street_pair, photometric, occlusion, indices=(0, 1)):
    ref, src, inv_depth, intrinsics = (tf.constant(x, tf.float64) for x in street_pair.batch(list(indices)))
    make = lambda share: Level(ref, src, inv_depth, intrinsics, True, "student_t", photometric, "bicubic",
                               occlusion, share)
    return make(1.0), make(0.5)


def _pose(street_pair):
    pose = tf.constant(np.asarray(street_pair.true_poses[:2]) * 0.8 + [0.02, -0.01, 0.05, 0.004, -0.006, 0.003],
                       tf.float64)
    return geometry.so3_exp(pose[:, 3:]), pose[:, :3]


def test_a_level_on_half_the_pixels_is_the_full_level_at_their_rows(street_pair):
    # Without the gain (a mean over the pixels used) every row must be the full level's row.
    full, half = _levels(street_pair, "none", occlusion=True)
    rotation, translation = _pose(street_pair)
    for level in (full, half):
        level.fix_visibility(rotation, translation)
    rows = lambda t: tf.reshape(t, [2, -1, 3] + list(t.shape[2:])).numpy()           # [B, pixels, C, ...]
    picked = half.pixels.numpy()
    take = lambda t: np.stack([t[b, picked[b]] for b in range(2)])
    assert picked.shape == (2, 32 * 104 * 2)
    np.testing.assert_array_equal(half.visible_image.numpy(), full.visible_image.numpy())
    assert half.visible_image.numpy().min() == 0      # the test hides some points here
    ev_full, ev_half = full.evaluate(rotation, translation), half.evaluate(rotation, translation)
    assert 0.3 < ev_half.mask.numpy().mean() < 0.95
    np.testing.assert_allclose(rows(ev_half.residual), take(rows(ev_full.residual)), atol=1e-12)
    np.testing.assert_array_equal(rows(ev_half.mask), take(rows(ev_full.mask)))
    rows_of = lambda level: rows(tf.linalg.matrix_transpose(level.jacobian))          # [B, N, 6] -> ...
    np.testing.assert_allclose(rows_of(half), take(rows_of(full)), atol=1e-12)
    np.testing.assert_allclose(rows(half.texture), take(rows(full.texture)), atol=1e-12)
    # The kept half carries most of the information on the pose (the Gauss-Newton Hessian's trace).
    trace = lambda level: np.sum(np.square(level.jacobian.numpy()))
    assert trace(half) > 0.7 * trace(full), trace(half) / trace(full)


@pytest.fixture(scope="module")
def dense_solve(street_pair):
    """The all-pixels solve of the first three pairs, ``(pose, info)``."""
    return DirectVisualOdometry(num_levels=5, num_iterations=10).solve(*street_pair.batch([0, 1, 2]))


@pytest.mark.parametrize("share", [0.5, 0.25])
def test_the_solve_on_a_share_of_the_pixels_recovers_the_motions(street_pair, dense_solve, share):
    ref, src, inv_depth, intrinsics = street_pair.batch([0, 1, 2])
    true = np.asarray(street_pair.true_poses)
    layer = DirectVisualOdometry(num_levels=5, num_iterations=10, pixel_share=share)
    pose, info = layer.solve(ref, src, inv_depth, intrinsics)
    assert info["visible"].shape == inv_depth.shape
    t_err, r_err = ddvo_cases.pose_errors(pose.numpy().astype(np.float64), true)
    assert np.all(t_err < 0.02) and np.all(r_err < 0.1), (t_err, r_err)
    # Solved on the share, not on all pixels: the finest level's optimum moves (a solve that
    # ignored pixel_share would return the dense pose to round-off), and its cost is that of
    # other rows.
    dense_pose, dense_info = dense_solve
    assert np.all(np.abs(pose.numpy() - dense_pose.numpy()).max(axis=1) > 1e-5)
    assert np.all(info["cost"].numpy() != dense_info["cost"].numpy())


def test_the_implicit_gradient_on_half_the_pixels_matches_finite_differences(street_pair):
    # As the full-level test in test_ddvo_solver.py, on one pair: the gradient reaches the depth of
    # the kept pixels only, and it is that of the converged solve.
    weights = tf.constant([[1.0, -2.0, 3.0, 10.0, -20.0, 30.0]], tf.float64)
    r, s, d, k = (tf.constant(x, tf.float64) for x in street_pair.batch([0]))
    init = tf.constant(np.asarray(street_pair.true_poses[:1]) * 0.9, tf.float64)
    solve = tf.function(lambda depth: solve_pose(r, s, depth, k, init_pose=init, num_levels=2, num_iterations=60,
                                                 occlusion=False, pixel_share=0.5))
    pose, _ = solve(d)
    gradient = implicit_vjp(r, s, d, k, pose, weights, occlusion=False, pixel_share=0.5).numpy()
    kept = np.zeros(d.shape[1] * d.shape[2], bool)
    kept[textured_pixels(r, 0.5).numpy()[0]] = True
    assert np.all(gradient.ravel()[~kept] == 0) and np.mean(gradient.ravel()[kept] != 0) > 0.5
    rng = np.random.default_rng(0)
    direction = tf.image.resize(rng.normal(size=(1, 8, 26, 1)), d.shape[1:3]).numpy() * d.numpy() * 0.5
    h = 1e-4
    numerical = float(tf.reduce_sum((solve(d + h * direction)[0] - solve(d - h * direction)[0]) * weights)) / (2 * h)
    assert abs(np.sum(gradient * direction) - numerical) < 0.1 * abs(numerical) + 0.03, numerical


def test_a_pixel_share_that_is_not_offered_is_refused():
    with pytest.raises(ValueError, match="pixel_share must be one of"):
        DirectVisualOdometry(pixel_share=0.3)
