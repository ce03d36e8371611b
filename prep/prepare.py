"""`prepare_masks.py`: per-view 2D masks -> `SCENE/object_mask/` with ids consistent across views."""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Callable, Optional

import numpy as np

from gaussian_renderer.device import resolve_device
from prep.association import Association, AssociationOptions, associate
from prep.completion import CompletionOptions, complete_masks
from prep.depth import depth_maps
from prep.geometry import (
    AGREEING_VIEWS,
    Observations,
    View,
    depth_agreement,
    depth_observations,
    read_reconstruction,
    scene_views,
    track_observations,
)
from prep.mask_sources import read_mask_folder, sam_masks
from prep.report import check_out_folder, report, write_object_masks
from utils.errors import DataError

DEFAULT_SAMPLES_PER_VIEW = 3000
LOW_DEPTH_AGREEMENT = 0.98   # below this share of confirmed lifted points, the depth model is suspect


@dataclass
class PrepareOptions:
    masks_dir: str = ""               # --masks: one id PNG per image
    sam_config: str = ""              # --sam: SAM / SAM 2 config (JSON)
    depth_model: str = ""             # --depth_model: a trained model whose depth lifts the masks
    depth_iteration: int = -1
    use_tracks: bool = True           # SfM tracks of sparse/0 as observations
    samples_per_view: int = DEFAULT_SAMPLES_PER_VIEW
    images: str = "images"
    out: str = "object_mask"
    seed: int = 0
    device: str = "auto"              # --device for rendering the depth model
    complete: bool = True             # fill missed pixels from the other views (needs the depth model)


def gather_observations(views: list[View], masks: list, options: PrepareOptions, reconstruction,
                        depths: Optional[list], log: Callable[[str], None]) -> tuple[Observations, Optional[dict]]:
    """Observations from the SfM tracks and/or the depth maps (H, W) per view (None: no depth),
    and a record of the depth's agreement across views (None without depth)."""
    parts, depth_record = [], None
    if options.use_tracks:
        parts.append(track_observations(reconstruction, views))
        log(f"SfM tracks: {parts[-1].num_points} points, {len(parts[-1].point)} observations")
        if depths is None and points_in_two_views(parts[-1]) == 0:
            raise DataError(
                f"the SfM points of the scene carry no track seen in two views ({parts[-1].num_points} "
                f"points, {len(parts[-1].point)} observations), so nothing links the masks across views: "
                "train an RGB-only depth model on the scene and pass it as --depth_model "
                "(docs/own_capture.md, step 3)")
    if depths is not None:
        parts.append(depth_observations(views, depths, masks, options.samples_per_view, options.seed))
        agreement = depth_agreement(parts[-1])     # None: no pixel to lift (no mask with depth)
        depth_record = {"points": parts[-1].num_points, "observations": len(parts[-1].point),
                        "agreement": None if agreement is None else round(agreement, 4)}
        confirmed = "" if agreement is None else (
            f"; {100 * agreement:.1f} % of the points confirmed by {AGREEING_VIEWS - 1} other views")
        log(f"depth from {options.depth_model}: {parts[-1].num_points} points, "
            f"{len(parts[-1].point)} observations{confirmed}")
        if agreement is not None and agreement < LOW_DEPTH_AGREEMENT:
            log(f"warning: the depth of {options.depth_model} disagrees across views ({100 * agreement:.1f} % "
                f"confirmed; a well-trained model of a synthetic scene gives >= {100 * LOW_DEPTH_AGREEMENT:.0f} %): "
                "masks are associated less reliably where it does. If the model had a short schedule, train it "
                "longer (docs/own_capture.md, step 3)")
    if not parts:
        raise ValueError("no geometry: use the SfM tracks or give --depth_model")
    return Observations.concatenate(parts), depth_record


def points_in_two_views(observations: Observations) -> int:
    """How many points are observed in at least two different views."""
    pairs = np.unique(np.stack([observations.point, observations.view]), axis=1)
    return int((np.bincount(pairs[0], minlength=observations.num_points) >= 2).sum()) if pairs.size else 0


