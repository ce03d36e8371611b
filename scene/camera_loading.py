"""Turning the readers' CameraInfos into Cameras: load, check and resize images and masks."""
from __future__ import annotations

import os
from typing import Optional

import cv2
import numpy as np
import torch

from gaussian_renderer.device import resolve_data_device
from scene.cameras import Camera, camera_centre
from scene.dataset_readers import CameraInfo
from utils import image_io
from utils.errors import DataError, warn_once
from utils.graphics_utils import fov2focal

MAX_AUTO_WIDTH = 1600  # 3DGS: wider images are downscaled unless -r is given
RESOLUTION_DIVISORS = (1, 2, 4, 8)


def cameraList_from_camInfos(cam_infos: list, resolution_scale: float, args,
                             device: torch.device | str = "cpu") -> list[Camera]:
    """Load every view. `args` provides `resolution` (-r), `white_background`,
    `num_classes`, `allow_missing_masks` and `data_device`; matrices go to `device`."""
    data_device = resolve_data_device(args.data_device, torch.device(device))
    return [loadCam(args, uid, cam_info, resolution_scale, data_device, device)
            for uid, cam_info in enumerate(cam_infos)]


def loadCam(args, uid: int, cam_info: CameraInfo, resolution_scale: float,
            data_device: torch.device | str = "cpu", device: torch.device | str | None = None) -> Camera:
    """One view: RGB image (3, H, W) and object ids (H, W) at the `-r` resolution.

    The mask is matched to the image's size first (nearest neighbour, warned once), then
    both go through the same undistortion and resize, so ids stay aligned with pixels.
    """
    image = image_io.read_rgb(cam_info.image_path, args.white_background)
    objects = _load_objects(cam_info, image.shape[:2], args)
    if cam_info.undistortion is not None:
        image, objects = _undistort(cam_info, image, objects)
    else:
        _check_aspect_ratio(cam_info, image)
    height, width = image.shape[:2]
    target_width, target_height = target_resolution(width, height, resolution_scale,
                                                    args.resolution)
    if (target_width, target_height) != (width, height):
        shrinking = target_width < width
        image = cv2.resize(image, (target_width, target_height),
                           interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        if objects is not None:
            objects = _resize_ids(objects, target_width, target_height)
    return Camera(uid=uid, R=cam_info.R, T=cam_info.T, FoVx=cam_info.FovX, FoVy=cam_info.FovY,
                  image=torch.from_numpy(image).permute(2, 0, 1),
                  objects=None if objects is None else torch.from_numpy(objects.astype(np.int64)),
                  image_name=cam_info.image_name, data_device=data_device, device=device)


def camera_to_json(index: int, cam_info: CameraInfo) -> dict:
    """A view as in 3DGS's `cameras.json` (read by viewers such as SIBR): `position` is the
    camera centre and `rotation` the camera-to-world rotation, row by row."""
    return {"id": index, "img_name": cam_info.image_name,
            "width": cam_info.width, "height": cam_info.height,
            "position": camera_centre(cam_info.R, cam_info.T).tolist(),
            "rotation": np.asarray(cam_info.R).tolist(),  # R is already camera-to-world
            "fy": fov2focal(cam_info.FovY, cam_info.height),
            "fx": fov2focal(cam_info.FovX, cam_info.width)}


def target_resolution(width: int, height: int, resolution_scale: float,
                      resolution: int) -> tuple[int, int]:
    """3DGS's `-r` rule: 1, 2, 4, 8 divide the size; -1 keeps it unless the image is wider
    than 1600 px, which is then scaled to 1600 wide (said once); any other positive value
    is the target width. `resolution_scale` divides the result further."""
    if resolution in RESOLUTION_DIVISORS:
        scale = resolution_scale * resolution
    elif resolution == -1:
        if width > MAX_AUTO_WIDTH:
            warn_once("auto_resolution",
                      f"images wider than {MAX_AUTO_WIDTH} px are downscaled to {MAX_AUTO_WIDTH} "
                      "px wide; pass -r 1 (--resolution 1) to train at full resolution")
            scale = resolution_scale * width / MAX_AUTO_WIDTH
        else:
            scale = resolution_scale
    elif resolution > 0:
        scale = resolution_scale * width / resolution
    else:
        raise ValueError(f"resolution must be -1, 1, 2, 4, 8 or a target width in pixels, "
                         f"got {resolution}")
    return max(1, round(width / scale)), max(1, round(height / scale))


def _load_objects(cam_info: CameraInfo, image_size: tuple[int, int],
                  args) -> Optional[np.ndarray]:
    """The view's ids (H, W) at the image's size, or None if it has no mask and that is allowed."""
    mask_path = cam_info.mask_path
    if mask_path is None or not os.path.isfile(mask_path):
        if args.allow_missing_masks:
            return None
        expected = f"{mask_path} does not exist" if mask_path else "no mask folder is set"
        raise DataError(f"{cam_info.image_path}: no object mask for this image ({expected}). "
                        "Pass --allow_missing_masks to train such views without the 2D "
                        "identity loss.")
    ids = image_io.read_id_map(mask_path)
    too_large = np.unique(ids[ids >= args.num_classes])
    if too_large.size:
        raise DataError(f"{mask_path}: mask id {int(too_large[0])} is >= num_classes "
                        f"({args.num_classes}); ids present that are too large: "
                        f"{too_large[:10].tolist()}")
    height, width = image_size
    if ids.shape != (height, width):
        warn_once("mask_resize",
                  f"{mask_path}: mask is {ids.shape[1]}x{ids.shape[0]} but its image is "
                  f"{width}x{height}; masks are resized with nearest neighbour "
                  "(reported once per run)")
        ids = _resize_ids(ids, width, height)
    return ids


def _resize_ids(ids: np.ndarray, width: int, height: int) -> np.ndarray:
    # NEAREST_EXACT samples at pixel centres (as PIL's NEAREST); no id is blended or invented.
    return cv2.resize(ids, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)


def _undistort(cam_info: CameraInfo, image: np.ndarray,
               objects: Optional[np.ndarray]) -> tuple[np.ndarray, Optional[np.ndarray]]:
    undistortion = cam_info.undistortion
    source_width, source_height = undistortion.source_size
    if image.shape[:2] != (source_height, source_width):
        raise DataError(f"{cam_info.image_path}: image is {image.shape[1]}x{image.shape[0]} but "
                        f"its camera intrinsics are for {source_width}x{source_height}")
    parameters = (undistortion.source_K, undistortion.dist_coeffs, undistortion.target_K)
    image = image_io.undistort_image(image, *parameters, cv2.INTER_LINEAR)
    if objects is not None:
        objects = image_io.undistort_image(objects, *parameters, cv2.INTER_NEAREST)
    return image, objects


def _check_aspect_ratio(cam_info: CameraInfo, image: np.ndarray) -> None:
    """The image may be a downscaled copy (3DGS's `-i images_4`), but with the camera's shape:
    FoVx and FoVy come from the camera's size."""
    height, width = image.shape[:2]
    ratio_difference = abs(width / cam_info.width - height / cam_info.height)
    if ratio_difference > 1.0 / cam_info.width + 1.0 / cam_info.height:  # beyond +-1 px rounding
        raise DataError(f"{cam_info.image_path}: image is {width}x{height} but its camera is "
                        f"{cam_info.width}x{cam_info.height}; a different aspect ratio would make "
                        "the field of view wrong")
