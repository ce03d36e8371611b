"""The device setting: resolution and its errors, and a proof that the training step creates
no tensor on the CPU by default.

The proof runs the trainer's losses (photometric, 2D and 3D identity), backward, the method's
statistics and both optimisers' steps with the Gaussians, classifier, cameras and background on
PyTorch's shape-only `meta` device: any CPU tensor mixed in raises "Tensor on device cpu is not
on the expected device meta". The two compiled pieces (rasterizer, KNN) get meta kernels through
`torch.library` custom ops here; their values are tested against references elsewhere. The
data-dependent steps cannot run on meta: the divergence guards (`training.guards`, whose scene
size is stubbed here), the statistics' boolean-mask updates (kept as 3DGS writes them: another
formulation changed the demo's rounding), densification, IGD.
"""
import os
import subprocess
import sys

import pytest
import torch

import gaussian_renderer
from arguments import parse_training_args
from gaussian_renderer.contract import RasterOutput
from gaussian_renderer.device import resolve_data_device, resolve_device
from method import laknn
from scene import gaussian_model
from training import guards
from training.trainer import Trainer
from utils.errors import DeviceError
from utils.general_utils import tree_tensors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cpu_and_auto_resolve_here_and_cuda_is_a_one_line_error(tmp_path):
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(DeviceError, match="sees no CUDA GPU"):
            resolve_device("cuda")
        with pytest.raises(DeviceError, match="sees no CUDA GPU"):
            resolve_device("cuda:1")
    with pytest.raises(DeviceError, match="expected auto, cpu, cuda"):
        resolve_device("tpu")
    # a model folder from a GPU machine records data_device='cuda': kept on the compute device here
    if not torch.cuda.is_available():
        with pytest.warns(UserWarning, match="data_device 'cuda' is not available"):
            assert resolve_data_device("cuda", torch.device("cpu")) == torch.device("cpu")
    assert resolve_data_device("auto", torch.device("meta")) == torch.device("meta")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message where there is no GPU")
