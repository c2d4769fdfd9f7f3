// NEON versions of the row-wise operations (norms, softmax with a vectorized exp, gated
// activations, residual add, RoPE). Compiled with -march=armv8.2-a+dotprod+fp16 and only ever
// called after the dispatcher has checked the CPU.
//
// The same algorithms as the AVX2 versions (x86/ops_avx2.cpp): sums the scalar reference
// accumulates in double are accumulated in double here too.
#include "kernels/arm/ops_neon.hpp"

#include <arm_neon.h>

#include <cmath>

#include "core/fp8.hpp"
#include "core/half.hpp"
#include "kernels/arm/exp_neon.hpp"

namespace capibara::kernels::neon {
namespace {

using arm::exp4;

// acc += double(v) (four floats into two two-double accumulators).
inline void add_pd(float32x4_t v, float64x2_t& acc_lo, float64x2_t& acc_hi) {
  acc_lo = vaddq_f64(acc_lo, vcvt_f64_f32(vget_low_f32(v)));
  acc_hi = vaddq_f64(acc_hi, vcvt_high_f64_f32(v));
}

// acc += double(v)^2.
inline void add_sq_pd(float32x4_t v, float64x2_t& acc_lo, float64x2_t& acc_hi) {
  const float64x2_t lo = vcvt_f64_f32(vget_low_f32(v));
  const float64x2_t hi = vcvt_high_f64_f32(v);
  acc_lo = vfmaq_f64(acc_lo, lo, lo);
  acc_hi = vfmaq_f64(acc_hi, hi, hi);
}

// One value through the vector exp, for loop tails: every element of a row then gets the same
// function, whichever lane it lands in.
inline float exp1(float x) { return vgetq_lane_f32(exp4(vdupq_n_f32(x)), 0); }

}  // namespace

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  float64x2_t acc0 = vdupq_n_f64(0.0);
  float64x2_t acc1 = vdupq_n_f64(0.0);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) add_sq_pd(vld1q_f32(x + i), acc0, acc1);
  double sum_sq = vaddvq_f64(vaddq_f64(acc0, acc1));
  for (; i < n; ++i) sum_sq += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum_sq / static_cast<double>(n)) + eps);
  i = 0;
  for (; i + 4 <= n; i += 4) {
    vst1q_f32(out + i, vmulq_f32(vmulq_n_f32(vld1q_f32(x + i), scale), vld1q_f32(weight + i)));
  }
  for (; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void layer_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  float64x2_t acc0 = vdupq_n_f64(0.0);
  float64x2_t acc1 = vdupq_n_f64(0.0);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) add_pd(vld1q_f32(x + i), acc0, acc1);
  double sum = vaddvq_f64(vaddq_f64(acc0, acc1));
  for (; i < n; ++i) sum += static_cast<double>(x[i]);
  const auto mean = static_cast<float>(sum / static_cast<double>(n));
  const float32x4_t vmean = vdupq_n_f32(mean);
  acc0 = vdupq_n_f64(0.0);
  acc1 = vdupq_n_f64(0.0);
  i = 0;
  for (; i + 4 <= n; i += 4) add_sq_pd(vsubq_f32(vld1q_f32(x + i), vmean), acc0, acc1);
  double sum_sq = vaddvq_f64(vaddq_f64(acc0, acc1));
  for (; i < n; ++i) {
    const float d = x[i] - mean;
    sum_sq += static_cast<double>(d) * static_cast<double>(d);
  }
  const float variance = static_cast<float>(sum_sq / static_cast<double>(n));
  const float inv = 1.0f / std::sqrt(variance + eps);
  i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t d = vmulq_n_f32(vsubq_f32(vld1q_f32(x + i), vmean), inv);
    vst1q_f32(out + i, vmulq_f32(d, vld1q_f32(weight + i)));
  }
  for (; i < n; ++i) out[i] = (x[i] - mean) * inv * weight[i];
}

void exp(const float* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(out + i, exp4(vld1q_f32(x + i)));
  for (; i < n; ++i) out[i] = exp1(x[i]);
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  float32x4_t vmax = vdupq_n_f32(-INFINITY);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vmax = vmaxq_f32(vmax, vld1q_f32(x + i));
  float max = vmaxvq_f32(vmax);
  for (; i < n; ++i) max = x[i] > max ? x[i] : max;
  const float32x4_t vm = vdupq_n_f32(max);
  float64x2_t acc0 = vdupq_n_f64(0.0);
  float64x2_t acc1 = vdupq_n_f64(0.0);
  i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t e = exp4(vsubq_f32(vld1q_f32(x + i), vm));
    vst1q_f32(x + i, e);
    add_pd(e, acc0, acc1);
  }
  double sum = vaddvq_f64(vaddq_f64(acc0, acc1));
  for (; i < n; ++i) {
    x[i] = exp1(x[i] - max);
    sum += static_cast<double>(x[i]);
  }
  const float inv = static_cast<float>(1.0 / sum);
  i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vmulq_n_f32(vld1q_f32(x + i), inv));
  for (; i < n; ++i) x[i] *= inv;
}

