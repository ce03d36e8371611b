"""Small numeric helpers shared by the model and the rasterizer reference."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def inverse_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return torch.log(x / (1 - x))


def get_expon_lr_func(lr_init: float, lr_final: float, lr_delay_steps: int = 0,
                      lr_delay_mult: float = 1.0, max_steps: int = 1000000) -> Callable[[int], float]:
    """Log-linear learning-rate decay from lr_init to lr_final (3DGS's schedule)."""
    def helper(step: int) -> float:
        if step < 0 or (lr_init == 0.0 and lr_final == 0.0):
            return 0.0
        if lr_delay_steps > 0:
            delay_rate = lr_delay_mult + (1 - lr_delay_mult) * np.sin(
                0.5 * np.pi * np.clip(step / lr_delay_steps, 0, 1))
        else:
            delay_rate = 1.0
        t = np.clip(step / max_steps, 0, 1)
        log_lerp = np.exp(np.log(lr_init) * (1 - t) + np.log(lr_final) * t)
        return float(delay_rate * log_lerp)
    return helper


def build_rotation(q: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Quaternions (N, 4) as (w, x, y, z) -> matrices (N, 3, 3). `normalize=False` uses q as
    given, as 3DGS's rasterizer does (a rotation only for unit quaternions)."""
    if normalize:
        q = q / torch.linalg.norm(q, dim=1, keepdim=True)
    r, x, y, z = q.unbind(dim=1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - r * z), 2 * (x * z + r * y),
        2 * (x * y + r * z), 1 - 2 * (x * x + z * z), 2 * (y * z - r * x),
        2 * (x * z - r * y), 2 * (y * z + r * x), 1 - 2 * (x * x + y * y),
    ], dim=1).reshape(-1, 3, 3)


def build_scaling_rotation(s: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """L = R S for scales (N, 3) and quaternions (N, 4) -> (N, 3, 3)."""
    return build_rotation(q) * s[:, None, :]


def strip_symmetric(m: torch.Tensor) -> torch.Tensor:
    """Upper triangle of symmetric (N, 3, 3) -> (N, 6) as [xx, xy, xz, yy, yz, zz]."""
    return torch.stack([m[:, 0, 0], m[:, 0, 1], m[:, 0, 2], m[:, 1, 1], m[:, 1, 2], m[:, 2, 2]], dim=1)


def seed_everything(seed: int) -> None:
    import random
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def tree_tensors(obj):
    """Every tensor inside `obj` (dicts, lists, tuples), depth first."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from tree_tensors(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from tree_tensors(value)


def tree_to(obj, device: torch.device | str):
    """`obj` with every tensor inside (dicts, lists, tuples) moved to `device`; copies on a
    device change, so a checkpoint never shares memory with live training state."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to(device, copy=True)
    if isinstance(obj, dict):
        return {key: tree_to(value, device) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(tree_to(value, device) for value in obj)
    return obj


# Devices with torch's fused Adam kernel (one pass over each parameter instead of a dozen
# elementwise ops); elsewhere (the shape-only 'meta' device of the tests) the default one.
FUSED_ADAM_DEVICES = ("cpu", "cuda")


def make_adam(params, device: torch.device, **options) -> torch.optim.Adam:
    """torch.optim.Adam over params (tensors or groups) on `device`, fused where it can be."""
    return torch.optim.Adam(params, fused=device.type in FUSED_ADAM_DEVICES, **options)
