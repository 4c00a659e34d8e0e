"""ddvo_tf/learning/training.py end to end at 32x104: outputs (with serving.export_run, as the train
command), exact resume, hybrid's frozen Pose-CNN, NaN guard."""
import glob
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from ddvo_tf.learning import training
from ddvo_tf.learning.config import TrainConfig
from ddvo_tf.learning.learner import DepthLearner
from ddvo_tf.serving.export import export_run

SMALL = dict(height=32, width=104, width_multiplier=0.25, batch_size=2, summary_every=2, image_every=3,
             checkpoint_every=3)


def _config(built_clips, model_dir, **kwargs):
    return TrainConfig(**{"data_dir": built_clips[0], "model_dir": str(model_dir), **SMALL, **kwargs})


def _checkpoint_values(model_dir, prefix):
    reader = tf.train.load_checkpoint(os.path.join(model_dir, "checkpoints"))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if k.startswith(prefix)}


@pytest.fixture(scope="module")
def posecnn_run(built_clips, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("posecnn_run")
    logs = []
    result = training.train(_config(built_clips, model_dir, mode="posecnn", steps=6), log=logs.append)
    # What the train command does after training (ddvo_tf/train.py): the SavedModel and pictures.
    result.update(export_run(result["model_dir"], with_pictures=True))
    return model_dir, result, logs


def test_a_run_leaves_checkpoints_logs_model_and_pictures(posecnn_run):
    model_dir, result, _ = posecnn_run
    assert result["steps"] == 6
    assert os.path.isfile(os.path.join(model_dir, "config.json"))
    assert tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints")).endswith("ckpt-6")
    assert glob.glob(os.path.join(model_dir, "tensorboard", "events.out.tfevents.*"))
    assert len(result["pictures"]) == 4 and all(os.path.getsize(p) > 0 for p in result["pictures"])
    served = tf.saved_model.load(result["saved_model"]).signatures["serving_default"]
    outputs = served(images=tf.random.uniform([2, 50, 70, 3]))
    assert outputs["inverse_depth"].shape == (2, 50, 70, 1)
    np.testing.assert_allclose(outputs["depth"] * outputs["inverse_depth"], 1.0, rtol=1e-5)


def test_resume_continues_from_the_saved_step_with_the_same_optimizer_state(posecnn_run, built_clips, tmp_path):
    model_dir, _, _ = posecnn_run
    resumed = str(tmp_path / "resumed")
    import shutil
    shutil.copytree(model_dir, resumed)
    saved = _checkpoint_values(resumed, "optimizer")
    assert saved and any(np.any(v != 0) for v in saved.values() if np.ndim(v) > 0)
    # What train() restores equals what was saved: rebuild the objects and restore the checkpoint.
    config = _config(built_clips, resumed, mode="posecnn", steps=9)
    learner = DepthLearner(config)
    optimizer = keras.optimizers.Adam(config.learning_rate)
    optimizer.build(learner.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64)
    tf.train.Checkpoint(step=step, depth_net=learner.depth_net, pose_net=learner.pose_net,
                        optimizer=optimizer).restore(tf.train.latest_checkpoint(os.path.join(resumed, "checkpoints")))
    assert int(step.numpy()) == 6 and int(optimizer.iterations.numpy()) == 6
    # the optimizer's tracked list _variables (Adam's moments) is saved as optimizer/_variables/i
    assert len(optimizer._variables) == 2 + 2 * len(learner.trainable_variables)   # iteration, lr, m, v
    for index, variable in list(enumerate(optimizer._variables))[2:]:   # 0, 1 saved by their own names
        np.testing.assert_array_equal(variable.numpy(), saved[f"optimizer/_variables/{index}/.ATTRIBUTES/VARIABLE_VALUE"])
    logs = []
    result = training.train(config, log=logs.append)
    assert any("resuming posecnn" in line and "(step 6 of 9)" in line for line in logs), logs
    assert result["steps"] == 9
    assert int(_checkpoint_values(resumed, "optimizer/_iterations")["optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"]) == 9


def test_hybrid_pretrains_posecnn_then_keeps_it_frozen(built_clips, tmp_path):
    # one DDVO level (the paper's hybrid): the stages' hand-over does not depend on the pyramid
    config = _config(built_clips, tmp_path / "hybrid", mode="hybrid", steps=3, pretrain_steps=4, ddvo_levels=1)
    logs = []
    training.train(config, log=logs.append)
    pretrain = str(tmp_path / "hybrid" / "pretrain_posecnn")
    assert any("first the posecnn stage" in line for line in logs)
    before, after = _restored_networks(config, pretrain), _restored_networks(config, str(tmp_path / "hybrid"))
    for old, new in zip(before.pose_net.get_weights(), after.pose_net.get_weights()):
        np.testing.assert_array_equal(old, new)                     # frozen
    assert any(not np.array_equal(old, new)                          # the Depth-CNN is fine-tuned
               for old, new in zip(before.depth_net.get_weights(), after.depth_net.get_weights()))


def _restored_networks(config, model_dir):
    """A fresh learner with both networks restored from a run's latest checkpoint (the checkpoint
    may store a variable under the optimizer's path, so read it back through the object graph)."""
    learner = DepthLearner(config)
    status = tf.train.Checkpoint(depth_net=learner.depth_net, pose_net=learner.pose_net).restore(
        tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints")))
    status.expect_partial().assert_existing_objects_matched()
    return learner


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(built_clips, tmp_path, monkeypatch):
    real_gradients = DepthLearner.compute_gradients

    def poisoned(self, batch):
        result, gradients = real_gradients(self, batch)
        poison = tf.where(self.optimizer.iterations >= 4, np.nan, 0.0)   # from the 5th step on
        return {**result, "loss": result["loss"] + poison}, gradients

    monkeypatch.setattr(DepthLearner, "compute_gradients", poisoned)
    config = _config(built_clips, tmp_path / "nan", mode="posecnn", steps=8, checkpoint_every=2)
    # ckpt-4 holds the weights whose loss (step 5's) was not finite: it goes, ckpt-2 is kept.
    with pytest.raises(training.TrainingError, match=r"step 5: the loss is nan .*Removed .*ckpt-4.*resumes from .*ckpt-2"):
        training.train(config, log=lambda *a: None)
    assert tf.train.latest_checkpoint(str(tmp_path / "nan" / "checkpoints")).endswith("ckpt-2")
    assert not glob.glob(str(tmp_path / "nan" / "checkpoints" / "ckpt-4.*"))


def test_a_diverged_run_resumes_with_a_lower_learning_rate(built_clips, tmp_path, monkeypatch):
    # The case: a checkpoint every step, a learning rate that diverges (here: the loss is
    # made non-finite from the third step on whenever the rate is above 1).  The guard stops the
    # run; the same command with a sane --learning_rate then trains to the end.
    real_gradients = DepthLearner.compute_gradients

    def diverging(self, batch):
        result, gradients = real_gradients(self, batch)
        blown = (self.optimizer.learning_rate > 1.0) & (self.optimizer.iterations >= 2)
        return {**result, "loss": result["loss"] + tf.where(blown, np.inf, 0.0)}, gradients

    monkeypatch.setattr(DepthLearner, "compute_gradients", diverging)
    model_dir = tmp_path / "diverged"
    config = _config(built_clips, model_dir, mode="posecnn", steps=6, checkpoint_every=1, learning_rate=1.5)
    with pytest.raises(training.TrainingError, match=r"step 3: the loss is (inf|nan).*Removed .*ckpt-2.*resumes from "
                                                     r".*ckpt-1.*lower --learning_rate"):
        training.train(config, log=lambda *a: None)
    logs = []
    result = training.train(_config(built_clips, model_dir, mode="posecnn", steps=6, checkpoint_every=1,
                                    learning_rate=1e-4), log=logs.append)
    assert result["steps"] == 6
    assert any("step 1 of 6, learning rate 1.5 -> 0.0001" in line for line in logs), logs
    rate = _checkpoint_values(str(model_dir), "optimizer/_learning_rate")
    assert rate and np.isclose(float(list(rate.values())[0]), 1e-4), rate


def test_resume_takes_the_command_lines_learning_rate(posecnn_run, built_clips, tmp_path):
    import shutil
    resumed = str(tmp_path / "resumed_lr")
    shutil.copytree(posecnn_run[0], resumed)
    logs = []
    training.train(_config(built_clips, resumed, mode="posecnn", steps=7, learning_rate=5e-5), log=logs.append)
    assert any("learning rate 0.0001 -> 5e-05" in line for line in logs), logs
    rate = _checkpoint_values(resumed, "optimizer/_learning_rate")
    assert np.isclose(float(list(rate.values())[0]), 5e-5), rate


def test_a_failed_command_leaves_the_run_and_its_config_alone(posecnn_run, built_clips, tmp_path):
    import shutil
    run = str(tmp_path / "kept")
    shutil.copytree(posecnn_run[0], run)
    before = open(os.path.join(run, "config.json")).read()
    with pytest.raises(training.TrainingError, match=r"--width_multiplier=0.25 there, 0.5 here"):
        training.train(_config(built_clips, run, mode="posecnn", steps=9, width_multiplier=0.5), log=lambda *a: None)
    with pytest.raises(Exception, match="manifest.json"):
        training.train(_config(built_clips, run, mode="posecnn", steps=9, data_dir=str(tmp_path)), log=lambda *a: None)
    assert open(os.path.join(run, "config.json")).read() == before


def test_init_checkpoint_of_another_width_is_refused_by_name(posecnn_run, built_clips, tmp_path):
    config = _config(built_clips, tmp_path / "wide", mode="hybrid", steps=1, width_multiplier=0.5,
                     init_checkpoint=str(posecnn_run[0]))
    with pytest.raises(training.TrainingError, match=r"--init_checkpoint=.*--width_multiplier=0.25 there, 0.5 here"):
        training.train(config, log=lambda *a: None)
    assert not os.path.exists(tmp_path / "wide" / "config.json")


def test_command_line_reports_a_bad_data_dir(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ddvo_tf.train", f"--data_dir={tmp_path}",
                             f"--model_dir={tmp_path}/model"], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "manifest.json does not exist" in result.stderr and "Traceback" not in result.stderr


def test_training_above_the_built_size_is_refused_before_anything_is_written(built_clips, tmp_path):
    logs = []
    config = _config(built_clips, tmp_path / "big", mode="hybrid", steps=1, height=96, width=312)
    with pytest.raises(training.TrainingError, match=r"built at 48x156, smaller than the training size --height=96 "
                                                     r"--width=312: train at --height=48 --width=156"):
        training.train(config, log=logs.append)
    assert logs == [] and not os.path.exists(tmp_path / "big")      # not even the Pose-CNN stage began


def test_only_the_newest_checkpoints_are_kept(built_clips, tmp_path):
    model_dir = tmp_path / "kept"
    training.train(_config(built_clips, model_dir, mode="posecnn", steps=3, checkpoint_every=1, keep_checkpoints=1,
                           image_every=100), log=lambda *a: None)
    kept = sorted(os.path.basename(p) for p in glob.glob(str(model_dir / "checkpoints" / "ckpt-*.index")))
    assert kept == ["ckpt-3.index"]


def test_hybrid_refuses_a_checkpoint_without_a_pose_cnn(built_clips, tmp_path):
    config = _config(built_clips, tmp_path / "hybrid", mode="hybrid", steps=1)
    depth_only = tf.train.Checkpoint(depth_net=DepthLearner(_config(built_clips, tmp_path, mode="ddvo")).depth_net)
    prefix = depth_only.save(str(tmp_path / "ddvo_run" / "ckpt"))
    config.init_checkpoint = prefix
    with pytest.raises(training.TrainingError, match="does not fit this run.s networks.*hybrid starts from a posecnn run"):
        training.train(config, log=lambda *a: None)
