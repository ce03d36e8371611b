"""Edit plans: the JSON edit-file format (docs/editing.md) and the operation flags, parsed and
checked before anything runs."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
from scipy.spatial.transform import Rotation

from apps.inpainting.pipeline import parse_inpaint_options
from arguments import ConfigError, load_json_file

DEFAULT_THRESHOLD = 0.3        # Gaussian Grouping's removal_thresh
DEFAULT_OUTLIER_FACTOR = 1.0   # Gaussian Grouping's IQR factor for the convex hull
EDIT_RECORD = "edit.json"      # what an edited model folder records about its making
GROUPS_FOLDER = "groups"
GROUP_INDEX = "index.json"
# A target Gaussian must be at least this sure of an id for its encoding to label an inserted group.
MIN_IDENTITY_DONOR_PROBABILITY = 0.5
# Model-folder files copied unchanged into an edited folder (besides the edited PLY).
COPIED_MODEL_FILES = ("cameras.json",)


# ----------------------------------------------------------------------------- edit plans

OPERATIONS = ("remove", "swap", "transform", "insert", "recolour")
SELECTION_KEYS = {"threshold", "convex_hull", "outlier_factor"}
OPERATION_KEYS = {
    "remove": {"objects", "inpaint"} | SELECTION_KEYS,
    "swap": {"objects", "rotation_a", "rotation_b"} | SELECTION_KEYS,
    "transform": {"objects", "rotation", "translation"} | SELECTION_KEYS,
    "insert": {"ply", "rotation", "translation", "position", "identity"},
    "recolour": {"objects", "rgb", "shift", "view_dependent"} | SELECTION_KEYS,
}
REQUIRED_KEYS = {"remove": {"objects"}, "swap": {"objects"}, "transform": {"objects"},
                 "insert": {"ply"}, "recolour": {"objects"}}
PLAN_KEYS = {"model", "iteration", "output", "prompt_ids", "threshold", "edits", "export_groups",
             "render"}


@dataclass
class EditPlan:
    """What to do: the source model, the edits in order, where the result goes."""
    model: str
    output: str
    edits: list[dict[str, Any]]
    iteration: int = -1
    prompt_ids: str = ""
    threshold: float = DEFAULT_THRESHOLD
    export_groups: bool = False
    render: bool = True
    source: str = "command line"   # where the plan came from, for error messages
    base_dir: str = field(default_factory=os.getcwd)  # relative paths in the plan start here

    def resolve(self, path: str) -> str:
        """A path of the plan, relative ones taken from `base_dir`."""
        return path if os.path.isabs(path) else os.path.join(self.base_dir, path)


def parse_vector(value: Any, where: str, what: str) -> np.ndarray:
    if (not isinstance(value, list) or len(value) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise ConfigError(f"{where}: '{what}' must be a list of three numbers, got {value!r}")
    return np.asarray(value, dtype=np.float64)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_rotation(value: Any, where: str) -> np.ndarray:
    """(3, 3) rotation from `{"axis": [x, y, z], "degrees": a}`, `{"quaternion": [w, x, y, z]}`
    or `{"matrix": [[...], [...], [...]]}`; None is no rotation."""
    if value is None:
        return np.eye(3)
    keys = set(value) if isinstance(value, dict) else None
    if keys == {"axis", "degrees"}:
        axis = parse_vector(value["axis"], where, "axis")
        if not _number(value["degrees"]) or np.linalg.norm(axis) == 0:
            raise ConfigError(f"{where}: an axis rotation needs a non-zero axis and numeric degrees")
        return Rotation.from_rotvec(np.radians(value["degrees"]) * axis / np.linalg.norm(axis)).as_matrix()
    if keys == {"quaternion"}:
        q = value["quaternion"]
        if not isinstance(q, list) or len(q) != 4 or not all(map(_number, q)) or not any(q):
            raise ConfigError(f"{where}: 'quaternion' must be four numbers (w, x, y, z), not all zero")
        return Rotation.from_quat([q[1], q[2], q[3], q[0]]).as_matrix()
    if keys == {"matrix"}:
        try:
            m = np.asarray(value["matrix"], dtype=np.float64)
        except (TypeError, ValueError):
            m = None
        if m is None or m.shape != (3, 3) or not np.allclose(m @ m.T, np.eye(3), atol=1e-6) \
                or np.linalg.det(m) < 0:
            raise ConfigError(f"{where}: 'matrix' must be a 3x3 rotation (orthonormal, det +1)")
        return m
    raise ConfigError(f"{where}: a rotation is {{\"axis\": [x, y, z], \"degrees\": a}}, "
                      f"{{\"quaternion\": [w, x, y, z]}} or {{\"matrix\": 3x3}}, got {value!r}")


def _check_threshold(value: Any, where: str) -> None:
    if not _number(value) or not 0 <= value < 1:
        raise ConfigError(f"{where}: 'threshold' must be a number in [0, 1), got {value!r}")


def _check_boolean(data: dict[str, Any], key: str, where: str) -> None:
    """JSON true/false only: a string such as "no" or "false" would read as true."""
    if key in data and not isinstance(data[key], bool):
        raise ConfigError(f"{where}: '{key}' must be true or false, got {data[key]!r}")


def _check_edit(edit: Any, where: str) -> None:
    """Structural checks of one edit: known operation, known and required keys, value types."""
    if not isinstance(edit, dict) or edit.get("op") not in OPERATIONS:
        raise ConfigError(f"{where}: each edit is an object with \"op\" one of {list(OPERATIONS)}, "
                          f"got {edit!r}")
    op = edit["op"]
    unknown = set(edit) - OPERATION_KEYS[op] - {"op"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} for '{op}' "
                          f"(allowed: {sorted(OPERATION_KEYS[op])})")
    missing = REQUIRED_KEYS[op] - set(edit)
    if missing:
        raise ConfigError(f"{where}: '{op}' needs {sorted(missing)}")
    if "objects" in edit and (not isinstance(edit["objects"], list) or not edit["objects"]):
        raise ConfigError(f"{where}: 'objects' must be a non-empty list of ids and prompts")
    if op == "swap" and len(edit["objects"]) != 2:
        raise ConfigError(f"{where}: 'swap' takes exactly two objects, got {edit['objects']!r}")
    if op == "recolour" and ("rgb" in edit) == ("shift" in edit):
        raise ConfigError(f"{where}: 'recolour' needs exactly one of 'rgb' and 'shift'")
    if op == "insert" and "translation" in edit and "position" in edit:
        raise ConfigError(f"{where}: 'insert' takes 'translation' or 'position', not both")
    if "threshold" in edit:
        _check_threshold(edit["threshold"], where)
    if "outlier_factor" in edit and (not _number(edit["outlier_factor"]) or edit["outlier_factor"] < 0):
        raise ConfigError(f"{where}: 'outlier_factor' must be a number >= 0")
    for key in ("rgb", "shift", "translation", "position"):
        if key in edit:
            parse_vector(edit[key], where, key)
    for key in ("rotation", "rotation_a", "rotation_b"):
        if key in edit:
            parse_rotation(edit[key], where)
    for key in ("convex_hull", "view_dependent"):
        _check_boolean(edit, key, where)
    if edit.get("inpaint", False) is not False:
        parse_inpaint_options(edit["inpaint"], where)
    identity = edit.get("identity", "keep")
    if identity != "keep" and (isinstance(identity, bool) or not isinstance(identity, (int, str))):
        raise ConfigError(f"{where}: 'identity' must be \"keep\", an object id or a prompt, "
                          f"got {identity!r}")


def parse_edit_plan(data: dict[str, Any], source: str = "command line",
                    base_dir: Optional[str] = None) -> EditPlan:
    """An `EditPlan` from an edit file's JSON object (or the same built from flags), checked
    up front so that a typo fails before any work; errors name `source` and the edit."""
    unknown = set(data) - PLAN_KEYS
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {sorted(unknown)} (allowed: {sorted(PLAN_KEYS)})")
    for key, flag in (("model", "-m"), ("output", "-o")):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ConfigError(f"{source}: needs \"{key}\" (or the flag {flag})")
    edits = data.get("edits", [])
    if not isinstance(edits, list):
        raise ConfigError(f"{source}: 'edits' must be a list")
    if not edits and not data.get("export_groups"):
        raise ConfigError(f"{source}: nothing to do (no edits and no export_groups)")
    for i, edit in enumerate(edits):
        _check_edit(edit, f"{source}, edit {i + 1}")
    _check_threshold(data.get("threshold", DEFAULT_THRESHOLD), source)
    for key in ("export_groups", "render"):
        _check_boolean(data, key, source)
    if not isinstance(data.get("prompt_ids", ""), str):
        raise ConfigError(f"{source}: 'prompt_ids' is the path of a prompts JSON file ({{\"prompt\": [ids]}}), "
                          f"got {type(data['prompt_ids']).__name__} {data['prompt_ids']!r}")
    if not isinstance(data.get("iteration", -1), int) or isinstance(data.get("iteration", -1), bool):
        raise ConfigError(f"{source}: 'iteration' must be an integer")
    return EditPlan(model=data["model"], output=data["output"], edits=edits,
                    iteration=data.get("iteration", -1), prompt_ids=data.get("prompt_ids", ""),
                    threshold=data.get("threshold", DEFAULT_THRESHOLD),
                    export_groups=bool(data.get("export_groups", False)),
                    render=bool(data.get("render", True)), source=source,
                    base_dir=os.getcwd() if base_dir is None else base_dir)


PATH_KEYS = ("model", "output", "prompt_ids")


def read_edit_plan(path: str, overrides: Optional[dict[str, Any]] = None) -> EditPlan:
    """The plan of an edit file, with `overrides` (plan keys, e.g. from the command line; their
    paths relative to the working folder) replacing the file's values. Relative paths in the
    file are relative to the file's folder."""
    data = load_json_file(path, "edit file")
    for key, value in (overrides or {}).items():
        data[key] = os.path.abspath(value) if key in PATH_KEYS else value
    return parse_edit_plan(data, source=path, base_dir=os.path.dirname(os.path.abspath(path)))
