"""Inpainting after removal (apps/inpainting): the 2D inpainters (OpenCV, and the LaMa adapter's
plumbing with a TorchScript module scripted here), hole masks and their files, lifting pixels,
blend weights, the whole step on a hand-built scene (a ball on a ground whose footprint no view
saw), the edit options' errors, and (slow) `edit.py --remove --inpaint` on a trained synthetic
scene scored against the ray-cast truth without the object."""
import json
import math
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import edit
import train
from apps.editing import plan as edit_plan
from scene.model_folder import load_model
from apps.inpainting import holes, inpainters, pipeline, seeding
from arguments import ConfigError, ModelParams, PipelineParams, saved_params
from gaussian_renderer import render
from scene import Scene
from scene.gaussian_model import GaussianModel
from tests.conftest import make_scene
from tests.test_editing import SCENE_ARGS, TRAIN_ARGS, folder_digest
from tests.test_reference_rasterizer import make_camera
from utils.errors import DataError
from utils.general_utils import inverse_sigmoid
from utils.graphics_utils import BasicPointCloud, look_at_world_to_camera
from utils.image_io import read_id_map, read_rgb, write_png
from utils.loss_utils import masked_l1_loss

PIPE = PipelineParams(device="cpu")
BLACK = torch.zeros(3)
GROUND_RGB = np.array([0.6, 0.5, 0.4])
BALL_RGB = np.array([0.1, 0.2, 0.9])


# ----------------------------------------------------------------------------- 2D inpainters

def smooth_image(height: int = 30, width: int = 45) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([cols / width, rows / height, 0.5 + 0 * rows], axis=-1).astype(np.float32)


@pytest.mark.parametrize("method", ["telea", "ns"])
def test_opencv_inpainter_fills_a_smooth_image_and_keeps_the_rest(method):
    image = smooth_image()
    mask = np.zeros(image.shape[:2], bool)
    mask[10:18, 15:25] = True
    damaged = np.where(mask[..., None], 0.0, image).astype(np.float32)
    filled = inpainters.OpenCVInpainter(method)(damaged, mask)
    assert np.array_equal(filled[~mask], damaged[~mask])
    assert np.abs(filled[mask] - image[mask]).mean() < 0.03   # the zeros were far off (0.4)


