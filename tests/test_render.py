"""render() on a stand-in GaussianModel, and the rasterizer backend choice."""
import logging
import sys
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
import torch

from gaussian_renderer import backend, rasterization_settings, render
from gaussian_renderer.contract import GaussianRasterizationSettings
from gaussian_renderer.reference import rasterize_reference
from tests.test_reference_rasterizer import make_camera
from utils.general_utils import build_scaling_rotation, strip_symmetric
from utils.graphics_utils import look_at_world_to_camera

NUM_OBJECTS = 4
KEYS = {"render", "render_object", "depth", "alpha", "viewspace_points", "visibility_filter", "radii"}


def tiny_model(n: int = 8, max_sh_degree: int = 2, active_sh_degree: int = 1, seed: int = 0) -> SimpleNamespace:
    """Stand-in with the GaussianModel attributes render() reads; the last Gaussian is behind
    the camera."""
    g = torch.Generator().manual_seed(seed)
    xyz = (torch.rand(n, 3, generator=g) - 0.5) * 1.5
    xyz[-1] = torch.tensor([0.0, -6.0, 1.0])
    scaling = 0.05 + 0.1 * torch.rand(n, 3, generator=g)
    rotation = torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=1)

    def get_covariance(modifier: float) -> torch.Tensor:
        L = build_scaling_rotation(modifier * scaling, rotation)
        return strip_symmetric(L @ L.transpose(1, 2))

    return SimpleNamespace(
        get_xyz=xyz.requires_grad_(True),
        get_opacity=(0.3 + 0.6 * torch.rand(n, 1, generator=g)).requires_grad_(True),
        get_features=(0.5 * torch.randn(n, (max_sh_degree + 1) ** 2, 3, generator=g)).requires_grad_(True),
        get_objects=torch.randn(n, 1, NUM_OBJECTS, generator=g).requires_grad_(True),
        get_scaling=scaling,
        get_rotation=rotation,
        get_covariance=get_covariance,
        active_sh_degree=active_sh_degree, max_sh_degree=max_sh_degree, num_objects=NUM_OBJECTS)


def pipe(backend_name: str = "reference", **flags) -> SimpleNamespace:
    return SimpleNamespace(convert_SHs_python=flags.get("convert_SHs_python", False),
                           compute_cov3D_python=flags.get("compute_cov3D_python", False),
                           debug=False, backend=backend_name)


def camera():
    return make_camera(width=40, height=30, w2c=look_at_world_to_camera(np.array([0.0, -3.0, 1.0]), np.zeros(3)))


BG = torch.tensor([0.0, 0.5, 1.0])


def test_render_returns_the_documented_outputs():
    pc, cam = tiny_model(), camera()
    out = render(cam, pc, pipe(), BG)
    n = pc.get_xyz.shape[0]
    assert set(out) == KEYS
    assert out["render"].shape == (3, 30, 40)
    assert out["render_object"].shape == (NUM_OBJECTS, 30, 40)
    assert out["depth"].shape == out["alpha"].shape == (1, 30, 40)
    assert out["radii"].shape == (n,) and out["radii"].dtype == torch.int32
    assert out["visibility_filter"].dtype == torch.bool
    assert torch.equal(out["visibility_filter"], out["radii"] > 0)
    assert out["visibility_filter"][:-1].all() and not out["visibility_filter"][-1]

    viewspace = out["viewspace_points"]
    assert viewspace.shape == (n, 3) and not viewspace.any()
    (out["render"].sum() + out["render_object"].square().sum()).backward()
    grad = viewspace.grad
    assert (grad[:-1, :2].abs().sum(dim=1) > 0).all()      # densification statistic of visible ones
    assert not grad[-1].any() and not grad[:, 2].any()
    assert pc.get_objects.grad.abs().sum() > 0


