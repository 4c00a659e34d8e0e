"""losses.py against independent float64 numpy formulas, and the warps' sign conventions on a
rendered clip with known depth and motion."""
import numpy as np
import pytest
import tensorflow as tf

from ddvo_tf.learning import losses
from ddvo_tf.core import geometry
from pipelines import street_scene
from conftest import pose_vector


def _box3(x):
    """3x3 mean with reflect padding (numpy)."""
    p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    h, w = x.shape[1:3]
    return sum(p[:, i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0


def test_ssim_matches_numpy():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(2, 2, 9, 11, 3))
    mx, my = _box3(x), _box3(y)
    vx, vy, cxy = _box3(x * x) - mx ** 2, _box3(y * y) - my ** 2, _box3(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ssim = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    expected = np.clip((1 - ssim) / 2, 0, 1)
    np.testing.assert_allclose(losses.ssim_dissimilarity(tf.constant(x), tf.constant(y)), expected, atol=1e-10)
    assert float(tf.reduce_max(losses.ssim_dissimilarity(tf.constant(x), tf.constant(x)))) < 1e-6


def _numpy_smoothness(d, img, downsamples=3, used=2):
    def pool(a):
        h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
        return a[:h:2, :w:2] / 4 + a[1:h:2, :w:2] / 4 + a[:h:2, 1:w:2] / 4 + a[1:h:2, 1:w:2] / 4

    def lap_weight(a):
        p = np.pad(a, 1, mode="symmetric")
        h, w = a.shape
        lap = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * a
        return np.exp(-np.abs(lap))

    grey = img.mean(-1)
    total = 0.0
    for level in range(1, downsamples + 1):
        d, grey = pool(d), pool(grey)
        if level > downsamples - used:
            w = lap_weight(grey)
            dxx = d[:, 2:] - 2 * d[:, 1:-1] + d[:, :-2]
            dyy = d[2:] - 2 * d[1:-1] + d[:-2]
            dxy = d[1:, 1:] - d[1:, :-1] - d[:-1, 1:] + d[:-1, :-1]
            total += (np.mean(w[:, 1:-1] * np.abs(dxx)) + np.mean(w[1:-1] * np.abs(dyy))
                      + np.mean(w[:-1, :-1] * np.abs(dxy)))
    return total


def test_smoothness_matches_numpy_and_ignores_the_finest_levels():
    rng = np.random.default_rng(1)
    d = rng.uniform(0.1, 2.0, (2, 32, 48, 1))
    img = rng.uniform(size=(2, 32, 48, 3))
    ours = losses.smoothness_loss(tf.constant(d), tf.constant(img)).numpy()
    for b in range(2):
        np.testing.assert_allclose(ours[b], _numpy_smoothness(d[b, ..., 0], img[b]), rtol=1e-10)
    # A ramp is second-order flat: no cost.  Scaling inverse depth scales the cost (Section 2.1).
    ramp = np.tile(np.linspace(0.1, 1.0, 48)[None, None, :, None], (1, 32, 1, 1))
    assert float(losses.smoothness_loss(tf.constant(ramp), tf.constant(img[:1]))[0]) < 1e-12
    half = losses.smoothness_loss(tf.constant(d * 0.5), tf.constant(img)).numpy()
    np.testing.assert_allclose(half, ours * 0.5, rtol=1e-10)


def test_normalization_is_per_clip_and_keeps_relative_scale():
    rng = np.random.default_rng(2)
    d = rng.uniform(0.1, 5.0, (3, 3, 4, 5, 1))
    out = losses.normalize_inverse_depth(tf.constant(d), 1.0).numpy()
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3, 4)), 1.0, rtol=1e-12)
    np.testing.assert_allclose(out[0, 1] / out[0, 0], d[0, 1] / d[0, 0], rtol=1e-12)
    scaled = losses.normalize_inverse_depth(tf.constant(d * 7.0), 10.0).numpy()
    np.testing.assert_allclose(scaled, out * 10.0, rtol=1e-12)


def _numpy_cost(d, grey):
    """Eq. 16 on one map (numpy): Laplacian weight of the grey image, three second derivatives."""
    p = np.pad(grey, 1, mode="symmetric")
    lap = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * grey
    w = np.exp(-np.abs(lap))
    dxx = d[:, 2:] - 2 * d[:, 1:-1] + d[:, :-2]
    dyy = d[2:] - 2 * d[1:-1] + d[:-2]
    dxy = d[1:, 1:] - d[1:, :-1] - d[:-1, 1:] + d[:-1, :-1]
    return np.mean(w[:, 1:-1] * np.abs(dxx)) + np.mean(w[1:-1] * np.abs(dyy)) + np.mean(w[:-1, :-1] * np.abs(dxy))


def _pool(a):
    return (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) / 4


