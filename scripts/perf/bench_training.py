"""Training speed: seconds per iteration, where they go, and peak memory, this tree against an
earlier commit built side by side.

    python scripts/perf/bench_training.py                      # all cases, against BASELINE_REF
    python scripts/perf/bench_training.py --quick              # the 43k case only, no baseline
    python scripts/perf/bench_training.py --cases synthetic_43k photo_like --repeats 3
    python scripts/perf/bench_training.py --baseline HEAD~3    # any git ref

Each case is a scene made by the synthetic scene maker and a training configuration (the demo's,
with densification off so the Gaussian count stays what the case says). Every run is a fresh
process that trains `--warmup` iterations, then times `--iterations` more (wall, user and system
CPU seconds, minor page faults, peak resident memory) and reports the training PSNR of its last
20 steps. The baseline and this tree alternate run by run, so the machine's load hits both alike;
the table gives medians and the speed-up's median over the pairs.

The breakdown (this tree only) profiles `--profile_iterations` more iterations with
torch.profiler and reads the ranges the trainer (`train/...`) and the rasterizer
(`rasterizer/...`) mark; its milliseconds include the profiler's own overhead.

The baseline is `git archive <ref>` of this repository with its two extensions built into a
cache folder (`--cache`, kept between runs: the first build takes a few minutes).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from bench.training_timing import BREAKDOWN, PHASES, breakdown_ms, git_archive  # noqa: E402

# The baseline the allocator setting (a31bb26) was measured against: the commit before it.
BASELINE_REF = "692b5c4"
EXTENSIONS = ("submodules/diff-gaussian-rasterization", "submodules/simple-knn")


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    scene_args: tuple[str, ...]     # make_synthetic_scene.py options
    train_args: tuple[str, ...]     # train.py options on top of the demo config


NO_DENSIFY = ("--densify_from_iter", "1000000")
CASES = {case.name: case for case in (
    Case("synthetic_20k", "synthetic, 20k Gaussians, 160x120, D=16",
         ("--width", "160", "--height", "120", "--num_points", "20000"), NO_DENSIFY),
    Case("synthetic_43k", "synthetic, 43k Gaussians, 160x120, D=16",
         ("--width", "160", "--height", "120", "--num_points", "43000"), NO_DENSIFY),
    Case("synthetic_43k_320", "synthetic, 43k Gaussians, 320x240, D=16",
         ("--width", "320", "--height", "240", "--num_points", "43000"), NO_DENSIFY),
    Case("photo_like", "real-photo-like: 100k random Gaussians, 240x135, D=16",
         ("--width", "240", "--height", "135"), NO_DENSIFY + ("--random_init",)),
)}

# One run: train, time, optionally profile; prints one JSON line. Works on the baseline's tree
# too (Trainer.from_args and train_step predate this script); utils.memory is newer.
CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, os.getcwd())
spec = json.loads(sys.argv[1])
if spec["keep_freed_memory"]:
    try:
        from utils.memory import keep_freed_memory
        keep_freed_memory()   # as train.py does
    except ImportError:
        pass
import torch
from arguments import parse_training_args
from training.trainer import Trainer
trainer = Trainer.from_args(parse_training_args(spec["args"]))
iteration = 0
for _ in range(spec["warmup"]):
    iteration += 1
    trainer.train_step(iteration)
psnrs = []
start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
for _ in range(spec["iterations"]):
    iteration += 1
    psnrs.append(trainer.train_step(iteration).psnr)
wall = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF)
result = {"wall": wall, "user": after.ru_utime - before.ru_utime, "sys": after.ru_stime - before.ru_stime,
          "minflt": after.ru_minflt - before.ru_minflt, "peak_rss_mb": after.ru_maxrss / 1024,
          "gaussians": trainer.gaussians.get_xyz.shape[0], "psnr": sum(psnrs[-20:]) / len(psnrs[-20:])}
if spec["profile_iterations"]:
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(spec["profile_iterations"]):
            iteration += 1
            trainer.train_step(iteration)
    totals = {}
    for event in prof.key_averages():
        if event.key.startswith(("train/", "rasterizer/")) or event.key.startswith("_RasterizeGaussians"):
            totals[event.key] = event.cpu_time_total / 1000 / spec["profile_iterations"]
    result["profile_ms"] = totals
print(json.dumps(result))
"""


def prepare_baseline(ref: str, cache: str) -> tuple[str, str]:
    """(tree, site) of the baseline: its source and a folder with its two extensions built, on
    PYTHONPATH before this environment's site-packages. Built once per commit."""
    sha = subprocess.run(["git", "rev-parse", "--short=12", f"{ref}^{{commit}}"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    folder = os.path.join(cache, f"baseline-{sha}")
    tree, site, stamp = os.path.join(folder, "tree"), os.path.join(folder, "site"), os.path.join(folder, "built")
    if not os.path.exists(stamp):
        print(f"building the baseline {ref} ({sha}) in {folder} (once; a few minutes)", flush=True)
        partial = folder + ".partial"
        subprocess.run(["rm", "-rf", partial], check=True)
        git_archive(sha, os.path.join(partial, "tree"))
        for extension in EXTENSIONS:
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation",
                            "--no-deps", "--target", os.path.join(partial, "site"),
                            os.path.join(partial, "tree", extension)], check=True)
        open(os.path.join(partial, "built"), "w").close()
        subprocess.run(["rm", "-rf", folder], check=True)
        os.replace(partial, folder)
    return tree, site


def make_scene(case: Case, workdir: str) -> str:
    scene = os.path.join(workdir, f"scene_{case.name}")
    if not os.path.isdir(scene):
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_synthetic_scene.py"), scene,
                        "--seed", "7", *case.scene_args], check=True, capture_output=True)
    return scene


