"""Structure from motion with pycolmap: `SCENE/input/*` photos -> `SCENE/images` + `SCENE/sparse/0`.

The steps are those of 3DGS's / Gaussian Grouping's `convert.py` (COLMAP feature extraction,
matching, incremental mapping, undistortion to PINHOLE), run through pycolmap so that no COLMAP
binary is needed; `mapper="global"` uses COLMAP's global SfM (formerly GLOMAP) instead. Matching is exhaustive up to `sequential_above` photos (every pair; robust for
unordered captures) and sequential beyond (neighbours in file-name order: a video or a walk).

Everything is built in a hidden work folder inside the scene and renamed into place at the end,
so a failed or killed run leaves no half scene: `images/`, `sparse/` and `distorted/` (the
database and the distorted model, as 3DGS keeps them) appear together or not at all.
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

import cv2
import numpy as np
from PIL import Image

from utils.errors import DataError
from utils.pycolmap_loader import pycolmap

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
MATCHING_MODES = ("auto", "exhaustive", "sequential")
MAPPERS = ("incremental", "global")   # COLMAP's incremental mapper, or its global SfM (formerly GLOMAP)
RESIZE_FACTORS = (2, 4, 8)        # --resize writes images_2, images_4, images_8 (3DGS)
MIN_REGISTERED_IMAGES = 3         # fewer cannot be a scene to train on
OUTPUT_FOLDERS = ("images", "sparse", "distorted")


@dataclass
class SfmOptions:
    camera_model: str = "OPENCV"          # the photos' camera; undistorted to PINHOLE afterwards
    matching: str = "auto"                # auto | exhaustive | sequential
    sequential_above: int = 100           # auto: sequential matching for more photos than this
    sequential_overlap: int = 10          # neighbours each photo is matched with (sequential)
    mapper: str = "incremental"           # incremental | global
    max_size: Optional[int] = None        # photos with a longer side are downscaled to it first
    resize: bool = False                  # also write images_2/4/8 (3DGS's --resize)
    min_registered_fraction: float = 0.5  # fewer registered photos is an error
    num_threads: int = -1
    seed: int = 0

    def validate(self) -> None:
        if self.matching not in MATCHING_MODES:
            raise ValueError(f"matching must be one of {MATCHING_MODES}, got '{self.matching}'")
        if self.mapper not in MAPPERS:
            raise ValueError(f"mapper must be one of {MAPPERS}, got '{self.mapper}'")
        if self.max_size is not None and self.max_size < 64:
            raise ValueError(f"max_size must be at least 64 pixels, got {self.max_size}")
        if not 0.0 < self.min_registered_fraction <= 1.0:
            raise ValueError("min_registered_fraction must be in (0, 1]")
        if self.camera_model not in pycolmap.CameraModelId.__members__:
            raise ValueError(f"unknown COLMAP camera model '{self.camera_model}' "
                             f"(e.g. OPENCV, SIMPLE_RADIAL, PINHOLE, SIMPLE_PINHOLE)")


@dataclass
class SfmSummary:
    num_input_images: int
    num_registered: int
    unregistered: list[str]
    num_points: int
    mean_track_length: float
    mean_reprojection_error: float   # pixels, after bundle adjustment
    matching: str
    mapper: str
    camera: dict                     # the undistorted PINHOLE camera: width, height, fx, fy, cx, cy
    seconds: dict = field(default_factory=dict)   # per stage

    def lines(self) -> list[str]:
        rows = [f"registered images: {self.num_registered} / {self.num_input_images}",
                f"3D points: {self.num_points} (mean track length {self.mean_track_length:.2f})",
                f"mean reprojection error: {self.mean_reprojection_error:.3f} px",
                f"matching: {self.matching}, mapper: {self.mapper}",
                "camera (PINHOLE): {width}x{height}, fx {fx:.1f}, fy {fy:.1f}".format(**self.camera),
                "time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())]
        if self.unregistered:
            rows.insert(1, "not registered: " + ", ".join(self.unregistered))
        return rows


def list_photos(folder: str) -> list[str]:
    """File names of the photos in `folder` (sorted), or a DataError naming the folder."""
    if not os.path.isdir(folder):
        raise DataError(f"{folder}: photo folder does not exist (put the photos in SCENE/input/)")
    names = sorted(n for n in os.listdir(folder)
                   if n.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, n)))
    if len(names) < MIN_REGISTERED_IMAGES:
        raise DataError(f"{folder}: {len(names)} photos ({'/'.join(IMAGE_EXTENSIONS)}); structure from "
                        f"motion needs at least {MIN_REGISTERED_IMAGES}, in practice 20 or more")
    return names


def check_photo_sizes(folder: str, names: list[str]) -> None:
    """Refuse photos of different sizes: SfM here fits one camera to all of them."""
    sizes: dict[tuple[int, int], str] = {}
    for name in names:
        try:
            with Image.open(os.path.join(folder, name)) as photo:
                sizes.setdefault(photo.size, name)
        except (OSError, ValueError) as err:
            raise DataError(f"{os.path.join(folder, name)}: cannot be read as an image ({err})") from None
    if len(sizes) > 1:
        examples = ", ".join(f"{name} {w}x{h}" for (w, h), name in list(sizes.items())[:3])
        raise DataError(f"{folder}: the photos have {len(sizes)} different sizes ({examples}); they must "
                        f"come from one camera at one size (resize or crop them to one size first)")


def choose_matching(options: SfmOptions, num_images: int) -> str:
    if options.matching != "auto":
        return options.matching
    return "sequential" if num_images > options.sequential_above else "exhaustive"


def _read_photo(path: str) -> np.ndarray:
    pixels = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise DataError(f"{path}: cannot be read as an image")
    return pixels


def _write_image(path: str, pixels: np.ndarray) -> None:
    if not cv2.imwrite(path, pixels):
        raise OSError(f"cannot write {path}")


def downscale(pixels: np.ndarray, factor: float) -> np.ndarray:
    """`pixels` (H, W[, C]) shrunk by `factor` >= 1 with area averaging (sizes rounded)."""
    height, width = pixels.shape[:2]
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def prepare_photos(input_dir: str, names: list[str], max_size: Optional[int], work_dir: str) -> str:
    """The folder SfM reads: `input_dir` itself, or downscaled copies (longest side <= max_size)."""
    if max_size is None:
        return input_dir
    out_dir = os.path.join(work_dir, "input_resized")
    os.makedirs(out_dir)
    for name in names:
        pixels = _read_photo(os.path.join(input_dir, name))
        longest = max(pixels.shape[:2])
        if longest > max_size:
            pixels = downscale(pixels, longest / max_size)
        _write_image(os.path.join(out_dir, name), pixels)
    return out_dir


def largest_reconstruction(reconstructions: dict) -> Optional[pycolmap.Reconstruction]:
    """The model that registered the most images (incremental mapping may return several)."""
    if not reconstructions:
        return None
    return max(reconstructions.values(), key=lambda rec: rec.num_reg_images())


def _pinhole_camera(reconstruction: pycolmap.Reconstruction) -> dict:
    camera = next(iter(reconstruction.cameras.values()))
    if camera.model.name == "SIMPLE_PINHOLE":
        f, cx, cy = camera.params
        fx = fy = f
    else:
        fx, fy, cx, cy = camera.params[:4]
    return {"width": camera.width, "height": camera.height, "fx": float(fx), "fy": float(fy),
            "cx": float(cx), "cy": float(cy)}


def _incremental_options(options: SfmOptions) -> pycolmap.IncrementalPipelineOptions:
    mapping = pycolmap.IncrementalPipelineOptions()
    mapping.num_threads = options.num_threads
    mapping.random_seed = options.seed
    mapping.mapper.random_seed = options.seed
    mapping.triangulation.random_seed = options.seed
    return mapping


def _global_options(options: SfmOptions) -> pycolmap.GlobalPipelineOptions:
    mapping = pycolmap.GlobalPipelineOptions()
    mapping.num_threads = options.num_threads
    mapping.random_seed = options.seed
    mapping.mapper.num_threads = options.num_threads
    mapping.mapper.random_seed = options.seed
    mapping.mapper.rotation_averaging.random_seed = options.seed
    mapping.mapper.global_positioning.random_seed = options.seed
    mapping.mapper.global_positioning.use_gpu = False
    mapping.mapper.bundle_adjustment.ceres.use_gpu = False
    return mapping


def map_scene(database: str, photo_dir: str, models_dir: str, options: SfmOptions) -> dict:
    """The models (id -> pycolmap.Reconstruction) of the matched photos, from COLMAP's incremental
    mapper or its global SfM (rotation averaging, then all positions at once; formerly GLOMAP)."""
    if options.mapper == "global":
        return pycolmap.global_mapping(database, photo_dir, models_dir, _global_options(options))
    return pycolmap.incremental_mapping(database, photo_dir, models_dir, _incremental_options(options))


def run_sfm(photo_dir: str, names: list[str], work_dir: str, options: SfmOptions,
            log: Callable[[str], None]) -> tuple[pycolmap.Reconstruction, str, dict]:
    """Features, matches and the incremental model of the photos; returns the largest model,
    the folder it was written to and the seconds per stage."""
    database = os.path.join(work_dir, "distorted", "database.db")
    os.makedirs(os.path.dirname(database))
    seconds = {}
    start = time.perf_counter()
    log(f"feature extraction ({len(names)} photos, camera model {options.camera_model}) ...")
    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = options.camera_model
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.num_threads = options.num_threads
    pycolmap.extract_features(database, photo_dir, image_names=names, camera_mode=pycolmap.CameraMode.SINGLE,
                              reader_options=reader, extraction_options=extraction,
                              device=pycolmap.Device.cpu)
    seconds["features"] = time.perf_counter() - start

    start = time.perf_counter()
    matching = choose_matching(options, len(names))
    log(f"{matching} matching ...")
    match_options = pycolmap.FeatureMatchingOptions()
    match_options.num_threads = options.num_threads
    if matching == "exhaustive":
        pycolmap.match_exhaustive(database, matching_options=match_options, device=pycolmap.Device.cpu)
    else:
        pairing = pycolmap.SequentialPairingOptions()
        pairing.overlap = options.sequential_overlap
        pycolmap.match_sequential(database, matching_options=match_options, pairing_options=pairing,
                                  device=pycolmap.Device.cpu)
    seconds["matching"] = time.perf_counter() - start

    start = time.perf_counter()
    log(f"{options.mapper} mapping ...")
    models_dir = os.path.join(work_dir, "distorted", "models")
    os.makedirs(models_dir)
    reconstructions = map_scene(database, photo_dir, models_dir, options)
    seconds["mapping"] = time.perf_counter() - start
    best = largest_reconstruction(reconstructions)
    registered = best.num_reg_images() if best is not None else 0
    needed = max(MIN_REGISTERED_IMAGES, int(np.ceil(options.min_registered_fraction * len(names))))
    if registered < needed:
        raise DataError(
            f"{photo_dir}: only {registered} of {len(names)} photos registered (need {needed}). "
            "The photos must overlap (each scene point in several photos, about 60-80% overlap between "
            "neighbours), be sharp and show texture; try more photos, --matching exhaustive, or "
            "--camera SIMPLE_RADIAL for few photos")
    model_key = next(k for k, rec in reconstructions.items() if rec is best)
    return best, os.path.join(models_dir, str(model_key)), seconds


def undistort(model_dir: str, photo_dir: str, work_dir: str) -> str:
    """PINHOLE images and model in `<work_dir>/undistorted/{images,sparse}` (COLMAP's undistorter)."""
    out_dir = os.path.join(work_dir, "undistorted")
    pycolmap.undistort_images(out_dir, model_dir, photo_dir, output_type="COLMAP")
    return out_dir


def write_resized_copies(images_dir: str, scene_part: str) -> None:
    """`images_2`, `images_4`, `images_8` beside `images` (3DGS's --resize)."""
    for factor in RESIZE_FACTORS:
        out_dir = os.path.join(scene_part, f"images_{factor}")
        os.makedirs(out_dir)
        for name in sorted(os.listdir(images_dir)):
            _write_image(os.path.join(out_dir, name), downscale(_read_photo(os.path.join(images_dir, name)), factor))


def assemble_scene_part(work_dir: str, undistorted_dir: str, distorted_model_dir: str, resize: bool) -> str:
    """The finished outputs in `<work_dir>/scene`: images/, sparse/0/, distorted/{database.db,sparse/0}."""
    part = os.path.join(work_dir, "scene")
    os.makedirs(os.path.join(part, "sparse"))
    os.rename(os.path.join(undistorted_dir, "images"), os.path.join(part, "images"))
    os.rename(os.path.join(undistorted_dir, "sparse"), os.path.join(part, "sparse", "0"))
    os.makedirs(os.path.join(part, "distorted", "sparse"))
    os.rename(os.path.join(work_dir, "distorted", "database.db"), os.path.join(part, "distorted", "database.db"))
    os.rename(distorted_model_dir, os.path.join(part, "distorted", "sparse", "0"))
    if resize:
        write_resized_copies(os.path.join(part, "images"), part)
    return part


def output_folders(resize: bool) -> list[str]:
    return list(OUTPUT_FOLDERS) + ([f"images_{f}" for f in RESIZE_FACTORS] if resize else [])


def existing_outputs(scene_dir: str) -> list[str]:
    """Output folders of an earlier conversion (images_N included: they would be stale)."""
    return [name for name in output_folders(True) if os.path.exists(os.path.join(scene_dir, name))]


def move_into_place(part: str, scene_dir: str, work_dir: str) -> None:
    """Replace the scene's outputs by those in `part`: old ones are first moved into the work
    folder (deleted with it), so the swap is a few renames."""
    old_dir = os.path.join(work_dir, "old")
    os.makedirs(old_dir)
    for name in output_folders(True):
        target = os.path.join(scene_dir, name)
        if os.path.exists(target):
            os.rename(target, os.path.join(old_dir, name))
    for name in sorted(os.listdir(part)):
        os.rename(os.path.join(part, name), os.path.join(scene_dir, name))


def summarise(reconstruction: pycolmap.Reconstruction, names: list[str], matching: str, mapper: str,
              seconds: dict) -> SfmSummary:
    registered = {reconstruction.images[i].name for i in reconstruction.reg_image_ids()}
    return SfmSummary(
        num_input_images=len(names), num_registered=len(registered),
        unregistered=[n for n in names if n not in registered],
        num_points=reconstruction.num_points3D(),
        mean_track_length=float(reconstruction.compute_mean_track_length()),
        mean_reprojection_error=float(reconstruction.compute_mean_reprojection_error()),
        matching=matching, mapper=mapper, camera=_pinhole_camera(reconstruction), seconds=seconds)


def convert_scene(scene_dir: str, options: SfmOptions = SfmOptions(), force: bool = False,
                  log: Callable[[str], None] = print) -> SfmSummary:
    """Run structure from motion on `scene_dir/input/` and write `images/`, `sparse/0/` and
    `distorted/` into `scene_dir` (refused if they exist, unless `force`). Returns the summary."""
    options.validate()
    scene_dir = os.path.abspath(scene_dir)
    input_dir = os.path.join(scene_dir, "input")
    names = list_photos(input_dir)
    existing = existing_outputs(scene_dir)
    if existing and not force:
        raise FileExistsError(f"{scene_dir} already has {', '.join(existing)} (use --force to replace them)")
    check_photo_sizes(input_dir, names)
    work_dir = os.path.join(scene_dir, f".convert-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.makedirs(work_dir)
    try:
        photo_dir = prepare_photos(input_dir, names, options.max_size, work_dir)
        reconstruction, model_dir, seconds = run_sfm(photo_dir, names, work_dir, options, log)
        start = time.perf_counter()
        log("undistortion to PINHOLE ...")
        undistorted = undistort(model_dir, photo_dir, work_dir)
        final = pycolmap.Reconstruction(os.path.join(undistorted, "sparse"))
        part = assemble_scene_part(work_dir, undistorted, model_dir, options.resize)
        seconds["undistortion"] = time.perf_counter() - start
        summary = summarise(final, names, choose_matching(options, len(names)), options.mapper, seconds)
        move_into_place(part, scene_dir, work_dir)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return summary
