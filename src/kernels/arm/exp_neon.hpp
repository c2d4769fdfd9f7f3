// The vector exp of the NEON table, shared by its row-wise operations and its attention kernels.
//
// Include only from the NEON translation units. It has internal linkage (`static`), like the x86
// tables' helpers.
#pragma once

#include <arm_neon.h>

namespace capibara::kernels::arm {

// exp(x) for four floats, as `exp8` in x86/ops_avx2.cpp: x = k ln2 + r, Cephes' polynomial for
// exp(r), 2^k applied as two factors so subnormal results are right; inputs clamped to
// [-104, 89] (0 and +inf); -inf gives 0 and NaN stays NaN (`fmax`/`fmin` propagate it).
static inline float32x4_t exp4(float32x4_t x) {
  x = vminq_f32(vdupq_n_f32(89.0f), vmaxq_f32(vdupq_n_f32(-104.0f), x));
  const float32x4_t k = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
  float32x4_t r = vfmsq_f32(x, k, vdupq_n_f32(0.693145751953125f));
  r = vfmsq_f32(r, k, vdupq_n_f32(1.428606765330187045e-06f));
  float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
  p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
  const float32x4_t r2 = vmulq_f32(r, r);
  const float32x4_t y = vaddq_f32(vfmaq_f32(r, p, r2), vdupq_n_f32(1.0f));
  const int32x4_t ki = vcvtq_s32_f32(k);  // exact: k is an integer in [-150, 129]
  const int32x4_t k1 = vshrq_n_s32(ki, 1);
  const int32x4_t k2 = vsubq_s32(ki, k1);
  const int32x4_t bias = vdupq_n_s32(127);
  const float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(k1, bias), 23));
  const float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(k2, bias), 23));
  return vmulq_f32(vmulq_f32(y, s1), s2);
}

}  // namespace capibara::kernels::arm
