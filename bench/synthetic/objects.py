"""Synthetic scene description: textured analytic objects (spheres, boxes, cylinders) placed so
that they touch and occlude each other on a ground disc, and the orbit of pinhole cameras.

Two layouts: "scatter" stands every object on the ground, each touching an earlier one; "contact"
adds the contacts of real tabletops (what object boundaries are hard on): an object stacked on a
box, a ball nested in the top of a pot (the two surfaces meet in a crease), and a thin rod leaning
on a box's top edge (a thin handle), then scatters the rest around them."""

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from utils.graphics_utils import fov2focal, look_at_world_to_camera

SHAPES = ("sphere", "box", "cylinder")
LAYOUTS = ("scatter", "contact")
CONTACT_GROUP_OBJECTS = 5      # base box, its stacked object, pot, nested ball, leaning rod
# Texture kind -> the adjective used in prompts.
TEXTURE_ADJECTIVES = {"checker": "checkered", "stripes": "striped", "noise": "mottled"}
# One distinct colour per object keeps the prompts unique; it also bounds the object count.
PALETTE = {
    "red": (0.85, 0.15, 0.12), "green": (0.20, 0.70, 0.25), "blue": (0.15, 0.30, 0.85),
    "yellow": (0.95, 0.85, 0.20), "orange": (0.95, 0.50, 0.10), "purple": (0.55, 0.25, 0.70),
    "cyan": (0.20, 0.80, 0.85), "pink": (0.95, 0.50, 0.70),
}
MAX_OBJECTS = len(PALETTE)
BACKGROUND_ID = 0
LIGHT_DIRECTION = np.array([0.5, 0.35, 1.0]) / np.linalg.norm([0.5, 0.35, 1.0])  # towards the light
GROUND_RADIUS_FACTOR = 4.0     # ground disc radius, in bounding radii of the objects
FRAMING_MARGIN = 1.05          # orbit distance beyond the one where the objects just fill the view


# ----------------------------------------------------------------------------- scene description

@dataclass
class Texture:
    """Solid texture on object-local points: a mix of two colours by a pattern of plane waves.

    checker: the product of the signs of three axis-aligned waves; stripes: the sign of one
    wave; noise: a smooth sum of several waves. Wave i is sin(p . waves[i] + phases[i])."""
    kind: str                 # "checker" | "stripes" | "noise"
    color_name: str
    color_a: np.ndarray       # (3,) RGB in [0, 1]
    color_b: np.ndarray       # (3,)
    waves: np.ndarray         # (M, 3) wave vectors (direction times angular frequency)
    phases: np.ndarray        # (M,)


@dataclass
class SceneObject:
    """An object. `half_size` is (r, r, r) for a sphere, the half extents for a box and
    (r, r, half height) for a cylinder (axis along local z); local points map to the world by
    `rotation_matrix(self) @ p + center`: `tilt` turns the object about its local x axis (a
    leaning rod), then `yaw` about the vertical through `center` (the texture turns with it)."""
    object_id: int
    shape: str
    center: np.ndarray        # (3,)
    half_size: np.ndarray     # (3,)
    yaw: float                # radians
    texture: Texture
    tilt: float = 0.0         # radians

    @property
    def prompt(self) -> str:
        return f"{self.texture.color_name} {TEXTURE_ADJECTIVES[self.texture.kind]} {self.shape}"


@dataclass
class SceneGeometry:
    objects: list[SceneObject]
    ground_radius: float
    light_direction: np.ndarray = field(default_factory=lambda: LIGHT_DIRECTION.copy())  # (3,) unit
    ground_texture: Optional["Texture"] = None   # None: GROUND_TEXTURE

    @property
    def object_ids(self) -> list[int]:
        return [obj.object_id for obj in self.objects]


GROUND_TEXTURE = Texture(kind="checker", color_name="grey", color_a=np.array([0.62, 0.60, 0.56]),
                         color_b=np.array([0.50, 0.48, 0.45]),
                         waves=np.array([[math.pi / 0.4, 0.0, 0.0], [0.0, math.pi / 0.4, 0.0]]),
                         phases=np.array([0.3, 0.7]))
GROUND_TEXTURES = ("checker", "noise")
NOISE_GROUND_WAVES = 32


