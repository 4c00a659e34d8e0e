"""Pose evaluation on KITTI odometry (sequences 09 and 10): absolute trajectory error of 5-frame
snippets, SfMLearner's protocol, for the Pose-CNN and for DDVO given the predicted depth.

Layout read: ``ROOT/sequences/SS/image_2/NNNNNN.png``, ``ROOT/sequences/SS/calib.txt`` (``P2``) and
``ROOT/poses/SS.txt`` (ground-truth camera-to-world 3x4 per line).

Our Pose-CNN sees triplets, DDVO pairs; both give the motion between consecutive frames ``k ->
k+1`` (Pose-CNN: the triplet centred on ``k``, its pose to the following frame; DDVO: reference
``k`` with the Depth-CNN's inverse depth of ``k``, 5 levels from the identity).  A snippet's
trajectory chains its four consecutive motions (as monodepth2 does for pair networks); its ATE is
:func:`ddvo_tf.evaluation.metrics.trajectory_error` against the ground-truth positions relative to the
snippet's first frame (translation of the first frame, least-squares scale).  Snippets start at
every frame from 1 (frame 0 has no predecessor for the Pose-CNN's triplet).
"""
from __future__ import annotations

import json
import os
import sys
from typing import Callable

import cv2
import numpy as np
import tensorflow as tf
import tqdm

from ddvo_tf.core import geometry
from ddvo_tf.evaluation import metrics
from ddvo_tf.evaluation.predictions import EvaluationError
from ddvo_tf.evaluation.reports import write_files
from ddvo_tf.learning.runs import RunError, load_run

SNIPPET = 5


class PoseEvaluationError(EvaluationError):
    """Missing or malformed odometry files: the message names the file."""


def read_poses(path: str) -> np.ndarray:
    """``[N, 4, 4]`` camera-to-world transforms of a KITTI odometry poses file."""
    try:
        values = np.loadtxt(path, dtype=np.float64).reshape(-1, 12)
    except (OSError, ValueError) as error:
        raise PoseEvaluationError(f"{path}: cannot read odometry poses ({error})") from None
    poses = np.tile(np.eye(4), (len(values), 1, 1))
    poses[:, :3] = values.reshape(-1, 3, 4)
    return poses


def read_intrinsics(calib_path: str, key: str = "P2") -> np.ndarray:
    if not os.path.isfile(calib_path):
        raise PoseEvaluationError(f"{calib_path}: odometry calibration file is missing")
    with open(calib_path) as handle:
        for line in handle:
            if line.startswith(key + ":"):
                values = np.array([float(v) for v in line.split(":", 1)[1].split()])
                if values.size == 12:
                    return values.reshape(3, 4)[:, :3]
    raise PoseEvaluationError(f"{calib_path}: no 12-number {key} line")


