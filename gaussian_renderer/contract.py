"""The rasterizer contract every backend honours (docs/ARCHITECTURE.md): the settings of one
view in, a RasterOutput out. `gaussian_renderer.backend` dispatches on the backend names."""
from __future__ import annotations

from typing import NamedTuple

import torch


class GaussianRasterizationSettings(NamedTuple):
    """The rasterizer settings of the contract (any object with these attributes works)."""
    image_height: int
    image_width: int
    tanfovx: float
    tanfovy: float
    bg: torch.Tensor            # (3,)
    scale_modifier: float
    viewmatrix: torch.Tensor    # (4, 4) world_view_transform, row-vector convention
    projmatrix: torch.Tensor    # (4, 4) full_proj_transform, row-vector convention
    sh_degree: int
    campos: torch.Tensor        # (3,)
    prefiltered: bool = False
    debug: bool = False


class RasterOutput(NamedTuple):
    color: torch.Tensor    # (3, H, W)  sum_i w_i c_i + T_final * bg
    radii: torch.Tensor    # (N,) int32, 0 for Gaussians that are not rendered
    objects: torch.Tensor  # (D, H, W)  sum_i w_i e_i
    depth: torch.Tensor    # (1, H, W)  sum_i w_i z_view_i
    alpha: torch.Tensor    # (1, H, W)  sum_i w_i = 1 - T_final
