"""What the training-speed benchmark (scripts/perf/bench_training.py) reads: the profiler ranges
of a training step grouped into its breakdown columns, and a git ref of this repository unpacked
as a baseline tree."""
from __future__ import annotations

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Breakdown columns: (heading, profiler ranges added, ranges subtracted).
BREAKDOWN = (
    ("raster fwd", ("_RasterizeGaussians",), ()),
    ("raster bwd", ("_RasterizeGaussiansBackward",), ()),
    ("other bwd", ("train/backward",), ("_RasterizeGaussiansBackward",)),
    ("render (not raster)", ("train/render",), ("_RasterizeGaussians",)),
    ("photometric", ("train/loss_photometric",), ()),
    ("2D identity", ("train/loss_identity_2d",), ()),
    ("3D loss", ("train/loss_identity_3d",), ()),
    ("strategy", ("train/strategy",), ()),
    ("optimiser", ("train/optimizer",), ()),
    ("guards", ("train/guards",), ()),
)


PHASES = ("rasterizer/preprocess", "rasterizer/bin", "rasterizer/blend", "rasterizer/backward")


def git_archive(ref: str, dest: str) -> str:
    """Unpack `ref` of this repository into dest; returns the full commit hash."""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    os.makedirs(dest, exist_ok=True)
    archive = subprocess.run(["git", "archive", sha], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    return sha


def breakdown_ms(profile: dict) -> list[float]:
    return [sum(profile.get(k, 0.0) for k in add) - sum(profile.get(k, 0.0) for k in sub)
            for _, add, sub in BREAKDOWN]
