"""Differentiable Gaussian rasterizer with identity channels (Gaussian Grouping's interface).

`GaussianRasterizer(settings)(means3D, means2D, opacities, shs=, colors_precomp=, sh_objs=,
scales=, rotations=, cov3D_precomp=)` returns `(color (3, H, W), radii (N,), objects (D, H, W))`
and `.rasterize(...)` the full `RasterOutput` (with depth and alpha). CPU tensors run the
C++/OpenMP rasterizer, CUDA tensors the CUDA one (when built with CUDA). With
`GaussianRasterizer(settings, emulate_cuda=True)` CPU tensors run the CUDA kernels themselves,
compiled as C++ against an emulation of the CUDA runtime (`_C_emulated`, built everywhere), so the
kernels are tested without a GPU. The math is 3DGS's; gradients reach every tensor input from all
four images. See docs/ARCHITECTURE.md of GradiSeg.
"""
from __future__ import annotations

from types import ModuleType
from typing import NamedTuple

import torch

from . import _C, _C_emulated

NEAR_Z = 0.2  # view-space z at or below which a Gaussian is culled (3DGS in_frustum)


class GaussianRasterizationSettings(NamedTuple):
    image_height: int
    image_width: int
    tanfovx: float
    tanfovy: float
    bg: torch.Tensor            # (3,) background colour
    scale_modifier: float
    viewmatrix: torch.Tensor    # (4, 4) world_view_transform (row-vector convention)
    projmatrix: torch.Tensor    # (4, 4) full_proj_transform
    sh_degree: int
    campos: torch.Tensor        # (3,)
    prefiltered: bool = False   # accepted for 3DGS compatibility; culling always runs
    debug: bool = False         # check every input for non-finite values first


class RasterOutput(NamedTuple):
    color: torch.Tensor    # (3, H, W)  sum_i w_i c_i + T_final * bg
    radii: torch.Tensor    # (N,) int32, 0 for Gaussians that are not rendered
    objects: torch.Tensor  # (D, H, W)  sum_i w_i e_i
    depth: torch.Tensor    # (1, H, W)  sum_i w_i z_view_i
    alpha: torch.Tensor    # (1, H, W)  1 - T_final


def _check_inputs(settings: GaussianRasterizationSettings, means3D: torch.Tensor, opacities: torch.Tensor,
                  shs: torch.Tensor | None, colors_precomp: torch.Tensor | None, sh_objs: torch.Tensor | None,
                  scales: torch.Tensor | None, rotations: torch.Tensor | None,
                  cov3D_precomp: torch.Tensor | None) -> None:
    """Raise ValueError naming the input that breaks the interface."""
    n = means3D.shape[0] if means3D.dim() == 2 else -1
    expected = {"means3D": (means3D, (n, 3)), "opacities": (opacities, (n, 1)),
                "colors_precomp": (colors_precomp, (n, 3)), "scales": (scales, (n, 3)),
                "rotations": (rotations, (n, 4)), "cov3D_precomp": (cov3D_precomp, (n, 6))}
    for name, (tensor, shape) in expected.items():
        if tensor is not None and tuple(tensor.shape) != shape:
            raise ValueError(f"diff_gaussian_rasterization: {name} must have shape {shape}, got {tuple(tensor.shape)}")
    if (shs is None) == (colors_precomp is None):
        raise ValueError("diff_gaussian_rasterization: give exactly one of shs and colors_precomp")
    if shs is not None:
        degree = settings.sh_degree
        if shs.dim() != 3 or shs.shape[0] != n or shs.shape[2] != 3:
            raise ValueError(f"diff_gaussian_rasterization: shs must have shape ({n}, K, 3), got {tuple(shs.shape)}")
        if not 0 <= degree <= 3 or shs.shape[1] < (degree + 1) ** 2:
            raise ValueError(f"diff_gaussian_rasterization: {shs.shape[1]} SH coefficients cannot give degree "
                             f"{degree} (0..3 and K >= (degree + 1)^2)")
    if sh_objs is not None and not (sh_objs.shape[0] == n and (
            sh_objs.dim() == 2 or (sh_objs.dim() == 3 and sh_objs.shape[1] == 1))):
        raise ValueError(f"diff_gaussian_rasterization: sh_objs must have shape ({n}, 1, D) or ({n}, D), "
                         f"got {tuple(sh_objs.shape)}")
    if cov3D_precomp is not None and (scales is not None or rotations is not None):
        raise ValueError("diff_gaussian_rasterization: give cov3D_precomp or scales and rotations, not both")
    if cov3D_precomp is None and (scales is None or rotations is None):
        raise ValueError("diff_gaussian_rasterization: give cov3D_precomp, or both scales and rotations")
    inputs = {"means3D": means3D, "opacities": opacities, "shs": shs, "colors_precomp": colors_precomp,
              "sh_objs": sh_objs, "scales": scales, "rotations": rotations, "cov3D_precomp": cov3D_precomp}
    for name, tensor in inputs.items():
        if tensor is None:
            continue
        if tensor.dtype != torch.float32:
            raise ValueError(f"diff_gaussian_rasterization: {name} must be float32, got {tensor.dtype}")
        if tensor.device != means3D.device:
            raise ValueError(f"diff_gaussian_rasterization: {name} is on {tensor.device}, means3D on {means3D.device}")
        if settings.debug and not torch.isfinite(tensor).all():
            raise ValueError(f"diff_gaussian_rasterization: {name} has non-finite values")