def noise_ground_texture(rng: np.random.Generator) -> Texture:
    """A non-repeating ground (horizontal plane waves of many directions and 4-40 rad/unit):
    unlike the checker it gives structure from motion distinctive features to match."""
    directions = rng.normal(size=(NOISE_GROUND_WAVES, 3))
    directions[:, 2] = 0.0
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    frequencies = np.exp(rng.uniform(math.log(4.0), math.log(40.0), size=(NOISE_GROUND_WAVES, 1)))
    return Texture(kind="noise", color_name="grey", color_a=np.array([0.75, 0.72, 0.66]),
                   color_b=np.array([0.35, 0.33, 0.30]), waves=directions * frequencies,
                   phases=rng.uniform(0.0, 2 * math.pi, size=NOISE_GROUND_WAVES))


def _random_texture(color_name: str, rng: np.random.Generator) -> Texture:
    kind = str(rng.choice(list(TEXTURE_ADJECTIVES)))
    if kind == "checker":
        cell = rng.uniform(0.07, 0.12)
        waves = np.eye(3) * (math.pi / cell)
    elif kind == "stripes":
        direction = rng.normal(size=3)
        waves = (direction / np.linalg.norm(direction) * (2 * math.pi / rng.uniform(0.08, 0.15)))[None]
    else:
        directions = rng.normal(size=(6, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        waves = directions * rng.uniform(8.0, 20.0, size=(6, 1))
    color_a = np.array(PALETTE[color_name])
    return Texture(kind=kind, color_name=color_name, color_a=color_a, color_b=0.4 * color_a,
                   waves=waves, phases=rng.uniform(0.0, 2 * math.pi, size=len(waves)))


# Ranges of the random half sizes: (radius,) of a sphere, (x, y, z) of a box, (radius, half
# height) of a cylinder; objects stacked on a box are about half as large.
STANDING_SIZES = {"sphere": ((0.25, 0.4),), "box": ((0.18, 0.35), (0.18, 0.35), (0.15, 0.4)),
                  "cylinder": ((0.15, 0.3), (0.2, 0.45))}
STACKED_SIZES = {"sphere": ((0.13, 0.2),), "box": ((0.1, 0.16), (0.1, 0.16), (0.08, 0.15)),
                 "cylinder": ((0.1, 0.16), (0.12, 0.2))}


def _random_half_size(shape: str, ranges: dict, rng: np.random.Generator) -> np.ndarray:
    """`SceneObject.half_size` (3,) of a `shape` drawn from `ranges` (STANDING_SIZES, STACKED_SIZES)."""
    values = [rng.uniform(low, high) for low, high in ranges[shape]]
    if shape == "sphere":
        return np.full(3, values[0])
    if shape == "cylinder":
        return np.array([values[0], values[0], values[1]])
    return np.array(values)


def _random_object(object_id: int, shape: str, color_name: str, rng: np.random.Generator
                   ) -> SceneObject:
    """An object of random size standing on the ground at the origin (placed later)."""
    half_size = _random_half_size(shape, STANDING_SIZES, rng)
    # Spheres and cylinders turn only their texture; half the boxes stay axis-aligned.
    turned = shape != "box" or rng.random() < 0.5
    yaw = float(rng.uniform(0.0, math.pi / 2)) if turned else 0.0
    return SceneObject(object_id=object_id, shape=shape, center=np.array([0.0, 0.0, half_size[2]]),
                       half_size=half_size, yaw=yaw, texture=_random_texture(color_name, rng))


def _footprint_radius(obj: SceneObject) -> float:
    """Radius of the object's footprint used for placing it (boxes: between in- and circumradius)."""
    return float(obj.half_size[:2].mean())


Footprint = tuple  # (xy (2,), radius): a disc on the ground that other objects must not sink into


def _place_on_ground(objects: list[SceneObject], anchors: list[Footprint], obstacles: list[Footprint],
                     rng: np.random.Generator, max_attempts: int = 1000) -> None:
    """Stand each object on the ground touching a random one of `anchors` (at 0.95 of the summed
    footprint radii) without sinking deep into any of `obstacles` (0.85); each placed object
    joins both lists (which may be one list)."""
    for obj in objects:
        radius = _footprint_radius(obj)
        for _ in range(max_attempts):
            anchor_xy, anchor_radius = anchors[rng.integers(len(anchors))]
            angle = rng.uniform(0.0, 2 * math.pi)
            xy = anchor_xy + 0.95 * (radius + anchor_radius) * np.array([math.cos(angle), math.sin(angle)])
            if all(np.linalg.norm(xy - other_xy) >= 0.85 * (radius + other_radius)
                   for other_xy, other_radius in obstacles):
                obj.center[:2] = xy
                break
        else:
            raise RuntimeError(f"could not place object {obj.object_id} after {max_attempts} attempts")
        anchors.append((obj.center[:2], radius))
        if obstacles is not anchors:
            obstacles.append((obj.center[:2], radius))


def _centre_on_ground(objects: list[SceneObject]) -> None:
    centroid = np.mean([obj.center[:2] for obj in objects], axis=0)
    for obj in objects:
        obj.center[:2] -= centroid


def _scatter_layout(objects: list[SceneObject], rng: np.random.Generator) -> None:
    """Every object on the ground, each touching an earlier one (the first stays at the origin)."""
    placed = [(objects[0].center[:2], _footprint_radius(objects[0]))]
    _place_on_ground(objects[1:], placed, placed, rng)
    _centre_on_ground(objects)


def _yaw_rotation(yaw: float, vector: np.ndarray) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([c * vector[0] - s * vector[1], s * vector[0] + c * vector[1]])


def _leaning_rod(object_id: int, color_name: str, base: SceneObject, away_from: np.ndarray,
                 rng: np.random.Generator) -> SceneObject:
    """A thin cylinder standing on the ground and leaning on the top edge of the box `base`, on
    the face whose outward normal points most nearly along `away_from` (2,). In the face's frame
    (n out of the face, z up) the rod's axis is u = (-sin a, cos a) at lean a from the vertical;
    its foot stands at distance d from the face, chosen so that the axis passes at the rod's
    radius r outside the edge (n = 0, z = T): with w = (cos a, sin a) the axis' outward normal,
    (edge - foot) . w = -d cos a + (T - r sin a) sin a = -r, so d = ((T - r sin a) sin a + r) / cos a.
    Every point of the box is then at least r from the axis: the rod rests on the edge."""
    faces = [k * math.pi / 2 for k in range(4)]
    normals = [_yaw_rotation(base.yaw + phi, np.array([1.0, 0.0])) for phi in faces]
    face = int(np.argmax([normal @ away_from for normal in normals]))
    half_normal = base.half_size[face % 2]          # faces 0, 2 are +-x of the box, 1, 3 are +-y
    half_tangent = base.half_size[1 - face % 2]
    radius, lean = rng.uniform(0.03, 0.045), rng.uniform(0.45, 0.65)
    top = base.center[2] + base.half_size[2]
    distance = ((top - radius * math.sin(lean)) * math.sin(lean) + radius) / math.cos(lean)
    contact = distance * math.sin(lean) + (top - radius * math.sin(lean)) * math.cos(lean)
    length = contact + rng.uniform(0.12, 0.25)      # the rod reaches past the edge it rests on
    offset_normal = half_normal + distance - math.sin(lean) * length / 2
    offset_tangent = rng.uniform(-0.5, 0.5) * half_tangent
    tangent = _yaw_rotation(base.yaw + faces[face], np.array([0.0, 1.0]))
    xy = base.center[:2] + offset_normal * normals[face] + offset_tangent * tangent
    center = np.array([*xy, radius * math.sin(lean) + math.cos(lean) * length / 2])
    texture = _random_texture(color_name, rng)
    return SceneObject(object_id=object_id, shape="cylinder", center=center,
                       half_size=np.array([radius, radius, length / 2]),
                       yaw=base.yaw + faces[face] - math.pi / 2, texture=texture, tilt=lean)


def _contact_layout(colors: list[str], rng: np.random.Generator) -> list[SceneObject]:
    """Ids 1-5: a box (1) with an object stacked on its top (2), a pot (3, a short wide cylinder)
    touching the box with a ball (4) sunk into its top, a thin rod (5) leaning on the box's top
    edge on the side away from the pot; ids 6.. are random objects scattered around them."""
    base = SceneObject(1, "box", np.zeros(3), np.array([rng.uniform(0.28, 0.38), rng.uniform(0.28, 0.38),
                                                         rng.uniform(0.14, 0.22)]),
                       float(rng.uniform(0.0, math.pi / 2)), _random_texture(colors[0], rng))
    base.center[2] = base.half_size[2]
    top_shape = str(rng.choice(SHAPES))
    top_half = _random_half_size(top_shape, STACKED_SIZES, rng)
    slack = np.maximum(base.half_size[:2] - top_half[:2], 0.0) * 0.6
    top_xy = _yaw_rotation(base.yaw, rng.uniform(-1.0, 1.0, size=2) * slack)
    stacked = SceneObject(2, top_shape, np.array([*top_xy, 2 * base.half_size[2] + top_half[2]]), top_half,
                          float(rng.uniform(0.0, math.pi / 2)), _random_texture(colors[1], rng))
    pot_radius, pot_half_height = rng.uniform(0.24, 0.3), rng.uniform(0.12, 0.18)
    angle = rng.uniform(0.0, 2 * math.pi)
    direction = np.array([math.cos(angle), math.sin(angle)])
    pot_xy = 0.95 * (_footprint_radius(base) + pot_radius) * direction
    pot = SceneObject(3, "cylinder", np.array([*pot_xy, pot_half_height]),
                      np.array([pot_radius, pot_radius, pot_half_height]),
                      float(rng.uniform(0.0, math.pi / 2)), _random_texture(colors[2], rng))
    ball_radius = rng.uniform(0.6, 0.8) * pot_radius
    # Centre 0.35 radii above the pot's top: the ball meets the top in a circle inside its rim.
    ball = SceneObject(4, "sphere", np.array([*pot_xy, 2 * pot_half_height + 0.35 * ball_radius]),
                       np.full(3, ball_radius), float(rng.uniform(0.0, math.pi / 2)),
                       _random_texture(colors[3], rng))
    rod = _leaning_rod(5, colors[4], base, -direction, rng)
    objects = [base, stacked, pot, ball, rod]
    rod_reach = math.sin(rod.tilt) * rod.half_size[2] + rod.half_size[0]
    anchors = [(base.center[:2], _footprint_radius(base)), (pot.center[:2], pot_radius)]
    obstacles = [*anchors, (rod.center[:2], rod_reach)]
    shapes = [SHAPES[i] for i in rng.permutation(len(SHAPES))]
    rest = [_random_object(k + 1, shapes[k % len(shapes)], colors[k], rng)
            for k in range(CONTACT_GROUP_OBJECTS, len(colors))]
    _place_on_ground(rest, anchors, obstacles, rng)
    objects += rest
    _centre_on_ground(objects)
    return objects


def rotation_matrix(obj: SceneObject) -> np.ndarray:
    """(3, 3) world-from-local rotation: about local x by `tilt`, then about z by `yaw`."""
    cy, sy = math.cos(obj.yaw), math.sin(obj.yaw)
    ct, st = math.cos(obj.tilt), math.sin(obj.tilt)
    yaw = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, ct, -st], [0.0, st, ct]])
    return yaw @ tilt


