"""The viewer on a synthetic scene trained once for this module: the display modes and live
edits on the model's own renders, the live training hook (training is unchanged by it), and
`view.py` in headless Chromium: a click on a known object picks that object's id and names it
into prompts.json.

The browser test needs Debian's `chromium` and the `playwright` package (`make test` installs
both; Playwright never downloads a browser of its own here) and is skipped, saying which is
missing, without them."""
import argparse
import hashlib
import json
import os
import queue
import signal
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

import train
import view
from apps.editing.operations import group_probability
from apps.render_export import load_prompt_ids
from apps.viewer import modes
from apps.viewer.display_model import DisplayModel, Edit
from apps.viewer.server import ViewerOptions, open_training_viewer
from arguments import ModelParams, extract, parse_training_args, read_cfg_args
from scene import Scene
from scene.gaussian_model import GaussianModel
from scene.model_folder import load_model
from tests.conftest import ROOT, make_scene
from training.trainer import Trainer

PIPE = SimpleNamespace(convert_SHs_python=False, compute_cov3D_python=False, debug=False, backend="auto")
BLACK = torch.zeros(3)
SCENE_ARGS = ["--seed", 0, "--num_views", 16, "--width", 64, "--height", 48, "--num_objects", 3]
TRAIN_ARGS = ["--eval", "--num_classes", "8", "--sh_degree", "1", "--densify_from_iter", "50",
              "--densify_until_iter", "250", "--densification_interval", "50",
              "--densify_grad_threshold", "0.0004", "--opacity_reset_interval", "1000",
              "--sh_increase_interval", "100", "--no_igd", "--laknn_from_iter", "300",
              "--test_iterations", "--seed", "0", "--threads", "1", "--quiet"]
ITERATIONS = 400
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("viewer")
    scene = make_scene(root / "scene", *SCENE_ARGS)
    model = str(root / "model")
    threads = torch.get_num_threads()
    try:
        assert train.main(["-s", scene, "-m", model, "--iterations", str(ITERATIONS), "--position_lr_max_steps",
                           str(ITERATIONS), "--save_iterations", str(ITERATIONS), *TRAIN_ARGS]) == 0
    finally:
        torch.set_num_threads(threads)   # --threads is process-wide
    dataset = extract(ModelParams, argparse.Namespace(**read_cfg_args(model)))
    cameras = Scene(dataset, GaussianModel(dataset.sh_degree, dataset.num_objects), load_iteration=-1)
    return SimpleNamespace(root=root, scene=scene, model=model, test_cameras=cameras.getTestCameras(),
                           train_cameras=cameras.getTrainCameras())


def display_of(model_path: str) -> DisplayModel:
    loaded = load_model(model_path)
    return DisplayModel(loaded.gaussians, loaded.classifier, PIPE, BLACK, loaded.iteration)


def folder_digest(folder: str) -> dict[str, str]:
    digests = {}
    for parent, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(parent, name), "rb") as fh:
                digests[os.path.relpath(os.path.join(parent, name), folder)] = hashlib.sha256(fh.read()).hexdigest()
    return digests


# ----------------------------------------------------------------------------- modes and edits

def test_modes_show_the_objects_of_the_ground_truth(trained):
    display = display_of(trained.model)
    camera = trained.test_cameras[0]
    gt = camera.objects.numpy()
    full = display.render_layers(camera, modes.MODE_RGB)
    assert (full.ids == gt).mean() > 0.9                     # the id map the picks read
    for object_id in (1, 2, 3):
        region = gt == object_id
        isolated = display.render_layers(camera, modes.MODE_ISOLATE, object_id)
        removed = display.render_layers(camera, modes.MODE_REMOVE, object_id)
        far = ~ndimage.binary_dilation(region, iterations=3)
        # isolated: the object's pixels keep its id, the rest is background (black)
        assert (isolated.ids[region] == object_id).mean() > 0.9
        assert isolated.rgb[far].mean() < 10
        # removed: its pixels show something else, everything far from it is as before
        assert (removed.ids[region] == object_id).mean() < 0.1
        assert np.abs(removed.rgb[far].astype(int) - full.rgb[far]).mean() < 4
    picture = modes.compose(modes.MODE_IDS, full, display.pca, 0.5, picked=2)
    assert picture.shape == (camera.image_height, camera.image_width, 3)


