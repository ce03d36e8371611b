"""The training loop: 3DGS optimisation + Gaussian Grouping's identity losses, with the
method (3DGS densification, IGD, LA-KNN) behind `method.strategy.GradiSegStrategy`'s hooks.

`Trainer.train_step(iteration)` is one iteration (render, losses, backward, the strategy's
post-backward step, optimiser steps); `Trainer.run()` loops it with progress, evaluation,
saving and checkpoints. A checkpoint captures everything a step depends on, so resuming is
bit-exact.
"""
from __future__ import annotations

import argparse
import math
import os
import random
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch.profiler import record_function
from tqdm import tqdm

from arguments import GradiSegParams, ModelParams, OptimizationParams, PipelineParams, RunParams, extract
from gaussian_renderer import render
from gaussian_renderer.device import resolve_device
from method.strategy import GradiSegStrategy
from scene import Scene
from scene.gaussian_model import GaussianModel
from scene.identity_classifier import IdentityClassifier
from scene.model_folder import (
    background_color,
    checkpoint_path,
    load_model,
    point_cloud_dir,
    save_checkpoint_file,
    trim_metrics_after,
)
from training.guards import DivergenceGuard, TrainingDiverged, model_parameters
from training.run_logger import RunLogger
from training.view_sampler import ViewSampler
from utils.atomic_io import torch_load_checked
from utils.general_utils import make_adam, seed_everything, tree_to
from utils.loss_utils import identity_ce_loss, photometric_loss, psnr
from utils.visualization import colorize_ids, side_by_side, to_uint8_rgb

# 2: the per-Gaussian statistics moved from the model's state to the strategy's.
CHECKPOINT_FORMAT = 2
FULL_CHECK_INTERVAL = 100   # iterations between full divergence checks (saves always get one)


@dataclass
class StepResult:
    loss: float
    photometric: float
    identity_2d: float
    identity_3d: float
    psnr: float


@dataclass
class StepLosses:
    """The loss terms of one iteration (scalars on the training device) and what they came from."""
    total: torch.Tensor
    photometric: torch.Tensor
    identity_2d: torch.Tensor
    identity_3d: torch.Tensor
    render: dict               # render()'s outputs for the view
    gt_image: torch.Tensor     # (3, H, W) on the training device


