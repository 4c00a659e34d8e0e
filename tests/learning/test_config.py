"""TrainConfig (ddvo_tf/learning/config.py): the modes' table, bad values named by their flag with the
fix, the JSON a run saves read back unchanged, and no TensorFlow at import (train.py checks flags
with it before TensorFlow loads)."""
import json
import subprocess
import sys

import pytest

from ddvo_tf.learning.config import HYBRID_DDVO_LEVELS, MODES, TrainConfig


def test_the_modes_differ_only_in_pose_source_normalization_and_levels():
    table = {mode: TrainConfig(mode=mode) for mode in MODES}
    assert [table[m].uses_pose_net for m in MODES] == [True, True, False, True]
    assert [table[m].uses_ddvo for m in MODES] == [False, False, True, True]
    assert [table[m].use_normalization for m in MODES] == [False, True, True, True]
    assert table["ddvo"].num_ddvo_levels == 5 and table["hybrid"].num_ddvo_levels == HYBRID_DDVO_LEVELS
    assert table["hybrid"].num_epochs == 2.0 and table["posecnn"].num_epochs == 10.0     # Section 5.1
    assert TrainConfig(mode="baseline", normalize=True).use_normalization


def test_a_saved_config_reads_back_equal():
    config = TrainConfig(mode="hybrid", ddvo_iterations=[5, 6, 10, 15, 15], data_dir="/d", width_multiplier=0.5)
    again = TrainConfig(**json.loads(config.to_json()))
    assert again == config and again.ddvo_iterations == (5, 6, 10, 15, 15)


def test_frame_size_errors_name_the_flag_and_the_nearest_valid_sizes():
    with pytest.raises(ValueError, match=r"^--height=100: .*multiple of 8.*use 96 or 104$"):
        TrainConfig(height=100)
    with pytest.raises(ValueError, match=r"^--width=12: .*use 16$"):
        TrainConfig(width=12)


def test_ddvo_iterations_are_one_count_or_one_per_level_finest_first():
    assert TrainConfig(mode="ddvo", ddvo_iterations=[6]).ddvo_iterations == 6
    assert TrainConfig(mode="hybrid", ddvo_iterations=[5, 6, 10, 15, 15]).ddvo_iterations == (5, 6, 10, 15, 15)
    with pytest.raises(ValueError, match=r"^--ddvo_iterations=5,6: .*at least 5 counts"):
        TrainConfig(mode="ddvo", ddvo_levels=5, ddvo_iterations=(5, 6))


@pytest.mark.parametrize("field, value, message", [
    ("mode", "fast", "mode"), ("keep_checkpoints", 0, "keep_checkpoints must be >= 1"),
    ("batch_size", 0, "--batch_size must be >= 1"), ("ddvo_robust", "cauchy", "ddvo_robust")])
def test_bad_values_are_refused_by_name(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_the_config_module_does_not_load_tensorflow():
    code = "import sys, ddvo_tf.learning.config; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