def test_live_edits_change_the_view_only_and_export_the_object(trained, tmp_path):
    source = folder_digest(trained.model)
    display = display_of(trained.model)
    camera = trained.test_cameras[0]
    region = camera.objects.numpy() == 3
    before = display.render_layers(camera, modes.MODE_RGB)
    group = display.group(3)
    assert display.add_edit(Edit("recolour", 3, (1.0, 0.0, 1.0))) == int(group.sum())
    recoloured = display.render_layers(camera, modes.MODE_RGB).rgb[region].mean(axis=0)
    assert recoloured[0] > 150 and recoloured[2] > 150 and recoloured[1] < 60    # magenta
    num_points = display.num_points
    assert display.add_edit(Edit("remove", 1)) > 0
    assert display.num_points < num_points
    with pytest.raises(ValueError, match="no Gaussian has probability"):
        display.add_edit(Edit("remove", 1))                    # nothing of it left to remove
    display.reset_edits()
    np.testing.assert_array_equal(display.render_layers(camera, modes.MODE_RGB).rgb, before.rgb)

    path, count = display.export_object(3, str(tmp_path / "export"))
    assert os.path.basename(path) == "group_003.ply" and count == int(group.sum())
    exported = GaussianModel(1, display._base.num_objects)
    exported.load_ply(path)
    loaded = load_model(trained.model)
    assert exported.num_points == count
    assert (group_probability(exported, loaded.classifier, [3]) > 0.3).all()
    assert folder_digest(trained.model) == source              # the model folder was only read


def test_live_viewer_follows_training_and_leaves_it_unchanged(trained, tmp_path):
    def trainer(name: str) -> Trainer:
        args = parse_training_args(["-s", trained.scene, "-m", str(tmp_path / name), "--iterations", "60",
                                    "--save_iterations", "60", *TRAIN_ARGS])
        return Trainer.from_args(args)

    threads = torch.get_num_threads()
    try:
        plain = trainer("plain")
        plain.run()
        watched = trainer("watched")
        viewer = open_training_viewer(watched, ViewerOptions(port=free_port()))
        seen = []
        watched.add_iteration_callback(20, lambda t, it: seen.append((it, t.gaussians.num_points)))
        watched.add_iteration_callback(20, viewer.show_training_state)
        viewer.display.add_edit(Edit("remove", 0))   # an edit in the view must not reach training
        try:
            watched.run()
        finally:
            viewer.close()
    finally:
        torch.set_num_threads(threads)
    assert [it for it, _ in seen] == [20, 40, 60]
    assert viewer.display.iteration == 60
    assert viewer.display.num_points < watched.gaussians.num_points     # the view has the edit
    for name, param in plain.gaussians.parameters_by_group().items():
        assert torch.equal(param, watched.gaussians.parameters_by_group()[name]), name


def test_view_py_says_when_the_port_is_busy(trained, capsys):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert view.main(["-m", trained.model, "--port", str(port)]) == 1
    assert f"viewer port {port} on 127.0.0.1 is busy" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the browser

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_view_py(*args, timeout: float = 180.0):
    """`view.py *args` in a subprocess, until it says where it serves; terminated afterwards."""
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "view.py"), *args], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    output, deadline = [], time.monotonic() + timeout
    try:
        while not any(line.startswith("Viewer at") for line in output):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("view.py did not start:\n" + "".join(output))
            try:
                output.append(lines.get(timeout=1.0))
            except queue.Empty:
                pass
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def click_target(display: DisplayModel, camera, right_margin: float, top_margin: float
                 ) -> tuple[int, tuple[float, float], np.ndarray]:
    """The object (id) whose pixels the model and the ground truth agree on deepest inside the
    unobstructed part of the view, the fraction (x, y) of the picture there, and the render."""
    layers = display.render_layers(camera, modes.MODE_RGB)
    gt = camera.objects.numpy()
    height, width = gt.shape
    best = (0.0, None, None)
    for object_id in (1, 2, 3):
        depth = ndimage.distance_transform_edt((gt == object_id) & (layers.ids == object_id))
        depth[:, int((1 - right_margin) * width):] = 0    # the GUI panel floats on the right
        depth[:int(top_margin * height)] = 0              # notifications at the top
        row, col = np.unravel_index(np.argmax(depth), depth.shape)
        if depth[row, col] > best[0]:
            best = (depth[row, col], object_id, ((col + 0.5) / width, (row + 0.5) / height))
    assert best[0] >= 3, "no object is visible well inside the view"
    return best[1], best[2], layers.rgb


