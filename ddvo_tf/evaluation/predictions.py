"""Where evaluated predictions come from: a model (a SavedModel, or a training run's folder through
its SavedModel or else its latest checkpoint) fed full-size RGB images, or a ``.npy`` of
precomputed predictions ``[N, h, w]`` (also ``[N, 1, h, w]`` and ``[N, h, w, 1]``) in the test
list's order.  Also :class:`EvaluationError`, which every protocol raises for inputs that do not fit.
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np


class EvaluationError(Exception):
    """Inputs that do not fit together: the message names the file and the fix."""


def inverse_depth_function(model: str) -> Callable[[np.ndarray], np.ndarray]:
    """``rgb uint8 [H, W, 3] -> inverse depth [H, W]`` through a SavedModel's float32 signature, or,
    for a training run without one (still training, interrupted), through its latest checkpoint."""
    # Imported here: the .npy path and the evaluate command's flags do without TensorFlow.
    import tensorflow as tf

    from ddvo_tf.serving.predict import PredictError, load_model
    module = None
    try:
        serve = load_model(model)
    except PredictError:
        if not os.path.isfile(os.path.join(model, "config.json")):
            raise
        from ddvo_tf.learning.runs import RunError, load_run
        from ddvo_tf.serving.export import DepthModule
        try:
            run = load_run(model, with_pose_net=False)
        except RunError as error:
            raise EvaluationError(str(error)) from None
        print(f"{model}: no SavedModel, evaluating checkpoint {run.checkpoint}")
        module = DepthModule(run.depth_net, run.config.height, run.config.width)
        serve = module.serve

    def inverse_depth(rgb: np.ndarray) -> np.ndarray:
        images = tf.constant(rgb.astype(np.float32)[None] / 255.0)
        return serve(images=images)["inverse_depth"].numpy()[0, ..., 0]
    inverse_depth.module = module   # a tf.function method holds its module only weakly
    return inverse_depth


def load_predictions(path: str, count: int, what: str) -> np.ndarray:
    """``[N, h, w]`` predictions from a ``.npy``; ``count`` must match the ``N`` test images of
    ``what`` (the ground truth or test set named in the message)."""
    if not os.path.isfile(path):
        raise EvaluationError(f"{path}: predictions file does not exist")
    try:
        values = np.load(path)
    except (OSError, ValueError, EOFError) as error:
        raise EvaluationError(f"{path} is not a predictions .npy ({str(error)[:120]}); save an [N, H, W] float "
                              "array with numpy.save") from None
    if not isinstance(values, np.ndarray) or values.ndim not in (3, 4) or not np.issubdtype(values.dtype, np.number):
        raise EvaluationError(f"{path}: expected an [N, H, W] float array of predictions, got "
                              f"{getattr(values, 'shape', type(values).__name__)}")
    if values.ndim == 4:          # [N, 1, H, W] (PyTorch) or [N, H, W, 1]: one channel
        if values.shape[1] == 1:
            values = values[:, 0]
        elif values.shape[-1] == 1:
            values = values[..., 0]
        else:
            raise EvaluationError(f"{path}: expected [N, H, W] (or a single channel), got {values.shape}")
    if len(values) != count:
        raise EvaluationError(f"{path} holds {len(values)} predictions but {what} has {count} test images; "
                              "they must be in the same order and number")
    return values
