"""Moving between Gaussian Grouping and GradiSeg: cfg_args in 3DGS's Namespace form (read with
ast, never evaluated), a model folder in GG's exact format rendered and edited here, GG's
training flags accepted or refused with a hint, `--no-<flag>`, the plain PLY export, and the
TensorBoard log."""
import glob

import numpy as np
import pytest
import torch
from plyfile import PlyData, PlyElement

import edit
import render
import train
from arguments import ConfigError, parse_cfg_args, parse_training_args, read_cfg_args
from scene.gaussian_model import GaussianModel


def test_cfg_args_is_3dgs_namespace_line_and_reads_back(tmp_path):
    args = parse_training_args(["-s", "scene dir", "-m", str(tmp_path), "--iterations", "7",
                                "--test_iterations", "3", "7", "--position_lr_init", "1e-05"])
    from arguments import write_cfg_args
    write_cfg_args(args, str(tmp_path))
    text = (tmp_path / "cfg_args").read_text()
    assert text.startswith("Namespace(") and text.endswith(")") and "\n" not in text
    assert "source_path='scene dir'" in text and "test_iterations=[3, 7]" in text
    assert read_cfg_args(str(tmp_path)) == vars(args)


def test_cfg_args_json_of_older_folders_and_code_refused(tmp_path):
    assert parse_cfg_args('{"sh_degree": 3}', "x") == {"sh_degree": 3}
    with pytest.raises(ConfigError, match="not a literal"):
        parse_cfg_args("Namespace(source_path=__import__('os').getcwd())", "cfg")
    with pytest.raises(ConfigError, match="Namespace"):
        parse_cfg_args("print('hi')", "cfg")
    with pytest.raises(ConfigError, match="neither"):
        parse_cfg_args("Namespace(a=", "cfg")


# ------------------------------------------------------------------ a GG model folder
def gg_attribute_names(num_rest: int, num_objects: int) -> list[str]:
    """Gaussian Grouping's `construct_list_of_attributes` order."""
    names = ["x", "y", "z", "nx", "ny", "nz"] + [f"f_dc_{i}" for i in range(3)]
    names += [f"f_rest_{i}" for i in range(num_rest)] + ["opacity"]
    names += [f"scale_{i}" for i in range(3)] + [f"rot_{i}" for i in range(4)]
    return names + [f"obj_dc_{i}" for i in range(num_objects)]


def write_gg_model_folder(folder, scene: str, num_points: int = 400, seed: int = 0) -> None:
    """What GG's train.py leaves: cfg_args (its ModelParams, Namespace form, data_device='cuda'),
    point_cloud/iteration_N/point_cloud.ply and classifier.pth (nn.Conv2d(16, 256, 1))."""
    rng = np.random.default_rng(seed)
    ply_dir = folder / "point_cloud" / "iteration_30000"
    ply_dir.mkdir(parents=True)
    (folder / "cfg_args").write_text(
        f"Namespace(data_device='cuda', eval=True, images='images', model_path='output/figurines', "
        f"n_views=100, num_classes=256, object_path='object_mask', random_init=False, resolution=-1, "
        f"sh_degree=3, source_path='{scene}', train_split=False, white_background=False)")
    names = gg_attribute_names(45, 16)
    values = {name: np.zeros(num_points, np.float32) for name in names}
    for i, name in enumerate("xyz"):
        values[name] = rng.uniform(-0.8, 0.8, num_points).astype(np.float32)
    values["z"] = rng.uniform(0.0, 0.6, num_points).astype(np.float32)
    for i in range(3):
        values[f"f_dc_{i}"] = rng.normal(0, 1, num_points).astype(np.float32)
        values[f"scale_{i}"] = np.full(num_points, np.log(0.05), np.float32)
    values["opacity"] = np.full(num_points, 2.0, np.float32)
    values["rot_0"] = np.ones(num_points, np.float32)
    for i in range(16):
        values[f"obj_dc_{i}"] = rng.normal(0, 1, num_points).astype(np.float32)
    vertices = np.empty(num_points, dtype=[(name, "f4") for name in names])
    for name in names:
        vertices[name] = values[name]
    PlyData([PlyElement.describe(vertices, "vertex")]).write(str(ply_dir / "point_cloud.ply"))
    classifier = torch.nn.Conv2d(16, 256, kernel_size=1)
    with torch.no_grad():   # object 5 is where identity channel 0 is large
        classifier.weight.zero_()
        classifier.bias.zero_()
        classifier.weight[5, 0] = 8.0
    torch.save(classifier.state_dict(), ply_dir / "classifier.pth")


