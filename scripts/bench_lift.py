#!/usr/bin/env python
"""Lifting 2D masks onto a trained model against training the identities: mIoU / mBIoU and time.

    python scripts/bench_lift.py                          # config/bench/lift.json, all its seeds
    python scripts/bench_lift.py --seeds 0 --out /tmp/bl  # one seed

For each synthetic scene of the preset and each seed, through the user's commands (each step's
log.txt is its recipe):

    rgb_only           train.py without masks or identity losses (a plain 3DGS model)
    lift               lift.py -m <rgb_only> (the scene's training masks; timed whole: process
                       start, loading, writing)
    gaussian_grouping  train.py --no_igd --no_laknn, the preset's schedule
    gradiseg           train.py, the preset's schedule
    lift_init          train.py --init_identities_from <lift> --no_igd --no_laknn
                       --densify_until_iter 0 for half the schedule's iterations

Every model is rendered and scored as the benchmark harness does (reference masks on one test
view, `evaluation.lerf_eval`). Times are wall-clock seconds and CPU seconds (user + system of the
command's process): on a shared machine the CPU time is the steadier one. Resumable: a step whose
result.json matches the settings is skipped. Results: <out>/results.md (printed) and results.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import resource
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from bench.harness import ensure_scene, json_normalised, load_preset, reference_view, run_command  # noqa: E402
from evaluation.image_metrics import folder_psnr_ssim  # noqa: E402
from evaluation.lerf_eval import evaluate_folder  # noqa: E402
from utils.atomic_io import write_json_atomic, write_text_atomic  # noqa: E402

STEPS = ("rgb_only", "lift", "gaussian_grouping", "gradiseg", "lift_init")
LABELS = {"rgb_only": "RGB-only 3DGS (no identities)", "lift": "RGB-only + lift.py",
          "gaussian_grouping": "Gaussian Grouping", "gradiseg": "GradiSeg",
          "lift_init": "RGB-only + lift.py + identity training from the lift"}
NO_MASKS = "no_masks_for_rgb_only"   # an object_path that does not exist: views train without masks


def step_command(step: str, scene_dir: str, run_dir: str, preset, seed: int, threads: int) -> list[str]:
    """The command of one step (its model goes to <run_dir>/<step>/model)."""
    model = os.path.join(run_dir, step, "model")
    train = ["train.py", "-s", scene_dir, "-m", model, "--config_file", preset.train_config, "--eval",
             "--seed", str(seed), "--quiet", "--threads", str(threads)]
    if step == "rgb_only":
        return train + ["--object_path", NO_MASKS, "--allow_missing_masks", "--reg3d_interval", "0",
                        "--no_igd", "--no_laknn"]
    if step == "lift":
        return ["lift.py", "-m", os.path.join(run_dir, "rgb_only", "model"), "-o", model, "--quiet"]
    if step == "gaussian_grouping":
        return train + ["--no_igd", "--no_laknn"]
    if step == "gradiseg":
        return train
    half = str(preset.iterations // 2)
    return train + ["--init_identities_from", os.path.join(run_dir, "lift", "model"), "--no_igd", "--no_laknn",
                    "--densify_until_iter", "0", "--iterations", half, "--save_iterations", half]


def fingerprint(step: str, scene, preset, seed: int) -> str:
    content = {"step": step, "scene": json_normalised(dataclasses.asdict(scene.config)),
               "schedule": preset.schedule, "seed": seed, "ioa": preset.ioa_threshold, "mask": preset.mask_threshold}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]


def timed(args: list[str], log: str, threads: int) -> dict[str, float]:
    """Run one command; wall and CPU seconds (this process's children: the command alone)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = run_command(args, log, threads)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu}


def run_step(step: str, scene, scene_dir: str, run_dir: str, preset, seed: int, threads: int) -> dict:
    """Run (or reuse) one step: its command, then render and score its model."""
    step_dir = os.path.join(run_dir, step)
    result_path = os.path.join(step_dir, "result.json")
    key = fingerprint(step, scene, preset, seed)
    if os.path.isfile(result_path):
        with open(result_path) as fh:
            result = json.load(fh)
        if result.get("fingerprint") == key:
            if "miou" in result and "psnr" not in result:   # results written before PSNR was recorded
                result["psnr"] = test_psnr(step_dir, result["iterations"])
                write_json_atomic(result_path, result)
            return result
    shutil.rmtree(step_dir, ignore_errors=True)
    os.makedirs(step_dir)
    log = os.path.join(step_dir, "log.txt")
    result = {"fingerprint": key, "scene": scene.name, "seed": seed, "step": step,
              "command": timed(step_command(step, scene_dir, run_dir, preset, seed, threads), log, threads)}
    if step != "rgb_only":
        model = os.path.join(step_dir, "model")
        view = reference_view(scene_dir)
        render_time = timed(["render.py", "-m", model, "--skip_train", "--quiet", "--mask_threshold",
                             str(preset.mask_threshold), "--reference_masks",
                             os.path.join(scene_dir, "test_mask", view), "--reference_view", view,
                             "--ioa_threshold", str(preset.ioa_threshold)], log, threads)
        iteration = preset.iterations // 2 if step == "lift_init" else preset.iterations
        score = evaluate_folder(os.path.join(scene_dir, "test_mask"),
                                os.path.join(model, "test", f"ours_{iteration}", "test_mask"))
        result.update({"render": render_time, "iterations": iteration, "miou": score.miou, "mbiou": score.mbiou,
                       "psnr": test_psnr(step_dir, iteration)})
    write_json_atomic(result_path, result)
    return result


def test_psnr(step_dir: str, iteration: int) -> float:
    """Mean PSNR of the step's model on the test views (render.py's renders against gt)."""
    folder = os.path.join(step_dir, "model", "test", f"ours_{iteration}")
    return folder_psnr_ssim(os.path.join(folder, "renders"), os.path.join(folder, "gt"))["psnr"]


def summarise(results: list[dict], preset, command: str) -> str:
    """Markdown: per scene and overall, mean (min..max over seeds) mIoU / mBIoU and times."""
    lines = [f"`{command}` — preset `{preset.name}`: {preset.description}", ""]
    scenes = [s.name for s in preset.scenes]
    half = preset.iterations // 2
    for scene in scenes + ["all scenes"]:
        rows = [r for r in results if scene == "all scenes" or r["scene"] == scene]
        if not rows:
            continue
        seeds = sorted({r["seed"] for r in rows})
        lines += [f"### {scene} (seeds {', '.join(map(str, seeds))})", "",
                  "| method | iterations | mIoU (%) | mBIoU (%) | test PSNR (dB) | time: wall s | time: CPU s |",
                  "|:--|--:|--:|--:|--:|--:|--:|"]
        for step in STEPS:
            mine = [r for r in rows if r["step"] == step]
            if not mine:
                continue
            wall = [r["command"]["wall"] for r in mine]
            cpu = [r["command"]["cpu"] for r in mine]
            iterations = {"rgb_only": preset.iterations, "lift": 0, "lift_init": half}.get(step, preset.iterations)
            if step in ("lift", "lift_init"):   # what the user pays: the RGB-only model first
                base = {(r["scene"], r["seed"]): r["command"] for r in rows if r["step"] == "rgb_only"}
                extra = {(r["scene"], r["seed"]): r["command"] for r in rows if r["step"] == "lift"}
                total = [(r["command"]["wall"] + base[(r["scene"], r["seed"])]["wall"]
                          + (extra[(r["scene"], r["seed"])]["wall"] if step == "lift_init" else 0.0),
                          r["command"]["cpu"] + base[(r["scene"], r["seed"])]["cpu"]
                          + (extra[(r["scene"], r["seed"])]["cpu"] if step == "lift_init" else 0.0)) for r in mine]
                time_cells = (f"{np.mean(wall):.1f} (total {np.mean([t[0] for t in total]):.0f})",
                              f"{np.mean(cpu):.1f} (total {np.mean([t[1] for t in total]):.0f})")
            else:
                time_cells = (f"{np.mean(wall):.1f}", f"{np.mean(cpu):.1f}")
            if step == "rgb_only":
                score_cells = ("–", "–", "–")
            else:
                score_cells = (spread([100 * r["miou"] for r in mine]), spread([100 * r["mbiou"] for r in mine]),
                               spread([r["psnr"] for r in mine]))
            lines.append(f"| {LABELS[step]} | {iterations} | {score_cells[0]} | {score_cells[1]} | "
                         f"{score_cells[2]} | {time_cells[0]} | {time_cells[1]} |")
        ratio = ratios(rows)
        if ratio:
            lines += ["", f"lift.py command / Gaussian Grouping's training: wall {ratio['wall']:.3f}, "
                          f"CPU {ratio['cpu']:.3f} (means over runs)"]
        lines.append("")
    return "\n".join(lines)


def spread(values: list[float]) -> str:
    return f"{np.mean(values):.1f}" + (f" ({min(values):.1f}..{max(values):.1f})" if len(values) > 1 else "")


def ratios(rows: list[dict]) -> dict[str, float]:
    """Mean over (scene, seed) of lift.py's command time / Gaussian Grouping's training time."""
    by_run = {}
    for r in rows:
        by_run.setdefault((r["scene"], r["seed"]), {})[r["step"]] = r["command"]
    pairs = [(run["lift"], run["gaussian_grouping"]) for run in by_run.values()
             if "lift" in run and "gaussian_grouping" in run]
    if not pairs:
        return {}
    return {kind: float(np.mean([lift[kind] / gg[kind] for lift, gg in pairs])) for kind in ("wall", "cpu")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="lift", help="config/bench/<name>.json or a preset file")
    parser.add_argument("--out", default="output/bench_lift")
    parser.add_argument("--seeds", type=int, nargs="*", default=None, help="default: the preset's")
    parser.add_argument("--scenes", nargs="*", default=None, help="default: all of the preset's")
    parser.add_argument("--threads", type=int, default=2, help="torch / OpenMP threads of each command")
    args = parser.parse_args(argv)
    preset = load_preset(args.preset)
    seeds = args.seeds if args.seeds is not None else list(preset.seeds)
    scenes = [s for s in preset.scenes if args.scenes is None or s.name in args.scenes]
    command = "python scripts/bench_lift.py " + " ".join(argv if argv is not None else sys.argv[1:])
    out = os.path.abspath(args.out)
    results = []
    for seed in seeds:           # seed by seed: an interrupted run has whole seeds
        for scene in scenes:
            scene_dir = os.path.join(out, "scenes", scene.name)
            ensure_scene(scene, scene_dir)
            run_dir = os.path.join(out, "runs", scene.name, f"seed_{seed}")
            for step in STEPS:
                start = time.perf_counter()
                result = run_step(step, scene, scene_dir, run_dir, preset, seed, args.threads)
                results.append(result)
                score = f", mIoU {100 * result['miou']:.1f}" if "miou" in result else ""
                print(f"{scene.name} / seed {seed} / {step}: {result['command']['wall']:.1f} s{score} "
                      f"({time.perf_counter() - start:.0f} s this call)", flush=True)
    summary = summarise(results, preset, command.strip())
    os.makedirs(out, exist_ok=True)
    write_text_atomic(os.path.join(out, "results.md"), summary + "\n")
    write_json_atomic(os.path.join(out, "results.json"), results)
    print("\n" + summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
