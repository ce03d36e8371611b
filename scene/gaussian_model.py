"""The Gaussian scene model: 3DGS parameters plus Gaussian Grouping's identity encoding.

Parameters (raw, before activation), one row per Gaussian, each in its own Adam group:

    group     attribute        shape              activation
    xyz       _xyz             (N, 3)             none
    f_dc      _features_dc     (N, 1, 3)          SH degree 0 coefficient
    f_rest    _features_rest   (N, K-1, 3)        SH degrees 1..max, K = (max_sh_degree+1)^2
    opacity   _opacity         (N, 1)             sigmoid
    scaling   _scaling         (N, 3)             exp
    rotation  _rotation        (N, 4)             normalise, quaternion (w, x, y, z)
    obj_dc    _objects_dc      (N, 1, D)          none (identity encoding, D = num_objects)

The model holds parameters and their optimiser and does the optimiser-state surgery that
changing the set of Gaussians needs: `densification_postfix` appends rows (their Adam state
starts at zero), `prune_points` removes rows (survivors keep theirs). *Which* Gaussians to
add or remove is the method's business (`method/`: 3DGS densification, IGD), as are the
per-Gaussian gradient statistics it reads (`method.statistics`).
"""
from __future__ import annotations

import copy
import warnings
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch import nn

from utils.general_utils import (
    build_scaling_rotation,
    get_expon_lr_func,
    inverse_sigmoid,
    make_adam,
    strip_symmetric,
)
from utils.graphics_utils import BasicPointCloud
from utils.knn import mean_sq_dist_to_3nn
from utils.ply_io import GaussianPlyArrays, read_gaussian_ply, write_gaussian_ply
from utils.sh_utils import RGB2SH

# Adam group name -> model attribute holding that parameter (3DGS / GG names).
PARAMETER_ATTRIBUTES: dict[str, str] = {
    "xyz": "_xyz",
    "f_dc": "_features_dc",
    "f_rest": "_features_rest",
    "opacity": "_opacity",
    "scaling": "_scaling",
    "rotation": "_rotation",
    "obj_dc": "_objects_dc",
}

