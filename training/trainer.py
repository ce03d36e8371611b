"""The training loop: 3DGS optimisation + Gaussian Grouping's identity losses.

`Trainer.train_step(iteration)` is one iteration (render, losses, backward, densification,
optimiser step); `Trainer.run()` loops it with progress, evaluation, saving and checkpoints.
A checkpoint captures everything a step depends on, so resuming is bit-exact.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

import torch
from tqdm import tqdm

from arguments import GradiSegParams, ModelParams, OptimizationParams, PipelineParams, RunParams
from gaussian_renderer import render
from scene import Scene
from scene.igd import igd_round
from scene.gaussian_model import GaussianModel
from scene.identity_classifier import IdentityClassifier
from scene.model_folder import checkpoint_path, save_checkpoint_file
from training.guards import DivergenceGuard, TrainingDiverged, model_parameters
from training.output_folder import trim_metrics_after
from training.run_logger import RunLogger
from training.schedule import TrainingSchedule
from training.view_sampler import ViewSampler
from utils.atomic_io import torch_load_checked
from utils.general_utils import seed_everything
from utils.identity_regularization import identity_3d_loss
from utils.loss_utils import identity_ce_loss, photometric_loss, psnr

CHECKPOINT_FORMAT = 1
FULL_CHECK_INTERVAL = 100   # iterations between full divergence checks (saves always get one)


@dataclass
class StepResult:
    loss: float
    photometric: float
    identity_2d: float
    identity_3d: float
    psnr: float


class Trainer:
    def __init__(self, dataset: ModelParams, opt: OptimizationParams, pipe: PipelineParams,
                 method: GradiSegParams, run: RunParams):
        self.dataset, self.opt, self.pipe, self.method, self.run_params = dataset, opt, pipe, method, run
        self.schedule = TrainingSchedule(opt, method, dataset.white_background)
        if run.threads > 0:
            torch.set_num_threads(run.threads)
        seed_everything(run.seed)
        # Same seed, same result across processes: the 3D loss's indexed gathers otherwise
        # accumulate their gradients in a thread-dependent order.
        torch.use_deterministic_algorithms(True, warn_only=True)
        self.gaussians = GaussianModel(dataset.sh_degree, dataset.num_objects)
        self.scene = Scene(dataset, self.gaussians)
        self.gaussians.training_setup(opt)
        self.classifier = IdentityClassifier(dataset.num_objects, dataset.num_classes)
        self.cls_optimizer = torch.optim.Adam(self.classifier.parameters(), lr=opt.classifier_lr)
        self.view_sampler = ViewSampler(len(self.scene.getTrainCameras()), run.seed)
        self.identity_generator = torch.Generator().manual_seed(run.seed)
        bg = [1.0, 1.0, 1.0] if dataset.white_background else [0.0, 0.0, 0.0]
        self.background = torch.tensor(bg, dtype=torch.float32)
        self.first_iteration = 1
        self.last_checkpoint: str | None = None
        if run.start_checkpoint:
            self.load_checkpoint(run.start_checkpoint)
            trim_metrics_after(dataset.model_path, self.first_iteration - 1)
        self.guard = DivergenceGuard(DivergenceGuard.scene_size(self.scene.cameras_extent,
                                                                self.gaussians.get_xyz.detach()))
        self.logger = RunLogger(dataset.model_path, resume=bool(run.start_checkpoint))

    # ----------------------------------------------------------------------------- one step
    def train_step(self, iteration: int) -> StepResult:
        gaussians, opt = self.gaussians, self.opt
        gaussians.update_learning_rate(iteration)
        if iteration % opt.sh_increase_interval == 0:
            gaussians.oneupSHdegree()

        camera = self.scene.getTrainCameras()[self.view_sampler.next()]
        out = render(camera, gaussians, self.pipe, self.background)
        image = out["render"]
        gt_image = camera.original_image
        loss_rgb = photometric_loss(image, gt_image, opt.lambda_dssim)

        loss_2d = torch.zeros(())
        if camera.objects is not None:
            logits = self.classifier(out["render_object"])
            loss_2d = identity_ce_loss(logits, camera.objects)

        if self.schedule.laknn_starts(iteration):
            self.logger.event("laknn", iteration, candidates=self.method.laknn_candidates)
        loss_3d = torch.zeros(())
        if self.schedule.identity_loss_3d(iteration):
            loss_3d = opt.reg3d_lambda_val * self.identity_loss_3d(iteration)

        loss = loss_rgb + opt.lambda_obj_2d * loss_2d + loss_3d
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"loss became {loss.item()} at iteration {iteration} (photometric "
                f"{loss_rgb.item():.4g}, identity 2D {loss_2d.item():.4g}, identity 3D "
                f"{loss_3d.item():.4g}); stopped without saving. Last good checkpoint: "
                f"{self.last_checkpoint or 'none written in this run'}. Lower the learning "
                f"rates or check the input data.")
        loss.backward()
        self.guard.check_gradients(model_parameters(gaussians, self.classifier), iteration,
                                   self.last_checkpoint)

        with torch.no_grad():
            self.accumulate_statistics(iteration, out)
            self.densify(iteration)
            self.densify_boundaries(iteration)
            gaussians.optimizer.step()
            gaussians.optimizer.zero_grad(set_to_none=True)
            self.cls_optimizer.step()
            self.cls_optimizer.zero_grad(set_to_none=True)
            self.check_state(iteration, full=iteration % FULL_CHECK_INTERVAL == 0)
            image_psnr = psnr(image, gt_image).item()
        return StepResult(loss.item(), loss_rgb.item(), loss_2d.item(), loss_3d.item(), image_psnr)

    def identity_loss_3d(self, iteration: int) -> torch.Tensor:
        """GG's neighbour KL on sampled Gaussians; LA-KNN neighbours once the schedule says so."""
        gaussians, opt = self.gaussians, self.opt
        laknn = self.schedule.laknn(iteration)
        result = identity_3d_loss(
            gaussians.get_xyz, self.classifier.gaussian_probabilities(gaussians.get_objects),
            opt.reg3d_k, opt.reg3d_max_points, opt.reg3d_sample_size, self.identity_generator,
            position_grads=gaussians.statistics["xyz_grad_vec_accum"] if laknn else None,
            num_candidates=self.method.laknn_candidates, ranking=self.method.laknn_ranking)
        if laknn and iteration % 100 == 0:
            self.logger.scalar("laknn/fallback_fraction", result.fallback_fraction, iteration)
        return result.loss

    def accumulate_statistics(self, iteration: int, out: dict) -> None:
        """Per-Gaussian gradient statistics of this step, read before anything reallocates
        the parameters (and with them their gradients)."""
        gaussians, schedule, visible = self.gaussians, self.schedule, out["visibility_filter"]
        if schedule.accumulate_densification_stats(iteration):
            gaussians.update_max_radii2D(out["radii"], visible)
            gaussians.add_densification_stats(out["viewspace_points"], visible)
        if schedule.accumulate_identity_gradients(iteration):
            gaussians.add_identity_grad_stats(visible)
        if schedule.accumulate_position_gradients(iteration):
            gaussians.add_position_grad_stats(visible)

    def densify(self, iteration: int) -> None:
        """3DGS adaptive density control: clone/split/prune, opacity reset."""
        gaussians, opt, schedule = self.gaussians, self.opt, self.schedule
        if schedule.densify(iteration):
            size_threshold = 20 if schedule.prune_large_gaussians(iteration) else None
            before = gaussians.num_points
            gaussians.densify_and_prune(opt.densify_grad_threshold, opt.min_opacity,
                                        self.scene.cameras_extent, size_threshold)
            self.logger.event("densify", iteration, before=before, after=gaussians.num_points)
        if schedule.reset_opacity(iteration):
            gaussians.reset_opacity()

    def densify_boundaries(self, iteration: int) -> None:
        """IGD: a boundary split round every igd_interval inside its window."""
        gaussians, method = self.gaussians, self.method
        if self.schedule.igd(iteration):
            predicted = self.classifier.gaussian_probabilities(gaussians.get_objects).argmax(dim=1)
            result = igd_round(gaussians, predicted, method.igd_grad_threshold,
                               method.igd_max_fraction, method.igd_neighbors)
            self.logger.event("igd", iteration, candidates=result.candidates, splits=result.splits,
                              threshold=result.threshold, without_boundary=result.without_boundary,
                              after=result.num_points)

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
                psnrs.append(psnr(out["render"].clamp(0, 1), camera.original_image).item())
                if camera.objects is not None:
                    pred = self.classifier(out["render_object"]).argmax(dim=0)
                    accuracies.append((pred == camera.objects).float().mean().item())
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

    def save_checkpoint(self, iteration: int) -> str:
        self.check_state(iteration)
        state = {
            "format": CHECKPOINT_FORMAT,
            "iteration": iteration,
            "gaussians": self.gaussians.capture(),
            "classifier": self.classifier.state_dict(),
            "cls_optimizer": self.cls_optimizer.state_dict(),
            "view_sampler": self.view_sampler.state_dict(),
            "rng": {"torch": torch.get_rng_state(),
                    "identity": self.identity_generator.get_state(),
                    "python": random.getstate()},
        }
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
