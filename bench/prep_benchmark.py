"""The own-capture preparation benchmark's bookkeeping (scripts/bench_prep.py runs it): the
views and masks of a converted capture, which trainings are done, and the result tables."""
from __future__ import annotations

import os
import re
import statistics

import numpy as np

from utils.image_io import read_id_map
from utils.statistics import format_interval

MASK_SETS = ("exact", "ideal", "raw", "uncompleted", "associated")


def view_names(capture: str) -> list[str]:
    """The converted capture's image names without extension, sorted."""
    return sorted(os.path.splitext(n)[0] for n in os.listdir(os.path.join(capture, "images")))


def masks_of(folder: str, names: list[str]) -> list[np.ndarray]:
    return [read_id_map(os.path.join(folder, n + ".png")) for n in names]


def done_runs(out: str, name: str) -> list[tuple[str, int]]:
    """(mask set, seed) of every finished training of scene `name` (its bench_row.json exists)."""
    pattern = re.compile(r"model_(" + "|".join(MASK_SETS) + r")(?:_seed(\d+))?$")
    runs = []
    for folder in sorted(os.listdir(os.path.join(out, name))):
        match = pattern.match(folder)
        if match and os.path.isfile(os.path.join(out, name, folder, "bench_row.json")):
            runs.append((match.group(1), int(match.group(2) or 0)))
    return runs


def percent(share) -> str:
    return "-" if share is None else f"{100 * share:.1f}"


def mean_and_interval(values: list) -> str:
    """'mean' in %, with '+- half-width' of the 95 % t interval over seeds when there are several."""
    return format_interval(values, scale=100, digits=1)


def paired_differences(training: list) -> list[tuple[str, str, list]]:
    """(scene, mask set, [mIoU - exact mIoU of the same seed]) for every non-exact mask set."""
    exact = {(r["scene"], r["seed"]): r["miou"] for r in training if r["masks"] == "exact"}
    groups: dict = {}
    for r in training:
        if r["masks"] != "exact" and (r["scene"], r["seed"]) in exact:
            groups.setdefault((r["scene"], r["masks"]), []).append(r["miou"] - exact[(r["scene"], r["seed"])])
    return [(scene, masks, values) for (scene, masks), values in groups.items()]


def write_tables(results: dict, path: str) -> None:
    lines = ["| scene | raw per-view ids | SfM tracks | SfM tracks + depth | same, over all foreground pixels "
             "| + completion, over all foreground pixels | objects found | masks left out "
             "| masks split between objects | depth confirmed by 2 other views |",
             "|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for scene in results["scenes"]:
        a = scene["association"]
        depth, completed = a["tracks+depth"], a["tracks+depth+completion"]
        lines.append(f"| {scene['scene']} | {100 * a['raw']['accuracy']:.1f} | {100 * a['tracks']['accuracy']:.1f} "
                     f"| {100 * depth['accuracy']:.1f} | {100 * depth['accuracy_all']:.1f} "
                     f"| {100 * completed['accuracy_all']:.1f} | {depth['objects']} "
                     f"| {depth['left_out']} | {depth['split']} | {percent(depth.get('depth_agreement'))} |")
    if results.get("training"):
        lines += ["", "| scene | masks | seeds | mIoU (%) | mBIoU (%) | train + render (s) |",
                  "|:--|:--|--:|--:|--:|--:|"]
        groups: dict = {}
        for row in results["training"]:
            groups.setdefault((row["scene"], row["masks"]), []).append(row)
        for (scene, masks), rows in groups.items():
            lines.append(f"| {scene} | {masks} | {len(rows)} | {mean_and_interval([r['miou'] for r in rows])} "
                         f"| {mean_and_interval([r['mbiou'] for r in rows])} "
                         f"| {statistics.mean(r['seconds'] for r in rows):.0f} |")
        lines += ["", "Paired by seed, mask set - exact (mIoU points):", "",
                  "| scene | masks | seeds | mIoU difference |", "|:--|:--|--:|--:|"]
        for scene, masks, differences in paired_differences(results["training"]):
            lines.append(f"| {scene} | {masks} | {len(differences)} | {mean_and_interval(differences)} |")
    lines += ["", "| scene | step | seconds |", "|:--|:--|--:|"]
    for scene in results["scenes"]:
        lines += [f"| {scene['scene']} | {k} | {v:.1f} |" for k, v in scene["seconds"].items()]
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
