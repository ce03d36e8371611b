"""The short 3D fine-tuning after seeding: the model follows, on every training view, its own
render outside the hole (masked L1: nothing there should change) and the 2D inpainting inside
it, with an L1 + SSIM mix on the hole's bounding box that tolerates the inpaintings' view-to-view
disagreement. Only the new Gaussians and those that mostly render into the (dilated) hole move;
every other row's gradient is zeroed, so its Adam state and value never change. "Mostly"
is more than half of its blend weight over the training views inside the holes grown by `near`
pixels; "near" is also near in 3D, inside the removed object's box grown by `near_box` times
its diagonal (`near_region`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from apps.inpainting.holes import blend_weights, dilate_mask
from arguments import OptimizationParams
from gaussian_renderer import render
from scene.gaussian_model import GaussianModel
from utils.loss_utils import masked_l1_loss, ssim

SSIM_MARGIN = 5     # pixels around the hole's bounding box in the SSIM term


@dataclass(frozen=True)
class FinetuneOptions:
    iterations: int = 300
    lambda_dssim: float = 0.5     # share of (1 - SSIM) in the hole's loss
    hole_weight: float = 1.0      # weight of the hole's loss against the outside's masked L1
    near: int = 4                 # pixels: a Gaussian moves if it renders mostly into the hole grown by this
    near_box: float = 0.25        # ... and lies in the removed object's box grown by this x its diagonal
    min_opacity: float = 0.005    # moving Gaussians below this opacity are dropped at the end
    seed: int = 0


@dataclass
class FinetuneTarget:
    """One training view's target: image (3, H, W) in [0, 1] and hole (H, W) bool, on the device."""
    image: torch.Tensor
    hole: torch.Tensor


def hole_box(hole: torch.Tensor, margin: int = SSIM_MARGIN) -> tuple[slice, slice]:
    """Rows and columns of `hole`'s (H, W) bounding box grown by `margin`, clipped to the image."""
    rows, cols = torch.nonzero(hole, as_tuple=True)
    height, width = hole.shape
    return (slice(max(int(rows.min()) - margin, 0), min(int(rows.max()) + margin + 1, height)),
            slice(max(int(cols.min()) - margin, 0), min(int(cols.max()) + margin + 1, width)))


def inpaint_loss(image: torch.Tensor, target: FinetuneTarget, options: FinetuneOptions) -> torch.Tensor:
    """Masked L1 outside the hole plus `hole_weight` x ((1 - l) L1 + l (1 - SSIM)) inside it
    (SSIM on the hole's bounding box), l = `lambda_dssim`; image (3, H, W)."""
    loss = masked_l1_loss(image, target.image, ~target.hole)
    if target.hole.any():
        rows, cols = hole_box(target.hole)
        structure = 1.0 - ssim(image[:, rows, cols], target.image[:, rows, cols])
        inside = masked_l1_loss(image, target.image, target.hole)
        loss = loss + options.hole_weight * ((1.0 - options.lambda_dssim) * inside
                                             + options.lambda_dssim * structure)
    return loss


def near_region(xyz: torch.Tensor, removed_xyz: torch.Tensor, margin: float) -> torch.Tensor:
    """(N,) bool: rows of `xyz` (N, 3) inside the removed Gaussians' box (their 2nd to 98th
    percentile per axis, so that stray ones do not stretch it), grown on every side by
    `margin` times its diagonal."""
    low = torch.quantile(removed_xyz, 0.02, dim=0)
    high = torch.quantile(removed_xyz, 0.98, dim=0)
    grow = margin * torch.linalg.norm(high - low)
    return torch.all((xyz >= low - grow) & (xyz <= high + grow), dim=1)


def movable_gaussians(cameras: Sequence, gaussians: GaussianModel, holes: Sequence[np.ndarray], pipe,
                      background: torch.Tensor, near: int) -> torch.Tensor:
    """(N,) bool: Gaussians with more than half of their blend weight over `cameras` inside the
    holes grown by `near` pixels."""
    grown = [torch.from_numpy(dilate_mask(hole, near)).float().to(gaussians.device) for hole in holes]

    def weights(index: int) -> torch.Tensor:
        return torch.stack([grown[index], torch.ones_like(grown[index])])

    totals = blend_weights(cameras, gaussians, pipe, background, weights)
    return (totals[:, 0] > 0.5 * totals[:, 1]) & (totals[:, 1] > 0)


def finetune(gaussians: GaussianModel, cameras: Sequence, targets: Sequence[FinetuneTarget],
             movable: torch.Tensor, pipe, background: torch.Tensor, spatial_lr_scale: float,
             options: FinetuneOptions = FinetuneOptions()) -> list[float]:
    """Train the rows `movable` (N,) bool of `gaussians` for `options.iterations` steps on the
    views `cameras` and their `targets`, then drop the moving rows that became transparent.
    Returns the loss of every step."""
    gaussians.spatial_lr_scale = spatial_lr_scale
    gaussians.training_setup(OptimizationParams(position_lr_max_steps=options.iterations))
    frozen = ~movable.to(gaussians.device)
    generator = torch.Generator().manual_seed(options.seed)
    order: list[int] = []
    losses = []
    for iteration in range(1, options.iterations + 1):
        if not order:
            order = torch.randperm(len(cameras), generator=generator).tolist()
        index = order.pop()
        gaussians.update_learning_rate(iteration)
        out = render(cameras[index], gaussians, pipe, background)
        loss = inpaint_loss(out["render"], targets[index], options)
        loss.backward()
        with torch.no_grad():
            for param in gaussians.parameters_by_group().values():
                if param.grad is not None:
                    param.grad[frozen] = 0.0
        gaussians.optimizer.step()
        gaussians.optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    transparent = movable.to(gaussians.device) & (gaussians.get_opacity[:, 0] < options.min_opacity)
    gaussians.prune_points(transparent)
    gaussians.optimizer = None
    return losses
