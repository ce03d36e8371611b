"""Scene editing on a trained model: object removal, moving and swapping, insertion,
recolouring and per-object export (paper section 4.4; Gaussian Grouping's
`edit_object_removal.py`).

An object *group* is selected through the decoupled identity encoding: the Gaussians whose
classifier probability for the group's ids (summed over the ids) exceeds a threshold,
optionally grown to every Gaussian inside the robust convex hull of that selection (Gaussian
Grouping's removal step: drop selected points outside Q1 - f*IQR .. Q3 + f*IQR on any axis,
take the convex hull of the rest, add every point inside it). Edits work on an in-memory
copy; the source model folder is only read. `run_edit_plan` writes the edited model to a new folder that is a
model folder in its own right (`cfg_args`, `point_cloud/iteration_N/{point_cloud.ply,
classifier.pth}`), so `render.py -m <edited>` renders it.

Rigid motions turn positions, Gaussian orientations and the view-dependent colour: the SH
coefficients of degree >= 1 are rotated with the group, so an object looks, from a camera
moved with it, exactly as before (`sh_band_rotations`).

The edit-file format is described in docs/editing.md and checked by `parse_edit_plan`.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.transform import Rotation

from arguments import ConfigError, load_json_file, read_cfg_args, write_cfg_args
from scene import point_cloud_dir, search_for_max_iteration
from scene.model_folder import (CLASSIFIER_NAME, PLY_NAME, check_gaussian_count,
                                verify_iteration_folder, write_iteration_folder)
from scene.gaussian_model import GaussianModel
from scene.identity_classifier import IdentityClassifier
from utils.atomic_io import atomic_path, torch_load_checked
from utils.render_export import load_prompt_ids
from utils.sh_utils import C0, RGB2SH, eval_sh

DEFAULT_THRESHOLD = 0.3        # Gaussian Grouping's removal_thresh
DEFAULT_OUTLIER_FACTOR = 1.0   # Gaussian Grouping's IQR factor for the convex hull
EDIT_RECORD = "edit.json"      # what an edited model folder records about its making
GROUPS_FOLDER = "groups"
GROUP_INDEX = "index.json"
# A target Gaussian must be at least this sure of an id for its encoding to label an inserted group.
MIN_IDENTITY_DONOR_PROBABILITY = 0.5
# Model-folder files copied unchanged into an edited folder (besides the edited PLY).
COPIED_MODEL_FILES = ("cameras.json",)


# ----------------------------------------------------------------------------- model folders

@dataclass
class LoadedModel:
    """A trained model read from its folder: Gaussians, classifier, training parameters."""
    path: str
    iteration: int
    cfg: dict[str, Any]
    gaussians: GaussianModel
    classifier: IdentityClassifier


def _cfg_value(cfg: dict[str, Any], key: str, cfg_path: str) -> int:
    if not isinstance(cfg.get(key), int):
        raise ConfigError(f"{cfg_path}: needs an integer '{key}' to load the model")
    return cfg[key]


def load_model(model_path: str, iteration: int = -1) -> LoadedModel:
    """Read `<model_path>/point_cloud/iteration_N/{point_cloud.ply, classifier.pth}` (N = the
    latest for -1) with the SH degree and sizes from `<model_path>/cfg_args`."""
    cfg = read_cfg_args(model_path)
    cfg_path = os.path.join(model_path, "cfg_args")
    if iteration == -1:
        iteration = search_for_max_iteration(os.path.join(model_path, "point_cloud"))
    folder = point_cloud_dir(model_path, iteration)
    gaussians = GaussianModel(_cfg_value(cfg, "sh_degree", cfg_path),
                              _cfg_value(cfg, "num_objects", cfg_path))
    ply_path = os.path.join(folder, PLY_NAME)
    if not os.path.isfile(ply_path):
        raise FileNotFoundError(f"model point cloud not found: {ply_path}")
    manifest = verify_iteration_folder(folder)
    gaussians.load_ply(ply_path)
    check_gaussian_count(folder, manifest, gaussians.num_points)
    classifier = IdentityClassifier(gaussians.num_objects, _cfg_value(cfg, "num_classes", cfg_path))
    state = torch_load_checked(os.path.join(folder, "classifier.pth"), "classifier")
    try:
        classifier.load_state_dict(state)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"{os.path.join(folder, 'classifier.pth')} does not fit num_objects "
                         f"{gaussians.num_objects} / num_classes {classifier.num_classes} of "
                         f"{cfg_path} ({err})") from None
    return LoadedModel(os.path.abspath(model_path), iteration, cfg, gaussians, classifier)


def _is_inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def check_output_folder(out_path: str, source_path: str, force: bool) -> None:
    """Refuse an output folder that is, holds or lies inside the source model, and an existing
    non-empty one unless `force` and it is an earlier edit output (it has `edit.json`)."""
    if _is_inside(out_path, source_path) or _is_inside(source_path, out_path):
        raise ConfigError(f"output folder {out_path} overlaps the source model {source_path}; "
                          f"edits are written to a separate folder")
    if os.path.exists(out_path) and not os.path.isdir(out_path):
        raise ConfigError(f"output path {out_path} exists and is not a folder")
    if os.path.isdir(out_path) and os.listdir(out_path):
        if not force:
            raise ConfigError(f"output folder {out_path} is not empty (--force replaces an earlier "
                              f"edit output)")
        if not os.path.isfile(os.path.join(out_path, EDIT_RECORD)):
            raise ConfigError(f"--force replaces only an earlier edit output; {out_path} has no "
                              f"{EDIT_RECORD}")


def write_model_folder(model: LoadedModel, out_path: str, record: dict[str, Any],
                       groups_prompts: Optional[dict[str, list[int]]] = None, force: bool = False) -> str:
    """Write the (edited) model as a model folder at `out_path`: `cfg_args` (the source's, with
    model_path changed), `point_cloud/iteration_N/point_cloud.ply`, the source's
    `classifier.pth` and `cameras.json` copied, `edit.json` (`record`), and with
    `groups_prompts` (prompts naming the ids, possibly none) the object groups in `groups/`.
    The folder is built beside `out_path` and renamed into place. Returns its absolute path."""
    out_path = os.path.abspath(out_path)
    check_output_folder(out_path, model.path, force)
    parent = os.path.dirname(out_path)
    os.makedirs(parent, exist_ok=True)
    build = os.path.join(parent, f".{os.path.basename(out_path)}.partial-{uuid.uuid4().hex[:8]}")
    try:
        write_cfg_args(argparse.Namespace(**{**model.cfg, "model_path": out_path}), build)
        source_classifier = os.path.join(point_cloud_dir(model.path, model.iteration), CLASSIFIER_NAME)
        write_iteration_folder(build, model.iteration, model.gaussians.num_points, {
            PLY_NAME: model.gaussians.save_ply,
            CLASSIFIER_NAME: lambda path: shutil.copyfile(source_classifier, path)})
        for name in COPIED_MODEL_FILES:
            if os.path.isfile(os.path.join(model.path, name)):
                shutil.copyfile(os.path.join(model.path, name), os.path.join(build, name))
        if groups_prompts is not None:
            export_groups(model, os.path.join(build, GROUPS_FOLDER), groups_prompts)
        write_json(os.path.join(build, EDIT_RECORD), record)
        replaced = _move_aside(out_path)
        os.rename(build, out_path)
        if replaced:
            shutil.rmtree(replaced)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return out_path


def _move_aside(path: str) -> Optional[str]:
    """Rename an existing folder `path` to a hidden sibling (returned); None if there is none."""
    if not os.path.isdir(path):
        return None
    aside = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.old-{uuid.uuid4().hex[:8]}")
    os.rename(path, aside)
    return aside


def write_json(path: str, content: Any) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            json.dump(content, fh, indent=2)
            fh.write("\n")


# ----------------------------------------------------------------------------- selection

def resolve_objects(items: list, prompts: dict[str, list[int]], num_classes: int, where: str
                    ) -> list[int]:
    """Object ids of `items` (ints are ids, strings are prompts of `prompts`), sorted, unique."""
    ids: set[int] = set()
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise ConfigError(f"{where}: object {item!r} is neither an id nor a prompt")
        if isinstance(item, str):
            if item not in prompts:
                known = ", ".join(sorted(prompts)) or "none: pass --prompt_ids / \"prompt_ids\""
                raise ConfigError(f"{where}: unknown prompt '{item}' (known prompts: {known})")
            ids.update(prompts[item])
        elif not 0 <= item < num_classes:
            raise ConfigError(f"{where}: object id {item} is outside 0..{num_classes - 1}")
        else:
            ids.add(item)
    return sorted(ids)


@torch.no_grad()
def group_probability(gaussians: GaussianModel, classifier: IdentityClassifier, ids: list[int]
                      ) -> torch.Tensor:
    """(N,) probability of each Gaussian to belong to the group `ids` (summed over the ids)."""
    return classifier.gaussian_probabilities(gaussians.get_objects)[:, ids].sum(dim=1)


def inlier_points(points: np.ndarray, outlier_factor: float) -> np.ndarray:
    """Rows of `points` (M, 3) inside [Q1 - f*IQR, Q3 + f*IQR] on every axis (f = outlier_factor)."""
    q1, q3 = np.percentile(points, 25, axis=0), np.percentile(points, 75, axis=0)
    spread = outlier_factor * (q3 - q1)
    inside = np.all((points >= q1 - spread) & (points <= q3 + spread), axis=1)
    return points[inside]


def grow_to_convex_hull(xyz: torch.Tensor, mask: torch.Tensor,
                        outlier_factor: float = DEFAULT_OUTLIER_FACTOR) -> torch.Tensor:
    """`mask` (N,) bool plus every point of `xyz` (N, 3) inside the convex hull of the selected
    points that are not outliers (`inlier_points`)."""
    hull_points = inlier_points(xyz[mask].double().numpy(), outlier_factor)
    try:
        hull = ConvexHull(hull_points)
    except (QhullError, ValueError) as err:
        raise ValueError(f"the selection has {len(hull_points)} inlier Gaussians, too few or too "
                         f"flat for a convex hull; select without convex_hull") from err
    # inside = on the inner side of every facet plane (unit normal n, offset c: n.x + c <= 0)
    signed_distances = xyz.double().numpy() @ hull.equations[:, :3].T + hull.equations[:, 3]
    return mask | torch.from_numpy(np.all(signed_distances <= 0.0, axis=1))


@dataclass(frozen=True)
class Selection:
    """Which Gaussians an edit touches: the group `ids` above `threshold`, optionally grown."""
    ids: tuple[int, ...]
    threshold: float = DEFAULT_THRESHOLD
    convex_hull: bool = False
    outlier_factor: float = DEFAULT_OUTLIER_FACTOR


def select(gaussians: GaussianModel, classifier: IdentityClassifier, selection: Selection
           ) -> torch.Tensor:
    """(N,) bool mask of the Gaussians of `selection`; an empty selection is an error."""
    mask = group_probability(gaussians, classifier, list(selection.ids)) > selection.threshold
    if not mask.any():
        raise ValueError(f"no Gaussian has probability > {selection.threshold} for ids "
                         f"{list(selection.ids)}")
    if selection.convex_hull:
        mask = grow_to_convex_hull(gaussians.get_xyz.detach(), mask, selection.outlier_factor)
    return mask


def group_centre(xyz: torch.Tensor, outlier_factor: float = DEFAULT_OUTLIER_FACTOR) -> np.ndarray:
    """(3,) mean position of a group's Gaussians `xyz` (M, 3), stray outliers left out."""
    points = xyz.detach().double().numpy()
    inliers = inlier_points(points, outlier_factor)
    return (inliers if len(inliers) else points).mean(axis=0)


