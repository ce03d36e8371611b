"""Segmenter-like per-view masks of a synthetic scene, and how well ids are recovered from them.

A 2D segmenter (SAM, SAM 2, ...) run on each photo separately numbers its masks per view: the
same object has unrelated ids in two views, an object is sometimes cut into parts, two touching
objects sometimes come out as one mask, and small or hidden objects are missed. These masks are
made from the exact ids of a synthetic scene with such errors at chosen rates, and recorded.

`association_accuracy` scores a set of output id maps against the exact ones: the share of
foreground pixels whose output id is the one matched to their true object, under the best
one-to-one mapping between true objects and output ids over all views (Hungarian assignment).
Giving each view's masks fresh ids, or leaving an object split into two ids, scores low.

    python -m bench.synthetic.segmenter_masks SCENE OUT_DIR --seed 0
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
from scipy.optimize import linear_sum_assignment

from bench.synthetic.degrade import adjacent_object_pairs, jitter_boundaries
from bench.synthetic.objects import BACKGROUND_ID
from utils.image_io import read_id_map, write_png

RECORD_FILE = "segmenter_record.json"


@dataclass
class SegmenterErrors:
    """Error rates. split and miss are per visible (view, object); merge is per view."""
    split_fraction: float = 0.1     # the object's mask is cut into two parts by a random line
    merge_fraction: float = 0.15    # two touching objects come out as one mask
    miss_fraction: float = 0.05     # the object gets no mask (stays 0)
    jitter_px: float = 1.0          # boundary wobble (as bench.synthetic.degrade.jitter_boundaries)
    min_pixels: int = 12            # objects smaller than this in a view are always missed

    def validate(self) -> None:
        for name in ("split_fraction", "merge_fraction", "miss_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"segmenter errors: {name} must be in [0, 1]")
        if self.jitter_px < 0 or self.min_pixels < 1:
            raise ValueError("segmenter errors: jitter_px must be >= 0 and min_pixels >= 1")


def split_in_two(region: np.ndarray, rng: np.random.Generator) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """`region` (H, W) bool cut by a random line through its centroid, or None when a part would
    hold less than a quarter of it (a thin object cut along its length)."""
    rows, cols = np.nonzero(region)
    angle = rng.uniform(0.0, math.pi)
    side = (rows - rows.mean()) * math.cos(angle) + (cols - cols.mean()) * math.sin(angle) > 0
    if min(side.sum(), (~side).sum()) < len(rows) / 4:
        return None
    first = np.zeros_like(region)
    first[rows[side], cols[side]] = True
    return first, region & ~first


def segment_view(ids: np.ndarray, errors: SegmenterErrors, rng: np.random.Generator
                 ) -> tuple[np.ndarray, dict]:
    """One view's segmenter-like mask (H, W) uint8 with ids 1..S in random order, from exact
    ids (H, W), and a record: per output id the true ids and the kind (whole, part, merged)."""
    observed = jitter_boundaries(ids, errors.jitter_px, rng) if errors.jitter_px > 0 else ids.copy()
    visible = [int(i) for i in np.unique(observed) if i != BACKGROUND_ID]
    missed = [i for i in visible if np.count_nonzero(observed == i) < errors.min_pixels
              or rng.random() < errors.miss_fraction]
    kept = [i for i in visible if i not in missed]
    merged: list[int] = []
    pairs = [p for p in adjacent_object_pairs(observed) if p[0] in kept and p[1] in kept]
    if pairs and rng.random() < errors.merge_fraction:
        merged = list(pairs[rng.integers(len(pairs))])
    segments: list[tuple[np.ndarray, list[int], str]] = []
    if merged:
        segments.append((np.isin(observed, merged), merged, "merged"))
    for object_id in kept:
        if object_id in merged:
            continue
        region = observed == object_id
        parts = split_in_two(region, rng) if rng.random() < errors.split_fraction else None
        if parts is None:
            segments.append((region, [object_id], "whole"))
        else:
            segments.extend((part, [object_id], "part") for part in parts)
    labels = rng.permutation(len(segments)) + 1
    mask = np.zeros(ids.shape, dtype=np.uint8)
    record = {"missed": missed, "segments": []}
    for (region, true_ids, kind), label in zip(segments, labels):
        mask[region] = label
        record["segments"].append({"id": int(label), "true_ids": true_ids, "kind": kind})
    return mask, record


def segmenter_like_masks(exact: list[np.ndarray], errors: SegmenterErrors, rng: np.random.Generator
                         ) -> tuple[list[np.ndarray], list[dict]]:
    """Per-view masks (see `segment_view`) of exact id maps (H, W), with one record per view."""
    errors.validate()
    results = [segment_view(ids, errors, rng) for ids in exact]
    return [mask for mask, _ in results], [record for _, record in results]


def write_segmenter_masks(scene_dir: str, out_dir: str, errors: SegmenterErrors, seed: int) -> dict:
    """Segmenter-like masks of every `scene_dir/object_mask/*.png` (exact ids: a scene made without
    mask degradation) into `out_dir/<stem>.png`, plus `segmenter_record.json`. Returns the record."""
    mask_dir = os.path.join(scene_dir, "object_mask")
    names = sorted(n for n in os.listdir(mask_dir) if n.endswith(".png"))
    exact = [read_id_map(os.path.join(mask_dir, n)) for n in names]
    masks, records = segmenter_like_masks(exact, errors, np.random.default_rng([seed, 7]))
    os.makedirs(out_dir, exist_ok=True)
    for name, mask in zip(names, masks):
        write_png(os.path.join(out_dir, name), mask)
    record = {"errors": asdict(errors), "seed": seed,
              "views": {os.path.splitext(n)[0]: r for n, r in zip(names, records)},
              "counts": {kind: sum(s["kind"] == kind for r in records for s in r["segments"])
                         for kind in ("whole", "part", "merged")} | {"missed": sum(len(r["missed"]) for r in records)}}
    with open(os.path.join(out_dir, RECORD_FILE), "w") as fh:
        json.dump(record, fh, indent=1)
    return record


def ideally_associated(masks: list[np.ndarray], records: list[dict], exact: list[np.ndarray]) -> list[np.ndarray]:
    """The segmenter's masks with the best ids any association could give them (the reference that
    separates association errors from the segmenter's own): a whole or part mask gets its object's
    true id over its (jittered) pixels, a merged mask the exact ids under it; missed objects stay 0."""
    out = []
    for mask, record, ids in zip(masks, records, exact):
        ideal = np.zeros_like(mask)
        for segment in record["segments"]:
            region = mask == segment["id"]
            ideal[region] = ids[region] if segment["kind"] == "merged" else segment["true_ids"][0]
        out.append(ideal)
    return out


# ----------------------------------------------------------------------------- scoring

@dataclass
class AssociationScore:
    accuracy: float            # matched pixels / true foreground pixels the input masks label
    accuracy_all: float        # matched pixels / all true foreground pixels, also those the input
    #                            masks left unlabelled (a miss counts as wrong unless it was filled in)
    mapping: dict              # true id -> output id
    num_pixels: int            # true foreground pixels the input masks label


def association_accuracy(outputs: list[np.ndarray], truths: list[np.ndarray],
                         labelled: Optional[list[np.ndarray]] = None) -> AssociationScore:
    """Score output id maps against exact ones (lists of (H, W) integer maps, one per view).

    The contingency of true object ids (> 0) against output ids (> 0) summed over all views gives
    the best one-to-one mapping; a pixel counts when its output id is its true object's match.
    `labelled` ((H, W) bool per view, e.g. the input masks > 0) restricts the main denominator to
    the pixels an association could label at all."""
    true_ids = sorted({int(i) for t in truths for i in np.unique(t) if i > 0})
    out_ids = sorted({int(i) for o in outputs for i in np.unique(o) if i > 0})
    true_index = {t: k for k, t in enumerate(true_ids)}
    out_index = {o: k for k, o in enumerate(out_ids)}

    def contingency(region: np.ndarray, out: np.ndarray, truth: np.ndarray, counts: np.ndarray) -> None:
        pairs = np.stack([truth[region & (out > 0)], out[region & (out > 0)]], axis=1).astype(np.int64)
        values, hits = np.unique(pairs, axis=0, return_counts=True)
        for (t, o), n in zip(values.tolist(), hits.tolist()):
            counts[true_index[t], out_index[o]] += n

    counts = np.zeros((len(true_ids), max(1, len(out_ids))), dtype=np.int64)      # labelled pixels
    counts_all = np.zeros_like(counts)                                            # all foreground pixels
    total_all, total = 0, 0
    for view, (out, truth) in enumerate(zip(outputs, truths)):
        foreground = truth > 0
        total_all += int(foreground.sum())
        mask = foreground if labelled is None else foreground & labelled[view]
        total += int(mask.sum())
        contingency(mask, out, truth, counts)
        contingency(foreground, out, truth, counts_all)
    rows, cols = linear_sum_assignment(-counts) if out_ids else ([], [])
    matched = int(sum(counts[r, c] for r, c in zip(rows, cols)))
    # Pixels outside `labelled` (e.g. filled in by completion) count in accuracy_all, same mapping.
    matched_all = int(sum(counts_all[r, c] for r, c in zip(rows, cols)))
    return AssociationScore(accuracy=matched / max(total, 1), accuracy_all=matched_all / max(total_all, 1),
                            mapping={true_ids[r]: out_ids[c] for r, c in zip(rows, cols) if counts[r, c] > 0},
                            num_pixels=total)


def main(argv: Optional[list[str]] = None) -> int:
    defaults = SegmenterErrors()
    parser = argparse.ArgumentParser(description="segmenter-like per-view masks of a synthetic scene")
    parser.add_argument("scene", help="synthetic scene made without mask degradation (exact object_mask/)")
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    for name in ("split_fraction", "merge_fraction", "miss_fraction", "jitter_px"):
        parser.add_argument(f"--{name}", type=float, default=getattr(defaults, name))
    args = parser.parse_args(argv)
    errors = SegmenterErrors(split_fraction=args.split_fraction, merge_fraction=args.merge_fraction,
                             miss_fraction=args.miss_fraction, jitter_px=args.jitter_px)
    record = write_segmenter_masks(args.scene, args.out_dir, errors, args.seed)
    print(f"wrote {len(record['views'])} masks to {args.out_dir}: {record['counts']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
