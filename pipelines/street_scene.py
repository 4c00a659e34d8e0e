"""A procedural street scene and an exact numpy ray-caster for it (known depth, known poses).

Used by the built-in synthetic dataset and by the tests.  World frame = the KITTI camera frame of
the first camera at the origin: x right, y down, z forward, metres.  The scene is a road plane at
camera height, two building facades, a far wall (sky above a skyline of distant scenery), and
axis-aligned boxes for parked cars.

Two looks share the road and the cars (same positions for the same seed):

* ``"street"`` (default): asphalt with lane markings, a pavement of concrete slabs (1.8-3.2 m,
  its own random stream) between the kerb and the buildings, buildings of varied colour with rows of
  windows and shop fronts, cars parked at the kerb with a glass band and dark tyres, sky, and a sun
  that shades each face by its orientation.  Every pattern is filtered by the pixel's footprint on
  the surface (sinusoids attenuated by a Gaussian, bars box-filtered), so distant texture blurs
  instead of aliasing into moire.  Every surface is strongly textured -- patched, worn asphalt,
  stained stone and render, grimy cars with reflections, hills behind the skyline: where a surface
  is uniform, brightness constancy says nothing about its depth (at a quarter of this contrast the
  quick run learned one fixed street layout: image-specific correlation -0.12...0.28).  The
  pavement is what makes a parked car an object: with the facades right behind the cars (the
  look's version 1) the quick run learned them as a bulge of the wall (0.19...0.61); with it they
  stand out as patches (0.55...0.73 in six runs; bench/results/quick_run.md).
* ``"waves"``: every surface a sum of random sinusoids, facades at the kerb (the look of the DDVO
  benchmark cases in ``bench/ddvo_cases.py``, kept unchanged so those measurements stay comparable).

``SCENE_VERSIONS`` numbers each look's geometry and textures; a render cache records it, so a cache
made by an older version is refused instead of silently reused (``pipelines.synthetic.generate``).

Camera poses are camera-to-world transforms ``T_wc`` (4x4, ``X_world = T_wc @ X_cam``).  The pose
that maps reference-camera points into a source camera (the convention of ``ddvo_tf.core.geometry``)
is ``inv(T_wc_src) @ T_wc_ref``; :func:`relative_pose` computes it.

Longer than 300 lines because the surfaces, their textures and the ray-caster are one exact
model that the DDVO tests trust: its parts only make sense together.
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
    material: str = "waves"        # waves, asphalt, facade, sky or car (the "street" look)
    params: dict = dataclasses.field(default_factory=dict, repr=False)


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


LOOKS = ("street", "waves")
# Bump a look's number whenever its pictures change: version 2 of "street" added the pavements.
SCENE_VERSIONS = {"street": 2, "waves": 1}
CAM_HEIGHT = 1.65
SUN = np.array([0.45, -0.8, -0.4]) / np.linalg.norm([0.45, -0.8, -0.4])   # towards the sun
CAR_PAINTS = np.array([[0.86, 0.86, 0.84], [0.09, 0.09, 0.10], [0.62, 0.63, 0.65], [0.62, 0.10, 0.09],
                       [0.13, 0.24, 0.52], [0.32, 0.33, 0.35], [0.75, 0.68, 0.52], [0.20, 0.40, 0.25]])
WALL_PAINTS = np.array([[0.78, 0.72, 0.62], [0.66, 0.52, 0.42], [0.85, 0.83, 0.78], [0.58, 0.60, 0.62],
                        [0.72, 0.62, 0.50], [0.52, 0.42, 0.38], [0.80, 0.76, 0.66], [0.62, 0.66, 0.60]])


def default_street(seed: int = 0, length: float = 200.0, look: str = "street") -> StreetScene:
    """A street of ``length`` metres along +z: road, facades, parked boxes, far wall."""
    if look not in LOOKS:
        raise ValueError(f"look must be one of {LOOKS}, got {look!r}")
    rng = np.random.default_rng(seed)
    cam_height = CAM_HEIGHT
    left_x, right_x = -5.5 - rng.uniform(0, 1.5), 6.0 + rng.uniform(0, 1.5)   # kerbs
    left_wall, right_wall = left_x, right_x
    if look == "street":
        pavements = np.random.default_rng([seed, 11]).uniform(1.8, 3.2, 2)
        left_wall, right_wall = left_x - pavements[0], right_x + pavements[1]
    big = 1e4
    surfaces = [
        Surface("plane", np.array([[-big, big], [0, 0], [-big, big]]), axis=1, offset=cam_height,
                base_color=np.array([0.38, 0.38, 0.40]), texture_seed=seed * 100 + 1),
        Surface("plane", np.array([[0, 0], [-20.0, cam_height], [-big, big]]), axis=0, offset=left_wall,
                base_color=np.array([0.62, 0.50, 0.42]), texture_seed=seed * 100 + 2),
        Surface("plane", np.array([[0, 0], [-18.0, cam_height], [-big, big]]), axis=0, offset=right_wall,
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
    if look == "street":
        _dress_street(surfaces, np.random.default_rng([seed, 7]), left_x, right_x, length)
    return StreetScene(surfaces)


def _dress_street(surfaces: list, rng: np.random.Generator, left_x: float, right_x: float, length: float) -> None:
    """Materials of the "street" look (its own random stream: the layout stays that of "waves")."""
    road, left, right, far = surfaces[:4]
    road.material, road.base_color = "asphalt", np.array([0.30, 0.30, 0.31]) * rng.uniform(0.85, 1.15)
    road.params = {"centre": 0.5 * (left_x + right_x) + rng.uniform(-0.3, 0.3),
                   "edges": (left_x + 2.4, right_x - 2.4), "dash_offset": rng.uniform(0, 9.0),
                   "kerbs": (left_x, right_x)}
    for facade in (left, right):
        widths = rng.uniform(7.0, 22.0, 64)
        starts = np.cumsum(widths) - 40.0
        facade.material = "facade"
        facade.params = {"starts": starts, "colors": WALL_PAINTS[rng.integers(len(WALL_PAINTS), size=64)]
                         * rng.uniform(0.85, 1.1, (64, 1)),
                         "spacing": rng.uniform(2.4, 3.8, 64), "floor": rng.uniform(2.8, 3.4, 64),
                         "shop": rng.uniform(0, 1, 64) < 0.6, "stone": rng.uniform(0, 1, 64) < 0.6,
                         "course": rng.uniform(0.35, 0.7, 64)}
    far.material = "sky"
    far.params = {"skyline": -rng.uniform(8.0, 25.0, 48), "block": rng.uniform(8.0, 30.0)}
    for car in surfaces[4:]:
        car.material = "car"
        car.base_color = CAR_PAINTS[rng.integers(len(CAR_PAINTS))] * rng.uniform(0.9, 1.1)
        car.params = {"glass": rng.uniform(0.55, 0.65)}


# Anti-aliased patterns: ``blur`` is the half-width (metres) of a pixel's footprint on the surface.
def _noise(seed: int, s: np.ndarray, t: np.ndarray, blur: np.ndarray, low: float, high: float,
           amplitude: float, count: int = 10) -> np.ndarray:
    """Zero-mean sum of random sinusoids (``low``-``high`` cycles/m), each attenuated by the
    Gaussian prefilter of the footprint, so it fades to its mean instead of aliasing."""
    rng = np.random.default_rng(seed)
    freq = np.exp(rng.uniform(np.log(low), np.log(high), count))
    angle, phase = rng.uniform(0, np.pi, count), rng.uniform(0, 2 * np.pi, count)
    amp = amplitude * np.sqrt(2.0 / count) * rng.uniform(0.5, 1.5, count)
    wave = np.sin(2 * np.pi * freq * (s[..., None] * np.cos(angle) + t[..., None] * np.sin(angle)) + phase)
    attenuation = np.exp(-2.0 * (np.pi * blur[..., None] * freq) ** 2)
    return (wave * attenuation) @ amp


def _bar(d: np.ndarray, half: float, blur: np.ndarray) -> np.ndarray:
    """Share of a footprint ``[d - blur, d + blur]`` covered by the band ``|d| <= half`` (exact box filter)."""
    blur = np.maximum(blur, 1e-4)
    return np.clip(np.minimum(d + blur, half) - np.maximum(d - blur, -half), 0.0, None) / (2 * blur)


def _bars(x: np.ndarray, period, on, blur: np.ndarray) -> np.ndarray:
    """Bars ``on`` long every ``period`` (one centred at 0), box-filtered; beyond a quarter period of
    blur they fade to their duty cycle."""
    limit = np.minimum(np.asarray(period) - np.asarray(on), np.asarray(period) / 2) / 2
    clamped = np.minimum(blur, limit)
    d = (x + 0.5 * period) % period - 0.5 * period
    coverage = _bar(d, 0.5 * np.asarray(on), clamped)
    fade = np.clip((blur - limit) / np.maximum(limit, 1e-6), 0.0, 1.0)
    return coverage * (1 - fade) + (np.asarray(on) / period) * fade


def _beyond(d: np.ndarray, blur: np.ndarray) -> np.ndarray:
    """Share of a footprint ``[d - blur, d + blur]`` on the side ``d > 0`` of an edge (box filter)."""
    return np.clip(0.5 + d / (2 * np.maximum(blur, 1e-4)), 0.0, 1.0)


def _asphalt(surface: Surface, x, z, blur) -> np.ndarray:
    p = surface.params
    grey = (surface.base_color[None] + _noise(surface.texture_seed, x, z, blur, 0.08, 0.6, 0.24)[..., None]
            + _noise(surface.texture_seed + 1, x, z, blur, 0.6, 3.0, 0.20)[..., None]
            + _noise(surface.texture_seed + 2, x, z, blur, 3.0, 12.0, 0.24)[..., None])
    paint = _bar(x - p["centre"], 0.07, blur) * _bars(z - p["dash_offset"], 9.0, 3.0, blur)
    for edge in p["edges"]:
        paint = paint + _bar(x - edge, 0.06, blur)
    paint = np.clip(paint, 0.0, 1.0)[..., None]
    road = grey * (1 - paint) + np.array([0.86, 0.86, 0.82]) * paint
    # Beyond the kerbs: concrete slabs with dark joints, and a light kerb stone along the edge.
    left, right = p["kerbs"]
    slabs = np.array([0.58, 0.57, 0.54]) * (1.0 + _noise(surface.texture_seed + 5, x, z, blur, 0.3, 4.0, 0.22)[..., None])
    slabs = slabs * (1 - 0.45 * np.maximum(_bars(x, 0.9, 0.03, blur), _bars(z, 0.9, 0.03, blur)))[..., None]
    pavement = np.maximum(_beyond(left - x, blur), _beyond(x - right, blur))[..., None]
    kerb = np.maximum(_bar(x - left, 0.12, blur), _bar(x - right, 0.12, blur))[..., None]
    color = road * (1 - pavement) + slabs * pavement
    return color * (1 - kerb) + np.array([0.75, 0.74, 0.70]) * kerb


def _facade(surface: Surface, y, z, blur) -> np.ndarray:
    p = surface.params
    building = np.clip(np.searchsorted(p["starts"], z) - 1, 0, len(p["starts"]) - 2)
    x_in = z - p["starts"][building]
    width = p["starts"][building + 1] - p["starts"][building]
    above = CAM_HEIGHT - y                                            # height above the pavement
    # Stone cladding (staggered blocks with dark joints) or stained render; both carry the texture
    # a photometric loss needs.
    course = p["course"][building]
    row = np.floor((above + 0.5 * course) / course)
    joints = np.maximum(_bars(above, course, 0.04, blur),
                        _bars(x_in + 0.5 * (row % 2) * 2 * course, 2 * course, 0.04, blur))
    stains = (_noise(surface.texture_seed, y, z, blur, 0.15, 1.0, 0.28)
              + _noise(surface.texture_seed + 2, y, z, blur, 1.0, 6.0, 0.20))
    wall = p["colors"][building] * (1.0 + stains[..., None])
    wall = wall * (1 - 0.35 * joints * p["stone"][building])[..., None]
    spacing, floor = p["spacing"][building], p["floor"][building]
    columns = _bars(x_in - 0.5 * (width % spacing) - 0.5 * spacing, spacing, 1.2, blur)
    rows = _bars(above - 3.6 - 0.9 - 0.75, floor, 1.5, blur) * np.clip((above - 3.6) / 0.3, 0, 1)
    windows = columns * rows * np.clip((x_in - 0.6) / 0.3, 0, 1) * np.clip((width - x_in - 0.6) / 0.3, 0, 1)
    shop = (_bars(x_in - 0.5 * width, 5.0, 3.6, blur) * _bar(above - 1.6, 1.15, blur)
            * p["shop"][building] * np.clip((x_in - 1.0) / 0.3, 0, 1) * np.clip((width - x_in - 1.0) / 0.3, 0, 1))
    glass_amount = np.clip(windows + shop, 0.0, 1.0)[..., None]
    glass = np.array([0.16, 0.19, 0.24]) + _noise(surface.texture_seed + 1, y, z, blur, 0.05, 0.4, 0.20)[..., None]
    seams = _bar(x_in, 0.12, blur)[..., None]                         # a dark joint between buildings
    color = wall * (1 - glass_amount) + glass * glass_amount
    return color * (1 - 0.5 * seams)


def _sky(surface: Surface, x, y, blur) -> np.ndarray:
    p = surface.params
    skyline = np.interp(x / p["block"], np.arange(len(p["skyline"])) - len(p["skyline"]) / 2, p["skyline"],
                        period=len(p["skyline"]))
    scenery = np.array([0.36, 0.40, 0.36]) + _noise(surface.texture_seed, x, y, blur, 0.05, 0.5, 0.32)[..., None]
    height = np.clip((skyline - y) / 120.0, 0.0, 1.0)[..., None]       # 0 at the skyline, 1 high up
    sky = np.array([0.80, 0.86, 0.92]) * (1 - height) + np.array([0.48, 0.64, 0.88]) * height
    below = _bar(y - skyline - 500.0, 500.0, blur)[..., None]          # below the skyline, box-filtered
    return sky * (1 - below) + scenery * below


def _car(surface: Surface, s, t, face, blur) -> np.ndarray:
    bounds = surface.bounds
    paint = surface.base_color + _noise(surface.texture_seed, s, t, blur, 0.5, 3.0, 0.20)[..., None]
    fraction = (bounds[1, 1] - t) / (bounds[1, 1] - bounds[1, 0])      # 0 at the ground, 1 on the roof
    vertical = face != 1
    glass = (_bar(fraction - 0.5 * (surface.params["glass"] + 0.93), 0.5 * (0.93 - surface.params["glass"]),
                  blur / (bounds[1, 1] - bounds[1, 0])) * vertical)[..., None]
    tyres = (_bar(fraction - 0.09, 0.09, blur / (bounds[1, 1] - bounds[1, 0])) * vertical)[..., None]
    color = paint * (1 - glass) + np.array([0.12, 0.14, 0.17]) * glass
    return color * (1 - tyres) + np.array([0.05, 0.05, 0.05]) * tyres


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


def _face(surface: Surface, hit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(normal axis, normal sign) per hit point: a plane's own, a box's nearest face."""
    if surface.kind == "plane":
        return np.full(hit.shape[:-1], surface.axis), np.zeros(hit.shape[:-1])
    dist = np.abs(hit[..., :, None] - surface.bounds[None, :, :]).reshape(hit.shape[:-1] + (6,))
    nearest = np.argmin(dist, axis=-1)
    return nearest // 2, np.where(nearest % 2 == 0, -1.0, 1.0)


