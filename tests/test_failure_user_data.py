"""Never destroy what the user has: `--force` replaces only a folder its program wrote, a refused
run writes nothing, and bad input fails in one line (README "Failure behaviour")."""
from __future__ import annotations

import hashlib
import os
import shutil

import numpy as np
import pytest

import prepare_masks
import render
import train
import view
from apps.viewer.server import check_port_free
from arguments import read_cfg_args
from bench.synthetic.raytrace import render_view
from bench.synthetic.scene import SyntheticSceneConfig, make_synthetic_scene, scene_geometry
from bench.synthetic.segmenter_masks import SegmenterErrors, write_segmenter_masks
from tests.conftest import make_scene
from tests.failure_helpers import TINY_FLAGS, error_lines, run_train


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


def exact_depth(config: SyntheticSceneConfig) -> dict[str, np.ndarray]:
    """The synthetic scene's ray-cast depth per view (H, W), NaN where no surface is hit: a
    stand-in for a trained depth model."""
    geometry, cameras = scene_geometry(config)
    depth = {}
    for k, camera in enumerate(cameras):
        render = render_view(geometry, camera, 1)
        z = (render.points @ camera.world_to_camera[:3, :3].T + camera.world_to_camera[:3, 3])[..., 2]
        depth[f"frame_{k:05d}"] = np.where(render.hit, z, np.nan)
    return depth


MASK_SCENE = SyntheticSceneConfig(num_views=8, width=48, height=36, supersample=1, num_points=400)


@pytest.fixture
def mask_scene(tmp_path, monkeypatch):
    """(scene, masks folder, argv) of a synthetic scene whose --depth_model is its exact depth."""
    scene = str(tmp_path / "scene")
    make_synthetic_scene(scene, MASK_SCENE)
    depth = exact_depth(MASK_SCENE)
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
