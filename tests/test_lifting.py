"""Lifting 2D masks onto a trained model (method/lifting.py, apps/lift_model.py, lift.py): the
evidence is the blending weight per label, labels of a model whose truth is known come back, the
output renders, and bad input is one line."""
import json
import math
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from plyfile import PlyData, PlyElement

import edit
import gaussian_renderer
import lift
import render
from scene.model_folder import load_model
from apps.lift_model import load_gaussians
from arguments import PipelineParams, parse_training_args
from bench.synthetic.raytrace import render_view
from bench.synthetic.scene import read_scene_config, scene_geometry
from method.lifting import (
    FROM_EVIDENCE,
    FROM_NEIGHBOURS,
    UNKNOWN,
    Evidence,
    LiftRules,
    accumulate_evidence,
    assign_labels,
    lifted_classifier,
    lifted_encodings,
)
from scene.cameras import Camera
from scene.gaussian_model import GaussianModel
from training.trainer import Trainer
from utils.general_utils import inverse_sigmoid
from utils.graphics_utils import focal2fov
from utils.ply_io import read_gaussian_ply_layout

BACKENDS = ["cpp", "reference"]


# ----------------------------------------------------------------------------- the evidence

def two_gaussians() -> GaussianModel:
    """Two opaque Gaussians 3 units in front of the camera, one left, one right."""
    model = GaussianModel(0, 1)
    n = 2
    model._set_parameters({
        "xyz": torch.tensor([[-0.6, 0.0, 3.0], [0.6, 0.1, 3.0]]),
        "f_dc": torch.zeros((n, 1, 3)), "f_rest": torch.zeros((n, 0, 3)),
        "opacity": inverse_sigmoid(torch.tensor([[0.9], [0.7]])),
        "scaling": torch.log(torch.full((n, 3), 0.25)),
        "rotation": torch.tensor([[1.0, 0, 0, 0], [1.0, 0, 0, 0]]),
        "obj_dc": torch.zeros((n, 1, 1)),
    })
    return model


def front_camera(size: int = 32) -> Camera:
    return Camera(uid=0, R=np.eye(3), T=np.zeros(3), FoVx=math.radians(60), FoVy=math.radians(60),
                  image=torch.zeros(3, size, size), objects=None, image_name="front")


