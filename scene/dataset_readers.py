"""Scene readers: COLMAP models (via pycolmap) and NeRF/Blender/instant-ngp transforms files.

A reader returns a `SceneInfo`: cameras in the 3DGS conventions, the initial point cloud,
the train/test split and the NeRF++ normalisation. It never loads pixels (see
`scene.camera_loading`) and never writes into the scene folder: the point cloud stays in
memory (3DGS caches `points3D.ply` beside the input; we do not).

View names (`image_name`) are image paths relative to the images' folder, without the
extension; the view's object mask is `<scene>/<object_path>/<image_name>.png`.
"""
from __future__ import annotations

import itertools
import json
import os
from typing import NamedTuple, Optional

import cv2
import numpy as np
from plyfile import PlyData

from scene.camera_validation import check_camera_infos, check_intrinsics, check_points, ensure_scene_extent
from scene.cameras import camera_centre
from utils import image_io
from utils.errors import DataError, warn_once
from utils.graphics_utils import BasicPointCloud, focal2fov, fov2focal
from utils.pycolmap_loader import pycolmap
from utils.sh_utils import SH2RGB

RANDOM_INIT_POINTS = 100_000
BLENDER_INIT_HALF_SIZE = 1.3  # 3DGS's random cube for the synthetic Blender scenes
PINHOLE_MODELS = ("PINHOLE", "SIMPLE_PINHOLE")


class Undistortion(NamedTuple):
    """How to resample a recorded (distorted) image onto the view's pinhole camera.

    Intrinsics are 3x3 in OpenCV's convention (pixel centres at integer coordinates).
    """
    source_K: np.ndarray       # (3, 3) camera that recorded the image
    dist_coeffs: np.ndarray    # (5,) OpenCV k1, k2, p1, p2, k3
    source_size: tuple         # (width, height) of the recorded image
    target_K: np.ndarray       # (3, 3) pinhole camera, principal point at the image centre


class CameraInfo(NamedTuple):
    uid: int
    R: np.ndarray              # (3, 3) transposed world-to-camera rotation (3DGS)
    T: np.ndarray              # (3,) world-to-camera translation
    FovY: float
    FovX: float
    image_path: str
    image_name: str
    width: int
    height: int
    mask_path: Optional[str]   # where the object mask should be; None if no mask folder is set
    undistortion: Optional[Undistortion] = None  # None: the image is already pinhole


class SceneInfo(NamedTuple):
    point_cloud: BasicPointCloud
    train_cameras: list
    test_cameras: list
    nerf_normalization: dict   # translate (3,), radius
    ply_path: Optional[str]    # the .ply the points were read from; None if not from a file


# ---------------------------------------------------------------------------------------
# Shared by every reader


def getNerfppNorm(cam_infos: list) -> dict:
    """Centre and radius of the cameras as 3DGS: translate = -(mean camera centre),
    radius = 1.1 * largest distance of a camera centre to that mean."""
    if not cam_infos:
        raise DataError("no training views: cannot normalise the scene")
    centres = np.stack([camera_centre(cam.R, cam.T) for cam in cam_infos])
    centre = centres.mean(axis=0)
    radius = 1.1 * float(np.linalg.norm(centres - centre, axis=1).max())
    return {"translate": -centre, "radius": radius}


def split_train_test(cam_infos: list, scene_path: str, eval: bool,
                     llffhold: int = 8) -> tuple[list, list]:
    """Train and test views, each sorted by name.

    Without `eval` every view trains. With it, the test views are those whose name is a
    folder of `<scene>/test_mask/` when that folder exists, else every `llffhold`-th view.
    """
    cam_infos = sorted(cam_infos, key=lambda cam: cam.image_name)
    if not eval:
        return cam_infos, []
    test_mask_dir = os.path.join(scene_path, "test_mask")
    if os.path.isdir(test_mask_dir):
        test_names = {entry.name for entry in os.scandir(test_mask_dir) if entry.is_dir()}
        unknown = sorted(test_names - {cam.image_name for cam in cam_infos})
        if unknown:
            raise DataError(f"{test_mask_dir}: folders {unknown[:5]} do not name any view of "
                            "the scene (expected one folder per test image, named by its stem)")
        is_test = [cam.image_name in test_names for cam in cam_infos]
    else:
        is_test = [index % llffhold == 0 for index in range(len(cam_infos))]
    train = [cam for cam, test in zip(cam_infos, is_test) if not test]
    test = [cam for cam, test in zip(cam_infos, is_test) if test]
    return train, test


