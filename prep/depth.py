"""Depth maps of a scene's views rendered from a trained GradiSeg / 3DGS model.

The model is typically a short RGB-only training on the converted scene (`train.py` with
`config/prep/depth.json`, no masks needed); its expected depth (blended view-space z divided by
opacity) gives every pixel a 3D position, also on surfaces without SfM features.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from arguments import PipelineParams
from gaussian_renderer import render
from prep.geometry import View
from scene.cameras import Camera
from scene.gaussian_model import GaussianModel
from scene.model_folder import load_model
from utils.atomic_io import read_json
from utils.errors import DataError
from utils.graphics_utils import focal2fov

MIN_OPACITY = 0.5   # pixels the model covers less than this get no depth (NaN)
CAMERA_TOLERANCE = 1e-3   # camera centres may differ by this share of the cameras' spread


def check_model_cameras(model_dir: str, views: list[View]) -> None:
    """Refuse a depth model trained on another scene (or another SfM run of it): its
    `cameras.json` must hold every view, by name, at the same camera centre."""
    path = os.path.join(model_dir, "cameras.json")
    if not os.path.isfile(path):
        raise DataError(f"depth model {model_dir} has no cameras.json to check it was trained on this scene")
    cameras = read_json(path, "camera list of the depth model")
    if not isinstance(cameras, list) or not all(isinstance(c, dict) and "img_name" in c for c in cameras):
        raise DataError(f"{path}: not a camera list as train.py writes it")
    by_name = {c["img_name"]: c for c in cameras}
    unknown = [v.name for v in views if v.name not in by_name]
    if unknown:
        raise DataError(f"depth model {model_dir} was not trained on this scene: {len(unknown)} of {len(views)} "
                        f"views are not among its cameras (first: {unknown[0]}); train it on this scene")
    centres = np.array([-v.world_to_camera[:3, :3].T @ v.world_to_camera[:3, 3] for v in views])
    theirs = np.array([by_name[v.name]["position"] for v in views], dtype=np.float64)
    spread = max(float(np.linalg.norm(centres - centres.mean(axis=0), axis=1).max()), 1e-9)
    offset = np.linalg.norm(centres - theirs, axis=1)
    if offset.max() > CAMERA_TOLERANCE * spread:
        worst = int(offset.argmax())
        raise DataError(f"depth model {model_dir} was trained with other cameras than this scene's (view "
                        f"{views[worst].name} is {offset[worst] / spread:.2f} camera spreads away): train it "
                        f"on this scene as converted now")


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
    """Depth (H, W) of every view from the model in `model_dir` (trained on these views'
    scene), rendered on `device`."""
    check_model_cameras(model_dir, views)
    gaussians = load_model(model_dir, iteration, device).gaussians
    return [render_depth(gaussians, view) for view in views]
