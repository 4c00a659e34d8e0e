"""Where trained models err, by true depth: ``python -m bench.bench_depth_bins --runs=TAG/MODE,...``

Scores finished ``bench.bench_accuracy`` runs (``WORK_DIR/runs/TAG/MODE``, their SavedModel or
latest checkpoint) on the accuracy benchmark's held-out drive, as that benchmark does (Garg crop,
per-image median scaling, 80 m cap), and splits the errors by the true depth of each pixel:
share of pixels, abs rel, RMSE and mean log ratio (< 0: predicted too near) per bin.  Nothing is
trained; it answers which depths a change of training (e.g. DDVO's robust penalty) moved.

    python -m bench.bench_depth_bins --work_dir=bench/work/accuracy \\
        --runs=r3_ddvo_seed0/ddvo,r5_ddvo_seed1/ddvo,r5_l2_ddvo_seed0/ddvo \\
        --output=bench/results/depth_bins_ddvo.json
"""
from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags

from bench.common import machine_info, print_table, write_json
from ddvo_tf.evaluation import exact_depth

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("work_dir", os.path.join("bench", "work", "accuracy"),
                        "bench.bench_accuracy's --work_dir (holds raw_test/ and runs/).")
    flags.DEFINE_list("runs", None, "TAG/MODE of each run under WORK_DIR/runs to score.")
    flags.DEFINE_list("edges", [str(e) for e in exact_depth.DEPTH_BINS], "Bin edges in metres.")
    flags.DEFINE_string("output", os.path.join("bench", "results", "depth_bins.json"), "JSON results.")
    flags.mark_flags_as_required(["runs"])


def main(argv: list[str]) -> int:
    del argv
    started = time.perf_counter()
    test_raw = os.path.join(FLAGS.work_dir, "raw_test")
    try:
        frames = exact_depth.frames_with_depth(test_raw, every=2)     # as bench.bench_accuracy scores
        edges = tuple(float(e) for e in FLAGS.edges)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error} (run python -m bench.bench_accuracy --work_dir={FLAGS.work_dir} first)",
              file=sys.stderr)
        return 2
    rows = []
    for run in [None] + FLAGS.runs:
        folder = os.path.join(FLAGS.work_dir, "runs", run) if run else None
        if folder and not os.path.isdir(folder):
            print(f"error: {folder} does not exist (a bench.bench_accuracy run, TAG/MODE)", file=sys.stderr)
            return 2
        predictions = exact_depth.predict(folder, frames)
        overall = exact_depth.score(predictions)
        for bin_row in exact_depth.errors_by_depth(predictions, edges):
            rows.append({"run": run or "constant depth", "bin": f"{bin_row['from_m']:g}-{bin_row['to_m']:g} m",
                         **bin_row, "overall_abs_rel": overall["abs_rel"], "overall_rmse": overall["rmse"]})
    print_table(rows, ["run", "bin", "pixels", "abs_rel", "rmse", "log_ratio", "overall_abs_rel", "overall_rmse"])
    write_json(FLAGS.output, {"machine": machine_info(), "command": " ".join(sys.argv), "held_out_frames": len(frames),
                              "edges_m": edges, "rows": rows, "seconds": round(time.perf_counter() - started, 1)})
    return 0


if __name__ == "__main__":
    define_flags()
    app.run(main)
