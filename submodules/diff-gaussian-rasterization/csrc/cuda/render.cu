// CUDA forward blend as 3DGS's renderCUDA: one thread per pixel, one block per tile, the
// tile's Gaussians fetched into shared memory in batches, front to back per pixel, with
// the blend step of math/blend.h.
#include "../channels.h"
#include "../math/blend.h"
#include "../rasterizer.h"
#include "cuda_check.h"
#include "tile_pixel.cuh"

namespace gs::cuda {
namespace {

template <class Ch>
__global__ void render_kernel(Ch ch, CameraParams cam, ProjectedGaussians proj, TileBins bins, const float* bg,
                              ImageBuffers image) {
  __shared__ SharedBatch batch;
  const int C = ch();
  const auto [tile, px, py, thread, inside, plane, pix, begin, end] = locate_tile_pixel(cam, bins);

  // Fixed channel counts sum in registers; any other count sums in the output planes,
  // which belong to this thread's pixel alone.
  float sums[Ch::kCompileTime > 0 ? Ch::kCompileTime : 1];
  for (int c = 0; c < (Ch::kCompileTime > 0 ? C : 1); ++c) sums[c] = 0.f;
  if (Ch::kCompileTime == 0 && inside)
    for (int c = 0; c < C; ++c) image.channel(c, plane)[pix] = 0.f;

  float T = 1.f;
  int32_t last = 0;
  bool done = !inside;
  for (int start = begin; start < end; start += kTilePixels) {
    if (__syncthreads_count(done) == kTilePixels) break;
    const int j = start + thread;
    if (j < end) batch.load(thread, bins.gaussian[j], proj);
    __syncthreads();
    const int count = min(kTilePixels, end - start);
    for (int k = 0; !done && k < count; ++k) {
      const float* co = &batch.conic_opacity[4 * k];
      const float dx = batch.x[k] - px, dy = batch.y[k] - py;
      const float power = splat_power({co[0], co[1], co[2]}, dx, dy);
      const float raw_alpha = co[3] * splat_gaussian(power);
      if (!splat_hits(power, raw_alpha)) continue;
      const float alpha = splat_alpha(raw_alpha);
      const float test_T = T * (1.f - alpha);
      if (test_T < kMinTransmittance) {
        done = true;
        continue;
      }
      const float w = alpha * T;
      const float* f = proj.features + static_cast<int64_t>(C) * batch.id[k];
      if (Ch::kCompileTime > 0) {
        for (int c = 0; c < C; ++c) sums[c] = fmaf(f[c], w, sums[c]);
      } else {
        for (int c = 0; c < C; ++c) image.channel(c, plane)[pix] += f[c] * w;
      }
      T = test_T;
      last = start - begin + k + 1;
    }
    __syncthreads();
  }
  if (!inside) return;
  if (Ch::kCompileTime > 0)
    for (int c = 0; c < C; ++c) image.channel(c, plane)[pix] = sums[c];
  for (int c = 0; c < 3; ++c) image.color[c * plane + pix] += T * bg[c];
  image.final_T[pix] = T;
  image.n_contrib[pix] = last;
}

}  // namespace

void render(const CameraParams& cam, int num_objects, const ProjectedGaussians& proj, const TileBins& bins,
            const float* bg, const ImageBuffers& image) {
  const dim3 grid(cam.tiles_x(), cam.tiles_y()), block(kTileSize, kTileSize);
  with_channel_count(blend_channels(num_objects), [&](auto ch) {
    GS_LAUNCH(render_kernel, grid, block)(ch, cam, proj, bins, bg, image);
    GS_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace gs::cuda
