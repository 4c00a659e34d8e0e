"""DDVO accuracy on poses with known answers: the robust objectives against the paper's L2.

    python -m bench.bench_ddvo_accuracy [--robust=none,huber,student_t] [--pairs=12]
                                        [--interpolation=bilinear,bicubic] [--noweight_hessian]
                                        [--hybrid_levels=1,2,3] [--tolerance=0.001,0.01]
                                        [--pixel_share=1,0.5,0.25] [--output=...]

Three blocks of rows (cases in :mod:`bench.ddvo_cases`):

* ``street``: rendered 128x416 street pairs with exact depth, a near parked car in each (occlusion
  edges), solved from the identity over 5 levels (``--iterations``).
* ``motorcycle``: the Middlebury 2014 pair (real photographs, ground-truth disparity) at 736x496 and
  184x124, 5 levels from the identity.
* ``hybrid``: the same street pairs from a Pose-CNN-like start (rotation 0.5 deg off, translation
  x1.3 + 5 cm) with 1, 2 or 3 pyramid levels, 10 iterations per level (``hybrid``'s refinement).

``--iterations=5,6,10,15,30`` measures training's per-level budget (finest level first); by default
the layer's (10 per level, 30 at the coarsest).

Translation error is ``|t - t*| / |t*|``; rotation error the angle of ``R R*^T`` in degrees.
The authors' DirectVO (PyTorch) on the same inputs, measured once for issue 14, is printed beside.
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
from ddvo_tf.core.ddvo_solver import DEFAULT_PIXEL_SHARE, DEFAULT_TOLERANCE

FLAGS = flags.FLAGS
flags.DEFINE_list("robust", ["none", "huber", "student_t"], "robust objectives to compare")
flags.DEFINE_integer("pairs", 12, "rendered street pairs")
flags.DEFINE_list("iterations", [], "iterations per pyramid level, or one count per level, finest first "
                  "(e.g. training's 5,6,10,15,30; the hybrid rows use the first counts); default: the "
                  "layer's (10 per level, 30 at the coarsest)")
flags.DEFINE_list("interpolation", ["bicubic"], "source-image interpolations to compare")
flags.DEFINE_boolean("weight_hessian", True, "re-weight the Gauss-Newton Hessian every iteration (the "
                     "layer's default); --noweight_hessian: the authors' fixed Hessian")
flags.DEFINE_list("hybrid_levels", ["1", "2", "3"], "pyramid levels of the hybrid refinement")
flags.DEFINE_list("tolerance", [str(DEFAULT_TOLERANCE)],
                  "stopping tolerances to compare (RMS pixel motion of a step, pixels of the level)")
flags.DEFINE_list("pixel_share", [str(DEFAULT_PIXEL_SHARE)],
                  "shares of the finest level's pixels to compare (1, 0.5, 0.25: the layer's pixel_share)")
flags.DEFINE_string("output", "bench/results/ddvo_accuracy.json", "JSON output path")

# The authors' DirectVO on the same inputs (issue 14's table): median / worst translation error,
# worst rotation error in degrees.
AUTHORS = {"street": (0.0045, 0.0431, 0.060), "motorcycle_736x496": (0.0109, 0.0109, 0.017),
           "motorcycle_184x124": (0.0217, 0.0217, 0.076)}


def solve(cases, variant, levels, iterations, init=None):
    """The layer with ``variant`` (robust, interpolation, tolerance, pixel_share) on ``cases``."""
    iterations = [int(n) for n in iterations] or None
    ref, src, inv_depth, intrinsics, _ = ddvo_cases.stack(cases)
    layer = DirectVisualOdometry(num_levels=levels, num_iterations=iterations,
                                 weight_hessian=FLAGS.weight_hessian, **variant)
    init = None if init is None else tf.constant(init, tf.float32)
    pose, info = layer.solve(tf.constant(ref), tf.constant(src), tf.constant(inv_depth),
                             tf.constant(intrinsics), init)
    return pose.numpy().astype(np.float64), {k: v.numpy() for k, v in info.items()}


def row(block, case, variant, levels, estimated, true, info):
    t_err, r_err = ddvo_cases.pose_errors(estimated, true)
    out = {"block": block, "case": case, **variant, "levels": levels,
           "t_err_median_%": 100 * float(np.median(t_err)), "t_err_worst_%": 100 * float(t_err.max()),
           "rot_err_median_deg": float(np.median(r_err)), "rot_err_worst_deg": float(r_err.max()),
           "iterations_mean": float(np.mean(info["iterations"])), "t_err_all_%": (100 * t_err).round(3).tolist()}
    print({k: v for k, v in out.items() if k != "t_err_all_%"}, flush=True)
    return out


def main(argv):
    del argv
    rows = []
    street = ddvo_cases.street_pairs(count=FLAGS.pairs)
    true = np.stack([c.pose for c in street])
    starts = ddvo_cases.perturb(true)
    start_t, start_r = ddvo_cases.pose_errors(starts, true)
    print(f"hybrid starts: translation error median {100 * np.median(start_t):.1f} %, "
          f"rotation {np.median(start_r):.2f} deg")
    motorcycles = [ddvo_cases.motorcycle(1), ddvo_cases.motorcycle(4)]
    variants = [dict(robust=r, interpolation=i, tolerance=float(t), pixel_share=float(p))
                for r in FLAGS.robust for i in FLAGS.interpolation for t in FLAGS.tolerance
                for p in FLAGS.pixel_share]
    for variant in variants:
        pose, info = solve(street, variant, 5, FLAGS.iterations)
        rows.append(row("street", "street", variant, 5, pose, true, info))
        for case in motorcycles:
            pose, info = solve([case], variant, 5, FLAGS.iterations)
            rows.append(row("motorcycle", case.name, variant, 5, pose, case.pose[None], info))
        for levels in map(int, FLAGS.hybrid_levels):
            pose, info = solve(street, variant, levels, FLAGS.iterations, init=starts)
            rows.append(row("hybrid", "street_perturbed", variant, levels, pose, true, info))
    columns = ["block", "case", "robust", "interpolation", "tolerance", "pixel_share", "levels",
               "t_err_median_%", "t_err_worst_%",
               "rot_err_median_deg", "rot_err_worst_deg", "iterations_mean"]
    print()
    print_table(rows, columns)
    print("\nauthors' DirectVO (issue 14): " + ", ".join(
        f"{k}: t median {100 * v[0]:.2f} % / worst {100 * v[1]:.2f} %, rot worst {v[2]:.3f} deg"
        for k, v in AUTHORS.items()))
    write_json(FLAGS.output, {"benchmark": "ddvo_accuracy", "machine": machine_info(),
                              "settings": {"pairs": FLAGS.pairs, "iterations": FLAGS.iterations,
                                           "tolerance": FLAGS.tolerance, "pixel_share": FLAGS.pixel_share,
                                           "weight_hessian": FLAGS.weight_hessian,
                                           "hybrid_start": {"rotation_deg": 0.5, "translation_scale": 1.3,
                                                            "translation_offset": 0.05}},
                              "authors_directvo": AUTHORS, "rows": rows})


if __name__ == "__main__":
    app.run(main)
