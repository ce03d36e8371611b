"""The CUDA kernels' own code (csrc/cuda/*.cu, simple-knn's knn_cuda.cu) against the C++ CPU path
and the PyTorch reference, on two kinds of hardware:

- "emulated" (every machine): the `_C_emulated` modules, the .cu files compiled as C++ against
  csrc/cuda_emulation/cuda_emulation.h (blocks of fibers with barriers, per-block shared
  memory, atomics). This is how a CPU-only CI runs the kernels' indexing, shared-memory
  batching, early termination and atomics.
- "cuda" (a machine with a GPU and the extensions built with CUDA): `_C` on CUDA tensors;
  skipped elsewhere, with the reason.

Tolerances, per output, relative to max(1, max |cpp|) for images and max |cpp| for gradients:
- emulated vs cpp: forward 1e-6 (measured: equal), gradients 1e-4 (measured: up to 3e-5, on
  scales and rotations, whose chain through the inverse 2D covariance amplifies rounding: the
  kernels' float atomics sum each Gaussian's pair gradients in whatever order the pixels come,
  the CPU path in a fixed one);
- cuda vs cpp: forward 1e-4, gradients 2e-4 (the bounds test_rasterizer_cpp.py holds the CPU
  path to against the reference; nvcc contracts multiply-adds, the CPU build does not);
- both against the float32 (forward) and float64 (gradients) reference with those same bounds;
- radii and the k nearest neighbours exactly.

`python -m tests.test_cuda_emulated` prints the measured errors as a table (scripts/gpu_check.sh).
"""
from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import gaussian_renderer.reference as reference
from arguments import FIELD_CHOICES
from gaussian_renderer import backend
from tests.conftest import make_scene
from tests.test_rasterizer_cpp import (
    FORWARD_TOL,
    GRAD_TOL,
    OUTPUTS,
    assert_forward_close,
    assert_grads_close,
    dgr,
    make_gaussians,
    make_settings,
    render,
    weighted_loss,
)

ROOT = Path(__file__).resolve().parent.parent
SELFTEST = ROOT / "submodules" / "diff-gaussian-rasterization" / "tests" / "cuda_emulation_selftest.cpp"
EMULATION_DIR = ROOT / "submodules" / "diff-gaussian-rasterization" / "csrc" / "cuda_emulation"
EMULATED_FORWARD_TOL = 1e-6
EMULATED_GRAD_TOL = 1e-4

try:
    from simple_knn import _C as knn_ext
    from simple_knn import _C_emulated as knn_emulated
except ImportError:
    knn_ext = knn_emulated = None

HAS_GPU = torch.cuda.is_available() and dgr._C.with_cuda
GPU_SKIP_REASON = ("no CUDA device visible to torch" if not torch.cuda.is_available() else
                   "diff_gaussian_rasterization was built without CUDA (rebuild with FORCE_CUDA=1)")
KERNELS = [pytest.param("emulated", id="emulated"),
           pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(not HAS_GPU, reason=GPU_SKIP_REASON))]
TOLERANCES = {"emulated": (EMULATED_FORWARD_TOL, EMULATED_GRAD_TOL), "cuda": (FORWARD_TOL, GRAD_TOL)}


# ----------------------------------------------------------------------------- the paths
def cpp(settings, **kwargs):
    return dgr.GaussianRasterizer(settings).rasterize(**kwargs)


def emulated(settings, **kwargs):
    return dgr.GaussianRasterizer(settings, emulate_cuda=True).rasterize(**kwargs)


def on_gpu(settings, **kwargs):
    """The CUDA kernels on the GPU; inputs go there and the outputs come back (differentiably)."""
    moved = {k: None if v is None else v.cuda() for k, v in kwargs.items()}
    out = dgr.GaussianRasterizer(settings).rasterize(**moved)
    return dgr.RasterOutput(*(t.cpu() for t in out))


PATHS = {"emulated": emulated, "cuda": on_gpu}


