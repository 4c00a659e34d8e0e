"""tf.distribute: a mirrored step over two logical CPU devices equals one replica with the same
global batch (gradients summed over replicas, losses scaled by the global batch); the train.py
path runs end to end with --strategy=mirrored --cpu_replicas=2.

The CPU can only be split before TensorFlow initialises its devices, so each case runs in a fresh
process."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

SCRIPT = textwrap.dedent('''
    import json, sys
    from ddvo_tf.distribute import split_cpu
    split_cpu(2)
    import keras, numpy as np, tensorflow as tf
    from ddvo_tf import data
    from ddvo_tf.config import TrainConfig
    from ddvo_tf.training import build_learner, make_train_function

    data_dir = sys.argv[1]
    batch = next(iter(data.make_dataset(data_dir, batch_size=2, image_size=(32, 104), deterministic=True, seed=3)))
    batch = {"frames": batch["frames"], "intrinsics": batch["intrinsics"]}
    relative = lambda a, b: float(max(np.linalg.norm(x - y) / max(np.linalg.norm(y), 1e-12) for x, y in zip(a, b)))
    report = {}
    # one strategy object per process: a second MirroredStrategy would reuse collective instance keys
    strategies = {"default": tf.distribute.get_strategy(),
                  "mirrored": tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])}
    for mode in sys.argv[2:]:
        out = {}
        for name, strategy in strategies.items():
            config = TrainConfig(mode=mode, height=32, width=104, width_multiplier=0.25, batch_size=2, ddvo_levels=2)
            learner, _ = build_learner(config, strategy)
            with strategy.scope():   # plain SGD: the update is the (summed) gradient itself; Adam would hide its scale
                sgd = keras.optimizers.SGD(1.0)
                learner.compile(optimizer=sgd)
                sgd.build(learner.trainable_variables)
            before = [v.numpy() for v in learner.trainable_variables]
            distributed = next(iter(strategy.experimental_distribute_dataset(
                tf.data.Dataset.from_tensor_slices(batch).batch(2))))
            scalars = {k: float(v) for k, v in make_train_function(learner, strategy)(distributed).items()}
            copies = [[strategy.experimental_local_results(v.value)[r].numpy() for v in learner.trainable_variables]
                      for r in range(strategy.num_replicas_in_sync)]
            out[name] = dict(scalars=scalars, updates=[a - b for a, b in zip(copies[0], before)],
                             copies_equal=all(np.array_equal(a, b) for c in copies for a, b in zip(copies[0], c)),
                             count=strategy.num_replicas_in_sync)
        report[mode] = {"replicas": out["mirrored"]["count"], "copies_equal": out["mirrored"]["copies_equal"],
                        "update_error": relative(out["mirrored"]["updates"], out["default"]["updates"]),
                        "loss": [out[n]["scalars"]["loss"] for n in ("default", "mirrored")]}
    print(json.dumps(report))
''')


def test_mirrored_two_replicas_equal_one_replica_with_the_global_batch(built_clips):
    output, _, _ = built_clips
    result = subprocess.run([sys.executable, "-c", SCRIPT, output, "posecnn", "ddvo"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for mode, values in report.items():
        assert values["replicas"] == 2
        assert values["copies_equal"], mode                    # one synchronised update on both devices
        # SGD update = -(sum over replicas of each replica's gradient): equal only if every replica
        # scales its loss by the global batch and the optimizer sums (not averages) the gradients
        assert values["update_error"] < 1e-3, (mode, values)
        np.testing.assert_allclose(values["loss"][1], values["loss"][0], rtol=1e-5)


def test_train_cli_runs_mirrored_over_two_cpu_devices(built_clips, tmp_path):
    output, _, _ = built_clips
    model_dir = tmp_path / "run"
    command = [sys.executable, "-m", "ddvo_tf.train", "--mode=posecnn", f"--data_dir={output}",
               f"--model_dir={model_dir}", "--height=32", "--width=104", "--width_multiplier=0.25",
               "--batch_size=2", "--steps=3", "--strategy=mirrored", "--cpu_replicas=2",
               "--checkpoint_every=2", "--image_every=2"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 replicas, 1 clips each" in result.stdout
    assert os.path.isfile(model_dir / "saved_model" / "saved_model.pb")
    assert json.load(open(model_dir / "config.json"))["strategy"] == "mirrored"
    odd = subprocess.run(command[:-4] + ["--batch_size=3", "--strategy=mirrored", "--cpu_replicas=2"],
                         capture_output=True, text=True)
    assert odd.returncode == 2 and "multiple of the 2 replicas" in odd.stderr
