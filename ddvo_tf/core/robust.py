"""Robust statistics of DDVO's photometric residuals: the Huber and Student-t penalties, their
IRLS weights, and a sort-free weighted median for the residual scale.

Residuals are rows ``[B, N]`` (pixels x colour channels) with a scale ``sigma [B]`` per batch
element; each kind is normalised so ``rho(r) = r^2 + O(r^4)``, the paper's L2 near zero.
"""
from __future__ import annotations

import tensorflow as tf

ROBUST_KINDS = ("none", "huber", "student_t")
# Huber threshold and Student-t degrees of freedom in units of sigma: the 95 %-efficiency Huber
# constant, and Kerl et al. (2013)'s nu = 5 for photometric residuals.
HUBER_THRESHOLD = 1.345
STUDENT_T_DOF = 5.0
# The weighted median by bisection: 2^-18 of the largest residual is far below any sigma of use.
_MEDIAN_BISECTIONS = 18


def weighted_median(values: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """Per-row weighted median of non-negative ``values [B, N]`` with ``weights [B, N] >= 0``:
    the smallest ``m`` (to 2^-18 of the row's maximum) with ``sum(w [v <= m]) >= sum(w) / 2``.

    Bisection on the value, a fixed number of masked reductions: no sort of 10^5 residuals per
    iteration, static shapes, and rows stay independent.  No gradient (a statistic, held fixed).
    """
    values, weights = tf.stop_gradient(values), tf.stop_gradient(weights)
    half = 0.5 * tf.reduce_sum(weights, axis=1)
    high = tf.reduce_max(tf.where(weights > 0, values, tf.zeros_like(values)), axis=1)
    low = tf.zeros_like(high)

    def body(i, low, high):
        mid = 0.5 * (low + high)
        below = tf.reduce_sum(tf.where(values <= mid[:, None], weights, tf.zeros_like(weights)), axis=1)
        enough = below >= half
        return i + 1, tf.where(enough, low, mid), tf.where(enough, mid, high)

    _, _, high = tf.while_loop(lambda i, *_: i < _MEDIAN_BISECTIONS, body, (tf.constant(0), low, high),
                               maximum_iterations=_MEDIAN_BISECTIONS)
    return high


def robust_weights(residual: tf.Tensor, scale: tf.Tensor, robust: str) -> tf.Tensor:
    """IRLS weights ``w(r) = rho'(r) / (2 r)`` of ``residual [B, N]`` at ``scale [B]``."""
    if robust == "none":
        return tf.ones_like(residual)
    x_sq = tf.square(residual / scale[:, None])
    if robust == "huber":
        # k / |x| beyond the threshold; written with rsqrt of a clamped square so the gradient
        # is finite everywhere.
        return tf.minimum(1.0, HUBER_THRESHOLD * tf.math.rsqrt(tf.maximum(x_sq, HUBER_THRESHOLD ** 2)))
    # Kerl et al.'s (nu + 1) / (nu + x^2), divided by its value at 0 so inliers keep weight 1
    # (the fixed Hessian J^T T J assumes unit weights).
    return STUDENT_T_DOF / (STUDENT_T_DOF + x_sq)


def robust_penalty(residual: tf.Tensor, scale: tf.Tensor, robust: str) -> tf.Tensor:
    """``rho(r)`` of ``residual [B, N]``, normalised so ``rho(r) = r^2 + O(r^4)`` for every kind."""
    if robust == "none":
        return tf.square(residual)
    sigma = scale[:, None]
    x_sq = tf.square(residual / sigma)
    if robust == "huber":
        k = HUBER_THRESHOLD
        x_abs = tf.sqrt(tf.maximum(x_sq, k * k))
        return tf.square(sigma) * tf.where(x_sq <= k * k, x_sq, 2.0 * k * x_abs - k * k)
    return tf.square(sigma) * STUDENT_T_DOF * tf.math.log1p(x_sq / STUDENT_T_DOF)
