"""IGD on a hand-built two-object scene: a plane of small Gaussians seen head-on, the left
half labelled object 1 and the right half object 2, plus one wide Gaussian straddling the
boundary. Only identities (and the classifier) are trained, so geometry stays as built."""
import math
from types import SimpleNamespace

import numpy as np
import torch

from gaussian_renderer import render
from method.igd import igd_round
from method.statistics import GaussianStatistics
from scene.cameras import Camera
from scene.gaussian_model import GaussianModel
from scene.identity_classifier import IdentityClassifier
from utils.graphics_utils import BasicPointCloud
from utils.loss_utils import identity_ce_loss

SIZE = 32
PIPE = SimpleNamespace(convert_SHs_python=False, compute_cov3D_python=False, debug=False, backend="auto")


def build_scene():
    torch.manual_seed(0)
    camera = Camera(0, np.eye(3), np.zeros(3), math.radians(60), math.radians(60),
                    torch.zeros(3, SIZE, SIZE), None, "front")
    ids = torch.ones(SIZE, SIZE, dtype=torch.long)
    ids[:, SIZE // 2:] = 2
    camera.objects = ids
    # plane z = 3, visible half-width tan(30 deg) * 3 = 1.73; grid columns avoid x = 0
    xs = np.arange(-1.9, 1.91, 0.2)
    grid = np.array([[x, y, 3.0] for x in xs for y in xs])
    straddler = np.array([[0.0, 0.0, 2.9]])                        # in front of the plane
    points = np.concatenate([grid, straddler])
    model = GaussianModel(sh_degree=0, num_objects=8)
    model.create_from_pcd(BasicPointCloud(points, np.full_like(points, 0.5), np.zeros_like(points)), 1.0)
    with torch.no_grad():
        model._scaling[:] = math.log(0.09)
        model._scaling[-1] = torch.log(torch.tensor([0.2, 0.09, 0.09]))
        model._opacity[:] = 4.0                                    # sigmoid ~ 0.98
    opt = SimpleNamespace(position_lr_init=0.0, position_lr_final=0.0, position_lr_delay_mult=1.0,
                          position_lr_max_steps=1, feature_lr=0.0, object_lr=0.01, opacity_lr=0.0,
                          scaling_lr=0.0, rotation_lr=0.0, percent_dense=0.01)
    model.training_setup(opt)
    classifier = IdentityClassifier(8, 4)
    cls_optimizer = torch.optim.Adam(classifier.parameters(), lr=0.01)
    return camera, model, classifier, cls_optimizer


def train_identities(camera, model, classifier, cls_optimizer, steps, accumulate_from=0) -> GaussianStatistics:
    background = torch.zeros(3)
    stats = GaussianStatistics.zeros(model.num_points)
    for step in range(steps):
        out = render(camera, model, PIPE, background)
        loss = identity_ce_loss(classifier(out["render_object"]), camera.objects)
        loss.backward()
        with torch.no_grad():
            if step >= accumulate_from:
                stats.add_identity_grads(model.parameters_by_group()["obj_dc"].grad, out["visibility_filter"])
            model.optimizer.step()
            model.optimizer.zero_grad(set_to_none=True)
            cls_optimizer.step()
            cls_optimizer.zero_grad(set_to_none=True)
    return stats


def test_the_boundary_gaussian_is_found_split_across_the_boundary_and_its_children_separate():
    camera, model, classifier, cls_optimizer = build_scene()
    stats = train_identities(camera, model, classifier, cls_optimizer, steps=150, accumulate_from=100)
    mean_grad = stats.mean_identity_gradient()
    straddler = model.num_points - 1
    assert int(mean_grad.argmax()) == straddler
    interior = int(np.argmin(np.abs(model.get_xyz[:, 0].detach().numpy() + 1.1)
                             + np.abs(model.get_xyz[:, 1].detach().numpy() - 0.1)))
    assert mean_grad[interior] < 0.2 * mean_grad[straddler]

    predicted = classifier.gaussian_probabilities(model.get_objects).argmax(dim=1)
    threshold = 0.5 * float(mean_grad[straddler])
    n_before = model.num_points
    result = igd_round(model, stats, predicted, threshold, max_fraction=0.5, num_neighbors=16)
    assert result.splits == result.candidates >= 1
    assert model.num_points == n_before + result.splits
    # the interior Gaussian was not split: it is still there, unchanged
    assert mean_grad[interior] < threshold
    children_x = model.get_xyz[-2:, 0].detach()
    assert children_x.max() > 0.05 and children_x.min() < -0.05     # either side of x = 0

    train_identities(camera, model, classifier, cls_optimizer, steps=200)
    child_ids = classifier.gaussian_probabilities(model.get_objects[-2:]).argmax(dim=1)
    left, right = (0, 1) if children_x[0] < children_x[1] else (1, 0)
    assert child_ids[left] == 1 and child_ids[right] == 2
