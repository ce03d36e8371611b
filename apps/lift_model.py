"""`lift.py`: segment a trained 3DGS model without training, by lifting a scene's 2D id masks onto
its Gaussians (`method.lifting`), and write a GradiSeg model folder that render.py, edit.py,
view.py and the evaluation read unchanged.

Input: a model folder (ours, the original 3DGS's or Gaussian Grouping's: its `cfg_args` names the
scene, its latest `point_cloud/iteration_N/point_cloud.ply` the Gaussians; no classifier needed)
or a bare PLY (`--ply` with `-s SCENE`), in the 3DGS layout with any SH degree (gsplat and
nerfstudio exports included). Masks: `<scene>/object_mask/<image>.png` or `--masks DIR`.
The views used are the training views of the model's split (its `cfg_args` `eval`).

Output (`-o OUT`): `cfg_args`, `cameras.json`, `point_cloud/iteration_N/{point_cloud.ply,
classifier.pth, manifest.json}` (N: the source's iteration, 0 for a bare PLY) and `lift.json`,
the marker that says lift.py wrote the folder, with the settings, counts and timings. A
non-empty OUT without the marker is refused; with it, a rerun replaces exactly what the marker
lists and leaves anything else (renders) alone.
"""
from __future__ import annotations

import argparse
import os
import shutil
import time
import uuid
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from arguments import ConfigError, ModelParams, PipelineParams, read_cfg_args, write_cfg_args
from gaussian_renderer.device import resolve_device
from method.lifting import (
    DEFAULT_CHUNK,
    LiftResult,
    LiftRules,
    accumulate_evidence,
    assign_labels,
    identity_dimension,
    lifted_classifier,
    lifted_encodings,
    mask_label_ids,
)
from scene import read_scene_info, write_cameras_json
from scene.camera_loading import cameraList_from_camInfos
from scene.cameras import camera_centre
from scene.gaussian_model import GaussianModel
from scene.model_folder import (
    CLASSIFIER_NAME,
    ITERATION_FOLDER,
    PLY_NAME,
    point_cloud_dir,
    write_iteration_folder,
)
from utils.atomic_io import read_json, write_json_atomic
from utils.errors import DataError
from utils.ply_io import read_gaussian_ply_layout

MARKER = "lift.json"
MARKER_FORMAT = 1
MIN_COVERAGE = 0.02          # mean rendered opacity over the views below which cameras and model disagree
CAMERA_TOLERANCE = 1e-3      # relative to the cameras' extent, for cameras.json positions
MAX_MASK_ID = 65535
DEFAULT_MASKS = "object_mask"    # inside the scene folder, whatever the model was trained with


@dataclass
class LiftRequest:
    """lift.py's arguments besides the device and the rasterizer."""
    model_path: str = ""
    ply: str = ""
    source_path: str = ""
    output: str = ""
    masks: str = ""
    iteration: int = -1
    eval: bool = False           # bare PLY only: hold out test views as train.py --eval does
    min_evidence: float = 1.0
    fill_neighbors: int = 8
    fill_radius: float = 0.0
    ignore_ids: list[int] = field(default_factory=list)
    soft: bool = False
    chunk: int = DEFAULT_CHUNK
    num_objects: int = 16
    quiet: bool = False

    def rules(self) -> LiftRules:
        return LiftRules(self.min_evidence, self.fill_neighbors, self.fill_radius, tuple(self.ignore_ids), self.soft)


@dataclass
class LiftSource:
    """Where the Gaussians come from and the scene parameters they were trained with."""
    ply_path: str
    iteration: int
    params: ModelParams
    cfg: dict[str, Any]
    cameras_json: str | None     # the model folder's cameras.json, when it has one


# ----------------------------------------------------------------------------- input

