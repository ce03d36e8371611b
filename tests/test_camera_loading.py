"""Camera matrices, and loading images and masks into Cameras (scene/camera_loading.py)."""
import math
import os
import subprocess
import sys
import warnings
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from scene.camera_loading import camera_to_json, cameraList_from_camInfos, target_resolution
from scene.cameras import Camera
from scene.dataset_readers import CameraInfo
from utils.errors import DataError, DataWarning
from utils.graphics_utils import focal2fov, getProjectionMatrix, look_at_world_to_camera

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))



def _args(**overrides) -> SimpleNamespace:
    values = dict(resolution=-1, white_background=False, num_classes=256,
                  allow_missing_masks=False, data_device="cpu")
    values.update(overrides)
    return SimpleNamespace(**values)


def _cam_info(image_path, mask_path, width, height, name="view", eye=(3.0, -2.0, 1.5)):
    w2c = look_at_world_to_camera(np.array(eye), np.zeros(3))
    return CameraInfo(uid=0, R=w2c[:3, :3].T, T=w2c[:3, 3], FovY=focal2fov(30.0, height),
                      FovX=focal2fov(30.0, width), image_path=str(image_path), image_name=name,
                      width=width, height=height,
                      mask_path=None if mask_path is None else str(mask_path))


def _write_view(folder, name, rgb, ids):
    """Write `<folder>/images/<name>.png` (RGB (H, W, 3) uint8) and its mask (H, W) uint8."""
    os.makedirs(folder / "images", exist_ok=True)
    os.makedirs(folder / "object_mask", exist_ok=True)
    image_path, mask_path = folder / "images" / f"{name}.png", folder / "object_mask" / f"{name}.png"
    cv2.imwrite(str(image_path), rgb[:, :, ::-1])
    if ids is not None:
        cv2.imwrite(str(mask_path), ids)
    return image_path, mask_path


def _load_one(cam_info, **overrides) -> Camera:
    return cameraList_from_camInfos([cam_info], 1.0, _args(**overrides))[0]


def _random_view(tmp_path, name="view", width=20, height=12, seed=0):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    ids = rng.integers(0, 7, (height, width), dtype=np.uint8)
    image_path, mask_path = _write_view(tmp_path, name, rgb, ids)
    return rgb, ids, _cam_info(image_path, mask_path, width, height, name)


# ---------------------------------------------------------------------------------------
# Camera


def test_camera_matrices_follow_3dgs_conventions():
    eye, target = np.array([2.0, -3.0, 1.0]), np.array([0.1, 0.2, -0.3])
    w2c = look_at_world_to_camera(eye, target)
    fovx, fovy = 0.9, 0.7
    camera = Camera(uid=3, R=w2c[:3, :3].T, T=w2c[:3, 3], FoVx=fovx, FoVy=fovy,
                    image=torch.full((3, 6, 8), 0.5), objects=torch.zeros(6, 8, dtype=torch.int64),
                    image_name="a")
    point = np.array([0.4, -0.2, 0.7])
    expected_view = w2c @ np.append(point, 1.0)
    row = torch.tensor([*point, 1.0], dtype=torch.float32)
    torch.testing.assert_close(row @ camera.world_view_transform,
                               torch.tensor(expected_view, dtype=torch.float32), atol=1e-5, rtol=0)
    # Perspective divide puts the point at x_ndc = x / (z tan(fovx / 2)).
    clip = row @ camera.full_proj_transform
    assert clip[0] / clip[3] == pytest.approx(
        expected_view[0] / (expected_view[2] * math.tan(fovx / 2)), abs=1e-5)
    assert clip[1] / clip[3] == pytest.approx(
        expected_view[1] / (expected_view[2] * math.tan(fovy / 2)), abs=1e-5)
    torch.testing.assert_close(camera.projection_matrix, getProjectionMatrix(0.01, 100, fovx, fovy).T)
    torch.testing.assert_close(camera.camera_center, torch.tensor(eye, dtype=torch.float32),
                               atol=1e-5, rtol=0)
    assert (camera.image_width, camera.image_height) == (8, 6)
    assert camera.world_view_transform.is_contiguous()


