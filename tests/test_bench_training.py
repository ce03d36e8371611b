"""scripts/perf/bench_training.py on a few iterations: the timing table and the breakdown come out
with every column filled from the profiler ranges the trainer and the rasterizer mark, and a
baseline tree is this repository's commit unpacked. Times are printed, never asserted."""
import os
import re
import subprocess
import sys

from bench import training_timing
from tests.conftest import ROOT


def test_prints_timing_and_a_breakdown_of_every_part(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "perf", "bench_training.py"), "--cases", "synthetic_20k",
         "--no_baseline", "--repeats", "1", "--warmup", "2", "--iterations", "4", "--profile_iterations", "2",
         "--json", str(tmp_path / "results.json")],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    row = re.search(r"^\| synthetic, 20k Gaussians, 160x120, D=16 \| 20000 \| ([\d.]+) \|", result.stdout, re.M)
    assert row and float(row.group(1)) > 0, result.stdout
    breakdown = re.search(r"^\| synthetic_20k \| (.*) \|$", result.stdout, re.M)
    cells = [float(c) for c in breakdown.group(1).split(" | ")]
    assert len(cells) == len(training_timing.BREAKDOWN) + len(training_timing.PHASES)
    # The rasterizer's forward, backward and each of its phases were seen by the profiler.
    named = dict(zip([h for h, _, _ in training_timing.BREAKDOWN] + list(training_timing.PHASES), cells))
    for part in ("raster fwd", "raster bwd", "photometric", "optimiser", *training_timing.PHASES):
        assert named[part] > 0, (part, result.stdout)
    assert (tmp_path / "results.json").is_file()


def test_baseline_tree_is_the_commit_unpacked(tmp_path):
    sha = training_timing.git_archive("HEAD", str(tmp_path / "tree"))
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert sha == head
    for path in ("train.py", "training/trainer.py", "submodules/diff-gaussian-rasterization/setup.py"):
        assert (tmp_path / "tree" / path).is_file(), path
