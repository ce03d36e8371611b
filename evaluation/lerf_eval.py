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
- Both masks empty scores 1.0 (GG: NaN); see `evaluation/segmentation_metrics.py`.
- The scene numbers `miou`/`mbiou` are GG's: the mean over prompts of each prompt's mean over the
  views where it is annotated. The mean over all (view, prompt) pairs is reported beside them.

A `SceneEvaluation` carries its `scene` and `method` labels and serialises on its own. Several
scenes and methods (`evaluate_entries`) give a `BenchmarkEvaluation` with the paper's tables:
Table 1 (one row per method, mIoU and mBIoU per scene) and Table 4 (the same layout, one row per
ablation variant: with or without IGD and LA-KNN). There a whole missing prediction folder (a
run that failed) scores 0 on every mask and is reported, like a missing file.
"""
from __future__ import annotations

import csv
import io
import json
import os
import warnings
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from evaluation.segmentation_metrics import boundary_iou, iou
from utils.atomic_io import read_json, write_text_atomic

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
    igd: bool | None = None        # whether the method uses IGD / LA-KNN (None: not known)
    laknn: bool | None = None
    pred_dir_missing: bool = False  # the whole prediction folder was absent (all scored 0)

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
            "igd": self.igd,
            "laknn": self.laknn,
            "pred_dir_missing": self.pred_dir_missing,
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


def read_binary_mask(path: str) -> np.ndarray:
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
                    scene: str = "", method: str = "", missing_pred_dir_ok: bool = False
                    ) -> SceneEvaluation:
    """Score every ground-truth mask in `gt_dir` against `pred_dir` (see the module docstring).

    A missing `pred_dir` is an error unless `missing_pred_dir_ok`: then every mask scores 0."""
    pairs = list_gt_pairs(gt_dir)
    pred_dir_missing = not os.path.isdir(pred_dir)
    if pred_dir_missing and not missing_pred_dir_ok:
        raise FileNotFoundError(f"prediction folder not found: {pred_dir}")
    scores, resized = [], []
    for view, prompt in pairs:
        gt = read_binary_mask(os.path.join(gt_dir, view, prompt + MASK_EXT))
        pred_path = prediction_path(pred_dir, view, prompt)
        if not os.path.isfile(pred_path):
            scores.append(MaskScore(view, prompt, 0.0, 0.0, missing=True))
            continue
        pred = read_binary_mask(pred_path)
        if pred.shape != gt.shape:
            pred = resize_to(pred, gt.shape, pred_path)
            resized.append(pred_path)
        scores.append(MaskScore(view, prompt, iou(pred, gt),
                                boundary_iou(pred, gt, dilation_ratio), missing=False))
    if resized:
        warnings.warn(f"{len(resized)} prediction(s) differ in size from their ground truth and "
                      f"were resized with nearest-neighbour sampling, e.g. {resized[0]}")
    return SceneEvaluation(gt_dir=gt_dir, pred_dir=pred_dir, dilation_ratio=dilation_ratio,
                           scores=scores, resized=resized, scene=scene, method=method,
                           pred_dir_missing=pred_dir_missing)


# ----------------------------------------------------------------------------- result grids

MISSING_CELL = "–"


@dataclass(frozen=True)
class Metric:
    """A column of a result grid: printed as `value * scale` with `digits` decimals."""
    name: str        # markdown title, e.g. "mIoU"
    key: str         # CSV / JSON key, e.g. "miou_pct"
    scale: float = 1.0
    digits: int = 2


@dataclass
class ResultGrid:
    """The layout of the paper's Tables 1, 3 and 4: rows of labels (a method, or an ablation
    variant), then for every scene each metric, then the mean over scenes (only for a row that
    has every scene, so that means compare like with like)."""
    label_names: list[str]
    scenes: list[str]
    metrics: list[Metric]
    rows: list[tuple[list[str], dict[str, list[float]]]] = field(default_factory=list)

    def add_row(self, labels: list[str], values: dict[str, list[float]]) -> None:
        """values: scene -> one value per metric (unscaled); scenes may be absent."""
        if len(labels) != len(self.label_names):
            raise ValueError(f"a row needs {len(self.label_names)} labels, got {labels}")
        self.rows.append((labels, values))

    def row_mean(self, values: dict[str, list[float]]) -> list[float] | None:
        if any(scene not in values for scene in self.scenes):
            return None
        return [float(np.mean([values[s][i] for s in self.scenes])) for i in range(len(self.metrics))]

    def _cells(self, values: dict[str, list[float]], digits_offset: int = 0) -> list[str]:
        groups = [values.get(scene) for scene in self.scenes] + [self.row_mean(values)]
        cells = []
        for group in groups:
            for i, metric in enumerate(self.metrics):
                cells.append(MISSING_CELL if group is None
                             else f"{group[i] * metric.scale:.{metric.digits + digits_offset}f}")
        return cells

    def column_names(self, separator: str) -> list[str]:
        """Scene-metric column names (`figurines mIoU` / `figurines_miou_pct`), then the means."""
        names = []
        for scene in self.scenes + ["mean"]:
            for metric in self.metrics:
                names.append(f"{scene} {metric.name}" if separator == " " else f"{scene}_{metric.key}")
        return names

    def to_markdown(self) -> str:
        header = self.label_names + self.column_names(" ")
        align = [":--"] * len(self.label_names) + ["--:"] * (len(header) - len(self.label_names))
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
        for labels, values in self.rows:
            labels = [label.replace("|", "\\|") for label in labels]
            lines.append("| " + " | ".join(labels + self._cells(values)) + " |")
        return "\n".join(lines)

    def to_csv(self) -> str:
        """The markdown table's numbers with two more decimals; absent cells are empty."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.label_names + self.column_names("_"))
        for labels, values in self.rows:
            writer.writerow(labels + [c if c != MISSING_CELL else "" for c in self._cells(values, 2)])
        return buffer.getvalue()

    def to_records(self) -> list[dict]:
        """One JSON-ready dict per row: labels, then scene -> {metric key: scaled value}, mean."""
        records = []
        for labels, values in self.rows:
            record: dict = dict(zip(self.label_names, labels))
            for scene, group in [(s, values.get(s)) for s in self.scenes] + [("mean", self.row_mean(values))]:
                record[scene] = None if group is None else {
                    m.key: group[i] * m.scale for i, m in enumerate(self.metrics)}
            records.append(record)
        return records


