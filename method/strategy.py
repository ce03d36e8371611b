"""The method's hooks into the training loop, in the spirit of gsplat's densification
strategies: the trainer renders, computes the losses and steps the optimisers; the strategy
owns everything the method adds around that.

    strategy.step_pre_render(...)   learning rate, SH degree, rasterizer debug from debug_from
    loss = photometric + 2D identity + strategy.identity_loss_3d(...)   (global KNN or LA-KNN)
    loss.backward()
    events = strategy.step_post_backward(...)   statistics, 3DGS densification, opacity reset, IGD,
                                                LA-KNN's start and fallback fraction
    optimiser steps

`method.schedule.TrainingSchedule` says what runs at which iteration (one table; the trainer
asks the strategy, never the schedule); the
per-Gaussian statistics (`method.statistics`) live here and are saved in checkpoints through
`state_dict()`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from arguments import GradiSegParams, OptimizationParams, PipelineParams
from method.densification import densify_and_prune
from method.identity_loss import Identity3DLoss, identity_3d_loss
from method.igd import igd_round
from method.schedule import TrainingSchedule
from method.statistics import GaussianStatistics
from scene.gaussian_model import GaussianModel
from scene.identity_classifier import IdentityClassifier

# 3DGS's screen-size threshold for pruning, used once the first opacity reset has happened.
MAX_SCREEN_SIZE = 20


@dataclass
class MethodEvent:
    """Something the method did at one iteration, for the run log (`events/<name>/<key>`)."""
    name: str
    fields: dict[str, Any] = field(default_factory=dict)


class GradiSegStrategy:
    """3DGS densification + IGD + LA-KNN; `--no_igd --no_laknn` makes it Gaussian Grouping's."""

    def __init__(self, opt: OptimizationParams, method: GradiSegParams, white_background: bool,
                 debug_from: int = -1):
        self.opt, self.method = opt, method
        self.schedule = TrainingSchedule(opt, method, white_background, debug_from)
        self.statistics = GaussianStatistics.zeros(0)
        self.laknn_fallback: Optional[torch.Tensor] = None   # this iteration's, when it is logged

    def initialize(self, model: GaussianModel) -> None:
        """Zero statistics for the model's current Gaussians (a fresh run)."""
        self.statistics = GaussianStatistics.zeros(model.num_points, model.device)

    # ------------------------------------------------------------------ before the render
    def step_pre_render(self, iteration: int, model: GaussianModel, pipe: PipelineParams) -> None:
        """This iteration's position learning rate, one more SH degree when the schedule says
        so, and the rasterizer's debug checks from debug_from on (sets pipe.debug)."""
        model.update_learning_rate(iteration)
        if self.schedule.increase_sh_degree(iteration):
            model.oneupSHdegree()
        if self.schedule.start_rasterizer_debug(iteration):
            pipe.debug = True

    # ------------------------------------------------------------------ before backward
    def identity_loss_3d(self, iteration: int, model: GaussianModel, classifier: IdentityClassifier,
                         generator: torch.Generator) -> Optional[Identity3DLoss]:
        """GG's neighbour KL on sampled Gaussians (unweighted), LA-KNN's neighbours once the
        schedule says so; None on iterations without the 3D loss."""
        if not self.schedule.identity_loss_3d(iteration):
            return None
        opt, method = self.opt, self.method
        laknn = self.schedule.laknn(iteration)
        encodings = model.get_objects
        along_gradient = laknn and method.laknn_direction == "position_gradient"
        result = identity_3d_loss(
            model.get_xyz, lambda rows: classifier.gaussian_probabilities(encodings[rows]), opt.reg3d_k,
            opt.reg3d_max_points, opt.reg3d_sample_size, generator,
            position_grads=self.statistics.position_gradients() if along_gradient else None,
            num_candidates=method.laknn_candidates, ranking=method.laknn_ranking,
            along_predicted_classes=laknn and method.laknn_direction == "predicted_normal")
        if self.schedule.log_laknn_fallback(iteration):
            self.laknn_fallback = result.fallback_fraction
        return result

    # ------------------------------------------------------------------ after backward
    @torch.no_grad()
    def step_post_backward(self, iteration: int, model: GaussianModel, classifier: IdentityClassifier,
                           render_out: dict, scene_extent: float) -> list[MethodEvent]:
        """Read this step's gradients into the statistics, then densify (3DGS), reset opacities
        and split boundary Gaussians (IGD) as the schedule says. Call after backward and before
        the optimiser steps (the gradients are read before anything reallocates them). Events
        also carry LA-KNN's start and, every LAKNN_LOG_INTERVAL iterations, the share of its
        targets that fell back to global KNN (`events/laknn_fallback/fraction`)."""
        events = []
        if self.schedule.laknn_starts(iteration):
            events.append(MethodEvent("laknn", {"candidates": self.method.laknn_candidates}))
        if self.laknn_fallback is not None:
            events.append(MethodEvent("laknn_fallback", {"fraction": self.laknn_fallback.item()}))
            self.laknn_fallback = None
        self.accumulate_statistics(iteration, model, render_out)
        events += self.densify(iteration, model, scene_extent)
        events += self.densify_boundaries(iteration, model, classifier)
        return events

    def accumulate_statistics(self, iteration: int, model: GaussianModel, render_out: dict) -> None:
        schedule, stats, visible = self.schedule, self.statistics, render_out["visibility_filter"]
        params = model.parameters_by_group()
        if schedule.accumulate_densification_stats(iteration):
            stats.update_max_radii2D(render_out["radii"], visible)
            stats.add_densification_stats(_gradient_of(render_out["viewspace_points"], "viewspace_points"),
                                          visible)
        if schedule.accumulate_identity_gradients(iteration):
            stats.add_identity_grads(params["obj_dc"].grad, visible)
        if schedule.accumulate_position_gradients(iteration):
            stats.add_position_grads(_gradient_of(params["xyz"], "xyz"), visible)

    def densify(self, iteration: int, model: GaussianModel, scene_extent: float) -> list[MethodEvent]:
        """3DGS adaptive density control: clone/split/prune, opacity reset."""
        events = []
        opt, schedule = self.opt, self.schedule
        if schedule.densify(iteration):
            before = model.num_points
            max_screen_size = MAX_SCREEN_SIZE if schedule.prune_large_gaussians(iteration) else None
            densify_and_prune(model, self.statistics, opt.densify_grad_threshold, opt.min_opacity,
                              scene_extent, max_screen_size, opt.percent_dense)
            events.append(MethodEvent("densify", {"before": before, "after": model.num_points}))
        if schedule.reset_opacity(iteration):
            model.reset_opacity()
        return events

    def densify_boundaries(self, iteration: int, model: GaussianModel, classifier: IdentityClassifier
                           ) -> list[MethodEvent]:
        """IGD: a boundary split round every igd_interval inside its window."""
        if not self.schedule.igd(iteration):
            return []
        method = self.method
        predicted = classifier.gaussian_probabilities(model.get_objects).argmax(dim=1)
        result = igd_round(model, self.statistics, predicted, method.igd_grad_threshold,
                           method.igd_max_fraction, method.igd_neighbors, method.igd_split,
                           method.igd_grad_quantile, method.igd_contact_only)
        return [MethodEvent("igd", {"candidates": result.candidates, "splits": result.splits,
                                    "threshold": result.threshold, "without_boundary": result.without_boundary,
                                    "after": result.num_points})]

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"statistics": self.statistics.state_dict()}

    def load_state_dict(self, state: dict[str, Any], model: GaussianModel) -> None:
        self.statistics = GaussianStatistics.zeros(0)
        self.statistics.load_state_dict(state["statistics"], model.num_points, model.device)

    def describe(self) -> str:
        return self.schedule.describe()


def _gradient_of(tensor: torch.Tensor, name: str) -> torch.Tensor:
    if tensor.grad is None:
        raise RuntimeError(f"{name}.grad is None: call this after loss.backward() and before zero_grad()")
    return tensor.grad