def body_match(page, pattern: str, timeout: float, retry=None) -> re.Match:
    """Wait until the page's text matches `pattern` (calling `retry()` every few seconds)."""
    deadline, last_retry = time.monotonic() + timeout, time.monotonic()
    while time.monotonic() < deadline:
        match = re.search(pattern, page.inner_text("body"))
        if match:
            return match
        if retry is not None and time.monotonic() - last_retry > 4.0:
            retry()
            last_retry = time.monotonic()
        time.sleep(0.3)
    pytest.fail(f"the page never showed {pattern!r}; it shows:\n{page.inner_text('body')[:2000]}")


def gui_input(page, label: str):
    """The input of the viser GUI element labelled `label`."""
    return page.locator(f"xpath=//label[text()='{label}']/ancestor::div[contains(@class, 'mantine-Flex-root')][1]"
                        "//input").first


def screen_colour(page, x: float, y: float, path, expected: np.ndarray, timeout: float = 60.0) -> None:
    """Wait until the screenshot's 5x5 patch at (x, y) has the colour `expected` (RGB)."""
    deadline = time.monotonic() + timeout
    while True:
        page.screenshot(path=str(path))
        patch = np.asarray(Image.open(path).convert("RGB"))[int(y) - 2:int(y) + 3, int(x) - 2:int(x) + 3]
        colour = patch.reshape(-1, 3).mean(axis=0)
        if np.abs(colour - expected).max() < 30:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the screen shows {colour.round()} at the clicked pixel, not {expected}")
        time.sleep(1.0)


def test_browser_click_picks_the_object_under_the_pointer(trained, tmp_path):
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make test installs it: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -r requirements.txt)")
    camera = trained.test_cameras[0]
    object_id, (u, v), render_rgb = click_target(display_of(trained.model), camera, right_margin=0.4,
                                                 top_margin=0.3)
    prompts = tmp_path / "prompts.json"
    port = free_port()
    with running_view_py("-m", trained.model, "--port", str(port), "--start_view", f"test/{camera.image_name}",
                         "--prompts", str(prompts), "--render_height", "240"), \
            sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 960, "height": 720})
            page.goto(f"http://127.0.0.1:{port}")
            body_match(page, r"iteration \d+ · \d+ Gaussians", timeout=60)
            box = page.locator("canvas").first.bounding_box()
            # same vertical field of view: the horizontal fraction scales with the aspect ratio
            image_aspect, canvas_aspect = camera.image_width / camera.image_height, box["width"] / box["height"]
            x = box["x"] + box["width"] * (0.5 + (u - 0.5) * image_aspect / canvas_aspect)
            y = box["y"] + box["height"] * v
            page.mouse.click(x, y)
            picked = body_match(page, r"Picked id (\d+)", timeout=60, retry=lambda: page.mouse.click(x, y))
            assert int(picked.group(1)) == object_id

            # our frame is on screen: the pixel shows the render, then the id overlay's blend
            row, col = int(v * camera.image_height), int(u * camera.image_width)
            screen_colour(page, x, y, tmp_path / "rgb.png", render_rgb[row, col])
            gui_input(page, "Mode").click()
            page.get_by_role("option", name=modes.MODE_IDS).click()
            overlay = modes.blend_ids(render_rgb, np.full(render_rgb.shape[:2], object_id), 0.5)[row, col]
            assert np.abs(overlay.astype(int) - render_rgb[row, col]).max() > 40   # the two differ
            screen_colour(page, x, y, tmp_path / "viewer.png", overlay)

            gui_input(page, "Name").fill("my object")
            page.get_by_role("button", name="Name picked object").click()
            body_match(page, r"my object\**: " + str(object_id), timeout=30)
        finally:
            browser.close()
    assert json.loads(prompts.read_text()) == {"my object": [object_id]}
    assert load_prompt_ids(str(prompts), 8) == {"my object": [object_id]}   # what render.py --prompt_ids reads


def test_view_py_stops_on_sigterm_as_on_ctrl_c(trained):
    # Without its own handler, the one pycolmap's logging library installs aborts with a stack trace.
    with running_view_py("-m", trained.model, "--port", str(free_port())) as process:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
