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


def unmatched_views(renders_dir: str, gt_dir: str) -> tuple[list[str], list[str], list[str]]:
    """(shared, renders without ground truth, ground truth without a render): image file names
    of the two folders, each sorted."""
    def files(folder: str) -> set[str]:
        return {n for n in os.listdir(folder) if os.path.isfile(os.path.join(folder, n))
                and not n.startswith(".")}
    renders, gt = files(renders_dir), files(gt_dir)
    return sorted(renders & gt), sorted(renders - gt), sorted(gt - renders)


def folder_psnr_ssim(renders_dir: str, gt_dir: str, allow_missing: bool = False,
                     device: torch.device | str = "cpu") -> dict[str, float]:
    """Mean PSNR (dB) and SSIM, computed on `device`, over the images `renders_dir` and `gt_dir`
    share by name.

    A view on one side only is an error (a mean over fewer views than rendered is not the
    model's score) unless `allow_missing`; either way `num_views` and `num_missing` count them."""
    names, renders_only, gt_only = unmatched_views(renders_dir, gt_dir)
    missing = len(renders_only) + len(gt_only)
    if missing and not allow_missing:
        parts = [f"{len(renders_only)} render(s) without ground truth in {gt_dir} ({', '.join(renders_only[:3])})"
                 if renders_only else "",
                 f"{len(gt_only)} ground-truth view(s) without a render in {renders_dir} ({', '.join(gt_only[:3])})"
                 if gt_only else ""]
        raise ValueError(f"{' and '.join(p for p in parts if p)}; re-run render.py "
                         f"(or score the {len(names)} shared views with --allow_missing_views)")
    if not names:
        raise ValueError(f"no image of {gt_dir} has a render in {renders_dir}")
    psnrs, ssims = [], []
    for name in names:
        render = read_rgb_tensor(os.path.join(renders_dir, name)).to(device)
        gt = read_rgb_tensor(os.path.join(gt_dir, name)).to(device)
        psnrs.append(psnr(render, gt).item())
        ssims.append(ssim(render, gt).item())
    return {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)), "num_views": len(names),
            "num_missing": missing}
