"""Per-view 2D instance masks: a folder of id PNGs, or SAM / SAM 2 run on the scene's images.

Ids only need to be consistent within one mask (0: unlabelled); `prep.association` makes them
consistent across views. SAM and SAM 2 are optional: they are used only when their package and
a checkpoint on disk are given (`--sam CONFIG`); nothing is downloaded.
"""
from __future__ import annotations

import importlib
import json
import os
from typing import Callable, Optional

import numpy as np

from prep.geometry import View
from utils.errors import DataError
from utils.image_io import read_instance_ids, read_rgb

SAM_MODELS = ("sam", "sam2")


def read_mask_folder(mask_dir: str, views: list[View]) -> tuple[list[Optional[np.ndarray]], list[str]]:
    """`mask_dir/<view>.png` for every view (None where missing) and the names of the missing ones.
    A mask of another size than its image is an error naming the file."""
    if not os.path.isdir(mask_dir):
        raise DataError(f"{mask_dir}: mask folder does not exist")
    masks, missing = [], []
    for view in views:
        path = os.path.join(mask_dir, view.name + ".png")
        if not os.path.isfile(path):
            masks.append(None)
            missing.append(view.name)
            continue
        ids = read_instance_ids(path)
        if ids.shape != (view.height, view.width):
            raise DataError(f"{path}: mask is {ids.shape[1]}x{ids.shape[0]}, its image {view.image_file} "
                            f"is {view.width}x{view.height}; masks must be made on SCENE/images "
                            "(the undistorted images convert.py writes), not on SCENE/input")
        masks.append(ids)
    if len(missing) == len(views):
        raise DataError(f"{mask_dir}: no mask for any of the {len(views)} views (expected <image name>.png)")
    return masks, missing


def instance_map(masks: list[np.ndarray], min_area: int) -> np.ndarray:
    """Overlapping boolean masks (H, W) painted into one id map (uint16), larger first so that
    smaller (nested) masks stay visible; masks under `min_area` pixels are dropped."""
    kept = sorted((m for m in masks if m.sum() >= min_area), key=lambda m: -int(m.sum()))
    out = np.zeros(masks[0].shape if masks else (0, 0), dtype=np.uint16)
    for label, mask in enumerate(kept, start=1):
        out[mask] = label
    return out


def load_sam_config(path: str) -> dict:
    """`{"model": "sam"|"sam2", "checkpoint": file, "model_type": "vit_h" (SAM) or "config":
    "sam2_hiera_l.yaml" (SAM 2), optional "device", "min_area", "generator": {...}}`."""
    try:
        with open(path) as fh:
            config = json.load(fh)
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: cannot read the SAM config ({err})") from err
    if not isinstance(config, dict):
        raise DataError(f"{path}: the SAM config must be a JSON object ({{\"model\": ..., \"checkpoint\": ...}}), "
                        f"not a {type(config).__name__}")
    if config.get("model") not in SAM_MODELS:
        raise DataError(f"{path}: 'model' must be one of {SAM_MODELS}")
    checkpoint = config.get("checkpoint", "")
    if not os.path.isfile(checkpoint):
        raise DataError(f"{path}: checkpoint '{checkpoint}' not found on disk (nothing is downloaded; "
                        "get it from the SAM / SAM 2 release page)")
    return config


def _import(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"--sam needs the '{package}' package, which cannot be imported ({err}). Install it "
                          "into .venv (requirements-sam.txt), or run your segmenter yourself and pass "
                          "--masks DIR") from err


def sam_generator(config: dict) -> Callable[[np.ndarray], list[np.ndarray]]:
    """A function image (H, W, 3) uint8 -> list of boolean masks, from SAM or SAM 2."""
    options = config.get("generator", {})
    device = config.get("device", "cpu")
    if config["model"] == "sam":
        sam = _import("segment_anything", "segment_anything")
        model = sam.sam_model_registry[config.get("model_type", "vit_h")](checkpoint=config["checkpoint"])
        generator = sam.SamAutomaticMaskGenerator(model.to(device), **options)
    else:
        build = _import("sam2.build_sam", "sam2")
        automatic = _import("sam2.automatic_mask_generator", "sam2")
        model = build.build_sam2(config.get("config", "sam2_hiera_l.yaml"), config["checkpoint"], device=device)
        generator = automatic.SAM2AutomaticMaskGenerator(model, **options)
    return lambda image: [np.asarray(m["segmentation"], dtype=bool) for m in generator.generate(image)]


def sam_masks(scene_dir: str, images: str, views: list[View], config_path: str,
              log: Callable[[str], None] = print) -> list[np.ndarray]:
    """One instance map per view from SAM / SAM 2 on `scene_dir/<images>/` (see `load_sam_config`)."""
    config = load_sam_config(config_path)
    generate = sam_generator(config)
    masks = []
    for k, view in enumerate(views):
        image = read_rgb(os.path.join(scene_dir, images, view.image_file), white_background=False)
        masks.append(instance_map(generate((image * 255).round().astype(np.uint8)), int(config.get("min_area", 100))))
        log(f"SAM {k + 1}/{len(views)}: {view.name}, {int(masks[-1].max())} masks")
    return masks