def shade(scene: StreetScene, hit: np.ndarray, which: np.ndarray, origin: np.ndarray | None = None,
          pixel_angle: float = 0.0) -> np.ndarray:
    """Colour ``[..., 3]`` of hit points ``[..., 3]`` on the surfaces ``which [...]``, seen from
    ``origin`` by a pixel ``pixel_angle`` radians wide (its footprint filters the "street" look's
    patterns; without ``origin`` they are sharp and lit as if seen from the street)."""
    color = np.zeros(which.shape + (3,))
    for index, surf in enumerate(scene.surfaces):
        sel = which == index
        if not np.any(sel):
            continue
        u, v = _surface_coords(surf, hit[sel])
        if surf.material == "waves":
            color[sel] = scene.texture(surf.texture_seed, u, v, surf.base_color)
            continue
        axis, sign = _face(surf, hit[sel])
        normal = np.zeros(axis.shape + (3,))
        np.put_along_axis(normal, axis[:, None], 1.0, axis=-1)
        if origin is not None:
            ray = hit[sel] - origin
            distance = np.linalg.norm(ray, axis=-1)
            ray = ray / np.maximum(distance, 1e-9)[..., None]
            cosine = np.abs(np.sum(ray * normal, axis=-1))
            # Geometric mean of the footprint across and along the slant: area-preserving, isotropic.
            blur = 0.5 * distance * pixel_angle / np.sqrt(np.maximum(cosine, 0.03))
            facing = -np.sign(np.sum(ray * normal, axis=-1))
        else:
            blur = np.zeros(axis.shape)
            facing = np.where(sign != 0, sign, 1.0)   # planes: +axis; the lit side is a guess
        if surf.material == "asphalt":
            base = _asphalt(surf, u, v, blur)
        elif surf.material == "facade":
            base = _facade(surf, u, v, blur)
        elif surf.material == "sky":
            color[sel] = np.clip(_sky(surf, u, v, blur), 0.0, 1.0)
            continue                                                   # emits: no sun shading
        elif surf.material == "car":
            base = _car(surf, u, v, axis, blur)
        else:
            raise ValueError(f"unknown material {surf.material!r}")
        lit = np.maximum(np.sum(normal * facing[..., None] * SUN, axis=-1), 0.0)
        color[sel] = np.clip(base * (0.62 + 0.45 * lit)[..., None], 0.0, 1.0)
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
    color = shade(scene, origin + lam[..., None] * dirs, which, origin, 1.0 / (fx * s))
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
