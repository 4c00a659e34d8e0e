"""Pose-CNN (ddvo_tf/learning/pose_net.py): two 6-vectors per clip, SfMLearner's 0.01 output scale,
the frames stacked along channels target first, as SfMLearner (frame 2, frame 1, frame 3)."""
import keras
import numpy as np

from ddvo_tf.learning.pose_net import OUTPUT_SCALE, StackTargetFirst, build_pose_net


def test_two_small_poses_per_clip_from_the_scaled_head():
    keras.utils.set_random_seed(0)
    net = build_pose_net(32, 104, 0.25)
    frames = np.random.default_rng(0).uniform(size=(3, 3, 32, 104, 3)).astype(np.float32)
    poses = net(frames).numpy()
    assert poses.shape == (3, 2, 6) and np.all(np.isfinite(poses))
    head = keras.Model(net.inputs, net.layers[-1].input)(frames).numpy()
    np.testing.assert_allclose(poses.reshape(3, 12), OUTPUT_SCALE * head.reshape(3, 12), rtol=1e-6)


def test_the_first_convolution_sees_the_target_then_frame_1_then_frame_3():
    net = build_pose_net(32, 104, 0.25)
    frames = np.random.default_rng(1).uniform(size=(2, 3, 32, 104, 3)).astype(np.float32)
    stack = next(layer for layer in net.layers if isinstance(layer, StackTargetFirst))
    stacked = keras.Model(net.inputs, stack.output)(frames).numpy()
    expected = np.concatenate([frames[:, 1], frames[:, 0], frames[:, 2]], axis=-1)
    np.testing.assert_array_equal(stacked, expected)
    first_conv = next(layer for layer in net.layers if isinstance(layer, keras.layers.Conv2D))
    seen = keras.Model(net.inputs, first_conv.input)(frames).numpy()
    np.testing.assert_allclose(seen, (expected - 0.5) * 2.0, atol=1e-6)   # only rescaled to [-1, 1]
