// CPU backward. Per tile (in parallel), Gaussians back to front as 3DGS, each over the rows
// and chunks of its alpha box; the gradients of one (tile, Gaussian) pair are summed over
// the tile's pixels and written to the pair's own record. Then, per Gaussian (in parallel),
// its records are added in a fixed order and chained through preprocessing. No atomics and
// no per-thread buffers, so the result is bitwise independent of the number of threads.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "../math/blend.h"
#include "../math/preprocess.h"
#include "../rasterizer.h"
#include "tile.h"

namespace gs::cpu {
namespace {

// A pair's record: C feature gradients, then these.
enum RecordField { kRecordX, kRecordY, kRecordConicXX, kRecordConicXY, kRecordConicYY, kRecordOpacity, kRecordExtra };

struct BackwardScratch {
  explicit BackwardScratch(int channels)
      : T(kTilePixels), final_T(kTilePixels), last(kTilePixels), behind(kTilePixels),
        next_alpha(kTilePixels), next_dot(kTilePixels), dL_dalpha_out(kTilePixels), bg_dot(kTilePixels),
        dL_dpix(static_cast<size_t>(channels) * kTilePixels), dL_dfeature(static_cast<size_t>(channels) * kLanes) {}
  std::vector<float> T;              // transmittance in front of the current Gaussian
  std::vector<float> final_T;
  std::vector<int32_t> last;         // forward's last contributor (0 outside the image)
  std::vector<float> behind;         // see alpha_gradient
  std::vector<float> next_alpha;     // alpha of the Gaussian blended after the current one
  std::vector<float> next_dot;       // its f . g
  std::vector<float> dL_dalpha_out;  // upstream gradient of the alpha image
  std::vector<float> bg_dot;         // bg . dL/dcolour
  std::vector<float> dL_dpix;        // (C, 256) upstream gradients of the channels
  std::vector<float> dL_dfeature;    // (C, 8) per-lane sums of w dL/dchannel of the pair
};

// The per-lane partial sums of one pair's geometric gradients.
struct LaneSums {
  float s_dx[kLanes], s_dy[kLanes], s_dxdx[kLanes], s_dxdy[kLanes], s_dydy[kLanes], opacity[kLanes];
};

template <class Ch>
void load_tile_gradients(const CameraParams& cam, Ch ch, const float* bg, const ImageBuffers& image,
                         const ImageGradients& grad, const TileView& tile, BackwardScratch& s) {
  const int C = ch();
  const int64_t plane = static_cast<int64_t>(cam.width) * cam.height;
  std::fill(s.dL_dpix.begin(), s.dL_dpix.end(), 0.f);
  for (int p = 0; p < kTilePixels; ++p) {
    const int row = p / kTileSize, col = p % kTileSize;
    const bool inside = col < tile.width && row < tile.height;
    const int64_t pix = static_cast<int64_t>(tile.y0 + row) * cam.width + tile.x0 + col;
    s.final_T[p] = inside ? image.final_T[pix] : 1.f;
    s.T[p] = s.final_T[p];
    s.last[p] = inside ? image.n_contrib[pix] : 0;
    s.behind[p] = s.next_alpha[p] = s.next_dot[p] = 0.f;
    s.dL_dalpha_out[p] = inside ? grad.alpha[pix] : 0.f;
    s.bg_dot[p] = 0.f;
    if (!inside) continue;
    for (int k = 0; k < C; ++k) s.dL_dpix[k * kTilePixels + p] = grad.channel(k, plane)[pix];
    for (int c = 0; c < 3; ++c) s.bg_dot[p] += bg[c] * grad.color[c * plane + pix];
  }
}

template <class Ch>
void backward_tile(Ch ch, const ProjectedGaussians& proj, const TileBins& bins,
                   const TileView& tile, float* records, BackwardScratch& s) {
  const int C = ch();
  const int R = C + kRecordExtra;
  const int begin = bins.tile_range[2 * tile.index], end = bins.tile_range[2 * tile.index + 1];
  // The last contributor of the tile and of each chunk: nothing after it needs a gradient.
  int max_last = 0, chunk_last[kTilePixels / kLanes];
  for (int c = 0; c < kTilePixels / kLanes; ++c) {
    chunk_last[c] = 0;
    for (int l = 0; l < kLanes; ++l) chunk_last[c] = max_i(chunk_last[c], s.last[c * kLanes + l]);
    max_last = max_i(max_last, chunk_last[c]);
  }
  for (int j = begin + max_last; j < end; ++j) std::fill_n(records + static_cast<int64_t>(bins.slot[j]) * R, R, 0.f);

  for (int j = begin + max_last - 1; j >= begin; --j) {
    float* record = records + static_cast<int64_t>(bins.slot[j]) * R;
    const int g = bins.gaussian[j];
    const float mx = proj.xy[2 * g], my = proj.xy[2 * g + 1];
    const float* co = proj.conic_opacity + 4 * g;
    const Sym2 conic = {co[0], co[1], co[2]};
    const float opacity = co[3];
    const float* f = proj.features + static_cast<int64_t>(C) * g;
    const int32_t position = j - begin;
    std::fill(s.dL_dfeature.begin(), s.dL_dfeature.end(), 0.f);
    LaneSums sums = {};

    for_each_chunk(tile, proj, g, [&](int row, int chunk) {
      const int c = row * kChunksPerRow + chunk, p0 = c * kLanes;
      if (position >= chunk_last[c]) return;
      const float dy = my - static_cast<float>(tile.y0 + row);
      const float x0 = static_cast<float>(tile.x0 + chunk * kLanes);
      float dx[kLanes], G[kLanes], raw[kLanes], alpha[kLanes], w[kLanes], dot[kLanes];
      int32_t valid[kLanes];
      int any = 0;
      float* T = &s.T[p0];
      // Undo this Gaussian's step of the forward for the pixels it was blended into.
#pragma omp simd reduction(+ : any)
      for (int l = 0; l < kLanes; ++l) {
        dx[l] = mx - (x0 + l);
        const float power = splat_power(conic, dx[l], dy);
        G[l] = splat_gaussian(power);
        raw[l] = opacity * G[l];
        alpha[l] = splat_alpha(raw[l]);
        const bool v = (position < s.last[p0 + l]) & splat_hits(power, raw[l]);
        T[l] = T[l] / (v ? 1.f - alpha[l] : 1.f);   // (a select of T itself would become a slow masked store)
        w[l] = v ? alpha[l] * T[l] : 0.f;
        valid[l] = v;
        any += v;
      }
      if (any == 0) return;
      for (int l = 0; l < kLanes; ++l) dot[l] = 0.f;
      for (int k = 0; k < C; ++k) {
        const float* gk = &s.dL_dpix[static_cast<size_t>(k) * kTilePixels + p0];
        float* dfk = &s.dL_dfeature[static_cast<size_t>(k) * kLanes];
        const float fk = f[k];
#pragma omp simd
        for (int l = 0; l < kLanes; ++l) {
          dot[l] = fmaf(fk, gk[l], dot[l]);
          dfk[l] = fmaf(w[l], gk[l], dfk[l]);
        }
      }
      float* behind = &s.behind[p0];
      float* next_alpha = &s.next_alpha[p0];
      float* next_dot = &s.next_dot[p0];
      const float* final_T = &s.final_T[p0];
      const float* dL_dalpha_out = &s.dL_dalpha_out[p0];
      const float* bg_dot = &s.bg_dot[p0];
      // Every load and store unconditional, the selects in registers: GCC turns a select
      // that may keep the stored value into masked loads and stores (slow on AMD).
      float new_behind[kLanes], new_alpha[kLanes], new_dot[kLanes];
#pragma omp simd
      for (int l = 0; l < kLanes; ++l) {
        const bool v = valid[l] != 0;
        const float old_behind = behind[l], old_alpha = next_alpha[l], old_dot = next_dot[l];
        const float b = behind_update(old_alpha, old_dot, old_behind);
        const float dL_dalpha_if_valid =
            alpha_gradient(T[l], alpha[l], dot[l], b, final_T[l], dL_dalpha_out[l], bg_dot[l]);
        const float dL_dalpha = v ? dL_dalpha_if_valid : 0.f;
        new_behind[l] = v ? b : old_behind;
        new_alpha[l] = v ? alpha[l] : old_alpha;
        new_dot[l] = v ? dot[l] : old_dot;
        const PowerMoments m = power_moments(power_gradient(dL_dalpha, raw[l]), dx[l], dy);
        sums.s_dx[l] += m.s_dx;
        sums.s_dy[l] += m.s_dy;
        sums.s_dxdx[l] += m.s_dxdx;
        sums.s_dxdy[l] += m.s_dxdy;
        sums.s_dydy[l] += m.s_dydy;
        sums.opacity[l] += opacity_gradient(dL_dalpha, raw[l], G[l]);
      }
      for (int l = 0; l < kLanes; ++l) {
        behind[l] = new_behind[l];
        next_alpha[l] = new_alpha[l];
        next_dot[l] = new_dot[l];
      }
    });

    // Lane sums in a fixed order: the record is the same however the loops vectorise.
    for (int k = 0; k < C; ++k) {
      float total = 0.f;
      for (int l = 0; l < kLanes; ++l) total += s.dL_dfeature[static_cast<size_t>(k) * kLanes + l];
      record[k] = total;
    }
    PowerMoments m = {0.f, 0.f, 0.f, 0.f, 0.f};
    float dL_dopacity = 0.f;
    for (int l = 0; l < kLanes; ++l) {
      m.s_dx += sums.s_dx[l];
      m.s_dy += sums.s_dy[l];
      m.s_dxdx += sums.s_dxdx[l];
      m.s_dxdy += sums.s_dxdy[l];
      m.s_dydy += sums.s_dydy[l];
      dL_dopacity += sums.opacity[l];
    }
    Vec2 dL_dxy;
    Sym2 dL_dconic;
    power_moments_vjp(conic, m, dL_dxy, dL_dconic);
    record[C + kRecordX] = dL_dxy.x;
    record[C + kRecordY] = dL_dxy.y;
    record[C + kRecordConicXX] = dL_dconic.xx;
    record[C + kRecordConicXY] = dL_dconic.xy;
    record[C + kRecordConicYY] = dL_dconic.yy;
    record[C + kRecordOpacity] = dL_dopacity;
  }
}

}  // namespace

void backward(const CameraParams& cam, const GaussianParams& in, const ProjectedGaussians& proj,
              const TileBins& bins, const float* bg, const ImageBuffers& image,
              const ImageGradients& grad, const GaussianGradients& out,
              const ScratchAllocator& scratch, int num_threads) {
  const int num_tiles = cam.tiles_x() * cam.tiles_y();
  const int C = blend_channels(in.num_objects);
  const int R = C + kRecordExtra;
  auto* records = static_cast<float*>(scratch(sizeof(float) * R * static_cast<size_t>(bins.num_pairs)));

  with_channel_count(C, [&](auto ch) {
#pragma omp parallel num_threads(num_threads)
    {
      BackwardScratch s(C);
#pragma omp for schedule(dynamic, 1)
      for (int t = 0; t < num_tiles; ++t) {
        const TileView tile = tile_view(cam, t);
        load_tile_gradients(cam, ch, bg, image, grad, tile, s);
        backward_tile(ch, proj, bins, tile, records, s);
      }
    }
  });

#pragma omp parallel num_threads(num_threads)
  {
    std::vector<float> dL_dfeature(C);
#pragma omp for schedule(static)
    for (int i = 0; i < in.count; ++i) {
      SplatGradient g = {{0.f, 0.f}, {0.f, 0.f, 0.f}, 0.f, dL_dfeature.data()};
      std::fill(dL_dfeature.begin(), dL_dfeature.end(), 0.f);
      for (int64_t slot = proj.pair_offsets[i]; slot < proj.pair_offsets[i + 1]; ++slot) {
        const float* r = records + slot * R;
        for (int k = 0; k < C; ++k) dL_dfeature[k] += r[k];
        g.xy.x += r[C + kRecordX];
        g.xy.y += r[C + kRecordY];
        g.conic.xx += r[C + kRecordConicXX];
        g.conic.xy += r[C + kRecordConicXY];
        g.conic.yy += r[C + kRecordConicYY];
        g.opacity += r[C + kRecordOpacity];
      }
      preprocess_gaussian_vjp(i, cam, in, proj, g, out);
    }
  }
}

}  // namespace gs::cpu
