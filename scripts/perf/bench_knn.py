"""Times the simple_knn C++ extension against scipy's cKDTree (the fallback of utils/knn.py)
for distCUDA2 and knn, and prints a markdown table.

    python scripts/perf/bench_knn.py [--sizes 10000 100000 1000000] [--cloud uniform|clustered]

Each time includes building the tree, as every call does. M = N queries are the points
themselves; M = 1000 queries are a random subset of them.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Callable

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from utils.knn import _knn_scipy, mean_of_found, simple_knn_ext  # noqa: E402

NUM_FEW_QUERIES = 1000


def make_cloud(num_points: int, kind: str, generator: torch.Generator) -> torch.Tensor:
    """(N, 3) float32 points in the unit cube: uniform, or 50 tight Gaussian clusters."""
    if kind == "uniform":
        return torch.rand(num_points, 3, generator=generator)
    centres = torch.rand(50, 3, generator=generator)
    which = torch.randint(0, 50, (num_points,), generator=generator)
    return centres[which] + 0.01 * torch.randn(num_points, 3, generator=generator)


def best_time(run: Callable[[], object], budget_s: float = 3.0, max_repeats: int = 5) -> float:
    """Best wall time of up to `max_repeats` runs, stopping once `budget_s` is spent."""
    times: list[float] = []
    while len(times) < max_repeats and sum(times) < budget_s:
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def cases(points: torch.Tensor, generator: torch.Generator):
    """(operation, M, extension call, scipy call) for one cloud."""
    num_points = points.shape[0]
    few = points[torch.randperm(num_points, generator=generator)[:NUM_FEW_QUERIES]].contiguous()
    yield ("distCUDA2", num_points, lambda: simple_knn_ext.distCUDA2(points),
           lambda: mean_of_found(_knn_scipy(points, points, 3, exclude_self=True)[0]))
    for k in (5, 32):
        for query in (few, points):
            yield (f"knn k={k}", query.shape[0],
                   lambda q=query, k=k: simple_knn_ext.knn(q, points, k),
                   lambda q=query, k=k: _knn_scipy(q, points, k, exclude_self=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--cloud", choices=["uniform", "clustered"], default="uniform")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if simple_knn_ext is None:
        sys.exit("simple_knn is not built: pip install --no-build-isolation ./submodules/simple-knn")
    generator = torch.Generator().manual_seed(args.seed)
    print(f"{args.cloud} cloud, {torch.get_num_threads()} threads; seconds, best of <= 5 runs "
          "within 3 s\n")
    print("| operation | N | M | C++ k-d tree | scipy cKDTree | scipy / C++ |")
    print("|---|---:|---:|---:|---:|---:|")
    for num_points in args.sizes:
        points = make_cloud(num_points, args.cloud, generator)
        for name, num_queries, ext_call, scipy_call in cases(points, generator):
            ext_s, scipy_s = best_time(ext_call), best_time(scipy_call)
            print(f"| {name} | {num_points:,} | {num_queries:,} | {ext_s:.4f} | {scipy_s:.4f} "
                  f"| {scipy_s / ext_s:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
