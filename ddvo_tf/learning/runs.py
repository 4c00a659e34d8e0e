"""A training run on disk (``ddvo_tf.train --model_dir``): its ``config.json`` and the networks of
its latest checkpoint, for export, evaluation and inference.

Networks are restored through the checkpoint's object graph, never by variable name: a Keras 3
checkpoint may file a network's variables under the optimizer's path.
"""
from __future__ import annotations

import dataclasses
import json
import os

import keras
import tensorflow as tf

from ddvo_tf.learning.config import TrainConfig
from ddvo_tf.learning.depth_net import build_depth_net
from ddvo_tf.learning.pose_net import build_pose_net


class RunError(Exception):
    """The folder is not a usable training run: the message says what is missing."""


@dataclasses.dataclass
class TrainedRun:
    config: TrainConfig
    checkpoint: str
    step: int
    depth_net: keras.Model
    pose_net: keras.Model | None


def load_run(model_dir: str, with_pose_net: bool = True) -> TrainedRun:
    """The run's config and its Depth-CNN (and Pose-CNN, when the mode has one and it is wanted)."""
    config_path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(config_path):
        raise RunError(f"{config_path} does not exist: the folder must be a ddvo_tf.train --model_dir")
    try:
        with open(config_path) as handle:
            config = TrainConfig(**json.load(handle))
    except (OSError, ValueError, TypeError) as error:
        raise RunError(f"{config_path} is damaged or from another version ({str(error)[:150]}); restore it, or "
                       "write it again by resuming the run with its original flags") from None
    checkpoint = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    if checkpoint is None:
        raise RunError(f"{model_dir}/checkpoints holds no checkpoint yet")
    depth_net = build_depth_net(config.height, config.width, config.width_multiplier, padding=config.depth_padding)
    pose_net = (build_pose_net(config.height, config.width, config.width_multiplier)
                if with_pose_net and config.uses_pose_net else None)
    networks = {"depth_net": depth_net, **({"pose_net": pose_net} if pose_net is not None else {})}
    try:
        status = tf.train.Checkpoint(**networks).restore(checkpoint)
        status.expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise RunError(f"{checkpoint} does not fit the networks of {config_path} ({first}); was config.json "
                       "replaced by another run's?") from None
    return TrainedRun(config, checkpoint, int(checkpoint.rsplit("-", 1)[-1]), depth_net, pose_net)