def random_point_cloud(centre: np.ndarray, half_size: float, count: int = RANDOM_INIT_POINTS,
                       seed: int = 0) -> BasicPointCloud:
    """`count` points uniform in the cube centre +- half_size, grey-ish colours as 3DGS."""
    rng = np.random.default_rng(seed)
    points = centre + rng.uniform(-half_size, half_size, size=(count, 3))
    colors = SH2RGB(rng.random((count, 3)) / 255.0)
    return BasicPointCloud(points=points, colors=colors, normals=np.zeros((count, 3)))


def fetchPly(path: str) -> BasicPointCloud:
    """Points (x, y, z), colours (red, green, blue as uint8) and optional normals of a .ply."""
    try:
        vertices = PlyData.read(path)["vertex"]
    except (OSError, ValueError, KeyError) as error:
        raise DataError(f"{path}: cannot read a vertex element from the .ply ({error})") from error
    names = set(vertices.data.dtype.names)
    missing = [name for name in ("x", "y", "z", "red", "green", "blue") if name not in names]
    if missing:
        raise DataError(f"{path}: the .ply vertices lack the properties {missing}")
    points = np.stack([vertices["x"], vertices["y"], vertices["z"]], axis=1).astype(np.float64)
    colors = np.stack([vertices["red"], vertices["green"], vertices["blue"]], axis=1) / 255.0
    if {"nx", "ny", "nz"} <= names:
        normals = np.stack([vertices["nx"], vertices["ny"], vertices["nz"]], axis=1)
    else:
        normals = np.zeros_like(points)
    return BasicPointCloud(points=points, colors=colors, normals=normals)


def _mask_path(scene_path: str, object_path: Optional[str], image_name: str) -> Optional[str]:
    return os.path.join(scene_path, object_path, image_name + ".png") if object_path else None


def _random_init_warning(source: str, cloud: BasicPointCloud, centre: np.ndarray,
                         half_size: float, reason: str = "no initial points") -> None:
    warn_once(f"random_init:{source}",
              f"{source}: {reason}; starting from {len(cloud.points)} random points in "
              f"the cube centred at {np.round(centre, 3).tolist()} with half-size {half_size:.3g}. "
              "The points are kept in memory: nothing (no points3D.ply cache) is written into "
              "the scene folder.")


# ---------------------------------------------------------------------------------------
# COLMAP


def readColmapSceneInfo(path: str, images: Optional[str], eval: bool,
                        object_path: str = "object_mask", llffhold: int = 8,
                        random_init: bool = False) -> SceneInfo:
    """Read `<path>/sparse/0` (or `<path>/sparse`), binary or text, with images in
    `<path>/<images>` (default "images"). Only PINHOLE and SIMPLE_PINHOLE cameras.
    `random_init` (GG's flag) starts from random points even where the model has points."""
    model_dir = find_colmap_model(path)
    images_dir = os.path.join(path, images or "images")
    if not os.path.isdir(images_dir):
        raise DataError(f"{images_dir}: images folder does not exist")
    reconstruction = _read_reconstruction(model_dir)
    cam_infos = _colmap_camera_infos(reconstruction, model_dir, images_dir, path, object_path)
    check_camera_infos(cam_infos, _colmap_file(model_dir, "images") or model_dir)
    train, test = split_train_test(cam_infos, path, eval, llffhold)
    nerf_normalization = getNerfppNorm(train)
    point_cloud = _colmap_point_cloud(reconstruction)
    check_points(point_cloud.points, _colmap_file(model_dir, "points3D") or model_dir)
    nerf_normalization = ensure_scene_extent(nerf_normalization, point_cloud.points, model_dir)
    if random_init or len(point_cloud.points) == 0:
        centre, half_size = -nerf_normalization["translate"], nerf_normalization["radius"]
        point_cloud = random_point_cloud(centre, half_size)
        _random_init_warning(model_dir, point_cloud, centre, half_size,
                             "--random_init" if random_init else "no initial points")
    return SceneInfo(point_cloud=point_cloud, train_cameras=train, test_cameras=test,
                     nerf_normalization=nerf_normalization, ply_path=None)


