"""Scene readers: COLMAP (binary, text), Blender and instant-ngp transforms, test split."""
import json
import math
import os
from types import SimpleNamespace

import cv2
import numpy as np
import pycolmap
import pytest
from plyfile import PlyData, PlyElement
from scipy.spatial.transform import Rotation

from scene.camera_loading import cameraList_from_camInfos
from scene.dataset_readers import (
    CameraInfo,
    getNerfppNorm,
    readColmapSceneInfo,
    readNerfSyntheticInfo,
    split_train_test,
)
from utils.errors import DataError, DataWarning
from utils.graphics_utils import focal2fov, fov2focal, getWorld2View2, look_at_world_to_camera

WIDTH, HEIGHT = 24, 16



def _orbit_w2c(count: int, radius: float = 4.0) -> list:
    """World-to-camera (4, 4) of `count` cameras around the origin, looking at it."""
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    return [look_at_world_to_camera(np.array([radius * np.cos(a), radius * np.sin(a), 1.0 + 0.1 * i]),
                                    np.zeros(3)) for i, a in enumerate(angles)]


def _write_images(folder, names, width=WIDTH, height=HEIGHT, seed=0):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        cv2.imwrite(os.path.join(folder, name), rng.integers(0, 256, (height, width, 3), np.uint8))


def _points(count=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(count, 3)), rng.integers(0, 256, (count, 3)).astype(np.uint8)


def _write_colmap_binary(model_dir, names, w2cs, model="PINHOLE", params=(20.0, 22.0, 12.0, 8.0),
                         points=None):
    """A COLMAP model written by pycolmap (current layout with rigs and frames)."""
    reconstruction = pycolmap.Reconstruction()
    reconstruction.add_camera_with_trivial_rig(pycolmap.Camera(
        camera_id=1, model=model, width=WIDTH, height=HEIGHT, params=list(params)))
    for image_id, (name, w2c) in enumerate(zip(names, w2cs), start=1):
        pose = pycolmap.Rigid3d(pycolmap.Rotation3d(w2c[:3, :3]), w2c[:3, 3])
        reconstruction.add_image_with_trivial_frame(
            pycolmap.Image(name=name, camera_id=1, image_id=image_id), pose)
    for xyz, rgb in zip(*(points if points is not None else _points())):
        reconstruction.add_point3D(xyz, pycolmap.Track(), rgb)
    os.makedirs(model_dir, exist_ok=True)
    reconstruction.write_binary(str(model_dir))


def _write_colmap_text(model_dir, names, w2cs, model="PINHOLE", params=(20.0, 22.0, 12.0, 8.0),
                       points=None):
    """A COLMAP model in the classic three-file text layout (cameras, images, points3D)."""
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "cameras.txt"), "w") as file:
        file.write(f"1 {model} {WIDTH} {HEIGHT} {' '.join(repr(p) for p in params)}\n")
    with open(os.path.join(model_dir, "images.txt"), "w") as file:
        for image_id, (name, w2c) in enumerate(zip(names, w2cs), start=1):
            x, y, z, w = Rotation.from_matrix(w2c[:3, :3]).as_quat()
            pose = " ".join(repr(float(v)) for v in (w, x, y, z, *w2c[:3, 3]))
            file.write(f"{image_id} {pose} 1 {name}\n\n")
    with open(os.path.join(model_dir, "points3D.txt"), "w") as file:
        for point_id, (xyz, rgb) in enumerate(zip(*(points if points is not None else _points())),
                                              start=1):
            file.write(f"{point_id} {' '.join(repr(float(v)) for v in xyz)} "
                       f"{' '.join(str(int(c)) for c in rgb)} 0.5\n")


def _colmap_scene(root, count=4, writer=_write_colmap_binary, model_dir="sparse/0", **kwargs):
    names = [f"img_{i:02d}.png" for i in range(count)]
    w2cs = _orbit_w2c(count)
    _write_images(os.path.join(root, "images"), names)
    writer(os.path.join(root, model_dir), names, w2cs, **kwargs)
    return names, w2cs


def _load_args(**overrides):
    values = dict(resolution=-1, white_background=False, num_classes=256,
                  allow_missing_masks=True, data_device="cpu")
    values.update(overrides)
    return SimpleNamespace(**values)


# ---------------------------------------------------------------------------------------
# COLMAP


