"""The C++ rasterizer (`diff_gaussian_rasterization`, CPU path) against the pure-PyTorch
reference (gaussian_renderer/reference.py) and hand-computed cases.

Tolerances (float32 C++ against the reference):
- forward vs the float32 reference: max |a - b| <= 1e-4 * max(1, max |b|) per output, radii equal;
- gradients vs the float64 reference (autograd): max |a - b| <= 2e-4 * max |b| per input
  (measured: about 1e-6 of the largest entry; float32 rounding through the blend and the
  covariance chain is what remains).
"""
from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch

dgr = pytest.importorskip("diff_gaussian_rasterization",
                          reason="extension not built: make setup "
                                 "(pip install --no-build-isolation ./submodules/diff-gaussian-rasterization)")

import gaussian_renderer.reference as reference  # noqa: E402
from utils.graphics_utils import getProjectionMatrix, getWorld2View2, look_at_world_to_camera  # noqa: E402

OUTPUTS = ("color", "objects", "depth", "alpha")
FORWARD_TOL = 1e-4
GRAD_TOL = 2e-4


# ----------------------------------------------------------------------------- scenes
def make_settings(width: int, height: int, fovx: float = 1.0, eye=(0.3, -0.4, -4.0), target=(0.0, 0.0, 0.0),
                  bg=(0.2, 0.5, 0.9), sh_degree: int = 2, scale_modifier: float = 1.0):
    """Settings of a 3DGS Camera looking from eye at target (a rotated view, so the
    transposed-matrix conventions are exercised)."""
    fovy = 2 * math.atan(math.tan(fovx / 2) * height / width)
    w2c = look_at_world_to_camera(np.array(eye, dtype=float), np.array(target, dtype=float),
                                  up=np.array([0.0, -1.0, 0.0]))
    R, T = w2c[:3, :3].T, w2c[:3, 3]
    view = torch.tensor(getWorld2View2(R, T)).T.contiguous()
    full = (view @ getProjectionMatrix(0.01, 100.0, fovx, fovy).T).contiguous()
    campos = torch.linalg.inv(view)[3, :3].contiguous()
    return dgr.GaussianRasterizationSettings(
        image_height=height, image_width=width, tanfovx=math.tan(fovx / 2), tanfovy=math.tan(fovy / 2),
        bg=torch.tensor(bg), scale_modifier=scale_modifier, viewmatrix=view, projmatrix=full,
        sh_degree=sh_degree, campos=campos)


def make_gaussians(n: int, num_objects: int = 16, seed: int = 0, spread: float = 1.2, scale=(0.03, 0.25),
                   opacity=(0.05, 0.95), sh_coeffs: int = 16, objects_shape: str = "n1d") -> dict:
    """Random Gaussians around the origin: float32 inputs of the rasterizer (no means2D)."""
    g = torch.Generator().manual_seed(seed)
    lo, hi = math.log(scale[0]), math.log(scale[1])
    scene = dict(
        means3D=(torch.rand(n, 3, generator=g) * 2 - 1) * spread,
        opacities=opacity[0] + (opacity[1] - opacity[0]) * torch.rand(n, 1, generator=g),
        shs=torch.randn(n, sh_coeffs, 3, generator=g) * 0.4,
        scales=torch.exp(lo + (hi - lo) * torch.rand(n, 3, generator=g)),
        # Not unit quaternions: 3DGS uses them as given, and so must both rasterizers.
        rotations=torch.randn(n, 4, generator=g) * 0.6,
    )
    if num_objects:
        objects = torch.randn(n, 1, num_objects, generator=g)
        scene["sh_objs"] = objects if objects_shape == "n1d" else objects[:, 0, :]
    return scene


def render(rasterize, settings, inputs: dict, dtype=torch.float32):
    """Run a rasterizer on copies of inputs cast to dtype, all requiring grad.
    Returns (RasterOutput, leaf inputs, means2D)."""
    leaves = {k: v.detach().to(dtype).clone().requires_grad_(True) for k, v in inputs.items()}
    n = next(iter(inputs.values())).shape[0]
    means2D = torch.zeros(n, 3, dtype=dtype, requires_grad=True)
    return rasterize(settings, means2D=means2D, **leaves), leaves, means2D


