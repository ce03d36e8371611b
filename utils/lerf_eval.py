"""Folder-level LERF-Mask evaluation: IoU and Boundary IoU per view, per prompt, per scene.

Layout (as Gaussian Grouping's `script/eval_lerf_mask.py`): ground truth
`gt_dir/<view>/<prompt>.png` and predictions `pred_dir/<view>/<prompt>.png`. Every ground-truth
mask is one (view, prompt) pair.

Protocol, and where it departs from GG's script:
- Masks are read as 8-bit grey (colour images converted to luma, as GG's PIL `convert('L')`).
  A mask whose largest value is above 1 is binarised at > 128 (GG's threshold for its 0/255 PNGs);
  a mask whose values are all 0 or 1 is read as 0/1 labels (> 0). One rule for gt and pred.
- A prediction of another size than its ground truth is resized to it with nearest-neighbour
  sampling at pixel centres (what GG does with PIL, silently): rendering at a reduced training
  resolution (`-r`) and scoring against full-size ground truth is normal use. We warn once per
  folder, and refuse a size whose aspect ratio differs by more than 2%: that is a wrong or
  transposed image, which resizing would silently score.
- A missing prediction file scores IoU 0 and BIoU 0 and is listed (GG skips it, which inflates
  the mean).
- Both masks empty scores 1.0 (GG: NaN); see `utils/segmentation_metrics.py`.
- The scene numbers `miou`/`mbiou` are GG's: the mean over prompts of each prompt's mean over the
  views where it is annotated. The mean over all (view, prompt) pairs is reported beside them.

A `SceneEvaluation` carries its `scene` and `method` labels and serialises on its own, so several
scenes and methods evaluate as a list of `evaluate_folder` results.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from utils.segmentation_metrics import boundary_iou, iou

MASK_EXT = ".png"
# Largest relative difference of height/width ratios for which a prediction is resized to gt.
ASPECT_TOLERANCE = 0.02


@dataclass(frozen=True)
class MaskScore:
    """Scores of one (view, prompt) pair; `missing` means no prediction file (scored 0)."""
    view: str
    prompt: str
    iou: float
    biou: float
    missing: bool


@dataclass(frozen=True)
class PromptSummary:
    """Means of one prompt over the views where its ground truth exists."""
    prompt: str
    miou: float
    mbiou: float
    num_views: int
    num_missing: int


@dataclass
class SceneEvaluation:
    """All pair scores of one (scene, method) plus the means GG reports."""
    gt_dir: str
    pred_dir: str
    dilation_ratio: float
    scores: list[MaskScore]
    resized: list[str] = field(default_factory=list)  # prediction paths resized to gt size
    scene: str = ""
    method: str = ""

    def prompt_summaries(self) -> list[PromptSummary]:
        """One summary per prompt, sorted by prompt name."""
        by_prompt: dict[str, list[MaskScore]] = {}
        for score in self.scores:
            by_prompt.setdefault(score.prompt, []).append(score)
        return [PromptSummary(prompt=prompt,
                              miou=float(np.mean([s.iou for s in group])),
                              mbiou=float(np.mean([s.biou for s in group])),
                              num_views=len(group),
                              num_missing=sum(s.missing for s in group))
                for prompt, group in sorted(by_prompt.items())]

    @property
    def miou(self) -> float:
        """Mean over prompts of the per-prompt mean IoU (GG's scene number)."""
        return float(np.mean([p.miou for p in self.prompt_summaries()]))

    @property
    def mbiou(self) -> float:
        """Mean over prompts of the per-prompt mean Boundary IoU (GG's scene number)."""
        return float(np.mean([p.mbiou for p in self.prompt_summaries()]))

    @property
    def missing(self) -> list[str]:
        """Paths of the prediction files that were absent (each scored 0)."""
        return [prediction_path(self.pred_dir, s.view, s.prompt) for s in self.scores if s.missing]

    def to_dict(self) -> dict:
        return {
            "scene": self.scene,
            "method": self.method,
            "gt_dir": self.gt_dir,
            "pred_dir": self.pred_dir,
            "dilation_ratio": self.dilation_ratio,
            "miou": self.miou,
            "mbiou": self.mbiou,
            "scene_mean_over": "prompts",
            "pair_miou": float(np.mean([s.iou for s in self.scores])),
            "pair_mbiou": float(np.mean([s.biou for s in self.scores])),
            "num_pairs": len(self.scores),
            "num_missing": len(self.missing),
            "missing": self.missing,
            "resized": list(self.resized),
            "prompts": [asdict(p) for p in self.prompt_summaries()],
            "masks": [asdict(s) for s in self.scores],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_markdown(self) -> str:
        """Prompt rows (IoU in percent), a mean-over-prompts row, then the missing files."""
        title = " / ".join(label for label in (self.scene, self.method) if label)
        lines = [f"### {title}", ""] if title else []
        lines += ["| prompt | mIoU (%) | mBIoU (%) | views | missing |",
                  "|:--|--:|--:|--:|--:|"]
        summaries = self.prompt_summaries()
        for p in summaries:
            name = p.prompt.replace("|", "\\|")
            lines.append(f"| {name} | {100 * p.miou:.2f} | {100 * p.mbiou:.2f} "
                         f"| {p.num_views} | {p.num_missing} |")
        lines.append(f"| **mean over {len(summaries)} prompts** | {100 * self.miou:.2f} "
                     f"| {100 * self.mbiou:.2f} | {len(self.scores)} | {len(self.missing)} |")
        if self.missing:
            lines += ["", "Missing predictions (scored 0): "
                      + ", ".join(f"`{path}`" for path in self.missing)]
        return "\n".join(lines)


def prediction_path(pred_dir: str, view: str, prompt: str) -> str:
    return os.path.join(pred_dir, view, prompt + MASK_EXT)


def binarize_mask(image: np.ndarray) -> np.ndarray:
    """uint8 grey mask (H, W) -> bool (H, W): > 128 if any value exceeds 1, else > 0 (0/1)."""
    threshold = 128 if image.max() > 1 else 0
    return image > threshold


def read_mask(path: str) -> np.ndarray:
    """Read a mask PNG as bool (H, W); an unreadable file raises ValueError naming it."""
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"cannot read mask image {path} (not an image OpenCV can decode)")
    return binarize_mask(image)


def resize_to(mask: np.ndarray, shape: tuple[int, int], path: str) -> np.ndarray:
    """Nearest-neighbour resize of bool mask (h, w) to `shape` (H, W), sampling pixel centres
    (as PIL's NEAREST, which GG uses). `path` names the file in the error for a wrong aspect."""
    (h, w), (H, W) = mask.shape, shape
    if abs((h / w) / (H / W) - 1.0) > ASPECT_TOLERANCE:
        raise ValueError(f"prediction {path} is {w}x{h} but its ground truth is {W}x{H}: "
                         "aspect ratios differ, so it cannot be the same view resized")
    resized = cv2.resize(mask.astype(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST_EXACT)
    return resized > 0


def list_gt_pairs(gt_dir: str) -> list[tuple[str, str]]:
    """(view, prompt) of every `gt_dir/<view>/<prompt>.png`, sorted; errors if there are none."""
    if not os.path.isdir(gt_dir):
        raise FileNotFoundError(f"ground-truth folder not found: {gt_dir}")
    pairs = []
    for view in sorted(os.listdir(gt_dir)):
        view_dir = os.path.join(gt_dir, view)
        if view.startswith(".") or not os.path.isdir(view_dir):
            continue
        pairs += [(view, name[:-len(MASK_EXT)]) for name in sorted(os.listdir(view_dir))
                  if name.endswith(MASK_EXT) and not name.startswith(".")]
    if not pairs:
        raise ValueError(f"ground-truth folder {gt_dir} holds no masks "
                         f"(expected <view>/<prompt>{MASK_EXT})")
    return pairs


def evaluate_folder(gt_dir: str, pred_dir: str, dilation_ratio: float = 0.02,
                    scene: str = "", method: str = "") -> SceneEvaluation:
    """Score every ground-truth mask in `gt_dir` against `pred_dir` (see the module docstring)."""
    pairs = list_gt_pairs(gt_dir)
    if not os.path.isdir(pred_dir):
        raise FileNotFoundError(f"prediction folder not found: {pred_dir}")
    scores, resized = [], []
    for view, prompt in pairs:
        gt = read_mask(os.path.join(gt_dir, view, prompt + MASK_EXT))
        pred_path = prediction_path(pred_dir, view, prompt)
        if not os.path.isfile(pred_path):
            scores.append(MaskScore(view, prompt, 0.0, 0.0, missing=True))
            continue
        pred = read_mask(pred_path)
        if pred.shape != gt.shape:
            pred = resize_to(pred, gt.shape, pred_path)
            resized.append(pred_path)
        scores.append(MaskScore(view, prompt, iou(pred, gt),
                                boundary_iou(pred, gt, dilation_ratio), missing=False))
    if resized:
        warnings.warn(f"{len(resized)} prediction(s) differ in size from their ground truth and "
                      f"were resized with nearest-neighbour sampling, e.g. {resized[0]}")
    return SceneEvaluation(gt_dir=gt_dir, pred_dir=pred_dir, dilation_ratio=dilation_ratio,
                           scores=scores, resized=resized, scene=scene, method=method)
