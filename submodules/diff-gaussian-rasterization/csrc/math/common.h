// Small value types, constants and scalar helpers shared by the CPU and CUDA rasterizers.
// Everything here compiles under gcc (plain inline functions) and nvcc (__host__ __device__),
// so the CPU tests exercise exactly the arithmetic the CUDA kernels run.
#pragma once

#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define GS_HD __host__ __device__ __forceinline__
#else
#define GS_HD inline
#endif

namespace gs {

// The 3DGS constants (cuda_rasterizer/config.h, forward.cu, auxiliary.h).
constexpr int kTileSize = 16;                 // BLOCK_X = BLOCK_Y
constexpr int kTilePixels = kTileSize * kTileSize;
constexpr float kNearZ = 0.2f;                // cull view-space z <= kNearZ
constexpr float kJacobianClamp = 1.3f;        // t.x / t.z clamped to +-1.3 tan(fov / 2)
constexpr float kDilation = 0.3f;             // added to the 2D covariance diagonal
constexpr float kMinEigenGapSq = 0.1f;        // radius: discriminant clamped at 0.1
constexpr float kMaxAlpha = 0.99f;
constexpr float kMinAlpha = 1.0f / 255.0f;
constexpr float kMinTransmittance = 0.0001f;
constexpr float kProjEps = 0.0000001f;        // p_w = 1 / (w + kProjEps)
constexpr float kMaxRadius = 1e9f;            // larger (or NaN) radii come from non-finite inputs: culled

struct Vec2 { float x, y; };
struct Vec3 { float x, y, z; };
struct Vec4 { float x, y, z, w; };
// Symmetric 2x2 [[xx, xy], [xy, yy]] (a 2D covariance or conic).
struct Sym2 { float xx, xy, yy; };
// Symmetric 3x3 stored as 3DGS's cov3D: [xx, xy, xz, yy, yz, zz].
struct Sym3 { float xx, xy, xz, yy, yz, zz; };
// Row-major 3x3 matrix.
struct Mat3 { float m[3][3]; };

GS_HD Vec3 operator+(Vec3 a, Vec3 b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
GS_HD Vec3 operator-(Vec3 a, Vec3 b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
GS_HD Vec3 operator*(float s, Vec3 a) { return {s * a.x, s * a.y, s * a.z}; }
GS_HD float dot(Vec3 a, Vec3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }

GS_HD Vec3 load3(const float* p, int i) { return {p[3 * i], p[3 * i + 1], p[3 * i + 2]}; }
GS_HD Vec4 load4(const float* p, int i) { return {p[4 * i], p[4 * i + 1], p[4 * i + 2], p[4 * i + 3]}; }
GS_HD void store3(float* p, int i, Vec3 v) { p[3 * i] = v.x; p[3 * i + 1] = v.y; p[3 * i + 2] = v.z; }
GS_HD void store4(float* p, int i, Vec4 v) {
  p[4 * i] = v.x; p[4 * i + 1] = v.y; p[4 * i + 2] = v.z; p[4 * i + 3] = v.w;
}
GS_HD Sym3 load_sym3(const float* p, int i) {
  const float* q = p + 6 * i;
  return {q[0], q[1], q[2], q[3], q[4], q[5]};
}
GS_HD void store_sym3(float* p, int i, Sym3 s) {
  float* q = p + 6 * i;
  q[0] = s.xx; q[1] = s.xy; q[2] = s.xz; q[3] = s.yy; q[4] = s.yz; q[5] = s.zz;
}

GS_HD Mat3 sym3_matrix(Sym3 s) {
  return {{{s.xx, s.xy, s.xz}, {s.xy, s.yy, s.yz}, {s.xz, s.yz, s.zz}}};
}
GS_HD Mat3 transpose(const Mat3& a) {
  Mat3 t;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) t.m[i][j] = a.m[j][i];
  return t;
}
GS_HD Mat3 matmul(const Mat3& a, const Mat3& b) {
  Mat3 c;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      c.m[i][j] = a.m[i][0] * b.m[0][j] + a.m[i][1] * b.m[1][j] + a.m[i][2] * b.m[2][j];
  return c;
}

// min/max written as comparisons: identical results vectorised (minps) and scalar, on any
// compiler, which the forward/backward consistency of the blend relies on.
GS_HD float min_f(float a, float b) { return a < b ? a : b; }
GS_HD float max_f(float a, float b) { return a > b ? a : b; }
GS_HD int min_i(int a, int b) { return a < b ? a : b; }
GS_HD double min_d(double a, double b) { return a < b ? a : b; }
GS_HD double max_d(double a, double b) { return a > b ? a : b; }
GS_HD int max_i(int a, int b) { return a > b ? a : b; }

GS_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  return __builtin_bit_cast(uint32_t, f);
#endif
}

GS_HD float int_bits_as_float(int32_t bits) {
#if defined(__CUDA_ARCH__)
  return __int_as_float(bits);
#else
  return __builtin_bit_cast(float, bits);   // gcc >= 11, clang >= 9; vectorises (memcpy does not)
#endif
}

// exp(x) for x <= 0 (Cephes expf: range reduction by ln 2, degree-5 polynomial, within
// 2 ulp of expf). Branch-free so the CPU blend loops vectorise without -ffast-math; the CUDA
// kernels call the same function so both devices blend identical alphas. Underflows to 0.
GS_HD float exp_nonpositive(float x) {
  const float kLog2e = 1.44269504088896341f;
  const float kLn2Hi = 0.693359375f;
  const float kLn2Lo = -2.12194440e-4f;
  const bool underflow = x < -87.0f;
  x = min_f(max_f(x, -87.0f), 0.0f);
  const float n = floorf(kLog2e * x + 0.5f);
  const float r = (x - n * kLn2Hi) - n * kLn2Lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * (r * r) + r + 1.0f;
  const float scale = int_bits_as_float((static_cast<int32_t>(n) + 127) << 23);
  return underflow ? 0.0f : er * scale;
}

}  // namespace gs
