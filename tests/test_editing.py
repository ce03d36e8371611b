"""Scene editing: the geometry of rigid motions (positions, orientations, SH), selection and its
convex-hull growth, edit-file checking, and removal / swap / recolour / export / insert on a
synthetic scene trained once for this module (its ground truth without the removed object comes
from the scene maker's --without_object)."""
import argparse
import copy
import hashlib
import json
import math
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

import edit
import train
from apps.editing import edited_folder, operations
from apps.editing import plan as edit_plan
from arguments import ConfigError, ModelParams, extract, read_cfg_args
from gaussian_renderer import render
from scene import Scene, model_folder
from scene.gaussian_model import GaussianModel
from tests.conftest import make_scene
from tests.test_gaussian_model import make_model
from tests.test_reference_rasterizer import make_camera
from utils import sh_utils
from utils.general_utils import build_rotation
from utils.graphics_utils import look_at_world_to_camera
from utils.image_io import read_id_map, read_rgb
from utils.sh_utils import C1, eval_sh

PIPE = SimpleNamespace(convert_SHs_python=False, compute_cov3D_python=False, debug=False, backend="auto")
BLACK = torch.zeros(3)

# The scene of conftest's tiny_scene (3 objects: 1 cylinder, 2 sphere, 3 box), trained briefly.
SCENE_ARGS = ["--seed", 0, "--num_views", 16, "--width", 64, "--height", 48, "--num_objects", 3]
TRAIN_ARGS = ["--eval", "--iterations", "400", "--position_lr_max_steps", "400", "--num_classes", "8",
              "--sh_degree", "1", "--densify_from_iter", "50", "--densify_until_iter", "250",
              "--densification_interval", "50", "--densify_grad_threshold", "0.0004",
              "--opacity_reset_interval", "1000", "--sh_increase_interval", "100", "--no_igd",
              "--laknn_from_iter", "300", "--test_iterations", "--save_iterations", "400", "--seed", "0",
              "--threads", "1", "--quiet"]
REMOVED = 2            # the sphere
SWAPPED = (1, 3)       # the cylinder and the box


# ----------------------------------------------------------------------------- geometry

def test_sh_rotation_turns_the_colour_with_the_gaussian():
    rng = np.random.default_rng(0)
    rotation = Rotation.random(random_state=1).as_matrix()
    coefficients = torch.from_numpy(rng.normal(size=(5, 16, 3)))  # (N, K, 3), degree 3
    directions = torch.nn.functional.normalize(torch.from_numpy(rng.normal(size=(5, 3))), dim=1)
    turned = coefficients.clone()
    turned[:, 1:] = sh_utils.rotate_sh_rest(coefficients[:, 1:], rotation)
    # the colour seen along R d after the turn is the colour seen along d before it
    before = eval_sh(3, coefficients.transpose(1, 2), directions)
    after = eval_sh(3, turned.transpose(1, 2), directions @ torch.from_numpy(rotation).T)
    torch.testing.assert_close(after, before, rtol=0, atol=1e-10)
    for band in sh_utils.sh_band_rotations(rotation, 3):  # each band's matrix is orthogonal
        torch.testing.assert_close(band @ band.T, torch.eye(len(band), dtype=band.dtype), atol=1e-10, rtol=0)


def test_degree_one_sh_rotation_by_hand():
    # f(d) = d_x is coefficient 3 = -1/C1 (3DGS's band 1: -C1 y c1 + C1 z c2 - C1 x c3).
    # Turned 90 degrees about z, f'(d) = f(R^T d) = d_y, i.e. coefficient 1 = -1/C1.
    rotation = Rotation.from_rotvec([0, 0, math.pi / 2]).as_matrix()
    rest = torch.zeros(1, 3, 1, dtype=torch.float64)
    rest[0, 2, 0] = -1 / C1
    expected = torch.zeros_like(rest)
    expected[0, 0, 0] = -1 / C1
    torch.testing.assert_close(sh_utils.rotate_sh_rest(rest, rotation), expected, atol=1e-12, rtol=0)


def test_quaternion_turn_composes_like_rotation_matrices():
    turn = Rotation.random(random_state=2)
    q = torch.nn.functional.normalize(torch.randn(6, 4, generator=torch.Generator().manual_seed(0),
                                                  dtype=torch.float64), dim=1)
    turned = operations.quaternion_product(operations.rotation_quaternion(turn.as_matrix()), q)
    expected = torch.from_numpy(turn.as_matrix()) @ build_rotation(q)
    torch.testing.assert_close(build_rotation(turned), expected, atol=1e-12, rtol=0)


