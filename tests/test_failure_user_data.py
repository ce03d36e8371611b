"""Never destroy what the user has: `--force` replaces only a folder its program wrote, a refused
run writes nothing, and bad input fails in one line (README "Failure behaviour")."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import edit
import prepare_masks
import render
import train
import view
from apps.viewer.server import check_port_free
from arguments import read_cfg_args
from bench.synthetic.scene import SyntheticSceneConfig, exact_depths, make_synthetic_scene
from bench.synthetic.segmenter_masks import SegmenterErrors, write_segmenter_masks
from prep.depth import check_model_cameras
from prep.geometry import read_reconstruction, scene_views
from tests.conftest import ROOT, make_scene
from tests.failure_helpers import TINY_FLAGS, error_lines, run_train
from utils.errors import DataError
from utils.image_io import read_id_map, write_png


def tree_hash(folder) -> str:
    """One hash of every file's relative path and bytes under `folder` (empty folders count too)."""
    digest = hashlib.sha256()
    for dirpath, dirnames, files in sorted(os.walk(folder)):
        dirnames.sort()
        digest.update(os.path.relpath(dirpath, folder).encode() + b"/\n")
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            digest.update(os.path.relpath(path, folder).encode() + b"\n")
            with open(path, "rb") as fh:
                digest.update(hashlib.sha256(fh.read()).digest())
    return digest.hexdigest()


MASK_SCENE = SyntheticSceneConfig(num_views=8, width=48, height=36, supersample=1, num_points=400)


@pytest.fixture
def mask_scene(tmp_path, monkeypatch):
    """(scene, masks folder, argv) of a synthetic scene whose --depth_model is its exact depth."""
    scene = str(tmp_path / "scene")
    make_synthetic_scene(scene, MASK_SCENE)
    depth = exact_depths(MASK_SCENE)
    monkeypatch.setattr("prep.prepare.depth_maps", lambda model, views, *rest: [depth[v.name] for v in views])
    masks = str(tmp_path / "raw")
    write_segmenter_masks(scene, masks, SegmenterErrors(), seed=0)
    return scene, masks, ["-s", scene, "--masks", masks, "--depth_model", "exact-depth", "--no_completion"]


@pytest.mark.parametrize("out", ["images", ".", "sparse", "sparse/0", "MASKS", "OUTSIDE", "..", "user_folder"])
def test_prepare_masks_force_never_replaces_what_it_did_not_write(mask_scene, tmp_path, capsys, out):
    scene, masks, argv = mask_scene
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "notes.txt").write_text("the user's")
    os.makedirs(os.path.join(scene, "user_folder"))
    with open(os.path.join(scene, "user_folder", "keep.txt"), "w") as fh:
        fh.write("the user's")
    out = {"MASKS": masks, "OUTSIDE": str(outside)}.get(out, out)
    before = tree_hash(tmp_path)
    capsys.readouterr()
    assert prepare_masks.main(argv + ["--out", out, "--force"]) == 1
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and ("--out" in lines[0] or "--force replaces only" in lines[0]), lines
    assert tree_hash(tmp_path) == before


def test_prepare_masks_force_replaces_its_own_output(mask_scene, capsys):
    scene, masks, argv = mask_scene
    before = tree_hash(masks), tree_hash(os.path.join(scene, "images")), tree_hash(os.path.join(scene, "sparse"))
    out = os.path.join(scene, "associated")
    assert prepare_masks.main(argv + ["--out", "associated"]) == 0
    os.remove(os.path.join(out, "frame_00000.png"))
    assert prepare_masks.main(argv + ["--out", "associated"]) == 1            # exists: refused
    assert prepare_masks.main(argv + ["--out", "associated", "--force"]) == 0
    assert os.path.isfile(os.path.join(out, "frame_00000.png"))               # rebuilt ...
    assert (tree_hash(masks), tree_hash(os.path.join(scene, "images")),
            tree_hash(os.path.join(scene, "sparse"))) == before               # ... inputs untouched
    assert not [n for n in os.listdir(scene) if n.startswith(".")]            # no build folder left


# ----------------------------------------------------------------------------- train.py --resume
@pytest.fixture(scope="module")
def trained_sh1(tiny_scene, tmp_path_factory):
    """A tiny run whose sh_degree (1) comes from its config file, with checkpoints at 10 and 20."""
    folder = tmp_path_factory.mktemp("resume")
    config = folder / "config.json"
    config.write_text('{"sh_degree": 1}')
    model = folder / "m"
    assert train.main(["-s", tiny_scene, "-m", str(model), *TINY_FLAGS, "--config_file", str(config)]) == 0
    return model


@pytest.fixture
def resumable(trained_sh1, tmp_path):
    return shutil.copytree(trained_sh1, tmp_path / "m")