# ----------------------------------------------------------------------------- rigid motions

@dataclass(frozen=True)
class RigidMotion:
    """x -> R (x - pivot) + destination: turn by `rotation` about `pivot`, then carry the pivot
    to `destination`."""
    rotation: np.ndarray      # (3, 3) proper rotation
    pivot: np.ndarray         # (3,)
    destination: np.ndarray   # (3,)

    def apply(self, points: torch.Tensor) -> torch.Tensor:
        """(M, 3) -> (M, 3)."""
        rotation = torch.from_numpy(self.rotation).double()
        moved = (points.double() - torch.from_numpy(self.pivot)) @ rotation.T + torch.from_numpy(self.destination)
        return moved.to(points.dtype)


def quaternion_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a * b of (w, x, y, z) quaternions, (..., 4) each."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([aw * bw - ax * bx - ay * by - az * bz,
                        aw * bx + ax * bw + ay * bz - az * by,
                        aw * by - ax * bz + ay * bw + az * bx,
                        aw * bz + ax * by - ay * bx + az * bw], dim=-1)


def rotation_quaternion(rotation: np.ndarray) -> torch.Tensor:
    """(4,) unit quaternion (w, x, y, z) of a rotation matrix (3, 3)."""
    x, y, z, w = Rotation.from_matrix(rotation).as_quat()
    return torch.tensor([w, x, y, z], dtype=torch.float64)


