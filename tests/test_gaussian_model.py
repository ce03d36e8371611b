"""GaussianModel: initialisation, optimizer-state surgery under densification, PLY I/O (ours, Gaussian Grouping, plain 3DGS), checkpoint round trip."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from plyfile import PlyData, PlyElement
from scipy.spatial.transform import Rotation

from scene.gaussian_model import GaussianModel
from utils.graphics_utils import BasicPointCloud
from utils.sh_utils import C0

GROUPS = ["xyz", "f_dc", "f_rest", "opacity", "scaling", "rotation", "obj_dc"]


def opt_args(**overrides):
    args = dict(position_lr_init=0.00016, position_lr_final=0.0000016, position_lr_delay_mult=0.01,
                position_lr_max_steps=30_000, feature_lr=0.0025, opacity_lr=0.05, scaling_lr=0.005,
                rotation_lr=0.001, percent_dense=0.01, object_lr=0.0025)
    args.update(overrides)
    return SimpleNamespace(**args)


def random_pcd(n, seed=0):
    rng = np.random.default_rng(seed)
    return BasicPointCloud(points=rng.uniform(-1, 1, (n, 3)), colors=rng.uniform(0, 1, (n, 3)),
                           normals=np.zeros((n, 3)))


def make_model(n=12, sh_degree=1, num_objects=4, seed=0, **opt_overrides):
    torch.manual_seed(seed)
    model = GaussianModel(sh_degree, num_objects)
    model.create_from_pcd(random_pcd(n, seed), spatial_lr_scale=2.0)
    with torch.no_grad():  # non-trivial values in every parameter
        for param in model.parameters_by_group().values():
            param.add_(0.1 * torch.randn_like(param))
    model.training_setup(opt_args(**opt_overrides))
    return model


def set_known_grads(model, seed):
    g = torch.Generator().manual_seed(seed)
    for param in model.parameters_by_group().values():
        param.grad = torch.randn(param.shape, generator=g)


def take_steps(model, num_steps, seed=100):
    for i in range(num_steps):
        set_known_grads(model, seed + i)
        model.optimizer.step()
        model.optimizer.zero_grad(set_to_none=True)


def adam_rows(model):
    """group name -> (exp_avg, exp_avg_sq, step) copies; checks the state is keyed by the
    model's current parameter."""
    rows = {}
    for group in model.optimizer.param_groups:
        param = group["params"][0]
        assert param is model.parameters_by_group()[group["name"]]
        state = model.optimizer.state[param]
        assert state["exp_avg"].shape == param.shape == state["exp_avg_sq"].shape
        rows[group["name"]] = (state["exp_avg"].clone(), state["exp_avg_sq"].clone(), state["step"].item())
    return rows




