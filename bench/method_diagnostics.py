"""Measurements that say whether IGD and LA-KNN do what the paper says, on a synthetic scene.

A synthetic scene's geometry is known exactly (docs/design.md section 6), so every Gaussian gets a
true object id: the id of the nearest ray-cast surface point. With it we can ask:
- are the Gaussians with the largest identity gradient the boundary ones (IGD's premise)?
- which share of a boundary Gaussian's neighbours belong to its own object, for global KNN
  and for LA-KNN with a given neighbouring direction (LA-KNN's premise)?
- how many Gaussians, and how many rendered pixels in a band around the true boundaries,
  carry the wrong id?
Use it on a validation scene, never on the benchmark's test masks.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from scipy.spatial import cKDTree

from bench.synthetic.raytrace import render_view
from bench.synthetic.scene import read_scene_config, scene_geometry
from method.laknn import global_knn, local_adaptive_knn
from utils.knn import knn


@dataclass
class SyntheticTruth:
    id_maps: dict[str, np.ndarray]   # view name -> (H, W) exact ids of the pixel-centre rays
    surface_xyz: np.ndarray          # (P, 3) every view's centre-ray hit points
    surface_ids: np.ndarray          # (P,) their object ids (0: ground)


def synthetic_truth(scene_dir: str) -> SyntheticTruth:
    """Re-trace a scene written by `make_synthetic_scene` from its `scene_meta.json`."""
    config, meta = read_scene_config(scene_dir)
    scene, cameras = scene_geometry(config)
    id_maps, xyz, ids = {}, [], []
    for view, camera in zip(meta["views"], cameras):
        render = render_view(scene, camera, supersample=1)
        id_maps[view["name"]] = render.ids
        xyz.append(render.points[render.hit])
        ids.append(render.ids[render.hit])
    return SyntheticTruth(id_maps, np.concatenate(xyz), np.concatenate(ids).astype(np.int64))


def true_gaussian_ids(xyz: torch.Tensor, truth: SyntheticTruth) -> torch.Tensor:
    """(N,) id of the traced surface point nearest to each Gaussian centre (N, 3)."""
    _, nearest = cKDTree(truth.surface_xyz).query(xyz.detach().cpu().numpy())
    return torch.from_numpy(truth.surface_ids[nearest])


def boundary_gaussians(xyz: torch.Tensor, ids: torch.Tensor, k: int = 16) -> torch.Tensor:
    """(N,) bool: among the Gaussian's k nearest Gaussians is one of another true id."""
    _, rows = knn(xyz.detach(), xyz.detach(), min(k + 1, xyz.shape[0]))
    return (ids[rows] != ids[:, None]).any(dim=1)


def neighbour_purity(ids: torch.Tensor, targets: torch.Tensor, rows: torch.Tensor) -> float:
    """Share of the targets' (M,) neighbours (M, K), the target itself excluded, with its id."""
    others = rows != targets[:, None]
    same = (ids[rows] == ids[targets][:, None]) & others
    return same.sum().item() / max(others.sum().item(), 1)


def top_fraction_precision(score: torch.Tensor, positive: torch.Tensor, fraction: float) -> float:
    """Share of positives among the `fraction` of items (N,) with the largest score."""
    count = max(int(fraction * score.numel()), 1)
    return positive[score.topk(count).indices].float().mean().item()


def boundary_band(id_map: np.ndarray, width_px: int) -> np.ndarray:
    """(H, W) bool: pixels within `width_px` (chessboard distance) of a pixel whose 4-neighbour
    has another id in (H, W) ids."""
    edge = np.zeros(id_map.shape, dtype=np.uint8)
    edge[:, 1:] |= id_map[:, 1:] != id_map[:, :-1]
    edge[:, :-1] |= id_map[:, 1:] != id_map[:, :-1]
    edge[1:, :] |= id_map[1:, :] != id_map[:-1, :]
    edge[:-1, :] |= id_map[1:, :] != id_map[:-1, :]
    return cv2.dilate(edge, np.ones((2 * width_px + 1, 2 * width_px + 1), np.uint8)).astype(bool)


@dataclass
class PixelAccuracy:
    band_correct: int = 0
    band_total: int = 0
    interior_correct: int = 0
    interior_total: int = 0

    def add(self, predicted: np.ndarray, truth: np.ndarray, band: np.ndarray) -> None:
        """Count one view's (H, W) predicted ids against the true ids inside and outside `band`."""
        correct = predicted == truth
        self.band_correct += int(correct[band].sum())
        self.band_total += int(band.sum())
        self.interior_correct += int(correct[~band].sum())
        self.interior_total += int((~band).sum())

    @property
    def band(self) -> float:
        return self.band_correct / max(self.band_total, 1)

    @property
    def interior(self) -> float:
        return self.interior_correct / max(self.interior_total, 1)


def global_knn_purity(xyz: torch.Tensor, ids: torch.Tensor, targets: torch.Tensor, k: int) -> float:
    """Own-id share of the k Euclidean nearest neighbours of `targets` (M,)."""
    return neighbour_purity(ids, targets, global_knn(xyz, targets, k + 1).rows)


def laknn_purity(xyz: torch.Tensor, ids: torch.Tensor, targets: torch.Tensor, k: int,
                 num_candidates: int, grads: torch.Tensor, rank_by: str) -> float:
    """Own-id share of the LA-KNN neighbours of `targets` (M,) given the (N, 3) position-gradient
    field `grads` (LA-KNN steps against it)."""
    return neighbour_purity(ids, targets, local_adaptive_knn(xyz, grads, targets, k, num_candidates, rank_by).rows)
