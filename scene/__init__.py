"""A scene: cameras read from a dataset folder and the Gaussians that model it."""
from __future__ import annotations

import os
from typing import Any

import torch

from scene.camera_loading import camera_to_json, cameraList_from_camInfos
from scene.dataset_readers import SceneInfo, sceneLoadTypeCallbacks
from scene.gaussian_model import GaussianModel
from scene.model_folder import (
    CLASSIFIER_NAME,
    PLY_NAME,
    check_gaussian_count,
    point_cloud_dir,
    search_for_max_iteration,
    verify_iteration_folder,
    write_iteration_folder,
)
from utils.atomic_io import write_json_atomic
from utils.errors import DataError


def detect_scene_type(source_path: str) -> str:
    """'Colmap' for a folder with `sparse/`, 'Blender' for one with transforms json."""
    if not os.path.isdir(source_path):
        raise DataError(f"scene folder not found: {source_path}")
    if os.path.isdir(os.path.join(source_path, "sparse")):
        return "Colmap"
    for name in ("transforms_train.json", "transforms.json"):
        if os.path.isfile(os.path.join(source_path, name)):
            return "Blender"
    raise DataError(f"{source_path}: no COLMAP model (sparse/) and no transforms.json; "
                    f"a scene folder needs images/ with sparse/0/, or transforms.json")


def read_scene_info(args) -> SceneInfo:
    """The cameras (train / test split by `args.eval`) and point cloud of the scene folder
    `args.source_path`, COLMAP or NeRF/Blender; `args` also gives `images`, `object_path`,
    `white_background` and `random_init`."""
    if detect_scene_type(args.source_path) == "Colmap":
        return sceneLoadTypeCallbacks["Colmap"](
            args.source_path, args.images, args.eval, object_path=args.object_path,
            random_init=args.random_init)
    return sceneLoadTypeCallbacks["Blender"](
        args.source_path, args.white_background, args.eval, object_path=args.object_path,
        random_init=args.random_init)


def write_cameras_json(model_path: str, scene_info: SceneInfo) -> None:
    """`<model_path>/cameras.json` (3DGS's layout) of the scene's test then train views."""
    cameras = [camera_to_json(i, cam) for i, cam in
               enumerate(scene_info.test_cameras + scene_info.train_cameras)]
    write_json_atomic(os.path.join(model_path, "cameras.json"), cameras, indent=None)


class Scene:
    """Train/test cameras of a dataset plus a GaussianModel, initialised from the dataset's
    point cloud or loaded from `<model>/point_cloud/iteration_N/point_cloud.ply`."""

    def __init__(self, args, gaussians: GaussianModel, load_iteration: int | None = None,
                 resolution_scales: tuple[float, ...] = (1.0,)):
        self.model_path = args.model_path
        self.gaussians = gaussians
        self.loaded_iter = None
        if load_iteration is not None:
            if load_iteration == -1:
                load_iteration = search_for_max_iteration(os.path.join(self.model_path, "point_cloud"))
            self.loaded_iter = load_iteration

        scene_info = read_scene_info(args)

        if self.loaded_iter is None:
            os.makedirs(self.model_path, exist_ok=True)
            write_cameras_json(self.model_path, scene_info)

        self.cameras_extent = scene_info.nerf_normalization["radius"]
        self.train_cameras = {}
        self.test_cameras = {}
        for scale in resolution_scales:
            self.train_cameras[scale] = cameraList_from_camInfos(scene_info.train_cameras, scale, args,
                                                                 gaussians.device)
            self.test_cameras[scale] = cameraList_from_camInfos(scene_info.test_cameras, scale, args,
                                                                gaussians.device)

        if self.loaded_iter is not None:
            folder = point_cloud_dir(self.model_path, self.loaded_iter)
            manifest = verify_iteration_folder(folder)
            self.gaussians.load_ply(os.path.join(folder, PLY_NAME))
            check_gaussian_count(folder, manifest, self.gaussians.num_points)
        else:
            self.gaussians.create_from_pcd(scene_info.point_cloud, self.cameras_extent)

    def save(self, iteration: int, classifier_state: dict[str, Any]) -> str:
        """Write the Gaussians of `iteration` (PLY) and the classifier's state as one save
        (`scene.model_folder.write_iteration_folder`); returns the folder."""
        return write_iteration_folder(self.model_path, iteration, self.gaussians.num_points, {
            PLY_NAME: self.gaussians.save_ply,
            CLASSIFIER_NAME: lambda path: torch.save(classifier_state, path)})

    def getTrainCameras(self, scale: float = 1.0):
        return self.train_cameras[scale]

    def getTestCameras(self, scale: float = 1.0):
        return self.test_cameras[scale]
