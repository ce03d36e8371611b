// CPU forward blend: tiles in parallel; within a tile, Gaussians front to back, each one
// evaluated over the rows and kLanes-pixel chunks of its alpha box only, with the per-pixel
// state (T, liveness, last contributor) and the channel sums in tile-local arrays so that
// the loops over pixels vectorise.
#include <omp.h>

#include <algorithm>

#include "../math/blend.h"
#include "../rasterizer.h"
#include "tile.h"

namespace gs::cpu {
namespace {

struct ForwardScratch {
  explicit ForwardScratch(int channels) : sums(channels * kTilePixels) {}
  alignas(kVectorBytes) float T[kTilePixels];        // transmittance
  alignas(kVectorBytes) int32_t live[kTilePixels];   // 1 until the pixel ends (or outside the image: 0)
  alignas(kVectorBytes) int32_t last[kTilePixels];   // 1 + list position of the last blended Gaussian
  AlignedFloats sums;                      // (C, 256) sum_i w_i f_i
};

// Blends the Gaussians of one chunk; returns how many of its pixels ended.
// w receives each pixel's weight alpha T (0 where not blended), any_blended whether any is.
inline int blend_chunk(float mx, float my_minus_y, float x0, Sym2 conic, float opacity, int32_t order,
                       float* T, int32_t* live, int32_t* last, float* w, bool& any_blended) {
  int ended = 0, blended = 0;
#pragma omp simd reduction(+ : ended, blended) aligned(T, live, last, w : kVectorBytes)
  for (int l = 0; l < kLanes; ++l) {
    const float dx = mx - (x0 + l);
    const float power = splat_power(conic, dx, my_minus_y);
    const float raw_alpha = opacity * splat_gaussian(power);
    const float alpha = splat_alpha(raw_alpha);
    const bool hit = (live[l] != 0) & splat_hits(power, raw_alpha);
    const float test_T = T[l] * (1.f - alpha);
    const bool stop = hit & (test_T < kMinTransmittance);
    const bool blend = hit & !stop;
    w[l] = blend ? alpha * T[l] : 0.f;
    // Arithmetic rather than `x = c ? y : x`, which GCC turns into masked stores (slow on
    // AMD): T * (1 - alpha) is test_T bit for bit, and order exceeds every earlier last.
    T[l] = T[l] * (blend ? 1.f - alpha : 1.f);
    last[l] = max_i(last[l], blend ? order : 0);
    live[l] = live[l] & static_cast<int32_t>(!stop);
    ended += stop;
    blended += blend;
  }
  any_blended = blended > 0;
  return ended;
}

template <class Ch>
void render_tile(const CameraParams& cam, Ch ch, const ProjectedGaussians& proj, const TileBins& bins,
                 const float* bg, const ImageBuffers& image, const TileView& tile, ForwardScratch& s) {
  const int C = ch();
  int live_pixels = 0;
  for (int p = 0; p < kTilePixels; ++p) {
    const bool inside = (p % kTileSize) < tile.width && (p / kTileSize) < tile.height;
    s.T[p] = 1.f;
    s.live[p] = inside;
    s.last[p] = 0;
    live_pixels += inside;
  }
  std::fill_n(s.sums.data(), C * kTilePixels, 0.f);

  int live_in_chunk[kTilePixels / kLanes];
  for (int c = 0; c < kTilePixels / kLanes; ++c) {
    live_in_chunk[c] = 0;
    for (int l = 0; l < kLanes; ++l) live_in_chunk[c] += s.live[c * kLanes + l];
  }

  const int begin = bins.tile_range[2 * tile.index], end = bins.tile_range[2 * tile.index + 1];
  for (int j = begin; j < end && live_pixels > 0; ++j) {
    const int g = bins.gaussian[j];
    const float mx = proj.xy[2 * g], my = proj.xy[2 * g + 1];
    const float* co = proj.conic_opacity + 4 * g;
    const Sym2 conic = {co[0], co[1], co[2]};
    const float* f = proj.features + static_cast<int64_t>(C) * g;
    for_each_chunk(tile, proj, g, [&](int row, int chunk) {
      const int c = row * kChunksPerRow + chunk, p0 = c * kLanes;
      if (live_in_chunk[c] == 0) return;
      alignas(kVectorBytes) float w[kLanes];
      bool any_blended;
      const int ended = blend_chunk(mx, my - static_cast<float>(tile.y0 + row),
                                    static_cast<float>(tile.x0 + chunk * kLanes), conic, co[3], j - begin + 1,
                                    &s.T[p0], &s.live[p0], &s.last[p0], w, any_blended);
      live_in_chunk[c] -= ended;
      live_pixels -= ended;
      if (!any_blended) return;
      for (int k = 0; k < C; ++k) {
        float* sum = &s.sums[static_cast<size_t>(k) * kTilePixels + p0];
        const float fk = f[k];
#pragma omp simd aligned(sum, w : kVectorBytes)
        for (int l = 0; l < kLanes; ++l) sum[l] = fmaf(fk, w[l], sum[l]);
      }
    });
  }

  const int64_t plane = static_cast<int64_t>(cam.width) * cam.height;
  for (int row = 0; row < tile.height; ++row)
    for (int col = 0; col < tile.width; ++col) {
      const int p = row * kTileSize + col;
      const int64_t pix = static_cast<int64_t>(tile.y0 + row) * cam.width + tile.x0 + col;
      for (int k = 0; k < C; ++k) image.channel(k, plane)[pix] = s.sums[k * kTilePixels + p];
      for (int c = 0; c < 3; ++c) image.color[c * plane + pix] += s.T[p] * bg[c];
      image.final_T[pix] = s.T[p];
      image.n_contrib[pix] = s.last[p];
    }
}

}  // namespace

void render(const CameraParams& cam, int num_objects, const ProjectedGaussians& proj,
            const TileBins& bins, const float* bg, const ImageBuffers& image, int num_threads) {
  const int num_tiles = cam.tiles_x() * cam.tiles_y();
  with_channel_count(blend_channels(num_objects), [&](auto ch) {
#pragma omp parallel num_threads(num_threads)
    {
      ForwardScratch scratch(ch());
#pragma omp for schedule(dynamic, 1)
      for (int t = 0; t < num_tiles; ++t) render_tile(cam, ch, proj, bins, bg, image, tile_view(cam, t), scratch);
    }
  });
}

}  // namespace gs::cpu