def test_a_gaussian_grouping_model_folder_renders_and_edits_here(tiny_scene, tmp_path):
    folder = tmp_path / "gg_model"
    write_gg_model_folder(folder, tiny_scene)
    assert render.main(["-m", str(folder), "--skip_train", "--quiet"]) == 0
    out = folder / "test" / "ours_30000"
    renders = sorted(glob.glob(str(out / "renders" / "*.png")))
    assert renders and len(renders) == len(glob.glob(str(out / "objects_pred_id" / "*.png")))
    # the PLY's Gaussians were used: the render is not just the background
    from utils.image_io import read_rgb
    assert read_rgb(renders[0], white_background=False).max() > 0.05

    edited = tmp_path / "gg_edited"
    assert edit.main(["-m", str(folder), "-o", str(edited), "--remove", "5", "--skip_render"]) == 0
    before, after = GaussianModel(3, 16), GaussianModel(3, 16)
    before.load_ply(str(folder / "point_cloud" / "iteration_30000" / "point_cloud.ply"))
    after.load_ply(str(edited / "point_cloud" / "iteration_30000" / "point_cloud.ply"))
    removed = int((8.0 * before.get_objects[:, 0, 0] > np.log(255 * 0.3 / 0.7)).sum())  # p(5) > 0.3
    assert 0 < removed < before.num_points and after.num_points == before.num_points - removed


# ------------------------------------------------------------------ GG's flags
def test_gaussian_grouping_flags_are_accepted_or_refused_with_a_hint(capsys):
    args = parse_training_args(["-s", "a", "-m", "b", "--ip", "0.0.0.0", "--port", "6010",
                                "--detect_anomaly", "--debug_from", "5", "--random_init"])
    assert not hasattr(args, "ip") and not hasattr(args, "port")   # nothing of them reaches cfg_args
    assert "--ip is ignored" in capsys.readouterr().err
    assert args.detect_anomaly and args.debug_from == 5 and args.random_init
    for flag, value in (("--n_views", "10"), ("--train_split", None)):
        with pytest.raises(SystemExit) as exit_info:
            parse_training_args(["-s", "a", "-m", "b", flag] + ([value] if value else []))
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert f"{flag} is Gaussian Grouping's and not supported here" in err and "--eval" in err


def test_boolean_flags_can_switch_a_config_true_off(tmp_path):
    config = tmp_path / "c.json"
    config.write_text('{"white_background": true, "eval": true}')
    args = parse_training_args(["-s", "a", "-m", "b", "--config_file", str(config), "--no-white_background"])
    assert args.white_background is False and args.eval is True


def test_random_init_replaces_the_sfm_points(tiny_scene):
    from scene.dataset_readers import RANDOM_INIT_POINTS, readColmapSceneInfo
    sfm = readColmapSceneInfo(tiny_scene, None, True)
    with pytest.warns(UserWarning, match="--random_init"):
        random = readColmapSceneInfo(tiny_scene, None, True, random_init=True)
    assert len(random.point_cloud.points) == RANDOM_INIT_POINTS != len(sfm.point_cloud.points)


def test_plain_ply_export_and_tensorboard_log(tiny_scene, tmp_path):
    model = tmp_path / "m"
    assert train.main(["-s", tiny_scene, "-m", str(model), "--iterations", "20", "--eval", "--quiet",
                       "--test_iterations", "20", "--export_plain_ply", "--detect_anomaly"]) == 0
    folder = model / "point_cloud" / "iteration_20"
    plain = PlyData.read(str(folder / "point_cloud_plain.ply"))["vertex"]
    full = PlyData.read(str(folder / "point_cloud.ply"))["vertex"]
    names = [p.name for p in plain.properties]
    assert names == [p.name for p in full.properties if not p.name.startswith("obj_dc_")]
    assert np.array_equal(plain["x"], full["x"]) and len(plain) == len(full)

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(model), size_guidance={"images": 0}).Reload()
    assert "train/loss" in events.Tags()["scalars"] and "test/psnr" in events.Tags()["scalars"]
    images = [tag for tag in events.Tags()["images"] if tag.startswith("test/")]
    assert len(images) == 1
    picture = events.Images(images[0])[0]
    assert picture.step == 20 and picture.width == 3 * 64 + 2 * 2   # render | gt | ids