def cpp(settings, **kwargs):
    return dgr.GaussianRasterizer(settings).rasterize(**kwargs)


def weighted_loss(out, seed: int = 1):
    """A random linear function of all four images, so every upstream gradient is non-trivial."""
    g = torch.Generator().manual_seed(seed)
    total = 0.0
    for name in OUTPUTS:
        image = getattr(out, name)
        weights = torch.randn(image.shape, generator=g).to(image.dtype)
        total = total + (weights * image).sum()
    return total


def assert_forward_close(ours, ref):
    for name in OUTPUTS:
        a, b = getattr(ours, name).double(), getattr(ref, name).double()
        assert a.shape == b.shape, name
        scale = max(1.0, b.abs().max().item()) if b.numel() else 1.0
        err = (a - b).abs().max().item() if b.numel() else 0.0
        assert err <= FORWARD_TOL * scale, f"{name}: max error {err:.3g} (scale {scale:.3g})"
    assert ours.radii.dtype == torch.int32
    assert torch.equal(ours.radii.long(), ref.radii.long())


def assert_grads_close(ours: dict, ref: dict):
    for name, leaf in ours.items():
        a, b = leaf.grad, ref[name].grad
        assert a is not None and b is not None, name
        a, b = a.double(), b
        assert a.shape == b.shape, name
        scale = b.abs().max().item()
        err = (a - b).abs().max().item()
        assert err <= GRAD_TOL * max(scale, 1e-12), f"grad {name}: max error {err:.3g} (largest {scale:.3g})"


def check_against_reference(settings, inputs: dict, grads: bool = True):
    """Forward vs the float32 reference and, if grads, every gradient vs the float64 one."""
    ours, our_leaves, our_means2D = render(cpp, settings, inputs)
    ref32, _, _ = render(reference.rasterize_reference, settings, inputs)
    assert_forward_close(ours, ref32)
    if not grads:
        return ours
    weighted_loss(ours).backward()
    ref64, ref_leaves, ref_means2D = render(reference.rasterize_reference, settings, inputs, torch.float64)
    weighted_loss(ref64).backward()
    assert_grads_close({**our_leaves, "means2D": our_means2D}, {**ref_leaves, "means2D": ref_means2D})
    return ours


