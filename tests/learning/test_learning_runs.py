"""Short runs on the synthetic drives: every mode lowers the photometric loss and learns depth
that beats a constant; the scale of Section 2.1 drifts down without normalization and not with it;
a depth map near the sigmoid's ceiling does not collapse."""
import os

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from ddvo_tf.data import reader
from ddvo_tf.learning.config import TrainConfig
from ddvo_tf.learning.learner import DepthLearner

SMALL = dict(height=32, width=104, width_multiplier=0.25)


def _true_depth(root, drive, camera, frame, factor=3):
    """Rendered z-depth of a synthetic frame at the reader's size (centre of each 3x3 block)."""
    path = os.path.join(root, "2000_01_01", drive, "depth_" + camera[-2:], "data", f"{frame:010d}.png")
    depth = cv2.imread(path, cv2.IMREAD_UNCHANGED).astype(np.float64) / 256.0
    return depth[factor // 2::factor, factor // 2::factor]


def _abs_rel(pred_depth, true_depth):
    valid = true_depth > 0
    pred = pred_depth[valid] * np.median(true_depth[valid]) / np.median(pred_depth[valid])
    return np.mean(np.abs(pred - true_depth[valid]) / true_depth[valid])


def _evaluate(learner, built_clips, synthetic_kitti):
    """Mean abs rel of the median-scaled predicted depth, and of a constant, over val targets."""
    output, _, _ = built_clips
    root, _ = synthetic_kitti
    dataset = reader.make_dataset(output, "val", 1, image_size=(32, 104), augment=False, shuffle=False,
                                repeat=False, deterministic=True)
    ours, constant = [], []
    for clip in dataset:
        truth = _true_depth(root, clip["drive"][0].numpy().decode(), clip["camera"][0].numpy().decode(),
                            int(clip["frame_numbers"][0, 1]))
        inv_depth = learner.depth_net(clip["frames"][:, 1], training=False)[0][0, ..., 0].numpy()
        ours.append(_abs_rel(1.0 / inv_depth, truth))
        constant.append(_abs_rel(np.ones_like(truth), truth))
    return float(np.mean(ours)), float(np.mean(constant))


def _short_run(mode, built_clips, steps, learning_rate=1e-3, smoothness_weight=0.01, seed=0, **overrides):
    output, _, _ = built_clips
    config = TrainConfig(mode=mode, learning_rate=learning_rate, smoothness_weight=smoothness_weight,
                         batch_size=4, **{**SMALL, **overrides})
    keras.utils.set_random_seed(seed)
    learner = DepthLearner(config)
    learner.compile(optimizer=keras.optimizers.Adam(learning_rate))
    step = tf.function(learner.train_step)
    dataset = reader.make_dataset(output, batch_size=4, image_size=(32, 104), seed=seed, deterministic=True)
    iterator = iter(dataset.map(lambda b: {"frames": b["frames"], "intrinsics": b["intrinsics"]}))
    history = [{k: float(v) for k, v in step(next(iterator)).items()} for _ in range(steps)]
    return learner, history


def _mean(history, key, part):
    values = [h[key] for h in history]
    return float(np.mean(values[:10] if part == "start" else values[-10:]))


@pytest.fixture(scope="module")
def scale_runs(built_clips):
    """baseline and posecnn under identical settings (seed, data, lr 1e-3) for 150 steps: the paper's
    Fig. 3 experiment, so only eta differs -- random heads and no gauge term in both (the gauge term
    is on with eta by default and would pin the scale this test watches)."""
    # the smoothness as first read (every scale halved three times, unweighted) is several times the authors'
    # 1/2^level-weighted maps, so the drift shows within 150 steps at this size
    return {mode: _short_run(mode, built_clips, 150, depth_head_init="glorot", scale_anchor_weight=0.0,
                             normalize_scope="per_scale", smoothness_maps="halvings")
            for mode in ("baseline", "posecnn")}


def test_scale_drifts_down_without_normalization_only(scale_runs):
    """Section 2.1 / Fig. 3: the smoothness prior pulls the inverse-depth scale down unless eta
    normalizes it.  Same seed, data and steps; only the normalization differs."""
    assert "scale_anchor" not in scale_runs["baseline"][1][0]        # the gauge term is off without eta
    ratio = {mode: _mean(h, "mean_inv_depth", "end") / _mean(h, "mean_inv_depth", "start")
             for mode, (_, h) in scale_runs.items()}
    assert ratio["baseline"] < 0.75, ratio
    assert ratio["posecnn"] > 0.9, ratio
    baseline = [h["mean_inv_depth"] for h in scale_runs["baseline"][1]]
    assert np.mean(baseline[50:60]) > np.mean(baseline[140:150])   # still going down late in the run


@pytest.mark.parametrize("mode", ["baseline", "posecnn", "ddvo", "hybrid"])
def test_short_run_lowers_the_loss_and_learns_depth(mode, scale_runs, built_clips, synthetic_kitti):
    if mode in scale_runs:
        learner, history = scale_runs[mode]
    elif mode == "ddvo":
        learner, history = _short_run("ddvo", built_clips, 150, ddvo_levels=3)
    else:
        pretrained = scale_runs["posecnn"][0]
        learner, history = _short_run("hybrid", built_clips, 1)            # builds the model
        learner.pose_net.set_weights(pretrained.pose_net.get_weights())
        learner.depth_net.set_weights(pretrained.depth_net.get_weights())
        _, history = _continue(learner, built_clips, 60)
    start, end = _mean(history, "photometric", "start"), _mean(history, "photometric", "end")
    if mode == "hybrid":   # one hybrid run = the posecnn stage, then DDVO fine-tuning
        start = _mean(scale_runs["posecnn"][1], "photometric", "start")
    assert end < 0.9 * start, (start, end)
    ours, constant = _evaluate(learner, built_clips, synthetic_kitti)
    # "Learns depth" = clearly better than a constant.  baseline and posecnn here are the Fig. 3
    # runs (old start: random heads, no gauge term), which learn slowest: posecnn measured 0.721x
    # of the constant with oneDNN on and 0.812x with it off (150 steps of lr 1e-3 amplify kernel
    # rounding), so their bound is 0.9x; the runs with DDVO keep 0.8x.  How well the default recipe learns is
    # measured at the paper's size by bench/bench_accuracy.py.
    print(f"{mode}: abs rel {ours:.4f}, constant {constant:.4f}, ratio {ours / constant:.3f}")
    bound = 0.9 if mode in scale_runs else 0.8
    assert ours < bound * constant, (ours, constant)


@pytest.fixture(scope="module")
def near_ceiling_run(built_clips):
    """posecnn (paper recipe otherwise) started with every inverse-depth head biased to a raw
    inverse depth of ~9.5, the state the KITTI-size run drifted into before it collapsed."""
    config = TrainConfig(mode="posecnn", learning_rate=1e-3, batch_size=4, **SMALL)
    keras.utils.set_random_seed(0)
    learner = DepthLearner(config)
    learner.compile(optimizer=keras.optimizers.Adam(1e-3))
    for layer in learner.depth_net.layers:
        if layer.name.endswith("_logits"):
            layer.bias.assign(tf.fill(layer.bias.shape, 3.0))     # sigmoid(3) * 10 + 0.01 = 9.54
    return _continue(learner, built_clips, 60)[1]


def test_a_depth_map_near_the_sigmoid_ceiling_does_not_collapse(near_ceiling_run):
    """Issue 13's collapse at a small size: before the fix (no gauge term), this run went to the
    ceiling within 10 steps and stayed (raw mean 10.01, every pixel saturated, normalized spread
    0.002: a constant depth); now the gauge term brings the raw mean back and the map keeps
    structure."""
    end = near_ceiling_run[-10:]
    assert np.mean([h["saturated_high"] for h in end]) < 0.05, end[-1]
    assert np.mean([h["mean_inv_depth"] for h in end]) < 5.0, end[-1]
    assert np.mean([h["inv_depth_spread"] for h in end]) > 0.05, end[-1]


def _continue(learner, built_clips, steps):
    output, _, _ = built_clips
    step = tf.function(learner.train_step)
    dataset = reader.make_dataset(output, batch_size=4, image_size=(32, 104), seed=1, deterministic=True)
    iterator = iter(dataset.map(lambda b: {"frames": b["frames"], "intrinsics": b["intrinsics"]}))
    return learner, [{k: float(v) for k, v in step(next(iterator)).items()} for _ in range(steps)]
