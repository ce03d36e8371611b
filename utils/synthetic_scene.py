"""Synthetic scenes: the project's embedded default data (DESIGN section 7).

A scene is a ground disc (id 0, together with the sky) and K analytic objects (ids 1..K: spheres,
boxes turned about the vertical, upright cylinders) that touch and occlude each other. Each object
has a solid procedural texture (checker, stripes or smooth noise) and Lambertian shading under one
fixed directional light with hard shadows, so the images are view-consistent and photometric
reconstruction is meaningful. Cameras orbit the objects; every view is ray cast with vectorised
numpy (nearest analytic hit per ray).

`make_synthetic_scene` writes the layout of DESIGN section 3:

    images/frame_00000.png ...          RGB, anti-aliased with supersample^2 sub-pixel rays
    object_mask/frame_00000.png ...     uint8 ids of the pixel-centre ray, optionally degraded
                                        like a video tracker's output (see `degrade_masks`)
    test_mask/<view>/<prompt>.png       exact 0/255 masks of the views with index % 8 == 0
    prompts.json                        {prompt: [id]}, one descriptive prompt per object
    sparse/0/{cameras,images,points3D}.{bin,txt}   COLMAP model (one PINHOLE camera), or for
      --format transforms: transforms.json (+ transforms_train/_test.json) and points3d.ply
    scene_meta.json                     seed, configuration, objects, cameras, degradation record

Conventions: world z is up; cameras are OpenCV/COLMAP (x right, y down, z forward); in COLMAP
image coordinates the centre of pixel (row i, column j) is (j + 0.5, i + 0.5), so the principal
point (W/2, H/2) is the image centre, as 3DGS assumes. The scene is built in a hidden folder next
to the output folder and renamed into place, so a killed run never leaves a complete-looking scene.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import struct
import uuid
from dataclasses import dataclass, field
from typing import Optional

import cv2
import numpy as np
from plyfile import PlyData, PlyElement
from scipy.spatial.transform import Rotation

from utils.graphics_utils import fov2focal, look_at_world_to_camera
from utils.image_io import write_png

SHAPES = ("sphere", "box", "cylinder")
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
SKY_LABEL = -1                 # trace label of rays that hit nothing; its id is BACKGROUND_ID
TEST_VIEW_INTERVAL = 8         # views with index % 8 == 0 are held out (3DGS's llffhold)
IMAGE_NAME = "frame_{:05d}"     # view stem: images/<stem>.png, object_mask/<stem>.png, test_mask/<stem>/
IMAGE_EXT = ".png"
# A test view gets a prompt's mask only if the object covers this fraction of the image
# (LERF-Mask annotates visible objects; a few-pixel sliver would make a meaningless score).
MIN_TEST_MASK_FRACTION = 1e-3

LIGHT_DIRECTION = np.array([0.5, 0.35, 1.0]) / np.linalg.norm([0.5, 0.35, 1.0])  # towards the light
AMBIENT = 0.35
SKY_HORIZON = np.array([0.88, 0.90, 0.93])
SKY_ZENITH = np.array([0.55, 0.70, 0.90])
GROUND_RADIUS_FACTOR = 4.0     # ground disc radius, in bounding radii of the objects
FRAMING_MARGIN = 1.05          # orbit distance beyond the one where the objects just fill the view
HIT_EPSILON = 1e-6             # smallest accepted ray distance
SHADOW_OFFSET = 1e-4           # shadow rays start this far off the surface, along its normal
JITTER_CELL_PX = 12            # spacing of the random vectors of the boundary displacement field
PARALLEL_EPSILON = 1e-12       # direction components below this count as parallel to a plane

COLMAP_PINHOLE_MODEL_ID = 1
COLMAP_CAMERA_ID = 1
COLMAP_FORMATS = ("binary", "text")
OUTPUT_FORMATS = ("colmap", "transforms")


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
    """An object resting on the ground. `half_size` is (r, r, r) for a sphere, the half extents
    for a box and (r, r, half height) for a cylinder (axis along z); `yaw` turns it about the
    vertical axis through `center` (and its texture with it)."""
    object_id: int
    shape: str
    center: np.ndarray        # (3,)
    half_size: np.ndarray     # (3,)
    yaw: float                # radians
    texture: Texture

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


def _random_object(object_id: int, shape: str, color_name: str, rng: np.random.Generator
                   ) -> SceneObject:
    """An object of random size standing on the ground at the origin (placed later)."""
    if shape == "sphere":
        half_size = np.full(3, rng.uniform(0.25, 0.4))
    elif shape == "box":
        half_size = np.array([rng.uniform(0.18, 0.35), rng.uniform(0.18, 0.35), rng.uniform(0.15, 0.4)])
    else:
        radius = rng.uniform(0.15, 0.3)
        half_size = np.array([radius, radius, rng.uniform(0.2, 0.45)])
    # Spheres and cylinders turn only their texture; half the boxes stay axis-aligned.
    turned = shape != "box" or rng.random() < 0.5
    yaw = float(rng.uniform(0.0, math.pi / 2)) if turned else 0.0
    return SceneObject(object_id=object_id, shape=shape, center=np.array([0.0, 0.0, half_size[2]]),
                       half_size=half_size, yaw=yaw, texture=_random_texture(color_name, rng))


def _footprint_radius(obj: SceneObject) -> float:
    """Radius of the object's footprint used for placing it (boxes: between in- and circumradius)."""
    return float(obj.half_size[:2].mean())