class Trainer:
    def __init__(self, dataset: ModelParams, opt: OptimizationParams, pipe: PipelineParams,
                 method: GradiSegParams, run: RunParams):
        self.dataset, self.opt, self.pipe, self.method, self.run_params = dataset, opt, pipe, method, run
        self.strategy = GradiSegStrategy(opt, method, dataset.white_background, run.debug_from)
        if run.threads > 0:
            torch.set_num_threads(run.threads)
        seed_everything(run.seed)
        # Same seed, same result across processes: the 3D loss's indexed gathers otherwise
        # accumulate their gradients in a thread-dependent order.
        torch.use_deterministic_algorithms(True, warn_only=True)
        # ... but not its NaN-filling of every torch.empty (a debugging aid): 3 ms an iteration
        # at 43k Gaussians, and nothing here reads memory it did not write.
        torch.utils.deterministic.fill_uninitialized_memory = False
        self.device = resolve_device(pipe.device)
        self.gaussians = GaussianModel(dataset.sh_degree, dataset.num_objects, self.device)
        self.scene = Scene(dataset, self.gaussians)
        lifted = self.initial_model(run) if run.init_identities_from else None
        if lifted is not None:
            self.gaussians.restore(lifted[0], opt)
        self.gaussians.training_setup(opt)
        self.strategy.initialize(self.gaussians)
        self.classifier = IdentityClassifier(dataset.num_objects, dataset.num_classes).to(self.device)
        if lifted is not None:
            self.classifier.load_state_dict(lifted[1])
        self.cls_optimizer = make_adam(self.classifier.parameters(), self.device, lr=opt.classifier_lr)
        self.view_sampler = ViewSampler(len(self.scene.getTrainCameras()), run.seed)
        self.identity_generator = torch.Generator().manual_seed(run.seed)
        self.background = background_color(dataset.white_background, self.device)
        self.first_iteration = 1
        self.last_checkpoint: str | None = None
        self.iteration_callbacks: list[tuple[int, Callable[[Trainer, int], None]]] = []
        if run.start_checkpoint:
            self.load_checkpoint(run.start_checkpoint)
            trim_metrics_after(dataset.model_path, self.first_iteration - 1)
        self.guard = DivergenceGuard(DivergenceGuard.scene_size(self.scene.cameras_extent,
                                                                self.gaussians.get_xyz.detach()))
        self.logger = RunLogger(dataset.model_path, resume=bool(run.start_checkpoint),
                                use_wandb=run.use_wandb, run_config={
                                    **vars(dataset), **vars(opt), **vars(method), **vars(run)})

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Trainer":
        """A trainer from `parse_training_args`'s namespace (all five parameter groups)."""
        return cls(extract(ModelParams, args), extract(OptimizationParams, args), extract(PipelineParams, args),
                   extract(GradiSegParams, args), extract(RunParams, args))

    def initial_model(self, run: RunParams) -> tuple[dict, dict]:
        """The Gaussians (as `GaussianModel.capture()`) and classifier state of the model folder
        `run.init_identities_from` (typically lift.py's output), to start from in place of the
        scene's point cloud; the position learning rate keeps this scene's extent."""
        if run.start_checkpoint:
            raise ValueError("--init_identities_from starts a new run; it cannot be combined with "
                             "--start_checkpoint or --resume")
        model_path = run.init_identities_from
        lifted = load_model(model_path, -1, self.device)
        theirs = (lifted.gaussians.max_sh_degree, lifted.gaussians.num_objects, lifted.classifier.num_classes)
        ours = (self.dataset.sh_degree, self.dataset.num_objects, self.dataset.num_classes)
        if theirs != ours:
            raise ValueError(f"--init_identities_from {model_path}: its model has sh_degree {theirs[0]}, "
                             f"num_objects {theirs[1]}, num_classes {theirs[2]}; this run has {ours[0]}, "
                             f"{ours[1]}, {ours[2]} (pass --sh_degree {theirs[0]} --num_objects {theirs[1]} "
                             f"--num_classes {theirs[2]})")
        state = lifted.gaussians.capture()
        state["spatial_lr_scale"] = self.scene.cameras_extent
        return state, lifted.classifier.state_dict()

    # ----------------------------------------------------------------------------- one step
    def train_step(self, iteration: int) -> StepResult:
        """One iteration: losses, backward, the strategy's post-backward step, optimiser steps.
        Each part is a torch.profiler range (train/...), which scripts/perf/bench_training.py reads."""
        gaussians = self.gaussians
        losses = self.compute_losses(iteration)
        if not torch.isfinite(losses.total):
            raise TrainingDiverged(
                f"loss became {losses.total.item()} at iteration {iteration} (photometric "
                f"{losses.photometric.item():.4g}, identity 2D {losses.identity_2d.item():.4g}, identity 3D "
                f"{losses.identity_3d.item():.4g}); stopped without saving. Last good checkpoint: "
                f"{self.last_checkpoint or 'none written in this run'}. Lower the learning "
                f"rates or check the input data.")
        with record_function("train/backward"), torch.autograd.set_detect_anomaly(self.run_params.detect_anomaly):
            losses.total.backward()
        with record_function("train/guards"):
            self.guard.check_gradients(model_parameters(gaussians, self.classifier), iteration,
                                       self.last_checkpoint)

        with torch.no_grad():
            with record_function("train/strategy"):
                events = self.strategy.step_post_backward(iteration, gaussians, self.classifier, losses.render,
                                                          self.scene.cameras_extent)
            for event in events:
                self.logger.event(event.name, iteration, **event.fields)
            with record_function("train/optimizer"):
                self.optimizer_steps()
            with record_function("train/guards"):
                self.check_state(iteration, full=iteration % FULL_CHECK_INTERVAL == 0)
            image_psnr = psnr(losses.render["render"], losses.gt_image).item()
        return StepResult(losses.total.item(), losses.photometric.item(), losses.identity_2d.item(),
                          losses.identity_3d.item(), image_psnr)

    def compute_losses(self, iteration: int) -> StepLosses:
        """Render this iteration's view and compute every loss term (no data-dependent control
        flow: it also runs on the shape-only meta device)."""
        gaussians, opt = self.gaussians, self.opt
        self.strategy.step_pre_render(iteration, gaussians, self.pipe)
        camera = self.scene.getTrainCameras()[self.view_sampler.next()]
        with record_function("train/render"):
            out = render(camera, gaussians, self.pipe, self.background)
        gt_image = camera.original_image.to(self.device, non_blocking=True)
        with record_function("train/loss_photometric"):
            loss_rgb = photometric_loss(out["render"], gt_image, opt.lambda_dssim)

        loss_2d = torch.zeros((), device=self.device)
        if camera.objects is not None:
            with record_function("train/loss_identity_2d"):
                logits = self.classifier(out["render_object"])
                loss_2d = identity_ce_loss(logits, camera.objects.to(self.device, non_blocking=True))

        loss_3d = torch.zeros((), device=self.device)
        with record_function("train/loss_identity_3d"):
            result_3d = self.strategy.identity_loss_3d(iteration, gaussians, self.classifier,
                                                       self.identity_generator)
        if result_3d is not None:
            loss_3d = opt.reg3d_lambda_val * result_3d.loss
        total = loss_rgb + opt.lambda_obj_2d * loss_2d + loss_3d
        return StepLosses(total, loss_rgb, loss_2d, loss_3d, out, gt_image)

    def optimizer_steps(self) -> None:
        self.gaussians.optimizer.step()
        self.gaussians.optimizer.zero_grad(set_to_none=True)
        self.cls_optimizer.step()
        self.cls_optimizer.zero_grad(set_to_none=True)

    def add_iteration_callback(self, every: int, callback: Callable[["Trainer", int], None]) -> None:
        """Call `callback(trainer, iteration)` after the step of every `every`-th iteration
        (the live viewer's refresh)."""
        if every < 1:
            raise ValueError(f"an iteration callback needs every >= 1, got {every}")
        self.iteration_callbacks.append((every, callback))

    # ------------------------------------------------------------------------- the loop
    def run(self) -> dict:
        """Train from `first_iteration` to `opt.iterations`; returns the last test report."""
        opt, run = self.opt, self.run_params
        start = time.time()
        progress = tqdm(range(self.first_iteration, opt.iterations + 1), desc="Training",
                        disable=run.quiet, initial=self.first_iteration - 1, total=opt.iterations,
                        dynamic_ncols=True)
        ema_loss, ema_psnr, report = None, None, {}
        step_seconds = 0.0   # optimisation time only (no evaluation or saving), per 100 iterations
        for iteration in progress:
            step_start = time.perf_counter()
            step = self.train_step(iteration)
            step_seconds += time.perf_counter() - step_start
            for every, callback in self.iteration_callbacks:
                if iteration % every == 0:
                    callback(self, iteration)
            if iteration % 100 == 0:
                self.logger.scalar("train/seconds_per_iteration", step_seconds / 100, iteration)
                step_seconds = 0.0
            ema_loss = step.loss if ema_loss is None else 0.4 * step.loss + 0.6 * ema_loss
            ema_psnr = step.psnr if ema_psnr is None else 0.4 * step.psnr + 0.6 * ema_psnr
            if iteration % 10 == 0 or iteration == opt.iterations:
                progress.set_postfix(loss=f"{ema_loss:.4f}", psnr=f"{ema_psnr:.2f}",
                                     gaussians=self.gaussians.get_xyz.shape[0])
                for name in ("loss", "photometric", "identity_2d", "identity_3d", "psnr"):
                    self.logger.scalar(f"train/{name}", getattr(step, name), iteration)
                self.logger.scalar("train/num_gaussians", self.gaussians.get_xyz.shape[0], iteration)
            if iteration in run.test_iterations:
                report = self.evaluate(iteration)
                progress.write(format_report(iteration, report))
            if iteration in run.save_iterations:
                self.save(iteration)
            if iteration in run.checkpoint_iterations:
                self.save_checkpoint(iteration)
            if iteration % 100 == 0:
                self.logger.flush()
        progress.close()
        self.logger.scalar("train/seconds", time.time() - start, opt.iterations)
        self.logger.flush()
        return report

    @torch.no_grad()
    def evaluate(self, iteration: int) -> dict:
        """Mean PSNR and identity accuracy on the test views and 5 training views."""
        report = {}
        train_cams = self.scene.getTrainCameras()
        splits = {"test": self.scene.getTestCameras(),
                  "train": [train_cams[i % len(train_cams)] for i in range(5, 30, 5)]}
        for split, cameras in splits.items():
            if not cameras:
                continue
            psnrs, accuracies = [], []
            for camera in cameras:
                out = render(camera, self.gaussians, self.pipe, self.background)
                gt_image = camera.original_image.to(self.device)
                psnrs.append(psnr(out["render"].clamp(0, 1), gt_image).item())
                pred = self.classifier(out["render_object"]).argmax(dim=0)
                if camera.objects is not None:
                    accuracies.append((pred == camera.objects.to(self.device)).float().mean().item())
                if camera is cameras[0]:  # one picture per split: render | ground truth | ids
                    self.logger.image(f"{split}/{camera.image_name}", side_by_side([
                        to_uint8_rgb(out["render"]), to_uint8_rgb(gt_image),
                        colorize_ids(pred.cpu().numpy())]), iteration)
            report[split] = {"psnr": sum(psnrs) / len(psnrs)}
            if accuracies:
                report[split]["id_accuracy"] = sum(accuracies) / len(accuracies)
            for name, value in report[split].items():
                self.logger.scalar(f"{split}/{name}", value, iteration)
        self.logger.flush()
        return report

    # ---------------------------------------------------------------- saving and resuming
    def check_state(self, iteration: int, full: bool = True) -> None:
        """Stop (TrainingDiverged) if a parameter or optimiser state is not finite or ran away
        (`training.guards`; `full=False` is the cheaper per-iteration subset)."""
        self.guard.check_state(model_parameters(self.gaussians, self.classifier),
                               (self.gaussians.optimizer, self.cls_optimizer), iteration,
                               self.last_checkpoint, full)

    def save(self, iteration: int) -> None:
        self.check_state(iteration)
        self.scene.save(iteration, self.classifier.state_dict())
        if self.run_params.export_plain_ply:
            self.gaussians.save_ply(os.path.join(point_cloud_dir(self.dataset.model_path, iteration),
                                                 "point_cloud_plain.ply"), with_identity=False)

    def save_checkpoint(self, iteration: int) -> str:
        self.check_state(iteration)
        state = tree_to({
            "format": CHECKPOINT_FORMAT,
            "iteration": iteration,
            "gaussians": self.gaussians.capture(),
            "strategy": self.strategy.state_dict(),
            "classifier": self.classifier.state_dict(),
            "cls_optimizer": self.cls_optimizer.state_dict(),
            "view_sampler": self.view_sampler.state_dict(),
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
                    "identity": self.identity_generator.get_state(),
                    "python": random.getstate()},
        }, "cpu")  # device-free: a checkpoint resumes on any device
        path = checkpoint_path(self.dataset.model_path, iteration)
        save_checkpoint_file(state, path, self.dataset.model_path)
        self.last_checkpoint = path
        return path

    def load_checkpoint(self, path: str) -> None:
        state = torch_load_checked(path, "checkpoint")
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"checkpoint {path} is not a GradiSeg checkpoint (format "
                             f"{CHECKPOINT_FORMAT}); a Gaussian Grouping chkpnt cannot resume here")
        lr_changes = self.gaussians.restore(state["gaussians"], self.opt)
        self.strategy.load_state_dict(state["strategy"], self.gaussians)
        self.classifier.load_state_dict(state["classifier"])
        self.cls_optimizer.load_state_dict(state["cls_optimizer"])
        # This run's --classifier_lr wins over the saved one, as the Gaussians' rates do.
        saved_lr = self.cls_optimizer.param_groups[0]["lr"]
        self.cls_optimizer.param_groups[0]["lr"] = self.opt.classifier_lr
        if saved_lr != self.opt.classifier_lr:
            lr_changes["classifier"] = (saved_lr, self.opt.classifier_lr)
        if lr_changes:
            print("Resuming with this run's learning rates: " + ", ".join(
                f"{name} {old:.4g} -> {new:.4g}" for name, (old, new) in lr_changes.items()))
        self.view_sampler.load_state_dict(state["view_sampler"])
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"].get("cuda") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        self.identity_generator.set_state(state["rng"]["identity"])
        version, internal, gauss_next = state["rng"]["python"]
        random.setstate((version, tuple(internal), gauss_next))
        self.first_iteration = state["iteration"] + 1
        self.last_checkpoint = path


def format_report(iteration: int, report: dict) -> str:
    parts = [f"[ITER {iteration}]"]
    for split, values in report.items():
        parts.append(f"{split}: " + ", ".join(
            f"{name} {value:.4f}" if not math.isnan(value) else f"{name} nan"
            for name, value in values.items()))
    return "  ".join(parts)
