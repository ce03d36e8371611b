"""Our rasterizer side by side with Gaussian Grouping's CUDA rasterizer, on the same Gaussians and
camera: largest differences of the images, identity maps, radii and every gradient; medians of
forward and forward+backward times after warm-up; peak device memory of one forward+backward;
and the peak memory of one full training iteration of ours.

Gaussian Grouping's rasterizer is another project's code under another licence: it is never part
of this repository. `prepare_peer_source` builds it from its source folder, copied to a scratch
folder under the package name `gg_diff_gaussian_rasterization` so that it sits beside ours in one
Python. Its call: `GaussianRasterizer(settings)(means3D, means2D, opacities, shs=, sh_objs=,
scales=, rotations=) -> (color (3, H, W), radii (N,), objects (16, H, W))`, sh_objs (N, 1, 16),
settings with the same twelve fields as ours; colour blends the background, identity towards 0.

The functions take any `Rasterize` callable, so the comparison and timing code also runs on a
machine without CUDA, on our C++ path against our CUDA kernels run through the emulation layer.
"""
from __future__ import annotations

import importlib
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Callable, NamedTuple

import torch
from torch.profiler import ProfilerActivity, profile

from arguments import parse_training_args
from gaussian_renderer.backend import rasterize_extension
from scene.model_folder import prepare_model_folder
from training.trainer import Trainer

PEER_PACKAGE = "gg_diff_gaussian_rasterization"
UPSTREAM_PACKAGE = "diff_gaussian_rasterization"
GRAD_NAMES = ("means3D", "means2D", "opacities", "shs", "sh_objs", "scales", "rotations")
MIB = 1024 ** 2


class Outputs(NamedTuple):
    color: torch.Tensor     # (3, H, W)
    objects: torch.Tensor   # (D, H, W)
    radii: torch.Tensor     # (N,) int
    grads: dict             # GRAD_NAMES -> the input's gradient (means2D: its (N, 2) screen part)


# (settings, leaves) -> (color (3, H, W), objects (D, H, W), radii (N,)); leaves: the inputs of
# bench.rasterizer_scene.make_scene plus means2D (N, 3), all on one device.
Rasterize = Callable[[tuple, dict], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


# ----------------------------------------------------------------------------- the two rasterizers
def ours(emulate_cuda: bool = False) -> Rasterize:
    """Our rasterizer (the tensors' device picks the path; emulate_cuda: the CUDA kernels on CPU)."""
    def rasterize(settings: tuple, leaves: dict):
        out = rasterize_extension(settings, **leaves, emulate_cuda=emulate_cuda)
        return out.color, out.objects, out.radii
    return rasterize


def peer(module: ModuleType) -> Rasterize:
    """Gaussian Grouping's rasterizer, imported as `module` (CUDA tensors only)."""
    def rasterize(settings: tuple, leaves: dict):
        color, radii, objects = module.GaussianRasterizer(module.GaussianRasterizationSettings(*settings))(
            **leaves)
        return color, objects, radii
    return rasterize


def prepare_peer_source(source: str, dest: str) -> str:
    """A copy of Gaussian Grouping's rasterizer source under the package name PEER_PACKAGE, in dest
    (replaced). The one change besides the name: `#include <cstdint>` in rasterizer_impl.h, which
    uses std::uintptr_t and fails to compile without it under gcc 13 and later."""
    if not os.path.isfile(os.path.join(source, "setup.py")) or \
            not os.path.isdir(os.path.join(source, UPSTREAM_PACKAGE)):
        raise FileNotFoundError(f"{source} is not Gaussian Grouping's rasterizer source folder "
                                f"(no setup.py and {UPSTREAM_PACKAGE}/ in it)")
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("build", "*.egg-info", "*.so"))
    os.rename(os.path.join(dest, UPSTREAM_PACKAGE), os.path.join(dest, PEER_PACKAGE))
    setup_py = os.path.join(dest, "setup.py")
    with open(setup_py) as f:
        text = f.read()
    with open(setup_py, "w") as f:
        f.write(text.replace(UPSTREAM_PACKAGE, PEER_PACKAGE))
    header = os.path.join(dest, "cuda_rasterizer", "rasterizer_impl.h")
    if os.path.isfile(header):
        with open(header) as f:
            text = f.read()
        if "<cstdint>" not in text:
            with open(header, "w") as f:
                f.write("#include <cstdint>\n" + text)
    return dest


