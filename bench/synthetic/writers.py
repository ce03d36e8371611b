"""Writers of a synthetic scene's cameras and points: COLMAP binary / text models, NeRF
`transforms.json` and the points PLY."""

import math
import os
import struct

import numpy as np
from plyfile import PlyData, PlyElement
from scipy.spatial.transform import Rotation

from bench.synthetic.objects import PinholeCamera
from bench.synthetic.raytrace import SurfacePoints
from utils.atomic_io import write_json_atomic

COLMAP_PINHOLE_MODEL_ID = 1
COLMAP_CAMERA_ID = 1
COLMAP_FORMATS = ("binary", "text")
OUTPUT_FORMATS = ("colmap", "transforms")


# ----------------------------------------------------------------------------- COLMAP and NeRF writers

def rotation_to_qvec(rotation: np.ndarray) -> np.ndarray:
    """COLMAP quaternion (w, x, y, z) with w >= 0 of a rotation matrix (3, 3)."""
    return Rotation.from_matrix(rotation).as_quat(canonical=True, scalar_first=True)


def _points2d_per_view(points: SurfacePoints, num_views: int) -> list[np.ndarray]:
    """Indices of the points observed in each view; a point's position in its view's list is
    its POINT2D_IDX (points are ordered by view, so these are contiguous runs)."""
    return [np.flatnonzero(points.view == v) for v in range(num_views)]


def _observation_xy(points: SurfacePoints) -> np.ndarray:
    """COLMAP image coordinates (P, 2) of each point's observation (pixel centre)."""
    return points.pixel[:, ::-1].astype(np.float64) + 0.5


def _point2d_index(points: SurfacePoints) -> np.ndarray:
    """Each point's index (P,) among the observations of its view."""
    first_of_view = np.searchsorted(points.view, points.view)
    return np.arange(len(points.view)) - first_of_view


def _write_colmap_binary(folder: str, cameras: list[PinholeCamera], image_files: list[str],
                         points: SurfacePoints) -> None:
    camera = cameras[0]
    with open(os.path.join(folder, "cameras.bin"), "wb") as fh:
        fh.write(struct.pack("<Q", 1))
        fh.write(struct.pack("<iiQQ", COLMAP_CAMERA_ID, COLMAP_PINHOLE_MODEL_ID, camera.width, camera.height))
        fh.write(struct.pack("<4d", camera.fx, camera.fy, camera.cx, camera.cy))
    xy = _observation_xy(points)
    point2d_dtype = np.dtype([("xy", "<f8", (2,)), ("point3d_id", "<i8")])
    with open(os.path.join(folder, "images.bin"), "wb") as fh:
        fh.write(struct.pack("<Q", len(cameras)))
        for view, (cam, observed) in enumerate(zip(cameras, _points2d_per_view(points, len(cameras)))):
            w2c = cam.world_to_camera
            fh.write(struct.pack("<i4d3di", view + 1, *rotation_to_qvec(w2c[:3, :3]), *w2c[:3, 3],
                                 COLMAP_CAMERA_ID))
            fh.write(image_files[view].encode("utf-8") + b"\x00")
            records = np.empty(len(observed), dtype=point2d_dtype)
            records["xy"] = xy[observed]
            records["point3d_id"] = observed + 1
            fh.write(struct.pack("<Q", len(observed)))
            fh.write(records.tobytes())
    point3d_dtype = np.dtype([("id", "<u8"), ("xyz", "<f8", (3,)), ("rgb", "u1", (3,)), ("error", "<f8"),
                              ("track_length", "<u8"), ("image_id", "<i4"), ("point2d_idx", "<i4")])
    records = np.empty(len(points.xyz), dtype=point3d_dtype)
    records["id"] = np.arange(1, len(points.xyz) + 1)
    records["xyz"] = points.xyz
    records["rgb"] = points.rgb
    records["error"] = 0.0
    records["track_length"] = 1
    records["image_id"] = points.view + 1
    records["point2d_idx"] = _point2d_index(points)
    with open(os.path.join(folder, "points3D.bin"), "wb") as fh:
        fh.write(struct.pack("<Q", len(records)))
        fh.write(records.tobytes())


