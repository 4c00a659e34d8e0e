"""The built-in synthetic dataset: the procedural street of ``street_scene`` driven through by a
stereo rig and written in the KITTI raw layout (``kitti_raw`` documents it), so the KITTI path of
the build job, and evaluation, run end to end on data with exact depth and poses.

Per drive ``ROOT/2000_01_01/2000_01_01_drive_NNNN_sync`` it writes the KITTI files (images of
cameras 02 and 03, velodyne scans, oxts, timestamps; calibration in the date folder) plus the
ground truth KITTI lacks: ``depth_XX/data/FRAME.png`` (camera z-depth in metres x 256 as uint16,
0 = none, the KITTI depth-benchmark format) and ``poses_image_XX.txt`` (per frame a row-major 3x4
camera-to-world matrix, world = first rectified camera-00 frame, the KITTI odometry format).

The rig moves forward ~1 m per frame (10 Hz at 36 km/h) with gentle turns and pitch and stops
for ``stop_length`` frames (identical images: the static-frame filter must drop them).
Generation is resumable: finished frames are kept; a changed configuration is refused.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import sys

import cv2
import numpy as np
import tqdm

from ddvo_tf.core.files import write_atomic
from pipelines import street_scene
from pipelines.sequences import DataError

DATE = "2000_01_01"
BASELINE_OFFSETS = {"image_02": 0.06, "image_03": -0.4732}   # P_rect[0, 3] / fx, as in KITTI
VELO_TO_CAM_R = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
VELO_TO_CAM_T = np.array([0.0, -0.08, -0.27])
FPS = 10.0


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    num_frames: int = 60
    height: int = 375
    width: int = 1242
    num_drives: int = 1
    seed: int = 0
    speed: float = 1.0              # metres per frame
    stop_start: int = 20            # first frame that repeats the previous pose (-1: no stop)
    stop_length: int = 4
    cameras: tuple = ("image_02", "image_03")
    velodyne: bool = True
    supersample: int = 1            # rays per pixel side (odd); the build's area resize antialiases
    look: str = "street"            # street_scene.LOOKS: "street" (realistic) or "waves" (sinusoids)

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["cameras"] = list(self.cameras)
        data["scene_version"] = street_scene.SCENE_VERSIONS[self.look]
        return data


def drive_name(index: int) -> str:
    return f"{DATE}/{DATE}_drive_{index + 1:04d}_sync"


def intrinsics(config: SyntheticConfig) -> np.ndarray:
    return street_scene.kitti_like_intrinsics(config.height, config.width)


def rig_trajectory(config: SyntheticConfig, drive: int) -> list[np.ndarray]:
    """Camera-00 (rectified) to world transforms, one per frame; world = frame 0's camera 00."""
    rng = np.random.default_rng(config.seed * 1000 + drive)
    phase = rng.uniform(0, 2 * np.pi, 2)
    position, poses = np.zeros(3), []
    for frame in range(config.num_frames):
        t = frame / FPS
        yaw = 0.035 * np.sin(2 * np.pi * t / 4.0 + phase[0])
        pitch = 0.01 * np.sin(2 * np.pi * t / 1.7 + phase[1])
        stopped = config.stop_start > 0 and config.stop_start <= frame < config.stop_start + config.stop_length
        if frame > 0 and not stopped:
            position = position + config.speed * np.array([np.sin(yaw), 0.0, np.cos(yaw)])
        if stopped:
            poses.append(poses[-1].copy())
        else:
            poses.append(street_scene.camera_pose(position, yaw=yaw, pitch=pitch))
    return poses


def camera_to_world(rig_pose: np.ndarray, camera: str) -> np.ndarray:
    """Pose of a rectified camera: its points are camera-00 points shifted by the P_rect offset."""
    offset = np.eye(4)
    offset[0, 3] = -BASELINE_OFFSETS[camera]
    return rig_pose @ offset


def scene_for(config: SyntheticConfig, drive: int) -> street_scene.StreetScene:
    return street_scene.default_street(seed=config.seed * 1000 + drive,
                                       length=config.speed * config.num_frames + 60.0, look=config.look)


def velodyne_scan(scene: street_scene.StreetScene, rig_pose: np.ndarray) -> np.ndarray:
    """A 64-beam 360-degree scan ``[N, 4]`` (x forward, y left, z up, reflectance) in velodyne axes."""
    elevation = np.deg2rad(np.linspace(2.0, -24.8, 64))
    azimuth = np.deg2rad(np.arange(-180.0, 180.0, 0.35))
    el, az = np.meshgrid(elevation, azimuth, indexing="ij")
    dirs_velo = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1)
    velo_to_world = rig_pose @ _velo_to_cam()
    dirs = dirs_velo @ velo_to_world[:3, :3].T
    origin = velo_to_world[:3, 3]
    lam, which = street_scene.cast_rays(scene, origin, dirs)
    valid = np.isfinite(lam) & (lam < 120.0) & (lam > 2.5)
    hit = origin + lam[valid][:, None] * dirs[valid]
    reflectance = street_scene.shade(scene, hit, which[valid]).mean(-1)
    points = lam[valid][:, None] * dirs_velo[valid]
    return np.concatenate([points, reflectance[:, None]], -1).astype(np.float32)


