"""IGD (paper section 3.4, docs/design.md section 4): selection, boundary normals, the split, and
the optimiser-state bookkeeping."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gaussian_renderer import render
from method.densification import replace_gaussians
from method.igd import (
    at_predicted_contact,
    boundary_normals,
    candidate_threshold,
    igd_round,
    select_boundary_gaussians,
    split_along_normals,
)
from method.statistics import GaussianStatistics
from scene.gaussian_model import GaussianModel
from tests.test_reference_rasterizer import make_camera
from utils.graphics_utils import BasicPointCloud


def test_selection_threshold_and_cap_keep_the_largest():
    grads = torch.tensor([0.0, 5.0, 1.0, 4.0, 3.0, 0.5, 2.0, 0.1, 0.2, 0.3])
    selected, candidates = select_boundary_gaussians(grads, threshold=0.9, max_fraction=0.3)
    assert candidates == 5                        # 5.0, 4.0, 3.0, 2.0, 1.0
    assert selected.tolist() == [1, 3, 4]         # capped at 3 = 0.3 * 10, largest first
    selected, candidates = select_boundary_gaussians(grads, threshold=4.5, max_fraction=0.3)
    assert selected.tolist() == [1] and candidates == 1


def test_quantile_threshold_counts_only_the_gaussians_seen():
    grads = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 50.0])
    seen = torch.tensor([True, True, True, True, True, False])
    assert candidate_threshold(grads, seen, threshold=7.0, quantile=0.0) == 7.0
    # over 0..4, linear interpolation: 0.75 * 4 = 3.0; the unseen 50 does not count
    assert candidate_threshold(grads, seen, threshold=7.0, quantile=0.75) == pytest.approx(3.0)
    assert candidate_threshold(grads, torch.zeros(6, dtype=torch.bool), 7.0, 0.5) == math.inf
    # the same scene's statistic scaled (e.g. another resolution) selects the same Gaussians
    for scale in (1.0, 1e-3):
        threshold = candidate_threshold(scale * grads, seen, 1.0, 0.75)
        assert select_boundary_gaussians(scale * grads, threshold, max_fraction=1.0)[0].tolist() == [4, 5]


def test_contact_only_keeps_candidates_next_to_another_predicted_class():
    # 0 and 1 sit together (classes 0 and 1: a contact); 2 and 3 far away, both class 0
    xyz = torch.tensor([[0.0, 0, 0], [0.1, 0, 0], [5.0, 0, 0], [5.1, 0, 0]])
    predicted = torch.tensor([0, 1, 0, 0])
    contact = at_predicted_contact(xyz, predicted, torch.tensor([0, 2]), num_neighbors=1)
    assert contact.tolist() == [True, False, False, False]
    grads = torch.tensor([1.0, 0.0, 9.0, 0.0])
    selected, candidates = select_boundary_gaussians(grads, 0.5, max_fraction=1.0, eligible=contact)
    assert selected.tolist() == [0] and candidates == 1     # 2 has the larger gradient, but no contact


def test_boundary_normal_points_from_own_class_to_the_other():
    # target 0 at the origin (class 0); class 0 neighbours at x < 0, class 1 at x > 0
    xyz = torch.tensor([[0.0, 0, 0], [-0.1, 0, 0], [-0.1, 0.1, 0], [0.1, 0, 0], [0.1, -0.1, 0],
                        [5.0, 5, 5]])
    predicted = torch.tensor([0, 0, 0, 1, 1, 1])
    normals, has_boundary = boundary_normals(xyz, predicted, torch.tensor([0]), num_neighbors=4)
    # own centroid (-0.1, 0.05, 0), other centroid (0.1, -0.05, 0)
    assert torch.allclose(normals[0], torch.tensor([0.2, -0.1, 0.0]), atol=1e-6)
    assert has_boundary[0]
    same = torch.zeros(6, dtype=torch.long)
    _, has_boundary = boundary_normals(xyz, same, torch.tensor([0]), num_neighbors=4)
    assert not has_boundary[0]


def small_model(scales, rotation=(1.0, 0.0, 0.0, 0.0)):
    """Two Gaussians with an optimiser whose Adam state is non-trivial."""
    model = GaussianModel(sh_degree=0, num_objects=4)
    pcd = BasicPointCloud(np.array([[0.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]]), np.full((3, 3), 0.5),
                          np.zeros((3, 3)))
    model.create_from_pcd(pcd, spatial_lr_scale=1.0)
    opt = SimpleNamespace(position_lr_init=1e-3, position_lr_final=1e-5, position_lr_delay_mult=0.01,
                          position_lr_max_steps=100, feature_lr=1e-2, object_lr=1e-2, opacity_lr=1e-2,
                          scaling_lr=1e-2, rotation_lr=1e-2, percent_dense=0.01)
    model.training_setup(opt)
    for step in range(3):
        for p in model.parameters_by_group().values():
            p.grad = torch.full_like(p, 0.1 * (step + 1)) * torch.arange(1, p.shape[0] + 1).view(
                -1, *([1] * (p.dim() - 1)))
        model.optimizer.step()
    with torch.no_grad():
        model._scaling[0] = torch.log(torch.tensor(scales))
        model._rotation[0] = torch.tensor(rotation)
    return model


def test_split_follows_the_axis_most_aligned_with_the_normal():
    model = small_model([0.1, 0.3, 0.2])
    children = split_along_normals(model, torch.tensor([0]), torch.tensor([[1.0, 0.1, 0.0]]),
                                   torch.tensor([True]), rule="halve")
    mu = model._xyz[0]
    assert torch.allclose(children["xyz"][0], mu + torch.tensor([0.05, 0, 0]), atol=1e-6)
    assert torch.allclose(children["xyz"][1], mu - torch.tensor([0.05, 0, 0]), atol=1e-6)
    assert torch.allclose(children["scaling"].exp(), torch.tensor([[0.05, 0.3, 0.2]] * 2), atol=1e-6)
    for name in ("f_dc", "opacity", "rotation", "obj_dc"):
        assert torch.equal(children[name][0], model.parameters_by_group()[name][0])
    # no disagreeing neighbour: the longest axis (y) instead
    children = split_along_normals(model, torch.tensor([0]), torch.tensor([[1.0, 0.0, 0.0]]),
                                   torch.tensor([False]), rule="halve")
    assert torch.allclose(children["xyz"][0] - mu, torch.tensor([0, 0.15, 0]), atol=1e-6)
    # the preserving rule: same places, a narrower child along x only, a lower opacity
    children = split_along_normals(model, torch.tensor([0]), torch.tensor([[1.0, 0.1, 0.0]]),
                                   torch.tensor([True]), rule="preserving")
    assert torch.allclose(children["xyz"][0], mu + torch.tensor([0.05, 0, 0]), atol=1e-6)
    child_scale = children["scaling"].exp()[0]
    assert 0.07 < child_scale[0] < 0.1 and torch.allclose(child_scale[1:], torch.tensor([0.3, 0.2]))
    assert torch.sigmoid(children["opacity"][0]) < model.get_opacity[0]


def test_split_uses_the_gaussians_own_rotated_axes():
    # 90 degrees about z: local x axis -> world y
    c = math.cos(math.pi / 4)
    model = small_model([0.4, 0.1, 0.1], rotation=(c, 0.0, 0.0, c))
    children = split_along_normals(model, torch.tensor([0]), torch.tensor([[0.0, 1.0, 0.0]]),
                                   torch.tensor([True]))
    assert torch.allclose(children["xyz"][0] - model._xyz[0], torch.tensor([0, 0.2, 0]), atol=1e-6)


def test_igd_round_splits_and_keeps_adam_rows_aligned():
    model = small_model([0.1, 0.3, 0.2])
    exp_avg_before = {name: model.optimizer.state[p]["exp_avg"].clone()
                      for name, p in model.parameters_by_group().items()}
    params_before = {name: p.detach().clone() for name, p in model.parameters_by_group().items()}
    stats = GaussianStatistics.zeros(model.num_points)
    stats.identity_grad_accum[:] = torch.tensor([[9.0], [0.1], [0.2]])
    stats.identity_grad_denom[:] = 1
    predicted = torch.tensor([0, 1, 0])
    result = igd_round(model, stats, predicted, threshold=1.0, max_fraction=0.5, num_neighbors=2)
    assert (result.candidates, result.splits, result.num_points) == (1, 1, 4)
    for name, p in model.parameters_by_group().items():
        state = model.optimizer.state[p]
        # survivors (old rows 1, 2) first, then the two children with zero moments
        assert torch.equal(p.detach()[:2], params_before[name][1:])
        assert torch.equal(state["exp_avg"][:2], exp_avg_before[name][1:])
        assert torch.count_nonzero(state["exp_avg"][2:]) == 0
        assert torch.count_nonzero(state["exp_avg_sq"][2:]) == 0
    assert stats.num_points == 4 and torch.count_nonzero(stats.identity_grad_accum) == 0
    # contact_only with a single predicted class: no Gaussian is at a contact, nothing splits
    stats.identity_grad_accum[:] = torch.tensor([[0.1], [0.2], [9.0], [0.1]])
    stats.identity_grad_denom[:] = 1
    result = igd_round(model, stats, torch.zeros(4, dtype=torch.long), threshold=1.0, max_fraction=0.5,
                       num_neighbors=2, contact_only=True)
    assert (result.candidates, result.splits, result.num_points) == (0, 0, 4)
    # the children straddle the parent's old position along the boundary normal (x)
    child_x = model._xyz[2:, 0]
    assert child_x.max() > 0 > child_x.min()


# ---------------------------------------------------------------- a split that does no harm
def rendered_after_split(rule: str, opacity_logit: float):
    """One elongated Gaussian in front of a camera, rendered before and after splitting it along
    its long axis (x, seen side-on) with `rule`; reference rasterizer, float32."""
    model = GaussianModel(sh_degree=0, num_objects=4)
    pcd = BasicPointCloud(np.array([[0.0, 0.0, 3.0], [5.0, 5.0, 9.0]]), np.full((2, 3), 0.7), np.zeros((2, 3)))
    model.create_from_pcd(pcd, spatial_lr_scale=1.0)
    with torch.no_grad():
        model._scaling[0] = torch.log(torch.tensor([0.4, 0.1, 0.1]))
        model._opacity[0] = opacity_logit
        model._opacity[1] = -20.0                        # the second point: invisible
    camera = make_camera(width=96, height=64)
    pipe = SimpleNamespace(convert_SHs_python=False, compute_cov3D_python=False, debug=False, backend="reference")
    background = torch.zeros(3)
    before = render(camera, model, pipe, background)["alpha"]
    stats = GaussianStatistics.zeros(model.num_points)
    children = split_along_normals(model, torch.tensor([0]), torch.tensor([[1.0, 0.0, 0.0]]),
                                   torch.tensor([True]), rule)
    replace_gaussians(model, stats, torch.tensor([True, False]), children)
    after = render(camera, model, pipe, background)["alpha"]
    return before.detach(), after.detach()


@pytest.mark.parametrize("opacity_logit", [-1.5, 0.0, 2.0])   # opacity 0.18, 0.5, 0.88
def test_the_preserving_split_renders_like_its_parent(opacity_logit):
    before, preserving = rendered_after_split("preserving", opacity_logit)
    _, halve = rendered_after_split("halve", opacity_logit)
    footprint = before > 0.01

    def rms_error(after):
        return ((after - before)[footprint] ** 2).mean().sqrt().item()
    peak = before.max().item()
    assert rms_error(preserving) < 0.03 * peak          # measured 1.1-2.5 % of the peak alpha
    assert rms_error(halve) > 2.5 * rms_error(preserving)  # the first reading: 2.9-11x worse
    assert preserving.sum().item() == pytest.approx(before.sum().item(), rel=0.03)


def test_child_shape_table_keeps_a_faint_parents_variance_and_mass():
    from method.igd import child_shape_table
    opacities, widths = child_shape_table(0.5)
    # a faint parent (opacity 0.05): the pair is the moment-matched mixture, std sqrt(0.75) s,
    # carrying the parent's alpha mass, o s = 2 c w s
    assert widths[5].item() == pytest.approx(math.sqrt(0.75), abs=0.03)
    assert opacities[5].item() == pytest.approx(0.05 / (2 * widths[5].item()), abs=0.006)
    assert torch.all(opacities[1:] >= opacities[:-1]) and opacities[-1].item() < 0.99