def latest_point_cloud(model_path: str, iteration: int = -1) -> tuple[str, int]:
    """`point_cloud/iteration_N/point_cloud.ply` of a model folder (N = `iteration`, or the
    largest that has a PLY; a plain 3DGS folder has no classifier, so completeness is not asked)."""
    parent = os.path.join(model_path, "point_cloud")
    if iteration >= 0:
        path = os.path.join(point_cloud_dir(model_path, iteration), PLY_NAME)
        if not os.path.isfile(path):
            raise DataError(f"{path}: no such point cloud (--iteration {iteration})")
        return path, iteration
    found = sorted(int(m.group(1)) for name in (os.listdir(parent) if os.path.isdir(parent) else [])
                   if (m := ITERATION_FOLDER.fullmatch(name))
                   and os.path.isfile(os.path.join(parent, name, PLY_NAME)))
    if not found:
        raise DataError(f"{parent}: no iteration_N/{PLY_NAME} in this model folder")
    return os.path.join(point_cloud_dir(model_path, found[-1]), PLY_NAME), found[-1]


def resolve_source(request: LiftRequest) -> LiftSource:
    """The PLY, iteration and scene parameters of `-m MODEL` or `--ply FILE -s SCENE`."""
    if bool(request.model_path) == bool(request.ply):
        raise ConfigError("give the model as -m MODEL_FOLDER or as --ply FILE -s SCENE (one of them)")
    known = {name for name in ModelParams.__dataclass_fields__}
    if request.model_path:
        cfg = read_cfg_args(request.model_path)
        ply_path, iteration = latest_point_cloud(request.model_path, request.iteration)
        values = {k: v for k, v in cfg.items() if k in known}
        cameras_json = os.path.join(request.model_path, "cameras.json")
        cameras_json = cameras_json if os.path.isfile(cameras_json) else None
    else:
        if not request.source_path:
            raise ConfigError("--ply needs -s SCENE (the scene folder whose cameras and masks to use)")
        if not os.path.isfile(request.ply):
            raise DataError(f"{request.ply}: no such PLY file")
        cfg, values, ply_path, iteration, cameras_json = {}, {"eval": request.eval}, request.ply, 0, None
    if request.source_path:
        values["source_path"] = request.source_path
    params = ModelParams(**values)
    if not params.source_path:
        raise ConfigError(f"{os.path.join(request.model_path, 'cfg_args')} names no source_path; give -s SCENE")
    return LiftSource(ply_path, iteration, params, cfg, cameras_json)


def load_gaussians(ply_path: str, device: torch.device) -> GaussianModel:
    """The Gaussians of a 3DGS / gsplat / Gaussian Grouping / GradiSeg PLY, whatever its SH degree
    and identity channels (read from the header)."""
    layout = read_gaussian_ply_layout(ply_path)
    gaussians = GaussianModel(layout.sh_degree, layout.num_objects, device)
    with warnings.catch_warnings():   # a plain 3DGS PLY has no identity: expected here
        warnings.simplefilter("ignore")
        gaussians.load_ply(ply_path)
    return gaussians


def check_mask_sizes(cam_infos: list) -> int:
    """Every mask has its image's size (read from the file headers); returns how many views
    have a mask. A mask of another size is an error here, not resized: lifting trusts pixels."""
    count = 0
    for info in cam_infos:
        if info.mask_path is None or not os.path.isfile(info.mask_path):
            continue
        count += 1
        try:
            with Image.open(info.mask_path) as mask, Image.open(info.image_path) as image:
                mask_size, image_size = mask.size, image.size
        except OSError as err:
            raise DataError(f"{info.mask_path}: cannot read the mask or its image ({err})") from None
        if mask_size != image_size:
            raise DataError(f"{info.mask_path}: mask is {mask_size[0]}x{mask_size[1]} but its image "
                            f"{info.image_path} is {image_size[0]}x{image_size[1]}")
    return count


def check_cameras_json(cameras_json: str, cam_infos: list, extent: float) -> None:
    """The views the model was trained on (its cameras.json) are the scene's: same names at the
    same places."""
    try:
        recorded = {entry["img_name"]: np.asarray(entry["position"], dtype=np.float64)
                    for entry in read_json(cameras_json, "cameras file")}
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"{cameras_json}: not a 3DGS cameras.json ({err})") from None
    shared = [info for info in cam_infos if info.image_name in recorded]
    if not shared:
        raise DataError(f"{cameras_json}: names none of the scene's views (e.g. "
                        f"{cam_infos[0].image_name if cam_infos else 'none'}); the scene is not the model's")
    tolerance = CAMERA_TOLERANCE * max(extent, 1e-6)
    for info in shared:
        distance = float(np.linalg.norm(camera_centre(info.R, info.T) - recorded[info.image_name]))
        if distance > tolerance:
            raise DataError(f"{cameras_json}: view {info.image_name} is {distance:.4g} away from the "
                            f"scene's camera of that name; the cameras do not match the model")