class TinyLama(torch.nn.Module):
    """A randomly initialised stand-in with LaMa's interface: it refuses sizes that are not
    multiples of 8, images outside [0, 1] and masks that are not 0/1 (1 = hole)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        assert image.shape[2] % 8 == 0 and image.shape[3] % 8 == 0, "sizes must be multiples of 8"
        assert bool(((mask == 0) | (mask == 1)).all()), "mask must be 0/1"
        assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0, "image must be in [0, 1]"
        return torch.sigmoid(self.conv(torch.cat([image * (1 - mask), mask], dim=1)))


def test_lama_adapter_pads_to_multiples_of_8_and_composites(tmp_path):
    torch.manual_seed(0)
    # traced (a TorchScript file like big-lama.pt); the checks in forward run on the trace's input
    module = torch.jit.trace(TinyLama(), (torch.rand(1, 3, 32, 48), (torch.rand(1, 1, 32, 48) > 0.5).float()))
    path = str(tmp_path / "big-lama.pt")
    module.save(path)
    image = smooth_image(30, 45)           # neither side a multiple of 8
    mask = np.zeros((30, 45), bool)
    mask[5:12, 30:40] = True
    filled = inpainters.make_inpainter("lama", path)(image, mask)
    assert filled.shape == image.shape and filled.dtype == np.float32
    assert np.array_equal(filled[~mask], image[~mask])
    # inside: the module's output on the reflection-padded 32x48 input, cropped back
    x = torch.nn.functional.pad(torch.from_numpy(image).permute(2, 0, 1)[None], (0, 3, 0, 2), mode="reflect")
    m = torch.nn.functional.pad(torch.from_numpy(mask.astype(np.float32))[None, None], (0, 3, 0, 2))
    expected = module(x, m)[0, :, :30, :45].permute(1, 2, 0).detach().numpy()
    np.testing.assert_allclose(filled[mask], expected[mask], atol=1e-6)
    assert np.abs(filled[mask] - image[mask]).max() > 0.01    # it did change the hole


def test_lama_checkpoint_that_does_not_exist_is_a_one_line_error(tmp_path):
    missing = str(tmp_path / "big-lama.pt")
    with pytest.raises(DataError, match=f"LaMa checkpoint not found: {missing}"):
        inpainters.make_inpainter("lama", missing)
    (tmp_path / "junk.pt").write_text("not a model")
    with pytest.raises(DataError, match="junk.pt: not a TorchScript LaMa module"):
        inpainters.make_inpainter("lama", str(tmp_path / "junk.pt"))


def test_masked_l1_is_the_mean_over_the_masked_pixels():
    image, gt = torch.zeros(3, 4, 5), torch.zeros(3, 4, 5)
    image[:, 0, 0], image[:, 1, 1] = 0.6, 2.0
    mask = torch.zeros(4, 5, dtype=torch.bool)
    mask[0, :2] = True
    assert masked_l1_loss(image, gt, mask).item() == pytest.approx(0.3)
    assert masked_l1_loss(image, gt, torch.zeros(4, 5, dtype=torch.bool)).item() == 0.0


# ----------------------------------------------------------------------------- geometry and masks

def orbit_camera(angle_deg: float, name: str, width: int = 48, height: int = 36) -> SimpleNamespace:
    angle = math.radians(angle_deg)
    eye = np.array([1.3 * math.cos(angle), 1.3 * math.sin(angle), 2.3])
    camera = make_camera(width, height, math.radians(50), look_at_world_to_camera(eye, np.array([0, 0, 0.15])))
    camera.image_name = name
    return camera


def test_lifted_pixels_project_back_to_their_pixels():
    camera = orbit_camera(30, "v")
    rows, cols = np.array([0, 10, 35]), np.array([0, 24, 47])
    depth = np.array([1.5, 2.5, 3.0])
    world = seeding.lift_pixels(camera, rows, cols, depth)
    clip = torch.cat([world, torch.ones(3, 1)], dim=1) @ camera.full_proj_transform
    ndc = clip[:, :2] / clip[:, 3:]
    pixel_x = ((ndc[:, 0] + 1) * camera.image_width - 1) / 2     # the rasterizer's ndc2Pix
    pixel_y = ((ndc[:, 1] + 1) * camera.image_height - 1) / 2
    np.testing.assert_allclose(pixel_x.numpy(), cols, atol=1e-3)
    np.testing.assert_allclose(pixel_y.numpy(), rows, atol=1e-3)
    view_z = (torch.cat([world, torch.ones(3, 1)], dim=1) @ camera.world_view_transform)[:, 2]
    np.testing.assert_allclose(view_z.numpy(), depth, atol=1e-5)


def ball_on_ground(num_objects: int = 4) -> tuple[GaussianModel, torch.Tensor]:
    """A ground grid (identity encoding e0) with no Gaussian in the ball's footprint (no view
    saw it) and a ball (e1) standing on it; returns the model and the ball's rows."""
    xs = np.arange(-1.0, 1.0001, 0.04)
    grid = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)
    grid = grid[np.linalg.norm(grid, axis=1) > 0.3]
    ground = np.concatenate([grid, np.zeros((len(grid), 1))], axis=1)
    rng = np.random.default_rng(0)
    directions = rng.normal(size=(800, 3))
    ball = np.array([0, 0, 0.3]) + 0.3 * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    points = np.concatenate([ground, ball])
    colours = np.concatenate([np.tile(GROUND_RGB, (len(ground), 1)), np.tile(BALL_RGB, (len(ball), 1))])
    model = GaussianModel(0, num_objects)
    model.create_from_pcd(BasicPointCloud(points, colours, np.zeros_like(points)), spatial_lr_scale=1.0)
    n = len(points)
    model.replace_tensor_to_optimizer(inverse_sigmoid(torch.full((n, 1), 0.95)), "opacity")
    model.replace_tensor_to_optimizer(torch.full((n, 3), math.log(0.03)), "scaling")
    identity = torch.zeros((n, 1, num_objects))
    identity[:len(ground), 0, 0] = 1.0
    identity[len(ground):, 0, 1] = 1.0
    model.replace_tensor_to_optimizer(identity, "obj_dc")
    removed = torch.zeros(n, dtype=torch.bool)
    removed[len(ground):] = True
    return model, removed


