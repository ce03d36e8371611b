"""The hole a removal leaves, per training view, from the model itself.

A pixel is in the hole when the removed Gaussians covered it (their alpha rendered alone above
`coverage`) and what the remaining scene shows there is not to be trusted: the remaining scene
is thin (alpha below `thin`), or most of its colour comes from Gaussians that no training view
ever saw (hidden behind or inside the object), or its surface lies within `depth_margin`
(relative) of the object's own surface there: Gaussians of the object that the classifier gave
another id (a remnant), neither the background the object hid nor an object in front of it. A Gaussian counts as *seen* when its blend
weights, summed over the pixels of every training view rendered with the object in place, reach
`seen_weight` (one pixel's worth by default). The hole is then dilated by `dilate` pixels to
take the object's anti-aliased rim.

Masks are written as `<view>.png` (0 / 255) so that a user can look at them and replace them.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np
import torch

from gaussian_renderer import render
from scene.gaussian_model import GaussianModel
from utils.errors import DataError
from utils.image_io import read_id_map, write_png

MASK_EXT = ".png"


@dataclass(frozen=True)
class HoleOptions:
    coverage: float = 0.5      # removed alpha above which a pixel belonged to the object
    thin: float = 0.5          # remaining alpha below which the scene is thin there
    seen_weight: float = 1.0   # summed blend weight (pixels) for a Gaussian to count as seen
    dilate: int = 2            # pixels
    depth_margin: float = 0.05  # remaining surface this close (relative) to the object's is its remnant


def split_model(gaussians: GaussianModel, removed: torch.Tensor) -> tuple[GaussianModel, GaussianModel]:
    """Copies of `gaussians` without and with only the rows where `removed` (N,) is True."""
    kept, alone = copy.deepcopy(gaussians), copy.deepcopy(gaussians)
    kept.prune_points(removed)
    alone.prune_points(~removed)
    return kept, alone


def blend_weights(cameras: Sequence, gaussians: GaussianModel, pipe, background: torch.Tensor,
                  pixel_weights: Callable[[int], torch.Tensor]) -> torch.Tensor:
    """(N, C) per Gaussian, the sum over `cameras` and pixels of its alpha-blending weight times
    `pixel_weights(view index)` (C <= 3, H, W): the gradient of the weighted render with
    respect to a constant colour per Gaussian."""
    total = None
    for index, camera in enumerate(cameras):
        weights = pixel_weights(index)
        colours = torch.zeros((gaussians.num_points, 3), device=gaussians.device, requires_grad=True)
        out = render(camera, gaussians, pipe, background, override_color=colours)
        channels = weights.shape[0]
        (grad,) = torch.autograd.grad((out["render"][:channels] * weights).sum(), colours)
        total = grad[:, :channels] if total is None else total + grad[:, :channels]
    return total


def seen_gaussians(cameras: Sequence, gaussians: GaussianModel, pipe, background: torch.Tensor,
                   seen_weight: float) -> torch.Tensor:
    """(N,) bool: the Gaussians whose summed blend weight over `cameras` reaches `seen_weight`."""
    ones = torch.ones((1, cameras[0].image_height, cameras[0].image_width), device=gaussians.device)
    return blend_weights(cameras, gaussians, pipe, background, lambda index: ones)[:, 0] >= seen_weight


def dilate_mask(mask: np.ndarray, pixels: int) -> np.ndarray:
    """(H, W) bool grown by `pixels` (a (2p+1)-square structuring element)."""
    if pixels <= 0:
        return mask
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


@torch.no_grad()
def view_hole(camera, kept: GaussianModel, alone: GaussianModel, unseen: torch.Tensor, pipe,
              options: HoleOptions) -> np.ndarray:
    """(H, W) bool hole of one view; `unseen` (N_kept,) bool marks kept Gaussians never seen."""
    black = torch.zeros(3, device=kept.device)
    object_view = render(camera, alone, pipe, black)
    covered = object_view["alpha"][0] > options.coverage
    object_depth = object_view["depth"][0] / object_view["alpha"][0].clamp_min(1e-6)
    indicator = unseen.float()[:, None].expand(-1, 3).contiguous()
    out = render(camera, kept, pipe, black, override_color=indicator)
    alpha = out["alpha"][0]
    unseen_share = out["render"][0] / alpha.clamp_min(1e-6)
    depth = out["depth"][0] / alpha.clamp_min(1e-6)
    remnant = (depth - object_depth).abs() < options.depth_margin * object_depth
    hole = covered & ((alpha < options.thin) | (unseen_share > 0.5) | remnant)
    return dilate_mask(hole.cpu().numpy(), options.dilate)


def hole_masks(cameras: Sequence, gaussians: GaussianModel, removed: torch.Tensor, seen: torch.Tensor,
               pipe, options: HoleOptions = HoleOptions()) -> list[np.ndarray]:
    """(H, W) bool hole of each of `cameras` left by removing the rows `removed` (N,) bool of
    `gaussians` (the model before the removal; not changed); `seen` (N,) bool is
    `seen_gaussians` of that model."""
    kept, alone = split_model(gaussians, removed)
    unseen = ~seen[~removed]
    return [view_hole(camera, kept, alone, unseen, pipe, options) for camera in cameras]


def write_masks(folder: str, names: Sequence[str], masks: Sequence[np.ndarray]) -> None:
    """`<folder>/<name>.png`, 255 in the hole, 0 elsewhere."""
    for name, mask in zip(names, masks):
        write_png(os.path.join(folder, name + MASK_EXT), mask.astype(np.uint8) * 255)


def read_masks(folder: str, cameras: Sequence) -> list[np.ndarray]:
    """The hole masks `<folder>/<view>.png` (non-zero: hole) of `cameras`; a missing file or
    one whose size is not the view's is a DataError naming it."""
    if not os.path.isdir(folder):
        raise DataError(f"hole mask folder not found: {folder}")
    masks = []
    for camera in cameras:
        path = os.path.join(folder, camera.image_name + MASK_EXT)
        if not os.path.isfile(path):
            raise DataError(f"{path}: hole mask of training view {camera.image_name} is missing")
        mask = read_id_map(path) > 0
        if mask.shape != (camera.image_height, camera.image_width):
            raise DataError(f"{path}: hole mask is {mask.shape[1]}x{mask.shape[0]} pixels, the view is "
                            f"{camera.image_width}x{camera.image_height}")
        masks.append(mask)
    return masks
