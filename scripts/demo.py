"""`make demo`: make a synthetic scene, train on it, render the test views, evaluate.

Every step runs the user-facing command (printed first), so the demo is also a recipe.
The model right after initialisation (iteration 1) is evaluated beside the trained one to
show what training adds.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from evaluation.image_metrics import folder_psnr_ssim  # noqa: E402


def run(cmd: list[str]) -> None:
    print("$ " + " ".join(cmd), flush=True)
    subprocess.run([sys.executable] + cmd, cwd=ROOT, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="output/demo")
    parser.add_argument("--config", default="config/gradiseg/short_2k.json")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.time()
    scene = os.path.join(args.out, "scene")
    model = os.path.join(args.out, os.path.splitext(os.path.basename(args.config))[0]
                         + "_" + os.path.basename(os.path.dirname(args.config)))
    with open(os.path.join(ROOT, args.config)) as fh:
        final = json.load(fh)["iterations"]

    if not os.path.isdir(os.path.join(ROOT, scene)):
        run(["scripts/make_synthetic_scene.py", scene, "--seed", str(args.seed), "--mask_jitter", "1"])
    run(["train.py", "-s", scene, "-m", model, "--config_file", args.config, "--eval",
         "--seed", str(args.seed), "--save_iterations", "1", str(final), "--overwrite"])
    rows = []
    for iteration in (1, final):
        run(["render.py", "-m", model, "--iteration", str(iteration), "--skip_train",
             "--prompt_ids", os.path.join(scene, "prompts.json"), "--quiet"])
        result_dir = os.path.join(model, "test", f"ours_{iteration}")
        eval_json = os.path.join(result_dir, "eval.json")
        run(["eval_lerf_mask.py", "--gt", os.path.join(scene, "test_mask"),
             "--pred", os.path.join(result_dir, "test_mask"), "--out", eval_json,
             "--scene", "synthetic", "--method", f"iteration {iteration}"])
        with open(os.path.join(ROOT, eval_json)) as fh:
            seg = json.load(fh)
        recon = folder_psnr_ssim(os.path.join(ROOT, result_dir, "renders"),
                                 os.path.join(ROOT, result_dir, "gt"))
        rows.append((iteration, recon["psnr"], recon["ssim"], seg["miou"], seg["mbiou"]))

    print("\n| model | test PSNR (dB) | test SSIM | mIoU (%) | mBIoU (%) |")
    print("|:--|--:|--:|--:|--:|")
    for iteration, p, s, miou, mbiou in rows:
        label = "untrained (iteration 1)" if iteration == 1 else f"trained ({iteration} iterations)"
        print(f"| {label} | {p:.2f} | {s:.3f} | {100 * miou:.1f} | {100 * mbiou:.1f} |")
    print(f"\nDemo finished in {time.time() - start:.0f} s; outputs in {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
