"""Inpainting after a removal, end to end (Gaussian Grouping's removal + inpainting step):
hole masks from the model (`holes`), a 2D inpainting of each training view's render
(`inpainters`), new Gaussians seeded in the hole (`seeding`), a short fine-tuning on those
pseudo-labels (`finetune`). The options come from an edit's `"inpaint"` value (docs/editing.md).
"""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from apps.inpainting.finetune import FinetuneOptions, FinetuneTarget, finetune, movable_gaussians, near_region
from apps.inpainting.holes import HoleOptions, hole_masks, read_masks, seen_gaussians, split_model, write_masks
from apps.inpainting.inpainters import INPAINTERS, make_inpainter
from apps.inpainting.seeding import SeedOptions, seed_gaussians
from arguments import ConfigError, ModelParams, PipelineParams, saved_params
from gaussian_renderer import render
from scene import Scene
from scene.gaussian_model import GaussianModel
from utils.atomic_io import write_json_atomic
from utils.image_io import write_png
from utils.visualization import to_uint8_rgb

MASKS_FOLDER = "masks"
VIEWS_FOLDER = "views"
RECORD_NAME = "inpaint.json"


@dataclass(frozen=True)
class InpaintOptions:
    inpainter: str = "telea"          # "telea" | "ns" | "lama"
    lama_checkpoint: str = ""         # a LaMa TorchScript file on disk ("lama" needs it)
    masks: str = ""                   # a folder of hole masks to use instead of computing them
    holes: HoleOptions = field(default_factory=HoleOptions)
    seeds: SeedOptions = field(default_factory=SeedOptions)
    finetune: FinetuneOptions = field(default_factory=FinetuneOptions)


# "inpaint" keys -> (options part, field, type)
OPTION_KEYS: dict[str, tuple[str, str, type]] = {
    "inpainter": ("", "inpainter", str), "lama_checkpoint": ("", "lama_checkpoint", str),
    "masks": ("", "masks", str), "iterations": ("finetune", "iterations", int),
    "seed_views": ("seeds", "views", int), "coverage": ("holes", "coverage", float),
    "dilate": ("holes", "dilate", int),
}
PATH_OPTIONS = ("lama_checkpoint", "masks")


