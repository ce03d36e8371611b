// Where a thread of a per-tile kernel stands (its tile, its pixel and the tile's range of
// depth-sorted Gaussians), and the block's shared-memory batch of those Gaussians. Shared by
// the forward blend and its backward.
#pragma once

#include <stdint.h>

#include "../rasterizer.h"

namespace gs::cuda {

struct TilePixel {
  int tile, px, py, thread;
  bool inside;
  int64_t plane, pix;
  int begin, end;
};

__device__ inline TilePixel locate_tile_pixel(const CameraParams& cam, const TileBins& bins) {
  TilePixel at;
  at.tile = blockIdx.y * cam.tiles_x() + blockIdx.x;
  at.px = blockIdx.x * kTileSize + threadIdx.x;
  at.py = blockIdx.y * kTileSize + threadIdx.y;
  at.thread = threadIdx.y * kTileSize + threadIdx.x;
  at.inside = at.px < cam.width && at.py < cam.height;
  at.plane = static_cast<int64_t>(cam.width) * cam.height;
  at.pix = static_cast<int64_t>(at.py) * cam.width + at.px;
  at.begin = bins.tile_range[2 * at.tile];
  at.end = bins.tile_range[2 * at.tile + 1];
  return at;
}

// Per-block copy of one batch of the tile's Gaussians.
struct SharedBatch {
  int32_t id[kTilePixels];
  float x[kTilePixels], y[kTilePixels];
  float conic_opacity[4 * kTilePixels];

  // Slot `slot` takes Gaussian `g`'s projected centre, conic and opacity.
  __device__ void load(int slot, int g, const ProjectedGaussians& proj) {
    id[slot] = g;
    x[slot] = proj.xy[2 * g];
    y[slot] = proj.xy[2 * g + 1];
    for (int k = 0; k < 4; ++k) conic_opacity[4 * slot + k] = proj.conic_opacity[4 * g + k];
  }
};

}  // namespace gs::cuda