def _place_objects(objects: list[SceneObject], rng: np.random.Generator,
                   max_attempts: int = 1000) -> None:
    """Move objects so that each touches an earlier one and none sinks deep into another: each
    new object is set at 0.95 of the summed footprint radii from a random earlier one."""
    for i in range(1, len(objects)):
        radius = _footprint_radius(objects[i])
        for _ in range(max_attempts):
            anchor = objects[rng.integers(i)]
            angle = rng.uniform(0.0, 2 * math.pi)
            xy = anchor.center[:2] + 0.95 * (radius + _footprint_radius(anchor)) * np.array(
                [math.cos(angle), math.sin(angle)])
            if all(np.linalg.norm(xy - other.center[:2]) >= 0.85 * (radius + _footprint_radius(other))
                   for other in objects[:i] if other is not anchor):
                objects[i].center[:2] = xy
                break
        else:
            raise RuntimeError(f"could not place object {objects[i].object_id} after {max_attempts} attempts")
    centroid = np.mean([obj.center[:2] for obj in objects], axis=0)
    for obj in objects:
        obj.center[:2] -= centroid


def _circumradius(obj: SceneObject) -> float:
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
    radius = max(np.linalg.norm(obj.center - center) + _circumradius(obj) for obj in objects)
    return center, float(radius)


def build_scene(seed: int, num_objects: int, ground_texture: str = "checker") -> SceneGeometry:
    """The scene of `seed`: `num_objects` objects with ids 1..num_objects, shapes cycling through
    a shuffled `SHAPES` so that every shape appears when there are at least three objects.
    `ground_texture` is "checker" (GROUND_TEXTURE) or "noise" (`noise_ground_texture`)."""
    if not 1 <= num_objects <= MAX_OBJECTS:
        raise ValueError(f"num_objects must be in 1..{MAX_OBJECTS} (one palette colour each), got {num_objects}")
    rng = np.random.default_rng([seed, 0])
    shapes = [SHAPES[i] for i in rng.permutation(len(SHAPES))]
    colors = rng.permutation(list(PALETTE))[:num_objects]
    objects = [_random_object(k + 1, shapes[k % len(shapes)], str(colors[k]), rng)
               for k in range(num_objects)]
    _place_objects(objects, rng)
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


# ----------------------------------------------------------------------------- ray casting

