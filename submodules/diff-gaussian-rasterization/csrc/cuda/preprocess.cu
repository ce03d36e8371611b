// CUDA preprocessing: one thread per Gaussian runs the shared preprocess_gaussian, then an
// exclusive scan of the tile counts gives each Gaussian's first pair.
#include "../math/preprocess.h"
#include "../rasterizer.h"
#include "cuda_check.h"
#include "device_primitives.h"

namespace gs::cuda {
namespace {

__global__ void preprocess_kernel(CameraParams cam, GaussianParams in, ProjectedGaussians proj, int64_t* counts) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= in.count) return;
  preprocess_gaussian(i, cam, in, proj);
  counts[i] = tiles_touched(proj, i);
}

}  // namespace

int64_t preprocess(const CameraParams& cam, const GaussianParams& in, const ProjectedGaussians& proj,
                   const ScratchAllocator& scratch) {
  const int n = in.count;
  // counts[n] = 0, so the exclusive scan of n + 1 entries ends with the total.
  auto* counts = static_cast<int64_t*>(scratch(sizeof(int64_t) * (n + 1)));
  GS_CUDA_CHECK(cudaMemset(counts + n, 0, sizeof(int64_t)));
  if (n > 0) {
    GS_LAUNCH(preprocess_kernel, blocks_for(n), kThreadsPerBlock)(cam, in, proj, counts);
    GS_CUDA_CHECK_LAUNCH();
  }
  exclusive_sum(counts, proj.pair_offsets, n + 1, scratch);
  int64_t total = 0;
  GS_CUDA_CHECK(cudaMemcpy(&total, proj.pair_offsets + n, sizeof(int64_t), cudaMemcpyDeviceToHost));
  if (total > INT32_MAX)
    throw std::runtime_error("diff_gaussian_rasterization: more than 2^31 (tile, Gaussian) pairs");
  return total;
}

}  // namespace gs::cuda
