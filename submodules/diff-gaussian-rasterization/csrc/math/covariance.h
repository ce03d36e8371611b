// 3D covariance from scale and rotation, EWA projection to a 2D covariance, its inverse
// (the conic), and the vector-Jacobian products of all three. Forward arithmetic follows
// 3DGS's forward.cu; the backward is the exact derivative of that forward (3DGS's backward
// drops the 0.99 alpha clamp, the Jacobian clamp's t.z term and the scale modifier).
#pragma once

#include "common.h"

namespace gs {

// Rotation matrix of a quaternion (w, x, y, z) used as given, not normalised (as 3DGS).
GS_HD Mat3 quaternion_matrix(Vec4 q) {
  const float r = q.x, x = q.y, y = q.z, z = q.w;
  return {{{1.f - 2.f * (y * y + z * z), 2.f * (x * y - r * z), 2.f * (x * z + r * y)},
           {2.f * (x * y + r * z), 1.f - 2.f * (x * x + z * z), 2.f * (y * z - r * x)},
           {2.f * (x * z - r * y), 2.f * (y * z + r * x), 1.f - 2.f * (x * x + y * y)}}};
}

// Sigma = L L^T with L = R diag(modifier * scale).
GS_HD Sym3 covariance_3d(Vec3 scale, float modifier, Vec4 rotation) {
  const Mat3 R = quaternion_matrix(rotation);
  const float s[3] = {modifier * scale.x, modifier * scale.y, modifier * scale.z};
  Mat3 L;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) L.m[i][j] = R.m[i][j] * s[j];
  const Mat3 S = matmul(L, transpose(L));
  return {S.m[0][0], S.m[0][1], S.m[0][2], S.m[1][1], S.m[1][2], S.m[2][2]};
}

// Gradients of scale and rotation from dL/dcov3D. dL_dcov3D holds the gradient of each of
// the six stored entries; an off-diagonal entry stands for both of its matrix positions.
GS_HD void covariance_3d_vjp(Vec3 scale, float modifier, Vec4 rotation, Sym3 dL_dcov3D,
                             Vec3& dL_dscale, Vec4& dL_drotation) {
  const Mat3 R = quaternion_matrix(rotation);
  const float s[3] = {modifier * scale.x, modifier * scale.y, modifier * scale.z};
  // Symmetric matrix gradient: the stored off-diagonal gradient splits over both positions.
  const Mat3 G = {{{dL_dcov3D.xx, 0.5f * dL_dcov3D.xy, 0.5f * dL_dcov3D.xz},
                   {0.5f * dL_dcov3D.xy, dL_dcov3D.yy, 0.5f * dL_dcov3D.yz},
                   {0.5f * dL_dcov3D.xz, 0.5f * dL_dcov3D.yz, dL_dcov3D.zz}}};
  // Sigma = L L^T, L = R diag(s): dL/dL = 2 G L, then dL/dR_ij = dL/dL_ij s_j and
  // dL/ds_j = sum_i dL/dL_ij R_ij.
  Mat3 L;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) L.m[i][j] = R.m[i][j] * s[j];
  const Mat3 GL = matmul(G, L);
  Mat3 dR;
  float ds[3] = {0.f, 0.f, 0.f};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      const float dL_ij = 2.f * GL.m[i][j];
      dR.m[i][j] = dL_ij * s[j];
      ds[j] += dL_ij * R.m[i][j];
    }
  dL_dscale = {ds[0] * modifier, ds[1] * modifier, ds[2] * modifier};
  // d R / d (r, x, y, z) of quaternion_matrix.
  const float r = rotation.x, x = rotation.y, y = rotation.z, z = rotation.w;
  const float(&d)[3][3] = dR.m;
  dL_drotation.x = 2.f * (-z * d[0][1] + y * d[0][2] + z * d[1][0] - x * d[1][2] - y * d[2][0] + x * d[2][1]);
  dL_drotation.y = 2.f * (y * d[0][1] + z * d[0][2] + y * d[1][0] - 2.f * x * d[1][1] - r * d[1][2] +
                          z * d[2][0] + r * d[2][1] - 2.f * x * d[2][2]);
  dL_drotation.z = 2.f * (-2.f * y * d[0][0] + x * d[0][1] + r * d[0][2] + x * d[1][0] + z * d[1][2] -
                          r * d[2][0] + z * d[2][1] - 2.f * y * d[2][2]);
  dL_drotation.w = 2.f * (-2.f * z * d[0][0] - r * d[0][1] + x * d[0][2] + r * d[1][0] - 2.f * z * d[1][1] +
                          y * d[1][2] + x * d[2][0] + y * d[2][1]);
}