def _velo_to_cam() -> np.ndarray:
    transform = np.eye(4)
    transform[:3, :3] = VELO_TO_CAM_R
    transform[:3, 3] = VELO_TO_CAM_T
    return transform


def _frame_files(drive_dir: str, config: SyntheticConfig, frame: int) -> list[str]:
    name = f"{frame:010d}"
    files = []
    for camera in config.cameras:
        files.append(os.path.join(drive_dir, camera, "data", name + ".png"))
        files.append(os.path.join(drive_dir, "depth_" + camera[-2:], "data", name + ".png"))
    if config.velodyne:
        files.append(os.path.join(drive_dir, "velodyne_points", "data", name + ".bin"))
    return files


def render_frame(config: SyntheticConfig, drive: int, frame: int, drive_dir: str) -> None:
    """Render and write every file of one frame (skipped when all exist)."""
    files = _frame_files(drive_dir, config, frame)
    if all(os.path.isfile(f) for f in files):
        return
    scene = scene_for(config, drive)
    rig = rig_trajectory(config, drive)[frame]
    K = intrinsics(config)
    name = f"{frame:010d}.png"
    for camera in config.cameras:
        image, depth = street_scene.render(scene, camera_to_world(rig, camera), K, config.height,
                                           config.width, config.supersample)
        rgb = np.round(image * 255.0).astype(np.uint8)
        write_atomic(os.path.join(drive_dir, camera, "data", name),
                     cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes())
        depth16 = np.where(depth < 255.0, np.round(depth * 256.0), 0).astype(np.uint16)
        write_atomic(os.path.join(drive_dir, "depth_" + camera[-2:], "data", name),
                     cv2.imencode(".png", depth16)[1].tobytes())
    if config.velodyne:
        write_atomic(os.path.join(drive_dir, "velodyne_points", "data", f"{frame:010d}.bin"),
                     velodyne_scan(scene, rig).tobytes())


def _calibration_text(config: SyntheticConfig) -> dict[str, str]:
    K = intrinsics(config)
    fmt = lambda a: " ".join(f"{v:.12e}" for v in np.asarray(a, np.float64).reshape(-1))
    cam = ["calib_time: 01-Jan-2000 00:00:00", "corner_dist: 9.950000e-02"]
    for index in range(4):
        camera = f"image_{index:02d}"
        offset = BASELINE_OFFSETS.get(camera, 0.0)
        projection = np.concatenate([K, np.array([[K[0, 0] * offset], [0.0], [0.0]])], 1)
        cam += [f"S_{index:02d}: {config.width:.6e} {config.height:.6e}", f"K_{index:02d}: {fmt(K)}",
                f"D_{index:02d}: {fmt(np.zeros(5))}", f"R_{index:02d}: {fmt(np.eye(3))}",
                f"T_{index:02d}: {fmt([-offset, 0, 0])}",
                f"S_rect_{index:02d}: {config.width:.6e} {config.height:.6e}",
                f"R_rect_{index:02d}: {fmt(np.eye(3))}", f"P_rect_{index:02d}: {fmt(projection)}"]
    velo = ["calib_time: 01-Jan-2000 00:00:00", f"R: {fmt(VELO_TO_CAM_R)}", f"T: {fmt(VELO_TO_CAM_T)}",
            "delta_f: 0.000000e+00 0.000000e+00", "delta_c: 0.000000e+00 0.000000e+00"]
    imu = ["calib_time: 01-Jan-2000 00:00:00", f"R: {fmt(np.eye(3))}", f"T: {fmt([-0.81, 0.32, -0.80])}"]
    return {"calib_cam_to_cam.txt": "\n".join(cam) + "\n", "calib_velo_to_cam.txt": "\n".join(velo) + "\n",
            "calib_imu_to_velo.txt": "\n".join(imu) + "\n"}


def _oxts_line(pose: np.ndarray, previous: np.ndarray) -> str:
    """30 oxts fields; world z = north, x = east, -y = up; heading 0 = east, counter-clockwise."""
    earth, lat0, lon0 = 6378137.0, 49.0, 8.4
    east, up, north = pose[0, 3], -pose[1, 3], pose[2, 3]
    lat = lat0 + np.rad2deg(north / earth)
    lon = lon0 + np.rad2deg(east / (earth * np.cos(np.deg2rad(lat0))))
    forward = pose[:3, 2]
    heading = np.arctan2(forward[2], forward[0])
    pitch = np.arcsin(np.clip(forward[1], -1, 1))
    velocity = (pose[:3, 3] - previous[:3, 3]) * FPS
    fields = [lat, lon, 100.0 + up, 0.0, pitch, heading, velocity[2], velocity[0], np.linalg.norm(velocity),
              0.0, -velocity[1]] + [0.0] * 12 + [0.1, 0.05, 4, 10, 4, 4, 6]
    return " ".join(repr(float(v)) if i < 23 else str(v) for i, v in enumerate(fields))