void swiglu(float* gate, const float* up, int64_t n) {
  const float32x4_t one = vdupq_n_f32(1.0f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t g = vld1q_f32(gate + i);
    const float32x4_t s = vdivq_f32(g, vaddq_f32(one, exp4(vnegq_f32(g))));
    vst1q_f32(gate + i, vmulq_f32(s, vld1q_f32(up + i)));
  }
  for (; i < n; ++i) gate[i] = gate[i] / (1.0f + exp1(-gate[i])) * up[i];
}

void geglu_tanh(float* gate, const float* up, int64_t n) {
  // 0.5 g (1 + tanh(y)) = g / (1 + exp(-2y)), as in x86/ops_avx2.cpp.
  constexpr float kSqrt2OverPi = 0.79788456080286535588f;
  constexpr float kCoefA = 0.044715f;
  const float32x4_t one = vdupq_n_f32(1.0f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t g = vld1q_f32(gate + i);
    const float32x4_t inner = vfmaq_f32(one, vmulq_n_f32(g, kCoefA), g);  // 1 + a g^2
    const float32x4_t e = exp4(vmulq_f32(vmulq_n_f32(g, -2.0f * kSqrt2OverPi), inner));
    const float32x4_t v = vdivq_f32(g, vaddq_f32(one, e));
    vst1q_f32(gate + i, vmulq_f32(v, vld1q_f32(up + i)));
  }
  for (; i < n; ++i) {
    const float g = gate[i];
    const float e = exp1(-2.0f * kSqrt2OverPi * g * (1.0f + kCoefA * g * g));
    gate[i] = g / (1.0f + e) * up[i];
  }
}

void add(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vld1q_f32(x + i)));
    vst1q_f32(y + i + 4, vaddq_f32(vld1q_f32(y + i + 4), vld1q_f32(x + i + 4)));
  }
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vld1q_f32(x + i)));
  for (; i < n; ++i) y[i] += x[i];
}

void rope_normal(const float* cos_sin, float* x, int64_t n_heads, int64_t head_dim, int32_t n_rot) {
  const int32_t half = n_rot / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    int32_t i = 0;
    // Four pairs at a time: `vld2q` splits the pairs into evens and odds, `vst2q` interleaves
    // them back.
    for (; i + 4 <= half; i += 4) {
      const float32x4x2_t cs = vld2q_f32(cos_sin + 2 * i);
      const float32x4x2_t xv = vld2q_f32(v + 2 * i);
      float32x4x2_t o;
      o.val[0] = vfmsq_f32(vmulq_f32(xv.val[0], cs.val[0]), xv.val[1], cs.val[1]);
      o.val[1] = vfmaq_f32(vmulq_f32(xv.val[0], cs.val[1]), xv.val[1], cs.val[0]);
      vst2q_f32(v + 2 * i, o);
    }
    for (; i < half; ++i) {
      const float c = cos_sin[2 * i];
      const float s = cos_sin[2 * i + 1];
      const float x0 = v[2 * i];
      const float x1 = v[2 * i + 1];
      v[2 * i] = x0 * c - x1 * s;
      v[2 * i + 1] = x0 * s + x1 * c;
    }
  }
}

void rope_neox(const float* cos_sin, float* x, int64_t n_heads, int64_t head_dim, int32_t n_rot) {
  const int32_t half = n_rot / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    int32_t i = 0;
    for (; i + 4 <= half; i += 4) {
      const float32x4x2_t cs = vld2q_f32(cos_sin + 2 * i);  // cos, sin
      const float32x4_t x0 = vld1q_f32(v + i);
      const float32x4_t x1 = vld1q_f32(v + i + half);
      vst1q_f32(v + i, vfmsq_f32(vmulq_f32(x0, cs.val[0]), x1, cs.val[1]));
      vst1q_f32(v + i + half, vfmaq_f32(vmulq_f32(x0, cs.val[1]), x1, cs.val[0]));
    }
    for (; i < half; ++i) {
      const float c = cos_sin[2 * i];
      const float s = cos_sin[2 * i + 1];
      const float x0 = v[i];
      const float x1 = v[i + half];
      v[i] = x0 * c - x1 * s;
      v[i + half] = x0 * s + x1 * c;
    }
  }
}

