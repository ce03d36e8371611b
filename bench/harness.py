"""Benchmark harness: synthetic scenes x methods -> train, render, evaluate, tables and pictures.

A preset (`config/bench/<name>.json`) names a training schedule, the methods, and a suite of
synthetic scenes that vary object count, textures (the seed), occlusion (camera elevation and
crowding) and how much the training masks are degraded like a video tracker's output (jittered
boundaries, swapped and merged ids, spurious blobs; the paper trains on DEVA's tracked masks).
Each (scene, method) run calls the user-facing commands, so a run's log is also its recipe:

    train.py -s <scene> -m <run> --config_file <schedule> --eval [--no_igd] [--no_laknn]
    render.py -m <run> --skip_train --reference_masks <scene>/test_mask/<view> --reference_view <view>
              --boundary_overlay

Prompts follow the paper's Table 1 / Table 4 protocol (GG's): ids are chosen by intersection over
area with one reference mask per prompt on one test view (here the exact mask stands in for
Grounded-SAM's detection); `"prompt_protocol": "prompt_ids"` uses the scene's prompts.json instead
(manual selection, Table 2). Output folder:

    <out>/scenes/<scene>/              the synthetic scenes
    <out>/runs/<scene>/seed_<k>/<method>/   model folder, log.txt and done.json (the done-marker)
    <out>/runs/<scene>/seed_<k>/prefix/     the shared prefix (with "shared_prefix_iterations")
    <out>/results/                     tables.md, table1.csv, table4.csv, table3.md/.csv,
                                       per_prompt.csv, details.md, results.json, runs.json,
                                       plot.png, overlays/<scene>__<method>.png, overlays.png,
                                       summary.md; with several seeds also seeds.md, seeds.csv and
                                       seeds_plot.png (means over seeds with 95 % t intervals,
                                       differences to Gaussian Grouping paired by seed)

Seeds: `"seeds": [0, 1, 2]` trains every (scene, method) once per training seed; the per-prompt
files and Table 1 / 4 are the first seed's, seeds.md has the statistics. `"shared_prefix_iterations"`
(at most where IGD and LA-KNN start, so every method trains the same until then) trains each
(scene, seed) once to that iteration and continues every method from its checkpoint: training is
exactly resumable, so the result is the one of a run from scratch, at less cost.

Resumable: a run whose done.json exists and matches the current settings is skipped; any other
run folder is deleted and the run starts over. The marker is written atomically, last.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from bench import seed_statistics
from bench.executors import LocalExecutor, make_executor
from bench.seed_statistics import RECONSTRUCTION, REFERENCE_METHOD, SEGMENTATION, RunResult, SeedResults
from bench.synthetic.degrade import MaskDegradation
from bench.synthetic.scene import SyntheticSceneConfig, make_synthetic_scene
from evaluation.image_metrics import folder_psnr_ssim
from evaluation.lerf_eval import (
    ABLATION_VARIANTS,
    BenchmarkEvaluation,
    EvalEntry,
    Metric,
    ResultGrid,
    evaluate_entries,
    evaluate_folder,
    write_text_atomic,
)
from training.run_logger import read_metric
from utils.atomic_io import atomic_path, write_json_atomic
from utils.image_io import read_rgb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESET_DIR = os.path.join(ROOT, "config", "bench")
DONE_MARKER = "done.json"
LOG_FILE = "log.txt"
PROMPT_PROTOCOLS = ("reference_masks", "prompt_ids")
# Preset scene keys that set the training-mask degradation, and the MaskDegradation field of each.
DEGRADATION_KEYS = {"mask_jitter": "jitter_px", "swap_fraction": "swap_fraction",
                    "merge_fraction": "merge_fraction", "blob_fraction": "blob_fraction"}


@dataclass(frozen=True)
class MethodSpec:
    """A method is GradiSeg with or without its two modules (both off: Gaussian Grouping)."""
    name: str
    igd: bool
    laknn: bool

    @property
    def train_flags(self) -> list[str]:
        return (["--no_igd"] if not self.igd else []) + (["--no_laknn"] if not self.laknn else [])


METHODS = {spec.name: spec for spec in (
    MethodSpec("gaussian_grouping", igd=False, laknn=False),
    MethodSpec("gradiseg_no_igd", igd=False, laknn=True),
    MethodSpec("gradiseg_no_laknn", igd=True, laknn=False),
    MethodSpec("gradiseg", igd=True, laknn=True),
)}


@dataclass(frozen=True)
class SceneSpec:
    name: str
    description: str
    config: SyntheticSceneConfig


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    train_config: str              # absolute path of the training schedule (JSON)
    schedule: dict                 # its content, read once: what the done-markers' fingerprints hold
    methods: list[str]
    ablation_methods: list[str]    # added with --ablations
    scenes: list[SceneSpec]
    prompt_protocol: str = "reference_masks"
    ioa_threshold: float = 0.7
    mask_threshold: float = 0.2
    seeds: tuple[int, ...] = (0,)
    shared_prefix_iterations: int | None = None

    @property
    def iterations(self) -> int:
        return int(self.schedule["iterations"])


@dataclass(frozen=True)
class PrefixSpec:
    """The training of one (scene, seed) to `shared_prefix_iterations`, shared by its methods."""
    scene: SceneSpec
    seed: int
    scene_dir: str
    run_dir: str

    @property
    def label(self) -> str:
        return f"{self.scene.name} / seed {self.seed} / prefix"


@dataclass(frozen=True)
class RunSpec:
    """One (scene, method, seed) of a suite, with its folders; `prefix` is the shared prefix it
    continues (None: trained from scratch)."""
    scene: SceneSpec
    method: MethodSpec
    seed: int
    scene_dir: str
    run_dir: str
    prefix: PrefixSpec | None = None

    @property
    def label(self) -> str:
        return f"{self.scene.name} / {self.method.name} / seed {self.seed}"


# ----------------------------------------------------------------------------- presets

def preset_path(name_or_path: str) -> str:
    """A preset file: the path itself if it is a file, else config/bench/<name>.json."""
    if os.path.isfile(name_or_path):
        return name_or_path
    path = os.path.join(PRESET_DIR, f"{name_or_path}.json")
    if not os.path.isfile(path):
        known = sorted(n[:-5] for n in os.listdir(PRESET_DIR) if n.endswith(".json") and "_train" not in n)
        raise FileNotFoundError(f"no preset '{name_or_path}' ({path}); presets: {', '.join(known)}")
    return path


def scene_config(values: dict, where: str) -> SyntheticSceneConfig:
    """A SyntheticSceneConfig from preset keys (its fields plus the DEGRADATION_KEYS)."""
    fields = {f.name for f in dataclasses.fields(SyntheticSceneConfig)} - {"degradation"}
    unknown = set(values) - fields - set(DEGRADATION_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown scene keys {sorted(unknown)}")
    degradation = MaskDegradation(**{DEGRADATION_KEYS[k]: float(v) for k, v in values.items()
                                     if k in DEGRADATION_KEYS})
    config = SyntheticSceneConfig(degradation=degradation,
                                  **{k: v for k, v in values.items() if k in fields})
    try:
        config.validate()
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    return config


def load_preset(name_or_path: str) -> Preset:
    """Read and check a preset; errors name the file and the problem."""
    path = preset_path(name_or_path)
    with open(path) as fh:
        try:
            data = json.load(fh)
        except ValueError as err:
            raise ValueError(f"preset {path} is not valid JSON ({err})") from None
    required = {"description", "train_config", "methods", "scenes"}
    optional = {"ablation_methods", "scene_defaults", "prompt_protocol", "ioa_threshold",
                "mask_threshold", "seed", "seeds", "shared_prefix_iterations"}
    if missing := required - set(data):
        raise ValueError(f"preset {path}: missing keys {sorted(missing)}")
    if unknown := set(data) - required - optional:
        raise ValueError(f"preset {path}: unknown keys {sorted(unknown)}")
    methods, ablations = data["methods"], data.get("ablation_methods", [])
    if bad := [m for m in methods + ablations if m not in METHODS]:
        raise ValueError(f"preset {path}: unknown methods {bad} (known: {', '.join(METHODS)})")
    if data.get("prompt_protocol", "reference_masks") not in PROMPT_PROTOCOLS:
        raise ValueError(f"preset {path}: prompt_protocol must be one of {PROMPT_PROTOCOLS}")
    train_config = os.path.join(ROOT, data["train_config"])
    if not os.path.isfile(train_config):
        raise FileNotFoundError(f"preset {path}: training config not found: {train_config}")
    with open(train_config) as fh:
        schedule = json.load(fh)
    if not isinstance(schedule.get("iterations"), int):
        raise ValueError(f"training config {train_config} (preset {path}) must set \"iterations\"")
    defaults = data.get("scene_defaults", {})
    scenes = []
    for index, entry in enumerate(data["scenes"]):
        entry = dict(entry)
        name, description = entry.pop("name", None), entry.pop("description", "")
        if not name or not isinstance(name, str):
            raise ValueError(f"preset {path}: scene {index} needs a name")
        scenes.append(SceneSpec(name, description, scene_config({**defaults, **entry},
                                                                 f"preset {path}, scene '{name}'")))
    if len({s.name for s in scenes}) != len(scenes):
        raise ValueError(f"preset {path}: scene names must be unique")
    if "seed" in data and "seeds" in data:
        raise ValueError(f"preset {path}: give \"seed\" or \"seeds\", not both")
    seeds = data.get("seeds", [data.get("seed", 0)])
    if not seeds or not all(isinstance(k, int) for k in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"preset {path}: \"seeds\" must be a non-empty list of distinct integers")
    prefix = data.get("shared_prefix_iterations")
    if prefix is not None:
        first_difference = min(int(schedule.get("igd_from_iter", 0)), int(schedule.get("laknn_from_iter", 0)))
        if not isinstance(prefix, int) or not 0 < prefix <= first_difference:
            raise ValueError(f"preset {path}: shared_prefix_iterations must be an integer in 1..{first_difference} "
                             f"(where the training config starts IGD or LA-KNN), got {prefix}")
    return Preset(name=os.path.splitext(os.path.basename(path))[0], description=data["description"],
                  train_config=train_config, schedule=schedule, methods=methods,
                  ablation_methods=ablations, scenes=scenes,
                  prompt_protocol=data.get("prompt_protocol", "reference_masks"),
                  ioa_threshold=float(data.get("ioa_threshold", 0.7)),
                  mask_threshold=float(data.get("mask_threshold", 0.2)), seeds=tuple(seeds),
                  shared_prefix_iterations=prefix)


def plan_prefixes(preset: Preset, out_dir: str) -> list[PrefixSpec]:
    """The shared prefix of every (scene, seed), none without `shared_prefix_iterations`."""
    if preset.shared_prefix_iterations is None:
        return []
    return [PrefixSpec(scene, seed, os.path.join(out_dir, "scenes", scene.name),
                       os.path.join(out_dir, "runs", scene.name, f"seed_{seed}", "prefix"))
            for scene in preset.scenes for seed in preset.seeds]


def plan_runs(preset: Preset, out_dir: str, ablations: bool) -> list[RunSpec]:
    """Every (scene, method, seed) of the preset: scenes outermost, then seeds, then methods."""
    names = preset.methods + [m for m in preset.ablation_methods if ablations and m not in preset.methods]
    prefixes = {(p.scene.name, p.seed): p for p in plan_prefixes(preset, out_dir)}
    return [RunSpec(scene, METHODS[m], seed, os.path.join(out_dir, "scenes", scene.name),
                    os.path.join(out_dir, "runs", scene.name, f"seed_{seed}", m),
                    prefixes.get((scene.name, seed)))
            for scene in preset.scenes for seed in preset.seeds for m in names]


# ----------------------------------------------------------------------------- scenes

def json_normalised(value):
    """`value` as it reads back from JSON (tuples become lists, and so on)."""
    return json.loads(json.dumps(value))


def ensure_scene(scene: SceneSpec, scene_dir: str) -> None:
    """Make the scene unless it exists; an existing scene made with other settings is an error."""
    meta_path = os.path.join(scene_dir, "scene_meta.json")
    if os.path.isfile(meta_path):
        with open(meta_path) as fh:
            made = json.load(fh)["config"]
        if made != json_normalised(dataclasses.asdict(scene.config)):
            raise ValueError(f"scene folder {scene_dir} was made with other settings than preset scene "
                             f"'{scene.name}'; delete it or use another output folder")
        return
    make_synthetic_scene(scene_dir, scene.config)


def reference_view(scene_dir: str) -> str:
    """The test view with ground truth for the most prompts (the first of equals): the view the
    reference masks are taken from, as GG takes its first test view."""
    gt_dir = os.path.join(scene_dir, "test_mask")
    views = sorted(v for v in os.listdir(gt_dir) if os.path.isdir(os.path.join(gt_dir, v)))
    if not views:
        raise ValueError(f"scene {scene_dir} has no test views in {gt_dir}")
    return max(views, key=lambda v: (len(os.listdir(os.path.join(gt_dir, v))), -views.index(v)))


# ----------------------------------------------------------------------------- one run

class RunFailed(RuntimeError):
    """A step of a run exited with an error; the message names the log."""


Spec = RunSpec | PrefixSpec


def fingerprint(run: Spec, preset: Preset) -> str:
    """Hash of everything that decides a run's (or prefix's) result: a done-marker with another
    one is stale."""
    content = {"scene": json_normalised(dataclasses.asdict(run.scene.config)), "schedule": preset.schedule,
               "seed": run.seed, "prefix_iterations": preset.shared_prefix_iterations}
    if isinstance(run, RunSpec):
        content.update({"method": dataclasses.asdict(run.method), "prompt_protocol": preset.prompt_protocol,
                        "ioa_threshold": preset.ioa_threshold, "mask_threshold": preset.mask_threshold})
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def read_done(run: Spec) -> dict | None:
    path = os.path.join(run.run_dir, DONE_MARKER)
    if not os.path.isfile(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def is_done(run: Spec, preset: Preset) -> bool:
    done = read_done(run)
    return done is not None and done.get("fingerprint") == fingerprint(run, preset)


def write_done(run: Spec, preset: Preset, summary: dict) -> None:
    write_json_atomic(os.path.join(run.run_dir, DONE_MARKER),
                      {"fingerprint": fingerprint(run, preset), **summary})


def prediction_dir(run: RunSpec, preset: Preset) -> str:
    return os.path.join(run.run_dir, "test", f"ours_{preset.iterations}")


def run_command(args: list[str], log_path: str, threads: int) -> float:
    """Run `python <args>` from the repository root, appending its output to `log_path`;
    returns the seconds it took. `threads` > 0 caps torch's and OpenMP's threads."""
    env = dict(os.environ)
    if threads > 0:
        env["OMP_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    with open(log_path, "a") as log:
        log.write("$ " + " ".join(args) + "\n")
        log.flush()
        code = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise RunFailed(f"`{' '.join(args[:1])}` exited with {code}; see {log_path}")
    return time.perf_counter() - start


def prefix_checkpoint(prefix: PrefixSpec, preset: Preset) -> str:
    return os.path.join(prefix.run_dir, f"chkpnt{preset.shared_prefix_iterations}.pth")


def fresh_run_folder(run: Spec) -> str:
    """Empty `run.run_dir` (an unfinished run's partial outputs are not trusted); its log path."""
    if os.path.isdir(run.run_dir):
        shutil.rmtree(run.run_dir)
    os.makedirs(run.run_dir)
    return os.path.join(run.run_dir, LOG_FILE)


def train_command(run: Spec, preset: Preset, threads: int, device: str) -> list[str]:
    """train.py's arguments for a prefix (to its checkpoint) or a run (from its prefix, if any)."""
    args = ["train.py", "-s", run.scene_dir, "-m", run.run_dir, "--config_file", preset.train_config,
            "--eval", "--seed", str(run.seed), "--quiet", "--device", device,
            *(["--threads", str(threads)] if threads > 0 else [])]
    if isinstance(run, PrefixSpec):
        iterations = str(preset.shared_prefix_iterations)
        return args + ["--iterations", iterations, "--checkpoint_iterations", iterations]
    if run.prefix is not None:
        args += ["--start_checkpoint", prefix_checkpoint(run.prefix, preset)]
    return args + run.method.train_flags


def execute_prefix(prefix: PrefixSpec, preset: Preset, threads: int = 0, device: str = "auto") -> dict:
    """Train one (scene, seed) to the shared prefix's checkpoint; returns its summary."""
    log = fresh_run_folder(prefix)
    seconds = run_command(train_command(prefix, preset, threads, device), log, threads)
    return {"scene": prefix.scene.name, "seed": prefix.seed, "seconds": {"train": seconds}}


def execute_run(run: RunSpec, preset: Preset, threads: int = 0, device: str = "auto") -> dict:
    """Train (from its prefix when it has one), render and evaluate one run on `device`
    (train.py / render.py's --device); returns its summary (for done.json). With a prefix,
    `seconds.train` is the continuation's time (the prefix's is in its own done.json)."""
    log = fresh_run_folder(run)
    view = reference_view(run.scene_dir)
    seconds = {"train": run_command(train_command(run, preset, threads, device), log, threads)}
    if preset.prompt_protocol == "reference_masks":
        prompt_flags = ["--reference_masks", os.path.join(run.scene_dir, "test_mask", view),
                        "--reference_view", view, "--ioa_threshold", str(preset.ioa_threshold)]
    else:
        prompt_flags = ["--prompt_ids", os.path.join(run.scene_dir, "prompts.json")]
    seconds["render"] = run_command(
        ["render.py", "-m", run.run_dir, "--skip_train", "--quiet", "--boundary_overlay", "--device", device,
         "--mask_threshold", str(preset.mask_threshold), *prompt_flags], log, threads)
    result_dir = prediction_dir(run, preset)
    segmentation = evaluate_folder(os.path.join(run.scene_dir, "test_mask"),
                                   os.path.join(result_dir, "test_mask"))
    recon = folder_psnr_ssim(os.path.join(result_dir, "renders"), os.path.join(result_dir, "gt"))
    gaussians = read_metric(run.run_dir, "train/num_gaussians", preset.iterations)
    return {"scene": run.scene.name, "method": run.method.name, "seed": run.seed, "reference_view": view,
            "seconds": seconds, "miou": segmentation.miou, "mbiou": segmentation.mbiou,
            "psnr": recon["psnr"], "ssim": recon["ssim"],
            "gaussians": None if gaussians is None else int(gaussians)}


Runner = Callable[[Spec], dict]


def run_pending(runs: list[Spec], preset: Preset, runner: Runner, jobs: int = 1,
                log: Callable[[str], None] = print, executor=None) -> dict[str, list[Spec]]:
    """Run every run (or prefix) that is not done, `jobs` at a time on the local pool or on
    `executor` (`bench.executors`); write each done-marker here after its run returns. A failing
    run is reported and gets no marker. Returns the runs by outcome: `skipped`, `finished`, `failed`."""
    outcome: dict[str, list[Spec]] = {"skipped": [], "finished": [], "failed": []}
    pending = []
    for run in runs:
        if is_done(run, preset):
            outcome["skipped"].append(run)
            log(f"skip {run.label}: done ({os.path.join(run.run_dir, DONE_MARKER)})")
        else:
            pending.append(run)
            log(f"queue {run.label}")

    executor = executor or LocalExecutor(jobs)
    for run, summary, error in executor.map_unordered(runner, pending):
        if error is not None:
            if not isinstance(error, (RunFailed, OSError, ValueError)):
                raise error
            outcome["failed"].append(run)
            log(f"FAILED {run.label}: {error}")
            continue
        write_done(run, preset, summary)
        outcome["finished"].append(run)
        log(f"done {run.label}: " + ", ".join(f"{k} {v:.3f}" for k, v in summary.items()
                                              if isinstance(v, float)))
    return outcome


# ----------------------------------------------------------------------------- results

def eval_entries(runs: list[RunSpec], preset: Preset) -> list[EvalEntry]:
    return [EvalEntry(run.scene.name, run.method.name, os.path.join(run.scene_dir, "test_mask"),
                      os.path.join(prediction_dir(run, preset), "test_mask"),
                      igd=run.method.igd, laknn=run.method.laknn) for run in runs]


def write_runs_file(path: str, entries: list[EvalEntry]) -> None:
    """runs.json for `eval_lerf_mask.py --runs` (paths relative to its folder)."""
    base = os.path.dirname(os.path.abspath(path))
    runs = [{"scene": e.scene, "method": e.method, "gt": os.path.relpath(e.gt_dir, base),
             "pred": os.path.relpath(e.pred_dir, base), "igd": e.igd, "laknn": e.laknn}
            for e in entries]
    write_text_atomic(path, json.dumps(runs, indent=2) + "\n")


def reconstruction_grid(runs: list[RunSpec], preset: Preset) -> ResultGrid:
    """Table 3 style: PSNR and SSIM of the test renders per method and scene (runs with renders)."""
    grid = ResultGrid(["method"], [s.name for s in preset.scenes],
                      [Metric("PSNR", "psnr", 1.0, 2), Metric("SSIM", "ssim", 1.0, 3)])
    values: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        folder = prediction_dir(run, preset)
        if os.path.isdir(os.path.join(folder, "renders")):
            scores = folder_psnr_ssim(os.path.join(folder, "renders"), os.path.join(folder, "gt"))
            values.setdefault(run.method.name, {})[run.scene.name] = [scores["psnr"], scores["ssim"]]
    for method in dict.fromkeys(run.method.name for run in runs):
        grid.add_row([method], values.get(method, {}))
    return grid


def plot_segmentation(benchmark: BenchmarkEvaluation, path: str) -> None:
    """Grouped bars of mIoU and mBIoU (%) per scene, one bar per method (matplotlib, Agg)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    scenes, methods = benchmark.scenes, benchmark.methods
    values = {(e.scene, e.method): (e.miou, e.mbiou) for e in benchmark.evaluations}
    fig, axes = plt.subplots(1, 2, figsize=(5 + 1.6 * len(scenes), 3.6), sharey=True)
    width = 0.8 / len(methods)
    x = np.arange(len(scenes))
    for axis, metric, index in ((axes[0], "mIoU", 0), (axes[1], "mBIoU", 1)):
        for m, method in enumerate(methods):
            heights = [100 * values[(s, method)][index] if (s, method) in values else 0.0 for s in scenes]
            axis.bar(x + (m - (len(methods) - 1) / 2) * width, heights, width, label=method)
        axis.set_xticks(x, scenes, rotation=15)
        axis.set_title(f"{metric} (%)")
        axis.set_ylim(0, 100)
        axis.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def collect_overlays(runs: list[RunSpec], preset: Preset, out_dir: str) -> list[str]:
    """Copy each run's boundary overlay of its reference view to `overlays/<scene>__<method>.png`
    and draw them all as one grid (`overlays.png`: scenes as rows, methods as columns)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    copied: dict[tuple[str, str], str] = {}
    for run in runs:
        done = read_done(run)
        if done is None:
            continue
        source = os.path.join(prediction_dir(run, preset), "boundary_overlay",
                              f"{done['reference_view']}.png")
        if os.path.isfile(source):
            target = os.path.join(out_dir, "overlays", f"{run.scene.name}__{run.method.name}.png")
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
            copied[(run.scene.name, run.method.name)] = target
    if not copied:
        return []
    scenes = list(dict.fromkeys(r.scene.name for r in runs))
    methods = list(dict.fromkeys(r.method.name for r in runs))
    fig, axes = plt.subplots(len(scenes), len(methods), squeeze=False,
                             figsize=(2.6 * len(methods), 2.1 * len(scenes)))
    for i, scene in enumerate(scenes):
        for j, method in enumerate(methods):
            axis = axes[i][j]
            axis.axis("off")
            if (scene, method) in copied:
                axis.imshow(read_rgb(copied[(scene, method)], white_background=False),
                            interpolation="nearest")
            if i == 0:
                axis.set_title(method, fontsize=9)
            if j == 0:
                axis.text(-0.04, 0.5, scene, transform=axis.transAxes, rotation=90, ha="right",
                          va="center", fontsize=9)
    fig.suptitle("boundaries: predicted red, ground truth green, both yellow", fontsize=9)
    fig.tight_layout()
    grid_path = os.path.join(out_dir, "overlays.png")
    with atomic_path(grid_path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return sorted(copied.values()) + [grid_path]


def scene_rows(preset: Preset) -> list[str]:
    """Markdown rows describing the preset's scenes."""
    lines = ["| scene | seed | objects | views | size | elevation | mask jitter | swaps | merges | blobs | notes |",
             "|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|:--|"]
    for s in preset.scenes:
        c, d = s.config, s.config.degradation
        lines.append(f"| {s.name} | {c.seed} | {c.num_objects} | {c.num_views} | {c.width}x{c.height} "
                     f"| {c.elevation_deg:g}° | {d.jitter_px:g} px | {d.swap_fraction:g} "
                     f"| {d.merge_fraction:g} | {d.blob_fraction:g} | {s.description} |")
    return lines


def timing_rows(runs: list[Spec]) -> list[str]:
    lines = ["| run | train (s) | render (s) |", "|:--|--:|--:|"]
    for run in runs:
        done = read_done(run)
        if done is not None:
            render = done["seconds"].get("render")
            lines.append(f"| {run.label} | {done['seconds']['train']:.0f} | "
                         f"{'' if render is None else f'{render:.0f}'} |")
    return lines


def display_path(path: str) -> str:
    """`path` relative to the repository root when inside it (as the README's commands), else absolute."""
    path = os.path.abspath(path)
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def seed_results(runs: list[RunSpec]) -> SeedResults:
    """The finished runs' scores (from their done-markers)."""
    results = []
    for run in runs:
        done = read_done(run)
        if done is not None and "miou" in done:
            results.append(RunResult(run.scene.name, run.method.name, run.seed, done["miou"], done["mbiou"],
                                     done["psnr"], done["ssim"], done.get("gaussians"),
                                     done["seconds"]["train"]))
    return SeedResults(results)


def write_seed_statistics(runs: list[RunSpec], preset: Preset, results_dir: str) -> list[str]:
    """seeds.md, seeds.csv and seeds_plot.png; returns seeds.md's lines (empty with no finished run)."""
    results = seed_results(runs)
    if not results.results:
        return []
    labels = {m: [ABLATION_VARIANTS[(METHODS[m].igd, METHODS[m].laknn)], m] for m in results.methods}
    order = list(ABLATION_VARIANTS)
    ablation_order = sorted(results.methods, key=lambda m: order.index((METHODS[m].igd, METHODS[m].laknn)))
    main = [m for m in preset.methods if m in results.methods]
    lines = [f"### Over {len(results.seeds)} training seeds ({', '.join(map(str, results.seeds))}): "
             "mean +- 95 % t interval", "",
             "Table 1 layout, mIoU / mBIoU (%):", "", seed_statistics.metric_table(results, main, SEGMENTATION), ""]
    if len(ablation_order) > len(main):
        lines += ["Table 4 layout (ablation), mIoU / mBIoU (%):", "",
                  seed_statistics.metric_table(results, ablation_order, SEGMENTATION, labels,
                                               ("variant", "method")), ""]
    lines += ["Table 3 layout, reconstruction of the test views, PSNR (dB) / SSIM:", "",
              seed_statistics.metric_table(results, ablation_order, RECONSTRUCTION), ""]
    if REFERENCE_METHOD in results.methods and len(results.methods) > 1:
        lines += [f"Difference to {REFERENCE_METHOD}, paired by scene and seed (points; dB; Gaussians at the "
                  "end and training time relative, %):", "", seed_statistics.difference_table(results), ""]
    write_text_atomic(os.path.join(results_dir, "seeds.md"), "\n".join(lines) + "\n")
    write_text_atomic(os.path.join(results_dir, "seeds.csv"), seed_statistics.runs_csv(results))
    seed_statistics.plot(results, os.path.join(results_dir, "seeds_plot.png"))
    return lines + [f"Plot: `{display_path(os.path.join(results_dir, 'seeds_plot.png'))}`", ""]


def write_results(runs: list[RunSpec], preset: Preset, out_dir: str, command: str) -> str:
    """Evaluate every run of the first seed (missing ones score 0) and write the results folder,
    with the statistics over seeds when there are several; returns summary.md."""
    results = os.path.join(out_dir, "results")
    seed_lines = write_seed_statistics(runs, preset, results) if len(preset.seeds) > 1 else []
    runs = [run for run in runs if run.seed == preset.seeds[0]]
    entries = eval_entries(runs, preset)
    benchmark = evaluate_entries(entries)
    benchmark.write(results)
    write_runs_file(os.path.join(results, "runs.json"), entries)
    recon = reconstruction_grid(runs, preset)
    write_text_atomic(os.path.join(results, "table3.md"), recon.to_markdown() + "\n")
    write_text_atomic(os.path.join(results, "table3.csv"), recon.to_csv())
    plot_segmentation(benchmark, os.path.join(results, "plot.png"))
    overlays = collect_overlays(runs, preset, results)
    summary = [f"## Benchmark preset `{preset.name}`", "", preset.description, "",
               f"Command: `{command}`", "",
               f"Schedule: `{display_path(preset.train_config)}` ({preset.iterations} iterations); "
               f"prompts: {preset.prompt_protocol} (IoA > {preset.ioa_threshold}, mask threshold "
               f"{preset.mask_threshold}).", "", *scene_rows(preset), "", *seed_lines,
               *([f"### Seed {preset.seeds[0]} alone (per prompt: details.md)", ""] if seed_lines else []),
               benchmark.to_markdown(), "",
               "### Table 3 style: reconstruction of the test views", "", recon.to_markdown(), "",
               "### Time per run (with a shared prefix: its own row; the runs' train time is the continuation)",
               "", *timing_rows(plan_prefixes(preset, out_dir) + runs), "",
               f"Plot: `{display_path(os.path.join(results, 'plot.png'))}`"]
    if overlays:
        summary.append(f"Boundary overlays: `{display_path(overlays[-1])}` and "
                       f"`{display_path(os.path.join(results, 'overlays'))}/`")
    path = os.path.join(results, "summary.md")
    write_text_atomic(path, "\n".join(summary) + "\n")
    return path


def run_benchmark(preset: Preset, out_dir: str, jobs: int = 1, ablations: bool = False,
                  runner: Runner | None = None, command: str = "", device: str = "auto",
                  executor: str = "local", ray_address: str | None = None,
                  log: Callable[[str], None] = print) -> tuple[dict[str, list[Spec]], str]:
    """Make the scenes, run what is not done (the shared prefixes first, then the runs; on the
    local pool, or as Ray tasks with `executor="ray"`, `ray_address` None for a local Ray), write
    the results folder. `runner` replaces `execute_prefix` / `execute_run` (tests). Returns the
    runs and prefixes by outcome (a run whose prefix failed is failed unrun) and summary.md."""
    out_dir = os.path.abspath(out_dir)
    prefixes, runs = plan_prefixes(preset, out_dir), plan_runs(preset, out_dir, ablations)
    for scene in preset.scenes:
        ensure_scene(scene, os.path.join(out_dir, "scenes", scene.name))
    cores = os.cpu_count() or 1
    threads = max(1, cores // jobs) if jobs > 1 else 0

    def execute(spec: Spec) -> dict:
        if runner is not None:
            return runner(spec)
        if isinstance(spec, PrefixSpec):
            return execute_prefix(spec, preset, threads, device)
        return execute_run(spec, preset, threads, device)

    pool = make_executor(executor, jobs, ray_address, cpus_per_run=threads or cores)
    outcome = run_pending(prefixes, preset, execute, jobs, log, executor=pool)
    blocked = [run for run in runs if run.prefix is not None and run.prefix in outcome["failed"]]
    for run in blocked:
        log(f"FAILED {run.label}: its prefix failed ({run.prefix.run_dir})")
    runnable = [run for run in runs if run not in blocked]
    for key, done in run_pending(runnable, preset, execute, jobs, log, executor=pool).items():
        outcome[key] += done
    outcome["failed"] += blocked
    return outcome, write_results(runs, preset, out_dir, command)
