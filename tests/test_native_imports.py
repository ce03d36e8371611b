"""cv2 and pycolmap in one process: pycolmap is imported only through utils/pycolmap_loader.py,
which loads cv2 first (pycolmap first makes cv2's PNG encoder abort the process), so every entry
point writes PNG, RGBA PNG and JPEG photos, and convert.py --max_size / --resize work on them."""
import ast
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from bench.synthetic.scene import SyntheticSceneConfig, make_synthetic_scene
from prep.sfm import SfmOptions, convert_scene
from utils.errors import DataError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOADER = os.path.join("utils", "pycolmap_loader.py")
ENTRY_POINTS = ("convert", "prepare_masks", "train", "render", "edit", "view", "metrics")


def project_sources():
    for dirpath, dirnames, files in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in ("submodules", "tests", "output")]
        for name in files:
            if name.endswith(".py"):
                yield os.path.relpath(os.path.join(dirpath, name), ROOT)


def test_pycolmap_is_imported_only_through_the_loader():
    direct = []
    for path in project_sources():
        tree = ast.parse(open(os.path.join(ROOT, path)).read(), path)
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "pycolmap" for n in names) and path != LOADER:
                direct.append(f"{path}:{node.lineno}")
    assert direct == [], f"import pycolmap via utils.pycolmap_loader: {direct}"


def run_python(code: str, cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ROOT})


PHOTO_WRITES = """
import numpy as np
{imports}
import cv2
rgb = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
assert cv2.imwrite("a.png", rgb) and cv2.imwrite("b.png", np.dstack([rgb, rgb[..., :1]]))
assert cv2.imwrite("c.jpg", rgb)
print("written")
"""


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_entry_point_leaves_cv2_able_to_write_photos(entry, tmp_path):
    # In a fresh process, the entry point imported first (it imports pycolmap where it needs it).
    result = run_python(PHOTO_WRITES.format(imports=f"import {entry}"), str(tmp_path))
    assert result.returncode == 0 and "written" in result.stdout, result.stderr[-2000:]


def test_downscaled_and_resized_copies_of_png_rgba_and_jpeg_photos(tmp_path):
    # convert.py's own image path (--max_size, then --resize) in a process that imported convert.py.
    code = PHOTO_WRITES.format(imports="import convert") + """
import os
from prep.sfm import prepare_photos, write_resized_copies
folder = prepare_photos(".", ["a.png", "b.png", "c.jpg"], 80, "work")
assert [cv2.imread(os.path.join(folder, n), cv2.IMREAD_UNCHANGED).shape for n in ("a.png", "b.png", "c.jpg")] \\
    == [(60, 80, 3), (60, 80, 4), (60, 80, 3)]
write_resized_copies(folder, "scene")
assert cv2.imread(os.path.join("scene", "images_8", "b.png"), cv2.IMREAD_UNCHANGED).shape == (8, 10, 4)
print("resized")
"""
    result = run_python(code, str(tmp_path))
    assert result.returncode == 0 and "resized" in result.stdout, result.stderr[-2000:]


def photo_scene(tmp_path, sizes=None) -> str:
    """SCENE/input/ with a synthetic scene's 24 views as PNG, RGBA PNG and JPEG photos in turn
    (`sizes`: {index: (w, h)} to resize some)."""
    truth = str(tmp_path / "truth")
    make_synthetic_scene(truth, SyntheticSceneConfig(num_views=24, width=160, height=120, supersample=1,
                                                     num_points=100, ground_texture="noise"))
    scene = tmp_path / "scene"
    (scene / "input").mkdir(parents=True)
    for k, name in enumerate(sorted(os.listdir(os.path.join(truth, "images")))):
        pixels = cv2.imread(os.path.join(truth, "images", name))
        if sizes and k in sizes:
            pixels = cv2.resize(pixels, sizes[k], interpolation=cv2.INTER_AREA)
        stem = os.path.splitext(name)[0]
        if k % 3 == 1:
            pixels = np.dstack([pixels, np.full(pixels.shape[:2], 255, np.uint8)])
        cv2.imwrite(str(scene / "input" / (stem + (".jpg" if k % 3 == 2 else ".png"))), pixels)
    return str(scene)


def test_photos_of_mixed_sizes_are_refused_before_sfm(tmp_path):
    scene = photo_scene(tmp_path, sizes={5: (80, 60)})
    with pytest.raises(DataError, match=r"2 different sizes \(frame_00000.png 160x120, frame_00005.jpg 80x60\)"):
        convert_scene(scene, SfmOptions(num_threads=2), log=lambda line: None)
    assert sorted(os.listdir(scene)) == ["input"]


@pytest.mark.slow
@pytest.mark.parametrize("flags", [["--max_size", "150"], ["--resize"]])
def test_convert_with_max_size_or_resize_on_png_rgba_and_jpeg_photos(tmp_path, flags):
    scene = photo_scene(tmp_path)
    result = subprocess.run([sys.executable, os.path.join(ROOT, "convert.py"), "-s", scene, "--threads", "2",
                             "--camera", "SIMPLE_PINHOLE", *flags], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    expected = {"distorted", "images", "input", "sparse"} | (
        {"images_2", "images_4", "images_8"} if "--resize" in flags else set())
    assert set(os.listdir(scene)) == expected                 # no .convert-* work folder left
    width = 150 if "--max_size" in flags else 160
    assert cv2.imread(os.path.join(scene, "images", "frame_00001.png"), cv2.IMREAD_UNCHANGED).shape[1] <= width
