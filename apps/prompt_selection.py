"""Prompt -> object ids of a trained model, without a network model (docs/design.md section 5).

Two protocols pick which of the classifier's ids make up a text prompt's object:
- manual selection (the paper's Table 2): a JSON file `{prompt: [ids]}`, read by
  `apps.render_export.load_prompt_ids`;
- reference masks (the paper's Tables 1 and 4, Gaussian Grouping's `render_lerf_mask.py`): one
  binary 2D mask per prompt on one view, e.g. a Grounded-SAM detection. The model's predicted id
  map of that view is rendered, and every id whose predicted region lies mostly inside the mask
  is selected: intersection over the id's *own area* above a threshold (GG: 0.7). Dividing by the
  id's area, not by the union, lets several ids make up one object and ignores the ids that only
  touch the mask along its boundary.

`grounded_sam_masks` makes such reference masks from text with Grounding DINO and SAM for users
who have both packages and their checkpoints on disk; nothing is downloaded.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from arguments import ConfigError, load_json_file
from evaluation.lerf_eval import MASK_EXT, read_binary_mask, resize_to

# Gaussian Grouping's `select_obj_ioa` threshold: an id is selected when more than this fraction
# of its predicted pixels lie inside the reference mask.
DEFAULT_IOA_THRESHOLD = 0.7


@dataclass(frozen=True)
class IdSelection:
    """The ids chosen for one prompt and the intersection over area of every id on the view."""
    prompt: str
    ids: list[int]
    ioa: dict[int, float]
    mask_pixels: int


def intersection_over_area(id_map: np.ndarray, mask: np.ndarray) -> dict[int, float]:
    """For every id present in `id_map` (H, W) int: |mask & (id_map == id)| / |id_map == id|.

    `mask` is a boolean (H, W) array. Ids are returned in ascending order."""
    if mask.shape != id_map.shape or mask.dtype != np.bool_:
        raise ValueError(f"mask must be boolean with the id map's shape {id_map.shape}, "
                         f"got {mask.dtype} {mask.shape}")
    ids, inverse = np.unique(id_map, return_inverse=True)
    area = np.bincount(inverse.ravel(), minlength=len(ids))
    inside = np.bincount(inverse.ravel(), weights=mask.ravel(), minlength=len(ids))
    return {int(i): float(x / a) for i, x, a in zip(ids, inside, area)}


def select_ids(prompt: str, id_map: np.ndarray, mask: np.ndarray,
               threshold: float = DEFAULT_IOA_THRESHOLD) -> IdSelection:
    """Ids whose intersection over area with `mask` exceeds `threshold` (strictly, as GG)."""
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"intersection-over-area threshold must be in [0, 1), got {threshold}")
    ioa = intersection_over_area(id_map, mask)
    return IdSelection(prompt=prompt, ids=[i for i, value in ioa.items() if value > threshold],
                       ioa=ioa, mask_pixels=int(np.count_nonzero(mask)))


def read_reference_masks(folder: str) -> dict[str, np.ndarray]:
    """Every `<folder>/<prompt>.png` as a boolean (H, W) mask (0/255 or 0/1, as ground truth)."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"reference mask folder not found: {folder}")
    names = sorted(n for n in os.listdir(folder) if n.endswith(MASK_EXT) and not n.startswith("."))
    if not names:
        raise ValueError(f"reference mask folder {folder} holds no <prompt>{MASK_EXT} files")
    return {name[:-len(MASK_EXT)]: read_binary_mask(os.path.join(folder, name)) for name in names}


def select_prompt_ids(id_map: np.ndarray, masks: dict[str, np.ndarray], folder: str = "",
                      threshold: float = DEFAULT_IOA_THRESHOLD) -> dict[str, IdSelection]:
    """Select ids for every prompt's reference mask on the view whose predicted ids are `id_map`.

    Masks of another size than the id map (a view rendered at reduced resolution) are resized
    with nearest-neighbour sampling; a different aspect ratio is an error naming the file in
    `folder`."""
    selections = {}
    for prompt, mask in masks.items():
        if mask.shape != id_map.shape:
            mask = resize_to(mask, id_map.shape, os.path.join(folder, prompt + MASK_EXT))
        selections[prompt] = select_ids(prompt, id_map, mask, threshold)
    return selections


