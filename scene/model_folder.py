"""Saved iterations of a model folder: written whole or not at all, checked when read.

    <model>/point_cloud/iteration_N/point_cloud.ply    the Gaussians
                                   classifier.pth      the identity classifier
                                   manifest.json       {"format", "iteration", "num_gaussians",
                                                        "files": {name: {"bytes", "sha256"}}}

An iteration is built in a hidden sibling folder (`.iteration_N.partial-<pid>`) and renamed
into place, so a crash leaves either the previous `iteration_N` or the new one, never a mix.
The manifest ties the PLY and the classifier together: a reader checks the hashes and the
Gaussian count, so a PLY paired with another run's classifier is refused. Folders without a
manifest (Gaussian Grouping, older GradiSeg) are accepted when both files are present.

This module is the one home of the model folder: saving and loading an iteration (Gaussians,
classifier, `cfg_args` sizes), the manifest check, the background colour, and the rules for the
folder a training run writes into. Render, edit, the viewer, prep and training all use it.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from typing import Any, Callable

import torch

from arguments import ModelParams, read_cfg_args, saved_params
from scene.gaussian_model import GaussianModel
from scene.identity_classifier import IdentityClassifier
from utils.atomic_io import atomic_path, torch_load_checked, torch_save_atomic
from utils.errors import DataError

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
PLY_NAME = "point_cloud.ply"
CLASSIFIER_NAME = "classifier.pth"
ITERATION_FOLDER = re.compile(r"iteration_(\d+)")
CHECKPOINT_FILE = re.compile(r"chkpnt(\d+)\.pth")
PARTIAL_MARK = ".partial-"


class SaveError(RuntimeError):
    """Writing a save failed (disk full, read-only, ...); the message names the path and what
    earlier saves are still intact."""


def point_cloud_dir(model_path: str, iteration: int) -> str:
    return os.path.join(model_path, "point_cloud", f"iteration_{iteration}")


def checkpoint_path(model_path: str, iteration: int) -> str:
    return os.path.join(model_path, f"chkpnt{iteration}.pth")


def file_digest(path: str) -> dict[str, Any]:
    """{"bytes", "sha256"} of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": os.path.getsize(path), "sha256": digest.hexdigest()}


def write_iteration_folder(model_path: str, iteration: int, num_gaussians: int,
                           writers: dict[str, Callable[[str], None]]) -> str:
    """Write `point_cloud/iteration_<iteration>` atomically: each `writers[name](path)` writes
    one file into a hidden build folder, a manifest records their hashes and `num_gaussians`,
    then the build folder replaces any earlier `iteration_<iteration>`. Returns the folder.
    Raises SaveError (naming the path and the saves that were kept) when writing fails."""
    folder = point_cloud_dir(model_path, iteration)
    parent = os.path.dirname(folder)
    build = os.path.join(parent, f".{os.path.basename(folder)}{PARTIAL_MARK}{os.getpid()}")
    try:
        os.makedirs(parent, exist_ok=True)
        shutil.rmtree(build, ignore_errors=True)
        os.makedirs(build)
        for name, write in writers.items():
            write(os.path.join(build, name))
        manifest = {"format": MANIFEST_FORMAT, "iteration": iteration,
                    "num_gaussians": int(num_gaussians),
                    "files": {name: file_digest(os.path.join(build, name)) for name in writers}}
        with open(os.path.join(build, MANIFEST_NAME), "w") as fh:
            json.dump(manifest, fh, indent=2)
        _replace_folder(build, folder)
    except (OSError, RuntimeError) as err:
        shutil.rmtree(build, ignore_errors=True)
        raise SaveError(f"cannot save iteration {iteration} to {folder}: {_reason(err)}; "
                        f"kept: {describe_kept(model_path)}") from err
    return folder


def _replace_folder(build: str, folder: str) -> None:
    """Rename `build` to `folder`; an existing `folder` is moved aside first (a folder cannot be
    renamed over a non-empty one) and removed after."""
    if not os.path.exists(folder):
        os.rename(build, folder)
        return
    old = f"{build}.old"
    shutil.rmtree(old, ignore_errors=True)
    os.rename(folder, old)
    os.rename(build, folder)
    shutil.rmtree(old, ignore_errors=True)


def save_checkpoint_file(state: Any, path: str, model_path: str) -> None:
    """`torch.save` `state` to `path` atomically; SaveError names the path and what was kept."""
    try:
        torch_save_atomic(state, path)
    except (OSError, RuntimeError) as err:
        raise SaveError(f"cannot write checkpoint {path}: {_reason(err)}; "
                        f"kept: {describe_kept(model_path)}") from err


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def read_manifest(folder: str) -> dict[str, Any] | None:
    """The folder's manifest, None if it has none; a malformed one is a DataError."""
    path = os.path.join(folder, MANIFEST_NAME)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as fh:
            manifest = json.load(fh)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: unreadable save manifest ({err})") from None
    if not (isinstance(manifest, dict) and manifest.get("format") == MANIFEST_FORMAT
            and isinstance(manifest.get("files"), dict) and isinstance(manifest.get("num_gaussians"), int)):
        raise DataError(f"{path}: not a GradiSeg save manifest (format {MANIFEST_FORMAT})")
    return manifest


