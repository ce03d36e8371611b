"""The model folder a training run writes: whose it is, whether it can be written, what a
resumed run keeps.

A folder holding another run's results (saves, checkpoints, renders, a metrics curve) is
refused unless the run resumes (`--resume`, `--start_checkpoint`) or `--overwrite` clears
those results; otherwise old `iteration_*` folders would outlive the new run and be rendered
in its name. Writability is probed before any training, not discovered at the first save.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil

from arguments import read_cfg_args
from scene.model_folder import checkpoint_path, remove_partial_saves, saved_checkpoints
from utils.atomic_io import atomic_path, torch_load_checked

# What a run writes into its model folder. Of these, RESULTS make a folder "another run's".
RUN_FILES = ("cfg_args", "cameras.json", "metrics.csv", "results.json", "point_cloud", "train", "test")
RESULT_FOLDERS = ("point_cloud", "train", "test")
TENSORBOARD_PREFIX = "events.out.tfevents."


class OutputFolderError(ValueError):
    """The model folder cannot be used as asked; the message says why and what to pass."""


def run_results(model_path: str) -> list[str]:
    """Names in `model_path` that hold a run's results: saves, checkpoints, renders, or a
    metrics curve with at least one row. A folder with only cfg_args (a run that stopped
    before training) holds none."""
    if not os.path.isdir(model_path):
        return []
    found = []
    for name in sorted(os.listdir(model_path)):
        path = os.path.join(model_path, name)
        if name in RESULT_FOLDERS and os.path.isdir(path) and os.listdir(path):
            found.append(name)
        elif name.startswith("chkpnt") and name.endswith(".pth"):
            found.append(name)
        elif name == "metrics.csv" and _has_rows(path):
            found.append(name)
    return found


def _has_rows(csv_path: str) -> bool:
    with open(csv_path, newline="") as fh:
        return sum(1 for _ in zip(range(2), csv.reader(fh))) > 1


def clear_run_files(model_path: str) -> list[str]:
    """Delete what a run writes (RUN_FILES, checkpoints, TensorBoard logs, interrupted saves);
    anything else in the folder is left alone. Returns the removed names."""
    remove_partial_saves(model_path)
    removed = []
    for name in sorted(os.listdir(model_path)):
        path = os.path.join(model_path, name)
        if (name in RUN_FILES or name.startswith(TENSORBOARD_PREFIX)
                or (name.startswith("chkpnt") and name.endswith(".pth"))):
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
            removed.append(name)
    return removed


def latest_checkpoint(model_path: str) -> str:
    """`chkpnt<N>.pth` with the largest N in the model folder, for `--resume`."""
    checkpoints = saved_checkpoints(model_path)
    if not checkpoints:
        raise OutputFolderError(f"--resume: no chkpnt<N>.pth in {model_path} to resume from "
                                f"(save some with --checkpoint_iterations)")
    return checkpoint_path(model_path, checkpoints[-1])


def prepare_model_folder(model_path: str, start_checkpoint: str, resume: bool,
                         overwrite: bool) -> str:
    """Make `model_path` ready for a run and return the checkpoint to start from ('' for none).

    Resuming (`resume`: the latest checkpoint in the folder, or `start_checkpoint`) keeps the
    folder and removes only interrupted saves. A fresh run needs a folder without another
    run's results, or `overwrite`, which deletes them. The folder must be writable."""
    if overwrite and (resume or start_checkpoint):
        raise OutputFolderError("--overwrite deletes the model folder's saves; it cannot be "
                                "combined with --resume or --start_checkpoint")
    if resume and not start_checkpoint:
        start_checkpoint = latest_checkpoint(model_path)
    if start_checkpoint:
        remove_partial_saves(model_path)
    else:
        results = run_results(model_path)
        if results and not overwrite:
            raise OutputFolderError(
                f"model folder {model_path} holds another run's results ({', '.join(results[:6])}); "
                f"pass --resume to continue it, --overwrite to delete them, or choose a new -m folder")
        if results:
            removed = clear_run_files(model_path)
            print(f"--overwrite: removed {', '.join(removed)} from {model_path}")
    check_writable(model_path)
    return start_checkpoint


def checkpoint_settings(path: str) -> dict[str, int]:
    """The settings a checkpoint's tensors fix: sh_degree, num_objects, num_classes (those it
    records; a file of another format records none and is refused when loaded)."""
    state = torch_load_checked(path, "checkpoint")
    settings = {}
    gaussians = state.get("gaussians") if isinstance(state, dict) else None
    if isinstance(gaussians, dict):
        settings.update({key: gaussians[name] for key, name in (("sh_degree", "max_sh_degree"),
                                                                ("num_objects", "num_objects")) if name in gaussians})
    classifier = state.get("classifier") if isinstance(state, dict) else None
    if isinstance(classifier, dict) and hasattr(classifier.get("weight"), "shape"):
        settings["num_classes"] = int(classifier["weight"].shape[0])
    return settings


def check_resume(args: argparse.Namespace, checkpoint: str) -> None:
    """Refuse a resume that cannot continue `checkpoint` as it is, before anything is written:
    a model setting (sh_degree, num_objects, num_classes) other than the checkpoint's, or another
    scene than the run's (`--source_path` in cfg_args) unless `--resume_other_scene`."""
    for key, saved in checkpoint_settings(checkpoint).items():
        if getattr(args, key) != saved:
            raise OutputFolderError(f"cannot resume {checkpoint}: it has {key} {saved}, this run asks for "
                                    f"{getattr(args, key)} (drop --{key}, or train a new model)")
    if not os.path.isfile(os.path.join(args.model_path, "cfg_args")) or args.resume_other_scene:
        return
    saved_scene = read_cfg_args(args.model_path).get("source_path", "")
    if saved_scene and os.path.realpath(saved_scene) != os.path.realpath(args.source_path):
        raise OutputFolderError(f"--resume: {args.model_path} was trained on {saved_scene}, not "
                                f"{args.source_path}; pass --resume_other_scene to continue it there")


def check_writable(model_path: str) -> None:
    """Create `model_path` and `model_path/point_cloud` and write a probe file in each, so a
    read-only or misplaced folder stops the run before training instead of at its first save."""
    for folder in (model_path, os.path.join(model_path, "point_cloud")):
        probe = os.path.join(folder, f".write-test-{os.getpid()}")
        try:
            os.makedirs(folder, exist_ok=True)
            with open(probe, "w") as fh:
                fh.write("ok")
            os.remove(probe)
        except OSError as err:
            raise OutputFolderError(f"model folder {folder} is not writable ({err.strerror or err}); "
                                    f"nothing was trained") from None


def trim_metrics_after(model_path: str, iteration: int) -> None:
    """Drop the rows of `<model>/metrics.csv` logged after `iteration`: a resumed run logs them
    again, and the interrupted run's copies would make the curve double back."""
    path = os.path.join(model_path, "metrics.csv")
    if not os.path.isfile(path):
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    # Rewritten even when nothing is dropped: a kill mid-flush can leave a last row unterminated.
    kept = rows[:1] + [row for row in rows[1:]
                       if len(row) == 3 and row[0].isdigit() and int(row[0]) <= iteration]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            csv.writer(fh).writerows(kept)
