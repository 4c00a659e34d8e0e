"""The networks and DepthLearner: shapes and ranges, batch = one clip at a time, and short runs on
the synthetic drives: every mode lowers the photometric loss and learns depth that beats a
constant; the scale of Section 2.1 drifts down without normalization and not with it."""
import os

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from ddvo_tf.data import reader
from ddvo_tf.learning.config import TrainConfig
from ddvo_tf.learning.learner import DepthLearner
from ddvo_tf.learning.depth_net import build_depth_net
from ddvo_tf.learning.pose_net import build_pose_net

SMALL = dict(height=32, width=104, width_multiplier=0.25)


def test_network_shapes_and_ranges():
    depth_net = build_depth_net(32, 104, 0.25)
    rng = np.random.default_rng(0)
    outputs = depth_net(rng.uniform(size=(2, 32, 104, 3)).astype(np.float32))
    assert [tuple(o.shape) for o in outputs] == [(2, 32, 104, 1), (2, 16, 52, 1), (2, 8, 26, 1), (2, 4, 13, 1)]
    for o in outputs:
        assert float(tf.reduce_min(o)) > 0.01 and float(tf.reduce_max(o)) < 10.01
    pose_net = build_pose_net(32, 104, 0.25)
    poses = pose_net(rng.uniform(size=(2, 3, 32, 104, 3)).astype(np.float32))
    assert poses.shape == (2, 2, 6) and np.all(np.isfinite(poses))
    full = build_depth_net(128, 416)
    assert 30e6 < full.count_params() < 33e6          # Godard et al.'s VGG model: ~31 M parameters
    assert [tuple(o.shape[1:3]) for o in full.outputs] == [(128, 416), (64, 208), (32, 104), (16, 52)]


def _batch(built_clips, size=4, seed=0):
    output, _, _ = built_clips
    dataset = reader.make_dataset(output, batch_size=size, image_size=(32, 104), deterministic=True, seed=seed)
    batch = next(iter(dataset))
    return {"frames": batch["frames"], "intrinsics": batch["intrinsics"]}


def _batch_and_alone(learner, batch):
    @tf.function
    def losses_and_gradients(clips):
        with tf.GradientTape() as tape:
            result = learner.compute_losses(clips, training=True)
        return result, tape.gradient(result["loss"], learner.trainable_variables)

    together = losses_and_gradients(batch)
    alone = [losses_and_gradients({k: v[i:i + 1] for k, v in batch.items()}) for i in range(len(batch["frames"]))]
    loss_errors = {key: abs(float(together[0][key]) - np.mean([float(a[0][key]) for a in alone])) /
                   abs(float(together[0][key])) for key in ("loss", "photometric", "smoothness")}
    mean = [np.mean([a[1][i].numpy() for a in alone], axis=0) for i in range(len(together[1]))]
    difference = np.sqrt(sum(np.sum((g.numpy() - m) ** 2) for g, m in zip(together[1], mean)))
    gradient_error = difference / np.sqrt(sum(np.sum(m ** 2) for m in mean))
    return loss_errors, float(gradient_error)


# Tolerances. A batch of 3 and three batches of 1 run different kernels (oneDNN and Eigen pick
# blockings per shape), so they agree only up to float32 rounding. Each loss term is a mean of
# n ~ 10^4 pixel errors: recursive summation in any order is within gamma_n = n u / (1 - n u) ~ 6e-4
# of the exact sum (Higham, Accuracy and Stability, Sec. 4.2; u = 2^-24), whatever the CPU or
# library -- so 1e-3 on losses. Gradients (global norm): each weight's gradient sums over pixels,
# then back through ~20 layers and, in the DDVO modes, through a best-iterate choice that rounding
# may flip between two nearly equal iterates; measured 3e-7 (CNN) to 2e-4 (DDVO), bound 1e-2.
# A clip-coupling bug is far outside both: the test below shows eta over the batch moves them by
# more than ten times the bound.
LOSS_RTOL, GRADIENT_RTOL = 1e-3, 1e-2


@pytest.mark.parametrize("mode", ["posecnn", "ddvo", "hybrid"])
def test_batch_loss_and_gradients_are_the_mean_of_one_clip_at_a_time(mode, built_clips):
    # Normalization (eta per clip), DDVO (both pairs of every clip in one call) and the losses
    # treat the clips of a batch independently.
    keras.utils.set_random_seed(0)
    # random (Glorot) heads: the default flat start has no smoothness to compare
    learner = DepthLearner(TrainConfig(mode=mode, ddvo_levels=2 if mode == "ddvo" else None,
                                       depth_head_init="glorot", **SMALL))
    loss_errors, gradient_error = _batch_and_alone(learner, _batch(built_clips, 3))
    assert max(loss_errors.values()) < LOSS_RTOL, loss_errors
    assert gradient_error < GRADIENT_RTOL, gradient_error


