"""Which device computes: `--device auto|cpu|cuda[:N]`.

`auto` is CUDA when torch sees a GPU and the rasterizer extension was built with its CUDA
path, else the CPU; the choice is logged once per process. Asking for CUDA where there is none
is a `DeviceError` (one line). `--data_device` (Gaussian Grouping's meaning: where the images
are kept) defaults to the compute device; a model folder trained elsewhere may name `cuda`
(GG's default), which falls back to the compute device here with one warning.
"""
from __future__ import annotations

import functools
import logging

import torch

from gaussian_renderer.backend import load_extension
from utils.errors import DeviceError, warn_once

logger = logging.getLogger(__name__)
DEVICE_HELP = "compute device: auto (CUDA if a GPU and the CUDA rasterizer are there, else CPU), cpu, cuda[:N]"


def extension_has_cuda() -> bool:
    """Whether the rasterizer extension is importable and was built with its CUDA kernels."""
    ext, _ = load_extension()
    return ext is not None and bool(getattr(ext._C, "with_cuda", False))


@functools.cache
def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for `--device name` (see the module docstring)."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available() and extension_has_cuda():
            device, why = torch.device("cuda"), f"CUDA GPU {torch.cuda.get_device_name(0)}"
        elif torch.cuda.is_available():
            device, why = torch.device("cpu"), "a GPU is visible but the rasterizer was built without CUDA"
        else:
            device, why = torch.device("cpu"), "no CUDA GPU visible to torch"
        logger.info("device auto -> %s (%s)", device, why)
        return device
    if name in ("cpu", "meta"):   # meta: shape-only runs in tests
        return torch.device(name)
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {name}: torch {torch.__version__} sees no CUDA GPU "
                              f"({'a CPU-only build' if torch.version.cuda is None else 'no driver or device'}); "
                              f"use --device cpu or auto")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here")
        if not extension_has_cuda():
            raise DeviceError(f"--device {name}: the rasterizer extension was built without CUDA; "
                              f"rebuild it against this CUDA torch (make clean-ext setup, FORCE_CUDA=1)")
        return device
    raise DeviceError(f"--device {name}: expected auto, cpu, cuda or cuda:N")


def resolve_data_device(data_device: str, device: torch.device) -> torch.device:
    """Where images are kept: `auto` (or empty) is the compute `device`; an unavailable CUDA
    device falls back to it with a warning (model folders from GPU machines record `cuda`)."""
    name = (data_device or "auto").strip().lower()
    if name == "auto":
        return device
    if name.startswith("cuda") and not torch.cuda.is_available():
        warn_once("data_device", f"data_device '{data_device}' is not available here; images are kept on "
                                 f"{device} instead")
        return device
    return torch.device(name)
