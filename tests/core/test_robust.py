"""Robust penalties of DDVO (ddvo_tf/core/robust.py): weights are the penalty's derivative, the
weighted median is numpy's."""
import numpy as np
import pytest
import tensorflow as tf



def test_weighted_median_matches_numpy():
    from ddvo_tf.core.robust import weighted_median
    rng = np.random.default_rng(1)
    values = rng.exponential(0.05, (3, 500))
    weights = rng.uniform(0, 1, (3, 500)) * (rng.uniform(size=(3, 500)) > 0.3)
    got = weighted_median(tf.constant(values), tf.constant(weights)).numpy()
    for row in range(3):
        order = np.argsort(values[row])
        cumulative = np.cumsum(weights[row][order])
        truth = values[row][order][np.searchsorted(cumulative, 0.5 * cumulative[-1])]
        # Bisection to 2^-18 of the row's largest value.
        assert abs(got[row] - truth) <= values[row].max() * 2.0 ** -17, (got[row], truth)


@pytest.mark.parametrize("robust", ["none", "huber", "student_t"])
def test_robust_weights_are_the_derivative_of_the_penalty(robust):
    # IRLS weights w(r) = rho'(r) / (2 r), checked against central differences of rho in float64;
    # every rho behaves as r^2 near 0.
    from ddvo_tf.core.robust import robust_penalty, robust_weights
    residual = np.linspace(-0.5, 0.5, 41)[None] + 1e-3
    scale = tf.constant([0.07], tf.float64)
    h = 1e-6
    rho = lambda r: robust_penalty(tf.constant(r), scale, robust).numpy()
    derivative = (rho(residual + h) - rho(residual - h)) / (2 * h)
    weights = robust_weights(tf.constant(residual), scale, robust).numpy()
    np.testing.assert_allclose(weights, derivative / (2 * residual), rtol=1e-6, atol=1e-8)
    tiny = np.array([[1e-4]])
    np.testing.assert_allclose(rho(tiny), tiny ** 2, rtol=1e-3)
    if robust != "none":
        assert weights[0, 0] < 0.2 and weights[0, 20] == pytest.approx(1.0, abs=1e-3)
