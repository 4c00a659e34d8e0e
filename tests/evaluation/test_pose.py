"""ddvo_tf/evaluation/pose.py: ATE of 5-frame snippets on the synthetic drive in the KITTI odometry layout."""
import json
import os

import cv2
import keras
import numpy as np
import tensorflow as tf

from ddvo_tf.evaluation import pose as pose_eval
from ddvo_tf.learning.config import TrainConfig
from ddvo_tf.learning.depth_net import build_depth_net
from ddvo_tf.learning.pose_net import build_pose_net
from pipelines import synthetic


def _odometry(synthetic_kitti, tmp_path):
    root, config = synthetic_kitti
    return synthetic.write_odometry(root, config, str(tmp_path / "odometry"))


def test_ddvo_with_true_depth_tracks_the_ground_truth(synthetic_kitti, tmp_path):
    root, config = synthetic_kitti
    odometry = _odometry(synthetic_kitti, tmp_path)
    depth_dir = os.path.join(root, synthetic.drive_name(0), "depth_02", "data")

    def true_inverse_depth(indices, images):
        depths = [cv2.imread(os.path.join(depth_dir, f"{k:010d}.png"), cv2.IMREAD_UNCHANGED)[1::3, 1::3] / 256.0
                  for k in indices]
        return np.stack([1.0 / np.maximum(d, 1e-3) for d in depths])[..., None]

    def flat_inverse_depth(indices, images):
        return np.full(images.shape[:3] + (1,), 0.1)

    frames, K, poses = pose_eval.load_sequence(odometry, "00", 32, 104)
    assert frames.shape == (config.num_frames, 32, 104, 3) and poses.shape == (config.num_frames, 4, 4)
    good = pose_eval.snippet_errors(pose_eval.ddvo_motions(true_inverse_depth, frames, K), poses)
    bad = pose_eval.snippet_errors(pose_eval.ddvo_motions(flat_inverse_depth, frames, K), poses)
    assert len(good) == config.num_frames - 5
    # snippets move up to 4 m; the reference ATE formula divides the error norm by 5
    assert good.mean() < 0.03 and good.mean() < 0.5 * bad.mean(), (good.mean(), bad.mean())


def test_padded_last_batch_gives_the_motions_of_unpadded_batches(synthetic_kitti, tmp_path):
    """ddvo_motions pads a sequence's last batch with repeats of its last pair; the padded rows must
    be dropped and every motion must land at its own index: the same motions as batches that need
    no padding (one batch of all pairs)."""
    frames, K, _ = pose_eval.load_sequence(_odometry(synthetic_kitti, tmp_path), "00", 32, 104)
    frames = frames[:4]                                     # 3 pairs: batches of 2 = 2 + (1 + 1 repeat)

    def ramp_inverse_depth(indices, images):                # differs per frame, so a misplaced row shows
        rows = np.linspace(0.05, 0.6, images.shape[1], dtype=np.float32)[None, :, None, None]
        return np.broadcast_to(rows, images.shape[:3] + (1,)) * (1.0 + 0.1 * np.asarray(indices))[:, None, None, None]

    padded = pose_eval.ddvo_motions(ramp_inverse_depth, frames, K, num_levels=1, batch_size=2)
    whole = pose_eval.ddvo_motions(ramp_inverse_depth, frames, K, num_levels=1, batch_size=3)
    assert padded.shape == (4, 6) and np.all(padded[-1] == 0.0)
    assert np.all(np.linalg.norm(whole[:3], axis=1) > 0.01)       # every pair was solved, none left 0
    assert np.ptp(whole[:3], axis=0).max() > 1e-3                 # and the pairs' motions differ
    np.testing.assert_allclose(padded, whole, atol=1e-5)


def test_pose_report_for_a_training_run(synthetic_kitti, tmp_path):
    odometry = _odometry(synthetic_kitti, tmp_path)
    run = tmp_path / "run"
    config = TrainConfig(mode="posecnn", height=32, width=104, width_multiplier=0.25, model_dir=str(run))
    run.mkdir()
    (run / "config.json").write_text(config.to_json())
    keras.utils.set_random_seed(0)
    networks = {"depth_net": build_depth_net(32, 104, 0.25), "pose_net": build_pose_net(32, 104, 0.25)}
    tf.train.CheckpointManager(tf.train.Checkpoint(**networks), str(run / "checkpoints"), 1).save(checkpoint_number=1)
    outcome = pose_eval.run_pose(odometry, str(run), str(tmp_path / "report"), sequences=["00"])
    report = json.load(open(tmp_path / "report" / "pose.json"))
    assert set(report["results"]["00"]) == {"posecnn", "ddvo"}
    for method in ("posecnn", "ddvo"):
        assert np.isfinite(report["results"]["00"][method]["ate_mean"])
        assert f"{report['results']['00'][method]['ate_mean']:.4f}" in open(outcome["report"]).read()
