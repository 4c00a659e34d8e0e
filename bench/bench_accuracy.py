"""Accuracy benchmark: does training learn depth at the paper's settings?

``python -m bench.bench_accuracy`` renders KITTI-layout drives of the built-in street with exact
depth (``pipelines.synthetic``), builds 128x416 clips with ``pipelines.build``, trains the four
modes with ``python -m ddvo_tf.train`` at the paper's defaults (batch 1, Adam 1e-4, full-width
networks) for a fixed step budget, and scores a held-out drive (another scene seed, never trained
on) against its exact depth with ``ddvo_tf.evaluate``'s Eigen-style metrics (Garg crop, per-image
median scaling, 80 m cap), beside a constant depth.  It also reports what a collapse looks like from
inside: the raw mean inverse depth over training (the sigmoid's bounds are 0.01 and 10.01), the
share of saturated outputs and the spread of the normalized map, read from each run's TensorBoard.

Budget (2-core CPU, measured in ``bench/results/accuracy.json``): rendering and building ~5 min,
then posecnn 600 steps 11 min, hybrid 300 8 min, ddvo 900 25 min, baseline 600 14 min: ~60 min for
all four (the runs were partly beside a test suite; ~45 min on a quiet machine is the estimate).
``--modes`` picks a subset; ``--set key=value`` passes training flags to every run (ablations);
work (renders, builds, runs) is kept in ``--work_dir`` and reused, so a rerun only trains what is
missing, and an interrupted run resumes.

Columns: abs_rel, rmse, rmse_log, a1 (delta < 1.25), log_corr (Pearson correlation of log depth
with the truth per image, averaged; 0 for a constant, undefined-as-0 for a flat map), image_corr
(the same correlation of the frame-to-frame variation, ``exact_depth.image_specific_correlation``:
0 for a fixed layout that ignores the image),
raw_inv_depth (min / max of the raw mean inverse depth after the first 10 % of steps),
saturated_high_max (largest share of pixels at the sigmoid's ceiling: the collapse), saturated_low_end
(share at the floor at the end: far scenery goes there legitimately), spread_end (coefficient of
variation of the normalized map, last logged step; a flat map has 0).
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import time

from absl import app, flags

from bench.common import machine_info, print_table, write_json
from ddvo_tf.evaluation import exact_depth

FLAGS = flags.FLAGS
ALL_MODES = ("posecnn", "hybrid", "ddvo", "baseline")
DEFAULT_STEPS = {"posecnn": 600, "hybrid": 300, "ddvo": 900, "baseline": 600}


def define_flags() -> None:
    flags.DEFINE_string("work_dir", None, "Renders, builds and runs (reused); default bench/work/accuracy_LOOK "
                        "(bench/work/accuracy holds the waves-look renders of earlier rounds).")
    flags.DEFINE_enum("look", "street", ["street", "waves"], "The synthetic street's look (pipelines.street_scene).")
    flags.DEFINE_list("modes", list(ALL_MODES), "Modes to train and score (hybrid starts from posecnn).")
    flags.DEFINE_integer("posecnn_steps", DEFAULT_STEPS["posecnn"], "posecnn steps (also hybrid's start).")
    flags.DEFINE_integer("hybrid_steps", DEFAULT_STEPS["hybrid"], "hybrid fine-tuning steps.")
    flags.DEFINE_integer("ddvo_steps", DEFAULT_STEPS["ddvo"], "ddvo steps from scratch.")
    flags.DEFINE_integer("baseline_steps", DEFAULT_STEPS["baseline"], "baseline steps.")
    flags.DEFINE_integer("train_drives", 3, "Rendered training drives (both cameras each).")
    flags.DEFINE_integer("train_frames", 60, "Frames per training drive.")
    flags.DEFINE_integer("test_frames", 24, "Frames of the held-out drive (every other one is scored).")
    flags.DEFINE_integer("seed", 0, "Training seed (data order, augmentation, initial weights).")
    flags.DEFINE_multi_string("set", [], "Extra training flag for every run, e.g. --set=smoothness_weight=0.1.")
    flags.DEFINE_string("tag", "default", "Name of this configuration (runs go to WORK_DIR/runs/TAG).")
    flags.DEFINE_string("output", os.path.join("bench", "results", "accuracy.json"), "JSON results.")


def render_data(work_dir: str, drives: int, frames: int, test_frames: int, look: str) -> tuple[str, str]:
    """Train build (128x416 clips) and the held-out drive's raw folder."""
    from pipelines import job, synthetic
    train_raw, test_raw = os.path.join(work_dir, "raw_train"), os.path.join(work_dir, "raw_test")
    build = os.path.join(work_dir, "build_128x416")
    synthetic.generate(test_raw, synthetic.SyntheticConfig(num_frames=test_frames, num_drives=1, seed=97,
                                                           cameras=("image_02",), velodyne=False, stop_start=-1,
                                                           look=look),
                       workers=2)
    if not os.path.isfile(os.path.join(build, "manifest.json")):
        job.build(job.BuildConfig(dataset="synthetic", input=train_raw, output_dir=build, height=128, width=416,
                                  workers=2, synthetic=synthetic.SyntheticConfig(
                                      num_frames=frames, num_drives=drives, velodyne=False, look=look)))
    return build, test_raw