def test_prior_loss_follows_the_authors_maps():
    """Levels 2 and 3: the finest map pooled there and the network's own output there, / 2^level."""
    rng = np.random.default_rng(4)
    sizes = [(32, 48), (16, 24), (8, 12), (4, 6)]
    depths = [rng.uniform(0.1, 2.0, (2, h, w, 1)) for h, w in sizes]
    images = [rng.uniform(size=(2, h, w, 3)) for h, w in sizes]
    ours = losses.prior_loss([tf.constant(d) for d in depths], [tf.constant(i) for i in images]).numpy()
    for b in range(2):
        finest, expected = depths[0][b, ..., 0], 0.0
        for level in (1, 2, 3):
            finest = _pool(finest)
            if level >= 2:
                grey = images[level][b].mean(-1)
                expected += (_numpy_cost(finest, grey) + _numpy_cost(depths[level][b, ..., 0], grey)) / 2 ** level
        np.testing.assert_allclose(ours[b], expected, rtol=1e-10)
    halvings = losses.prior_loss([tf.constant(d) for d in depths], [tf.constant(i) for i in images], "halvings")
    expected = sum(losses.smoothness_loss(tf.constant(d), tf.constant(i)) for d, i in zip(depths, images))
    np.testing.assert_allclose(halvings, expected, rtol=1e-12)


def test_normalization_scopes():
    rng = np.random.default_rng(5)
    scales = [rng.uniform(0.1, 5.0, (2, 3, 8 // 2 ** s, 12 // 2 ** s, 1)) for s in range(4)]
    finest = losses.normalize_inverse_depths([tf.constant(d) for d in scales], 10.0, "finest")
    for d, out in zip(scales, finest):    # every scale by the finest scale's clip mean
        np.testing.assert_allclose(out, d / scales[0].mean(axis=(1, 2, 3, 4), keepdims=True) * 10.0, rtol=1e-12)
    own = losses.normalize_inverse_depths([tf.constant(d) for d in scales], 10.0, "per_scale")
    for d, out in zip(scales, own):
        np.testing.assert_allclose(out, d / d.mean(axis=(1, 2, 3, 4), keepdims=True) * 10.0, rtol=1e-12)


def test_scale_anchor_pins_the_raw_clip_mean_and_nothing_else():
    rng = np.random.default_rng(6)
    d = rng.uniform(0.1, 5.0, (2, 3, 4, 5, 1))
    mean = d.mean(axis=(1, 2, 3, 4))
    np.testing.assert_allclose(losses.scale_anchor_loss(tf.constant(d), 1.0), np.log(mean) ** 2, rtol=1e-12)
    at_anchor = d / mean[:, None, None, None, None] * 2.0
    np.testing.assert_allclose(losses.scale_anchor_loss(tf.constant(at_anchor), 2.0), 0.0, atol=1e-12)
    # only the clip mean matters: any reshaping with the same mean costs the same
    shuffled = rng.permutation(d.reshape(2, -1), axis=1).reshape(d.shape)
    np.testing.assert_allclose(losses.scale_anchor_loss(tf.constant(shuffled), 1.0),
                               losses.scale_anchor_loss(tf.constant(d), 1.0), rtol=1e-12)


def test_masked_mean_ignores_masked_pixels():
    error = np.ones((2, 4, 4, 3))
    error[0, 0, 0] = 100.0
    mask = np.ones((2, 4, 4, 1))
    mask[0, 0, 0] = 0.0
    np.testing.assert_allclose(losses.masked_mean(tf.constant(error), tf.constant(mask)), [1.0, 1.0])


@pytest.fixture(scope="module")
def rendered_clip():
    """Three views 1 m apart along a gentle turn, with exact depth for each."""
    height, width = 48, 160
    K = street_scene.kitti_like_intrinsics(height, width)
    scene = street_scene.default_street(5, look="waves")   # texture everywhere (see conftest.RenderedPair)
    world = [street_scene.camera_pose([0.05 * i, 0.0, 3.0 + 1.0 * i], yaw=0.02 * i) for i in range(3)]
    views = [street_scene.render(scene, pose, K, height, width, supersample=3) for pose in world]
    return K, world, views


def test_true_depth_and_poses_explain_all_four_warps(rendered_clip):
    K, world, views = rendered_clip
    images = [v[0] for v in views]
    inv_depth = [1.0 / v[1] for v in views]
    target_to = [pose_vector(street_scene.relative_pose(world[1], world[j])) for j in (0, 2)]
    poses = tf.constant(np.array([target_to]), tf.float64)                   # [1, 2, 6]
    inverse = geometry.invert_pose(poses)
    pairs = [(1, 0, poses[:, 0]), (1, 2, poses[:, 1]), (0, 1, inverse[:, 0]), (2, 1, inverse[:, 1])]
    Kt = tf.constant(K[None])

    def loss(translation_scale):
        total = []
        for ref, src, pose in pairs:
            p = tf.concat([pose[:, :3] * translation_scale, pose[:, 3:] * float(translation_scale > 0)], -1)
            warped, mask = losses.warp(tf.constant(images[src][None], tf.float64),
                                       tf.constant(inv_depth[ref][None, ..., None], tf.float64), p, Kt)
            total.append(float(losses.photometric_loss(tf.constant(images[ref][None], tf.float64), warped,
                                                       mask, use_ssim=False)[0]))
        return np.array(total)

    # The textures alias at 48x160, so even the truth leaves a residual; but each of the four warps
    # (two forward, two through the inverse pose) must fit clearly better with the true motion
    # than with the identity or with the translation 20 % too short or too long.
    true = loss(1.0)
    assert np.all(true < 0.4 * loss(0.0)), true
    assert np.all(true < 0.6 * loss(0.8)) and np.all(true < 0.6 * loss(1.2)), true