def _write_colmap_text(folder: str, cameras: list[PinholeCamera], image_files: list[str],
                       points: SurfacePoints) -> None:
    camera = cameras[0]
    with open(os.path.join(folder, "cameras.txt"), "w") as fh:
        fh.write("# Camera list with one line of data per camera:\n"
                 "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n# Number of cameras: 1\n")
        fh.write(f"{COLMAP_CAMERA_ID} PINHOLE {camera.width} {camera.height} "
                 f"{camera.fx!r} {camera.fy!r} {camera.cx!r} {camera.cy!r}\n")
    xy = _observation_xy(points)
    per_view = _points2d_per_view(points, len(cameras))
    with open(os.path.join(folder, "images.txt"), "w") as fh:
        fh.write("# Image list with two lines of data per image:\n"
                 "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n"
                 "#   POINTS2D[] as (X, Y, POINT3D_ID)\n"
                 f"# Number of images: {len(cameras)}, mean observations per image: "
                 f"{len(points.xyz) / len(cameras)}\n")
        for view, (cam, observed) in enumerate(zip(cameras, per_view)):
            w2c = cam.world_to_camera
            pose = [*rotation_to_qvec(w2c[:3, :3]), *w2c[:3, 3]]
            fh.write(" ".join([str(view + 1), *(repr(float(x)) for x in pose), str(COLMAP_CAMERA_ID),
                               image_files[view]]) + "\n")
            fh.write(" ".join(f"{x!r} {y!r} {i + 1}" for (x, y), i in zip(xy[observed].tolist(), observed))
                     + "\n")
    point2d_index = _point2d_index(points)
    with open(os.path.join(folder, "points3D.txt"), "w") as fh:
        fh.write("# 3D point list with one line of data per point:\n"
                 "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)\n"
                 f"# Number of points: {len(points.xyz)}, mean track length: 1\n")
        for i, (xyz, rgb) in enumerate(zip(points.xyz.tolist(), points.rgb.tolist())):
            fh.write(f"{i + 1} {xyz[0]!r} {xyz[1]!r} {xyz[2]!r} {rgb[0]} {rgb[1]} {rgb[2]} 0.0 "
                     f"{points.view[i] + 1} {point2d_index[i]}\n")


def write_colmap_model(folder: str, cameras: list[PinholeCamera], image_files: list[str],
                       points: SurfacePoints, colmap_format: str) -> None:
    """COLMAP model (cameras, images, points3D) of one shared PINHOLE camera; image i has id
    i + 1 and file name `image_files[i]` (in images/, with extension); each point has a
    one-observation track in the view it was sampled from."""
    if colmap_format not in COLMAP_FORMATS:
        raise ValueError(f"colmap_format must be one of {COLMAP_FORMATS}, got '{colmap_format}'")
    if any((c.width, c.height, c.fx, c.fy, c.cx, c.cy) != (cameras[0].width, cameras[0].height,
           cameras[0].fx, cameras[0].fy, cameras[0].cx, cameras[0].cy) for c in cameras):
        raise ValueError("write_colmap_model writes one shared camera, but the intrinsics differ")
    os.makedirs(folder, exist_ok=True)
    writer = _write_colmap_binary if colmap_format == "binary" else _write_colmap_text
    writer(folder, cameras, image_files, points)


def opengl_camera_to_world(world_to_camera: np.ndarray) -> np.ndarray:
    """NeRF/OpenGL camera-to-world (4, 4) (x right, y up, z backward) of an OpenCV world-to-camera."""
    c2w = np.linalg.inv(world_to_camera)
    c2w[:3, 1:3] *= -1
    return c2w


def write_transforms(folder: str, cameras: list[PinholeCamera], names: list[str],
                     test_views: list[int]) -> None:
    """`transforms.json` (instant-ngp intrinsics and every frame) plus the 3DGS/Blender split
    `transforms_train.json` / `transforms_test.json`. `file_path` omits the extension, as the
    Blender scenes and 3DGS's reader expect (the reader appends ".png")."""
    camera = cameras[0]
    header = {"camera_angle_x": 2 * math.atan(camera.width / (2 * camera.fx)),
              "camera_angle_y": 2 * math.atan(camera.height / (2 * camera.fy)),
              "fl_x": camera.fx, "fl_y": camera.fy, "cx": camera.cx, "cy": camera.cy,
              "w": camera.width, "h": camera.height}

    def frames(views: list[int]) -> list[dict]:
        return [{"file_path": f"./images/{names[v]}",
                 "transform_matrix": opengl_camera_to_world(cameras[v].world_to_camera).tolist()}
                for v in views]

    all_views = list(range(len(cameras)))
    train_views = [v for v in all_views if v not in set(test_views)]
    for filename, views in (("transforms.json", all_views), ("transforms_train.json", train_views),
                            ("transforms_test.json", test_views)):
        write_json_atomic(os.path.join(folder, filename), {**header, "frames": frames(views)}, indent=1)


def write_points_ply(path: str, points: SurfacePoints) -> None:
    """Point cloud in 3DGS's `storePly` layout: x y z nx ny nz (float32), red green blue (uint8)."""
    vertices = np.empty(len(points.xyz), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("nx", "f4"),
                                                ("ny", "f4"), ("nz", "f4"), ("red", "u1"),
                                                ("green", "u1"), ("blue", "u1")])
    for i, axis in enumerate("xyz"):
        vertices[axis] = points.xyz[:, i]
        vertices["n" + axis] = points.normals[:, i]
    for i, channel in enumerate(("red", "green", "blue")):
        vertices[channel] = points.rgb[:, i]
    PlyData([PlyElement.describe(vertices, "vertex")], byte_order="<").write(path)
