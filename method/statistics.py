"""Per-Gaussian gradient statistics that the method's densification and LA-KNN read.

One row per Gaussian, aligned with the model's parameters. The model does not know about
them: whatever changes the set of Gaussians during training (3DGS densification, IGD) goes
through `method.densification`'s `append_gaussians` / `remove_gaussians` / `replace_gaussians`,
which change the model and these rows together. New rows start at zero; removed rows leave.

    field                 shape    what it sums over the iterations a Gaussian is visible
    xyz_gradient_accum    (N, 1)   ||dL/d(NDC x, y)|| of the projected centre (3DGS)
    denom                 (N, 1)   the number of those iterations (3DGS)
    max_radii2D           (N,)     the largest screen-space radius seen, pixels (3DGS)
    identity_grad_accum   (N, 1)   ||dL/d e_t|| of the identity encoding (IGD)
    identity_grad_denom   (N, 1)   the number of those iterations (IGD)
    xyz_grad_vec_accum    (N, 3)   the 3D position gradient dL/d mu, a vector (LA-KNN)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

DENSIFICATION_FIELDS = ("xyz_gradient_accum", "denom", "max_radii2D")
IDENTITY_FIELDS = ("identity_grad_accum", "identity_grad_denom")
ROW_SHAPES: dict[str, tuple[int, ...]] = {
    "xyz_gradient_accum": (1,), "denom": (1,), "max_radii2D": (),
    "identity_grad_accum": (1,), "identity_grad_denom": (1,), "xyz_grad_vec_accum": (3,),
}


def _zeros(field: str, num_points: int, device: torch.device | str) -> torch.Tensor:
    return torch.zeros((num_points, *ROW_SHAPES[field]), device=device)


@dataclass
class GaussianStatistics:
    xyz_gradient_accum: torch.Tensor
    denom: torch.Tensor
    max_radii2D: torch.Tensor
    identity_grad_accum: torch.Tensor
    identity_grad_denom: torch.Tensor
    xyz_grad_vec_accum: torch.Tensor

    @classmethod
    def zeros(cls, num_points: int, device: torch.device | str = "cpu") -> "GaussianStatistics":
        return cls(**{field: _zeros(field, num_points, device) for field in ROW_SHAPES})

    @property
    def num_points(self) -> int:
        return self.denom.shape[0]

    def _fields(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    # ------------------------------------------------------------- following the Gaussian set
    def keep_rows(self, keep: torch.Tensor) -> None:
        """Keep the rows where `keep` (N,) bool is True."""
        for name, values in self._fields().items():
            setattr(self, name, values[keep])

    def append_rows(self, count: int) -> None:
        """Append `count` zero rows (new Gaussians)."""
        for name, values in self._fields().items():
            setattr(self, name, torch.cat((values, _zeros(name, count, values.device)), dim=0))

    def reset(self, fields: tuple[str, ...]) -> None:
        """Zero the named fields for every Gaussian (after the step that consumed them)."""
        for name in fields:
            setattr(self, name, torch.zeros_like(getattr(self, name)))

    # ------------------------------------------------------------- accumulating
    @torch.no_grad()
    def add_densification_stats(self, viewspace_grad: torch.Tensor, visible: torch.Tensor) -> None:
        """3DGS's statistic: ||viewspace_grad[:, :2]|| (N, 3) of the `visible` (N,) Gaussians."""
        self.xyz_gradient_accum[visible] += torch.norm(viewspace_grad[visible, :2], dim=-1, keepdim=True)
        self.denom[visible] += 1

    @torch.no_grad()
    def update_max_radii2D(self, radii: torch.Tensor, visible: torch.Tensor) -> None:
        """Keep the largest screen-space radius (N,) seen by each visible Gaussian."""
        self.max_radii2D[visible] = torch.max(self.max_radii2D[visible],
                                              radii[visible].to(self.max_radii2D.dtype))

    @torch.no_grad()
    def add_identity_grads(self, objects_grad: torch.Tensor | None, visible: torch.Tensor) -> None:
        """IGD's statistic: ||dL/d e_t|| of the identity encodings, objects_grad (N, 1, D), and
        the visit count. None (no identity loss this step, e.g. a view without a mask) adds 0."""
        if objects_grad is not None:
            self.identity_grad_accum[visible] += torch.norm(objects_grad[visible].flatten(1), dim=-1,
                                                            keepdim=True)
        self.identity_grad_denom[visible] += 1

    @torch.no_grad()
    def add_position_grads(self, xyz_grad: torch.Tensor, visible: torch.Tensor) -> None:
        """LA-KNN's statistic: the position gradient dL/d mu (N, 3) of the visible Gaussians."""
        self.xyz_grad_vec_accum[visible] += xyz_grad[visible]

    # ------------------------------------------------------------- reading
    def mean_screen_gradient(self) -> torch.Tensor:
        """(N, 1) mean 3DGS statistic, 0 for Gaussians never seen."""
        return _mean(self.xyz_gradient_accum, self.denom)

    def mean_identity_gradient(self) -> torch.Tensor:
        """(N,) mean ||dL/d e_t||, 0 for Gaussians never seen."""
        return _mean(self.identity_grad_accum, self.identity_grad_denom)[:, 0]

    def position_gradients(self) -> torch.Tensor:
        """(N, 3) accumulated dL/d mu (LA-KNN's neighbouring direction is minus this)."""
        return self.xyz_grad_vec_accum

    # ------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, torch.Tensor]:
        """Device-free copies of every field."""
        return {name: values.detach().cpu().clone() for name, values in self._fields().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor], num_points: int, device: torch.device | str
                        ) -> None:
        """Restore `state_dict()`'s fields for a model of `num_points` Gaussians on `device`."""
        for name in ROW_SHAPES:
            if name not in state:
                raise ValueError(f"checkpoint lacks the per-Gaussian statistic '{name}'")
            expected = (num_points, *ROW_SHAPES[name])
            if tuple(state[name].shape) != expected:
                raise ValueError(f"checkpoint statistic '{name}' has shape {tuple(state[name].shape)}, "
                                 f"expected {expected}")
            setattr(self, name, state[name].to(device).clone())


def _mean(total: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    mean = total / count
    mean[mean.isnan()] = 0.0
    return mean
