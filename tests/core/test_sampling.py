"""bilinear_sample and bicubic_sample against float64 numpy references; gradients by finite
differences."""
import numpy as np
import pytest
import tensorflow as tf

from ddvo_tf.core.sampling import bicubic_sample, bilinear_sample


def reference_sample(image, coords):
    """Loop-free numpy bilinear sampling with tfa.image.resampler semantics (zero outside)."""
    batch, height, width, _ = image.shape
    x, y = coords[..., 0], coords[..., 1]
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    out = np.zeros(coords.shape[:3] + (image.shape[-1],))
    b = np.arange(batch)[:, None, None]
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            weight = (1 - np.abs(x - xi)) * (1 - np.abs(y - yi))
            valid = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
            values = image[b, np.clip(yi, 0, height - 1), np.clip(xi, 0, width - 1)]
            out += np.where(valid, weight, 0.0)[..., None] * values
    mask = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    return out, mask[..., None].astype(float)


def test_matches_numpy_reference_inside_and_outside():
    rng = np.random.default_rng(0)
    image = rng.random((3, 9, 13, 2))
    coords = np.stack([rng.uniform(-3, 15, (3, 7, 11)), rng.uniform(-3, 11, (3, 7, 11))], -1)
    values, mask = bilinear_sample(tf.constant(image), tf.constant(coords))
    expected_values, expected_mask = reference_sample(image, coords)
    np.testing.assert_allclose(values.numpy(), expected_values, atol=1e-12)
    np.testing.assert_array_equal(mask.numpy(), expected_mask)


def test_integer_coordinates_reproduce_pixels_and_borders():
    rng = np.random.default_rng(1)
    image = rng.random((1, 5, 6, 3)).astype(np.float32)
    xs, ys = np.meshgrid(np.arange(6.0), np.arange(5.0))
    values, mask = bilinear_sample(image, np.stack([xs, ys], -1)[None].astype(np.float32))
    np.testing.assert_allclose(values.numpy(), image, atol=1e-7)
    assert np.all(mask.numpy() == 1)
    # Half a pixel outside: half the border value (the missing neighbour weighs zero), not in view.
    values, mask = bilinear_sample(image, np.array([[[[-0.5, 2.0]]]], np.float32))
    np.testing.assert_allclose(values.numpy()[0, 0, 0], 0.5 * image[0, 2, 0], atol=1e-7)
    assert mask.numpy()[0, 0, 0, 0] == 0


def test_non_finite_coordinates_give_zero():
    image = tf.ones([1, 4, 4, 1])
    coords = tf.constant([[[[np.nan, 1.0], [np.inf, 1.0], [1e30, -1e30]]]], tf.float32)
    values, mask = bilinear_sample(image, coords)
    np.testing.assert_array_equal(values.numpy(), 0.0)
    np.testing.assert_array_equal(mask.numpy(), 0.0)


def _coords_away_from_kinks(rng, shape, width, height):
    # Finite differences are only valid away from integer coordinates (kinks of the bilinear form).
    x = rng.integers(-1, width, shape) + rng.uniform(0.2, 0.8, shape)
    y = rng.integers(-1, height, shape) + rng.uniform(0.2, 0.8, shape)
    return np.stack([x, y], -1)


@pytest.mark.parametrize("sample, coords_atol", [(bilinear_sample, 1e-8), (bicubic_sample, 1e-7)])
def test_gradients_match_finite_differences(sample, coords_atol):
    rng = np.random.default_rng(2)
    image = rng.random((2, 5, 6, 2))
    coords = _coords_away_from_kinks(rng, (2, 3, 4), 6, 5)
    theoretical, numerical = tf.test.compute_gradient(
        lambda img, xy: sample(img, xy)[0], [tf.constant(image), tf.constant(coords)], delta=1e-6)
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-8)
    np.testing.assert_allclose(theoretical[1], numerical[1], atol=coords_atol)
    assert np.abs(theoretical[1]).max() > 0.05  # the coordinate gradient is not trivially zero


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("sample", [bilinear_sample, bicubic_sample])
def test_tf_function_and_xla_agree_with_eager(jit, sample):
    rng = np.random.default_rng(3)
    image = tf.constant(rng.random((2, 8, 10, 3)), tf.float32)
    coords = tf.constant(rng.uniform(-2, 11, (2, 4, 5, 2)), tf.float32)
    compiled = tf.function(sample, jit_compile=jit)
    got, got_mask = compiled(image, coords)
    want, want_mask = sample(image, coords)
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6)
    np.testing.assert_array_equal(got_mask.numpy(), want_mask.numpy())


def test_bad_shapes_are_reported():
    with pytest.raises(ValueError, match="coords"):
        bilinear_sample(tf.zeros([1, 4, 4, 1]), tf.zeros([1, 4, 4, 3]))


