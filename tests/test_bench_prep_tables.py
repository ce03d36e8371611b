"""The prep benchmark's tables (bench/prep_benchmark.py, run by scripts/bench_prep.py): trainings
with several seeds become one row per scene and mask set, with the mean and its 95 % t interval (hand-computed here)."""
import os

import pytest

from bench import prep_benchmark


def test_mean_and_interval_hand_computed():
    assert prep_benchmark.mean_and_interval([0.5]) == "50.0"
    # mean 0.89, sample sd 0.01, t(0.975, 2) = 4.3027: half-width 4.3027 * 0.01 / sqrt(3) = 2.48 %
    assert prep_benchmark.mean_and_interval([0.88, 0.90, 0.89]) == "89.0 +- 2.5"


@pytest.mark.parametrize("seeds", [1, 3])
def test_training_rows_are_grouped_over_seeds(tmp_path, seeds):
    results = {"scenes": [], "training": [
        {"scene": "b", "masks": masks, "seed": seed, "miou": miou + 0.01 * seed, "mbiou": 0.7, "seconds": 20.0}
        for seed in range(seeds) for masks, miou in (("exact", 0.89), ("associated", 0.86))]}
    path = tmp_path / "results.md"
    prep_benchmark.write_tables(results, str(path))
    per_set, paired = path.read_text().split("Paired by seed")
    rows = [line for line in per_set.splitlines() if line.startswith("| b | ")]
    assert len(rows) == 2
    assert f"| b | associated | {seeds} | -3.0" in paired
    assert rows[0].startswith(f"| b | exact | {seeds} | {89.0 + (1.0 if seeds == 3 else 0.0):.1f}")
    assert ("+-" in rows[1]) == (seeds > 1)


def test_differences_to_exact_are_paired_by_seed(tmp_path):
    training = [{"scene": "a", "masks": m, "seed": seed, "miou": v, "mbiou": 0.5, "seconds": 1.0}
                for m, values in (("exact", (0.90, 0.80, 0.85)), ("associated", (0.89, 0.78, 0.86)))
                for seed, v in enumerate(values)]
    # a seed trained on one set only has no pair
    training.append({"scene": "a", "masks": "associated", "seed": 7, "miou": 0.1, "mbiou": 0.1, "seconds": 1.0})
    ((scene, masks, differences),) = prep_benchmark.paired_differences(training)
    assert (scene, masks) == ("a", "associated") and differences == pytest.approx([-0.01, -0.02, 0.01])
    prep_benchmark.write_tables({"scenes": [], "training": training}, str(tmp_path / "r.md"))
    # mean -0.67, sd 1.528, t 4.3027: half-width 3.79
    assert "| a | associated | 3 | -0.7 +- 3.8 |" in (tmp_path / "r.md").read_text()


def test_done_runs_lists_finished_trainings_by_mask_set_and_seed(tmp_path):
    for folder, finished in (("model_exact", True), ("model_exact_seed3", True), ("model_ideal_seed1", False),
                             ("model_associated_seed12", True), ("depth_model", True)):
        os.makedirs(tmp_path / "a" / folder)
        if finished:
            (tmp_path / "a" / folder / "bench_row.json").write_text("{}")
    assert sorted(prep_benchmark.done_runs(str(tmp_path), "a")) == [("associated", 12), ("exact", 0), ("exact", 3)]
