"""A finished run read back (ddvo_tf/learning/runs.py): its config, step and the networks of its
latest checkpoint; each way a folder can fail to be a run is named with what is missing."""
import json
import os
import shutil

import numpy as np
import pytest

from ddvo_tf.learning.runs import RunError, load_run


def test_a_run_gives_its_config_step_and_restored_depth_cnn(fake_run):
    run, depth_net = fake_run
    loaded = load_run(run, with_pose_net=False)
    assert loaded.step == 7 and loaded.config.mode == "posecnn" and loaded.checkpoint.endswith("ckpt-7")
    for restored, original in zip(loaded.depth_net.weights, depth_net.weights):
        np.testing.assert_array_equal(restored.numpy(), original.numpy())
    assert loaded.pose_net is None
    with pytest.raises(RunError, match="does not fit the networks"):
        load_run(run)            # a posecnn run whose checkpoint lacks its Pose-CNN is not a whole run


def test_folders_that_are_not_runs_say_what_is_missing(fake_run, tmp_path):
    with pytest.raises(RunError, match="config.json does not exist"):
        load_run(str(tmp_path))
    copy = str(tmp_path / "copy")
    shutil.copytree(fake_run[0], copy)
    config = json.load(open(os.path.join(copy, "config.json")))
    with open(os.path.join(copy, "config.json"), "w") as handle:
        json.dump({**config, "width_multiplier": 0.5}, handle)
    with pytest.raises(RunError, match="does not fit the networks of"):
        load_run(copy, with_pose_net=False)
    with open(os.path.join(copy, "config.json"), "w") as handle:
        json.dump({**config, "no_such_option": 1}, handle)
    with pytest.raises(RunError, match="damaged or from another version"):
        load_run(copy)
    shutil.rmtree(os.path.join(copy, "checkpoints"))
    with open(os.path.join(copy, "config.json"), "w") as handle:
        json.dump(config, handle)
    with pytest.raises(RunError, match="holds no checkpoint yet"):
        load_run(copy)