def fibonacci_sphere(count: int) -> np.ndarray:
    """(count, 3) unit vectors spread evenly over the sphere."""
    i = np.arange(count) + 0.5
    z = 1.0 - 2.0 * i / count
    azimuth = np.pi * (1.0 + 5.0 ** 0.5) * i
    r = np.sqrt(1.0 - z * z)
    return np.stack([r * np.cos(azimuth), r * np.sin(azimuth), z], axis=1)


def sh_basis(degree: int, directions: torch.Tensor) -> torch.Tensor:
    """(M, (degree+1)^2) values of the SH basis functions of `eval_sh` (3DGS's constants and
    signs) at unit `directions` (M, 3)."""
    k = (degree + 1) ** 2
    one_hot = torch.eye(k, dtype=directions.dtype).expand(len(directions), k, k)
    return eval_sh(degree, one_hot, directions)


def sh_band_rotations(rotation: np.ndarray, degree: int) -> list[torch.Tensor]:
    """Per band l = 1..degree the (2l+1, 2l+1) matrix D_l taking the coefficients c of a
    function f to those of f'(d) = f(R^T d), i.e. the colour a Gaussian turned by R shows
    along R d equals the colour it showed along d. Each band is closed under rotation, so D_l
    is the exact least-squares solution of Y_l(d_i) D_l = Y_l(R^T d_i) over sample directions."""
    directions = torch.from_numpy(fibonacci_sphere(64))
    basis = sh_basis(degree, directions)
    basis_turned = sh_basis(degree, directions @ torch.from_numpy(rotation).double())  # rows R^T d
    bands = []
    for l in range(1, degree + 1):
        band = slice(l * l, (l + 1) * (l + 1))
        bands.append(torch.linalg.lstsq(basis[:, band], basis_turned[:, band]).solution)
    return bands