def test_colmap_binary_and_text_give_the_same_cameras_and_points(tmp_path):
    points = _points(7)
    scenes = {}
    for writer in (_write_colmap_binary, _write_colmap_text):
        root = tmp_path / writer.__name__
        names, w2cs = _colmap_scene(root, writer=writer, points=points)
        scenes[writer.__name__] = readColmapSceneInfo(str(root), None, False)
    binary, text = scenes["_write_colmap_binary"], scenes["_write_colmap_text"]
    for info in (binary, text):
        assert [cam.image_name for cam in info.train_cameras] == [n[:-4] for n in names]
        for cam, w2c in zip(info.train_cameras, w2cs):
            np.testing.assert_allclose(cam.R, w2c[:3, :3].T, atol=1e-12)
            np.testing.assert_allclose(cam.T, w2c[:3, 3], atol=1e-12)
            assert cam.FovX == pytest.approx(2 * math.atan(WIDTH / (2 * 20.0)))
            assert cam.FovY == pytest.approx(2 * math.atan(HEIGHT / (2 * 22.0)))
            assert (cam.width, cam.height) == (WIDTH, HEIGHT)
            assert cam.mask_path.endswith(os.path.join("object_mask", cam.image_name + ".png"))
        np.testing.assert_allclose(info.point_cloud.points, points[0], atol=1e-12)
        np.testing.assert_allclose(info.point_cloud.colors, points[1] / 255.0)
        assert info.test_cameras == [] and info.ply_path is None
    for cam_b, cam_t in zip(binary.train_cameras, text.train_cameras):
        np.testing.assert_allclose(cam_b.R, cam_t.R, atol=1e-12)
        np.testing.assert_allclose(cam_b.T, cam_t.T, atol=1e-12)
        assert (cam_b.FovX, cam_b.FovY) == (cam_t.FovX, cam_t.FovY)


def test_colmap_model_directly_in_sparse(tmp_path):
    names, w2cs = _colmap_scene(tmp_path, model_dir="sparse")
    info = readColmapSceneInfo(str(tmp_path), None, False)
    np.testing.assert_allclose(info.train_cameras[1].T, w2cs[1][:3, 3], atol=1e-12)


def test_simple_pinhole_uses_its_focal_on_both_axes(tmp_path):
    _colmap_scene(tmp_path, model="SIMPLE_PINHOLE", params=(30.0, 12.0, 8.0))
    cam = readColmapSceneInfo(str(tmp_path), None, False).train_cameras[0]
    assert cam.FovX == pytest.approx(2 * math.atan(WIDTH / 60.0))
    assert cam.FovY == pytest.approx(2 * math.atan(HEIGHT / 60.0))


@pytest.mark.parametrize("writer, model_file", [(_write_colmap_binary, "cameras.bin"),
                                                (_write_colmap_text, "cameras.txt")])
def test_distorted_colmap_camera_is_refused_with_an_undistortion_hint(tmp_path, writer, model_file):
    _colmap_scene(tmp_path, writer=writer, model="OPENCV",
                  params=(20.0, 22.0, 12.0, 8.0, 0.1, 0.0, 0.0, 0.0))
    expected_file = os.path.join(str(tmp_path), "sparse", "0", model_file)
    with pytest.raises(DataError, match=f"{expected_file}.*OPENCV.*colmap image_undistorter"):
        readColmapSceneInfo(str(tmp_path), None, False)


def test_missing_images_folder_is_named(tmp_path):
    _colmap_scene(tmp_path)
    os.rename(tmp_path / "images", tmp_path / "photos")
    with pytest.raises(DataError, match=f"{tmp_path / 'images'}: images folder does not exist"):
        readColmapSceneInfo(str(tmp_path), None, False)
    assert len(readColmapSceneInfo(str(tmp_path), "photos", False).train_cameras) == 4


def test_missing_sparse_folder_is_named(tmp_path):
    _write_images(tmp_path / "images", ["a.png"])
    with pytest.raises(DataError, match=f"{tmp_path / 'sparse'}: COLMAP model folder does not exist"):
        readColmapSceneInfo(str(tmp_path), None, False)
    os.makedirs(tmp_path / "sparse" / "0")
    with pytest.raises(DataError, match=f"{tmp_path / 'sparse'}: no COLMAP model"):
        readColmapSceneInfo(str(tmp_path), None, False)


def test_image_listed_in_the_model_but_missing_is_named(tmp_path):
    names, _ = _colmap_scene(tmp_path)
    os.remove(tmp_path / "images" / names[2])
    with pytest.raises(DataError, match=f"{tmp_path / 'images' / names[2]}: image listed"):
        readColmapSceneInfo(str(tmp_path), None, False)


