"""scripts/bench_prep.py's tables: trainings with several seeds become one row per scene and mask
set, with the mean and its 95 % t interval (hand-computed here)."""
import os
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import bench_prep  # noqa: E402


def test_mean_and_interval_hand_computed():
    assert bench_prep.mean_and_interval([0.5]) == "50.0"
    # mean 0.89, sample sd 0.01, t(0.975, 2) = 4.3027: half-width 4.3027 * 0.01 / sqrt(3) = 2.48 %
    assert bench_prep.mean_and_interval([0.88, 0.90, 0.89]) == "89.0 +- 2.5"


@pytest.mark.parametrize("seeds", [1, 3])
def test_training_rows_are_grouped_over_seeds(tmp_path, seeds):
    results = {"scenes": [], "training": [
        {"scene": "b", "masks": masks, "seed": seed, "miou": miou + 0.01 * seed, "mbiou": 0.7, "seconds": 20.0}
        for seed in range(seeds) for masks, miou in (("exact", 0.89), ("associated", 0.86))]}
    path = tmp_path / "results.md"
    bench_prep.write_tables(results, str(path))
    rows = [line for line in path.read_text().splitlines() if line.startswith("| b | ")]
    assert len(rows) == 2
    assert rows[0].startswith(f"| b | exact | {seeds} | {89.0 + (1.0 if seeds == 3 else 0.0):.1f}")
    assert ("+-" in rows[1]) == (seeds > 1)
