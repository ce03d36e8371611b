// Error checking for CUDA runtime calls and kernel launches.
#pragma once

#include <cuda_runtime.h>

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

namespace gs::cuda {

constexpr int kThreadsPerBlock = 256;

inline unsigned int blocks_for(long long count) {
  return static_cast<unsigned int>((count + kThreadsPerBlock - 1) / kThreadsPerBlock);
}

}  // namespace gs::cuda
