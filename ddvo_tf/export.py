"""SavedModel export of the Depth-CNN with a serving signature.

Signature ``serving_default``: ``images`` float32 ``[B, H, W, 3]`` in [0, 1], any size (resized
inside to the training size) -> ``inverse_depth`` and ``depth`` ``[B, H, W, 1]`` at the input size,
relative scale (monocular training has no metric scale).  ``metadata.json`` beside it records the
training size, mode and normalization.
"""
from __future__ import annotations

import json
import os
import shutil

import keras
import tensorflow as tf


class DepthModule(tf.Module):
    def __init__(self, depth_net: keras.Model, height: int, width: int):
        super().__init__(name="ddvo_depth")
        self.depth_net = depth_net
        self.height, self.width = height, width

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="images")])
    def serve(self, images):
        size = tf.shape(images)[1:3]
        resized = tf.image.resize(images, [self.height, self.width], method="area")
        inv_depth = self.depth_net(resized, training=False)[0]
        inv_depth = tf.image.resize(inv_depth, size, method="bilinear")
        return {"inverse_depth": inv_depth, "depth": 1.0 / inv_depth}


def export_depth_model(depth_net: keras.Model, export_dir: str, height: int, width: int,
                       metadata: dict | None = None) -> str:
    """Write the SavedModel atomically (temporary folder, then rename); returns ``export_dir``."""
    tmp = export_dir.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    module = DepthModule(depth_net, height, width)
    tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve})
    with open(os.path.join(tmp, "metadata.json"), "w") as handle:
        json.dump({"height": height, "width": width, **(metadata or {})}, handle, indent=2, sort_keys=True)
    if os.path.isdir(export_dir):
        shutil.rmtree(export_dir)
    os.replace(tmp, export_dir)
    return export_dir