def parse_inpaint_options(value: Any, where: str, base_dir: str = "") -> InpaintOptions:
    """Options from an edit's `"inpaint"`: true (the defaults) or an object of OPTION_KEYS;
    relative paths are taken from `base_dir`. ConfigError names `where` and the problem."""
    if value is True:
        return InpaintOptions()
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: 'inpaint' must be true or an object of options "
                          f"{sorted(OPTION_KEYS)}, got {value!r}")
    unknown = set(value) - set(OPTION_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown 'inpaint' key(s) {sorted(unknown)} (allowed: {sorted(OPTION_KEYS)})")
    parts: dict[str, dict[str, Any]] = {"": {}, "holes": {}, "seeds": {}, "finetune": {}}
    for key, item in value.items():
        part, name, kind = OPTION_KEYS[key]
        numeric = kind in (int, float) and isinstance(item, (int, float)) and not isinstance(item, bool)
        if not (numeric and (kind is float or isinstance(item, int)) or kind is str and isinstance(item, str)):
            raise ConfigError(f"{where}: 'inpaint' option '{key}' must be {kind.__name__}, got {item!r}")
        if kind in (int, float) and item < 0 or key in ("iterations", "seed_views") and item < 1:
            raise ConfigError(f"{where}: 'inpaint' option '{key}' is out of range: {item!r}")
        if key in PATH_OPTIONS and base_dir and item:
            item = os.path.join(base_dir, item)
        parts[part][name] = item
    if parts[""].get("inpainter", "telea") not in INPAINTERS:
        raise ConfigError(f"{where}: 'inpainter' must be one of {list(INPAINTERS)}")
    if parts[""].get("inpainter") == "lama" and not parts[""].get("lama_checkpoint"):
        raise ConfigError(f"{where}: the 'lama' inpainter needs 'lama_checkpoint' (a file on disk)")
    return InpaintOptions(**parts[""], holes=HoleOptions(**parts["holes"]), seeds=SeedOptions(**parts["seeds"]),
                          finetune=FinetuneOptions(**parts["finetune"]))


@dataclass
class TrainingViews:
    """The training cameras of a model's dataset, its scene extent and background colour."""
    cameras: list
    extent: float
    background: torch.Tensor


def training_views(model_path: str, iteration: int, device: torch.device | str) -> TrainingViews:
    """The training views of the model folder `model_path` (its cfg_args' dataset and split)."""
    dataset = saved_params(ModelParams, model_path)
    scene = Scene(dataset, GaussianModel(dataset.sh_degree, dataset.num_objects, device),
                  load_iteration=iteration)
    background = torch.tensor([1.0, 1.0, 1.0] if dataset.white_background else [0.0, 0.0, 0.0],
                              device=device)
    return TrainingViews(list(scene.getTrainCameras()), scene.cameras_extent, background)


@dataclass
class InpaintResult:
    """What an inpainting made: per training view its name, hole mask (H, W) bool and 2D
    inpainting (H, W, 3) float in [0, 1], and a JSON-ready record."""
    names: list[str]
    masks: list[np.ndarray]
    views: list[np.ndarray]
    record: dict[str, Any]


@torch.no_grad()
def rendered_views(cameras: Sequence, gaussians: GaussianModel, pipe, background: torch.Tensor
                   ) -> list[np.ndarray]:
    """(H, W, 3) float32 renders in [0, 1] of `cameras`."""
    return [render(camera, gaussians, pipe, background)["render"].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
            for camera in cameras]


def inpaint_removal(gaussians: GaussianModel, removed: torch.Tensor, views: TrainingViews,
                    options: InpaintOptions = InpaintOptions(), pipe: PipelineParams | None = None
                    ) -> InpaintResult:
    """Remove the rows `removed` (N,) bool of `gaussians` and fill the hole they leave: hole
    masks (computed, or read from `options.masks`), 2D inpainting of the remaining scene's
    render on every training view, seeds in the hole, fine-tuning. `gaussians` is changed in
    place; the returned result holds the masks, the inpainted views and the record."""
    start = time.perf_counter()
    pipe = pipe or PipelineParams(device=str(gaussians.device))
    cameras = views.cameras
    inpainter = make_inpainter(options.inpainter, options.lama_checkpoint, gaussians.device)
    removed = removed.to(gaussians.device)
    seen = seen_gaussians(cameras, gaussians, pipe, views.background, options.holes.seen_weight)
    masks = (read_masks(options.masks, cameras) if options.masks
             else hole_masks(cameras, gaussians, removed, seen, pipe, options.holes))
    if not any(mask.any() for mask in masks):
        raise ValueError(f"removing {int(removed.sum())} Gaussians leaves no hole in any training view; "
                         f"nothing to inpaint")
    kept, alone = split_model(gaussians, removed)
    filled = [inpainter(image, mask) for image, mask in zip(rendered_views(cameras, kept, pipe, views.background),
                                                             masks)]
    masks_done = time.perf_counter()
    gaussians.prune_points(removed)
    rows = seed_gaussians(cameras, masks, filled, gaussians, alone, seen[~removed], pipe, options.seeds)
    num_kept = gaussians.num_points
    gaussians.densification_postfix(rows)
    movable = movable_gaussians(cameras, gaussians, masks, pipe, views.background, options.finetune.near)
    movable &= near_region(gaussians.get_xyz.detach(), alone.get_xyz.detach(), options.finetune.near_box)
    movable[num_kept:] = True
    targets = [FinetuneTarget(torch.from_numpy(image).permute(2, 0, 1).to(gaussians.device),
                              torch.from_numpy(mask).to(gaussians.device)) for image, mask in zip(filled, masks)]
    losses = finetune(gaussians, cameras, targets, movable, pipe, views.background, views.extent, options.finetune)
    hole_pixels = [int(mask.sum()) for mask in masks]
    record = {"inpainter": inpainter.name, "masks": options.masks or "computed",
              "hole_pixels_mean": float(np.mean(hole_pixels)), "hole_fraction_mean":
              float(np.mean([mask.mean() for mask in masks])), "views": len(cameras),
              "seeded": int(rows["xyz"].shape[0]), "moving": int(movable.sum()),
              "kept_after_finetune": gaussians.num_points - num_kept, "iterations": options.finetune.iterations,
              "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None,
              "seconds_masks_and_2d": masks_done - start, "seconds": time.perf_counter() - start,
              "options": dataclasses.asdict(options)}
    return InpaintResult([camera.image_name for camera in cameras], masks, filled, record)


def write_inpaint_outputs(folder: str, result: InpaintResult) -> None:
    """`<folder>/masks/<view>.png`, `<folder>/views/<view>.png` and `<folder>/inpaint.json`.
    `folder` lies inside an edited model folder that is still being built (see
    `write_model_folder`'s `extra`), so the whole output appears at once or not at all."""
    write_masks(os.path.join(folder, MASKS_FOLDER), result.names, result.masks)
    for name, view in zip(result.names, result.views):
        write_png(os.path.join(folder, VIEWS_FOLDER, name + ".png"),
                  to_uint8_rgb(torch.from_numpy(view).permute(2, 0, 1)))
    write_json_atomic(os.path.join(folder, RECORD_NAME), result.record)
