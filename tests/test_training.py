"""The training loop end to end on a tiny synthetic scene: exact resume, divergence handling."""
import csv
import os

import pytest
import torch

from arguments import parse_training_args
from training.trainer import Trainer, TrainingDiverged

TINY_RUN = ["--iterations", "40", "--densify_from_iter", "5", "--densify_until_iter", "35",
            "--densification_interval", "10", "--opacity_reset_interval", "30",
            "--sh_increase_interval", "10", "--num_classes", "8", "--reg3d_interval", "2",
            "--reg3d_sample_size", "50", "--test_iterations", "--save_iterations", "--quiet",
            "--eval", "--seed", "3", "--igd_from_iter", "20", "--igd_until_iter", "30",
            "--igd_interval", "5", "--igd_grad_threshold", "0", "--laknn_from_iter", "30"]


def make_trainer(scene, model_dir, *extra) -> Trainer:
    args = parse_training_args(["-s", scene, "-m", str(model_dir), *TINY_RUN, *extra])
    return Trainer.from_args(args)


def parameters(trainer: Trainer) -> dict:
    g = trainer.gaussians
    params = {name: getattr(g, name).detach().clone() for name in
              ("_xyz", "_features_dc", "_features_rest", "_scaling", "_rotation", "_opacity", "_objects_dc")}
    params.update({f"classifier.{k}": v.clone() for k, v in trainer.classifier.state_dict().items()})
    return params


def test_resume_from_checkpoint_is_exact(tiny_scene, tmp_path):
    straight = make_trainer(tiny_scene, tmp_path / "straight")
    straight.run()

    first_half = make_trainer(tiny_scene, tmp_path / "halves", "--iterations", "40",
                              "--checkpoint_iterations", "20")
    first_half.opt.iterations = 20   # stop at the checkpoint, schedule otherwise unchanged
    first_half.run()
    checkpoint = os.path.join(tmp_path, "halves", "chkpnt20.pth")
    assert os.path.isfile(checkpoint)
    resumed = make_trainer(tiny_scene, tmp_path / "halves", "--start_checkpoint", checkpoint)
    assert resumed.first_iteration == 21
    resumed.run()

    a, b = parameters(straight), parameters(resumed)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].shape == b[name].shape, name
        assert torch.equal(a[name], b[name]), f"{name} differs after resume"


def test_nan_loss_stops_with_message_and_keeps_checkpoint(tiny_scene, tmp_path):
    trainer = make_trainer(tiny_scene, tmp_path / "nan")
    for iteration in range(1, 4):
        trainer.train_step(iteration)
    path = trainer.save_checkpoint(3)
    before = open(path, "rb").read()
    with torch.no_grad():   # a diverged classifier: its logits, hence the loss, become NaN
        trainer.classifier.weight[:] = float("nan")
    with pytest.raises(TrainingDiverged) as err:
        trainer.train_step(4)
    assert "iteration 4" in str(err.value) and path in str(err.value)
    assert open(path, "rb").read() == before


def test_corrupt_checkpoint_is_a_clear_error(tiny_scene, tmp_path):
    bad = tmp_path / "chkpnt5.pth"
    bad.write_bytes(b"\x80\x02 truncated")
    with pytest.raises(ValueError) as err:
        make_trainer(tiny_scene, tmp_path / "m", "--start_checkpoint", str(bad))
    assert str(bad) in str(err.value)


def test_training_improves_psnr_and_identity(tiny_scene, tmp_path):
    trainer = make_trainer(tiny_scene, tmp_path / "learn", "--iterations", "150",
                           "--densify_until_iter", "100")
    before = trainer.evaluate(0)
    trainer.run()
    after = trainer.evaluate(150)
    assert after["train"]["psnr"] > before["train"]["psnr"] + 2
    assert after["train"]["id_accuracy"] > before["train"]["id_accuracy"] + 0.2


def logged_events(model_dir) -> dict[str, list[int]]:
    """Iterations at which each `events/<name>/<field>` row of metrics.csv was logged."""
    events: dict[str, list[int]] = {}
    with open(os.path.join(model_dir, "metrics.csv")) as fh:
        for row in csv.DictReader(fh):
            if row["name"].startswith("events/"):
                events.setdefault(row["name"], []).append(int(row["iteration"]))
    return events


@pytest.mark.parametrize("flags, igd, laknn", [((), [25, 30], [30]), (("--no_igd",), [], [30]),
                                               (("--no_laknn",), [25, 30], []),
                                               (("--no_igd", "--no_laknn"), [], [])])
def test_schedule_switches_at_the_configured_iterations(tiny_scene, tmp_path, flags, igd, laknn):
    """TINY_RUN: densify every 10 in (5, 35), IGD every 5 in (20, 30], LA-KNN from 30."""
    make_trainer(tiny_scene, tmp_path / "model", *flags).run()
    events = logged_events(tmp_path / "model")
    assert events["events/densify/after"] == [10, 20, 30]
    for field in ("candidates", "splits", "threshold", "without_boundary", "after"):
        assert events.get(f"events/igd/{field}", []) == igd
    assert events.get("events/laknn/candidates", []) == laknn


def test_both_switches_off_is_gaussian_grouping_exactly(tiny_scene, tmp_path):
    """--no_igd --no_laknn trains the same model as a run whose IGD window and LA-KNN phase never
    open (Gaussian Grouping: no method code runs at all)."""
    switched_off = make_trainer(tiny_scene, tmp_path / "flags", "--no_igd", "--no_laknn")
    switched_off.run()
    never_open = make_trainer(tiny_scene, tmp_path / "late", "--igd_from_iter", "1000",
                              "--igd_until_iter", "1000", "--laknn_from_iter", "1000")
    never_open.run()
    a, b = parameters(switched_off), parameters(never_open)
    assert all(torch.equal(a[name], b[name]) for name in a)
    with_method = make_trainer(tiny_scene, tmp_path / "method")
    with_method.run()
    assert with_method.gaussians.num_points != switched_off.gaussians.num_points   # IGD split some