def test_python_sh_and_covariance_paths_match_the_rasterizer():
    pc, cam = tiny_model(), camera()
    default = render(cam, pc, pipe(), BG, scaling_modifier=0.7)
    python = render(cam, pc, pipe(convert_SHs_python=True, compute_cov3D_python=True), BG, scaling_modifier=0.7)
    for key in ("render", "render_object", "depth", "alpha"):
        torch.testing.assert_close(python[key], default[key], rtol=1e-5, atol=1e-6)
    assert torch.equal(python["radii"], default["radii"])


def test_override_color_replaces_sh_colours():
    pc, cam = tiny_model(), camera()
    override = torch.rand(pc.get_xyz.shape[0], 3, generator=torch.Generator().manual_seed(1))
    out = render(cam, pc, pipe(), BG, override_color=override)
    expected = rasterize_reference(
        rasterization_settings(cam, BG, 1.0, pc.active_sh_degree), means3D=pc.get_xyz, means2D=torch.zeros_like(pc.get_xyz),
        opacities=pc.get_opacity, colors_precomp=override, sh_objs=pc.get_objects,
        scales=pc.get_scaling, rotations=pc.get_rotation)
    torch.testing.assert_close(out["render"], expected.color)


# ----------------------------------------------------------------------------- backend choice
@pytest.fixture
def fresh_backend(monkeypatch):
    """Forget the cached extension import and the one-time warning around the test."""
    backend.load_extension.cache_clear()
    monkeypatch.setattr(backend, "_fallback_warned", False)
    yield monkeypatch
    backend.load_extension.cache_clear()


def test_auto_falls_back_to_the_reference_with_one_warning(fresh_backend, caplog):
    fresh_backend.setitem(sys.modules, backend.EXTENSION, None)       # import now fails
    pc, cam = tiny_model(), camera()
    with caplog.at_level(logging.WARNING, logger=backend.__name__):
        first = render(cam, pc, pipe("auto"), BG)
        second = render(cam, pc, pipe("auto"), BG)
    warnings = [r for r in caplog.records if r.name == backend.__name__]
    assert len(warnings) == 1
    assert "not built" in warnings[0].getMessage() and "make setup" in warnings[0].getMessage()
    reference = render(cam, pc, pipe("reference"), BG)
    torch.testing.assert_close(first["render"], reference["render"], rtol=0, atol=0)
    torch.testing.assert_close(second["render"], reference["render"], rtol=0, atol=0)


def test_cpp_without_the_extension_is_a_clear_error(fresh_backend):
    fresh_backend.setitem(sys.modules, backend.EXTENSION, None)
    with pytest.raises(RuntimeError, match="make setup"):
        backend.get_rasterizer("cpp")


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="unknown rasterizer backend 'cuda'"):
        backend.get_rasterizer("cuda")


def fake_extension(calls: list) -> ModuleType:
    """A stand-in `diff_gaussian_rasterization` that records its calls and renders with the reference."""
    module = ModuleType(backend.EXTENSION)

    class GaussianRasterizer:
        def __init__(self, raster_settings):
            self.raster_settings = raster_settings

        def rasterize(self, **kwargs):
            calls.append((self.raster_settings, kwargs))
            return rasterize_reference(self.raster_settings, **kwargs)

    module.GaussianRasterizationSettings = GaussianRasterizationSettings
    module.GaussianRasterizer = GaussianRasterizer
    return module


@pytest.mark.parametrize("backend_name", ["auto", "cpp"])
def test_extension_is_used_when_importable(fresh_backend, backend_name):
    calls = []
    fresh_backend.setitem(sys.modules, backend.EXTENSION, fake_extension(calls))
    pc, cam = tiny_model(), camera()
    out = render(cam, pc, pipe(backend_name), BG, scaling_modifier=0.9)
    assert len(calls) == 1
    settings, kwargs = calls[0]
    assert settings.scale_modifier == 0.9 and settings.sh_degree == pc.active_sh_degree
    assert settings.image_width == 40 and settings.image_height == 30
    assert kwargs["means2D"] is out["viewspace_points"] and kwargs["shs"] is pc.get_features
    reference = render(cam, pc, pipe("reference"), BG, scaling_modifier=0.9)
    torch.testing.assert_close(out["render"], reference["render"], rtol=0, atol=0)