# ----------------------------------------------------------------------------- several scenes and methods

SEGMENTATION_METRICS = [Metric("mIoU", "miou_pct", 100.0, 1), Metric("mBIoU", "mbiou_pct", 100.0, 1)]
# (uses IGD, uses LA-KNN) -> the row label of the paper's Table 4, in the paper's order.
ABLATION_VARIANTS = {
    (False, False): "w/o IGD & LA-KNN",
    (False, True): "w/o IGD",
    (True, False): "w/o LA-KNN",
    (True, True): "IGD + LA-KNN (full)",
}


@dataclass(frozen=True)
class EvalEntry:
    """One (scene, method) to evaluate; `igd`/`laknn` say which modules the method uses (None:
    read from the model's cfg_args when the predictions are in a model folder, else unknown)."""
    scene: str
    method: str
    gt_dir: str
    pred_dir: str
    igd: bool | None = None
    laknn: bool | None = None


def model_modules(pred_dir: str) -> tuple[bool | None, bool | None]:
    """(uses IGD, uses LA-KNN) of the model that rendered `pred_dir`, when it is laid out as
    `<model>/<split>/ours_<iter>/test_mask` and `<model>/cfg_args` is our JSON with `no_igd` and
    `no_laknn`; (None, None) otherwise (e.g. a Gaussian Grouping model, whose cfg_args is not JSON)."""
    model = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(pred_dir))))
    try:
        with open(os.path.join(model, "cfg_args")) as fh:
            saved = json.load(fh)
    except (OSError, ValueError):
        return None, None
    if not isinstance(saved, dict) or "no_igd" not in saved or "no_laknn" not in saved:
        return None, None
    return not saved["no_igd"], not saved["no_laknn"]