# ----------------------------------------------------------------------------- hand-computed
def test_single_isotropic_gaussian_matches_hand_computation():
    """Camera at the origin looking down +z; one isotropic Gaussian on the optical axis."""
    width, height, fov = 33, 21, 1.0
    view = torch.eye(4)
    fovy = 2 * math.atan(math.tan(fov / 2) * height / width)
    settings = dgr.GaussianRasterizationSettings(
        height, width, math.tan(fov / 2), math.tan(fovy / 2), torch.tensor([0.1, 0.2, 0.3]), 1.0, view,
        view @ getProjectionMatrix(0.01, 100.0, fov, fovy).T, 0, torch.zeros(3))
    z, s, o = 5.0, 0.1, 0.7
    colour = torch.tensor([[0.9, 0.4, 0.2]])
    out = dgr.GaussianRasterizer(settings).rasterize(
        means3D=torch.tensor([[0.0, 0.0, z]]), means2D=torch.zeros(1, 3), opacities=torch.tensor([[o]]),
        colors_precomp=colour, scales=torch.full((1, 3), s), rotations=torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    fx = width / (2 * math.tan(fov / 2))
    fy = height / (2 * math.tan(fovy / 2))
    var_x, var_y = (fx * s / z) ** 2 + 0.3, (fy * s / z) ** 2 + 0.3
    mid = 0.5 * (var_x + var_y)
    lam = mid + math.sqrt(max(0.1, mid * mid - var_x * var_y))
    assert out.radii.tolist() == [math.ceil(3 * math.sqrt(lam))]
    cx, cy = (width - 1) / 2, (height - 1) / 2        # ndc 0 -> pixel ((0 + 1) * S - 1) / 2
    for px, py in [(16, 10), (18, 10), (17, 11), (16, 13), (14, 8)]:
        alpha = o * math.exp(-0.5 * ((px - cx) ** 2 / var_x + (py - cy) ** 2 / var_y))
        alpha = alpha if alpha >= 1 / 255 else 0.0   # (16, 13) is below the cutoff
        expected = alpha * colour[0] + (1 - alpha) * settings.bg
        assert torch.allclose(out.color[:, py, px], expected, atol=2e-6)
        assert abs(out.alpha[0, py, px].item() - alpha) < 2e-6
        assert abs(out.depth[0, py, px].item() - alpha * z) < 1e-5


def test_saturation_stops_the_pixel_and_clamps_alpha():
    """Four Gaussians stacked on pixel (7, 7), front to back with alpha 0.99 (0.999 clamped),
    0.9, 0.95, 0.5: the third would take T below 1e-4, so it is not blended and the pixel
    ends; the clamped one gets no opacity gradient."""
    size, tan_half = 16, 0.5
    fov = 2 * math.atan(tan_half)
    view = torch.eye(4)
    settings = dgr.GaussianRasterizationSettings(
        size, size, tan_half, tan_half, torch.zeros(3), 1.0, view,
        view @ getProjectionMatrix(0.01, 100.0, fov, fov).T, 0, torch.zeros(3))
    z = torch.tensor([2.0, 3.0, 4.0, 5.0])
    # Pixel 7 is ndc -1/16 (((ndc + 1) * 16 - 1) / 2 = 7), and ndc = x / (z tan_half).
    means = torch.stack([z * tan_half * (-1 / 16), z * tan_half * (-1 / 16), z], dim=1)
    opacities = torch.tensor([[0.999], [0.9], [0.95], [0.5]], requires_grad=True)
    colours = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 1.0]])
    out = dgr.GaussianRasterizer(settings).rasterize(
        means3D=means, means2D=torch.zeros(4, 3), opacities=opacities, colors_precomp=colours,
        scales=torch.full((4, 3), 0.05), rotations=torch.tensor([[1.0, 0, 0, 0]]).repeat(4, 1))
    T1 = 1 - 0.99
    assert torch.allclose(out.color[:, 7, 7], torch.tensor([0.99, 0.9 * T1, 0.0]), atol=1e-6)
    assert abs(out.alpha[0, 7, 7].item() - (1 - T1 * 0.1)) < 1e-6
    out.color[:, 7, 7].sum().backward()
    # d colour / d alpha_1 = T1 (green, nothing blended behind it, black background).
    assert opacities.grad[0].item() == 0.0 and opacities.grad[2:].abs().max().item() == 0.0
    assert abs(opacities.grad[1].item() - T1) < 1e-5


# ----------------------------------------------------------------------------- reference
@pytest.mark.parametrize("width,height,seed", [(48, 48, 0), (45, 37, 1), (33, 77, 2)])
def test_forward_and_gradients_match_reference(width, height, seed):
    settings = make_settings(width, height, sh_degree=2)
    check_against_reference(settings, make_gaussians(160, seed=seed))


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_every_sh_degree(degree):
    settings = make_settings(48, 40, sh_degree=degree)
    inputs = make_gaussians(120, num_objects=8, seed=10 + degree, sh_coeffs=max(1, (degree + 1) ** 2))
    check_against_reference(settings, inputs)


def test_colors_precomp_and_cov3D_precomp():
    settings = make_settings(52, 40)
    inputs = make_gaussians(150, seed=3)
    rotations, scales = inputs.pop("rotations"), inputs.pop("scales")
    inputs.pop("shs")
    inputs["colors_precomp"] = torch.rand(150, 3, generator=torch.Generator().manual_seed(4))
    inputs["cov3D_precomp"] = reference.covariance_from_scale_rotation(scales, rotations, 1.0)
    check_against_reference(settings, inputs)


def test_scale_modifier():
    check_against_reference(make_settings(40, 40, scale_modifier=0.7), make_gaussians(100, seed=5))


@pytest.mark.parametrize("num_objects,shape", [(8, "n1d"), (32, "n1d"), (5, "nd"), (16, "nd"), (0, "n1d")])
def test_identity_dimensions(num_objects, shape):
    inputs = make_gaussians(120, num_objects=num_objects, seed=6, objects_shape=shape)
    out = check_against_reference(make_settings(40, 36), inputs)
    assert out.objects.shape == (num_objects, 36, 40)


