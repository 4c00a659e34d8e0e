"""Build sharded TFRecord clips: ``python -m pipelines.build --dataset=... --input=... --output_dir=...``
(also installed as ``ddvo-build``).

Examples::

    python -m pipelines.build --dataset=kitti_raw --input=/data/kitti_raw \\
        --test_files=test_files_eigen.txt --output_dir=/data/ddvo_kitti --workers=8
    python -m pipelines.build --dataset=cityscapes --input=/data/cityscapes --output_dir=/data/ddvo_cs
    python -m pipelines.build --dataset=video --input=drive.mp4 --hfov_deg=90 --output_dir=/data/mine
    python -m pipelines.build --dataset=synthetic --input=/tmp/synthetic_kitti --output_dir=/tmp/synth

Re-running the same command resumes: finished shards are kept.  To split one build across
machines, run the same command with ``--num_tasks=N --task_index=0..N-1`` into a shared folder.
The work is done by :func:`pipelines.job.build`.
"""
from __future__ import annotations

import os
import sys

from absl import flags

from ddvo_tf import cli
from pipelines import kitti_raw, synthetic
from pipelines.job import DATASETS, BuildConfig, build
from pipelines.sequences import DataError

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", None, DATASETS, "Source format.")
flags.DEFINE_string("input", None, "KITTI raw root / Cityscapes root / video file or folder / "
                    "folder to generate the synthetic KITTI-layout drives in.")
flags.DEFINE_string("output_dir", None, "Where the shards and manifest.json go.")
flags.DEFINE_integer("height", 128, "Output frame height.")
flags.DEFINE_integer("width", 416, "Output frame width.")
flags.DEFINE_enum("image_format", "png", ["png", "jpeg"], "Frame encoding (JPEG is written 4:4:4).")
flags.DEFINE_integer("jpeg_quality", 95, "JPEG quality (>= 95).")
flags.DEFINE_float("static_threshold", 1.0, "Drop frames whose mean optical flow to the previous kept "
                   "frame is below this many pixels of the original image; 0 keeps all frames.")
flags.DEFINE_string("static_frames", None, "A static-frames list ('[DATE] DRIVE FRAME' lines) used "
                    "instead of optical flow.")
flags.DEFINE_float("val_fraction", 0.1, "Fraction of clips (seeded hash) in the validation split.")
flags.DEFINE_integer("seed", 0, "Seed of the train/validation choice.")
flags.DEFINE_integer("num_shards", None, "Number of shards (default: one per sequence).")
flags.DEFINE_integer("workers", max(1, min(8, os.cpu_count() or 1)), "Worker processes.")
flags.DEFINE_integer("task_index", 0, "This machine's index when the build is split across machines.")
flags.DEFINE_integer("num_tasks", 1, "Number of machines sharing the build.")
flags.DEFINE_string("test_files", None, "Eigen test list; its drives are excluded (KITTI).")
flags.DEFINE_bool("allow_missing_test_files", False, "Accept test-list entries absent from --input.")
flags.DEFINE_list("cameras", list(kitti_raw.CAMERAS), "KITTI cameras to use.")
flags.DEFINE_integer("frame_stride", None, "Use every n-th frame (default 2 for Cityscapes, else 1).")
flags.DEFINE_float("crop_bottom", 0.25, "Cityscapes: fraction of rows cut at the bottom (car hood).")
flags.DEFINE_list("cityscapes_splits", ["train"], "Cityscapes splits of leftImg8bit_sequence to use.")
flags.DEFINE_string("intrinsics", None, "Video: file with a 3x3 K or 'fx fy cx cy' at video resolution.")
flags.DEFINE_float("hfov_deg", 80.0, "Video: horizontal field of view used when --intrinsics is unknown.")
flags.DEFINE_integer("synthetic_frames", 60, "Synthetic: frames per drive.")
flags.DEFINE_integer("synthetic_drives", 1, "Synthetic: number of drives.")
flags.DEFINE_list("synthetic_size", ["375", "1242"], "Synthetic: rendered height,width.")


def main(argv):
    del argv
    config = BuildConfig(
        dataset=FLAGS.dataset, input=FLAGS.input, output_dir=FLAGS.output_dir, height=FLAGS.height,
        width=FLAGS.width, image_format=FLAGS.image_format, jpeg_quality=FLAGS.jpeg_quality,
        static_threshold=FLAGS.static_threshold, static_frames=FLAGS.static_frames,
        val_fraction=FLAGS.val_fraction, seed=FLAGS.seed, num_shards=FLAGS.num_shards,
        workers=FLAGS.workers, task_index=FLAGS.task_index, num_tasks=FLAGS.num_tasks,
        test_files=FLAGS.test_files, allow_missing_test_files=FLAGS.allow_missing_test_files,
        cameras=tuple(FLAGS.cameras), frame_stride=FLAGS.frame_stride, crop_bottom=FLAGS.crop_bottom,
        cityscapes_splits=tuple(FLAGS.cityscapes_splits), intrinsics=FLAGS.intrinsics,
        hfov_deg=FLAGS.hfov_deg,
        synthetic=synthetic.SyntheticConfig(num_frames=FLAGS.synthetic_frames,
                                            num_drives=FLAGS.synthetic_drives,
                                            height=int(FLAGS.synthetic_size[0]),
                                            width=int(FLAGS.synthetic_size[1])))
    try:
        build(config)
    except (DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def console_main() -> None:
    flags.mark_flags_as_required(["dataset", "input", "output_dir"])
    cli.command(None, main)      # the flags are defined above, at import


if __name__ == "__main__":
    console_main()