@pytest.mark.parametrize("flags, setting", [(["--num_classes", "32"], "num_classes"),
                                            (["--sh_degree", "3"], "sh_degree"),
                                            (["--num_objects", "8"], "num_objects")])
def test_a_refused_resume_names_the_setting_and_writes_nothing(tiny_scene, resumable, capsys, flags, setting):
    before = tree_hash(resumable)
    code, _, err = run_train(capsys, tiny_scene, resumable, "--resume", *flags)
    assert code == 1
    [line] = error_lines(err)
    assert f"it has {setting} " in line and f"--{setting}" in line, line
    assert tree_hash(resumable) == before


def test_a_resume_without_the_config_file_continues_the_runs_settings(tiny_scene, resumable, capsys):
    code, out, err = run_train(capsys, tiny_scene, resumable, "--resume")
    assert code == 0, err
    assert "at iteration 21" in out
    assert read_cfg_args(str(resumable))["sh_degree"] == 1
    assert render.main(["-m", str(resumable), "--skip_train", "--quiet"]) == 0


def test_a_resume_on_another_scene_is_refused_unless_asked(tiny_scene, resumable, tmp_path, capsys):
    other = make_scene(tmp_path / "other", "--seed", 5, "--num_views", 8, "--width", 64, "--height", 48,
                       "--num_objects", 3)
    before = tree_hash(resumable)
    code, _, err = run_train(capsys, other, resumable, "--resume")
    assert code == 1
    [line] = error_lines(err)
    assert f"was trained on {tiny_scene}" in line and "--resume_other_scene" in line
    assert tree_hash(resumable) == before
    code, _, err = run_train(capsys, other, resumable, "--resume", "--resume_other_scene")
    assert code == 0, err
    assert read_cfg_args(str(resumable))["source_path"] == other