def test_train_py_device_cuda_without_a_gpu_fails_with_one_line(tiny_scene, tmp_path):
    result = subprocess.run([sys.executable, "train.py", "-s", tiny_scene, "-m", str(tmp_path / "m"),
                             "--device", "cuda", "--iterations", "5"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[-1]] and lines[-1].startswith("train.py: error: --device cuda:"), result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------ meta kernels for the test
@torch.library.custom_op("gradiseg_test::rasterize", mutates_args=())
def _rasterize_op(means3D: torch.Tensor, means2D: torch.Tensor, opacities: torch.Tensor,
                  colours: torch.Tensor, sh_objs: torch.Tensor, scales: torch.Tensor,
                  rotations: torch.Tensor, viewmatrix: torch.Tensor, height: int, width: int
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    raise NotImplementedError("shape-only stand-in: meta tensors only")


@_rasterize_op.register_fake
def _(means3D, means2D, opacities, colours, sh_objs, scales, rotations, viewmatrix, height, width):
    n, d = means3D.shape[0], sh_objs.shape[-1]
    new = means3D.new_empty
    return (new((3, height, width)), new((n,), dtype=torch.int32), new((d, height, width)),
            new((1, height, width)), new((1, height, width)))


def _rasterize_backward(ctx, grad_color, _grad_radii, grad_objects, grad_depth, grad_alpha):
    return tuple(torch.zeros_like(t) for t in ctx.saved_tensors) + (None, None, None)


def _rasterize_setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs[:7])


_rasterize_op.register_autograd(_rasterize_backward, setup_context=_rasterize_setup)


def meta_rasterize(settings, means3D, means2D, opacities, shs=None, colors_precomp=None, sh_objs=None,
                   scales=None, rotations=None, cov3D_precomp=None) -> RasterOutput:
    colours = colors_precomp if colors_precomp is not None else shs.flatten(1)
    for tensor in (settings.bg, settings.viewmatrix, settings.projmatrix, settings.campos):
        assert tensor.device == means3D.device, f"a camera/background tensor is on {tensor.device}"
    return RasterOutput(*_rasterize_op(means3D, means2D, opacities, colours, sh_objs.flatten(1), scales,
                                       rotations, settings.viewmatrix, settings.image_height,
                                       settings.image_width))


@torch.library.custom_op("gradiseg_test::knn", mutates_args=())
def _knn_op(query: torch.Tensor, points: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    raise NotImplementedError("shape-only stand-in: meta tensors only")


@_knn_op.register_fake
def _(query, points, k):
    return query.new_empty((query.shape[0], k)), query.new_empty((query.shape[0], k), dtype=torch.int64)


def meta_knn(query, points, k, exclude_self=False):
    return _knn_op(query, points, k)


def shape_only(monkeypatch):
    """Stand-ins for what needs values: the initial scale's 3-NN distance and the guard's scene size."""
    monkeypatch.setattr(gaussian_model, "mean_sq_dist_to_3nn", lambda points: points.new_empty(points.shape[0]))
    monkeypatch.setattr(guards.DivergenceGuard, "scene_size", staticmethod(lambda extent, positions: 1.0))


def test_the_training_step_keeps_every_tensor_on_the_configured_device(tiny_scene, tmp_path, monkeypatch):
    monkeypatch.setattr(gaussian_renderer, "get_rasterizer", lambda backend: meta_rasterize)
    monkeypatch.setattr(laknn, "knn", meta_knn)
    shape_only(monkeypatch)
    # LA-KNN from the first iteration, the 3D loss every iteration: both neighbour paths run.
    args = parse_training_args(["-s", tiny_scene, "-m", str(tmp_path / "m"), "--device", "meta",
                                "--iterations", "4", "--reg3d_interval", "1", "--laknn_from_iter", "3",
                                "--igd_from_iter", "0", "--reg3d_sample_size", "20"])
    trainer = Trainer.from_args(args)
    gaussians = trainer.gaussians
    assert gaussians.get_xyz.device.type == "meta" and trainer.classifier.weight.device.type == "meta"
    camera = trainer.scene.getTrainCameras()[0]
    assert camera.world_view_transform.device.type == "meta" and camera.original_image.device.type == "meta"
    for iteration in (1, 2, 3, 4):   # global KNN at 1-2, LA-KNN from 3
        losses = trainer.compute_losses(iteration)
        assert losses.total.device.type == "meta" and losses.identity_3d.device.type == "meta"
        losses.total.backward()
        assert gaussians.get_xyz.grad.device.type == "meta" and losses.render["radii"].device.type == "meta"
        trainer.optimizer_steps()
    assert trainer.strategy.statistics.xyz_grad_vec_accum.device.type == "meta"
    assert gaussians.optimizer.state[gaussians.get_xyz]["exp_avg"].device.type == "meta"


def test_a_checkpoint_is_device_free_and_restores_onto_another_device(tiny_scene, tmp_path, monkeypatch):
    """Written on the CPU with every tensor on the CPU; restored onto meta (standing in for a
    GPU), parameters, Adam state and statistics follow the new device."""
    cpu_args = parse_training_args(["-s", tiny_scene, "-m", str(tmp_path / "cpu"), "--iterations", "3",
                                    "--device", "cpu"])
    trainer = Trainer.from_args(cpu_args)
    for iteration in (1, 2, 3):
        trainer.train_step(iteration)
    path = trainer.save_checkpoint(3)
    state = torch.load(path, weights_only=True)
    assert {tensor.device.type for tensor in tree_tensors(state)} == {"cpu"}

    shape_only(monkeypatch)
    meta_args = parse_training_args(["-s", tiny_scene, "-m", str(tmp_path / "cpu"), "--iterations", "5",
                                     "--device", "meta", "--start_checkpoint", path])
    resumed = Trainer.from_args(meta_args)
    assert resumed.first_iteration == 4 and resumed.gaussians.num_points == trainer.gaussians.num_points
    xyz = resumed.gaussians.get_xyz
    assert xyz.device.type == "meta"
    assert resumed.gaussians.optimizer.state[xyz]["exp_avg"].device.type == "meta"
    assert resumed.strategy.statistics.denom.device.type == "meta"
