"""ddvo_tf/serving/export.py and the export command: the SavedModel and TFLite equal the Keras
model, metadata, and clear messages for folders that are not (intact) runs."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf



def test_reloaded_savedmodel_equals_the_keras_model(fake_run, exported):
    _, depth_net = fake_run
    loaded = tf.saved_model.load(exported)
    rng = np.random.default_rng(0)
    for shape in [(1, 32, 104, 3), (2, 64, 208, 3), (3, 45, 77, 3)]:
        images = rng.uniform(size=shape).astype(np.float32)
        expected = tf.image.resize(depth_net(tf.image.resize(images, [32, 104], method="area"))[0],
                                   shape[1:3], method="bilinear").numpy() / 2.5
        out = loaded.signatures["serving_default"](images=tf.constant(images))
        np.testing.assert_allclose(out["inverse_depth"].numpy(), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["depth"].numpy(), 1.0 / expected, rtol=1e-5)
        as_uint8 = np.round(images * 255).astype(np.uint8)
        out8 = loaded.signatures["serve_uint8"](images=tf.constant(as_uint8))
        np.testing.assert_allclose(out8["inverse_depth"].numpy(), loaded.signatures["serving_default"](
            images=tf.constant(as_uint8.astype(np.float32) / 255))["inverse_depth"].numpy(), rtol=1e-5)
    metadata = json.load(open(os.path.join(exported, "metadata.json")))
    assert (metadata["height"], metadata["width"], metadata["steps"], metadata["scale"]) == (32, 104, 7, 2.5)
    assert metadata["mode"] == "posecnn" and metadata["normalize"] is True and metadata["commit"]


def test_tflite_matches_the_keras_model(fake_run, exported):
    _, depth_net = fake_run
    interpreter = tf.lite.Interpreter(model_path=os.path.join(exported, "depth.tflite"))
    interpreter.allocate_tensors()
    image = np.random.default_rng(1).uniform(size=(1, 32, 104, 3)).astype(np.float32)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(output, depth_net(image)[0].numpy(), rtol=1e-4, atol=1e-5)


def test_export_of_a_folder_that_is_not_a_run_says_so(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ddvo_tf.export", f"--model_dir={tmp_path}"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "config.json does not exist" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("damage", ["empty_config", "other_width"])
def test_export_of_a_damaged_run_names_the_file(fake_run, tmp_path, damage):
    import shutil
    run = str(tmp_path / "run")
    shutil.copytree(fake_run[0], run)
    config = json.load(open(os.path.join(run, "config.json")))
    with open(os.path.join(run, "config.json"), "w") as handle:
        handle.write("" if damage == "empty_config" else json.dumps({**config, "width_multiplier": 0.5}))
    result = subprocess.run([sys.executable, "-m", "ddvo_tf.export", f"--model_dir={run}",
                             f"--export_dir={tmp_path}/out"], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    expected = "config.json is damaged" if damage == "empty_config" else "does not fit the networks of"
    assert expected in result.stderr, result.stderr[-2000:]
