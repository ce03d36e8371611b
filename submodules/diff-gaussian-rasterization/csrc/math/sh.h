// View-dependent colour from real spherical harmonics of degree 0..3 (3DGS's constants and
// signs), +0.5 and clamped at 0, and its vector-Jacobian product.
#pragma once

#include "common.h"

namespace gs {

constexpr int kMaxShCoeffs = 16;

GS_HD int sh_coeff_count(int degree) { return (degree + 1) * (degree + 1); }

// Basis functions Y_k(dir) for k < (degree + 1)^2 and, when grad is not null, their
// gradients with respect to the (unit) direction.
GS_HD void sh_basis(int degree, Vec3 d, float* Y, Vec3* grad) {
  const float C0 = 0.28209479177387814f, C1 = 0.4886025119029199f;
  const float C2[5] = {1.0925484305920792f, -1.0925484305920792f, 0.31539156525252005f,
                       -1.0925484305920792f, 0.5462742152960396f};
  const float C3[7] = {-0.5900435899266435f, 2.890611442640554f, -0.4570457994644658f,
                       0.3731763325901154f, -0.4570457994644658f, 1.445305721320277f,
                       -0.5900435899266435f};
  const float x = d.x, y = d.y, z = d.z;
  const float xx = x * x, yy = y * y, zz = z * z, xy = x * y, yz = y * z, xz = x * z;
  Y[0] = C0;
  if (grad) grad[0] = {0.f, 0.f, 0.f};
  if (degree < 1) return;
  Y[1] = -C1 * y;  Y[2] = C1 * z;  Y[3] = -C1 * x;
  if (grad) {
    grad[1] = {0.f, -C1, 0.f};
    grad[2] = {0.f, 0.f, C1};
    grad[3] = {-C1, 0.f, 0.f};
  }
  if (degree < 2) return;
  Y[4] = C2[0] * xy;
  Y[5] = C2[1] * yz;
  Y[6] = C2[2] * (2.f * zz - xx - yy);
  Y[7] = C2[3] * xz;
  Y[8] = C2[4] * (xx - yy);
  if (grad) {
    grad[4] = {C2[0] * y, C2[0] * x, 0.f};
    grad[5] = {0.f, C2[1] * z, C2[1] * y};
    grad[6] = {-2.f * C2[2] * x, -2.f * C2[2] * y, 4.f * C2[2] * z};
    grad[7] = {C2[3] * z, 0.f, C2[3] * x};
    grad[8] = {2.f * C2[4] * x, -2.f * C2[4] * y, 0.f};
  }
  if (degree < 3) return;
  Y[9] = C3[0] * y * (3.f * xx - yy);
  Y[10] = C3[1] * xy * z;
  Y[11] = C3[2] * y * (4.f * zz - xx - yy);
  Y[12] = C3[3] * z * (2.f * zz - 3.f * xx - 3.f * yy);
  Y[13] = C3[4] * x * (4.f * zz - xx - yy);
  Y[14] = C3[5] * z * (xx - yy);
  Y[15] = C3[6] * x * (xx - 3.f * yy);
  if (grad) {
    grad[9] = {C3[0] * 6.f * xy, C3[0] * 3.f * (xx - yy), 0.f};
    grad[10] = {C3[1] * yz, C3[1] * xz, C3[1] * xy};
    grad[11] = {C3[2] * -2.f * xy, C3[2] * (4.f * zz - xx - 3.f * yy), C3[2] * 8.f * yz};
    grad[12] = {C3[3] * -6.f * xz, C3[3] * -6.f * yz, C3[3] * (6.f * zz - 3.f * xx - 3.f * yy)};
    grad[13] = {C3[4] * (4.f * zz - 3.f * xx - yy), C3[4] * -2.f * xy, C3[4] * 8.f * xz};
    grad[14] = {C3[5] * 2.f * xz, C3[5] * -2.f * yz, C3[5] * (xx - yy)};
    grad[15] = {C3[6] * 3.f * (xx - yy), C3[6] * -6.f * xy, 0.f};
  }
}

// Unit vector from the camera centre to the mean.
GS_HD Vec3 view_direction(Vec3 mean, Vec3 campos) {
  const Vec3 v = mean - campos;
  const float len = sqrtf(dot(v, v));
  return {v.x / len, v.y / len, v.z / len};
}

// RGB of SH coefficients sh (K x 3, K >= (degree + 1)^2) seen from campos. Bit c of
// *clamped is set where channel c was clamped at 0 (its gradient is then zero).
GS_HD Vec3 sh_to_rgb(int degree, const float* sh, Vec3 mean, Vec3 campos, uint8_t* clamped) {
  const Vec3 dir = view_direction(mean, campos);
  float Y[kMaxShCoeffs];
  sh_basis(degree, dir, Y, nullptr);
  float rgb[3] = {0.f, 0.f, 0.f};
  for (int k = 0; k < sh_coeff_count(degree); ++k)
    for (int ch = 0; ch < 3; ++ch) rgb[ch] += Y[k] * sh[3 * k + ch];
  uint8_t mask = 0;
  for (int ch = 0; ch < 3; ++ch) {
    rgb[ch] += 0.5f;
    if (rgb[ch] < 0.f) {
      mask |= static_cast<uint8_t>(1u << ch);
      rgb[ch] = 0.f;
    }
  }
  *clamped = mask;
  return {rgb[0], rgb[1], rgb[2]};
}

// Backward of sh_to_rgb: writes dL/dsh (K x 3; coefficients above the degree get 0) and
// returns the part of dL/dmean that flows through the viewing direction.
GS_HD Vec3 sh_to_rgb_vjp(int degree, int num_coeffs, const float* sh, Vec3 mean, Vec3 campos,
                         uint8_t clamped, Vec3 dL_drgb, float* dL_dsh) {
  const float g[3] = {(clamped & 1u) ? 0.f : dL_drgb.x, (clamped & 2u) ? 0.f : dL_drgb.y,
                      (clamped & 4u) ? 0.f : dL_drgb.z};
  const Vec3 v = mean - campos;
  const float len = sqrtf(dot(v, v));
  const Vec3 dir = view_direction(mean, campos);
  float Y[kMaxShCoeffs];
  Vec3 dY[kMaxShCoeffs];
  sh_basis(degree, dir, Y, dY);
  Vec3 dL_ddir = {0.f, 0.f, 0.f};
  for (int k = 0; k < num_coeffs; ++k) {
    if (k >= sh_coeff_count(degree)) {
      for (int ch = 0; ch < 3; ++ch) dL_dsh[3 * k + ch] = 0.f;
      continue;
    }
    float dL_dY = 0.f;
    for (int ch = 0; ch < 3; ++ch) {
      dL_dsh[3 * k + ch] = Y[k] * g[ch];
      dL_dY += sh[3 * k + ch] * g[ch];
    }
    dL_ddir = dL_ddir + dL_dY * dY[k];
  }
  // dir = v / |v|: dL/dv = (dL/ddir - dir (dir . dL/ddir)) / |v|.
  return (1.f / len) * (dL_ddir - dot(dir, dL_ddir) * dir);
}

}  // namespace gs
