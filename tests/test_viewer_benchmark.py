"""scripts/bench_viewer.py, the live viewer's overhead benchmark, on a few iterations: it
prints both tables, the viewer rendered frames for its client, and the plain and viewed
trainings end with the same Gaussians (the viewer never changes training). Times are printed,
never asserted."""
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def test_benchmark_prints_paired_tables_with_identical_models(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "bench_viewer.py"), "--out", str(tmp_path),
         "--pairs", "2", "--settle", "20", "--refresh", "10", "--iterations", "30", "--repeats", "1",
         "--warmup", "0", "--threads", "1"],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    blocks = re.findall(r"^\| (\d) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", result.stdout, re.M)
    assert [row[0] for row in blocks] == ["1", "2"], result.stdout
    for _, neighbours, refreshed, ratio in blocks:   # of the rounded times
        assert float(ratio) == pytest.approx(float(refreshed) / float(neighbours), rel=0.02)
    frames = int(re.search(r"one training, (\d+) frames", result.stdout).group(1))
    assert frames >= 3      # the first frame and one per refreshed block
    runs = re.findall(r"^\| (\d) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| (\d+) \| (\w+) \|$", result.stdout, re.M)
    assert len(runs) == 1 and int(runs[0][4]) >= 3 and runs[0][5] == "yes", result.stdout
