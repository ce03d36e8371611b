// CUDA binning as 3DGS: one (tile << 32 | depth bits) key per pair, a stable radix sort
// (ties keep the Gaussian order, as on the CPU), then each tile's [begin, end).
#include "../math/preprocess.h"
#include "../rasterizer.h"
#include "cuda_check.h"
#include "device_primitives.h"

namespace gs::cuda {
namespace {

__global__ void emit_pairs_kernel(CameraParams cam, int count, int channels, ProjectedGaussians proj,
                                  uint64_t* keys, int32_t* values) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const int32_t* r = proj.tile_rect + 4 * i;
  // View-space depth > 0.2, so its bit pattern sorts like the value.
  const uint64_t depth = float_bits(proj.features[static_cast<int64_t>(channels) * i + kDepthChannel]);
  int64_t pos = proj.pair_offsets[i];
  for (int ty = r[1]; ty < r[3]; ++ty)
    for (int tx = r[0]; tx < r[2]; ++tx) {
      keys[pos] = (static_cast<uint64_t>(ty * cam.tiles_x() + tx) << 32) | depth;
      values[pos] = i;
      ++pos;
    }
}

__global__ void tile_ranges_kernel(int64_t num_pairs, const uint64_t* keys, int32_t* tile_range) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= num_pairs) return;
  const int tile = static_cast<int>(keys[k] >> 32);
  if (k == 0 || static_cast<int>(keys[k - 1] >> 32) != tile) tile_range[2 * tile] = static_cast<int32_t>(k);
  if (k == num_pairs - 1 || static_cast<int>(keys[k + 1] >> 32) != tile)
    tile_range[2 * tile + 1] = static_cast<int32_t>(k + 1);
}

int highest_bit(unsigned int n) {
  int bits = 0;
  while (n >> bits) ++bits;
  return bits;
}

}  // namespace

void bin(const CameraParams& cam, int count, int channels, const ProjectedGaussians& proj, const TileBins& bins,
         const ScratchAllocator& scratch) {
  const int num_tiles = cam.tiles_x() * cam.tiles_y();
  GS_CUDA_CHECK(cudaMemset(bins.tile_range, 0, sizeof(int32_t) * 2 * num_tiles));
  const int pairs = static_cast<int>(bins.num_pairs);
  if (pairs == 0) return;
  auto* keys = static_cast<uint64_t*>(scratch(sizeof(uint64_t) * pairs));
  auto* sorted_keys = static_cast<uint64_t*>(scratch(sizeof(uint64_t) * pairs));
  auto* values = static_cast<int32_t*>(scratch(sizeof(int32_t) * pairs));
  GS_LAUNCH(emit_pairs_kernel, blocks_for(count), kThreadsPerBlock)(cam, count, channels, proj, keys, values);
  GS_CUDA_CHECK_LAUNCH();

  const int end_bit = 32 + highest_bit(static_cast<unsigned int>(num_tiles));
  sort_pairs(keys, sorted_keys, values, bins.gaussian, pairs, end_bit, scratch);
  GS_LAUNCH(tile_ranges_kernel, blocks_for(pairs), kThreadsPerBlock)(pairs, sorted_keys, bins.tile_range);
  GS_CUDA_CHECK_LAUNCH();
}

}  // namespace gs::cuda
