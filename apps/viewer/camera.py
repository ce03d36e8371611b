"""Browser camera <-> 3DGS camera.

viser reports the browser's camera as a camera-to-world rotation `wxyz` (quaternion, scalar
first) and position, OpenCV axes (x right, y down, z forward), with the vertical field of
view and the canvas aspect. 3DGS's `Camera` stores `R`, the transposed world-to-camera
rotation, i.e. the camera-to-world rotation itself, and `T = -R^T c` (see scene/cameras.py).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from scene.cameras import Camera, camera_centre

# Smallest picture the viewer renders (pixels along the short side).
MIN_RENDER_SIDE = 8


def camera_to_world_rotation(wxyz: np.ndarray) -> np.ndarray:
    """(3, 3) rotation of a (w, x, y, z) quaternion."""
    w, x, y, z = np.asarray(wxyz, dtype=np.float64)
    return Rotation.from_quat([x, y, z, w]).as_matrix()


def rotation_wxyz(rotation: np.ndarray) -> np.ndarray:
    """(4,) (w, x, y, z) unit quaternion of a (3, 3) rotation."""
    x, y, z, w = Rotation.from_matrix(np.asarray(rotation, dtype=np.float64)).as_quat()
    return np.array([w, x, y, z])


def render_size(aspect: float, height: int) -> tuple[int, int]:
    """(width, height) in pixels of a picture `height` px high with the canvas `aspect` (w / h)."""
    if not (aspect > 0 and height > 0):
        raise ValueError(f"render size needs a positive aspect and height, got {aspect}, {height}")
    height = max(int(height), MIN_RENDER_SIDE)
    return max(int(round(aspect * height)), MIN_RENDER_SIDE), height


def horizontal_fov(fov_y: float, aspect: float) -> float:
    """Horizontal field of view (radians) of a pinhole with vertical `fov_y` and aspect w / h."""
    return 2.0 * math.atan(math.tan(fov_y / 2.0) * aspect)


def viewer_camera(wxyz: np.ndarray, position: np.ndarray, fov_y: float, width: int, height: int,
                  device: torch.device | str = "cpu", uid: int = -1) -> Camera:
    """A 3DGS `Camera` (no image, no mask) for the browser's pose at `width` x `height` px;
    the horizontal field of view follows from the vertical one and the picture's aspect."""
    rotation = camera_to_world_rotation(wxyz)
    translation = -rotation.T @ np.asarray(position, dtype=np.float64)
    image = torch.zeros((3, height, width), dtype=torch.float32)
    return Camera(uid, rotation, translation, horizontal_fov(fov_y, width / height), fov_y, image,
                  None, "viewer", data_device="cpu", device=device)


def camera_pose(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """The viser pose of a 3DGS camera: (wxyz (4,), position (3,))."""
    return rotation_wxyz(camera.R), camera_centre(camera.R, camera.T)


def scene_up_direction(cameras: list[Camera]) -> np.ndarray:
    """(3,) mean 'up' (-y axis) of the cameras in world coordinates, unit length; +z if they
    disagree completely."""
    up = -np.sum([camera.R[:, 1] for camera in cameras], axis=0) if cameras else np.zeros(3)
    norm = np.linalg.norm(up)
    return up / norm if norm > 1e-8 else np.array([0.0, 0.0, 1.0])
