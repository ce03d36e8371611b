// Plain structs of pointers and sizes passed between the torch binding and the CPU and CUDA
// drivers (no torch or CUDA types, so both compilers and both devices share them).
// Pointers are host memory for the CPU path and device memory for the CUDA path.
#pragma once

#include <stdint.h>

#include "math/common.h"

namespace gs {

// Channels blended per Gaussian: colour (3), view-space depth (1), then the D identity values.
constexpr int kDepthChannel = 3;
constexpr int kObjectChannel = 4;
GS_HD constexpr int blend_channels(int num_objects) { return kObjectChannel + num_objects; }

struct CameraParams {
  const float* viewmatrix;    // (4, 4) world_view_transform, row-vector convention
  const float* projmatrix;    // (4, 4) full_proj_transform
  const float* campos;        // (3,)
  int width, height;
  float tan_fovx, tan_fovy;
  float focal_x, focal_y;     // width / (2 tan_fovx), height / (2 tan_fovy)
  float scale_modifier;
  int sh_degree;
  GS_HD int tiles_x() const { return (width + kTileSize - 1) / kTileSize; }
  GS_HD int tiles_y() const { return (height + kTileSize - 1) / kTileSize; }
};

// Per-Gaussian inputs. Exactly one of shs / colors_precomp and one of
// (scales, rotations) / cov3D_precomp is non-null; objects is null when num_objects == 0.
struct GaussianParams {
  int count;
  const float* means3D;         // (N, 3)
  const float* opacities;       // (N,)
  const float* shs;             // (N, sh_coeffs, 3)
  int sh_coeffs;
  const float* colors_precomp;  // (N, 3)
  const float* objects;         // (N, num_objects)
  int num_objects;
  const float* scales;          // (N, 3)
  const float* rotations;       // (N, 4)
  const float* cov3D_precomp;   // (N, 6)
};

// What preprocessing computes per Gaussian.
struct ProjectedGaussians {
  float* xy;              // (N, 2) centre in pixels
  float* conic_opacity;   // (N, 4) conic xx, xy, yy and opacity
  float* features;        // (N, C) C = blend_channels(num_objects): rgb, depth, identity
  float* cov3D;           // (N, 6) world covariance used (computed or precomputed)
  uint8_t* clamped;       // (N,) bit c set where SH colour channel c was clamped at 0
  int32_t* radii;         // (N,) 0 when not rendered
  int32_t* pixel_box;     // (N, 4) inclusive x0, y0, x1, y1 where alpha can reach 1/255
  float* alpha_reach;     // (N,) AlphaFootprint::reach (math/footprint.h)
  int32_t* tile_rect;     // (N, 4) tiles x0, y0, x1, y1 (half-open) the Gaussian is binned to
  int64_t* pair_offsets;  // (N + 1,) exclusive prefix sum of the tile counts
};

// (tile, Gaussian) pairs, per tile in front-to-back order.
struct TileBins {
  int64_t num_pairs;
  int32_t* gaussian;      // (P,) Gaussian index of each pair
  int32_t* slot;          // (P,) the pair's position in Gaussian-major order (CPU backward)
  int32_t* tile_range;    // (num_tiles, 2) [begin, end) of each tile's pairs
};

// Rendered images and the per-pixel state the backward needs.
struct ImageBuffers {
  float* color;           // (3, H, W)
  float* depth;           // (1, H, W)
  float* objects;         // (D, H, W)
  float* final_T;         // (H, W)
  int32_t* n_contrib;     // (H, W) 1 + position in the tile list of the last blended Gaussian

  // The image plane of blended channel c (see blend_channels); plane = H * W.
  GS_HD float* channel(int c, int64_t plane) const {
    return c < kDepthChannel ? color + c * plane : c == kDepthChannel ? depth : objects + (c - kObjectChannel) * plane;
  }
};

// Upstream gradients of the four images.
struct ImageGradients {
  const float* color;     // (3, H, W)
  const float* depth;     // (1, H, W)
  const float* objects;   // (D, H, W)
  const float* alpha;     // (1, H, W)

  GS_HD const float* channel(int c, int64_t plane) const {
    return c < kDepthChannel ? color + c * plane : c == kDepthChannel ? depth : objects + (c - kObjectChannel) * plane;
  }
};

// Gradients with respect to the projected quantities of one Gaussian.
struct SplatGradient {
  Vec2 xy;                // pixel centre
  Sym2 conic;             // conic xx, xy (the single off-diagonal value), yy
  float opacity;
  const float* features;  // (C,)
};

// Gradients of the inputs (arrays like GaussianParams; null where the input is absent).
struct GaussianGradients {
  float* means3D;         // (N, 3)
  float* means2D;         // (N, 3) dL/d(NDC x, y), third column 0
  float* opacities;       // (N,)
  float* shs;             // (N, sh_coeffs, 3)
  float* colors_precomp;  // (N, 3)
  float* objects;         // (N, num_objects)
  float* scales;          // (N, 3)
  float* rotations;       // (N, 4)
  float* cov3D_precomp;   // (N, 6)
};

}  // namespace gs
