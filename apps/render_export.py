"""What `render.py` writes for a split of a trained model (docs/design.md section 2):

    <model>/<split>/ours_<iter>/renders, gt              RGB render and ground truth
                               objects_feature16         identity features as PCA colours
                               objects_pred              predicted ids, coloured
                               objects_pred_id           predicted ids, raw PNG (8-bit; 16-bit
                                                         when num_classes > 256)
                               gt_objects_color          training-mask ids, coloured (if any)
                               strip                     the above side by side
                               test_mask/<view>/<prompt>.png   prompt masks (0/255)
                               prompts.json              the ids used for each prompt
                               reference_selection.json  how they were chosen (reference masks)
                               boundary_overlay/<view>.png     predicted (red) and ground-truth
                                                         (green) prompt boundaries on the render;
                                                         yellow where they coincide

A prompt's mask on a view is the set of pixels where the softmax probability of one of its ids
exceeds the threshold (0.2), as Gaussian Grouping's `render_lerf_mask.py`; a prompt with no id
selected gets an empty mask.
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import torch
from tqdm import tqdm

from apps.prompt_selection import IdSelection, select_prompt_ids
from arguments import ConfigError, load_json_file
from evaluation.lerf_eval import MASK_EXT, read_binary_mask, resize_to
from evaluation.segmentation_metrics import mask_to_boundary
from gaussian_renderer import render
from scene.identity_classifier import IdentityClassifier
from utils.atomic_io import write_json_atomic
from utils.image_io import write_png
from utils.visualization import FeaturePCA, colorize_ids, side_by_side, to_uint8_rgb

PROMPT_OUTPUTS = ("test_mask", "boundary_overlay", "prompts.json", "reference_selection.json")
OUTPUT_FOLDERS = ("renders", "gt", "objects_feature16", "objects_pred", "objects_pred_id",
                  "gt_objects_color", "strip")
OVERLAY_FOLDER = "boundary_overlay"
PRED_COLOR = np.array([255, 40, 40], np.uint8)
GT_COLOR = np.array([40, 255, 40], np.uint8)
BOTH_COLOR = np.array([255, 255, 0], np.uint8)
# Overlay line width as a fraction of the image diagonal (1 px at 160x120, 6 px at 1600x1200).
OVERLAY_LINE_RATIO = 0.003


def load_prompt_ids(path: str, num_classes: int) -> dict[str, list[int]]:
    """Read `{prompt: [ids]}`; errors name the file and the offending entry."""
    prompts = load_json_file(path, "prompt file")
    for prompt, ids in prompts.items():
        if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
            raise ConfigError(f"{path}: prompt '{prompt}' must map to a non-empty list of ids")
        bad = [i for i in ids if not 0 <= i < num_classes]
        if bad:
            raise ConfigError(f"{path}: prompt '{prompt}' has ids {bad} outside 0..{num_classes - 1}")
    return prompts


def id_map_dtype(num_classes: int) -> type:
    """The smallest PNG integer type holding ids 0..num_classes-1 (8-bit ids would wrap at 256)."""
    if num_classes > 65536:
        raise ValueError(f"num_classes {num_classes}: id maps are PNG, at most 16-bit (65536 ids)")
    return np.uint8 if num_classes <= 256 else np.uint16


def clear_prompt_outputs(out_dir: str) -> None:
    """Remove an earlier render's prompt masks, overlays and prompt records from `out_dir`, so
    that a re-render with other (or fewer) prompts leaves no stale mask for evaluation to score."""
    for name in PROMPT_OUTPUTS:
        path = os.path.join(out_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


@torch.no_grad()
def unpredicted_prompt_ids(prompts: dict[str, list[int]], gaussians,
                           classifier: IdentityClassifier) -> dict[str, list[int]]:
    """prompt -> its ids that no Gaussian predicts (argmax of its class probabilities); a prompt
    whose ids are all listed will most likely get empty masks."""
    predicted = set(classifier.gaussian_probabilities(gaussians.get_objects).argmax(dim=1).tolist())
    return {prompt: unused for prompt, ids in prompts.items()
            if (unused := [i for i in ids if i not in predicted])}


def prompt_masks(logits: torch.Tensor, prompts: dict[str, list[int]], threshold: float
                 ) -> dict[str, np.ndarray]:
    """Boolean (H, W) mask per prompt from logits (C, H, W): pixels where the softmax probability
    of at least one of the prompt's ids exceeds `threshold` (GG's rule; no ids: empty mask)."""
    probs = torch.softmax(logits, dim=0)
    return {prompt: (probs[ids] > threshold).any(dim=0).cpu().numpy() for prompt, ids in prompts.items()}


@torch.no_grad()
def render_identity(camera, gaussians, classifier: IdentityClassifier, pipe,
                    background: torch.Tensor) -> tuple[dict, torch.Tensor]:
    """Render one view: the renderer's output dict and the class logits (C, H, W)."""
    out = render(camera, gaussians, pipe, background)
    return out, classifier(out["render_object"])


