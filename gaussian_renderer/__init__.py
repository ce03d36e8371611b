"""render(camera, gaussians, pipe, bg) -> dict: one view of a GaussianModel (3DGS / Gaussian
Grouping semantics) through the rasterizer chosen by `pipe.backend` (see backend.py)."""
from __future__ import annotations

import math

import torch

from gaussian_renderer.backend import get_rasterizer
from gaussian_renderer.contract import GaussianRasterizationSettings
from utils.sh_utils import colors_from_sh


def rasterization_settings(viewpoint_camera, bg_color: torch.Tensor, scaling_modifier: float,
                           sh_degree: int, debug: bool = False) -> GaussianRasterizationSettings:
    """Rasterizer settings for a scene.cameras.Camera (3DGS conventions)."""
    return GaussianRasterizationSettings(
        image_height=int(viewpoint_camera.image_height),
        image_width=int(viewpoint_camera.image_width),
        tanfovx=math.tan(viewpoint_camera.FoVx * 0.5),
        tanfovy=math.tan(viewpoint_camera.FoVy * 0.5),
        bg=bg_color,
        scale_modifier=scaling_modifier,
        viewmatrix=viewpoint_camera.world_view_transform,
        projmatrix=viewpoint_camera.full_proj_transform,
        sh_degree=sh_degree,
        campos=viewpoint_camera.camera_center,
        prefiltered=False,
        debug=debug,
    )


def render(viewpoint_camera, pc, pipe, bg_color: torch.Tensor, scaling_modifier: float = 1.0,
           override_color: torch.Tensor | None = None,
           override_objects: torch.Tensor | None = None) -> dict:
    """Render pc (a GaussianModel) from viewpoint_camera over bg_color (3,).

    Returns render (3, H, W), render_object (D, H, W), depth (1, H, W), alpha (1, H, W),
    viewspace_points (N, 3) whose .grad[:, :2] after backward is dL/d(NDC centre) (the
    densification statistic), visibility_filter (N,) bool and radii (N,) int32.
    override_color (N, 3) replaces the SH colours; override_objects (N, 1, L), any L, replaces
    the identity encodings (render_object is then (L, H, W)).
    """
    means3D = pc.get_xyz
    # A leaf tensor, so its .grad is kept after backward (3DGS's retain_grad).
    screenspace_points = torch.zeros_like(means3D, requires_grad=True)
    settings = rasterization_settings(viewpoint_camera, bg_color, scaling_modifier,
                                      pc.active_sh_degree, pipe.debug)

    scales = rotations = cov3D_precomp = None
    if pipe.compute_cov3D_python:
        cov3D_precomp = pc.get_covariance(scaling_modifier)
    else:
        scales, rotations = pc.get_scaling, pc.get_rotation

    shs = colors_precomp = None
    if override_color is not None:
        colors_precomp = override_color
    elif pipe.convert_SHs_python:
        colors_precomp = colors_from_sh(pc.active_sh_degree, pc.get_features, means3D,
                                        viewpoint_camera.camera_center)
    else:
        shs = pc.get_features

    objects = pc.get_objects if override_objects is None else override_objects
    rasterize = get_rasterizer(pipe.backend)
    out = rasterize(settings, means3D=means3D, means2D=screenspace_points, opacities=pc.get_opacity,
                    shs=shs, colors_precomp=colors_precomp, sh_objs=objects, scales=scales,
                    rotations=rotations, cov3D_precomp=cov3D_precomp)
    return {
        "render": out.color,
        "render_object": out.objects,
        "depth": out.depth,
        "alpha": out.alpha,
        "viewspace_points": screenspace_points,
        "visibility_filter": out.radii > 0,
        "radii": out.radii,
    }
