"""The Gaussians the viewer shows: a detached copy of a model (a trained one, or the training
one at its last refresh), so that neither the model folder nor training is ever touched, with
the live edits (remove, recolour; apps.editing.operations) applied to the copy.

An object's Gaussians are those the editing code selects for its id (`operations.select`:
classifier probability above GG's removal threshold); isolating, removing, recolouring,
counting and exporting an object all use that one selection. Thread-safe: the training
thread replaces the source while the render thread draws frames.
"""
from __future__ import annotations

import copy
import os
import threading
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from apps.editing.edited_folder import group_file_name
from apps.editing.operations import Selection, recolour_group, select
from apps.viewer.modes import FrameLayers, shown_gaussians
from arguments import OptimizationParams
from gaussian_renderer import render
from scene.gaussian_model import GaussianModel
from scene.identity_classifier import IdentityClassifier
from utils.visualization import FeaturePCA, to_uint8_rgb

# The PCA colours are fitted on at most this many Gaussians' encodings (a seeded sample).
PCA_SAMPLE = 100_000
EDIT_OPS = ("remove", "recolour")


@dataclass(frozen=True)
class Edit:
    """A live edit of one object: remove it, or recolour it to `rgb` (3 floats in [0, 1])."""
    op: str
    object_id: int
    rgb: Optional[tuple[float, float, float]] = None

    def __post_init__(self):
        if self.op not in EDIT_OPS:
            raise ValueError(f"unknown edit {self.op!r}; one of {', '.join(EDIT_OPS)}")
        if (self.op == "recolour") != (self.rgb is not None):
            raise ValueError("a recolour edit needs rgb, a removal none")


def detached_copy(gaussians: GaussianModel) -> GaussianModel:
    """A copy of the Gaussians' parameters and SH degrees, without the optimizer's state."""
    duplicate = GaussianModel(gaussians.max_sh_degree, gaussians.num_objects, gaussians.device)
    duplicate.restore({"max_sh_degree": gaussians.max_sh_degree, "num_objects": gaussians.num_objects,
                       "active_sh_degree": gaussians.active_sh_degree,
                       "spatial_lr_scale": gaussians.spatial_lr_scale,
                       "params": gaussians.parameters_by_group(), "optimizer": None},
                      OptimizationParams())
    return duplicate


def subset(gaussians: GaussianModel, keep: torch.Tensor) -> GaussianModel:
    """A detached copy of the Gaussians `keep` (N,) bool."""
    part = detached_copy(gaussians)
    part.prune_points(~keep)
    return part


def object_gaussians(gaussians: GaussianModel, classifier: IdentityClassifier, object_id: int
                     ) -> torch.Tensor:
    """(N,) bool: the Gaussians the editing code selects for `object_id` (none may be)."""
    try:
        return select(gaussians, classifier, Selection((object_id,)))
    except ValueError:  # no Gaussian is likely enough to be the object's
        return torch.zeros(gaussians.num_points, dtype=torch.bool, device=gaussians.device)


def apply_edit(gaussians: GaussianModel, classifier: IdentityClassifier, edit: Edit) -> int:
    """Apply `edit` in place (through apps.editing); returns how many Gaussians it touched."""
    mask = select(gaussians, classifier, Selection((edit.object_id,)))  # empty: ValueError
    if edit.op == "remove":
        gaussians.prune_points(mask)
    else:
        recolour_group(gaussians, mask, rgb=np.asarray(edit.rgb, dtype=np.float64))
    return int(mask.sum())


def fit_pca(gaussians: GaussianModel, seed: int = 0) -> FeaturePCA:
    """The PCA colours of the Gaussians' identity encodings (a seeded sample of large models)."""
    encodings = gaussians.get_objects.detach()[:, 0, :]
    if len(encodings) > PCA_SAMPLE:
        generator = torch.Generator().manual_seed(seed)
        encodings = encodings[torch.randperm(len(encodings), generator=generator)[:PCA_SAMPLE].to(encodings.device)]
    return FeaturePCA(encodings)


