"""CI: what README command 1 must leave behind, read from its output log and its run folder.

usage: python .ci/check_quickstart.py LOG MODEL_DIR
"""
import os
import re
import sys

MAX_RUN_MB = 300            # the quick run's folder: a laptop can afford it
MAX_SHARE_OF_CONSTANT = 0.7  # held-out abs rel, as a share of a constant depth's
# The image-specific correlation (0 for one fixed street layout, 1 for the truth): six quick
# runs on the street look with pavements gave 0.55-0.73; the weakly textured look that learned only
# the layout gave -0.12...0.28, the look without pavements 0.19...0.61. 0.3 fails a run that has
# fallen back to the layout, with room for the spread (bench/results/quick_run.md).
MIN_IMAGE_SPECIFIC = 0.3


def main(log_path: str, model_dir: str) -> int:
    with open(log_path, errors="replace") as handle:
        log = handle.read()
    problems = []
    native = re.findall(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\].*$", log, re.M)
    if native or "absl::InitializeLog" in log:
        problems.append(f"TensorFlow's native log lines in the default output: {native[:3]}")
    held_out = re.search(r"held-out street .*abs rel ([\d.]+).*a constant depth: abs rel ([\d.]+)", log)
    if not held_out:
        problems.append("no held-out street line in the output")
    elif float(held_out.group(1)) > MAX_SHARE_OF_CONSTANT * float(held_out.group(2)):
        problems.append(f"held-out abs rel {held_out.group(1)} is not clearly below a constant depth's "
                        f"{held_out.group(2)}")
    specific = re.search(r"image-specific correlation (-?[\d.]+)", log)
    if not specific:
        problems.append("no image-specific correlation in the output")
    elif float(specific.group(1)) < MIN_IMAGE_SPECIFIC:
        problems.append(f"image-specific correlation {specific.group(1)} is below {MIN_IMAGE_SPECIFIC}: the "
                        "model predicts the street's layout, not what is in front of the camera")
    size = sum(os.path.getsize(os.path.join(folder, name))
               for folder, _, names in os.walk(model_dir) for name in names) / 1e6
    if size > MAX_RUN_MB:
        problems.append(f"{model_dir} holds {size:.0f} MB (more than {MAX_RUN_MB})")
    for name in ("held_out_00.png", "depth_00.png", os.path.join("saved_model", "saved_model.pb")):
        if not os.path.isfile(os.path.join(model_dir, name)):
            problems.append(f"{model_dir}/{name} is missing")
    bars = re.findall(r"(posecnn|hybrid): +\d+%\|[^\r\n]*", log)
    if "first step done in" not in log or any(re.search(r"<\d+:\d\d:\d\d,", bar) for bar in bars):
        problems.append("the progress bar's time left includes the first step's tracing (an hour-long ETA)")
    if not re.search(r"^next:\n  tensorboard --logdir .*\n  python -m ddvo_tf.predict ", log, re.M):
        problems.append("the final message does not say what to do next")
    for problem in problems:
        print(f"check_quickstart: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_quickstart: ok ({size:.0f} MB, held-out abs rel {held_out.group(1)} vs constant "
              f"{held_out.group(2)}, image-specific correlation {specific.group(1)})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
