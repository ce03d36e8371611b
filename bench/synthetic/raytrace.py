"""Ray casting of a synthetic scene with vectorised numpy: nearest analytic hit per ray, solid
procedural textures, Lambertian shading with hard shadows, anti-aliased views and the sparse
surface point cloud sampled from them."""

import math
from dataclasses import dataclass

import numpy as np

from bench.synthetic.objects import (
    BACKGROUND_ID,
    GROUND_TEXTURE,
    PinholeCamera,
    SceneGeometry,
    SceneObject,
    Texture,
    camera_rays,
    circumradius,
    objects_bounding_sphere,
    rotation_matrix,
    subpixel_offsets,
)

SKY_LABEL = -1                 # trace label of rays that hit nothing; its id is BACKGROUND_ID
AMBIENT = 0.35
SKY_HORIZON = np.array([0.88, 0.90, 0.93])
SKY_ZENITH = np.array([0.55, 0.70, 0.90])
HIT_EPSILON = 1e-6             # smallest accepted ray distance
SHADOW_OFFSET = 1e-4           # shadow rays start this far off the surface, along its normal
PARALLEL_EPSILON = 1e-12       # direction components below this count as parallel to a plane


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


def _to_local(obj: SceneObject, points: np.ndarray) -> np.ndarray:
    """World points (N, 3) -> the object's local frame (row vectors: R^T (p - c))."""
    return (points - obj.center) @ rotation_matrix(obj)


def _object_distances(obj: SceneObject, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
    local_origins = _to_local(obj, origins)
    local_directions = directions @ rotation_matrix(obj)
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
        candidates = _sphere_candidates(obj.center, circumradius(obj), origins, directions, group_nearest)
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
        normals[selected] = _surface_normals(obj, local_points) @ rotation_matrix(obj).T
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


def view_depth(render: ViewRender, camera: PinholeCamera) -> np.ndarray:
    """(H, W) view-space depth of the centre rays' hits, NaN where no surface is hit."""
    z = (render.points @ camera.world_to_camera[:3, :3].T + camera.world_to_camera[:3, 3])[..., 2]
    return np.where(render.hit, z, np.nan)


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
