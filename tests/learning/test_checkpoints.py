"""A run's checkpoints (ddvo_tf/learning/checkpoints.py): found from a run, its folder or a prefix;
networks built with other flags refused by flag name; a checkpoint that fits restores exactly; the
step before a non-finite loss is dropped and the manager's state points at the one before."""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from ddvo_tf.learning import checkpoints
from ddvo_tf.learning.config import TrainConfig


def _save(folder, steps, value=1.0):
    variable = tf.Variable(value)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=variable), str(folder), max_to_keep=5)
    for step in steps:
        variable.assign(value * step)
        manager.save(checkpoint_number=step)
    return manager, variable


def test_a_checkpoint_is_found_from_a_run_its_folder_or_a_prefix(tmp_path):
    _save(tmp_path / "run" / "checkpoints", [1, 2])
    latest = str(tmp_path / "run" / "checkpoints" / "ckpt-2")
    assert checkpoints.resolve_checkpoint(str(tmp_path / "run")) == latest
    assert checkpoints.resolve_checkpoint(str(tmp_path / "run" / "checkpoints")) == latest
    assert checkpoints.resolve_checkpoint(str(tmp_path / "run" / "checkpoints" / "ckpt-1")).endswith("ckpt-1")
    assert checkpoints.run_dir_of(latest) == str(tmp_path / "run")
    with pytest.raises(checkpoints.TrainingError, match="no checkpoint found"):
        checkpoints.resolve_checkpoint(str(tmp_path / "nothing"))


def test_networks_of_other_flags_are_refused_by_name(tmp_path):
    saved = json.loads(TrainConfig(width_multiplier=0.25, mode="posecnn").to_json())
    checkpoints.check_same_networks(saved, TrainConfig(width_multiplier=0.25, mode="hybrid"), "it")   # fits
    checkpoints.check_same_networks(None, TrainConfig(), "no config.json")                           # nothing to check
    with pytest.raises(checkpoints.TrainingError, match=r"--width_multiplier=0.25 there, 0.5 here"):
        checkpoints.check_same_networks(saved, TrainConfig(width_multiplier=0.5), "it")
    with pytest.raises(checkpoints.TrainingError, match=r"--mode=posecnn there, hybrid here"):
        checkpoints.check_same_networks(saved, TrainConfig(width_multiplier=0.25, mode="hybrid"), "it",
                                        same_mode=True)
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(checkpoints.TrainingError, match="config.json is damaged"):
        checkpoints.saved_config(str(tmp_path))


def test_restore_is_exact_and_a_mismatch_names_the_checkpoint(tmp_path):
    keras.utils.set_random_seed(0)
    dense = keras.layers.Dense(3)
    dense.build((None, 2))
    path = tf.train.Checkpoint(net=dense).save(str(tmp_path / "a" / "ckpt"))
    other = keras.layers.Dense(3)
    other.build((None, 2))
    checkpoints.restore(tf.train.Checkpoint(net=other), path, "test")
    np.testing.assert_array_equal(other.kernel.numpy(), dense.kernel.numpy())
    wrong = keras.layers.Dense(4)
    wrong.build((None, 2))
    with pytest.raises(checkpoints.TrainingError, match=r"\(test\) does not fit this run's networks"):
        checkpoints.restore(tf.train.Checkpoint(net=wrong), path, "test")


def test_the_step_before_a_non_finite_loss_is_dropped(tmp_path):
    """A loss is computed before its step's update and a checkpoint saved after it, so a non-finite
    loss at step 5 condemns ckpt-4 (its weights gave it) and nothing older."""
    manager, _ = _save(tmp_path / "a", [2, 4])
    message = checkpoints.drop_unverified_checkpoint(manager, failed_step=5)
    assert "Removed" in message and message.endswith(f"resumes from {tmp_path / 'a' / 'ckpt-2'}.")
    assert tf.train.latest_checkpoint(str(tmp_path / "a")).endswith("ckpt-2")
    assert not [n for n in os.listdir(tmp_path / "a") if n.startswith("ckpt-4")]
    older, _ = _save(tmp_path / "b", [2, 4])
    assert checkpoints.drop_unverified_checkpoint(older, failed_step=7).startswith("Nothing after ")
    assert tf.train.latest_checkpoint(str(tmp_path / "b")).endswith("ckpt-4")
    only, _ = _save(tmp_path / "c", [3])
    assert "starts again from the beginning" in checkpoints.drop_unverified_checkpoint(only, failed_step=4)
    assert tf.train.latest_checkpoint(str(tmp_path / "c")) is None