# ----------------------------------------------------------------------------- Grounded-SAM

GROUNDED_SAM_HELP = (
    "the Grounded-SAM adapter needs the packages `groundingdino` and `segment_anything` and local "
    "checkpoint files (nothing is downloaded); without them, make one mask per prompt yourself "
    "and pass the folder with --reference_masks")


@dataclass(frozen=True)
class GroundedSamConfig:
    """Local files and thresholds of Grounding DINO + SAM (GG's `ext/grounded_sam.py` values)."""
    dino_config: str
    dino_checkpoint: str
    sam_checkpoint: str
    sam_model: str = "vit_h"
    box_threshold: float = 0.3
    text_threshold: float = 0.45
    device: str = "cpu"


def load_grounded_sam_config(path: str) -> GroundedSamConfig:
    """Read a JSON config of `GroundedSamConfig` fields; checkpoint files must exist."""
    values = load_json_file(path, "Grounded-SAM config")
    try:
        config = GroundedSamConfig(**values)
    except TypeError as err:
        raise ConfigError(f"{path}: {err}") from None
    for key in ("dino_config", "dino_checkpoint", "sam_checkpoint"):
        if not os.path.isfile(getattr(config, key)):
            raise ConfigError(f"{path}: {key} file not found: {getattr(config, key)} "
                              "(checkpoints must be on disk; nothing is downloaded)")
    return config


def grounded_sam_masks(image: np.ndarray, prompts: list[str], config: GroundedSamConfig
                       ) -> dict[str, np.ndarray]:
    """Boolean (H, W) mask per text prompt on an RGB (H, W, 3) uint8 image: Grounding DINO boxes
    for the prompt, each segmented by SAM, united (as GG's `grouned_sam_output`). A prompt with
    no box gets an empty mask. Raises ImportError with `GROUNDED_SAM_HELP` if a package is absent."""
    # Offline before the text encoder's tokenizer is built: a missing cache is an error, not a download.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import groundingdino.datasets.transforms as T
        import torch
        from groundingdino.util import box_ops
        from groundingdino.util.inference import load_model, predict
        from PIL import Image
        from segment_anything import SamPredictor, sam_model_registry
    except ImportError as err:
        raise ImportError(f"{GROUNDED_SAM_HELP} ({err})") from None
    dino = load_model(config.dino_config, config.dino_checkpoint, device=config.device)
    sam = sam_model_registry[config.sam_model](checkpoint=config.sam_checkpoint).to(config.device)
    predictor = SamPredictor(sam)
    predictor.set_image(image)
    transform = T.Compose([T.RandomResize([800], max_size=1333), T.ToTensor(),
                           T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    dino_image, _ = transform(Image.fromarray(image), None)
    height, width = image.shape[:2]
    masks = {}
    for prompt in prompts:
        boxes, _, _ = predict(model=dino, image=dino_image, caption=prompt, device=config.device,
                              box_threshold=config.box_threshold, text_threshold=config.text_threshold)
        if len(boxes) == 0:
            masks[prompt] = np.zeros((height, width), dtype=bool)
            continue
        boxes_xyxy = box_ops.box_cxcywh_to_xyxy(boxes) * torch.tensor([width, height, width, height])
        segments, _, _ = predictor.predict_torch(
            point_coords=None, point_labels=None, multimask_output=False,
            boxes=predictor.transform.apply_boxes_torch(boxes_xyxy, (height, width)).to(config.device))
        masks[prompt] = segments.any(dim=0)[0].cpu().numpy().astype(bool)
    return masks