def test_the_batch_comparison_detects_a_clip_coupling_bug(built_clips, monkeypatch):
    """The tolerances above catch eta computed over the batch instead of per clip, once the clips'
    inverse-depth scales differ as they do in training (at initialisation they are all ~5)."""
    from ddvo_tf.learning import losses
    keras.utils.set_random_seed(0)
    # gauge term off: it depends on the raw scale on purpose; eta's part must not
    learner = DepthLearner(TrainConfig(mode="posecnn", depth_head_init="glorot", scale_anchor_weight=0.0, **SMALL))
    per_clip_scale = tf.constant([1.0, 3.0, 0.3])
    original = learner.inverse_depths

    def scaled(frames, training=False):
        scale = per_clip_scale[:tf.shape(frames)[0]] if frames.shape[0] == 3 else per_clip_scale[:1]
        return [d * tf.reshape(scale, [-1, 1, 1, 1, 1]) for d in original(frames, training)]

    monkeypatch.setattr(learner, "inverse_depths", scaled)
    batch = _batch(built_clips, 3)
    loss_errors, gradient_error = _batch_and_alone(learner, batch)
    assert max(loss_errors.values()) < LOSS_RTOL and gradient_error < GRADIENT_RTOL   # eta per clip
    coupled = lambda inv_depths, target_mean=1.0, scope="finest": [
        d / tf.reduce_mean(inv_depths[0]) * target_mean for d in inv_depths]      # mean over the batch
    monkeypatch.setattr(losses, "normalize_inverse_depths", coupled)
    loss_errors, gradient_error = _batch_and_alone(learner, batch)
    assert loss_errors["smoothness"] > 10 * LOSS_RTOL and gradient_error > 10 * GRADIENT_RTOL, \
        (loss_errors, gradient_error)


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


def test_ddvo_passes_gradients_from_the_pose_back_into_depth(built_clips, monkeypatch):
    """Eq. 8: in ddvo mode the Depth-CNN also learns through the pose DDVO derives from its depth;
    cutting that path (stop_gradient on DDVO's inverse-depth input) must change its gradient."""
    keras.utils.set_random_seed(0)
    learner = DepthLearner(TrainConfig(mode="ddvo", ddvo_levels=2, **SMALL))
    batch = _batch(built_clips, 2)

    def depth_gradients():
        with tf.GradientTape() as tape:
            result = learner.compute_losses(batch, training=True)
        assert {"ddvo_cost", "ddvo_in_view_fraction", "ddvo_fallback_share", "ddvo_iterations"} <= set(result)
        return [g.numpy() for g in tape.gradient(result["loss"], learner.depth_net.trainable_variables)]

    full = depth_gradients()
    poses = learner.poses
    monkeypatch.setattr(learner, "poses", lambda frames, intrinsics, depth, training=False:
                        poses(frames, intrinsics, tf.stop_gradient(depth), training))
    cut = depth_gradients()
    norm = lambda gs: np.sqrt(sum(np.sum(g ** 2) for g in gs))
    difference = norm([a - b for a, b in zip(full, cut)]) / norm(full)
    # far above float32 noise: the same gradients computed two ways agree to ~1e-6 (batch tests above)
    assert difference > 1e-2, difference


def test_train_step_compiles_with_xla(built_clips):
    """--jit_compile: every op of the step (and its gradient) must have an XLA kernel."""
    keras.utils.set_random_seed(0)
    learner = DepthLearner(TrainConfig(mode="posecnn", **SMALL))
    learner.compile(optimizer=keras.optimizers.Adam(1e-4))
    batch = _batch(built_clips, 2)
    compiled = tf.function(learner.train_step, jit_compile=True)(batch)
    assert np.isfinite(float(compiled["loss"]))
    assert int(learner.optimizer.iterations.numpy()) == 1


@pytest.mark.parametrize("precision, mode", [("bf16", "ddvo"), ("fp16", "posecnn")])
def test_mixed_precision_step_runs_on_cpu_with_float32_weights_outputs_and_losses(precision, mode, built_clips):
    from ddvo_tf.learning.training import build_learner, make_train_function
    config = TrainConfig(mode=mode, precision=precision, **SMALL)
    learner, optimizer = build_learner(config)
    compute = {"bf16": "bfloat16", "fp16": "float16"}[precision]
    conv = learner.depth_net.get_layer("conv1a")
    assert conv.compute_dtype == compute and conv.kernel.dtype == "float32"
    assert all(o.dtype == "float32" for o in learner.depth_net(tf.zeros([1, 32, 104, 3])))
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == (precision == "fp16")
    train_fn = make_train_function(learner, tf.distribute.get_strategy())
    before = [v.numpy() for v in learner.trainable_variables]
    batch = _batch(built_clips, 2)
    results = [train_fn(batch) for _ in range(2)]
    assert all(np.isfinite(float(r["loss"])) and r["loss"].dtype == tf.float32 for r in results)
    assert any(np.any(v.numpy() != b) for v, b in zip(learner.trainable_variables, before))
    # the networks' layers outside the build keep float32 (the policy was scoped)
    assert build_depth_net(32, 104, 0.25).get_layer("conv1a").compute_dtype == "float32"