def test_empty_point_cloud_starts_from_random_points_and_writes_nothing(tmp_path):
    _colmap_scene(tmp_path, points=(np.zeros((0, 3)), np.zeros((0, 3), np.uint8)))
    files_before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.warns(DataWarning, match="100000 random points.*nothing .*is written"):
        info = readColmapSceneInfo(str(tmp_path), None, False)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == files_before
    centre, radius = -info.nerf_normalization["translate"], info.nerf_normalization["radius"]
    assert info.point_cloud.points.shape == (100_000, 3)
    assert np.all(np.abs(info.point_cloud.points - centre) <= radius)
    # Uniform in the cube: each coordinate spans nearly the whole side.
    assert np.all(np.ptp(info.point_cloud.points, axis=0) > 1.99 * radius)


def test_nerfpp_normalisation_is_mean_centre_and_1_1_times_largest_distance():
    centres = np.array([[1.0, 0.0, 0.0], [3.0, 0.0, 0.0], [2.0, 2.0, 0.0]])
    rotation = Rotation.from_euler("xyz", [0.3, -0.2, 0.5]).as_matrix()  # world-to-camera
    cams = [CameraInfo(uid=i, R=rotation.T, T=-rotation @ c, FovY=1.0, FovX=1.0, image_path="",
                       image_name=str(i), width=1, height=1, mask_path=None)
            for i, c in enumerate(centres)]
    norm = getNerfppNorm(cams)
    mean = np.array([2.0, 2.0 / 3.0, 0.0])
    np.testing.assert_allclose(norm["translate"], -mean, atol=1e-12)
    assert norm["radius"] == pytest.approx(1.1 * np.linalg.norm(centres[2] - mean))


# ---------------------------------------------------------------------------------------
# Test split


def _named_cams(names):
    return [CameraInfo(uid=i, R=np.eye(3), T=np.zeros(3), FovY=1.0, FovX=1.0, image_path="",
                       image_name=name, width=1, height=1, mask_path=None)
            for i, name in enumerate(names)]


def test_split_holds_out_every_8th_view_sorted_by_name(tmp_path):
    names = [f"v{i:02d}" for i in range(20)]
    shuffled = list(np.random.default_rng(0).permutation(names))
    train, test = split_train_test(_named_cams(shuffled), str(tmp_path), True)
    assert [c.image_name for c in test] == ["v00", "v08", "v16"]
    assert [c.image_name for c in train] == [n for n in names if n not in ("v00", "v08", "v16")]
    train, test = split_train_test(_named_cams(shuffled), str(tmp_path), False)
    assert [c.image_name for c in train] == names and test == []


def test_split_by_test_mask_folders(tmp_path):
    for name in ("v03", "v11"):
        os.makedirs(tmp_path / "test_mask" / name)
    (tmp_path / "test_mask" / "README.txt").write_text("files are not views")
    names = [f"v{i:02d}" for i in range(12)]
    train, test = split_train_test(_named_cams(names), str(tmp_path), True)
    assert [c.image_name for c in test] == ["v03", "v11"]
    assert len(train) == 10
    os.makedirs(tmp_path / "test_mask" / "v99")
    with pytest.raises(DataError, match=f"{tmp_path / 'test_mask'}: folders \\['v99'\\]"):
        split_train_test(_named_cams(names), str(tmp_path), True)


def test_colmap_reader_applies_the_split(tmp_path):
    names, _ = _colmap_scene(tmp_path, count=10)
    os.makedirs(tmp_path / "test_mask" / "img_04")
    info = readColmapSceneInfo(str(tmp_path), None, True)
    assert [c.image_name for c in info.test_cameras] == ["img_04"]
    os.rmdir(tmp_path / "test_mask" / "img_04")
    os.rmdir(tmp_path / "test_mask")
    info = readColmapSceneInfo(str(tmp_path), None, True, llffhold=4)
    assert [c.image_name for c in info.test_cameras] == ["img_00", "img_04", "img_08"]


# ---------------------------------------------------------------------------------------
# Blender / NeRF synthetic


def _opengl_c2w(w2c):
    c2w = np.linalg.inv(w2c)
    c2w[:3, 1:3] *= -1
    return c2w


def _write_json(path, content):
    with open(path, "w") as file:
        json.dump(content, file)