@pytest.fixture
def ball_scene():
    model, removed = ball_on_ground()
    cameras = [orbit_camera(angle, f"view_{i}") for i, angle in enumerate(range(0, 360, 60))]
    return model, removed, cameras


def test_blend_weights_of_every_gaussian_add_up_to_the_alpha(ball_scene):
    model, _, cameras = ball_scene
    ones = torch.ones((1, 36, 48))
    weights = holes.blend_weights(cameras[:2], model, PIPE, BLACK, lambda index: ones)
    alpha = sum(render(c, model, PIPE, BLACK)["alpha"].sum() for c in cameras[:2])
    assert weights.shape == (model.num_points, 1)
    assert alpha > 100
    torch.testing.assert_close(weights.sum(), alpha.detach(), rtol=1e-4, atol=0)


def test_the_hole_is_where_the_ball_was_and_the_ground_is_missing(ball_scene):
    model, removed, cameras = ball_scene
    seen = holes.seen_gaussians(cameras, model, PIPE, BLACK, 1.0)
    masks = holes.hole_masks(cameras, model, removed, seen, PIPE, holes.HoleOptions(dilate=0))
    kept, alone = holes.split_model(model, removed)
    for camera, mask in zip(cameras, masks):
        ball = render(camera, alone, PIPE, BLACK)["alpha"][0].detach().numpy() > 0.5
        ground = render(camera, kept, PIPE, BLACK)["alpha"][0].detach().numpy() > 0.5
        assert mask.any() and not np.any(mask & ~ball)            # only where the ball was
        assert np.all(mask[ball & ~ground])                       # every pixel without ground
        assert mask.sum() < ball.sum()                            # the seen ground behind is not a hole


def test_hole_mask_files_round_trip_and_wrong_sizes_are_refused(tmp_path, ball_scene):
    _, _, cameras = ball_scene
    masks = [np.zeros((36, 48), bool) for _ in cameras]
    masks[1][5:9, 7:20] = True
    holes.write_masks(str(tmp_path), [c.image_name for c in cameras], masks)
    read = holes.read_masks(str(tmp_path), cameras)
    assert all(np.array_equal(a, b) for a, b in zip(read, masks))
    write_png(str(tmp_path / "view_2.png"), np.zeros((36, 40), np.uint8))
    with pytest.raises(DataError, match="view_2.png: hole mask is 40x36 pixels, the view is 48x36"):
        holes.read_masks(str(tmp_path), cameras)
    os.remove(tmp_path / "view_3.png")
    with pytest.raises(DataError, match="view_3.png: hole mask of training view view_3 is missing"):
        holes.read_masks(str(tmp_path), cameras[3:])


def rows_of(model: GaussianModel) -> torch.Tensor:
    """(N, P) all parameters of each Gaussian side by side."""
    return torch.cat([param.detach().flatten(start_dim=1) for param in model.parameters_by_group().values()], dim=1)


def test_inpainting_fills_the_footprint_with_ground_and_moves_nothing_far_away(ball_scene):
    model, removed, cameras = ball_scene
    views = pipeline.TrainingViews(cameras, extent=3.0, background=BLACK)
    plain, _ = holes.split_model(model, removed)
    far = plain.get_xyz.detach()[:, :2].abs().max(dim=1).values > 0.6   # the ball's box [-0.3, 0.3] grown by 0.26
    before = rows_of(plain)[far]
    options = pipeline.InpaintOptions(finetune=pipeline.FinetuneOptions(iterations=60))
    result = pipeline.inpaint_removal(model, removed, views, options, PIPE)
    record = result.record
    assert record["seeded"] > 20 and model.num_points == plain.num_points + record["kept_after_finetune"]
    # every far Gaussian is still there, bit for bit (moving ones that became transparent are
    # dropped, so rows shift)
    assert torch.cdist(before, rows_of(model), compute_mode="donot_use_mm_for_euclid_dist").min(dim=1).values.max() == 0.0
    new_identity = model.get_objects.detach()[plain.num_points:, 0]
    assert torch.all(new_identity.argmax(dim=1) == 0)        # the ground's encoding
    errors_plain, errors_filled = [], []
    for camera, mask in zip(cameras, result.masks):
        missing = mask & (render(camera, plain, PIPE, BLACK)["alpha"][0].detach().numpy() < 0.5)
        for gaussians, errors in ((plain, errors_plain), (model, errors_filled)):
            image = render(camera, gaussians, PIPE, BLACK)["render"].detach().permute(1, 2, 0).numpy()
            errors.append(np.abs(image[missing] - GROUND_RGB).mean())
    print(f"ground colour error where the ground was missing: {np.mean(errors_plain):.3f} -> "
          f"{np.mean(errors_filled):.3f}")
    assert np.mean(errors_plain) > 0.3                       # black where the ground is missing
    assert np.mean(errors_filled) < 0.1, errors_filled


