"""Builds simple_knn._C: the C++ (OpenMP) path always, the CUDA path when torch has CUDA or
FORCE_CUDA=1; and simple_knn._C_emulated: the CUDA kernel compiled as C++ against the CUDA
emulation layer of diff-gaussian-rasterization (csrc/cuda_emulation), run on CPU tensors.
Install with `pip install --no-build-isolation ./submodules/simple-knn` so that it compiles
against the installed torch."""
import os

import torch
from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(HERE, "csrc")
CPP_SOURCES = [os.path.join("csrc", name) for name in ("ext.cpp", "kdtree.cpp", "knn_cpu.cpp")]
# C++20: torch >= 2.14's headers require it (and the emulation layer uses std::atomic_ref).
CXX_FLAGS = ["-O3", "-std=c++20", "-fopenmp"]
# One emulation layer for both extensions, kept beside the rasterizer's kernels.
EMULATION_DIR = os.path.join(HERE, "..", "diff-gaussian-rasterization", "csrc", "cuda_emulation")
if not os.path.isfile(os.path.join(EMULATION_DIR, "cuda_emulation.h")):
    raise SystemExit(f"simple_knn: the CUDA emulation layer is missing ({EMULATION_DIR}/cuda_emulation.h); "
                     "build from the GradiSeg checkout, which holds both submodules")
# No fused multiply-add on the device: distances then round exactly as on the CPU.
NVCC_FLAGS = ["-O3", "-std=c++20", "--fmad=false"]

use_cuda = torch.version.cuda is not None or os.environ.get("FORCE_CUDA") == "1"
if use_cuda:
    extension = CUDAExtension(
        "simple_knn._C", CPP_SOURCES + [os.path.join("csrc", "knn_cuda.cu")],
        include_dirs=[CSRC], define_macros=[("WITH_CUDA", None)],
        extra_compile_args={"cxx": CXX_FLAGS, "nvcc": NVCC_FLAGS}, extra_link_args=["-fopenmp"])
else:
    extension = CppExtension(
        "simple_knn._C", CPP_SOURCES, include_dirs=[CSRC],
        extra_compile_args={"cxx": CXX_FLAGS}, extra_link_args=["-fopenmp"])

# No contraction, as on the device (--fmad=false).
emulated = CppExtension(
    "simple_knn._C_emulated",
    [os.path.join("csrc", name) for name in ("ext.cpp", "kdtree.cpp", "knn_cuda_emulated.cpp")],
    include_dirs=[CSRC, EMULATION_DIR], define_macros=[("KNN_CUDA_EMULATION", None)],
    extra_compile_args={"cxx": CXX_FLAGS + ["-ffp-contract=off"]},
    extra_link_args=["-fopenmp"])

setup(
    name="simple_knn",
    version="1.0.0",
    description="Exact k nearest neighbours of 3D points for Gaussian Splatting (C++ / CUDA)",
    packages=["simple_knn"],
    ext_modules=[extension, emulated],
    cmdclass={"build_ext": BuildExtension},
)
