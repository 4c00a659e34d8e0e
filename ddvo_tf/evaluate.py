"""Evaluate depth or pose: ``python -m ddvo_tf.evaluate --task=eigen|make3d|pose ...`` (also
installed as ``ddvo-evaluate``).

    python -m ddvo_tf.evaluate --task=eigen --raw_dir=/data/kitti_raw \\
        --gt_depths=gt_depths.npz --model=runs/hybrid/saved_model --output_dir=reports/hybrid
    python -m ddvo_tf.evaluate --task=make3d --make3d_dir=/data/make3d \\
        --model=runs/hybrid/saved_model --output_dir=reports/hybrid
    python -m ddvo_tf.evaluate --task=pose --odometry_dir=/data/kitti_odometry --model_dir=runs/hybrid \\
        --output_dir=reports/hybrid          # ATE of 5-frame snippets on sequences 09 and 10

One module per protocol in ``ddvo_tf/evaluation/``: ``eigen`` (KITTI Eigen split, the paper's
Table 1, with and without the 80 m cap), ``make3d`` (Table 2) and ``pose`` (KITTI odometry ATE).
Predictions come from a SavedModel (``ddvo_tf.export``; a training run's folder works too, through
its latest checkpoint when it has no SavedModel yet) fed the full-size test image, or from
``--predictions=FILE.npy`` ``[N, h, w]`` (``--prediction_kind`` inverse_depth, disparity --
monodepth2's, the same thing up to scale -- or depth) in test-list order.  Each writes
``<task>.json`` and ``<task>.md`` into ``--output_dir`` and prints the latter.
"""
from __future__ import annotations

import sys

from absl import flags

from ddvo_tf import cli

FLAGS = flags.FLAGS


def read_test_lines(path: str) -> list[str]:
    """``DATE/DRIVE FRAME l|r`` lines from an Eigen test list of either format (monodepth2's or
    SfMLearner's, see :func:`pipelines.kitti_raw.parse_test_files`)."""
    from ddvo_tf.evaluation.predictions import EvaluationError
    from pipelines.kitti_raw import parse_test_files    # the CLI may use pipelines; the library never does
    from pipelines.sequences import DataError
    try:
        entries = parse_test_files(path)
    except DataError as error:
        raise EvaluationError(str(error)) from None
    return [f"{drive} {frame:010d} {'l' if camera == 'image_02' else 'r'}" for drive, camera, frame in entries]


def define_flags() -> None:
    """Flags of the command line only: defining them at import would clash with other
    entry points' flags of the same name in one process (absl flags are global)."""
    from ddvo_tf.evaluation.eigen import SPLIT_PROTOCOLS
    from ddvo_tf.evaluation.make3d import ASPECT
    flags.DEFINE_enum("task", "eigen", ["eigen", "make3d", "pose"], "Evaluation protocol.")
    flags.DEFINE_string("make3d_dir", None, "make3d: folder holding Test134/ and Gridlaserdata/.")
    flags.DEFINE_float("make3d_aspect", ASPECT, "make3d: width/height of the central crop evaluated.")
    flags.DEFINE_enum("make3d_input", "crop", ["crop", "full"], "make3d: the network sees the central crop "
                      "(Godard et al.) or the whole image, its prediction then cropped (the paper authors' script).")
    flags.DEFINE_string("odometry_dir", None, "pose: KITTI odometry root (sequences/, poses/).")
    flags.DEFINE_list("sequences", ["09", "10"], "pose: odometry sequences.")
    flags.DEFINE_string("model_dir", None, "pose: a ddvo_tf.train run (its Pose-CNN and Depth-CNN).")
    flags.DEFINE_string("gt_depths", None, "Ground truth .npz: pipelines.export_gt_depth's, or monodepth2's "
                        "gt_depths.npz (then --model also needs --test_files).")
    flags.DEFINE_enum("split", None, list(SPLIT_PROTOCOLS), "eigen: Garg crop, no cap and 80 m; eigen_benchmark: "
                      "every annotated pixel, 80 m. Default: what the ground-truth file holds (monodepth2's: eigen).")
    flags.DEFINE_string("test_files", None, "eigen: the test list the ground truth was made from (monodepth2 "
                        "'DATE/DRIVE FRAME l' or SfMLearner lines); needed with --model for monodepth2's file.")
    flags.DEFINE_string("model", None, "SavedModel, or training run (its saved_model/, else its latest "
                        "checkpoint) to evaluate.")
    flags.DEFINE_string("raw_dir", None, "KITTI raw root, to read the test images for --model.")
    flags.DEFINE_string("predictions", None, "Precomputed predictions .npy [N, h, w] instead of --model "
                        "(test-list order; make3d: sorted image names, of the cropped images).")
    flags.DEFINE_enum("prediction_kind", "inverse_depth", ["inverse_depth", "disparity", "depth"],
                      "What --predictions holds (disparity: monodepth2's, the same as inverse_depth up to scale).")
    flags.DEFINE_alias("predictions_kind", "prediction_kind")
    flags.DEFINE_string("output_dir", "reports", "Where the report (<task>.json and <task>.md) goes.")
    flags.DEFINE_string("name", "ours", "Row label in the report.")


def main(argv: list[str]) -> int:
    del argv
    from ddvo_tf.evaluation.eigen import run_eigen
    from ddvo_tf.evaluation.make3d import run_make3d
    from ddvo_tf.evaluation.pose import run_pose
    from ddvo_tf.evaluation.predictions import EvaluationError
    from ddvo_tf.serving.predict import PredictError
    kind = "inverse_depth" if FLAGS.prediction_kind == "disparity" else FLAGS.prediction_kind
    try:
        if FLAGS.task == "pose":
            if not FLAGS.odometry_dir or not FLAGS.model_dir:
                raise EvaluationError("--task=pose needs --odometry_dir and --model_dir")
            outcome = run_pose(FLAGS.odometry_dir, FLAGS.model_dir, FLAGS.output_dir, FLAGS.sequences)
        elif FLAGS.task == "make3d":
            if not FLAGS.make3d_dir:
                raise EvaluationError("--task=make3d needs --make3d_dir (Test134/ and Gridlaserdata/)")
            outcome = run_make3d(FLAGS.make3d_dir, FLAGS.output_dir, FLAGS.model, FLAGS.predictions,
                                 kind, FLAGS.name, FLAGS.make3d_aspect, FLAGS.make3d_input)
        else:
            if not FLAGS.gt_depths:
                raise EvaluationError("--task=eigen needs --gt_depths (from pipelines.export_gt_depth)")
            lines = read_test_lines(FLAGS.test_files) if FLAGS.test_files else None
            outcome = run_eigen(FLAGS.gt_depths, FLAGS.output_dir, FLAGS.model, FLAGS.raw_dir, FLAGS.predictions,
                                kind, FLAGS.name, lines, FLAGS.split)
    except (EvaluationError, PredictError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with open(outcome["report"]) as handle:
        print(handle.read())
    return 0


def console_main() -> None:
    cli.command(define_flags, main)


if __name__ == "__main__":
    console_main()