def test_frames(test_raw: str) -> list[tuple[str, str]]:
    """(image, exact depth) paths of the held-out drive, every other frame."""
    return exact_depth.frames_with_depth(test_raw, every=2)


def score(model: str | None, frames: list[tuple[str, str]]) -> dict:
    """Eigen-style metrics (80 m cap) and log-depth correlation on the held-out frames; ``model=None``
    scores a constant depth."""
    return exact_depth.score(exact_depth.predict(model, frames))


def training_curves(model_dir: str) -> dict:
    """Raw mean inverse depth, saturated share and spread over training, from TensorBoard."""
    import tensorflow as tf
    from tensorflow.core.util import event_pb2
    curves: dict[str, list] = {"mean_inv_depth": [], "saturated_high": [], "saturated_low": [],
                               "inv_depth_spread": []}
    for path in sorted(glob.glob(os.path.join(model_dir, "tensorboard", "events*"))):
        for record in tf.data.TFRecordDataset(path):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.tag in curves:
                    curves[value.tag].append((int(event.step), float(tf.make_ndarray(value.tensor))))
    return {k: sorted(v) for k, v in curves.items()}


def train(mode: str, build: str, run_dir: str, steps: int, extra: list[str], init: str | None = None) -> float:
    """One ``python -m ddvo_tf.train`` run (resumed if partly done); returns its wall time."""
    command = [sys.executable, "-m", "ddvo_tf.train", f"--mode={mode}", f"--data_dir={build}",
               f"--model_dir={run_dir}", f"--steps={steps}", f"--seed={FLAGS.seed}", "--summary_every=10",
               "--checkpoint_every=300", "--image_every=300"] + [f"--{e}" for e in extra]
    if init:
        command.append(f"--init_checkpoint={init}")
    print(f"[{time.strftime('%H:%M:%S')}] training {mode} for {steps} steps -> {run_dir}", flush=True)
    start = time.perf_counter()
    result = subprocess.run(command)          # its progress line shows on this terminal
    if result.returncode != 0:
        raise SystemExit(f"training {mode} failed (exit {result.returncode}); its output is above")
    return time.perf_counter() - start


def summarize_curves(curves: dict, steps: int) -> dict:
    raw = [v for s, v in curves["mean_inv_depth"] if s > steps // 10]
    return {"raw_inv_depth_min": min(raw) if raw else None, "raw_inv_depth_max": max(raw) if raw else None,
            "saturated_high_max": max((v for _, v in curves["saturated_high"]), default=None),
            "saturated_low_end": curves["saturated_low"][-1][1] if curves["saturated_low"] else None,
            "spread_end": curves["inv_depth_spread"][-1][1] if curves["inv_depth_spread"] else None}


def main(argv):
    del argv
    unknown = set(FLAGS.modes) - set(ALL_MODES)
    if unknown:
        raise app.UsageError(f"--modes: unknown {sorted(unknown)}; choose from {ALL_MODES}")
    started = time.perf_counter()
    work_dir = FLAGS.work_dir or os.path.join("bench", "work", f"accuracy_{FLAGS.look}")
    build, test_raw = render_data(work_dir, FLAGS.train_drives, FLAGS.train_frames, FLAGS.test_frames, FLAGS.look)
    frames = test_frames(test_raw)
    runs = os.path.join(work_dir, "runs", FLAGS.tag)
    steps = {"posecnn": FLAGS.posecnn_steps, "hybrid": FLAGS.hybrid_steps, "ddvo": FLAGS.ddvo_steps,
             "baseline": FLAGS.baseline_steps}
    rows = [{"mode": "constant depth", **score(None, frames)}]
    order = [m for m in ALL_MODES if m in FLAGS.modes or (m == "posecnn" and "hybrid" in FLAGS.modes)]
    for mode in order:
        run_dir = os.path.join(runs, mode)
        init = os.path.join(runs, "posecnn") if mode == "hybrid" else None
        seconds = train(mode, build, run_dir, steps[mode], FLAGS.set, init)
        curves = training_curves(run_dir)
        row = {"mode": mode, "steps": steps[mode], **score(run_dir, frames),
               **summarize_curves(curves, steps[mode]), "train_seconds": round(seconds, 1)}
        rows.append(row)
        print_table([row], list(row))
    columns = ["mode", "steps", "abs_rel", "rmse", "rmse_log", "a1", "log_corr", "image_corr", "raw_inv_depth_min",
               "raw_inv_depth_max", "saturated_high_max", "saturated_low_end", "spread_end"]
    print()
    print_table(rows, columns)
    payload = {"machine": machine_info(), "command": " ".join(sys.argv), "tag": FLAGS.tag, "look": FLAGS.look, "extra_flags": FLAGS.set,
               "held_out_frames": len(frames), "rows": rows, "total_seconds": round(time.perf_counter() - started, 1),
               "curves": {m: training_curves(os.path.join(runs, m)) for m in order}}
    write_json(FLAGS.output, payload)


if __name__ == "__main__":
    define_flags()
    app.run(main)