class _Inputs(NamedTuple):
    """The tensor inputs as the extension takes them (contiguous, opacities (N,), objects (N, D))."""
    means3D: torch.Tensor
    colors_precomp: torch.Tensor | None
    opacities: torch.Tensor
    scales: torch.Tensor | None
    rotations: torch.Tensor | None
    cov3D_precomp: torch.Tensor | None
    shs: torch.Tensor | None
    objects: torch.Tensor | None


def _extension_args(settings: GaussianRasterizationSettings, inputs: _Inputs) -> tuple:
    """Positional arguments of _C.rasterize_forward (and the start of _C.rasterize_backward's)."""
    device = inputs.means3D.device

    def setting(t: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(t).detach().to(device=device, dtype=torch.float32).contiguous()
    return (setting(settings.bg), inputs.means3D, inputs.colors_precomp, inputs.opacities, inputs.scales,
            inputs.rotations, float(settings.scale_modifier), inputs.cov3D_precomp, setting(settings.viewmatrix),
            setting(settings.projmatrix), float(settings.tanfovx), float(settings.tanfovy),
            int(settings.image_height), int(settings.image_width), inputs.shs, int(settings.sh_degree),
            setting(settings.campos), inputs.objects)


def _contiguous(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.contiguous()


class _RasterizeGaussians(torch.autograd.Function):
    """Images and radii of the Gaussians; backward gives every tensor input its gradient."""

    @staticmethod
    def forward(ctx, means3D, means2D, shs, colors_precomp, sh_objs, opacities, scales, rotations,
                cov3D_precomp, settings, extension):
        n = means3D.shape[0]
        inputs = _Inputs(means3D.contiguous(), _contiguous(colors_precomp), opacities.reshape(n).contiguous(),
                         _contiguous(scales), _contiguous(rotations), _contiguous(cov3D_precomp), _contiguous(shs),
                         None if sh_objs is None else sh_objs.reshape(n, sh_objs.shape[-1]).contiguous())
        color, radii, objects, depth, alpha, *state = extension.rasterize_forward(
            *_extension_args(settings, inputs))
        ctx.settings = settings
        ctx.extension = extension
        ctx.sh_objs_shape = None if sh_objs is None else sh_objs.shape
        ctx.save_for_backward(*inputs, *state)
        ctx.mark_non_differentiable(radii)
        return color, radii, objects, depth, alpha

    @staticmethod
    def backward(ctx, grad_color, _grad_radii, grad_objects, grad_depth, grad_alpha):
        saved = ctx.saved_tensors
        inputs = _Inputs(*saved[:len(_Inputs._fields)])
        state = list(saved[len(_Inputs._fields):])
        grads = ctx.extension.rasterize_backward(
            *_extension_args(ctx.settings, inputs), state, grad_color.contiguous(), grad_objects.contiguous(),
            grad_depth.contiguous(), grad_alpha.contiguous())
        (d_means3D, d_means2D, d_opacities, d_shs, d_colors, d_objects, d_scales, d_rotations, d_cov3D) = grads
        d_sh_objs = None if ctx.sh_objs_shape is None else d_objects.reshape(ctx.sh_objs_shape)
        return (d_means3D, d_means2D, d_shs, d_colors, d_sh_objs, d_opacities.reshape(-1, 1), d_scales,
                d_rotations, d_cov3D, None, None)


def rasterize_gaussians(means3D: torch.Tensor, means2D: torch.Tensor, opacities: torch.Tensor,
                        settings: GaussianRasterizationSettings, shs: torch.Tensor | None = None,
                        colors_precomp: torch.Tensor | None = None, sh_objs: torch.Tensor | None = None,
                        scales: torch.Tensor | None = None, rotations: torch.Tensor | None = None,
                        cov3D_precomp: torch.Tensor | None = None, emulate_cuda: bool = False) -> RasterOutput:
    """Render N Gaussians: see GaussianRasterizer.rasterize. emulate_cuda: run the CUDA kernels
    on CPU tensors through the emulation layer (`_C_emulated`)."""
    _check_inputs(settings, means3D, opacities, shs, colors_precomp, sh_objs, scales, rotations, cov3D_precomp)
    if tuple(means2D.shape) != (means3D.shape[0], 3):
        raise ValueError(f"diff_gaussian_rasterization: means2D must have shape ({means3D.shape[0]}, 3), "
                         f"got {tuple(means2D.shape)}")
    if emulate_cuda and means3D.is_cuda:
        raise ValueError("diff_gaussian_rasterization: emulate_cuda runs the CUDA kernels on the CPU; "
                         f"pass CPU tensors, got means3D on {means3D.device}")
    extension: ModuleType = _C_emulated if emulate_cuda else _C
    color, radii, objects, depth, alpha = _RasterizeGaussians.apply(
        means3D, means2D, shs, colors_precomp, sh_objs, opacities, scales, rotations, cov3D_precomp, settings,
        extension)
    return RasterOutput(color, radii, objects, depth, alpha)


class GaussianRasterizer(torch.nn.Module):
    """Gaussian Grouping's rasterizer module. emulate_cuda=True: CPU tensors run the CUDA kernels
    through the emulation layer instead of the C++/OpenMP path (same results to float rounding)."""

    def __init__(self, raster_settings: GaussianRasterizationSettings, emulate_cuda: bool = False):
        super().__init__()
        self.raster_settings = raster_settings
        self.emulate_cuda = emulate_cuda

    def markVisible(self, positions: torch.Tensor) -> torch.Tensor:
        """(N,) bool: Gaussians in front of the near plane (3DGS's frustum test, z only)."""
        with torch.no_grad():
            view = torch.as_tensor(self.raster_settings.viewmatrix).to(positions)
            return positions @ view[:3, 2] + view[3, 2] > NEAR_Z

    def rasterize(self, means3D: torch.Tensor, means2D: torch.Tensor, opacities: torch.Tensor,
                  shs: torch.Tensor | None = None, colors_precomp: torch.Tensor | None = None,
                  sh_objs: torch.Tensor | None = None, scales: torch.Tensor | None = None,
                  rotations: torch.Tensor | None = None, cov3D_precomp: torch.Tensor | None = None) -> RasterOutput:
        """All five outputs. means3D (N, 3); means2D (N, 3) whose .grad[:, :2] receives dL/d(NDC
        centre); opacities (N, 1); shs (N, K, 3) or colors_precomp (N, 3); sh_objs (N, 1, D), (N, D)
        or None; scales (N, 3) and rotations (N, 4), or cov3D_precomp (N, 6). float32."""
        return rasterize_gaussians(means3D, means2D, opacities, self.raster_settings, shs=shs,
                                   colors_precomp=colors_precomp, sh_objs=sh_objs, scales=scales,
                                   rotations=rotations, cov3D_precomp=cov3D_precomp,
                                   emulate_cuda=self.emulate_cuda)

    def forward(self, means3D: torch.Tensor, means2D: torch.Tensor, opacities: torch.Tensor,
                shs: torch.Tensor | None = None, colors_precomp: torch.Tensor | None = None,
                sh_objs: torch.Tensor | None = None, scales: torch.Tensor | None = None,
                rotations: torch.Tensor | None = None,
                cov3D_precomp: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(color (3, H, W), radii (N,), objects (D, H, W)), Gaussian Grouping's return value."""
        out = self.rasterize(means3D, means2D, opacities, shs=shs, colors_precomp=colors_precomp,
                             sh_objs=sh_objs, scales=scales, rotations=rotations, cov3D_precomp=cov3D_precomp)
        return out.color, out.radii, out.objects