def rotate_sh_rest(features_rest: torch.Tensor, rotation: np.ndarray) -> torch.Tensor:
    """SH coefficients of degrees 1.. (N, K-1, 3) of Gaussians turned by `rotation` (3, 3)."""
    degree = int(round((features_rest.shape[1] + 1) ** 0.5)) - 1
    turned = features_rest.double().clone()
    for l, matrix in enumerate(sh_band_rotations(rotation, degree), start=1):
        band = slice(l * l - 1, (l + 1) * (l + 1) - 1)  # f_rest holds coefficients from index 1
        turned[:, band] = torch.einsum("ij,njc->nic", matrix, features_rest[:, band].double())
    return turned.to(features_rest.dtype)


def moved_parameters(params: dict[str, torch.Tensor], motion: RigidMotion) -> dict[str, torch.Tensor]:
    """Raw Gaussian parameters (one tensor per group name) after `motion`: positions moved,
    orientations and SH coefficients of degree >= 1 turned; everything else unchanged."""
    moved = dict(params)
    moved["xyz"] = motion.apply(params["xyz"])
    turn = rotation_quaternion(motion.rotation)
    moved["rotation"] = quaternion_product(turn, params["rotation"].double()).to(params["rotation"].dtype)
    if params["f_rest"].shape[1] > 0:
        moved["f_rest"] = rotate_sh_rest(params["f_rest"], motion.rotation)
    return moved


