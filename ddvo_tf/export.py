"""SavedModel export of the Depth-CNN: ``python -m ddvo_tf.export --model_dir=RUN --export_dir=OUT``

Serving signatures (both resize inside to the training size and answer at the input size):

* ``serving_default``: ``images`` float32 ``[B, H, W, 3]``, RGB in [0, 1];
* ``serve_uint8``: ``images`` uint8 ``[B, H, W, 3]``, RGB 0-255.

Outputs ``inverse_depth`` and ``depth``, float32 ``[B, H, W, 1]``.  Monocular training fixes no
metric scale, so depth is relative; ``--scale`` (e.g. the median ratio measured at evaluation) is
baked in: ``depth = scale / inverse_depth_net`` and ``inverse_depth = inverse_depth_net / scale``.
``metadata.json`` beside the model records the training size, mode, normalization, steps, scale
and the source commit.  ``--tflite`` also writes ``depth.tflite`` at the fixed training size.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # before TensorFlow loads, also in workers
if __name__ == "__main__":      # as a command: TensorFlow's native log lines filtered (ddvo_tf/cli.py)
    from ddvo_tf import cli
    cli.quiet_native_logs()

import contextlib
import io
import json
import shutil
import subprocess
import sys

import keras
import tensorflow as tf
from absl import flags

from ddvo_tf import cli


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


def export_tflite(depth_net: keras.Model, path: str) -> str:
    """The Depth-CNN at its fixed training size (image [1, H, W, 3] -> finest inverse depth).

    Converted from a single-output Keras model: converting a ``tf.function`` around the
    multi-output model silently drops the weights (the result runs and returns NaN).
    """
    finest = keras.Model(depth_net.inputs, depth_net.outputs[0], name="depth_net_finest")
    # The converter goes through Keras' export, which prints its traced endpoints and captures
    # (~60 lines) to stdout; kept only with --verbose.
    with contextlib.redirect_stdout(sys.stdout if cli.verbose_requested() else io.StringIO()):
        model = tf.lite.TFLiteConverter.from_keras_model(finest).convert()
    with open(path + ".tmp", "wb") as handle:
        handle.write(model)
    os.replace(path + ".tmp", path)
    return path


def load_trained_depth_net(model_dir: str) -> tuple[keras.Model, dict]:
    """The Depth-CNN of a training run and the facts ``metadata.json`` records about it."""
    from ddvo_tf.runs import load_run
    run = load_run(model_dir, with_pose_net=False)
    config = run.config
    return run.depth_net, {"height": config.height, "width": config.width, "mode": config.mode,
                           "normalize": config.use_normalization, "steps": run.step, "checkpoint": run.checkpoint}


FLAGS = flags.FLAGS


def define_flags() -> None:
    """Flags of the command line only: defining them at import would clash with other
    entry points' flags of the same name in one process (absl flags are global)."""
    flags.DEFINE_string("model_dir", None, "A training run (ddvo_tf.train --model_dir).")
    flags.DEFINE_string("export_dir", None, "Where the SavedModel goes (default: MODEL_DIR/saved_model).")
    flags.DEFINE_float("scale", 1.0, "Fixed depth scale factor, e.g. the median ratio from evaluation.")
    flags.DEFINE_bool("tflite", False, "Also write EXPORT_DIR/depth.tflite at the training size.")


def main(argv):
    del argv
    from ddvo_tf.runs import RunError
    try:
        depth_net, info = load_trained_depth_net(FLAGS.model_dir)
    except (RunError, AssertionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    export_dir = FLAGS.export_dir or os.path.join(FLAGS.model_dir, "saved_model")
    export_depth_model(depth_net, export_dir, info["height"], info["width"], info, FLAGS.scale)
    print(f"exported {export_dir} ({info['mode']}, step {info['steps']}, {info['height']}x{info['width']})")
    if FLAGS.tflite:
        try:
            print(f"wrote {export_tflite(depth_net, os.path.join(export_dir, 'depth.tflite'))}")
        except Exception as error:   # the converter raises many types; report and keep the SavedModel
            print(f"TFLite conversion failed ({type(error).__name__}: {str(error).splitlines()[0]}); "
                  "the SavedModel is unaffected", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["model_dir"])
    cli.run(main)
