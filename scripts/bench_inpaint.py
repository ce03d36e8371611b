#!/usr/bin/env python
"""Inpainting after removal on synthetic scenes whose truth without the object is ray cast.

    python scripts/bench_inpaint.py                       # the three scenes at the demo's size
    python scripts/bench_inpaint.py --size small --threads 1 --pictures docs/images

Per scene: make the scene and the same views without the object (`make_synthetic_scene.py
--without_object`), train once (config/gradiseg/short_2k.json; a trained model is reused when
the script is rerun; `--size small` is a smaller recipe), remove the object with `edit.py --remove` and with `edit.py --remove
--inpaint`, and score both on the test views against the truth without the object: PSNR inside
the object's true region (pooled over the views) and outside it, the inpainting step's time and
the hole's size. Every step is the user's command, printed first.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import cv2  # noqa: E402,F401  (before pycolmap, see tests/conftest.py)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from scene.model_folder import load_model  # noqa: E402
from arguments import ModelParams, PipelineParams, saved_params  # noqa: E402
from gaussian_renderer import render  # noqa: E402
from scene import Scene  # noqa: E402
from scene.gaussian_model import GaussianModel  # noqa: E402
from utils.image_io import read_id_map, read_rgb, write_png  # noqa: E402
from utils.visualization import side_by_side  # noqa: E402


@dataclass(frozen=True)
class BenchScene:
    description: str
    object_id: int
    scene_args: tuple[str, ...]


SCENES = {
    "ground_box": BenchScene("box on a textured ground", 3, ("--seed", "0", "--ground_texture", "noise")),
    "occluder": BenchScene("sphere in front of a cylinder", 1, ("--seed", "1")),
    "large": BenchScene("the largest object, a box", 2, ("--seed", "4")),
}
# --size demo: the demo's scenes (160x120, 32 views) and config/gradiseg/short_2k.json (2000
# iterations); --size small: 64x48, 24 views, 500 iterations (the test suite's recipe).
SIZES = {
    "demo": (("--num_views", "32", "--width", "160", "--height", "120"),
             ("--config_file", "config/gradiseg/short_2k.json")),
    "small": (("--num_views", "24", "--width", "64", "--height", "48"),
              ("--iterations", "500", "--position_lr_max_steps", "500", "--num_classes", "8", "--sh_degree", "1",
               "--densify_from_iter", "50", "--densify_until_iter", "300", "--densification_interval", "50",
               "--densify_grad_threshold", "0.0004", "--opacity_reset_interval", "1000",
               "--sh_increase_interval", "100", "--no_igd", "--laknn_from_iter", "400", "--test_iterations",
               "--save_iterations", "500")),
}


def run(cmd: list[str], threads: int) -> float:
    """Run a repository script with this Python (`threads` torch threads, 0: torch's default);
    returns its wall time in seconds."""
    print("$ " + " ".join(cmd), flush=True)
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads > 0 else {})}
    start = time.perf_counter()
    subprocess.run([sys.executable] + cmd, cwd=ROOT, check=True, env=env)
    return time.perf_counter() - start


def prepare(folder: str, bench: BenchScene, size: str, threads: int) -> None:
    """The scene, the scene without the object and the trained model, made when missing."""
    scene_size, training = SIZES[size]
    scene, without, model = (os.path.join(folder, name) for name in ("scene", "scene_without", "model"))
    if not os.path.isfile(os.path.join(scene, "scene_meta.json")):
        run(["scripts/make_synthetic_scene.py", scene, *bench.scene_args, *scene_size, "--force"], threads)
    if not os.path.isfile(os.path.join(without, "scene_meta.json")):
        run(["scripts/make_synthetic_scene.py", without, *bench.scene_args, *scene_size, "--without_object",
             str(bench.object_id), "--force"], threads)
    if not os.path.isdir(os.path.join(model, "point_cloud")):
        run(["train.py", "-s", scene, "-m", model, *training, "--eval", "--seed", "0", "--overwrite", "--quiet"],
            threads)


@torch.no_grad()
def test_renders(model_path: str) -> dict[str, np.ndarray]:
    """Test view name -> (H, W, 3) render in [0, 1] of a model folder."""
    model = load_model(model_path)
    dataset = saved_params(ModelParams, model_path)
    scene = Scene(dataset, GaussianModel(dataset.sh_degree, dataset.num_objects), load_iteration=model.iteration)
    pipe = PipelineParams(device="cpu")
    background = torch.zeros(3)
    return {camera.image_name: render(camera, model.gaussians, pipe, background)["render"]
            .clamp(0, 1).permute(1, 2, 0).cpu().numpy() for camera in scene.getTestCameras()}


def pooled_psnr(renders: dict[str, np.ndarray], truth: dict[str, np.ndarray],
                regions: dict[str, np.ndarray]) -> float:
    """PSNR (dB) of the squared error pooled over the `regions` (H, W) bool of every view."""
    squared = sum(float(np.sum((renders[n][regions[n]] - truth[n][regions[n]]) ** 2)) for n in renders)
    count = sum(3 * int(regions[n].sum()) for n in renders)
    return 10.0 * np.log10(count / squared)


def picture(path: str, panels: list[np.ndarray], zoom: int = 3) -> None:
    """before | removed | inpainted | truth, each (H, W, 3) in [0, 1], as one PNG, each pixel
    drawn as zoom x zoom."""
    write_png(path, side_by_side([np.round(np.kron(p, np.ones((zoom, zoom, 1))) * 255).astype(np.uint8)
                                  for p in panels]))


def bench_scene(out: str, name: str, bench: BenchScene, args: argparse.Namespace) -> dict:
    folder = os.path.join(out, args.size, name)
    prepare(folder, bench, args.size, args.threads)
    model = os.path.join(folder, "model")
    removed, inpainted = os.path.join(folder, "removed"), os.path.join(folder, "inpainted")
    run(["edit.py", "-m", model, "-o", removed, "--remove", str(bench.object_id), "--force", "--skip_render"],
        args.threads)
    wall = run(["edit.py", "-m", model, "-o", inpainted, "--remove", str(bench.object_id), "--inpaint",
                "--force", "--skip_render", *args.inpaint_args], args.threads)
    with open(os.path.join(inpainted, "inpaint", "inpaint.json")) as fh:
        record = json.load(fh)
    renders = {label: test_renders(path) for label, path in
               (("before", model), ("removed", removed), ("inpainted", inpainted))}
    names = sorted(renders["removed"])
    scene, without = os.path.join(folder, "scene"), os.path.join(folder, "scene_without")
    truth = {n: read_rgb(os.path.join(without, "images", n + ".png"), False) for n in names}
    inside = {n: read_id_map(os.path.join(scene, "object_mask", n + ".png")) == bench.object_id for n in names}
    outside = {n: ~region for n, region in inside.items()}
    row = {"scene": name, "description": bench.description,
           "region_fraction": float(np.mean([r.mean() for r in inside.values()])),
           "hole_fraction_train": record["hole_fraction_mean"], "seeded": record["seeded"],
           "inpaint_seconds": record["seconds"], "edit_wall_seconds": wall}
    for label in ("removed", "inpainted"):
        row[f"inside_{label}"] = pooled_psnr(renders[label], truth, inside)
        row[f"outside_{label}"] = pooled_psnr(renders[label], truth, outside)
    if args.pictures:
        view = max(names, key=lambda n: inside[n].sum())
        picture(os.path.join(args.pictures, f"inpaint_{name}.png"),
                [renders["before"][view], renders["removed"][view], renders["inpainted"][view], truth[view]])
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="output/bench_inpaint")
    parser.add_argument("--scenes", nargs="+", choices=SCENES, default=list(SCENES))
    parser.add_argument("--size", choices=SIZES, default="demo")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per step (0: torch's default)")
    parser.add_argument("--pictures", default="", help="folder for before/removed/inpainted/truth PNGs")
    parser.add_argument("--inpaint_args", nargs=argparse.REMAINDER, default=[],
                        help="further edit.py flags for the inpainting run (last)")
    args = parser.parse_args()
    rows = [bench_scene(os.path.join(ROOT, args.out), name, SCENES[name], args) for name in args.scenes]
    print("\n| scene | object region (test) | hole (train) | PSNR inside: removed | inpainted | gain "
          "| PSNR outside: removed | inpainted | inpaint step | edit.py wall |")
    print("|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        print(f"| {r['scene']} ({r['description']}) | {100 * r['region_fraction']:.1f} % "
              f"| {100 * r['hole_fraction_train']:.2f} % | {r['inside_removed']:.2f} dB | {r['inside_inpainted']:.2f} dB "
              f"| {r['inside_inpainted'] - r['inside_removed']:+.2f} dB | {r['outside_removed']:.2f} dB "
              f"| {r['outside_inpainted']:.2f} dB | {r['inpaint_seconds']:.0f} s | {r['edit_wall_seconds']:.0f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