# ----------------------------------------------------------------------------- output

def check_output(output: str, inputs: list[str]) -> dict[str, Any] | None:
    """Refuse an output that overlaps an input or holds files lift.py did not write; returns
    the earlier lift's marker (None for a new or empty folder)."""
    if not output:
        raise ConfigError("-o OUT is required (a new folder for the lifted model)")
    out = os.path.realpath(output)
    for path in inputs:
        real = os.path.realpath(path)
        if os.path.commonpath([out, real]) in (out, real):
            raise ConfigError(f"output folder {output} overlaps the input {path}; write to a new folder")
    if os.path.exists(output) and not os.path.isdir(output):
        raise ConfigError(f"output path {output} exists and is not a folder")
    if not (os.path.isdir(output) and os.listdir(output)):
        return None
    marker = os.path.join(output, MARKER)
    if not os.path.isfile(marker):
        raise ConfigError(f"output folder {output} is not empty and was not written by lift.py "
                          f"(no {MARKER}); choose a new folder")
    record = read_json(marker, "lift marker")
    if not isinstance(record, dict) or not isinstance(record.get("written"), list):
        raise DataError(f"{marker}: not a lift.py marker")
    return record


def write_lift_folder(output: str, previous: dict[str, Any] | None, cfg: dict[str, Any], scene_info,
                      iteration: int, gaussians: GaussianModel, classifier_state: dict,
                      record: dict[str, Any]) -> list[str]:
    """Build the model folder beside `output`, then move its entries in (the marker last),
    replacing what the `previous` lift wrote. Returns the entries written."""
    output = os.path.abspath(output)
    parent = os.path.dirname(output)
    os.makedirs(parent, exist_ok=True)
    build = os.path.join(parent, f".{os.path.basename(output)}.partial-{uuid.uuid4().hex[:8]}")
    iteration_entry = os.path.relpath(point_cloud_dir("", iteration))
    written = ["cfg_args", "cameras.json", iteration_entry, MARKER]
    try:
        os.makedirs(build)
        write_cfg_args(argparse.Namespace(**cfg), build)
        write_cameras_json(build, scene_info)
        write_iteration_folder(build, iteration, gaussians.num_points, {
            PLY_NAME: gaussians.save_ply,
            CLASSIFIER_NAME: lambda path: torch.save(classifier_state, path)})
        write_json_atomic(os.path.join(build, MARKER), {**record, "written": written})
        os.makedirs(os.path.join(output, "point_cloud"), exist_ok=True)
        for entry in (previous or {}).get("written", []):
            if entry not in written and _is_lift_entry(entry):
                _remove(os.path.join(output, entry))
        for entry in written:   # the marker is last: a folder with it is complete
            target = os.path.join(output, entry)
            _remove(target)
            os.rename(os.path.join(build, entry), target)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return written


def _is_lift_entry(entry: str) -> bool:
    """Only names lift.py writes are removed on a marker's word (a marker is a file anyone can edit)."""
    head, name = os.path.split(entry)
    if entry in ("cfg_args", "cameras.json", MARKER):
        return True
    return head == "point_cloud" and bool(ITERATION_FOLDER.fullmatch(name))


def _remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


# ----------------------------------------------------------------------------- the command

