// One Gaussian at one pixel: the 3DGS blend step and the pieces of its derivative.
// Front to back, T starts at 1; a Gaussian with power > 0 or alpha < 1/255 is skipped; one
// whose alpha would take T below 1e-4 ends the pixel without being blended; otherwise it
// adds weight alpha T to every channel and T becomes T (1 - alpha).
#pragma once

#include "common.h"

namespace gs {

// Exponent of the Gaussian at offset (dx, dy) = mean - pixel.
GS_HD float splat_power(Sym2 conic, float dx, float dy) {
  return -0.5f * (conic.xx * dx * dx + conic.yy * dy * dy) - conic.xy * dx * dy;
}

// The Gaussian's value G = exp(power) (power <= 0 wherever it is used).
GS_HD float splat_gaussian(float power) { return exp_nonpositive(power); }

// alpha from raw_alpha = opacity * G.
GS_HD float splat_alpha(float raw_alpha) { return min_f(kMaxAlpha, raw_alpha); }

// Whether the pixel considers the Gaussian at all (3DGS's two `continue`s: power > 0 or
// alpha < 1/255). Tested on raw_alpha = opacity * G, which is below 1/255 exactly when
// alpha = min(0.99, raw_alpha) is; `&` rather than `&&` keeps the test branch-free.
GS_HD bool splat_hits(float power, float raw_alpha) { return !(power > 0.f) & !(raw_alpha < kMinAlpha); }

// dL/dalpha_i of one pixel, from the pixel's upstream gradients:
//   T_i (f_i . g - behind_i) + T_final / (1 - alpha_i) (dL/dalpha_out - bg . g_colour)
// where behind_i = sum over the Gaussians blended after i of their weight relative to
// T_{i+1} times f . g (see behind_update), g = dL/d(channels), dL/dalpha_out the gradient of
// the alpha image and bg . g_colour that of the background left by T_final.
GS_HD float alpha_gradient(float T_i, float alpha, float feature_dot, float behind,
                           float final_T, float dL_dalpha_out, float bg_dot) {
  return T_i * (feature_dot - behind) + final_T / (1.f - alpha) * (dL_dalpha_out - bg_dot);
}

// behind_{i} from behind_{i+1}, going back to front: the next Gaussian (alpha, f . g)
// contributes alpha f . g and attenuates everything behind it by (1 - alpha).
GS_HD float behind_update(float next_alpha, float next_feature_dot, float behind) {
  return next_alpha * next_feature_dot + (1.f - next_alpha) * behind;
}

// dL/dpower and dL/dopacity from dL/dalpha; zero where the 0.99 clamp was active.
GS_HD float power_gradient(float dL_dalpha, float raw_alpha) {
  return raw_alpha <= kMaxAlpha ? dL_dalpha * raw_alpha : 0.f;
}
GS_HD float opacity_gradient(float dL_dalpha, float raw_alpha, float G) {
  return raw_alpha <= kMaxAlpha ? dL_dalpha * G : 0.f;
}

// Sums over pixels of dL/dpower times the monomials of the offset: everything the mean and
// conic gradients of one Gaussian need, so a tile can add them up before touching memory.
struct PowerMoments {
  float s_dx, s_dy, s_dxdx, s_dxdy, s_dydy;
};

GS_HD PowerMoments power_moments(float dL_dpower, float dx, float dy) {
  return {dL_dpower * dx, dL_dpower * dy, dL_dpower * dx * dx, dL_dpower * dx * dy,
          dL_dpower * dy * dy};
}

// dL/dmean (pixels) and dL/dconic of power = -0.5 (a dx^2 + c dy^2) - b dx dy, summed over
// the pixels whose moments are given.
GS_HD void power_moments_vjp(Sym2 conic, PowerMoments m, Vec2& dL_dmean, Sym2& dL_dconic) {
  dL_dmean = {-(conic.xx * m.s_dx + conic.xy * m.s_dy), -(conic.yy * m.s_dy + conic.xy * m.s_dx)};
  dL_dconic = {-0.5f * m.s_dxdx, -m.s_dxdy, -0.5f * m.s_dydy};
}

}  // namespace gs
