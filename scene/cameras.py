"""A training/test view: its image, object-id mask and 3DGS camera matrices."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from utils.graphics_utils import getProjectionMatrix, getWorld2View2

ZNEAR = 0.01
ZFAR = 100.0


def camera_centre(R: np.ndarray, T: np.ndarray) -> np.ndarray:
    """World position (3,) of a camera from 3DGS's R (transposed world-to-camera) and T."""
    return -np.asarray(R) @ np.asarray(T)


class Camera:
    """A view in the 3DGS conventions (see docs/ARCHITECTURE.md, "Camera conventions").

    `R` (3, 3) is the transposed world-to-camera rotation and `T` (3,) the world-to-camera
    translation (OpenCV axes: x right, y down, z forward). The matrices are stored
    transposed for row vectors: `p_view = [p, 1] @ world_view_transform`.
    """

    def __init__(self, uid: int, R: np.ndarray, T: np.ndarray, FoVx: float, FoVy: float,
                 image: torch.Tensor, objects: Optional[torch.Tensor], image_name: str,
                 data_device: str | torch.device = "cpu", device: str | torch.device | None = None):
        """image: (3, H, W) float in [0, 1]; objects: (H, W) integer ids, or None when
        the view has no mask (it is then trained without the 2D identity loss). They are kept
        on `data_device`; the camera matrices live on the compute `device` (default: the same)."""
        if objects is not None and tuple(objects.shape) != tuple(image.shape[1:]):
            raise ValueError(f"view {image_name}: objects {tuple(objects.shape)} do not match "
                             f"the image {tuple(image.shape[1:])}")
        self.uid = uid
        self.image_name = image_name
        self.R = np.asarray(R, dtype=np.float64)
        self.T = np.asarray(T, dtype=np.float64)
        self.FoVx = float(FoVx)
        self.FoVy = float(FoVy)
        self.data_device = torch.device(data_device)
        self.original_image = image.to(self.data_device, torch.float32).clamp(0.0, 1.0)
        self.objects = None if objects is None else objects.to(self.data_device, torch.int64)
        self.image_height = int(image.shape[1])
        self.image_width = int(image.shape[2])
        self.znear = ZNEAR
        self.zfar = ZFAR

        # Contiguous copies: the rasterizer extensions read these buffers directly.
        world_view = torch.tensor(getWorld2View2(self.R, self.T)).T.contiguous()
        projection = getProjectionMatrix(self.znear, self.zfar, self.FoVx, self.FoVy).T.contiguous()
        self.device = self.data_device if device is None else torch.device(device)
        self.world_view_transform = world_view.to(self.device)
        self.projection_matrix = projection.to(self.device)
        self.full_proj_transform = self.world_view_transform @ self.projection_matrix
        self.camera_center = torch.linalg.inv(self.world_view_transform)[3, :3]
