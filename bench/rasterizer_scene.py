"""The rasterizer benchmarks' scene: one camera and N random Gaussians in its view.

Random Gaussians spread through the view frustum at depths 2..8, anisotropic scales whose
projected standard deviation is 1..8 px (log-uniform) at `reference_width` px image width (so
0.5..4 px at half that width), opacities 0.1..0.9, random rotations, SH degree 3 colours and
`num_objects` identity channels. Used by scripts/perf/bench_rasterizer.py and the side-by-side with
Gaussian Grouping's rasterizer (bench/peer_rasterizer.py).
"""
from __future__ import annotations

import math

import torch

from gaussian_renderer.contract import GaussianRasterizationSettings
from utils.graphics_utils import getProjectionMatrix

FOV_X = math.radians(60.0)


def make_scene(n: int, width: int, height: int, num_objects: int = 16, seed: int = 0,
               reference_width: int = 256) -> tuple[GaussianRasterizationSettings, dict]:
    """Settings of a camera at the origin looking down +z and n random Gaussians in its view.
    The inputs (CPU, float32): means3D (n, 3), opacities (n, 1), shs (n, 16, 3),
    sh_objs (n, 1, num_objects), scales (n, 3), rotations (n, 4)."""
    g = torch.Generator().manual_seed(seed)
    fov_y = 2 * math.atan(math.tan(FOV_X / 2) * height / width)
    tan_x, tan_y = math.tan(FOV_X / 2), math.tan(fov_y / 2)
    z = 2.0 + 6.0 * torch.rand(n, generator=g)
    x = (2 * torch.rand(n, generator=g) - 1) * 1.1 * tan_x * z
    y = (2 * torch.rand(n, generator=g) - 1) * 1.1 * tan_y * z
    focal_at_reference = reference_width / (2 * tan_x)
    sigma_px = torch.exp(torch.rand(n, 3, generator=g) * math.log(8.0))
    inputs = dict(
        means3D=torch.stack([x, y, z], dim=1),
        opacities=0.1 + 0.8 * torch.rand(n, 1, generator=g),
        shs=0.3 * torch.randn(n, 16, 3, generator=g),
        sh_objs=torch.randn(n, 1, num_objects, generator=g),
        scales=sigma_px * z[:, None] / focal_at_reference,
        rotations=torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=1),
    )
    view = torch.eye(4)
    settings = GaussianRasterizationSettings(
        image_height=height, image_width=width, tanfovx=tan_x, tanfovy=tan_y, bg=torch.zeros(3),
        scale_modifier=1.0, viewmatrix=view, projmatrix=view @ getProjectionMatrix(0.01, 100.0, FOV_X, fov_y).T,
        sh_degree=3, campos=torch.zeros(3))
    return settings, inputs
