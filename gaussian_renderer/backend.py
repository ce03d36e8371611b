"""Which rasterizer renders: the C++/CUDA extension `diff_gaussian_rasterization`, its CUDA
kernels emulated on the CPU ("cuda_emulated": the kernels' own code, compiled as C++; slower than
"cpp", for checking them without a GPU), or the pure-PyTorch reference. All are called as
`rasterize(settings, means3D, means2D, opacities, shs=, colors_precomp=, sh_objs=, scales=,
rotations=, cov3D_precomp=) -> RasterOutput`."""
from __future__ import annotations

import functools
import importlib
import logging
from types import ModuleType
from typing import Callable

import torch

from gaussian_renderer.contract import GaussianRasterizationSettings, RasterOutput
from gaussian_renderer.reference import rasterize_reference

# The rasterizer names `--backend` accepts (arguments.PipelineParams offers these).
BACKENDS = ("auto", "cpp", "cuda_emulated", "reference")
EXTENSION = "diff_gaussian_rasterization"
BUILD_HINT = "build it with `make setup` (pip install --no-build-isolation ./submodules/diff-gaussian-rasterization)"

Rasterizer = Callable[..., RasterOutput]

logger = logging.getLogger(__name__)
_fallback_warned = False


@functools.cache
def load_extension() -> tuple[ModuleType | None, str]:
    """The imported extension, or None and the reason it could not be imported."""
    try:
        return importlib.import_module(EXTENSION), ""
    except ImportError as err:
        return None, f"{type(err).__name__}: {err}"


def rasterize_extension(settings, means3D: torch.Tensor, means2D: torch.Tensor,
                        opacities: torch.Tensor, shs: torch.Tensor | None = None,
                        colors_precomp: torch.Tensor | None = None,
                        sh_objs: torch.Tensor | None = None, scales: torch.Tensor | None = None,
                        rotations: torch.Tensor | None = None,
                        cov3D_precomp: torch.Tensor | None = None, *,
                        emulate_cuda: bool = False) -> RasterOutput:
    """The extension's `GaussianRasterizer(settings).rasterize(...)`, same signature as the reference;
    emulate_cuda: its CUDA kernels emulated on the CPU (CPU tensors)."""
    ext, reason = load_extension()
    if ext is None:
        raise RuntimeError(f"the {EXTENSION} extension is not importable ({reason}); {BUILD_HINT}")
    ext_settings = ext.GaussianRasterizationSettings(
        **{field: getattr(settings, field) for field in GaussianRasterizationSettings._fields})
    # Passed only when set: the default path then works with builds that predate the option.
    options = {"emulate_cuda": True} if emulate_cuda else {}
    out = ext.GaussianRasterizer(ext_settings, **options).rasterize(
        means3D=means3D, means2D=means2D, opacities=opacities, shs=shs, colors_precomp=colors_precomp,
        sh_objs=sh_objs, scales=scales, rotations=rotations, cov3D_precomp=cov3D_precomp)
    return RasterOutput(*(getattr(out, field) for field in RasterOutput._fields))


rasterize_cuda_emulated: Rasterizer = functools.partial(rasterize_extension, emulate_cuda=True)


def get_rasterizer(backend: str) -> Rasterizer:
    """backend "cpp": the extension (error if missing); "cuda_emulated": the extension's CUDA
    kernels emulated on the CPU (error if missing); "reference": the PyTorch reference; "auto":
    the extension when importable, else the reference with one warning per process."""
    global _fallback_warned
    if backend not in BACKENDS:
        raise ValueError(f"unknown rasterizer backend {backend!r}; expected one of {BACKENDS}")
    if backend == "reference":
        return rasterize_reference
    ext, reason = load_extension()
    if backend == "cuda_emulated":
        if ext is None or not hasattr(ext, "_C_emulated"):
            reason = reason or f"this build of {EXTENSION} has no _C_emulated module"
            raise RuntimeError(f"backend 'cuda_emulated' was requested but the emulated CUDA kernels are not "
                               f"importable ({reason}); {BUILD_HINT}")
        return rasterize_cuda_emulated
    if ext is not None:
        return rasterize_extension
    if backend == "cpp":
        raise RuntimeError(f"backend 'cpp' was requested but the {EXTENSION} extension is not "
                           f"importable ({reason}); {BUILD_HINT}, or use --backend reference")
    if not _fallback_warned:
        logger.warning("the %s extension is not built (%s); falling back to the pure-PyTorch "
                       "reference rasterizer, which is much slower. To build the extension: %s.",
                       EXTENSION, reason, BUILD_HINT)
        _fallback_warned = True
    return rasterize_reference