def _blender_scene(root, angle_x=0.8, width=40, height=30):
    """Two train views and one test view; file paths without extension, as Blender's."""
    c2w_front = np.eye(4)
    c2w_front[:3, 3] = [0.0, 0.0, 4.0]   # OpenGL camera at z = 4 looking down -z
    c2ws = {"train": [c2w_front, _opengl_c2w(_orbit_w2c(3)[1])],
            "test": [_opengl_c2w(_orbit_w2c(3)[2])]}
    for split, matrices in c2ws.items():
        _write_images(root / split, [f"r_{i}.png" for i in range(len(matrices))], width, height)
        _write_json(root / f"transforms_{split}.json", {
            "camera_angle_x": angle_x,
            "frames": [{"file_path": f"./{split}/r_{i}", "transform_matrix": m.tolist()}
                       for i, m in enumerate(matrices)]})
    return c2ws


def test_blender_cameras_world_view_and_fov(tmp_path):
    _blender_scene(tmp_path)
    with pytest.warns(DataWarning, match="100000 random points"):
        info = readNerfSyntheticInfo(str(tmp_path), False, True)
    assert [c.image_name for c in info.train_cameras] == ["train/r_0", "train/r_1"]
    assert [c.image_name for c in info.test_cameras] == ["test/r_0"]
    front = info.train_cameras[0]
    # By hand: OpenGL camera at (0, 0, 4) looking down -z. In COLMAP axes x stays, y and z
    # flip: view = (x, -y, 4 - z).
    world_view = getWorld2View2(front.R, front.T)
    for point in ([0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [-0.5, 0.3, -2.0]):
        x, y, z = point
        np.testing.assert_allclose(world_view @ [x, y, z, 1.0], [x, -y, 4.0 - z, 1.0], atol=1e-6)
    focal = fov2focal(0.8, 40)
    assert front.FovX == pytest.approx(0.8)
    assert front.FovY == pytest.approx(focal2fov(focal, 30))
    assert (front.width, front.height) == (40, 30) and front.undistortion is None
    assert front.mask_path == os.path.join(str(tmp_path), "object_mask", "train", "r_0.png")
    camera = cameraList_from_camInfos([front], 1.0, _load_args())[0]
    row = np.array([1.0, 2.0, 3.0, 1.0], dtype=np.float32)
    np.testing.assert_allclose(row @ camera.world_view_transform.numpy(), [1.0, -2.0, 1.0, 1.0],
                               atol=1e-6)
    # Without eval the test views train too.
    info = readNerfSyntheticInfo(str(tmp_path), False, False)
    assert len(info.train_cameras) == 3 and info.test_cameras == []


def test_blender_random_points_fill_3dgs_cube_and_points3d_ply_is_used(tmp_path):
    _blender_scene(tmp_path)
    with pytest.warns(DataWarning, match=r"centred at \[0.0, 0.0, 0.0\] with half-size 1.3\."):
        info = readNerfSyntheticInfo(str(tmp_path), True, False)
    assert np.abs(info.point_cloud.points).max() <= 1.3 and info.ply_path is None
    assert np.abs(info.point_cloud.points).max() > 1.29
    xyz, rgb = _points(6, seed=3)
    _write_points_ply(tmp_path / "points3d.ply", xyz, rgb)
    info = readNerfSyntheticInfo(str(tmp_path), True, False)
    assert info.ply_path == str(tmp_path / "points3d.ply")
    np.testing.assert_allclose(info.point_cloud.points, xyz, atol=1e-6)
    np.testing.assert_allclose(info.point_cloud.colors, rgb / 255.0)


def _write_points_ply(path, xyz, rgb):
    vertices = np.empty(len(xyz), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"),
                                         ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    for axis, name in enumerate("xyz"):
        vertices[name] = xyz[:, axis]
    for channel, name in enumerate(("red", "green", "blue")):
        vertices[name] = rgb[:, channel]
    PlyData([PlyElement.describe(vertices, "vertex")]).write(str(path))


def test_transforms_frame_without_image_is_named(tmp_path):
    _blender_scene(tmp_path)
    os.remove(tmp_path / "train" / "r_1.png")
    with pytest.raises(DataError, match=f"{tmp_path / 'train' / 'r_1'}: image of a frame in "
                                        f"{tmp_path / 'transforms_train.json'}"):
        readNerfSyntheticInfo(str(tmp_path), False, False)


# ---------------------------------------------------------------------------------------
# instant-ngp transforms.json (distorted cameras, undistorted at load)

NGP_W, NGP_H = 64, 48
NGP_CAMERA = {"fl_x": 50.0, "fl_y": 52.0, "cx": 34.0, "cy": 22.5, "w": NGP_W, "h": NGP_H,
              "k1": -0.15, "k2": 0.03, "p1": 0.002, "p2": -0.001}


def _ngp_scene(root, count=4, camera=NGP_CAMERA, frame_overrides=None, images=None):
    names = [f"f_{i:02d}.png" for i in range(count)]
    if images is None:
        _write_images(root / "images", names, NGP_W, NGP_H)
    else:
        os.makedirs(root / "images", exist_ok=True)
        for name, image in zip(names, images):
            cv2.imwrite(str(root / "images" / name), image)
    frames = [{"file_path": f"images/{name}", "transform_matrix": _opengl_c2w(w2c).tolist()}
              for name, w2c in zip(names, _orbit_w2c(count))]
    for index, override in (frame_overrides or {}).items():
        frames[index].update(override)
    _write_json(root / "transforms.json", {**camera, "frames": frames})


def _source_K(camera):
    # instant-ngp's principal point has pixel (0, 0)'s corner at the origin; OpenCV its centre.
    return np.array([[camera["fl_x"], 0, camera["cx"] - 0.5],
                     [0, camera["fl_y"], camera["cy"] - 0.5],
                     [0, 0, 1.0]])


def _dist(camera):
    return np.array([camera.get(k, 0.0) for k in ("k1", "k2", "p1", "p2", "k3")])


def test_instant_ngp_undistortion_moves_points_where_cv2_says(tmp_path):
    """A bright spot at a known pixel of the distorted image lands, after loading, where
    cv2.undistortPoints puts that pixel in the target pinhole camera."""
    source_pixel = np.array([50.0, 12.0])
    yy, xx = np.mgrid[0:NGP_H, 0:NGP_W]
    spot = np.exp(-((xx - source_pixel[0]) ** 2 + (yy - source_pixel[1]) ** 2) / (2 * 1.5 ** 2))
    image = np.repeat((spot * 65535).astype(np.uint16)[:, :, None], 3, axis=2)
    _ngp_scene(tmp_path, count=1, images=[image])
    with pytest.warns(DataWarning, match="random points"):
        info = readNerfSyntheticInfo(str(tmp_path), False, False)
    cam_info = info.train_cameras[0]
    target_K = cam_info.undistortion.target_K
    assert target_K[0, 2] == (NGP_W - 1) / 2 and target_K[1, 2] == (NGP_H - 1) / 2
    assert target_K[0, 0] / target_K[1, 1] == pytest.approx(50.0 / 52.0)
    assert cam_info.FovX == pytest.approx(focal2fov(target_K[0, 0], NGP_W))
    assert cam_info.FovY == pytest.approx(focal2fov(target_K[1, 1], NGP_H))

    expected = cv2.undistortPoints(source_pixel.reshape(1, 1, 2), _source_K(NGP_CAMERA),
                                   _dist(NGP_CAMERA), P=target_K).reshape(2)
    camera = cameraList_from_camInfos([cam_info], 1.0, _load_args())[0]
    loaded = camera.original_image[0].numpy().astype(np.float64)
    weights = np.clip(loaded - 0.05, 0, None)  # the spot only, not the faint tail
    centroid = np.array([(weights * xx).sum(), (weights * yy).sum()]) / weights.sum()
    np.testing.assert_allclose(centroid, expected, atol=0.15)
    assert np.linalg.norm(expected - source_pixel) > 1.0  # far more than the tolerance


def test_instant_ngp_target_camera_sees_only_the_recorded_image_and_no_less(tmp_path):
    """Every target pixel maps inside the source image, and the border is reached (the
    zoom is the smallest that leaves no blank pixel)."""
    _ngp_scene(tmp_path, count=1)
    with pytest.warns(DataWarning):
        cam_info = readNerfSyntheticInfo(str(tmp_path), False, False).train_cameras[0]
    target_K = cam_info.undistortion.target_K
    xs, ys = np.arange(NGP_W, dtype=np.float64), np.arange(NGP_H, dtype=np.float64)
    border = np.concatenate([np.stack([xs, np.zeros(NGP_W)], 1),
                             np.stack([xs, np.full(NGP_W, NGP_H - 1.0)], 1),
                             np.stack([np.zeros(NGP_H), ys], 1),
                             np.stack([np.full(NGP_H, NGP_W - 1.0), ys], 1)])
    rays = np.stack([(border[:, 0] - target_K[0, 2]) / target_K[0, 0],
                     (border[:, 1] - target_K[1, 2]) / target_K[1, 1], np.ones(len(border))], 1)
    source, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), _source_K(NGP_CAMERA),
                                  _dist(NGP_CAMERA))
    source = source.reshape(-1, 2)
    tolerance = 0.02
    assert source[:, 0].min() >= -tolerance and source[:, 0].max() <= NGP_W - 1 + tolerance
    assert source[:, 1].min() >= -tolerance and source[:, 1].max() <= NGP_H - 1 + tolerance
    gaps = [source[:, 0].min(), NGP_W - 1 - source[:, 0].max(),
            source[:, 1].min(), NGP_H - 1 - source[:, 1].max()]
    assert min(gaps) < 0.05


