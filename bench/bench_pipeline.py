"""Data pipeline speed: the build job (1 and 2 workers) and the tf.data reader.

    python -m bench.bench_pipeline [--frames=60] [--workers=1,2] [--output=...]

Input: one synthetic drive in the KITTI raw layout at the full 1242x375 size, both cameras
(rendered once into --data_dir and reused), plus hard-linked copies as further drives so that
worker start-up (a spawned process importing TensorFlow, ~4 s) does not dominate.  Rows:

* ``build``: ``pipelines.build`` to 128x416 PNG shards (static-frame flow, resize, encode, write),
  clips/s and input frames/s, including worker start-up;
* ``sfmlearner-style``: the structure of SfMLearner's ``prepare_train_data.py`` -- one process,
  per target frame read its three frames, resize each, concatenate, write one JPEG -- with the same
  OpenCV calls, for an equal-footing comparison (each frame is read and resized three times);
* ``reader``: ``ddvo_tf.data.reader.make_dataset`` examples/s at batch 4, with and without augmentation.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import shutil
import tempfile
import time

import cv2
import numpy as np
from absl import app, flags

from bench.common import machine_info, peak_rss_mib, print_table, write_json
from ddvo_tf.data import reader
from pipelines import job, kitti_raw, synthetic

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", os.path.join(tempfile.gettempdir(), "ddvo_bench_kitti"),
                    "where the synthetic full-size drive is rendered (reused when present)")
flags.DEFINE_integer("frames", 60, "frames per camera of the synthetic drive")
flags.DEFINE_integer("copies", 8, "drives in the build: the rendered drive plus hard-linked copies "
                     "(rendering is the slow part; the build treats copies as separate drives)")
flags.DEFINE_list("workers", ["1", "2"], "worker counts of the build job")
flags.DEFINE_integer("read_batches", 40, "batches timed per reader row")
flags.DEFINE_string("output", "bench/results/pipeline.json", "JSON output path")


def _sfmlearner_style(sequences, out_dir, height=128, width=416) -> int:
    """One process; per target frame: read 3 frames, resize each, concatenate, write a JPEG."""
    clips = 0
    for sequence in sequences:
        paths = [p for _, p in sequence.frames]
        for target in range(1, len(paths) - 1):
            images = [cv2.resize(cv2.imread(p), (width, height), interpolation=cv2.INTER_LINEAR)
                      for p in paths[target - 1:target + 2]]
            cv2.imwrite(os.path.join(out_dir, f"{sequence.camera}_{target:010d}.jpg"), np.hstack(images))
            clips += 1
    return clips


def _link_copies(root: str, copies: int) -> None:
    source = os.path.join(root, synthetic.drive_name(0))
    for index in range(1, copies):
        target = os.path.join(root, synthetic.drive_name(index))
        if not os.path.isdir(target):
            shutil.copytree(source, target + ".tmp", copy_function=os.link)
            os.replace(target + ".tmp", target)


def main(argv):
    del argv
    config = synthetic.SyntheticConfig(num_frames=FLAGS.frames, height=375, width=1242)
    start = time.perf_counter()
    synthetic.generate(FLAGS.data_dir, config, workers=os.cpu_count() or 1)
    print(f"synthetic drive ready in {time.perf_counter() - start:.1f} s")
    _link_copies(FLAGS.data_dir, FLAGS.copies)
    frames = 2 * config.num_frames * FLAGS.copies
    rows = []
    work = tempfile.mkdtemp(prefix="ddvo_bench_pipeline_")
    try:
        for workers in [int(w) for w in FLAGS.workers]:
            out = os.path.join(work, f"build_{workers}")
            start = time.perf_counter()
            manifest = job.build(job.BuildConfig(dataset="kitti_raw", input=FLAGS.data_dir, output_dir=out,
                                                     workers=workers), log=lambda *a: None)
            seconds = time.perf_counter() - start
            clips = manifest["counts"]["train"] + manifest["counts"]["val"]
            rows.append({"job": "build", "workers": workers, "clips": clips, "seconds": seconds,
                         "clips/s": clips / seconds, "frames/s": frames / seconds, "peak MiB": peak_rss_mib()})
        sequences, _ = kitti_raw.kitti_sequences(FLAGS.data_dir)
        out = os.path.join(work, "sfmlearner")
        os.makedirs(out)
        start = time.perf_counter()
        clips = _sfmlearner_style(sequences, out)
        seconds = time.perf_counter() - start
        rows.append({"job": "sfmlearner-style", "workers": 1, "clips": clips, "seconds": seconds,
                     "clips/s": clips / seconds, "frames/s": frames / seconds, "peak MiB": peak_rss_mib()})
        built = os.path.join(work, f"build_{FLAGS.workers[0]}")
        for augment in (False, True):
            dataset = reader.make_dataset(built, batch_size=4, augment=augment)
            iterator = iter(dataset)
            for _ in range(5):
                next(iterator)
            start = time.perf_counter()
            for _ in range(FLAGS.read_batches):
                next(iterator)
            seconds = time.perf_counter() - start
            examples = 4 * FLAGS.read_batches
            rows.append({"job": "reader" + (" + augment" if augment else ""), "workers": "tf.data",
                         "clips": examples, "seconds": seconds, "clips/s": examples / seconds,
                         "frames/s": 3 * examples / seconds, "peak MiB": peak_rss_mib()})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    columns = ["job", "workers", "clips", "seconds", "clips/s", "frames/s", "peak MiB"]
    print_table(rows, columns)
    write_json(FLAGS.output, {"machine": machine_info(), "input": "synthetic KITTI layout 1242x375, "
                              f"{FLAGS.copies} drives x {config.num_frames} frames x 2 cameras -> 128x416 PNG", "rows": rows})


if __name__ == "__main__":
    app.run(main)
