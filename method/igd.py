"""Identity Gradient Guided Densification (IGD, paper section 3.4; its Algorithm 1 was lost,
docs/design.md section 4 gives our reading).

Gaussians on an object boundary receive conflicting identity supervision, so the gradient
of the loss with respect to their identity encoding stays large. Every IGD round:
1. candidates: mean accumulated ||dL/d e_t|| above a threshold (`threshold`, or with `quantile`
   > 0 that quantile of the statistic over the Gaussians seen since the last round, which
   carries over between resolutions and scenes), and with `contact_only` only those with a
   Gaussian of another predicted class among their `num_neighbors` nearest (a 3D contact as
   the model sees it: this doubled the share of candidates on a true contact on a validation
   scene, BENCHMARKS.md); at most `max_fraction` of N, largest first;
2. boundary normal n of each candidate: centroid of its `num_neighbors` nearest Gaussians
   predicted as another class minus the centroid of those predicted as its own class (t itself
   when none agrees); no disagreeing neighbour -> n is the Gaussian's longest axis;
3. split along the Gaussian's own axis most aligned with n: children at mu +- 0.5 s_a a, so
   they land on either side of the boundary and optimise apart; "halve" (the default) halves
   s_a and copies the opacity; "preserving" fits the children's opacity and std along a so that
   the pair renders like its parent at the moment of the split (BENCHMARKS.md: closer right
   after the split, no better after training on the demo scene). Everything else is copied;
   children start with zero Adam state and statistics.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from method.densification import replace_gaussians
from method.statistics import IDENTITY_FIELDS, GaussianStatistics
from scene.gaussian_model import GaussianModel
from utils.general_utils import build_rotation, inverse_sigmoid
from utils.knn import knn

SPLIT_RULES = ("preserving", "halve")
SPLIT_OFFSET = 0.5   # children at mu +- SPLIT_OFFSET * s_a along the split axis


@dataclass
class IGDRound:
    """What one IGD round did (logged by the trainer)."""
    candidates: int          # Gaussians above the threshold (and at a predicted contact with contact_only)
    splits: int              # Gaussians split (candidates after the cap)
    threshold: float         # the absolute threshold used (from the quantile when one is set)
    without_boundary: int    # split Gaussians with no disagreeing neighbour (longest-axis split)
    num_points: int          # Gaussians after the round


def candidate_threshold(mean_identity_grad: torch.Tensor, seen: torch.Tensor, threshold: float,
                        quantile: float) -> float:
    """`threshold`, or with `quantile` > 0 that quantile of the (N,) statistic over the `seen`
    (N,) bool Gaussians (infinite when none was seen: nothing is selected)."""
    if quantile <= 0.0:
        return threshold
    values = mean_identity_grad[seen]
    return float(torch.quantile(values.float(), quantile)) if values.numel() else math.inf


def select_boundary_gaussians(mean_identity_grad: torch.Tensor, threshold: float, max_fraction: float,
                              eligible: torch.Tensor | None = None) -> tuple[torch.Tensor, int]:
    """(N,) mean gradient norms -> (selected indices (S,), number of candidates: above the
    threshold and, when given, `eligible` (N,) bool)."""
    above_threshold = mean_identity_grad > threshold
    if eligible is not None:
        above_threshold &= eligible
    above = torch.nonzero(above_threshold).squeeze(1)
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
    others = neighbours != selected[:, None]
    same_class = predicted[neighbours] == predicted[selected][:, None]
    return normals_from_neighbours(xyz[selected], xyz[neighbours], same_class & others, ~same_class & others)


def normals_from_neighbours(centres: torch.Tensor, neighbour_xyz: torch.Tensor, agree: torch.Tensor,
                            disagree: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`boundary_normals` from given neighbours: centres (S, 3), their neighbours' positions
    (S, k, 3), and which neighbours share the centre's class (agree (S, k)) or not (disagree)."""

    def centroid(mask: torch.Tensor) -> torch.Tensor:
        count = mask.sum(dim=1, keepdim=True)
        total = (neighbour_xyz * mask[..., None]).sum(dim=1)
        return torch.where(count > 0, total / count.clamp_min(1), centres)

    return centroid(disagree) - centroid(agree), disagree.any(dim=1)


