"""The 3D identity loss (Gaussian Grouping's `loss_cls_3d`, the paper's eq. 3): sampled
target Gaussians should classify like their neighbours. Neighbours are the global KNN, or
LA-KNN's (`method/laknn.py`) when a direction is given: the accumulated position gradients
(the paper's), or the Gaussians' predicted classes (IGD's boundary normal, from the target's
class towards the others nearby: LA-KNN then steps towards the target's own class)."""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch

from method.igd import normals_from_neighbours
from method.laknn import candidate_neighbours, global_knn, local_adaptive_knn
from utils.loss_utils import neighbour_kl_loss


class Identity3DLoss(NamedTuple):
    loss: torch.Tensor          # scalar, unweighted
    fallback_fraction: torch.Tensor  # scalar: share of targets that used global KNN (1 for global KNN)


def sample_targets(num_points: int, max_points: int, sample_size: int, generator: torch.Generator,
                   device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """GG's sampling: a pool of at most `max_points` Gaussians, then `sample_size` targets
    from the pool. Returns (pool (P,) indices into all Gaussians, targets (M,) rows of the pool)."""
    # The draws come from `generator` on the CPU, so a seed samples the same Gaussians on any device.
    if num_points > max_points:
        pool = torch.randperm(num_points, generator=generator)[:max_points]
    else:
        pool = torch.arange(num_points)
    targets = torch.randperm(pool.numel(), generator=generator)[:sample_size]
    return pool.to(device), targets.to(device)


@torch.no_grad()
def predicted_normal_field(pool: torch.Tensor, pool_xyz: torch.Tensor, targets: torch.Tensor,
                           candidates: torch.Tensor,
                           class_probabilities: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """(P, 3) LA-KNN field over the pool (P,): at each target (M,) IGD's boundary normal from the
    predicted classes of its LA-KNN `candidates` (M, C) (from its class towards the others;
    LA-KNN steps against the field, so towards its own class), zero elsewhere. Only the targets
    and their candidates are classified."""
    classes = class_probabilities(pool[torch.cat([targets, candidates.reshape(-1)])]).argmax(dim=1)
    own, theirs = classes[:targets.shape[0]], classes[targets.shape[0]:].view_as(candidates)
    others = candidates != targets[:, None]
    same_class = theirs == own[:, None]
    field = torch.zeros_like(pool_xyz)
    field[targets] = normals_from_neighbours(pool_xyz[targets], pool_xyz[candidates], same_class & others,
                                             ~same_class & others)[0]
    return field


def identity_3d_loss(xyz: torch.Tensor, class_probabilities: Callable[[torch.Tensor], torch.Tensor], k: int,
                     max_points: int, sample_size: int, generator: torch.Generator,
                     position_grads: torch.Tensor | None = None,
                     num_candidates: int = 16, ranking: str = "distance",
                     along_predicted_classes: bool = False) -> Identity3DLoss:
    """KL between sampled targets' class probabilities and their neighbours'.

    xyz: (N, 3) positions; class_probabilities: Gaussian indices (U,) -> their class
    probabilities (U, C), asked only for the targets and their neighbours (a few thousand
    rows, not all N); position_grads: (N, 3) accumulated dL/dx for LA-KNN, or
    along_predicted_classes for LA-KNN along the predicted-id normal (`predicted_normal_field`),
    or neither for global KNN; ranking: LA-KNN's candidate order.
    """
    pool, targets = sample_targets(xyz.shape[0], max_points, sample_size, generator, xyz.device)
    pool_xyz = xyz[pool].detach()
    k = min(k, pool.numel())
    if position_grads is None and not along_predicted_classes:
        selection = global_knn(pool_xyz, targets, k)
    else:
        # One candidate query serves the predicted-normal field and LA-KNN's selection.
        candidates = candidate_neighbours(pool_xyz, targets, k, num_candidates)
        if along_predicted_classes:
            field = predicted_normal_field(pool, pool_xyz, targets, candidates, class_probabilities)
        else:
            field = position_grads[pool]
        selection = local_adaptive_knn(pool_xyz, field, targets, k, num_candidates, ranking, candidates)
    # Rows 0..M-1 the targets, then their neighbours row by row (repeats are fine: no unique(),
    # whose data-dependent size the shape-only meta device cannot run).
    probs = class_probabilities(pool[torch.cat([targets, selection.rows.reshape(-1)])])
    num_targets = targets.shape[0]
    positions = torch.arange(probs.shape[0], device=probs.device)
    loss = neighbour_kl_loss(probs, positions[:num_targets], positions[num_targets:].view_as(selection.rows))
    # A tensor, not a float: reading it would wait for the device every step; the trainer logs it now and then.
    return Identity3DLoss(loss, selection.fallback.float().mean())