@pytest.mark.parametrize("bg", [(0.0, 0.0, 0.0), (1.0, 1.0, 1.0)])
def test_black_and_white_backgrounds(bg):
    check_against_reference(make_settings(45, 31, bg=bg), make_gaussians(150, seed=7))


def test_empty_and_single_gaussian():
    settings = make_settings(37, 29)
    empty = {k: v[:0] for k, v in make_gaussians(1, seed=8).items()}
    out, leaves, means2D = render(cpp, settings, empty)
    assert torch.equal(out.color, settings.bg[:, None, None].expand(3, 29, 37))
    assert out.radii.shape == (0,) and out.objects.shape == (16, 29, 37)
    assert out.alpha.abs().max().item() == 0.0 and out.depth.abs().max().item() == 0.0
    weighted_loss(out).backward()
    assert leaves["means3D"].grad.shape == (0, 3) and means2D.grad.shape == (0, 3)
    single = make_gaussians(1, seed=8, spread=0.0, scale=(0.2, 0.3), opacity=(0.8, 0.8))
    check_against_reference(settings, single)


def test_behind_camera_border_huge_and_subpixel():
    """Gaussians behind the camera and behind the near plane (culled: radius 0, no
    gradient), straddling the image border, covering the whole image, and sub-pixel."""
    settings = make_settings(50, 38)
    eye = torch.tensor([0.3, -0.4, -4.0])
    inputs = make_gaussians(60, seed=9)
    g = torch.Generator().manual_seed(10)
    means = inputs["means3D"]
    means[:4] = eye + torch.tensor([[0.0, 0.0, -1.0], [0.5, 0.2, -3.0], [0.0, 0.0, 0.1], [0.1, 0.1, 0.15]])
    means[4:12, 0] = torch.tensor([1.9, -1.9, 2.1, -2.2, 0.0, 0.3, 1.8, -2.0])   # near the left / right edges
    means[12:20, 1] = torch.tensor([1.5, -1.5, 1.6, -1.7, 1.4, -1.4, 1.55, -1.6])  # top / bottom
    inputs["scales"][20:23] = torch.tensor([2.5, 3.0, 2.0])[:, None]               # huge
    inputs["scales"][23:35] = 1e-3 + 4e-3 * torch.rand(12, 3, generator=g)         # sub-pixel
    out = check_against_reference(settings, inputs)
    assert out.radii[:4].tolist() == [0, 0, 0, 0]
    assert (out.radii[20:23] > 40).all()
    assert out.radii[4:20].gt(0).any()


def test_needle_gaussians_keep_every_pixel_of_their_footprint():
    """Long thin, rotated Gaussians: the CPU blend visits only each footprint row's span
    (computed in float, math/footprint.h), which must still hold every pixel a blend of every
    pixel of the Gaussian's tiles takes (the CUDA kernels, run through the emulation): the images
    agree to float rounding and so do the gradients of opacity, colour and identity."""
    inputs = make_gaussians(80, seed=13, opacity=(0.3, 0.999), scale=(0.002, 0.01))
    g = torch.Generator().manual_seed(14)
    inputs["scales"][:, 0] = 0.4 + 1.2 * torch.rand(80, generator=g)   # 40-800x longer than wide
    settings = make_settings(96, 72)
    ours, our_leaves, _ = render(cpp, settings, inputs)
    every_pixel, their_leaves, _ = render(
        lambda s, **kw: dgr.GaussianRasterizer(s, emulate_cuda=True).rasterize(**kw), settings, inputs)
    assert (ours.alpha > 0.5).float().mean() > 0.2   # the needles cover much of the image
    for name in OUTPUTS:
        assert (getattr(ours, name) - getattr(every_pixel, name)).abs().max() <= 1e-5, name
    weighted_loss(ours).backward()
    weighted_loss(every_pixel).backward()
    # The gradients a dropped pixel would change. Not the geometric ones: at these aspect ratios
    # (conic condition numbers near 1e6) float32 rounding in the covariance chain differs
    # between the two code paths by a few percent, footprint or not.
    for name in ("opacities", "shs", "sh_objs"):
        scale = their_leaves[name].grad.abs().max().item()
        assert (our_leaves[name].grad - their_leaves[name].grad).abs().max() <= 1e-5 * scale, name


