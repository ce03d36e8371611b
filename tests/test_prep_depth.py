"""prep.depth: depth maps rendered from a saved model (the geometry prepare_masks.py --depth_model uses)."""
import json

import numpy as np
import torch

from prep.depth import depth_maps
from prep.geometry import View
from scene.gaussian_model import GaussianModel
from scene.identity_classifier import IdentityClassifier
from scene.model_folder import CLASSIFIER_NAME, PLY_NAME, write_iteration_folder
from utils.graphics_utils import BasicPointCloud


def test_depth_of_a_wall_of_gaussians(tmp_path):
    """A dense wall of Gaussians at world z = 3 seen head-on from the origin renders depth 3
    where it covers the view, and NaN beyond its edge."""
    xs, ys = np.meshgrid(np.linspace(-1.0, 1.0, 41), np.linspace(-1.0, 1.0, 41))
    points = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, 3.0)], axis=1)
    model = GaussianModel(0, 16)
    model.create_from_pcd(BasicPointCloud(points=points, colors=np.full_like(points, 0.5),
                                          normals=np.zeros_like(points)), 1.0)
    classifier = IdentityClassifier(16, 256)   # an RGB-only training still saves one
    write_iteration_folder(str(tmp_path), 7, model.num_points, {
        PLY_NAME: model.save_ply, CLASSIFIER_NAME: lambda path: torch.save(classifier.state_dict(), path)})
    (tmp_path / "cfg_args").write_text(json.dumps({"sh_degree": 0, "num_objects": 16}))
    (tmp_path / "cameras.json").write_text(json.dumps([{"img_name": "v", "position": [0, 0, 0]}]))
    K = np.array([[40.0, 0, 31.5], [0, 40.0, 23.5], [0, 0, 1]])
    view = View("v", "v.png", 64, 48, K, np.eye(4))
    depth = depth_maps(str(tmp_path), [view])[0]
    assert depth.shape == (48, 64)
    centre = depth[14:34, 20:44]          # well inside the wall's image (|x| < 0.6 at z = 3)
    assert np.isfinite(centre).all() and np.abs(centre - 3.0).max() < 0.05
    # Column 0 looks at x = -31.5 * 3 / 40 = -2.4, well beyond the wall's edge at -1: no depth.
    assert np.isnan(depth[:, 0]).all()
