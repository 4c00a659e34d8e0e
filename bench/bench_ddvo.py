"""DDVO speed: forward and forward+backward per pair, eager vs tf.function vs XLA.

    python -m bench.bench_ddvo [--height=128 --width=416] [--batches=1,8] [--levels=5,1]
                               [--modes=eager,function,xla] [--iterations=...] [--depth_error=0.3]
                               [--pixel_share=1,0.5] [--repeats=5] [--output=...]

Inputs are two rendered views of the built-in street (forward 1 m, 2 deg yaw), replicated over the
batch, with the true inverse depth times a smooth field of 1 +- ``depth_error``: a Depth-CNN's
depth in training is never exact, and with exact depth the solve converges in fewer iterations
than it runs in training (so the DDVO share of a step would be understated).  "first call"
includes tracing/compilation; "ms/pair" is the median of the following calls divided by the batch
size.  Peak RSS is the process-wide peak so far (monotone over rows).  Reference point (issue 2):
the authors' PyTorch DDVO on this 2-core CPU, 5 levels, takes about 70 ms forward and 180 ms
forward+backward per pair (exact depth).
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench.common import machine_info, peak_rss_mib, print_table, time_call, write_json
from ddvo_tf.learning.config import TrainConfig
from ddvo_tf.core.ddvo_layer import DirectVisualOdometry
from pipelines import street_scene

FLAGS = flags.FLAGS
flags.DEFINE_integer("height", 128, "image height")
flags.DEFINE_integer("width", 416, "image width")
flags.DEFINE_list("batches", ["1", "8"], "batch sizes")
flags.DEFINE_list("levels", ["5", "1"], "pyramid levels (5: from identity; 1: hybrid mode)")
flags.DEFINE_list("modes", ["eager", "function", "xla"], "execution modes: eager (op by op), "
                  "function (tf.function graph), xla (the layer's jit_compile=True, its default)")
flags.DEFINE_list("iterations", [str(n) for n in np.atleast_1d(TrainConfig.ddvo_iterations)],
                  "Gauss-Newton iterations per pyramid level, or one count per level, finest first; "
                  "default: training's")
flags.DEFINE_float("depth_error", 0.3, "amplitude of the smooth factor on the true inverse depth (0: exact)")
flags.DEFINE_integer("repeats", 5, "timed calls per row (after the first)")
flags.DEFINE_bool("weight_hessian", TrainConfig.ddvo_weight_hessian, "DirectVisualOdometry(weight_hessian=...); "
                  "default: training's (the DDVO share of a step is measured with training's options)")
flags.DEFINE_enum("interpolation", TrainConfig.ddvo_interpolation, ["bilinear", "bicubic"],
                  "DirectVisualOdometry(interpolation=...); default: training's")
flags.DEFINE_bool("occlusion", TrainConfig.ddvo_occlusion, "DirectVisualOdometry(occlusion=...); default: training's")
flags.DEFINE_list("pixel_share", [str(TrainConfig.ddvo_pixel_share)],
                  "DirectVisualOdometry(pixel_share=...) values to compare; default: training's")
flags.DEFINE_string("output", "bench/results/ddvo.json", "JSON output path")


def _inputs(height, width, batch):
    intrinsics = street_scene.kitti_like_intrinsics(height, width)
    scene = street_scene.default_street(0, look="waves")
    ref, depth = street_scene.render(scene, street_scene.camera_pose([0, 0, 0]), intrinsics, height, width)
    src, _ = street_scene.render(scene, street_scene.camera_pose([0.03, 0, 1.0], yaw=np.deg2rad(2)),
                                 intrinsics, height, width)
    rows, cols = np.mgrid[0:height, 0:width]
    factor = 1.0 + FLAGS.depth_error * np.sin(2 * np.pi * cols / width + 1.0) * np.cos(np.pi * rows / height)
    tile = lambda x: tf.constant(np.repeat(x[None], batch, 0).astype(np.float32))
    return tile(ref), tile(src), tile((factor / depth)[..., None]), tile(intrinsics)


def main(argv):
    del argv
    rows = []
    cache = {}
    for batch in map(int, FLAGS.batches):
        for levels in map(int, FLAGS.levels):
            if batch not in cache:
                cache[batch] = _inputs(FLAGS.height, FLAGS.width, batch)
            ref, src, inv_depth, intrinsics = cache[batch]
            inv_var = tf.Variable(inv_depth)

            for mode, share in ((m, float(s)) for m in FLAGS.modes for s in FLAGS.pixel_share):
                # eager: op by op; function: a tf.function graph; xla: the layer's own XLA
                # compilation of the solve and of its gradient (its default) inside a
                # tf.function, as in a training step.
                layer = DirectVisualOdometry(num_levels=levels, num_iterations=[int(n) for n in FLAGS.iterations],
                                             weight_hessian=FLAGS.weight_hessian,
                                             interpolation=FLAGS.interpolation, occlusion=FLAGS.occlusion,
                                             robust=TrainConfig.ddvo_robust,
                                             photometric=TrainConfig.ddvo_photometric,
                                             jit_compile=(mode == "xla"), pixel_share=share)

                def forward():
                    return layer(ref, src, inv_var, intrinsics)

                def forward_backward():
                    with tf.GradientTape() as tape:
                        pose = layer(ref, src, inv_var, intrinsics)
                        loss = tf.reduce_sum(pose * tf.constant([1.0, 1, 1, 10, 10, 10]))
                    return tape.gradient(loss, inv_var)

                for name, fn in (("fwd", forward), ("fwd+bwd", forward_backward)):
                    if mode != "eager":
                        fn = tf.function(fn)
                    repeats = max(1, FLAGS.repeats // 2) if mode == "eager" else FLAGS.repeats
                    run = lambda: tf.nest.map_structure(lambda t: t.numpy(), fn())
                    first, median = time_call(run, repeats)
                    row = {"batch": batch, "levels": levels, "mode": mode, "pixel_share": share, "pass": name,
                           "first_call_s": first, "ms_per_pair": 1000 * median / batch,
                           "pairs_per_s": batch / median, "peak_rss_mib": peak_rss_mib()}
                    rows.append(row)
                    print(row, flush=True)
    columns = ["batch", "levels", "mode", "pixel_share", "pass", "first_call_s", "ms_per_pair", "pairs_per_s",
               "peak_rss_mib"]
    print()
    print_table(rows, columns)
    write_json(FLAGS.output, {"benchmark": "ddvo", "machine": machine_info(),
                              "settings": {"height": FLAGS.height, "width": FLAGS.width,
                                           "iterations": FLAGS.iterations,
                                           "depth_error": FLAGS.depth_error,
                                           "interpolation": FLAGS.interpolation,
                                           "occlusion": FLAGS.occlusion,
                                           "weight_hessian": FLAGS.weight_hessian},
                              "rows": rows})


if __name__ == "__main__":
    app.run(main)
