"""Inference speed of the exported SavedModel: images/s at 128x416, batch 1 and 16.

    python -m bench.bench_inference [--batches=1,16] [--repeats=10] [--output=...]

A full-width Depth-CNN (random weights: speed does not depend on them) is exported with
``ddvo_tf.export`` and reloaded with ``tf.saved_model.load``; inputs are 128x416 float32 images
(the signature's resize to the training size is then a no-op copy).  "first call" includes
loading the graph's kernels; images/s is from the median of the following calls.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import shutil
import tempfile

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench.common import machine_info, peak_rss_mib, print_table, time_call, write_json
from ddvo_tf.serving.export import export_depth_model
from ddvo_tf.learning.depth_net import build_depth_net

FLAGS = flags.FLAGS
flags.DEFINE_list("batches", ["1", "16"], "batch sizes")
flags.DEFINE_integer("repeats", 10, "timed calls per row")
flags.DEFINE_integer("height", 128, "image height")
flags.DEFINE_integer("width", 416, "image width")
flags.DEFINE_string("output", "bench/results/inference.json", "JSON output path")


def main(argv):
    del argv
    folder = tempfile.mkdtemp(prefix="ddvo_bench_inference_")
    try:
        path = export_depth_model(build_depth_net(FLAGS.height, FLAGS.width), os.path.join(folder, "model"),
                                  FLAGS.height, FLAGS.width)
        serve = tf.saved_model.load(path).signatures["serving_default"]
        rows = []
        for batch in [int(b) for b in FLAGS.batches]:
            images = tf.constant(np.random.default_rng(0).uniform(size=(batch, FLAGS.height, FLAGS.width, 3)),
                                 tf.float32)
            first, median = time_call(lambda: serve(images=images)["depth"].numpy(), FLAGS.repeats)
            rows.append({"batch": batch, "first call s": first, "ms/call": 1000 * median,
                         "images/s": batch / median, "peak MiB": peak_rss_mib()})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print_table(rows, ["batch", "first call s", "ms/call", "images/s", "peak MiB"])
    write_json(FLAGS.output, {"machine": machine_info(), "size": [FLAGS.height, FLAGS.width], "rows": rows})


if __name__ == "__main__":
    app.run(main)