def circumradius(obj: SceneObject) -> float:
    if obj.shape == "sphere":
        return float(obj.half_size[0])
    if obj.shape == "cylinder":
        return float(math.hypot(obj.half_size[0], obj.half_size[2]))
    return float(np.linalg.norm(obj.half_size))


def objects_bounding_sphere(objects: list[SceneObject]) -> tuple[np.ndarray, float]:
    """(center (3,), radius) of a sphere holding every object: centred on the middle of the
    objects' footprint at half the tallest object's height."""
    xy = np.array([obj.center[:2] for obj in objects])
    top = max(obj.center[2] + obj.half_size[2] for obj in objects)
    center = np.array([*(xy.min(axis=0) + xy.max(axis=0)) / 2, top / 2])
    radius = max(np.linalg.norm(obj.center - center) + circumradius(obj) for obj in objects)
    return center, float(radius)


def build_scene(seed: int, num_objects: int, ground_texture: str = "checker",
                layout: str = "scatter") -> SceneGeometry:
    """The scene of `seed`: `num_objects` objects with ids 1..num_objects. "scatter": shapes
    cycling through a shuffled `SHAPES` so that every shape appears when there are at least three
    objects, all on the ground; "contact" (at least CONTACT_GROUP_OBJECTS objects): stacked,
    nested and leaning objects first (`_contact_layout`). `ground_texture` is "checker"
    (GROUND_TEXTURE) or "noise" (`noise_ground_texture`)."""
    if not 1 <= num_objects <= MAX_OBJECTS:
        raise ValueError(f"num_objects must be in 1..{MAX_OBJECTS} (one palette colour each), got {num_objects}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got '{layout}'")
    if layout == "contact" and num_objects < CONTACT_GROUP_OBJECTS:
        raise ValueError(f"the contact layout needs at least {CONTACT_GROUP_OBJECTS} objects, got {num_objects}")
    rng = np.random.default_rng([seed, 0])
    if layout == "contact":
        colors = [str(c) for c in rng.permutation(list(PALETTE))[:num_objects]]
        objects = _contact_layout(colors, rng)
    else:
        shapes = [SHAPES[i] for i in rng.permutation(len(SHAPES))]
        colors = rng.permutation(list(PALETTE))[:num_objects]
        objects = [_random_object(k + 1, shapes[k % len(shapes)], str(colors[k]), rng)
                   for k in range(num_objects)]
        _scatter_layout(objects, rng)
    _, radius = objects_bounding_sphere(objects)
    ground = noise_ground_texture(np.random.default_rng([seed, 3])) if ground_texture == "noise" else None
    return SceneGeometry(objects=objects, ground_radius=GROUND_RADIUS_FACTOR * radius, ground_texture=ground)


