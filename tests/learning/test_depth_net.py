"""Depth-CNN border handling (ddvo_tf.learning.depth_net): the symmetric padding option."""
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from ddvo_tf.learning.depth_net import SymmetricConv2D, build_depth_net


@pytest.mark.parametrize("kernel,stride,size", [(3, 1, (7, 10)), (5, 2, (9, 12)), (7, 2, (8, 13)), (3, 2, (1, 2))])
def test_symmetric_conv_is_a_valid_conv_of_the_mirrored_map(kernel, stride, size):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, *size, 3)).astype(np.float32)
    conv = SymmetricConv2D(4, kernel, strides=stride, bias_initializer="random_normal")
    got = conv(x).numpy()
    pad = kernel // 2
    mirrored = np.pad(x, [(0, 0), (pad, pad), (pad, pad), (0, 0)], mode="symmetric")
    kernel_w, bias = conv.get_weights()
    want = tf.nn.conv2d(mirrored, kernel_w, stride, "VALID").numpy() + bias
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # "same" geometry: the output size is ceil(n / stride), as the zero-padded layer's
    same = layers.Conv2D(4, kernel, strides=stride, padding="same")(x)
    assert got.shape == tuple(same.shape) == tuple(conv.compute_output_shape(x.shape))


def test_a_uniform_image_gives_a_uniform_map_only_with_symmetric_padding():
    # Zero padding tells the network where the border is (the dark side bands of the quick run's
    # pictures); mirroring does not, so a featureless image gets a featureless depth map.
    image = np.full((1, 32, 104, 3), 0.3, np.float32)
    spread = {}
    for padding in ("zeros", "symmetric"):
        net = build_depth_net(32, 104, 0.25, head_init="glorot", padding=padding)
        finest = net(image)[0].numpy()
        spread[padding] = finest.max() - finest.min()
    assert spread["symmetric"] < 1e-5 < 1e-2 < spread["zeros"], spread


def test_checkpoints_load_across_paddings(tmp_path):
    zeros = build_depth_net(32, 104, 0.25, head_init="glorot", padding="zeros")
    path = tf.train.Checkpoint(net=zeros).save(str(tmp_path / "ckpt"))
    mirrored = build_depth_net(32, 104, 0.25, padding="symmetric")
    tf.train.Checkpoint(net=mirrored).restore(path).assert_existing_objects_matched()
    assert all(np.array_equal(a, b) for a, b in zip(zeros.get_weights(), mirrored.get_weights()))
    with pytest.raises(ValueError, match="padding must be one of"):
        build_depth_net(32, 104, 0.25, padding="reflect")
