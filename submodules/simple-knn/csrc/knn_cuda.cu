// One thread per query, each running the same search as the CPU path (knn_math.h).
#include "knn_cuda.h"

#include <stdexcept>
#include <string>

namespace simple_knn {
namespace {

constexpr int kThreadsPerBlock = 128;

__global__ void knn_kernel(KdTreeView tree, const float* queries, int64_t num_queries,
                           bool self_query, int k, float* out_dist2, int64_t* out_index) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t < num_queries) query_row(tree, queries, t, self_query, k, out_dist2, out_index);
}

void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("simple_knn: ") + what + " failed: " +
                             cudaGetErrorString(status));
  }
}

}  // namespace

void knn_cuda(const KdTreeView& tree, const float* queries, int64_t num_queries, bool self_query,
              int k, float* out_dist2, int64_t* out_index, cudaStream_t stream) {
  if (num_queries == 0) return;
  const int64_t blocks = (num_queries + kThreadsPerBlock - 1) / kThreadsPerBlock;
  KNN_LAUNCH(knn_kernel, static_cast<unsigned int>(blocks), kThreadsPerBlock, stream)(
      tree, queries, num_queries, self_query, k, out_dist2, out_index);
  check_cuda(cudaGetLastError(), "knn_kernel launch");
}

}  // namespace simple_knn
