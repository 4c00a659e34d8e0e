"""A procedural street scene and an exact numpy ray-caster for it (known depth, known poses).

Used by the built-in synthetic dataset and by the tests.  World frame = the KITTI camera frame of
the first camera at the origin: x right, y down, z forward, metres.  The scene is a textured road
plane at camera height, two building facades, a far background wall (standing in for sky and
distant scenery), and axis-aligned boxes for parked cars.  Textures are sums of random sinusoids
in surface coordinates (metres), so they are smooth, detailed at several scales and identical
from every viewpoint; pixels are box-filtered over ``supersample**2`` rays.

Camera poses are camera-to-world transforms ``T_wc`` (4x4, ``X_world = T_wc @ X_cam``).  The pose
that maps reference-camera points into a source camera (the convention of ``ddvo_tf.geometry``)
is ``inv(T_wc_src) @ T_wc_ref``; :func:`relative_pose` computes it.
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Surface:
    """An axis-aligned rectangle (``axis`` = index of its normal, at coordinate ``offset``) or box."""
    kind: str                      # "plane" or "box"
    bounds: np.ndarray             # [3, 2] min/max per axis (plane: its own axis is ignored)
    axis: int = 0                  # normal axis of a plane
    offset: float = 0.0            # plane position along its normal axis
    base_color: np.ndarray = dataclasses.field(default_factory=lambda: np.full(3, 0.5))
    texture_seed: int = 0


@dataclasses.dataclass
class StreetScene:
    surfaces: list
    texture_components: int = 14
    texture_contrast: float = 0.22
    _waves: dict = dataclasses.field(default_factory=dict, repr=False)

    def waves(self, seed: int) -> tuple[np.ndarray, ...]:
        """Random sinusoid parameters of one texture (cached)."""
        if seed not in self._waves:
            rng = np.random.default_rng(seed)
            n = self.texture_components
            freq = np.exp(rng.uniform(np.log(0.2), np.log(3.0), n))  # cycles per metre
            angle = rng.uniform(0, np.pi, n)
            phase = rng.uniform(0, 2 * np.pi, n)
            amp = self.texture_contrast * np.sqrt(2.0 / n) * rng.uniform(0.5, 1.5, n)
            tint = 1.0 + 0.25 * rng.standard_normal((n, 3))               # mild colour variation
            self._waves[seed] = (freq * np.cos(angle), freq * np.sin(angle), phase, amp[:, None] * tint)
        return self._waves[seed]

    def texture(self, seed: int, s: np.ndarray, t: np.ndarray, base: np.ndarray) -> np.ndarray:
        fs, ft, phase, amp = self.waves(seed)
        wave = np.sin(2 * np.pi * (s[..., None] * fs + t[..., None] * ft) + phase)   # [..., n]
        value = wave @ amp                                                           # [..., 3]
        return np.clip(base + value, 0.0, 1.0)


def default_street(seed: int = 0, length: float = 200.0) -> StreetScene:
    """A street of ``length`` metres along +z: road, facades, parked boxes, far wall."""
    rng = np.random.default_rng(seed)
    cam_height = 1.65
    left_x, right_x = -5.5 - rng.uniform(0, 1.5), 6.0 + rng.uniform(0, 1.5)
    big = 1e4
    surfaces = [
        Surface("plane", np.array([[-big, big], [0, 0], [-big, big]]), axis=1, offset=cam_height,
                base_color=np.array([0.38, 0.38, 0.40]), texture_seed=seed * 100 + 1),
        Surface("plane", np.array([[0, 0], [-20.0, cam_height], [-big, big]]), axis=0, offset=left_x,
                base_color=np.array([0.62, 0.50, 0.42]), texture_seed=seed * 100 + 2),
        Surface("plane", np.array([[0, 0], [-18.0, cam_height], [-big, big]]), axis=0, offset=right_x,
                base_color=np.array([0.55, 0.56, 0.60]), texture_seed=seed * 100 + 3),
        Surface("plane", np.array([[-big, big], [-big, big], [0, 0]]), axis=2, offset=length + 60.0,
                base_color=np.array([0.60, 0.70, 0.80]), texture_seed=seed * 100 + 4),
    ]
    z = 6.0
    index = 0
    while z < length:
        side = rng.integers(2)
        depth = rng.uniform(3.8, 4.6)
        height = rng.uniform(1.3, 1.9)
        x0 = left_x + 0.3 if side == 0 else right_x - 2.1
        bounds = np.array([[x0, x0 + 1.8], [cam_height - height, cam_height], [z, z + depth]])
        color = rng.uniform(0.2, 0.8, 3)
        surfaces.append(Surface("box", bounds, base_color=color, texture_seed=seed * 100 + 10 + index))
        z += depth + rng.uniform(2.0, 12.0)
        index += 1
    return StreetScene(surfaces)


def _intersect(surface: Surface, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Ray parameter of the first hit (``inf`` for none); rays are ``origin + lam * dirs``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if surface.kind == "plane":
            a = surface.axis
            lam = (surface.offset - origin[a]) / dirs[..., a]
            hit = origin + lam[..., None] * dirs
            ok = lam > 1e-6
            for b in range(3):
                if b != a:
                    ok &= (hit[..., b] >= surface.bounds[b, 0]) & (hit[..., b] <= surface.bounds[b, 1])
            return np.where(ok, lam, np.inf)
        t0 = (surface.bounds[:, 0] - origin) / dirs
        t1 = (surface.bounds[:, 1] - origin) / dirs
        near = np.nanmax(np.minimum(t0, t1), axis=-1)
        far = np.nanmin(np.maximum(t0, t1), axis=-1)
        ok = (far >= near) & (near > 1e-6)
        return np.where(ok, near, np.inf)


def _surface_coords(surface: Surface, hit: np.ndarray):
    """2-D texture coordinates (metres) of hit points on a surface."""
    if surface.kind == "plane":
        axes = [b for b in range(3) if b != surface.axis]
        return hit[..., axes[0]], hit[..., axes[1]]
    # Boxes: pick the face by the coordinate closest to a bound; unwrap faces so they differ.
    dist = np.abs(hit[..., :, None] - surface.bounds[None, :, :]).reshape(hit.shape[:-1] + (6,))
    face = np.argmin(dist, axis=-1) // 2
    s = np.where(face == 0, hit[..., 2], hit[..., 0])
    t = np.where(face == 1, hit[..., 2] + 7.0, hit[..., 1])
    return s, t


def cast_rays(scene: StreetScene, origin: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First hit of rays ``origin + lam * dirs``: ``(lam [...], surface index [...])``, ``inf`` for none."""
    lams = np.stack([_intersect(surf, origin, dirs) for surf in scene.surfaces], axis=0)
    return np.min(lams, axis=0), np.argmin(lams, axis=0)


