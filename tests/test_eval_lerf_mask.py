"""Folder-level LERF-Mask evaluation and the eval_lerf_mask.py command line, end to end."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from evaluation.lerf_eval import binarize_mask, evaluate_folder, read_binary_mask, resize_to
from tests.test_segmentation_metrics import rect

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))




def write_mask(path, mask, on_value=255, channels=1):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image = mask.astype(np.uint8) * on_value
    if channels == 3:
        image = np.repeat(image[:, :, None], 3, axis=2)
    assert cv2.imwrite(str(path), image)


@pytest.fixture
def scene(tmp_path):
    """Two views, prompts `apple` (both views) and `bear` (v0 only, prediction missing).

    10x10 masks, so the band width is 1 (0.02 * 14.1 rounds to 0, floored at 1).
    v0/apple: squares [1..4]^2 vs [3..6]^2 -> IoU 4/28 = 1/7, BIoU 2/22 = 1/11 (see
    test_segmentation_metrics). v1/apple: identical, prediction stored as 0/1 in 3 channels -> 1, 1.
    v0/bear: no prediction -> 0, 0.
    """
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    shape = (10, 10)
    write_mask(gt / "v0" / "apple.png", rect(shape, (3, 6), (3, 6)))
    write_mask(pred / "v0" / "apple.png", rect(shape, (1, 4), (1, 4)))
    write_mask(gt / "v1" / "apple.png", rect(shape, (0, 5), (2, 8)))
    write_mask(pred / "v1" / "apple.png", rect(shape, (0, 5), (2, 8)), on_value=1, channels=3)
    write_mask(gt / "v0" / "bear.png", rect(shape, (6, 9), (0, 3)))
    (gt / "notes.txt").write_text("not a view folder")
    return gt, pred


def test_folder_scores_means_and_missing(scene):
    gt, pred = scene
    result = evaluate_folder(str(gt), str(pred), scene="toy", method="ours")
    by_pair = {(s.view, s.prompt): s for s in result.scores}
    assert sorted(by_pair) == [("v0", "apple"), ("v0", "bear"), ("v1", "apple")]
    assert by_pair["v0", "apple"].iou == pytest.approx(1 / 7)
    assert by_pair["v0", "apple"].biou == pytest.approx(1 / 11)
    assert (by_pair["v1", "apple"].iou, by_pair["v1", "apple"].biou) == (1.0, 1.0)
    bear = by_pair["v0", "bear"]
    assert (bear.iou, bear.biou, bear.missing) == (0.0, 0.0, True)
    assert result.missing == [os.path.join(str(pred), "v0", "bear.png")]

    apple, bear_summary = result.prompt_summaries()
    assert (apple.prompt, apple.num_views, apple.num_missing) == ("apple", 2, 0)
    assert apple.miou == pytest.approx((1 / 7 + 1) / 2)
    assert apple.mbiou == pytest.approx((1 / 11 + 1) / 2)
    assert (bear_summary.miou, bear_summary.num_views, bear_summary.num_missing) == (0.0, 1, 1)
    # GG's scene number: mean over prompts (apple, bear), not over the three pairs.
    assert result.miou == pytest.approx(2 / 7)
    assert result.mbiou == pytest.approx(3 / 11)


def test_json_and_markdown_contents(scene):
    gt, pred = scene
    result = evaluate_folder(str(gt), str(pred), scene="toy", method="ours")
    data = json.loads(result.to_json())
    assert (data["scene"], data["method"], data["dilation_ratio"]) == ("toy", "ours", 0.02)
    assert data["miou"] == pytest.approx(2 / 7) and data["mbiou"] == pytest.approx(3 / 11)
    assert data["scene_mean_over"] == "prompts"
    assert data["pair_miou"] == pytest.approx((1 / 7 + 1) / 3)
    assert data["pair_mbiou"] == pytest.approx((1 / 11 + 1) / 3)
    assert (data["num_pairs"], data["num_missing"]) == (3, 1)
    assert data["missing"] == [os.path.join(str(pred), "v0", "bear.png")]
    assert [p["prompt"] for p in data["prompts"]] == ["apple", "bear"]
    assert data["masks"][1] == {"view": "v0", "prompt": "bear", "iou": 0.0, "biou": 0.0,
                                "missing": True}

    lines = result.to_markdown().splitlines()
    assert lines[0] == "### toy / ours"
    assert "| apple | 57.14 | 54.55 | 2 | 0 |" in lines  # 4/7, 6/11
    assert "| bear | 0.00 | 0.00 | 1 | 1 |" in lines
    assert "| **mean over 2 prompts** | 28.57 | 27.27 | 3 | 1 |" in lines  # 2/7, 3/11
    assert lines[-1].startswith("Missing predictions (scored 0):") and "bear.png" in lines[-1]


def test_smaller_prediction_is_resized_with_warning(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    # Prediction at half size: nearest upsampling turns pixel [1..4]^2 into [2..9]^2 exactly.
    write_mask(gt / "v" / "cup.png", rect((20, 20), (2, 9), (2, 9)))
    write_mask(pred / "v" / "cup.png", rect((10, 10), (1, 4), (1, 4)))
    with pytest.warns(UserWarning, match="resized"):
        result = evaluate_folder(str(gt), str(pred))
    assert (result.scores[0].iou, result.scores[0].biou) == (1.0, 1.0)
    assert result.resized == [str(pred / "v" / "cup.png")]


def test_resize_matches_pil_nearest():
    Image = pytest.importorskip("PIL.Image")  # GG resizes with PIL's NEAREST
    mask = np.random.default_rng(0).random((37, 53)) > 0.5
    for shape in ((20, 29), (74, 106), (50, 71)):
        expected = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(
            (shape[1], shape[0]), resample=Image.NEAREST)) > 128
        np.testing.assert_array_equal(resize_to(mask, shape, "m.png"), expected)


def test_prediction_with_other_aspect_ratio_is_an_error(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write_mask(gt / "v" / "cup.png", rect((20, 30), (2, 9), (2, 9)))
    write_mask(pred / "v" / "cup.png", rect((30, 20), (2, 9), (2, 9)))
    with pytest.raises(ValueError, match=r"cup\.png.*aspect"):
        evaluate_folder(str(gt), str(pred))


def test_binarisation_rule():
    grey = np.array([[0, 128, 129, 255]], np.uint8)
    np.testing.assert_array_equal(binarize_mask(grey), [[False, False, True, True]])
    labels = np.array([[0, 1, 1, 0]], np.uint8)
    np.testing.assert_array_equal(binarize_mask(labels), [[False, True, True, False]])


def test_unreadable_files_are_named(scene):
    gt, pred = scene
    (pred / "v1" / "apple.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"cannot read mask image .*v1.apple\.png"):
        evaluate_folder(str(gt), str(pred))
    with pytest.raises(ValueError, match="cannot read mask image"):
        read_binary_mask(str(gt / "notes.txt"))


def test_missing_or_empty_folders_are_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="ground-truth folder not found"):
        evaluate_folder(str(tmp_path / "nope"), str(tmp_path))
    (tmp_path / "gt" / "v0").mkdir(parents=True)
    with pytest.raises(ValueError, match="holds no masks"):
        evaluate_folder(str(tmp_path / "gt"), str(tmp_path))
    write_mask(tmp_path / "gt" / "v0" / "cup.png", rect((8, 8), (1, 3), (1, 3)))
    with pytest.raises(FileNotFoundError, match="prediction folder not found"):
        evaluate_folder(str(tmp_path / "gt"), str(tmp_path / "pred"))


def run_cli(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "eval_lerf_mask.py"), *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_prints_table_and_writes_json(scene, tmp_path):
    gt, pred = scene
    out = tmp_path / "results" / "figures.json"
    proc = run_cli("--gt", str(gt), "--pred", str(pred), "--out", str(out), "--method", "ours")
    assert proc.returncode == 0, proc.stderr
    assert "| **mean over 2 prompts** | 28.57 | 27.27 | 3 | 1 |" in proc.stdout
    data = json.loads(out.read_text())
    assert data["method"] == "ours" and data["miou"] == pytest.approx(2 / 7)
    assert os.listdir(out.parent) == ["figures.json"]  # no temporary file left behind


def test_cli_fails_clearly_without_ground_truth(tmp_path):
    proc = run_cli("--gt", str(tmp_path / "missing"), "--pred", str(tmp_path))
    assert proc.returncode != 0
    assert "ground-truth folder not found" in proc.stderr
    assert str(tmp_path / "missing") in proc.stderr
    proc = run_cli("--gt", str(tmp_path), "--pred", str(tmp_path))
    assert proc.returncode != 0 and "holds no masks" in proc.stderr
