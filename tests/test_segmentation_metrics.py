"""IoU / Boundary IoU against hand-computed cases and two independent boundary definitions."""
import cv2
import numpy as np
import pytest
from scipy import ndimage

from evaluation.segmentation_metrics import boundary_iou, boundary_width, iou, mask_to_boundary


def rect(shape, rows, cols):
    """Bool mask of `shape` with rows[0]..rows[1] x cols[0]..cols[1] (inclusive) set."""
    mask = np.zeros(shape, dtype=bool)
    mask[rows[0]:rows[1] + 1, cols[0]:cols[1] + 1] = True
    return mask


def boundary_by_chessboard_distance(mask, d):
    """Cheng et al.'s band: mask pixels within chessboard distance d of a non-mask pixel, where
    the outside of the image is non-mask (one pixel of zero padding is enough for distances)."""
    dist = ndimage.distance_transform_cdt(np.pad(mask, 1), metric="chessboard")[1:-1, 1:-1]
    return mask & (dist <= d)


def boundary_by_reference_procedure(mask, d):
    """The reference's steps: zero-pad by 1, erode d times with a 3x3 square, crop, subtract."""
    padded = cv2.copyMakeBorder(mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=d)[1:-1, 1:-1]
    return (mask.astype(np.uint8) - eroded).astype(bool)


def band_iou(a, b):
    return np.count_nonzero(a & b) / np.count_nonzero(a | b)


def random_blob(rng, shape, smoothness):
    """Smoothed noise thresholded at its 60th percentile: a few irregular blobs, some at borders."""
    field_ = ndimage.gaussian_filter(rng.standard_normal(shape), smoothness)
    return field_ > np.percentile(field_, 60)


def test_boundary_width_follows_reference_rounding():
    assert boundary_width(10, 10) == 1  # 0.02 * 14.1 = 0.28 rounds to 0, floored at 1
    assert boundary_width(300, 400) == 10  # diagonal 500
    assert boundary_width(738, 994) == 25  # diagonal 1238.01 -> 24.76
    assert boundary_width(75, 100) == 2  # 0.02 * 125 = 2.5: Python's round is half to even
    assert boundary_width(20, 20, dilation_ratio=0.07) == 2  # 0.07 * 28.28 = 1.98
    with pytest.raises(ValueError, match="dilation_ratio"):
        boundary_width(10, 10, dilation_ratio=-0.1)


def test_overlapping_squares_width_1():
    # 4x4 squares [1..4]^2 and [3..6]^2 in 10x10 (d = 1): overlap [3..4]^2 = 4, union 28.
    pred, gt = rect((10, 10), (1, 4), (1, 4)), rect((10, 10), (3, 6), (3, 6))
    assert iou(pred, gt) == pytest.approx(4 / 28)
    # Each band is the 12-pixel ring around its 2x2 core ([2..3]^2 and [4..5]^2). In the overlap,
    # (3,3) is pred core and (4,4) gt core, so the rings share (3,4) and (4,3): 2 / (12 + 12 - 2).
    expected_pred_band = rect((10, 10), (1, 4), (1, 4)) & ~rect((10, 10), (2, 3), (2, 3))
    np.testing.assert_array_equal(mask_to_boundary(pred), expected_pred_band)
    assert boundary_iou(pred, gt) == pytest.approx(2 / 22)
    assert boundary_iou(gt, pred) == pytest.approx(2 / 22)


def test_overlapping_squares_width_2():
    # 8x8 squares [2..9]^2 and [6..13]^2 in 20x20 with d = 2: cores [4..7]^2 and [8..11]^2,
    # rings 64 - 16 = 48 each. Overlap [6..9]^2 (16 px) minus both cores' parts ([6..7]^2 and
    # [8..9]^2) leaves 8 shared ring pixels: BIoU = 8 / (48 + 48 - 8); IoU = 16 / 112.
    pred, gt = rect((20, 20), (2, 9), (2, 9)), rect((20, 20), (6, 13), (6, 13))
    assert iou(pred, gt) == pytest.approx(16 / 112)
    assert np.count_nonzero(mask_to_boundary(pred, dilation_ratio=0.07)) == 48
    assert boundary_iou(pred, gt, dilation_ratio=0.07) == pytest.approx(8 / 88)


def test_boundary_at_image_border_is_boundary():
    # Top half of a 6x6 image (rows 0..2), d = 1. The image outside counts as background, so
    # rows 0 and 2 and columns 0 and 5 are band; only row 1, columns 1..4 survive erosion.
    mask = rect((6, 6), (0, 2), (0, 5))
    expected = mask & ~rect((6, 6), (1, 1), (1, 4))
    np.testing.assert_array_equal(mask_to_boundary(mask), expected)
    # A full image: its band is the outer ring.
    full = np.ones((5, 5), dtype=bool)
    np.testing.assert_array_equal(mask_to_boundary(full), full & ~rect((5, 5), (1, 3), (1, 3)))


def test_empty_masks_have_defined_values():
    empty, square = np.zeros((8, 8), bool), rect((8, 8), (2, 5), (2, 5))
    assert iou(empty, empty) == 1.0 and boundary_iou(empty, empty) == 1.0
    assert iou(empty, square) == 0.0 and boundary_iou(empty, square) == 0.0
    assert iou(square, empty) == 0.0 and boundary_iou(square, empty) == 0.0
    assert not mask_to_boundary(empty).any()


def test_identical_and_disjoint_masks():
    a, b = rect((12, 9), (0, 4), (0, 3)), rect((12, 9), (7, 11), (5, 8))
    assert iou(a, a) == 1.0 and boundary_iou(a, a) == 1.0
    assert iou(a, b) == 0.0 and boundary_iou(a, b) == 0.0


@pytest.mark.parametrize("seed,shape,ratio", [
    (0, (64, 64), 0.02), (1, (90, 120), 0.02), (2, (37, 151), 0.05),
    (3, (200, 150), 0.02), (4, (160, 200), 0.03),
])
def test_boundary_matches_independent_definitions_on_random_blobs(seed, shape, ratio):
    rng = np.random.default_rng(seed)
    pred, gt = random_blob(rng, shape, 4.0), random_blob(rng, shape, 6.0)
    d = boundary_width(*shape, dilation_ratio=ratio)
    for mask in (pred, gt):
        band = mask_to_boundary(mask, ratio)
        np.testing.assert_array_equal(band, boundary_by_chessboard_distance(mask, d))
        np.testing.assert_array_equal(band, boundary_by_reference_procedure(mask, d))
        assert band.any() and (band != mask).any()  # neither empty nor the whole mask
    expected = band_iou(boundary_by_chessboard_distance(pred, d),
                        boundary_by_chessboard_distance(gt, d))
    assert boundary_iou(pred, gt, ratio) == pytest.approx(expected, abs=1e-12)
    assert iou(pred, gt) == pytest.approx(band_iou(pred, gt), abs=1e-12)
    assert 0.0 < boundary_iou(pred, gt, ratio) < 1.0


def test_bad_inputs_are_rejected():
    square = rect((8, 8), (2, 5), (2, 5))
    with pytest.raises(ValueError, match="differ in size"):
        iou(square, np.zeros((8, 9), bool))
    with pytest.raises(ValueError, match="boolean"):
        boundary_iou(square.astype(np.uint8) * 255, square)
    with pytest.raises(ValueError, match="boolean"):
        mask_to_boundary(np.zeros((2, 8, 8), bool))
