"""Our rasterizer against Gaussian Grouping's CUDA rasterizer, side by side on one GPU.

Builds Gaussian Grouping's rasterizer from its source folder under the package name
`gg_diff_gaussian_rasterization` (bench/peer_rasterizer.py), renders the same random Gaussians
(bench/rasterizer_scene.py, SH degree 3, 16 identity channels, splats of 1..8 px standard
deviation) from the same camera with both, and prints two tables: the largest differences of the
images, identity maps, radii and gradients, and the median forward / forward+backward times after
warm-up with the peak GPU memory of one forward+backward, with the ratios peer / ours. Then the
peak GPU memory of one full training iteration of ours at --train_gaussians Gaussians
(a synthetic scene at --size). Where ours is slower, the profile of both is printed.

Without CUDA the peer cannot run: the script says so and runs the same comparison on our C++ path
against our CUDA kernels through the emulation layer (small sizes), which checks the script.

    python scripts/perf/compare_peer_rasterizer.py                        # on a GPU machine
    python scripts/perf/compare_peer_rasterizer.py --peer_source DIR --gaussians 100000 1000000
    python scripts/perf/compare_peer_rasterizer.py --build_only --peer_site DIR
    python scripts/perf/compare_peer_rasterizer.py --gaussians 2000 --size 64 48 --train_gaussians 3000  # CPU
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.peer_rasterizer import (  # noqa: E402
    build_peer, compare, difference_table, forward_backward, load_peer, ours, peer, profile_table,
    time_rasterizer, timing_table, training_iteration_memory, training_memory_row, upstream_gradients,
    on_device)
from bench.rasterizer_scene import make_scene  # noqa: E402
from utils.atomic_io import write_json_atomic, write_text_atomic  # noqa: E402

DEFAULT_PEER_SOURCE = os.path.join(ROOT, "..", "shared", "peers", "gaussian-grouping", "diff-gaussian-rasterization")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--peer_source", default=DEFAULT_PEER_SOURCE,
                   help="Gaussian Grouping's rasterizer source folder (default: %(default)s)")
    p.add_argument("--peer_site", default=os.path.join(ROOT, "output", "peer_rasterizer", "site"),
                   help="folder the renamed peer is built into and imported from (built when it lacks it)")
    p.add_argument("--build_only", action="store_true", help="build the peer into --peer_site and stop")
    p.add_argument("--rebuild", action="store_true", help="build the peer even if --peer_site has it")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="MAX_JOBS of the build")
    p.add_argument("--gaussians", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--size", type=int, nargs=2, default=[1000, 700], metavar=("WIDTH", "HEIGHT"))
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--train_gaussians", type=int, default=1_000_000,
                   help="Gaussians of the training-iteration memory case (0: skip it)")
    p.add_argument("--train_iterations", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--profile", action="store_true", help="print both profiles even where ours is faster")
    p.add_argument("--out", help="also write the tables here (markdown)")
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--workdir", help="scratch folder (default: a temporary one)")
    return p.parse_args(argv)


def peer_module(args: argparse.Namespace, scratch: str):
    """The renamed peer, built into --peer_site first where needed."""
    built = os.path.isdir(os.path.join(args.peer_site, "gg_diff_gaussian_rasterization"))
    if args.rebuild or not built:
        log = os.path.join(scratch, "peer_build.log")
        print(f"building Gaussian Grouping's rasterizer from {args.peer_source} (MAX_JOBS={args.jobs})", flush=True)
        try:
            build_peer(args.peer_source, args.peer_site, scratch, args.jobs, log)
        except RuntimeError:
            with open(log) as f:
                sys.stderr.write("".join(f.readlines()[-40:]))
            raise
    return load_peer(args.peer_site)


def training_case(args: argparse.Namespace, scratch: str, device: torch.device):
    """One full training iteration of ours on a synthetic scene with --train_gaussians points."""
    width, height = args.size
    scene = os.path.join(scratch, f"scene_{args.train_gaussians}")
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_synthetic_scene.py"), scene, "--seed", "0",
                    "--num_views", "3", "--supersample", "1", "--width", str(width), "--height", str(height),
                    "--num_points", str(args.train_gaussians), "--force"], check=True, stdout=subprocess.DEVNULL)
    return training_iteration_memory(
        ["-s", scene, "-m", os.path.join(scratch, "model"), "--config_file",
         os.path.join(ROOT, "config", "gradiseg", "short_2k.json"), "--device", str(device),
         "--iterations", str(args.train_iterations), "--densify_from_iter", "1000000", "--test_iterations",
         "--save_iterations", "--quiet", "--overwrite", "--seed", "0"],
        args.train_iterations, device)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("compare_peer_rasterizer: --device cuda, but torch sees no GPU", file=sys.stderr)
        return 1
    scratch = args.workdir or tempfile.mkdtemp(prefix="peer_rasterizer_")
    os.makedirs(scratch, exist_ok=True)
    if device.type == "cuda":
        candidate, names = peer(peer_module(args, scratch)), ("ours", "GG")
        if args.build_only:
            return 0
        title = f"Ours against Gaussian Grouping's rasterizer on {torch.cuda.get_device_name(device)}"
    else:
        if args.build_only:
            print("compare_peer_rasterizer: no CUDA device, so Gaussian Grouping's rasterizer (CUDA only) "
                  "is not built", file=sys.stderr)
            return 0
        print("note: no CUDA device: Gaussian Grouping's rasterizer runs on CUDA only, so this compares our "
              "C++ path with our CUDA kernels run on the CPU (a check of the script, not of the peer)")
        candidate, names = ours(emulate_cuda=True), ("ours cpp", "ours cuda_emulated")
        title = "Our C++ path against our CUDA kernels on the CPU (no CUDA device)"
    width, height = args.size
    differences, timings, profiles, figures = [], [], [], {"device": str(device), "cases": []}
    for n in args.gaussians:
        settings, inputs = on_device(*make_scene(n, width, height, reference_width=width), device)
        upstream = upstream_gradients(settings, inputs["sh_objs"].shape[-1], device)
        label = f"{n} Gaussians, {width}x{height}"
        reference = forward_backward(ours(), settings, inputs, upstream)
        differences.append((label, compare(reference, forward_backward(candidate, settings, inputs, upstream))))
        del reference
        t_ours = time_rasterizer(ours(), settings, inputs, upstream, device, args.warmup, args.repeats)
        t_peer = time_rasterizer(candidate, settings, inputs, upstream, device, args.warmup, args.repeats)
        timings.append((label, t_ours, t_peer))
        figures["cases"].append({"label": label, "differences": differences[-1][1], names[0]: vars(t_ours),
                                 names[1]: vars(t_peer)})
        slower = t_ours.forward_backward_s > t_peer.forward_backward_s
        if args.profile or slower:
            why = "ours is slower here" if slower else "--profile"
            profiles.append(f"Profile of one forward+backward, {label} ({why}):\n\n{names[0]}:\n"
                            + profile_table(ours(), settings, inputs, upstream, device)
                            + f"\n{names[1]}:\n" + profile_table(candidate, settings, inputs, upstream, device))
        del settings, inputs, upstream
        if device.type == "cuda":
            torch.cuda.empty_cache()
    text = [f"{title}: largest relative differences of {names[1]} against {names[0]} (images: scale "
            "max(1, max |ours|); gradients: scale max |ours|, upstream gradients random)", "",
            difference_table(differences), "",
            f"Median times after {args.warmup} warm-up runs ({args.repeats} runs) and peak memory of one "
            "forward+backward (above the inputs and their copies that take the gradients)", "", timing_table(timings, names)]
    if args.train_gaussians:
        memory = training_case(args, scratch, device)
        figures["training"] = vars(memory)
        text += ["", training_memory_row(memory)]
    report = "\n".join(text) + "\n"
    print(report)
    for block in profiles:
        print(block)
    if args.out:
        write_text_atomic(args.out, report + "".join(f"\n```\n{block}\n```\n" for block in profiles))
    if args.json:
        write_json_atomic(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