def reference_bicubic(image, coords):
    """Keys' cubic convolution (a = -1/2) from its kernel, border pixels repeated, float64."""
    def kernel(s):
        s = np.abs(s)
        return np.where(s <= 1, 1.5 * s ** 3 - 2.5 * s ** 2 + 1,
                        np.where(s < 2, -0.5 * s ** 3 + 2.5 * s ** 2 - 4 * s + 2, 0.0))
    batch, height, width, _ = image.shape
    x, y = coords[..., 0], coords[..., 1]
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    b = np.arange(batch)[:, None, None]
    out = np.zeros(coords.shape[:3] + (image.shape[-1],))
    for dy in range(-1, 3):
        for dx in range(-1, 3):
            xi, yi = x0 + dx, y0 + dy
            values = image[b, np.clip(yi, 0, height - 1), np.clip(xi, 0, width - 1)]
            out += (kernel(x - xi) * kernel(y - yi))[..., None] * values
    return out


def test_bicubic_matches_numpy_reference_and_bilinear_mask():
    rng = np.random.default_rng(4)
    image = rng.random((2, 9, 13, 3))
    # Inside, and up to a pixel outside (border repeated there), where the values are defined.
    coords = np.stack([rng.uniform(-1, 13, (2, 6, 7)), rng.uniform(-1, 9, (2, 6, 7))], -1)
    values, mask = bicubic_sample(tf.constant(image), tf.constant(coords))
    np.testing.assert_allclose(values.numpy(), reference_bicubic(image, coords), atol=1e-12)
    np.testing.assert_array_equal(mask.numpy(), reference_sample(image, coords)[1])


def test_bicubic_reproduces_quadratic_intensity_and_pixels():
    ys, xs = np.mgrid[0:10, 0:12].astype(np.float64)
    image = (0.3 + 0.02 * xs - 0.01 * ys + 0.004 * xs * ys - 0.003 * xs ** 2 + 0.002 * ys ** 2)[None, ..., None]
    rng = np.random.default_rng(5)
    # Where all 16 neighbours are real pixels: 1 <= x < W - 2.
    x, y = rng.uniform(1, 9, (1, 5, 6)), rng.uniform(1, 7, (1, 5, 6))
    values, _ = bicubic_sample(tf.constant(image), tf.constant(np.stack([x, y], -1)))
    exact = 0.3 + 0.02 * x - 0.01 * y + 0.004 * x * y - 0.003 * x ** 2 + 0.002 * y ** 2
    np.testing.assert_allclose(values.numpy()[..., 0], exact, atol=1e-12)
    grid = np.stack([xs, ys], -1)[None]
    values, _ = bicubic_sample(tf.constant(image), tf.constant(grid))
    np.testing.assert_allclose(values.numpy(), image, atol=1e-12)


def test_bicubic_slope_at_pixel_centres_is_the_central_difference():
    # Why DDVO may pair bicubic warps with central-difference Jacobians.
    rng = np.random.default_rng(7)
    image = rng.random((1, 5, 8, 1))
    coords = tf.constant([[[[3.0, 2.0], [5.0, 1.0]]]], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(coords)
        values, _ = bicubic_sample(tf.constant(image), coords)
    slope = tape.gradient(values, coords).numpy()[0, 0]
    np.testing.assert_allclose(slope[0], [(image[0, 2, 4, 0] - image[0, 2, 2, 0]) / 2,
                                          (image[0, 3, 3, 0] - image[0, 1, 3, 0]) / 2], atol=1e-12)
    np.testing.assert_allclose(slope[1], [(image[0, 1, 6, 0] - image[0, 1, 4, 0]) / 2,
                                          (image[0, 2, 5, 0] - image[0, 0, 5, 0]) / 2], atol=1e-12)


def test_unknown_interpolation_is_refused():
    from ddvo_tf.core.sampling import neighbourhoods
    with pytest.raises(ValueError, match="interpolation"):
        neighbourhoods(tf.zeros([1, 4, 4, 1]), "nearest")


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_slopes_from_the_same_gather_equal_autodiff(interpolation):
    # The slopes the DDVO step's derivative uses, against TensorFlow's own derivative of the
    # values along x and along y (float64), inside, across the border and beyond the padding.
    from ddvo_tf.core.sampling import neighbourhoods, sample_neighbourhoods
    rng = np.random.default_rng(4)
    image = tf.constant(rng.uniform(size=(2, 7, 9, 3)), tf.float64)
    coords = tf.constant(np.stack([rng.uniform(-2.5, 10.5, (2, 5, 6)), rng.uniform(-2.5, 8.5, (2, 5, 6))], -1))
    stacked = neighbourhoods(image, interpolation)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(coords)
        values, in_view, slope_x, slope_y = sample_neighbourhoods(stacked, coords, interpolation, with_slopes=True)
        channels = [values[..., c] for c in range(3)]
    for c, channel in enumerate(channels):
        expected = tape.gradient(channel, coords).numpy()     # each value depends on its own point only
        np.testing.assert_allclose(slope_x[..., c].numpy(), expected[..., 0], atol=1e-12)
        np.testing.assert_allclose(slope_y[..., c].numpy(), expected[..., 1], atol=1e-12)
    plain = sample_neighbourhoods(stacked, coords, interpolation)
    np.testing.assert_array_equal(plain[0].numpy(), values.numpy())
    np.testing.assert_array_equal(plain[1].numpy(), in_view.numpy())