def test_camera_to_json_gives_centre_and_camera_to_world_rotation():
    eye = np.array([1.0, 2.0, 3.0])
    w2c = look_at_world_to_camera(eye, np.zeros(3))
    info = CameraInfo(uid=0, R=w2c[:3, :3].T, T=w2c[:3, 3], FovY=focal2fov(40.0, 30),
                      FovX=focal2fov(50.0, 40), image_path="x.png", image_name="x", width=40,
                      height=30, mask_path=None)
    entry = camera_to_json(7, info)
    np.testing.assert_allclose(entry["position"], eye, atol=1e-12)
    np.testing.assert_allclose(entry["rotation"], np.linalg.inv(w2c)[:3, :3], atol=1e-12)
    assert (entry["id"], entry["img_name"], entry["width"], entry["height"]) == (7, "x", 40, 30)
    assert entry["fx"] == pytest.approx(50.0) and entry["fy"] == pytest.approx(40.0)


# ---------------------------------------------------------------------------------------
# Images


def test_rgb_image_and_ids_are_loaded_unchanged(tmp_path):
    rgb, ids, info = _random_view(tmp_path)
    camera = _load_one(info)
    np.testing.assert_allclose(camera.original_image.permute(1, 2, 0).numpy(), rgb / 255.0, atol=1e-6)
    assert camera.original_image.dtype == torch.float32
    assert camera.objects.dtype == torch.int64
    np.testing.assert_array_equal(camera.objects.numpy(), ids)
    assert (camera.image_name, camera.FoVx) == ("view", info.FovX)


