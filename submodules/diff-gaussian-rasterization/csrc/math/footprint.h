// Where a projected Gaussian lands: its 3-sigma radius and tile rectangle (3DGS), and the
// tighter box of pixels where its alpha can reach 1/255 (used only to skip work).
#pragma once

#include "common.h"

namespace gs {

// ceil(3 sqrt(larger eigenvalue)) with the eigenvalue's discriminant clamped at 0.1.
GS_HD float screen_radius(Sym2 cov, float det) {
  const float mid = 0.5f * (cov.xx + cov.yy);
  const float lambda = mid + sqrtf(max_f(kMinEigenGapSq, mid * mid - det));
  return ceilf(3.f * sqrtf(lambda));
}

// Tiles [x0, x1) x [y0, y1).
struct TileRect {
  int x0, y0, x1, y1;
  GS_HD int area() const { return (x1 - x0) * (y1 - y0); }
};

// C's truncating float -> int cast of 3DGS's getRect, clamped to [0, limit] first so that
// values beyond the int range behave like CUDA's saturating conversion.
GS_HD int tile_index(float v, int limit) {
  return static_cast<int>(min_f(static_cast<float>(limit), max_f(0.f, v)));
}

// 3DGS getRect: the tiles touched by the square of half-side radius around the centre.
GS_HD TileRect tile_rect(Vec2 centre, int radius, int tiles_x, int tiles_y) {
  return {tile_index((centre.x - radius) / kTileSize, tiles_x),
          tile_index((centre.y - radius) / kTileSize, tiles_y),
          tile_index((centre.x + radius + kTileSize - 1) / kTileSize, tiles_x),
          tile_index((centre.y + radius + kTileSize - 1) / kTileSize, tiles_y)};
}

// Inclusive pixel bounds.
struct PixelBox { int x0, y0, x1, y1; };

// Where alpha = min(0.99, o exp(power)) can reach 1/255: the pixels where the quadratic form
// d^T conic d is at most reach (d = mean - pixel), within box. reach = 2 ln(o / (1/255)),
// widened for the float rounding of the power, which grows with the conic's condition
// number. reach < 0: no bound (the conic is not positive definite or too ill-conditioned),
// box is the whole image. Only used to skip work, so it only has to be conservative.
struct AlphaFootprint {
  PixelBox box;
  float reach;
};

GS_HD AlphaFootprint alpha_footprint(Vec2 centre, Sym2 conic, float opacity, int width, int height) {
  const AlphaFootprint everything = {{0, 0, width - 1, height - 1}, -1.f};
  if (!(opacity >= kMinAlpha)) return {{0, 0, -1, -1}, 0.f};   // o G < 1/255 everywhere
  const double a = conic.xx, b = conic.xy, c = conic.yy;
  const double det = a * c - b * b;
  if (!(a > 0.0) || !(det > 0.0)) return everything;
  const double mid = 0.5 * (a + c);
  const double lambda_min = det / (mid + sqrt(max_d(0.0, mid * mid - det)));
  const double condition = (a + c + 2.0 * fabs(b)) / lambda_min;
  const double widen = 1e-5 * condition + 1e-4;
  if (!(widen < 0.25)) return everything;
  const double reach = 2.0 * log(static_cast<double>(opacity) / kMinAlpha) * (1.0 + widen) + 1e-3;
  const double half_x = sqrt(reach * c / det), half_y = sqrt(reach * a / det);
  // Clamp in floating point before converting, so huge boxes cannot overflow an int.
  const double lo_x = max_d(-1.0, floor(centre.x - half_x)), hi_x = min_d(width, ceil(centre.x + half_x));
  const double lo_y = max_d(-1.0, floor(centre.y - half_y)), hi_y = min_d(height, ceil(centre.y + half_y));
  return {{max_i(0, static_cast<int>(lo_x)), max_i(0, static_cast<int>(lo_y)), min_i(width - 1, static_cast<int>(hi_x)),
           min_i(height - 1, static_cast<int>(hi_y))},
          static_cast<float>(reach)};
}

// A footprint prepared for its rows: what footprint_row needs, so that a row costs one float
// square root. The row of pixel y is a dx^2 + 2 b dx dy + c dy^2 <= reach with dy = cy - y,
// dx = cx - x: |x - (cx + b / a dy)| <= sqrt(a reach - det dy^2) / a, det = a c - b^2.
struct FootprintRows {
  float centre_x, centre_y;
  float slope;      // b / a
  float a_reach;    // a reach
  float det;        // a c - b^2
  float inv_a;      // 1 / a
  bool bounded;     // false: every row is the box's columns (reach < 0)
};

GS_HD FootprintRows footprint_rows(Vec2 centre, Sym2 conic, float reach) {
  if (reach < 0.f) return {centre.x, centre.y, 0.f, 0.f, 0.f, 0.f, false};
  // In double, then rounded: det cancels for elongated footprints (condition up to the
  // 25000 alpha_footprint accepts).
  const double a = conic.xx, b = conic.xy, c = conic.yy;
  return {centre.x, centre.y, static_cast<float>(b / a), static_cast<float>(a * reach),
          static_cast<float>(a * c - b * b), static_cast<float>(1.0 / a), true};
}

// Beyond this many pixels from 0, a row's float span may be off by a pixel: the box's columns
// are taken instead (only needle-like footprints far wider than any image get there).
constexpr float kMaxRowSpan = 65536.f;

// Inclusive columns [x0, x1] of pixel row y inside the footprint (x0 > x1: none), with a
// pixel of margin on each side; the box's columns when the footprint has no bound. In float:
// the rounding of a_reach - det dy^2 is below 2^-22 a reach, and alpha_footprint's reach
// exceeds the 1/255 contour by at least 1e-3, so the span stays conservative.
GS_HD void footprint_row(const FootprintRows& f, const PixelBox& box, int y, int& x0, int& x1) {
  x0 = box.x0;
  x1 = box.x1;
  if (!f.bounded) return;
  const float dy = f.centre_y - static_cast<float>(y);
  const float disc = f.a_reach - f.det * dy * dy;
  if (disc < 0.f) {
    x0 = 1;
    x1 = 0;
    return;
  }
  const float mid = f.centre_x + f.slope * dy, half = sqrtf(disc) * f.inv_a;
  if (!(fabsf(mid) + half < kMaxRowSpan)) return;
  // |mid| + half < 65536: the int conversions cannot overflow.
  x0 = max_i(x0, static_cast<int>(floorf(mid - half)) - 1);
  x1 = min_i(x1, static_cast<int>(ceilf(mid + half)) + 1);
}

// The tiles of `rect` that overlap `box`: a Gaussian's tile list without the tiles where it
// cannot reach alpha 1/255 (dropping them changes no pixel).
GS_HD TileRect intersect_tiles(TileRect rect, PixelBox box) {
  if (box.x0 > box.x1 || box.y0 > box.y1) return {0, 0, 0, 0};
  TileRect r = {max_i(rect.x0, box.x0 / kTileSize), max_i(rect.y0, box.y0 / kTileSize),
                min_i(rect.x1, box.x1 / kTileSize + 1), min_i(rect.y1, box.y1 / kTileSize + 1)};
  if (r.x1 <= r.x0 || r.y1 <= r.y0) return {0, 0, 0, 0};
  return r;
}

}  // namespace gs