void fp16_to_f32(const uint16_t* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(x + i));
    vst1q_f32(out + i, vcvt_f32_f16(vget_low_f16(h)));
    vst1q_f32(out + i + 4, vcvt_high_f32_f16(h));
  }
  for (; i < n; ++i) out[i] = capibara::fp16_to_f32(x[i]);
}

void bf16_to_f32(const uint16_t* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint16x8_t h = vld1q_u16(x + i);
    vst1q_f32(out + i, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)));
    vst1q_f32(out + i + 4, vreinterpretq_f32_u32(vshll_high_n_u16(h, 16)));
  }
  for (; i < n; ++i) out[i] = capibara::bf16_to_f32(x[i]);
}

void fp8_to_f32(const uint8_t* x, float scale, float* out, int64_t n) {
  // As the AVX-512 loop (x86/convert_avx512.cpp): the code's bits moved into a half's are worth
  // its value times 2^-8, subnormals included, so times 2^8 scale it is rounded once, as the
  // reference; the 0x7C00 gives NaN codes a NaN half.
  const float32x4_t k = vdupq_n_f32(scale * 256.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint16x8_t code = vmovl_u8(vld1_u8(x + i));
    const uint16x8_t mag = vandq_u16(code, vdupq_n_u16(0x7F));
    const uint16x8_t sign = vandq_u16(vshlq_n_u16(code, 8), vdupq_n_u16(0x8000));
    const uint16x8_t nan = vandq_u16(vceqq_u16(mag, vdupq_n_u16(0x7F)), vdupq_n_u16(0x7C00));
    const float16x8_t h =
        vreinterpretq_f16_u16(vorrq_u16(vorrq_u16(vshlq_n_u16(mag, 7), sign), nan));
    vst1q_f32(out + i, vmulq_f32(vcvt_f32_f16(vget_low_f16(h)), k));
    vst1q_f32(out + i + 4, vmulq_f32(vcvt_high_f32_f16(h), k));
  }
  for (; i < n; ++i) out[i] = capibara::e4m3_to_f32(x[i]) * scale;
}

void fp8_to_f16(const uint8_t* x, uint16_t* out, int64_t n) {
  // As the AVX2 loop (x86/ops_avx2.cpp), but on bytes, a half's high and low bytes apart, so 16
  // codes a step: a normal code's (mag << 7) + 0x2000 has high byte (mag >> 1) + 0x20 and low
  // byte mag << 7. The seven subnormal codes' halves have low bytes 0, so their high bytes come
  // from a byte table indexed by mag (indices past 15 give 0, and only mag < 8 is taken).
  static constexpr uint8_t kSubnormalHigh[16] = {0, 0x18, 0x1C, 0x1E, 0x20, 0x21, 0x22, 0x23};
  const uint8x16_t subnormal_high = vld1q_u8(kSubnormalHigh);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const uint8x16_t code = vld1q_u8(x + i);
    const uint8x16_t mag = vandq_u8(code, vdupq_n_u8(0x7F));
    const uint8x16_t subnormal = vcltq_u8(mag, vdupq_n_u8(8));
    const uint8x16_t nan = vceqq_u8(mag, vdupq_n_u8(0x7F));
    uint8x16_t hi = vaddq_u8(vshrq_n_u8(mag, 1), vdupq_n_u8(0x20));
    hi = vbslq_u8(subnormal, vqtbl1q_u8(subnormal_high, mag), hi);
    hi = vbslq_u8(nan, vdupq_n_u8(0x7E), hi);
    hi = vorrq_u8(hi, vandq_u8(code, vdupq_n_u8(0x80)));
    const uint8x16_t lo = vbicq_u8(vshlq_n_u8(mag, 7), vorrq_u8(subnormal, nan));
    // Little-endian: each half is its low byte, then its high one.
    vst1q_u16(out + i, vreinterpretq_u16_u8(vzip1q_u8(lo, hi)));
    vst1q_u16(out + i + 8, vreinterpretq_u16_u8(vzip2q_u8(lo, hi)));
  }
  for (; i < n; ++i) out[i] = capibara::e4m3_to_f16_bits(x[i]);
}

}  // namespace capibara::kernels::neon
