"""``python -m ddvo_tf.demo`` (also ``ddvo-demo``): DDVO recovers a known camera motion on the built-in synthetic street.

Renders a reference and a source view of the procedural street (exact depth, known motion), runs
the DirectVisualOdometry layer from the identity pose with the true inverse depth, prints the
estimated and true poses, and writes ``ddvo_demo.png`` into ``--output_dir``: reference | source |
source warped into the reference with the estimated pose, the absolute photometric error before
(identity) and after alignment, and the in-view mask.  A thin CLI: it may import ``pipelines`` (house rules).
"""
from __future__ import annotations

import os
import time

from absl import flags

from ddvo_tf import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", "runs/demo", "where ddvo_demo.png is written")
flags.DEFINE_integer("height", 128, "image height")
flags.DEFINE_integer("width", 416, "image width")
flags.DEFINE_float("forward", 1.0, "forward motion of the source camera, metres")
flags.DEFINE_float("sideways", 0.05, "sideways motion of the source camera, metres")
flags.DEFINE_float("yaw_deg", 2.0, "yaw of the source camera, degrees")
flags.DEFINE_integer("levels", 5, "pyramid levels")
flags.DEFINE_integer("iterations", 10, "Gauss-Newton iterations per level")
flags.DEFINE_integer("seed", 0, "street layout and texture seed")


def main(argv: list[str]) -> None:
    del argv
    import numpy as np
    import tensorflow as tf

    from ddvo_tf.core import geometry
    from ddvo_tf.core.ddvo_layer import DirectVisualOdometry
    from ddvo_tf.core.sampling import bilinear_sample
    from pipelines import street_scene

    height, width = FLAGS.height, FLAGS.width
    intrinsics = street_scene.kitti_like_intrinsics(height, width)
    scene = street_scene.default_street(FLAGS.seed)
    ref_cam = street_scene.camera_pose([0.0, 0.0, 0.0])
    src_cam = street_scene.camera_pose([FLAGS.sideways, 0.0, FLAGS.forward], yaw=np.deg2rad(FLAGS.yaw_deg))
    print(f"rendering two {height}x{width} views of the synthetic street ...", flush=True)
    ref, depth = street_scene.render(scene, ref_cam, intrinsics, height, width)
    src, _ = street_scene.render(scene, src_cam, intrinsics, height, width)
    true_pose = geometry.matrix_to_pose(
        tf.constant(street_scene.relative_pose(ref_cam, src_cam)[None])).numpy()[0]

    layer = DirectVisualOdometry(num_levels=FLAGS.levels, num_iterations=FLAGS.iterations)
    inputs = (ref[None], src[None], (1.0 / depth)[None, ..., None], intrinsics[None].astype(np.float32))
    start = time.perf_counter()
    pose, diagnostics = layer.solve(*inputs)
    first = time.perf_counter() - start
    start = time.perf_counter()
    pose, diagnostics = layer.solve(*inputs)
    again = time.perf_counter() - start
    pose = pose.numpy()[0]

    t_err = np.linalg.norm(pose[:3] - true_pose[:3]) / max(np.linalg.norm(true_pose[:3]), 1e-12)
    error_pose = geometry.compose_poses(tf.constant(pose[None], tf.float64),
                                        geometry.invert_pose(tf.constant(true_pose[None], tf.float64)))
    r_err = np.rad2deg(np.linalg.norm(error_pose.numpy()[0, 3:]))
    np.set_printoptions(precision=4, suppress=True)
    print(f"true pose      [t; w] = {true_pose}")
    print(f"DDVO estimate  [t; w] = {pose}")
    print(f"translation error {100 * t_err:.2f} %, rotation error {r_err:.3f} deg, "
          f"in view {100 * float(diagnostics['in_view_fraction'][0]):.0f} %")
    print(f"solve time: {first:.2f} s first call (XLA compile), {1000 * again:.0f} ms after")

    def warped_with(p):
        coords, _ = geometry.warp_coordinates(tf.constant(inputs[2]), tf.constant(p[None], tf.float32),
                                              tf.constant(inputs[3]))
        values, mask = bilinear_sample(tf.constant(src[None]), coords)
        return values.numpy()[0], mask.numpy()[0]

    warped, mask = warped_with(pose)
    before = np.abs(src - ref)
    after = np.abs(warped - ref) * mask
    gain = 4.0  # errors are small; brighten them
    rows = [np.concatenate([ref, src], 1),
            np.concatenate([warped, np.clip(gain * before, 0, 1)], 1),
            np.concatenate([np.clip(gain * after, 0, 1), np.repeat(mask, 3, axis=-1)], 1)]
    picture = (np.clip(np.concatenate(rows, 0), 0, 1) * 255).astype(np.uint8)
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    path = os.path.join(FLAGS.output_dir, "ddvo_demo.png")
    tmp = path + ".tmp"
    tf.io.write_file(tmp, tf.io.encode_png(picture))
    os.replace(tmp, path)
    print(f"wrote {path}  (rows: reference | source; source warped by DDVO | |source - reference|; "
          f"|warped - reference| | in-view mask)")


def console_main() -> None:
    cli.command(None, main)      # the flags are defined above, at import


if __name__ == "__main__":
    console_main()
