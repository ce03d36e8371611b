"""3DGS density control and the primitives that keep the model and its per-Gaussian
statistics in step (method/densification.py, method/statistics.py)."""
import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from method.densification import densify_and_clone, densify_and_prune, densify_and_split, replace_gaussians
from method.statistics import DENSIFICATION_FIELDS, ROW_SHAPES, GaussianStatistics
from tests.test_gaussian_model import GROUPS, adam_rows, make_model, take_steps

PERCENT_DENSE = 0.01


def fields(stats):
    return {name: getattr(stats, name) for name in ROW_SHAPES}


def fill_statistics(stats):
    """Every statistic row r gets values r + 1 (+ column offsets) so rows can be traced."""
    for name, values in fields(stats).items():
        rows = torch.arange(1, stats.num_points + 1, dtype=torch.float32)
        values.copy_(rows.reshape(-1, *[1] * (values.dim() - 1)) + torch.zeros_like(values))
        if values.dim() == 2:
            values += torch.arange(values.shape[1]) * 1000.0
    return {name: values.clone() for name, values in fields(stats).items()}


def test_densification_and_identity_statistics_accumulate_visible_rows_only():
    model = make_model(n=5, num_objects=2)
    stats = GaussianStatistics.zeros(model.num_points)
    viewspace = torch.zeros(5, 3, requires_grad=True)
    viewspace.grad = torch.tensor([[3.0, 4.0, 9.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0],
                                   [6.0, 8.0, 0.0], [5.0, 5.0, 5.0]])
    visible = torch.tensor([True, True, False, True, False])
    stats.add_densification_stats(viewspace.grad, visible)
    stats.add_densification_stats(viewspace.grad, visible)
    assert stats.xyz_gradient_accum[:, 0].tolist() == [10.0, 2.0, 0.0, 20.0, 0.0]
    assert stats.denom[:, 0].tolist() == [2.0, 2.0, 0.0, 2.0, 0.0]
    assert stats.mean_screen_gradient()[:, 0].tolist() == [5.0, 1.0, 0.0, 10.0, 0.0]

    model._objects_dc.grad = torch.tensor([[[3.0, 4.0]], [[0.0, 1.0]], [[1.0, 1.0]], [[0.0, 0.0]],
                                           [[5.0, 12.0]]])
    model._xyz.grad = torch.arange(15, dtype=torch.float32).reshape(5, 3)
    stats.add_identity_grads(model._objects_dc.grad, visible)
    stats.add_position_grads(model._xyz.grad, visible)
    assert stats.identity_grad_accum[:, 0].tolist() == [5.0, 1.0, 0.0, 0.0, 0.0]
    assert stats.identity_grad_denom[:, 0].tolist() == [1.0, 1.0, 0.0, 1.0, 0.0]
    assert stats.xyz_grad_vec_accum.tolist() == [
        [0, 1, 2], [3, 4, 5], [0, 0, 0], [9, 10, 11], [0, 0, 0]]

    stats.update_max_radii2D(torch.tensor([4, 7, 9, 1, 3], dtype=torch.int32), visible)
    stats.update_max_radii2D(torch.tensor([2, 8, 9, 5, 3], dtype=torch.int32), visible)
    assert stats.max_radii2D.tolist() == [4.0, 8.0, 0.0, 5.0, 0.0]
    stats.add_identity_grads(None, visible)   # a step without identity loss: a visit, no gradient
    assert stats.identity_grad_denom[:, 0].tolist() == [2.0, 2.0, 0.0, 2.0, 0.0]
    assert stats.mean_identity_gradient().tolist() == [2.5, 0.5, 0.0, 0.0, 0.0]


def test_clone_keeps_adam_rows_and_statistics_aligned_new_rows_zero():
    model = make_model(n=10)
    stats = GaussianStatistics.zeros(model.num_points)
    take_steps(model, 3)
    extent = 10.0
    with torch.no_grad():  # rows 0..4 small (cloneable), 5..9 large
        model._scaling[:5] = math.log(0.05)
        model._scaling[5:] = math.log(0.5)
    before_params = {k: v.detach().clone() for k, v in model.parameters_by_group().items()}
    before_adam = adam_rows(model)
    before_stats = fill_statistics(stats)
    grads = torch.tensor([[1.0], [0.0], [2.0], [0.5], [1e-3], [1.0], [1.0], [0.0], [0.0], [0.0]])

    densify_and_clone(model, stats, grads, 0.5, extent, PERCENT_DENSE)

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
    for name, values in fields(stats).items():
        assert torch.equal(values[:10], before_stats[name]) and not values[10:].any()
    take_steps(model, 1)  # the optimizer accepts the new shapes
    assert adam_rows(model)["xyz"][2] == 4


