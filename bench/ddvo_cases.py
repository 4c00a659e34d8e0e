"""Pose-estimation cases with known answers, shared by ``bench.bench_ddvo_accuracy`` and the tests.

* :func:`street_pairs`: rendered views of the built-in street (exact depth and poses), each
  reference camera placed a few metres behind a parked car on one side of the road, so occlusion
  edges of a near object are in every pair.
* :func:`motorcycle`: the Middlebury 2014 *Motorcycle* stereo pair as scikit-image ships it (real
  photographs, ground-truth disparity).  The left image is the reference and the right the source;
  with inverse depth ``disparity / f`` the true pose is ``t = (-1, 0, 0)``, ``R = I`` (the baseline is
  the unit of length), because the right pixel of left pixel ``x`` is ``x - disparity``.
* :func:`perturb`: a Pose-CNN-like start (rotation off by a fixed angle about a random axis,
  translation scaled and offset), the starting point of ``hybrid``'s refinement.

Arrays follow the project's conventions (``ddvo_tf.core.geometry``): images float32 [0, 1] ``[H, W, 3]``,
inverse depth ``[H, W, 1]``, intrinsics 3x3 at the arrays' resolution, poses
``[tx, ty, tz, wx, wy, wz]`` reference -> source.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from pipelines import street_scene


@dataclasses.dataclass
class PoseCase:
    name: str
    ref: np.ndarray           # [H, W, 3] float32
    src: np.ndarray           # [H, W, 3] float32
    inv_depth: np.ndarray     # [H, W, 1] float32
    intrinsics: np.ndarray    # [3, 3] float32
    pose: np.ndarray          # [6] float64, the truth


def stack(cases: list[PoseCase]) -> tuple[np.ndarray, ...]:
    """Batched inputs of :class:`ddvo_tf.core.ddvo_layer.DirectVisualOdometry` and the true poses ``[B, 6]``."""
    return (np.stack([c.ref for c in cases]), np.stack([c.src for c in cases]),
            np.stack([c.inv_depth for c in cases]), np.stack([c.intrinsics for c in cases]),
            np.stack([c.pose for c in cases]))


def pose_errors(estimated: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relative translation error and rotation error (degrees) of ``[B, 6]`` poses."""
    estimated, true = np.atleast_2d(estimated), np.atleast_2d(true)
    t_err = np.linalg.norm(estimated[:, :3] - true[:, :3], axis=1) / np.linalg.norm(true[:, :3], axis=1)
    r_err = (Rotation.from_rotvec(estimated[:, 3:]) * Rotation.from_rotvec(true[:, 3:]).inv()).magnitude()
    return t_err, np.rad2deg(r_err)


def _pose_vector(transform: np.ndarray) -> np.ndarray:
    return np.concatenate([transform[:3, 3], Rotation.from_matrix(transform[:3, :3]).as_rotvec()])


def street_pairs(height: int = 128, width: int = 416, count: int = 12, seed: int = 0) -> list[PoseCase]:
    """``count`` rendered pairs, each from its own street (scene seed ``seed + k``): the reference
    camera 2.5-6 m behind a parked car, 0.5-2.3 m to its side of the road centre; the source
    0.5-1.4 m further on with a small sideways, vertical and yaw/pitch motion."""
    rng = np.random.default_rng(seed)
    intrinsics = street_scene.kitti_like_intrinsics(height, width)
    cases = []
    for k in range(count):
        scene = street_scene.default_street(seed + k, look="waves")
        boxes = [s for s in scene.surfaces if s.kind == "box" and 8.0 < s.bounds[2, 0] < 80.0]
        box = boxes[rng.integers(len(boxes))]
        side = np.sign(box.bounds[0].mean())
        start = np.array([side * rng.uniform(0.5, 2.3), rng.uniform(-0.1, 0.1),
                          box.bounds[2, 0] - rng.uniform(2.5, 6.0)])
        yaw0 = np.deg2rad(rng.uniform(-2, 2))
        ref_pose = street_scene.camera_pose(start, yaw=yaw0)
        motion = np.array([rng.uniform(-0.1, 0.1), rng.uniform(-0.03, 0.03), rng.uniform(0.5, 1.4)])
        src_pose = street_scene.camera_pose(start + motion, yaw=yaw0 + np.deg2rad(rng.uniform(-3, 3)),
                                            pitch=np.deg2rad(rng.uniform(-0.5, 0.5)))
        ref, depth = street_scene.render(scene, ref_pose, intrinsics, height, width)
        src, _ = street_scene.render(scene, src_pose, intrinsics, height, width)
        cases.append(PoseCase(f"street_{k}", ref, src, (1.0 / depth)[..., None].astype(np.float32),
                              intrinsics.astype(np.float32),
                              _pose_vector(street_scene.relative_pose(ref_pose, src_pose))))
    return cases