def load_sequence(root: str, sequence: str, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames resized to ``height x width`` (float32 [N, H, W, 3]), intrinsics at that size, poses."""
    folder = os.path.join(root, "sequences", sequence, "image_2")
    if not os.path.isdir(folder):
        raise PoseEvaluationError(f"{folder}: missing; unpack the KITTI odometry colour images there")
    names = sorted(n for n in os.listdir(folder) if n.endswith(".png"))
    poses = read_poses(os.path.join(root, "poses", f"{sequence}.txt"))
    if len(names) != len(poses):
        raise PoseEvaluationError(f"{folder} has {len(names)} images but poses/{sequence}.txt has {len(poses)} poses")
    frames, size = [], None
    for name in names:
        image = cv2.imread(os.path.join(folder, name), cv2.IMREAD_COLOR)
        if image is None:
            raise PoseEvaluationError(f"{os.path.join(folder, name)}: unreadable image")
        size = size or image.shape[:2]
        frames.append(cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), (width, height),
                                 interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0)
    K = read_intrinsics(os.path.join(root, "sequences", sequence, "calib.txt"))
    K = np.asarray(geometry.resize_intrinsics(K, width / size[1], height / size[0]), np.float64)
    return np.stack(frames), K, poses


def posecnn_motions(pose_net, frames: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """``[N, 6]``: entry ``k`` maps camera ``k`` points into camera ``k+1`` (rows 0 and N-1 unused)."""
    motions = np.zeros((len(frames), 6))
    targets = list(range(1, len(frames) - 1))
    for start in range(0, len(targets), batch_size):
        ks = targets[start:start + batch_size]
        triplets = np.stack([frames[k - 1:k + 2] for k in ks])
        motions[ks] = pose_net(triplets, training=False).numpy()[:, 1]
    return motions


def ddvo_motions(inverse_depth_fn: Callable[[np.ndarray, np.ndarray], np.ndarray], frames: np.ndarray, K: np.ndarray,
                 num_levels: int = 5, batch_size: int = 8) -> np.ndarray:
    """``[N, 6]`` DDVO motions ``k -> k+1`` from the identity; ``inverse_depth_fn(indices, images)``
    gives the inverse depth ``[n, H, W, 1]`` of frames ``indices`` (normally the Depth-CNN's)."""
    from ddvo_tf.core.ddvo_layer import DirectVisualOdometry
    dvo = DirectVisualOdometry(num_levels=num_levels)
    motions = np.zeros((len(frames), 6))
    batch_size = max(1, min(batch_size, len(frames) - 1))
    intrinsics = tf.constant(np.repeat(K[None].astype(np.float32), batch_size, 0))
    for start in range(0, len(frames) - 1, batch_size):
        ks = np.arange(start, min(start + batch_size, len(frames) - 1))
        # The last batch is padded with repeats of its last pair: one batch shape, so the layer's
        # XLA program is compiled once per sequence length instead of twice.
        padded = np.concatenate([ks, np.full(batch_size - len(ks), ks[-1])])
        ref, src = frames[padded], frames[padded + 1]
        inv_depth = inverse_depth_fn(padded, ref)
        motions[ks] = dvo(tf.constant(ref), tf.constant(src), tf.constant(inv_depth, tf.float32),
                          intrinsics).numpy()[:len(ks)]
    return motions


def snippet_errors(motions: np.ndarray, poses: np.ndarray, first: int = 1) -> np.ndarray:
    """ATE of every 5-frame snippet starting at ``first`` or later."""
    transforms = geometry.pose_to_matrix(tf.constant(motions)).numpy()
    errors = []
    for start in range(first, len(poses) - SNIPPET + 1):
        cameras = [np.eye(4)]
        for k in range(start, start + SNIPPET - 1):
            cameras.append(cameras[-1] @ np.linalg.inv(transforms[k]))   # camera k+1 in snippet frame
        predicted = np.array([c[:3, 3] for c in cameras])
        reference = np.linalg.inv(poses[start])
        truth = np.array([(reference @ poses[start + j])[:3, 3] for j in range(SNIPPET)])
        errors.append(metrics.trajectory_error(truth, predicted))
    return np.array(errors)


def evaluate_sequences(root: str, sequences, height: int, width: int, pose_net=None,
                       inverse_depth_fn=None, progress: bool = True) -> dict:
    """``{sequence: {method: {"ate_mean", "ate_std", "snippets"}}}`` for the available methods."""
    results = {}
    for sequence in tqdm.tqdm(list(sequences), unit="sequence", file=sys.stdout, disable=not progress):
        frames, K, poses = load_sequence(root, sequence, height, width)
        methods = {}
        if pose_net is not None:
            methods["posecnn"] = posecnn_motions(pose_net, frames)
        if inverse_depth_fn is not None:
            methods["ddvo"] = ddvo_motions(inverse_depth_fn, frames, K)
        results[sequence] = {}
        for method, motions in methods.items():
            errors = snippet_errors(motions, poses)
            results[sequence][method] = {"ate_mean": float(errors.mean()), "ate_std": float(errors.std()),
                                         "snippets": int(len(errors))}
    return results


def run_pose(odometry_dir: str, model_dir: str, output_dir: str, sequences: tuple[str, ...] | list[str] = ("09", "10")
             ) -> dict:
    """ATE of the run's Pose-CNN (if any) and of DDVO on its Depth-CNN's inverse depth; writes
    ``pose.json`` / ``pose.md`` into ``output_dir``."""
    try:
        run = load_run(model_dir)
    except RunError as error:
        raise EvaluationError(str(error)) from None
    config, depth_net, pose_net = run.config, run.depth_net, run.pose_net

    def inverse_depth(indices, images):
        return depth_net(images, training=False)[0].numpy()

    results = evaluate_sequences(odometry_dir, sequences, config.height, config.width, pose_net, inverse_depth)
    rows = [f"| {sequence} | {method} | {r['ate_mean']:.4f} ± {r['ate_std']:.4f} | {r['snippets']} |"
            for sequence, methods in results.items() for method, r in methods.items()]
    text = ("# KITTI odometry: ATE of 5-frame snippets (SfMLearner protocol)\n\n"
            "| sequence | pose from | ATE (m) | snippets |\n| --- | --- | --- | --- |\n" + "\n".join(rows) +
            "\n\nPer-snippet alignment: first position, least-squares scale. The paper reports no pose numbers. "
            f"Model: {model_dir}; odometry: {odometry_dir}.\n")
    payload = {"task": "pose", "results": results, "model": model_dir, "sequences": list(sequences)}
    write_files(output_dir, {"pose.json": json.dumps(payload, indent=2) + "\n", "pose.md": text})
    return {"results": results, "report": os.path.join(output_dir, "pose.md")}
