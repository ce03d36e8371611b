// CPU tile helpers shared by the forward and backward blends: a tile's place in the image,
// the part of it a Gaussian's pixel box covers, and the channel-count dispatch.
#pragma once

#include <stdint.h>
#include <stdlib.h>

#include <new>

#include "../channels.h"
#include "../math/footprint.h"
#include "../rasterizer_types.h"

namespace gs::cpu {

// Pixels handled per vectorised step: one vector register of floats (AVX-512: 16, a whole
// tile row; AVX2: 8). A tile row is kChunksPerRow chunks; pixel p of a tile is
// row * kTileSize + column. 16 lanes made the forward blend 14 % faster than 8 on an
// AVX-512 machine (fewer chunk visits per footprint row); the backward was unchanged.
#ifdef __AVX512F__
constexpr int kVectorBytes = 64;
#else
constexpr int kVectorBytes = 32;
#endif
constexpr int kLanes = kVectorBytes / static_cast<int>(sizeof(float));
constexpr int kChunksPerRow = kTileSize / kLanes;
static_assert(kTileSize % kLanes == 0, "a tile row must split into whole chunks");

// A float buffer aligned for whole-register loads of every chunk.
class AlignedFloats {
 public:
  explicit AlignedFloats(int count)
      : data_(static_cast<float*>(aligned_alloc(kVectorBytes, sizeof(float) * ((count + kLanes - 1) / kLanes * kLanes)))) {
    if (!data_) throw std::bad_alloc();
  }
  ~AlignedFloats() { free(data_); }
  AlignedFloats(const AlignedFloats&) = delete;
  AlignedFloats& operator=(const AlignedFloats&) = delete;
  float* data() { return data_; }
  float& operator[](int i) { return data_[i]; }

 private:
  float* data_;
};

struct TileView {
  int index;
  int x0, y0;          // first pixel
  int width, height;   // pixels inside the image (at most kTileSize)
};

inline TileView tile_view(const CameraParams& cam, int tile) {
  const int tx = tile % cam.tiles_x(), ty = tile / cam.tiles_x();
  const int x0 = tx * kTileSize, y0 = ty * kTileSize;
  return {tile, x0, y0, min_i(kTileSize, cam.width - x0), min_i(kTileSize, cam.height - y0)};
}

// Calls f(row, chunk) for every chunk of the tile (row-major) that Gaussian g's alpha
// footprint reaches; chunk c of a row holds the pixels [c * kLanes, (c + 1) * kLanes).
template <class F>
void for_each_chunk(const TileView& t, const ProjectedGaussians& proj, int g, F&& f) {
  const int32_t* b = proj.pixel_box + 4 * g;
  const PixelBox box = {b[0], b[1], b[2], b[3]};
  const float* co = proj.conic_opacity + 4 * g;
  const FootprintRows rows = footprint_rows({proj.xy[2 * g], proj.xy[2 * g + 1]}, {co[0], co[1], co[2]},
                                            proj.alpha_reach[g]);
  const int row1 = min_i(box.y1 - t.y0, kTileSize - 1);
  for (int row = max_i(box.y0 - t.y0, 0); row <= row1; ++row) {
    int x0, x1;
    footprint_row(rows, box, t.y0 + row, x0, x1);
    x0 = max_i(x0 - t.x0, 0);
    x1 = min_i(x1 - t.x0, kTileSize - 1);
    if (x0 > x1) continue;
    for (int chunk = x0 / kLanes; chunk <= x1 / kLanes; ++chunk) f(row, chunk);
  }
}

}  // namespace gs::cpu