def read_runs_file(path: str) -> list[EvalEntry]:
    """Entries from a JSON list (or `{"runs": [...]}`) of objects with `scene`, `method`, `gt`,
    `pred` and optional booleans `igd`, `laknn`. Relative paths are relative to the file's folder."""
    data = read_json(path, "runs file")
    runs = data.get("runs") if isinstance(data, dict) else data
    if not isinstance(runs, list) or not runs:
        raise ValueError(f"runs file {path} must hold a non-empty list of runs (or {{\"runs\": [...]}})")
    base = os.path.dirname(os.path.abspath(path))
    entries = []
    for index, run in enumerate(runs):
        where = f"runs file {path}, run {index}"
        if not isinstance(run, dict):
            raise ValueError(f"{where}: expected an object, got {type(run).__name__}")
        missing = [k for k in ("scene", "method", "gt", "pred") if not isinstance(run.get(k), str)]
        if missing:
            raise ValueError(f"{where}: needs string fields {missing}")
        unknown = set(run) - {"scene", "method", "gt", "pred", "igd", "laknn"}
        if unknown:
            raise ValueError(f"{where}: unknown fields {sorted(unknown)}")
        for flag in ("igd", "laknn"):
            if flag in run and not isinstance(run[flag], bool):
                raise ValueError(f"{where}: '{flag}' must be true or false")
        entries.append(EvalEntry(scene=run["scene"], method=run["method"],
                                 gt_dir=os.path.join(base, run["gt"]),
                                 pred_dir=os.path.join(base, run["pred"]),
                                 igd=run.get("igd"), laknn=run.get("laknn")))
    return entries


def first_seen(values) -> list[str]:
    return list(dict.fromkeys(values))


