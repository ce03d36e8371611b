"""scripts/perf/bench_viewer.py, the live viewer's overhead benchmark, on a few iterations: it
prints the paired table, its viewer run rendered frames for its client, and both runs of a
pair end with the same Gaussians (the viewer never changes training). Times are printed,
never asserted."""
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def test_benchmark_prints_paired_table_with_identical_models(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "perf", "bench_viewer.py"), "--out", str(tmp_path),
         "--iterations", "30", "--repeats", "2", "--refresh", "10", "--warmup", "0", "--threads", "1"],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = re.findall(r"^\| (\d) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| (\d+) \| (\w+) \|$", result.stdout, re.M)
    assert [row[0] for row in rows] == ["1", "2"], result.stdout
    for _, plain, viewed, ratio, frames, identical in rows:
        assert float(ratio) == pytest.approx(float(viewed) / float(plain), rel=0.02)   # of the rounded times
        assert int(frames) >= 3          # a frame per refresh (iterations 10, 20, 30), at least
        assert identical == "yes"
    assert re.search(r"^\| median \|", result.stdout, re.M)
