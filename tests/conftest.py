import os
import sys

# cv2 before anything imports pycolmap: pycolmap 4.2.1 first makes cv2's PNG encoder abort.
import cv2  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import subprocess

import pytest

from utils.errors import reset_warn_once


def make_scene(out_dir, *extra_args):
    """Run the synthetic scene maker as a user would; returns the scene folder."""
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_synthetic_scene.py"),
                    str(out_dir), *map(str, extra_args)], check=True, capture_output=True, text=True)
    return str(out_dir)


@pytest.fixture(scope="session")
def tiny_scene(tmp_path_factory):
    """A small synthetic COLMAP scene: 16 views of 64x48 px, 3 objects, exact masks."""
    return make_scene(tmp_path_factory.mktemp("scenes") / "tiny", "--seed", 0, "--num_views", 16,
                      "--width", 64, "--height", 48, "--num_objects", 3)


@pytest.fixture(autouse=True)
def fresh_warnings():
    """Every test sees warn_once's warnings afresh."""
    reset_warn_once()
    yield
    reset_warn_once()