def test_moved_group_looks_the_same_from_a_camera_moved_with_it():
    model = make_model(n=40, sh_degree=3, num_objects=4, seed=3)
    with torch.no_grad():   # view-dependent colour that a wrong SH rotation would show
        model._features_rest.copy_(0.3 * torch.randn_like(model._features_rest))
    model.active_sh_degree = 3
    w2c = look_at_world_to_camera(np.array([0.5, -3.5, 1.5]), np.zeros(3))
    motion = operations.RigidMotion(Rotation.from_rotvec([0.3, -0.5, 1.1]).as_matrix(),
                                 pivot=np.array([0.1, 0.2, 0.0]), destination=np.array([2.0, -1.0, 0.5]))
    world_motion = np.eye(4)
    world_motion[:3, :3] = motion.rotation
    world_motion[:3, 3] = motion.destination - motion.rotation @ motion.pivot
    before = render(make_camera(96, 72, 1.0, w2c), model, PIPE, BLACK)
    operations.move_groups(model, [(torch.ones(model.num_points, dtype=torch.bool), motion)])
    after = render(make_camera(96, 72, 1.0, w2c @ np.linalg.inv(world_motion)), model, PIPE, BLACK)
    assert before["render"].abs().sum() > 10   # the Gaussians are in view
    torch.testing.assert_close(after["render"], before["render"], atol=2e-4, rtol=0)
    torch.testing.assert_close(after["render_object"], before["render_object"], atol=2e-4, rtol=0)


def test_convex_hull_growth_adds_inside_points_and_ignores_outliers():
    corners = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=np.float64)
    selected = np.concatenate([corners, np.full((8, 3), 0.5) + 0.1 * corners,
                               [[10.0, 10.0, 10.0]]])            # a stray selected point far away
    inside = np.array([[0.2, 0.3, 0.4], [0.9, 0.9, 0.1]])
    outside = np.array([[1.2, 0.5, 0.5], [3.0, 3.0, 3.0], [-0.1, 0.5, 0.5]])
    xyz = torch.from_numpy(np.concatenate([selected, inside, outside])).float()
    mask = torch.zeros(len(xyz), dtype=torch.bool)
    mask[:len(selected)] = True
    grown = operations.grow_to_convex_hull(xyz, mask, outlier_factor=1.0)
    expected = mask.clone()
    expected[len(selected):len(selected) + len(inside)] = True
    assert torch.equal(grown, expected)
    with pytest.raises(ValueError, match="too few or too flat"):
        operations.grow_to_convex_hull(xyz, torch.arange(len(xyz)) < 3)


# ----------------------------------------------------------------------------- edit plans

def write_plan(tmp_path, plan) -> str:
    path = tmp_path / "edits.json"
    path.write_text(json.dumps(plan))
    return str(path)


