"""The training loop end to end on a tiny synthetic scene: exact resume, divergence handling."""
import os

import pytest
import torch

from arguments import (GradiSegParams, ModelParams, OptimizationParams, PipelineParams, RunParams,
                       extract, parse_training_args)
from training.trainer import Trainer, TrainingDiverged

TINY_RUN = ["--iterations", "40", "--densify_from_iter", "5", "--densify_until_iter", "35",
            "--densification_interval", "10", "--opacity_reset_interval", "30",
            "--sh_increase_interval", "10", "--num_classes", "8", "--reg3d_interval", "2",
            "--reg3d_sample_size", "50", "--test_iterations", "--save_iterations", "--quiet",
            "--eval", "--seed", "3", "--igd_from_iter", "20", "--igd_until_iter", "30",
            "--igd_interval", "5", "--igd_grad_threshold", "0", "--laknn_from_iter", "30"]


def make_trainer(scene, model_dir, *extra) -> Trainer:
    args = parse_training_args(["-s", scene, "-m", str(model_dir), *TINY_RUN, *extra])
    return Trainer(extract(ModelParams, args), extract(OptimizationParams, args),
                   extract(PipelineParams, args), extract(GradiSegParams, args),
                   extract(RunParams, args))


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
