"""Pose-CNN (ddvo_tf/learning/pose_net.py): two 6-vectors per clip, SfMLearner's 0.01 output scale,
the target frame first so that swapping the sources changes the answer."""
import keras
import numpy as np

from ddvo_tf.learning.pose_net import OUTPUT_SCALE, build_pose_net


def test_two_small_poses_per_clip_from_the_scaled_head():
    keras.utils.set_random_seed(0)
    net = build_pose_net(32, 104, 0.25)
    frames = np.random.default_rng(0).uniform(size=(3, 3, 32, 104, 3)).astype(np.float32)
    poses = net(frames).numpy()
    assert poses.shape == (3, 2, 6) and np.all(np.isfinite(poses))
    head = keras.Model(net.inputs, net.layers[-1].input)(frames).numpy()
    np.testing.assert_allclose(poses.reshape(3, 12), OUTPUT_SCALE * head.reshape(3, 12), rtol=1e-6)
    swapped = net(frames[:, ::-1]).numpy()          # sources exchanged, target still in the middle
    assert not np.allclose(swapped, poses)