# ----------------------------------------------------------------------------- one-line errors
@pytest.mark.parametrize("main, argv, message", [
    (view.main, ["-m", "any", "--port", "70000"], "argument --port: port 70000 is not a port number (1-65535)"),
    (view.main, ["-m", "any", "--port", "-1"], "argument --port: port -1 is not a port number (1-65535)"),
    (train.main, ["-s", "any", "-m", "any", "--viewer_port", "70000"],
     "--viewer_port 70000 is not a port number (1-65535)"),
])
def test_port_numbers_are_checked_before_anything_runs(main, argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("error: " + message)


def test_the_viewer_refuses_a_port_number_in_one_line():
    with pytest.raises(ValueError, match="viewer port 70000 is not a port number"):
        check_port_free("127.0.0.1", 70000)


# ----------------------------------------------------------------------------- prepare_masks input
def test_all_background_masks_are_refused_and_nothing_is_written(mask_scene, tmp_path, capsys):
    scene, masks, argv = mask_scene
    for name in os.listdir(masks):
        if name.endswith(".png"):
            write_png(os.path.join(masks, name), np.zeros((MASK_SCENE.height, MASK_SCENE.width), np.uint8))
    capsys.readouterr()
    assert prepare_masks.main(argv + ["--out", "associated"]) == 1
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith("error: no object associated from 0 masks (the masks hold no id > 0)")
    assert not os.path.exists(os.path.join(scene, "associated"))


@pytest.mark.parametrize("value", ["1", "0", "-3"])
def test_num_classes_below_two_is_refused(mask_scene, value, capsys):
    with pytest.raises(SystemExit):
        prepare_masks.main(mask_scene[2] + ["--num_classes", value])
    assert "argument --num_classes: must be at least" in capsys.readouterr().err


def test_objects_beyond_num_classes_are_reported(mask_scene, capsys):
    scene, masks, argv = mask_scene
    assert prepare_masks.main(argv + ["--out", "associated", "--num_classes", "2"]) == 0
    out = capsys.readouterr().out
    assert f"warning: {MASK_SCENE.num_objects - 1} more objects were found than --num_classes 2" in out


def test_samples_per_view_must_be_positive(mask_scene, capsys):
    with pytest.raises(SystemExit):
        prepare_masks.main(mask_scene[2] + ["--samples_per_view", "-5"])
    assert "argument --samples_per_view: must be at least 1, got -5" in capsys.readouterr().err


def test_colour_masks_are_read_as_one_id_per_colour(mask_scene, capsys):
    """Instances painted in colours that differ only in green or blue stay apart."""
    scene, masks, argv = mask_scene
    assert prepare_masks.main(argv + ["--out", "from_ids"]) == 0
    palette = np.array([[0, 0, 0]] + [[90, 20 * k % 256, (255 - 7 * k) % 256] for k in range(1, 256)], np.uint8)
    for name in os.listdir(masks):
        if name.endswith(".png"):
            ids = read_id_map(os.path.join(masks, name))
            write_png(os.path.join(masks, name), palette[ids])
    assert prepare_masks.main(argv + ["--out", "from_colours"]) == 0
    for name in sorted(os.listdir(os.path.join(scene, "from_ids"))):
        if name.endswith(".png"):
            assert np.array_equal(read_id_map(os.path.join(scene, "from_ids", name)),
                                  read_id_map(os.path.join(scene, "from_colours", name))), name


def test_a_sam_config_that_is_not_an_object_is_one_line(mask_scene, tmp_path, capsys):
    scene, _, _ = mask_scene
    config = tmp_path / "sam.json"
    config.write_text('["sam", "ckpt.pth"]')
    capsys.readouterr()
    assert prepare_masks.main(["-s", scene, "--sam", str(config), "--out", "from_sam"]) == 1
    [line] = error_lines(capsys.readouterr().err)
    assert "the SAM config must be a JSON object" in line and "not a list" in line


def test_a_depth_model_of_another_scene_is_refused(mask_scene, tmp_path):
    scene, _, _ = mask_scene
    reconstruction, model_dir = read_reconstruction(scene)
    views = scene_views(reconstruction, model_dir)
    model = tmp_path / "depth_model"
    model.mkdir()
    cameras = [{"img_name": v.name, "position": (-v.world_to_camera[:3, :3].T @ v.world_to_camera[:3, 3]).tolist()}
               for v in views]
    (model / "cameras.json").write_text(json.dumps(cameras))
    check_model_cameras(str(model), views)                      # its own scene: accepted
    (model / "cameras.json").write_text(json.dumps([{**c, "img_name": "IMG_" + c["img_name"]} for c in cameras]))
    with pytest.raises(DataError, match=f"not trained on this scene: {len(views)} of {len(views)} views"):
        check_model_cameras(str(model), views)
    moved = [{**c, "position": [p + 0.5 for p in c["position"]]} for c in cameras]
    (model / "cameras.json").write_text(json.dumps(moved))
    with pytest.raises(DataError, match="trained with other cameras than this scene's"):
        check_model_cameras(str(model), views)


# ----------------------------------------------------------------------------- edit.py
@pytest.mark.parametrize("plan, message", [
    ({"edits": [{"op": "remove", "objects": [1], "convex_hull": "no"}]},
     "edit 1: 'convex_hull' must be true or false, got 'no'"),
    ({"edits": [{"op": "recolour", "objects": [1], "rgb": [1, 0, 0], "view_dependent": "false"}]},
     "edit 1: 'view_dependent' must be true or false, got 'false'"),
    ({"edits": [{"op": "remove", "objects": [1]}], "render": "false"}, "'render' must be true or false"),
    ({"edits": [], "export_groups": 1}, "'export_groups' must be true or false, got 1"),
    ({"edits": [{"op": "remove", "objects": ["a"]}], "prompt_ids": {"a": [1]}},
     "'prompt_ids' is the path of a prompts JSON file"),
    ({"edits": [{"op": "remove", "objects": [1]}], "prompt_ids": [1, 2]}, "got list [1, 2]"),
])
def test_edit_file_values_of_the_wrong_type_are_one_line(tmp_path, capsys, plan, message):
    path = tmp_path / "edits.json"
    path.write_text(json.dumps({"model": "m", "output": str(tmp_path / "o"), **plan}))
    capsys.readouterr()
    assert edit.main(["--edits", str(path)]) == 1
    [line] = error_lines(capsys.readouterr().err)
    assert message in line and str(path) in line


def test_removing_every_object_is_refused_and_writes_nothing(trained_sh1, tmp_path, capsys):
    before = tree_hash(trained_sh1)
    out = tmp_path / "empty"
    capsys.readouterr()
    assert edit.main(["-m", str(trained_sh1), "-o", str(out), "--remove", *map(str, range(8))]) == 1
    [line] = error_lines(capsys.readouterr().err)
    assert "the edits remove all" in line and "nothing was written" in line
    assert not out.exists() and tree_hash(trained_sh1) == before
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


# ----------------------------------------------------------------------------- killed tools
@pytest.mark.slow
def test_killed_prepare_masks_and_edit_leave_their_inputs_and_rerun(tmp_path):
    """scripts/fault_injection.py with 2 kills per command (BENCHMARKS.md records 10)."""
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "fault_injection.py"), str(tmp_path),
                             "--trials", "2", "--seed", "1"], capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| prepare_masks.py")
            or line.startswith("| edit.py")]
    assert len(rows) == 2 and all("| 2/2 | 2/2 | 2/2 |" in row for row in rows), result.stdout
