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
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from typing import Any, Callable

from utils.atomic_io import torch_save_atomic
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
