"""Failure handling, cases 2 and 5: an iteration folder appears whole or not at all, its PLY and
classifier are tied by a manifest, and OS errors while saving are one line naming the path and
what was kept."""
import csv
import errno
import os
import shutil

import pytest
import torch

import render
import train
from scene import Scene
from scene.gaussian_model import GaussianModel
from scene.identity_classifier import IdentityClassifier
from scene.model_folder import (
    MANIFEST_NAME,
    is_complete,
    point_cloud_dir,
    search_for_max_iteration,
    write_iteration_folder,
)
from tests.failure_helpers import TINY_FLAGS, error_lines, run_train
from utils.errors import DataError


@pytest.fixture(scope="module")
def trained(tiny_scene, tmp_path_factory):
    """A finished tiny run "a" (saves at 10, 20, 30; checkpoints at 10, 20)."""
    root = tmp_path_factory.mktemp("saves")
    assert train.main(["-s", tiny_scene, "-m", str(root / "a"), *TINY_FLAGS]) == 0
    return root


def copy_model(trained, tmp_path, name="a"):
    return shutil.copytree(trained / name, tmp_path / name)


def render_latest(capsys, model) -> tuple[int, str]:
    capsys.readouterr()
    code = render.main(["-m", str(model), "--skip_train", "--quiet"])
    return code, capsys.readouterr().err


def test_old_classifier_with_new_ply_is_refused_naming_the_file(trained, tmp_path, capsys):
    model = copy_model(trained, tmp_path)
    torch.manual_seed(5)   # another run's classifier: same shape, other weights
    torch.save(IdentityClassifier(16, 8).state_dict(),
               os.path.join(point_cloud_dir(str(model), 30), "classifier.pth"))
    code, err = render_latest(capsys, model)
    assert code == 1
    [line] = error_lines(err)
    assert os.path.join(point_cloud_dir(str(model), 30), "classifier.pth") in line
    assert "does not match" in line


def copy_with_pruned_gaussians(trained, tmp_path, pruned: int):
    """A copy of the trained model, its iteration-30 folder and that iteration's Gaussians
    loaded with the first `pruned` of them removed (not saved)."""
    model = copy_model(trained, tmp_path)
    folder = point_cloud_dir(str(model), 30)
    gaussians = GaussianModel(3, 16)
    gaussians.load_ply(os.path.join(folder, "point_cloud.ply"))
    gaussians.prune_points(torch.arange(gaussians.num_points) < pruned)
    return model, folder, gaussians


def test_ply_rewritten_after_saving_is_refused(trained, tmp_path):
    model, folder, gaussians = copy_with_pruned_gaussians(trained, tmp_path, 7)
    gaussians.save_ply(os.path.join(folder, "point_cloud.ply"))
    assert search_for_max_iteration(str(model / "point_cloud")) == 20   # sizes differ: skipped
    with pytest.raises(DataError, match="point_cloud.ply: does not match"):
        Scene(_dataset(model), GaussianModel(3, 16), load_iteration=30)


def _dataset(model):
    from arguments import ModelParams, read_cfg_args
    cfg = read_cfg_args(str(model))
    return ModelParams(**{**{k: cfg[k] for k in ModelParams.__dataclass_fields__},
                          "model_path": str(model)})   # cfg_args names the folder it was trained in


@pytest.mark.parametrize("leftover", ["empty", "ply only", "manifest says more bytes"])
def test_incomplete_latest_folder_is_skipped_and_the_previous_renders(trained, tmp_path, capsys,
                                                                       leftover):
    model = copy_model(trained, tmp_path)
    broken = point_cloud_dir(str(model), 40)
    if leftover == "empty":                  # killed in the PLY write, before this change
        os.makedirs(broken)
    elif leftover == "ply only":             # killed between the PLY and the classifier
        os.makedirs(broken)
        shutil.copyfile(os.path.join(point_cloud_dir(str(model), 30), "point_cloud.ply"),
                        os.path.join(broken, "point_cloud.ply"))
    else:                                    # a file truncated after the manifest was written
        shutil.copytree(point_cloud_dir(str(model), 30), broken)
        with open(os.path.join(broken, "point_cloud.ply"), "r+b") as fh:
            fh.truncate(1000)
    assert not is_complete(broken)
    assert search_for_max_iteration(str(model / "point_cloud")) == 30
    code, err = render_latest(capsys, model)
    assert code == 0, err
    assert os.path.isdir(model / "test" / "ours_30" / "renders")


def test_interrupted_save_leaves_no_iteration_folder(trained, tmp_path):
    model = copy_model(trained, tmp_path)
    gaussians = GaussianModel(3, 16)
    gaussians.load_ply(os.path.join(point_cloud_dir(str(model), 30), "point_cloud.ply"))

    def killed(path):       # the process dies while writing the classifier
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_iteration_folder(str(model), 40, gaussians.num_points,
                               {"point_cloud.ply": gaussians.save_ply, "classifier.pth": killed})
    assert not os.path.exists(point_cloud_dir(str(model), 40))
    assert search_for_max_iteration(str(model / "point_cloud")) == 30


