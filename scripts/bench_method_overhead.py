"""Time per training iteration of GradiSeg (IGD + LA-KNN) against Gaussian Grouping, by phase.

    python scripts/bench_method_overhead.py --scene output/demo/scene --out output/overhead

Trains both demo configs on the same scene with the same seed (skipped when a finished
model is already there) and prints, from each run's metrics.csv, the mean optimisation time
per iteration (evaluation and saving excluded) in each phase of the schedule.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = {"gaussian_grouping": "config/gaussian_grouping/demo.json",
           "gradiseg": "config/gradiseg/demo.json"}


def read_metric(model: str, name: str) -> dict[int, float]:
    values = {}
    with open(os.path.join(model, "metrics.csv")) as fh:
        for row in csv.DictReader(fh):
            if row["name"] == name:
                values[int(row["iteration"])] = float(row["value"])
    return values


def phase_means(seconds: dict[int, float], bounds: list[tuple[str, int, int]]) -> dict[str, float]:
    """Mean of the per-100-iteration timings whose window (it-100, it] lies in each phase."""
    sums, counts = defaultdict(float), defaultdict(int)
    for iteration, value in seconds.items():
        for name, start, end in bounds:
            if start < iteration - 100 + 1 and iteration <= end:
                sums[name] += value
                counts[name] += 1
    return {name: sums[name] / counts[name] for name, _, _ in bounds if counts[name]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", required=True)
    parser.add_argument("--out", default="output/overhead")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with open(os.path.join(ROOT, METHODS["gradiseg"])) as fh:
        cfg = json.load(fh)
    bounds = [("3DGS densification", 0, cfg["densify_until_iter"]),
              ("IGD window", cfg["igd_from_iter"], cfg["igd_until_iter"]),
              ("LA-KNN phase", cfg["laknn_from_iter"], cfg["iterations"])]
    rows = {}
    for method, config in METHODS.items():
        model = os.path.join(args.out, method)
        if not os.path.isfile(os.path.join(model, "point_cloud", f"iteration_{cfg['iterations']}",
                                           "point_cloud.ply")):
            subprocess.run([sys.executable, "train.py", "-s", args.scene, "-m", model, "--config_file",
                            config, "--eval", "--quiet", "--seed", str(args.seed), "--test_iterations"],
                           cwd=ROOT, check=True)
        timings = phase_means(read_metric(model, "train/seconds_per_iteration"), bounds)
        counts = read_metric(model, "train/num_gaussians")
        rows[method] = (timings, counts[max(counts)])

    print("| phase | Gaussian Grouping (s/it) | GradiSeg (s/it) | overhead |")
    print("|:--|--:|--:|--:|")
    for name, _, _ in bounds:
        gg, ours = rows["gaussian_grouping"][0].get(name), rows["gradiseg"][0].get(name)
        if gg and ours:
            print(f"| {name} | {gg:.4f} | {ours:.4f} | {100 * (ours / gg - 1):+.1f}% |")
    print(f"| final Gaussians | {rows['gaussian_grouping'][1]:.0f} | {rows['gradiseg'][1]:.0f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
