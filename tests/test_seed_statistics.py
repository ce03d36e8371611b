"""Means over seeds with 95 % t intervals (utils/statistics.py) and the benchmark's tables over
seeds (bench/seed_statistics.py), against hand-computed values."""
import math

import pytest

from bench.seed_statistics import (
    DIFFERENCES,
    SEGMENTATION,
    RunResult,
    SeedResults,
    difference_table,
    metric_table,
)
from utils.statistics import format_interval, mean_interval


def test_mean_interval_hand_computed():
    # mean 2, sample sd 1, t(0.975, 2) = 4.302653: half-width 4.302653 / sqrt(3) = 2.484137
    mean, half = mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(2.484137, abs=1e-6)
    assert math.isnan(mean_interval([5.0])[1])
    assert format_interval([0.5]) == "0.50"
    assert format_interval([0.01, 0.02, 0.03], scale=100, digits=1, signed=True) == "+2.0 +- 2.5"
    assert format_interval([-1.0, -3.0], signed=True) == "-2.00 +- 12.71"
    with pytest.raises(ValueError):
        mean_interval([])


def result(scene, method, seed, mbiou, psnr=30.0):
    return RunResult(scene, method, seed, miou=0.9, mbiou=mbiou, psnr=psnr, ssim=0.9, gaussians=100,
                     train_seconds=10.0)


def test_mean_over_scenes_is_per_seed_and_skips_a_seed_with_a_missing_scene():
    results = SeedResults([
        result("a", "gaussian_grouping", 0, 0.70), result("b", "gaussian_grouping", 0, 0.80),
        result("a", "gaussian_grouping", 1, 0.72), result("b", "gaussian_grouping", 1, 0.84),
        result("a", "gaussian_grouping", 2, 0.71),                         # scene b missing for seed 2
        result("a", "gradiseg", 0, 0.71, 30.5), result("b", "gradiseg", 0, 0.82, 29.5),
        result("a", "gradiseg", 1, 0.72, 30.0), result("b", "gradiseg", 1, 0.86, 30.2),
    ])
    assert results.samples("gaussian_grouping", "mbiou") == pytest.approx([0.75, 0.78])
    assert results.samples("gaussian_grouping", "mbiou", "a") == pytest.approx([0.70, 0.72, 0.71])
    # Paired: seed 0 (+1, +2) -> +1.5 points, seed 1 (0, +2) -> +1.0 points; PSNR on b: -0.5, +0.2.
    assert results.samples("gradiseg", "mbiou", None, "gaussian_grouping") == pytest.approx([0.015, 0.01])
    table = metric_table(results, ["gaussian_grouping"], SEGMENTATION).splitlines()
    assert table[0] == "| method | a mIoU | a mBIoU | b mIoU | b mBIoU | mean mIoU | mean mBIoU |"
    # mean mBIoU 76.5, sd 2.1213, t(0.975, 1) 12.7062 -> half 19.06
    assert table[2].split(" | ")[-1] == "76.5 +- 19.1 |"
    diff = difference_table(results).splitlines()[2].strip("| ").split(" | ")
    columns = [f"{scene} {c.name}" for scene in ("a", "b", "mean") for c in DIFFERENCES]
    cells = dict(zip(columns, diff[1:]))
    assert cells["a PSNR (dB)"] == "+0.25 +- 3.18" and cells["b PSNR (dB)"] == "-0.15 +- 4.45"
    assert cells["mean mBIoU"] == "+1.2 +- 3.2"     # 1.5, 1.0: sd 0.3536, half 12.7062 * 0.25
