"""Pure-PyTorch reference rasterizer: the test oracle for `diff_gaussian_rasterization`.

It implements the rasterizer contract of docs/ARCHITECTURE.md (3DGS's forward math) with
plain differentiable torch ops, so autograd supplies every gradient. Readable rather than
fast, but tiled like 3DGS: each 16x16 tile blends only the Gaussians whose tile rectangle
touches it, so memory grows with Gaussian-tile overlaps, not with Gaussians x pixels.

Gradients are the true derivatives of the forward. Two places where 3DGS's backward.cu
differs, and where this oracle is deliberately exact (as gsplat is):
- alpha = min(0.99, o * G): no gradient reaches o or G where the 0.99 clamp is active
  (3DGS's backward ignores the clamp);
- Jacobian clamp: the clamped t.x = clamp(t.x / t.z) * t.z keeps its derivative with
  respect to t.z (3DGS drops it); with respect to t.x it is zero, as in 3DGS.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from gaussian_renderer.contract import RasterOutput
from utils.general_utils import build_rotation
from utils.sh_utils import colors_from_sh

BLOCK = 16                      # tile side in pixels (3DGS BLOCK_X = BLOCK_Y)
NEAR_Z = 0.2                    # cull view-space z <= NEAR_Z
JACOBIAN_CLAMP = 1.3            # |t.x / t.z| clamped to 1.3 * tan(fov / 2)
DILATION = 0.3                  # added to the 2D covariance diagonal
MIN_EIGEN_GAP_SQ = 0.1          # eigenvalue discriminant clamp of the radius
MAX_ALPHA = 0.99
MIN_ALPHA = 1.0 / 255.0
MIN_TRANSMITTANCE = 1e-4
PROJ_EPS = 1e-7                 # p_w = 1 / (w + PROJ_EPS)


# ----------------------------------------------------------------------------- per Gaussian
def covariance_from_scale_rotation(scales: torch.Tensor, rotations: torch.Tensor,
                                   scale_modifier: float) -> torch.Tensor:
    """Sigma = R S S R^T for scales (N, 3), rotations (N, 4) -> (N, 6) [xx,xy,xz,yy,yz,zz]."""
    L = build_rotation(rotations, normalize=False) * (scale_modifier * scales)[:, None, :]
    sigma = L @ L.transpose(1, 2)
    i, j = torch.triu_indices(3, 3)
    return sigma[:, i, j]


def symmetric_from_upper(cov6: torch.Tensor) -> torch.Tensor:
    """(N, 6) [xx,xy,xz,yy,yz,zz] -> symmetric (N, 3, 3); an off-diagonal entry feeds both
    of its matrix positions, so its gradient is their sum (as 3DGS's dL_dcov3D)."""
    xx, xy, xz, yy, yz, zz = cov6.unbind(dim=1)
    return torch.stack([xx, xy, xz, xy, yy, yz, xz, yz, zz], dim=1).reshape(-1, 3, 3)


def project_covariance(means_view: torch.Tensor, cov3D: torch.Tensor, view_rotation: torch.Tensor,
                       focal: tuple[float, float], tanfov: tuple[float, float]) -> torch.Tensor:
    """EWA projection of world covariances (N, 3, 3) at view-space means (N, 3), dilated
    -> (N, 3) [a, b, c] of the 2D covariance [[a, b], [b, c]] in pixels^2.
    view_rotation (3, 3) maps row vectors world -> view (viewmatrix[:3, :3])."""
    tz = means_view[:, 2]
    # 3DGS evaluates the Jacobian at the mean pulled back to 1.3x the field of view.
    lim_x, lim_y = JACOBIAN_CLAMP * tanfov[0], JACOBIAN_CLAMP * tanfov[1]
    tx = torch.clamp(means_view[:, 0] / tz, -lim_x, lim_x) * tz
    ty = torch.clamp(means_view[:, 1] / tz, -lim_y, lim_y) * tz
    fx, fy = focal
    zero = torch.zeros_like(tz)
    J = torch.stack([fx / tz, zero, -fx * tx / (tz * tz),
                     zero, fy / tz, -fy * ty / (tz * tz)], dim=1).reshape(-1, 2, 3)
    cov_view = view_rotation.T @ cov3D @ view_rotation
    cov2D = J @ cov_view @ J.transpose(1, 2)
    return torch.stack([cov2D[:, 0, 0] + DILATION, cov2D[:, 0, 1], cov2D[:, 1, 1] + DILATION], dim=1)


def screen_radius(cov2D: torch.Tensor) -> torch.Tensor:
    """3-sigma radius in pixels (N,) of dilated 2D covariances (N, 3), from the larger
    eigenvalue with its discriminant clamped at 0.1 (3DGS). Integer-valued, no gradient."""
    a, b, c = cov2D.detach().unbind(dim=1)
    mid = 0.5 * (a + c)
    det = a * c - b * b
    lambda_max = mid + torch.sqrt(torch.clamp_min(mid * mid - det, MIN_EIGEN_GAP_SQ))
    return torch.ceil(3.0 * torch.sqrt(lambda_max))


def tile_rect(centres_px: torch.Tensor, radii: torch.Tensor,
              grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """3DGS getRect: tiles [rect_min, rect_max) (each (N, 2) int64, x then y) touched by the
    box of half-side radius (N,) around centres_px (N, 2). C's int cast truncates."""
    p, r = centres_px.detach(), radii[:, None]
    upper = torch.tensor(grid, dtype=p.dtype, device=p.device)
    rect_min = torch.minimum(torch.trunc((p - r) / BLOCK).clamp_min(0), upper)
    rect_max = torch.minimum(torch.trunc((p + r + BLOCK - 1) / BLOCK).clamp_min(0), upper)
    return rect_min.long(), rect_max.long()


def ndc_to_pixel(v: torch.Tensor, size: int) -> torch.Tensor:
    """NDC in [-1, 1] -> pixel coordinate with pixel centres at integers."""
    return ((v + 1.0) * size - 1.0) * 0.5


# ----------------------------------------------------------------------------- per tile
def blend_tile(pixels: torch.Tensor, means_px: torch.Tensor, conics: torch.Tensor,
               opacities: torch.Tensor, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Front-to-back alpha blending of K depth-sorted Gaussians over P pixels.

    pixels (P, 2) integer pixel coordinates (x, y); means_px (K, 2); conics (K, 3) [a, b, c] of
    the inverse 2D covariance; opacities (K,); features (K, F).
    Returns the blended features (P, F) = sum_i w_i f_i and the final transmittance (P,).
    """
    d = means_px[None, :, :] - pixels[:, None, :]                       # (P, K, 2)
    dx, dy = d[..., 0], d[..., 1]
    power = -0.5 * (conics[:, 0] * dx * dx + conics[:, 2] * dy * dy) - conics[:, 1] * dx * dy
    # exp of a clamped power: entries with power > 0 are skipped, and this keeps their
    # (masked) gradient finite.
    alpha = torch.clamp_max(opacities * torch.exp(torch.clamp_max(power, 0.0)), MAX_ALPHA)
    with torch.no_grad():
        candidate = (power <= 0.0) & (alpha >= MIN_ALPHA)
        # A candidate whose alpha would take T below the threshold ends the pixel unblended.
        test_T = torch.cumprod(1.0 - torch.where(candidate, alpha, 0.0), dim=1)
        stops = candidate & (test_T < MIN_TRANSMITTANCE)
        blended = candidate & (torch.cumsum(stops.int(), dim=1) == 0)
    alpha = torch.where(blended, alpha, torch.zeros_like(alpha))
    ones = alpha.new_ones(alpha.shape[0], 1)
    transmittance = torch.cat([ones, torch.cumprod(1.0 - alpha, dim=1)], dim=1)   # (P, K + 1)
    weights = alpha * transmittance[:, :-1]
    return weights @ features, transmittance[:, -1]


def tile_pixels(tile_x: int, tile_y: int, width: int, height: int,
                dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Pixel coordinates (h*w, 2) as (x, y), row-major, of one tile clipped to the image."""
    xs = torch.arange(tile_x * BLOCK, min((tile_x + 1) * BLOCK, width), dtype=dtype, device=device)
    ys = torch.arange(tile_y * BLOCK, min((tile_y + 1) * BLOCK, height), dtype=dtype, device=device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)


# ----------------------------------------------------------------------------- whole image
class ProjectedGaussians(NamedTuple):
    """The rendered Gaussians (M of them), sorted front to back."""
    means_px: torch.Tensor   # (M, 2)
    conics: torch.Tensor     # (M, 3)
    opacities: torch.Tensor  # (M,)
    features: torch.Tensor   # (M, 3 + D + 2): colour, identity, view z, 1 (blends to alpha)
    rect_min: torch.Tensor   # (M, 2) int64 tiles
    rect_max: torch.Tensor   # (M, 2)


def check_inputs(means3D: torch.Tensor, means2D: torch.Tensor, opacities: torch.Tensor,
                 shs: torch.Tensor | None, colors_precomp: torch.Tensor | None,
                 sh_objs: torch.Tensor | None, scales: torch.Tensor | None,
                 rotations: torch.Tensor | None, cov3D_precomp: torch.Tensor | None,
                 sh_degree: int) -> None:
    """Raise ValueError naming the argument when an input breaks the contract."""
    n = means3D.shape[0]

    def expect(name: str, t: torch.Tensor, shape: tuple) -> None:
        if tuple(t.shape) != shape:
            raise ValueError(f"rasterizer input {name}: expected shape {shape}, got {tuple(t.shape)}")

    expect("means3D", means3D, (n, 3))
    expect("means2D", means2D, (n, 3))
    expect("opacities", opacities, (n, 1))
    if (shs is None) == (colors_precomp is None):
        raise ValueError("rasterizer: give exactly one of shs and colors_precomp")
    if shs is not None:
        if shs.dim() != 3 or shs.shape[0] != n or shs.shape[2] != 3:
            raise ValueError(f"rasterizer input shs: expected shape ({n}, K, 3), got {tuple(shs.shape)}")
        if not 0 <= sh_degree <= 3 or shs.shape[1] < (sh_degree + 1) ** 2:
            raise ValueError(f"rasterizer input shs: {shs.shape[1]} coefficients cannot give "
                             f"SH degree {sh_degree} (0..3 and K >= (degree + 1)^2)")
    else:
        expect("colors_precomp", colors_precomp, (n, 3))
    if sh_objs is not None and not (sh_objs.shape[0] == n and (
            sh_objs.dim() == 2 or (sh_objs.dim() == 3 and sh_objs.shape[1] == 1))):
        raise ValueError(f"rasterizer input sh_objs: expected shape ({n}, 1, D) or ({n}, D), "
                         f"got {tuple(sh_objs.shape)}")
    if cov3D_precomp is not None:
        if scales is not None or rotations is not None:
            raise ValueError("rasterizer: give either cov3D_precomp or scales and rotations, not both")
        expect("cov3D_precomp", cov3D_precomp, (n, 6))
    elif scales is None or rotations is None:
        raise ValueError("rasterizer: give cov3D_precomp, or both scales and rotations")
    else:
        expect("scales", scales, (n, 3))
        expect("rotations", rotations, (n, 4))


def project_gaussians(settings, means3D: torch.Tensor, means2D: torch.Tensor,
                      opacities: torch.Tensor, shs: torch.Tensor | None,
                      colors_precomp: torch.Tensor | None, objects: torch.Tensor,
                      cov3D: torch.Tensor) -> tuple[ProjectedGaussians, torch.Tensor]:
    """3DGS preprocess: cull, project, cover tiles, colour. objects (N, D), cov3D (N, 6).
    Returns the rendered Gaussians sorted by view z (ties by index) and radii (N,) int32."""
    width, height = settings.image_width, settings.image_height
    grid = ((width + BLOCK - 1) // BLOCK, (height + BLOCK - 1) // BLOCK)
    like = dict(dtype=means3D.dtype, device=means3D.device)
    viewmatrix, projmatrix = settings.viewmatrix.to(**like), settings.projmatrix.to(**like)

    means_view = means3D @ viewmatrix[:3, :3] + viewmatrix[3, :3]
    in_front = torch.nonzero(means_view[:, 2] > NEAR_Z).squeeze(1)
    # Everything below runs on the in-front subset only, so culled Gaussians (possibly at
    # the camera centre) never produce non-finite values or gradients.
    means_hom = means3D[in_front] @ projmatrix[:3, :] + projmatrix[3, :]
    # means2D (zeros) enters here, so its gradient is dL/d(NDC centre), as in 3DGS.
    ndc = means_hom[:, :2] * (1.0 / (means_hom[:, 3:] + PROJ_EPS)) + means2D[in_front, :2]
    means_px = torch.stack([ndc_to_pixel(ndc[:, 0], width), ndc_to_pixel(ndc[:, 1], height)], dim=1)
    focal = (width / (2.0 * settings.tanfovx), height / (2.0 * settings.tanfovy))
    cov2D = project_covariance(means_view[in_front], symmetric_from_upper(cov3D[in_front]),
                               viewmatrix[:3, :3], focal, (settings.tanfovx, settings.tanfovy))
    radius = screen_radius(cov2D)
    rect_min, rect_max = tile_rect(means_px, radius, grid)
    det = cov2D[:, 0] * cov2D[:, 2] - cov2D[:, 1] ** 2
    covers_tiles = (rect_max - rect_min).prod(dim=1) > 0
    keep = torch.nonzero(covers_tiles & (det.detach() != 0)).squeeze(1)

    index = in_front[keep]
    radii = torch.zeros(means3D.shape[0], dtype=torch.int32, device=means3D.device)
    radii[index] = radius[keep].to(torch.int32)

    a, b, c = cov2D[keep].unbind(dim=1)
    conics = torch.stack([c, -b, a], dim=1) / det[keep, None]
    if colors_precomp is None:
        colors = colors_from_sh(settings.sh_degree, shs[index], means3D[index], settings.campos.to(**like))
    else:
        colors = colors_precomp[index]
    z = means_view[index, 2]
    features = torch.cat([colors, objects[index], z[:, None], torch.ones_like(z)[:, None]], dim=1)
    order = torch.sort(z.detach(), stable=True).indices
    projected = ProjectedGaussians(means_px[keep][order], conics[order], opacities[index, 0][order],
                                   features[order], rect_min[keep][order], rect_max[keep][order])
    return projected, radii


def rasterize_reference(settings, means3D: torch.Tensor, means2D: torch.Tensor,
                        opacities: torch.Tensor, shs: torch.Tensor | None = None,
                        colors_precomp: torch.Tensor | None = None,
                        sh_objs: torch.Tensor | None = None, scales: torch.Tensor | None = None,
                        rotations: torch.Tensor | None = None,
                        cov3D_precomp: torch.Tensor | None = None) -> RasterOutput:
    """Render N Gaussians per the rasterizer contract (docs/ARCHITECTURE.md).

    means3D (N, 3); means2D (N, 3) zeros whose gradient [:, :2] is dL/d(NDC centre);
    opacities (N, 1) activated; shs (N, K, 3) or colors_precomp (N, 3); sh_objs (N, 1, D),
    (N, D) or None; scales (N, 3) and rotations (N, 4), or cov3D_precomp (N, 6).
    The output dtype and device follow means3D.
    """
    check_inputs(means3D, means2D, opacities, shs, colors_precomp, sh_objs, scales, rotations,
                 cov3D_precomp, settings.sh_degree)
    n = means3D.shape[0]
    objects = means3D.new_zeros(n, 0) if sh_objs is None else sh_objs.reshape(n, sh_objs.shape[-1])
    num_objects = objects.shape[1]
    if cov3D_precomp is None:
        cov3D_precomp = covariance_from_scale_rotation(scales, rotations, settings.scale_modifier)
    projected, radii = project_gaussians(settings, means3D, means2D, opacities, shs, colors_precomp,
                                         objects, cov3D_precomp)

    width, height = settings.image_width, settings.image_height
    bg = settings.bg.to(dtype=means3D.dtype, device=means3D.device)
    rows = []
    for tile_y in range((height + BLOCK - 1) // BLOCK):
        row = []
        for tile_x in range((width + BLOCK - 1) // BLOCK):
            touches = ((projected.rect_min[:, 0] <= tile_x) & (tile_x < projected.rect_max[:, 0])
                       & (projected.rect_min[:, 1] <= tile_y) & (tile_y < projected.rect_max[:, 1]))
            idx = torch.nonzero(touches).squeeze(1)           # keeps the front-to-back order
            pixels = tile_pixels(tile_x, tile_y, width, height, means3D.dtype, means3D.device)
            blended, final_T = blend_tile(pixels, projected.means_px[idx], projected.conics[idx],
                                          projected.opacities[idx], projected.features[idx])
            color = blended[:, :3] + final_T[:, None] * bg
            tile = torch.cat([color, blended[:, 3:]], dim=1)  # colour, identity, depth, alpha
            tile_h = min(BLOCK, height - tile_y * BLOCK)
            row.append(tile.reshape(tile_h, -1, tile.shape[1]))
        rows.append(torch.cat(row, dim=1))
    image = torch.cat(rows, dim=0).permute(2, 0, 1)           # (3 + D + 2, H, W)
    return RasterOutput(color=image[:3], radii=radii, objects=image[3:3 + num_objects],
                        depth=image[3 + num_objects:4 + num_objects], alpha=image[4 + num_objects:])