def test_split_children_follow_3dgs_formulas_and_parents_leave_with_their_state():
    model = make_model(n=8)
    stats = GaussianStatistics.zeros(model.num_points)
    take_steps(model, 2)
    with torch.no_grad():
        model._scaling.copy_(torch.log(torch.tensor([[0.3, 0.2, 0.1]]).repeat(8, 1)))
        model._scaling[1] = math.log(0.01)  # small: high gradient but not split
    before_params = {k: v.detach().clone() for k, v in model.parameters_by_group().items()}
    before_adam = adam_rows(model)
    before_stats = fill_statistics(stats)
    grads = torch.tensor([[0.0], [1.0], [1.0], [0.0], [1.0], [0.0], [0.0], [0.0]])

    torch.manual_seed(42)
    densify_and_split(model, stats, grads, 0.5, 2.0, PERCENT_DENSE, N=2)

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
    for name, values in fields(stats).items():
        assert torch.equal(values[:6], before_stats[name][survivors]) and not values[6:].any()


def test_split_points_with_given_children_and_bad_children():
    model = make_model(n=5)
    stats = GaussianStatistics.zeros(model.num_points)
    take_steps(model, 1)
    before_adam = adam_rows(model)
    before_stats = fill_statistics(stats)
    params = model.parameters_by_group()
    children = {name: torch.full((3, *p.shape[1:]), 7.0) for name, p in params.items()}
    replace_gaussians(model, stats, torch.tensor([False, True, False, False, True]), children)
    assert model.num_points == 6
    assert torch.equal(model._xyz[3:].detach(), torch.full((3, 3), 7.0))
    assert torch.equal(adam_rows(model)["obj_dc"][0][:3], before_adam["obj_dc"][0][[0, 2, 3]])
    assert torch.equal(stats.identity_grad_accum[:, 0],
                       torch.tensor([1.0, 3.0, 4.0, 0.0, 0.0, 0.0]))
    assert torch.equal(before_stats["denom"][[0, 2, 3]], stats.denom[:3])

    without_objects = {k: v for k, v in children.items() if k != "obj_dc"}
    with pytest.raises(ValueError, match="obj_dc"):
        replace_gaussians(model, stats, torch.zeros(6, dtype=torch.bool), without_objects)
    ragged = dict(children, xyz=torch.zeros(2, 3))
    with pytest.raises(ValueError, match="row counts"):
        replace_gaussians(model, stats, torch.zeros(6, dtype=torch.bool), ragged)
    with pytest.raises(ValueError, match=r"\(6,\) bool mask"):
        replace_gaussians(model, stats, torch.zeros(5, dtype=torch.bool), children)
    assert model.num_points == 6  # failed calls changed nothing


def test_densify_and_prune_splits_prunes_and_restarts_densification_statistics():
    model = make_model(n=6)
    stats = GaussianStatistics.zeros(model.num_points)
    take_steps(model, 1)
    extent = 4.0
    with torch.no_grad():
        model._scaling.fill_(math.log(0.1))  # 0.1 > 0.01 * 4: split candidates, not clone
        model._scaling[5] = math.log(0.5)    # > 0.1 * extent: pruned as too large in world space
        model._opacity.fill_(0.0)            # opacity 0.5
        model._opacity[3] = -6.0             # opacity 0.0025 < 0.005: pruned
    before_stats = fill_statistics(stats)
    stats.xyz_gradient_accum.copy_(torch.tensor([[3.0], [0.0], [0.0], [0.0], [0.0], [0.0]]))
    stats.denom.copy_(torch.tensor([[2.0], [0.0], [1.0], [1.0], [1.0], [1.0]]))

    densify_and_prune(model, stats, 1.0, 0.005, extent, 20, PERCENT_DENSE)

    # row 0 (mean grad 1.5) split into 2; rows 3 (transparent) and 5 (huge) pruned
    assert model.num_points == 5  # 1, 2, 4 survive, then the 2 children
    assert torch.allclose(model.get_scaling[3:], torch.full((2, 3), 0.1 / 1.6))
    for name in DENSIFICATION_FIELDS:
        assert not getattr(stats, name).any()
    for name in ["identity_grad_accum", "identity_grad_denom", "xyz_grad_vec_accum"]:
        assert torch.equal(getattr(stats, name)[:3], before_stats[name][[1, 2, 4]])
        assert not getattr(stats, name)[3:].any()


def test_screen_size_pruning_only_on_request():
    for prune_by_screen_size, expected in [(False, 4), (True, 3)]:
        model = make_model(n=4)
        stats = GaussianStatistics.zeros(model.num_points)
        with torch.no_grad():
            model._scaling.fill_(math.log(0.01))
        stats.max_radii2D.copy_(torch.tensor([5.0, 30.0, 0.0, 19.0]))
        densify_and_prune(model, stats, 1.0, 0.005, 1.0, 20, PERCENT_DENSE,
                          prune_by_screen_size=prune_by_screen_size)
        assert model.num_points == expected
