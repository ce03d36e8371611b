"""Changing the set of Gaussians during training: 3DGS's adaptive density control (clone,
split, prune) and the three primitives that keep the model and its statistics in step.

Every change goes through `append_gaussians`, `remove_gaussians` or `replace_gaussians`, so
the per-Gaussian statistics (`method.statistics`) always follow their Gaussian: appended rows
start at zero, removed rows leave with their Gaussian, as do their Adam states (the model's
`densification_postfix` / `prune_points`).
"""
from __future__ import annotations

from typing import Optional

import torch

from method.statistics import DENSIFICATION_FIELDS, GaussianStatistics
from scene.gaussian_model import GaussianModel
from utils.general_utils import build_rotation


# ----------------------------------------------------------------------------- the primitives
def append_gaussians(model: GaussianModel, stats: GaussianStatistics, new_params: dict[str, torch.Tensor]
                     ) -> None:
    """Append Gaussians given as one tensor per parameter group (rows shaped like the model's)."""
    stats.append_rows(model.densification_postfix(new_params))


def remove_gaussians(model: GaussianModel, stats: GaussianStatistics, mask: torch.Tensor) -> None:
    """Remove the Gaussians where `mask` (N,) bool is True."""
    model.prune_points(mask)
    stats.keep_rows(~mask)


def replace_gaussians(model: GaussianModel, stats: GaussianStatistics, selected: torch.Tensor,
                      children: dict[str, torch.Tensor]) -> None:
    """Replace the Gaussians `selected` (N,) bool by `children` (one tensor per group, any number
    of rows): the children are appended, then the parents removed."""
    num_parents = model.num_points
    if selected.dtype != torch.bool or selected.shape != (num_parents,):
        raise ValueError(f"expected a ({num_parents},) bool mask, got {selected.dtype} {tuple(selected.shape)}")
    append_gaussians(model, stats, children)
    remove_gaussians(model, stats, torch.cat((selected, selected.new_zeros(model.num_points - num_parents))))


# ----------------------------------------------------------------------------- 3DGS density control
def _high_gradient_mask(model: GaussianModel, grads: torch.Tensor, grad_threshold: float) -> torch.Tensor:
    """(N,) bool: mean gradient `grads` (M, 1), M <= N, at least `grad_threshold`; rows
    appended after `grads` was computed count as zero gradient."""
    padded = torch.zeros(model.num_points, device=grads.device)
    padded[:grads.shape[0]] = grads.squeeze(1)
    return padded >= grad_threshold


@torch.no_grad()
def densify_and_clone(model: GaussianModel, stats: GaussianStatistics, grads: torch.Tensor,
                      grad_threshold: float, scene_extent: float, percent_dense: float) -> None:
    """Duplicate small Gaussians (largest scale <= percent_dense * extent) whose mean
    screen-space gradient `grads` (N, 1) reaches `grad_threshold`; copies sit at the same place."""
    selected = _high_gradient_mask(model, grads, grad_threshold) & (
        model.get_scaling.max(dim=1).values <= percent_dense * scene_extent)
    append_gaussians(model, stats, {name: param[selected] for name, param in model.parameters_by_group().items()})


def sample_split_children(model: GaussianModel, selected: torch.Tensor, N: int) -> dict[str, torch.Tensor]:
    """N children per selected Gaussian (child-major: all first children, then all second,
    ...): positions mu + R s*z with z ~ N(0, I), log-scales log(s / (0.8 N)), everything
    else copied (3DGS)."""
    params = model.parameters_by_group()
    children = {name: param[selected].repeat(N, *([1] * (param.dim() - 1))) for name, param in params.items()}
    stds = model.get_scaling[selected].repeat(N, 1)
    samples = torch.normal(mean=torch.zeros_like(stds), std=stds)
    rotations = build_rotation(params["rotation"][selected]).repeat(N, 1, 1)
    children["xyz"] = torch.bmm(rotations, samples.unsqueeze(-1)).squeeze(-1) + children["xyz"]
    children["scaling"] = torch.log(stds / (0.8 * N))
    return children


@torch.no_grad()
def densify_and_split(model: GaussianModel, stats: GaussianStatistics, grads: torch.Tensor,
                      grad_threshold: float, scene_extent: float, percent_dense: float, N: int = 2) -> None:
    """Replace each large Gaussian (largest scale > percent_dense * extent) whose mean
    screen-space gradient reaches `grad_threshold` by N children sampled from it."""
    selected = _high_gradient_mask(model, grads, grad_threshold) & (
        model.get_scaling.max(dim=1).values > percent_dense * scene_extent)
    replace_gaussians(model, stats, selected, sample_split_children(model, selected, N))


@torch.no_grad()
def densify_and_prune(model: GaussianModel, stats: GaussianStatistics, max_grad: float, min_opacity: float,
                      extent: float, max_screen_size: Optional[float], percent_dense: float,
                      prune_by_screen_size: bool = False) -> None:
    """3DGS's adaptive density control: clone, split, then prune Gaussians with opacity
    below `min_opacity` and, when `max_screen_size` is set, those larger than 0.1 * extent
    in world space. The densification statistics restart at zero afterwards.

    3DGS's code also tests max_radii2D > max_screen_size, but it zeroes max_radii2D just
    before, so that test never fires there (graphdeco-inria/gaussian-splatting#123, #544)
    and published 3DGS/GG numbers do not include it. It is applied here only with
    `prune_by_screen_size=True`, on the radii the Gaussians actually had."""
    grads = stats.mean_screen_gradient()
    densify_and_clone(model, stats, grads, max_grad, extent, percent_dense)
    densify_and_split(model, stats, grads, max_grad, extent, percent_dense)

    prune_mask = (model.get_opacity < min_opacity).squeeze(1)
    if max_screen_size:
        prune_mask |= model.get_scaling.max(dim=1).values > 0.1 * extent
        if prune_by_screen_size:
            prune_mask |= stats.max_radii2D > max_screen_size
    remove_gaussians(model, stats, prune_mask)
    stats.reset(DENSIFICATION_FIELDS)