def find_colmap_model(path: str) -> str:
    """The folder holding the COLMAP model: `sparse/0` if it has one, else `sparse`."""
    sparse_dir = os.path.join(path, "sparse")
    if not os.path.isdir(sparse_dir):
        raise DataError(f"{sparse_dir}: COLMAP model folder does not exist")
    for candidate in (os.path.join(sparse_dir, "0"), sparse_dir):
        if _colmap_file(candidate, "cameras") is not None:
            return candidate
    raise DataError(f"{sparse_dir}: no COLMAP model (cameras.bin or cameras.txt) in "
                    f"{os.path.join(sparse_dir, '0')} or {sparse_dir}")


def _colmap_file(model_dir: str, stem: str) -> Optional[str]:
    """`<stem>.bin` or `<stem>.txt` in that order (pycolmap prefers binary), else None."""
    for extension in (".bin", ".txt"):
        candidate = os.path.join(model_dir, stem + extension)
        if os.path.isfile(candidate):
            return candidate
    return None


def _read_reconstruction(model_dir: str) -> pycolmap.Reconstruction:
    try:
        return pycolmap.Reconstruction(model_dir)
    except (ValueError, RuntimeError) as error:
        raise DataError(f"{model_dir}: cannot read the COLMAP model ({error})") from error


def _colmap_camera_infos(reconstruction: pycolmap.Reconstruction, model_dir: str,
                         images_dir: str, scene_path: str, object_path: str) -> list:
    cameras_file = _colmap_file(model_dir, "cameras")
    cam_infos = []
    for image_id in reconstruction.reg_image_ids():
        image = reconstruction.images[image_id]
        camera = reconstruction.cameras[image.camera_id]
        fx, fy = _pinhole_focals(camera, cameras_file)
        check_intrinsics(fx, fy, camera.width, camera.height,
                         f"{cameras_file}: camera {camera.camera_id} (image {image.name})")
        # `cam_from_world` is a method in pycolmap >= 3.12 and a property before.
        pose = image.cam_from_world() if callable(image.cam_from_world) else image.cam_from_world
        image_path = os.path.join(images_dir, image.name)
        if not os.path.isfile(image_path):
            raise DataError(f"{image_path}: image listed in the COLMAP model {model_dir} "
                            "does not exist")
        image_name = os.path.splitext(image.name)[0]
        cam_infos.append(CameraInfo(
            uid=image_id, R=pose.rotation.matrix().T, T=np.asarray(pose.translation),
            FovY=focal2fov(fy, camera.height), FovX=focal2fov(fx, camera.width),
            image_path=image_path, image_name=image_name,
            width=camera.width, height=camera.height,
            mask_path=_mask_path(scene_path, object_path, image_name)))
    if not cam_infos:
        raise DataError(f"{model_dir}: the COLMAP model has no registered images")
    return cam_infos


def _pinhole_focals(camera: pycolmap.Camera, cameras_file: str) -> tuple[float, float]:
    """(fx, fy) of a pinhole camera; any other model is refused (3DGS needs undistorted images)."""
    model = camera.model.name
    if model == "SIMPLE_PINHOLE":
        return float(camera.params[0]), float(camera.params[0])
    if model == "PINHOLE":
        return float(camera.params[0]), float(camera.params[1])
    raise DataError(
        f"{cameras_file}: camera {camera.camera_id} uses the COLMAP model {model}; only "
        f"{' and '.join(PINHOLE_MODELS)} are supported. Undistort the images first, e.g. "
        "`colmap image_undistorter --image_path <images> --input_path <sparse/0> "
        "--output_path <new scene> --output_type COLMAP`.")


def _colmap_point_cloud(reconstruction: pycolmap.Reconstruction) -> BasicPointCloud:
    points3D = reconstruction.points3D
    ids = sorted(points3D.keys())
    xyz = np.array([points3D[i].xyz for i in ids], dtype=np.float64).reshape(-1, 3)
    rgb = np.array([points3D[i].color for i in ids], dtype=np.float64).reshape(-1, 3) / 255.0
    return BasicPointCloud(points=xyz, colors=rgb, normals=np.zeros_like(xyz))