@functools.cache
def child_shape_table(offset: float, num_opacities: int = 101) -> tuple[torch.Tensor, torch.Tensor]:
    """For parent opacities linspace(0, 1, num_opacities): the children's opacity (O,) and their
    std along the split axis as a fraction of the parent's (O,), such that two children at
    +-offset s, alpha-composited (1 - (1 - a1)(1 - a2), each capped at 0.99 as the rasterizer
    does), best match the parent's footprint over the plane of the split axis and one other axis
    (least squares on a +-4 s grid). Faint parents give the mixture with the parent's variance,
    std sqrt(1 - offset^2) s; opaque ones overlap their children more, as compositing saturates."""
    along = torch.linspace(-4.0, 4.0, 41, dtype=torch.float64)
    across = torch.linspace(-4.0, 4.0, 15, dtype=torch.float64)
    profile_across = torch.exp(-0.5 * across ** 2)
    parent_opacity = torch.linspace(0.0, 1.0, num_opacities, dtype=torch.float64)
    parent = torch.clamp(parent_opacity[:, None, None] * torch.exp(-0.5 * along ** 2)[None, :, None]
                         * profile_across[None, None, :], max=0.99).flatten(1)                 # (O, T)
    opacity = torch.linspace(0.0, 0.99, 100, dtype=torch.float64)
    width = torch.linspace(0.7, 1.0, 16, dtype=torch.float64)   # child std / parent std along the axis

    def child(side: float) -> torch.Tensor:                                                     # (C, W, T)
        along_profile = torch.exp(-0.5 * ((along[None, :] - side * offset) / width[:, None]) ** 2)
        shape = along_profile[:, :, None] * profile_across[None, None, :]
        return torch.clamp(opacity[:, None, None, None] * shape[None], max=0.99).flatten(2)

    pair = (1.0 - (1.0 - child(1.0)) * (1.0 - child(-1.0))).flatten(0, 1)                      # (C*W, T)
    error = (parent ** 2).sum(1, keepdim=True) - 2.0 * parent @ pair.T + (pair ** 2).sum(1)[None]
    best = error.argmin(dim=1)
    return opacity[best // width.numel()].float(), width[best % width.numel()].float()


def split_along_normals(model: GaussianModel, selected: torch.Tensor, normals: torch.Tensor,
                        has_boundary: torch.Tensor, rule: str = "halve",
                        offset: float = SPLIT_OFFSET) -> dict[str, torch.Tensor]:
    """Two children per selected Gaussian (all first children, then all second ones), at
    mu +- offset s_a a along the chosen axis a (module docstring). `rule` "preserving": the
    children's std along a is sqrt(1 - offset^2) s_a (the pair has the parent's variance) and
    their opacity and std along a come from `child_shape_table`, so that together they render
    like the parent at the moment of the split; "halve": s_a halved and the opacity copied (our
    first reading)."""
    if rule not in SPLIT_RULES:
        raise ValueError(f"IGD split rule must be one of {SPLIT_RULES}, not '{rule}'")
    params = model.parameters_by_group()
    axes = build_rotation(params["rotation"][selected])                   # (S, 3, 3), columns = axes
    scales = model.get_scaling[selected]                                  # (S, 3)
    alignment = (axes * normals[:, :, None]).sum(dim=1).abs()             # |a_j . n| per axis j
    axis_index = torch.where(has_boundary, alignment.argmax(dim=1), scales.argmax(dim=1))
    rows = torch.arange(selected.numel(), device=selected.device)
    axis = axes[rows, :, axis_index]                                      # (S, 3)
    shift = offset * scales[rows, axis_index][:, None] * axis

    children = {name: torch.cat((param[selected], param[selected]), dim=0) for name, param in params.items()}
    children["xyz"] = torch.cat((params["xyz"][selected] + shift, params["xyz"][selected] - shift))
    log_scales = params["scaling"][selected].clone()
    if rule == "halve":
        log_scales[rows, axis_index] -= math.log(2.0)
    else:
        opacities, widths = (table.to(scales.device) for table in child_shape_table(offset))
        parent_opacity = model.get_opacity[selected][:, 0]
        index = torch.round(parent_opacity.clamp(0, 1) * (opacities.numel() - 1)).long()
        log_scales[rows, axis_index] += torch.log(widths[index])
        opacity = inverse_sigmoid(opacities[index].clamp(1e-4, 0.99))[:, None]
        children["opacity"] = torch.cat((opacity, opacity))
    children["scaling"] = torch.cat((log_scales, log_scales))
    return children


def at_predicted_contact(xyz: torch.Tensor, predicted: torch.Tensor, indices: torch.Tensor,
                         num_neighbors: int) -> torch.Tensor:
    """(N,) bool: True for the `indices` (M,) that have a Gaussian of another predicted class
    (N,) among their `num_neighbors` nearest (positions xyz (N, 3))."""
    contact = torch.zeros(xyz.shape[0], dtype=torch.bool, device=xyz.device)
    if indices.numel():
        _, has_other = boundary_normals(xyz, predicted, indices, num_neighbors)
        contact[indices[has_other]] = True
    return contact


@torch.no_grad()
def igd_round(model: GaussianModel, stats: GaussianStatistics, predicted: torch.Tensor, threshold: float,
              max_fraction: float, num_neighbors: int, split_rule: str = "halve", quantile: float = 0.0,
              contact_only: bool = False) -> IGDRound:
    """One IGD densification round on `model` (and its `stats`); `predicted` (N,) is each
    Gaussian's class; candidates as in the module docstring. The identity-gradient statistics
    restart at zero afterwards."""
    mean_grad = stats.mean_identity_gradient()
    threshold = candidate_threshold(mean_grad, stats.identity_grad_denom[:, 0] > 0, threshold, quantile)
    eligible = None
    if contact_only:
        eligible = at_predicted_contact(model.get_xyz, predicted, torch.nonzero(mean_grad > threshold).squeeze(1),
                                        num_neighbors)
    selected, num_candidates = select_boundary_gaussians(mean_grad, threshold, max_fraction, eligible)
    without_boundary = 0
    if selected.numel() > 0:
        normals, has_boundary = boundary_normals(model.get_xyz, predicted, selected, num_neighbors)
        without_boundary = int((~has_boundary).sum())
        children = split_along_normals(model, selected, normals, has_boundary, split_rule)
        mask = torch.zeros(model.num_points, dtype=torch.bool, device=mean_grad.device)
        mask[selected] = True
        replace_gaussians(model, stats, mask, children)
    stats.reset(IDENTITY_FIELDS)
    return IGDRound(num_candidates, int(selected.numel()), threshold, without_boundary,
                    model.num_points)
