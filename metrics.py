"""Reconstruction quality of a model's rendered test views (the paper's Table 3): PSNR, SSIM,
and LPIPS when it can run without downloading anything.

    python metrics.py -m output/garden output/bicycle                  # every ours_<iter> of each model
    python metrics.py --entry garden gradiseg output/garden --entry garden gaussian_grouping output/garden_gg

Run `render.py` first: the scores compare `<model>/<split>/ours_<iter>/renders` with `gt`.
Each model gets `<model>/results.json` ({"ours_<iter>": {"PSNR", "SSIM"[, "LPIPS"]}}, as 3DGS's
metrics.py). With `--entry`, a table of methods x scenes is printed (and written with --out_dir).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Callable

import numpy as np
import torch

from evaluation.image_metrics import folder_psnr_ssim, read_rgb_tensor
from evaluation.lerf_eval import Metric, ResultGrid
from gaussian_renderer.device import DEVICE_HELP, resolve_device
from utils.atomic_io import write_text_atomic
from utils.errors import exits_cleanly_on

LPIPS_WEIGHTS = "alexnet-owt-7be5be79.pth"   # torchvision's AlexNet, which lpips(net="alex") loads
RUN_FOLDER = re.compile(r"^ours_(\d+)$")

LpipsFn = Callable[[torch.Tensor, torch.Tensor], float]


def load_lpips(device: torch.device) -> tuple[LpipsFn | None, str]:
    """LPIPS (AlexNet) when the `lpips` package and torchvision's AlexNet weights are already on
    disk, else None; and a note saying which."""
    try:
        import lpips
    except ImportError:
        return None, "LPIPS not computed: the `lpips` package is not installed"
    weights = os.path.join(torch.hub.get_dir(), "checkpoints", LPIPS_WEIGHTS)
    if not os.path.isfile(weights):
        return None, f"LPIPS not computed: AlexNet weights not found at {weights} (nothing is downloaded)"
    model = lpips.LPIPS(net="alex", verbose=False).eval().to(device)

    def distance(render: torch.Tensor, gt: torch.Tensor) -> float:
        with torch.no_grad():   # lpips expects (1, 3, H, W) in [-1, 1]
            return model(render[None].to(device) * 2 - 1, gt[None].to(device) * 2 - 1).item()
    return distance, "LPIPS with AlexNet (lpips package)"


def folder_lpips(renders_dir: str, gt_dir: str, lpips_fn: LpipsFn) -> float:
    """Mean LPIPS over the images `renders_dir` and `gt_dir` share by name."""
    names = sorted(n for n in os.listdir(gt_dir) if os.path.isfile(os.path.join(renders_dir, n)))
    return float(np.mean([lpips_fn(read_rgb_tensor(os.path.join(renders_dir, n)),
                                   read_rgb_tensor(os.path.join(gt_dir, n))) for n in names]))


def render_folders(model: str, split: str) -> dict[int, str]:
    """iteration -> `<model>/<split>/ours_<iteration>` for the folders holding renders/ and gt/."""
    split_dir = os.path.join(model, split)
    if not os.path.isdir(split_dir):
        raise FileNotFoundError(f"no rendered {split} views in {model} (run render.py first): {split_dir}")
    folders = {}
    for name in os.listdir(split_dir):
        match = RUN_FOLDER.match(name)
        path = os.path.join(split_dir, name)
        if match and os.path.isdir(os.path.join(path, "renders")) and os.path.isdir(os.path.join(path, "gt")):
            folders[int(match.group(1))] = path
    if not folders:
        raise FileNotFoundError(f"{split_dir} holds no ours_<iteration>/renders + gt folders")
    return dict(sorted(folders.items()))


def score_folder(folder: str, lpips_fn: LpipsFn | None, allow_missing: bool = False,
                 device: torch.device | str = "cpu") -> dict[str, float]:
    """PSNR (dB), SSIM and, with `lpips_fn`, LPIPS of `folder/renders` against `folder/gt`, and
    how many views were scored and how many lacked their other half (an error unless
    `allow_missing`)."""
    renders, gt = os.path.join(folder, "renders"), os.path.join(folder, "gt")
    scores = folder_psnr_ssim(renders, gt, allow_missing, device)
    if scores["num_missing"]:
        print(f"warning: {folder}: {scores['num_missing']} view(s) have a render or ground truth "
              f"but not both; scored the {scores['num_views']} complete ones", file=sys.stderr)
    result = {"PSNR": scores["psnr"], "SSIM": scores["ssim"], "views": scores["num_views"],
              "missing_views": scores["num_missing"]}
    if lpips_fn is not None:
        result["LPIPS"] = folder_lpips(renders, gt, lpips_fn)
    return result


def score_model(model: str, split: str, lpips_fn: LpipsFn | None, iteration: int | None = None,
                allow_missing: bool = False, device: torch.device | str = "cpu") -> dict[int, dict[str, float]]:
    """Scores of every (or one) rendered iteration of a model; written to `<model>/results.json`."""
    folders = render_folders(model, split)
    if iteration is not None:
        if iteration not in folders:
            raise FileNotFoundError(f"{model} has no rendered {split} views of iteration {iteration}")
        folders = {iteration: folders[iteration]}
    results = {it: score_folder(folder, lpips_fn, allow_missing, device) for it, folder in folders.items()}
    write_text_atomic(os.path.join(model, "results.json"),
                      json.dumps({f"ours_{it}": r for it, r in results.items()}, indent=2) + "\n")
    return results


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model_paths", nargs="+", default=[], help="model folders")
    parser.add_argument("--entry", nargs=3, action="append", default=[], metavar=("SCENE", "METHOD", "MODEL"),
                        help="a model labelled for the methods x scenes table; repeat")
    parser.add_argument("--split", default="test")
    parser.add_argument("--iteration", type=int, help="score this iteration (default: every one; "
                                                      "with --entry: the latest)")
    parser.add_argument("--out_dir", help="write table3.md and table3.csv here (with --entry)")
    parser.add_argument("--allow_missing_views", action="store_true",
                        help="score the views that have both a render and ground truth (counted in "
                             "results.json) instead of refusing a folder where some lack one")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    return parser


def print_model_table(models: list[str], split: str, iteration: int | None,
                      lpips_fn: LpipsFn | None, allow_missing: bool = False,
                      device: torch.device | str = "cpu") -> None:
    """One markdown row per (model, rendered iteration)."""
    print("| model | iteration | PSNR (dB) | SSIM |" + (" LPIPS |" if lpips_fn else ""))
    print("|:--|--:|--:|--:|" + ("--:|" if lpips_fn else ""))
    for model in models:
        for it, r in score_model(model, split, lpips_fn, iteration, allow_missing, device).items():
            extra = f" {r['LPIPS']:.3f} |" if lpips_fn else ""
            print(f"| {model} | {it} | {r['PSNR']:.2f} | {r['SSIM']:.3f} |{extra}")


def reconstruction_table(entries: list[tuple[str, str, str]], split: str, iteration: int | None,
                         lpips_fn: LpipsFn | None, allow_missing: bool = False,
                         device: torch.device | str = "cpu") -> ResultGrid:
    """Table 3: one row per method, PSNR / SSIM (/ LPIPS) per scene of the (latest) iteration."""
    metrics = [Metric("PSNR", "psnr", 1.0, 2), Metric("SSIM", "ssim", 1.0, 3)]
    if lpips_fn:
        metrics.append(Metric("LPIPS", "lpips", 1.0, 3))
    grid = ResultGrid(["method"], list(dict.fromkeys(scene for scene, _, _ in entries)), metrics)
    values: dict[str, dict[str, list[float]]] = {}
    for scene, method, model in entries:
        results = score_model(model, split, lpips_fn, iteration, allow_missing, device)
        latest = results[max(results)]
        values.setdefault(method, {})[scene] = [latest[m.name] for m in metrics]
    for method, by_scene in values.items():
        grid.add_row([method], by_scene)
    return grid


@exits_cleanly_on()
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.model_paths and not args.entry:
        parser.error("give model folders with -m or labelled ones with --entry")
    device = resolve_device(args.device)
    lpips_fn, note = load_lpips(device)
    if args.model_paths:
        print_model_table(args.model_paths, args.split, args.iteration, lpips_fn, args.allow_missing_views,
                          device)
    if args.entry:
        grid = reconstruction_table(args.entry, args.split, args.iteration, lpips_fn, args.allow_missing_views,
                                    device)
        print("\n### Table 3: reconstruction quality of the test views\n")
        print(grid.to_markdown())
        if args.out_dir:
            write_text_atomic(os.path.join(args.out_dir, "table3.md"), grid.to_markdown() + "\n")
            write_text_atomic(os.path.join(args.out_dir, "table3.csv"), grid.to_csv())
    print(f"\n{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