def max_errors(ours, our_leaves: dict, ref, ref_leaves: dict) -> tuple[float, float]:
    """Largest relative error over the images (scale max(1, max |ref|)) and over the
    gradients of the leaves (scale max |ref|)."""
    forward = 0.0
    for name in OUTPUTS:
        a, b = getattr(ours, name).double(), getattr(ref, name).double()
        if b.numel():
            forward = max(forward, (a - b).abs().max().item() / max(1.0, b.abs().max().item()))
    grads = 0.0
    for name, leaf in our_leaves.items():
        a, b = leaf.grad, ref_leaves[name].grad
        if b.numel() and b.abs().max().item() > 0:
            grads = max(grads, (a.double() - b.double()).abs().max().item() / b.abs().max().item())
    return forward, grads


def run_path(rasterize, settings, inputs: dict, dtype=torch.float32):
    """(RasterOutput, {input name: leaf tensor with its .grad}) of one path under weighted_loss."""
    out, leaves, means2D = render(rasterize, settings, inputs, dtype)
    weighted_loss(out).backward()
    return out, {**leaves, "means2D": means2D}


def compare(kernels: str, settings, inputs: dict, against_reference: bool = True):
    """The CUDA kernels (`kernels`) against the CPU path and, if asked, the reference.
    Returns the CUDA path's output."""
    forward_tol, grad_tol = TOLERANCES[kernels]
    ours, our_leaves = run_path(PATHS[kernels], settings, inputs)
    theirs, their_leaves = run_path(cpp, settings, inputs)
    assert torch.equal(ours.radii.long(), theirs.radii.long()), "radii differ from the CPU path"
    forward, grads = max_errors(ours, our_leaves, theirs, their_leaves)
    assert forward <= forward_tol, f"images differ from the CPU path by {forward:.3g} (relative)"
    assert grads <= grad_tol, f"gradients differ from the CPU path by {grads:.3g} (relative)"
    if against_reference:
        ref32, _, _ = render(reference.rasterize_reference, settings, inputs)
        assert_forward_close(ours, ref32)
        _, ref_leaves = run_path(reference.rasterize_reference, settings, inputs, torch.float64)
        assert_grads_close(our_leaves, ref_leaves)
    return ours


# ----------------------------------------------------------------------------- scenes
def corner_scene(n: int = 80, seed: int = 20) -> dict:
    """Small Gaussians in the left part of the view only: most tiles get no pair at all."""
    inputs = make_gaussians(n, seed=seed, spread=0.4, scale=(0.02, 0.06))
    inputs["means3D"][:, 0] -= 1.3
    return inputs


def one_tile_many_batches(n: int = 700, seed: int = 21) -> dict:
    """n faint Gaussians over a single 16 x 16 tile: its list takes ceil(n / 256) shared-memory
    batches (the last one partial), and no pixel ends early (alpha <= 0.01: T >= 0.99^700 > 1e-4)."""
    return make_gaussians(n, seed=seed, spread=0.3, scale=(0.2, 0.4), opacity=(0.005, 0.01))


def saturating_many_batches(n: int = 600, seed: int = 22) -> dict:
    """Large opaque Gaussians (alpha above 0.5 over every pixel), several batches per tile:
    every pixel ends within its first few Gaussians, so each block leaves its loop at
    __syncthreads_count before loading its second batch. Opacities below the 0.99 clamp, so
    that no stop decision sits exactly at the threshold (T = 0.01 * 0.01)."""
    return make_gaussians(n, seed=seed, spread=0.5, scale=(1.0, 1.5), opacity=(0.9, 0.98))


# ----------------------------------------------------------------------------- rasterizer
@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("width,height,seed", [(48, 48, 0), (45, 37, 1), (33, 77, 2), (17, 17, 3)])
def test_random_scenes_at_odd_sizes(kernels, width, height, seed):
    """17 x 17: the corner tile holds one pixel, its other 255 threads are done from the start."""
    compare(kernels, make_settings(width, height, sh_degree=2), make_gaussians(160, seed=seed))


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("num_objects", [0, 5, 8, 16, 32])
def test_identity_dimensions(kernels, num_objects):
    """D = 8, 16, 32 (and 0) take the compile-time channel counts, D = 5 the run-time one."""
    out = compare(kernels, make_settings(40, 36), make_gaussians(120, num_objects=num_objects, seed=30 + num_objects))
    assert out.objects.shape == (num_objects, 36, 40)


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_every_sh_degree(kernels, degree):
    inputs = make_gaussians(120, num_objects=8, seed=40 + degree, sh_coeffs=(degree + 1) ** 2)
    compare(kernels, make_settings(48, 40, sh_degree=degree), inputs)


