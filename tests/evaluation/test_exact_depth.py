"""Scores against exact depth (ddvo_tf.evaluation.exact_depth): the image-specific correlation tells a
prediction that sees the scene from one fixed layout, which the per-image scores cannot."""
import numpy as np
import pytest

from ddvo_tf.evaluation import exact_depth

HEIGHT, WIDTH = 64, 208


def _street_frames(count: int, seed: int = 0) -> list[np.ndarray]:
    """Depth maps of one kind of street: a shared layout (road near at the bottom, far in the
    middle) with a box at a different place in each frame, in front of it."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    layout = 4.0 + 40.0 * np.exp(-((cols - WIDTH / 2) / 40.0) ** 2) * (1.0 - rows / HEIGHT)
    frames = []
    for _ in range(count):
        depth = layout.copy()
        top, left = rng.integers(HEIGHT // 3, HEIGHT - 12), rng.integers(0, WIDTH - 40)
        depth[top:top + 12, left:left + 40] = rng.uniform(2.5, 4.0)
        frames.append(depth)
    return frames


def test_image_specific_correlation_separates_seeing_from_a_fixed_layout():
    truths = _street_frames(8)
    layout = np.mean(truths, axis=0)
    # Per image, the fixed layout correlates well with the truth; only the frame-to-frame part tells.
    assert np.mean([exact_depth.log_depth_correlation(t, layout) for t in truths]) > 0.8
    assert exact_depth.image_specific_correlation(truths, [layout] * len(truths)) == 0.0
    assert exact_depth.image_specific_correlation(truths, truths) == pytest.approx(1.0)
    # Monocular depth has no scale: a different scale per frame changes nothing.
    scaled = [t * s for t, s in zip(truths, np.linspace(0.3, 3.0, len(truths)))]
    assert exact_depth.image_specific_correlation(truths, scaled) == pytest.approx(1.0)
    # Half the box's depth change seen: still clearly positive, not 1 (log depth is not linear).
    half = [np.sqrt(t * layout) for t in truths]
    assert 0.9 < exact_depth.image_specific_correlation(truths, half) <= 1.0
    noise = np.random.default_rng(1).uniform(0.8, 1.25, (len(truths), HEIGHT, WIDTH))
    assert abs(exact_depth.image_specific_correlation(truths, list(layout * noise))) < 0.1


def test_image_specific_correlation_needs_two_frames_of_one_size():
    truths = _street_frames(2)
    assert np.isnan(exact_depth.image_specific_correlation(truths[:1], truths[:1]))
    assert np.isnan(exact_depth.image_specific_correlation(truths, [truths[0], truths[1][:, :-8]]))


def test_score_reports_the_image_specific_correlation():
    truths = _street_frames(4)
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    exact = exact_depth.score([(rgb, t, (1.0 / t).astype(np.float32)) for t in truths])
    layout = 1.0 / np.mean(truths, axis=0)
    fixed = exact_depth.score([(rgb, t, layout.astype(np.float32)) for t in truths])
    constant = exact_depth.score([(rgb, t, np.ones_like(t, np.float32)) for t in truths])
    assert exact["image_corr"] == pytest.approx(1.0, abs=1e-3) and exact["abs_rel"] < 1e-3
    assert abs(fixed["image_corr"]) < 1e-3 < fixed["abs_rel"]
    assert constant["image_corr"] == 0.0


def test_errors_by_depth_put_each_error_in_the_bin_of_its_true_depth():
    """A prediction exact everywhere but 20 % too far beyond 40 m: after median scaling (the median
    pixel is near) only the far bin has errors, and they are the 20 %; pixel shares add up to 1."""
    height, width = 64, 208
    truth = np.tile(np.geomspace(2.0, 79.0, width), (height, 1))      # median pixel ~13 m
    depth = np.where(truth >= 40.0, 1.2 * truth, truth)
    rows = exact_depth.errors_by_depth([(None, truth, 1.0 / depth)], edges=(0.0, 20.0, 40.0, 80.0))
    assert [r["from_m"] for r in rows] == [0.0, 20.0, 40.0]
    assert abs(sum(r["pixels"] for r in rows) - 1.0) < 1e-9
    near, middle, far = rows
    assert near["abs_rel"] < 0.02 and middle["abs_rel"] < 0.02
    np.testing.assert_allclose(far["log_ratio"], np.log(1.2), atol=0.03)
    np.testing.assert_allclose(far["abs_rel"], 0.2, atol=0.03)
    empty = exact_depth.errors_by_depth([(None, truth, 1.0 / depth)], edges=(0.0, 1.0, 80.0))[0]
    assert empty["pixels"] == 0.0 and np.isnan(empty["rmse"])
