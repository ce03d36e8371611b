"""2D inpainters: fill the hole pixels of one image. `OpenCVInpainter` (Telea or Navier-Stokes,
no weights) is the default; `LamaInpainter` runs a LaMa TorchScript export (`big-lama.pt`) that
the user has on disk. Nothing is downloaded.

Every inpainter takes an (H, W, 3) float32 RGB image in [0, 1] and an (H, W) bool mask (True:
fill) and returns the image with the masked pixels filled and every other pixel unchanged.
"""
from __future__ import annotations

import os
from typing import Protocol

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from utils.errors import DataError

OPENCV_METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
INPAINTERS = (*OPENCV_METHODS, "lama")
LAMA_MODULO = 8        # LaMa's downsampling path needs sizes divisible by 8


class Inpainter(Protocol):
    name: str

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """image (H, W, 3) float32 in [0, 1], mask (H, W) bool -> (H, W, 3) float32 in [0, 1]."""


def keep_outside(filled: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`filled` inside `mask`, `image` elsewhere: (H, W, 3) float32."""
    return np.where(mask[..., None], filled, image).astype(np.float32)


class OpenCVInpainter:
    """OpenCV's fast marching (Telea 2004) or Navier-Stokes inpainting on 8-bit RGB."""

    def __init__(self, method: str = "telea", radius: float = 5.0):
        if method not in OPENCV_METHODS:
            raise ValueError(f"unknown OpenCV inpainting method '{method}' (one of {list(OPENCV_METHODS)})")
        self.name = method
        self.method = OPENCV_METHODS[method]
        self.radius = radius

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        pixels = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
        filled = cv2.inpaint(pixels, mask.astype(np.uint8) * 255, self.radius, self.method)
        return keep_outside(filled.astype(np.float32) / 255.0, image, mask)


class LamaInpainter:
    """A LaMa TorchScript module (e.g. the `big-lama.pt` export of lama-cleaner / IOPaint):
    `module(image, mask)` with image (1, 3, H, W) RGB in [0, 1], mask (1, 1, H, W) 1 = hole,
    H and W multiples of 8, returning (1, 3, H, W) in [0, 1]. The input is padded by
    reflection to the next multiple of 8 and the result cropped back."""

    name = "lama"

    def __init__(self, checkpoint: str, device: torch.device | str = "cpu"):
        if not os.path.isfile(checkpoint):
            raise DataError(f"LaMa checkpoint not found: {checkpoint}")
        try:
            self.module = torch.jit.load(checkpoint, map_location=torch.device(device)).eval()
        except (RuntimeError, ValueError) as err:
            raise DataError(f"{checkpoint}: not a TorchScript LaMa module "
                            f"({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
        self.device = torch.device(device)

    @torch.no_grad()
    def __call__(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        height, width = mask.shape
        pad_h, pad_w = -height % LAMA_MODULO, -width % LAMA_MODULO
        x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
        m = torch.from_numpy(mask.astype(np.float32))[None, None]
        padding = (0, pad_w, 0, pad_h)
        x = F.pad(x, padding, mode="reflect") if pad_h < height and pad_w < width else F.pad(x, padding, mode="replicate")
        m = F.pad(m, padding, mode="constant", value=0.0)
        out = self.module(x.to(self.device), m.to(self.device))
        if not (torch.is_tensor(out) and out.shape == x.shape):
            raise DataError(f"the LaMa module returned {getattr(out, 'shape', type(out).__name__)}, "
                            f"expected {tuple(x.shape)}")
        filled = out[0, :, :height, :width].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
        return keep_outside(filled, image, mask)


def make_inpainter(name: str = "telea", lama_checkpoint: str = "", device: torch.device | str = "cpu"
                   ) -> Inpainter:
    """The inpainter `name` ("telea", "ns" or "lama", which needs `lama_checkpoint`)."""
    if name == "lama" or lama_checkpoint:
        if not lama_checkpoint:
            raise ValueError("the LaMa inpainter needs a checkpoint on disk (lama_checkpoint)")
        return LamaInpainter(lama_checkpoint, device)
    return OpenCVInpainter(name)
