"""Depth maps of a scene's views rendered from a trained GradiSeg / 3DGS model.

The model is typically a short RGB-only training on the converted scene (`train.py` with
`config/prep/depth.json`, no masks needed); its expected depth (blended view-space z divided by
opacity) gives every pixel a 3D position, also on surfaces without SfM features.
"""
from __future__ import annotations

import numpy as np
import torch

from arguments import PipelineParams
from gaussian_renderer import render
from prep.geometry import View
from scene.cameras import Camera
from scene.gaussian_model import GaussianModel
from scene.model_folder import load_model
from utils.graphics_utils import focal2fov

MIN_OPACITY = 0.5   # pixels the model covers less than this get no depth (NaN)


def view_camera(view: View, device: torch.device | str = "cpu") -> Camera:
    """A renderable camera of `view` on `device` (no image: a zero placeholder of the view's size)."""
    rotation, translation = view.world_to_camera[:3, :3], view.world_to_camera[:3, 3]
    return Camera(uid=0, R=rotation.T, T=translation, FoVx=focal2fov(view.K[0, 0], view.width),
                  FoVy=focal2fov(view.K[1, 1], view.height), image=torch.zeros(3, view.height, view.width),
                  objects=None, image_name=view.name, data_device="cpu", device=device)


@torch.no_grad()
def render_depth(gaussians: GaussianModel, view: View, pipe: PipelineParams = PipelineParams()) -> np.ndarray:
    """Expected camera-z depth (H, W) of the model in `view`; NaN where opacity < MIN_OPACITY."""
    out = render(view_camera(view, gaussians.device), gaussians, pipe, torch.zeros(3, device=gaussians.device))
    alpha = out["alpha"][0]
    depth = out["depth"][0] / alpha.clamp_min(1e-6)
    depth[alpha < MIN_OPACITY] = float("nan")
    return depth.cpu().numpy()


def depth_maps(model_dir: str, views: list[View], iteration: int = -1,
               device: torch.device | str = "cpu") -> list[np.ndarray]:
    """Depth (H, W) of every view from the model in `model_dir`, rendered on `device`."""
    gaussians = load_model(model_dir, iteration, device).gaussians
    return [render_depth(gaussians, view) for view in views]
