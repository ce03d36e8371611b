#!/usr/bin/env python
"""Kill `prepare_masks.py` and `edit.py` at random points and check that their inputs are
untouched and that a rerun succeeds with the result of an uninterrupted run.

    python scripts/fault_injection.py WORK --trials 10          # builds its inputs in WORK
    python scripts/fault_injection.py WORK --scene S --masks M --model D   # reuses them

Inputs (built in WORK unless given): a synthetic scene (12 views of 64x48 px, 3 objects), its
segmenter-like masks, and a 300-iteration RGB-only model of it (the depth model of
prepare_masks.py and the source model of edit.py). Each command first runs once uninterrupted
(its duration bounds the kill times, its output is the reference). Each trial then starts the
command, sends SIGKILL after a seeded random delay, hashes the inputs, and reruns the command
(with --force when the killed run finished its output). Prints one table row per command.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.synthetic.segmenter_masks import SegmenterErrors, write_segmenter_masks  # noqa: E402

PYTHON = sys.executable
DEPTH_FLAGS = ["--config_file", os.path.join(ROOT, "config", "prep", "depth.json"), "--iterations", "300",
               "--position_lr_max_steps", "300", "--save_iterations", "300", "--densify_until_iter", "250",
               "--quiet"]


def tree_hash(folder: str, skip: tuple[str, ...] = ()) -> str:
    """Hash of every path and file's bytes under `folder`, leaving out top-level names in `skip`."""
    digest = hashlib.sha256()
    for dirpath, dirnames, files in os.walk(folder):
        if dirpath == folder:
            dirnames[:] = [d for d in dirnames if d not in skip and not d.startswith(".")]
            files = [f for f in files if f not in skip]
        dirnames.sort()
        digest.update(os.path.relpath(dirpath, folder).encode())
        for name in sorted(files):
            with open(os.path.join(dirpath, name), "rb") as fh:
                digest.update(name.encode() + hashlib.sha256(fh.read()).digest())
    return digest.hexdigest()


def result_hash(folder: str, suffixes: tuple[str, ...]) -> str:
    """Hash of the deterministic result files (by suffix) under `folder`."""
    digest = hashlib.sha256()
    for dirpath, dirnames, files in sorted(os.walk(folder)):
        dirnames.sort()
        for name in sorted(f for f in files if f.endswith(suffixes)):
            with open(os.path.join(dirpath, name), "rb") as fh:
                digest.update(name.encode() + hashlib.sha256(fh.read()).digest())
    return digest.hexdigest()


def run(argv: list[str]) -> None:
    result = subprocess.run([PYTHON, *argv], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:1])} failed:\n{result.stderr[-2000:]}")


def build_inputs(work: str) -> tuple[str, str, str]:
    scene, masks, model = (os.path.join(work, name) for name in ("scene", "masks", "model"))
    run([os.path.join(ROOT, "scripts", "make_synthetic_scene.py"), scene, "--seed", "0", "--num_views", "12",
         "--width", "64", "--height", "48", "--num_objects", "3"])
    write_segmenter_masks(scene, masks, SegmenterErrors(), seed=0)
    run([os.path.join(ROOT, "train.py"), "-s", scene, "-m", model, *DEPTH_FLAGS])
    return scene, masks, model


class Command:
    """One program under test: its command line, its inputs and where its result lands."""

    def __init__(self, name: str, argv: list[str], inputs: dict[str, tuple[str, tuple[str, ...]]],
                 output: str, result_suffixes: tuple[str, ...]):
        self.name, self.argv, self.inputs, self.output = name, argv, inputs, output
        self.result_suffixes = result_suffixes

    def input_hashes(self) -> dict[str, str]:
        return {label: tree_hash(path, skip) for label, (path, skip) in self.inputs.items()}

    def start(self, force: bool) -> subprocess.Popen:
        return subprocess.Popen([PYTHON, *self.argv, *(["--force"] if force else [])], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def commands(scene: str, masks: str, model: str, work: str) -> list[Command]:
    out_name = "object_mask_fault_test"
    return [
        Command("prepare_masks.py",
                [os.path.join(ROOT, "prepare_masks.py"), "-s", scene, "--masks", masks, "--depth_model", model,
                 "--out", out_name],
                {"scene": (scene, (out_name,)), "masks": (masks, ()), "depth model": (model, ())},
                os.path.join(scene, out_name), (".png",)),
        Command("edit.py",
                [os.path.join(ROOT, "edit.py"), "-m", model, "-o", os.path.join(work, "edited"), "--recolour",
                 "1", "--rgb", "0.9", "0.1", "0.1", "--skip_render", "--device", "cpu"],
                {"model": (model, ())}, os.path.join(work, "edited"), (".ply",)),
    ]


def remove_output(command: Command) -> None:
    """Start a trial from no output (the reference run's, or the last trial's, is ours to delete)."""
    if os.path.isdir(command.output):
        shutil.rmtree(command.output)


def trial(command: Command, reference: str, duration: float, rng: random.Random) -> dict:
    remove_output(command)
    before = command.input_hashes()
    process = command.start(force=False)
    delay = rng.uniform(0.0, duration)
    try:
        process.wait(timeout=delay)
        killed = False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed = True
    unchanged = command.input_hashes() == before
    rerun = command.start(force=os.path.exists(command.output))
    _, err = rerun.communicate()
    ok = rerun.returncode == 0
    same = ok and result_hash(command.output, command.result_suffixes) == reference
    parent = os.path.dirname(command.output)
    leftovers = [n for n in os.listdir(parent) if n.startswith(f".{os.path.basename(command.output)}.")]
    return {"delay": delay, "killed": killed, "unchanged": unchanged, "rerun_ok": ok, "same": same,
            "leftovers": len(leftovers), "error": err.strip().splitlines()[-1:] if not ok else []}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", help="a new or empty folder for the inputs and outputs")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scene", default="")
    parser.add_argument("--masks", default="")
    parser.add_argument("--model", default="")
    args = parser.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    if args.scene and args.masks and args.model:
        scene, masks, model = args.scene, args.masks, args.model
    else:
        scene, masks, model = build_inputs(args.work)
    rng = random.Random(args.seed)
    print(f"| command | trials | killed before the end | inputs unchanged | rerun exit 0 | rerun = uninterrupted "
          f"| hidden build folders left |\n|---|---|---|---|---|---|---|")
    failures = 0
    for command in commands(scene, masks, model, args.work):
        remove_output(command)
        start = time.perf_counter()
        process = command.start(force=False)
        _, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"{command.name} fails without a kill: {err.strip().splitlines()[-1:]}")
        duration = time.perf_counter() - start
        reference = result_hash(command.output, command.result_suffixes)
        results = [trial(command, reference, duration, rng) for _ in range(args.trials)]
        counts = [sum(r[key] for r in results) for key in ("killed", "unchanged", "rerun_ok", "same")]
        print(f"| {command.name} | {args.trials} | {counts[0]} | {counts[1]}/{args.trials} | {counts[2]}/{args.trials} "
              f"| {counts[3]}/{args.trials} | {sum(r['leftovers'] for r in results)} |", flush=True)
        for r in results:
            if r["error"]:
                print(f"    rerun after {r['delay']:.1f} s: {r['error'][0]}")
        failures += sum(not (r["unchanged"] and r["rerun_ok"] and r["same"]) for r in results)
        remove_output(command)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
