"""Failure handling, case 3: a model folder holding another run is refused unless the run resumes or
--overwrite clears it; a resumed run keeps one metrics curve; a re-render leaves no stale
prompt mask."""
import csv
import json
import os
import shutil

import pytest

import render
import train
from arguments import read_cfg_args
from tests.failure_helpers import TINY_FLAGS, error_lines, run_train


@pytest.fixture(scope="module")
def trained(tiny_scene, tmp_path_factory):
    model = tmp_path_factory.mktemp("owned") / "m"
    assert train.main(["-s", tiny_scene, "-m", str(model), *TINY_FLAGS]) == 0
    return model


@pytest.fixture
def model(trained, tmp_path):
    return shutil.copytree(trained, tmp_path / "m")


def folder_state(model) -> dict:
    return {os.path.relpath(os.path.join(root, name), model): os.path.getmtime(os.path.join(root, name))
            for root, _, names in os.walk(model) for name in names}


def loss_rows(model) -> list[int]:
    with open(os.path.join(model, "metrics.csv"), newline="") as fh:
        return [int(r["iteration"]) for r in csv.DictReader(fh) if r["name"] == "train/loss"]


def test_training_into_another_runs_folder_is_refused_and_changes_nothing(tiny_scene, model, capsys):
    before = folder_state(model)
    code, _, err = run_train(capsys, tiny_scene, model, "--iterations", "15")
    assert code == 1
    [line] = error_lines(err)
    assert f"model folder {model} holds another run's results" in line
    assert "chkpnt10.pth" in line and "point_cloud" in line and "--overwrite" in line and "--resume" in line
    assert folder_state(model) == before


def test_overwrite_clears_the_old_run_but_not_foreign_files(tiny_scene, model, capsys):
    (model / "notes.txt").write_text("mine")
    code, out, _ = run_train(capsys, tiny_scene, model, "--iterations", "15", "--save_iterations", "15",
                             "--checkpoint_iterations", "--overwrite")
    assert code == 0
    assert "--overwrite: removed" in out
    assert sorted(os.listdir(model / "point_cloud")) == ["iteration_15"]
    assert not list(model.glob("chkpnt*")) and (model / "notes.txt").read_text() == "mine"
    assert read_cfg_args(str(model))["iterations"] == 15
    assert max(loss_rows(model)) == 15
    capsys.readouterr()
    assert render.main(["-m", str(model), "--skip_train", "--quiet"]) == 0
    assert sorted(os.listdir(model / "test")) == ["ours_15"]


def test_resume_continues_from_the_latest_checkpoint_with_one_curve(tiny_scene, model, capsys):
    assert loss_rows(model) == [10, 20, 30]
    code, out, err = run_train(capsys, tiny_scene, model, "--resume")
    assert code == 0, err
    assert f"Resuming from {model / 'chkpnt20.pth'} at iteration 21" in out
    assert loss_rows(model) == [10, 20, 30]   # 21..30 logged again, the first copies dropped


def test_resume_without_a_checkpoint_and_contradicting_flags_are_one_line(tiny_scene, tmp_path, model,
                                                                          capsys):
    code, _, err = run_train(capsys, tiny_scene, tmp_path / "new", "--resume")
    assert code == 1 and "--resume: no chkpnt<N>.pth in" in error_lines(err)[0]
    code, _, err = run_train(capsys, tiny_scene, model, "--resume", "--overwrite")
    assert code == 1 and "cannot be combined" in error_lines(err)[0]


def test_a_folder_where_a_run_stopped_before_training_can_be_reused(tiny_scene, tmp_path, capsys):
    model = tmp_path / "m"
    os.makedirs(model)
    (model / "cfg_args").write_text("{}")
    (model / "metrics.csv").write_text("iteration,name,value\n")
    code, _, err = run_train(capsys, tiny_scene, model, "--iterations", "5", "--save_iterations",
                             "--checkpoint_iterations")
    assert code == 0, err


def test_rerender_with_fewer_prompts_leaves_no_stale_masks(model, tmp_path, capsys):
    two, one = tmp_path / "two.json", tmp_path / "one.json"
    two.write_text(json.dumps({"first": [1], "second": [2]}))
    one.write_text(json.dumps({"first": [1]}))
    test_dir = model / "test" / "ours_30"
    assert render.main(["-m", str(model), "--skip_train", "--quiet", "--prompt_ids", str(two)]) == 0
    views = sorted(os.listdir(test_dir / "test_mask"))
    assert sorted(os.listdir(test_dir / "test_mask" / views[0])) == ["first.png", "second.png"]
    assert render.main(["-m", str(model), "--skip_train", "--quiet", "--prompt_ids", str(one)]) == 0
    for view in views:
        assert os.listdir(test_dir / "test_mask" / view) == ["first.png"]
    assert json.loads((test_dir / "prompts.json").read_text()) == {"first": [1]}
    assert render.main(["-m", str(model), "--skip_train", "--quiet"]) == 0
    assert not (test_dir / "test_mask").exists() and not (test_dir / "prompts.json").exists()