def blending_weights(model: GaussianModel, camera: Camera, backend: str) -> torch.Tensor:
    """(N, H, W) w_g(p) by the forward pass alone: Gaussian g's identity is the g-th one-hot."""
    eye = torch.eye(model.num_points)[:, None, :]
    with torch.no_grad():
        return gaussian_renderer.render(camera, model, PipelineParams(backend=backend), torch.zeros(3),
                              override_objects=eye)["render_object"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_evidence_is_the_blending_weight_summed_over_each_label(backend):
    model, camera = two_gaussians(), front_camera()
    mask = torch.zeros(32, 32, dtype=torch.int64)
    mask[:, 16:] = 2          # label 2 on the right half, 0 on the left
    mask[:4, :] = 7           # and a strip of label 7 on top
    evidence = accumulate_evidence(model, [(camera, mask)], [0, 2, 7], PipelineParams(backend=backend),
                                   torch.zeros(3), chunk=2)   # two passes: labels (0, 2) then (7)
    weights = blending_weights(model, camera, backend)
    expected = torch.stack([(weights * (mask == label)).sum(dim=(1, 2)) for label in (0, 2, 7)], dim=1)
    assert torch.allclose(evidence.weights, expected, rtol=1e-4, atol=1e-5)
    # the left Gaussian lies on label 0, the right one on label 2
    assert evidence.weights[0, 0] > 10 * evidence.weights[0, 1]
    assert evidence.weights[1, 1] > 10 * evidence.weights[1, 0]
    labels = assign_labels(evidence, model.get_xyz, LiftRules(min_evidence=0.5)).labels
    assert labels.tolist() == [0, 1]


def test_the_extension_and_the_reference_give_the_same_evidence(tiny_scene):
    config, _ = read_scene_config(tiny_scene)
    model, cameras, masks, _ = known_model(config, views=(0, 5))
    pipes = {backend: PipelineParams(backend=backend) for backend in BACKENDS}
    results = [accumulate_evidence(model, list(zip(cameras, masks)), [0, 1, 2, 3], pipe, torch.zeros(3)).weights
               for pipe in pipes.values()]
    assert results[0].sum() > 100
    assert torch.allclose(results[0], results[1], rtol=1e-3, atol=1e-4)


def test_rules_neighbours_fill_and_far_gaussians_stay_unknown():
    xyz = torch.tensor([[0.0, 0, 0], [0.1, 0, 0], [0.2, 0, 0], [0.15, 0.05, 0], [5.0, 5, 5]])
    weights = torch.tensor([[3.0, 0.0], [0.0, 4.0], [0.5, 2.0], [0.0, 0.0], [0.0, 0.1]])
    result = assign_labels(Evidence([0, 4], weights, [1.0]), xyz,
                           LiftRules(min_evidence=1.0, fill_neighbors=1, fill_radius=0.2))
    assert result.labels.tolist() == [0, 1, 1, 1, -1]
    assert result.source.tolist() == [FROM_EVIDENCE, FROM_EVIDENCE, FROM_EVIDENCE, FROM_NEIGHBOURS, UNKNOWN]
    assert torch.allclose(result.distribution[2], torch.tensor([0.2, 0.8]))
    hard = lifted_encodings(result, 16)
    assert hard.shape == (5, 1, 16) and hard[3, 0, 1] == 1 and hard[4].abs().sum() == 0
    assert torch.allclose(lifted_encodings(result, 16, soft=True)[2, 0, :2], torch.tensor([0.2, 0.8]))


def test_the_closed_form_classifier_gives_each_encoding_its_mask_id():
    label_ids = [0, 3, 9]
    classifier = lifted_classifier(label_ids, 16, 16)
    probabilities = classifier.gaussian_probabilities(torch.eye(16)[:3, None, :])
    assert probabilities.argmax(dim=1).tolist() == label_ids
    assert bool((probabilities.max(dim=1).values > 0.99).all())
    # a blended pixel half of id 3 (opacity 0.6) and a little of id 9 is id 3, above the 0.2 threshold
    pixel = (0.6 * torch.eye(16)[1] + 0.2 * torch.eye(16)[2])[:, None, None]
    probabilities = torch.softmax(classifier(pixel)[:, 0, 0], dim=0)
    assert int(probabilities.argmax()) == 3 and probabilities[3] > 0.2


# ----------------------------------------------------------------------------- a model whose labels are known

def known_model(config, views=(0, 3, 6, 9, 12), stride=2):
    """Gaussians on the visible surface points of some views of the synthetic scene (true label:
    the pixel's exact id), the scene's cameras of those views and their exact masks."""
    geometry, pinholes = scene_geometry(config)
    xyz, rgb, ids, cameras, masks = [], [], [], [], []
    for v in views:
        view = render_view(geometry, pinholes[v], 1)
        hit = view.hit[::stride, ::stride]
        xyz.append(view.points[::stride, ::stride][hit])
        rgb.append(view.colors[::stride, ::stride][hit])
        ids.append(view.ids[::stride, ::stride][hit])
        masks.append(torch.from_numpy(view.ids.astype(np.int64)))
    xyz, rgb, ids = (np.concatenate(a) for a in (xyz, rgb, ids))
    model = GaussianModel(3, 16)
    n = len(xyz)
    spacing = 0.35 * float(np.median(np.linalg.norm(np.diff(xyz, axis=0), axis=1)))
    model._set_parameters({
        "xyz": torch.from_numpy(xyz).float(), "f_dc": (torch.from_numpy(rgb).float()[:, None, :] - 0.5) / 0.2821,
        "f_rest": torch.zeros((n, 15, 3)), "opacity": inverse_sigmoid(torch.full((n, 1), 0.9)),
        "scaling": torch.full((n, 3), math.log(max(spacing, 1e-3))),
        "rotation": torch.tensor([[1.0, 0, 0, 0]]).repeat(n, 1), "obj_dc": torch.zeros((n, 1, 16))})
    model.active_sh_degree = 3
    cameras = [scene_camera(config, pinholes[v], f"frame_{v:05d}") for v in views]
    return model, cameras, masks, torch.from_numpy(ids.astype(np.int64))


def scene_camera(config, pinhole, name):
    """The scene's camera as a 3DGS Camera (world-to-camera R, t of the pinhole)."""
    rotation, translation = pinhole.world_to_camera[:3, :3], pinhole.world_to_camera[:3, 3]
    return Camera(uid=0, R=rotation.T, T=translation, FoVx=focal2fov(pinhole.fx, pinhole.width),
                  FoVy=focal2fov(pinhole.fy, pinhole.height),
                  image=torch.zeros(3, config.height, config.width), objects=None, image_name=name)


def write_original_3dgs_ply(model: GaussianModel, path: str) -> None:
    """The PLY exactly as the original 3DGS code (and gsplat's export) writes it: x y z nx ny nz
    f_dc_0..2 f_rest_0..44 opacity scale_0..2 rot_0..3, float32, nothing else."""
    n = model.num_points
    columns = {"x": model._xyz[:, 0], "y": model._xyz[:, 1], "z": model._xyz[:, 2],
               "nx": torch.zeros(n), "ny": torch.zeros(n), "nz": torch.zeros(n)}
    f_dc = model._features_dc.detach().transpose(1, 2).flatten(1)
    f_rest = model._features_rest.detach().transpose(1, 2).flatten(1)
    columns.update({f"f_dc_{i}": f_dc[:, i] for i in range(3)})
    columns.update({f"f_rest_{i}": f_rest[:, i] for i in range(f_rest.shape[1])})
    columns["opacity"] = model._opacity[:, 0]
    columns.update({f"scale_{i}": model._scaling[:, i] for i in range(3)})
    columns.update({f"rot_{i}": model._rotation[:, i] for i in range(4)})
    vertices = np.empty(n, dtype=[(name, "f4") for name in columns])
    for name, values in columns.items():
        vertices[name] = values.detach().numpy()
    PlyData([PlyElement.describe(vertices, "vertex")]).write(path)


@pytest.fixture(scope="module")
def lifted(tiny_scene, tmp_path_factory):
    """lift.py on a bare PLY in the original 3DGS layout (SH degree 3) whose labels are known."""
    config, _ = read_scene_config(tiny_scene)
    model, _, _, truth = known_model(config)
    root = tmp_path_factory.mktemp("lift")
    ply = str(root / "point_cloud.ply")
    write_original_3dgs_ply(model, ply)
    out = str(root / "lifted")
    assert lift.main(["--ply", ply, "-s", tiny_scene, "-o", out, "--eval", "--quiet"]) == 0
    return {"scene": tiny_scene, "ply": ply, "out": out, "truth": truth, "root": root}


def test_a_3dgs_ply_in_the_original_layout_is_read_with_its_sh_degree(lifted):
    layout = read_gaussian_ply_layout(lifted["ply"])
    assert (layout.sh_degree, layout.num_objects, layout.num_gaussians) == (3, 0, len(lifted["truth"]))
    names = [p.name for p in PlyData.read(lifted["ply"])["vertex"].properties]
    assert len(names) == 62 and not any(name.startswith("obj_dc") for name in names)


def test_lifting_recovers_the_known_labels(lifted):
    model = load_model(lifted["out"])
    predicted = model.classifier.gaussian_probabilities(model.gaussians.get_objects).argmax(dim=1)
    truth = lifted["truth"]
    record = json.load(open(os.path.join(lifted["out"], "lift.json")))
    assert record["label_ids"] == [0, 1, 2, 3] and record["views"] == 14
    accuracy = float((predicted == truth).float().mean())
    assert accuracy > 0.95, accuracy
    for label in (1, 2, 3):   # every object keeps most of its Gaussians
        assert float((predicted[truth == label] == label).float().mean()) > 0.9


def test_render_reads_the_lifted_model_and_segments_the_test_views(lifted):
    out, scene = lifted["out"], lifted["scene"]
    prompts = os.path.join(scene, "prompts.json")
    assert render.main(["-m", out, "--skip_train", "--quiet", "--prompt_ids", prompts]) == 0
    predicted = np.asarray(Image.open(os.path.join(out, "test", "ours_0", "objects_pred_id", "frame_00000.png")))
    exact = np.asarray(Image.open(os.path.join(scene, "object_mask", "frame_00000.png")))
    assert (predicted == exact).mean() > 0.9


def test_edit_removes_a_lifted_object(lifted, tmp_path):
    out = str(tmp_path / "edited")
    assert edit.main(["-m", lifted["out"], "-o", out, "--remove", "2", "--skip_render", "--quiet"]) == 0
    before, after = load_model(lifted["out"]), load_model(out)
    ids_before = before.classifier.gaussian_probabilities(before.gaussians.get_objects).argmax(dim=1)
    ids_after = after.classifier.gaussian_probabilities(after.gaussians.get_objects).argmax(dim=1)
    assert int((ids_before == 2).sum()) > 50 and int((ids_after == 2).sum()) == 0
    assert after.gaussians.num_points == before.gaussians.num_points - int((ids_before == 2).sum())


def test_a_rerun_replaces_only_what_lift_wrote(lifted, tmp_path):
    out = str(tmp_path / "lifted")
    shutil.copytree(lifted["out"], out)
    note = os.path.join(out, "notes.txt")
    open(note, "w").write("mine")
    assert lift.main(["--ply", lifted["ply"], "-s", lifted["scene"], "-o", out, "--eval", "--quiet",
                      "--soft"]) == 0
    assert open(note).read() == "mine"
    assert json.load(open(os.path.join(out, "lift.json")))["rules"]["soft"] is True


def test_train_starts_from_the_lifted_model(lifted, tmp_path):
    args = parse_training_args(["-s", lifted["scene"], "-m", str(tmp_path / "m"), "--eval", "--sh_degree", "3",
                                "--init_identities_from", lifted["out"], "--iterations", "1", "--quiet"])
    trainer = Trainer.from_args(args)
    source = load_model(lifted["out"])
    assert torch.equal(trainer.gaussians.get_objects, source.gaussians.get_objects)
    assert torch.equal(trainer.classifier.weight, source.classifier.weight)
    assert trainer.gaussians.spatial_lr_scale == pytest.approx(trainer.scene.cameras_extent)
    assert trainer.gaussians.optimizer is not None


# ----------------------------------------------------------------------------- bad input: one line

def one_line_error(capsys, argv, *fragments):
    assert lift.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("lift.py: error:"), err
    for fragment in fragments:
        assert fragment in err, err


def test_a_ply_without_3dgs_attributes_is_one_line(lifted, tmp_path, capsys):
    points = np.zeros(4, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    ply = str(tmp_path / "points.ply")
    PlyData([PlyElement.describe(points, "vertex")]).write(ply)
    one_line_error(capsys, ["--ply", ply, "-s", lifted["scene"], "-o", str(tmp_path / "o")],
                   ply, "not a 3D Gaussian Splatting PLY", "f_dc_0")


def test_masks_of_another_size_are_one_line(lifted, tmp_path, capsys):
    masks = tmp_path / "masks"
    shutil.copytree(os.path.join(lifted["scene"], "object_mask"), masks)
    Image.open(masks / "frame_00003.png").resize((32, 24)).save(masks / "frame_00003.png")
    one_line_error(capsys, ["--ply", lifted["ply"], "-s", lifted["scene"], "-o", str(tmp_path / "o"),
                            "--masks", str(masks)], "frame_00003.png", "32x24", "64x48")
    assert not os.path.exists(tmp_path / "o")


def test_cameras_that_do_not_match_the_model_are_one_line(lifted, tmp_path, capsys):
    model = load_gaussians(lifted["ply"], torch.device("cpu"))
    with torch.no_grad():
        model._xyz += torch.tensor([0.0, 0.0, 100.0])   # the model is somewhere else
    moved = str(tmp_path / "moved.ply")
    model.save_ply(moved, with_identity=False)
    one_line_error(capsys, ["--ply", moved, "-s", lifted["scene"], "-o", str(tmp_path / "o")],
                   "cameras do not match the model")
    # a model folder whose cameras.json puts a view elsewhere
    folder = tmp_path / "model"
    shutil.copytree(lifted["out"], folder)
    cameras = json.load(open(folder / "cameras.json"))
    cameras[0]["position"] = [9.0, 9.0, 9.0]
    json.dump(cameras, open(folder / "cameras.json", "w"))
    one_line_error(capsys, ["-m", str(folder), "-o", str(tmp_path / "o2")], "cameras.json", cameras[0]["img_name"],
                   "do not match")


def test_an_output_lift_did_not_write_is_refused(lifted, tmp_path, capsys):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "keep.txt").write_text("x")
    one_line_error(capsys, ["--ply", lifted["ply"], "-s", lifted["scene"], "-o", str(tmp_path / "o")],
                   "not written by lift.py")
    assert (tmp_path / "o" / "keep.txt").read_text() == "x"
