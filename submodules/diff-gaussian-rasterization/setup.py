"""Builds diff_gaussian_rasterization._C: C++/OpenMP only when torch has no CUDA (and
FORCE_CUDA is not 1), C++ plus the CUDA kernels otherwise; and always _C_emulated: the same
CUDA kernels compiled as C++ against csrc/cuda_emulation, run on CPU tensors."""
import glob
import os

import torch
from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension

CPU_SOURCES = ["csrc/bindings.cpp"] + sorted(glob.glob("csrc/cpu/*.cpp"))
CUDA_SOURCES = sorted(glob.glob("csrc/cuda/*.cu"))
# csrc/cuda/*.cu included as C++, with the standard library standing in for CUB.
EMULATED_SOURCES = sorted(glob.glob("csrc/cuda_emulation/*.cpp"))

# -march=native: the extension is compiled in place on the machine that runs it (make setup),
# so the blend loops may use its vector units (AVX2 + FMA here).
# -ffp-contract=off: the backward recomputes each alpha and must take the same skip / stop
# decisions as the forward bit for bit; explicit fmaf() marks the fused multiply-adds.
# -fno-trapping-math: lets the vectoriser evaluate masked-off lanes (no value changes).
# C++20: torch >= 2.14's headers require it (and the emulation layer uses std::atomic_ref).
CXX_FLAGS = ["-O3", "-std=c++20", "-fopenmp", "-march=native", "-ffp-contract=off", "-fno-trapping-math"]
NVCC_FLAGS = ["-O3", "-std=c++20", "--expt-relaxed-constexpr"]

with_cuda = torch.cuda.is_available() or os.environ.get("FORCE_CUDA") == "1"
if with_cuda:
    extension = CUDAExtension(
        "diff_gaussian_rasterization._C", CPU_SOURCES + CUDA_SOURCES,
        define_macros=[("GS_WITH_CUDA", None)],
        extra_compile_args={"cxx": CXX_FLAGS, "nvcc": NVCC_FLAGS}, extra_link_args=["-fopenmp"])
else:
    extension = CppExtension(
        "diff_gaussian_rasterization._C", CPU_SOURCES,
        extra_compile_args={"cxx": CXX_FLAGS}, extra_link_args=["-fopenmp"])

emulated = CppExtension(
    "diff_gaussian_rasterization._C_emulated", CPU_SOURCES + EMULATED_SOURCES,
    define_macros=[("GS_CUDA_EMULATION", None)],
    extra_compile_args={"cxx": CXX_FLAGS}, extra_link_args=["-fopenmp"])

setup(
    name="diff_gaussian_rasterization",
    version="1.0.0",
    description="Differentiable Gaussian rasterizer with identity channels (CPU OpenMP and CUDA)",
    packages=["diff_gaussian_rasterization"],
    ext_modules=[extension, emulated],
    cmdclass={"build_ext": BuildExtension},
)
