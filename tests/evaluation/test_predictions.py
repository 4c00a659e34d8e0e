"""Where evaluated predictions come from (ddvo_tf/evaluation/predictions.py): a .npy of any common
layout, checked against the test set's size; a model, a run's checkpoint, or a clear message."""
import numpy as np
import pytest
import tensorflow as tf

from ddvo_tf.evaluation.predictions import EvaluationError, inverse_depth_function, load_predictions
from ddvo_tf.serving.predict import PredictError


@pytest.mark.parametrize("shape", [(3, 4, 5), (3, 1, 4, 5), (3, 4, 5, 1)])
def test_the_common_layouts_are_read_as_n_h_w(tmp_path, shape):
    values = np.random.default_rng(0).uniform(size=shape).astype(np.float32)
    np.save(tmp_path / "p.npy", values)
    loaded = load_predictions(str(tmp_path / "p.npy"), 3, "gt.npz")
    np.testing.assert_array_equal(loaded, values.reshape(3, 4, 5))


def test_bad_prediction_files_are_named_with_the_fix(tmp_path):
    with pytest.raises(EvaluationError, match="does not exist"):
        load_predictions(str(tmp_path / "none.npy"), 3, "gt.npz")
    (tmp_path / "text.npy").write_text("hello")
    with pytest.raises(EvaluationError, match="is not a predictions .npy.*numpy.save"):
        load_predictions(str(tmp_path / "text.npy"), 3, "gt.npz")
    np.save(tmp_path / "rgb.npy", np.zeros((3, 4, 5, 3)))
    with pytest.raises(EvaluationError, match=r"expected \[N, H, W\]"):
        load_predictions(str(tmp_path / "rgb.npy"), 3, "gt.npz")
    np.save(tmp_path / "two.npy", np.zeros((2, 4, 5)))
    with pytest.raises(EvaluationError, match="holds 2 predictions but gt.npz has 3 test images"):
        load_predictions(str(tmp_path / "two.npy"), 3, "gt.npz")


def test_a_model_a_runs_checkpoint_and_its_savedmodel_give_the_same_inverse_depth(fake_run, exported, tmp_path):
    run, depth_net = fake_run
    rgb = np.random.default_rng(1).integers(0, 256, (40, 120, 3), np.uint8)
    from_checkpoint = inverse_depth_function(run)(rgb)           # the run has no saved_model/ folder
    from_export = inverse_depth_function(exported)(rgb)          # exported with --scale=2.5
    expected = tf.image.resize(depth_net(tf.image.resize(rgb[None].astype(np.float32) / 255, [32, 104],
                                                          method="area"))[0], [40, 120]).numpy()[0, ..., 0]
    np.testing.assert_allclose(from_checkpoint, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(from_export, expected / 2.5, rtol=1e-5, atol=1e-6)
    with pytest.raises(PredictError, match="no saved_model.pb"):
        inverse_depth_function(str(tmp_path))
