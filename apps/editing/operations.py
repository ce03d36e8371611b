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

The edit-file format is described in docs/editing.md and checked by `apps.editing.plan`;
model folders are read by `scene.model_folder` and written by `apps.editing.edited_folder`.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.transform import Rotation

from apps.editing.edited_folder import check_output_folder, write_model_folder
from apps.editing.plan import (
    DEFAULT_OUTLIER_FACTOR,
    DEFAULT_THRESHOLD,
    MIN_IDENTITY_DONOR_PROBABILITY,
    EditPlan,
    parse_rotation,
    parse_vector,
)
from apps.inpainting.pipeline import (
    InpaintResult,
    TrainingViews,
    inpaint_removal,
    parse_inpaint_options,
    training_views,
    write_inpaint_outputs,
)
from apps.render_export import load_prompt_ids
from arguments import ConfigError
from scene.gaussian_model import GaussianModel
from scene.identity_classifier import IdentityClassifier
from scene.model_folder import LoadedModel, load_model
from utils.sh_utils import C0, RGB2SH, rotate_sh_rest

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
    hull_points = inlier_points(xyz[mask].double().cpu().numpy(), outlier_factor)
    try:
        hull = ConvexHull(hull_points)
    except (QhullError, ValueError) as err:
        raise ValueError(f"the selection has {len(hull_points)} inlier Gaussians, too few or too "
                         f"flat for a convex hull; select without convex_hull") from err
    # inside = on the inner side of every facet plane (unit normal n, offset c: n.x + c <= 0)
    signed_distances = xyz.double().cpu().numpy() @ hull.equations[:, :3].T + hull.equations[:, 3]
    return mask | torch.from_numpy(np.all(signed_distances <= 0.0, axis=1)).to(mask.device)


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
    points = xyz.detach().double().cpu().numpy()
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
        rotation, pivot, destination = (torch.from_numpy(a).double().to(points.device)
                                        for a in (self.rotation, self.pivot, self.destination))
        moved = (points.double() - pivot) @ rotation.T + destination
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


def moved_parameters(params: dict[str, torch.Tensor], motion: RigidMotion) -> dict[str, torch.Tensor]:
    """Raw Gaussian parameters (one tensor per group name) after `motion`: positions moved,
    orientations and SH coefficients of degree >= 1 turned; everything else unchanged."""
    moved = dict(params)
    moved["xyz"] = motion.apply(params["xyz"])
    turn = rotation_quaternion(motion.rotation).to(params["rotation"].device)
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
        dc = RGB2SH(torch.as_tensor(rgb, dtype=dc.dtype, device=dc.device)).expand_as(dc).clone()
    else:
        dc = dc + torch.as_tensor(shift, dtype=dc.dtype, device=dc.device) / C0
    edited = {"f_dc": dc}
    if not keep_view_dependent:
        edited["f_rest"] = torch.zeros_like(rows["f_rest"])
    _write_rows(gaussians, mask, edited)


def read_group_ply(path: str, like: GaussianModel) -> dict[str, torch.Tensor]:
    """Raw parameters of the Gaussians in a PLY (an exported group), which must have the SH
    degree and identity size of `like`."""
    group = GaussianModel(like.max_sh_degree, like.num_objects, like.device)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"group PLY not found: {path}")
    group.load_ply(path)
    if group.num_points == 0:
        raise ValueError(f"{path}: the group has no Gaussians")
    return _rows(group, torch.ones(group.num_points, dtype=torch.bool, device=group.device))


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


@dataclass
class EditContext:
    """What every edit needs besides the edit itself."""
    model: LoadedModel
    prompts: dict[str, list[int]]
    plan: EditPlan
    where: str      # "<edit file>, edit <i>", for error messages
    device: torch.device | str = "cpu"
    inpaintings: list[InpaintResult] = field(default_factory=list)   # filled by removals with "inpaint"

    def training_views(self) -> TrainingViews:
        return training_views(self.model.path, self.model.iteration, self.device)

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
    if edit.get("inpaint", False) is False:
        ctx.model.gaussians.prune_points(mask)
        return {"ids": ids, "count": int(mask.sum())}
    options = parse_inpaint_options(edit["inpaint"], ctx.where, ctx.plan.base_dir)
    result = inpaint_removal(ctx.model.gaussians, mask, ctx.training_views(), options)
    ctx.inpaintings.append(result)
    return {"ids": ids, "count": int(mask.sum()), "inpaint": result.record}


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
    translation = parse_vector(edit.get("translation", [0, 0, 0]), ctx.where, "translation")
    move_groups(ctx.model.gaussians, [(mask, RigidMotion(parse_rotation(edit.get("rotation"), ctx.where),
                                                         centre, centre + translation))])
    return {"ids": ids, "count": int(mask.sum()), "centre": centre.tolist()}


def _insert(edit: dict[str, Any], ctx: EditContext) -> dict[str, Any]:
    gaussians = ctx.model.gaussians
    path = ctx.plan.resolve(edit["ply"])
    rows = read_group_ply(path, gaussians)
    centre = group_centre(rows["xyz"])
    destination = (parse_vector(edit["position"], ctx.where, "position") if "position" in edit
                   else centre + parse_vector(edit.get("translation", [0, 0, 0]), ctx.where, "translation"))
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


def run_edit_plan(plan: EditPlan, force: bool = False, device: torch.device | str = "cpu"
                  ) -> tuple[str, dict[str, Any]]:
    """Load the plan's model, apply its edits in order, write the edited model folder (and the
    groups when asked). Returns the folder and its edit record. The source is only read."""
    model = load_model(plan.resolve(plan.model), plan.iteration, device)
    out_path = os.path.abspath(plan.resolve(plan.output))
    check_output_folder(out_path, model.path, force)  # before the work, not only after it
    prompts = load_plan_prompts(plan, model.classifier.num_classes)
    num_before = model.gaussians.num_points
    records, inpaintings = [], []
    for i, edit in enumerate(plan.edits):
        ctx = EditContext(model, prompts, plan, f"{plan.source}, edit {i + 1}", device, inpaintings)
        records.append({**edit, **EDIT_FUNCTIONS[edit["op"]](edit, ctx)})
    if model.gaussians.num_points == 0:
        raise ValueError(f"{plan.source}: the edits remove all {num_before} Gaussians; an empty model "
                         f"cannot be rendered, so nothing was written to {out_path}")
    record = {"source_model": model.path, "iteration": model.iteration, "edits": records,
              "gaussians_before": num_before, "gaussians_after": model.gaussians.num_points,
              "prompt_ids": os.path.abspath(plan.resolve(plan.prompt_ids)) if plan.prompt_ids else None}
    inpaint_outputs = {inpaint_folder_name(k): functools.partial(write_inpaint_outputs, result=result)
                       for k, result in enumerate(inpaintings)}
    out_path = write_model_folder(model, out_path, record, prompts if plan.export_groups else None, force,
                                  extra=inpaint_outputs)
    return out_path, record


def inpaint_folder_name(k: int) -> str:
    """Folder of the k-th (0-based) inpainting of a plan in the edited model: inpaint, inpaint_2, ..."""
    return "inpaint" if k == 0 else f"inpaint_{k + 1}"
