"""Checks of the cameras a reader produced, before any pixel is loaded or any Gaussian trained.

A focal length of 0 would divide by zero, a NaN one trains silently to a blank scene, a NaN
pose surfaces much later in the KNN, and a camera set without spread (one training view, or
views from a single spot) gives a scene radius of 0, which zeroes the position learning rate:
such a set gets a radius from its points, with a warning. Every other problem is a DataError
naming the file and the image.
"""
from __future__ import annotations

import math

import numpy as np

from utils.errors import DataError, warn_once

# A camera spread below this fraction of the distance to the scene's points counts as none.
DEGENERATE_SPREAD_RATIO = 1e-3
ROTATION_TOLERANCE = 1e-3
# Radius assumed when neither the cameras nor any initial points give the scene a size.
UNSIZED_SCENE_RADIUS = 1.0


def check_intrinsics(fx: float, fy: float, width: int, height: int, where: str) -> None:
    """Focal lengths positive and finite (pixels), image size positive."""
    for name, value in (("fx", fx), ("fy", fy)):
        if not (math.isfinite(value) and value > 0):
            raise DataError(f"{where}: focal length {name} = {value}; it must be a positive, "
                            f"finite number of pixels")
    if not (width > 0 and height > 0):
        raise DataError(f"{where}: image size {width}x{height} must be positive")


def check_pose(R: np.ndarray, T: np.ndarray, where: str) -> None:
    """R (3, 3) a finite rotation (orthonormal, det +1), T (3,) finite."""
    R, T = np.asarray(R, dtype=np.float64), np.asarray(T, dtype=np.float64)
    if R.shape != (3, 3) or T.shape != (3,) or not (np.all(np.isfinite(R)) and np.all(np.isfinite(T))):
        raise DataError(f"{where}: camera pose is not finite (rotation {R.tolist()}, translation "
                        f"{T.tolist()})")
    if not np.allclose(R.T @ R, np.eye(3), atol=ROTATION_TOLERANCE) or np.linalg.det(R) < 0:
        raise DataError(f"{where}: camera rotation is not a rotation matrix (not orthonormal)")


def check_camera_infos(cam_infos: list, source: str) -> None:
    """Every CameraInfo's pose, fields of view (0 < fov < pi) and size; `source` is the file
    the cameras came from."""
    for cam in cam_infos:
        where = f"{source}: image {cam.image_name}"
        check_pose(cam.R, cam.T, where)
        for name, fov in (("FovX", cam.FovX), ("FovY", cam.FovY)):
            if not (math.isfinite(fov) and 0 < fov < math.pi):
                raise DataError(f"{where}: field of view {name} = {fov} rad is not in (0, pi); "
                                f"check its focal length")
        if not (cam.width > 0 and cam.height > 0):
            raise DataError(f"{where}: image size {cam.width}x{cam.height} must be positive")


def check_points(points: np.ndarray, source: str) -> None:
    """The initial point cloud (N, 3) is finite."""
    bad = ~np.all(np.isfinite(points), axis=1)
    if bad.any():
        raise DataError(f"{source}: {int(bad.sum())} of {len(points)} initial points are not finite "
                        f"(first at row {int(np.argmax(bad))})")


def ensure_scene_extent(normalization: dict, points: np.ndarray, source: str) -> dict:
    """`normalization` (translate (3,), radius) when the training cameras have spread.
    Otherwise (one training view, or all at one spot: radius ~0, so Gaussians would never
    move) the radius is 1.1 x the median distance of the initial points (N, 3) to the
    cameras' centre, or UNSIZED_SCENE_RADIUS without points; either way with a warning."""
    centre = -np.asarray(normalization["translate"], dtype=np.float64)
    radius = float(normalization["radius"])
    distances = np.linalg.norm(np.asarray(points, dtype=np.float64).reshape(-1, 3) - centre, axis=1)
    scene_distance = 1.1 * float(np.median(distances)) if distances.size else 0.0
    if radius > 0 and radius > DEGENERATE_SPREAD_RATIO * scene_distance:
        return normalization
    if scene_distance > 0:
        fallback, basis = scene_distance, "the initial points' distance to the cameras"
    else:
        fallback, basis = UNSIZED_SCENE_RADIUS, "no initial points either, so 1 scene unit"
    warn_once(f"degenerate_extent:{source}",
              f"{source}: the training cameras have no spread (radius {radius:.3g}: one view, or "
              f"all at one position); using scene radius {fallback:.4g} ({basis}) so that the "
              f"Gaussians can move. Add views from other positions for a measured extent.")
    return {"translate": normalization["translate"], "radius": fallback}
