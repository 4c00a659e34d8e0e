"""Where DDVO's time goes, by XLA operation: ``python -m bench.profile_ddvo [--options=training]``.

Runs the DDVO layer's forward and forward+backward (implicit gradient) under ``tf.profiler`` with
XLA's optimised HLO dumped beside it, then sums the XLA CPU thunks' times by the TensorFlow op
each HLO instruction came from (its ``op_name``, e.g. ``direct_visual_odometry/level_0/while_1/
einsum/Einsum``) and prints the largest: by op-name prefix (``--depth`` path components: which
level, inside or outside its iterations) and by single instruction.  This is how the seventh round
of bench/results/ddvo_objective.md found the Jacobian layout that cost a quarter of DDVO's time.

Input as ``bench.bench_ddvo_ab``: ``--pairs`` rendered 128x416 street pairs in one batch (2, as
training calls the layer), 5 levels from the identity; ``--options=training`` builds the layer as
``train.py`` does.  Thunk times are summed over both CPU threads, so a row can exceed its share of
wall time; the forward and backward executables alternate, which is how their thunks are told
apart.  Needs the ``xplane_pb2`` module TensorFlow ships (``tensorflow.tsl.profiler.protobuf``).
"""
from __future__ import annotations

import collections
import glob
import os
import re
import tempfile

# XLA reads its flags once, at TensorFlow's import: the dump folder must be set before it.
_DUMP_DIR = tempfile.mkdtemp(prefix="ddvo_profile_hlo_")
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" --xla_dump_to={_DUMP_DIR} "
                           "--xla_dump_hlo_as_text --xla_dump_hlo_pass_re=^$").strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
from absl import app, flags

from bench import ddvo_timing
from bench.common import machine_info, print_table, write_json
from ddvo_tf.core.ddvo_layer import DirectVisualOdometry

FLAGS = flags.FLAGS
flags.DEFINE_enum("options", "training", ["layer", "training"],
                  "the layer's defaults, or training's DDVO options (interpolation, occlusion, iterations)")
flags.DEFINE_integer("pairs", 2, "image pairs per call (the batch)")
flags.DEFINE_integer("calls", 10, "profiled forward+backward calls")
flags.DEFINE_integer("depth", 3, "op-name path components to group by")
flags.DEFINE_integer("top", 25, "rows of each table")
flags.DEFINE_string("output", "bench/results/ddvo_profile.json", "JSON output path")

_EXECUTE = "CpuExecutable::ExecuteAsyncOnStream"
_INSTRUCTION = re.compile(r"\s*(?:ROOT )?%?([\w.\-]+) = (\S+) .*?op_name=\"([^\"]*)\"")


def _op_names(kind: str) -> dict[str, tuple[str, str]]:
    """HLO instruction name -> (op_name, shape) of the newest optimised module whose name has ``kind``."""
    paths = sorted(glob.glob(os.path.join(_DUMP_DIR, f"*{kind}*after_optimizations.txt")), key=os.path.getmtime)
    if not paths:
        raise SystemExit(f"no optimised HLO for {kind!r} in {_DUMP_DIR}: was XLA_FLAGS overridden?")
    names = {}
    with open(paths[-1]) as handle:
        for line in handle:
            match = _INSTRUCTION.match(line)
            if match:
                names[match.group(1)] = (match.group(3), match.group(2))
    return names


def _thunk_times(logdir: str, calls: int) -> dict[str, collections.Counter]:
    """Per executable (``forward``, ``backward``): instruction name -> picoseconds, from the trace."""
    try:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2
    except ImportError as error:
        raise SystemExit(f"this TensorFlow does not ship the profiler's xplane_pb2 ({error})")
    path = sorted(glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb")))[-1]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as handle:
        space.ParseFromString(handle.read())
    plane = next(p for p in space.planes if p.name == "/host:CPU")
    executions, thunks = [], []
    for line in plane.lines:
        for event in line.events:
            name = plane.event_metadata[event.metadata_id].name
            start = line.timestamp_ns * 1000 + event.offset_ps
            if name == _EXECUTE:
                executions.append((start, start + event.duration_ps))
            elif line.name.startswith("tf_numa") and name != "ThunkExecutor::Execute":
                thunks.append((start, event.duration_ps, name))
    executions.sort()
    if len(executions) != 2 * calls:
        raise SystemExit(f"expected {2 * calls} XLA executions (forward, backward per call), "
                         f"found {len(executions)}: is something else running XLA in this process?")
    times = {"forward": collections.Counter(), "backward": collections.Counter()}
    for start, duration, name in thunks:
        for index, (begin, end) in enumerate(executions):
            if begin <= start < end:
                times["forward" if index % 2 == 0 else "backward"][name] += duration
                break
    return times


def main(argv):
    del argv
    inputs = ddvo_timing.street_inputs(FLAGS.pairs)
    layer = DirectVisualOdometry(num_levels=5, **ddvo_timing.layer_options(FLAGS.options, 5))

    def forward_backward():
        return ddvo_timing.forward_backward(layer, inputs)

    print("compiling ...", flush=True)
    for _ in range(3):
        forward_backward()
    logdir = tempfile.mkdtemp(prefix="ddvo_profile_trace_")
    tf.profiler.experimental.start(logdir)
    for _ in range(FLAGS.calls):
        forward_backward()
    tf.profiler.experimental.stop()
    times = _thunk_times(logdir, FLAGS.calls)
    names = {"forward": _op_names("_forward_"), "backward": _op_names("_implicit_vjp_")}
    per_call = 1e-9 / FLAGS.calls / FLAGS.pairs          # picoseconds summed over calls -> ms per pair
    groups, instructions = collections.Counter(), []
    for kind, counter in times.items():
        for name, picoseconds in counter.items():
            op_name, shape = names[kind].get(name, ("(no op_name) " + name, ""))
            groups[(kind, "/".join(op_name.split("/")[:FLAGS.depth]))] += picoseconds
            instructions.append({"pass": kind, "instruction": name, "shape": shape[:32], "op": op_name,
                                 "ms_per_pair": round(picoseconds * per_call, 3)})
    totals = [{"pass": kind, "thunk_ms_per_pair": round(sum(c.values()) * per_call, 2)} for kind, c in times.items()]
    group_rows = [{"pass": kind, "op_prefix": prefix, "ms_per_pair": round(ps * per_call, 3)}
                  for (kind, prefix), ps in groups.most_common(FLAGS.top)]
    instructions.sort(key=lambda row: -row["ms_per_pair"])
    print_table(totals, ["pass", "thunk_ms_per_pair"])
    print()
    print_table(group_rows, ["pass", "ms_per_pair", "op_prefix"])
    print()
    print_table(instructions[:FLAGS.top], ["pass", "ms_per_pair", "instruction", "shape", "op"])
    write_json(FLAGS.output, {"benchmark": "ddvo_profile", "machine": machine_info(), "options": FLAGS.options,
                              "pairs": FLAGS.pairs, "calls": FLAGS.calls, "totals": totals, "groups": group_rows,
                              "instructions": instructions[:FLAGS.top]})


if __name__ == "__main__":
    app.run(main)