def build_peer(source: str, site: str, scratch: str, jobs: int, log_path: str) -> None:
    """Build Gaussian Grouping's rasterizer (renamed) into the folder `site` (pip --target) with
    MAX_JOBS=jobs, for TORCH_CUDA_ARCH_LIST as set, else the present GPU's architecture."""
    src = prepare_peer_source(source, os.path.join(scratch, "peer_src"))
    env = dict(os.environ, MAX_JOBS=str(jobs))
    if not env.get("TORCH_CUDA_ARCH_LIST") and torch.cuda.is_available():
        env["TORCH_CUDA_ARCH_LIST"] = "{}.{}".format(*torch.cuda.get_device_capability())
    partial = site + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    with open(log_path, "w") as log:
        result = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
                                 "--no-index", "--no-compile", "--target", partial, src],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise RuntimeError(f"building Gaussian Grouping's rasterizer failed (log: {log_path})")
    shutil.rmtree(site, ignore_errors=True)
    os.replace(partial, site)


def load_peer(site: str) -> ModuleType:
    """PEER_PACKAGE from the folder `site` (made by build_peer)."""
    if site not in sys.path:
        sys.path.insert(0, site)
    return importlib.import_module(PEER_PACKAGE)


# ----------------------------------------------------------------------------- one forward+backward
def on_device(settings: tuple, inputs: dict, device: torch.device) -> tuple[tuple, dict]:
    """The settings' tensors and the inputs on `device` (inputs detached, float32)."""
    settings = type(settings)(*(v.to(device) if isinstance(v, torch.Tensor) else v for v in settings))
    return settings, {k: v.to(device=device, dtype=torch.float32) for k, v in inputs.items()}


def upstream_gradients(settings: tuple, num_objects: int, device: torch.device, seed: int = 1) -> dict:
    """Fixed random dL/d(color) (3, H, W) and dL/d(objects) (D, H, W) for the backward pass."""
    g = torch.Generator().manual_seed(seed)
    h, w = settings.image_height, settings.image_width
    return {"color": torch.randn(3, h, w, generator=g).to(device),
            "objects": torch.randn(num_objects, h, w, generator=g).to(device)}


def leaves_of(inputs: dict) -> dict:
    """Fresh leaves that require gradients, and the zero means2D (N, 3) whose gradient the
    densification reads."""
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in inputs.items()}
    leaves["means2D"] = torch.zeros_like(inputs["means3D"], requires_grad=True)
    return leaves


def forward_backward(rasterize: Rasterize, settings: tuple, inputs: dict, upstream: dict | None,
                     leaves: dict | None = None) -> Outputs:
    """One forward, and a backward of sum(color * upstream color) + sum(objects * upstream objects)
    unless upstream is None. leaves: leaves_of(inputs) made beforehand (else made here)."""
    leaves = leaves_of(inputs) if leaves is None else leaves
    color, objects, radii = rasterize(settings, leaves)
    grads = {}
    if upstream is not None:
        ((color * upstream["color"]).sum() + (objects * upstream["objects"]).sum()).backward()
        grads = {name: leaves[name].grad for name in GRAD_NAMES}
        grads["means2D"] = grads["means2D"][:, :2]
    return Outputs(color.detach(), objects.detach(), radii, grads)


def largest_difference(a: torch.Tensor | None, b: torch.Tensor | None, floor: float = 0.0) -> float:
    """max |a - b| / max(floor, max |a|); NaN when either is missing or the shapes differ."""
    if a is None or b is None or a.shape != b.shape:
        return float("nan")
    a, b = a.detach().double(), b.detach().double()
    scale = max(floor, a.abs().max().item() if a.numel() else 0.0)
    if not a.numel():
        return 0.0
    return (a - b).abs().max().item() / (scale if scale > 0 else 1.0)


def compare(a: Outputs, b: Outputs) -> dict:
    """Largest relative differences of b against a: images with the scale max(1, max |a|),
    gradients with max |a|; radii: the fraction of Gaussians whose radius is equal."""
    row = {"color": largest_difference(a.color, b.color, 1.0),
           "objects": largest_difference(a.objects, b.objects, 1.0),
           "radii equal": (a.radii.long() == b.radii.long()).double().mean().item() if a.radii.numel() else 1.0}
    for name in GRAD_NAMES:
        row[name] = largest_difference(a.grads.get(name), b.grads.get(name))
    return row


# ----------------------------------------------------------------------------- timing and memory
def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Timing:
    forward_s: float           # median
    forward_backward_s: float  # median
    peak_bytes: int | None     # device memory of one forward+backward above the inputs and their leaves; None on CPU


