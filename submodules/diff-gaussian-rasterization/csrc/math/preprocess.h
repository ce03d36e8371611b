// Per-Gaussian preprocessing (3DGS preprocessCUDA) and its backward, as functions of one
// index: the CPU loops over them with OpenMP, the CUDA kernels call them once per thread.
#pragma once

#include "../rasterizer_types.h"
#include "common.h"
#include "covariance.h"
#include "footprint.h"
#include "projection.h"
#include "sh.h"

namespace gs {

GS_HD EwaCamera ewa_camera(const CameraParams& cam) {
  return {cam.viewmatrix, cam.focal_x, cam.focal_y, cam.tan_fovx, cam.tan_fovy};
}

GS_HD Sym3 world_covariance(const CameraParams& cam, const GaussianParams& in, int i) {
  if (in.cov3D_precomp) return load_sym3(in.cov3D_precomp, i);
  return covariance_3d(load3(in.scales, i), cam.scale_modifier, load4(in.rotations, i));
}

// Marks Gaussian i as not rendered.
GS_HD void write_culled(const ProjectedGaussians& out, int i) {
  out.radii[i] = 0;
  for (int k = 0; k < 4; ++k) out.tile_rect[4 * i + k] = 0;
  out.pixel_box[4 * i + 0] = 0;
  out.pixel_box[4 * i + 1] = 0;
  out.pixel_box[4 * i + 2] = -1;
  out.pixel_box[4 * i + 3] = -1;
  out.alpha_reach[i] = 0.f;
  out.clamped[i] = 0;
}

// Projects Gaussian i: cull, covariance, conic, radius, tiles, colour and the blended
// features. radii, tile_rect, pixel_box, alpha_reach, clamped and cov3D are written for every Gaussian,
// the other fields only for rendered ones (nothing reads them for the others).
GS_HD void preprocess_gaussian(int i, const CameraParams& cam, const GaussianParams& in,
                               const ProjectedGaussians& out) {
  const Vec3 mean = load3(in.means3D, i);
  const Vec3 t = transform_point_4x3(cam.viewmatrix, mean);
  const Sym3 cov3D = world_covariance(cam, in, i);
  store_sym3(out.cov3D, i, cov3D);
  if (!(t.z > kNearZ)) return write_culled(out, i);   // 3DGS culls z <= 0.2 (and here NaN)

  const Sym2 cov2D = covariance_2d(ewa_camera(cam), t, cov3D);
  const float det = determinant(cov2D);
  if (det == 0.f) return write_culled(out, i);
  const Sym2 conic = conic_from_covariance(cov2D, det);
  const float radius = screen_radius(cov2D, det);
  if (!(radius < kMaxRadius)) return write_culled(out, i);   // non-finite input
  const Vec2 ndc = project_to_ndc(cam.projmatrix, mean);
  const Vec2 centre = {ndc_to_pixel(ndc.x, cam.width), ndc_to_pixel(ndc.y, cam.height)};
  const TileRect rect = tile_rect(centre, static_cast<int>(radius), cam.tiles_x(), cam.tiles_y());
  if (rect.area() == 0) return write_culled(out, i);

  const float opacity = in.opacities[i];
  const AlphaFootprint footprint = alpha_footprint(centre, conic, opacity, cam.width, cam.height);
  const PixelBox& box = footprint.box;
  const TileRect tiles = intersect_tiles(rect, box);

  const int channels = blend_channels(in.num_objects);
  float* f = out.features + static_cast<int64_t>(channels) * i;
  uint8_t clamped = 0;
  Vec3 rgb;
  if (in.colors_precomp) {
    rgb = load3(in.colors_precomp, i);
  } else {
    const Vec3 campos = {cam.campos[0], cam.campos[1], cam.campos[2]};
    rgb = sh_to_rgb(cam.sh_degree, in.shs + static_cast<int64_t>(3) * in.sh_coeffs * i, mean, campos, &clamped);
  }
  f[0] = rgb.x;
  f[1] = rgb.y;
  f[2] = rgb.z;
  f[kDepthChannel] = t.z;
  for (int k = 0; k < in.num_objects; ++k)
    f[kObjectChannel + k] = in.objects[static_cast<int64_t>(in.num_objects) * i + k];

  out.xy[2 * i] = centre.x;
  out.xy[2 * i + 1] = centre.y;
  store4(out.conic_opacity, i, {conic.xx, conic.xy, conic.yy, opacity});
  out.clamped[i] = clamped;
  out.radii[i] = static_cast<int32_t>(radius);
  out.pixel_box[4 * i + 0] = box.x0;
  out.pixel_box[4 * i + 1] = box.y0;
  out.pixel_box[4 * i + 2] = box.x1;
  out.pixel_box[4 * i + 3] = box.y1;
  out.alpha_reach[i] = footprint.reach;
  out.tile_rect[4 * i + 0] = tiles.x0;
  out.tile_rect[4 * i + 1] = tiles.y0;
  out.tile_rect[4 * i + 2] = tiles.x1;
  out.tile_rect[4 * i + 3] = tiles.y1;
}

GS_HD int tiles_touched(const ProjectedGaussians& p, int i) {
  const int32_t* r = p.tile_rect + 4 * i;
  return (r[2] - r[0]) * (r[3] - r[1]);
}

// Writes zero gradients for Gaussian i (used for the ones that were not rendered).
GS_HD void write_zero_gradients(int i, const GaussianParams& in, const GaussianGradients& out) {
  store3(out.means3D, i, {0.f, 0.f, 0.f});
  store3(out.means2D, i, {0.f, 0.f, 0.f});
  out.opacities[i] = 0.f;
  if (out.shs)
    for (int k = 0; k < 3 * in.sh_coeffs; ++k) out.shs[static_cast<int64_t>(3) * in.sh_coeffs * i + k] = 0.f;
  if (out.colors_precomp) store3(out.colors_precomp, i, {0.f, 0.f, 0.f});
  for (int k = 0; k < in.num_objects; ++k) out.objects[static_cast<int64_t>(in.num_objects) * i + k] = 0.f;
  if (out.scales) store3(out.scales, i, {0.f, 0.f, 0.f});
  if (out.rotations) store4(out.rotations, i, {0.f, 0.f, 0.f, 0.f});
  if (out.cov3D_precomp) store_sym3(out.cov3D_precomp, i, {0.f, 0.f, 0.f, 0.f, 0.f, 0.f});
}

// Backward of preprocess_gaussian for Gaussian i, from the gradients of its projected
// quantities. Writes every gradient array of `out` for index i.
GS_HD void preprocess_gaussian_vjp(int i, const CameraParams& cam, const GaussianParams& in,
                                   const ProjectedGaussians& proj, const SplatGradient& g,
                                   const GaussianGradients& out) {
  if (proj.radii[i] == 0) return write_zero_gradients(i, in, out);
  const Vec3 mean = load3(in.means3D, i);
  const Vec3 t = transform_point_4x3(cam.viewmatrix, mean);
  const Sym3 cov3D = load_sym3(proj.cov3D, i);

  // Centre: pixel -> NDC (the means2D gradient, as 3DGS) -> world.
  const Vec2 dL_dndc = {g.xy.x * ndc_to_pixel_scale(cam.width), g.xy.y * ndc_to_pixel_scale(cam.height)};
  store3(out.means2D, i, {dL_dndc.x, dL_dndc.y, 0.f});
  Vec3 dL_dmean = project_to_ndc_vjp(cam.projmatrix, mean, dL_dndc);

  // Conic -> 2D covariance -> (view-space point, world covariance).
  const Sym2 cov2D = covariance_2d(ewa_camera(cam), t, cov3D);
  Vec3 dL_dt;
  Sym3 dL_dcov3D;
  covariance_2d_vjp(ewa_camera(cam), t, cov3D, conic_vjp(cov2D, g.conic), dL_dt, dL_dcov3D);
  dL_dt.z += g.features[kDepthChannel];   // the depth channel is t.z
  dL_dmean = dL_dmean + transform_point_4x3_vjp(cam.viewmatrix, dL_dt);

  const Vec3 dL_drgb = {g.features[0], g.features[1], g.features[2]};
  if (in.colors_precomp) {
    store3(out.colors_precomp, i, dL_drgb);
  } else {
    const Vec3 campos = {cam.campos[0], cam.campos[1], cam.campos[2]};
    const int64_t base = static_cast<int64_t>(3) * in.sh_coeffs * i;
    dL_dmean = dL_dmean + sh_to_rgb_vjp(cam.sh_degree, in.sh_coeffs, in.shs + base, mean, campos,
                                        proj.clamped[i], dL_drgb, out.shs + base);
  }
  store3(out.means3D, i, dL_dmean);
  out.opacities[i] = g.opacity;
  for (int k = 0; k < in.num_objects; ++k)
    out.objects[static_cast<int64_t>(in.num_objects) * i + k] = g.features[kObjectChannel + k];

  if (in.cov3D_precomp) {
    store_sym3(out.cov3D_precomp, i, dL_dcov3D);
  } else {
    Vec3 dL_dscale;
    Vec4 dL_drot;
    covariance_3d_vjp(load3(in.scales, i), cam.scale_modifier, load4(in.rotations, i), dL_dcov3D,
                      dL_dscale, dL_drot);
    store3(out.scales, i, dL_dscale);
    store4(out.rotations, i, dL_drot);
  }
}

}  // namespace gs
