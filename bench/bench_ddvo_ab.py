"""DDVO speed, A against B: this checkout's DDVO layer against that of another git revision.

    python -m bench.bench_ddvo_ab --baseline=REV [--options=training] [--pairs=2] [--levels=5,3] [--rounds=10]

The revision's ``ddvo_tf`` package is extracted (``git archive``) under another package name, so
both versions live in one process whatever the revision's module layout.

On this 2-core VM the time of the same call drifts by ±30 % from one run of ``bench.bench_ddvo``
to the next, more than most changes worth measuring; so both versions are compiled in one
process and timed in alternation (``--rounds`` rounds of ``--calls`` calls each), and the table
gives each one's median and the ratio.  Input: ``--pairs`` rendered 128x416 street pairs, the first
with a near parked car (``bench.ddvo_cases``), in one batch (2: training at batch 1 solves a
clip's two pairs in one call, and XLA's CPU code for a batch of 1 differs); 5 levels from the
identity (the ``ddvo`` mode) and the ``hybrid`` refinement's start (``--levels`` below 5: from a
Pose-CNN-like perturbation), forward and forward+backward (the implicit gradient, the layer's
default).  ``--options=training``: the
layer as ``train.py`` builds it (bilinear warps, no occlusion test, its iteration budget), which
is what the DDVO share of a training step depends on; ``layer``: the layer's defaults.
"""
from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from absl import app, flags

from bench import ddvo_timing
from bench.common import machine_info, print_table, write_json
from ddvo_tf.core import ddvo_layer

FLAGS = flags.FLAGS
flags.DEFINE_string("baseline", None, "git revision of the other version (e.g. HEAD~1, a tag, a hash)")
flags.DEFINE_list("levels", ["5", "3"], "pyramid levels (5: from the identity; fewer: from a perturbed pose)")
flags.DEFINE_integer("rounds", 10, "alternations of the two versions")
flags.DEFINE_integer("calls", 4, "timed calls per version per round")
flags.DEFINE_integer("pairs", 2, "image pairs per call (the batch)")
flags.DEFINE_enum("options", "layer", ["layer", "training"],
                  "the layer's defaults, or training's DDVO options (interpolation, occlusion, iterations)")
flags.DEFINE_string("output", "bench/results/ddvo_ab.json", "JSON output path")
flags.mark_flag_as_required("baseline")


def _load(revision: str):
    """The module of ``revision`` that defines ``DirectVisualOdometry``, imported from a copy of
    its ``ddvo_tf`` package renamed ``ddvo_tf_baseline``."""
    root = tempfile.mkdtemp(prefix="ddvo_ab_")
    archive = subprocess.run(["git", "archive", revision, "ddvo_tf"], capture_output=True)
    if archive.returncode:
        raise app.UsageError(f"--baseline={revision}: git archive failed: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", root], input=archive.stdout, check=True)
    os.rename(os.path.join(root, "ddvo_tf"), os.path.join(root, "ddvo_tf_baseline"))
    layer_module = None
    for folder, _, names in os.walk(os.path.join(root, "ddvo_tf_baseline")):
        for name in (n for n in names if n.endswith(".py")):
            path = os.path.join(folder, name)
            text = re.sub(r"\bddvo_tf\b", "ddvo_tf_baseline", open(path).read())
            open(path, "w").write(text)
            if "class DirectVisualOdometry(" in text:
                layer_module = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
    if layer_module is None:
        raise app.UsageError(f"--baseline={revision}: no DirectVisualOdometry in its ddvo_tf package")
    sys.path.insert(0, root)
    return importlib.import_module(layer_module)


def main(argv):
    del argv
    versions = {"baseline": _load(FLAGS.baseline), "this checkout": ddvo_layer}
    inputs = ddvo_timing.street_inputs(FLAGS.pairs)
    calls, rows = {}, []
    for levels in map(int, FLAGS.levels):
        for name, module in versions.items():
            layer = module.DirectVisualOdometry(num_levels=levels, **ddvo_timing.layer_options(FLAGS.options, levels))
            init = None if levels == 5 else inputs.start

            def forward(layer=layer, init=init):
                return layer(inputs.ref, inputs.src, inputs.inv_depth, inputs.intrinsics, init).numpy()

            def forward_backward(layer=layer, init=init):
                return ddvo_timing.forward_backward(layer, inputs, init)

            for kind, fn in (("fwd", forward), ("fwd+bwd", forward_backward)):
                began = time.perf_counter()
                fn()
                calls[(levels, kind, name)] = (fn, time.perf_counter() - began, [])
    for _ in range(FLAGS.rounds):
        for fn, _, times in calls.values():
            for _ in range(FLAGS.calls):
                began = time.perf_counter()
                fn()
                times.append(time.perf_counter() - began)
    for levels in map(int, FLAGS.levels):
        for kind in ("fwd", "fwd+bwd"):
            base = np.median(calls[(levels, kind, "baseline")][2])
            for name in versions:
                _, first, times = calls[(levels, kind, name)]
                rows.append({"levels": levels, "pass": kind, "version": name, "first_call_s": round(first, 2),
                             "ms_per_pair": round(1000 * float(np.median(times)) / FLAGS.pairs, 1),
                             "ratio_to_baseline": round(float(np.median(times) / base), 3)})
    columns = ["levels", "pass", "version", "first_call_s", "ms_per_pair", "ratio_to_baseline"]
    print_table(rows, columns)
    write_json(FLAGS.output, {"benchmark": "ddvo_ab", "machine": machine_info(), "baseline": FLAGS.baseline,
                              "options": FLAGS.options, "rounds": FLAGS.rounds, "pairs": FLAGS.pairs,
                              "calls": FLAGS.calls, "rows": rows})


if __name__ == "__main__":
    app.run(main)
