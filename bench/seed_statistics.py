"""Benchmark results over training seeds: means with 95 % t intervals in the layout of the
paper's Tables 1, 3 and 4, and every method's difference to Gaussian Grouping paired by scene
and seed (the same scene and seed share everything but the method, so the pairs cancel most of
the seed-to-seed spread). "mean" columns average over scenes within a seed first, then take the
interval over seeds; a seed that misses a scene is left out of the mean."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from evaluation.lerf_eval import Metric
from utils.atomic_io import atomic_path
from utils.statistics import format_interval, mean_interval

REFERENCE_METHOD = "gaussian_grouping"


@dataclass(frozen=True)
class RunResult:
    """The scores of one finished (scene, method, seed) run (fractions for mIoU / mBIoU)."""
    scene: str
    method: str
    seed: int
    miou: float
    mbiou: float
    psnr: float
    ssim: float
    gaussians: int | None
    train_seconds: float


# Table columns; a Metric's key is here the RunResult field it shows.
SEGMENTATION = [Metric("mIoU", "miou", 100.0, 1), Metric("mBIoU", "mbiou", 100.0, 1)]
RECONSTRUCTION = [Metric("PSNR", "psnr", 1.0, 2), Metric("SSIM", "ssim", 1.0, 3)]
DIFFERENCES = [*SEGMENTATION, Metric("PSNR (dB)", "psnr", 1.0, 2)]
PERCENT = Metric("", "", 100.0, 1)


class SeedResults:
    def __init__(self, results: list[RunResult]):
        self.results = results
        self.scenes = list(dict.fromkeys(r.scene for r in results))
        self.methods = list(dict.fromkeys(r.method for r in results))
        self.seeds = sorted({r.seed for r in results})
        self._by_key = {(r.scene, r.method, r.seed): r for r in results}

    def value(self, scene: str, method: str, seed: int, key: str) -> float | None:
        run = self._by_key.get((scene, method, seed))
        value = None if run is None else getattr(run, key)
        return None if value is None else float(value)

    def samples(self, method: str, key: str, scene: str | None = None, reference: str | None = None
                ) -> list[float]:
        """One value per seed: `method`'s `key` on `scene` (None: the mean over scenes), minus
        `reference`'s of the same scene and seed when given."""
        samples = []
        for seed in self.seeds:
            per_scene = []
            for s in ([scene] if scene is not None else self.scenes):
                value = self.value(s, method, seed, key)
                base = 0.0 if reference is None else self.value(s, reference, seed, key)
                if value is None or base is None:
                    break
                per_scene.append(value - base)
            else:
                samples.append(float(np.mean(per_scene)))
        return samples

    def relative_samples(self, method: str, key: str, reference: str) -> list[float]:
        """Per seed, the mean over scenes of `method`'s `key` / `reference`'s - 1."""
        samples = []
        for seed in self.seeds:
            pairs = [(self.value(s, method, seed, key), self.value(s, reference, seed, key)) for s in self.scenes]
            if all(value and base for value, base in pairs):
                samples.append(float(np.mean([value / base - 1.0 for value, base in pairs])))
        return samples


def _mean_half(samples: list[float]) -> tuple[float, float]:
    return mean_interval(samples) if samples else (np.nan, np.nan)


def _cell(samples: list[float], column: Metric, signed: bool = False) -> str:
    return format_interval(samples, column.scale, column.digits, signed) if samples else "–"


def metric_table(results: SeedResults, methods: list[str], columns: list[Metric],
                 labels: dict[str, list[str]] | None = None, label_names: tuple[str, ...] = ("method",)) -> str:
    """Rows of methods (`labels[method]` as the first cells, default the name), columns of
    scene x metric and the mean over scenes; cells are 'mean +- half' over seeds."""
    header = [*label_names] + [f"{scene} {c.name}" for scene in results.scenes + ["mean"] for c in columns]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join([":--"] * len(label_names) + ["--:"] * (len(header) - len(label_names))) + "|"]
    for method in methods:
        cells = [_cell(results.samples(method, c.key, scene), c) for scene in results.scenes + [None]
                 for c in columns]
        lines.append("| " + " | ".join((labels or {}).get(method, [method]) + cells) + " |")
    return "\n".join(lines)


def difference_table(results: SeedResults, reference: str = REFERENCE_METHOD) -> str:
    """Each method minus `reference`, paired by scene and seed: per scene and over scenes, with
    the Gaussians and training time relative to the reference's (%)."""
    others = [m for m in results.methods if m != reference]
    header = ["method"] + [f"{scene} {c.name}" for scene in results.scenes + ["mean"] for c in DIFFERENCES] + [
        "Gaussians (%)", "train time (%)"]
    lines = ["| " + " | ".join(header) + " |", "|:--|" + "|".join(["--:"] * (len(header) - 1)) + "|"]
    for method in others:
        cells = [_cell(results.samples(method, c.key, scene, reference), c, signed=True)
                 for scene in results.scenes + [None] for c in DIFFERENCES]
        cells += [_cell(results.relative_samples(method, key, reference), PERCENT, signed=True)
                  for key in ("gaussians", "train_seconds")]
        lines.append("| " + " | ".join([method] + cells) + " |")
    return "\n".join(lines)


def runs_csv(results: SeedResults) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["scene", "method", "seed", "miou", "mbiou", "psnr", "ssim", "gaussians", "train_seconds"])
    for r in results.results:
        writer.writerow([r.scene, r.method, r.seed, f"{r.miou:.6f}", f"{r.mbiou:.6f}", f"{r.psnr:.4f}",
                         f"{r.ssim:.5f}", "" if r.gaussians is None else r.gaussians, f"{r.train_seconds:.1f}"])
    return buffer.getvalue()


def plot(results: SeedResults, path: str, reference: str = REFERENCE_METHOD) -> None:
    """Each method's mBIoU and test PSNR minus the reference's, paired by scene and seed, per
    scene and over scenes (mean over seeds, 95 % interval bars; matplotlib, Agg)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    scenes, methods = results.scenes + ["mean"], results.methods
    x = np.arange(len(scenes))
    fig, axes = plt.subplots(1, 2, figsize=(4 + 2.2 * len(scenes), 3.8))
    others = [m for m in methods if m != reference]
    panels = [(axes[0], others, "mbiou", reference, 100.0, f"mBIoU - {reference} (points)"),
              (axes[1], others, "psnr", reference, 1.0, f"test PSNR - {reference} (dB)")]
    for axis, shown, key, base, scale, title in panels:
        width = 0.8 / max(1, len(shown))
        for m, method in enumerate(shown):
            stats = [_mean_half(results.samples(method, key, None if s == "mean" else s, base)) for s in scenes]
            means = [0.0 if np.isnan(mean) else scale * mean for mean, _ in stats]
            halves = [0.0 if np.isnan(half) else scale * half for _, half in stats]
            axis.bar(x + (m - (len(shown) - 1) / 2) * width, means, width, yerr=halves, capsize=3, label=method)
        axis.set_xticks(x, scenes, rotation=15)
        axis.set_title(title)
        axis.grid(axis="y", alpha=0.3)
        axis.legend(fontsize=7)
    for axis in axes:
        axis.axhline(0.0, color="black", linewidth=0.8)
    fig.suptitle(f"{len(results.seeds)} seeds; bars: 95 % t interval", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