def test_resaving_an_iteration_replaces_it_whole(trained, tmp_path):
    model, folder, gaussians = copy_with_pruned_gaussians(trained, tmp_path, 10)
    write_iteration_folder(str(model), 30, gaussians.num_points, {
        "point_cloud.ply": gaussians.save_ply,
        "classifier.pth": lambda path: shutil.copyfile(os.path.join(folder, "classifier.pth"), path)})
    assert sorted(os.listdir(folder)) == ["classifier.pth", MANIFEST_NAME, "point_cloud.ply"]
    assert sorted(os.listdir(model / "point_cloud")) == ["iteration_10", "iteration_20", "iteration_30"]
    reloaded = Scene(_dataset(model), GaussianModel(3, 16), load_iteration=-1)
    assert reloaded.gaussians.num_points == gaussians.num_points


def test_disk_full_at_a_save_is_one_line_naming_path_and_what_was_kept(tiny_scene, tmp_path, capsys,
                                                                         monkeypatch):
    model = tmp_path / "m"
    original = GaussianModel.save_ply
    calls = []

    def save_ply(self, path):
        calls.append(path)
        if len(calls) == 2:    # the second save (iteration 20)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        original(self, path)

    monkeypatch.setattr(GaussianModel, "save_ply", save_ply)
    code, _, err = run_train(capsys, tiny_scene, model)
    assert code == 1
    [line] = error_lines(err)
    assert f"cannot save iteration 20 to {point_cloud_dir(str(model), 20)}: No space left on device" in line
    assert f"kept: {point_cloud_dir(str(model), 10)} (latest complete save)" in line
    assert f"{model / 'chkpnt10.pth'} (latest checkpoint)" in line
    assert sorted(os.listdir(model / "point_cloud")) == ["iteration_10"]   # no partial folder left


def test_checkpoint_write_error_is_one_line(tiny_scene, tmp_path, capsys, monkeypatch):
    def failing_save(obj, path):
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")
    monkeypatch.setattr(torch, "save", failing_save)
    code, _, err = run_train(capsys, tiny_scene, tmp_path / "m", "--save_iterations")
    assert code == 1
    [line] = error_lines(err)
    assert f"cannot write checkpoint {tmp_path / 'm' / 'chkpnt10.pth'}: PytorchStreamWriter" in line
    assert "no earlier save or checkpoint" in line


def test_unwritable_point_cloud_folder_stops_before_training(tiny_scene, tmp_path, capsys):
    model = tmp_path / "m"
    os.makedirs(model)
    (model / "point_cloud").write_text("a file where the saves' folder should be")
    code, out, err = run_train(capsys, tiny_scene, model)
    assert code == 1
    [line] = error_lines(err)
    assert f"model folder {model / 'point_cloud'} is not writable" in line and "nothing was trained" in line
    assert not (model / "metrics.csv").exists() and "Output folder" not in out


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_model_folder_stops_before_training(tiny_scene, tmp_path, capsys):
    model = tmp_path / "m"
    os.makedirs(model)
    os.chmod(model, 0o500)
    try:
        code, _, err = run_train(capsys, tiny_scene, model)
    finally:
        os.chmod(model, 0o700)
    assert code == 1 and "is not writable" in error_lines(err)[0]


def test_metrics_csv_keeps_the_curve_when_training_crashes(tiny_scene, tmp_path, capsys, monkeypatch):
    from training.trainer import StepResult, Trainer

    def crashing_step(self, iteration):   # the loop's logging without the optimisation's cost
        if iteration == 105:
            raise OSError(errno.EIO, "simulated crash")
        return StepResult(loss=1.0, photometric=1.0, identity_2d=0.0, identity_3d=0.0, psnr=20.0)

    monkeypatch.setattr(Trainer, "train_step", crashing_step)
    code, _, err = run_train(capsys, tiny_scene, tmp_path / "m", "--iterations", "200",
                             "--save_iterations", "--checkpoint_iterations")
    assert code == 1 and "simulated crash" in error_lines(err)[0]
    with open(tmp_path / "m" / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    logged = {int(row["iteration"]) for row in rows if row["name"] == "train/loss"}
    assert logged == set(range(10, 101, 10))   # flushed at 100; the crash lost only 101..104


def test_gaussian_count_is_checked_against_the_manifest(trained, tmp_path):
    import json
    model = copy_model(trained, tmp_path)
    manifest_path = os.path.join(point_cloud_dir(str(model), 30), MANIFEST_NAME)
    with open(manifest_path) as fh:
        manifest = json.load(fh)
    manifest["num_gaussians"] = 5
    with open(manifest_path, "w") as fh:
        json.dump(manifest, fh)
    with pytest.raises(DataError, match="holds 3000 Gaussians, its manifest says 5"):
        Scene(_dataset(model), GaussianModel(3, 16), load_iteration=30)


def test_unwritable_render_folder_is_one_line(trained, tmp_path, capsys):
    model = copy_model(trained, tmp_path)
    (model / "test").write_text("a file where render.py writes its folder")
    code, err = render_latest(capsys, model)
    assert code == 1
    [line] = error_lines(err)
    assert str(model / "test") in line and "Traceback" not in err
