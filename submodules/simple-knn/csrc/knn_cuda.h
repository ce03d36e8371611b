// The CUDA path's entry point; plain C++ declarations so the torch binding can include it.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "knn_math.h"

namespace simple_knn {

// As knn_cpu, with every pointer (the tree's too) in device memory, on `stream`. Throws
// std::runtime_error naming the CUDA error if the launch fails.
void knn_cuda(const KdTreeView& tree, const float* queries, int64_t num_queries, bool self_query,
              int k, float* out_dist2, int64_t* out_index, cudaStream_t stream);

}  // namespace simple_knn
