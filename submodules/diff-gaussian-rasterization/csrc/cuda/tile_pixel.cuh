// Where a thread of a per-tile kernel stands: its tile, its pixel and the tile's range of
// depth-sorted Gaussians. Shared by the forward blend and its backward.
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

}  // namespace gs::cuda
