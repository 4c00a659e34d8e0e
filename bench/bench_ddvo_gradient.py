"""Implicit vs unrolled DDVO gradient at realistic training conditions.

    python -m bench.bench_ddvo_gradient [--pairs=6] [--levels=1,5] [--output=...]

Rendered 128x416 street pairs (:mod:`bench.ddvo_cases`), the inverse depth off by a smooth random
factor in [0.7, 1.3] (a Depth-CNN's error, not the truth), 10 iterations per level: ``levels=1``
from a Pose-CNN-like start (``hybrid``), ``levels=5`` from the identity (``ddvo``).  For each pair,
the gradient of a fixed linear function of the pose w.r.t. the inverse depth by the implicit
function theorem (the default) and by back-propagation through every iteration (the authors'),
their cosine and norm ratio, and the fixed-point residual ``|phi|`` the forward reports (RMS pixel
motion of one more step at the returned pose; the implicit gradient is exact when it is 0).
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench import ddvo_cases
from bench.common import machine_info, print_table, write_json
from ddvo_tf.core.ddvo_layer import DirectVisualOdometry

FLAGS = flags.FLAGS
flags.DEFINE_integer("pairs", 6, "rendered street pairs")
flags.DEFINE_list("levels", ["1", "5"], "pyramid levels (1 from a perturbed start, else from the identity)")
flags.DEFINE_string("output", "bench/results/ddvo_gradient.json", "JSON output path")

WEIGHTS = np.array([[1.0, -2.0, 3.0, 10.0, -20.0, 30.0]], np.float32)


def smooth_factor(shape, rng):
    """A smooth random field in [0.7, 1.3] of ``shape [B, H, W, 1]``."""
    coarse = rng.uniform(0.7, 1.3, (shape[0], 4, 13, 1)).astype(np.float32)
    return tf.image.resize(coarse, shape[1:3], method="bicubic").numpy().clip(0.7, 1.3)


def gradients(layer, ref, src, inv_depth, intrinsics, init):
    inv = tf.Variable(inv_depth)
    with tf.GradientTape() as tape:
        pose, info = layer.solve(ref, src, inv, intrinsics, init)
        loss = tf.reduce_sum(pose * WEIGHTS)
    return tape.gradient(loss, inv).numpy(), {k: v.numpy() for k, v in info.items()}


def main(argv):
    del argv
    rng = np.random.default_rng(0)
    cases = ddvo_cases.street_pairs(count=FLAGS.pairs, seed=100)
    ref, src, inv_depth, intrinsics, true = ddvo_cases.stack(cases)
    inv_depth = inv_depth * smooth_factor(inv_depth.shape, rng)
    rows = []
    for levels in map(int, FLAGS.levels):
        init = (tf.constant(ddvo_cases.perturb(true), tf.float32) if levels == 1 else None)
        grads = {}
        for kind in ("implicit", "unrolled"):
            layer = DirectVisualOdometry(num_levels=levels, num_iterations=10, gradient=kind)
            grads[kind], info = gradients(layer, ref, src, inv_depth, intrinsics, init)
        for index in range(len(cases)):
            a, b = grads["implicit"][index].ravel(), grads["unrolled"][index].ravel()
            row = {"levels": levels, "pair": index,
                   "cosine": float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30)),
                   "norm_ratio": float(np.linalg.norm(a) / (np.linalg.norm(b) + 1e-30)),
                   "fixed_point_px": float(info["fixed_point_residual"][index]),
                   "iterations": int(info["iterations"][index])}
            rows.append(row)
            print(row, flush=True)
    print()
    print_table(rows, ["levels", "pair", "cosine", "norm_ratio", "fixed_point_px", "iterations"])
    for levels in map(int, FLAGS.levels):
        sub = [r for r in rows if r["levels"] == levels]
        print(f"levels={levels}: cosine median {np.median([r['cosine'] for r in sub]):.3f} "
              f"min {min(r['cosine'] for r in sub):.3f}; norm ratio median "
              f"{np.median([r['norm_ratio'] for r in sub]):.3f}; |phi| median "
              f"{np.median([r['fixed_point_px'] for r in sub]):.2e} px")
    write_json(FLAGS.output, {"benchmark": "ddvo_gradient", "machine": machine_info(),
                              "settings": {"pairs": FLAGS.pairs, "height": 128, "width": 416,
                                           "iterations": 10, "depth_factor": [0.7, 1.3]},
                              "rows": rows})


if __name__ == "__main__":
    app.run(main)
