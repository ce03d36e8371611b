"""Identity Gradient Guided Densification (IGD, paper section 3.4; its Algorithm 1 was lost,
docs/design.md section 4 gives our reading).

Gaussians on an object boundary receive conflicting identity supervision, so the gradient
of the loss with respect to their identity encoding stays large. Every IGD round:
1. candidates: mean accumulated ||dL/d e_t|| above `threshold`, at most `max_fraction` of N
   (largest first);
2. boundary normal n of each candidate: centroid of its `num_neighbors` nearest Gaussians
   predicted as another class minus the centroid of those predicted as its own class (t itself
   when none agrees); no disagreeing neighbour -> n is the Gaussian's longest axis;
3. split along the Gaussian's own axis most aligned with n: children at mu +- 0.5 s_a a,
   that axis' scale halved, everything else copied, so they land on either side of the
   boundary and optimise apart. Children start with zero Adam state and statistics.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from method.densification import replace_gaussians
from method.statistics import IDENTITY_FIELDS, GaussianStatistics
from scene.gaussian_model import GaussianModel
from utils.general_utils import build_rotation
from utils.knn import knn


@dataclass
class IGDRound:
    """What one IGD round did (logged by the trainer)."""
    candidates: int          # Gaussians above the threshold
    splits: int              # Gaussians split (candidates after the cap)
    threshold: float
    without_boundary: int    # split Gaussians with no disagreeing neighbour (longest-axis split)
    num_points: int          # Gaussians after the round


def select_boundary_gaussians(mean_identity_grad: torch.Tensor, threshold: float,
                              max_fraction: float) -> tuple[torch.Tensor, int]:
    """(N,) mean gradient norms -> (selected indices (S,), number above the threshold)."""
    above = torch.nonzero(mean_identity_grad > threshold).squeeze(1)
    cap = int(max_fraction * mean_identity_grad.shape[0])
    if above.numel() > cap:
        order = torch.argsort(mean_identity_grad[above], descending=True, stable=True)
        return above[order[:cap]], above.numel()
    return above, above.numel()


def boundary_normals(xyz: torch.Tensor, predicted: torch.Tensor, selected: torch.Tensor,
                     num_neighbors: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Direction from a Gaussian's own class towards the other class nearby.

    xyz: (N, 3); predicted: (N,) class of every Gaussian; selected: (S,) indices.
    Returns normals (S, 3) (not normalised) and has_boundary (S,) bool (a disagreeing
    neighbour exists).
    """
    k = min(num_neighbors + 1, xyz.shape[0])
    _, neighbours = knn(xyz[selected], xyz, k)
    is_self = neighbours == selected[:, None]
    neighbour_xyz = xyz[neighbours]                                        # (S, k, 3)
    disagree = (predicted[neighbours] != predicted[selected][:, None]) & ~is_self
    agree = (predicted[neighbours] == predicted[selected][:, None]) & ~is_self

    def centroid(mask: torch.Tensor, empty_value: torch.Tensor) -> torch.Tensor:
        count = mask.sum(dim=1, keepdim=True)
        total = (neighbour_xyz * mask[..., None]).sum(dim=1)
        return torch.where(count > 0, total / count.clamp_min(1), empty_value)

    own_side = centroid(agree, xyz[selected])
    other_side = centroid(disagree, xyz[selected])
    return other_side - own_side, disagree.any(dim=1)


def split_along_normals(model: GaussianModel, selected: torch.Tensor, normals: torch.Tensor,
                        has_boundary: torch.Tensor) -> dict[str, torch.Tensor]:
    """Two children per selected Gaussian (all first children, then all second ones)."""
    params = model.parameters_by_group()
    axes = build_rotation(params["rotation"][selected])                   # (S, 3, 3), columns = axes
    scales = model.get_scaling[selected]                                  # (S, 3)
    alignment = (axes * normals[:, :, None]).sum(dim=1).abs()             # |a_j . n| per axis j
    axis_index = torch.where(has_boundary, alignment.argmax(dim=1), scales.argmax(dim=1))
    rows = torch.arange(selected.numel(), device=selected.device)
    axis = axes[rows, :, axis_index]                                      # (S, 3)
    offset = 0.5 * scales[rows, axis_index][:, None] * axis

    children = {name: torch.cat((param[selected], param[selected]), dim=0) for name, param in params.items()}
    children["xyz"] = torch.cat((params["xyz"][selected] + offset, params["xyz"][selected] - offset))
    log_scales = params["scaling"][selected].clone()
    log_scales[rows, axis_index] -= math.log(2.0)
    children["scaling"] = torch.cat((log_scales, log_scales))
    return children


@torch.no_grad()
def igd_round(model: GaussianModel, stats: GaussianStatistics, predicted: torch.Tensor, threshold: float,
              max_fraction: float, num_neighbors: int) -> IGDRound:
    """One IGD densification round on `model` (and its `stats`); `predicted` (N,) is each
    Gaussian's class. The identity-gradient statistics restart at zero afterwards."""
    mean_grad = stats.mean_identity_gradient()
    selected, num_candidates = select_boundary_gaussians(mean_grad, threshold, max_fraction)
    without_boundary = 0
    if selected.numel() > 0:
        normals, has_boundary = boundary_normals(model.get_xyz, predicted, selected, num_neighbors)
        without_boundary = int((~has_boundary).sum())
        children = split_along_normals(model, selected, normals, has_boundary)
        mask = torch.zeros(model.num_points, dtype=torch.bool, device=mean_grad.device)
        mask[selected] = True
        replace_gaussians(model, stats, mask, children)
    stats.reset(IDENTITY_FIELDS)
    return IGDRound(num_candidates, int(selected.numel()), threshold, without_boundary,
                    model.num_points)
