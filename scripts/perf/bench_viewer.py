#!/usr/bin/env python
"""Training time per iteration with and without the live viewer (train.py --viewer) at its
default refresh.

    python scripts/perf/bench_viewer.py                       # 64x48 synthetic scene
    python scripts/perf/bench_viewer.py --pairs 10 --refresh 50

The viewer serves one connected client (bench/viewer_client.py: a websocket client that reports
a 512x384 canvas at a test view, as a browser opening the page does, and reads the frames).

Times: one training, after its densification, is cut into blocks of `--refresh` iterations; the
viewer is refreshed at the start of every other block (the copy of the model, then the frame
for the client, drawn by the render thread while training goes on). Each refreshed block is
compared with the mean of its two neighbours, which were not refreshed: adjacent blocks share
the machine's load, which on shared machines makes two identical whole trainings differ by tens
of percent. At the default refresh every block is a refreshed one, so the median paired ratio
is the slow-down. Correctness: `--repeats` pairs of whole trainings, plain and with the viewer,
must end with identical Gaussians (the viewer never changes training); their times are shown
too, with that noise.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from apps.viewer.server import ViewerOptions, open_training_viewer  # noqa: E402
from arguments import RunParams, parse_training_args  # noqa: E402
from bench.synthetic.scene import SyntheticSceneConfig, make_synthetic_scene  # noqa: E402
from bench.viewer_client import HeadlessViewerClient  # noqa: E402
from training.trainer import Trainer  # noqa: E402

TRAIN_FLAGS = ["--eval", "--num_classes", "8", "--sh_degree", "1", "--densify_from_iter", "100",
               "--densify_until_iter", "400", "--densification_interval", "100", "--opacity_reset_interval",
               "100000", "--no_igd", "--laknn_from_iter", "100000", "--test_iterations", "--quiet"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "output", "bench_viewer"),
                        help="work folder (scene, model folders)")
    parser.add_argument("--scene", default="", help="scene folder (default: a 64x48 synthetic scene in --out)")
    parser.add_argument("--pairs", type=int, default=6, help="refreshed blocks timed against their neighbours")
    parser.add_argument("--settle", type=int, default=500,
                        help="iterations before the timed blocks (densification ends at 400)")
    parser.add_argument("--iterations", type=int, default=300, help="iterations of each whole training")
    parser.add_argument("--repeats", type=int, default=2, help="pairs of whole trainings")
    parser.add_argument("--refresh", type=int, default=RunParams().viewer_refresh,
                        help="viewer refresh in iterations (default: train.py's)")
    parser.add_argument("--warmup", type=int, default=100,
                        help="iterations of an untimed first training (first-call costs)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--device", default="auto")
    return parser.parse_args(argv)


def scene_folder(args: argparse.Namespace) -> str:
    if args.scene:
        return args.scene
    folder = os.path.join(args.out, "scene")
    if not os.path.isdir(folder):
        make_synthetic_scene(folder, SyntheticSceneConfig(seed=0, num_views=16, width=64, height=48, num_objects=3))
    return folder


def make_trainer(args: argparse.Namespace, scene: str, model: str, iterations: int) -> Trainer:
    return Trainer.from_args(parse_training_args([
        "-s", scene, "-m", model, "--iterations", str(iterations), "--save_iterations", str(iterations),
        "--threads", str(args.threads), "--device", args.device, "--seed", "0", *TRAIN_FLAGS]))


def attach_viewer(trainer: Trainer):
    """The live viewer of `trainer` with one connected client that has had its first frame."""
    viewer = open_training_viewer(trainer, ViewerOptions(port=free_port()))
    client = HeadlessViewerClient(viewer.url, trainer.scene.getTestCameras()[0])
    wait_for_first_frame(viewer)
    return viewer, client


def interleaved_blocks(args: argparse.Namespace, scene: str, model: str) -> list[tuple[float, float, float]]:
    """(refreshed block s/it, mean of its unrefreshed neighbours s/it, ratio) per pair, and the
    frames rendered (see the module docstring)."""
    blocks = 2 * args.pairs + 1            # plain, refreshed, plain, ..., plain
    trainer = make_trainer(args, scene, model, args.settle + blocks * args.refresh)
    viewer, client = attach_viewer(trainer)
    marks: dict[int, float] = {}
    trainer.add_iteration_callback(1, lambda _, it: marks.__setitem__(it, time.perf_counter()))

    def refresh_odd_blocks(trainer_: Trainer, iteration: int) -> None:
        block = (iteration - args.settle) // args.refresh   # the block that starts after this iteration
        if iteration >= args.settle and block % 2 == 1:
            viewer.show_training_state(trainer_, iteration)
    trainer.add_iteration_callback(args.refresh, refresh_odd_blocks)   # after the mark: its cost is the block's
    trainer.run()
    viewer.close()
    client.close()
    per_block = [(marks[args.settle + (j + 1) * args.refresh] - marks[args.settle + j * args.refresh]) / args.refresh
                 for j in range(blocks)]
    pairs = []
    for k in range(args.pairs):
        refreshed, neighbours = per_block[2 * k + 1], (per_block[2 * k] + per_block[2 * k + 2]) / 2
        pairs.append((refreshed, neighbours, refreshed / neighbours))
    return pairs, viewer.frames_rendered


def train_once(args: argparse.Namespace, scene: str, model: str, with_viewer: bool,
               iterations: int) -> dict:
    """Train once; returns seconds per iteration, frames rendered, and the final parameters."""
    trainer = make_trainer(args, scene, model, iterations)
    viewer = client = None
    if with_viewer:
        viewer, client = attach_viewer(trainer)
        trainer.add_iteration_callback(args.refresh, viewer.show_training_state)
    start = time.perf_counter()
    trainer.run()
    seconds = (time.perf_counter() - start) / iterations
    frames = 0
    if viewer is not None:
        viewer.close()
        client.close()
        frames = viewer.frames_rendered
    return {"seconds": seconds, "frames": frames,
            "params": {k: v.detach().cpu().clone() for k, v in trainer.gaussians.parameters_by_group().items()}}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_first_frame(viewer, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while viewer.frames_rendered == 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the viewer rendered no frame for the benchmark's client")
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scene = scene_folder(args)
    threads = torch.get_num_threads()
    if args.warmup > 0:
        train_once(args, scene, os.path.join(args.out, "model_warmup"), False, args.warmup)
        torch.set_num_threads(threads)
    pairs, frames = interleaved_blocks(args, scene, os.path.join(args.out, "model_blocks"))
    torch.set_num_threads(threads)
    runs = []
    for repeat in range(args.repeats):
        order = (False, True) if repeat % 2 == 0 else (True, False)
        result = {}
        for with_viewer in order:
            result[with_viewer] = train_once(args, scene, os.path.join(args.out, f"model_{int(with_viewer)}"),
                                             with_viewer, args.iterations)
            torch.set_num_threads(threads)
        identical = all(torch.equal(result[False]["params"][k], result[True]["params"][k])
                        for k in result[False]["params"])
        runs.append((result[False]["seconds"], result[True]["seconds"], result[True]["frames"], identical))

    print(f"Live viewer overhead: refresh every {args.refresh} iterations, one client at 512x384, "
          f"device {args.device}, threads {args.threads or threads}\n")
    print(f"Blocks of {args.refresh} iterations after {args.settle} (one training, {frames} frames):\n")
    print("| pair | neighbours, not refreshed (s/it) | refreshed block (s/it) | ratio |")
    print("|---:|---:|---:|---:|")
    for k, (refreshed, neighbours, ratio) in enumerate(pairs, 1):
        print(f"| {k} | {neighbours:.4f} | {refreshed:.4f} | {ratio:.3f} |")
    print(f"| median | {statistics.median(p[1] for p in pairs):.4f} | {statistics.median(p[0] for p in pairs):.4f} "
          f"| {statistics.median(p[2] for p in pairs):.3f} |\n")
    print(f"Whole trainings of {args.iterations} iterations (times include the machine's noise):\n")
    print("| run | without viewer (s/it) | with viewer (s/it) | ratio | frames | identical model |")
    print("|---:|---:|---:|---:|---:|:---:|")
    for run, (plain, viewed, frames_run, identical) in enumerate(runs, 1):
        print(f"| {run} | {plain:.4f} | {viewed:.4f} | {viewed / plain:.3f} | {frames_run} | "
              f"{'yes' if identical else 'NO'} |")
    return 0 if all(run[3] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
