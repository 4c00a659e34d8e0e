"""The networks and DepthLearner: shapes and ranges, batch = one clip at a time, DDVO's gradient
path into depth, XLA and mixed precision. Short training runs are in test_learning_runs.py (a
file of their own, so the suite's two workers share them out)."""
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
    # few DDVO levels (hybrid: the paper's one): clip independence does not depend on the pyramid
    learner = DepthLearner(TrainConfig(mode=mode, ddvo_levels={"ddvo": 2, "hybrid": 1}.get(mode),
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


def test_ddvo_passes_gradients_from_the_pose_back_into_depth(built_clips, monkeypatch):
    """Eq. 8: in ddvo mode the Depth-CNN also learns through the pose DDVO derives from its depth;
    cutting that path (stop_gradient on DDVO's inverse-depth input) must change its gradient."""
    keras.utils.set_random_seed(0)
    # one DDVO level: the path from the pose back into depth is there at any pyramid depth
    learner = DepthLearner(TrainConfig(mode="ddvo", ddvo_levels=1, **SMALL))
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
    # one DDVO level: the precision policy does not depend on the pyramid, its compile time does
    config = TrainConfig(mode=mode, precision=precision, ddvo_levels=1 if mode == "ddvo" else None, **SMALL)
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
