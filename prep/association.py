"""Group per-view 2D masks into 3D-consistent objects through the points they contain.

Input: per view an instance-id map (H, W) whose ids mean nothing across views (0: unlabelled),
and observations of 3D points (`prep.geometry`). A mask's 3D extent is the set of points
observed inside it.

Clustering (view consensus, after MaskClustering, Yan et al. CVPR 2024): a node (first one per
mask, later a group of masks) is *contained* in view j by the mask of j that holds at least
`containment` of the node's points observed in j. Two nodes agree in view j when the same mask
contains both; their consensus is the share of agreeing views among the views that observe both
(a view where the points fall mostly on unlabelled pixels, an object missed there, does not
count). Nodes whose consensus reaches a threshold are merged, for thresholds falling from
`thresholds[0]`; containment is recomputed for the merged nodes after each round. This is
order-free (no tracker, views in any order) and robust to the segmenter's errors:
- an object split into parts in one view: every part is contained by the whole object's mask
  in the other views, so the parts join the object;
- two objects merged into one mask in one view: that mask is contained by no single mask
  elsewhere, so it joins neither; both objects agree only in the views where they were merged;
- an object missed in a view: that view simply does not vote.

Output: nodes seen in at least `min_views` views are objects. Each point takes the object most
of its masks belong to; a mask whose points are mostly one object gets that object's id; a mask
holding several objects (a merge) is split pixel-wise by its nearest labelled points; a mask
without points, or whose points belong to no object, is left out (0) and reported.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from prep.geometry import Observations

UNOBSERVED = -2
UNLABELLED = -1
AMBIGUOUS = -1        # in a containment table: observed, but no single mask holds the node
NOT_OBSERVED = -2     # in a containment table: too few points seen, or they fall on unlabelled pixels


@dataclass
class AssociationOptions:
    containment: float = 0.7          # share of a node's points one mask must hold to contain it
    thresholds: tuple = (0.9, 0.8, 0.7)   # consensus thresholds, one merge round each (0.5 merged
    #                                       objects that a segmenter merged in 1 view of 4)
    min_observers: int = 2            # views that must observe both nodes for their consensus to count
    min_points: int = 3               # points a node needs in a view for that view to observe it
    min_views: int = 2                # views an object must span (fewer: its masks are resolved by points)
    mask_purity: float = 0.8          # a mask whose points are this much one object gets its id whole
    num_classes: int = 16             # output ids are < num_classes (0 is background)

    def __post_init__(self):
        if self.num_classes < 2:
            raise ValueError(f"num_classes {self.num_classes}: it must be at least 2 (id 0 is the "
                             f"background, objects get ids 1..num_classes-1)")


@dataclass
class MaskOutcome:
    view: int
    mask_id: int
    pixels: int
    num_points: int
    object_ids: list                  # output ids it was given (several: split pixel-wise)
    reason: str = ""                  # why it was left out, when it was


@dataclass
class Association:
    id_maps: list                     # (H, W) uint8/uint16 output ids per view (None: no input mask)
    objects: list                     # per output id 1..K (largest first): {"id", "views": [view indices],
    #                                   "masks": masks in its group, "pixels"}
    masks: list = field(default_factory=list)   # MaskOutcome per input mask
    num_points_used: int = 0
    objects_left_out: int = 0         # objects found beyond the num_classes - 1 ids


# ----------------------------------------------------------------------------- tables

@dataclass
class MaskTable:
    """Every input mask as a global index: view, id in that view, pixel count."""
    view: np.ndarray      # (S,)
    mask_id: np.ndarray   # (S,)
    pixels: np.ndarray    # (S,)

    @staticmethod
    def from_masks(masks: list) -> "MaskTable":
        view, mask_id, pixels = [], [], []
        for v, labels in enumerate(masks):
            if labels is None:
                continue
            ids, counts = np.unique(labels, return_counts=True)
            for i, n in zip(ids.tolist(), counts.tolist()):
                if i != 0:
                    view.append(v)
                    mask_id.append(i)
                    pixels.append(n)
        return MaskTable(np.array(view, dtype=np.int64), np.array(mask_id, dtype=np.int64),
                         np.array(pixels, dtype=np.int64))

    def index(self, view: int, mask_id: int) -> int:
        return int(np.flatnonzero((self.view == view) & (self.mask_id == mask_id))[0])


def observation_masks(observations: Observations, masks: list, table: MaskTable) -> np.ndarray:
    """Global mask index (M,) of each observation: UNLABELLED on a 0 pixel, UNOBSERVED in a view
    without a mask."""
    result = np.full(len(observations.point), UNOBSERVED, dtype=np.int64)
    for v, labels in enumerate(masks):
        if labels is None:
            continue
        here = np.flatnonzero(observations.view == v)
        ids = labels[observations.row[here], observations.col[here]].astype(np.int64)
        lookup = np.full(int(labels.max()) + 1, UNLABELLED, dtype=np.int64)
        of_view = np.flatnonzero(table.view == v)
        lookup[table.mask_id[of_view]] = of_view
        result[here] = lookup[ids]
    return result


def point_view_table(observations: Observations, obs_masks: np.ndarray, num_views: int) -> np.ndarray:
    """(P, V) global mask index of each point in each view (UNOBSERVED where not seen)."""
    table = np.full((observations.num_points, num_views), UNOBSERVED, dtype=np.int64)
    table[observations.point, observations.view] = obs_masks
    return table


# ----------------------------------------------------------------------------- clustering

def containment_table(node_points: list, table: np.ndarray, options: AssociationOptions) -> np.ndarray:
    """(N, V) per node and view: the global index of the mask containing the node, AMBIGUOUS, or
    NOT_OBSERVED (see the module docstring)."""
    num_views = table.shape[1]
    result = np.full((len(node_points), num_views), NOT_OBSERVED, dtype=np.int64)
    for n, points in enumerate(node_points):
        rows = table[points]
        for v in range(num_views):
            seen = rows[:, v]
            seen = seen[seen != UNOBSERVED]
            if len(seen) < options.min_points:
                continue
            labelled = seen[seen >= 0]
            if len(labelled) < max(options.min_points, 0.5 * len(seen)):
                continue                    # mostly unlabelled pixels there: the object was missed
            values, counts = np.unique(labelled, return_counts=True)
            best = int(np.argmax(counts))
            result[n, v] = values[best] if counts[best] >= options.containment * len(labelled) else AMBIGUOUS
    return result


def consensus_edges(contained: np.ndarray, threshold: float, min_observers: int) -> tuple[np.ndarray, np.ndarray]:
    """Node pairs (i, j), i < j, whose consensus reaches `threshold` (see the module docstring)."""
    observed = contained != NOT_OBSERVED                          # (N, V)
    observers = observed.astype(np.int64) @ observed.T.astype(np.int64)
    num_nodes = len(contained)
    support = np.zeros((num_nodes, num_nodes), dtype=np.int64)
    for v in range(contained.shape[1]):
        column = contained[:, v]
        holders = np.flatnonzero(column >= 0)
        same = column[holders][:, None] == column[holders][None, :]
        support[np.ix_(holders, holders)] += same
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(observers >= min_observers, support / np.maximum(observers, 1), 0.0)
    i, j = np.nonzero(np.triu(rate >= threshold, k=1))
    return i, j


def cluster_masks(mask_points: list, table: np.ndarray, options: AssociationOptions) -> list:
    """Groups of indices into `mask_points` (lists), by rounds of consensus merging; `table` is
    the (P, V) point-view table of `point_view_table`."""
    groups = [[k] for k in range(len(mask_points))]
    points = [np.asarray(p, dtype=np.int64) for p in mask_points]
    for threshold in options.thresholds:
        while True:
            contained = containment_table(points, table, options)
            i, j = consensus_edges(contained, threshold, options.min_observers)
            if len(i) == 0:
                break
            graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(len(groups), len(groups)))
            count, component = connected_components(graph, directed=False)
            groups = [sum((groups[n] for n in np.flatnonzero(component == c)), []) for c in range(count)]
            points = [np.unique(np.concatenate([mask_points[k] for k in g])) for g in groups]
    return groups


# ----------------------------------------------------------------------------- labelling

def point_objects(obs_masks: np.ndarray, observations: Observations, object_of_mask: np.ndarray,
                  object_weight: np.ndarray) -> np.ndarray:
    """Object index (P,) of each point: the object most of its masks belong to (votes weighted by
    the object's size in views, ties to the larger), -1 when none of its masks is in an object."""
    labelled = obs_masks >= 0
    obj = np.full(len(obs_masks), -1, dtype=np.int64)
    obj[labelled] = object_of_mask[obs_masks[labelled]]
    valid = obj >= 0
    result = np.full(observations.num_points, -1, dtype=np.int64)
    if not valid.any():
        return result
    votes = coo_matrix((object_weight[obj[valid]], (observations.point[valid], obj[valid])),
                       shape=(observations.num_points, len(object_weight))).toarray()
    has_vote = votes.max(axis=1) > 0
    result[has_vote] = votes[has_vote].argmax(axis=1)
    return result


def label_mask(labels: np.ndarray, mask_id: int, rows: np.ndarray, cols: np.ndarray, objects: np.ndarray,
               purity: float) -> np.ndarray:
    """Object index per pixel of one mask (-1 outside it): the dominant object of its points
    (rows, cols, objects (n,)) when it holds `purity` of them, else each pixel's nearest point's."""
    region = labels == mask_id
    out = np.full(labels.shape, -1, dtype=np.int64)
    values, counts = np.unique(objects, return_counts=True)
    if counts.max() >= purity * counts.sum():
        out[region] = values[np.argmax(counts)]
        return out
    pixel_rows, pixel_cols = np.nonzero(region)
    _, nearest = cKDTree(np.stack([rows, cols], axis=1)).query(np.stack([pixel_rows, pixel_cols], axis=1))
    out[pixel_rows, pixel_cols] = objects[nearest]
    return out


def associate(masks: list, observations: Observations, options: AssociationOptions = AssociationOptions()
              ) -> Association:
    """3D-consistent ids for per-view masks (list of (H, W) integer maps, None for a view
    without one) from point observations; see the module docstring."""
    num_views = len(masks)
    table = MaskTable.from_masks(masks)
    obs_masks = observation_masks(observations, masks, table)
    pv = point_view_table(observations, obs_masks, num_views)
    in_mask = obs_masks >= 0
    order = np.argsort(obs_masks[in_mask], kind="stable")
    sorted_masks, sorted_points = obs_masks[in_mask][order], observations.point[in_mask][order]
    bounds = np.searchsorted(sorted_masks, np.arange(len(table.view) + 1))
    mask_points = [np.unique(sorted_points[bounds[k]:bounds[k + 1]]) for k in range(len(table.view))]
    with_points = [k for k in range(len(table.view)) if len(mask_points[k]) >= options.min_points]
    groups = [[with_points[k] for k in g] for g in
              cluster_masks([mask_points[k] for k in with_points], pv, options)]

    # Objects: groups spanning enough views, the largest (pixels) first, at most num_classes - 1.
    candidates = [g for g in groups if len(set(table.view[g].tolist())) >= options.min_views]
    candidates.sort(key=lambda g: -int(table.pixels[g].sum()))
    objects = candidates[:options.num_classes - 1]
    object_of_mask = np.full(len(table.view), -1, dtype=np.int64)
    for o, g in enumerate(objects):
        object_of_mask[g] = o
    weight = np.array([len(set(table.view[g].tolist())) for g in objects], dtype=np.float64)
    point_object = point_objects(obs_masks, observations, object_of_mask, weight)

    dtype = np.uint8 if options.num_classes <= 256 else np.uint16
    id_maps = [None if m is None else np.zeros(m.shape, dtype=dtype) for m in masks]
    outcomes = []
    for k in range(len(table.view)):
        v, mask_id = int(table.view[k]), int(table.mask_id[k])
        here = in_mask & (observations.view == v) & (obs_masks == k)
        objs = point_object[observations.point[here]]
        known = objs >= 0
        outcome = MaskOutcome(view=v, mask_id=mask_id, pixels=int(table.pixels[k]),
                              num_points=int(here.sum()), object_ids=[])
        if not known.any():
            outcome.reason = "no 3D points" if not here.any() else "its points belong to no object"
        else:
            per_pixel = label_mask(masks[v], mask_id, observations.row[here][known],
                                   observations.col[here][known], objs[known], options.mask_purity)
            assigned = per_pixel >= 0
            id_maps[v][assigned] = per_pixel[assigned] + 1
            outcome.object_ids = sorted({int(o) + 1 for o in np.unique(per_pixel[assigned])})
        outcomes.append(outcome)

    association = compact(id_maps, outcomes, [len(g) for g in objects],
                          int(len(np.unique(observations.point[in_mask]))))
    association.objects_left_out = len(candidates) - len(objects)
    return association


def compact(id_maps: list, outcomes: list, group_sizes: list, num_points: int) -> Association:
    """Renumber the objects that kept pixels 1..K, largest first (an object whose masks all went
    to other objects by their points disappears), and summarise them."""
    pixels = np.zeros(len(group_sizes) + 1, dtype=np.int64)
    for ids in id_maps:
        if ids is not None:
            pixels += np.bincount(ids.ravel(), minlength=len(pixels))[:len(pixels)]
    kept = [o for o in np.argsort(-pixels[1:], kind="stable") + 1 if pixels[o] > 0]
    remap = np.zeros(len(pixels), dtype=np.int64)
    remap[kept] = np.arange(1, len(kept) + 1)
    id_maps = [None if ids is None else remap[ids].astype(ids.dtype) for ids in id_maps]
    for outcome in outcomes:
        outcome.object_ids = sorted(int(remap[o]) for o in outcome.object_ids)
    objects = [{"id": int(remap[o]), "views": sorted({m.view for m in outcomes if remap[o] in m.object_ids}),
                "masks": group_sizes[o - 1], "pixels": int(pixels[o])} for o in kept]
    return Association(id_maps=id_maps, objects=objects, masks=outcomes, num_points_used=num_points)
