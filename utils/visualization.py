"""Pictures of identity encodings and object ids: PCA colours, id palettes, strips."""
from __future__ import annotations

import numpy as np
import torch


def id_palette(num_ids: int = 256, seed: int = 7) -> np.ndarray:
    """A fixed colour per id, (num_ids, 3) uint8; id 0 (background) is black."""
    rng = np.random.default_rng(seed)
    palette = rng.integers(40, 256, size=(num_ids, 3), dtype=np.uint8)
    palette[0] = 0
    return palette


def colorize_ids(ids: np.ndarray, palette: np.ndarray | None = None) -> np.ndarray:
    """Id map (H, W) -> RGB (H, W, 3) uint8."""
    palette = id_palette() if palette is None else palette
    return palette[np.clip(ids, 0, len(palette) - 1)]


class FeaturePCA:
    """A 3-component PCA of identity encodings, fitted once (on the Gaussians' encodings)
    so that every view of a model is coloured consistently."""

    def __init__(self, features: torch.Tensor):
        """features: (N, D) samples to fit on."""
        features = features.double()
        self.mean = features.mean(dim=0)
        centred = features - self.mean
        _, _, v = torch.linalg.svd(centred, full_matrices=False)
        self.components = v[:3].T                     # (D, 3)
        projected = centred @ self.components
        self.low = torch.quantile(projected, 0.01, dim=0)
        self.high = torch.quantile(projected, 0.99, dim=0)

    def colorize(self, feature_map: torch.Tensor) -> np.ndarray:
        """(D, H, W) feature map -> RGB (H, W, 3) uint8."""
        d, h, w = feature_map.shape
        flat = feature_map.reshape(d, -1).T.double() - self.mean
        projected = (flat @ self.components - self.low) / (self.high - self.low).clamp_min(1e-12)
        rgb = projected.clamp(0, 1).reshape(h, w, 3)
        return (rgb.cpu().numpy() * 255).round().astype(np.uint8)


def to_uint8_rgb(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float image in [0, 1] -> (H, W, 3) uint8."""
    return (image.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)


def side_by_side(panels: list[np.ndarray], gap: int = 2) -> np.ndarray:
    """Concatenate (H, W, 3) uint8 panels horizontally with white gaps."""
    h = max(p.shape[0] for p in panels)
    columns = []
    for i, panel in enumerate(panels):
        padded = np.full((h, panel.shape[1], 3), 255, np.uint8)
        padded[:panel.shape[0]] = panel
        columns.append(padded)
        if i < len(panels) - 1:
            columns.append(np.full((h, gap, 3), 255, np.uint8))
    return np.concatenate(columns, axis=1)
