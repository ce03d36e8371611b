"""Filling the pixels a segmenter missed with the ids the other views give the same 3D point.

A segmenter misses objects in some views (small, half-hidden, low contrast); after association
those pixels are 0, and a training reads 0 as background, so every miss pulls the object's
Gaussians towards background. With depth, each unlabelled pixel of a view is a 3D point; the
other views that see that point (depth test) say what it is. A pixel is filled with an object's
id when at least `min_observers` views see its point and at least `min_share` of them give it
that object (background votes count against it). Ground beside an object stays 0 (the other
views see ground there), and a point hidden from a view is not voted on by it.

Only 0 pixels change: a labelled pixel is never overwritten.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prep.geometry import DEPTH_TOLERANCE, View, backproject, visible_pixels


@dataclass
class CompletionOptions:
    min_observers: int = 3        # views that must see an unlabelled pixel's point
    min_share: float = 0.75       # of those, the share that must give it the same object
    tolerance: float = DEPTH_TOLERANCE
    absent_only: bool = True      # fill an object only in views where it has no pixel at all


def view_votes(points: np.ndarray, views: list[View], depth_maps: list[np.ndarray], id_maps: list,
               skip: int, num_ids: int, tolerance: float) -> np.ndarray:
    """(N, num_ids) per world point (N, 3) the number of views (all but `skip`, those with an id
    map) that see it with each id (column 0: background)."""
    votes = np.zeros((len(points), num_ids), dtype=np.int64)
    for k, (view, depth_map, ids) in enumerate(zip(views, depth_maps, id_maps)):
        if k == skip or ids is None:
            continue
        index, rows, cols = visible_pixels(view, depth_map, points, tolerance)
        np.add.at(votes, (index, ids[rows, cols].astype(np.int64)), 1)
    return votes


def complete_masks(id_maps: list, views: list[View], depth_maps: list[np.ndarray],
                   options: CompletionOptions = CompletionOptions()) -> tuple[list, list[int]]:
    """Id maps (H, W) per view (None: no mask) with their unlabelled pixels filled from the other
    views (see the module docstring), and the number of pixels filled per view. The votes are
    read from the input maps, so the result does not depend on the order of the views."""
    num_ids = 1 + max((int(m.max()) for m in id_maps if m is not None), default=0)
    completed, filled = [], []
    for k, (view, depth_map, ids) in enumerate(zip(views, depth_maps, id_maps)):
        if ids is None:
            completed.append(None)
            filled.append(0)
            continue
        rows, cols = np.nonzero((ids == 0) & np.isfinite(depth_map))
        votes = view_votes(backproject(view, rows, cols, depth_map[rows, cols]), views, depth_maps, id_maps, k,
                           num_ids, options.tolerance)
        observers = votes.sum(axis=1)
        best = 1 + votes[:, 1:].argmax(axis=1) if num_ids > 1 else np.zeros(len(rows), dtype=np.int64)
        best_votes = votes[np.arange(len(rows)), best]
        fill = (best > 0) & (observers >= options.min_observers) & (best_votes >= options.min_share * observers)
        if options.absent_only:
            fill &= ~np.isin(best, np.unique(ids))
        out = ids.copy()
        out[rows[fill], cols[fill]] = best[fill]
        completed.append(out)
        filled.append(int(fill.sum()))
    return completed, filled
