"""New Gaussians in the hole, seeded from the surrounding surface.

In a seeding view the remaining scene's depth (rendered depth / alpha) is known where it is
opaque outside the hole; the hole's depth is filled from that surrounding depth (OpenCV Telea on
the depth map, the 2D analogue of continuing the surface under the object), kept no nearer than
the removed object's own surface there, and each hole pixel is lifted to 3D at that depth
(where the filled alpha says the hole is surrounded by surface rather than by empty space). A
seed takes the colour of the view's 2D inpainting, an isotropic scale of its pixel's footprint,
and the identity encoding of the nearest seen remaining Gaussian (so the classifier labels it
like its surroundings: the ground, usually).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
import torch

from gaussian_renderer import render
from scene.cameras import ZNEAR
from scene.gaussian_model import GaussianModel
from utils.general_utils import inverse_sigmoid
from utils.knn import knn
from utils.sh_utils import RGB2SH

DEPTH_FILL_RADIUS = 5.0     # pixels, OpenCV's inpainting neighbourhood for the depth map


@dataclass(frozen=True)
class SeedOptions:
    views: int = 6               # seeding views, spread over the views with the largest holes
    stride: int = 1              # every stride-th hole pixel per row and column
    opacity: float = 0.8
    scale_factor: float = 1.0    # scale in pixel footprints


def seeding_views(masks: Sequence[np.ndarray], count: int) -> list[int]:
    """Up to `count` view indices, evenly spread over the views whose hole is non-empty."""
    candidates = [i for i, mask in enumerate(masks) if mask.any()]
    if len(candidates) <= count:
        return candidates
    picks = np.linspace(0, len(candidates) - 1, count).round().astype(int)
    return [candidates[i] for i in sorted(set(picks.tolist()))]


def filled_depth(depth: np.ndarray, known: np.ndarray) -> np.ndarray:
    """(H, W) float32 depth with the pixels outside `known` filled from the known ones (on a
    16-bit copy: OpenCV's inpainting of float images is not usable)."""
    scale = float(depth[known].max()) if known.any() else 1.0
    levels = np.round(np.where(known, depth / scale, 0.0) * 65535).astype(np.uint16)
    filled = cv2.inpaint(levels, (~known).astype(np.uint8) * 255, DEPTH_FILL_RADIUS, cv2.INPAINT_TELEA)
    return filled.astype(np.float32) / 65535 * scale


def filled_alpha(alpha: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W) float32 alpha with the `mask` pixels filled from the others (8-bit, Telea)."""
    levels = np.round(np.clip(alpha, 0.0, 1.0) * 255).astype(np.uint8)
    return cv2.inpaint(levels, mask.astype(np.uint8) * 255, DEPTH_FILL_RADIUS, cv2.INPAINT_TELEA) / 255.0


def lift_pixels(camera, rows: np.ndarray, cols: np.ndarray, depth: np.ndarray) -> torch.Tensor:
    """(M, 3) world points of pixels (rows, cols) (M,) at view-space depth `depth` (M,): the
    pixel-centre ray of the rasterizer's convention (pixel j at x/z = (j + 0.5 - W/2) / fx)."""
    fx = camera.image_width / (2.0 * math.tan(camera.FoVx / 2.0))
    fy = camera.image_height / (2.0 * math.tan(camera.FoVy / 2.0))
    x = (cols + 0.5 - camera.image_width / 2.0) / fx * depth
    y = (rows + 0.5 - camera.image_height / 2.0) / fy * depth
    view = torch.from_numpy(np.stack([x, y, depth, np.ones_like(depth)], axis=1)).float()
    world = view.to(camera.world_view_transform.device) @ torch.linalg.inv(camera.world_view_transform)
    return world[:, :3]


@torch.no_grad()
def view_seeds(camera, mask: np.ndarray, image: np.ndarray, kept: GaussianModel, alone: GaussianModel,
               pipe, options: SeedOptions) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeds of one view: positions (M, 3), colours (M, 3) from `image` (H, W, 3) and log
    scales (M, 3), for the hole pixels `mask` (H, W) on the stride grid."""
    black = torch.zeros(3, device=kept.device)
    out = render(camera, kept, pipe, black)
    alpha = out["alpha"][0].cpu().numpy()
    depth = (out["depth"][0] / out["alpha"][0].clamp_min(1e-6)).cpu().numpy()
    behind = render(camera, alone, pipe, black)
    alone_alpha = behind["alpha"][0].cpu().numpy()
    alone_depth = (behind["depth"][0] / behind["alpha"][0].clamp_min(1e-6)).cpu().numpy()
    known = (alpha > 0.5) & ~mask
    depth = filled_depth(depth, known)
    surrounded = filled_alpha(alpha, mask) > 0.5   # the hole's surroundings are surface, not empty
    depth = np.where(alone_alpha > 0.5, np.maximum(depth, alone_depth), depth)
    grid = np.zeros_like(mask)
    grid[::options.stride, ::options.stride] = True
    rows, cols = np.nonzero(mask & grid & surrounded & (depth > ZNEAR))
    z = depth[rows, cols].astype(np.float64)
    xyz = lift_pixels(camera, rows, cols, z)
    fx = camera.image_width / (2.0 * math.tan(camera.FoVx / 2.0))
    footprint = torch.from_numpy(z * options.stride * options.scale_factor / fx).float()
    log_scales = torch.log(footprint)[:, None].expand(-1, 3)
    colours = torch.from_numpy(image[rows, cols]).float()
    return xyz, colours, log_scales


def seed_rows(xyz: torch.Tensor, colours: torch.Tensor, log_scales: torch.Tensor, kept: GaussianModel,
              donors: torch.Tensor, opacity: float) -> dict[str, torch.Tensor]:
    """`GaussianModel.densification_postfix` rows of seeds at `xyz` (M, 3): colour (M, 3) as SH
    degree 0, no view dependence, isotropic `log_scales` (M, 3), identity rotation, `opacity`,
    and the identity encoding of the nearest of `kept`'s rows `donors` (N,) bool."""
    device = kept.device
    xyz = xyz.to(device)
    donor_rows = torch.nonzero(donors).squeeze(1)
    _, nearest = knn(xyz, kept.get_xyz.detach()[donor_rows].contiguous(), 1)
    m = xyz.shape[0]
    rotation = torch.zeros((m, 4), device=device)
    rotation[:, 0] = 1.0
    return {
        "xyz": xyz,
        "f_dc": RGB2SH(colours.to(device))[:, None, :],
        "f_rest": torch.zeros((m, kept.get_features.shape[1] - 1, 3), device=device),
        "opacity": inverse_sigmoid(torch.full((m, 1), opacity, device=device)),
        "scaling": log_scales.to(device),
        "rotation": rotation,
        "obj_dc": kept.get_objects.detach()[donor_rows[nearest[:, 0]]].clone(),
    }


def seed_gaussians(cameras: Sequence, masks: Sequence[np.ndarray], images: Sequence[np.ndarray],
                   kept: GaussianModel, alone: GaussianModel, donors: torch.Tensor, pipe,
                   options: SeedOptions = SeedOptions()) -> dict[str, torch.Tensor]:
    """Rows of new Gaussians (see `seed_rows`) lifted from the holes `masks` of the seeding
    views, coloured by their inpaintings `images` (H, W, 3)."""
    parts = [view_seeds(cameras[i], masks[i], images[i], kept, alone, pipe, options)
             for i in seeding_views(masks, options.views)]
    if not parts:
        raise ValueError("the hole is empty in every training view; nothing to inpaint")
    xyz, colours, log_scales = (torch.cat(items) for items in zip(*parts))
    return seed_rows(xyz, colours, log_scales, kept, donors, options.opacity)
