"""Edited model folders: write an edited model atomically as a model folder of its own (loading
is `scene.model_folder.load_model`), and export object groups as PLY files."""
from __future__ import annotations

import argparse
import copy
import os
import shutil
import uuid
from typing import Any, Callable, Optional

import torch

from apps.editing.plan import EDIT_RECORD, GROUP_INDEX, GROUPS_FOLDER
from arguments import ConfigError, write_cfg_args
from scene.gaussian_model import GaussianModel
from scene.identity_classifier import IdentityClassifier
from scene.model_folder import CLASSIFIER_NAME, PLY_NAME, LoadedModel, point_cloud_dir, write_iteration_folder
from utils.atomic_io import write_json_atomic
from utils.owned_folder import has_marker, overlaps

COPIED_MODEL_FILES = ("cameras.json",)


# ----------------------------------------------------------------------------- edited model folders

def check_output_folder(out_path: str, source_path: str, force: bool) -> None:
    """Refuse an output folder that is, holds or lies inside the source model, and an existing
    non-empty one unless `force` and it is an earlier edit output (it has `edit.json`)."""
    if overlaps(out_path, source_path):
        raise ConfigError(f"output folder {out_path} overlaps the source model {source_path}; "
                          f"edits are written to a separate folder")
    if os.path.exists(out_path) and not os.path.isdir(out_path):
        raise ConfigError(f"output path {out_path} exists and is not a folder")
    if os.path.isdir(out_path) and os.listdir(out_path):
        if not force:
            raise ConfigError(f"output folder {out_path} is not empty (--force replaces an earlier "
                              f"edit output)")
        if not has_marker(out_path, EDIT_RECORD):
            raise ConfigError(f"--force replaces only an earlier edit output; {out_path} has no "
                              f"{EDIT_RECORD}")


def write_model_folder(model: LoadedModel, out_path: str, record: dict[str, Any],
                       groups_prompts: Optional[dict[str, list[int]]] = None, force: bool = False,
                       extra: Optional[dict[str, Callable[[str], None]]] = None) -> str:
    """Write the (edited) model as a model folder at `out_path`: `cfg_args` (the source's, with
    model_path changed), `point_cloud/iteration_N/point_cloud.ply`, the source's
    `classifier.pth` and `cameras.json` copied, `edit.json` (`record`), and with
    `groups_prompts` (prompts naming the ids, possibly none) the object groups in `groups/`, and
    for each `extra` entry `name: write` what `write(<folder>/name)` writes (e.g. an inpainting's
    outputs). The folder is built beside `out_path` and renamed into place. Returns its absolute path."""
    out_path = os.path.abspath(out_path)
    check_output_folder(out_path, model.path, force)
    parent = os.path.dirname(out_path)
    os.makedirs(parent, exist_ok=True)
    build = os.path.join(parent, f".{os.path.basename(out_path)}.partial-{uuid.uuid4().hex[:8]}")
    try:
        write_cfg_args(argparse.Namespace(**{**model.cfg, "model_path": out_path}), build)
        source_classifier = os.path.join(point_cloud_dir(model.path, model.iteration), CLASSIFIER_NAME)
        write_iteration_folder(build, model.iteration, model.gaussians.num_points, {
            PLY_NAME: model.gaussians.save_ply,
            CLASSIFIER_NAME: lambda path: shutil.copyfile(source_classifier, path)})
        for name in COPIED_MODEL_FILES:
            if os.path.isfile(os.path.join(model.path, name)):
                shutil.copyfile(os.path.join(model.path, name), os.path.join(build, name))
        if groups_prompts is not None:
            export_groups(model, os.path.join(build, GROUPS_FOLDER), groups_prompts)
        for name, write in (extra or {}).items():
            write(os.path.join(build, name))
        write_json_atomic(os.path.join(build, EDIT_RECORD), record)
        replaced = _move_aside(out_path)
        os.rename(build, out_path)
        if replaced:
            shutil.rmtree(replaced)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return out_path


def _move_aside(path: str) -> Optional[str]:
    """Rename an existing folder `path` to a hidden sibling (returned); None if there is none."""
    if not os.path.isdir(path):
        return None
    aside = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.old-{uuid.uuid4().hex[:8]}")
    os.rename(path, aside)
    return aside




# ----------------------------------------------------------------------------- export

@torch.no_grad()
def predicted_ids(gaussians: GaussianModel, classifier: IdentityClassifier) -> torch.Tensor:
    """(N,) most probable object id of each Gaussian."""
    return classifier.gaussian_probabilities(gaussians.get_objects).argmax(dim=1)


def group_file_name(object_id: int) -> str:
    return f"group_{object_id:03d}.ply"


def export_groups(model: LoadedModel, out_dir: str, prompts: dict[str, list[int]]) -> list[dict[str, Any]]:
    """Write each object group (the Gaussians whose most probable id it is; these groups
    partition the model) as `<out_dir>/group_<id>.ply` in the model's PLY layout, and
    `<out_dir>/index.json` listing per group: id, prompts naming it, Gaussian count,
    axis-aligned bounding box of the centres, file. Returns the index."""
    labels = predicted_ids(model.gaussians, model.classifier)
    index = []
    for object_id in sorted(set(labels.tolist())):
        mask = labels == object_id
        group = copy.deepcopy(model.gaussians)
        group.prune_points(~mask)
        group.save_ply(os.path.join(out_dir, group_file_name(object_id)))
        xyz = model.gaussians.get_xyz.detach()[mask]
        index.append({"id": object_id,
                      "prompts": sorted(p for p, p_ids in prompts.items() if object_id in p_ids),
                      "count": int(mask.sum()),
                      "bbox_min": xyz.min(dim=0).values.tolist(),
                      "bbox_max": xyz.max(dim=0).values.tolist(),
                      "file": group_file_name(object_id)})
    write_json_atomic(os.path.join(out_dir, GROUP_INDEX), index)
    return index
