"""Divergence checks: training stops at the first iteration where a parameter, its gradient or
its optimiser state is no longer finite, or a parameter has run away, before anything is saved.

A divergent learning rate does not always show in the loss: a NaN scale makes its Gaussian
invisible (the loss stays finite), and positions pushed to 1e38 are finite but meaningless.
So the guard looks at every tensor the step produced, not only the loss.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Iterable, Iterator

import torch

# A position further than this many scene sizes from the origin, or a Gaussian this many scene
# sizes wide, has run away: real scenes' far points sit within ~1e3 scene sizes.
RUNAWAY_SCENE_SIZES = 1e6
# Any other raw parameter (colours, logits, quaternions, encodings) beyond this has run away.
RUNAWAY_MAGNITUDE = 1e15
# The wide per-Gaussian groups (45 and D values a row): their magnitude is checked only in full
# checks; finiteness, as for every parameter, in each one.
WIDE_GROUPS = ("f_rest", "obj_dc")


def model_parameters(gaussians, classifier: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Everything training optimises, by name: the Gaussians' Adam groups ('xyz', 'scaling',
    ...) and the classifier's parameters ('classifier.weight', 'classifier.bias')."""
    return {**gaussians.parameters_by_group(),
            **{f"classifier.{name}": param for name, param in classifier.named_parameters()}}


class TrainingDiverged(RuntimeError):
    """Training stopped being meaningful; earlier checkpoints and saves are left untouched."""


@dataclass(frozen=True)
class Finding:
    """What is wrong with one tensor."""
    what: str        # "parameter 'scaling'", "gradient of 'xyz'", "Adam exp_avg_sq of 'f_dc'"
    problem: str     # "3 NaN and 0 infinite of 1200 values", "|values| up to 1e+38, beyond ..."


def _non_finite(tensor: torch.Tensor) -> str | None:
    """None when every value is finite, else a count of the NaN and infinite values."""
    # A sum is ~30x cheaper than isfinite().all() and is non-finite whenever a value is (NaN and
    # inf propagate); only then, or when the sum merely overflowed, is each value looked at.
    if bool(torch.isfinite(tensor.detach().sum())) or bool(torch.isfinite(tensor).all()):
        return None
    nan = int(torch.isnan(tensor).sum())
    inf = int(torch.isinf(tensor).sum())
    return f"{nan} NaN and {inf} infinite of {tensor.numel()} values"


def _too_large(tensor: torch.Tensor, limit: float) -> str | None:
    if tensor.numel() == 0:
        return None
    largest = float(tensor.detach().abs().max())
    return None if largest <= limit else f"|values| up to {largest:.3g}, beyond the limit {limit:.3g}"


class DivergenceGuard:
    """Checks a GaussianModel's parameters (named by Adam group), their gradients and Adam
    state, and extra named parameters (the classifier's), against non-finite values and
    runaway magnitudes. `scene_size` (world units) sets the position and scale limits."""

    def __init__(self, scene_size: float):
        size = scene_size if math.isfinite(scene_size) and scene_size > 0 else 1.0
        self.position_limit = RUNAWAY_SCENE_SIZES * size
        self.log_scale_limit = math.log(RUNAWAY_SCENE_SIZES * size)

    @staticmethod
    def scene_size(extent: float, positions: torch.Tensor) -> float:
        """The scene's size: its cameras' extent, or the spread of its points when larger.

        positions: (N, 3)."""
        finite = positions[torch.isfinite(positions).all(dim=1)]
        spread = float(finite.abs().max()) if finite.numel() else 0.0
        return max(float(extent), spread, 1e-6)

    def parameter_limit(self, group: str, tensor: torch.Tensor) -> str | None:
        if group == "xyz":
            return _too_large(tensor, self.position_limit)
        if group == "scaling":   # log-scales: only growth runs away, shrinking is pruned
            if tensor.numel() and float(tensor.detach().max()) > self.log_scale_limit:
                return (f"scales up to exp({float(tensor.detach().max()):.3g}), beyond the limit "
                        f"{math.exp(self.log_scale_limit):.3g}")
            return None
        return _too_large(tensor, RUNAWAY_MAGNITUDE)

    def gradient_findings(self, parameters: dict[str, torch.Tensor]) -> Iterator[Finding]:
        """Non-finite gradients (after backward, before the optimiser step)."""
        for name, param in parameters.items():
            if param.grad is not None and (problem := _non_finite(param.grad)):
                yield Finding(f"gradient of '{name}'", problem)

    def parameter_findings(self, parameters: dict[str, torch.Tensor],
                           all_limits: bool = True) -> Iterator[Finding]:
        """Non-finite or runaway parameters (after the optimiser step, before saving). Without
        `all_limits` the WIDE_GROUPS are only checked for finiteness (a magnitude check costs
        ~4x more); the next full check catches those."""
        for name, param in parameters.items():
            problem = _non_finite(param.detach())
            if not problem and (all_limits or name not in WIDE_GROUPS):
                problem = self.parameter_limit(name, param)
            if problem:
                yield Finding(f"parameter '{name}'", problem)

    @staticmethod
    def optimizer_findings(optimizers: Iterable[torch.optim.Optimizer],
                           names: dict[int, str]) -> Iterator[Finding]:
        """Non-finite Adam state (moments); `names` maps id(parameter) to its name."""
        for optimizer in optimizers:
            for param, state in optimizer.state.items():
                for key, value in state.items():
                    if torch.is_tensor(value) and (problem := _non_finite(value)):
                        yield Finding(f"optimiser state {key} of '{names.get(id(param), '?')}'",
                                      problem)

    def check_gradients(self, parameters: dict[str, torch.Tensor], iteration: int,
                        last_good: str | None) -> None:
        """Raise TrainingDiverged on the first non-finite gradient."""
        _raise_first(self.gradient_findings(parameters), iteration, "after backward", last_good)

    def check_state(self, parameters: dict[str, torch.Tensor],
                    optimizers: Iterable[torch.optim.Optimizer], iteration: int,
                    last_good: str | None, full: bool = True) -> None:
        """Raise TrainingDiverged on the first bad parameter or optimiser state. `full=False`
        (the cheap per-iteration check) skips the optimiser state and the WIDE_GROUPS' limits;
        `full` (before saves, and periodically) checks everything."""
        names = {id(param): name for name, param in parameters.items()}
        findings = itertools.chain(self.parameter_findings(parameters, all_limits=full),
                                   self.optimizer_findings(optimizers, names) if full else ())
        _raise_first(findings, iteration, "after the optimiser step", last_good)


def _raise_first(findings: Iterator[Finding], iteration: int, when: str,
                 last_good: str | None) -> None:
    first = next(findings, None)
    if first is None:
        return
    raise TrainingDiverged(
        f"training diverged at iteration {iteration} ({when}): {first.what} has {first.problem}; "
        f"stopped without saving. Last good checkpoint: {last_good or 'none written in this run'}. "
        f"Lower the learning rates (they apply when resuming) or check the input data.")
