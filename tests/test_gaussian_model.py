"""GaussianModel: initialisation, optimizer-state surgery under densification, statistics
registry, PLY I/O (ours, Gaussian Grouping, plain 3DGS), checkpoint round trip."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from plyfile import PlyData, PlyElement
from scipy.spatial.transform import Rotation

from scene.gaussian_model import DENSIFICATION_STATISTICS, STATISTIC_SHAPES, GaussianModel
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


def fill_statistics(model):
    """Every statistic row r gets values r + 1 (+ column offsets) so rows can be traced."""
    for name, values in model.statistics.items():
        rows = torch.arange(1, model.num_points + 1, dtype=torch.float32)
        values.copy_(rows.reshape(-1, *[1] * (values.dim() - 1)) + torch.zeros_like(values))
        if values.dim() == 2:
            values += torch.arange(values.shape[1]) * 1000.0
    return {name: values.clone() for name, values in model.statistics.items()}


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
    assert all(v.shape[0] == 40 and not v.any() for v in model.statistics.values())
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


# ---------------------------------------------------------------------------- statistics
def test_densification_and_identity_statistics_accumulate_visible_rows_only():
    model = make_model(n=5, num_objects=2)
    viewspace = torch.zeros(5, 3, requires_grad=True)
    viewspace.grad = torch.tensor([[3.0, 4.0, 9.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0],
                                   [6.0, 8.0, 0.0], [5.0, 5.0, 5.0]])
    visible = torch.tensor([True, True, False, True, False])
    model.add_densification_stats(viewspace, visible)
    model.add_densification_stats(viewspace, visible)
    assert model.xyz_gradient_accum[:, 0].tolist() == [10.0, 2.0, 0.0, 20.0, 0.0]
    assert model.denom[:, 0].tolist() == [2.0, 2.0, 0.0, 2.0, 0.0]
    assert model.average_statistic("xyz_gradient_accum", "denom")[:, 0].tolist() == [5.0, 1.0, 0.0, 10.0, 0.0]

    model._objects_dc.grad = torch.tensor([[[3.0, 4.0]], [[0.0, 1.0]], [[1.0, 1.0]], [[0.0, 0.0]],
                                           [[5.0, 12.0]]])
    model._xyz.grad = torch.arange(15, dtype=torch.float32).reshape(5, 3)
    model.add_identity_grad_stats(visible)
    model.add_position_grad_stats(visible)
    assert model.statistics["identity_grad_accum"][:, 0].tolist() == [5.0, 1.0, 0.0, 0.0, 0.0]
    assert model.statistics["identity_grad_denom"][:, 0].tolist() == [1.0, 1.0, 0.0, 1.0, 0.0]
    assert model.statistics["xyz_grad_vec_accum"].tolist() == [
        [0, 1, 2], [3, 4, 5], [0, 0, 0], [9, 10, 11], [0, 0, 0]]

    model.update_max_radii2D(torch.tensor([4, 7, 9, 1, 3], dtype=torch.int32), visible)
    model.update_max_radii2D(torch.tensor([2, 8, 9, 5, 3], dtype=torch.int32), visible)
    assert model.max_radii2D.tolist() == [4.0, 8.0, 0.0, 5.0, 0.0]
    with pytest.raises(AttributeError, match="statistic"):
        model.denom = torch.zeros(5, 1)
    model._xyz.grad = None
    with pytest.raises(RuntimeError, match="_xyz.grad is None"):
        model.add_position_grad_stats(visible)


def test_a_newly_registered_statistic_follows_every_change(monkeypatch):
    monkeypatch.setitem(STATISTIC_SHAPES, "extra", (2,))
    model = make_model(n=6)
    model.statistics["extra"].copy_(torch.arange(12, dtype=torch.float32).reshape(6, 2))
    model.prune_points(torch.tensor([False, True, False, False, False, False]))
    model.densify_and_clone(torch.ones(5, 1), 0.5, scene_extent=1e6)  # all five are "small"
    assert model.statistics["extra"].tolist() == [[0, 1], [4, 5], [6, 7], [8, 9], [10, 11]] + [[0, 0]] * 5


# ---------------------------------------------------------------------------- densification
def test_clone_keeps_adam_rows_and_statistics_aligned_new_rows_zero():
    model = make_model(n=10, percent_dense=0.01)
    take_steps(model, 3)
    extent = 10.0
    with torch.no_grad():  # rows 0..4 small (cloneable), 5..9 large
        model._scaling[:5] = math.log(0.05)
        model._scaling[5:] = math.log(0.5)
    before_params = {k: v.detach().clone() for k, v in model.parameters_by_group().items()}
    before_adam = adam_rows(model)
    before_stats = fill_statistics(model)
    grads = torch.tensor([[1.0], [0.0], [2.0], [0.5], [1e-3], [1.0], [1.0], [0.0], [0.0], [0.0]])

    model.densify_and_clone(grads, grad_threshold=0.5, scene_extent=extent)

    cloned = [0, 2, 3]
    assert model.num_points == 13
    after_adam = adam_rows(model)
    for name in GROUPS:
        param = model.parameters_by_group()[name].detach()
        assert torch.equal(param[:10], before_params[name])
        assert torch.equal(param[10:], before_params[name][cloned])
        exp_avg, exp_avg_sq, step = after_adam[name]
        assert torch.equal(exp_avg[:10], before_adam[name][0]) and not exp_avg[10:].any()
        assert torch.equal(exp_avg_sq[:10], before_adam[name][1]) and not exp_avg_sq[10:].any()
        assert before_adam[name][0].abs().min() > 0 and step == 3
    for name, values in model.statistics.items():
        assert torch.equal(values[:10], before_stats[name]) and not values[10:].any()
    take_steps(model, 1)  # the optimizer accepts the new shapes
    assert adam_rows(model)["xyz"][2] == 4


def test_split_children_follow_3dgs_formulas_and_parents_leave_with_their_state():
    model = make_model(n=8, percent_dense=0.01)
    take_steps(model, 2)
    with torch.no_grad():
        model._scaling.copy_(torch.log(torch.tensor([[0.3, 0.2, 0.1]]).repeat(8, 1)))
        model._scaling[1] = math.log(0.01)  # small: high gradient but not split
    before_params = {k: v.detach().clone() for k, v in model.parameters_by_group().items()}
    before_adam = adam_rows(model)
    before_stats = fill_statistics(model)
    grads = torch.tensor([[0.0], [1.0], [1.0], [0.0], [1.0], [0.0], [0.0], [0.0]])

    torch.manual_seed(42)
    model.densify_and_split(grads, grad_threshold=0.5, scene_extent=2.0, N=2)

    parents = [2, 4]
    survivors = [0, 1, 3, 5, 6, 7]
    assert model.num_points == 6 + 4
    # independent recomputation: child-major order, z ~ N(0, s^2) drawn from the same seed,
    # rotation from scipy
    scales = np.array([0.3, 0.2, 0.1], dtype=np.float32)
    torch.manual_seed(42)
    samples = torch.normal(mean=torch.zeros(4, 3), std=torch.tensor(scales).repeat(4, 1)).numpy()
    q = before_params["rotation"][parents].numpy()
    R = Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix()
    mu = before_params["xyz"][parents].numpy()
    expected_xyz = np.concatenate([mu[j % 2] + R[j % 2] @ samples[j] for j in range(4)]).reshape(4, 3)
    assert np.allclose(model._xyz[6:].detach().numpy(), expected_xyz, atol=1e-6)
    assert np.allclose(model.get_scaling[6:].detach().numpy(), scales / 1.6, rtol=1e-6)
    for name in ["f_dc", "f_rest", "opacity", "rotation", "obj_dc"]:
        param = model.parameters_by_group()[name].detach()
        assert torch.equal(param[6:], before_params[name][parents + parents])
    after_adam = adam_rows(model)
    for name in GROUPS:
        param = model.parameters_by_group()[name].detach()
        assert torch.equal(param[:6], before_params[name][survivors])
        assert torch.equal(after_adam[name][0][:6], before_adam[name][0][survivors])
        assert torch.equal(after_adam[name][1][:6], before_adam[name][1][survivors])
        assert not after_adam[name][0][6:].any() and not after_adam[name][1][6:].any()
    for name, values in model.statistics.items():
        assert torch.equal(values[:6], before_stats[name][survivors]) and not values[6:].any()


def test_split_points_with_given_children_and_bad_children():
    model = make_model(n=5)
    take_steps(model, 1)
    before_adam = adam_rows(model)
    before_stats = fill_statistics(model)
    params = model.parameters_by_group()
    children = {name: torch.full((3, *p.shape[1:]), 7.0) for name, p in params.items()}
    model.split_points(torch.tensor([False, True, False, False, True]), children)
    assert model.num_points == 6
    assert torch.equal(model._xyz[3:].detach(), torch.full((3, 3), 7.0))
    assert torch.equal(adam_rows(model)["obj_dc"][0][:3], before_adam["obj_dc"][0][[0, 2, 3]])
    assert torch.equal(model.statistics["identity_grad_accum"][:, 0],
                       torch.tensor([1.0, 3.0, 4.0, 0.0, 0.0, 0.0]))
    assert torch.equal(before_stats["denom"][[0, 2, 3]], model.denom[:3])

    without_objects = {k: v for k, v in children.items() if k != "obj_dc"}
    with pytest.raises(ValueError, match="obj_dc"):
        model.split_points(torch.zeros(6, dtype=torch.bool), without_objects)
    ragged = dict(children, xyz=torch.zeros(2, 3))
    with pytest.raises(ValueError, match="row counts"):
        model.split_points(torch.zeros(6, dtype=torch.bool), ragged)
    with pytest.raises(ValueError, match=r"\(6,\) bool mask"):
        model.split_points(torch.zeros(5, dtype=torch.bool), children)
    assert model.num_points == 6  # failed calls changed nothing


def test_prune_keeps_rows_aligned():
    model = make_model(n=7)
    take_steps(model, 2)
    before_params = {k: v.detach().clone() for k, v in model.parameters_by_group().items()}
    before_adam = adam_rows(model)
    before_stats = fill_statistics(model)
    mask = torch.tensor([True, False, False, True, False, True, False])
    model.prune_points(mask)
    keep = [1, 2, 4, 6]
    after_adam = adam_rows(model)
    for name in GROUPS:
        assert torch.equal(model.parameters_by_group()[name].detach(), before_params[name][keep])
        assert torch.equal(after_adam[name][0], before_adam[name][0][keep])
        assert torch.equal(after_adam[name][1], before_adam[name][1][keep])
    for name in STATISTIC_SHAPES:
        assert torch.equal(model.statistics[name], before_stats[name][keep])


def test_densify_and_prune_splits_prunes_and_restarts_densification_statistics():
    model = make_model(n=6, percent_dense=0.01)
    take_steps(model, 1)
    extent = 4.0
    with torch.no_grad():
        model._scaling.fill_(math.log(0.1))  # 0.1 > 0.01 * 4: split candidates, not clone
        model._scaling[5] = math.log(0.5)    # > 0.1 * extent: pruned as too large in world space
        model._opacity.fill_(0.0)            # opacity 0.5
        model._opacity[3] = -6.0             # opacity 0.0025 < 0.005: pruned
    before_stats = fill_statistics(model)
    model.xyz_gradient_accum.copy_(torch.tensor([[3.0], [0.0], [0.0], [0.0], [0.0], [0.0]]))
    model.denom.copy_(torch.tensor([[2.0], [0.0], [1.0], [1.0], [1.0], [1.0]]))

    model.densify_and_prune(max_grad=1.0, min_opacity=0.005, extent=extent, max_screen_size=20)

    # row 0 (mean grad 1.5) split into 2; rows 3 (transparent) and 5 (huge) pruned
    assert model.num_points == 5  # 1, 2, 4 survive, then the 2 children
    assert torch.allclose(model.get_scaling[3:], torch.full((2, 3), 0.1 / 1.6))
    for name in DENSIFICATION_STATISTICS:
        assert not model.statistics[name].any()
    for name in ["identity_grad_accum", "identity_grad_denom", "xyz_grad_vec_accum"]:
        assert torch.equal(model.statistics[name][:3], before_stats[name][[1, 2, 4]])
        assert not model.statistics[name][3:].any()


def test_screen_size_pruning_only_on_request():
    for prune_by_screen_size, expected in [(False, 4), (True, 3)]:
        model = make_model(n=4)
        with torch.no_grad():
            model._scaling.fill_(math.log(0.01))
        model.max_radii2D.copy_(torch.tensor([5.0, 30.0, 0.0, 19.0]))
        model.densify_and_prune(1.0, 0.005, extent=1.0, max_screen_size=20,
                                prune_by_screen_size=prune_by_screen_size)
        assert model.num_points == expected


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
    assert all(v.shape[0] == 9 and not v.any() for v in loaded.statistics.values())


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
    model.densify_and_clone(torch.ones(8, 1), 0.5, scene_extent=1e6)  # rows of zero Adam state
    fill_statistics(model)
    state = model.capture()
    take_steps(model, 1, seed=7)  # the captured state is a snapshot, not a view
    path = tmp_path / "chkpnt.pth"
    torch.save(state, path)

    resumed = GaussianModel(sh_degree=1, num_objects=4)
    resumed.restore(torch.load(path, weights_only=True), opt_args())
    assert resumed.active_sh_degree == 1 and resumed.spatial_lr_scale == 2.0
    assert resumed.num_points == 16 and resumed.percent_dense == 0.01

    for iteration in (10, 11):
        resumed.update_learning_rate(iteration)
        take_steps(resumed, 1, seed=iteration)
    # the same run without a checkpoint in between
    twin = make_model(n=8, sh_degree=1)
    take_steps(twin, 3)
    twin.oneupSHdegree()
    twin.densify_and_clone(torch.ones(8, 1), 0.5, scene_extent=1e6)
    expected_stats = fill_statistics(twin)
    for iteration in (10, 11):
        twin.update_learning_rate(iteration)
        take_steps(twin, 1, seed=iteration)
    for name in GROUPS:
        assert torch.equal(resumed.parameters_by_group()[name], twin.parameters_by_group()[name])
    for name in STATISTIC_SHAPES:
        assert torch.equal(resumed.statistics[name], expected_stats[name])
    assert adam_rows(resumed)["xyz"][2] == 5


def test_restore_rejects_a_mismatched_checkpoint():
    state = make_model(n=4, sh_degree=1, num_objects=4).capture()
    with pytest.raises(ValueError, match="num_objects 4"):
        GaussianModel(sh_degree=1, num_objects=16).restore(state, opt_args())
    del state["statistics"]["identity_grad_denom"]
    with pytest.raises(ValueError, match="identity_grad_denom"):
        GaussianModel(sh_degree=1, num_objects=4).restore(state, opt_args())