class GaussianModel:

    def __init__(self, sh_degree: int, num_objects: int = 16, device: str | torch.device = "cpu"):
        self.max_sh_degree = sh_degree
        self.active_sh_degree = 0
        self.num_objects = num_objects
        self.device = torch.device(device)
        self.spatial_lr_scale = 0.0
        self.xyz_scheduler: Optional[Callable[[int], float]] = None
        self.optimizer: Optional[torch.optim.Adam] = None
        self._set_parameters({name: torch.empty(0) for name in PARAMETER_ATTRIBUTES})

    # ----------------------------------------------------------------- activated views
    @property
    def get_xyz(self) -> torch.Tensor:
        return self._xyz

    @property
    def get_features(self) -> torch.Tensor:
        """(N, K, 3) SH coefficients, degree 0 first."""
        return torch.cat((self._features_dc, self._features_rest), dim=1)

    @property
    def get_objects(self) -> torch.Tensor:
        """(N, 1, D) identity encodings."""
        return self._objects_dc

    @property
    def get_opacity(self) -> torch.Tensor:
        return torch.sigmoid(self._opacity)

    @property
    def get_scaling(self) -> torch.Tensor:
        return torch.exp(self._scaling)

    @property
    def get_rotation(self) -> torch.Tensor:
        return nn.functional.normalize(self._rotation)

    def get_covariance(self, scaling_modifier: float = 1.0) -> torch.Tensor:
        """(N, 6) upper triangle [xx, xy, xz, yy, yz, zz] of Sigma = L L^T, L = R S."""
        L = build_scaling_rotation(scaling_modifier * self.get_scaling, self._rotation)
        return strip_symmetric(L @ L.transpose(1, 2))

    @property
    def num_points(self) -> int:
        return self._xyz.shape[0]

    def oneupSHdegree(self) -> None:
        if self.active_sh_degree < self.max_sh_degree:
            self.active_sh_degree += 1

    # ----------------------------------------------------------------- parameters
    def parameters_by_group(self) -> dict[str, nn.Parameter]:
        return {name: getattr(self, attribute) for name, attribute in PARAMETER_ATTRIBUTES.items()}

    def _set_parameters(self, tensors: dict[str, torch.Tensor]) -> None:
        """Install copies of `tensors` as fresh leaf parameters; drops any optimizer (it would
        refer to the old ones)."""
        self.optimizer = None
        for name, attribute in PARAMETER_ATTRIBUTES.items():
            tensor = tensors[name].detach().to(device=self.device, dtype=torch.float32, copy=True,
                                               memory_format=torch.contiguous_format)
            setattr(self, attribute, nn.Parameter(tensor.requires_grad_(True)))

    # ----------------------------------------------------------------- initialisation
    def create_from_pcd(self, pcd: BasicPointCloud, spatial_lr_scale: float) -> None:
        """3DGS initialisation from a point cloud: isotropic scales from the mean squared
        distance to the 3 nearest neighbours, identity rotation, opacity 0.1, colour as SH
        degree 0, identity encodings RGB2SH(U[0, 1)) as Gaussian Grouping does."""
        self.spatial_lr_scale = spatial_lr_scale
        points = torch.as_tensor(np.asarray(pcd.points), dtype=torch.float32, device=self.device)
        colors = torch.as_tensor(np.asarray(pcd.colors), dtype=torch.float32, device=self.device)
        n = points.shape[0]
        # N >= 2: a lone point has no neighbour to size it by
        if points.ndim != 2 or points.shape[1] != 3 or colors.shape != points.shape or n < 2:
            raise ValueError(f"create_from_pcd: need (N, 3) points and colours with N >= 2, got "
                             f"{tuple(points.shape)} and {tuple(colors.shape)}")
        num_rest = (self.max_sh_degree + 1) ** 2 - 1

        dist2 = torch.clamp_min(mean_sq_dist_to_3nn(points), 1e-7)
        rotations = torch.zeros((n, 4), device=self.device)
        rotations[:, 0] = 1.0
        self._set_parameters({
            "xyz": points,
            "f_dc": RGB2SH(colors)[:, None, :],
            "f_rest": torch.zeros((n, num_rest, 3), device=self.device),
            "opacity": inverse_sigmoid(0.1 * torch.ones((n, 1), device=self.device)),
            "scaling": torch.log(torch.sqrt(dist2))[:, None].repeat(1, 3),
            "rotation": rotations,
            "obj_dc": RGB2SH(torch.rand((n, self.num_objects), device=self.device))[:, None, :],
        })

    # ----------------------------------------------------------------- optimisation
    def training_setup(self, training_args: Any) -> None:
        """Adam over the seven parameter groups with 3DGS's learning rates (f_rest at
        feature_lr / 20) and `object_lr` for the identity encodings."""
        lrs = self.group_learning_rates(training_args)
        groups = [{"params": [param], "lr": lrs[name], "name": name}
                  for name, param in self.parameters_by_group().items()]
        self.optimizer = make_adam(groups, self.device, lr=0.0, eps=1e-15)
        self.xyz_scheduler = get_expon_lr_func(
            lr_init=training_args.position_lr_init * self.spatial_lr_scale,
            lr_final=training_args.position_lr_final * self.spatial_lr_scale,
            lr_delay_mult=training_args.position_lr_delay_mult,
            max_steps=training_args.position_lr_max_steps)

    def group_learning_rates(self, training_args: Any) -> dict[str, float]:
        """Adam group name -> initial learning rate (xyz then follows `xyz_scheduler`)."""
        return {
            "xyz": training_args.position_lr_init * self.spatial_lr_scale,
            "f_dc": training_args.feature_lr,
            "f_rest": training_args.feature_lr / 20.0,
            "opacity": training_args.opacity_lr,
            "scaling": training_args.scaling_lr,
            "rotation": training_args.rotation_lr,
            "obj_dc": training_args.object_lr,
        }

    def update_learning_rate(self, iteration: int) -> float:
        """Set the position learning rate for `iteration`; returns it."""
        lr = self.xyz_scheduler(iteration)
        self._optimizer_group("xyz")["lr"] = lr
        return lr

    def _optimizer_group(self, name: str) -> dict:
        for group in self.optimizer.param_groups:
            if group["name"] == name:
                return group
        raise KeyError(f"optimizer has no parameter group '{name}'")

    def _install_parameter(self, name: str, tensor: torch.Tensor,
                           edit_state: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Make `tensor` the parameter of group `name`. Adam's per-row state tensors
        (exp_avg, exp_avg_sq, ...: same shape as the old parameter) are mapped through
        `edit_state`; per-parameter scalars (step) are kept."""
        old = getattr(self, PARAMETER_ATTRIBUTES[name])
        new = nn.Parameter(tensor.detach().contiguous().requires_grad_(True))
        if self.optimizer is not None:
            group = self._optimizer_group(name)
            state = self.optimizer.state.pop(old, None)
            if state is not None:
                self.optimizer.state[new] = {
                    key: edit_state(value) if torch.is_tensor(value) and value.shape == old.shape else value
                    for key, value in state.items()}
            group["params"][0] = new
        setattr(self, PARAMETER_ATTRIBUTES[name], new)

    @torch.no_grad()
    def replace_tensor_to_optimizer(self, tensor: torch.Tensor, name: str) -> None:
        """Replace the whole parameter `name` by `tensor`, its Adam moments restarting at zero."""
        self._install_parameter(name, tensor, lambda state: torch.zeros_like(tensor))

    def _prune_optimizer(self, keep: torch.Tensor) -> None:
        """Keep rows `keep` (N,) bool of every parameter and of its Adam state."""
        for name, param in self.parameters_by_group().items():
            self._install_parameter(name, param[keep], lambda state: state[keep])

    def cat_tensors_to_optimizer(self, tensors: dict[str, torch.Tensor]) -> None:
        """Append rows `tensors[name]` to every parameter; their Adam state rows are zero."""
        for name, param in self.parameters_by_group().items():
            extension = tensors[name].to(param.dtype)
            self._install_parameter(name, torch.cat((param, extension), dim=0),
                                    lambda state: torch.cat((state, torch.zeros_like(extension)), dim=0))

    @torch.no_grad()
    def reset_opacity(self) -> None:
        """Clamp every opacity to at most 0.01 (3DGS's periodic reset); the opacity group's
        Adam moments restart at zero."""
        opacities = inverse_sigmoid(torch.min(self.get_opacity, torch.full_like(self._opacity, 0.01)))
        self.replace_tensor_to_optimizer(opacities, "opacity")

    @torch.no_grad()
    def set_identity_encodings(self, objects: torch.Tensor) -> None:
        """Replace every identity encoding by `objects` (N, 1, D'); D' may differ from the current
        D (num_objects follows it). The obj_dc group's Adam moments, if any, restart at zero."""
        if objects.ndim != 3 or objects.shape[0] != self.num_points or objects.shape[1] != 1:
            raise ValueError(f"identity encodings must have shape ({self.num_points}, 1, D), "
                             f"got {tuple(objects.shape)}")
        if self.optimizer is not None and objects.shape[2] != self.num_objects:
            raise ValueError("the identity dimension cannot change while an optimizer is set up")
        self.num_objects = int(objects.shape[2])
        self.replace_tensor_to_optimizer(objects.to(device=self.device, dtype=torch.float32), "obj_dc")

    # ----------------------------------------------------------------- changing the Gaussian set
    @torch.no_grad()
    def prune_points(self, mask: torch.Tensor) -> None:
        """Remove the Gaussians where `mask` (N,) bool is True, with their Adam state."""
        self._prune_optimizer(~_check_row_mask(mask, self.num_points))

    @torch.no_grad()
    def densification_postfix(self, new_params: dict[str, torch.Tensor]) -> int:
        """Append Gaussians given as one tensor per group name (rows shaped like the
        parameters); their Adam state starts at zero. Returns the number appended."""
        num_new = _check_new_rows(new_params, self.parameters_by_group())
        self.cat_tensors_to_optimizer(new_params)
        return num_new

    # ----------------------------------------------------------------- files and checkpoints
    def save_ply(self, path: str, with_identity: bool = True) -> None:
        """Write the Gaussians as a 3DGS PLY with `obj_dc_*` identity channels (atomically);
        `with_identity=False` writes the 3DGS attributes only, for viewers that reject others."""
        def rows(param: torch.Tensor) -> np.ndarray:
            # 3DGS stores SH channel-major: (N, K, 3) -> (N, 3, K) -> (N, 3K)
            return param.detach().transpose(1, 2).flatten(start_dim=1).cpu().numpy()

        write_gaussian_ply(path, GaussianPlyArrays(
            xyz=self._xyz.detach().cpu().numpy(),
            f_dc=rows(self._features_dc),
            f_rest=rows(self._features_rest),
            opacity=self._opacity.detach().cpu().numpy(),
            scale=self._scaling.detach().cpu().numpy(),
            rotation=self._rotation.detach().cpu().numpy(),
            obj_dc=rows(self._objects_dc) if with_identity else None,
        ))

    def load_ply(self, path: str) -> None:
        """Read a GradiSeg, Gaussian Grouping or plain 3DGS PLY (the last gets zero identity
        encodings and a warning). Sets the active SH degree to the maximum; no optimizer."""
        num_rest = (self.max_sh_degree + 1) ** 2 - 1
        arrays = read_gaussian_ply(path, 3 * num_rest, self.num_objects)
        n = arrays.xyz.shape[0]
        objects = arrays.obj_dc
        if objects is None:
            warnings.warn(f"{path}: no obj_dc_* properties (a plain 3DGS PLY); identity encodings "
                          f"start at zero")
            objects = np.zeros((n, self.num_objects), dtype=np.float32)

        def per_coefficient(columns: np.ndarray, k: int) -> torch.Tensor:
            # inverse of save_ply's layout: (N, 3K) -> (N, 3, K) -> (N, K, 3)
            return torch.from_numpy(columns).reshape(n, 3, k).transpose(1, 2)

        self._set_parameters({
            "xyz": torch.from_numpy(arrays.xyz),
            "f_dc": per_coefficient(arrays.f_dc, 1),
            "f_rest": per_coefficient(arrays.f_rest, num_rest),
            "opacity": torch.from_numpy(arrays.opacity),
            "scaling": torch.from_numpy(arrays.scale),
            "rotation": torch.from_numpy(arrays.rotation),
            "obj_dc": torch.from_numpy(objects)[:, None, :],
        })
        self.active_sh_degree = self.max_sh_degree

    def capture(self) -> dict:
        """A snapshot (copies) of everything needed to resume training exactly."""
        return {
            "max_sh_degree": self.max_sh_degree,
            "num_objects": self.num_objects,
            "active_sh_degree": self.active_sh_degree,
            "spatial_lr_scale": self.spatial_lr_scale,
            "params": {name: param.detach().clone() for name, param in self.parameters_by_group().items()},
            "optimizer": None if self.optimizer is None else copy.deepcopy(self.optimizer.state_dict()),
        }

    def restore(self, state: dict, training_args: Any) -> dict[str, tuple[float, float]]:
        """Resume from `capture()`'s dict: parameters and optimizer state. The learning rates
        are `training_args`' (this run's flags), not the saved ones; returns {group: (saved,
        now)} for those that differ."""
        missing = {"max_sh_degree", "num_objects", "active_sh_degree", "spatial_lr_scale",
                   "params", "optimizer"} - set(state)
        if missing:
            raise ValueError(f"checkpoint state lacks {sorted(missing)}")
        if (state["max_sh_degree"], state["num_objects"]) != (self.max_sh_degree, self.num_objects):
            raise ValueError(f"checkpoint has sh_degree {state['max_sh_degree']}, num_objects "
                             f"{state['num_objects']}; the model has {self.max_sh_degree}, "
                             f"{self.num_objects}")
        self._set_parameters(state["params"])
        self.active_sh_degree = state["active_sh_degree"]
        self.spatial_lr_scale = state["spatial_lr_scale"]
        self.training_setup(training_args)
        if state["optimizer"] is None:
            return {}
        self.optimizer.load_state_dict(state["optimizer"])
        return self._reapply_learning_rates(training_args)

    def _reapply_learning_rates(self, training_args: Any) -> dict[str, tuple[float, float]]:
        """Set every group but xyz (set each iteration by the scheduler, rebuilt from
        `training_args`) to this run's learning rate; {group: (was, now)} for those changed."""
        changes = {}
        for name, lr in self.group_learning_rates(training_args).items():
            group = self._optimizer_group(name)
            if name != "xyz" and group["lr"] != lr:
                changes[name] = (group["lr"], lr)
                group["lr"] = lr
        return changes


def _check_row_mask(mask: torch.Tensor, num_points: int) -> torch.Tensor:
    if mask.dtype != torch.bool or mask.shape != (num_points,):
        raise ValueError(f"expected a ({num_points},) bool mask, got {mask.dtype} {tuple(mask.shape)}")
    return mask


def _check_new_rows(new_params: dict[str, torch.Tensor], params: dict[str, torch.Tensor]) -> int:
    """Number of rows in `new_params`, after checking it has every group with matching row shapes."""
    if set(new_params) != set(params):
        raise ValueError(f"new Gaussians need exactly the groups {sorted(params)}, got {sorted(new_params)}")
    counts = {new_params[name].shape[0] for name in params}
    if len(counts) != 1:
        raise ValueError(f"new Gaussians have different row counts per group: {counts}")
    for name, param in params.items():
        if new_params[name].shape[1:] != param.shape[1:]:
            raise ValueError(f"new '{name}' rows have shape {tuple(new_params[name].shape[1:])}, "
                             f"expected {tuple(param.shape[1:])}")
    return counts.pop()
