#!/usr/bin/env python
"""Cost of the divergence guard (training/guards.py) per training iteration.

    python scripts/perf/bench_guards.py            # prints a table: Gaussians, ms per check, share of a step

For several model sizes: the per-iteration check (gradients after backward, parameters after
the step), the full check (every FULL_CHECK_INTERVAL iterations and before saves), and the
time of one training step on a synthetic scene with that many Gaussians.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import torch  # noqa: E402

from arguments import parse_training_args  # noqa: E402
from bench.synthetic.scene import SyntheticSceneConfig, make_synthetic_scene  # noqa: E402
from training.guards import model_parameters  # noqa: E402
from training.trainer import FULL_CHECK_INTERVAL, Trainer  # noqa: E402


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * sorted(times)[len(times) // 2]


def measure(scene: str, model: str, num_points: int, repeats: int) -> tuple[int, float, float, float]:
    args = parse_training_args(["-s", scene, "-m", model, "--iterations", "1000", "--quiet",
                                "--num_classes", "8", "--test_iterations", "--save_iterations",
                                "--densify_from_iter", "100000", "--reg3d_interval", "1000000"])
    trainer = Trainer.from_args(args)
    iteration = iter(range(1, 10 ** 6))
    step_ms = median_ms(lambda: trainer.train_step(next(iteration)), repeats)
    trainer.train_step(next(iteration))
    params = model_parameters(trainer.gaussians, trainer.classifier)
    loss = sum(p.sum() for p in params.values())   # gradients to check, as after backward
    loss.backward()
    optimizers = (trainer.gaussians.optimizer, trainer.cls_optimizer)

    def cheap():
        trainer.guard.check_gradients(params, 1, None)
        trainer.guard.check_state(params, optimizers, 1, None, full=False)

    cheap_ms = median_ms(cheap, repeats)
    full_ms = median_ms(lambda: trainer.guard.check_state(params, optimizers, 1, None), repeats)
    return trainer.gaussians.num_points, step_ms, cheap_ms, full_ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[5_000, 20_000, 80_000])
    parser.add_argument("--size", type=int, nargs=2, default=[160, 120], metavar=("W", "H"))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"| Gaussians | step (ms) | per-iteration check (ms) | share | full check (ms) | "
          f"full check per iteration (1/{FULL_CHECK_INTERVAL}) |")
    print("|--:|--:|--:|--:|--:|--:|")
    with tempfile.TemporaryDirectory() as tmp:
        for num_points in args.points:
            scene = os.path.join(tmp, f"scene{num_points}")
            make_synthetic_scene(scene, SyntheticSceneConfig(num_views=8, width=args.size[0], height=args.size[1],
                                                             num_points=num_points, num_objects=3))
            n, step, cheap, full = measure(scene, os.path.join(tmp, f"model{num_points}"), num_points,
                                           args.repeats)
            print(f"| {n} | {step:.1f} | {cheap:.2f} | {100 * cheap / step:.1f}% | {full:.2f} | "
                  f"{100 * full / FULL_CHECK_INTERVAL / step:.2f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
