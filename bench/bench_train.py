"""Training speed: seconds per train step per mode, batch size, XLA and precision; peak memory;
the networks' convolution FLOPs per step and the rate reached.

    python -m bench.bench_train [--modes=baseline,posecnn,ddvo,hybrid,convs] [--batches=1,4]
                                [--jit=false,true] [--precisions=float32,bf16] [--steps=5]
                                [--height=128 --width=416]

Mode ``convs`` is the networks alone (Depth-CNN on three frames, Pose-CNN on the clip, forward and
backward of a trivial loss, Adam): the convolution rate without the losses, warps and DDVO.
"GFLOP/s" is the counted convolution work (bench/flops.py) divided by the step time.

Each row runs in a fresh process (so its peak RSS is its own): full-width networks, Adam, a clip
of three rendered street views (1 m apart) repeated over the batch.  "first step" includes
tracing and compilation; "s/step" is the median of the following steps; "s/clip" divides by the
batch.  Reference (issue 4): the authors' PyTorch code on this 2-core CPU takes ~2.2 s per step at
batch 1 in every mode, with ~1.5 GiB peak memory.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

from bench.common import machine_info, peak_rss_mib, print_table, write_json

FLAGS = flags.FLAGS
flags.DEFINE_list("modes", ["baseline", "posecnn", "ddvo", "hybrid"], "training modes")
flags.DEFINE_list("batches", ["1", "4"], "batch sizes")
flags.DEFINE_list("jit", ["false", "true"], "XLA for the loss and gradients")
flags.DEFINE_list("precisions", ["float32"], "network precisions: float32, bf16, fp16")
flags.DEFINE_integer("steps", 5, "timed steps per row (after the first)")
flags.DEFINE_integer("height", 128, "image height")
flags.DEFINE_integer("width", 416, "image width")
flags.DEFINE_string("single", None, "internal: run one row 'mode,batch,jit,precision' and print JSON")
flags.DEFINE_string("output", "bench/results/train.json", "JSON output path")


def _clip(height: int, width: int):
    from pipelines import street_scene
    K = street_scene.kitti_like_intrinsics(height, width)
    scene = street_scene.default_street(0)
    frames = [street_scene.render(scene, street_scene.camera_pose([0.03 * i, 0, 1.0 * i], yaw=0.01 * i), K,
                                  height, width, supersample=1)[0] for i in range(3)]
    return np.stack(frames).astype(np.float32), K.astype(np.float32)


def run_single(mode: str, batch: int, jit: bool, precision: str = "float32") -> dict:
    import tensorflow as tf
    from bench.flops import train_step_flops
    from ddvo_tf.learning.config import TrainConfig
    from ddvo_tf.learning.training import build_learner, make_train_function
    frames, K = _clip(FLAGS.height, FLAGS.width)
    data = {"frames": tf.constant(np.repeat(frames[None], batch, 0)),
            "intrinsics": tf.constant(np.repeat(K[None], batch, 0))}
    networks_only = mode == "convs"
    config = TrainConfig(mode="posecnn" if networks_only else mode, height=FLAGS.height, width=FLAGS.width,
                         batch_size=batch, precision=precision, init_checkpoint="unused" if mode == "hybrid" else None)
    learner, _ = build_learner(config)
    if networks_only:
        def compute_gradients(batch_data):
            with tf.GradientTape() as tape:
                depths = learner.inverse_depths(batch_data["frames"], training=True)
                poses = learner.pose_net(batch_data["frames"], training=True)
                loss = sum(tf.reduce_mean(d) for d in depths) + tf.reduce_mean(poses)
            gradients = tape.gradient(loss, learner.trainable_variables)
            return {"loss": loss}, gradients
        learner.compute_gradients = compute_gradients
    step = make_train_function(learner, tf.distribute.get_strategy(), jit)
    start = time.perf_counter()
    float(step(data)["loss"])
    first = time.perf_counter() - start
    times = []
    for _ in range(FLAGS.steps):
        start = time.perf_counter()
        float(step(data)["loss"])
        times.append(time.perf_counter() - start)
    per_step = float(np.median(times))
    flops = train_step_flops(config.mode, FLAGS.height, FLAGS.width, batch)["total"]
    return {"mode": mode, "batch": batch, "xla": jit, "precision": precision, "first step s": first,
            "s/step": per_step, "s/clip": per_step / batch, "GFLOP/step": flops / 1e9,
            "GFLOP/s": flops / per_step / 1e9, "peak MiB": peak_rss_mib()}


def main(argv):
    del argv
    if FLAGS.single:
        mode, batch, jit, precision = FLAGS.single.split(",")
        print("RESULT " + json.dumps(run_single(mode, int(batch), jit == "true", precision)))
        return
    rows = []
    for mode in FLAGS.modes:
        for batch in FLAGS.batches:
            for jit in FLAGS.jit:
                for precision in FLAGS.precisions:
                    command = [sys.executable, "-m", "bench.bench_train", f"--single={mode},{batch},{jit},{precision}",
                               f"--steps={FLAGS.steps}", f"--height={FLAGS.height}", f"--width={FLAGS.width}"]
                    done = subprocess.run(command, capture_output=True, text=True)
                    lines = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
                    if done.returncode or not lines:
                        error = (done.stderr.strip().splitlines() or ["?"])[-1][:120]
                        rows.append({"mode": mode, "batch": int(batch), "xla": jit == "true",
                                     "precision": precision, "error": error})
                    else:
                        rows.append(json.loads(lines[0][7:]))
                    print(rows[-1], flush=True)
    print_table(rows, ["mode", "batch", "xla", "precision", "first step s", "s/step", "s/clip", "GFLOP/s",
                       "peak MiB", "error"])
    write_json(FLAGS.output, {"machine": machine_info(), "size": [FLAGS.height, FLAGS.width], "rows": rows})


if __name__ == "__main__":
    app.run(main)