# ---------------------------------------------------------------------------- initialisation
def test_create_from_pcd_matches_brute_force_3nn_and_gg_init():
    rng = np.random.default_rng(3)
    points = rng.uniform(-1, 1, (40, 3))
    points[32:36] = points[1] + 1e-3 * rng.uniform(-1, 1, (4, 3))  # tight cluster: d2 ~ 1e-6
    points[36:] = points[0] + 10.0  # four coincident points: distance 0 -> clamped at 1e-7
    colors = rng.uniform(0, 1, (40, 3))
    torch.manual_seed(5)
    model = GaussianModel(sh_degree=2, num_objects=16)
    model.create_from_pcd(BasicPointCloud(points, colors, np.zeros_like(points)), spatial_lr_scale=1.5)

    p = points.astype(np.float32).astype(np.float64)
    d2 = ((p[:, None, :] - p[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    mean3 = np.maximum(np.sort(d2, axis=1)[:, :3].mean(axis=1), 1e-7)
    assert mean3[32:36].max() < 1e-5
    scale = model.get_scaling.detach().numpy().astype(np.float64)
    assert np.allclose(scale ** 2, mean3[:, None].repeat(3, 1), rtol=1e-5, atol=0)
    assert np.allclose(model.get_scaling[36:].detach().numpy(), math.sqrt(1e-7), rtol=1e-5)

    assert model._rotation.detach().numpy().tolist() == [[1.0, 0.0, 0.0, 0.0]] * 40
    assert torch.allclose(model.get_opacity, torch.full((40, 1), 0.1))
    assert torch.allclose(model._features_dc[:, 0, :], (torch.tensor(colors, dtype=torch.float32) - 0.5) / C0)
    assert model._features_rest.shape == (40, 8, 3) and not model._features_rest.any()
    torch.manual_seed(5)  # GG: RGB2SH(torch.rand(N, D)) -> (N, 1, D)
    expected_objects = (torch.rand(40, 16) - 0.5) / C0
    assert model.get_objects.shape == (40, 1, 16)
    assert torch.equal(model.get_objects[:, 0, :], expected_objects)
    assert model.spatial_lr_scale == 1.5 and model.active_sh_degree == 0
    with pytest.raises(ValueError, match="N >= 2"):  # a lone point has no neighbour to size it by
        model.create_from_pcd(BasicPointCloud(points[:1], colors[:1], points[:1]), 1.0)


def test_covariance_and_activations_match_hand_computation():
    model = make_model(n=6)
    q = model._rotation.detach().numpy().astype(np.float64)
    R = Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix()  # scipy wants (x, y, z, w)
    s = 0.7 * np.exp(model._scaling.detach().numpy().astype(np.float64))
    sigma = R @ (s[:, :, None] ** 2 * np.transpose(R, (0, 2, 1)))
    upper = sigma[:, [0, 0, 0, 1, 1, 2], [0, 1, 2, 1, 2, 2]]
    assert np.allclose(model.get_covariance(0.7).detach().numpy(), upper, atol=1e-6)
    assert torch.allclose(model.get_rotation.norm(dim=1), torch.ones(6))
    assert model.get_features.shape == (6, 4, 3)
    assert torch.equal(model.get_features[:, 1:], model._features_rest)


def test_training_setup_learning_rates_and_schedule():
    model = make_model()
    lrs = {g["name"]: g["lr"] for g in model.optimizer.param_groups}
    assert lrs == pytest.approx({"xyz": 0.00016 * 2.0, "f_dc": 0.0025, "f_rest": 0.0025 / 20,
                                 "opacity": 0.05, "scaling": 0.005, "rotation": 0.001, "obj_dc": 0.0025})
    assert model.optimizer.defaults["eps"] == 1e-15
    assert model.update_learning_rate(0) == pytest.approx(0.00016 * 2.0)
    assert model.update_learning_rate(30_000) == pytest.approx(0.0000016 * 2.0)
    halfway = model.update_learning_rate(15_000)  # log-linear: geometric mean
    assert halfway == pytest.approx(math.sqrt(0.00016 * 0.0000016) * 2.0)
    assert model.optimizer.param_groups[0]["lr"] == halfway
    model.oneupSHdegree()
    model.oneupSHdegree()
    assert model.active_sh_degree == 1


# ---------------------------------------------------------------------------- removing rows




# ---------------------------------------------------------------------------- densification






def test_prune_keeps_rows_aligned():
    model = make_model(n=7)
    take_steps(model, 2)
    before_params = {k: v.detach().clone() for k, v in model.parameters_by_group().items()}
    before_adam = adam_rows(model)
    mask = torch.tensor([True, False, False, True, False, True, False])
    model.prune_points(mask)
    keep = [1, 2, 4, 6]
    after_adam = adam_rows(model)
    for name in GROUPS:
        assert torch.equal(model.parameters_by_group()[name].detach(), before_params[name][keep])
        assert torch.equal(after_adam[name][0], before_adam[name][0][keep])
        assert torch.equal(after_adam[name][1], before_adam[name][1][keep])






def test_reset_opacity_clamps_and_restarts_only_the_opacity_moments():
    model = make_model(n=4)
    with torch.no_grad():
        model._opacity.copy_(torch.tensor([[2.0], [-6.0], [0.0], [-4.0]]))
    take_steps(model, 2)
    before_opacity = model.get_opacity.detach().clone()
    before_adam = adam_rows(model)
    model.reset_opacity()
    expected = torch.minimum(before_opacity, torch.tensor(0.01))
    assert torch.allclose(model.get_opacity, expected, rtol=1e-5, atol=0)
    after_adam = adam_rows(model)
    assert not after_adam["opacity"][0].any() and not after_adam["opacity"][1].any()
    assert after_adam["opacity"][2] == 2
    for name in set(GROUPS) - {"opacity"}:
        assert torch.equal(after_adam[name][0], before_adam[name][0])
    take_steps(model, 1)


# ---------------------------------------------------------------------------- PLY
def gg_attribute_names(num_rest_coeffs, num_objects):
    """The property list of Gaussian Grouping's construct_list_of_attributes."""
    return (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
            + [f"f_rest_{i}" for i in range(3 * num_rest_coeffs)] + ["opacity"]
            + [f"scale_{i}" for i in range(3)] + [f"rot_{i}" for i in range(4)]
            + [f"obj_dc_{i}" for i in range(num_objects)])


def test_save_load_ply_round_trip_is_exact_and_uses_3dgs_layout(tmp_path):
    model = make_model(n=9, sh_degree=3, num_objects=5)
    path = tmp_path / "point_cloud" / "iteration_7" / "point_cloud.ply"
    model.save_ply(str(path))
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["iteration_7", "point_cloud", "point_cloud.ply"]

    ply = PlyData.read(str(path))
    assert not ply.text and ply.byte_order == "<"  # binary_little_endian, what viewers read
    vertex = ply["vertex"]
    assert [p.name for p in vertex.properties] == gg_attribute_names(15, 5)
    assert all(p.val_dtype == "f4" for p in vertex.properties)
    # channel-major SH: f_rest_{c*15+k} is coefficient k+1 of channel c
    assert np.array_equal(vertex["f_rest_16"], model._features_rest[:, 1, 1].detach().numpy())
    assert np.array_equal(vertex["f_dc_2"], model._features_dc[:, 0, 2].detach().numpy())
    assert np.array_equal(vertex["obj_dc_3"], model._objects_dc[:, 0, 3].detach().numpy())

    loaded = GaussianModel(sh_degree=3, num_objects=5)
    loaded.load_ply(str(path))
    for name in GROUPS:
        assert torch.equal(loaded.parameters_by_group()[name].detach(),
                           model.parameters_by_group()[name].detach()), name
    assert loaded.active_sh_degree == 3 and loaded.optimizer is None


def test_load_hand_written_gaussian_grouping_ply(tmp_path):
    n, rest, d = 3, 3, 4  # sh degree 1: 3 rest coefficients per channel
    names = gg_attribute_names(rest, d)
    values = np.arange(n * len(names), dtype=np.float32).reshape(n, len(names)) / 10
    vertices = np.empty(n, dtype=[(name, "f4") for name in names])
    for i, name in enumerate(names):
        vertices[name] = values[:, i]
    path = tmp_path / "gg.ply"
    PlyData([PlyElement.describe(vertices, "vertex")], text=True).write(str(path))

    model = GaussianModel(sh_degree=1, num_objects=d)
    model.load_ply(str(path))
    col = {name: torch.tensor(values[:, i]) for i, name in enumerate(names)}
    assert torch.equal(model._xyz[:, 1].detach(), col["y"])
    assert torch.equal(model._features_dc[:, 0, 1].detach(), col["f_dc_1"])
    for c in range(3):
        for k in range(rest):
            assert torch.equal(model._features_rest[:, k, c].detach(), col[f"f_rest_{c * rest + k}"])
    assert torch.equal(model._opacity[:, 0].detach(), col["opacity"])
    assert torch.equal(model._scaling[:, 2].detach(), col["scale_2"])
    assert torch.equal(model._rotation[:, 3].detach(), col["rot_3"])
    assert torch.equal(model._objects_dc[:, 0, 2].detach(), col["obj_dc_2"])


def write_3dgs_ply(path, n, num_rest_coeffs, drop=()):
    names = [name for name in gg_attribute_names(num_rest_coeffs, 0) if name not in drop]
    vertices = np.zeros(n, dtype=[(name, "f4") for name in names])
    vertices["rot_0"] = 1.0
    vertices["x"] = np.arange(n)
    PlyData([PlyElement.describe(vertices, "vertex")]).write(str(path))


def test_plain_3dgs_ply_loads_with_zero_identity_and_a_warning(tmp_path):
    path = tmp_path / "3dgs.ply"
    write_3dgs_ply(path, n=4, num_rest_coeffs=15)
    model = GaussianModel(sh_degree=3, num_objects=16)
    with pytest.warns(UserWarning, match=r"3dgs\.ply.*obj_dc"):
        model.load_ply(str(path))
    assert model.get_objects.shape == (4, 1, 16) and not model.get_objects.any()
    assert model._xyz[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_bad_ply_files_raise_value_error_naming_file_and_problem(tmp_path):
    missing = tmp_path / "missing_scale.ply"
    write_3dgs_ply(missing, n=2, num_rest_coeffs=0, drop=("scale_1",))
    with pytest.raises(ValueError, match=r"missing_scale\.ply.*'scale_1'"):
        GaussianModel(sh_degree=0).load_ply(str(missing))

    sh3 = tmp_path / "sh3.ply"
    write_3dgs_ply(sh3, n=2, num_rest_coeffs=15)
    with pytest.raises(ValueError, match=r"sh3\.ply.*45 'f_rest_\*'.*expects 9"):
        GaussianModel(sh_degree=1).load_ply(str(sh3))

    model = make_model(n=3, sh_degree=0, num_objects=8)
    ours = tmp_path / "ours.ply"
    model.save_ply(str(ours))
    with pytest.raises(ValueError, match=r"ours\.ply.*8 'obj_dc_\*'.*expects 16"):
        GaussianModel(sh_degree=0, num_objects=16).load_ply(str(ours))

    garbage = tmp_path / "garbage.ply"
    garbage.write_bytes(b"not a ply at all\n")
    with pytest.raises(ValueError, match=r"garbage\.ply: not a readable PLY"):
        GaussianModel(sh_degree=0).load_ply(str(garbage))


# ---------------------------------------------------------------------------- checkpoints
def test_capture_restore_then_identical_optimizer_steps(tmp_path):
    model = make_model(n=8, sh_degree=1)
    take_steps(model, 3)
    model.oneupSHdegree()
    model.densification_postfix({k: v.detach()[:4] for k, v in model.parameters_by_group().items()})  # zero Adam rows
    state = model.capture()
    take_steps(model, 1, seed=7)  # the captured state is a snapshot, not a view
    path = tmp_path / "chkpnt.pth"
    torch.save(state, path)

    resumed = GaussianModel(sh_degree=1, num_objects=4)
    resumed.restore(torch.load(path, weights_only=True), opt_args())
    assert resumed.active_sh_degree == 1 and resumed.spatial_lr_scale == 2.0
    assert resumed.num_points == 12

    for iteration in (10, 11):
        resumed.update_learning_rate(iteration)
        take_steps(resumed, 1, seed=iteration)
    # the same run without a checkpoint in between
    twin = make_model(n=8, sh_degree=1)
    take_steps(twin, 3)
    twin.oneupSHdegree()
    twin.densification_postfix({k: v.detach()[:4] for k, v in twin.parameters_by_group().items()})
    for iteration in (10, 11):
        twin.update_learning_rate(iteration)
        take_steps(twin, 1, seed=iteration)
    for name in GROUPS:
        assert torch.equal(resumed.parameters_by_group()[name], twin.parameters_by_group()[name])
    assert adam_rows(resumed)["xyz"][2] == 5


def test_restore_rejects_a_mismatched_checkpoint():
    state = make_model(n=4, sh_degree=1, num_objects=4).capture()
    with pytest.raises(ValueError, match="num_objects 4"):
        GaussianModel(sh_degree=1, num_objects=16).restore(state, opt_args())
    del state["optimizer"]
    with pytest.raises(ValueError, match="optimizer"):
        GaussianModel(sh_degree=1, num_objects=4).restore(state, opt_args())
