"""Lifting 2D id masks onto a trained Gaussian model in closed form, without training
(the evidence rule of FlashSplat, ECCV 2024, and GaussianCut, NeurIPS 2024).

A Gaussian g blends into pixel p with weight w_g(p) = alpha_g(p) T_g(p). Its evidence for label l
is E[g, l] = sum over views and pixels p with mask id l of w_g(p). Rendering a per-Gaussian feature
f_g through the same blend gives F(p) = sum_g w_g(p) f_g, so the gradient of
sum_p <onehot(M(p)), F(p)> with respect to f_g (L channels, all zero) is exactly E[g, :]: one
forward and one backward of the rasterizer per view (per chunk of labels), on the CPU and through
the same CUDA code on a GPU; no new kernel.

Rules, in order:
- evidence: a Gaussian whose total evidence (summed over labels and views, in pixels' worth of
  blending weight) reaches `min_evidence` takes the label with the most evidence (the background,
  id 0 in Gaussian Grouping's masks, is a label like any other; ids in `ignore_ids`, e.g. a void
  id, give no evidence). FlashSplat's closed form reduces to this argmax when the evidence is
  normalised by the Gaussian's total weight.
- neighbours: a Gaussian seen too little (occluded, outside every view) takes the label most
  common among its `fill_neighbors` nearest Gaussians labelled by evidence that lie within
  `fill_radius` (0: `FILL_RADIUS_FACTOR` times the median spacing of those Gaussians);
- unknown: otherwise it stays unknown (label -1; a zero identity encoding, which the classifier
  gives a uniform, sub-threshold probability, so it joins no object).

Identity encodings and classifier (what render.py, edit.py and view.py read): channel c of the
encoding stands for mask id `label_ids[c]`; a Gaussian's encoding is the one-hot of its label
(or, with `soft`, its evidence normalised to a distribution over labels); the classifier is the
1x1 convolution with weight[label_ids[c], c] = `LOGIT_SCALE` and no bias. Classifying the blended
map then takes the label with the most blended weight at each pixel, exactly, and a pixel covered
at opacity a by one label gets probability e^(20 a) / (e^(20 a) + C - 1) for it (C classes).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import torch

from gaussian_renderer import render
from scene.gaussian_model import GaussianModel
from scene.identity_classifier import IdentityClassifier
from utils.knn import knn, mean_sq_dist_to_3nn

LOGIT_SCALE = 20.0          # classifier weight: a Gaussian's own label gets probability ~1
FILL_RADIUS_FACTOR = 3.0    # automatic fill radius, in median spacings of the labelled Gaussians
DEFAULT_CHUNK = 32          # labels per rasterizer pass (a compile-time channel count)

FROM_EVIDENCE, FROM_NEIGHBOURS, UNKNOWN = 0, 1, 2


@dataclass
class LiftRules:
    """How evidence becomes labels (see the module docstring)."""
    min_evidence: float = 1.0
    fill_neighbors: int = 8
    fill_radius: float = 0.0
    ignore_ids: tuple[int, ...] = field(default_factory=tuple)
    soft: bool = False


@dataclass
class Evidence:
    """What one pass over the views measured."""
    label_ids: list[int]        # L mask ids; column c of `weights` is id label_ids[c]
    weights: torch.Tensor       # (N, L) summed blending weight of each Gaussian per label
    coverage: list[float]       # per view, mean rendered opacity (how much of it the model covers)


@dataclass
class LiftResult:
    label_ids: list[int]
    labels: torch.Tensor        # (N,) int64 column of label_ids, -1 for unknown
    distribution: torch.Tensor  # (N, L) soft labels (rows sum to 1; zero rows for unknown)
    source: torch.Tensor        # (N,) int8: FROM_EVIDENCE, FROM_NEIGHBOURS or UNKNOWN
    fill_radius: float          # the radius the neighbour rule used (0 when it had nothing to do)

    def counts(self) -> dict[str, int]:
        return {name: int((self.source == code).sum()) for name, code in
                (("from_evidence", FROM_EVIDENCE), ("from_neighbours", FROM_NEIGHBOURS), ("unknown", UNKNOWN))}


def mask_label_ids(masks: Iterable[torch.Tensor], ignore_ids: Sequence[int] = ()) -> list[int]:
    """The sorted ids present in any of `masks` ((H, W) integer tensors), without `ignore_ids`."""
    present: set[int] = set()
    for mask in masks:
        present.update(torch.unique(mask).tolist())
    return sorted(present - set(ignore_ids))


def _channel_lookup(label_ids: Sequence[int], device: torch.device) -> torch.Tensor:
    """(max id + 1,) int64: mask id -> its column in label_ids, -1 for ids not lifted."""
    size = max(label_ids) + 1 if label_ids else 1
    lookup = torch.full((size,), -1, dtype=torch.int64, device=device)
    lookup[torch.tensor(label_ids, dtype=torch.int64, device=device)] = torch.arange(len(label_ids), device=device)
    return lookup


def view_channels(mask: torch.Tensor, lookup: torch.Tensor) -> torch.Tensor:
    """(H, W) mask ids -> (H, W) columns of the lifted labels, -1 where the id is not lifted."""
    mask = mask.to(lookup.device, torch.int64)
    inside = mask < lookup.shape[0]
    return torch.where(inside, lookup[mask.clamp(max=lookup.shape[0] - 1)], torch.full_like(mask, -1))


def accumulate_evidence(gaussians: GaussianModel, views: Sequence[tuple[object, torch.Tensor]],
                        label_ids: list[int], pipe, background: torch.Tensor,
                        chunk: int = DEFAULT_CHUNK) -> Evidence:
    """E[g, l] over `views` ((camera, (H, W) id mask) pairs, the mask at the camera's size) for
    the ids `label_ids`: per view and chunk of `chunk` labels, one render of zero identity
    features and the gradient of sum_p <onehot(M(p)), F(p)> with respect to them."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    device = gaussians.device
    n, num_labels = gaussians.num_points, len(label_ids)
    weights = torch.zeros((n, num_labels), dtype=torch.float32, device=device)
    lookup = _channel_lookup(label_ids, device)
    coverage = []
    with torch.enable_grad():
        for camera, mask in views:
            channels = view_channels(mask, lookup)
            for start in range(0, num_labels, chunk):
                width = min(chunk, num_labels - start)
                features = torch.zeros((n, 1, width), dtype=torch.float32, device=device, requires_grad=True)
                out = render(camera, gaussians, pipe, background, override_objects=features)
                if out["render_object"].shape[1:] != channels.shape:
                    raise ValueError(f"view {getattr(camera, 'image_name', '?')}: mask is "
                                     f"{channels.shape[1]}x{channels.shape[0]}, the view renders "
                                     f"{out['render_object'].shape[2]}x{out['render_object'].shape[1]}")
                columns = torch.arange(start, start + width, device=device)[:, None, None]
                onehot = (channels[None] == columns).to(out["render_object"].dtype)
                (grad,) = torch.autograd.grad((onehot * out["render_object"]).sum(), features)
                weights[:, start:start + width] += grad[:, 0, :]
                if start == 0:
                    coverage.append(float(out["alpha"].detach().mean()))
    return Evidence(list(label_ids), weights, coverage)


def assign_labels(evidence: Evidence, xyz: torch.Tensor, rules: LiftRules) -> LiftResult:
    """Labels from `evidence` (N, L) and the Gaussians' centres `xyz` (N, 3) by `rules`."""
    weights = evidence.weights
    n, num_labels = weights.shape
    total = weights.sum(dim=1)
    known = total >= rules.min_evidence if num_labels else torch.zeros(n, dtype=torch.bool, device=weights.device)
    labels = torch.full((n,), -1, dtype=torch.int64, device=weights.device)
    source = torch.full((n,), UNKNOWN, dtype=torch.int8, device=weights.device)
    distribution = torch.zeros_like(weights)
    if num_labels:
        labels[known] = weights[known].argmax(dim=1)
        distribution[known] = weights[known] / total[known, None]
        source[known] = FROM_EVIDENCE
    radius = 0.0
    unknown = ~known
    if bool(known.any()) and bool(unknown.any()) and rules.fill_neighbors > 0:
        labelled_xyz = xyz[known].detach()
        radius = rules.fill_radius or auto_fill_radius(labelled_xyz)
        dist2, idx = knn(xyz[unknown].detach(), labelled_xyz, rules.fill_neighbors)
        usable = (idx >= 0) & (dist2 <= radius * radius)
        votes = torch.zeros((int(unknown.sum()), num_labels), device=weights.device)
        neighbour_labels = labels[known][idx.clamp_min(0)]
        votes.scatter_add_(1, neighbour_labels, usable.to(votes.dtype))
        filled = usable.any(dim=1)
        rows = unknown.nonzero()[:, 0][filled]
        labels[rows] = votes[filled].argmax(dim=1)
        distribution[rows] = votes[filled] / votes[filled].sum(dim=1, keepdim=True)
        source[rows] = FROM_NEIGHBOURS
    return LiftResult(list(evidence.label_ids), labels, distribution, source, float(radius))


def auto_fill_radius(labelled_xyz: torch.Tensor) -> float:
    """FILL_RADIUS_FACTOR x the median distance of the labelled Gaussians to their 3 nearest."""
    if labelled_xyz.shape[0] < 2:
        return 0.0
    spacing = mean_sq_dist_to_3nn(labelled_xyz).sqrt()
    return FILL_RADIUS_FACTOR * float(spacing[torch.isfinite(spacing)].median())


def identity_dimension(num_labels: int, minimum: int = 16) -> int:
    """Encoding channels D for `num_labels` labels: one per label, at least `minimum` (16 keeps
    Gaussian Grouping's layout whenever the labels fit)."""
    return max(minimum, num_labels)


def lifted_encodings(result: LiftResult, num_objects: int, soft: bool = False) -> torch.Tensor:
    """(N, 1, num_objects) identity encodings: the one-hot of each label (`soft`: its
    distribution) in the first L channels, zero for unknown Gaussians and unused channels."""
    n, num_labels = result.distribution.shape
    if num_objects < num_labels:
        raise ValueError(f"{num_labels} labels need at least {num_labels} identity channels, got {num_objects}")
    encodings = torch.zeros((n, num_objects), dtype=torch.float32, device=result.labels.device)
    if soft:
        encodings[:, :num_labels] = result.distribution
    else:
        rows = result.labels >= 0
        encodings[rows, result.labels[rows]] = 1.0
    return encodings[:, None, :]


def lifted_classifier(label_ids: Sequence[int], num_objects: int, num_classes: int,
                      scale: float = LOGIT_SCALE) -> IdentityClassifier:
    """The classifier whose class for encoding channel c is label_ids[c] (weight `scale`, no
    bias): argmax(classifier(one-hot c)) = label_ids[c]."""
    if label_ids and max(label_ids) >= num_classes:
        raise ValueError(f"mask id {max(label_ids)} does not fit {num_classes} classes")
    classifier = IdentityClassifier(num_objects, num_classes)
    with torch.no_grad():
        classifier.weight.zero_()
        classifier.bias.zero_()
        for channel, label in enumerate(label_ids):
            classifier.weight[label, channel, 0, 0] = scale
    return classifier
