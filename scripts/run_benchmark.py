#!/usr/bin/env python
"""Benchmark harness: synthetic scenes x methods -> train, render, evaluate, tables and a plot.

    python scripts/run_benchmark.py --preset small                 # `make bench-small`
    python scripts/run_benchmark.py --preset small --ablations     # + w/o IGD, w/o LA-KNN (Table 4)
    python scripts/run_benchmark.py --preset tiny --out /tmp/bench # 1-3 minutes: the slow test
    python scripts/run_benchmark.py --preset contact --ablations   # `make bench-contact`: 320x240,
                                   # objects in contact, 3 seeds, means with 95 % intervals (about 1 h)
    python scripts/run_benchmark.py --preset small --executor ray  # runs as Ray tasks (local Ray)
    python scripts/run_benchmark.py --preset small --executor ray --ray_address auto   # a cluster

Resumable: run it again and finished runs are skipped. The logic is in bench/harness.py.
"""
from __future__ import annotations

import argparse
import os
import sys

# Run as a file, the script's own folder is on sys.path, not the repository root.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.executors import EXECUTORS  # noqa: E402
from bench.harness import load_preset, run_benchmark  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="small",
                        help="config/bench/<name>.json (tiny, small, contact) or a preset file")
    parser.add_argument("--out", help="output folder (default: output/bench_<preset>)")
    parser.add_argument("--ablations", action="store_true",
                        help="also run the preset's ablation methods (w/o IGD, w/o LA-KNN)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs in parallel (default 1: one training already keeps two cores busy; "
                             "with N jobs each gets cores/N threads)")
    parser.add_argument("--device", default="auto", help="train.py / render.py --device (auto, cpu, cuda[:N])")
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="local: a thread pool on this machine; ray: one Ray task a run (bench/executors.py)")
    parser.add_argument("--ray_address", default=None,
                        help="with --executor ray: the cluster (HOST:PORT or auto); default a local Ray")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.ray_address and args.executor != "ray":
        parser.error("--ray_address needs --executor ray")
    try:
        preset = load_preset(args.preset)
        out = args.out or os.path.join("output", f"bench_{preset.name}")
        command = "python scripts/run_benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:])
        outcome, summary = run_benchmark(preset, out, jobs=args.jobs, ablations=args.ablations,
                                         command=command.strip(), device=args.device,
                                         executor=args.executor, ray_address=args.ray_address)
    except (OSError, ValueError) as err:
        print(f"run_benchmark.py: error: {err}", file=sys.stderr)
        return 1
    with open(summary) as fh:
        print("\n" + fh.read())
    counts = ", ".join(f"{len(runs)} {name}" for name, runs in outcome.items())
    print(f"runs: {counts}; results in {os.path.dirname(summary)}")
    return 1 if outcome["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
