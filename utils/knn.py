"""Exact nearest neighbours of 3D points.

The `simple_knn` extension (C++ k-d tree, CUDA when built with it) serves when it is importable;
otherwise scipy's cKDTree does, on a CPU copy. Results are on the input's device either way.
Neighbours are ranked by squared Euclidean distance; rows a point set is too small to fill are
padded with dist2 = +inf and idx = -1.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

try:
    from simple_knn import _C as simple_knn_ext
except ImportError:  # not built: the scipy path serves
    simple_knn_ext = None


def _checked_points(points: torch.Tensor, name: str) -> torch.Tensor:
    """(N, 3) finite coordinates as contiguous float32, or a ValueError naming `name`."""
    if not isinstance(points, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(points).__name__}")
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {tuple(points.shape)}")
    if not points.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {points.dtype}")
    if not bool(torch.isfinite(points).all()):
        raise ValueError(f"{name} has non-finite coordinates")
    return points.detach().to(torch.float32).contiguous()


def _use_extension(device: torch.device) -> bool:
    """The extension whenever it is built (and has CUDA, for CUDA tensors): scripts/perf/bench_knn.py
    timed it 1.3-5x faster than cKDTree at every N in {10k, 100k, 1M}, M in {1000, N},
    k in {3, 5, 32}, uniform and clustered, so no size is sent to scipy."""
    if simple_knn_ext is None:
        return False
    return device.type == "cpu" or (device.type == "cuda" and simple_knn_ext.with_cuda())


def _drop_own_index(dist: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(M, k+1) neighbours of each point among the same points -> (M, k) without the point
    itself. A row whose own index is absent (more than k exact duplicates of it, all at
    distance 0) loses its last column instead: the distances are the same either way."""
    num_rows, width = idx.shape
    is_own = idx == np.arange(num_rows)[:, None]
    is_own[~is_own.any(axis=1), -1] = True
    keep = ~is_own
    return dist[keep].reshape(num_rows, width - 1), idx[keep].reshape(num_rows, width - 1)


def _knn_scipy(query: torch.Tensor, points: torch.Tensor, k: int,
               exclude_self: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """`knn` through cKDTree on the CPU; ties between equal distances come in cKDTree's order."""
    num_queries = query.shape[0]
    dist2 = np.full((num_queries, k), np.inf, dtype=np.float32)
    idx = np.full((num_queries, k), -1, dtype=np.int64)
    found = min(k, points.shape[0] - 1 if exclude_self else points.shape[0])
    if found > 0 and num_queries > 0:
        asked = found + 1 if exclude_self else found
        tree = cKDTree(points.cpu().numpy().astype(np.float64))
        dist, nearest = tree.query(query.cpu().numpy().astype(np.float64), k=asked, workers=-1)
        # cKDTree drops the neighbour axis when asked for one neighbour.
        dist, nearest = dist.reshape(num_queries, asked), nearest.reshape(num_queries, asked)
        if exclude_self:
            dist, nearest = _drop_own_index(dist, nearest)
        dist2[:, :found] = np.square(dist)
        idx[:, :found] = nearest
    return torch.from_numpy(dist2).to(query.device), torch.from_numpy(idx).to(query.device)


def mean_of_found(dist2: torch.Tensor) -> torch.Tensor:
    """(M, k) padded neighbour distances -> (M,) mean over the finite ones, +inf for a row
    with none."""
    found = torch.isfinite(dist2)
    total = torch.where(found, dist2, torch.zeros_like(dist2)).sum(dim=1)
    count = found.sum(dim=1)
    return torch.where(count > 0, total / count.clamp_min(1), torch.full_like(total, float("inf")))


def knn(query: torch.Tensor, points: torch.Tensor, k: int,
        exclude_self: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The k nearest `points` of each `query` point, exactly.

    query: (M, 3); points: (N, 3), on the same device. With `exclude_self`, `query` must be
    `points` itself and each point's own index is left out (exact duplicates of it, at
    distance 0, are still neighbours).
    Returns dist2 (M, k) float32 squared distances, ascending, and idx (M, k) int64 rows of
    `points`. When fewer than k neighbours exist (N < k, or N - 1 < k with `exclude_self`)
    the missing columns hold dist2 = +inf and idx = -1. The extension breaks distance ties
    by lower index; cKDTree in its own order.
    """
    query = _checked_points(query, "query")
    points = _checked_points(points, "points")
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be a non-negative int, got {k!r}")
    if query.device != points.device:
        raise ValueError(f"query is on {query.device} but points are on {points.device}")
    if exclude_self and (query.shape != points.shape or not torch.equal(query, points)):
        raise ValueError("exclude_self=True needs query to be the points themselves")
    if _use_extension(points.device):
        return simple_knn_ext.knn(query, points, k, exclude_self)
    return _knn_scipy(query, points, k, exclude_self)


def mean_sq_dist_to_3nn(points: torch.Tensor) -> torch.Tensor:
    """(N,) mean squared distance of each of `points` (N, 3) to its 3 nearest other points,
    as 3DGS's `distCUDA2` (used to size the initial Gaussians). Exact duplicates count as
    neighbours at distance 0. With N < 4 each point averages over the N - 1 others it has;
    a lone point (N == 1) has none and gets +inf."""
    points = _checked_points(points, "points")
    if _use_extension(points.device):
        return simple_knn_ext.distCUDA2(points)
    dist2, _ = _knn_scipy(points, points, 3, exclude_self=True)
    return mean_of_found(dist2)