@pytest.mark.parametrize("kernels", KERNELS)
def test_colors_precomp_and_cov3D_precomp(kernels):
    inputs = make_gaussians(150, seed=50)
    rotations, scales = inputs.pop("rotations"), inputs.pop("scales")
    inputs.pop("shs")
    inputs["colors_precomp"] = torch.rand(150, 3, generator=torch.Generator().manual_seed(51))
    inputs["cov3D_precomp"] = reference.covariance_from_scale_rotation(scales, rotations, 1.0)
    compare(kernels, make_settings(52, 40, scale_modifier=0.8), inputs)


@pytest.mark.parametrize("kernels", KERNELS)
def test_empty_tiles(kernels):
    settings = make_settings(80, 40)
    out = compare(kernels, settings, corner_scene())
    assert (out.alpha[0, :, 48:] == 0).all() and (out.alpha[0, :, :32] > 0).any()


@pytest.mark.parametrize("kernels", KERNELS)
def test_one_tile_with_several_shared_memory_batches(kernels):
    inputs = one_tile_many_batches()
    out = compare(kernels, make_settings(16, 16), inputs)
    assert (out.radii > 0).all(), "every Gaussian should be binned to the tile"


@pytest.mark.parametrize("kernels", KERNELS)
def test_saturated_tiles_stop_early(kernels):
    out = compare(kernels, make_settings(32, 32), saturating_many_batches())
    # An ended pixel keeps T in [1e-4, 1e-4 / (1 - alpha_next)), with alpha_next < 0.98.
    assert (out.alpha > 1 - 5e-3).all()


@pytest.mark.parametrize("kernels", KERNELS)
def test_no_gaussians(kernels):
    settings = make_settings(37, 29)
    empty = {k: v[:0] for k, v in make_gaussians(1, seed=60).items()}
    out, leaves = run_path(PATHS[kernels], settings, empty)
    assert torch.equal(out.color, settings.bg[:, None, None].expand(3, 29, 37))
    assert out.radii.shape == (0,) and out.alpha.abs().max().item() == 0.0
    assert leaves["means3D"].grad.shape == (0, 3) and leaves["means2D"].grad.shape == (0, 3)


@pytest.mark.parametrize("kernels", KERNELS)
def test_behind_the_camera_and_huge(kernels):
    inputs = make_gaussians(60, seed=61)
    inputs["means3D"][:3] = torch.tensor([[0.3, -0.4, -5.0], [0.3, -0.4, -3.9], [0.5, -0.2, -7.0]])
    inputs["scales"][3:6] = torch.tensor([2.5, 3.0, 2.0])[:, None]
    out = compare(kernels, make_settings(50, 38), inputs)
    assert out.radii[:3].tolist() == [0, 0, 0] and (out.radii[3:6] > 40).all()


def test_emulated_path_refuses_cuda_tensors():
    if not torch.cuda.is_available():
        pytest.skip(GPU_SKIP_REASON)
    inputs = {k: v.cuda() for k, v in make_gaussians(4, seed=62).items()}
    with pytest.raises(ValueError, match="emulate_cuda"):
        emulated(make_settings(16, 16), means2D=torch.zeros(4, 3, device="cuda"), **inputs)


# ----------------------------------------------------------------------------- backend
def test_backend_cuda_emulated_renders_as_cpp():
    settings = make_settings(40, 30)
    inputs = make_gaussians(100, seed=70)
    a = backend.get_rasterizer("cuda_emulated")(settings, means2D=torch.zeros(100, 3), **inputs)
    b = backend.get_rasterizer("cpp")(settings, means2D=torch.zeros(100, 3), **inputs)
    for name in ("color", "objects", "depth", "alpha"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=0, atol=EMULATED_FORWARD_TOL)
    assert torch.equal(a.radii, b.radii)


def test_backend_cuda_emulated_without_the_extension_is_a_clear_error(monkeypatch):
    backend.load_extension.cache_clear()
    monkeypatch.setitem(sys.modules, backend.EXTENSION, None)
    try:
        with pytest.raises(RuntimeError, match="cuda_emulated.*make setup"):
            backend.get_rasterizer("cuda_emulated")
    finally:
        backend.load_extension.cache_clear()