def test_inpainting_with_an_empty_hole_is_an_error(ball_scene, tmp_path):
    model, removed, cameras = ball_scene
    holes.write_masks(str(tmp_path), [c.image_name for c in cameras], [np.zeros((36, 48), bool)] * len(cameras))
    with pytest.raises(ValueError, match="leaves no hole in any training view; nothing to inpaint"):
        pipeline.inpaint_removal(model, removed, pipeline.TrainingViews(cameras, 3.0, BLACK),
                                 pipeline.InpaintOptions(masks=str(tmp_path)), PIPE)


# ----------------------------------------------------------------------------- options and flags

@pytest.mark.parametrize("value, message", [
    ("yes", "'inpaint' must be true or an object"),
    ({"iterations": 0}, "'iterations' is out of range"),
    ({"iterations": 2.5}, "'iterations' must be int"),
    ({"inpainter": "magic"}, "'inpainter' must be one of"),
    ({"inpainter": "lama"}, "the 'lama' inpainter needs 'lama_checkpoint'"),
    ({"steps": 5}, "unknown 'inpaint' key(s) ['steps']"),
])
def test_bad_inpaint_options_name_the_edit(value, message):
    with pytest.raises(ConfigError) as err:
        pipeline.parse_inpaint_options(value, "edits.json, edit 1")
    assert str(err.value).startswith("edits.json, edit 1: ") and message in str(err.value)


def test_an_edit_file_checks_inpaint_before_any_work(tmp_path):
    path = tmp_path / "edits.json"
    path.write_text(json.dumps({"model": "m", "output": "o", "edits": [
        {"op": "remove", "objects": [1], "inpaint": {"masks": "holes"}},
        {"op": "remove", "objects": [2], "inpaint": {"steps": 5}}]}))
    with pytest.raises(ConfigError, match=f"{path}, edit 2: unknown 'inpaint' key"):
        edit_plan.read_edit_plan(str(path))
    path.write_text(json.dumps({"model": "m", "output": "o", "edits": [
        {"op": "swap", "objects": [1, 2], "inpaint": True}]}))
    with pytest.raises(ConfigError, match="unknown key\(s\) \['inpaint'\] for 'swap'"):
        edit_plan.read_edit_plan(str(path))


def test_inpaint_options_resolve_paths_and_set_their_part():
    options = pipeline.parse_inpaint_options({"masks": "holes", "iterations": 50, "seed_views": 3}, "t", "/base")
    assert options.masks == "/base/holes" and options.finetune.iterations == 50 and options.seeds.views == 3
    assert pipeline.parse_inpaint_options(True, "t") == pipeline.InpaintOptions()


def test_inpaint_flags_need_a_removal(capsys):
    args = edit.build_parser().parse_args(["-m", "m", "-o", "o", "--remove", "2", "--inpaint",
                                           "--inpaint_iterations", "50"])
    assert edit.plan_from_args(args).edits == [{"op": "remove", "objects": [2], "inpaint": {"iterations": 50}}]
    assert edit.main(["-m", "m", "-o", "o", "--recolour", "2", "--rgb", "1", "0", "0", "--inpaint"]) == 1
    assert capsys.readouterr().err.strip().endswith("--inpaint fills what --remove leaves behind: give "
                                                    "--remove OBJ (nothing is removed)")
    with pytest.raises(ConfigError, match="--lama_checkpoint needs --inpaint"):
        edit.plan_from_args(edit.build_parser().parse_args(["-m", "m", "-o", "o", "--remove", "2",
                                                            "--lama_checkpoint", "x.pt"]))


