"""Local Adaptive KNN (paper section 3.5, eq. 4): neighbours along a target's neighbouring
direction instead of by plain Euclidean distance.

For a target t with neighbouring direction d_t = -g_t / |g_t| (g_t: its row of the given
field: the accumulated 3D position gradient in the paper, the predicted-id boundary normal by
default, see `method/identity_loss.py`), the candidates are its `num_candidates` Euclidean nearest neighbours;
each candidate i has projection p_i = (x_i - x_t) . d_t; those with p_i > 0 (ahead of t,
towards where t is being pulled: its own object's side, the paper assumes) are kept and the
first K taken, nearest first (`rank_by="distance"`, the default) or by smallest p_i
(`"projection"`, the literal reading (docs/design.md)). Smallest p_i favours candidates far off to the
side, in the plane through t: on our validation scene their own-object share was 1-3.5 points
lower (BENCHMARKS.md, which also measures how weakly d_t points home there). A target with no
usable gradient, or no candidate ahead, falls back to its global KNN. A target with
0 < n < K candidates ahead repeats its best one to fill K slots (our choice: neighbours from
the other side would defeat the point of LA-KNN).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from utils.knn import knn

# Gradients below this norm carry no direction (e.g. a Gaussian never seen since the reset).
MIN_GRADIENT_NORM = 1e-12
RANKINGS = ("distance", "projection")


class NeighbourSelection(NamedTuple):
    rows: torch.Tensor          # (M, K) neighbour indices into the point set
    fallback: torch.Tensor      # (M,) bool, True where global KNN was used


def global_knn(points: torch.Tensor, targets: torch.Tensor, k: int) -> NeighbourSelection:
    """The k Euclidean nearest points of each target, the target itself included (as Gaussian
    Grouping's loss does: its own KL term is zero)."""
    _, rows = knn(points[targets], points, k)
    return NeighbourSelection(rows, torch.ones(targets.shape[0], dtype=torch.bool, device=targets.device))


def candidate_neighbours(points: torch.Tensor, targets: torch.Tensor, k: int, num_candidates: int) -> torch.Tensor:
    """(M, C) LA-KNN's candidates: the max(num_candidates, k) + 1 points (the target itself
    included) nearest to each of `targets` (M,) among `points` (P, 3), nearest first."""
    count = min(max(num_candidates, k) + 1, points.shape[0])
    return knn(points[targets], points, count)[1]


def local_adaptive_knn(points: torch.Tensor, position_grads: torch.Tensor, targets: torch.Tensor,
                       k: int, num_candidates: int = 16, rank_by: str = "distance",
                       candidates: torch.Tensor | None = None) -> NeighbourSelection:
    """LA-KNN neighbours of `targets`.

    points: (P, 3) positions; position_grads: (P, 3) accumulated dL/dx of each point;
    targets: (M,) indices into points; rank_by: "distance" or "projection" (module docstring);
    candidates: `candidate_neighbours(points, targets, k, num_candidates)` when the caller has
    them already. Returns rows (M, k) and the fallback mask (M,).
    """
    if rank_by not in RANKINGS:
        raise ValueError(f"LA-KNN ranking must be one of {RANKINGS}, not '{rank_by}'")
    if candidates is None:
        candidates = candidate_neighbours(points, targets, k, num_candidates)
    global_rows = candidates[:, :k]

    direction = -position_grads[targets]
    norm = direction.norm(dim=1, keepdim=True)
    usable = norm[:, 0] > MIN_GRADIENT_NORM
    direction = direction / norm.clamp_min(MIN_GRADIENT_NORM)

    offsets = points[candidates] - points[targets][:, None, :]          # (M, C, 3)
    projection = (offsets * direction[:, None, :]).sum(dim=-1)          # (M, C)
    ahead = (projection > 0) & (candidates != targets[:, None])
    # The candidates come nearest first, so their column is their distance rank.
    key = projection if rank_by == "projection" else torch.arange(
        projection.shape[1], dtype=projection.dtype, device=projection.device).expand_as(projection)
    key = torch.where(ahead, key, torch.full_like(key, float("inf")))
    order = key.argsort(dim=1, stable=True)[:, :k]
    rows = candidates.gather(1, order)
    valid = ahead.gather(1, order)                                      # (M, k), a prefix per row
    rows = torch.where(valid, rows, rows[:, :1].expand_as(rows))        # repeat the best one

    fallback = ~(usable & valid[:, 0])
    rows = torch.where(fallback[:, None], global_rows, rows)
    return NeighbourSelection(rows, fallback)
