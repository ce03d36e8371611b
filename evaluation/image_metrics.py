"""Reconstruction quality of rendered views against ground truth, from image folders."""
from __future__ import annotations

import os

import numpy as np
import torch

from utils.image_io import read_rgb
from utils.loss_utils import psnr, ssim


def read_rgb_tensor(path: str) -> torch.Tensor:
    """An image file as (3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(read_rgb(path, white_background=False)).permute(2, 0, 1)


def folder_psnr_ssim(renders_dir: str, gt_dir: str, device: torch.device | str = "cpu") -> dict[str, float]:
    """Mean PSNR (dB) and SSIM, computed on `device`, over the images that `renders_dir` and
    `gt_dir` share by name."""
    names = sorted(n for n in os.listdir(gt_dir) if os.path.isfile(os.path.join(renders_dir, n)))
    if not names:
        raise ValueError(f"no image of {gt_dir} has a render in {renders_dir}")
    psnrs, ssims = [], []
    for name in names:
        render = read_rgb_tensor(os.path.join(renders_dir, name)).to(device)
        gt = read_rgb_tensor(os.path.join(gt_dir, name)).to(device)
        psnrs.append(psnr(render, gt).item())
        ssims.append(ssim(render, gt).item())
    return {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)), "num_views": len(names)}
