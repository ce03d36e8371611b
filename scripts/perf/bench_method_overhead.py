"""Time per training iteration of GradiSeg (IGD + LA-KNN) against Gaussian Grouping, by phase.

    python scripts/perf/bench_method_overhead.py --scene output/demo/scene --out output/overhead

Trains both demo configs on the same scene with the same seed up to the start of the LA-KNN
phase, with checkpoints where the IGD window and the LA-KNN phase begin (skipped when they
exist). Then times, in this process, each method's own iterations from its own checkpoint:
the IGD window (IGD rounds included) and the first `--laknn_iterations` of the LA-KNN phase
(GradiSeg with the Gaussians IGD added). The methods alternate, `--repeats` times; the
overhead is the median of the paired (same-repeat) ratios, all shown: two separate trainings on these shared machines differ by up to 25% even
where their code paths are identical, so timing whole runs cannot resolve a 15% budget.
Last, one 3D identity loss is timed with global KNN and with LA-KNN on the same Gaussians:
LA-KNN's own cost, free of that noise.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from arguments import GradiSegParams, parse_training_args  # noqa: E402
from method.identity_loss import identity_3d_loss  # noqa: E402
from training.trainer import Trainer, checkpoint_path  # noqa: E402

METHODS = {"gaussian_grouping": "config/gaussian_grouping/short_2k.json",
           "gradiseg": "config/gradiseg/short_2k.json"}


def train_to(scene: str, model: str, config: str, seed: int, checkpoints: list[int]) -> None:
    """Train `config` up to the last of `checkpoints`, saving a checkpoint at each (skipped if done)."""
    if all(os.path.isfile(checkpoint_path(model, it)) for it in checkpoints):
        return
    subprocess.run([sys.executable, "train.py", "-s", scene, "-m", model, "--config_file", config,
                    "--eval", "--quiet", "--seed", str(seed), "--iterations", str(max(checkpoints)),
                    "--checkpoint_iterations", *map(str, checkpoints), "--test_iterations", "--overwrite"],
                   cwd=ROOT, check=True)


def time_segment(scene: str, model: str, config: str, start: int, count: int) -> tuple[float, int]:
    """Seconds per iteration of iterations start+1 .. start+count resumed from the checkpoint at
    `start`, and the number of Gaussians at the end."""
    args = parse_training_args(["-s", scene, "-m", model, "--config_file", os.path.join(ROOT, config),
                                "--eval", "--quiet", "--start_checkpoint", checkpoint_path(model, start)])
    trainer = Trainer.from_args(args)
    began = time.perf_counter()
    for iteration in range(start + 1, start + count + 1):
        trainer.train_step(iteration)
    return (time.perf_counter() - began) / count, trainer.gaussians.num_points


def time_identity_loss(model: str, start: int, num_classes: int, repeats: int = 30) -> dict[str, float]:
    """Milliseconds (median of `repeats`) of one 3D identity loss, forward and backward, on the
    Gaussians of the checkpoint at `start`, with global KNN and with LA-KNN along each direction."""
    state = torch.load(checkpoint_path(model, start), weights_only=False)
    xyz = state["gaussians"]["params"]["xyz"]
    position_grads = state["strategy"]["statistics"]["xyz_grad_vec_accum"]
    logits = torch.randn(xyz.shape[0], num_classes, generator=torch.Generator().manual_seed(0), requires_grad=True)
    defaults = GradiSegParams()
    result = {}
    for name, grads, along_classes in (("global KNN", None, False), ("LA-KNN, position gradient", position_grads, False),
                                       ("LA-KNN, predicted normal", None, True)):
        generator = torch.Generator().manual_seed(0)
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            identity_3d_loss(xyz, lambda rows: torch.softmax(logits[rows], dim=1), 5, 200_000, 1000, generator, grads,
                             defaults.laknn_candidates, defaults.laknn_ranking, along_classes).loss.backward()
            times.append(1000 * (time.perf_counter() - began))
        result[name] = statistics.median(times)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", required=True)
    parser.add_argument("--out", default="output/overhead")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--laknn_iterations", type=int, default=200)
    args = parser.parse_args()
    with open(os.path.join(ROOT, METHODS["gradiseg"])) as fh:
        cfg = json.load(fh)
    igd_start, laknn_start = cfg["igd_from_iter"], cfg["laknn_from_iter"]
    phases = [(f"IGD window ({igd_start}-{cfg['igd_until_iter']})", igd_start, cfg["igd_until_iter"] - igd_start),
              (f"LA-KNN phase ({laknn_start}-{laknn_start + args.laknn_iterations})", laknn_start,
               args.laknn_iterations)]
    models = {method: os.path.join(args.out, method) for method in METHODS}
    for method, config in METHODS.items():
        train_to(args.scene, models[method], config, args.seed, [igd_start, laknn_start])

    print("| phase | Gaussian Grouping (s/it) | GradiSeg (s/it) | overhead | GradiSeg / GG per repeat "
          "| Gaussians GG / GradiSeg |")
    print("|:--|--:|--:|--:|:--|--:|")
    for name, start, count in phases:
        seconds = {method: [] for method in METHODS}
        gaussians = {}
        for _ in range(args.repeats):
            for method, config in METHODS.items():
                per_iteration, gaussians[method] = time_segment(args.scene, models[method], config, start, count)
                seconds[method].append(per_iteration)
        gg, ours = (statistics.median(seconds[m]) for m in METHODS)
        ratios = [b / a for a, b in zip(seconds["gaussian_grouping"], seconds["gradiseg"])]
        print(f"| {name} | {gg:.4f} | {ours:.4f} | {100 * (statistics.median(ratios) - 1):+.1f}% "
              f"| {', '.join(f'{r:.2f}' for r in ratios)} "
              f"| {gaussians['gaussian_grouping']} / {gaussians['gradiseg']} |", flush=True)

    loss_ms = time_identity_loss(models["gradiseg"], laknn_start, cfg["num_classes"])
    print(f"\nOne 3D identity loss (forward + backward, 1000 targets, K = 5) on GradiSeg's Gaussians at "
          f"{laknn_start}, every {cfg['reg3d_interval']} iterations:")
    for name, ms in loss_ms.items():
        extra = (ms - loss_ms["global KNN"]) / cfg["reg3d_interval"]
        print(f"- {name}: {ms:.1f} ms ({extra:+.1f} ms per iteration against global KNN)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
