"""Writing the associated masks and `object_mask/association.json`, atomically as one folder."""
from __future__ import annotations

import json
import os
import shutil
import uuid
from typing import Optional

from prep.association import Association
from prep.geometry import View
from utils.image_io import write_png
from utils.owned_folder import has_marker, is_inside, overlaps

REPORT_FILE = "association.json"


def report(association: Association, views: list[View], settings: dict,
           filled_pixels: Optional[list[int]] = None) -> dict:
    """The JSON record: objects with the views they appear in, masks split or left out, and the
    pixels completion filled per view (`prep.completion`; None when it did not run)."""
    names = [v.name for v in views]
    left_out = [{"view": names[m.view], "mask_id": m.mask_id, "pixels": m.pixels, "reason": m.reason}
                for m in association.masks if m.reason]
    split = [{"view": names[m.view], "mask_id": m.mask_id, "into": m.object_ids}
             for m in association.masks if len(m.object_ids) > 1]
    return {
        "num_objects": len(association.objects),
        "objects": [{"id": o["id"], "num_views": len(o["views"]), "views": [names[v] for v in o["views"]],
                     "masks": o["masks"], "pixels": o["pixels"]} for o in association.objects],
        "num_masks": len(association.masks),
        "masks_left_out": left_out,
        "masks_split_between_objects": split,
        "views_without_mask": [n for n, m in zip(names, association.id_maps) if m is None],
        "points_used": association.num_points_used,
        "pixels_filled": None if filled_pixels is None else {
            "total": int(sum(filled_pixels)), "per_view": {n: int(f) for n, f in zip(names, filled_pixels)}},
        "settings": settings,
    }


def check_out_folder(scene_dir: str, out_dir: str, inputs: dict[str, str], force: bool) -> None:
    """Refuse an output folder outside the scene or overlapping one of its `inputs` ({what: path}:
    photos, SfM model, input masks), and an existing one unless `force` and this program wrote
    it (it holds REPORT_FILE): `--force` never deletes anything else."""
    if not is_inside(out_dir, scene_dir) or os.path.realpath(out_dir) == os.path.realpath(scene_dir):
        raise ValueError(f"--out {out_dir}: the output folder must lie inside the scene folder {scene_dir}")
    for what, path in inputs.items():
        if path and os.path.exists(path) and overlaps(out_dir, path):
            raise ValueError(f"--out {out_dir} would replace {what} ({path}); choose another output folder")
    if not os.path.lexists(out_dir):
        return
    if not force:
        raise FileExistsError(f"{out_dir} exists (use --force to replace it)")
    if not has_marker(out_dir, REPORT_FILE):
        raise ValueError(f"--force replaces only a folder prepare_masks.py wrote (it holds {REPORT_FILE}); "
                         f"{out_dir} does not: move it away yourself or choose another --out")


def write_object_masks(out_dir: str, association: Association, views: list[View], record: dict,
                       force: bool) -> None:
    """`out_dir/<view>.png` per view with a mask, plus the report, built in a hidden sibling
    folder and renamed into place (an existing `out_dir` is replaced only with `force` and
    when this program wrote it; `check_out_folder` has checked the rest)."""
    out_dir = os.path.abspath(out_dir)
    if os.path.lexists(out_dir) and not (force and has_marker(out_dir, REPORT_FILE)):
        raise FileExistsError(f"{out_dir} exists and is not an output of prepare_masks.py to replace")
    build = os.path.join(os.path.dirname(out_dir), f".{os.path.basename(out_dir)}.partial-{uuid.uuid4().hex[:8]}")
    os.makedirs(build)
    try:
        for view, ids in zip(views, association.id_maps):
            if ids is not None:
                write_png(os.path.join(build, view.name + ".png"), ids)
        with open(os.path.join(build, REPORT_FILE), "w") as fh:
            json.dump(record, fh, indent=1)
        if os.path.exists(out_dir):
            old = build + ".old"
            os.rename(out_dir, old)
            os.rename(build, out_dir)
            shutil.rmtree(old)
        else:
            os.rename(build, out_dir)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