def check_association(association: Association, options: AssociationOptions,
                      log: Callable[[str], None]) -> None:
    """Refuse an all-background result; say when --num_classes left objects out."""
    if not association.objects:
        reasons = sorted({m.reason for m in association.masks if m.reason})
        raise DataError(f"no object associated from {len(association.masks)} masks"
                        f"{' (' + '; '.join(reasons[:3]) + ')' if reasons else ' (the masks hold no id > 0)'}; "
                        "nothing was written: check the masks, --min_views, or give --depth_model")
    if association.objects_left_out:
        log(f"warning: {association.objects_left_out} more objects were found than --num_classes "
            f"{options.num_classes} holds (ids 1..{options.num_classes - 1}); the smallest were left out")


def prepare_masks(scene_dir: str, options: PrepareOptions, association_options: AssociationOptions,
                  force: bool = False, log: Callable[[str], None] = print,
                  completion_options: CompletionOptions = CompletionOptions()) -> tuple[Association, dict]:
    """Read the scene and its 2D masks, associate them in 3D, fill missed pixels from the other
    views (with a depth model) and write `SCENE/<out>/`."""
    if bool(options.masks_dir) == bool(options.sam_config):
        raise ValueError("give exactly one mask source: --masks DIR or --sam CONFIG")
    out_dir = os.path.join(scene_dir, options.out)
    check_out_folder(scene_dir, out_dir, force=force, inputs={
        "the scene's photos": os.path.join(scene_dir, options.images),
        "the scene's SfM model": os.path.join(scene_dir, "sparse"),
        "the photos convert.py reads": os.path.join(scene_dir, "input"),
        "the distorted SfM model": os.path.join(scene_dir, "distorted"),
        "the input masks": options.masks_dir, "the SAM config": options.sam_config,
        "the depth model": options.depth_model})
    start = time.perf_counter()
    reconstruction, model_dir = read_reconstruction(scene_dir)
    views = scene_views(reconstruction, model_dir)
    if options.masks_dir:
        masks, missing = read_mask_folder(options.masks_dir, views)
        if missing:
            log(f"warning: {len(missing)} views have no mask in {options.masks_dir} (first: {missing[0]})")
    else:
        masks = sam_masks(scene_dir, options.images, views, options.sam_config, log)
    depths = None
    if options.depth_model:
        depths = depth_maps(options.depth_model, views, options.depth_iteration, resolve_device(options.device))
    observations, depth_record = gather_observations(views, masks, options, reconstruction, depths, log)
    association = associate(masks, observations, association_options)
    check_association(association, association_options, log)
    filled = None
    if depths is not None and options.complete:
        association.id_maps, filled = complete_masks(association.id_maps, views, depths, completion_options)
        log(f"completion: {sum(filled)} missed pixels filled from the other views")
    settings = {"source": options.masks_dir or options.sam_config, "tracks": options.use_tracks,
                "depth_model": options.depth_model, "depth_agreement": depth_record, "samples_per_view": options.samples_per_view,
                "association": asdict(association_options),
                "completion": asdict(completion_options) if filled is not None else None,
                "seconds": round(time.perf_counter() - start, 2)}
    record = report(association, views, settings, filled)
    write_object_masks(out_dir, association, views, record, force)
    return association, record


def summary_lines(record: dict, out_dir: Optional[str] = None) -> list[str]:
    lines = [f"objects: {record['num_objects']} from {record['num_masks']} masks"]
    lines += [f"  id {o['id']}: {o['num_views']} views, {o['masks']} masks" for o in record["objects"]]
    lines.append(f"masks left out: {len(record['masks_left_out'])}; split between objects: "
                 f"{len(record['masks_split_between_objects'])}")
    if record.get("pixels_filled"):
        lines.append(f"pixels filled from the other views: {record['pixels_filled']['total']}")
    if out_dir:
        lines.append(f"wrote {out_dir} ({record['settings']['seconds']} s)")
    return lines
