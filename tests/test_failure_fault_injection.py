"""Failure handling: SIGKILL training at random moments while it saves, then check that the model
folder still renders (its latest complete iteration) and resumes (from its latest checkpoint)
to exactly the model of an uninterrupted run.

Every iteration from the second on is saved and checkpointed, so most of a run is spent writing
and a random kill usually lands inside a save. The fast test kills 3 runs; the slow one 20.
"""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

import render
import train
from scene.model_folder import MANIFEST_NAME, point_cloud_dir, saved_checkpoints, saved_iterations
from tests.conftest import ROOT

ITERATIONS = 24
SAVED = [str(i) for i in range(2, ITERATIONS + 1)]
FLAGS = ["--iterations", str(ITERATIONS), "--num_classes", "8", "--test_iterations",
         "--save_iterations", *SAVED, "--checkpoint_iterations", *SAVED, "--quiet", "--eval",
         "--reg3d_sample_size", "50", "--seed", "4", "--threads", "1"]


def final_hashes(model: str) -> dict:
    with open(os.path.join(point_cloud_dir(model, ITERATIONS), MANIFEST_NAME)) as fh:
        return {name: entry["sha256"] for name, entry in json.load(fh)["files"].items()}


@pytest.fixture(scope="module")
def straight_run(tiny_scene, tmp_path_factory):
    """The uninterrupted run: its final hashes and how long it spent from its first checkpoint
    to its last (the window the kills are spread over)."""
    model = str(tmp_path_factory.mktemp("straight") / "m")
    subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), "-s", tiny_scene, "-m", model,
                    *FLAGS], check=True, capture_output=True, cwd=ROOT)
    written = [os.path.getmtime(os.path.join(model, f"chkpnt{i}.pth")) for i in saved_checkpoints(model)]
    return final_hashes(model), max(written) - min(written)


def wait_for_first_save(process: subprocess.Popen, model: str, timeout: float = 120) -> None:
    """Return once the run has a complete save and a checkpoint (what --resume needs)."""
    start = time.perf_counter()
    while not (saved_iterations(model) and saved_checkpoints(model)):
        assert process.poll() is None, process.communicate()
        assert time.perf_counter() - start < timeout
        time.sleep(0.005)


def leftovers(model: str) -> list[str]:
    """What the kill interrupted: hidden build folders and temporary checkpoint files."""
    names = os.listdir(os.path.join(model, "point_cloud")) + os.listdir(model)
    return [name for name in names if name.startswith(".")]


def kill_render_resume(scene: str, model: str, straight: tuple[dict, float], rng: random.Random,
                       capsys) -> dict:
    hashes, window = straight
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), "-s", scene, "-m",
                                model, *FLAGS], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               cwd=ROOT)
    wait_for_first_save(process, model)
    time.sleep(rng.uniform(0.0, window))
    process.send_signal(signal.SIGKILL)
    process.wait()
    record = {"saved": saved_iterations(model)[-1], "checkpoint": saved_checkpoints(model)[-1],
              "interrupted": leftovers(model), "finished": process.returncode == 0}

    capsys.readouterr()
    assert render.main(["-m", model, "--skip_train", "--quiet"]) == 0, capsys.readouterr().err
    assert os.path.isdir(os.path.join(model, "test", f"ours_{record['saved']}", "renders"))
    if not record["finished"]:
        assert train.main(["-s", scene, "-m", model, *FLAGS, "--resume"]) == 0, capsys.readouterr().err
    assert final_hashes(model) == hashes, f"resumed model differs from the uninterrupted run: {record}"
    assert not leftovers(model)
    return record


def run_trials(count: int, seed: int, tiny_scene, tmp_path, straight_run, capsys) -> list[dict]:
    rng = random.Random(seed)
    threads = torch.get_num_threads()   # the in-process resumes set --threads 1
    try:
        records = [kill_render_resume(tiny_scene, str(tmp_path / f"run{trial}"), straight_run, rng,
                                      capsys) for trial in range(count)]
    finally:
        torch.set_num_threads(threads)
    with capsys.disabled():
        print(f"\n{count} kills: saved/checkpoint at kill "
              f"{[(r['saved'], r['checkpoint']) for r in records]}; "
              f"{sum(r['saved'] > r['checkpoint'] for r in records)} between a save and its checkpoint, "
              f"{sum(bool(r['interrupted']) for r in records)} inside a write")
    return records


def test_sigkill_during_saves_keeps_a_renderable_resumable_folder(tiny_scene, tmp_path, straight_run,
                                                                  capsys):
    run_trials(3, 12, tiny_scene, tmp_path, straight_run, capsys)


@pytest.mark.slow
def test_sigkill_twenty_times(tiny_scene, tmp_path, straight_run, capsys):
    run_trials(20, 2012, tiny_scene, tmp_path, straight_run, capsys)