def remove_object(scene: SceneGeometry, object_id: int) -> SceneGeometry:
    """The same scene without object `object_id`; the other objects keep their ids."""
    if object_id not in scene.object_ids:
        raise ValueError(f"cannot remove object {object_id}: the scene has ids {scene.object_ids}")
    return dataclasses.replace(scene, objects=[o for o in scene.objects if o.object_id != object_id])


# ----------------------------------------------------------------------------- cameras

@dataclass
class PinholeCamera:
    width: int
    height: int
    fx: float
    fy: float
    cx: float                   # COLMAP image coordinates (pixel centres at +0.5)
    cy: float
    world_to_camera: np.ndarray  # (4, 4) OpenCV/COLMAP


def orbit_cameras(scene: SceneGeometry, num_views: int, width: int, height: int, fov_x_deg: float,
                  elevation_deg: float, elevation_wave_deg: float) -> list[PinholeCamera]:
    """`num_views` cameras evenly spaced in azimuth around the objects, looking at the centre of
    their bounding sphere from far enough that the sphere fits the view. The elevation swings by
    +-`elevation_wave_deg` twice per orbit so that the views also have vertical parallax."""
    target, radius = objects_bounding_sphere(scene.objects)
    fx = fov2focal(math.radians(fov_x_deg), width)
    half_fov = min(math.atan(width / (2 * fx)), math.atan(height / (2 * fx)))
    distance = FRAMING_MARGIN * radius / math.sin(half_fov)
    cameras = []
    for i in range(num_views):
        azimuth = 2 * math.pi * i / num_views
        elevation = math.radians(elevation_deg + elevation_wave_deg * math.sin(2 * azimuth))
        eye = target + distance * np.array([math.cos(elevation) * math.cos(azimuth),
                                            math.cos(elevation) * math.sin(azimuth), math.sin(elevation)])
        cameras.append(PinholeCamera(width=width, height=height, fx=fx, fy=fx, cx=width / 2,
                                     cy=height / 2, world_to_camera=look_at_world_to_camera(eye, target)))
    return cameras


def camera_center(camera: PinholeCamera) -> np.ndarray:
    rotation, translation = camera.world_to_camera[:3, :3], camera.world_to_camera[:3, 3]
    return -rotation.T @ translation


def camera_rays(camera: PinholeCamera, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World rays through every pixel, shifted by each sub-pixel offset (S, 2) (x, y) from the
    pixel centre. Returns the camera centre (3,) and unit directions (S, H, W, 3)."""
    rows, cols = np.mgrid[0:camera.height, 0:camera.width].astype(np.float64)
    u = cols[None] + 0.5 + offsets[:, 0, None, None]
    v = rows[None] + 0.5 + offsets[:, 1, None, None]
    directions_cam = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy,
                               np.ones_like(u)], axis=-1)
    directions = directions_cam @ camera.world_to_camera[:3, :3]  # row vectors: R^T d per ray
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    return camera_center(camera), directions


def subpixel_offsets(supersample: int) -> np.ndarray:
    """Stratified offsets (supersample^2, 2) from the pixel centre, one per cell of an n x n grid."""
    steps = (np.arange(supersample) + 0.5) / supersample - 0.5
    x, y = np.meshgrid(steps, steps)
    return np.stack([x.ravel(), y.ravel()], axis=1)
