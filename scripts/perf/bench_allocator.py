"""Training with glibc's default allocator settings against `utils.memory.keep_freed_memory()`.

    python scripts/perf/bench_allocator.py                  # 240x136 synthetic scene, 100k random Gaussians
    python scripts/perf/bench_allocator.py --iterations 100 --repeats 3

Each run is a fresh process (the setting is process-wide) timing only its training iterations
(user, system and wall seconds, minor page faults from getrusage); the two settings alternate,
so the machine's load hits both alike. Prints a markdown table and the median ratios.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from bench_training import time_training  # noqa: E402  (scripts/, beside this file)


def run(scene: str, keep: bool, iterations: int, workdir: str, index: int) -> dict:
    """One fresh training process (bench_training.time_training): 1 warm-up iteration (first
    allocations, lazy initialisation), then `iterations` timed, with or without the setting."""
    train_args = ["-s", scene, "-m", os.path.join(workdir, f"m{index}"), "--random_init",
                  "--iterations", str(iterations), "--test_iterations", "--save_iterations", "--quiet",
                  "--densify_from_iter", "100000"]
    return time_training(ROOT, None, train_args, warmup=1, iterations=iterations, keep_freed_memory=keep)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--width", type=int, default=240)
    parser.add_argument("--height", type=int, default=136)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        scene = os.path.join(workdir, "scene")
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_synthetic_scene.py"), scene,
                        "--seed", "3", "--width", str(args.width), "--height", str(args.height),
                        "--num_views", "24"], check=True, capture_output=True)
        results = {False: [], True: []}
        index = 0
        for _ in range(args.repeats):
            for keep in (False, True):
                results[keep].append(run(scene, keep, args.iterations, workdir, index))
                index += 1
    print(f"\n{args.iterations} training iterations, {args.width}x{args.height}, "
          f"{results[False][0]['gaussians']} random Gaussians, one process per run\n")
    print("| allocator | run | s/iteration | user (s) | sys (s) | sys share of CPU | minor faults |")
    print("|:--|--:|--:|--:|--:|--:|--:|")
    for keep, name in ((False, "glibc defaults"), (True, "keep_freed_memory()")):
        for i, r in enumerate(results[keep], 1):
            print(f"| {name} | {i} | {r['wall'] / args.iterations:.3f} | {r['user']:.1f} | {r['sys']:.1f} | "
                  f"{r['sys'] / (r['user'] + r['sys']):.1%} | {r['minflt'] / 1e6:.2f} M |")
    speedups = [a["wall"] / b["wall"] for a, b in zip(results[False], results[True])]
    print(f"\nmedian speed-up per iteration: {statistics.median(speedups):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
