"""A run's checkpoints: finding one, checking it fits the networks about to be built, restoring it,
and stepping back past the weights that gave a non-finite loss.

Checkpoints are ``tf.train.Checkpoint`` objects (``step``, ``depth_net``, ``pose_net`` when the mode
has one, ``optimizer``) managed by a ``tf.train.CheckpointManager`` in ``RUN/checkpoints/``; a run's
flags are in ``RUN/config.json`` (:class:`ddvo_tf.learning.config.TrainConfig`).
"""
from __future__ import annotations

import json
import os

import tensorflow as tf

from ddvo_tf.learning.config import TrainConfig


class TrainingError(Exception):
    """Training cannot continue (diverged, bad data): the message says what to do."""


def resolve_checkpoint(path: str) -> str:
    """A checkpoint prefix from a run directory, its ``checkpoints/`` folder, or a prefix."""
    for folder in (os.path.join(path, "checkpoints"), path):
        if os.path.isdir(folder):
            latest = tf.train.latest_checkpoint(folder)
            if latest:
                return latest
    if tf.io.gfile.exists(path + ".index"):
        return path
    raise TrainingError(f"{path}: no checkpoint found (expected a training run's model_dir, its "
                        "checkpoints/ folder, or a checkpoint prefix)")


# Fields that shape the networks: a run cannot be resumed, or initialised from, one that differs here.
NETWORK_FIELDS = ("width_multiplier", "depth_padding")


def saved_config(run_dir: str | None) -> dict | None:
    """The ``config.json`` of a run folder as a dict (None when there is none)."""
    path = os.path.join(run_dir, "config.json") if run_dir else None
    if not path or not os.path.isfile(path):
        return None
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError) as error:
        raise TrainingError(f"{path} is damaged ({error}); restore it from the run's TensorBoard "
                            "hparams or a backup, or choose a new --model_dir") from None


def run_dir_of(checkpoint_prefix: str) -> str | None:
    """``RUN`` for a prefix ``RUN/checkpoints/ckpt-N``, else None."""
    folder = os.path.dirname(checkpoint_prefix)
    return os.path.dirname(folder) if os.path.basename(folder) == "checkpoints" else None


def check_same_networks(saved: dict | None, config: TrainConfig, what: str, same_mode: bool = False) -> None:
    """Refuse, naming the flag, a checkpoint whose networks were built with other flags."""
    if saved is None:
        return
    fields = NETWORK_FIELDS + (("mode",) if same_mode else ())
    changed = [f"--{name}={saved.get(name)} there, {getattr(config, name)} here"
               for name in fields if name in saved and saved[name] != getattr(config, name)]
    if changed:
        raise TrainingError(f"{what} was trained with other networks ({'; '.join(changed)}): use the same "
                            "flags, or a new --model_dir")


def restore(checkpoint: tf.train.Checkpoint, path: str, what: str, partial: bool = False, hint: str = "") -> None:
    try:
        status = checkpoint.restore(path)
        if partial:
            status.expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        first = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
        raise TrainingError(f"{path} ({what}) does not fit this run's networks: {first} {hint}".rstrip()) from None


def drop_unverified_checkpoint(manager: tf.train.CheckpointManager, failed_step: int) -> str:
    """After a non-finite loss at ``failed_step``: remove the checkpoint of the step before, whose
    weights are the ones that just gave that loss (a loss is computed before its step's update, a
    checkpoint saved after it), so a resume starts from weights whose loss was finite.  Returns a
    sentence saying what the run will resume from."""
    latest = manager.latest_checkpoint
    if latest and int(latest.rsplit("-", 1)[-1]) == failed_step - 1:
        for path in tf.io.gfile.glob(latest + ".*"):
            tf.io.gfile.remove(path)
        kept = [c for c in manager.checkpoints if c != latest]
        directory = os.path.dirname(latest)
        if kept:
            tf.compat.v1.train.update_checkpoint_state(directory, kept[-1], all_model_checkpoint_paths=kept)
        elif tf.io.gfile.exists(os.path.join(directory, "checkpoint")):
            tf.io.gfile.remove(os.path.join(directory, "checkpoint"))
        removed = f"Removed {latest}: its weights give this loss."
        latest = kept[-1] if kept else None
        return (f"{removed} The run resumes from {latest}." if latest
                else f"{removed} No earlier checkpoint: the run starts again from the beginning.")
    return (f"Nothing after {latest} was saved; the run resumes from there." if latest
            else "No checkpoint was saved yet.")
