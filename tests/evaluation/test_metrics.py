"""metrics.py against independent float64 formulas written out here, on random data."""
import numpy as np
import pytest

from ddvo_tf.evaluation import metrics


def test_depth_errors_match_the_definitions():
    rng = np.random.default_rng(0)
    t = rng.uniform(1, 80, 1000)
    p = t * np.exp(rng.normal(0, 0.3, 1000))
    e = metrics.depth_errors(t, p)
    assert e["abs_rel"] == pytest.approx(sum(abs(a - b) / a for a, b in zip(t, p)) / 1000, rel=1e-12)
    assert e["sq_rel"] == pytest.approx(sum((a - b) ** 2 / a for a, b in zip(t, p)) / 1000, rel=1e-12)
    assert e["rmse"] == pytest.approx(np.sqrt(sum((a - b) ** 2 for a, b in zip(t, p)) / 1000), rel=1e-12)
    assert e["rmse_log"] == pytest.approx(np.sqrt(sum((np.log(a) - np.log(b)) ** 2 for a, b in zip(t, p)) / 1000), rel=1e-12)
    for key, threshold in (("a1", 1.25), ("a2", 1.25 ** 2), ("a3", 1.25 ** 3)):
        assert e[key] == pytest.approx(sum(max(a / b, b / a) < threshold for a, b in zip(t, p)) / 1000, abs=1e-12)
    assert metrics.log10_error(t, p) == pytest.approx(np.mean([abs(np.log10(a) - np.log10(b)) for a, b in zip(t, p)]))


def test_garg_crop_on_the_kitti_size():
    mask = metrics.garg_crop_mask(375, 1242)
    rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    # int(0.40810811 * 375) = 153, int(0.99189189 * 375) = 371, int(0.03594771 * 1242) = 44, int(0.96405229 * 1242) = 1197
    assert (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) == (153, 371, 44, 1197)
    assert mask.sum() == (371 - 153) * (1197 - 44)


def test_median_scaling_valid_pixels_and_cap():
    rng = np.random.default_rng(1)
    truth = rng.uniform(2, 100, (20, 30))
    truth[0, :5] = 0.0                                   # no measurement
    prediction = truth * 0.37 * np.exp(rng.normal(0, 0.05, truth.shape))
    mask = np.ones_like(truth, bool)
    mask[-1] = False
    uncapped = metrics.median_scaled(truth, prediction, mask)
    valid = mask & (truth > 1e-3)
    ratio = np.median(truth[valid]) / np.median(prediction[valid])
    assert uncapped.ratio == pytest.approx(ratio, rel=1e-12)
    np.testing.assert_allclose(uncapped.prediction, prediction[valid] * ratio, rtol=1e-12)
    capped = metrics.median_scaled(truth, prediction, mask, max_depth=80.0)
    valid80 = valid & (truth < 80.0)
    assert capped.truth.size == valid80.sum()
    ratio80 = np.median(truth[valid80]) / np.median(prediction[valid80])
    np.testing.assert_allclose(capped.prediction, np.clip(prediction[valid80] * ratio80, 1e-3, 80.0), rtol=1e-12)
    with pytest.raises(ValueError, match="no valid"):
        metrics.median_scaled(np.zeros((4, 4)), np.ones((4, 4)), np.ones((4, 4), bool))


def test_trajectory_error_hand_computed_and_scale_invariant():
    truth = np.array([[0.0, 0, 0], [0, 0, 1], [0, 0, 2], [0.1, 0, 3], [0.2, 0, 4]])
    # A copy at half scale with a different origin is aligned exactly.
    assert metrics.trajectory_error(truth, truth * 0.5 + 3.0) == pytest.approx(0.0, abs=1e-12)
    # Hand-computed: prediction offset along x by 1 except the first point.
    predicted = truth + np.array([[0, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0]])
    scale = np.sum(truth * predicted) / np.sum(predicted ** 2)
    expected = np.sqrt(np.sum((predicted * scale - truth) ** 2)) / 5
    assert metrics.trajectory_error(truth, predicted) == pytest.approx(expected, rel=1e-12)
    rng = np.random.default_rng(2)
    noisy = truth * 2.0 + rng.normal(0, 0.01, truth.shape)
    assert metrics.trajectory_error(truth, noisy) < 0.01
