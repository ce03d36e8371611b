"""Failure handling, case 1: divergence that is not in the loss stops training, names the iteration and
the parameter, never reaches a save, and learning-rate flags given at resume apply."""
import os

import pytest
import torch

from tests.failure_helpers import assert_everything_saved_is_finite, error_lines, make_trainer, run_train
from training.guards import TrainingDiverged

# Each of these trained to "complete" (or stopped naming a checkpoint that held NaN) before.
DIVERGING_FLAGS = [("--scaling_lr", "1e37", "parameter 'scaling'"),
                   ("--position_lr_init", "1e37", "parameter 'xyz'"),
                   ("--feature_lr", "7e19", "parameter 'f_dc'")]


@pytest.mark.parametrize("flag,value,named", DIVERGING_FLAGS)
def test_divergent_learning_rate_stops_at_once_and_saves_nothing(tiny_scene, tmp_path, capsys,
                                                                 flag, value, named):
    model = tmp_path / "m"
    code, _, err = run_train(capsys, tiny_scene, model, flag, value)
    assert code == 1
    [line] = error_lines(err)
    assert "iteration 1 " in line and named in line and "none written in this run" in line
    assert not os.listdir(model / "point_cloud") and not list(model.glob("chkpnt*"))


@pytest.fixture(scope="module")
def trained(tiny_scene, tmp_path_factory):
    """A finished healthy tiny run (checkpoints at 10 and 20, saves at 10, 20, 30)."""
    model = tmp_path_factory.mktemp("healthy") / "m"
    trainer = make_trainer(tiny_scene, model)
    trainer.run()
    return model


@pytest.mark.parametrize("flag,value,named", DIVERGING_FLAGS)
def test_divergent_rate_given_at_resume_applies_and_last_good_is_good(tiny_scene, trained, tmp_path,
                                                                       capsys, flag, value, named):
    model = tmp_path / "m"
    os.makedirs(model)
    checkpoint = trained / "chkpnt10.pth"
    code, out, err = run_train(capsys, tiny_scene, model, "--start_checkpoint", checkpoint, flag, value)
    assert code == 1
    if flag != "--position_lr_init":   # the position rate follows its schedule, rebuilt from the flags
        assert "Resuming with this run's learning rates" in out and "-> " + f"{float(value):.4g}" in out
    [line] = error_lines(err)
    assert "iteration 11 " in line and named in line and f"Last good checkpoint: {checkpoint}" in line
    assert assert_everything_saved_is_finite(str(trained)) == 5   # 3 saves, 2 checkpoints
    assert not os.listdir(model / "point_cloud")


def test_lower_rates_at_resume_replace_the_saved_ones(tiny_scene, trained, tmp_path, capsys):
    trainer = make_trainer(tiny_scene, tmp_path / "m", "--start_checkpoint", trained / "chkpnt20.pth",
                           "--scaling_lr", "0.001", "--classifier_lr", "0.0001", "--opacity_lr", "0.05")
    out = capsys.readouterr().out
    assert "scaling 0.005 -> 0.001" in out and "classifier 0.0005 -> 0.0001" in out
    assert "opacity" not in out   # unchanged rates are not reported
    groups = {g["name"]: g["lr"] for g in trainer.gaussians.optimizer.param_groups}
    assert groups["scaling"] == 0.001 and groups["f_rest"] == 0.0025 / 20
    assert trainer.cls_optimizer.param_groups[0]["lr"] == 0.0001
    # The moments themselves are resumed, not restarted.
    scaling = trainer.gaussians._scaling
    assert trainer.gaussians.optimizer.state[scaling]["step"].item() == 20


def test_nan_gradient_with_finite_loss_is_named(tiny_scene, tmp_path):
    trainer = make_trainer(tiny_scene, tmp_path / "m")
    trainer.train_step(1)
    trainer.gaussians._rotation.register_hook(lambda grad: grad * float("nan"))
    with pytest.raises(TrainingDiverged) as err:
        trainer.train_step(2)
    message = str(err.value)
    assert "iteration 2 (after backward)" in message and "gradient of 'rotation'" in message


def test_non_finite_optimiser_state_is_never_saved(tiny_scene, tmp_path):
    trainer = make_trainer(tiny_scene, tmp_path / "m")
    trainer.train_step(1)
    good = trainer.save_checkpoint(1)
    state = trainer.gaussians.optimizer.state[trainer.gaussians._features_dc]
    state["exp_avg_sq"][0] = float("inf")   # a gradient of 1e20 squared: parameters stay finite
    with pytest.raises(TrainingDiverged) as err:
        trainer.save_checkpoint(2)
    assert "optimiser state exp_avg_sq of 'f_dc'" in str(err.value) and good in str(err.value)
    with pytest.raises(TrainingDiverged):
        trainer.save(2)
    assert not (tmp_path / "m" / "chkpnt2.pth").exists()
    assert not (tmp_path / "m" / "point_cloud" / "iteration_2").exists()


def test_runaway_position_is_caught_before_it_overflows(tiny_scene, tmp_path):
    trainer = make_trainer(tiny_scene, tmp_path / "m")
    with torch.no_grad():
        trainer.gaussians._xyz[5, 0] = 1e20   # finite, but 1e19 scene sizes away
    with pytest.raises(TrainingDiverged) as err:
        trainer.save(0)
    assert "parameter 'xyz' has |values| up to 1e+20" in str(err.value)