def _timestamps(num_frames: int) -> str:
    return "".join(f"2000-01-01 12:{int(i / FPS) // 60:02d}:{(i / FPS) % 60:012.9f}\n" for i in range(num_frames))


def generate(root: str, config: SyntheticConfig = SyntheticConfig(), workers: int = 1,
             log=print) -> list[str]:
    """Write (or complete) the synthetic drives under ``root``; returns the drive names."""
    date_dir = os.path.join(root, DATE)
    os.makedirs(date_dir, exist_ok=True)
    config_path = os.path.join(root, "synthetic.json")
    if os.path.isfile(config_path):
        with open(config_path) as handle:
            stored = json.load(handle)
        stored.setdefault("scene_version", 1)      # renders from before the version was recorded
        wanted = config.to_json()
        if stored != wanted:
            differing = ", ".join(f"{key} {stored.get(key)!r} (wanted {wanted.get(key)!r})"
                                  for key in sorted(set(stored) | set(wanted)) if stored.get(key) != wanted.get(key))
            raise DataError(f"{root} holds synthetic data made with another configuration ({differing}); "
                            "use another folder or delete it")
    else:
        write_atomic(config_path, json.dumps(config.to_json(), indent=2) + "\n")
    for name, text in _calibration_text(config).items():
        write_atomic(os.path.join(date_dir, name), text)
    jobs, drives = [], []
    for drive in range(config.num_drives):
        drive_dir = os.path.join(root, drive_name(drive))
        drives.append(drive_name(drive))
        for sub in [c + "/data" for c in config.cameras] + ["depth_" + c[-2:] + "/data" for c in config.cameras] \
                + ["oxts/data"] + (["velodyne_points/data"] if config.velodyne else []):
            os.makedirs(os.path.join(drive_dir, sub), exist_ok=True)
        poses = rig_trajectory(config, drive)
        for camera in config.cameras:
            rows = [camera_to_world(p, camera)[:3].reshape(-1) for p in poses]
            write_atomic(os.path.join(drive_dir, f"poses_{camera}.txt"),
                        "".join(" ".join(f"{v:.9e}" for v in row) + "\n" for row in rows))
        stamps = _timestamps(config.num_frames)
        for sub in list(config.cameras) + ["oxts"] + (["velodyne_points"] if config.velodyne else []):
            write_atomic(os.path.join(drive_dir, sub, "timestamps.txt"), stamps)
        for frame, pose in enumerate(poses):
            write_atomic(os.path.join(drive_dir, "oxts", "data", f"{frame:010d}.txt"),
                        _oxts_line(pose, poses[max(frame - 1, 0)]) + "\n")
            if not all(os.path.isfile(f) for f in _frame_files(drive_dir, config, frame)):
                jobs.append((config, drive, frame, drive_dir))
    if jobs:
        log(f"rendering {len(jobs)} synthetic frames ({config.height}x{config.width}, "
            f"{len(config.cameras)} camera{'s' if len(config.cameras) > 1 else ''}) into {root}")
        with tqdm.tqdm(total=len(jobs), unit="frame", file=sys.stdout, dynamic_ncols=True) as bar:
            if workers <= 1:
                for job in jobs:
                    render_frame(*job)
                    bar.update(1)
            else:
                context = multiprocessing.get_context("spawn")
                with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
                    for _ in pool.map(render_frame, *zip(*jobs)):
                        bar.update(1)
    return drives


def write_odometry(root: str, config: SyntheticConfig, output: str, drive: int = 0, sequence: str = "00") -> str:
    """Re-publish one generated drive's camera 02 in the KITTI odometry layout, so pose evaluation
    runs end to end: ``sequences/SS/image_2/NNNNNN.png`` (hard links), ``sequences/SS/calib.txt``
    (``P0``-``P3``) and ``poses/SS.txt`` (camera-to-world 3x4 per frame).  KITTI's odometry poses
    are camera 0's; these are camera 02's (the evaluated camera), 6 cm apart on the rig."""
    drive_dir = os.path.join(root, drive_name(drive))
    image_dir = os.path.join(output, "sequences", sequence, "image_2")
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(os.path.join(output, "poses"), exist_ok=True)
    for frame in range(config.num_frames):
        target = os.path.join(image_dir, f"{frame:06d}.png")
        if not os.path.exists(target):
            os.link(os.path.join(drive_dir, "image_02", "data", f"{frame:010d}.png"), target)
    K = intrinsics(config)
    lines = []
    for index in range(4):
        offset = BASELINE_OFFSETS.get(f"image_{index:02d}", 0.0)
        projection = np.concatenate([K, np.array([[K[0, 0] * offset], [0.0], [0.0]])], 1)
        lines.append(f"P{index}: " + " ".join(f"{v:.12e}" for v in projection.reshape(-1)))
    write_atomic(os.path.join(output, "sequences", sequence, "calib.txt"), "\n".join(lines) + "\n")
    with open(os.path.join(drive_dir, "poses_image_02.txt")) as handle:
        write_atomic(os.path.join(output, "poses", f"{sequence}.txt"), handle.read())
    return output
