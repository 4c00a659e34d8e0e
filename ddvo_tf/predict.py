"""Depth for your own pictures: ``python -m ddvo_tf.predict --model=M --input=IMAGE|FOLDER|VIDEO --output_dir=OUT``
(also installed as ``ddvo-predict``).

``--model`` is a SavedModel from ``ddvo_tf.export`` (or a training run's ``model_dir``, whose
``saved_model/`` is used).  Per image ``NAME.png`` it writes ``NAME_depth.png`` (colour-mapped
inverse depth, magma, near = bright), ``NAME_pair.png`` (image | depth) unless
``--noside_by_side``, and ``NAME_depth.npy`` (float32 relative depth) with ``--save_npy``; a video
gives ``NAME_depth.mp4`` (``ddvo_tf.serving.predict``).  A file that cannot be read is reported
and skipped.  Exit status: 0 all written, 1 some inputs failed, 2 nothing usable.
"""
from __future__ import annotations

import sys

from absl import flags

from ddvo_tf import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Flags of the command line only: defining them at import would clash with other
    entry points' flags of the same name in one process (absl flags are global)."""
    flags.DEFINE_string("model", None, "SavedModel (ddvo_tf.export) or a training run's model_dir.")
    flags.DEFINE_string("input", None, "An image, a folder of images, or a video.")
    flags.DEFINE_string("output_dir", "predictions", "Where the pictures go.")
    flags.DEFINE_integer("batch_size", 8, "Images per forward pass.")
    flags.DEFINE_bool("side_by_side", True, "Also write image | depth pictures.")
    flags.DEFINE_bool("save_npy", False, "Also write the depth as float32 .npy.")
    flags.mark_flags_as_required(["model", "input"])


def main(argv: list[str]) -> int:
    del argv
    from ddvo_tf.serving.predict import PredictError, run
    try:
        summary = run(FLAGS.model, FLAGS.input, FLAGS.output_dir, FLAGS.batch_size, FLAGS.side_by_side,
                      FLAGS.save_npy)
    except PredictError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rate = summary.written / summary.seconds if summary.seconds else 0.0
    noun = "image" if summary.written == 1 else "images"
    print(f"wrote depth for {summary.written} {noun} to {FLAGS.output_dir} ({rate:.1f} images/s)")
    for path, reason in summary.failed:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if not summary.written:
        print("error: nothing in the input could be used", file=sys.stderr)
        return 2
    if summary.failed:
        print(f"{len(summary.failed)} of {summary.written + len(summary.failed)} inputs failed", file=sys.stderr)
        return 1
    return 0


def console_main() -> None:
    cli.command(define_flags, main)


if __name__ == "__main__":
    console_main()
