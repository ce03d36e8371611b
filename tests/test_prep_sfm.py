"""convert.py / prep.sfm: structure from motion on real photos and on a synthetic scene with known cameras."""
import os
import shutil

import numpy as np
import pycolmap
import pytest

import convert
from bench.synthetic.scene import SyntheticSceneConfig, make_synthetic_scene
from prep.sfm import SfmOptions, convert_scene, list_photos
from scene.dataset_readers import readColmapSceneInfo
from utils.errors import DataError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FERN = os.path.join(REPO, "..", "shared", "data", "llff_fern_8", "images")


def scene_with_photos(tmp_path, photos_dir: str, names=None) -> str:
    scene = tmp_path / "scene"
    (scene / "input").mkdir(parents=True)
    for name in names or sorted(os.listdir(photos_dir)):
        shutil.copy(os.path.join(photos_dir, name), scene / "input" / name)
    return str(scene)


def quiet(_line: str) -> None:
    pass


@pytest.mark.skipif(not os.path.isdir(FERN), reason=f"the LLFF fern photos are not at {FERN}")
def test_fern_photos_all_register_with_subpixel_error(tmp_path):
    scene = scene_with_photos(tmp_path, FERN)
    assert convert.main(["-s", scene, "--threads", "2"]) == 0
    reconstruction = pycolmap.Reconstruction(os.path.join(scene, "sparse", "0"))
    assert reconstruction.num_reg_images() == 20
    assert reconstruction.compute_mean_reprojection_error() < 1.0
    assert all(c.model.name == "PINHOLE" for c in reconstruction.cameras.values())
    # The scene reader of train.py reads the result; the undistorted images exist.
    info = readColmapSceneInfo(scene, None, eval=False, object_path=None)
    assert len(info.train_cameras) == 20 and len(info.point_cloud.points) > 500
    assert sorted(os.listdir(os.path.join(scene, "images"))) == sorted(os.listdir(FERN))
    assert not [n for n in os.listdir(scene) if n.startswith(".")]   # no work folder left


def test_synthetic_cameras_recovered_up_to_similarity(tmp_path):
    truth = str(tmp_path / "truth")
    meta = make_synthetic_scene(truth, SyntheticSceneConfig(num_views=24, width=160, height=120, supersample=1,
                                                            num_points=100, ground_texture="noise"))
    scene = scene_with_photos(tmp_path, os.path.join(truth, "images"))
    summary = convert_scene(scene, SfmOptions(camera_model="SIMPLE_PINHOLE", num_threads=2), log=quiet)
    assert summary.num_registered == 24 and summary.unregistered == []
    assert summary.mean_reprojection_error < 1.0
    true_focal = meta["camera"]["fx"]
    assert summary.camera["fx"] == pytest.approx(true_focal, rel=0.02)
    reconstruction = pycolmap.Reconstruction(os.path.join(scene, "sparse", "0"))
    truth_centres = {v["name"] + ".png": -np.array(v["world_to_camera"])[:3, :3].T @ np.array(v["world_to_camera"])[:3, 3]
                     for v in meta["views"]}
    names = [reconstruction.images[i].name for i in reconstruction.reg_image_ids()]
    estimated = np.array([reconstruction.images[i].projection_center() for i in reconstruction.reg_image_ids()])
    target = np.array([truth_centres[n] for n in names])
    sim = pycolmap.estimate_sim3d(estimated, target)
    aligned = np.array([sim * p for p in estimated])
    orbit_radius = np.linalg.norm(target - target.mean(axis=0), axis=1).mean()
    assert np.linalg.norm(aligned - target, axis=1).max() < 0.02 * orbit_radius


def test_unrelated_photos_fail_clearly_and_leave_no_half_scene(tmp_path):
    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    photos.mkdir()
    import cv2
    for k in range(4):   # independent noise: nothing matches
        cv2.imwrite(str(photos / f"p{k}.png"), rng.integers(0, 256, size=(120, 160, 3), dtype=np.uint8))
    scene = scene_with_photos(tmp_path, str(photos))
    with pytest.raises(DataError, match="registered") as err:
        convert_scene(scene, SfmOptions(num_threads=2), log=quiet)
    assert "--camera SIMPLE_RADIAL" in str(err.value) and "--camera_model" not in str(err.value)  # the real flag
    assert sorted(os.listdir(scene)) == ["input"]
    assert convert.main(["-s", scene]) == 1


def test_inputs_are_checked(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        list_photos(str(tmp_path / "nowhere"))
    (tmp_path / "two").mkdir()
    for k in range(2):
        (tmp_path / "two" / f"{k}.png").write_bytes(b"")
    with pytest.raises(DataError, match="2 photos"):
        list_photos(str(tmp_path / "two"))
    scene = tmp_path / "scene"
    (scene / "input").mkdir(parents=True)
    for k in range(3):
        (scene / "input" / f"{k}.jpg").write_bytes(b"")
    (scene / "images").mkdir()
    with pytest.raises(FileExistsError, match="images"):
        convert_scene(str(scene), SfmOptions(), log=quiet)
    with pytest.raises(ValueError, match="camera model"):
        convert_scene(str(scene), SfmOptions(camera_model="FISHEYE_PLUS"), force=True, log=quiet)


def test_max_size_downscales_the_photos_sfm_reads(tmp_path):
    import cv2

    from prep.sfm import prepare_photos
    source = tmp_path / "input"
    source.mkdir()
    cv2.imwrite(str(source / "big.png"), np.full((300, 400, 3), 90, np.uint8))
    cv2.imwrite(str(source / "small.png"), np.full((60, 80, 3), 90, np.uint8))
    assert prepare_photos(str(source), ["big.png", "small.png"], None, str(tmp_path)) == str(source)
    resized = prepare_photos(str(source), ["big.png", "small.png"], 200, str(tmp_path))
    assert cv2.imread(os.path.join(resized, "big.png")).shape == (150, 200, 3)
    assert cv2.imread(os.path.join(resized, "small.png")).shape == (60, 80, 3)