// The local affine approximation of the perspective projection at view-space point t:
// J = [[j00, 0, j02], [0, j11, j12]], evaluated (as 3DGS) at t pulled back inside 1.3x
// the field of view. The remaining fields are what its derivative needs.
struct EwaJacobian {
  float j00, j02, j11, j12;
  float inside_x, inside_y;   // 1 where t.x / t.z (t.y / t.z) was not clamped, else 0
  float clamped_tx, clamped_ty;
};

struct EwaCamera {
  const float* viewmatrix;    // 16 floats, transposed (row-vector convention)
  float focal_x, focal_y, tan_fovx, tan_fovy;
};

GS_HD EwaJacobian ewa_jacobian(const EwaCamera& cam, Vec3 t) {
  const float lim_x = kJacobianClamp * cam.tan_fovx;
  const float lim_y = kJacobianClamp * cam.tan_fovy;
  const float txtz = t.x / t.z;
  const float tytz = t.y / t.z;
  EwaJacobian J;
  J.clamped_tx = min_f(lim_x, max_f(-lim_x, txtz)) * t.z;
  J.clamped_ty = min_f(lim_y, max_f(-lim_y, tytz)) * t.z;
  J.inside_x = (txtz < -lim_x || txtz > lim_x) ? 0.f : 1.f;
  J.inside_y = (tytz < -lim_y || tytz > lim_y) ? 0.f : 1.f;
  J.j00 = cam.focal_x / t.z;
  J.j02 = -(cam.focal_x * J.clamped_tx) / (t.z * t.z);
  J.j11 = cam.focal_y / t.z;
  J.j12 = -(cam.focal_y * J.clamped_ty) / (t.z * t.z);
  return J;
}

// W[i][k]: the view rotation acting on column vectors (t_i = sum_k W[i][k] p_k + ...).
GS_HD Mat3 view_rotation(const float* V) {
  return {{{V[0], V[4], V[8]}, {V[1], V[5], V[9]}, {V[2], V[6], V[10]}}};
}

// Rows of M = J W (the 2x3 map from world offsets to pixel offsets).
GS_HD void ewa_rows(const EwaJacobian& J, const Mat3& W, float M0[3], float M1[3]) {
  for (int k = 0; k < 3; ++k) {
    M0[k] = J.j00 * W.m[0][k] + J.j02 * W.m[2][k];
    M1[k] = J.j11 * W.m[1][k] + J.j12 * W.m[2][k];
  }
}

// 2D covariance in pixels^2 of a Gaussian with world covariance cov3D at view-space point
// t: J W Sigma W^T J^T plus the 0.3 dilation on the diagonal.
GS_HD Sym2 covariance_2d(const EwaCamera& cam, Vec3 t, Sym3 cov3D) {
  const EwaJacobian J = ewa_jacobian(cam, t);
  float M0[3], M1[3];
  ewa_rows(J, view_rotation(cam.viewmatrix), M0, M1);
  const Mat3 S = sym3_matrix(cov3D);
  float P0[3], P1[3];   // rows of M Sigma
  for (int k = 0; k < 3; ++k) {
    P0[k] = M0[0] * S.m[0][k] + M0[1] * S.m[1][k] + M0[2] * S.m[2][k];
    P1[k] = M1[0] * S.m[0][k] + M1[1] * S.m[1][k] + M1[2] * S.m[2][k];
  }
  return {P0[0] * M0[0] + P0[1] * M0[1] + P0[2] * M0[2] + kDilation,
          P0[0] * M1[0] + P0[1] * M1[1] + P0[2] * M1[2],
          P1[0] * M1[0] + P1[1] * M1[1] + P1[2] * M1[2] + kDilation};
}