def time_rasterizer(rasterize: Rasterize, settings: tuple, inputs: dict, upstream: dict,
                    device: torch.device, warmup: int = 3, repeats: int = 10) -> Timing:
    """Medians over `repeats` runs after `warmup` forward+backward runs, each run synchronised
    (the leaves are made before the clock starts)."""
    for _ in range(warmup):
        forward_backward(rasterize, settings, inputs, upstream)
    times: dict[str, list[float]] = {"forward": [], "forward_backward": []}
    for _ in range(repeats):
        for kind, up in (("forward", None), ("forward_backward", upstream)):
            leaves = leaves_of(inputs)
            _synchronize(device)
            start = time.perf_counter()
            forward_backward(rasterize, settings, inputs, up, leaves)
            _synchronize(device)
            times[kind].append(time.perf_counter() - start)
            del leaves
    peak = None
    if device.type == "cuda":
        leaves = leaves_of(inputs)
        torch.cuda.empty_cache()
        _synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        forward_backward(rasterize, settings, inputs, upstream, leaves)
        _synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
    return Timing(statistics.median(times["forward"]), statistics.median(times["forward_backward"]), peak)


def profile_table(rasterize: Rasterize, settings: tuple, inputs: dict, upstream: dict,
                  device: torch.device, rows: int = 12) -> str:
    """torch.profiler's table of one forward+backward, the most expensive operations first."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    forward_backward(rasterize, settings, inputs, upstream)
    with profile(activities=activities) as prof:
        forward_backward(rasterize, settings, inputs, upstream)
        _synchronize(device)
    key = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)


# ----------------------------------------------------------------------------- one training iteration
@dataclass
class TrainingMemory:
    gaussians: int
    iterations: int
    seconds_per_iteration: float  # median of the timed iterations (the first one excluded when there are two or more)
    peak_allocated: int | None    # bytes; None on CPU
    peak_reserved: int | None


def training_iteration_memory(train_args: list[str], iterations: int, device: torch.device) -> TrainingMemory:
    """Peak device memory over `iterations` full training iterations of ours (the trainer built
    from train.py's flags `train_args`, which should switch densification off and name the device)."""
    args = parse_training_args(train_args)
    args.start_checkpoint = prepare_model_folder(args.model_path, args.start_checkpoint, args.resume,
                                                 args.overwrite)
    trainer = Trainer.from_args(args)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for iteration in range(1, iterations + 1):
        _synchronize(device)
        start = time.perf_counter()
        trainer.train_step(iteration)
        _synchronize(device)
        times.append(time.perf_counter() - start)
    timed = times[1:] if len(times) > 1 else times
    peak_allocated = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    peak_reserved = torch.cuda.max_memory_reserved(device) if device.type == "cuda" else None
    return TrainingMemory(trainer.gaussians.get_xyz.shape[0], iterations, statistics.median(timed),
                          peak_allocated, peak_reserved)


# ----------------------------------------------------------------------------- tables
def _e(value: float) -> str:
    return "n/a" if value != value else f"{value:.2e}"


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / MIB:.0f}"


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or not denominator:
        return "n/a"
    return f"{numerator / denominator:.2f}"


def difference_table(rows: list[tuple[str, dict]]) -> str:
    """Markdown: one row per case label, the largest relative differences of compare()."""
    head = ["case", "image", "identity", "radii equal"] + [f"d {name}" for name in GRAD_NAMES]
    lines = ["| " + " | ".join(head) + " |", "|:--|" + "--:|" * (len(head) - 1)]
    for label, row in rows:
        cells = [_e(row["color"]), _e(row["objects"]), f"{100 * row['radii equal']:.2f} %"]
        cells += [_e(row[name]) for name in GRAD_NAMES]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def timing_table(rows: list[tuple[str, Timing, Timing]], names: tuple[str, str]) -> str:
    """Markdown: per case, both rasterizers' median times (ms) and peak memory (MiB), and the
    ratios second / first (above 1: the first, ours, is faster or smaller)."""
    a, b = names
    head = ["case", f"{a} fwd ms", f"{b} fwd ms", f"{a} fwd+bwd ms", f"{b} fwd+bwd ms", f"fwd+bwd {b} / {a}",
            f"{a} peak MiB", f"{b} peak MiB", f"peak {b} / {a}"]
    lines = ["| " + " | ".join(head) + " |", "|:--|" + "--:|" * (len(head) - 1)]
    for label, ta, tb in rows:
        cells = [f"{1e3 * ta.forward_s:.2f}", f"{1e3 * tb.forward_s:.2f}", f"{1e3 * ta.forward_backward_s:.2f}",
                 f"{1e3 * tb.forward_backward_s:.2f}", _ratio(tb.forward_backward_s, ta.forward_backward_s),
                 _mib(ta.peak_bytes), _mib(tb.peak_bytes), _ratio(tb.peak_bytes, ta.peak_bytes)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def training_memory_row(memory: TrainingMemory) -> str:
    """One sentence for the table's foot."""
    return (f"One full training iteration of ours at {memory.gaussians} Gaussians: peak allocated "
            f"{_mib(memory.peak_allocated)} MiB, reserved {_mib(memory.peak_reserved)} MiB, "
            f"{1e3 * memory.seconds_per_iteration:.1f} ms an iteration (median of {memory.iterations} iterations).")
