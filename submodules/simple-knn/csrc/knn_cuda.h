// The CUDA path's entry point; plain C++ declarations so the torch binding can include it.
// With KNN_CUDA_EMULATION, knn_cuda.cu compiles as C++ against the CUDA emulation layer
// (cuda_emulation.h of diff-gaussian-rasterization) and runs on host memory.
#pragma once

#include <cstdint>

#if defined(KNN_CUDA_EMULATION)
#include "cuda_emulation.h"
// `KNN_LAUNCH(kernel, grid, block, stream)(args...)`: the emulated kernel<<<grid, block, 0, stream>>>.
#define KNN_LAUNCH(kernel, grid, block, stream) CUDA_EMULATION_LAUNCH(kernel, grid, block, stream)
#else
#include <cuda_runtime.h>
#define KNN_LAUNCH(kernel, grid, block, stream) kernel<<<(grid), (block), 0, (stream)>>>
#endif

#include "knn_math.h"

namespace simple_knn {

// As knn_cpu, with every pointer (the tree's too) in device memory, on `stream`. Throws
// std::runtime_error naming the CUDA error if the launch fails. Emulated: host memory, and
// the stream is ignored (the launch is synchronous).
void knn_cuda(const KdTreeView& tree, const float* queries, int64_t num_queries, bool self_query,
              int k, float* out_dist2, int64_t* out_index, cudaStream_t stream);

}  // namespace simple_knn
