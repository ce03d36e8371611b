"""The benchmark harness: presets, resume/skip logic, the results folder (with a stub runner that
predicts the ground truth), and the tiny preset end to end (slow: it trains four models)."""
import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from bench.harness import (
    DONE_MARKER,
    PrefixSpec,
    RunFailed,
    ensure_scene,
    execute_prefix,
    fingerprint,
    is_done,
    load_preset,
    plan_prefixes,
    plan_runs,
    prediction_dir,
    read_done,
    reference_view,
    run_benchmark,
    run_pending,
    train_command,
)
from evaluation.lerf_eval import read_runs_file
from utils.image_io import write_png

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_MAGIC = b"\x89PNG"


def test_presets_load_and_plan():
    tiny, small = load_preset("tiny"), load_preset("small")
    assert tiny.methods == small.methods == ["gaussian_grouping", "gradiseg"]
    assert tiny.iterations == 100 and small.iterations == 1500
    runs = plan_runs(small, "/out", ablations=False)
    assert [r.label for r in runs[:2]] == ["s1_few_clean / gaussian_grouping / seed 0",
                                           "s1_few_clean / gradiseg / seed 0"]
    assert len(runs) == 6 and len(plan_runs(small, "/out", ablations=True)) == 12
    assert runs[0].run_dir == os.path.join("/out", "runs", "s1_few_clean", "seed_0", "gaussian_grouping")
    # The small suite gets harder scene by scene: more objects, lower cameras, worse masks.
    configs = [s.config for s in small.scenes]
    assert [c.num_objects for c in configs] == [3, 5, 7]
    assert configs[0].elevation_deg > max(c.elevation_deg for c in configs[1:])
    assert [c.degradation.jitter_px for c in configs] == [1.0, 1.5, 2.0]
    assert configs[0].degradation.swap_fraction == 0 < configs[1].degradation.swap_fraction
    # The contact benchmark: objects in contact at 320x240, 3 seeds, the variants share a prefix
    # up to where the schedule starts IGD.
    contact = load_preset("contact")
    assert {(s.config.width, s.config.height, s.config.layout) for s in contact.scenes} == {(320, 240, "contact")}
    assert contact.seeds == (0, 1, 2) and contact.shared_prefix_iterations == contact.schedule["igd_from_iter"]
    assert len(plan_runs(contact, "/out", ablations=True)) == 36 and len(plan_prefixes(contact, "/out")) == 9
    assert not {s.config.seed for s in contact.scenes} & {s.config.seed for s in small.scenes}


@pytest.mark.parametrize("change, message", [
    ({"methods": ["gradiseg", "nerf"]}, r"unknown methods \['nerf'\]"),
    ({"colour": "red"}, r"unknown keys \['colour'\]"),
    ({"scenes": [{"name": "a", "num_objects": 3, "fog": 1}]}, r"scene 'a': unknown scene keys \['fog'\]"),
    ({"scenes": [{"name": "a", "num_objects": 99}]}, "num_objects must be in"),
    ({"prompt_protocol": "clip"}, "prompt_protocol"),
])
def test_bad_presets_are_named_errors(tmp_path, change, message):
    with open(os.path.join(ROOT, "config", "bench", "tiny.json")) as fh:
        data = json.load(fh)
    data.update(change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message) as err:
        load_preset(str(path))
    assert str(path) in str(err.value)
    with pytest.raises(FileNotFoundError, match="presets: contact, lift, small, tiny"):
        load_preset("huge")


