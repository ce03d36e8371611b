"""The pure-PyTorch reference rasterizer against hand computations of the 3DGS formulas,
finite differences (gradcheck) and its own invariances."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from gaussian_renderer import rasterization_settings
from gaussian_renderer.reference import rasterize_reference
from utils.graphics_utils import getProjectionMatrix, getWorld2View2
from utils.sh_utils import C0, colors_from_sh

W, H = 21, 17                      # odd sizes: the optical axis hits pixel (10, 8) exactly
FOVX = math.radians(60.0)
BG = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)


def make_camera(width: int = W, height: int = H, fovx: float = FOVX,
                w2c: np.ndarray = np.eye(4)) -> SimpleNamespace:
    """Stand-in for scene.cameras.Camera (3DGS conventions) with square pixels."""
    fovy = 2 * math.atan(math.tan(fovx / 2) * height / width)
    R, T = w2c[:3, :3].T, w2c[:3, 3]
    world_view = torch.tensor(getWorld2View2(R, T)).T
    projection = getProjectionMatrix(0.01, 100.0, fovx, fovy).T
    return SimpleNamespace(image_width=width, image_height=height, FoVx=fovx, FoVy=fovy,
                           world_view_transform=world_view, projection_matrix=projection,
                           full_proj_transform=world_view @ projection,
                           camera_center=torch.linalg.inv(world_view)[3, :3])


def focal(width: int = W, fovx: float = FOVX) -> float:
    return width / (2 * math.tan(fovx / 2))


def settings(sh_degree: int = 0, scale_modifier: float = 1.0, camera=None):
    return rasterization_settings(camera or make_camera(), BG, scale_modifier, sh_degree)


def scene(means, scales, opacities, colors, objects=None, rotations=None):
    """float64 rasterizer inputs; rotations default to identity quaternions."""
    n = len(means)
    t = lambda x: torch.tensor(np.asarray(x, dtype=np.float64).reshape(n, -1))
    rot = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1)) if rotations is None else rotations
    return dict(means3D=t(means), means2D=torch.zeros(n, 3, dtype=torch.float64),
                opacities=t(opacities), colors_precomp=t(colors),
                sh_objs=None if objects is None else t(objects)[:, None, :],
                scales=t(scales), rotations=t(rot))


# ----------------------------------------------------------------------------- hand formulas
def hand_projection(mean, scale, fx=focal(), fy=focal()):
    """Pixel centre and dilated 2D covariance [a, b, c] of an axis-aligned Gaussian seen by
    the identity camera: J = [[fx/z, 0, -fx x/z^2], [0, fy/z, -fy y/z^2]], cov = J S^2 J^T + 0.3 I."""
    x, y, z = mean
    sx2, sy2, sz2 = np.square(scale)
    u = fx * x / z + (W - 1) / 2
    v = fy * y / z + (H - 1) / 2
    jx, jy = fx * x / z ** 2, fy * y / z ** 2
    a = (fx / z) ** 2 * sx2 + jx ** 2 * sz2 + 0.3
    b = jx * jy * sz2
    c = (fy / z) ** 2 * sy2 + jy ** 2 * sz2 + 0.3
    return u, v, np.array([a, b, c])


def hand_alpha(u, v, cov, opacity):
    """(H, W) alpha of one Gaussian: min(0.99, o exp(-d^T cov^-1 d / 2)), skipped below 1/255."""
    a, b, c = cov
    det = a * c - b * b
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    dx, dy = u - xs, v - ys
    power = -0.5 * (c * dx * dx + a * dy * dy) / det + b * dx * dy / det
    alpha = np.minimum(0.99, opacity * np.exp(power))
    return np.where(alpha < 1 / 255, 0.0, alpha)


def hand_radius(cov):
    a, b, c = cov
    mid, det = (a + c) / 2, a * c - b * b
    return math.ceil(3 * math.sqrt(mid + math.sqrt(max(0.1, mid * mid - det))))


# ----------------------------------------------------------------------------- values
def test_single_gaussian_matches_hand_computation():
    mean, scale, opacity = (0.3, -0.2, 3.0), (0.3, 0.2, 0.4), 0.7
    color, objects = (0.9, 0.4, 0.1), (1.5, -2.0, 0.25, 0.0)
    out = rasterize_reference(settings(), **scene([mean], [scale], [opacity], [color], [objects]))
    u, v, cov = hand_projection(mean, scale)
    alpha = hand_alpha(u, v, cov, opacity)

    assert out.radii.dtype == torch.int32 and out.radii.tolist() == [hand_radius(cov)]
    for px, py in [(round(u), round(v)), (round(u) + 2, round(v) - 1), (round(u) - 3, round(v) + 2)]:
        w = alpha[py, px]
        assert w > 0.05
        np.testing.assert_allclose(out.color[:, py, px], w * np.array(color) + (1 - w) * BG.numpy(), atol=1e-6)
        np.testing.assert_allclose(out.objects[:, py, px], w * np.array(objects), atol=1e-6)
        np.testing.assert_allclose(out.depth[0, py, px], w * mean[2], atol=1e-6)
        np.testing.assert_allclose(out.alpha[0, py, px], w, atol=1e-6)
    np.testing.assert_allclose(out.alpha[0], alpha, atol=1e-6)     # every pixel


def test_radius_uses_the_clamped_eigenvalue_discriminant():
    # Isotropic on-axis Gaussian: both eigenvalues equal a, so the 0.1 clamp decides the radius.
    z = 2.0
    s = math.sqrt(0.6) * z / focal()                               # a = 0.6 + 0.3
    out = rasterize_reference(settings(), **scene([(0, 0, z)], [(s, s, s)], [0.5], [(1, 1, 1)]))
    a = 0.9
    assert math.ceil(3 * math.sqrt(a)) == 3                        # without the clamp
    assert out.radii.item() == math.ceil(3 * math.sqrt(a + math.sqrt(0.1))) == 4


@pytest.mark.parametrize("z, visible", [(0.2, False), (0.1, False), (-1.0, False), (0.25, True)])
def test_near_culling(z, visible):
    out = rasterize_reference(settings(), **scene([(0, 0, z)], [(0.01, 0.01, 0.01)], [0.9], [(1, 0, 0)]))
    assert (out.radii.item() > 0) == visible
    if not visible:
        assert torch.equal(out.color, BG[:, None, None].expand(3, H, W))
        assert not out.alpha.any() and not out.depth.any()


def test_gaussian_off_screen_gets_radius_zero():
    # In front of the camera but projected far right of the image: its tile rect is empty.
    out = rasterize_reference(settings(), **scene([(20.0, 0, 2.0)], [(0.1, 0.1, 0.1)], [0.9], [(1, 0, 0)]))
    assert out.radii.item() == 0
    assert torch.equal(out.color, BG[:, None, None].expand(3, H, W))


def test_blending_is_limited_to_the_tiles_of_the_radius_box():
    # Small opaque Gaussian at u = 13.9: getRect's last tile column is
    # int((u + r + 15) / 16) - 1 = 0, so pixel x = 16 (tile column 1) gets nothing
    # although its alpha is >= 1/255.
    scale, opacity, z = (0.05, 0.05, 0.05), 0.98, 2.0
    mean = ((13.9 - (W - 1) / 2) * z / focal(), 0.0, z)
    out = rasterize_reference(settings(), **scene([mean], [scale], [opacity], [(1, 1, 1)]))
    u, v, cov = hand_projection(mean, scale)
    radius = hand_radius(cov)
    assert out.radii.item() == radius == 3
    assert int((u + radius + 15) / 16) == 1
    alpha = hand_alpha(u, v, cov, opacity)
    assert alpha[8, 16] >= 1 / 255
    assert not out.alpha[0, :, 16:].any()
    np.testing.assert_allclose(out.alpha[0, :, :16], alpha[:, :16], atol=1e-6)


def test_jacobian_is_clamped_at_1_3_times_the_field_of_view():
    # x/z = 1.6 tan(fovx/2): the Jacobian is evaluated at x/z = 1.3 tan(fovx/2). The centre
    # is off-screen (u = 26.3) but the Gaussian reaches into the image.
    tanx, z, scale, opacity = math.tan(FOVX / 2), 2.0, (0.3, 0.25, 0.5), 0.9
    mean = (1.6 * tanx * z, 0.1, z)
    out = rasterize_reference(settings(), **scene([mean], [scale], [opacity], [(1, 1, 1)]))
    u, v, _ = hand_projection(mean, scale)
    _, _, cov = hand_projection((1.3 * tanx * z, 0.1, z), scale)
    _, _, unclamped_cov = hand_projection(mean, scale)
    assert hand_radius(cov) != hand_radius(unclamped_cov)
    assert out.radii.item() == hand_radius(cov)
    alpha = hand_alpha(u, v, cov, opacity)
    assert alpha.max() > 0.1
    np.testing.assert_allclose(out.alpha[0], alpha, atol=1e-6)


def test_sh_colour_is_seen_from_the_camera_centre():
    # Camera at world (0, 0, -1) looking along +z; Gaussian at world (0.2, 0.1, 2), view z = 3.
    w2c = np.eye(4)
    w2c[2, 3] = 1.0
    camera = make_camera(w2c=w2c)
    mean = np.array([0.2, 0.1, 2.0])
    shs = np.array([[0.8, -2.5, 0.3], [0.4, 0.2, -0.3], [-0.6, 0.1, 0.5], [0.9, -0.7, 0.2]])
    inputs = scene([mean], [(0.3, 0.3, 0.3)], [0.6], [(0, 0, 0)])
    inputs.pop("colors_precomp")
    inputs["shs"] = torch.tensor(shs)[None]
    out = rasterize_reference(settings(sh_degree=1, camera=camera), **inputs)

    x, y, z = (mean - np.array([0.0, 0.0, -1.0])) / np.linalg.norm(mean - np.array([0.0, 0.0, -1.0]))
    C1 = 0.4886025119029199
    rgb = C0 * shs[0] - C1 * y * shs[1] + C1 * z * shs[2] - C1 * x * shs[3] + 0.5
    assert rgb.min() < 0                                           # one channel is clamped
    rgb = np.maximum(rgb, 0.0)
    px, py = round(focal() * 0.2 / 3 + (W - 1) / 2), round(focal() * 0.1 / 3 + (H - 1) / 2)
    w = out.alpha[0, py, px].item()
    assert w > 0.3
    np.testing.assert_allclose(out.color[:, py, px], w * rgb + (1 - w) * BG.numpy(), atol=1e-6)
    np.testing.assert_allclose(out.depth[0, py, px], w * 3.0, atol=1e-6)


def test_sh_colours_use_the_orthonormal_real_sh_basis_up_to_degree_3():
    # The 16 basis functions that colors_from_sh applies must be orthonormal on the sphere
    # (3DGS's forward.cu, e.g. Y_3^3 ~ x (x^2 - 3 y^2)). Exact quadrature for degree <= 6:
    # Gauss-Legendre in cos(theta) x 16 uniform azimuths.
    mu, mu_weights = np.polynomial.legendre.leggauss(8)
    phi = np.arange(16) * 2 * np.pi / 16
    mu, phi = np.meshgrid(mu, phi, indexing="ij")
    sin_theta = np.sqrt(1 - mu ** 2)
    dirs = torch.tensor(np.stack([sin_theta * np.cos(phi), sin_theta * np.sin(phi), mu], -1).reshape(-1, 3))
    weights = torch.tensor(np.repeat(mu_weights, 16) * 2 * np.pi / 16)
    lift = torch.zeros(len(dirs), 16, 3, dtype=torch.float64)
    lift[:, 0] = 5.0 / C0                                          # keeps colours away from the clamp
    base = colors_from_sh(3, lift, 2 * dirs, torch.zeros(3, dtype=torch.float64))[:, 0]
    basis = []
    for i in range(16):
        shs = lift.clone()
        shs[:, i] += 1.0
        basis.append(colors_from_sh(3, shs, 2 * dirs, torch.zeros(3, dtype=torch.float64))[:, 0] - base)
    basis = torch.stack(basis, dim=1)                              # (directions, 16)
    gram = basis.T @ (weights[:, None] * basis)
    torch.testing.assert_close(gram, torch.eye(16, dtype=torch.float64), rtol=0, atol=1e-9)


@pytest.mark.parametrize("opacity, blended", [(0.0039, False), (0.0040, True)])
def test_alpha_below_one_over_255_is_skipped(opacity, blended):
    out = rasterize_reference(settings(), **scene([(0, 0, 2.0)], [(0.2, 0.2, 0.2)], [opacity], [(1, 1, 1)]))
    centre_alpha = out.alpha[0, 8, 10].item()                      # G = 1 at the centre pixel
    if blended:
        assert centre_alpha == pytest.approx(opacity, rel=1e-12)
        np.testing.assert_allclose(out.color[:, 8, 10], opacity + (1 - opacity) * BG.numpy())
    else:
        assert centre_alpha == 0
        assert torch.equal(out.color[:, 8, 10], BG)


def test_alpha_is_clamped_at_0_99_with_zero_gradient_through_the_clamp():
    mean, scale, opacity = (0.0, 0.0, 2.0), (0.2, 0.2, 0.2), 0.999
    inputs = scene([mean], [scale], [opacity], [(1, 1, 1)])
    inputs["opacities"].requires_grad_(True)
    out = rasterize_reference(settings(), **inputs)
    assert out.alpha[0, 8, 10].item() == pytest.approx(0.99, abs=1e-15)
    np.testing.assert_allclose(out.color[:, 8, 10].detach(), 0.99 + 0.01 * BG.numpy(), rtol=1e-12)
    # True derivative (not 3DGS's backward, which ignores the clamp): zero at the clamped
    # centre pixel, G at an unclamped pixel two columns away.
    u, v, cov = hand_projection(mean, scale)
    G = hand_alpha(u, v, cov, 1.0)[8, 12]
    (grad_centre,) = torch.autograd.grad(out.alpha[0, 8, 10], inputs["opacities"], retain_graph=True)
    (grad_side,) = torch.autograd.grad(out.alpha[0, 8, 12], inputs["opacities"])
    assert grad_centre.item() == 0 and grad_side.item() == pytest.approx(G, rel=1e-6)


def test_early_stop_on_a_stack_of_opaque_gaussians():
    # Five on-axis Gaussians, alpha 0.95 at the centre pixel: T = 0.05, 0.0025, 1.25e-4 after
    # three; the fourth would give 6.25e-6 < 1e-4, so it is not blended and the pixel ends.
    colors = np.eye(5, 3) + np.array([[0, 0, 0], [0, 0, 0], [0, 0, 0], [0.5, 0.5, 0.5], [0.2, 0.9, 0.4]])
    zs = [2.0, 3.0, 4.0, 5.0, 6.0]
    out = rasterize_reference(settings(), **scene([(0, 0, z) for z in zs], [(0.3, 0.3, 0.3)] * 5,
                                                  [0.95] * 5, colors))
    T = [1.0, 0.05, 0.0025, 1.25e-4]
    expected_color = sum(0.95 * T[i] * colors[i] for i in range(3)) + T[3] * BG.numpy()
    np.testing.assert_allclose(out.color[:, 8, 10], expected_color, rtol=1e-10)
    np.testing.assert_allclose(out.alpha[0, 8, 10], 1 - T[3], rtol=1e-10)
    np.testing.assert_allclose(out.depth[0, 8, 10], sum(0.95 * T[i] * zs[i] for i in range(3)), rtol=1e-10)


def test_order_is_by_depth_not_by_input():
    colors = [(1, 0, 0), (0, 1, 0), (0, 0, 1)]
    inputs = scene([(0, 0, 4.0), (0, 0, 2.0), (0, 0, 3.0)], [(0.3, 0.3, 0.3)] * 3, [0.5] * 3, colors)
    out = rasterize_reference(settings(), **inputs)
    # Front to back: green (z=2), blue (z=3), red (z=4).
    expected = 0.5 * np.array([0, 1, 0]) + 0.25 * np.array([0, 0, 1]) + 0.125 * np.array([1, 0, 0]) \
        + 0.125 * BG.numpy()
    np.testing.assert_allclose(out.color[:, 8, 10], expected, rtol=1e-12)

    perm = torch.tensor([2, 0, 1])
    shuffled = rasterize_reference(settings(), **{k: v[perm] for k, v in inputs.items() if v is not None})
    torch.testing.assert_close(shuffled.color, out.color)
    assert torch.equal(shuffled.radii, out.radii[perm])


def test_equal_depths_blend_in_index_order():
    colors = np.array([(1.0, 0, 0), (0, 1.0, 0)])
    for first, second in [(0, 1), (1, 0)]:
        out = rasterize_reference(settings(), **scene([(0, 0, 3.0), (0.0, 0, 3.0)], [(0.3, 0.3, 0.3)] * 2,
                                                      [0.5, 0.5], colors[[first, second]]))
        expected = 0.5 * colors[first] + 0.25 * colors[second] + 0.25 * BG.numpy()
        np.testing.assert_allclose(out.color[:, 8, 10], expected, rtol=1e-12)


def test_no_gaussians():
    empty = torch.zeros(0, 3, dtype=torch.float64)
    out = rasterize_reference(settings(), means3D=empty, means2D=empty.clone(),
                              opacities=torch.zeros(0, 1, dtype=torch.float64), colors_precomp=empty.clone(),
                              sh_objs=torch.zeros(0, 1, 5, dtype=torch.float64),
                              scales=empty.clone(), rotations=torch.zeros(0, 4, dtype=torch.float64))
    assert torch.equal(out.color, BG[:, None, None].expand(3, H, W))
    assert out.objects.shape == (5, H, W) and not out.objects.any()
    assert out.depth.shape == out.alpha.shape == (1, H, W) and not out.alpha.any()
    assert out.radii.shape == (0,) and out.radii.dtype == torch.int32


def random_scene(n: int, seed: int, sh_degree: int = 0, num_objects: int = 3) -> dict:
    """Gaussians in front of the identity camera, inside the field of view, opacity <= 0.9."""
    g = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.rand(*shape, generator=g, dtype=torch.float64)
    z = 2.0 + 2.0 * rand(n)
    xy = (rand(n, 2) - 0.5) * z[:, None] * torch.tensor([0.8, 0.6], dtype=torch.float64)
    return dict(means3D=torch.cat([xy, z[:, None]], dim=1),
                means2D=torch.zeros(n, 3, dtype=torch.float64),
                opacities=0.2 + 0.7 * rand(n, 1),
                shs=0.5 * torch.randn(n, (sh_degree + 1) ** 2, 3, generator=g, dtype=torch.float64),
                sh_objs=torch.randn(n, 1, num_objects, generator=g, dtype=torch.float64),
                scales=0.05 + 0.2 * rand(n, 3),
                rotations=torch.randn(n, 4, generator=g, dtype=torch.float64))


def test_colors_precomp_equals_degree_zero_sh():
    inputs = random_scene(12, seed=1)
    with_sh = rasterize_reference(settings(), **inputs)
    colors = torch.clamp_min(C0 * inputs.pop("shs")[:, 0, :] + 0.5, 0.0)
    precomp = rasterize_reference(settings(), colors_precomp=colors, **inputs)
    for a, b in zip(with_sh, precomp):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_cov3D_precomp_equals_scales_and_rotations():
    inputs = random_scene(12, seed=2)
    modifier = 0.8
    scales, quats = inputs.pop("scales"), inputs.pop("rotations")
    # scipy's rotation (x, y, z, w order) of the normalised quaternions, independent of ours.
    R = torch.tensor(Rotation.from_quat(quats[:, [1, 2, 3, 0]].numpy()).as_matrix())
    sigma = R @ torch.diag_embed((modifier * scales) ** 2) @ R.transpose(1, 2)
    cov6 = sigma[:, [0, 0, 0, 1, 1, 2], [0, 1, 2, 1, 2, 2]]
    unit_q = quats / quats.norm(dim=1, keepdim=True)
    a = rasterize_reference(settings(scale_modifier=modifier), scales=scales, rotations=unit_q, **inputs)
    b = rasterize_reference(settings(scale_modifier=modifier), cov3D_precomp=cov6, **inputs)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-10)


def test_rotations_are_not_normalised():
    # q = (0, 2, 0, 0) in the unnormalised formula gives diag(1, -7, -7), so
    # Sigma = diag(sx^2, 49 sy^2, 49 sz^2).
    s = np.array([0.05, 0.02, 0.01])
    inputs = scene([(0, 0, 3.0)], [s], [0.8], [(1, 1, 1)], rotations=np.array([[0.0, 2.0, 0.0, 0.0]]))
    from_quat = rasterize_reference(settings(), **inputs)
    inputs.pop("scales"), inputs.pop("rotations")
    cov6 = torch.tensor([[s[0] ** 2, 0, 0, 49 * s[1] ** 2, 0, 49 * s[2] ** 2]], dtype=torch.float64)
    precomp = rasterize_reference(settings(), cov3D_precomp=cov6, **inputs)
    torch.testing.assert_close(from_quat.alpha, precomp.alpha, rtol=1e-12, atol=1e-12)
    assert from_quat.radii.item() == precomp.radii.item() > 0


def test_invalid_inputs_raise_clear_errors():
    inputs = random_scene(4, seed=3)
    with pytest.raises(ValueError, match="exactly one of shs and colors_precomp"):
        rasterize_reference(settings(), colors_precomp=torch.zeros(4, 3, dtype=torch.float64), **inputs)
    inputs["opacities"] = inputs["opacities"][:, 0]
    with pytest.raises(ValueError, match="opacities"):
        rasterize_reference(settings(), **inputs)


# ----------------------------------------------------------------------------- gradients
def stack_and_scatter(seed: int) -> dict:
    """Random Gaussians, a stack of four opaque ones on the axis that early-stops the centre
    pixels and one beyond the Jacobian clamp, so gradcheck covers the stop and the clamp."""
    inputs = random_scene(5, seed, sh_degree=3)
    stack = random_scene(4, seed + 100, sh_degree=3)
    stack["means3D"] = torch.tensor([[0.05 * i, -0.03 * i, 2.0 + 0.4 * i] for i in range(4)], dtype=torch.float64)
    stack["opacities"] = torch.full((4, 1), 0.93, dtype=torch.float64)
    stack["scales"] = torch.full((4, 3), 0.4, dtype=torch.float64)
    # One more beyond the Jacobian clamp (x/z = 1.4 tan(fovx/2)) that still reaches the image.
    beyond = random_scene(1, seed + 200, sh_degree=3)
    beyond["means3D"] = torch.tensor([[1.4 * math.tan(FOVX / 2) * 2.2, 0.2, 2.2]], dtype=torch.float64)
    beyond["scales"] = torch.full((1, 3), 0.4, dtype=torch.float64)
    return {k: torch.cat([inputs[k], stack[k], beyond[k]]) for k in inputs}


def test_stack_scene_early_stops():
    inputs = stack_and_scatter(seed=4)
    out = rasterize_reference(settings(sh_degree=3), **inputs)
    # Stopped pixels keep T = 1 - alpha >= 1e-4 but T * (1 - 0.93) < 1e-4.
    assert ((1 - out.alpha) < 1e-4 / 0.07).sum() > 0


def test_gradcheck_sh_scales_rotations():
    inputs = stack_and_scatter(seed=4)
    names = ["means3D", "means2D", "opacities", "shs", "sh_objs", "scales", "rotations"]
    tensors = [inputs[k].clone().requires_grad_(True) for k in names]

    def f(*args):
        out = rasterize_reference(settings(sh_degree=3), **dict(zip(names, args)))
        return out.color, out.objects, out.depth, out.alpha

    assert torch.autograd.gradcheck(f, tensors, eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=True)


def test_gradcheck_precomputed_colors_and_covariances():
    inputs = stack_and_scatter(seed=5)
    scales, quats = inputs.pop("scales"), inputs.pop("rotations")
    q = quats / quats.norm(dim=1, keepdim=True)
    R = torch.tensor(Rotation.from_quat(q[:, [1, 2, 3, 0]].numpy()).as_matrix())
    sigma = R @ torch.diag_embed(scales ** 2) @ R.transpose(1, 2)
    inputs["cov3D_precomp"] = sigma[:, [0, 0, 0, 1, 1, 2], [0, 1, 2, 1, 2, 2]]
    inputs["colors_precomp"] = torch.sigmoid(inputs.pop("shs")[:, 0, :])
    names = ["means3D", "means2D", "opacities", "colors_precomp", "sh_objs", "cov3D_precomp"]
    tensors = [inputs[k].clone().requires_grad_(True) for k in names]

    def f(*args):
        out = rasterize_reference(settings(), **dict(zip(names, args)))
        return out.color, out.objects, out.depth, out.alpha

    assert torch.autograd.gradcheck(f, tensors, eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=True)


def test_means2D_gradient_is_the_pixel_gradient_times_half_the_image_size():
    mean, scale, opacity, color = (0.25, -0.15, 2.5), (0.2, 0.25, 0.3), 0.8, np.array([0.9, 0.3, 0.6])
    inputs = scene([mean], [scale], [opacity], [color])
    inputs["means2D"].requires_grad_(True)
    out = rasterize_reference(settings(), **inputs)
    weights = np.random.default_rng(0).normal(size=(3, H, W))
    (out.color * torch.tensor(weights)).sum().backward()

    u, v, cov = hand_projection(mean, scale)

    def image(u_px, v_px):
        alpha = hand_alpha(u_px, v_px, cov, opacity)[None]
        return alpha * color[:, None, None] + (1 - alpha) * BG.numpy()[:, None, None]

    def loss(u_px, v_px):
        return (image(u_px, v_px) * weights).sum()

    np.testing.assert_allclose(out.color.detach(), image(u, v), atol=1e-6)
    h = 1e-5
    d_du = (loss(u + h, v) - loss(u - h, v)) / (2 * h)
    d_dv = (loss(u, v + h) - loss(u, v - h)) / (2 * h)
    grad = inputs["means2D"].grad[0].numpy()
    np.testing.assert_allclose(grad[:2], [d_du * 0.5 * W, d_dv * 0.5 * H], rtol=1e-5)
    assert grad[2] == 0
