"""The whole benchmark suite in one table, with issue 7's targets: ``python -m bench.run_all``.

Runs each benchmark script in its own process (their JSON lands in ``bench/results/``), measures
this machine's float32 matmul rate, and prints one table -- DDVO forward/backward per pair, train
step per mode and batch (and bf16), the DDVO share of a ``ddvo`` step, the convolution rate as a
fraction of the matmul rate, pipeline build/read rates, inference images/s -- written to
``bench/results/all.json``.  About 15 minutes on the 2-core CPU of BUILD_NOTES.md.

    python -m bench.run_all [--only=ddvo,train,pipeline,inference] [--steps=5]
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json
import subprocess
import sys

from absl import app, flags

from bench.common import machine_info, matmul_gflops, print_table, write_json
from ddvo_tf.learning.config import HYBRID_DDVO_LEVELS

FLAGS = flags.FLAGS
flags.DEFINE_list("only", ["ddvo", "train", "pipeline", "inference"], "which benchmarks to (re)run; the "
                  "others are read from their last JSON in --results")
flags.DEFINE_integer("steps", 5, "timed train steps per row")
flags.DEFINE_string("results", "bench/results", "folder of the JSON files")

AUTHORS_S_PER_CLIP = 2.2      # the authors' PyTorch code on this CPU, 128x416, batch 1 (issue 4)
MODES = ("baseline", "posecnn", "ddvo", "hybrid")


def _run(module: str, *args: str) -> None:
    command = [sys.executable, "-m", module, *args]
    print("$", " ".join(command[1:]), flush=True)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{module} failed:\n{done.stderr[-3000:]}")


def _load(name: str) -> dict:
    path = os.path.join(FLAGS.results, name)
    if not os.path.isfile(path):
        raise SystemExit(f"{path} missing: run with --only including it")
    with open(path) as handle:
        return json.load(handle)


def _row(group, metric, value, unit, target=None, ok=None):
    return {"group": group, "metric": metric, "value": value, "unit": unit,
            "target": target or "", "met": "" if ok is None else ("yes" if ok else "NO")}


def main(argv):
    del argv
    results = FLAGS.results
    if "ddvo" in FLAGS.only:
        _run("bench.bench_ddvo", "--batches=2", f"--levels=5,{HYBRID_DDVO_LEVELS}", "--modes=xla", "--repeats=12",
             f"--output={results}/ddvo_suite.json")
    if "train" in FLAGS.only:
        _run("bench.bench_train", "--modes=" + ",".join(MODES + ("convs",)), "--batches=1,4", "--jit=false",
             f"--steps={FLAGS.steps}", f"--output={results}/train.json")
        _run("bench.bench_train", "--modes=convs,posecnn,ddvo", "--batches=1", "--jit=false", "--precisions=bf16",
             f"--steps={FLAGS.steps}", f"--output={results}/train_bf16.json")
    if "pipeline" in FLAGS.only:
        _run("bench.bench_pipeline", f"--output={results}/pipeline.json")
    if "inference" in FLAGS.only:
        _run("bench.bench_inference", f"--output={results}/inference.json")
    matmul = matmul_gflops()

    rows = [_row("machine", "float32 matmul (2048^2)", matmul, "GFLOP/s")]
    ddvo = {(r["levels"], r["pass"]): r["ms_per_pair"] for r in _load("ddvo_suite.json")["rows"]}
    for levels in (5, HYBRID_DDVO_LEVELS):
        for part in ("fwd", "fwd+bwd"):
            rows.append(_row("DDVO 128x416", f"{part}, {levels} level(s), per pair", ddvo[levels, part], "ms"))
    train = {(r["mode"], r["batch"]): r for r in _load("train.json")["rows"] if "error" not in r}
    for mode in MODES:
        one, four = train[mode, 1]["s/clip"], train[mode, 4]["s/clip"]
        rows.append(_row("train 128x416", f"{mode}, batch 1", one, "s/clip", f"<= {AUTHORS_S_PER_CLIP}",
                         one <= AUTHORS_S_PER_CLIP))
        rows.append(_row("train 128x416", f"{mode}, batch 4", four, "s/clip"))
        rows.append(_row("train 128x416", f"{mode}, batch 4 speed-up per clip", one / four, "x", ">= 1.3",
                         one / four >= 1.3))
    for mode, levels in (("ddvo", 5), ("hybrid", HYBRID_DDVO_LEVELS)):
        share = 2 * ddvo[levels, "fwd+bwd"] / 1000 / train[mode, 1]["s/step"]
        rows.append(_row("train 128x416", f"DDVO share of a {mode} step (2 pairs, batch 1)", 100 * share, "%",
                         "<= 10" if mode == "ddvo" else None, share <= 0.10 if mode == "ddvo" else None))
    for batch in (1, 4):
        convs = train["convs", batch]["GFLOP/s"]
        rows.append(_row("convolutions", f"networks alone, batch {batch}", 100 * convs / matmul, "% of matmul",
                         ">= 60", convs / matmul >= 0.6))
    for mode in MODES:
        rows.append(_row("convolutions", f"{mode} step, batch 4", 100 * train[mode, 4]["GFLOP/s"] / matmul,
                         "% of matmul"))
    for r in _load("train_bf16.json")["rows"]:
        if "error" not in r:
            base = train[r["mode"], 1]["s/clip"]
            rows.append(_row("train bf16", f"{r['mode']}, batch 1", r["s/clip"], "s/clip"))
            rows.append(_row("train bf16", f"{r['mode']}, speed-up over float32", base / r["s/clip"], "x"))
    for r in _load("pipeline.json")["rows"]:
        rows.append(_row("pipeline", f"{r['job']} ({r['workers']} worker{'s' if r['workers'] != 1 else ''})",
                         r["clips/s"], "clips/s"))
    for r in _load("inference.json")["rows"]:
        rows.append(_row("inference 128x416", f"SavedModel, batch {r['batch']}", r["images/s"], "images/s"))
    print_table(rows, ["group", "metric", "value", "unit", "target", "met"])
    write_json(os.path.join(results, "all.json"), {"machine": machine_info(), "rows": rows})


if __name__ == "__main__":
    app.run(main)
