"""Export a training run's Depth-CNN: ``python -m ddvo_tf.export --model_dir=RUN --export_dir=OUT``
(also installed as ``ddvo-export``).

Writes a SavedModel with two signatures (float32 RGB in [0, 1], and uint8), its ``metadata.json``
and, with ``--tflite``, ``depth.tflite`` at the training size; ``ddvo_tf.serving.export`` says what
they hold.  ``--scale`` bakes a depth scale (e.g. the median ratio from evaluation) into the model.
"""
from __future__ import annotations

import os
import sys

from absl import flags

from ddvo_tf import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Flags of the command line only: defining them at import would clash with other
    entry points' flags of the same name in one process (absl flags are global)."""
    flags.DEFINE_string("model_dir", None, "A training run (ddvo_tf.train --model_dir).")
    flags.DEFINE_string("export_dir", None, "Where the SavedModel goes (default: MODEL_DIR/saved_model).")
    flags.DEFINE_float("scale", 1.0, "Fixed depth scale factor, e.g. the median ratio from evaluation.")
    flags.DEFINE_bool("tflite", False, "Also write EXPORT_DIR/depth.tflite at the training size.")
    flags.mark_flags_as_required(["model_dir"])


def main(argv: list[str]) -> int:
    del argv
    from ddvo_tf.learning.runs import RunError
    from ddvo_tf.serving.export import export_run, export_tflite
    try:
        result = export_run(FLAGS.model_dir, FLAGS.export_dir, FLAGS.scale)
    except (RunError, AssertionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    info, export_dir = result["info"], result["saved_model"]
    print(f"exported {export_dir} ({info['mode']}, step {info['steps']}, {info['height']}x{info['width']})")
    if FLAGS.tflite:
        try:
            path = export_tflite(result["depth_net"], os.path.join(export_dir, "depth.tflite"), cli.verbose_requested())
            print(f"wrote {path}")
        except Exception as error:   # the converter raises many types; report and keep the SavedModel
            print(f"TFLite conversion failed ({type(error).__name__}: {str(error).splitlines()[0]}); "
                  "the SavedModel is unaffected", file=sys.stderr)
            return 1
    return 0


def console_main() -> None:
    cli.command(define_flags, main)


if __name__ == "__main__":
    console_main()