def select_ids_on_view(camera, gaussians, classifier: IdentityClassifier, pipe,
                       background: torch.Tensor, masks: dict[str, np.ndarray], folder: str,
                       threshold: float) -> dict[str, IdSelection]:
    """Ids of each prompt picked by intersection over area of its reference mask with the view's
    predicted id map (see `apps.prompt_selection`)."""
    _, logits = render_identity(camera, gaussians, classifier, pipe, background)
    return select_prompt_ids(logits.argmax(dim=0).cpu().numpy(), masks, folder, threshold)


def write_selection_record(path: str, view: str, source: str, threshold: float,
                           selections: dict[str, IdSelection]) -> None:
    """`reference_selection.json`: the view, the masks' source, and every id's intersection over area."""
    record = {"view": view, "source": source, "ioa_threshold": threshold,
              "prompts": {p: {"ids": s.ids, "mask_pixels": s.mask_pixels,
                              "ioa": {str(i): round(v, 6) for i, v in s.ioa.items()}}
                          for p, s in selections.items()}}
    write_json_atomic(path, record)


def read_view_masks(gt_dir: str, view: str, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Ground-truth masks `<gt_dir>/<view>/<prompt>.png` resized to `shape` (H, W); {} if the
    view has none."""
    view_dir = os.path.join(gt_dir, view)
    if not os.path.isdir(view_dir):
        return {}
    masks = {}
    for name in sorted(os.listdir(view_dir)):
        if name.endswith(MASK_EXT) and not name.startswith("."):
            path = os.path.join(view_dir, name)
            mask = read_binary_mask(path)
            masks[name[:-len(MASK_EXT)]] = mask if mask.shape == shape else resize_to(mask, shape, path)
    return masks


def boundary_overlay(rgb: np.ndarray, pred_masks: list[np.ndarray], gt_masks: list[np.ndarray]
                     ) -> np.ndarray:
    """Draw the boundaries of boolean (H, W) masks on an RGB (H, W, 3) uint8 image: predicted in
    red, ground truth in green, yellow where both lie. Boundaries are each mask's inner band
    (`mask_to_boundary`), OVERLAY_LINE_RATIO of the diagonal wide, image borders included."""
    shape = rgb.shape[:2]
    pred = np.zeros(shape, dtype=bool)
    gt = np.zeros(shape, dtype=bool)
    for mask in pred_masks:
        pred |= mask_to_boundary(mask, OVERLAY_LINE_RATIO)
    for mask in gt_masks:
        gt |= mask_to_boundary(mask, OVERLAY_LINE_RATIO)
    image = rgb.copy()
    image[pred & ~gt] = PRED_COLOR
    image[gt & ~pred] = GT_COLOR
    image[gt & pred] = BOTH_COLOR
    return image


@torch.no_grad()
def export_split(out_dir: str, cameras: list, gaussians, classifier: IdentityClassifier, pipe,
                 background: torch.Tensor, prompts: dict[str, list[int]] | None = None,
                 mask_threshold: float = 0.2, overlay_gt_dir: str | None = None,
                 quiet: bool = False) -> None:
    """Render every camera of a split and write the outputs listed in the module docstring.

    Prompt masks and their prompts.json are written when `prompts` is given; boundary overlays
    too when `overlay_gt_dir` (ground truth `<view>/<prompt>.png`) is given as well."""
    if overlay_gt_dir is not None and not prompts:
        raise ValueError("boundary overlays need prompts (--prompt_ids or --reference_masks)")
    for folder in OUTPUT_FOLDERS:
        os.makedirs(os.path.join(out_dir, folder), exist_ok=True)
    pca = FeaturePCA(gaussians.get_objects[:, 0, :])
    id_dtype = id_map_dtype(classifier.num_classes)
    for camera in tqdm(cameras, desc=f"Rendering {os.path.basename(os.path.dirname(out_dir))}",
                       disable=quiet):
        name = camera.image_name
        out, logits = render_identity(camera, gaussians, classifier, pipe, background)
        pred_ids = logits.argmax(dim=0).cpu().numpy().astype(id_dtype)
        panels = {
            "renders": to_uint8_rgb(out["render"]),
            "gt": to_uint8_rgb(camera.original_image),
            "objects_feature16": pca.colorize(out["render_object"]),
            "objects_pred": colorize_ids(pred_ids),
        }
        if camera.objects is not None:
            panels["gt_objects_color"] = colorize_ids(camera.objects.cpu().numpy())
        for folder, image in panels.items():
            write_png(os.path.join(out_dir, folder, f"{name}.png"), image)
        write_png(os.path.join(out_dir, "objects_pred_id", f"{name}.png"), pred_ids)
        write_png(os.path.join(out_dir, "strip", f"{name}.png"), side_by_side(list(panels.values())))
        if not prompts:
            continue
        masks = prompt_masks(logits, prompts, mask_threshold)
        for prompt, mask in masks.items():
            write_png(os.path.join(out_dir, "test_mask", name, f"{prompt}{MASK_EXT}"),
                      mask.astype(np.uint8) * 255)
        if overlay_gt_dir is not None:
            gt_masks = read_view_masks(overlay_gt_dir, name, pred_ids.shape)
            write_png(os.path.join(out_dir, OVERLAY_FOLDER, f"{name}.png"),
                      boundary_overlay(panels["renders"], list(masks.values()), list(gt_masks.values())))
    if prompts:
        write_json_atomic(os.path.join(out_dir, "prompts.json"), prompts)