def is_complete(folder: str) -> bool:
    """Cheap test (no hashing) that an iteration folder was written whole: its manifest's files
    are present with their recorded sizes, or, without a manifest, both files are non-empty."""
    try:
        manifest = read_manifest(folder)
    except DataError:
        return False
    if manifest is None:
        return all(os.path.isfile(p) and os.path.getsize(p) > 0
                   for p in (os.path.join(folder, PLY_NAME), os.path.join(folder, CLASSIFIER_NAME)))
    return all(os.path.isfile(os.path.join(folder, name))
               and os.path.getsize(os.path.join(folder, name)) == entry.get("bytes")
               for name, entry in manifest["files"].items())


def verify_iteration_folder(folder: str) -> dict[str, Any] | None:
    """Check an iteration folder before use: every file its manifest lists has the recorded
    hash. Returns the manifest (None for a folder without one). Raises DataError naming the
    file that does not match."""
    manifest = read_manifest(folder)
    if manifest is None:
        return None
    for name, entry in manifest["files"].items():
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise DataError(f"{path}: listed in {MANIFEST_NAME} but missing; the save is incomplete")
        if file_digest(path) != {"bytes": entry.get("bytes"), "sha256": entry.get("sha256")}:
            raise DataError(f"{path}: does not match {os.path.join(folder, MANIFEST_NAME)} (another "
                            f"run's file, or changed after saving); the PLY and classifier of one "
                            f"save must come together")
    return manifest


def check_gaussian_count(folder: str, manifest: dict[str, Any] | None, num_gaussians: int) -> None:
    """The PLY loaded from `folder` holds the number of Gaussians its manifest recorded."""
    if manifest is not None and num_gaussians != manifest["num_gaussians"]:
        raise DataError(f"{os.path.join(folder, PLY_NAME)}: holds {num_gaussians} Gaussians, its "
                        f"manifest says {manifest['num_gaussians']}")


def saved_iterations(model_path: str) -> list[int]:
    """Iterations with a complete `point_cloud/iteration_N` folder, ascending."""
    parent = os.path.join(model_path, "point_cloud")
    if not os.path.isdir(parent):
        return []
    return sorted(int(m.group(1)) for name in os.listdir(parent)
                  if (m := ITERATION_FOLDER.fullmatch(name)) and is_complete(os.path.join(parent, name)))


def search_for_max_iteration(folder: str) -> int:
    """Largest N among the complete `iteration_N` sub-folders of `folder` (`<model>/point_cloud`);
    incomplete ones (a crash mid-save) are skipped."""
    if not os.path.isdir(folder):
        raise DataError(f"no saved iteration in {folder} (folder not found)")
    names = [name for name in os.listdir(folder) if ITERATION_FOLDER.fullmatch(name)]
    complete = [int(ITERATION_FOLDER.fullmatch(name).group(1)) for name in names
                if is_complete(os.path.join(folder, name))]
    if not complete:
        skipped = f" (incomplete, skipped: {sorted(names)})" if names else ""
        raise DataError(f"no complete saved iteration in {folder}{skipped}")
    return max(complete)


def saved_checkpoints(model_path: str) -> list[int]:
    """Iterations with a `chkpnt<N>.pth` in the model folder, ascending."""
    if not os.path.isdir(model_path):
        return []
    return sorted(int(m.group(1)) for name in os.listdir(model_path)
                  if (m := CHECKPOINT_FILE.fullmatch(name)))


def describe_kept(model_path: str) -> str:
    """'<model>/point_cloud/iteration_7000 (latest complete save), <model>/chkpnt7000.pth (latest
    checkpoint)', or 'no earlier save or checkpoint'. A failed save never touches an earlier
    folder of the same iteration, so that one counts as kept."""
    saves = saved_iterations(model_path)
    checkpoints = saved_checkpoints(model_path)
    parts = []
    if saves:
        parts.append(f"{point_cloud_dir(model_path, saves[-1])} (latest complete save)")
    if checkpoints:
        parts.append(f"{checkpoint_path(model_path, checkpoints[-1])} (latest checkpoint)")
    return ", ".join(parts) if parts else "no earlier save or checkpoint"