# ---------------------------------------------------------------------------------------
# NeRF / Blender / instant-ngp transforms


def readNerfSyntheticInfo(path: str, white_background: bool, eval: bool,
                          object_path: str = "object_mask", llffhold: int = 8,
                          random_init: bool = False) -> SceneInfo:
    """Read a transforms scene: Blender synthetic (`transforms_train.json`, and
    `transforms_test.json` as the test split) or the instant-ngp form (one
    `transforms.json`, split as COLMAP scenes: `test_mask/` folders, else every
    `llffhold`-th view).

    `white_background` is accepted for 3DGS's signature; images are composited over the
    background when they are loaded (`scene.camera_loading`), not here.

    Points: the json's `ply_file_path` (nerfstudio) or `points3d.ply` if present, else
    random: 3DGS's 100k points in [-1.3, 1.3]^3 for Blender scenes, and as many in the
    cameras' cube (centre and radius of `getNerfppNorm`) for the instant-ngp form.
    """
    train_json = os.path.join(path, "transforms_train.json")
    test_json = os.path.join(path, "transforms_test.json")
    single_json = os.path.join(path, "transforms.json")
    blender = os.path.isfile(train_json)
    if blender:
        json_paths = [train_json] + ([test_json] if os.path.isfile(test_json) else [])
    elif os.path.isfile(single_json):
        json_paths = [single_json]
    else:
        raise DataError(f"{path}: neither transforms_train.json nor transforms.json exists")

    contents = [_load_json(json_path) for json_path in json_paths]
    frames_per_file = [_read_frames(path, json_path, content)
                       for json_path, content in zip(json_paths, contents)]
    all_frames = sum(frames_per_file, [])
    images_root = os.path.commonpath([os.path.dirname(frame.image_path) for frame in all_frames])
    uids = itertools.count()
    cams_per_file = [[_transforms_camera_info(next(uids), frame, path, images_root, object_path)
                      for frame in frames] for frames in frames_per_file]

    if blender:
        train, test = cams_per_file[0], sum(cams_per_file[1:], [])
        if not eval:
            train, test = train + test, []
        train, test = _sorted_by_name(train), _sorted_by_name(test)
    else:
        train, test = split_train_test(cams_per_file[0], path, eval, llffhold)
    nerf_normalization = getNerfppNorm(train)

    check_camera_infos(train + test, json_paths[0] if len(json_paths) == 1 else path)
    ply_path = None if random_init else _transforms_ply_path(path, contents[0])
    if ply_path is not None:
        point_cloud = fetchPly(ply_path)
        check_points(point_cloud.points, ply_path)
    nerf_normalization = ensure_scene_extent(
        nerf_normalization, point_cloud.points if ply_path else np.empty((0, 3)), path)
    if ply_path is None:
        centre = np.zeros(3) if blender else -nerf_normalization["translate"]
        half_size = BLENDER_INIT_HALF_SIZE if blender else nerf_normalization["radius"]
        point_cloud = random_point_cloud(centre, half_size)
        _random_init_warning(path, point_cloud, centre, half_size,
                             "--random_init" if random_init else "no initial points")
    return SceneInfo(point_cloud=point_cloud, train_cameras=train, test_cameras=test,
                     nerf_normalization=nerf_normalization, ply_path=ply_path)


class _Frame(NamedTuple):
    json_path: str
    index: int         # position in the json's "frames"
    params: dict       # the json's top-level camera keys, overridden by the frame's own
    image_path: str

    def where(self) -> str:
        return f"{self.json_path}: frame {self.index} ({self.params['file_path']})"


def _sorted_by_name(cam_infos: list) -> list:
    return sorted(cam_infos, key=lambda cam: cam.image_name)


def _load_json(json_path: str) -> dict:
    try:
        with open(json_path) as file:
            return json.load(file)
    except (OSError, ValueError) as error:
        raise DataError(f"{json_path}: cannot read the transforms file ({error})") from error


def _read_frames(scene_path: str, json_path: str, content: dict) -> list:
    frames = content.get("frames")
    if not isinstance(frames, list) or not frames:
        raise DataError(f"{json_path}: no \"frames\" list")
    camera_keys = {key: value for key, value in content.items() if key != "frames"}
    result = []
    for index, frame in enumerate(frames):
        for key in ("file_path", "transform_matrix"):
            if key not in frame:
                raise DataError(f"{json_path}: frame {index} has no \"{key}\"")
        image_path = _frame_image_path(scene_path, json_path, frame["file_path"])
        result.append(_Frame(json_path, index, {**camera_keys, **frame}, image_path))
    return result