# ----------------------------------------------------------------------------- KNN
needs_knn = pytest.mark.skipif(knn_ext is None, reason="simple_knn not built (make setup builds it)")


def knn_cuda(query, points, k, exclude_self=False):
    d, i = knn_ext.knn(query.cuda(), points.cuda(), k, exclude_self)
    return d.cpu(), i.cpu()


KNN_PATHS = [pytest.param(lambda *a: knn_emulated.knn(*a), id="emulated", marks=needs_knn),
             pytest.param(knn_cuda, id="cuda", marks=pytest.mark.skipif(
                 knn_ext is None or not (torch.cuda.is_available() and knn_ext.with_cuda()),
                 reason="no CUDA device, or simple_knn built without CUDA"))]


def knn_clouds() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(80)
    grid = torch.randint(0, 10, (800, 3), generator=g).float() * 0.5      # many exact ties
    return {"uniform": torch.rand(3000, 3, generator=g), "grid": grid, "tiny": torch.rand(5, 3, generator=g),
            "empty": torch.zeros(0, 3)}


@pytest.mark.parametrize("search", KNN_PATHS)
@pytest.mark.parametrize("cloud", ["uniform", "grid", "tiny", "empty"])
@pytest.mark.parametrize("k,exclude_self", [(8, True), (16, False)])
def test_knn_kernel_matches_the_cpu_path_exactly(search, cloud, k, exclude_self):
    points = knn_clouds()[cloud]
    query = points if exclude_self else torch.cat([points[::3], torch.rand(300, 3) * 2 - 0.5])
    dist2, index = search(query, points, k, exclude_self)
    want_dist2, want_index = knn_ext.knn(query, points, k, exclude_self)
    assert torch.equal(dist2, want_dist2) and torch.equal(index, want_index)
    if cloud == "tiny":   # fewer points than k: the missing neighbours are (+inf, -1)
        assert (index[:, 5 - exclude_self:] == -1).all() and torch.isinf(dist2[:, 5 - exclude_self:]).all()


@needs_knn
def test_emulated_distCUDA2_matches_the_cpu_path():
    points = knn_clouds()["uniform"]
    assert torch.equal(knn_emulated.distCUDA2(points), knn_ext.distCUDA2(points))


# ----------------------------------------------------------------------------- the emulation itself
@pytest.mark.skipif(shutil.which("g++") is None, reason="no g++ to build the emulation self-test")
def test_emulation_layer_semantics(tmp_path):
    """Compiles and runs the self-test of cuda_emulation.h (barriers, __syncthreads_count with
    exited threads, per-block shared memory, atomics, launch errors, missing-barrier detection)."""
    binary = tmp_path / "selftest"
    subprocess.run(["g++", "-std=c++20", "-O1", "-fopenmp", "-Wall", "-Werror", f"-I{EMULATION_DIR}",
                    str(SELFTEST), "-o", str(binary)], check=True, capture_output=True, text=True)
    result = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok  ") == 7, result.stdout


# ----------------------------------------------------------------------------- training
SHORT_RUN = ["--opacity_reset_interval", "1000", "--sh_increase_interval", "20", "--num_classes", "8",
             "--reg3d_interval", "2", "--reg3d_sample_size", "50", "--test_iterations", "--save_iterations", "--quiet",
             "--seed", "3", "--no_igd", "--no_laknn"]
# Densification: once at iteration 10 (a low gradient threshold, so that it clones and splits
# that early), or at 50 and 100 with the default threshold. Long runs with aggressive
# densification drift apart: at threshold 5e-5 and every 10 iterations, one borderline
# Gaussian of 48k flipped at iteration 80 and the losses then differed by up to 0.4 %.
DENSIFY = {20: ["--densify_from_iter", "5", "--densification_interval", "10", "--densify_grad_threshold", "0.00005"],
           150: ["--densify_from_iter", "20", "--densification_interval", "50"]}


def read_metrics(path: Path) -> dict[str, dict[int, float]]:
    """metrics.csv as {name: {iteration: value}}."""
    series: dict[str, dict[int, float]] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            series.setdefault(row["name"], {})[int(row["iteration"])] = float(row["value"])
    return series