def shade(scene: StreetScene, hit: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Colour ``[..., 3]`` of hit points ``[..., 3]`` on the surfaces ``which [...]``."""
    color = np.zeros(which.shape + (3,))
    for index, surf in enumerate(scene.surfaces):
        sel = which == index
        if np.any(sel):
            u, v = _surface_coords(surf, hit[sel])
            color[sel] = scene.texture(surf.texture_seed, u, v, surf.base_color)
    return color


def render(scene: StreetScene, cam_to_world: np.ndarray, intrinsics: np.ndarray, height: int,
           width: int, supersample: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast one view: ``(image [H, W, 3] float32 in [0, 1], depth [H, W] float32 z-depth)``.

    Depth is the camera z of the surface seen through each pixel centre (exact); colour is the
    mean over a ``supersample x supersample`` grid of rays inside the pixel.
    """
    s = int(supersample)
    offsets = (np.arange(s) + 0.5) / s - 0.5
    xs = (np.arange(width)[:, None] + offsets[None, :]).reshape(-1)
    ys = (np.arange(height)[:, None] + offsets[None, :]).reshape(-1)
    px, py = np.meshgrid(xs, ys)                                             # [H*s, W*s]
    fx, fy, cx, cy = intrinsics[0, 0], intrinsics[1, 1], intrinsics[0, 2], intrinsics[1, 2]
    rays = np.stack([(px - cx) / fx, (py - cy) / fy, np.ones_like(px)], axis=-1)  # camera, z = 1
    rotation, origin = cam_to_world[:3, :3], cam_to_world[:3, 3]
    dirs = rays @ rotation.T
    lam, which = cast_rays(scene, origin, dirs)
    if not np.all(np.isfinite(lam)):
        raise ValueError("a camera ray hits nothing: the camera left the street scene")
    color = shade(scene, origin + lam[..., None] * dirs, which)
    image = color.reshape(height, s, width, s, 3).mean(axis=(1, 3))
    depth = lam.reshape(height, s, width, s)[:, s // 2, :, s // 2] if s % 2 else None
    if depth is None:
        raise ValueError("supersample must be odd so a ray passes through each pixel centre")
    return image.astype(np.float32), depth.astype(np.float32)


def camera_pose(position, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """Camera-to-world 4x4 from a position and yaw (about y, positive turns right), pitch (about x),
    roll (about z), in radians, applied as ``R = Ry(yaw) Rx(pitch) Rz(roll)``."""
    cy_, sy_ = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    ry = np.array([[cy_, 0, sy_], [0, 1, 0], [-sy_, 0, cy_]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    pose = np.eye(4)
    pose[:3, :3] = ry @ rx @ rz
    pose[:3, 3] = position
    return pose


def relative_pose(cam_to_world_ref: np.ndarray, cam_to_world_src: np.ndarray) -> np.ndarray:
    """4x4 transform mapping reference-camera points into the source camera."""
    return np.linalg.inv(cam_to_world_src) @ cam_to_world_ref


def kitti_like_intrinsics(height: int, width: int) -> np.ndarray:
    """KITTI's camera 02 intrinsics (1242x375, fx = fy = 721.5) resized to ``height x width``."""
    sx, sy = width / 1242.0, height / 375.0
    return np.array([[721.5377 * sx, 0, (609.5593 + 0.5) * sx - 0.5],
                     [0, 721.5377 * sy, (172.854 + 0.5) * sy - 0.5],
                     [0, 0, 1]], dtype=np.float64)