def _frame_image_path(scene_path: str, json_path: str, file_path: str) -> str:
    """The frame's image; Blender's file paths omit the extension, which is then .png."""
    image_path = os.path.normpath(os.path.join(scene_path, file_path))
    for candidate in (image_path, image_path + ".png"):
        if os.path.isfile(candidate):
            return candidate
    raise DataError(f"{image_path}: image of a frame in {json_path} does not exist "
                    f"(also tried {image_path}.png)")


def _transforms_camera_info(uid: int, frame: _Frame, scene_path: str, images_root: str,
                            object_path: str) -> CameraInfo:
    c2w = _camera_to_world(frame)
    c2w[:3, 1:3] *= -1  # OpenGL camera axes (y up, z backward) -> COLMAP's (y down, z forward)
    w2c = np.linalg.inv(c2w)
    fx, fy, cx, cy, width, height, dist_coeffs = _frame_intrinsics(frame)
    check_intrinsics(fx, fy, width, height, frame.where())
    if not np.all(np.isfinite([cx, cy, *dist_coeffs])):
        raise DataError(f"{frame.where()}: principal point ({cx}, {cy}) and distortion "
                        f"{dist_coeffs.tolist()} must be finite")
    undistortion = None
    centred = np.isclose(cx, width / 2) and np.isclose(cy, height / 2)
    if np.any(dist_coeffs != 0) or not centred:
        undistortion = centred_pinhole(fx, fy, cx, cy, width, height, dist_coeffs,
                                       frame.where())
        fx, fy = undistortion.target_K[0, 0], undistortion.target_K[1, 1]
    image_name = os.path.splitext(os.path.relpath(frame.image_path, images_root))[0]
    return CameraInfo(uid=uid, R=w2c[:3, :3].T, T=w2c[:3, 3],
                      FovY=focal2fov(fy, height), FovX=focal2fov(fx, width),
                      image_path=frame.image_path, image_name=image_name,
                      width=width, height=height,
                      mask_path=_mask_path(scene_path, object_path, image_name),
                      undistortion=undistortion)


def _camera_to_world(frame: _Frame) -> np.ndarray:
    """The frame's transform_matrix as a (4, 4) rigid camera-to-world (OpenGL camera axes)."""
    where = frame.where()
    try:
        matrix = np.asarray(frame.params["transform_matrix"], dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"{where}: transform_matrix is not a numeric matrix") from error
    if matrix.shape == (3, 4):
        matrix = np.vstack([matrix, [0.0, 0.0, 0.0, 1.0]])
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
        raise DataError(f"{where}: transform_matrix must be a finite 4x4 (or 3x4) matrix")
    rotation = matrix[:3, :3]
    if not np.allclose(rotation.T @ rotation, np.eye(3), atol=1e-3) or np.linalg.det(rotation) < 0:
        raise DataError(f"{where}: transform_matrix is not a rigid transform "
                        "(its rotation is not orthonormal)")
    return matrix


def _frame_intrinsics(frame: _Frame) -> tuple:
    """(fx, fy, cx, cy, width, height, dist_coeffs (5,)) with instant-ngp's conventions:
    pixel (0, 0)'s corner at the origin, so a centred principal point is (w/2, h/2).
    Missing keys: size from the image header, fy = fx, principal point at the centre."""
    try:
        return _parse_intrinsics(frame)
    except DataError:
        raise
    except (TypeError, ValueError) as error:  # a key holds a string, a list, ...
        raise DataError(f"{frame.where()}: camera intrinsics are not numbers ({error})") from error
    except ZeroDivisionError:  # camera_angle_x/y of 0
        raise DataError(f"{frame.where()}: a field of view of 0 gives no focal length") from None


