"""What `render.py` writes for a split of a trained model (DESIGN section 3):

    <model>/<split>/ours_<iter>/renders, gt              RGB render and ground truth
                               objects_feature16         identity features as PCA colours
                               objects_pred              predicted ids, coloured
                               objects_pred_id           predicted ids, raw uint8 PNG
                               gt_objects_color          training-mask ids, coloured (if any)
                               strip                     the above side by side
                               test_mask/<view>/<prompt>.png   prompt masks (0/255)
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch
from tqdm import tqdm

from gaussian_renderer import render
from scene.identity_classifier import IdentityClassifier
from utils.atomic_io import atomic_path
from utils.image_io import write_png
from utils.visualization import FeaturePCA, colorize_ids, side_by_side, to_uint8_rgb

OUTPUT_FOLDERS = ("renders", "gt", "objects_feature16", "objects_pred", "objects_pred_id",
                  "gt_objects_color", "strip")


def load_prompt_ids(path: str, num_classes: int) -> dict[str, list[int]]:
    """Read `{prompt: [ids]}`; errors name the file and the offending entry."""
    from arguments import ConfigError, load_json_file
    prompts = load_json_file(path, "prompt file")
    for prompt, ids in prompts.items():
        if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
            raise ConfigError(f"{path}: prompt '{prompt}' must map to a non-empty list of ids")
        bad = [i for i in ids if not 0 <= i < num_classes]
        if bad:
            raise ConfigError(f"{path}: prompt '{prompt}' has ids {bad} outside 0..{num_classes - 1}")
    return prompts


def prompt_masks(logits: torch.Tensor, prompts: dict[str, list[int]], threshold: float
                 ) -> dict[str, np.ndarray]:
    """Binary (H, W) mask per prompt: summed softmax probability of its ids > threshold."""
    probs = torch.softmax(logits, dim=0)
    return {prompt: (probs[ids].sum(dim=0) > threshold).numpy() for prompt, ids in prompts.items()}


@torch.no_grad()
def export_split(out_dir: str, cameras: list, gaussians, classifier: IdentityClassifier, pipe,
                 background: torch.Tensor, prompts: dict[str, list[int]] | None = None,
                 mask_threshold: float = 0.2, quiet: bool = False) -> None:
    """Render every camera of a split and write the outputs listed in the module docstring."""
    for folder in OUTPUT_FOLDERS:
        os.makedirs(os.path.join(out_dir, folder), exist_ok=True)
    pca = FeaturePCA(gaussians.get_objects[:, 0, :])
    for camera in tqdm(cameras, desc=f"Rendering {os.path.basename(os.path.dirname(out_dir))}",
                       disable=quiet):
        name = camera.image_name
        out = render(camera, gaussians, pipe, background)
        logits = classifier(out["render_object"])
        pred_ids = logits.argmax(dim=0).numpy().astype(np.uint8)
        panels = {
            "renders": to_uint8_rgb(out["render"]),
            "gt": to_uint8_rgb(camera.original_image),
            "objects_feature16": pca.colorize(out["render_object"]),
            "objects_pred": colorize_ids(pred_ids),
        }
        if camera.objects is not None:
            panels["gt_objects_color"] = colorize_ids(camera.objects.numpy())
        for folder, image in panels.items():
            write_png(os.path.join(out_dir, folder, f"{name}.png"), image)
        write_png(os.path.join(out_dir, "objects_pred_id", f"{name}.png"), pred_ids)
        write_png(os.path.join(out_dir, "strip", f"{name}.png"), side_by_side(list(panels.values())))
        if prompts:
            for prompt, mask in prompt_masks(logits, prompts, mask_threshold).items():
                write_png(os.path.join(out_dir, "test_mask", name, f"{prompt}.png"),
                          mask.astype(np.uint8) * 255)
    if prompts:
        with atomic_path(os.path.join(out_dir, "prompts.json")) as tmp:
            with open(tmp, "w") as fh:
                json.dump(prompts, fh, indent=2)
