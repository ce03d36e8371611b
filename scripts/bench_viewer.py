#!/usr/bin/env python
"""Training time per iteration with and without the live viewer (train.py --viewer) at its
default refresh, paired.

    python scripts/bench_viewer.py                       # 64x48 synthetic scene, 3 pairs
    python scripts/bench_viewer.py --iterations 1000 --repeats 5 --refresh 50

Each repeat trains the same configuration twice from the same seed, once plain and once with
the viewer serving one connected client (bench/viewer_client.py: a websocket client that
reports a 512x384 canvas at a test view, as a browser opening the page does, and reads the
frames), in alternating order. The overhead is the median of the paired ratios, every pair
shown: on shared machines two identical trainings differ by several percent, so only pairs
resolve a 10 % budget. The table also says whether both runs ended with identical
Gaussians (the viewer must not change training) and how many frames the viewer rendered.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
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


def train_once(args: argparse.Namespace, scene: str, model: str, with_viewer: bool,
               iterations: int) -> dict:
    """Train once; returns seconds per iteration, frames rendered, and the final parameters."""
    trainer = Trainer.from_args(parse_training_args([
        "-s", scene, "-m", model, "--iterations", str(iterations), "--save_iterations", str(iterations),
        "--threads", str(args.threads), "--device", args.device, "--seed", "0", *TRAIN_FLAGS]))
    viewer = client = None
    if with_viewer:
        viewer = open_training_viewer(trainer, ViewerOptions(port=free_port()))
        trainer.add_iteration_callback(args.refresh, viewer.show_training_state)
        client = HeadlessViewerClient(viewer.url, trainer.scene.getTestCameras()[0])
        wait_for_first_frame(viewer)
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
    rows = []
    for repeat in range(args.repeats):
        order = (False, True) if repeat % 2 == 0 else (True, False)
        runs = {}
        for with_viewer in order:
            runs[with_viewer] = train_once(args, scene, os.path.join(args.out, f"model_{int(with_viewer)}"),
                                           with_viewer, args.iterations)
            torch.set_num_threads(threads)
        identical = all(torch.equal(runs[False]["params"][k], runs[True]["params"][k]) for k in runs[False]["params"])
        rows.append((repeat + 1, runs[False]["seconds"], runs[True]["seconds"],
                     runs[True]["seconds"] / runs[False]["seconds"], runs[True]["frames"], identical))
        print(f"repeat {repeat + 1}: {rows[-1][1]:.4f} / {rows[-1][2]:.4f} s/it", file=sys.stderr, flush=True)

    print(f"Live viewer overhead: {args.iterations} iterations per run, refresh every {args.refresh} "
          f"iterations, one client at 512x384, device {args.device}, threads {args.threads or threads}\n")
    print("| pair | without viewer (s/it) | with viewer (s/it) | ratio | frames | identical model |")
    print("|---:|---:|---:|---:|---:|:---:|")
    for pair, plain, viewed, ratio, frames, identical in rows:
        print(f"| {pair} | {plain:.4f} | {viewed:.4f} | {ratio:.3f} | {frames} | {'yes' if identical else 'NO'} |")
    ratios = [row[3] for row in rows]
    print(f"| median | {statistics.median(r[1] for r in rows):.4f} | {statistics.median(r[2] for r in rows):.4f} "
          f"| {statistics.median(ratios):.3f} | | |")
    return 0 if all(row[5] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
