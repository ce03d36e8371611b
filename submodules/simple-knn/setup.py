"""Builds simple_knn._C: the C++ (OpenMP) path always, the CUDA path when torch has CUDA or
FORCE_CUDA=1. Install with `pip install --no-build-isolation ./submodules/simple-knn` so that it
compiles against the installed torch."""
import os

import torch
from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(HERE, "csrc")
CPP_SOURCES = [os.path.join("csrc", name) for name in ("ext.cpp", "kdtree.cpp", "knn_cpu.cpp")]
CXX_FLAGS = ["-O3", "-std=c++17", "-fopenmp"]
# No fused multiply-add on the device: distances then round exactly as on the CPU.
NVCC_FLAGS = ["-O3", "-std=c++17", "--fmad=false"]

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

setup(
    name="simple_knn",
    version="1.0.0",
    description="Exact k nearest neighbours of 3D points for Gaussian Splatting (C++ / CUDA)",
    packages=["simple_knn"],
    ext_modules=[extension],
    cmdclass={"build_ext": BuildExtension},
)