def _rows(gaussians: GaussianModel, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    return {name: param.detach()[mask] for name, param in gaussians.parameters_by_group().items()}


@torch.no_grad()
def _write_rows(gaussians: GaussianModel, mask: torch.Tensor, rows: dict[str, torch.Tensor]) -> None:
    """Replace the rows `mask` (N,) of the named parameters by `rows[name]`."""
    for name, values in rows.items():
        tensor = gaussians.parameters_by_group()[name].detach().clone()
        tensor[mask] = values.to(tensor.dtype)
        gaussians.replace_tensor_to_optimizer(tensor, name)


def move_groups(gaussians: GaussianModel, moves: list[tuple[torch.Tensor, RigidMotion]]) -> None:
    """Apply each (mask (N,) bool, motion) to the Gaussians of its mask; the masks are read
    before anything moves, so groups can trade places."""
    rows = [(mask, moved_parameters(_rows(gaussians, mask), motion)) for mask, motion in moves]
    for mask, values in rows:
        _write_rows(gaussians, mask, {name: values[name] for name in ("xyz", "rotation", "f_rest")})


def disjoint_masks(mask_a: torch.Tensor, mask_b: torch.Tensor, prob_a: torch.Tensor,
                   prob_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two selections made disjoint: a Gaussian in both goes to the group it is likelier in."""
    both = mask_a & mask_b
    return mask_a & ~(both & (prob_b > prob_a)), mask_b & ~(both & (prob_b <= prob_a))


# ----------------------------------------------------------------------------- other edits

@torch.no_grad()
def recolour_group(gaussians: GaussianModel, mask: torch.Tensor, rgb: Optional[np.ndarray] = None,
                   shift: Optional[np.ndarray] = None, keep_view_dependent: bool = True) -> None:
    """Set the base colour (SH degree 0) of the Gaussians `mask` (N,) to `rgb` (3,), or add
    `shift` (3,) to it (in RGB units); `keep_view_dependent=False` zeroes degrees >= 1."""
    if (rgb is None) == (shift is None):
        raise ValueError("recolour needs exactly one of rgb and shift")
    rows = _rows(gaussians, mask)
    dc = rows["f_dc"]
    if rgb is not None:
        dc = RGB2SH(torch.as_tensor(rgb, dtype=dc.dtype)).expand_as(dc).clone()
    else:
        dc = dc + torch.as_tensor(shift, dtype=dc.dtype) / C0
    edited = {"f_dc": dc}
    if not keep_view_dependent:
        edited["f_rest"] = torch.zeros_like(rows["f_rest"])
    _write_rows(gaussians, mask, edited)


def read_group_ply(path: str, like: GaussianModel) -> dict[str, torch.Tensor]:
    """Raw parameters of the Gaussians in a PLY (an exported group), which must have the SH
    degree and identity size of `like`."""
    group = GaussianModel(like.max_sh_degree, like.num_objects)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"group PLY not found: {path}")
    group.load_ply(path)
    if group.num_points == 0:
        raise ValueError(f"{path}: the group has no Gaussians")
    return _rows(group, torch.ones(group.num_points, dtype=torch.bool))


@torch.no_grad()
def identity_encoding_of(gaussians: GaussianModel, classifier: IdentityClassifier, object_id: int
                         ) -> torch.Tensor:
    """(1, D) encoding of the Gaussian the classifier is surest belongs to `object_id`."""
    probability = classifier.gaussian_probabilities(gaussians.get_objects)[:, object_id]
    best = int(probability.argmax()) if len(probability) else None
    if best is None or probability[best] < MIN_IDENTITY_DONOR_PROBABILITY:
        raise ValueError(f"no Gaussian of the model is classified as id {object_id} with "
                         f"probability >= {MIN_IDENTITY_DONOR_PROBABILITY}; cannot label an "
                         f"inserted group with it")
    return gaussians.get_objects.detach()[best]


# ----------------------------------------------------------------------------- export

@torch.no_grad()
def predicted_ids(gaussians: GaussianModel, classifier: IdentityClassifier) -> torch.Tensor:
    """(N,) most probable object id of each Gaussian."""
    return classifier.gaussian_probabilities(gaussians.get_objects).argmax(dim=1)


def group_file_name(object_id: int) -> str:
    return f"group_{object_id:03d}.ply"


def export_groups(model: LoadedModel, out_dir: str, prompts: dict[str, list[int]]) -> list[dict[str, Any]]:
    """Write each object group (the Gaussians whose most probable id it is; these groups
    partition the model) as `<out_dir>/group_<id>.ply` in the model's PLY layout, and
    `<out_dir>/index.json` listing per group: id, prompts naming it, Gaussian count,
    axis-aligned bounding box of the centres, file. Returns the index."""
    labels = predicted_ids(model.gaussians, model.classifier)
    index = []
    for object_id in sorted(set(labels.tolist())):
        mask = labels == object_id
        group = copy.deepcopy(model.gaussians)
        group.prune_points(~mask)
        group.save_ply(os.path.join(out_dir, group_file_name(object_id)))
        xyz = model.gaussians.get_xyz.detach()[mask]
        index.append({"id": object_id,
                      "prompts": sorted(p for p, p_ids in prompts.items() if object_id in p_ids),
                      "count": int(mask.sum()),
                      "bbox_min": xyz.min(dim=0).values.tolist(),
                      "bbox_max": xyz.max(dim=0).values.tolist(),
                      "file": group_file_name(object_id)})
    write_json(os.path.join(out_dir, GROUP_INDEX), index)
    return index


# ----------------------------------------------------------------------------- edit plans

OPERATIONS = ("remove", "swap", "transform", "insert", "recolour")
SELECTION_KEYS = {"threshold", "convex_hull", "outlier_factor"}
OPERATION_KEYS = {
    "remove": {"objects"} | SELECTION_KEYS,
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


def _vector(value: Any, where: str, what: str) -> np.ndarray:
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
        axis = _vector(value["axis"], where, "axis")
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
            _vector(edit[key], where, key)
    for key in ("rotation", "rotation_a", "rotation_b"):
        if key in edit:
            parse_rotation(edit[key], where)
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
    if not isinstance(data.get("iteration", -1), int):
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


@dataclass
class EditContext:
    """What every edit needs besides the edit itself."""
    model: LoadedModel
    prompts: dict[str, list[int]]
    plan: EditPlan
    where: str      # "<edit file>, edit <i>", for error messages

    def ids(self, items: list) -> list[int]:
        return resolve_objects(items, self.prompts, self.model.classifier.num_classes, self.where)

    def selection(self, edit: dict[str, Any], ids: list[int]) -> Selection:
        return Selection(tuple(ids), edit.get("threshold", self.plan.threshold),
                         bool(edit.get("convex_hull", False)),
                         edit.get("outlier_factor", DEFAULT_OUTLIER_FACTOR))

    def select(self, edit: dict[str, Any], ids: list[int]) -> torch.Tensor:
        return select(self.model.gaussians, self.model.classifier, self.selection(edit, ids))


def _remove(edit: dict[str, Any], ctx: EditContext) -> dict[str, Any]:
    ids = ctx.ids(edit["objects"])
    mask = ctx.select(edit, ids)
    ctx.model.gaussians.prune_points(mask)
    return {"ids": ids, "count": int(mask.sum())}


def _swap(edit: dict[str, Any], ctx: EditContext) -> dict[str, Any]:
    gaussians, classifier = ctx.model.gaussians, ctx.model.classifier
    ids_a, ids_b = (ctx.ids([item]) for item in edit["objects"])
    if set(ids_a) & set(ids_b):
        raise ConfigError(f"{ctx.where}: cannot swap {edit['objects'][0]!r} with {edit['objects'][1]!r}; "
                          f"they share ids {sorted(set(ids_a) & set(ids_b))}")
    mask_a, mask_b = disjoint_masks(
        ctx.select(edit, ids_a), ctx.select(edit, ids_b),
        group_probability(gaussians, classifier, ids_a), group_probability(gaussians, classifier, ids_b))
    if not (mask_a.any() and mask_b.any()):
        raise ValueError(f"{ctx.where}: every Gaussian selected for one object is likelier the "
                         f"other's; nothing left to swap")
    centre_a, centre_b = group_centre(gaussians.get_xyz[mask_a]), group_centre(gaussians.get_xyz[mask_b])
    move_groups(gaussians, [
        (mask_a, RigidMotion(parse_rotation(edit.get("rotation_a"), ctx.where), centre_a, centre_b)),
        (mask_b, RigidMotion(parse_rotation(edit.get("rotation_b"), ctx.where), centre_b, centre_a))])
    return {"ids": [ids_a, ids_b], "count": [int(mask_a.sum()), int(mask_b.sum())],
            "centres": [centre_a.tolist(), centre_b.tolist()]}


def _transform(edit: dict[str, Any], ctx: EditContext) -> dict[str, Any]:
    ids = ctx.ids(edit["objects"])
    mask = ctx.select(edit, ids)
    centre = group_centre(ctx.model.gaussians.get_xyz[mask])
    translation = _vector(edit.get("translation", [0, 0, 0]), ctx.where, "translation")
    move_groups(ctx.model.gaussians, [(mask, RigidMotion(parse_rotation(edit.get("rotation"), ctx.where),
                                                         centre, centre + translation))])
    return {"ids": ids, "count": int(mask.sum()), "centre": centre.tolist()}


def _insert(edit: dict[str, Any], ctx: EditContext) -> dict[str, Any]:
    gaussians = ctx.model.gaussians
    path = ctx.plan.resolve(edit["ply"])
    rows = read_group_ply(path, gaussians)
    centre = group_centre(rows["xyz"])
    destination = (_vector(edit["position"], ctx.where, "position") if "position" in edit
                   else centre + _vector(edit.get("translation", [0, 0, 0]), ctx.where, "translation"))
    rows = moved_parameters(rows, RigidMotion(parse_rotation(edit.get("rotation"), ctx.where),
                                              centre, destination))
    identity = edit.get("identity", "keep")
    if identity != "keep":
        ids = ctx.ids([identity])
        if len(ids) != 1:
            raise ConfigError(f"{ctx.where}: 'identity' must name one id; {identity!r} has {ids}")
        encoding = identity_encoding_of(gaussians, ctx.model.classifier, ids[0])
        rows["obj_dc"] = encoding.expand_as(rows["obj_dc"]).clone()
    gaussians.densification_postfix(rows)
    return {"ply": os.path.abspath(path), "count": len(rows["xyz"]), "centre": centre.tolist(),
            "destination": destination.tolist()}


def _recolour(edit: dict[str, Any], ctx: EditContext) -> dict[str, Any]:
    ids = ctx.ids(edit["objects"])
    mask = ctx.select(edit, ids)
    recolour_group(ctx.model.gaussians, mask,
                   rgb=np.asarray(edit["rgb"], dtype=np.float64) if "rgb" in edit else None,
                   shift=np.asarray(edit["shift"], dtype=np.float64) if "shift" in edit else None,
                   keep_view_dependent=bool(edit.get("view_dependent", True)))
    return {"ids": ids, "count": int(mask.sum())}


EDIT_FUNCTIONS = {"remove": _remove, "swap": _swap, "transform": _transform, "insert": _insert,
                  "recolour": _recolour}


def load_plan_prompts(plan: EditPlan, num_classes: int) -> dict[str, list[int]]:
    """The plan's `{prompt: [ids]}` file, read as render.py reads it; {} without one."""
    return load_prompt_ids(plan.resolve(plan.prompt_ids), num_classes) if plan.prompt_ids else {}


def run_edit_plan(plan: EditPlan, force: bool = False) -> tuple[str, dict[str, Any]]:
    """Load the plan's model, apply its edits in order, write the edited model folder (and the
    groups when asked). Returns the folder and its edit record. The source is only read."""
    model = load_model(plan.resolve(plan.model), plan.iteration)
    out_path = os.path.abspath(plan.resolve(plan.output))
    check_output_folder(out_path, model.path, force)  # before the work, not only after it
    prompts = load_plan_prompts(plan, model.classifier.num_classes)
    num_before = model.gaussians.num_points
    records = []
    for i, edit in enumerate(plan.edits):
        ctx = EditContext(model, prompts, plan, f"{plan.source}, edit {i + 1}")
        records.append({**edit, **EDIT_FUNCTIONS[edit["op"]](edit, ctx)})
    record = {"source_model": model.path, "iteration": model.iteration, "edits": records,
              "gaussians_before": num_before, "gaussians_after": model.gaussians.num_points,
              "prompt_ids": os.path.abspath(plan.resolve(plan.prompt_ids)) if plan.prompt_ids else None}
    out_path = write_model_folder(model, out_path, record, prompts if plan.export_groups else None, force)
    return out_path, record