def _parse_intrinsics(frame: _Frame) -> tuple:
    params = frame.params
    where = frame.where()
    model = params.get("camera_model", "OPENCV")
    if params.get("is_fisheye") or model not in ("OPENCV", "PINHOLE", "SIMPLE_PINHOLE") \
            or params.get("k4", 0.0) != 0.0:
        raise DataError(f"{where}: camera model {model} (fisheye or k4) is not supported; "
                        "only pinhole and OpenCV (k1 k2 p1 p2 k3) cameras")
    if "w" in params and "h" in params:
        width, height = int(params["w"]), int(params["h"])
    else:
        width, height = image_io.read_image_size(frame.image_path)
    if "fl_x" in params:
        fx = float(params["fl_x"])
    elif "camera_angle_x" in params:
        fx = fov2focal(float(params["camera_angle_x"]), width)
    else:
        raise DataError(f"{where}: no focal length (expected fl_x or camera_angle_x)")
    if "fl_y" in params:
        fy = float(params["fl_y"])
    elif "camera_angle_y" in params:
        fy = fov2focal(float(params["camera_angle_y"]), height)
    else:
        fy = fx
    cx = float(params.get("cx", width / 2))
    cy = float(params.get("cy", height / 2))
    dist_coeffs = np.array([float(params.get(key, 0.0)) for key in ("k1", "k2", "p1", "p2", "k3")])
    return fx, fy, cx, cy, width, height, dist_coeffs


def centred_pinhole(fx: float, fy: float, cx: float, cy: float, width: int, height: int,
                    dist_coeffs: np.ndarray, source: str) -> Undistortion:
    """The pinhole camera a distorted OpenCV camera is resampled onto at load time.

    3DGS assumes the principal point at the image centre and no distortion. The target
    keeps the image size; its principal point is the centre; fx and fy are both
    multiplied by one factor s (their ratio, the pixel aspect, is kept), the smallest for
    which every target pixel looks at a point inside the recorded image (s < 1 zooms out,
    s > 1 zooms in). This is COLMAP's `image_undistorter` without blank pixels, except
    that it zooms instead of changing the image size. `cx`, `cy` follow instant-ngp
    (pixel corner at the origin); the returned intrinsics use OpenCV's pixel centres.
    """
    source_K = np.array([[fx, 0.0, cx - 0.5], [0.0, fy, cy - 0.5], [0.0, 0.0, 1.0]])
    # Where the recorded image's border pixels look, on the z = 1 plane.
    xs, ys = np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64)
    edges = {"left": np.stack([np.zeros(height), ys], 1),
             "right": np.stack([np.full(height, width - 1.0), ys], 1),
             "top": np.stack([xs, np.zeros(width)], 1),
             "bottom": np.stack([xs, np.full(width, height - 1.0)], 1)}
    rays = {name: cv2.undistortPoints(pixels.reshape(-1, 1, 2), source_K,
                                      dist_coeffs).reshape(-1, 2)
            for name, pixels in edges.items()}
    # Innermost extent of the border on each side of the optical axis.
    half_x = min(-rays["left"][:, 0].max(), rays["right"][:, 0].min())
    half_y = min(-rays["top"][:, 1].max(), rays["bottom"][:, 1].min())
    if half_x <= 0 or half_y <= 0:
        raise DataError(f"{source}: principal point ({cx}, {cy}) with distortion "
                        f"{dist_coeffs.tolist()} lies outside the {width}x{height} image")
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    scale = max(centre_x / (fx * half_x), centre_y / (fy * half_y))
    target_K = np.array([[scale * fx, 0.0, centre_x], [0.0, scale * fy, centre_y], [0.0, 0.0, 1.0]])
    return Undistortion(source_K=source_K, dist_coeffs=dist_coeffs, source_size=(width, height),
                        target_K=target_K)


def _transforms_ply_path(scene_path: str, content: dict) -> Optional[str]:
    """The initial point cloud's file: the json's `ply_file_path`, else points3d.ply, if present."""
    if "ply_file_path" in content:
        ply_path = os.path.join(scene_path, content["ply_file_path"])
        if not os.path.isfile(ply_path):
            raise DataError(f"{ply_path}: point cloud named by ply_file_path does not exist")
        return ply_path
    ply_path = os.path.join(scene_path, "points3d.ply")
    return ply_path if os.path.isfile(ply_path) else None


sceneLoadTypeCallbacks = {
    "Colmap": readColmapSceneInfo,
    "Blender": readNerfSyntheticInfo,
}
