// CPU preprocessing and binning: per-Gaussian projection in parallel, then per-tile lists
// in front-to-back order from one stable radix sort of the depths and a counting sort by
// tile. Deterministic: the lists do not depend on the number of threads.
#include <omp.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include "../math/preprocess.h"
#include "../rasterizer.h"

namespace gs::cpu {

int64_t preprocess(const CameraParams& cam, const GaussianParams& in, const ProjectedGaussians& proj,
                   int num_threads) {
#pragma omp parallel for num_threads(num_threads) schedule(static)
  for (int i = 0; i < in.count; ++i) preprocess_gaussian(i, cam, in, proj);
  int64_t total = 0;
  for (int i = 0; i < in.count; ++i) {
    proj.pair_offsets[i] = total;
    total += tiles_touched(proj, i);
  }
  proj.pair_offsets[in.count] = total;
  if (total > INT32_MAX)
    throw std::runtime_error("diff_gaussian_rasterization: more than 2^31 (tile, Gaussian) pairs");
  return total;
}

namespace {

// Stable LSD radix sort of (key, value) by 32-bit key, 8 bits per pass; the result is
// back in keys / values (an even number of passes).
void radix_sort(uint32_t* keys, int32_t* values, int n, uint32_t* keys_tmp, int32_t* values_tmp) {
  for (int shift = 0; shift < 32; shift += 8) {
    int64_t count[257] = {0};
    for (int i = 0; i < n; ++i) ++count[((keys[i] >> shift) & 0xFF) + 1];
    for (int b = 0; b < 256; ++b) count[b + 1] += count[b];
    for (int i = 0; i < n; ++i) {
      const int64_t dst = count[(keys[i] >> shift) & 0xFF]++;
      keys_tmp[dst] = keys[i];
      values_tmp[dst] = values[i];
    }
    std::swap(keys, keys_tmp);
    std::swap(values, values_tmp);
  }
}

// Order-preserving key of a float (positive depths sort as their bit patterns; the flip
// makes it correct for any sign).
uint32_t float_sort_key(float f) {
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

}  // namespace

void bin(const CameraParams& cam, int count, int channels, const ProjectedGaussians& proj,
         const TileBins& bins, const ScratchAllocator& scratch, int num_threads) {
  const int num_tiles = cam.tiles_x() * cam.tiles_y();
  // Binned Gaussians sorted by view-space depth, ties by index.
  int visible = 0;
  for (int i = 0; i < count; ++i) visible += tiles_touched(proj, i) > 0;
  auto* keys = static_cast<uint32_t*>(scratch(sizeof(uint32_t) * 2 * visible));
  auto* order = static_cast<int32_t*>(scratch(sizeof(int32_t) * 2 * visible));
  for (int i = 0, v = 0; i < count; ++i) {
    if (tiles_touched(proj, i) == 0) continue;
    keys[v] = float_sort_key(proj.features[static_cast<int64_t>(channels) * i + kDepthChannel]);
    order[v++] = i;
  }
  radix_sort(keys, order, visible, keys + visible, order + visible);

  // Counting sort by tile. Each chunk of the depth order counts its pairs per tile; a
  // tile's pairs are laid out chunk after chunk, so the order within a tile stays the
  // depth order whatever the number of chunks.
  const int chunks = max_i(1, min_i(num_threads, visible));
  std::vector<int64_t> cursor(static_cast<size_t>(chunks) * num_tiles, 0);
  auto chunk_begin = [&](int c) { return static_cast<int>(static_cast<int64_t>(visible) * c / chunks); };
  auto for_each_tile = [&](int g, auto&& f) {
    const int32_t* r = proj.tile_rect + 4 * g;
    int k = 0;
    for (int ty = r[1]; ty < r[3]; ++ty)
      for (int tx = r[0]; tx < r[2]; ++tx) f(ty * cam.tiles_x() + tx, k++);
  };
#pragma omp parallel for num_threads(num_threads) schedule(static)
  for (int c = 0; c < chunks; ++c) {
    int64_t* counts = cursor.data() + static_cast<size_t>(c) * num_tiles;
    for (int v = chunk_begin(c); v < chunk_begin(c + 1); ++v)
      for_each_tile(order[v], [&](int tile, int) { ++counts[tile]; });
  }
  int64_t offset = 0;
  for (int tile = 0; tile < num_tiles; ++tile) {
    bins.tile_range[2 * tile] = static_cast<int32_t>(offset);
    for (int c = 0; c < chunks; ++c) {
      int64_t& n = cursor[static_cast<size_t>(c) * num_tiles + tile];
      const int64_t start = offset;
      offset += n;
      n = start;
    }
    bins.tile_range[2 * tile + 1] = static_cast<int32_t>(offset);
  }
#pragma omp parallel for num_threads(num_threads) schedule(static)
  for (int c = 0; c < chunks; ++c) {
    int64_t* next = cursor.data() + static_cast<size_t>(c) * num_tiles;
    for (int v = chunk_begin(c); v < chunk_begin(c + 1); ++v) {
      const int g = order[v];
      for_each_tile(g, [&](int tile, int k) {
        const int64_t pos = next[tile]++;
        bins.gaussian[pos] = g;
        bins.slot[pos] = static_cast<int32_t>(proj.pair_offsets[g] + k);
      });
    }
  }
}

}  // namespace gs::cpu