class DisplayModel:
    """The viewer's copy of a model and its live edits (see the module docstring)."""

    def __init__(self, gaussians: GaussianModel, classifier: IdentityClassifier, pipe,
                 background: torch.Tensor, iteration: Optional[int] = None):
        self.pipe = pipe
        self.background = background
        self.edits: list[Edit] = []
        self.skipped_edits: list[Edit] = []   # edits whose object has no Gaussian left
        self._lock = threading.RLock()
        self.set_source(gaussians, classifier, iteration)

    # ----------------------------------------------------------------------------- state
    @torch.no_grad()
    def set_source(self, gaussians: GaussianModel, classifier: IdentityClassifier,
                   iteration: Optional[int] = None) -> None:
        """Show (a copy of) these Gaussians and classifier from now on, with the edits re-applied."""
        base, base_classifier = detached_copy(gaussians), copy.deepcopy(classifier).eval()
        pca = fit_pca(base)
        with self._lock:
            self._base, self._classifier, self._pca, self.iteration = base, base_classifier, pca, iteration
            self._rebuild()

    @torch.no_grad()
    def _rebuild(self) -> None:
        shown, skipped = detached_copy(self._base), []
        for edit in self.edits:
            try:
                apply_edit(shown, self._classifier, edit)
            except ValueError:
                skipped.append(edit)
        self._shown, self.skipped_edits = shown, skipped
        self._groups: dict[int, torch.Tensor] = {}
        self._parts: dict[tuple[str, int], GaussianModel] = {}

    def add_edit(self, edit: Edit) -> int:
        """Apply `edit` to the shown Gaussians (kept across source refreshes); returns how many
        Gaussians it touched. An object with no Gaussian to edit is a ValueError."""
        with self._lock, torch.no_grad():
            touched = apply_edit(detached_copy(self._shown), self._classifier, edit)
            self.edits.append(edit)
            self._rebuild()
        return touched

    def reset_edits(self) -> None:
        with self._lock:
            self.edits = []
            self._rebuild()

    @property
    def num_classes(self) -> int:
        return self._classifier.num_classes

    @property
    def num_points(self) -> int:
        return self._shown.num_points

    @property
    def device(self) -> torch.device:
        return self._shown.device

    @property
    def pca(self) -> FeaturePCA:
        return self._pca

    @torch.no_grad()
    def group(self, object_id: int) -> torch.Tensor:
        """(N,) bool: the shown Gaussians of `object_id` (cached until the next change)."""
        with self._lock:
            if object_id not in self._groups:
                self._groups[object_id] = object_gaussians(self._shown, self._classifier, object_id)
            return self._groups[object_id]

    def _model_for(self, mode: str, picked: Optional[int]) -> GaussianModel:
        with self._lock:
            keep = shown_gaussians(mode, None if picked is None else self.group(picked))
            if keep is None:
                return self._shown
            if (mode, picked) not in self._parts:
                self._parts[(mode, picked)] = subset(self._shown, keep)
            return self._parts[(mode, picked)]

    # ----------------------------------------------------------------------------- frames
    @torch.no_grad()
    def render_layers(self, camera, mode: str, picked: Optional[int] = None) -> FrameLayers:
        """Render what `mode` shows from `camera`: colour, predicted ids, identity map."""
        with self._lock:
            model, classifier = self._model_for(mode, picked), self._classifier
        out = render(camera, model, self.pipe, self.background)  # outside the lock: the models are never changed
        ids = classifier(out["render_object"]).argmax(dim=0).cpu().numpy()
        return FrameLayers(to_uint8_rgb(out["render"]), ids, out["render_object"])

    @torch.no_grad()
    def export_object(self, object_id: int, folder: str) -> tuple[str, int]:
        """Write the shown Gaussians of `object_id` as `<folder>/group_<id>.ply` (the layout of
        edit.py's exported groups, which its `insert` edit reads); returns the path and count."""
        with self._lock:
            mask = self.group(object_id)
            if not mask.any():
                raise ValueError(f"no Gaussian of the shown model belongs to id {object_id}")
            part = subset(self._shown, mask)
        path = os.path.join(folder, group_file_name(object_id))
        os.makedirs(folder, exist_ok=True)
        part.save_ply(path)
        return path, part.num_points