def test_instant_ngp_per_frame_intrinsics_override_the_global_ones(tmp_path):
    centred = {"fl_x": 40.0, "fl_y": 40.0, "cx": NGP_W / 2, "cy": NGP_H / 2, "w": NGP_W, "h": NGP_H}
    _ngp_scene(tmp_path, count=2, camera=centred, frame_overrides={1: {"fl_x": 80.0, "k1": 0.1}})
    with pytest.warns(DataWarning):
        first, second = readNerfSyntheticInfo(str(tmp_path), False, False).train_cameras
    assert first.undistortion is None  # centred pinhole: used as is
    assert first.FovX == pytest.approx(focal2fov(40.0, NGP_W))
    assert first.FovY == pytest.approx(focal2fov(40.0, NGP_H))
    assert second.undistortion is not None
    np.testing.assert_allclose(second.undistortion.source_K[0, 0], 80.0)
    np.testing.assert_allclose(second.undistortion.dist_coeffs, [0.1, 0, 0, 0, 0])
    assert [first.image_name, second.image_name] == ["f_00", "f_01"]
    assert first.mask_path == os.path.join(str(tmp_path), "object_mask", "f_00.png")


def test_instant_ngp_split_follows_test_mask_then_llffhold(tmp_path):
    _ngp_scene(tmp_path, count=9)
    with pytest.warns(DataWarning):
        info = readNerfSyntheticInfo(str(tmp_path), False, True)
    assert [c.image_name for c in info.test_cameras] == ["f_00", "f_08"]
    os.makedirs(tmp_path / "test_mask" / "f_05")
    info = readNerfSyntheticInfo(str(tmp_path), False, True)
    assert [c.image_name for c in info.test_cameras] == ["f_05"]
    assert len(info.train_cameras) == 8