@pytest.fixture(scope="module")
def small_scene(tmp_path_factory):
    return make_scene(tmp_path_factory.mktemp("emulated_scene") / "scene", "--seed", 1, "--num_views", 6,
                      "--width", 40, "--height", 30, "--num_objects", 3, "--num_points", 400)


@pytest.mark.skipif("cuda_emulated" not in FIELD_CHOICES["backend"],
                    reason="train.py's --backend choices (arguments/) do not list cuda_emulated yet")
@pytest.mark.parametrize("iterations", [20, pytest.param(150, marks=pytest.mark.slow)])
def test_training_through_the_emulated_kernels_follows_the_cpp_loss_curve(small_scene, tmp_path, iterations):
    """train.py --backend cuda_emulated and --backend cpp, same seed: the logged losses agree to
    1e-3 (relative) and the densification makes the same number of Gaussians."""
    runs = {}
    for name in ("cpp", "cuda_emulated"):
        cmd = [sys.executable, str(ROOT / "train.py"), "-s", small_scene, "-m", str(tmp_path / name),
               "--backend", name, "--iterations", str(iterations), "--densify_until_iter", str(iterations),
               *DENSIFY[iterations], *SHORT_RUN]
        runs[name] = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                      env={**os.environ, "OMP_NUM_THREADS": "1"})
    for name, process in runs.items():
        output, _ = process.communicate(timeout=1200)
        assert process.returncode == 0, f"train.py --backend {name} failed:\n{output[-3000:]}"
    cpp_run, emulated_run = (read_metrics(tmp_path / name / "metrics.csv") for name in ("cpp", "cuda_emulated"))
    losses = cpp_run["train/loss"]
    assert len(losses) == iterations // 10 and emulated_run["train/loss"].keys() == losses.keys()
    for iteration, value in losses.items():
        assert math.isclose(emulated_run["train/loss"][iteration], value, rel_tol=1e-3), iteration
    assert emulated_run["train/num_gaussians"] == cpp_run["train/num_gaussians"]
    before, after = cpp_run["events/densify/before"], cpp_run["events/densify/after"]
    assert any(after[i] != before[i] for i in before), "no densification changed the model"


# ----------------------------------------------------------------------------- report
REPORT_SCENES = {
    "random 45x37, D=16, SH 2": lambda: (make_settings(45, 37, sh_degree=2), make_gaussians(160, seed=1)),
    "D=32, SH 3": lambda: (make_settings(48, 40, sh_degree=3), make_gaussians(120, num_objects=32, seed=43)),
    "one tile, 3 batches": lambda: (make_settings(16, 16), one_tile_many_batches()),
    "saturated": lambda: (make_settings(32, 32), saturating_many_batches()),
    "empty tiles": lambda: (make_settings(80, 40), corner_scene()),
}


def main() -> int:
    """Prints the largest relative errors of each available CUDA path against the CPU path."""
    paths = ["emulated"] + (["cuda"] if HAS_GPU else [])
    worst = {kernels: (0.0, 0.0, True) for kernels in paths}
    print("| scene | kernels | images vs cpp | gradients vs cpp | radii equal |")
    print("|:--|:--|--:|--:|:-:|")
    for scene, make in REPORT_SCENES.items():
        settings, inputs = make()
        theirs, their_leaves = run_path(cpp, settings, inputs)
        for kernels in paths:
            ours, our_leaves = run_path(PATHS[kernels], settings, inputs)
            forward, grads = max_errors(ours, our_leaves, theirs, their_leaves)
            same_radii = torch.equal(ours.radii.long(), theirs.radii.long())
            print(f"| {scene} | {kernels} | {forward:.2e} | {grads:.2e} | {'yes' if same_radii else 'NO'} |")
            w = worst[kernels]
            worst[kernels] = (max(w[0], forward), max(w[1], grads), w[2] and same_radii)
    for kernels, (forward, grads, same_radii) in worst.items():
        print(f"| worst | {kernels} | {forward:.2e} | {grads:.2e} | {'yes' if same_radii else 'NO'} |")
    if not HAS_GPU:
        print(f"\n(cuda: {GPU_SKIP_REASON})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
