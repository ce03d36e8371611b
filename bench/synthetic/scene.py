"""Synthetic scenes: the project's embedded default data (docs/design.md section 6).

A scene is a ground disc (id 0, together with the sky) and K analytic objects (ids 1..K: spheres,
boxes turned about the vertical, upright cylinders) that touch and occlude each other. Each object
has a solid procedural texture (checker, stripes or smooth noise) and Lambertian shading under one
fixed directional light with hard shadows, so the images are view-consistent and photometric
reconstruction is meaningful. Cameras orbit the objects; every view is ray cast with vectorised
numpy (nearest analytic hit per ray).

`make_synthetic_scene` writes the layout of docs/design.md section 2:

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
import os
import shutil
import uuid
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from bench.synthetic.degrade import MaskDegradation, degrade_masks
from bench.synthetic.objects import (
    CONTACT_GROUP_OBJECTS,
    GROUND_TEXTURES,
    LAYOUTS,
    MAX_OBJECTS,
    PinholeCamera,
    SceneGeometry,
    SceneObject,
    build_scene,
    orbit_cameras,
    remove_object,
)
from bench.synthetic.raytrace import ViewRender, render_view, sample_surface_points, to_uint8, view_depth
from bench.synthetic.writers import (
    COLMAP_FORMATS,
    OUTPUT_FORMATS,
    write_colmap_model,
    write_points_ply,
    write_transforms,
)
from utils.atomic_io import read_json, write_json_atomic
from utils.image_io import write_png

TEST_VIEW_INTERVAL = 8         # views with index % 8 == 0 are held out (3DGS's llffhold)
IMAGE_NAME = "frame_{:05d}"     # view stem: images/<stem>.png, object_mask/<stem>.png, test_mask/<stem>/
IMAGE_EXT = ".png"
# A test view gets a prompt's mask only if the object covers this fraction of the image
# (LERF-Mask annotates visible objects; a few-pixel sliver would make a meaningless score).
MIN_TEST_MASK_FRACTION = 1e-3


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
    layout: str = "scatter"                 # "scatter" | "contact" (stacked, nested, leaning: objects.LAYOUTS)

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
            (self.layout in LAYOUTS, f"layout must be one of {LAYOUTS}"),
            (self.layout != "contact" or self.num_objects >= CONTACT_GROUP_OBJECTS,
             f"the contact layout needs num_objects >= {CONTACT_GROUP_OBJECTS}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"synthetic scene configuration: {message}")


def held_out_view_indices(num_views: int) -> list[int]:
    return [v for v in range(num_views) if v % TEST_VIEW_INTERVAL == 0]


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
                     "tilt": obj.tilt,
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


def scene_geometry(config: SyntheticSceneConfig) -> tuple[SceneGeometry, list[PinholeCamera]]:
    """The objects and cameras of `config`. Cameras come from the full scene, so that a scene
    without an object has the same views."""
    full_scene = build_scene(config.seed, config.num_objects, config.ground_texture, config.layout)
    cameras = orbit_cameras(full_scene, config.num_views, config.width, config.height, config.fov_x_deg,
                            config.elevation_deg, config.elevation_wave_deg)
    scene = full_scene if config.without_object is None else remove_object(full_scene, config.without_object)
    return scene, cameras



def exact_depths(config: SyntheticSceneConfig) -> dict[str, np.ndarray]:
    """View stem -> (H, W) ray-cast view-space depth of `config`'s scene, NaN where no surface is
    hit: the truth a trained depth model approximates."""
    geometry, cameras = scene_geometry(config)
    return {IMAGE_NAME.format(k): view_depth(render_view(geometry, camera, 1), camera)
            for k, camera in enumerate(cameras)}

def read_scene_config(scene_dir: str) -> tuple[SyntheticSceneConfig, dict]:
    """The configuration a synthetic scene folder was made with, and its whole meta record."""
    meta_path = os.path.join(scene_dir, "scene_meta.json")
    if not os.path.isfile(meta_path):
        raise FileNotFoundError(f"{meta_path} not found: not a scene written by make_synthetic_scene")
    meta = read_json(meta_path, "synthetic scene record")
    values = dict(meta["config"])
    values["degradation"] = MaskDegradation(**values["degradation"])
    return SyntheticSceneConfig(**values), meta


def write_scene(folder: str, config: SyntheticSceneConfig) -> dict:
    """Generate the scene of `config` into the existing empty `folder`; returns its meta dict."""
    config.validate()
    scene, cameras = scene_geometry(config)
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
    write_json_atomic(os.path.join(folder, "prompts.json"), {obj.prompt: [obj.object_id] for obj in scene.objects}, indent=1)
    meta = scene_meta(config, scene, cameras, names, degradation_record, len(points.xyz))
    write_json_atomic(os.path.join(folder, "scene_meta.json"), meta, indent=1)
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