def time_training(tree: str, site: str | None, train_args: list[str], warmup: int, iterations: int,
                  profile_iterations: int = 0, keep_freed_memory: bool = True) -> dict:
    """One fresh process of `tree` (its extensions from `site`, or this environment's) training
    with `train_args`: `warmup` iterations, then `iterations` timed (wall, user, sys, minor faults,
    peak RSS, training PSNR), then `profile_iterations` under torch.profiler. `keep_freed_memory`:
    the allocator setting the entry points apply (utils.memory), where the tree has it."""
    spec = {"args": train_args, "warmup": warmup, "iterations": iterations,
            "profile_iterations": profile_iterations, "keep_freed_memory": keep_freed_memory}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (site, tree) if p))
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], cwd=tree, env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{os.path.basename(sys.argv[0])}: error: a training run in {tree} failed:\n"
                         f"{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


SCHEDULE_CONFIG = os.path.join("config", "gradiseg", "short_2k.json")


def run_once(tree: str, site: str | None, case: Case, scene: str, model: str, args: argparse.Namespace,
             profile_iterations: int) -> dict:
    # This tree's schedule for both sides, so a baseline is timed on the same settings.
    train_args = ["-s", scene, "-m", model, "--config_file", os.path.join(ROOT, SCHEDULE_CONFIG),
                  "--iterations", "100000", "--test_iterations", "--save_iterations", "--quiet", "--overwrite",
                  "--seed", "0", *case.train_args]
    return time_training(tree, site, train_args, args.warmup, args.iterations, profile_iterations)


def print_tables(results: dict, args: argparse.Namespace, baseline_label: str | None) -> None:
    print(f"\n{args.iterations} timed iterations after {args.warmup} warm-up, {args.repeats} run(s) per "
          f"build, medians; one process per run\n")
    head = "| case | Gaussians |"
    if baseline_label:
        head += f" {baseline_label} s/it | this tree s/it | speed-up |"
    else:
        head += " s/it |"
    head += " sys share of CPU | peak RSS (MB) | train PSNR (dB) |"
    print(head)
    print("|" + "|".join([":--"] + ["--:"] * (head.count("|") - 2)) + "|")
    for name, runs in results.items():
        new = runs["new"]
        med = lambda rs, key: statistics.median(r[key] for r in rs)   # noqa: E731
        sys_share = lambda rs: statistics.median(r["sys"] / (r["user"] + r["sys"]) for r in rs)   # noqa: E731
        row = f"| {CASES[name].description} | {new[0]['gaussians']} |"
        if baseline_label:
            old = runs["old"]
            ratio = statistics.median(o["wall"] / n["wall"] for o, n in zip(old, new))
            row += (f" {med(old, 'wall') / args.iterations:.4f} | {med(new, 'wall') / args.iterations:.4f} |"
                    f" {ratio:.2f}x | {sys_share(old):.1%} -> {sys_share(new):.1%} |"
                    f" {med(old, 'peak_rss_mb'):.0f} -> {med(new, 'peak_rss_mb'):.0f} |"
                    f" {med(old, 'psnr'):.2f} -> {med(new, 'psnr'):.2f} |")
        else:
            row += (f" {med(new, 'wall') / args.iterations:.4f} | {sys_share(new):.1%} |"
                    f" {med(new, 'peak_rss_mb'):.0f} | {med(new, 'psnr'):.2f} |")
        print(row)

    profiled = {name: runs["profile"] for name, runs in results.items() if runs.get("profile")}
    if not profiled:
        return
    print(f"\nWhere an iteration goes (this tree, ms per iteration under torch.profiler, "
          f"{args.profile_iterations} iterations):\n")
    print("| case | " + " | ".join(h for h, _, _ in BREAKDOWN) + " | " +
          " | ".join(p.split("/")[1] for p in PHASES) + " |")
    print("|:--|" + "--:|" * (len(BREAKDOWN) + len(PHASES)))
    for name, profile in profiled.items():
        cells = [f"{v:.1f}" for v in breakdown_ms(profile)] + [f"{profile.get(p, 0.0):.1f}" for p in PHASES]
        print(f"| {name} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--baseline", default=BASELINE_REF, help="git ref to compare with")
    parser.add_argument("--no_baseline", action="store_true", help="time this tree only")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--profile_iterations", type=int, default=30)
    parser.add_argument("--cache", default=os.path.join(ROOT, "output", "bench_training"))
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--quick", action="store_true", help="the 43k case, one run, no baseline")
    args = parser.parse_args(argv)
    if args.quick:
        args.cases, args.no_baseline, args.repeats = ["synthetic_43k"], True, 1
    baseline = None if args.no_baseline else prepare_baseline(args.baseline, args.cache)

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.cases:
            case = CASES[name]
            scene = make_scene(case, workdir)
            runs: dict = {"old": [], "new": []}
            for repeat in range(args.repeats):
                if baseline:
                    runs["old"].append(run_once(*baseline, case, scene, os.path.join(workdir, "model_old"),
                                                args, 0))
                profile = args.profile_iterations if repeat == 0 else 0
                result = run_once(ROOT, None, case, scene, os.path.join(workdir, "model_new"), args, profile)
                runs["profile"] = runs.get("profile") or result.get("profile_ms")
                runs["new"].append(result)
                print(f"{name} run {repeat + 1}: " + (f"baseline {runs['old'][-1]['wall'] / args.iterations:.4f} "
                                                      f"s/it, " if baseline else "")
                      + f"this tree {result['wall'] / args.iterations:.4f} s/it", flush=True)
            results[name] = runs
    print_tables(results, args, f"{args.baseline}" if baseline else None)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