def test_opaque_gaussians_saturate_and_stop():
    """Opacity near 1 everywhere: alpha clamps at 0.99 and most pixels end early."""
    inputs = make_gaussians(200, seed=11, opacity=(0.97, 0.9999), scale=(0.1, 0.3))
    out = check_against_reference(make_settings(40, 32), inputs)
    assert (out.alpha > 1 - 1e-3).float().mean().item() > 0.5


def test_gaussian_rasterizer_call_returns_color_radii_objects():
    settings = make_settings(32, 24)
    inputs = make_gaussians(50, seed=12)
    rasterizer = dgr.GaussianRasterizer(settings)
    color, radii, objects = rasterizer(means2D=torch.zeros(50, 3), **inputs)
    full = rasterizer.rasterize(means2D=torch.zeros(50, 3), **inputs)
    assert torch.equal(color, full.color) and torch.equal(radii, full.radii) and torch.equal(objects, full.objects)
    view = settings.viewmatrix
    z = inputs["means3D"] @ view[:3, 2] + view[3, 2]
    assert torch.equal(rasterizer.markVisible(inputs["means3D"]), z > 0.2)


# ----------------------------------------------------------------------------- threads, errors
def test_one_and_two_threads_give_identical_results():
    settings = make_settings(96, 80)
    inputs = make_gaussians(3000, seed=13, spread=2.0, scale=(0.02, 0.15))
    previous = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(_render_and_grads(settings, inputs))
    finally:
        torch.set_num_threads(previous)
    for a, b in zip(*results):
        assert torch.equal(a, b)


def _render_and_grads(settings, inputs) -> list[torch.Tensor]:
    out, leaves, means2D = render(cpp, settings, inputs)
    weighted_loss(out).backward()
    return [getattr(out, f) for f in (*OUTPUTS, "radii")] + [leaf.grad for leaf in leaves.values()] + [means2D.grad]


def test_cpu_scratch_is_kept_between_calls_and_reused():
    """The CPU scratch (the backward's per-pair records, the binning's sort buffers) comes from a
    workspace the process keeps (csrc/workspace.h): the same calls again allocate nothing new,
    and the results are the same as the first time."""
    settings = make_settings(96, 80)
    inputs = make_gaussians(3000, seed=13, spread=2.0, scale=(0.02, 0.15))
    first = _render_and_grads(settings, inputs)
    held = dgr._C.cpu_workspace_bytes()
    pairs = 3000   # at least one (tile, Gaussian) pair a Gaussian: the records alone are larger
    assert held >= pairs * 4 * (16 + 4)
    for _ in range(3):
        again = _render_and_grads(settings, inputs)
        assert dgr._C.cpu_workspace_bytes() == held
    for a, b in zip(first, again):
        assert torch.equal(a, b)


def test_concurrent_calls_take_separate_workspaces():
    """A viewer thread rendering beside training: calls from two threads at once give what
    they give one after the other."""
    settings = make_settings(96, 80)
    scenes = [make_gaussians(2000, seed=seed, spread=2.0) for seed in (21, 22)]
    expected = [_render_and_grads(settings, scene) for scene in scenes]
    results: dict[int, list] = {}

    def work(i: int) -> None:
        results[i] = [_render_and_grads(settings, scenes[i]) for _ in range(5)]
    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i in range(2):
        for run in results[i]:
            for a, b in zip(run, expected[i]):
                assert torch.equal(a, b)


@pytest.mark.parametrize("change,message", [
    (lambda kw: kw.update(means3D=kw["means3D"].double()), "float32"),
    (lambda kw: kw.update(colors_precomp=torch.rand(len(kw["means3D"]), 3)), "exactly one of shs and colors_precomp"),
    (lambda kw: kw.update(sh_objs=torch.rand(len(kw["means3D"]), 2, 4)), "sh_objs"),
    (lambda kw: kw.update(scales=None), "scales and rotations"),
    (lambda kw: kw.update(opacities=kw["opacities"][:, 0]), "opacities"),
])
def test_bad_inputs_raise_clear_errors(change, message):
    inputs = make_gaussians(10, seed=14)
    change(inputs)
    with pytest.raises(ValueError, match=message):
        dgr.GaussianRasterizer(make_settings(16, 16)).rasterize(means2D=torch.zeros(10, 3), **inputs)
