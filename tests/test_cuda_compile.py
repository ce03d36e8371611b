"""Every CUDA source of the rasterizer compiles with the machine's nvcc (no GPU needed), and as
warning-free C++ against the CUDA emulation layer (the `_C_emulated` build, tests/test_cuda_emulated.py).

The kernels are plain CUDA (no torch headers), so `nvcc -c` checks them on their own. All
files are compiled at once (in parallel) by a module fixture; one test per file reports.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CUDA_DIR = ROOT / "submodules" / "diff-gaussian-rasterization" / "csrc" / "cuda"
CU_FILES = sorted(CUDA_DIR.glob("*.cu"))
EMULATED_FILES = sorted((CUDA_DIR.parent / "cuda_emulation").glob("*.cpp"))
ARCH = "sm_75"   # Turing: the oldest architecture nvcc 13 still compiles for


def find_nvcc() -> str | None:
    for candidate in (shutil.which("nvcc"), "/usr/local/bin/nvcc", "/usr/local/cuda/bin/nvcc"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


NVCC = find_nvcc()
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc not found (no CUDA toolkit on this machine)")


@pytest.fixture(scope="module")
def compile_results(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Compile every .cu file concurrently; file name -> finished process."""
    out_dir = tmp_path_factory.mktemp("nvcc")
    running = {}
    for source in CU_FILES:
        cmd = [NVCC, "-c", "-std=c++20", f"-arch={ARCH}", "--expt-relaxed-constexpr", "-Werror", "all-warnings",
               str(source), "-o", str(out_dir / (source.stem + ".o"))]
        running[source.name] = (cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    results = {}
    for name, (cmd, process) in running.items():
        output, _ = process.communicate(timeout=600)
        results[name] = subprocess.CompletedProcess(cmd, process.returncode, output)
    return results


def test_there_are_cuda_sources():
    assert {f.name for f in CU_FILES} >= {"preprocess.cu", "bin.cu", "render.cu", "backward.cu"}
    # Each kernel file has its emulated translation unit; CUB's primitives their standard-library twin.
    kernel_files = {f.stem for f in CU_FILES} - {"device_primitives"}
    wanted = {f"kernels_{stem}.cpp" for stem in kernel_files} | {"device_primitives.cpp"}
    assert wanted <= {f.name for f in EMULATED_FILES}


@needs_nvcc
@pytest.mark.parametrize("source", CU_FILES, ids=[f.name for f in CU_FILES])
def test_cuda_source_compiles(source, compile_results, tmp_path):
    result = compile_results[source.name]
    assert result.returncode == 0, f"{' '.join(result.args)}\n{result.stdout}"
    assert (Path(result.args[-1])).stat().st_size > 0


@pytest.mark.skipif(shutil.which("g++") is None, reason="no g++")
@pytest.mark.parametrize("source", EMULATED_FILES, ids=[f.name for f in EMULATED_FILES])
def test_cuda_source_compiles_as_emulated_cpp_without_warnings(source):
    cmd = ["g++", "-fsyntax-only", "-std=c++20", "-fopenmp", "-DGS_CUDA_EMULATION", "-Wall", "-Wextra", "-Werror",
           str(source)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stderr}"
