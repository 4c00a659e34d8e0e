"""What every command shares (ddvo_tf/cli.py): TensorFlow's native log lines filtered out of the
default output, --verbose, --help exiting 0, and typos reported before TensorFlow loads."""
import os
import re
import subprocess
import sys

import pytest

from ddvo_tf import cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMMANDS = ["ddvo_tf.train", "ddvo_tf.export", "ddvo_tf.predict", "ddvo_tf.evaluate", "ddvo_tf.demo",
            "pipelines.build", "pipelines.export_gt_depth"]
NATIVE_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]", re.M)


def _run(args, **kwargs):
    env = {k: v for k, v in os.environ.items() if k != cli.VERBOSE_ENV}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env, **kwargs)


def test_the_filter_drops_tensorflows_chatter_and_keeps_everything_else():
    lines = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796284856.983535    2948 port.cc:153] oneDNN custom operations are on.",
        "E0000 00:00:1796284862.245815    2948 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)",
        "W1203 08:03:04.960400 139620951767936 functional_saver.py:440] Sharding callback duration: 5",
        "E1203 08:03:04.960400    2948 node_def_util.cc:12] NodeDef mentions attribute Truncate which is not",
        "E1203 08:03:04.960400    2948 some_kernel.cc:99] a real error",
        "F1203 08:03:04.960400    2948 check.cc:7] Check failed: a fatal one",
        "our own line", "Fatal Python error: Aborted",
    ]
    result = subprocess.run([sys.executable, "-c", cli._FILTER_SOURCE], input="\n".join(lines) + "\n",
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.splitlines() == lines[5:]


@pytest.mark.parametrize("module", COMMANDS)
def test_help_exits_zero_and_lists_verbose(module):
    result = _run(["-m", module, "--help"], timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--[no]verbose" in _run(["-m", module, "--helpfull"], timeout=300).stdout


def test_train_help_shows_the_quick_runs_own_values():
    text = " ".join(_run(["-m", "ddvo_tf.train", "--help"], timeout=120).stdout.split())
    entries = dict(re.findall(r"--(?:\[no\])?([a-z_]+): (.*?)(?= --(?:\[no\])?[a-z_]+: |$)", text))
    for flag, value in (("height", "64"), ("batch_size", "4"), ("keep_checkpoints", "1")):
        assert f"Built-in quick run (no --data_dir): {value}." in entries[flag], entries.get(flag)


def test_a_command_prints_only_its_own_lines(tmp_path):
    """The DDVO demo imports TensorFlow and runs it: nothing native reaches the output."""
    args = ["-m", "ddvo_tf.demo", "--height=32", "--width=104", "--levels=2", "--iterations=2",
            f"--output_dir={tmp_path}"]
    quiet = _run(args, timeout=600)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    output = quiet.stdout + quiet.stderr
    assert not NATIVE_LINE.search(output) and "absl::InitializeLog" not in output, output[-3000:]
    assert "wrote " in quiet.stdout and os.path.isfile(tmp_path / "ddvo_demo.png")


def test_training_typos_are_reported_with_the_fix_before_tensorflow_loads(tmp_path):
    # -X importtime lists every import on stderr: tensorflow must not be among them.
    result = _run(["-X", "importtime", "-m", "ddvo_tf.train", "--height=100", f"--model_dir={tmp_path}/run"],
                  timeout=120)
    assert result.returncode == 2
    assert "error: --height=100: " in result.stderr and "use 96 or 104" in result.stderr
    assert not re.search(r"\|\s+tensorflow$", result.stderr, re.M)
    missing = _run(["-m", "ddvo_tf.train", f"--init_checkpoint={tmp_path}/nothing", f"--model_dir={tmp_path}/run"],
                   timeout=120)
    assert missing.returncode == 2 and f"--init_checkpoint={tmp_path}/nothing does not exist" in missing.stderr
    assert not os.path.exists(tmp_path / "run")
