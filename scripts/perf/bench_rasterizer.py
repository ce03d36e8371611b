"""Rasterizer benchmark: the C++ CPU extension against the pure-PyTorch reference.

Prints a markdown table over backends x N Gaussians x image sizes (identity dimension D = 16 by
default): median forward time, median forward+backward time, and peak memory, measured as the
growth of the process's resident set (VmHWM after resetting it through /proc/self/clear_refs,
minus VmRSS before) during one forward+backward.

The scene (bench/rasterizer_scene.py): random Gaussians spread through the view frustum at depths
2..8, anisotropic scales whose projected standard deviation is 1..8 px (log-uniform) at 256 px
width (so 0.5..4 px at 128 and 2..16 px at 512), opacities 0.1..0.9, random rotations, SH degree 3
colours.

    python scripts/perf/bench_rasterizer.py              # the full grid
    python scripts/perf/bench_rasterizer.py --quick      # 10k Gaussians at 128^2 and 256^2
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Callable

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.rasterizer_scene import make_scene  # noqa: E402
from gaussian_renderer.reference import rasterize_reference  # noqa: E402

OUTPUTS = ("color", "objects", "depth", "alpha")


def rasterize_cpp(settings, **kwargs):
    import diff_gaussian_rasterization as dgr
    ext_settings = dgr.GaussianRasterizationSettings(*settings)
    return dgr.GaussianRasterizer(ext_settings).rasterize(**kwargs)


def run_once(rasterize: Callable, settings, inputs: dict, weights: dict | None) -> float:
    """One forward (weights None) or forward+backward; returns the wall time in seconds."""
    leaves = {k: v.detach().requires_grad_(True) for k, v in inputs.items()}
    means2D = torch.zeros(inputs["means3D"].shape[0], 3, requires_grad=True)
    start = time.perf_counter()
    out = rasterize(settings, means2D=means2D, **leaves)
    if weights is not None:
        sum((weights[name] * getattr(out, name)).sum() for name in OUTPUTS).backward()
    return time.perf_counter() - start


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_rss_delta_mib(fn: Callable[[], object]) -> float | None:
    """Growth of the resident set during fn() in MiB (None where /proc cannot reset the peak)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")   # resets VmHWM to the current RSS
    except OSError:
        return None
    before = _status_kib("VmRSS")
    fn()
    return (_status_kib("VmHWM") - before) / 1024.0


def benchmark(rasterize: Callable, n: int, size: int, num_objects: int, repeats: int) -> dict:
    settings, inputs = make_scene(n, size, size, num_objects)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        probe = rasterize(settings, means2D=torch.zeros(n, 3), **inputs)
    weights = {name: torch.randn(getattr(probe, name).shape, generator=g) for name in OUTPUTS}
    del probe
    run_once(rasterize, settings, inputs, weights)   # warm-up
    forward = statistics.median(run_once(rasterize, settings, inputs, None) for _ in range(repeats))
    both = statistics.median(run_once(rasterize, settings, inputs, weights) for _ in range(repeats))
    memory = peak_rss_delta_mib(lambda: run_once(rasterize, settings, inputs, weights))
    return dict(forward=forward, both=both, memory=memory)


def reference_fits(n: int, size: int, max_work: float) -> bool:
    """Whether the reference is run: it is slow and its memory grows with (Gaussians per tile) x
    pixels, so cells with n * size^2 above max_work are skipped."""
    return n * size * size <= max_work


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only 10k Gaussians at 128^2 and 256^2")
    parser.add_argument("--gaussians", type=int, nargs="+", default=[10_000, 100_000, 300_000])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512], help="square image sides")
    parser.add_argument("--num_objects", type=int, default=16, help="identity dimension D")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch / OpenMP threads (default: torch's)")
    parser.add_argument("--reference_max_work", type=float, default=10_000 * 128 * 128,
                        help="skip reference cells with N * pixels above this (default 10k Gaussians at 128^2)")
    parser.add_argument("--no_reference", action="store_true", help="benchmark the C++ extension only")
    args = parser.parse_args(argv)
    if args.quick:
        args.gaussians, args.sizes = [10_000], [128, 256]
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        import diff_gaussian_rasterization  # noqa: F401
    except ImportError as err:
        sys.exit(f"bench_rasterizer: the extension is not importable ({err}); run `make setup` first")

    print(f"D = {args.num_objects}, {torch.get_num_threads()} threads, median of {args.repeats}; "
          "memory = peak RSS growth during one forward+backward\n")
    print("| backend | N | image | forward (s) | forward+backward (s) | peak RSS delta (MiB) | speed-up vs reference |")
    print("|---|---|---|---|---|---|---|")
    for n in args.gaussians:
        for size in args.sizes:
            cpp = benchmark(rasterize_cpp, n, size, args.num_objects, args.repeats)
            ref = None
            if not args.no_reference and reference_fits(n, size, args.reference_max_work):
                ref = benchmark(rasterize_reference, n, size, args.num_objects, 1)
            for name, result in (("C++ CPU", cpp), ("reference", ref)):
                if result is None:
                    if not args.no_reference:
                        print(f"| reference | {n} | {size}² | skipped | skipped | skipped | |")
                    continue
                memory = "n/a" if result["memory"] is None else f"{result['memory']:.0f}"
                speedup = (f"{ref['both'] / cpp['both']:.0f}x (fwd {ref['forward'] / cpp['forward']:.0f}x)"
                           if name == "C++ CPU" and ref else "")
                print(f"| {name} | {n} | {size}² | {result['forward']:.4f} | {result['both']:.4f} | {memory} | "
                      f"{speedup} |", flush=True)


if __name__ == "__main__":
    main()
