"""The Depth-CNN as users get it: a SavedModel (and optionally TFLite) with the run's facts beside
it, and a few depth pictures of the run's own clips.

Serving signatures (both resize inside to the training size and answer at the input size):

* ``serving_default``: ``images`` float32 ``[B, H, W, 3]``, RGB in [0, 1];
* ``serve_uint8``: ``images`` uint8 ``[B, H, W, 3]``, RGB 0-255.

Outputs ``inverse_depth`` and ``depth``, float32 ``[B, H, W, 1]``.  Monocular training fixes no
metric scale, so depth is relative; ``scale`` (e.g. the median ratio measured at evaluation) is
baked in: ``depth = scale / inverse_depth_net`` and ``inverse_depth = inverse_depth_net / scale``.
``metadata.json`` beside the model records the training size, mode, normalization, steps, scale
and the source commit.  The TFLite model is the finest inverse depth at the fixed training size.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys

import keras
import tensorflow as tf

from ddvo_tf.core import pictures
from ddvo_tf.core.files import write_atomic
from ddvo_tf.data import reader
from ddvo_tf.learning.config import TrainConfig
from ddvo_tf.learning.runs import load_run


class DepthModule(tf.Module):
    def __init__(self, depth_net: keras.Model, height: int, width: int, scale: float = 1.0):
        super().__init__(name="ddvo_depth")
        self.depth_net = depth_net
        self.height, self.width = height, width
        self.scale = tf.constant(scale, tf.float32)

    def _predict(self, images: tf.Tensor) -> dict:
        size = tf.shape(images)[1:3]
        resized = tf.image.resize(images, [self.height, self.width], method="area")
        inv_depth = self.depth_net(resized, training=False)[0]
        inv_depth = tf.image.resize(inv_depth, size, method="bilinear") / self.scale
        return {"inverse_depth": inv_depth, "depth": 1.0 / inv_depth}

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="images")])
    def serve(self, images):
        return self._predict(images)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
    def serve_uint8(self, images):
        return self._predict(tf.cast(images, tf.float32) / 255.0)


def source_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def export_depth_model(depth_net: keras.Model, export_dir: str, height: int, width: int,
                       metadata: dict | None = None, scale: float = 1.0) -> str:
    """Write the SavedModel atomically (temporary folder, then rename); returns ``export_dir``."""
    tmp = export_dir.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    module = DepthModule(depth_net, height, width, scale)
    tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve,
                                                 "serve_uint8": module.serve_uint8})
    info = {"height": height, "width": width, "scale": scale, "commit": source_commit(),
            "inputs": {"serving_default": "float32 RGB [0,1] [B,H,W,3]", "serve_uint8": "uint8 RGB [B,H,W,3]"},
            "outputs": "inverse_depth, depth [B,H,W,1] at the input size (relative scale unless scale set)",
            **(metadata or {})}
    with open(os.path.join(tmp, "metadata.json"), "w") as handle:
        json.dump(info, handle, indent=2, sort_keys=True)
    if os.path.isdir(export_dir):
        shutil.rmtree(export_dir)
    os.replace(tmp, export_dir)
    return export_dir


def export_tflite(depth_net: keras.Model, path: str, verbose: bool = False) -> str:
    """The Depth-CNN at its fixed training size (image [1, H, W, 3] -> finest inverse depth).

    Converted from a single-output Keras model: converting a ``tf.function`` around the
    multi-output model silently drops the weights (the result runs and returns NaN).
    """
    finest = keras.Model(depth_net.inputs, depth_net.outputs[0], name="depth_net_finest")
    # The converter goes through Keras' export, which prints its traced endpoints and captures
    # (~60 lines) to stdout; kept only when ``verbose``.
    with contextlib.redirect_stdout(sys.stdout if verbose else io.StringIO()):
        model = tf.lite.TFLiteConverter.from_keras_model(finest).convert()
    return write_atomic(path, model)


def export_run(model_dir: str, export_dir: str | None = None, scale: float = 1.0, with_pictures: bool = False
               ) -> dict:
    """Export a training run's latest checkpoint (``RunError`` when there is none): the SavedModel
    in ``export_dir`` (default ``MODEL_DIR/saved_model``) and, ``with_pictures``, ``depth_NN.png``
    of a few of its clips.  Returns where things went and the facts of ``metadata.json``."""
    run = load_run(model_dir, with_pose_net=False)
    config = run.config
    info = {"height": config.height, "width": config.width, "mode": config.mode,
            "normalize": config.use_normalization, "steps": run.step, "checkpoint": run.checkpoint}
    export_dir = export_dir or os.path.join(model_dir, "saved_model")
    result = {"saved_model": export_depth_model(run.depth_net, export_dir, config.height, config.width, info, scale),
              "info": info, "depth_net": run.depth_net}
    if with_pictures:
        result["pictures"] = write_depth_pictures(run.depth_net, config, model_dir)
    return result


def write_depth_pictures(depth_net: keras.Model, config: TrainConfig, output_dir: str, count: int = 4) -> list[str]:
    """``depth_NN.png`` (target | colour-mapped inverse depth) for a few clips, validation first."""
    manifest = reader.load_manifest(config.data_dir)
    split = "val" if manifest["counts"].get("val") else "train"
    dataset = reader.make_dataset(config.data_dir, split, 1, (config.height, config.width), augment=False,
                                  shuffle=False, repeat=False, deterministic=True)
    paths = []
    for index, batch in enumerate(dataset.take(count)):
        target = batch["frames"][:, 1]
        inv_depth = depth_net(target, training=False)[0][0].numpy()
        picture = pictures.side_by_side(pictures.to_uint8(target[0].numpy()), pictures.colorize_inverse_depth(inv_depth))
        path = os.path.join(output_dir, f"depth_{index:02d}.png")
        pictures.write_png(path, picture)
        paths.append(path)
    return paths
