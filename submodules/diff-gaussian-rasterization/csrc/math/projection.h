// Camera transforms of 3DGS: matrices arrive transposed (row-vector convention,
// `p_row @ M`), stored row-major in 16 floats, exactly as 3DGS's auxiliary.h reads them.
#pragma once

#include "common.h"

namespace gs {

// View-space point: first three columns of [p, 1] @ M.
GS_HD Vec3 transform_point_4x3(const float* M, Vec3 p) {
  return {M[0] * p.x + M[4] * p.y + M[8] * p.z + M[12],
          M[1] * p.x + M[5] * p.y + M[9] * p.z + M[13],
          M[2] * p.x + M[6] * p.y + M[10] * p.z + M[14]};
}

GS_HD Vec4 transform_point_4x4(const float* M, Vec3 p) {
  return {M[0] * p.x + M[4] * p.y + M[8] * p.z + M[12],
          M[1] * p.x + M[5] * p.y + M[9] * p.z + M[13],
          M[2] * p.x + M[6] * p.y + M[10] * p.z + M[14],
          M[3] * p.x + M[7] * p.y + M[11] * p.z + M[15]};
}

// Vector-Jacobian product of transform_point_4x3 with respect to p.
GS_HD Vec3 transform_point_4x3_vjp(const float* M, Vec3 dL_dt) {
  return {M[0] * dL_dt.x + M[1] * dL_dt.y + M[2] * dL_dt.z,
          M[4] * dL_dt.x + M[5] * dL_dt.y + M[6] * dL_dt.z,
          M[8] * dL_dt.x + M[9] * dL_dt.y + M[10] * dL_dt.z};
}

// Normalised device coordinates x, y of p (the perspective divide with 3DGS's epsilon).
GS_HD Vec2 project_to_ndc(const float* proj, Vec3 p) {
  const Vec4 h = transform_point_4x4(proj, p);
  const float inv_w = 1.0f / (h.w + kProjEps);
  return {h.x * inv_w, h.y * inv_w};
}

// dL/dp from dL/d(ndc x, y) through project_to_ndc.
GS_HD Vec3 project_to_ndc_vjp(const float* proj, Vec3 p, Vec2 dL_dndc) {
  const Vec4 h = transform_point_4x4(proj, p);
  const float inv_w = 1.0f / (h.w + kProjEps);
  // ndc_x = h.x * inv_w: d/dp = col_x * inv_w - h.x * inv_w^2 * col_w (likewise for y).
  const float gx = dL_dndc.x * inv_w, gy = dL_dndc.y * inv_w;
  const float gw = -(dL_dndc.x * h.x + dL_dndc.y * h.y) * inv_w * inv_w;
  return {proj[0] * gx + proj[1] * gy + proj[3] * gw,
          proj[4] * gx + proj[5] * gy + proj[7] * gw,
          proj[8] * gx + proj[9] * gy + proj[11] * gw};
}

// NDC in [-1, 1] -> pixel coordinate, pixel centres at integers.
GS_HD float ndc_to_pixel(float v, int size) { return ((v + 1.0f) * size - 1.0f) * 0.5f; }

// d pixel / d ndc.
GS_HD float ndc_to_pixel_scale(int size) { return 0.5f * size; }

}  // namespace gs