@pytest.mark.parametrize("white_background, expected", [(True, 1.0), (False, 0.0)])
def test_rgba_is_composited_over_the_background(tmp_path, white_background, expected):
    bgra = np.zeros((4, 5, 4), dtype=np.uint8)
    bgra[..., 2] = 255          # red
    bgra[..., 3] = 0            # transparent ...
    bgra[0, 0, 3] = 255         # ... except one opaque pixel
    bgra[0, 1, 3] = 51          # and one 20 % opaque
    os.makedirs(tmp_path / "images")
    cv2.imwrite(str(tmp_path / "images" / "v.png"), bgra)
    info = _cam_info(tmp_path / "images" / "v.png", None, 5, 4)
    image = _load_one(info, white_background=white_background, allow_missing_masks=True)
    rgb = image.original_image.permute(1, 2, 0).numpy()
    np.testing.assert_allclose(rgb[0, 0], [1.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(rgb[0, 1], [0.2 + 0.8 * expected, 0.8 * expected, 0.8 * expected],
                               atol=1e-6)
    np.testing.assert_allclose(rgb[2, 3], [expected] * 3, atol=1e-6)


def test_grey_and_16_bit_images(tmp_path):
    os.makedirs(tmp_path / "images")
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    deep = (np.arange(36, dtype=np.uint16).reshape(3, 4, 3) * 1000)
    cv2.imwrite(str(tmp_path / "images" / "grey.png"), grey)
    cv2.imwrite(str(tmp_path / "images" / "deep.png"), deep[:, :, ::-1])
    infos = [_cam_info(tmp_path / "images" / f"{n}.png", None, 4, 3, n) for n in ("grey", "deep")]
    grey_cam, deep_cam = cameraList_from_camInfos(infos, 1.0, _args(allow_missing_masks=True))
    for channel in range(3):
        np.testing.assert_allclose(grey_cam.original_image[channel].numpy(), grey / 255.0, atol=1e-6)
    np.testing.assert_allclose(deep_cam.original_image.permute(1, 2, 0).numpy(), deep / 65535.0,
                               atol=1e-6)
    assert grey_cam.objects is None and [c.uid for c in (grey_cam, deep_cam)] == [0, 1]


def _garbage(path):
    path.write_bytes(b"this is not an image")


def _truncated(extension):
    def write(path):
        rgb = np.random.default_rng(1).integers(0, 256, (40, 50, 3), dtype=np.uint8)
        ok, encoded = cv2.imencode(extension, rgb)
        path.write_bytes(encoded.tobytes()[: int(len(encoded) * 0.8)])
    return write


@pytest.mark.parametrize("extension, write", [(".png", _garbage), (".png", _truncated(".png")),
                                              (".jpg", _truncated(".jpg"))],
                         ids=["garbage", "truncated_png", "truncated_jpeg"])
def test_unreadable_image_is_reported_with_its_path(tmp_path, extension, write):
    os.makedirs(tmp_path / "images")
    image_path = tmp_path / "images" / f"broken{extension}"
    write(image_path)
    info = _cam_info(image_path, None, 50, 40)
    with pytest.raises(DataError, match=str(image_path)):
        _load_one(info, allow_missing_masks=True)


def test_image_with_another_aspect_ratio_than_its_camera_is_refused(tmp_path):
    rgb, ids, info = _random_view(tmp_path, width=20, height=12)
    with pytest.raises(DataError, match=f"{info.image_path}.*aspect ratio"):
        _load_one(info._replace(width=20, height=20))


def test_downscaled_image_of_the_same_shape_is_accepted(tmp_path):
    """3DGS's `-i images_2`: the camera keeps the full size, the image is half as large."""
    rgb, ids, info = _random_view(tmp_path, width=20, height=11)
    camera = _load_one(info._replace(width=40, height=23))
    assert (camera.image_width, camera.image_height) == (20, 11)


# ---------------------------------------------------------------------------------------
# Masks


def test_missing_mask_is_an_error_unless_allowed(tmp_path):
    rgb, ids, info = _random_view(tmp_path)
    os.remove(info.mask_path)
    with pytest.raises(DataError, match=f"{info.image_path}.*{info.mask_path}.*--allow_missing_masks"):
        _load_one(info)
    assert _load_one(info, allow_missing_masks=True).objects is None
    with pytest.raises(DataError, match="--allow_missing_masks"):
        _load_one(info._replace(mask_path=None))


def test_mask_id_not_below_num_classes_names_file_and_id(tmp_path):
    rgb, ids, info = _random_view(tmp_path)
    ids[3, 4] = 40
    cv2.imwrite(info.mask_path, ids)
    with pytest.raises(DataError, match=f"{info.mask_path}: mask id 40 "):
        _load_one(info, num_classes=40)
    assert _load_one(info, num_classes=41).objects.max().item() == 40


def test_three_channel_mask_uses_its_first_channel_with_a_warning(tmp_path):
    rgb, ids, info = _random_view(tmp_path)
    cv2.imwrite(info.mask_path, np.stack([ids + 100, ids + 50, ids], axis=2))  # B, G, R
    with pytest.warns(DataWarning, match=f"{info.mask_path}.*first \\(red\\) channel"):
        camera = _load_one(info)
    np.testing.assert_array_equal(camera.objects.numpy(), ids)


def test_palette_mask_gives_its_indices(tmp_path):
    rgb, ids, info = _random_view(tmp_path)
    palette_image = Image.fromarray(ids, mode="P")
    palette_image.putpalette([(37 * i) % 256 for i in range(768)])
    palette_image.save(info.mask_path)
    np.testing.assert_array_equal(_load_one(info).objects.numpy(), ids)


def test_mask_of_another_size_is_resized_nearest_and_warned_once(tmp_path):
    infos, half_masks = [], []
    for index in range(2):
        rgb, ids, info = _random_view(tmp_path, name=f"v{index}", width=20, height=12, seed=index)
        half = ids[::2, ::2].copy()
        cv2.imwrite(info.mask_path, half)
        infos.append(info)
        half_masks.append(half)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cameras = cameraList_from_camInfos(infos, 1.0, _args())
    resize_warnings = [w for w in caught if "nearest neighbour" in str(w.message)]
    assert len(resize_warnings) == 1 and issubclass(resize_warnings[0].category, DataWarning)
    assert infos[0].mask_path in str(resize_warnings[0].message)
    for camera, half in zip(cameras, half_masks):
        np.testing.assert_array_equal(camera.objects.numpy(), half.repeat(2, 0).repeat(2, 1))


# ---------------------------------------------------------------------------------------
# Resolution (-r)


@pytest.mark.parametrize("size, resolution, scale, expected", [
    ((800, 600), -1, 1.0, (800, 600)),      # not wider than 1600: unchanged
    ((800, 600), -1, 2.0, (400, 300)),      # resolution_scale divides
    ((1700, 1001), -1, 1.0, (1600, 942)),   # 1001 * 1600 / 1700 = 942.1
    ((101, 51), 2, 1.0, (50, 26)),          # round(50.5) = 50 (to even), round(25.5) = 26
    ((800, 600), 4, 1.0, (200, 150)),
    ((800, 600), 8, 2.0, (50, 38)),         # 600 / 16 = 37.5 -> 38
    ((800, 600), 300, 1.0, (300, 225)),     # any other value is the target width
])
@pytest.mark.filterwarnings("ignore::utils.errors.DataWarning")
def test_target_resolution_follows_3dgs(size, resolution, scale, expected):
    assert target_resolution(*size, scale, resolution) == expected


def test_invalid_resolution_is_refused():
    with pytest.raises(ValueError, match="resolution"):
        target_resolution(100, 100, 1.0, 0)


def test_wide_images_are_downscaled_to_1600_with_one_message(tmp_path):
    infos = []
    for index in range(2):
        rgb, ids, info = _random_view(tmp_path, name=f"w{index}", width=1700, height=4, seed=index)
        infos.append(info)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cameras = cameraList_from_camInfos(infos, 1.0, _args())
    assert len([w for w in caught if "1600" in str(w.message)]) == 1
    assert [(c.image_width, c.image_height, tuple(c.objects.shape)) for c in cameras] == \
        [(1600, 4, (4, 1600))] * 2


def test_resolution_divisor_resizes_image_and_mask_alike(tmp_path):
    rng = np.random.default_rng(5)
    # 2x2 blocks of one colour and one id: halving must give one block per pixel exactly.
    blocks_rgb = rng.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    blocks_ids = rng.integers(0, 9, (6, 10), dtype=np.uint8)
    image_path, mask_path = _write_view(tmp_path, "b", blocks_rgb.repeat(2, 0).repeat(2, 1),
                                        blocks_ids.repeat(2, 0).repeat(2, 1))
    camera = _load_one(_cam_info(image_path, mask_path, 20, 12, "b"), resolution=2)
    np.testing.assert_allclose(camera.original_image.permute(1, 2, 0).numpy(), blocks_rgb / 255.0,
                               atol=1e-6)
    np.testing.assert_array_equal(camera.objects.numpy(), blocks_ids)


def test_downscaled_mask_takes_the_id_under_each_output_pixel_centre(tmp_path):
    """Shrinking 3x, output pixel (x, y) covers source pixels 3x..3x+2, 3y..3y+2; its
    centre lies in source pixel (3x+1, 3y+1), whose colour the area-average image is
    centred on too."""
    ids = np.arange(15 * 12, dtype=np.uint8).reshape(12, 15)
    rgb = np.zeros((12, 15, 3), dtype=np.uint8)
    image_path, mask_path = _write_view(tmp_path, "c", rgb, ids)
    camera = _load_one(_cam_info(image_path, mask_path, 15, 12, "c"), resolution=5)
    np.testing.assert_array_equal(camera.objects.numpy(), ids[1::3, 1::3])


# ---------------------------------------------------------------------------------------


IMPORT_EACH_FIRST = """
import importlib, sys
for module in ["utils.image_io", "scene.camera_loading", "scene.dataset_readers"]:
    for name in [n for n in sys.modules if n.split(".")[0] in ("scene", "utils")]:
        del sys.modules[name]  # forget the project's modules; torch & co. stay imported
    importlib.import_module(module)
"""


def test_modules_import_first_without_circular_import():
    """Importing one of these before `scene` must not trip over a circular import."""
    result = subprocess.run([sys.executable, "-c", IMPORT_EACH_FIRST], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