def lift_model(request: LiftRequest, pipe: PipelineParams) -> dict[str, Any]:
    """Lift the masks onto the model and write the lifted model folder; returns the marker's record."""
    start = time.perf_counter()
    seconds: dict[str, float] = {}
    source = resolve_source(request)
    model_input = request.model_path or request.ply
    previous = check_output(request.output, [model_input, source.params.source_path])
    device = resolve_device(pipe.device)
    params = source.params
    params.object_path = os.path.abspath(request.masks) if request.masks else DEFAULT_MASKS
    params.num_classes = MAX_MASK_ID + 1        # read every id; the classifier's size comes after
    params.allow_missing_masks = True           # views without a mask give no evidence

    scene_info = read_scene_info(params)
    mask_folder = os.path.join(params.source_path, params.object_path)
    if not check_mask_sizes(scene_info.train_cameras):
        raise DataError(f"{mask_folder}: no mask for any of the {len(scene_info.train_cameras)} training views "
                        f"(expected <image name>.png, e.g. {scene_info.train_cameras[0].image_name}.png)"
                        if scene_info.train_cameras else f"{params.source_path}: the scene has no training views")
    if source.cameras_json:
        check_cameras_json(source.cameras_json, scene_info.train_cameras + scene_info.test_cameras,
                           scene_info.nerf_normalization["radius"])
    cameras = [camera for camera in cameraList_from_camInfos(scene_info.train_cameras, 1.0, params, device)
               if camera.objects is not None]
    gaussians = load_gaussians(source.ply_path, device)
    seconds["load"] = time.perf_counter() - start

    step = time.perf_counter()
    masks = [camera.objects for camera in cameras]
    label_ids = mask_label_ids(masks, request.ignore_ids)
    if not label_ids:
        raise DataError(f"{mask_folder}: the masks hold no id to lift (all ignored: {request.ignore_ids})")
    background = torch.tensor([1.0, 1.0, 1.0] if params.white_background else [0.0, 0.0, 0.0], device=device)
    evidence = accumulate_evidence(gaussians, list(zip(cameras, masks)), label_ids, pipe, background,
                                   request.chunk)
    coverage = float(np.mean(evidence.coverage))
    if coverage < MIN_COVERAGE:
        raise DataError(f"{source.ply_path}: its Gaussians cover {coverage:.1%} of the views of "
                        f"{params.source_path} on average; the scene's cameras do not match the model")
    seconds["evidence"] = time.perf_counter() - step

    step = time.perf_counter()
    result = assign_labels(evidence, gaussians.get_xyz, request.rules())
    num_objects = identity_dimension(len(label_ids), request.num_objects)
    gaussians.set_identity_encodings(lifted_encodings(result, num_objects, request.soft))
    num_classes = max(int(source.cfg.get("num_classes", 256)), max(label_ids) + 1)
    classifier = lifted_classifier(label_ids, num_objects, num_classes)
    seconds["labels"] = time.perf_counter() - step

    cfg = {**source.cfg, **asdict(params), "model_path": os.path.abspath(request.output),
           "sh_degree": gaussians.max_sh_degree, "num_objects": num_objects, "num_classes": num_classes}
    record = lift_record(request, source, result, evidence.coverage, len(cameras), gaussians.num_points)
    record["seconds_before_writing"] = {**seconds, "total": time.perf_counter() - start}
    write_lift_folder(request.output, previous, cfg, scene_info, source.iteration, gaussians,
                      classifier.state_dict(), record)
    return record


def lift_record(request: LiftRequest, source: LiftSource, result: LiftResult, coverage: list[float],
                num_views: int, num_gaussians: int) -> dict[str, Any]:
    """The marker's content: what was lifted from where, with which rules, and what came out."""
    counts = result.counts()
    per_label = torch.bincount(result.labels[result.labels >= 0], minlength=len(result.label_ids)).tolist()
    return {"format": MARKER_FORMAT, "written_by": "lift.py", "source_ply": os.path.abspath(source.ply_path),
            "source_iteration": source.iteration, "scene": os.path.abspath(source.params.source_path),
            "masks": os.path.abspath(os.path.join(source.params.source_path, source.params.object_path)),
            "views": num_views, "num_gaussians": num_gaussians, "label_ids": result.label_ids,
            "gaussians_per_label": dict(zip(map(str, result.label_ids), per_label)), **counts,
            "fill_radius": result.fill_radius, "mean_view_coverage": float(np.mean(coverage)),
            "rules": asdict(request.rules()), "chunk": request.chunk}
