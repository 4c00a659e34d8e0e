"""ddvo_tf/serving/ (export.py, predict.py) and their commands: SavedModel round trip, signatures, TFLite, the inference CLI."""
import json
import os
import subprocess
import sys

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from ddvo_tf.serving import predict
from ddvo_tf.learning.config import TrainConfig
from ddvo_tf.learning.depth_net import build_depth_net


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    """A training run's files (config.json + a step-7 checkpoint) around a random small Depth-CNN."""
    run = tmp_path_factory.mktemp("run")
    config = TrainConfig(mode="posecnn", height=32, width=104, width_multiplier=0.25, model_dir=str(run))
    (run / "config.json").write_text(config.to_json())
    keras.utils.set_random_seed(3)
    depth_net = build_depth_net(32, 104, 0.25, head_init="glorot")   # random heads: a map with structure
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(depth_net=depth_net), str(run / "checkpoints"), 2)
    manager.save(checkpoint_number=7)
    return str(run), depth_net


@pytest.fixture(scope="module")
def exported(fake_run, tmp_path_factory):
    run, _ = fake_run
    export_dir = str(tmp_path_factory.mktemp("export") / "model")
    result = subprocess.run([sys.executable, "-m", "ddvo_tf.export", f"--model_dir={run}",
                             f"--export_dir={export_dir}", "--scale=2.5", "--tflite"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return export_dir


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


def _images(folder, count=4, size=(40, 120)):
    rng = np.random.default_rng(2)
    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        cv2.imwrite(os.path.join(folder, f"img{i}.png"), rng.integers(0, 255, size + (3,), dtype=np.uint8))


def test_folder_with_a_corrupt_file_writes_the_rest(exported, tmp_path):
    folder = str(tmp_path / "in")
    _images(folder)
    cv2.imwrite(os.path.join(folder, "big.jpg"), np.zeros((60, 90, 3), np.uint8))        # another size
    with open(os.path.join(folder, "img1.png"), "rb") as handle:
        data = handle.read()
    with open(os.path.join(folder, "img1.png"), "wb") as handle:
        handle.write(data[:100])
    summary = predict.run(exported, folder, str(tmp_path / "out"), batch_size=2, save_npy=True)
    assert summary.written == 4 and [os.path.basename(p) for p, _ in summary.failed] == ["img1.png"]
    for name in ("img0", "img2", "img3", "big"):
        depth = cv2.imread(str(tmp_path / "out" / f"{name}_depth.png"))
        pair = cv2.imread(str(tmp_path / "out" / f"{name}_pair.png"))
        assert depth is not None and pair.shape[1] == 2 * depth.shape[1]
        assert np.load(str(tmp_path / "out" / f"{name}_depth.npy")).shape == depth.shape[:2]
    result = subprocess.run([sys.executable, "-m", "ddvo_tf.predict", f"--model={exported}", f"--input={folder}",
                             f"--output_dir={tmp_path}/cli"], capture_output=True, text=True)
    assert result.returncode == 1
    assert "skipped" in result.stderr and "img1.png" in result.stderr and "images/s" in result.stdout


def test_video_gives_an_mp4_and_bad_inputs_give_messages(exported, tmp_path):
    movie = str(tmp_path / "clip.avi")
    # OpenCV's own MJPEG/AVI writer needs no system codec, so this runs on every build
    writer = cv2.VideoWriter(movie, cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (120, 40))
    assert writer.isOpened()
    for i in range(5):
        writer.write(np.full((40, 120, 3), 40 * i, np.uint8))
    writer.release()
    summary = predict.run(exported, movie, str(tmp_path / "out"), batch_size=2)
    assert summary.written == 5
    capture = cv2.VideoCapture(str(tmp_path / "out" / "clip_depth.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    with pytest.raises(predict.PredictError, match="no such file"):
        predict.run(exported, str(tmp_path / "missing.png"), str(tmp_path / "o"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(predict.PredictError, match="no images"):
        predict.run(exported, str(tmp_path / "empty"), str(tmp_path / "o"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(predict.PredictError, match="unsupported file type"):
        predict.run(exported, str(tmp_path / "notes.txt"), str(tmp_path / "o"))
    with pytest.raises(predict.PredictError, match="no saved_model.pb"):
        predict.run(str(tmp_path), movie, str(tmp_path / "o"))


def test_export_of_a_folder_that_is_not_a_run_says_so(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ddvo_tf.export", f"--model_dir={tmp_path}"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "config.json does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_make3d_with_a_savedmodel_feeds_the_network_the_central_crop(fake_run, exported, tmp_path):
    from test_make3d import write_make3d
    from ddvo_tf.evaluation import make3d
    rng = np.random.default_rng(4)
    depths = [rng.uniform(2, 60, (55, 30)) for _ in range(2)]
    names = write_make3d(tmp_path / "make3d", depths, image_size=(96, 64))
    with_model = make3d.run_make3d(str(tmp_path / "make3d"), str(tmp_path / "a"), model=exported)
    serve = tf.saved_model.load(exported).signatures["serving_default"]
    expected = []
    for name in names:
        image = cv2.cvtColor(cv2.imread(str(tmp_path / "make3d" / "Test134" / f"img-{name}.jpg")), cv2.COLOR_BGR2RGB)
        crop = image[32:64]   # 96 rows, width 64 -> the central 32 rows
        expected.append(serve(images=tf.constant(crop[None].astype(np.float32) / 255))["inverse_depth"][0, ..., 0])
    np.save(tmp_path / "pred.npy", np.stack(expected))
    with_file = make3d.run_make3d(str(tmp_path / "make3d"), str(tmp_path / "b"), predictions=str(tmp_path / "pred.npy"))
    # a run without a SavedModel is evaluated through its checkpoint (the export's --scale cancels out)
    with_checkpoint = make3d.run_make3d(str(tmp_path / "make3d"), str(tmp_path / "c"), model=fake_run[0])
    # whole image in, central rows of the prediction scored (the paper authors' input handling)
    full = [serve(images=tf.constant(cv2.cvtColor(cv2.imread(str(tmp_path / "make3d" / "Test134" / f"img-{n}.jpg")),
                                                  cv2.COLOR_BGR2RGB)[None].astype(np.float32) / 255))["inverse_depth"][0, 32:64, :, 0]
            for n in names]
    np.save(tmp_path / "full.npy", np.stack(full))
    with_full = make3d.run_make3d(str(tmp_path / "make3d"), str(tmp_path / "d"), model=exported, network_input="full")
    full_file = make3d.run_make3d(str(tmp_path / "make3d"), str(tmp_path / "e"), predictions=str(tmp_path / "full.npy"))
    for metric in make3d.METRICS:
        assert with_full["results"][metric] == pytest.approx(full_file["results"][metric], rel=1e-5)
        assert with_model["results"][metric] == pytest.approx(with_file["results"][metric], rel=1e-5)
        assert with_checkpoint["results"][metric] == pytest.approx(with_file["results"][metric], rel=1e-4)


def test_tiny_and_one_pixel_wide_images_keep_their_shape(exported, tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    rng = np.random.default_rng(0)
    shapes = {"one": (1, 1), "column": (100, 1), "row": (1, 100), "small": (7, 5)}
    for name, (height, width) in shapes.items():
        cv2.imwrite(str(folder / f"{name}.png"), rng.integers(0, 255, (height, width, 3), np.uint8))
    summary = predict.run(exported, str(folder), str(tmp_path / "out"), save_npy=True)
    assert summary.written == 4 and not summary.failed, summary.failed
    for name, shape in shapes.items():
        assert np.load(str(tmp_path / "out" / f"{name}_depth.npy")).shape == shape
        assert cv2.imread(str(tmp_path / "out" / f"{name}_depth.png")).shape[:2] == shape


def test_broken_savedmodel_and_unusable_input_exit_2_with_a_message(exported, tmp_path):
    import shutil
    broken = str(tmp_path / "broken")
    shutil.copytree(exported, broken)
    for name in os.listdir(os.path.join(broken, "variables")):
        os.remove(os.path.join(broken, "variables", name))
    folder = tmp_path / "in"
    _images(str(folder))
    with pytest.raises(predict.PredictError, match="cannot be loaded.*export it again"):
        predict.run(broken, str(folder), str(tmp_path / "o"))
    result = subprocess.run([sys.executable, "-m", "ddvo_tf.predict", f"--model={broken}", f"--input={folder}",
                             f"--output_dir={tmp_path}/o"], capture_output=True, text=True)
    assert result.returncode == 2 and "export it again" in result.stderr and "Traceback" not in result.stderr
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.png").write_bytes(b"not a png")
    result = subprocess.run([sys.executable, "-m", "ddvo_tf.predict", f"--model={exported}", f"--input={junk}",
                             f"--output_dir={tmp_path}/o2"], capture_output=True, text=True)
    assert result.returncode == 2 and "nothing in the input could be used" in result.stderr


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
