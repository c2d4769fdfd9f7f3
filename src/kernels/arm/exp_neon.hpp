// The vector exp of the NEON table, shared by its row-wise operations and its attention kernels.
//
// Include only from the NEON translation units. It has internal linkage (`static`), like the x86
// tables' helpers.
#pragma once

#include <arm_neon.h>

#include "kernels/exp_poly.hpp"

namespace capibara::kernels::arm {

// exp(x) for four floats, as `exp8` in x86/exp_simd.hpp (kernels/exp_poly.hpp says how);
// `fmax`/`fmin` propagate NaN.
static inline float32x4_t exp4(float32x4_t x) {
  using namespace exp_poly;
  x = vminq_f32(vdupq_n_f32(kMax), vmaxq_f32(vdupq_n_f32(kMin), x));
  const float32x4_t k = vrndnq_f32(vmulq_n_f32(x, kLog2e));
  float32x4_t r = vfmsq_f32(x, k, vdupq_n_f32(kLn2Hi));
  r = vfmsq_f32(r, k, vdupq_n_f32(kLn2Lo));
  float32x4_t p = vdupq_n_f32(kP0);
  p = vfmaq_f32(vdupq_n_f32(kP1), p, r);
  p = vfmaq_f32(vdupq_n_f32(kP2), p, r);
  p = vfmaq_f32(vdupq_n_f32(kP3), p, r);
  p = vfmaq_f32(vdupq_n_f32(kP4), p, r);
  p = vfmaq_f32(vdupq_n_f32(kP5), p, r);
  const float32x4_t r2 = vmulq_f32(r, r);
  const float32x4_t y = vaddq_f32(vfmaq_f32(r, p, r2), vdupq_n_f32(1.0f));
  const int32x4_t ki = vcvtq_s32_f32(k);  // exact: k is an integer in [-150, 129]
  const int32x4_t k1 = vshrq_n_s32(ki, 1);
  const int32x4_t k2 = vsubq_s32(ki, k1);
  const int32x4_t bias = vdupq_n_s32(kExponentBias);
  const float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(k1, bias), 23));
  const float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(k2, bias), 23));
  return vmulq_f32(vmulq_f32(y, s1), s2);
}

}  // namespace capibara::kernels::arm