@dataclass
class BenchmarkEvaluation:
    """Evaluations of several (scene, method) pairs, with the paper's Table 1 and Table 4."""
    evaluations: list[SceneEvaluation]

    @property
    def scenes(self) -> list[str]:
        return first_seen(e.scene for e in self.evaluations)

    @property
    def methods(self) -> list[str]:
        return first_seen(e.method for e in self.evaluations)

    def _values(self, method: str) -> dict[str, list[float]]:
        return {e.scene: [e.miou, e.mbiou] for e in self.evaluations if e.method == method}

    def table1(self) -> ResultGrid:
        """One row per method (in the order given): mIoU and mBIoU per scene, and their mean."""
        grid = ResultGrid(["method"], self.scenes, SEGMENTATION_METRICS)
        for method in self.methods:
            grid.add_row([method], self._values(method))
        return grid

    def ablation_modules(self) -> dict[str, tuple[bool, bool]]:
        """Method -> (IGD, LA-KNN) for the methods whose modules are known."""
        modules: dict[str, tuple[bool, bool]] = {}
        for method in self.methods:
            # Unknown on a scene (e.g. a run that failed before writing cfg_args) does not count.
            flags = {(e.igd, e.laknn) for e in self.evaluations
                     if e.method == method and e.igd is not None and e.laknn is not None}
            if len(flags) > 1:
                raise ValueError(f"method '{method}' has different IGD / LA-KNN settings on different "
                                 f"scenes: {sorted(flags)}")
            if flags:
                modules[method] = flags.pop()
        return modules

    def table4(self) -> ResultGrid | None:
        """The ablation rows (paper order: w/o both, w/o IGD, w/o LA-KNN, full), or None when
        fewer than two variants were evaluated."""
        modules = self.ablation_modules()
        if len(set(modules.values())) < 2:
            return None
        order = list(ABLATION_VARIANTS)
        grid = ResultGrid(["variant", "method", "IGD", "LA-KNN"], self.scenes, SEGMENTATION_METRICS)
        for method in sorted(modules, key=lambda m: (order.index(modules[m]), self.methods.index(m))):
            igd, laknn = modules[method]
            grid.add_row([ABLATION_VARIANTS[(igd, laknn)], method, "✓" if igd else "✗",
                          "✓" if laknn else "✗"], self._values(method))
        return grid

    def notes(self) -> list[str]:
        """Runs whose predictions were missing, in whole or in part (all scored 0)."""
        notes = []
        for e in self.evaluations:
            if e.pred_dir_missing:
                notes.append(f"{e.scene} / {e.method}: prediction folder not found ({e.pred_dir}); "
                             f"all {len(e.scores)} masks scored 0")
            elif e.missing:
                notes.append(f"{e.scene} / {e.method}: {len(e.missing)} of {len(e.scores)} prediction "
                             f"files missing, scored 0 (e.g. {e.missing[0]})")
        return notes

    def to_markdown(self) -> str:
        parts = ["### Table 1: mIoU / mBIoU (%) per scene and method", "", self.table1().to_markdown()]
        table4 = self.table4()
        if table4 is not None:
            parts += ["", "### Table 4: ablation of IGD and LA-KNN, mIoU / mBIoU (%)", "",
                      table4.to_markdown()]
        notes = self.notes()
        if notes:
            parts += ["", "Missing predictions:", ""] + [f"- {note}" for note in notes]
        return "\n".join(parts)

    def details_markdown(self) -> str:
        """Per-prompt tables of every (scene, method)."""
        return "\n\n".join(e.to_markdown() for e in self.evaluations)

    def per_prompt_csv(self) -> str:
        """scene, method, prompt, mIoU and mBIoU (fractions), views, missing files."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["scene", "method", "prompt", "miou", "mbiou", "num_views", "num_missing"])
        for e in self.evaluations:
            for p in e.prompt_summaries():
                writer.writerow([e.scene, e.method, p.prompt, f"{p.miou:.6f}", f"{p.mbiou:.6f}",
                                 p.num_views, p.num_missing])
        return buffer.getvalue()

    def to_dict(self) -> dict:
        table4 = self.table4()
        return {"scenes": self.scenes, "methods": self.methods,
                "table1": self.table1().to_records(),
                "table4": None if table4 is None else table4.to_records(),
                "notes": self.notes(),
                "evaluations": [e.to_dict() for e in self.evaluations]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def write(self, out_dir: str) -> list[str]:
        """Write tables.md, table1.csv, table4.csv (if any), per_prompt.csv, details.md and
        results.json into `out_dir`, each atomically; returns the paths written."""
        table4 = self.table4()
        files = {"tables.md": self.to_markdown() + "\n", "table1.csv": self.table1().to_csv(),
                 "per_prompt.csv": self.per_prompt_csv(), "details.md": self.details_markdown() + "\n",
                 "results.json": self.to_json() + "\n"}
        if table4 is not None:
            files["table4.csv"] = table4.to_csv()
        paths = []
        for name, text in files.items():
            path = os.path.join(out_dir, name)
            write_text_atomic(path, text)
            paths.append(path)
        return paths


def evaluate_entries(entries: list[EvalEntry], dilation_ratio: float = 0.02) -> BenchmarkEvaluation:
    """Evaluate every entry (missing prediction folders score 0, see the module docstring)."""
    seen = set()
    evaluations = []
    for entry in entries:
        key = (entry.scene, entry.method)
        if key in seen:
            raise ValueError(f"scene '{entry.scene}' and method '{entry.method}' are given twice")
        seen.add(key)
        igd, laknn = entry.igd, entry.laknn
        if igd is None or laknn is None:
            found = model_modules(entry.pred_dir)
            igd = found[0] if igd is None else igd
            laknn = found[1] if laknn is None else laknn
        evaluation = evaluate_folder(entry.gt_dir, entry.pred_dir, dilation_ratio, scene=entry.scene,
                                     method=entry.method, missing_pred_dir_ok=True)
        evaluation.igd, evaluation.laknn = igd, laknn
        evaluations.append(evaluation)
    return BenchmarkEvaluation(evaluations)