// Backward of covariance_2d: from dL/d(a, b, c) of the 2D covariance [[a, b], [b, c]] (b the
// single off-diagonal value) to dL/dt (view-space point) and dL/dcov3D (six stored entries).
GS_HD void covariance_2d_vjp(const EwaCamera& cam, Vec3 t, Sym3 cov3D, Sym2 dL_dcov2D,
                             Vec3& dL_dt, Sym3& dL_dcov3D) {
  const EwaJacobian J = ewa_jacobian(cam, t);
  const Mat3 W = view_rotation(cam.viewmatrix);
  float M0[3], M1[3];
  ewa_rows(J, W, M0, M1);
  const Mat3 S = sym3_matrix(cov3D);
  const float ga = dL_dcov2D.xx, gb = dL_dcov2D.xy, gc = dL_dcov2D.yy;

  // dL/dSigma = M^T G2 M with G2 = [[ga, gb / 2], [gb / 2, gc]]; off-diagonals doubled.
  float G[3][3];
  for (int k = 0; k < 3; ++k)
    for (int l = 0; l < 3; ++l)
      G[k][l] = ga * M0[k] * M0[l] + 0.5f * gb * (M0[k] * M1[l] + M1[k] * M0[l]) + gc * M1[k] * M1[l];
  dL_dcov3D = {G[0][0], 2.f * G[0][1], 2.f * G[0][2], G[1][1], 2.f * G[1][2], G[2][2]};

  // dL/dM = 2 G2 M Sigma.
  float P0[3], P1[3];
  for (int k = 0; k < 3; ++k) {
    P0[k] = M0[0] * S.m[0][k] + M0[1] * S.m[1][k] + M0[2] * S.m[2][k];
    P1[k] = M1[0] * S.m[0][k] + M1[1] * S.m[1][k] + M1[2] * S.m[2][k];
  }
  float dM0[3], dM1[3];
  for (int k = 0; k < 3; ++k) {
    dM0[k] = 2.f * ga * P0[k] + gb * P1[k];
    dM1[k] = gb * P0[k] + 2.f * gc * P1[k];
  }
  // M = J W: dL/dJ = dL/dM W^T, restricted to J's four non-zero entries.
  float dj00 = 0.f, dj02 = 0.f, dj11 = 0.f, dj12 = 0.f;
  for (int k = 0; k < 3; ++k) {
    dj00 += dM0[k] * W.m[0][k];
    dj02 += dM0[k] * W.m[2][k];
    dj11 += dM1[k] * W.m[1][k];
    dj12 += dM1[k] * W.m[2][k];
  }
  // j00 = fx / tz, j02 = -fx tx' / tz^2 with tx' = clamp(tx / tz) tz, whose derivative is
  // in_x with respect to tx and clamp(tx / tz) - in_x tx / tz with respect to tz.
  const float tz = t.z, inv_tz = 1.f / tz, inv_tz2 = inv_tz * inv_tz;
  const float fx = cam.focal_x, fy = cam.focal_y;
  const float dtxc_dtz = J.clamped_tx * inv_tz - J.inside_x * t.x * inv_tz;
  const float dtyc_dtz = J.clamped_ty * inv_tz - J.inside_y * t.y * inv_tz;
  const float dj02_dtz = 2.f * fx * J.clamped_tx * inv_tz2 * inv_tz - fx * inv_tz2 * dtxc_dtz;
  const float dj12_dtz = 2.f * fy * J.clamped_ty * inv_tz2 * inv_tz - fy * inv_tz2 * dtyc_dtz;
  dL_dt.x = dj02 * (-fx * inv_tz2 * J.inside_x);
  dL_dt.y = dj12 * (-fy * inv_tz2 * J.inside_y);
  dL_dt.z = dj00 * (-fx * inv_tz2) + dj11 * (-fy * inv_tz2) + dj02 * dj02_dtz + dj12 * dj12_dtz;
}

// Determinant of a 2D covariance (3DGS culls det == 0).
GS_HD float determinant(Sym2 c) { return c.xx * c.yy - c.xy * c.xy; }

// Conic (inverse 2D covariance) as 3DGS: det_inv times the adjugate.
GS_HD Sym2 conic_from_covariance(Sym2 cov, float det) {
  const float det_inv = 1.f / det;
  return {cov.yy * det_inv, -cov.xy * det_inv, cov.xx * det_inv};
}

// dL/dcov2D from dL/dconic (conic.xy is the single off-diagonal value, as in the blend).
GS_HD Sym2 conic_vjp(Sym2 cov, Sym2 dL_dconic) {
  const float a = cov.xx, b = cov.xy, c = cov.yy;
  const float det = a * c - b * b;
  const float inv_det2 = 1.f / (det * det);
  const float gx = dL_dconic.xx, gy = dL_dconic.xy, gz = dL_dconic.yy;
  return {inv_det2 * (-c * c * gx + b * c * gy - b * b * gz),
          inv_det2 * (2.f * b * c * gx - (det + 2.f * b * b) * gy + 2.f * a * b * gz),
          inv_det2 * (-b * b * gx + a * b * gy - a * a * gz)};
}

}  // namespace gs
