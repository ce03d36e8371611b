"""The viewer's display modes: which Gaussians a frame renders, and the picture composed from
what they render. Pure functions of arrays, so each mode is testable without a server.

    RGB                       the render
    Identity features (PCA)   the rendered identity map in the model's PCA colours
    Object ids                predicted ids coloured, blended over the render, boundaries
                              outlined; the picked object's outline highlighted
    Isolate picked object     only the picked object's Gaussians rendered
    Remove picked object      everything but the picked object's Gaussians rendered
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from utils.visualization import FeaturePCA, colorize_ids, side_by_side

MODE_RGB = "RGB"
MODE_FEATURES = "Identity features (PCA)"
MODE_IDS = "Object ids"
MODE_ISOLATE = "Isolate picked object"
MODE_REMOVE = "Remove picked object"
MODES = (MODE_RGB, MODE_FEATURES, MODE_IDS, MODE_ISOLATE, MODE_REMOVE)
# Modes that render a part of the model; without a picked object they show all of it.
GROUP_MODES = (MODE_ISOLATE, MODE_REMOVE)

OUTLINE_COLOUR = (255, 255, 255)
HIGHLIGHT_COLOUR = (255, 220, 0)


@dataclass
class FrameLayers:
    """What one render gives the composition: colour (H, W, 3) uint8, predicted ids (H, W)
    int64, and the identity map (D, H, W) float."""
    rgb: np.ndarray
    ids: np.ndarray
    features: torch.Tensor


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown display mode {mode!r}; one of {', '.join(MODES)}")
    return mode


def shown_gaussians(mode: str, group: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """(N,) bool of the Gaussians a frame renders in `mode`, given the picked object's Gaussians
    `group` (N,) bool (None: nothing picked); None means all of them."""
    check_mode(mode)
    if group is None or mode not in GROUP_MODES:
        return None
    return group if mode == MODE_ISOLATE else ~group


def id_boundaries(ids: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels with a 4-neighbour of another id (both sides of each edge)."""
    edge = np.zeros(ids.shape, dtype=bool)
    horizontal = ids[:, 1:] != ids[:, :-1]
    vertical = ids[1:] != ids[:-1]
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    edge[1:] |= vertical
    edge[:-1] |= vertical
    return edge


def blend_ids(rgb: np.ndarray, ids: np.ndarray, opacity: float = 0.5,
              highlight: Optional[int] = None, palette: Optional[np.ndarray] = None) -> np.ndarray:
    """The id colours (utils.visualization's palette) blended over `rgb` (H, W, 3) uint8 with
    `opacity`, id boundaries in white and the inner boundary of id `highlight` in yellow."""
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"id overlay opacity must be in [0, 1], got {opacity}")
    colours = colorize_ids(ids, palette).astype(np.float32)
    image = ((1.0 - opacity) * rgb.astype(np.float32) + opacity * colours).round().astype(np.uint8)
    image[id_boundaries(ids)] = OUTLINE_COLOUR
    if highlight is not None:
        inside = ids == highlight
        image[id_boundaries(inside) & inside] = HIGHLIGHT_COLOUR
    return image


def compose(mode: str, layers: FrameLayers, pca: FeaturePCA, opacity: float = 0.5,
            picked: Optional[int] = None) -> np.ndarray:
    """The picture (H, W, 3) uint8 of `mode` from a frame's layers (in the group modes the
    layers are already those of the shown Gaussians)."""
    check_mode(mode)
    if mode == MODE_FEATURES:
        return pca.colorize(layers.features)
    if mode == MODE_IDS:
        return blend_ids(layers.rgb, layers.ids, opacity, highlight=picked)
    return layers.rgb


def ground_truth_strip(render: np.ndarray, gt_image: np.ndarray, gt_ids: Optional[np.ndarray],
                       predicted_ids: np.ndarray) -> np.ndarray:
    """render | ground truth | ground-truth mask (if the view has one) | predicted ids, each
    (H, W, 3) uint8 (ids (H, W)), side by side."""
    panels = [render, gt_image] + ([colorize_ids(gt_ids)] if gt_ids is not None else [])
    return side_by_side(panels + [colorize_ids(predicted_ids)])