@pytest.mark.parametrize("edits, message", [
    ([{"op": "delete", "objects": [1]}], "edit 1: each edit is an object with \"op\""),
    ([{"op": "remove", "objects": [1], "colour": [1, 0, 0]}], "edit 1: unknown key(s) ['colour']"),
    ([{"op": "remove", "objects": [1]}, {"op": "swap", "objects": [1, 2, 3]}], "edit 2: 'swap' takes exactly two"),
    ([{"op": "recolour", "objects": [1], "rgb": [1, 0, 0], "shift": [0, 0, 1]}], "exactly one of 'rgb' and 'shift'"),
    ([{"op": "transform", "objects": [1], "rotation": {"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, -1]]}}],
     "'matrix' must be a 3x3 rotation"),
    ([{"op": "transform", "objects": [1], "rotation": {"axis": [0, 0, 0], "degrees": 90}}], "non-zero axis"),
    ([{"op": "remove", "objects": [1], "threshold": 1.5}], "'threshold' must be a number in [0, 1)"),
    ([{"op": "insert"}], "'insert' needs ['ply']"),
    ([{"op": "recolour", "objects": [], "rgb": [1, 0, 0]}], "'objects' must be a non-empty list"),
    ([{"op": "recolour", "objects": [1], "rgb": [1, 0]}], "'rgb' must be a list of three numbers"),
])
def test_bad_edit_files_name_the_file_and_the_edit(tmp_path, edits, message):
    path = write_plan(tmp_path, {"model": "m", "output": "o", "edits": edits})
    with pytest.raises(ConfigError) as err:
        edit_plan.read_edit_plan(path)
    assert path in str(err.value) and message in str(err.value)


def test_edit_plan_paths_are_relative_to_the_file_and_overrides_win(tmp_path):
    path = write_plan(tmp_path, {"model": "model", "output": "out", "threshold": 0.4,
                                 "edits": [{"op": "remove", "objects": [1]}]})
    plan = edit_plan.read_edit_plan(path, overrides={"output": "elsewhere", "threshold": 0.2})
    assert plan.resolve(plan.model) == str(tmp_path / "model")
    assert plan.output == os.path.abspath("elsewhere") and plan.threshold == 0.2
    with pytest.raises(ConfigError, match="needs \"output\""):
        edit_plan.parse_edit_plan({"model": "m", "edits": [{"op": "remove", "objects": [1]}]})


def test_rotation_forms_agree():
    axis = edit_plan.parse_rotation({"axis": [0, 0, 2], "degrees": 90}, "t")
    quaternion = edit_plan.parse_rotation({"quaternion": [math.cos(math.pi / 4), 0, 0, math.sin(math.pi / 4)]}, "t")
    matrix = edit_plan.parse_rotation({"matrix": [[0, -1, 0], [1, 0, 0], [0, 0, 1]]}, "t")
    np.testing.assert_allclose(axis, matrix, atol=1e-12)
    np.testing.assert_allclose(quaternion, matrix, atol=1e-12)


def test_objects_resolve_by_id_and_prompt():
    prompts = {"red ball": [2], "chairs": [4, 5]}
    assert operations.resolve_objects([5, "red ball", "chairs"], prompts, 8, "t") == [2, 4, 5]
    with pytest.raises(ConfigError, match="unknown prompt 'blue ball' \\(known prompts: chairs, red ball\\)"):
        operations.resolve_objects(["blue ball"], prompts, 8, "t")
    with pytest.raises(ConfigError, match="object id 8 is outside 0..7"):
        operations.resolve_objects([8], prompts, 8, "t")


def test_flags_build_the_same_edits_as_an_edit_file():
    args = edit.build_parser().parse_args(
        ["-m", "m", "-o", "o", "--remove", "2", "red ball", "--swap", "1", "3", "--recolour", "3",
         "--shift", "0.1", "0", "0", "--no_view_dependent", "--convex_hull", "--threshold", "0.4"])
    plan = edit.plan_from_args(args)
    assert plan.threshold == 0.4 and plan.model == "m" and plan.output == "o"
    assert plan.edits == [
        {"op": "remove", "objects": [2, "red ball"], "convex_hull": True},
        {"op": "swap", "objects": [1, 3], "convex_hull": True},
        {"op": "recolour", "objects": [3], "shift": [0.1, 0.0, 0.0], "convex_hull": True, "view_dependent": False}]
    with pytest.raises(ConfigError, match="either in --edits or as operation flags"):
        edit.plan_from_args(edit.build_parser().parse_args(["--edits", "e.json", "--remove", "2"]))


def test_a_folder_that_is_not_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=f"model config not found: {tmp_path}"):
        model_folder.load_model(str(tmp_path))


# ----------------------------------------------------------------------------- a trained scene

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The scene, the same scene rendered without object REMOVED, and a model trained on the first."""
    root = tmp_path_factory.mktemp("editing")
    scene = make_scene(root / "scene", *SCENE_ARGS)
    without = make_scene(root / "scene_without", *SCENE_ARGS, "--without_object", REMOVED)
    model = str(root / "model")
    threads = torch.get_num_threads()
    try:
        assert train.main(["-s", scene, "-m", model, *TRAIN_ARGS]) == 0
    finally:
        torch.set_num_threads(threads)   # --threads is process-wide
    dataset = extract(ModelParams, argparse.Namespace(**read_cfg_args(model)))
    cameras = Scene(dataset, GaussianModel(dataset.sh_degree, dataset.num_objects), load_iteration=-1)
    return SimpleNamespace(root=root, scene=scene, without=without, model=model,
                           prompts=os.path.join(scene, "prompts.json"),
                           train_cameras=cameras.getTrainCameras(), test_cameras=cameras.getTestCameras())


def folder_digest(folder: str) -> dict[str, str]:
    digests = {}
    for parent, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(parent, name)
            with open(path, "rb") as fh:
                digests[os.path.relpath(path, folder)] = hashlib.sha256(fh.read()).hexdigest()
    return digests


@torch.no_grad()
def rgb_and_ids(model: model_folder.LoadedModel, camera) -> tuple[np.ndarray, np.ndarray]:
    """Rendered colour (H, W, 3) in [0, 1] and predicted ids (H, W)."""
    out = render(camera, model.gaussians, PIPE, BLACK)
    ids = model.classifier(out["render_object"]).argmax(dim=0).numpy()
    return out["render"].clamp(0, 1).permute(1, 2, 0).numpy(), ids


def id_map(model: model_folder.LoadedModel, camera) -> np.ndarray:
    return rgb_and_ids(model, camera)[1]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return np.count_nonzero(a & b) / max(np.count_nonzero(a | b), 1)


def test_removal_leaves_no_trace_of_the_id_and_uncovers_the_background(trained):
    out = str(trained.root / "removed")
    source = folder_digest(trained.model)
    assert edit.main(["-m", trained.model, "-o", out, "--remove", "cyan mottled sphere",
                      "--prompt_ids", trained.prompts, "--quiet"]) == 0
    assert folder_digest(trained.model) == source
    # edit.py rendered the test views with render.py: the raw id maps lack the removed id
    id_folder = os.path.join(out, "test", f"ours_{model_folder.load_model(out).iteration}", "objects_pred_id")
    assert sorted(os.listdir(id_folder)) == sorted(c.image_name + ".png" for c in trained.test_cameras)
    for name in os.listdir(id_folder):
        assert not np.any(read_id_map(os.path.join(id_folder, name)) == REMOVED), name
    original, edited = model_folder.load_model(trained.model), model_folder.load_model(out)
    assert edited.gaussians.num_points < original.gaussians.num_points
    ious_before, ious_after, squared_before, squared_after, pixels = [], [], 0.0, 0.0, 0
    for camera in trained.train_cameras + trained.test_cameras:
        region = read_id_map(os.path.join(trained.scene, "object_mask", camera.image_name + ".png")) == REMOVED
        truth = read_rgb(os.path.join(trained.without, "images", camera.image_name + ".png"), False)
        (rgb_before, ids_before), (rgb_after, ids_after) = rgb_and_ids(original, camera), rgb_and_ids(edited, camera)
        ious_before.append(iou(ids_before == REMOVED, region))
        ious_after.append(iou(ids_after == REMOVED, region))
        squared_before += np.sum((rgb_before[region] - truth[region]) ** 2)
        squared_after += np.sum((rgb_after[region] - truth[region]) ** 2)
        pixels += 3 * np.count_nonzero(region)
    psnr_before, psnr_after = (10 * np.log10(pixels / e) for e in (squared_before, squared_after))
    print(f"removed id: mean IoU {np.mean(ious_before):.3f} -> {np.mean(ious_after):.3f}; region PSNR "
          f"vs the ground truth without it {psnr_before:.2f} -> {psnr_after:.2f} dB over {len(ious_after)} views")
    assert np.mean(ious_before) > 0.7 and max(ious_after) == 0.0
    assert psnr_after > psnr_before + 3.0


def project(camera, point: np.ndarray) -> np.ndarray:
    """Pixel (x, y) of a world point (3DGS: ndc -> ((ndc + 1) * S - 1) / 2)."""
    clip = torch.cat([torch.as_tensor(point, dtype=torch.float32), torch.ones(1)]) @ camera.full_proj_transform
    ndc = (clip[:2] / clip[3]).numpy()
    return (np.array([(ndc[0] + 1) * camera.image_width, (ndc[1] + 1) * camera.image_height]) - 1) / 2


def region_centre(ids: np.ndarray, object_id: int) -> np.ndarray:
    ys, xs = np.nonzero(ids == object_id)
    return np.array([xs.mean(), ys.mean()])


def isolated_visibility(model: model_folder.LoadedModel, camera, object_id: int) -> float:
    """Fraction of an object's own silhouette (its group rendered alone) that the scene shows."""
    alone = copy.deepcopy(model)
    alone.gaussians.prune_points(edited_folder.predicted_ids(model.gaussians, model.classifier) != object_id)
    silhouette = id_map(alone, camera) == object_id
    return np.count_nonzero(silhouette & (id_map(model, camera) == object_id)) / max(np.count_nonzero(silhouette), 1)


def test_swap_moves_each_id_region_by_the_projected_offset(trained, tmp_path):
    original = model_folder.load_model(trained.model)
    out, record = operations.run_edit_plan(edit_plan.parse_edit_plan(
        {"model": trained.model, "output": str(tmp_path / "swapped"),
         "edits": [{"op": "swap", "objects": list(SWAPPED)}]}))
    swapped = model_folder.load_model(out)
    # Gaussians of neither group are untouched
    masks = [operations.select(original.gaussians, original.classifier, operations.Selection((i,))) for i in SWAPPED]
    others = ~(masks[0] | masks[1])
    for name, param in original.gaussians.parameters_by_group().items():
        assert torch.equal(swapped.gaussians.parameters_by_group()[name][others], param[others]), name
    # Occlusion between the objects changes with the swap and shifts a region's centre on its
    # own; the test view where both objects are least hidden (before and after) is the fair one.
    centres = [np.array(c) for c in record["edits"][0]["centres"]]
    camera = max(trained.test_cameras, key=lambda c: min(
        isolated_visibility(m, c, i) for m in (original, swapped) for i in SWAPPED))
    before, after = id_map(original, camera), id_map(swapped, camera)
    for object_id, start, end in ((SWAPPED[0], *centres), (SWAPPED[1], *centres[::-1])):
        expected = project(camera, end) - project(camera, start)
        moved = region_centre(after, object_id) - region_centre(before, object_id)
        assert np.linalg.norm(expected) > 6.0       # the check can tell moved from unmoved
        assert np.linalg.norm(moved - expected) < 1.5, (object_id, moved, expected)


def test_export_then_reimport_of_all_groups_reproduces_the_render(trained, tmp_path):
    out, record = operations.run_edit_plan(edit_plan.parse_edit_plan(
        {"model": trained.model, "output": str(tmp_path / "exported"), "export_groups": True,
         "prompt_ids": trained.prompts}))
    index = json.loads((tmp_path / "exported" / "groups" / "index.json").read_text())
    original = model_folder.load_model(trained.model)
    assert sum(group["count"] for group in index) == original.gaussians.num_points
    sphere = next(group for group in index if group["id"] == REMOVED)
    assert sphere["prompts"] == ["cyan mottled sphere"]
    rebuilt = operations.run_edit_plan(edit_plan.parse_edit_plan(
        {"model": trained.model, "output": str(tmp_path / "rebuilt"), "threshold": 0.0,
         "edits": [{"op": "remove", "objects": list(range(8))}]  # every Gaussian
                  + [{"op": "insert", "ply": os.path.join(out, "groups", g["file"])} for g in index]}))
    reimported = model_folder.load_model(rebuilt[0])
    assert reimported.gaussians.num_points == original.gaussians.num_points
    for camera in trained.test_cameras:
        torch.testing.assert_close(render(camera, reimported.gaussians, PIPE, BLACK)["render"],
                                   render(camera, original.gaussians, PIPE, BLACK)["render"], atol=1e-5, rtol=0)
    # each group file is a plain 3DGS PLY with the identity channels after it
    from plyfile import PlyData
    names = [p.name for p in PlyData.read(os.path.join(out, "groups", sphere["file"]))["vertex"].properties]
    assert names[:9] == ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    assert {"opacity", "scale_0", "rot_3", "f_rest_8", "obj_dc_15"} <= set(names)


def test_recolour_changes_only_the_groups_pixels(trained):
    model = model_folder.load_model(trained.model)
    mask = operations.select(model.gaussians, model.classifier, operations.Selection((3,)))
    before = {c.image_name: rgb_and_ids(model, c) for c in trained.test_cameras}
    weight_colour = mask.float()[:, None].repeat(1, 3)
    weights = {c.image_name: render(c, model.gaussians, PIPE, BLACK, override_color=weight_colour)["render"][0]
               .detach().numpy() for c in trained.test_cameras}
    operations.recolour_group(model.gaussians, mask, rgb=np.array([1.0, 0.0, 0.0]), keep_view_dependent=False)
    for camera in trained.test_cameras:
        name = camera.image_name
        (after, ids_after), (rgb_before, ids_before) = rgb_and_ids(model, camera), before[name]
        untouched = weights[name] == 0
        assert untouched.any() and np.array_equal(after[untouched], rgb_before[untouched])
        covered = weights[name] > 0.9
        assert covered.any()
        # a blue box turned red: red rises, blue falls wherever the group covers the pixel
        assert np.all(after[covered, 0] > rgb_before[covered, 0] + 0.3)
        assert np.all(after[covered, 2] < rgb_before[covered, 2] - 0.05)
        assert np.array_equal(ids_after, ids_before)


def test_inserted_group_takes_the_requested_identity(trained, tmp_path):
    out, _ = operations.run_edit_plan(edit_plan.parse_edit_plan(
        {"model": trained.model, "output": str(tmp_path / "groups"), "export_groups": True}))
    plan = edit_plan.parse_edit_plan({"model": trained.model, "output": str(tmp_path / "inserted"), "edits": [
        {"op": "insert", "ply": os.path.join(out, "groups", edited_folder.group_file_name(REMOVED)),
         "translation": [0.0, 0.0, 1.5], "rotation": {"axis": [0, 0, 1], "degrees": 45}, "identity": 3}]})
    inserted_path, record = operations.run_edit_plan(plan)
    original, inserted = model_folder.load_model(trained.model), model_folder.load_model(inserted_path)
    n, count = original.gaussians.num_points, record["edits"][0]["count"]
    assert inserted.gaussians.num_points == n + count
    assert torch.all(edited_folder.predicted_ids(inserted.gaussians, inserted.classifier)[n:] == 3)
    group = operations.read_group_ply(plan.edits[0]["ply"], original.gaussians)["xyz"].double().numpy()
    centre = np.array(record["edits"][0]["centre"])
    turned = (group - centre) @ Rotation.from_rotvec([0, 0, math.pi / 4]).as_matrix().T + centre + [0, 0, 1.5]
    np.testing.assert_allclose(inserted.gaussians.get_xyz.detach()[n:].numpy(), turned, atol=1e-5, rtol=0)


def test_output_folder_must_be_new_and_apart_from_the_source(trained, tmp_path):
    plan = {"model": trained.model, "export_groups": True}
    with pytest.raises(ConfigError, match="overlaps the source model"):
        operations.run_edit_plan(edit_plan.parse_edit_plan({**plan, "output": os.path.join(trained.model, "edited")}))
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        operations.run_edit_plan(edit_plan.parse_edit_plan({**plan, "output": str(occupied)}))
    with pytest.raises(ConfigError, match="has no edit.json"):
        operations.run_edit_plan(edit_plan.parse_edit_plan({**plan, "output": str(occupied)}), force=True)
    assert (occupied / "notes.txt").read_text() == "mine"
    first, _ = operations.run_edit_plan(edit_plan.parse_edit_plan({**plan, "output": str(tmp_path / "e")}))
    again, _ = operations.run_edit_plan(edit_plan.parse_edit_plan({**plan, "output": first}), force=True)
    assert again == first and os.path.isfile(os.path.join(first, "groups", "index.json"))


def test_edit_file_with_every_operation_keeps_the_source_byte_identical(trained, tmp_path):
    source = folder_digest(trained.model)
    path = write_plan(tmp_path, {
        "model": trained.model, "output": "edited", "prompt_ids": trained.prompts, "export_groups": True,
        "edits": [{"op": "remove", "objects": ["cyan mottled sphere"], "convex_hull": True},
                  {"op": "swap", "objects": [1, 3], "rotation_a": {"axis": [0, 0, 1], "degrees": 30}},
                  {"op": "transform", "objects": [1], "translation": [0.1, 0.0, 0.0]},
                  {"op": "recolour", "objects": ["blue checkered box"], "shift": [0.2, 0.0, -0.1]}]})
    assert edit.main(["--edits", path, "--skip_render", "--quiet"]) == 0
    assert folder_digest(trained.model) == source
    out = str(tmp_path / "edited")
    cfg, source_cfg = read_cfg_args(out), read_cfg_args(trained.model)
    assert cfg["source_path"] == source_cfg["source_path"] and cfg["model_path"] == out
    record = json.loads((tmp_path / "edited" / "edit.json").read_text())
    assert [e["op"] for e in record["edits"]] == ["remove", "swap", "transform", "recolour"]
    assert record["edits"][0]["ids"] == [REMOVED] and record["edits"][3]["ids"] == [3]
    assert os.path.isfile(os.path.join(out, "groups", "index.json"))