def remove_partial_saves(model_path: str) -> list[str]:
    """Delete what an interrupted save left behind (hidden build folders, temporary checkpoint
    files); returns the removed paths."""
    removed = []
    parent = os.path.join(model_path, "point_cloud")
    if os.path.isdir(parent):
        for name in os.listdir(parent):
            if name.startswith(".") and PARTIAL_MARK in name:
                shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
                removed.append(os.path.join(parent, name))
    if os.path.isdir(model_path):
        for name in os.listdir(model_path):
            if name.startswith(".chkpnt") and ".tmp" in name:
                os.remove(os.path.join(model_path, name))
                removed.append(os.path.join(model_path, name))
    return removed


# ----------------------------------------------------------------------------- loading
@dataclass
class LoadedModel:
    """A trained model read from its folder: Gaussians, classifier, training parameters."""
    path: str
    iteration: int
    cfg: dict[str, Any]
    gaussians: GaussianModel
    classifier: IdentityClassifier


def load_model(model_path: str, iteration: int = -1, device: torch.device | str = "cpu") -> LoadedModel:
    """Read `<model_path>/point_cloud/iteration_N/{point_cloud.ply, classifier.pth}` (N = the
    latest for -1) onto `device`, with the SH degree and sizes from `<model_path>/cfg_args`
    (Gaussian Grouping's folders, which do not record num_objects, get GG's 16)."""
    cfg = read_cfg_args(model_path)
    cfg_path = os.path.join(model_path, "cfg_args")
    sizes = saved_params(ModelParams, model_path)
    if iteration == -1:
        iteration = search_for_max_iteration(os.path.join(model_path, "point_cloud"))
    folder = point_cloud_dir(model_path, iteration)
    gaussians = GaussianModel(sizes.sh_degree, sizes.num_objects, device)
    ply_path = os.path.join(folder, PLY_NAME)
    if not os.path.isfile(ply_path):
        raise FileNotFoundError(f"model point cloud not found: {ply_path}")
    manifest = verify_iteration_folder(folder)
    gaussians.load_ply(ply_path)
    check_gaussian_count(folder, manifest, gaussians.num_points)
    if gaussians.num_points == 0:
        raise ValueError(f"{ply_path} holds no Gaussians: there is nothing to render or edit")
    classifier = load_classifier(folder, gaussians.num_objects, sizes.num_classes, device, cfg_path)
    return LoadedModel(os.path.abspath(model_path), iteration, cfg, gaussians, classifier)


def load_classifier(folder: str, num_objects: int, num_classes: int, device: torch.device | str,
                    sizes_from: str) -> IdentityClassifier:
    """The identity classifier saved in the iteration folder `folder`, on `device`; a ValueError
    when it does not fit num_objects / num_classes (which `sizes_from` recorded)."""
    classifier = IdentityClassifier(num_objects, num_classes)
    state = torch_load_checked(os.path.join(folder, CLASSIFIER_NAME), "classifier")
    try:
        classifier.load_state_dict(state)
        classifier.to(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"{os.path.join(folder, CLASSIFIER_NAME)} does not fit num_objects "
                         f"{num_objects} / num_classes {num_classes} of {sizes_from} ({err})") from None
    return classifier


def background_color(white_background: bool, device: torch.device | str) -> torch.Tensor:
    """(3,) float32 background the model was trained over: white with `--white_background`, else black."""
    return torch.tensor([1.0, 1.0, 1.0] if white_background else [0.0, 0.0, 0.0], dtype=torch.float32,
                        device=device)


# ----------------------------------------------------------------------------- a run's folder
# A folder holding another run's results (saves, checkpoints, renders, a metrics curve) is
# refused unless the run resumes (`--resume`, `--start_checkpoint`) or `--overwrite` clears
# those results; otherwise old `iteration_*` folders would outlive the new run and be rendered
# in its name. Writability is probed before any training, not discovered at the first save.

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
                         overwrite: bool, accept_checkpoint: Callable[[str], None] | None = None) -> str:
    """Make `model_path` ready for a run and return the checkpoint to start from ('' for none).

    Resuming (`resume`: the latest checkpoint in the folder, or `start_checkpoint`) keeps the
    folder and removes only interrupted saves, after `accept_checkpoint` (which raises to refuse
    it) has accepted the checkpoint. A fresh run needs a folder without another run's results,
    or `overwrite`, which deletes them. The folder must be writable."""
    if overwrite and (resume or start_checkpoint):
        raise OutputFolderError("--overwrite deletes the model folder's saves; it cannot be "
                                "combined with --resume or --start_checkpoint")
    if resume and not start_checkpoint:
        start_checkpoint = latest_checkpoint(model_path)
    if start_checkpoint:
        if accept_checkpoint is not None:
            accept_checkpoint(start_checkpoint)   # before anything in the folder changes
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
