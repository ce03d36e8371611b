"""Mask IoU and Boundary IoU (Cheng et al. 2021) on boolean (H, W) masks.

The protocol is that of Gaussian Grouping's `script/eval_lerf_mask.py`, which uses the Boundary
IoU authors' `mask_to_boundary`: a mask's boundary is the set of its pixels within chessboard
distance `d` of a pixel outside it, where everything outside the image counts as outside the mask
(so an object cut by the image border has a boundary along that border), and
`d = max(1, round(dilation_ratio * image_diagonal))`.

Empty masks get defined values here. GG divides by the union unguarded, so when prediction and
ground truth are both empty it reports NaN (and `np.mean` then turns the prompt's mean into NaN);
we return 1.0 there (the prediction is exactly right). When only one mask is empty both GG and we
return 0.0.
"""
from __future__ import annotations

import math

import cv2
import numpy as np


def _check_mask_pair(pred: np.ndarray, gt: np.ndarray) -> None:
    for name, mask in (("pred", pred), ("gt", gt)):
        if mask.dtype != np.bool_ or mask.ndim != 2:
            raise ValueError(f"{name} must be a boolean (H, W) mask, got dtype {mask.dtype} "
                             f"and shape {mask.shape}")
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt masks differ in size: {pred.shape} vs {gt.shape}")


def _overlap_ratio(a: np.ndarray, b: np.ndarray) -> float:
    """|a & b| / |a | b| for boolean arrays; 1.0 when both are empty."""
    union = np.count_nonzero(a | b)
    if union == 0:
        return 1.0
    return np.count_nonzero(a & b) / union


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Intersection over union of boolean masks pred, gt (H, W); 1.0 if both are empty."""
    _check_mask_pair(pred, gt)
    return _overlap_ratio(pred, gt)


def boundary_width(height: int, width: int, dilation_ratio: float = 0.02) -> int:
    """Boundary band width in pixels: max(1, round(dilation_ratio * image diagonal)).

    Python's `round` (half to even) as in the reference code, so widths agree exactly.
    """
    if not dilation_ratio >= 0:  # also rejects NaN
        raise ValueError(f"dilation_ratio must be >= 0, got {dilation_ratio}")
    return max(1, int(round(dilation_ratio * math.sqrt(height * height + width * width))))


def mask_to_boundary(mask: np.ndarray, dilation_ratio: float = 0.02) -> np.ndarray:
    """Boundary band of a boolean mask (H, W) -> boolean (H, W).

    The band is `mask` minus its erosion by a (2d+1) x (2d+1) square with pixels outside the
    image taken as background; this equals the reference's `d` erosions by a 3x3 square after
    zero-padding by one pixel.
    """
    if mask.dtype != np.bool_ or mask.ndim != 2:
        raise ValueError(f"mask must be a boolean (H, W) array, got dtype {mask.dtype} "
                         f"and shape {mask.shape}")
    d = boundary_width(mask.shape[0], mask.shape[1], dilation_ratio)
    kernel = np.ones((2 * d + 1, 2 * d + 1), dtype=np.uint8)
    eroded = cv2.erode(mask.astype(np.uint8), kernel,
                       borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return mask & (eroded == 0)


def boundary_iou(pred: np.ndarray, gt: np.ndarray, dilation_ratio: float = 0.02) -> float:
    """Boundary IoU of boolean masks pred, gt (H, W): IoU of their boundary bands.

    A non-empty mask always has a non-empty band, so the band union is empty only when both
    masks are: 1.0 then.
    """
    _check_mask_pair(pred, gt)
    return _overlap_ratio(mask_to_boundary(pred, dilation_ratio),
                          mask_to_boundary(gt, dilation_ratio))