def test_instant_ngp_image_of_another_size_than_its_intrinsics_is_named(tmp_path):
    _ngp_scene(tmp_path, count=1, images=[np.zeros((NGP_H // 2, NGP_W // 2, 3), np.uint8)])
    with pytest.warns(DataWarning):
        cam_info = readNerfSyntheticInfo(str(tmp_path), False, False).train_cameras[0]
    with pytest.raises(DataError, match=f"{cam_info.image_path}: image is 32x24 but its camera "
                                        "intrinsics are for 64x48"):
        cameraList_from_camInfos([cam_info], 1.0, _load_args())


def test_instant_ngp_fisheye_is_refused(tmp_path):
    _ngp_scene(tmp_path, count=1, camera={**NGP_CAMERA, "camera_model": "OPENCV_FISHEYE"})
    with pytest.raises(DataError, match=f"{tmp_path / 'transforms.json'}: frame 0 .*OPENCV_FISHEYE"):
        readNerfSyntheticInfo(str(tmp_path), False, False)


def test_instant_ngp_mask_is_undistorted_with_the_image(tmp_path):
    """Ids go through the same remap (nearest): no new id appears, and the id boundary
    follows the image's."""
    yy, xx = np.mgrid[0:NGP_H, 0:NGP_W]
    ids = np.where(xx < 40, 3, 9).astype(np.uint8)
    image = np.repeat(np.where(xx < 40, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    _ngp_scene(tmp_path, count=1, images=[image])
    os.makedirs(tmp_path / "object_mask")
    cv2.imwrite(str(tmp_path / "object_mask" / "f_00.png"), ids)
    with pytest.warns(DataWarning):
        cam_info = readNerfSyntheticInfo(str(tmp_path), False, False).train_cameras[0]
    camera = cameraList_from_camInfos([cam_info], 1.0, _load_args(allow_missing_masks=False))[0]
    objects = camera.objects.numpy()
    assert set(np.unique(objects)) == {3, 9}
    bright = camera.original_image[0].numpy() > 0.5
    assert np.mean(bright == (objects == 9)) > 0.98  # boundary pixels may differ