# ----------------------------------------------------------------------------- a trained scene

BOX = 3   # the blue box of the test suite's tiny scene: its footprint is never seen


@pytest.mark.slow
def test_edit_py_inpaints_a_removed_box_against_the_truth_without_it(tmp_path, capsys):
    scene = make_scene(tmp_path / "scene", *SCENE_ARGS)
    without = make_scene(tmp_path / "without", *SCENE_ARGS, "--without_object", BOX)
    model = str(tmp_path / "model")
    threads = torch.get_num_threads()
    try:
        assert train.main(["-s", scene, "-m", model, *TRAIN_ARGS]) == 0
    finally:
        torch.set_num_threads(threads)   # --threads is process-wide
    source = folder_digest(model)
    removed, filled = str(tmp_path / "removed"), str(tmp_path / "filled")
    assert edit.main(["-m", model, "-o", removed, "--remove", str(BOX), "--skip_render", "--quiet"]) == 0
    assert edit.main(["-m", model, "-o", filled, "--remove", str(BOX), "--inpaint", "--inpaint_iterations", "150",
                      "--quiet"]) == 0
    assert folder_digest(model) == source
    train_names = sorted(f"{c.image_name}.png" for c in training_views_of(model))
    for folder in ("masks", "views"):
        assert sorted(os.listdir(os.path.join(filled, "inpaint", folder))) == train_names
    # the edited model was rendered on the test views; the removed id is gone from its id maps
    iteration = load_model(filled).iteration
    id_folder = os.path.join(filled, "test", f"ours_{iteration}", "objects_pred_id")
    assert all(not np.any(read_id_map(os.path.join(id_folder, n)) == BOX) for n in os.listdir(id_folder))
    scores = {label: region_psnrs(path, scene, without) for label, path in (("removed", removed), ("filled", filled))}
    print(f"test views, PSNR against the truth without the box: inside {scores['removed'][0]:.2f} -> "
          f"{scores['filled'][0]:.2f} dB, outside {scores['removed'][1]:.2f} -> {scores['filled'][1]:.2f} dB")
    assert scores["filled"][0] > scores["removed"][0] + 1.5      # measured +2.8 dB
    assert abs(scores["filled"][1] - scores["removed"][1]) < 0.2
    # a hole mask folder of the wrong size is a one-line error naming the file
    bad = tmp_path / "bad_masks"
    bad.mkdir()
    write_png(str(bad / train_names[0]), np.zeros((10, 10), np.uint8))
    capsys.readouterr()
    assert edit.main(["-m", model, "-o", str(tmp_path / "bad"), "--remove", str(BOX), "--inpaint",
                      "--inpaint_masks", str(bad), "--skip_render"]) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and error.endswith(f"{bad / train_names[0]}: hole mask is 10x10 pixels, the view is 64x48")
    assert not os.path.exists(tmp_path / "bad")


def training_views_of(model: str) -> list:
    return pipeline.training_views(model, -1, "cpu").cameras


@torch.no_grad()
def region_psnrs(model_path: str, scene: str, without: str) -> tuple[float, float]:
    """PSNR (dB) of the model's test renders against the scene without the box, pooled inside
    the box's true region and outside it."""
    model = load_model(model_path)
    dataset = saved_params(ModelParams, model_path)
    cameras = Scene(dataset, GaussianModel(dataset.sh_degree, dataset.num_objects), load_iteration=-1).getTestCameras()
    sums = np.zeros(2)
    counts = np.zeros(2)
    for camera in cameras:
        image = render(camera, model.gaussians, PIPE, BLACK)["render"].clamp(0, 1).permute(1, 2, 0).numpy()
        truth = read_rgb(os.path.join(without, "images", camera.image_name + ".png"), False)
        inside = read_id_map(os.path.join(scene, "object_mask", camera.image_name + ".png")) == BOX
        for k, region in enumerate((inside, ~inside)):
            sums[k] += np.sum((image[region] - truth[region]) ** 2)
            counts[k] += 3 * region.sum()
    return tuple(float(10 * np.log10(c / s)) for c, s in zip(counts, sums))
