"""LA-KNN on hand-built point sets (paper eq. 4, docs/design.md section 4)."""
import pytest
import torch

from method.identity_loss import identity_3d_loss
from method.laknn import global_knn, local_adaptive_knn
from utils.loss_utils import neighbour_kl_loss


def two_sided_points():
    """Object A at x < 0, object B at x > 0. The target (index 0) sits at x = -0.05, right
    next to the boundary: its 5 Euclidean nearest points are mostly on B's side."""
    target = [[-0.05, 0.0, 0.0]]
    side_b = [[0.05 + 0.01 * i, 0.0, 0.0] for i in range(4)]          # 4 points just across
    side_a = [[-0.2 - 0.1 * i, 0.0, 0.0] for i in range(6)]           # A's side, further away
    points = torch.tensor(target + side_b + side_a)
    side_a_rows = set(range(5, 11))
    return points, side_a_rows


def test_global_knn_crosses_the_boundary():
    points, side_a_rows = two_sided_points()
    rows = global_knn(points, torch.tensor([0]), 5).rows[0].tolist()
    assert rows[0] == 0                                   # itself, as in GG
    assert set(rows[1:]) == {1, 2, 3, 4}                  # all across the boundary


def test_laknn_takes_neighbours_from_its_own_side_when_the_gradient_points_home():
    points, side_a_rows = two_sided_points()
    grads = torch.zeros_like(points)
    grads[0] = torch.tensor([0.3, 0.01, 0.0])             # -grad points to -x: home is A
    selection = local_adaptive_knn(points, grads, torch.tensor([0]), k=5, num_candidates=10)
    assert not selection.fallback[0]
    rows = selection.rows[0].tolist()
    assert set(rows) <= side_a_rows
    # both rankings agree here: A's points lie along -x, nearest first
    assert rows == [5, 6, 7, 8, 9]


def test_zero_gradient_falls_back_to_global_knn():
    points, _ = two_sided_points()
    grads = torch.zeros_like(points)
    selection = local_adaptive_knn(points, grads, torch.tensor([0]), k=5, num_candidates=10)
    assert selection.fallback[0]
    assert torch.equal(selection.rows, global_knn(points, torch.tensor([0]), 5).rows)


def test_no_candidate_ahead_falls_back_and_few_ahead_repeat_the_best():
    points, _ = two_sided_points()
    grads = torch.zeros_like(points)
    grads[0] = torch.tensor([0.0, 0.0, 1.0])              # direction -z: nobody is ahead
    selection = local_adaptive_knn(points, grads, torch.tensor([0]), k=5, num_candidates=10)
    assert selection.fallback[0]
    grads[0] = torch.tensor([-1.0, 0.0, 0.0])             # direction +x: 4 points ahead (B)
    selection = local_adaptive_knn(points, grads, torch.tensor([0]), k=5, num_candidates=10)
    assert not selection.fallback[0]
    assert selection.rows[0].tolist() == [1, 2, 3, 4, 1]


def test_laknn_loss_ignores_the_other_side():
    """With LA-KNN the target's KL is computed against its own side only."""
    points, side_a_rows = two_sided_points()
    probs = torch.full((points.shape[0], 2), 0.5)
    probs[1:5] = torch.tensor([0.1, 0.9])                 # B's side disagrees
    probs[0] = torch.tensor([0.5, 0.5])
    grads = torch.zeros_like(points)
    grads[0] = torch.tensor([1.0, 0.0, 0.0])
    generator = torch.Generator().manual_seed(0)
    # sample_size 1 from a pool of all points: choose the seed so the target is index 0
    for seed in range(100):
        generator.manual_seed(seed)
        if torch.randperm(points.shape[0], generator=generator)[0] == 0:
            break
    generator.manual_seed(seed)
    laknn = identity_3d_loss(points, probs.__getitem__, 5, 10_000, 1, generator, position_grads=grads,
                             num_candidates=10)
    generator.manual_seed(seed)
    knn = identity_3d_loss(points, probs.__getitem__, 5, 10_000, 1, generator)
    assert laknn.loss.item() == 0.0 and laknn.fallback_fraction == 0.0
    assert knn.loss.item() > 0.05 and knn.fallback_fraction == 1.0
    # The predicted-id direction: the target (0.5, 0.5: argmax class 0) is predicted like A's
    # side, B's side as class 1, so the normal points from A's centroid to B's and LA-KNN steps
    # the other way, home to A.
    generator.manual_seed(seed)
    along_classes = identity_3d_loss(points, probs.__getitem__, 5, 10_000, 1, generator, num_candidates=10,
                                     along_predicted_classes=True)
    assert along_classes.loss.item() == 0.0 and along_classes.fallback_fraction == 0.0


def test_ranking_by_distance_keeps_the_nearest_ahead_and_projection_the_flattest():
    """Ahead of the target (d = +x) lie a near point off to the side and a far point almost in
    the target's plane: distance ranking takes the near one first, projection the flat one."""
    points = torch.tensor([[0.0, 0.0, 0.0],      # target
                           [0.10, 0.05, 0.0],    # near, projection 0.10
                           [0.02, 0.60, 0.0],    # far, projection 0.02
                           [-0.05, 0.0, 0.0]])   # behind
    grads = torch.zeros_like(points)
    grads[0] = torch.tensor([-1.0, 0.0, 0.0])
    target = torch.tensor([0])
    by_distance = local_adaptive_knn(points, grads, target, k=2, num_candidates=3, rank_by="distance")
    by_projection = local_adaptive_knn(points, grads, target, k=2, num_candidates=3, rank_by="projection")
    assert by_distance.rows[0].tolist() == [1, 2]
    assert by_projection.rows[0].tolist() == [2, 1]
    with pytest.raises(ValueError, match="ranking"):
        local_adaptive_knn(points, grads, target, k=2, rank_by="nearest")


@pytest.mark.parametrize("laknn", [False, True])
def test_3d_loss_on_the_rows_it_needs_equals_gaussian_groupings_full_form(laknn):
    """Class probabilities are computed for the targets and their neighbours only; loss and
    gradient equal GG's form, which classifies every Gaussian and gathers from the pool."""
    generator = torch.Generator().manual_seed(3)
    points = torch.rand(3000, 3, generator=generator)
    grads = torch.randn(3000, 3, generator=generator) if laknn else None
    logits = torch.randn(3000, 6, generator=generator, requires_grad=True)
    asked = []

    def class_probabilities(rows):
        asked.append(rows.numel())
        return torch.softmax(logits[rows], dim=1)

    loss = identity_3d_loss(points, class_probabilities, 5, 2000, 100, torch.Generator().manual_seed(0),
                            position_grads=grads).loss
    (grad_subset,) = torch.autograd.grad(loss, logits)

    pool_generator = torch.Generator().manual_seed(0)   # the same draws as sample_targets
    pool = torch.randperm(3000, generator=pool_generator)[:2000]
    targets = torch.randperm(2000, generator=pool_generator)[:100]
    selection = (local_adaptive_knn(points[pool], grads[pool], targets, 5) if laknn
                 else global_knn(points[pool], targets, 5))
    full = neighbour_kl_loss(torch.softmax(logits, dim=1)[pool], targets, selection.rows)
    (grad_full,) = torch.autograd.grad(full, logits)
    assert asked[0] == 100 * 6   # targets and their 5 neighbours, not the pool of 2000
    assert abs(loss.item() - full.item()) < 1e-7 * max(1.0, abs(full.item()))
    assert torch.allclose(grad_subset, grad_full, atol=1e-9, rtol=1e-5)
    assert grad_full.abs().sum() > 0
