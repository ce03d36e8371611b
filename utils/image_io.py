"""Reading images and object masks, and undistorting them to a pinhole camera.

Pixels are decoded with OpenCV. Pillow (installed with matplotlib) is used only where
OpenCV cannot do the job: reading an image's size from its header without decoding it,
detecting a truncated JPEG (OpenCV decodes it silently, filling the missing part with
grey), and reading the indices of a palette PNG mask (OpenCV expands them to colours).
Images are read without applying an EXIF orientation, as COLMAP and 3DGS do.
"""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from utils.atomic_io import atomic_path
from utils.errors import DataError, warn_once

_JPEG_MAGIC = b"\xff\xd8"


def read_rgb(path: str, white_background: bool) -> np.ndarray:
    """Read an image as RGB (H, W, 3) float32 in [0, 1].

    Grey images are repeated over the three channels; an alpha channel is composited
    over white (`white_background`) or black, as 3DGS does for Blender scenes.
    """
    pixels = _decode(path)
    if pixels.dtype == np.uint8:
        values = pixels.astype(np.float32) / 255.0
    elif pixels.dtype == np.uint16:
        values = pixels.astype(np.float32) / 65535.0
    else:
        raise DataError(f"{path}: unsupported pixel type {pixels.dtype}; "
                        "expected 8- or 16-bit images")
    if values.ndim == 2:
        return np.repeat(values[:, :, None], 3, axis=2)
    channels = values.shape[2]
    if channels == 3:
        return np.ascontiguousarray(values[:, :, ::-1])  # OpenCV decodes BGR
    if channels == 4:
        rgb, alpha = values[:, :, 2::-1], values[:, :, 3:4]
        background = 1.0 if white_background else 0.0
        return np.ascontiguousarray(rgb * alpha + background * (1.0 - alpha))
    raise DataError(f"{path}: unsupported image with {channels} channels")


def write_png(path: str, image: np.ndarray) -> None:
    """Write an (H, W) uint8/uint16 or (H, W, 3) RGB uint8 image as PNG, atomically; errors name
    the file."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"cannot encode {path} as PNG")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(encoded.tobytes())


def read_id_map(path: str) -> np.ndarray:
    """Read an object mask as integer ids (H, W) (uint8, or uint16 for 16-bit files).

    A 3- or 4-channel mask gives its first (red) channel, with a warning once per run;
    a palette PNG gives its palette indices.
    """
    if _is_palette_png(path):
        try:
            with Image.open(path) as image:
                return np.asarray(image)
        except OSError as error:
            raise DataError(f"{path}: cannot decode the mask ({error})") from error
    ids = _decode(path)
    if ids.dtype not in (np.uint8, np.uint16):
        raise DataError(f"{path}: mask pixels are {ids.dtype}; expected 8- or 16-bit integer ids")
    if ids.ndim == 3:
        warn_once("mask_channels",
                  f"{path}: the mask has {ids.shape[2]} channels; using the first (red) channel "
                  "as object ids (reported once per run)")
        return np.ascontiguousarray(ids[:, :, 2])  # OpenCV decodes BGR(A): red is index 2
    return ids


def read_instance_ids(path: str) -> np.ndarray:
    """Read a segmenter's instance mask as integer ids (H, W): a single-channel or palette mask
    as `read_id_map` does; a colour mask whose channels differ gets one id per colour (black,
    and transparent pixels, are 0; the others 1..K in colour order), as segmenters that paint
    each instance in its own colour write them."""
    if _is_palette_png(path):
        return read_id_map(path)
    pixels = _decode(path)
    if pixels.ndim == 2 or (pixels[..., :3] == pixels[..., :1]).all():
        return read_id_map(path) if pixels.ndim == 2 else np.ascontiguousarray(pixels[..., 0])
    if pixels.dtype != np.uint8:
        raise DataError(f"{path}: a colour mask must be 8-bit per channel, not {pixels.dtype}")
    colour = (pixels[..., 2].astype(np.int64) << 16) | (pixels[..., 1].astype(np.int64) << 8) | pixels[..., 0]
    if pixels.shape[2] == 4:
        colour[pixels[..., 3] == 0] = 0
    values, ids = np.unique(colour, return_inverse=True)
    ids = ids.reshape(colour.shape) + (0 if values[0] == 0 else 1)
    if ids.max() > np.iinfo(np.uint16).max:
        raise DataError(f"{path}: {len(values)} colours; a mask holds at most 65535 instances")
    return ids.astype(np.uint16)


def read_image_size(path: str) -> tuple[int, int]:
    """(width, height) of an image, read from its header."""
    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError as error:
        raise DataError(f"{path}: image file does not exist") from error
    except OSError as error:
        raise DataError(f"{path}: cannot read the image header ({error})") from error


def undistort_image(image: np.ndarray, source_K: np.ndarray, dist_coeffs: np.ndarray,
                    target_K: np.ndarray, interpolation: int) -> np.ndarray:
    """Resample a distorted image (H, W[, C]) onto the pinhole camera `target_K`, same size.

    Intrinsics use OpenCV's convention (pixel centres at integer coordinates).
    Use `cv2.INTER_NEAREST` for id masks so that no new ids appear.
    """
    height, width = image.shape[:2]
    map_x, map_y = cv2.initUndistortRectifyMap(source_K, dist_coeffs, None, target_K,
                                               (width, height), cv2.CV_32FC1)
    return cv2.remap(image, map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)


def _decode(path: str) -> np.ndarray:
    """Decode a file as stored (bit depth, channels, alpha), raising DataError if it cannot be."""
    pixels = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise DataError(f"{path}: cannot decode the image (missing, unreadable or truncated file)")
    if _is_jpeg(path):
        _check_jpeg_complete(path)
    return pixels


def _is_jpeg(path: str) -> bool:
    with open(path, "rb") as file:
        return file.read(2) == _JPEG_MAGIC


def _check_jpeg_complete(path: str) -> None:
    try:
        with Image.open(path) as image:
            image.load()
    except OSError as error:
        raise DataError(f"{path}: the JPEG file is truncated or corrupt ({error})") from error


def _is_palette_png(path: str) -> bool:
    try:
        with Image.open(path) as image:
            return image.format == "PNG" and image.mode == "P"
    except FileNotFoundError as error:
        raise DataError(f"{path}: mask file does not exist") from error
    except OSError:
        return False  # not a format Pillow knows: let OpenCV decode it or report it
