"""The README cannot rot: every `python -m MODULE --flag...` command in it names a real module and
only flags that module defines (the runnable ones are also run verbatim by .ci/run)."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _commands():
    with open(os.path.join(ROOT, "README.md")) as handle:
        text = handle.read()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    commands = []
    for block in blocks:
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            match = re.search(r"python -m ([\w.]+)(.*)", line.split("#")[0])
            if match and match.group(1) != "pytest":
                commands.append((match.group(1), re.findall(r"--(?:no)?([a-z_]+)", match.group(2))))
    return commands


def test_the_readme_has_commands():
    modules = {module for module, _ in _commands()}
    assert {"ddvo_tf.train", "pipelines.build", "ddvo_tf.evaluate", "ddvo_tf.export", "ddvo_tf.predict",
            "pipelines.export_gt_depth"} <= modules


@pytest.mark.parametrize("module", sorted({m for m, _ in _commands()}))
def test_readme_flags_exist(module):
    used = {flag for m, flags in _commands() if m == module for flag in flags}
    result = subprocess.run([sys.executable, "-m", module, "--helpfull"], capture_output=True, text=True, cwd=ROOT)
    defined = set(re.findall(r"--(?:\[no\])?([a-z_]+)", result.stdout + result.stderr))
    assert used <= defined, f"{module}: README uses undefined flags {sorted(used - defined)}"
