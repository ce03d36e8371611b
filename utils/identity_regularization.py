"""The 3D identity loss of Gaussian Grouping (paper eq. 3): sampled target Gaussians should
classify like their neighbours. Neighbour selection is pluggable: global KNN here,
LA-KNN in `utils/laknn.py`."""
from __future__ import annotations

from typing import Callable

import torch

from utils.knn import knn
from utils.loss_utils import neighbour_kl_loss

# (xyz (P, 3) of the pool, target rows (M,) into the pool, k) -> neighbour rows (M, k) into the pool
NeighbourFn = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


def sample_targets(num_points: int, max_points: int, sample_size: int,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """GG's sampling: a pool of at most `max_points` Gaussians, then `sample_size` targets
    from the pool. Returns (pool (P,) indices into all Gaussians, targets (M,) rows of the pool)."""
    if num_points > max_points:
        pool = torch.randperm(num_points, generator=generator)[:max_points]
    else:
        pool = torch.arange(num_points)
    targets = torch.randperm(pool.numel(), generator=generator)[:sample_size]
    return pool, targets


def global_knn_neighbours(pool_xyz: torch.Tensor, targets: torch.Tensor, k: int) -> torch.Tensor:
    """The k Euclidean nearest pool members of each target, the target itself included as GG
    does (its own KL term is zero). Returns (M, k) rows of the pool."""
    _, idx = knn(pool_xyz[targets], pool_xyz, k)
    return idx


def identity_3d_loss(xyz: torch.Tensor, probs: torch.Tensor, k: int, max_points: int,
                     sample_size: int, generator: torch.Generator,
                     neighbours: NeighbourFn = global_knn_neighbours) -> torch.Tensor:
    """KL between sampled targets' class probabilities and their neighbours' (unweighted).

    xyz: (N, 3) positions (no gradient needed); probs: (N, C) class probabilities.
    """
    pool, targets = sample_targets(xyz.shape[0], max_points, sample_size, generator)
    pool_xyz = xyz[pool].detach()
    k = min(k, pool.numel())
    neighbour_rows = neighbours(pool_xyz, targets, k)
    return neighbour_kl_loss(probs[pool], targets, neighbour_rows)
