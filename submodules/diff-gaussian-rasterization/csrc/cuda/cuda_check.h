// Error checking for CUDA runtime calls and kernel launches, and the launch macro.
// With GS_CUDA_EMULATION the same sources compile as C++ against ../cuda_emulation (CPU).
#pragma once

#if defined(GS_CUDA_EMULATION)
#include "../cuda_emulation/cuda_emulation.h"
#else
#include <cuda_runtime.h>
#endif

#include <stdexcept>
#include <string>

namespace gs::cuda {

inline void check(cudaError_t status, const char* what, const char* file, int line) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string("diff_gaussian_rasterization CUDA error in ") + what + " at " + file + ":" +
                             std::to_string(line) + ": " + cudaGetErrorString(status));
}

}  // namespace gs::cuda

// Wraps every CUDA runtime call: throws with the call, the place and CUDA's message.
#define GS_CUDA_CHECK(call) ::gs::cuda::check((call), #call, __FILE__, __LINE__)
// After a kernel launch: reports launch errors.
#define GS_CUDA_CHECK_LAUNCH() ::gs::cuda::check(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

// Every kernel launches as `GS_LAUNCH(kernel, grid, block)(args...)`: `kernel<<<grid, block>>>`
// under nvcc, the emulated launch otherwise.
#if defined(GS_CUDA_EMULATION)
#define GS_LAUNCH(kernel, grid, block) CUDA_EMULATION_LAUNCH(kernel, grid, block)
#else
#define GS_LAUNCH(kernel, grid, block) kernel<<<(grid), (block)>>>
#endif

namespace gs::cuda {

constexpr int kThreadsPerBlock = 256;

inline unsigned int blocks_for(long long count) {
  return static_cast<unsigned int>((count + kThreadsPerBlock - 1) / kThreadsPerBlock);
}

}  // namespace gs::cuda
