"""The own-capture recipe of docs/own_capture.md end to end, each step the command a user runs:
photos -> convert.py -> a segmenter's per-view masks -> RGB-only depth model (train.py) ->
prepare_masks.py -> train.py on the associated masks -> render.py, scored against exact masks."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from bench.harness import reference_view
from bench.prep_benchmark import masks_of, view_names
from bench.synthetic.scene import SyntheticSceneConfig, make_synthetic_scene
from bench.synthetic.segmenter_masks import SegmenterErrors, association_accuracy, write_segmenter_masks
from evaluation.lerf_eval import evaluate_folder
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def run(*args: str) -> str:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_photos_to_segmentation(tmp_path):
    truth, scene = tmp_path / "truth", tmp_path / "mytable"
    make_synthetic_scene(str(truth), SyntheticSceneConfig(num_views=24, width=160, height=120, supersample=1,
                                                          num_points=100, ground_texture="noise"))
    shutil.copytree(truth / "images", scene / "input")
    run("convert.py", "-s", str(scene), "--camera", "SIMPLE_PINHOLE")
    assert len(os.listdir(scene / "images")) == 24
    write_segmenter_masks(str(truth), str(scene / "sam_masks"), SegmenterErrors(), seed=0)
    # The recipe's depth model, on a shorter schedule than config/prep/depth.json (its depth
    # agreement is about 93 %, so prepare_masks.py warns; the association still holds here).
    depth_model = str(tmp_path / "mytable_rgb")
    run("train.py", "-s", str(scene), "-m", depth_model, "--config_file", "config/prep/depth.json", "--quiet",
        "--iterations", "1500", "--position_lr_max_steps", "1500", "--densify_until_iter", "1000")
    log = run("prepare_masks.py", "-s", str(scene), "--masks", str(scene / "sam_masks"), "--depth_model", depth_model)
    assert "confirmed by 2 other views" in log
    with open(scene / "object_mask" / "association.json") as fh:
        record = json.load(fh)
    names = view_names(str(scene))
    exact, associated, raw = (masks_of(str(folder), names) for folder in (
        truth / "object_mask", scene / "object_mask", scene / "sam_masks"))
    assert record["num_objects"] == len({int(i) for m in exact for i in m.ravel().tolist()} - {0})
    assert record["settings"]["depth_agreement"]["agreement"] > 0.9
    assert association_accuracy(associated, exact, [m > 0 for m in raw]).accuracy > 0.95

    shutil.copytree(truth / "test_mask", scene / "test_mask")
    model = str(tmp_path / "mytable")
    run("train.py", "-s", str(scene), "-m", model, "--config_file", "config/bench/prep_train.json", "--eval", "--quiet")
    view = reference_view(str(scene))
    run("render.py", "-m", model, "--skip_train", "--quiet", "--reference_masks", str(scene / "test_mask" / view),
        "--reference_view", view)
    result = evaluate_folder(str(scene / "test_mask"), os.path.join(model, "test", "ours_1000", "test_mask"))
    # Two runs gave 0.74 and 0.79 (SfM and the depth model are not bitwise repeatable; raw
    # per-view masks score about 0.1, see BENCHMARKS.md).
    assert result.miou > 0.6, result
