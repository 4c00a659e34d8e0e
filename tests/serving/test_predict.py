"""ddvo_tf/serving/predict.py and the predict command: folders, videos, tiny images, and broken
models or inputs reported without a traceback."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from ddvo_tf.serving import predict


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
