#!/usr/bin/env python
"""Method variants on validation scenes (never the benchmark's), over seeds: what tuning reads.

For each validation scene and seed, one training to the end of densification (the prefix) is
shared by every variant; each variant continues it through IGD and LA-KNN to the end of
`--config`, is evaluated on the test views (PSNR) and checked by `scripts/diagnose_method.py`
against the scene's exact geometry (band accuracy of the rendered ids around the true
boundaries, the IGD and LA-KNN premises). Tables: per run, and per variant the mean over scenes
and seeds with its paired difference to Gaussian Grouping (95 % t interval). Resumable: a run
whose diagnosis JSON exists is read back.

    python scripts/validate_method.py --out output/val --scenes v3,v4 --seeds 0,1
    python scripts/validate_method.py --variants gg,full,contact     # a subset
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.method_validation import tables  # noqa: E402
from bench.synthetic.degrade import MaskDegradation  # noqa: E402
from bench.synthetic.scene import SyntheticSceneConfig, make_synthetic_scene  # noqa: E402
from training.run_logger import read_metric  # noqa: E402

TRACKER_NOISE = MaskDegradation(jitter_px=2.0, swap_fraction=0.1, merge_fraction=0.1, blob_fraction=0.15)
SCENES = {   # validation only: none of these seeds is a benchmark scene
    "v3": SyntheticSceneConfig(seed=23, num_objects=7, width=120, height=90, elevation_deg=22.0,
                               degradation=TRACKER_NOISE),
    "v4": SyntheticSceneConfig(seed=41, num_objects=6, width=120, height=90, elevation_deg=25.0,
                               degradation=TRACKER_NOISE),
    # The contact preset's regime (config/bench/contact.json) on validation seeds of its own.
    "v5": SyntheticSceneConfig(seed=301, num_objects=6, width=320, height=240, num_points=4000,
                               elevation_deg=22.0, layout="contact",
                               degradation=MaskDegradation(jitter_px=2.5, swap_fraction=0.06, merge_fraction=0.06)),
    "v6": SyntheticSceneConfig(seed=302, num_objects=7, width=320, height=240, num_points=4000,
                               elevation_deg=26.0, layout="contact",
                               degradation=MaskDegradation(jitter_px=3.0, swap_fraction=0.1, merge_fraction=0.1,
                                                           blob_fraction=0.15)),
}
VARIANTS = {
    "gg": ["--no_igd", "--no_laknn"],                                     # Gaussian Grouping
    "full": [],                                                           # the defaults
    "contact": ["--igd_contact_only", "--igd_grad_quantile", "0.9"],
    "contact_pn": ["--igd_contact_only", "--igd_grad_quantile", "0.9", "--laknn_direction", "predicted_normal"],
    "pn": ["--laknn_direction", "predicted_normal"],
    # IGD's threshold as the 98th percentile of its statistic (the cap's 2 %): resolution-free.
    "quantile": ["--igd_grad_quantile", "0.98"],
}
DEFAULT_CONFIG = "config/bench/small_train.json"
DEFAULT_PREFIX = 600     # small_train's end of densification, where IGD starts


def run(args: list[str], log: str) -> None:
    with open(log, "w") as fh:
        code = subprocess.run([sys.executable, *args], cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise RuntimeError(f"{args[0]} failed (exit {code}); see {log}")


def validate_run(out: str, scene: str, seed: int, variant: str, config: str, prefix_iterations: int,
                 iterations: int) -> dict:
    """Train (unless finished), diagnose (unless done) and return one run's row."""
    scene_dir = os.path.join(out, scene)
    runs = os.path.join(out, "runs", scene)
    os.makedirs(runs, exist_ok=True)
    prefix = os.path.join(runs, f"prefix_s{seed}")
    prefix_checkpoint = os.path.join(prefix, f"chkpnt{prefix_iterations}.pth")
    if not os.path.isfile(prefix_checkpoint):
        run(["train.py", "-s", scene_dir, "-m", prefix, "--config_file", config, "--eval", "--seed", str(seed),
             "--iterations", str(prefix_iterations), "--checkpoint_iterations", str(prefix_iterations), "--quiet",
             "--overwrite"], prefix + ".train.log")
    model = os.path.join(runs, f"{variant}_s{seed}")
    checkpoint = os.path.join(model, f"chkpnt{iterations}.pth")
    if read_metric(model, "test/psnr", iterations) is None or not os.path.isfile(checkpoint):
        # An unfinished continuation starts over (--overwrite cannot go with --start_checkpoint).
        shutil.rmtree(model, ignore_errors=True)
        run(["train.py", "-s", scene_dir, "-m", model, "--config_file", config, "--eval", "--seed", str(seed),
             "--start_checkpoint", prefix_checkpoint, "--checkpoint_iterations", str(iterations),
             "--test_iterations", str(iterations), "--quiet", *VARIANTS[variant]], model + ".train.log")
    diagnosis = model + ".diagnosis.json"
    if not os.path.isfile(diagnosis):
        run(["scripts/diagnose_method.py", "-s", scene_dir, "-m", model, "--checkpoint", checkpoint,
             "--config_file", config, "--json", diagnosis], model + ".diag.md")
    with open(diagnosis) as fh:
        record = json.load(fh)
    return {"scene": scene, "seed": seed, "variant": variant, "psnr": read_metric(model, "test/psnr", iterations),
            "band_test": record["band_accuracy"]["test"], "band_train": record["band_accuracy"]["train"],
            "gaussians": record["gaussians"], "wrong_id_boundary": record["wrong_id_boundary"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="output/val")
    parser.add_argument("--scenes", default=",".join(SCENES))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--prefix_iterations", type=int, default=DEFAULT_PREFIX)
    args = parser.parse_args()
    unknown = [v for v in args.variants.split(",") if v not in VARIANTS] + \
              [s for s in args.scenes.split(",") if s not in SCENES]
    if unknown:
        parser.error(f"unknown variants or scenes: {unknown} (variants: {list(VARIANTS)}, scenes: {list(SCENES)})")
    with open(os.path.join(ROOT, args.config)) as fh:
        iterations = json.load(fh)["iterations"]
    rows = []
    for scene in args.scenes.split(","):
        if not os.path.isdir(os.path.join(args.out, scene)):
            make_synthetic_scene(os.path.join(args.out, scene), SCENES[scene])
        for seed in (int(s) for s in args.seeds.split(",")):
            for variant in args.variants.split(","):
                rows.append(validate_run(args.out, scene, seed, variant, args.config, args.prefix_iterations,
                                         iterations))
                print(json.dumps(rows[-1]), flush=True)
    text = tables(rows)
    with open(os.path.join(args.out, "validation.md"), "w") as fh:
        fh.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