def _nearest_positive(candidates: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Smallest valid candidate distance above HIT_EPSILON per ray, inf where none: candidates
    (N, k) and valid (N, k) or (N, 1) -> (N,)."""
    return np.where(valid & (candidates > HIT_EPSILON), candidates, np.inf).min(axis=1)


def _nonzero(values: np.ndarray) -> np.ndarray:
    """`values` with entries too close to zero replaced by +-PARALLEL_EPSILON (safe divisor)."""
    return np.where(np.abs(values) < PARALLEL_EPSILON, np.copysign(PARALLEL_EPSILON, values), values)


def _intersect_sphere(o: np.ndarray, d: np.ndarray, half_size: np.ndarray) -> np.ndarray:
    """Distances (N,) along unit rays o + t d (N, 3), in the sphere's local frame."""
    b = np.einsum("ij,ij->i", o, d)
    c = np.einsum("ij,ij->i", o, o) - half_size[0] ** 2
    disc = b * b - c
    root = np.sqrt(np.maximum(disc, 0.0))
    candidates = np.stack([-b - root, -b + root], axis=1)
    return _nearest_positive(candidates, (disc >= 0)[:, None])


def _intersect_box(o: np.ndarray, d: np.ndarray, half_size: np.ndarray) -> np.ndarray:
    """Slab test in the box's local frame: distances (N,)."""
    inv = 1.0 / _nonzero(d)
    t1, t2 = (-half_size - o) * inv, (half_size - o) * inv
    t_enter = np.minimum(t1, t2).max(axis=1)
    t_exit = np.maximum(t1, t2).min(axis=1)
    return _nearest_positive(np.stack([t_enter, t_exit], axis=1), (t_enter <= t_exit)[:, None])


def _intersect_cylinder(o: np.ndarray, d: np.ndarray, half_size: np.ndarray) -> np.ndarray:
    """Capped cylinder along local z: side roots within the height, caps within the radius."""
    radius, half_height = half_size[0], half_size[2]
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    b = o[:, 0] * d[:, 0] + o[:, 1] * d[:, 1]
    c = o[:, 0] ** 2 + o[:, 1] ** 2 - radius ** 2
    disc = b * b - a * c
    root = np.sqrt(np.maximum(disc, 0.0))
    a_safe = np.where(a > PARALLEL_EPSILON, a, 1.0)
    side = np.stack([(-b - root) / a_safe, (-b + root) / a_safe], axis=1)
    side_valid = ((disc >= 0) & (a > PARALLEL_EPSILON))[:, None] & (
        np.abs(o[:, 2:3] + side * d[:, 2:3]) <= half_height)
    dz = _nonzero(d[:, 2])
    caps = np.stack([(half_height - o[:, 2]) / dz, (-half_height - o[:, 2]) / dz], axis=1)
    cap_x, cap_y = o[:, 0:1] + caps * d[:, 0:1], o[:, 1:2] + caps * d[:, 1:2]
    cap_valid = cap_x ** 2 + cap_y ** 2 <= radius ** 2
    return _nearest_positive(np.concatenate([side, caps], axis=1),
                             np.concatenate([side_valid, cap_valid], axis=1))


INTERSECTORS = {"sphere": _intersect_sphere, "box": _intersect_box, "cylinder": _intersect_cylinder}


def _yaw_matrix(yaw: float) -> np.ndarray:
    """Rotation (3, 3) about z: world = R @ local."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _to_local(obj: SceneObject, points: np.ndarray) -> np.ndarray:
    """World points (N, 3) -> the object's local frame (row vectors: R^T (p - c))."""
    return (points - obj.center) @ _yaw_matrix(obj.yaw)


def _object_distances(obj: SceneObject, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
    local_origins = _to_local(obj, origins)
    local_directions = directions @ _yaw_matrix(obj.yaw)
    return INTERSECTORS[obj.shape](local_origins, local_directions, obj.half_size)


def _sphere_candidates(center: np.ndarray, radius: float, origins: np.ndarray, directions: np.ndarray,
                       nearest: np.ndarray) -> np.ndarray:
    """Indices of the rays that pass through a bounding sphere ahead of their origin and before
    their current nearest hit `nearest` (N,): the only rays worth an exact intersection."""
    offset = origins - center
    b = np.einsum("ij,ij->i", offset, directions)
    c = np.einsum("ij,ij->i", offset, offset) - radius ** 2
    disc = b * b - c
    root = np.sqrt(np.maximum(disc, 0.0))
    return np.flatnonzero((disc >= 0) & (root - b > HIT_EPSILON) & (-b - root < nearest))


def _nearest_object(objects: list[SceneObject], origins: np.ndarray, directions: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Distance (N,) to the nearest object along each ray (inf if none) and its id (N,) (SKY_LABEL
    if none). Rays are culled by the bounding sphere of all objects, then by each object's."""
    nearest = np.full(len(directions), np.inf)
    labels = np.full(len(directions), SKY_LABEL, dtype=np.int64)
    if not objects:
        return nearest, labels
    group_center, group_radius = objects_bounding_sphere(objects)
    in_group = _sphere_candidates(group_center, group_radius, origins, directions, nearest)
    origins, directions = origins[in_group], directions[in_group]
    group_nearest = nearest[in_group]
    group_labels = labels[in_group]
    for obj in objects:
        candidates = _sphere_candidates(obj.center, _circumradius(obj), origins, directions, group_nearest)
        t = _object_distances(obj, origins[candidates], directions[candidates])
        closer = t < group_nearest[candidates]
        group_nearest[candidates[closer]] = t[closer]
        group_labels[candidates[closer]] = obj.object_id
    nearest[in_group] = group_nearest
    labels[in_group] = group_labels
    return nearest, labels


def _ground_distances(origins: np.ndarray, directions: np.ndarray, radius: float) -> np.ndarray:
    """Distances (N,) to the ground disc z = 0 of `radius`, seen from above."""
    downward = directions[:, 2] < -PARALLEL_EPSILON
    t = np.where(downward, -origins[:, 2] / np.where(downward, directions[:, 2], -1.0), np.inf)
    hit_xy = origins[:, :2] + np.where(np.isfinite(t), t, 0.0)[:, None] * directions[:, :2]
    return np.where(np.linalg.norm(hit_xy, axis=1) <= radius, t, np.inf)


def _surface_normals(obj: SceneObject, local_points: np.ndarray) -> np.ndarray:
    """Outward unit normals (N, 3) in the local frame at points (N, 3) on the object's surface:
    the face whose boundary the point is relatively closest to."""
    h = obj.half_size
    if obj.shape == "sphere":
        return local_points / h[0]
    if obj.shape == "box":
        face_axis = np.argmax(np.abs(local_points) / h, axis=1)
        normals = np.zeros_like(local_points)
        rows = np.arange(len(local_points))
        normals[rows, face_axis] = np.sign(local_points[rows, face_axis])
        return normals
    radial = np.hypot(local_points[:, 0], local_points[:, 1]) / h[0]
    on_cap = np.abs(local_points[:, 2]) / h[2] >= radial
    side = np.concatenate([local_points[:, :2] / h[0], np.zeros((len(local_points), 1))], axis=1)
    cap = np.zeros_like(local_points)
    cap[:, 2] = np.sign(local_points[:, 2])
    return np.where(on_cap[:, None], cap, side)


def texture_colors(texture: Texture, points: np.ndarray) -> np.ndarray:
    """Albedo (N, 3) of `texture` at points (N, 3) in the textured body's frame."""
    waves = np.sin(points @ texture.waves.T + texture.phases)
    if texture.kind == "noise":
        # A sum of M unit sines has variance M/2: this maps it to mean 0.5, std 0.35.
        mix = np.clip(0.5 + 0.35 * waves.sum(axis=1) / math.sqrt(len(texture.phases) / 2), 0.0, 1.0)
    else:
        mix = (np.prod(np.sign(waves), axis=1) < 0).astype(np.float64)
    return (1.0 - mix)[:, None] * texture.color_a + mix[:, None] * texture.color_b


@dataclass
class RayHits:
    labels: np.ndarray     # (N,) int: SKY_LABEL, BACKGROUND_ID (ground) or an object id
    points: np.ndarray     # (N, 3) hit positions (zeros for sky rays)
    normals: np.ndarray    # (N, 3) outward unit normals (zeros for sky rays)
    albedo: np.ndarray     # (N, 3) (zeros for sky rays)


def trace(scene: SceneGeometry, origins: np.ndarray, directions: np.ndarray) -> RayHits:
    """Nearest surface along each unit ray (origins, directions (N, 3)) with its surface attributes."""
    distances, labels = _nearest_object(scene.objects, origins, directions)
    ground = _ground_distances(origins, directions, scene.ground_radius)
    on_ground = np.flatnonzero(ground < distances)
    labels[on_ground] = BACKGROUND_ID
    distances[on_ground] = ground[on_ground]
    hit = np.flatnonzero(np.isfinite(distances))
    points = np.zeros((len(directions), 3))
    points[hit] = origins[hit] + distances[hit, None] * directions[hit]
    normals = np.zeros_like(points)
    albedo = np.zeros_like(points)
    normals[on_ground] = (0.0, 0.0, 1.0)
    albedo[on_ground] = texture_colors(scene.ground_texture or GROUND_TEXTURE, points[on_ground])
    for obj in scene.objects:
        selected = hit[labels[hit] == obj.object_id]
        local_points = _to_local(obj, points[selected])
        normals[selected] = _surface_normals(obj, local_points) @ _yaw_matrix(obj.yaw).T
        albedo[selected] = texture_colors(obj.texture, local_points)
    return RayHits(labels=labels, points=points, normals=normals, albedo=albedo)


def sky_colors(directions: np.ndarray) -> np.ndarray:
    """Vertical gradient (N, 3) from the horizon colour to the zenith colour."""
    up = np.clip(directions[:, 2], 0.0, 1.0)[:, None]
    return (1.0 - up) * SKY_HORIZON + up * SKY_ZENITH


def shade(scene: SceneGeometry, hits: RayHits, directions: np.ndarray) -> np.ndarray:
    """Lambertian colour (N, 3) in [0, 1] with ambient light and hard shadows cast by objects."""
    colors = sky_colors(directions)
    surface = np.flatnonzero(hits.labels != SKY_LABEL)
    lambert = np.clip(hits.normals[surface] @ scene.light_direction, 0.0, None)
    # Only surfaces facing the light can be shadowed.
    facing = surface[lambert > 0]
    shadow_origins = hits.points[facing] + SHADOW_OFFSET * hits.normals[facing]
    blocker, _ = _nearest_object(scene.objects, shadow_origins,
                                 np.broadcast_to(scene.light_direction, shadow_origins.shape))
    lambert[lambert > 0] *= np.isinf(blocker)
    colors[surface] = hits.albedo[surface] * (AMBIENT + (1.0 - AMBIENT) * lambert)[:, None]
    return np.clip(colors, 0.0, 1.0)


@dataclass
class ViewRender:
    image: np.ndarray      # (H, W, 3) float in [0, 1], mean over the sub-pixel rays
    ids: np.ndarray        # (H, W) uint8 id of the pixel-centre ray (ground and sky are 0)
    hit: np.ndarray        # (H, W) bool: the centre ray hit the ground or an object
    points: np.ndarray     # (H, W, 3) centre-ray hit positions
    normals: np.ndarray    # (H, W, 3)
    colors: np.ndarray     # (H, W, 3) shaded colour of the centre ray


def render_view(scene: SceneGeometry, camera: PinholeCamera, supersample: int = 2) -> ViewRender:
    """Ray cast one view: the pixel-centre ray gives ids and geometry, `supersample`^2 stratified
    sub-pixel rays give the anti-aliased colour."""
    offsets = np.concatenate([np.zeros((1, 2)), subpixel_offsets(supersample)])
    origin, directions = camera_rays(camera, offsets)
    shape = directions.shape
    flat_directions = directions.reshape(-1, 3)
    hits = trace(scene, np.broadcast_to(origin, flat_directions.shape), flat_directions)
    colors = shade(scene, hits, flat_directions).reshape(shape)
    labels = hits.labels.reshape(shape[:-1])[0]
    return ViewRender(image=colors[1:].mean(axis=0),
                      ids=np.maximum(labels, BACKGROUND_ID).astype(np.uint8),
                      hit=labels != SKY_LABEL,
                      points=hits.points.reshape(shape)[0],
                      normals=hits.normals.reshape(shape)[0],
                      colors=colors[0])


# ----------------------------------------------------------------------------- sparse point cloud

@dataclass
class SurfacePoints:
    xyz: np.ndarray        # (P, 3)
    rgb: np.ndarray        # (P, 3) uint8
    normals: np.ndarray    # (P, 3)
    view: np.ndarray       # (P,) index of the view the point was seen in (its one-observation track)
    pixel: np.ndarray      # (P, 2) int (row, column) of that observation


def to_uint8(colors: np.ndarray) -> np.ndarray:
    return np.round(np.clip(colors, 0.0, 1.0) * 255.0).astype(np.uint8)


def sample_surface_points(renders: list[ViewRender], num_points: int, rng: np.random.Generator
                          ) -> SurfacePoints:
    """`num_points` distinct (view, pixel) centre-ray hits drawn uniformly over all views (all of
    them if there are fewer), ordered by view and pixel: points on the visible surfaces, with
    their observed colours."""
    hit = np.stack([render.hit for render in renders])
    candidates = np.flatnonzero(hit)
    chosen = np.sort(rng.choice(candidates, size=min(num_points, len(candidates)), replace=False))
    view, row, col = np.unravel_index(chosen, hit.shape)

    def gather(attribute: str) -> np.ndarray:
        return np.stack([getattr(render, attribute) for render in renders])[view, row, col]

    return SurfacePoints(xyz=gather("points"), rgb=to_uint8(gather("colors")), normals=gather("normals"),
                         view=view, pixel=np.stack([row, col], axis=1))


# ----------------------------------------------------------------------------- mask degradation

@dataclass
class MaskDegradation:
    """Tracker-like errors in `object_mask/` (all off by default). Fractions are of all views."""
    jitter_px: float = 0.0        # boundaries displaced by a smooth random field of at most this
    swap_fraction: float = 0.0    # views where two object ids are exchanged
    merge_fraction: float = 0.0   # views where one object takes another's id
    blob_fraction: float = 0.0    # views with 1-3 small spurious discs of an object id


def _displacement_field(height: int, width: int, max_px: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth random displacements (H, W, 2) (x, y) of length at most `max_px`: random vectors
    on a coarse grid, bilinearly upsampled."""
    grid = rng.uniform(-1.0, 1.0, size=(height // JITTER_CELL_PX + 2, width // JITTER_CELL_PX + 2, 2))
    vectors = cv2.resize(grid.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    length = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return max_px * vectors / np.maximum(length, 1.0)


def jitter_boundaries(ids: np.ndarray, max_px: float, rng: np.random.Generator) -> np.ndarray:
    """Each pixel takes the id at its position moved by a smooth random displacement, rounded to
    the nearest pixel: boundaries wobble, and only pixels within max_px + 1/sqrt(2) of a pixel
    of another id can change."""
    height, width = ids.shape
    displacement = _displacement_field(height, width, max_px, rng)
    rows, cols = np.mgrid[0:height, 0:width]
    source_rows = np.clip(np.rint(rows + displacement[..., 1]), 0, height - 1).astype(np.int64)
    source_cols = np.clip(np.rint(cols + displacement[..., 0]), 0, width - 1).astype(np.int64)
    return ids[source_rows, source_cols]


def visible_object_ids(ids: np.ndarray) -> list[int]:
    return [int(i) for i in np.unique(ids) if i != BACKGROUND_ID]


def adjacent_object_pairs(ids: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (a < b) of object ids whose regions touch (4-neighbourhood)."""
    first = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    second = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    touching = (first != second) & (first != BACKGROUND_ID) & (second != BACKGROUND_ID)
    pairs = np.unique(np.sort(np.stack([first[touching], second[touching]], axis=1), axis=1), axis=0)
    return [(int(a), int(b)) for a, b in pairs]


def _pick_pair(ids: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    """A random pair of touching objects (what a tracker confuses), else of any two visible ones,
    in random order."""
    pairs = adjacent_object_pairs(ids)
    if not pairs:
        visible = visible_object_ids(ids)
        pairs = [(a, b) for i, a in enumerate(visible) for b in visible[i + 1:]]
    pair = pairs[rng.integers(len(pairs))]
    return pair if rng.random() < 0.5 else (pair[1], pair[0])


def degrade_masks(id_maps: list[np.ndarray], names: list[str], object_ids: list[int],
                  degradation: MaskDegradation, rng: np.random.Generator
                  ) -> tuple[list[np.ndarray], dict]:
    """Tracker-like copies of exact id maps (H, W) uint8 and a record of what was done.

    Every view's boundaries are jittered; then round(swap_fraction * V) views get two touching
    ids exchanged and round(merge_fraction * V) other views get one id replaced by a touching
    one's (views chosen among those with at least two visible objects); then
    round(blob_fraction * V) views get 1-3 discs of radius 2-4 px of a random object id."""
    maps = [ids.copy() for ids in id_maps]
    if degradation.jitter_px > 0:
        maps = [jitter_boundaries(ids, degradation.jitter_px, rng) for ids in maps]
    num_views = len(maps)
    num_swaps = round(degradation.swap_fraction * num_views)
    num_merges = round(degradation.merge_fraction * num_views)
    eligible = [v for v in range(num_views) if len(visible_object_ids(maps[v])) >= 2]
    if num_swaps + num_merges > len(eligible):
        raise ValueError(f"{num_swaps} swaps and {num_merges} merges need as many views with two "
                         f"visible objects, but only {len(eligible)} of {num_views} views have them")
    order = [int(v) for v in rng.permutation(eligible)]
    record: dict = {"swaps": [], "merges": [], "blobs": []}
    for view in sorted(order[:num_swaps]):
        a, b = _pick_pair(maps[view], rng)
        original = maps[view].copy()
        maps[view][original == a] = b
        maps[view][original == b] = a
        record["swaps"].append({"view": names[view], "ids": [a, b]})
    for view in sorted(order[num_swaps:num_swaps + num_merges]):
        lost, kept = _pick_pair(maps[view], rng)
        maps[view][maps[view] == lost] = kept
        record["merges"].append({"view": names[view], "from": lost, "into": kept})
    height, width = maps[0].shape
    for view in sorted(int(v) for v in rng.choice(num_views, round(degradation.blob_fraction * num_views),
                                                  replace=False)):
        for _ in range(rng.integers(1, 4)):
            blob_id = int(rng.choice(object_ids))
            center = (int(rng.integers(width)), int(rng.integers(height)))
            radius = int(rng.integers(2, 5))
            cv2.circle(maps[view], center, radius, blob_id, thickness=-1)
            record["blobs"].append({"view": names[view], "id": blob_id, "center_xy": list(center),
                                    "radius": radius})
    return maps, record


# ----------------------------------------------------------------------------- COLMAP and NeRF writers

def rotation_to_qvec(rotation: np.ndarray) -> np.ndarray:
    """COLMAP quaternion (w, x, y, z) with w >= 0 of a rotation matrix (3, 3)."""
    return Rotation.from_matrix(rotation).as_quat(canonical=True, scalar_first=True)


def _points2d_per_view(points: SurfacePoints, num_views: int) -> list[np.ndarray]:
    """Indices of the points observed in each view; a point's position in its view's list is
    its POINT2D_IDX (points are ordered by view, so these are contiguous runs)."""
    return [np.flatnonzero(points.view == v) for v in range(num_views)]


def _observation_xy(points: SurfacePoints) -> np.ndarray:
    """COLMAP image coordinates (P, 2) of each point's observation (pixel centre)."""
    return points.pixel[:, ::-1].astype(np.float64) + 0.5


def _point2d_index(points: SurfacePoints) -> np.ndarray:
    """Each point's index (P,) among the observations of its view."""
    first_of_view = np.searchsorted(points.view, points.view)
    return np.arange(len(points.view)) - first_of_view


def _write_colmap_binary(folder: str, cameras: list[PinholeCamera], image_files: list[str],
                         points: SurfacePoints) -> None:
    camera = cameras[0]
    with open(os.path.join(folder, "cameras.bin"), "wb") as fh:
        fh.write(struct.pack("<Q", 1))
        fh.write(struct.pack("<iiQQ", COLMAP_CAMERA_ID, COLMAP_PINHOLE_MODEL_ID, camera.width, camera.height))
        fh.write(struct.pack("<4d", camera.fx, camera.fy, camera.cx, camera.cy))
    xy = _observation_xy(points)
    point2d_dtype = np.dtype([("xy", "<f8", (2,)), ("point3d_id", "<i8")])
    with open(os.path.join(folder, "images.bin"), "wb") as fh:
        fh.write(struct.pack("<Q", len(cameras)))
        for view, (cam, observed) in enumerate(zip(cameras, _points2d_per_view(points, len(cameras)))):
            w2c = cam.world_to_camera
            fh.write(struct.pack("<i4d3di", view + 1, *rotation_to_qvec(w2c[:3, :3]), *w2c[:3, 3],
                                 COLMAP_CAMERA_ID))
            fh.write(image_files[view].encode("utf-8") + b"\x00")
            records = np.empty(len(observed), dtype=point2d_dtype)
            records["xy"] = xy[observed]
            records["point3d_id"] = observed + 1
            fh.write(struct.pack("<Q", len(observed)))
            fh.write(records.tobytes())
    point3d_dtype = np.dtype([("id", "<u8"), ("xyz", "<f8", (3,)), ("rgb", "u1", (3,)), ("error", "<f8"),
                              ("track_length", "<u8"), ("image_id", "<i4"), ("point2d_idx", "<i4")])
    records = np.empty(len(points.xyz), dtype=point3d_dtype)
    records["id"] = np.arange(1, len(points.xyz) + 1)
    records["xyz"] = points.xyz
    records["rgb"] = points.rgb
    records["error"] = 0.0
    records["track_length"] = 1
    records["image_id"] = points.view + 1
    records["point2d_idx"] = _point2d_index(points)
    with open(os.path.join(folder, "points3D.bin"), "wb") as fh:
        fh.write(struct.pack("<Q", len(records)))
        fh.write(records.tobytes())


def _write_colmap_text(folder: str, cameras: list[PinholeCamera], image_files: list[str],
                       points: SurfacePoints) -> None:
    camera = cameras[0]
    with open(os.path.join(folder, "cameras.txt"), "w") as fh:
        fh.write("# Camera list with one line of data per camera:\n"
                 "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n# Number of cameras: 1\n")
        fh.write(f"{COLMAP_CAMERA_ID} PINHOLE {camera.width} {camera.height} "
                 f"{camera.fx!r} {camera.fy!r} {camera.cx!r} {camera.cy!r}\n")
    xy = _observation_xy(points)
    per_view = _points2d_per_view(points, len(cameras))
    with open(os.path.join(folder, "images.txt"), "w") as fh:
        fh.write("# Image list with two lines of data per image:\n"
                 "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n"
                 "#   POINTS2D[] as (X, Y, POINT3D_ID)\n"
                 f"# Number of images: {len(cameras)}, mean observations per image: "
                 f"{len(points.xyz) / len(cameras)}\n")
        for view, (cam, observed) in enumerate(zip(cameras, per_view)):
            w2c = cam.world_to_camera
            pose = [*rotation_to_qvec(w2c[:3, :3]), *w2c[:3, 3]]
            fh.write(" ".join([str(view + 1), *(repr(float(x)) for x in pose), str(COLMAP_CAMERA_ID),
                               image_files[view]]) + "\n")
            fh.write(" ".join(f"{x!r} {y!r} {i + 1}" for (x, y), i in zip(xy[observed].tolist(), observed))
                     + "\n")
    point2d_index = _point2d_index(points)
    with open(os.path.join(folder, "points3D.txt"), "w") as fh:
        fh.write("# 3D point list with one line of data per point:\n"
                 "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)\n"
                 f"# Number of points: {len(points.xyz)}, mean track length: 1\n")
        for i, (xyz, rgb) in enumerate(zip(points.xyz.tolist(), points.rgb.tolist())):
            fh.write(f"{i + 1} {xyz[0]!r} {xyz[1]!r} {xyz[2]!r} {rgb[0]} {rgb[1]} {rgb[2]} 0.0 "
                     f"{points.view[i] + 1} {point2d_index[i]}\n")


def write_colmap_model(folder: str, cameras: list[PinholeCamera], image_files: list[str],
                       points: SurfacePoints, colmap_format: str) -> None:
    """COLMAP model (cameras, images, points3D) of one shared PINHOLE camera; image i has id
    i + 1 and file name `image_files[i]` (in images/, with extension); each point has a
    one-observation track in the view it was sampled from."""
    if colmap_format not in COLMAP_FORMATS:
        raise ValueError(f"colmap_format must be one of {COLMAP_FORMATS}, got '{colmap_format}'")
    if any((c.width, c.height, c.fx, c.fy, c.cx, c.cy) != (cameras[0].width, cameras[0].height,
           cameras[0].fx, cameras[0].fy, cameras[0].cx, cameras[0].cy) for c in cameras):
        raise ValueError("write_colmap_model writes one shared camera, but the intrinsics differ")
    os.makedirs(folder, exist_ok=True)
    writer = _write_colmap_binary if colmap_format == "binary" else _write_colmap_text
    writer(folder, cameras, image_files, points)


def opengl_camera_to_world(world_to_camera: np.ndarray) -> np.ndarray:
    """NeRF/OpenGL camera-to-world (4, 4) (x right, y up, z backward) of an OpenCV world-to-camera."""
    c2w = np.linalg.inv(world_to_camera)
    c2w[:3, 1:3] *= -1
    return c2w


def write_transforms(folder: str, cameras: list[PinholeCamera], names: list[str],
                     test_views: list[int]) -> None:
    """`transforms.json` (instant-ngp intrinsics and every frame) plus the 3DGS/Blender split
    `transforms_train.json` / `transforms_test.json`. `file_path` omits the extension, as the
    Blender scenes and 3DGS's reader expect (the reader appends ".png")."""
    camera = cameras[0]
    header = {"camera_angle_x": 2 * math.atan(camera.width / (2 * camera.fx)),
              "camera_angle_y": 2 * math.atan(camera.height / (2 * camera.fy)),
              "fl_x": camera.fx, "fl_y": camera.fy, "cx": camera.cx, "cy": camera.cy,
              "w": camera.width, "h": camera.height}

    def frames(views: list[int]) -> list[dict]:
        return [{"file_path": f"./images/{names[v]}",
                 "transform_matrix": opengl_camera_to_world(cameras[v].world_to_camera).tolist()}
                for v in views]

    all_views = list(range(len(cameras)))
    train_views = [v for v in all_views if v not in set(test_views)]
    for filename, views in (("transforms.json", all_views), ("transforms_train.json", train_views),
                            ("transforms_test.json", test_views)):
        write_json(os.path.join(folder, filename), {**header, "frames": frames(views)})


def write_points_ply(path: str, points: SurfacePoints) -> None:
    """Point cloud in 3DGS's `storePly` layout: x y z nx ny nz (float32), red green blue (uint8)."""
    vertices = np.empty(len(points.xyz), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("nx", "f4"),
                                                ("ny", "f4"), ("nz", "f4"), ("red", "u1"),
                                                ("green", "u1"), ("blue", "u1")])
    for i, axis in enumerate("xyz"):
        vertices[axis] = points.xyz[:, i]
        vertices["n" + axis] = points.normals[:, i]
    for i, channel in enumerate(("red", "green", "blue")):
        vertices[channel] = points.rgb[:, i]
    PlyData([PlyElement.describe(vertices, "vertex")], byte_order="<").write(path)


# ----------------------------------------------------------------------------- scene folder

@dataclass
class SyntheticSceneConfig:
    seed: int = 0
    num_objects: int = 4
    num_views: int = 32
    width: int = 160
    height: int = 120
    fov_x_deg: float = 60.0
    elevation_deg: float = 30.0
    elevation_wave_deg: float = 10.0
    supersample: int = 2
    num_points: int = 3000
    output_format: str = "colmap"      # "colmap" | "transforms"
    colmap_format: str = "binary"      # "binary" | "text"
    degradation: MaskDegradation = field(default_factory=MaskDegradation)
    without_object: Optional[int] = None   # render the same views with this object removed
    ground_texture: str = "checker"         # "checker" | "noise" (SfM-friendly, see noise_ground_texture)

    def validate(self) -> None:
        """Raise ValueError naming the first bad setting."""
        checks = [
            (1 <= self.num_objects <= MAX_OBJECTS, f"num_objects must be in 1..{MAX_OBJECTS}"),
            (self.num_views >= 1, "num_views must be at least 1"),
            (self.width >= 8 and self.height >= 8, "width and height must be at least 8 pixels"),
            (0.0 < self.fov_x_deg < 170.0, "fov_x_deg must be in (0, 170)"),
            (5.0 <= self.elevation_deg - abs(self.elevation_wave_deg)
             and self.elevation_deg + abs(self.elevation_wave_deg) <= 85.0,
             "elevation_deg -+ elevation_wave_deg must stay within [5, 85] degrees"),
            (self.supersample >= 1, "supersample must be at least 1"),
            (self.num_points >= 1, "num_points must be at least 1"),
            (self.output_format in OUTPUT_FORMATS, f"output_format must be one of {OUTPUT_FORMATS}"),
            (self.colmap_format in COLMAP_FORMATS, f"colmap_format must be one of {COLMAP_FORMATS}"),
            (self.degradation.jitter_px >= 0, "mask jitter must be >= 0 pixels"),
            (all(0.0 <= f <= 1.0 for f in (self.degradation.swap_fraction, self.degradation.merge_fraction,
                                            self.degradation.blob_fraction)),
             "swap, merge and blob fractions must be in [0, 1]"),
            (self.without_object is None or 1 <= self.without_object <= self.num_objects,
             f"without_object must be an object id in 1..{self.num_objects}"),
            (self.ground_texture in GROUND_TEXTURES, f"ground_texture must be one of {GROUND_TEXTURES}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"synthetic scene configuration: {message}")


def held_out_view_indices(num_views: int) -> list[int]:
    return [v for v in range(num_views) if v % TEST_VIEW_INTERVAL == 0]


def write_json(path: str, content) -> None:
    with open(path, "w") as fh:
        json.dump(content, fh, indent=1)
        fh.write("\n")


def write_test_masks(folder: str, names: list[str], renders: list[ViewRender], views: list[int],
                     objects: list[SceneObject]) -> None:
    """Exact 0/255 masks `<folder>/<view>/<prompt>.png` of every object visible in the view."""
    for view in views:
        ids = renders[view].ids
        min_pixels = MIN_TEST_MASK_FRACTION * ids.size
        view_folder = os.path.join(folder, names[view])
        os.makedirs(view_folder)
        for obj in objects:
            mask = ids == obj.object_id
            if np.count_nonzero(mask) >= min_pixels:
                write_png(os.path.join(view_folder, obj.prompt + IMAGE_EXT), mask.astype(np.uint8) * 255)


def _array_lists(value):
    """JSON-ready copy of dataclass dicts: arrays become lists."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {key: _array_lists(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_array_lists(item) for item in value]
    return value


def scene_meta(config: SyntheticSceneConfig, scene: SceneGeometry, cameras: list[PinholeCamera],
               names: list[str], degradation_record: dict, num_points: int) -> dict:
    camera = cameras[0]
    return {
        "seed": config.seed,
        "config": dataclasses.asdict(config),
        "objects": [{"id": obj.object_id, "prompt": obj.prompt, "shape": obj.shape,
                     "center": obj.center.tolist(), "half_size": obj.half_size.tolist(), "yaw": obj.yaw,
                     "texture": _array_lists(dataclasses.asdict(obj.texture))} for obj in scene.objects],
        "removed_object": config.without_object,
        "ground_radius": scene.ground_radius,
        "light_direction": scene.light_direction.tolist(),
        "camera": {"model": "PINHOLE", "width": camera.width, "height": camera.height,
                   "fx": camera.fx, "fy": camera.fy, "cx": camera.cx, "cy": camera.cy},
        "views": [{"name": name, "world_to_camera": cam.world_to_camera.tolist()}
                  for name, cam in zip(names, cameras)],
        "test_views": [names[v] for v in held_out_view_indices(len(names))],
        "num_points": num_points,
        "mask_degradation": {**dataclasses.asdict(config.degradation), **degradation_record},
    }


def write_scene(folder: str, config: SyntheticSceneConfig) -> dict:
    """Generate the scene of `config` into the existing empty `folder`; returns its meta dict."""
    config.validate()
    full_scene = build_scene(config.seed, config.num_objects, config.ground_texture)
    # Cameras come from the full scene so that a scene without an object has the same views.
    cameras = orbit_cameras(full_scene, config.num_views, config.width, config.height, config.fov_x_deg,
                            config.elevation_deg, config.elevation_wave_deg)
    scene = full_scene if config.without_object is None else remove_object(full_scene, config.without_object)
    renders = [render_view(scene, camera, config.supersample) for camera in cameras]
    names = [IMAGE_NAME.format(v) for v in range(config.num_views)]

    for subfolder in ("images", "object_mask", "test_mask"):
        os.makedirs(os.path.join(folder, subfolder))
    for name, render in zip(names, renders):
        write_png(os.path.join(folder, "images", name + IMAGE_EXT), to_uint8(render.image))
    masks, degradation_record = degrade_masks([render.ids for render in renders], names, scene.object_ids,
                                              config.degradation, np.random.default_rng([config.seed, 2]))
    for name, mask in zip(names, masks):
        write_png(os.path.join(folder, "object_mask", name + IMAGE_EXT), mask)
    test_views = held_out_view_indices(config.num_views)
    write_test_masks(os.path.join(folder, "test_mask"), names, renders, test_views, scene.objects)

    points = sample_surface_points(renders, config.num_points, np.random.default_rng([config.seed, 1]))
    if config.output_format == "colmap":
        write_colmap_model(os.path.join(folder, "sparse", "0"), cameras, [name + IMAGE_EXT for name in names],
                           points, config.colmap_format)
    else:
        write_transforms(folder, cameras, names, test_views)
        write_points_ply(os.path.join(folder, "points3d.ply"), points)
    write_json(os.path.join(folder, "prompts.json"), {obj.prompt: [obj.object_id] for obj in scene.objects})
    meta = scene_meta(config, scene, cameras, names, degradation_record, len(points.xyz))
    write_json(os.path.join(folder, "scene_meta.json"), meta)
    return meta


def _is_nonempty_folder(path: str) -> bool:
    if os.path.exists(path) and not os.path.isdir(path):
        raise FileExistsError(f"output path {path} exists and is not a folder")
    return os.path.isdir(path) and bool(os.listdir(path))


def _hidden_sibling(out_dir: str, tag: str) -> str:
    """A new hidden path next to `out_dir` that no other run uses (pid and a random suffix)."""
    name = f".{os.path.basename(out_dir)}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return os.path.join(os.path.dirname(out_dir), name)


def make_synthetic_scene(out_dir: str, config: SyntheticSceneConfig, force: bool = False) -> dict:
    """Write the scene of `config` to `out_dir`. It is built in a hidden sibling folder and
    renamed into place at the end; a non-empty `out_dir` is refused unless `force`, which
    replaces it. Returns the scene's meta dict (as in scene_meta.json)."""
    config.validate()
    out_dir = os.path.abspath(out_dir)
    if _is_nonempty_folder(out_dir) and not force:
        raise FileExistsError(f"output folder {out_dir} is not empty (use --force to replace it)")
    build_dir = _hidden_sibling(out_dir, "partial")
    os.makedirs(build_dir)
    try:
        meta = write_scene(build_dir, config)
        if _is_nonempty_folder(out_dir):
            if not force:
                raise FileExistsError(f"output folder {out_dir} was filled while the scene was being made")
            old_dir = _hidden_sibling(out_dir, "old")
            os.rename(out_dir, old_dir)
            os.rename(build_dir, out_dir)
            shutil.rmtree(old_dir)
        else:
            if os.path.isdir(out_dir):
                os.rmdir(out_dir)
            os.rename(build_dir, out_dir)
    except BaseException:
        shutil.rmtree(build_dir, ignore_errors=True)
        raise
    return meta
