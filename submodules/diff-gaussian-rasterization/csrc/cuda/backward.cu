// CUDA backward as 3DGS's: one thread per pixel walks its tile's Gaussians back to front
// (undoing the forward's transmittance), adding each pair's gradients into per-Gaussian
// sums with atomics; then one thread per Gaussian chains them through preprocessing with
// the shared preprocess_gaussian_vjp. (The CPU path gets the same sums without atomics.)
#include "../channels.h"
#include "../math/blend.h"
#include "../math/preprocess.h"
#include "../rasterizer.h"
#include "cuda_check.h"
#include "tile_pixel.cuh"

namespace gs::cuda {
namespace {

// Per-Gaussian sums of the pair gradients: C feature gradients, then these.
enum SplatField { kSplatX, kSplatY, kSplatConicXX, kSplatConicXY, kSplatConicYY, kSplatOpacity, kSplatExtra };

template <class Ch>
__global__ void render_backward_kernel(Ch ch, CameraParams cam, ProjectedGaussians proj, TileBins bins,
                                       const float* bg, ImageBuffers image, ImageGradients grad, float* splat) {
  __shared__ SharedBatch batch;
  const int C = ch();
  const int R = C + kSplatExtra;
  const auto [tile, px, py, thread, inside, plane, pix, begin, end] = locate_tile_pixel(cam, bins);

  // Fixed channel counts keep the pixel's upstream gradients in registers; any other count
  // reads them from the gradient planes.
  float dL_dpix[Ch::kCompileTime > 0 ? Ch::kCompileTime : 1];
  if (Ch::kCompileTime > 0)
    for (int c = 0; c < C; ++c) dL_dpix[c] = inside ? grad.channel(c, plane)[pix] : 0.f;
  float bg_dot = 0.f;
  for (int c = 0; c < 3 && inside; ++c) bg_dot += bg[c] * grad.color[c * plane + pix];
  const float dL_dalpha_out = inside ? grad.alpha[pix] : 0.f;
  const float final_T = inside ? image.final_T[pix] : 1.f;
  const int32_t last = inside ? image.n_contrib[pix] : 0;

  float T = final_T, behind = 0.f, next_alpha = 0.f, next_dot = 0.f;
  // Batches from the back of the list; within a batch, back to front.
  for (int stop = end; stop > begin; stop -= kTilePixels) {
    const int start = max(begin, stop - kTilePixels);
    __syncthreads();
    const int j = start + thread;
    if (j < stop) batch.load(thread, bins.gaussian[j], proj);
    __syncthreads();
    for (int k = stop - start - 1; k >= 0; --k) {
      if (start + k - begin >= last) continue;
      const float* co = &batch.conic_opacity[4 * k];
      const Sym2 conic = {co[0], co[1], co[2]};
      const float dx = batch.x[k] - px, dy = batch.y[k] - py;
      const float power = splat_power(conic, dx, dy);
      const float G = splat_gaussian(power);
      const float raw_alpha = co[3] * G;
      if (!splat_hits(power, raw_alpha)) continue;
      const float alpha = splat_alpha(raw_alpha);
      T = T / (1.f - alpha);
      const float w = alpha * T;
      const int g = batch.id[k];
      const float* f = proj.features + static_cast<int64_t>(C) * g;
      float* out = splat + static_cast<int64_t>(R) * g;
      float dot = 0.f;
      for (int c = 0; c < C; ++c) {
        const float dL_dc = Ch::kCompileTime > 0 ? dL_dpix[c] : grad.channel(c, plane)[pix];
        dot = fmaf(f[c], dL_dc, dot);
        atomicAdd(&out[c], w * dL_dc);
      }
      behind = behind_update(next_alpha, next_dot, behind);
      const float dL_dalpha = alpha_gradient(T, alpha, dot, behind, final_T, dL_dalpha_out, bg_dot);
      next_alpha = alpha;
      next_dot = dot;
      Vec2 dL_dxy;
      Sym2 dL_dconic;
      power_moments_vjp(conic, power_moments(power_gradient(dL_dalpha, raw_alpha), dx, dy), dL_dxy, dL_dconic);
      atomicAdd(&out[C + kSplatX], dL_dxy.x);
      atomicAdd(&out[C + kSplatY], dL_dxy.y);
      atomicAdd(&out[C + kSplatConicXX], dL_dconic.xx);
      atomicAdd(&out[C + kSplatConicXY], dL_dconic.xy);
      atomicAdd(&out[C + kSplatConicYY], dL_dconic.yy);
      atomicAdd(&out[C + kSplatOpacity], opacity_gradient(dL_dalpha, raw_alpha, G));
    }
  }
}

__global__ void preprocess_backward_kernel(int channels, CameraParams cam, GaussianParams in,
                                           ProjectedGaussians proj, const float* splat, GaussianGradients out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= in.count) return;
  const float* s = splat + static_cast<int64_t>(channels + kSplatExtra) * i;
  const float* e = s + channels;
  const SplatGradient g = {{e[kSplatX], e[kSplatY]}, {e[kSplatConicXX], e[kSplatConicXY], e[kSplatConicYY]},
                           e[kSplatOpacity], s};
  preprocess_gaussian_vjp(i, cam, in, proj, g, out);
}

}  // namespace

void backward(const CameraParams& cam, const GaussianParams& in, const ProjectedGaussians& proj,
              const TileBins& bins, const float* bg, const ImageBuffers& image, const ImageGradients& grad,
              const GaussianGradients& out, const ScratchAllocator& scratch) {
  const int C = blend_channels(in.num_objects);
  const size_t splat_bytes = sizeof(float) * (C + kSplatExtra) * static_cast<size_t>(in.count);
  auto* splat = static_cast<float*>(scratch(splat_bytes));
  GS_CUDA_CHECK(cudaMemset(splat, 0, splat_bytes));
  const dim3 grid(cam.tiles_x(), cam.tiles_y()), block(kTileSize, kTileSize);
  with_channel_count(C, [&](auto ch) {
    GS_LAUNCH(render_backward_kernel, grid, block)(ch, cam, proj, bins, bg, image, grad, splat);
    GS_CUDA_CHECK_LAUNCH();
  });
  if (in.count > 0) {
    GS_LAUNCH(preprocess_backward_kernel, blocks_for(in.count), kThreadsPerBlock)(C, cam, in, proj, splat, out);
    GS_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace gs::cuda