# Calibration of the images as scikit-image ships them (its docstring): 741x500, focal 994.978 px.
_MOTORCYCLE_FOCAL = 994.978
_MOTORCYCLE_CENTRE = (311.193, 254.877)


def motorcycle(factor: int = 1, height: int = 496, width: int = 736) -> PoseCase:
    """The *Motorcycle* pair cropped to ``height x width`` (top-left; multiples of 16 so five
    pyramid levels divide evenly) and reduced ``factor`` times by block averaging.

    Pixels without ground truth (the occluded band, ~7 %) get the disparity of the nearest pixel
    that has it, as a dense depth prediction would fill them; they remain in the images.
    """
    from skimage import data   # test/bench dependency only

    left, right, disparity = data.stereo_motorcycle()
    left = left[:height, :width].astype(np.float32) / 255.0
    right = right[:height, :width].astype(np.float32) / 255.0
    disparity = disparity[:height, :width].astype(np.float64)
    invalid = ~np.isfinite(disparity)
    nearest = ndimage.distance_transform_edt(invalid, return_distances=False, return_indices=True)
    disparity = disparity[tuple(nearest)]
    inv_depth = disparity / _MOTORCYCLE_FOCAL
    intrinsics = np.array([[_MOTORCYCLE_FOCAL, 0, _MOTORCYCLE_CENTRE[0]],
                           [0, _MOTORCYCLE_FOCAL, _MOTORCYCLE_CENTRE[1]], [0, 0, 1]])
    if factor > 1:
        pool = lambda a: a.reshape(height // factor, factor, width // factor, factor, -1).mean(axis=(1, 3))
        left, right, inv_depth = pool(left), pool(right), pool(inv_depth[..., None])[..., 0]
        # Block averaging with pixel centres at integers: c' = (c + 0.5) / factor - 0.5.
        intrinsics = intrinsics.copy()
        intrinsics[:2] /= factor
        intrinsics[0, 2] += 0.5 / factor - 0.5
        intrinsics[1, 2] += 0.5 / factor - 0.5
    return PoseCase(f"motorcycle_{width // factor}x{height // factor}", left.astype(np.float32),
                    right.astype(np.float32), inv_depth[..., None].astype(np.float32),
                    intrinsics.astype(np.float32), np.array([-1.0, 0, 0, 0, 0, 0]))


def perturb(poses: np.ndarray, rotation_deg: float = 0.5, translation_scale: float = 1.3,
            translation_offset: float = 0.05, seed: int = 0) -> np.ndarray:
    """Pose-CNN-like starts for true ``poses [B, 6]``: the rotation composed with one of
    ``rotation_deg`` about a random axis, the translation times ``translation_scale`` plus an
    offset of length ``translation_offset`` in a random direction."""
    rng = np.random.default_rng(seed)
    out = []
    for pose in np.atleast_2d(poses):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        rotation = Rotation.from_rotvec(np.deg2rad(rotation_deg) * axis) * Rotation.from_rotvec(pose[3:])
        out.append(np.concatenate([pose[:3] * translation_scale + translation_offset * direction,
                                   rotation.as_rotvec()]))
    return np.array(out)
