"""Shared by the tests/test_failure_*.py files: a tiny training run through train.py's main()."""
from __future__ import annotations

import glob
import os

import numpy as np
import torch

import train
from arguments import parse_training_args
from training.trainer import Trainer
from utils.general_utils import tree_tensors
from utils.ply_io import read_gaussian_ply

# 30 iterations, saves at 10 and 20 (and 30), checkpoints at 10 and 20; no densification.
TINY_FLAGS = ["--iterations", "30", "--num_classes", "8", "--test_iterations", "--save_iterations",
              "10", "20", "--checkpoint_iterations", "10", "20", "--quiet", "--eval",
              "--reg3d_sample_size", "50", "--seed", "1"]


def run_train(capsys, scene: str, model: str, *extra: str) -> tuple[int, str, str]:
    """train.py's main() on `scene` into `model`; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = train.main(["-s", str(scene), "-m", str(model), *TINY_FLAGS, *map(str, extra)])
    out, err = capsys.readouterr()
    return code, out, err


def error_lines(stderr: str) -> list[str]:
    """The entry points' one-line errors, `<script>.py: error: ...`, without the script name."""
    return [line.split(": ", 1)[1] for line in stderr.splitlines()
            if line.split(": ", 1)[-1].startswith("error:") and line.split(":", 1)[0].endswith(".py")]


def assert_everything_saved_is_finite(model: str) -> int:
    """Every PLY and checkpoint under `model` holds only finite numbers; returns how many files."""
    files = 0
    for ply in glob.glob(os.path.join(model, "point_cloud", "iteration_*", "point_cloud.ply")):
        arrays = read_gaussian_ply(ply, 45, 16)
        for name in ("xyz", "f_dc", "f_rest", "opacity", "scale", "rotation", "obj_dc"):
            assert np.all(np.isfinite(getattr(arrays, name))), f"{ply}: {name} not finite"
        files += 1
    for path in glob.glob(os.path.join(model, "chkpnt*.pth")):
        state = torch.load(path, weights_only=True)
        for tensor in tree_tensors(state):
            if tensor.is_floating_point():
                assert torch.isfinite(tensor).all(), f"{path} holds non-finite values"
        files += 1
    return files




def make_trainer(scene: str, model: str, *extra: str):
    """A Trainer for the tiny run, built as train.py builds it (without the folder checks)."""
    args = parse_training_args(["-s", str(scene), "-m", str(model), *TINY_FLAGS, *map(str, extra)])
    return Trainer.from_args(args)
