"""Failure handling, case 4: every intrinsic and pose is checked on load, the error naming the file and
the image; a camera set without spread gets a radius from its points."""
import json
import os
import re
import shutil
import struct

import numpy as np
import pytest
import torch

from scene.dataset_readers import readColmapSceneInfo, readNerfSyntheticInfo
from tests.conftest import make_scene
from tests.failure_helpers import error_lines, make_trainer, run_train
from utils.errors import DataError, DataWarning

CAMERAS_BIN_FX = 32   # cameras.bin: count (8), id, model (4 + 4), width, height (8 + 8), then fx, fy
IMAGES_BIN_QW = 12    # images.bin: count (8), image id (4), then qw, qx, qy, qz, tx, ty, tz
POINTS_BIN_X = 16     # points3D.bin: count (8), point id (8), then x, y, z


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp("camera_scenes")
    common = ["--num_views", 4, "--width", 32, "--height", 24, "--num_objects", 2, "--num_points", 300]
    return {"binary": make_scene(root / "binary", *common),
            "text": make_scene(root / "text", *common, "--colmap_format", "text"),
            "transforms": make_scene(root / "transforms", *common, "--format", "transforms"),
            "two_views": make_scene(root / "two", "--num_views", 2, "--width", 32, "--height", 24,
                                    "--num_objects", 2)}


def patch_double(path: str, offset: int, value: float) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(struct.pack("<d", value))


@pytest.mark.parametrize("focal", [0.0, float("nan"), -5.0])
def test_bad_focal_in_binary_colmap_names_file_camera_and_image(scenes, tmp_path, focal):
    scene = shutil.copytree(scenes["binary"], tmp_path / "s")
    cameras = os.path.join(scene, "sparse", "0", "cameras.bin")
    patch_double(cameras, CAMERAS_BIN_FX, focal)
    with pytest.raises(DataError) as err:
        readColmapSceneInfo(scene, "images", False)
    message = str(err.value)
    assert message.startswith(f"{cameras}: camera 1 (image ") and f"focal length fx = {focal}" in message


def test_zero_focal_in_text_colmap_is_one_line_from_train(scenes, tmp_path, capsys):
    scene = shutil.copytree(scenes["text"], tmp_path / "s")
    cameras = os.path.join(scene, "sparse", "0", "cameras.txt")
    with open(cameras) as fh:
        text = fh.read()
    with open(cameras, "w") as fh:   # PINHOLE w h fx fy cx cy: fy -> 0
        fh.write(re.sub(r"^(1 PINHOLE \d+ \d+ \S+) \S+", r"\1 0", text, flags=re.M))
    code, _, err = run_train(capsys, scene, tmp_path / "m")
    assert code == 1
    [line] = error_lines(err)
    assert f"{cameras}: camera 1" in line and "focal length fy = 0.0" in line
    assert "Traceback" not in err


def test_nan_pose_in_binary_colmap_names_images_bin_and_the_image(scenes, tmp_path):
    scene = shutil.copytree(scenes["binary"], tmp_path / "s")
    images = os.path.join(scene, "sparse", "0", "images.bin")
    patch_double(images, IMAGES_BIN_QW, float("nan"))
    with pytest.raises(DataError) as err:
        readColmapSceneInfo(scene, "images", False)
    assert str(err.value).startswith(f"{images}: image ")
    assert "pose is not finite" in str(err.value) or "not a rotation" in str(err.value)


@pytest.mark.parametrize("key,value,expected", [("fl_x", 0.0, "focal length fx = 0.0"),
                                                ("fl_x", "NaN", "focal length fx = nan"),
                                                ("camera_angle_x", 0.0, "a field of view of 0"),
                                                ("cx", "Infinity", "must be finite")])
def test_bad_transforms_intrinsics_name_the_frame(scenes, tmp_path, key, value, expected):
    scene = shutil.copytree(scenes["transforms"], tmp_path / "s")
    path = os.path.join(scene, "transforms_train.json")   # read first (the Blender layout)
    with open(path) as fh:
        content = json.load(fh)
    content.pop("fl_x", None)
    content[key] = float(value) if isinstance(value, str) else value
    if key != "fl_x" and key != "camera_angle_x":
        content["fl_x"] = 30.0
    with open(path, "w") as fh:
        json.dump(content, fh)
    with pytest.raises(DataError) as err:
        readNerfSyntheticInfo(scene, False, False)
    assert str(err.value).startswith(f"{path}: frame 0 (") and expected in str(err.value)


def test_non_finite_initial_point_names_points3d(scenes, tmp_path):
    scene = shutil.copytree(scenes["binary"], tmp_path / "s")
    points = os.path.join(scene, "sparse", "0", "points3D.bin")
    patch_double(points, POINTS_BIN_X, float("inf"))
    with pytest.raises(DataError, match=re.escape(points) + ": 1 of 300 initial points are not finite"):
        readColmapSceneInfo(scene, "images", False)


def test_one_training_view_gets_a_radius_from_the_points_and_its_gaussians_move(scenes, tmp_path):
    # --eval holds out every 8th view: of two views, one trains, so the cameras' radius is 0.
    with pytest.warns(DataWarning, match="no spread"):
        info = readColmapSceneInfo(scenes["two_views"], "images", True)
    assert len(info.train_cameras) == 1
    centre = -info.nerf_normalization["translate"]
    distances = np.linalg.norm(info.point_cloud.points - centre, axis=1)
    assert info.nerf_normalization["radius"] == pytest.approx(1.1 * np.median(distances))
    trainer = make_trainer(scenes["two_views"], tmp_path / "m", "--num_classes", "4")
    start = trainer.gaussians.get_xyz.detach().clone()
    for iteration in range(1, 6):
        trainer.train_step(iteration)
    assert trainer.gaussians.spatial_lr_scale > 0
    assert not torch.equal(trainer.gaussians.get_xyz.detach(), start)