def test_run_pending_skips_done_runs_and_keeps_failures_unmarked(tmp_path):
    preset = load_preset("tiny")
    runs = plan_runs(preset, str(tmp_path), ablations=False)
    calls, failing = [], {"three_noisy / gradiseg / seed 0"}

    def runner(run):
        calls.append(run.label)
        if run.label in failing:
            raise RunFailed("exited with 1")
        return {"miou": 0.5}

    quiet = lambda message: None
    first = run_pending(runs, preset, runner, jobs=2, log=quiet)
    assert len(calls) == 4 and len(first["finished"]) == 3
    assert [r.label for r in first["failed"]] == ["three_noisy / gradiseg / seed 0"]
    assert not os.path.exists(os.path.join(runs[3].run_dir, DONE_MARKER))
    assert read_done(runs[0]) == {"fingerprint": fingerprint(runs[0], preset), "miou": 0.5}

    calls.clear()
    failing.clear()
    second = run_pending(runs, preset, runner, log=quiet)
    assert calls == ["three_noisy / gradiseg / seed 0"] and len(second["skipped"]) == 3

    calls.clear()
    os.remove(os.path.join(runs[1].run_dir, DONE_MARKER))           # an interrupted run
    marker = os.path.join(runs[2].run_dir, DONE_MARKER)             # a run of other settings
    with open(marker) as fh:
        stale = json.load(fh)
    stale["fingerprint"] = "0" * 16
    with open(marker, "w") as fh:
        json.dump(stale, fh)
    assert not is_done(runs[2], preset)
    third = run_pending(runs, preset, runner, log=quiet)
    assert calls == [runs[1].label, runs[2].label] and len(third["skipped"]) == 2
    assert all(is_done(run, preset) for run in runs)


def perfect_runner(preset, failing=()):
    """Stand-in for execute_run: predicts every test mask exactly, renders = ground truth darkened
    by 10 grey levels (PSNR 20 log10(255 / 10) = 28.13 dB), overlay = the image."""
    def runner(run):
        if run.label in failing:
            raise RunFailed(f"{run.label} exited with 1")
        result = prediction_dir(run, preset)
        shutil.copytree(os.path.join(run.scene_dir, "test_mask"), os.path.join(result, "test_mask"))
        view = reference_view(run.scene_dir)
        for name in os.listdir(os.path.join(run.scene_dir, "test_mask")):
            image = np.full((36, 48, 3), 120, np.uint8)
            write_png(os.path.join(result, "gt", f"{name}.png"), image)
            write_png(os.path.join(result, "renders", f"{name}.png"), image - 10)
        write_png(os.path.join(result, "boundary_overlay", f"{view}.png"), np.zeros((36, 48, 3), np.uint8))
        return {"reference_view": view, "seconds": {"train": 2.0, "render": 1.0}}
    return runner


def test_results_folder_from_stub_runs(tmp_path):
    preset = load_preset("tiny")
    failing = "three_noisy / gaussian_grouping / seed 0"
    outcome, summary = run_benchmark(preset, str(tmp_path), runner=perfect_runner(preset, [failing]),
                                     command="test")
    assert [r.label for r in outcome["failed"]] == [failing]
    results = tmp_path / "results"
    table1 = (results / "table1.csv").read_text().splitlines()
    assert table1[0] == ("method,two_clean_miou_pct,two_clean_mbiou_pct,three_noisy_miou_pct,"
                         "three_noisy_mbiou_pct,mean_miou_pct,mean_mbiou_pct")
    assert table1[1:] == ["gaussian_grouping,100.000,100.000,0.000,0.000,50.000,50.000",
                          "gradiseg,100.000,100.000,100.000,100.000,100.000,100.000"]
    assert (results / "table4.csv").read_text().splitlines()[1].startswith(
        "w/o IGD & LA-KNN,gaussian_grouping,✗,✗,100.000")
    tables = (results / "tables.md").read_text()
    assert "three_noisy / gaussian_grouping: prediction folder not found" in tables
    table3 = (results / "table3.md").read_text()
    assert "| gradiseg | 28.13 | " in table3 and "| gaussian_grouping | 28.13 | " in table3
    assert (results / "plot.png").read_bytes()[:4] == PNG_MAGIC
    assert (results / "overlays.png").read_bytes()[:4] == PNG_MAGIC
    assert sorted(os.listdir(results / "overlays")) == [
        "three_noisy__gradiseg.png", "two_clean__gaussian_grouping.png", "two_clean__gradiseg.png"]
    entries = read_runs_file(str(results / "runs.json"))
    assert [(e.scene, e.method, e.igd, e.laknn) for e in entries][:2] == [
        ("two_clean", "gaussian_grouping", False, False), ("two_clean", "gradiseg", True, True)]
    assert os.path.samefile(entries[0].gt_dir, tmp_path / "scenes" / "two_clean" / "test_mask")
    text = open(summary).read()
    assert "| two_clean | 0 | 2 | 9 | 48x36 |" in text and "| two_clean / gradiseg / seed 0 | 2 | 1 |" in text

    def must_not_run(run):
        assert run.label == failing, f"{run.label} was done and must be skipped"
        return perfect_runner(preset)(run)
    outcome, _ = run_benchmark(preset, str(tmp_path), runner=must_not_run)
    assert len(outcome["skipped"]) == 3 and [r.label for r in outcome["finished"]] == [failing]
    assert (results / "table1.csv").read_text().splitlines()[1].startswith("gaussian_grouping,100.000,100.000,100.000")


