"""The measurements behind BENCHMARKS.md's method diagnosis, on hand-made cases."""
import numpy as np
import pytest
import torch

from bench.method_diagnostics import (
    PixelAccuracy,
    boundary_band,
    boundary_gaussians,
    neighbour_purity,
    synthetic_truth,
    top_fraction_precision,
    true_gaussian_ids,
)
from bench.synthetic.scene import SyntheticSceneConfig, make_synthetic_scene


def test_boundary_band_marks_pixels_within_the_width_of_an_id_change():
    ids = np.zeros((5, 8), np.uint8)
    ids[:, 4:] = 3                                   # a vertical edge between columns 3 and 4
    assert boundary_band(ids, 0)[0].tolist() == [False] * 3 + [True, True] + [False] * 3
    assert boundary_band(ids, 1)[0].tolist() == [False] * 2 + [True] * 4 + [False] * 2
    accuracy = PixelAccuracy()
    predicted = ids.copy()
    predicted[:, 3] = 3                              # the edge drawn one pixel early
    accuracy.add(predicted, ids, boundary_band(ids, 1))
    assert (accuracy.band, accuracy.interior) == (0.75, 1.0)


def test_neighbour_purity_ignores_the_target_itself():
    ids = torch.tensor([1, 1, 2, 1])
    rows = torch.tensor([[0, 1, 2], [2, 1, 0]])      # target 0 lists itself: 1 of 2, then 2 of 3
    assert neighbour_purity(ids, torch.tensor([0, 3]), rows) == 3 / 5


def test_top_fraction_precision():
    score = torch.tensor([0.9, 0.1, 0.8, 0.7, 0.2])
    positive = torch.tensor([True, False, False, True, False])
    assert top_fraction_precision(score, positive, 0.4) == 0.5
    assert top_fraction_precision(score, positive, 0.6) == pytest.approx(2 / 3)


def test_true_ids_of_points_on_a_traced_scene(tmp_path):
    make_synthetic_scene(str(tmp_path / "scene"), SyntheticSceneConfig(
        seed=3, num_objects=2, num_views=4, width=32, height=24, num_points=50))
    truth = synthetic_truth(str(tmp_path / "scene"))
    assert len(truth.id_maps) == 4 and all(m.shape == (24, 32) for m in truth.id_maps.values())
    assert truth.surface_xyz.shape[0] == truth.surface_ids.shape[0] > 0
    # traced surface points get their own ids back
    sample = torch.from_numpy(truth.surface_xyz[::37]).float()
    assert torch.equal(true_gaussian_ids(sample, truth), torch.from_numpy(truth.surface_ids[::37]))
    boundary = boundary_gaussians(sample, torch.from_numpy(truth.surface_ids[::37]), k=4)
    assert boundary.dtype == torch.bool and boundary.shape == (sample.shape[0],)
