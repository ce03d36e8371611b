"""Object masks degraded like a video tracker's output: jittered boundaries, swapped and merged
ids, and the record of what was done."""

from dataclasses import dataclass

import cv2
import numpy as np

from bench.synthetic.objects import BACKGROUND_ID

JITTER_CELL_PX = 12            # spacing of the random vectors of the boundary displacement field


# ----------------------------------------------------------------------------- mask degradation

@dataclass
class MaskDegradation:
    """Tracker-like errors in `object_mask/` (all off by default). Fractions are of all views."""
    jitter_px: float = 0.0        # boundaries displaced by a smooth random field of at most this
    swap_fraction: float = 0.0    # views where two object ids are exchanged
    merge_fraction: float = 0.0   # views where one object takes another's id
    blob_fraction: float = 0.0    # views with 1-3 small spurious discs of an object id


def _displacement_field(height: int, width: int, max_px: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth random displacements (H, W, 2) (x, y) of length at most `max_px`: random vectors
    on a coarse grid, bilinearly upsampled."""
    grid = rng.uniform(-1.0, 1.0, size=(height // JITTER_CELL_PX + 2, width // JITTER_CELL_PX + 2, 2))
    vectors = cv2.resize(grid.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    length = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return max_px * vectors / np.maximum(length, 1.0)


def jitter_boundaries(ids: np.ndarray, max_px: float, rng: np.random.Generator) -> np.ndarray:
    """Each pixel takes the id at its position moved by a smooth random displacement, rounded to
    the nearest pixel: boundaries wobble, and only pixels within max_px + 1/sqrt(2) of a pixel
    of another id can change."""
    height, width = ids.shape
    displacement = _displacement_field(height, width, max_px, rng)
    rows, cols = np.mgrid[0:height, 0:width]
    source_rows = np.clip(np.rint(rows + displacement[..., 1]), 0, height - 1).astype(np.int64)
    source_cols = np.clip(np.rint(cols + displacement[..., 0]), 0, width - 1).astype(np.int64)
    return ids[source_rows, source_cols]


def visible_object_ids(ids: np.ndarray) -> list[int]:
    return [int(i) for i in np.unique(ids) if i != BACKGROUND_ID]


def adjacent_object_pairs(ids: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (a < b) of object ids whose regions touch (4-neighbourhood)."""
    first = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    second = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    touching = (first != second) & (first != BACKGROUND_ID) & (second != BACKGROUND_ID)
    pairs = np.unique(np.sort(np.stack([first[touching], second[touching]], axis=1), axis=1), axis=0)
    return [(int(a), int(b)) for a, b in pairs]


def _pick_pair(ids: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    """A random pair of touching objects (what a tracker confuses), else of any two visible ones,
    in random order."""
    pairs = adjacent_object_pairs(ids)
    if not pairs:
        visible = visible_object_ids(ids)
        pairs = [(a, b) for i, a in enumerate(visible) for b in visible[i + 1:]]
    pair = pairs[rng.integers(len(pairs))]
    return pair if rng.random() < 0.5 else (pair[1], pair[0])


def degrade_masks(id_maps: list[np.ndarray], names: list[str], object_ids: list[int],
                  degradation: MaskDegradation, rng: np.random.Generator
                  ) -> tuple[list[np.ndarray], dict]:
    """Tracker-like copies of exact id maps (H, W) uint8 and a record of what was done.

    Every view's boundaries are jittered; then round(swap_fraction * V) views get two touching
    ids exchanged and round(merge_fraction * V) other views get one id replaced by a touching
    one's (views chosen among those with at least two visible objects); then
    round(blob_fraction * V) views get 1-3 discs of radius 2-4 px of a random object id."""
    maps = [ids.copy() for ids in id_maps]
    if degradation.jitter_px > 0:
        maps = [jitter_boundaries(ids, degradation.jitter_px, rng) for ids in maps]
    num_views = len(maps)
    num_swaps = round(degradation.swap_fraction * num_views)
    num_merges = round(degradation.merge_fraction * num_views)
    eligible = [v for v in range(num_views) if len(visible_object_ids(maps[v])) >= 2]
    if num_swaps + num_merges > len(eligible):
        raise ValueError(f"{num_swaps} swaps and {num_merges} merges need as many views with two "
                         f"visible objects, but only {len(eligible)} of {num_views} views have them")
    order = [int(v) for v in rng.permutation(eligible)]
    record: dict = {"swaps": [], "merges": [], "blobs": []}
    for view in sorted(order[:num_swaps]):
        a, b = _pick_pair(maps[view], rng)
        original = maps[view].copy()
        maps[view][original == a] = b
        maps[view][original == b] = a
        record["swaps"].append({"view": names[view], "ids": [a, b]})
    for view in sorted(order[num_swaps:num_swaps + num_merges]):
        lost, kept = _pick_pair(maps[view], rng)
        maps[view][maps[view] == lost] = kept
        record["merges"].append({"view": names[view], "from": lost, "into": kept})
    height, width = maps[0].shape
    for view in sorted(int(v) for v in rng.choice(num_views, round(degradation.blob_fraction * num_views),
                                                  replace=False)):
        for _ in range(rng.integers(1, 4)):
            blob_id = int(rng.choice(object_ids))
            center = (int(rng.integers(width)), int(rng.integers(height)))
            radius = int(rng.integers(2, 5))
            cv2.circle(maps[view], center, radius, blob_id, thickness=-1)
            record["blobs"].append({"view": names[view], "id": blob_id, "center_xy": list(center),
                                    "radius": radius})
    return maps, record