def test_existing_scene_of_other_settings_is_refused(tmp_path):
    scene = load_preset("tiny").scenes[0]
    folder = str(tmp_path / "scene")
    ensure_scene(scene, folder)
    ensure_scene(scene, folder)               # the same settings: kept as it is
    other = dataclasses.replace(scene, config=dataclasses.replace(scene.config, seed=5))
    with pytest.raises(ValueError, match="made with other settings"):
        ensure_scene(other, folder)


def test_reference_view_has_the_most_prompts(tmp_path):
    for view, prompts in (("a", ["x"]), ("b", ["x", "y"]), ("c", ["x", "y"])):
        for prompt in prompts:
            write_png(str(tmp_path / "test_mask" / view / f"{prompt}.png"), np.zeros((4, 4), np.uint8))
    assert reference_view(str(tmp_path)) == "b"


@pytest.mark.slow
def test_tiny_preset_end_to_end(tmp_path):
    command = [sys.executable, os.path.join(ROOT, "scripts", "run_benchmark.py"), "--preset", "tiny",
               "--out", str(tmp_path)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = tmp_path / "results"
    data = json.loads((results / "results.json").read_text())
    assert data["scenes"] == ["two_clean", "three_noisy"] and data["methods"] == ["gaussian_grouping", "gradiseg"]
    assert not data["notes"]                  # every prediction file was written
    for row in data["table1"]:
        assert 0.0 <= row["mean"]["miou_pct"] <= 100.0
    for name in ("tables.md", "table1.csv", "table4.csv", "table3.csv", "per_prompt.csv", "summary.md"):
        assert (results / name).stat().st_size > 0
    assert (results / "plot.png").read_bytes()[:4] == PNG_MAGIC
    assert len(os.listdir(results / "overlays")) == 4
    selection = json.loads((tmp_path / "runs" / "two_clean" / "seed_0" / "gradiseg" / "test" / "ours_100" /
                            "reference_selection.json").read_text())
    assert selection["ioa_threshold"] == 0.7 and selection["prompts"]

    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.count("skip ") == 4 and "start " not in again.stdout


def _ray_runner(run):
    """Runs in a Ray worker process: leaves a file (the runs' side effects reach the shared
    folder), fails one run."""
    with open(os.path.join(os.path.dirname(run.run_dir), run.run_dir.replace(os.sep, "_")[-60:] + ".ran"), "w"):
        pass
    if run.label == "three_noisy / gradiseg / seed 0":
        raise RunFailed("train.py exited with 1")
    return {"miou": 0.25}


def test_ray_executor_runs_each_run_as_a_task_and_keeps_the_bookkeeping_here(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is in requirements.txt; make setup installs it")
    from bench.executors import RayExecutor
    preset = load_preset("tiny")
    runs = plan_runs(preset, str(tmp_path), ablations=False)
    for run in runs:
        os.makedirs(os.path.dirname(run.run_dir), exist_ok=True)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        messages = []
        outcome = run_pending(runs, preset, _ray_runner, log=messages.append,
                              executor=RayExecutor(cpus_per_run=1))
        assert len(outcome["finished"]) == 3 and [r.label for r in outcome["failed"]] == ["three_noisy / gradiseg / seed 0"]
        assert any("FAILED three_noisy / gradiseg / seed 0: train.py exited with 1" in m for m in messages), messages
        assert all(is_done(run, preset) for run in outcome["finished"])
        assert not is_done(outcome["failed"][0], preset)
        assert len(list(tmp_path.rglob("*.ran"))) == 4
        # Resuming: only the failed run is submitted again.
        again = run_pending(runs, preset, lambda run: {"miou": 0.5}, log=messages.append,
                            executor=RayExecutor(cpus_per_run=1))
        assert len(again["skipped"]) == 3 and len(again["finished"]) == 1
    finally:
        RayExecutor.shutdown()


# ----------------------------------------------------------------------------- seeds and a shared prefix

def seeded_preset(tmp_path, **changes):
    """The tiny preset with `changes` (default: seeds 0 and 1, a prefix shared to iteration 60)."""
    with open(os.path.join(ROOT, "config", "bench", "tiny.json")) as fh:
        data = json.load(fh)
    data.pop("seed")
    data.update({"seeds": [0, 1], "shared_prefix_iterations": 60, **changes})
    path = tmp_path / "seeded.json"
    path.write_text(json.dumps(data))
    return load_preset(str(path))


def test_seeds_and_a_shared_prefix_plan_and_commands(tmp_path):
    preset = seeded_preset(tmp_path)
    prefixes, runs = plan_prefixes(preset, "/out"), plan_runs(preset, "/out", ablations=False)
    assert [p.label for p in prefixes] == [f"{s} / seed {k} / prefix" for s in ("two_clean", "three_noisy")
                                           for k in (0, 1)]
    assert len(runs) == 8 and runs[2].label == "two_clean / gaussian_grouping / seed 1"
    assert runs[2].run_dir == os.path.join("/out", "runs", "two_clean", "seed_1", "gaussian_grouping")
    assert runs[2].prefix == prefixes[1] and prefixes[1].run_dir == os.path.join(
        "/out", "runs", "two_clean", "seed_1", "prefix")
    prefix_args = " ".join(train_command(prefixes[1], preset, threads=0, device="cpu"))
    assert "--seed 1" in prefix_args and "--iterations 60 --checkpoint_iterations 60" in prefix_args
    run_args = " ".join(train_command(runs[2], preset, threads=2, device="cpu"))
    assert f"--start_checkpoint {os.path.join(prefixes[1].run_dir, 'chkpnt60.pth')}" in run_args
    assert run_args.endswith("--no_igd --no_laknn") and "--threads 2" in run_args and "--seed 1" in run_args
    # The fingerprint follows the seed: the same scene and method under another seed is another run.
    assert fingerprint(runs[0], preset) != fingerprint(runs[2], preset)
    assert "--start_checkpoint" not in train_command(plan_runs(load_preset("tiny"), "/o", False)[0],
                                                     load_preset("tiny"), 0, "cpu")


@pytest.mark.parametrize("changes, message", [
    ({"seed": 3}, 'give "seed" or "seeds"'),
    ({"seeds": [0, 0]}, "distinct integers"),
    ({"seeds": []}, "distinct integers"),
    ({"shared_prefix_iterations": 70}, r"shared_prefix_iterations must be an integer in 1\.\.60"),
])
def test_bad_seed_settings_are_named_errors(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        seeded_preset(tmp_path, **changes)


def scored_runner(preset, calls, failing=()):
    """Prefixes succeed unless in `failing`; runs predict perfectly (perfect_runner) and report
    scores: mBIoU 0.80 + 0.01 seed for Gaussian Grouping, 0.02 + 0.01 seed more for GradiSeg,
    whose PSNR is 0.1 dB higher and which has 10 % more Gaussians and training time."""
    perfect = perfect_runner(preset)

    def runner(spec):
        calls.append(spec.label)
        if spec.label in failing:
            raise RunFailed(f"{spec.label} exited with 1")
        if isinstance(spec, PrefixSpec):
            return {"seconds": {"train": 5.0}}
        summary = perfect(spec)
        ours = spec.method.name == "gradiseg"
        summary.update(miou=0.9, mbiou=0.80 + 0.01 * spec.seed + (0.02 + 0.01 * spec.seed) * ours,
                       psnr=28.0 + 0.1 * ours, ssim=0.9, gaussians=1100 if ours else 1000)
        summary["seconds"]["train"] = 11.0 if ours else 10.0
        return summary
    return runner


def test_prefixes_run_first_and_seed_statistics_are_hand_computed(tmp_path):
    preset = seeded_preset(tmp_path)
    calls = []
    outcome, _ = run_benchmark(preset, str(tmp_path / "bench"), runner=scored_runner(
        preset, calls, failing=["two_clean / seed 1 / prefix"]), log=lambda message: None)
    assert all(c.endswith("prefix") for c in calls[:4]) and not any(c.endswith("prefix") for c in calls[4:])
    assert len(calls) == 4 + 6          # the failed prefix's two runs are not started
    assert sorted(r.label for r in outcome["failed"]) == [
        "two_clean / gaussian_grouping / seed 1", "two_clean / gradiseg / seed 1", "two_clean / seed 1 / prefix"]

    calls.clear()
    outcome, summary = run_benchmark(preset, str(tmp_path / "bench"), runner=scored_runner(preset, calls),
                                     log=lambda message: None)
    assert sorted(calls) == ["two_clean / gaussian_grouping / seed 1", "two_clean / gradiseg / seed 1",
                             "two_clean / seed 1 / prefix"]
    seeds = (tmp_path / "bench" / "results" / "seeds.md").read_text()
    # mBIoU over seeds 0, 1: 80, 81 -> 80.5 +- t(0.975, 1) 0.7071 / sqrt(2) = 80.5 +- 6.4;
    # GradiSeg - GG: 2, 3 -> +2.5 +- 6.4 points; PSNR +0.10 +- 0.00; Gaussians and time +10 %.
    gg_row = next(line for line in seeds.splitlines() if line.startswith("| gaussian_grouping | 90.0"))
    assert gg_row.split(" | ")[2] == "80.5 +- 6.4"
    diff_row = next(line for line in seeds.splitlines() if line.startswith("| gradiseg | +"))
    cells = diff_row.strip("| ").split(" | ")
    assert cells[1:4] == ["+0.0 +- 0.0", "+2.5 +- 6.4", "+0.10 +- 0.00"]
    assert cells[-2:] == ["+10.0 +- 0.0", "+10.0 +- 0.0"]
    results = tmp_path / "bench" / "results"
    assert (results / "seeds_plot.png").read_bytes()[:4] == PNG_MAGIC
    assert len((results / "seeds.csv").read_text().splitlines()) == 1 + 8
    text = open(summary).read()
    assert "Over 2 training seeds (0, 1)" in text and "### Seed 0 alone" in text
    assert "| two_clean / seed 1 / prefix | 5 |  |" in text


def test_a_run_continued_from_the_shared_prefix_equals_one_from_scratch(tmp_path):
    preset = seeded_preset(tmp_path, seeds=[0])
    prefix, run = plan_prefixes(preset, str(tmp_path))[0], plan_runs(preset, str(tmp_path), False)[1]
    ensure_scene(run.scene, run.scene_dir)
    execute_prefix(prefix, preset, threads=1, device="cpu")
    continued = train_command(run, preset, threads=1, device="cpu")
    scratch = str(tmp_path / "scratch")
    from_scratch = [a if a != run.run_dir else scratch for a in train_command(
        dataclasses.replace(run, prefix=None), preset, threads=1, device="cpu")]
    os.makedirs(run.run_dir)
    for args in (continued, from_scratch):
        proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    ply = os.path.join("point_cloud", "iteration_100", "point_cloud.ply")
    with open(os.path.join(run.run_dir, ply), "rb") as a, open(os.path.join(scratch, ply), "rb") as b:
        assert a.read() == b.read()
