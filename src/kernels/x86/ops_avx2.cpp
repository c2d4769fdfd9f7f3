// AVX2 + FMA versions of the row-wise operations (norms, softmax with a vectorized exp, gated
// activations, residual add, RoPE). Compiled with -mavx2 -mfma -mf16c and only ever called after
// the dispatcher has checked that the CPU supports them.
//
// Sums that the scalar reference accumulates in double (norms, softmax) are accumulated in
// double here too, so the results differ from the reference only by summation order and the
// exp polynomial.
#include "kernels/x86/ops_avx2.hpp"

#include <immintrin.h>

#include <cmath>

#include "core/fp8.hpp"
#include "core/half.hpp"
#include "kernels/x86/exp_simd.hpp"

namespace capibara::kernels::avx2 {
namespace {

using x86::exp8;

inline double hsum(__m256d v) {
  __m128d lo = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  lo = _mm_add_sd(lo, _mm_unpackhi_pd(lo, lo));
  return _mm_cvtsd_f64(lo);
}

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// acc += double(v) (eight floats into two four-double accumulators).
inline void add_pd(__m256 v, __m256d& acc_lo, __m256d& acc_hi) {
  acc_lo = _mm256_add_pd(acc_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
  acc_hi = _mm256_add_pd(acc_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

// acc += double(v)^2.
inline void add_sq_pd(__m256 v, __m256d& acc_lo, __m256d& acc_hi) {
  const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
  const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
  acc_lo = _mm256_fmadd_pd(lo, lo, acc_lo);
  acc_hi = _mm256_fmadd_pd(hi, hi, acc_hi);
}

// x / (1 + exp(-x)), the logistic function times x.
inline __m256 silu8(__m256 x) {
  const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
  return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

// One value through the vector exp, for loop tails: every element of a row then gets the same
// function, whichever lane it lands in.
inline float exp1(float x) {
  alignas(32) float buf[8] = {x};
  _mm256_store_ps(buf, exp8(_mm256_load_ps(buf)));
  return buf[0];
}

// The halves with the values of 16 E4M3 codes (one per 16-bit lane), exactly, as
// `e4m3_to_f16_bits`: a normal code's magnitude bits moved to bits 13-7 are its exponent and
// mantissa in a half's fields, the exponent's bias going from 7 to 15 by adding 8 to the field;
// the seven subnormal codes (1-7 times 2^-9) are normal halves whose low bytes are 0, so a byte
// shuffle of their high bytes, indexed from each lane's high byte (the low byte's index 0x80
// gives 0), supplies them; NaN codes get 0x7E00.
__m256i e4m3_halves(__m256i code) {
  const __m256i subnormal_high =
      _mm256_setr_epi8(0, 0x18, 0x1C, 0x1E, 0x20, 0x21, 0x22, 0x23, 0, 0, 0, 0, 0, 0, 0, 0,  //
                       0, 0x18, 0x1C, 0x1E, 0x20, 0x21, 0x22, 0x23, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i mag = _mm256_and_si256(code, _mm256_set1_epi16(0x7F));
  const __m256i normal = _mm256_add_epi16(_mm256_slli_epi16(mag, 7), _mm256_set1_epi16(0x2000));
  const __m256i subnormal = _mm256_shuffle_epi8(
      subnormal_high, _mm256_or_si256(_mm256_slli_epi16(mag, 8), _mm256_set1_epi16(0x80)));
  __m256i h = _mm256_blendv_epi8(normal, subnormal, _mm256_cmpgt_epi16(_mm256_set1_epi16(8), mag));
  h = _mm256_blendv_epi8(h, _mm256_set1_epi16(0x7E00),
                         _mm256_cmpeq_epi16(mag, _mm256_set1_epi16(0x7F)));
  return _mm256_or_si256(h,
                         _mm256_and_si256(_mm256_slli_epi16(code, 8), _mm256_set1_epi16(-0x8000)));
}

}  // namespace

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  __m256d acc0 = _mm256_setzero_pd();
  __m256d acc1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) add_sq_pd(_mm256_loadu_ps(x + i), acc0, acc1);
  double sum_sq = hsum(_mm256_add_pd(acc0, acc1));
  for (; i < n; ++i) sum_sq += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum_sq / static_cast<double>(n)) + eps);
  const __m256 vs = _mm256_set1_ps(scale);
  i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vs);
    _mm256_storeu_ps(out + i, _mm256_mul_ps(v, _mm256_loadu_ps(weight + i)));
  }
  for (; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void layer_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  __m256d acc0 = _mm256_setzero_pd();
  __m256d acc1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) add_pd(_mm256_loadu_ps(x + i), acc0, acc1);
  double sum = hsum(_mm256_add_pd(acc0, acc1));
  for (; i < n; ++i) sum += static_cast<double>(x[i]);
  const auto mean = static_cast<float>(sum / static_cast<double>(n));
  const __m256 vmean = _mm256_set1_ps(mean);
  acc0 = _mm256_setzero_pd();
  acc1 = _mm256_setzero_pd();
  i = 0;
  for (; i + 8 <= n; i += 8) add_sq_pd(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmean), acc0, acc1);
  double sum_sq = hsum(_mm256_add_pd(acc0, acc1));
  for (; i < n; ++i) {
    const float d = x[i] - mean;
    sum_sq += static_cast<double>(d) * static_cast<double>(d);
  }
  const float variance = static_cast<float>(sum_sq / static_cast<double>(n));
  const float inv = 1.0f / std::sqrt(variance + eps);
  const __m256 vinv = _mm256_set1_ps(inv);
  i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmean), vinv);
    _mm256_storeu_ps(out + i, _mm256_mul_ps(d, _mm256_loadu_ps(weight + i)));
  }
  for (; i < n; ++i) out[i] = (x[i] - mean) * inv * weight[i];
}

void exp(const float* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, exp8(_mm256_loadu_ps(x + i)));
  for (; i < n; ++i) out[i] = exp1(x[i]);
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  float max = hmax(vmax);
  for (; i < n; ++i) max = x[i] > max ? x[i] : max;
  const __m256 vm = _mm256_set1_ps(max);
  __m256d acc0 = _mm256_setzero_pd();
  __m256d acc1 = _mm256_setzero_pd();
  i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    _mm256_storeu_ps(x + i, e);
    add_pd(e, acc0, acc1);
  }
  double sum = hsum(_mm256_add_pd(acc0, acc1));
  for (; i < n; ++i) {
    x[i] = exp1(x[i] - max);
    sum += static_cast<double>(x[i]);
  }
  const float inv = static_cast<float>(1.0 / sum);
  const __m256 vinv = _mm256_set1_ps(inv);
  i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
  for (; i < n; ++i) x[i] *= inv;
}

void swiglu(float* gate, const float* up, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 s = silu8(_mm256_loadu_ps(gate + i));
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) gate[i] = gate[i] / (1.0f + exp1(-gate[i])) * up[i];
}

void geglu_tanh(float* gate, const float* up, int64_t n) {
  // 0.5 g (1 + tanh(y)) = g / (1 + exp(-2y)): the same function without the cancellation of
  // 1 + tanh(y) for negative y, so it is at least as accurate as the reference.
  constexpr float kSqrt2OverPi = 0.79788456080286535588f;
  constexpr float kCoefA = 0.044715f;
  const __m256 vk = _mm256_set1_ps(-2.0f * kSqrt2OverPi);
  const __m256 va = _mm256_set1_ps(kCoefA);
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 inner = _mm256_fmadd_ps(_mm256_mul_ps(va, g), g, one);  // 1 + a g^2
    const __m256 e = exp8(_mm256_mul_ps(_mm256_mul_ps(vk, g), inner));   // exp(-2y)
    const __m256 v = _mm256_div_ps(g, _mm256_add_ps(one, e));
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(v, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) {
    const float g = gate[i];
    const float e = exp1(-2.0f * kSqrt2OverPi * g * (1.0f + kCoefA * g * g));
    gate[i] = g / (1.0f + e) * up[i];
  }
}

void add(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    _mm256_storeu_ps(y + i + 8,
                     _mm256_add_ps(_mm256_loadu_ps(y + i + 8), _mm256_loadu_ps(x + i + 8)));
  }
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
  }
  for (; i < n; ++i) y[i] += x[i];
}

void rope_normal(const float* cos_sin, float* x, int64_t n_heads, int64_t head_dim, int32_t n_rot) {
  const int32_t half = n_rot / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    int32_t i = 0;
    // Four pairs at a time: v = [x0 x1 ...], cos_sin = [c s ...] line up pair by pair.
    for (; i + 4 <= half; i += 4) {
      const __m256 cs = _mm256_loadu_ps(cos_sin + 2 * i);
      const __m256 c = _mm256_moveldup_ps(cs);  // c c
      const __m256 s = _mm256_movehdup_ps(cs);  // s s
      const __m256 xv = _mm256_loadu_ps(v + 2 * i);
      const __m256 swapped = _mm256_permute_ps(xv, 0xB1);  // x1 x0
      // even lanes x0 c - x1 s, odd lanes x1 c + x0 s
      _mm256_storeu_ps(v + 2 * i, _mm256_fmaddsub_ps(xv, c, _mm256_mul_ps(swapped, s)));
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
    for (; i + 8 <= half; i += 8) {
      // De-interleave eight (cos, sin) pairs; the in-lane shuffle leaves the 64-bit quarters in
      // the order 0 2 1 3, which the permute puts back.
      const __m256 cs0 = _mm256_loadu_ps(cos_sin + 2 * i);
      const __m256 cs1 = _mm256_loadu_ps(cos_sin + 2 * i + 8);
      const __m256 c = _mm256_castpd_ps(
          _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(cs0, cs1, 0x88)), 0xD8));
      const __m256 s = _mm256_castpd_ps(
          _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(cs0, cs1, 0xDD)), 0xD8));
      const __m256 x0 = _mm256_loadu_ps(v + i);
      const __m256 x1 = _mm256_loadu_ps(v + i + half);
      _mm256_storeu_ps(v + i, _mm256_fmsub_ps(x0, c, _mm256_mul_ps(x1, s)));
      _mm256_storeu_ps(v + i + half, _mm256_fmadd_ps(x0, s, _mm256_mul_ps(x1, c)));
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
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm256_castsi256_si128(h)));
    _mm256_storeu_ps(out + i + 8, _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1)));
  }
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
  }
  for (; i < n; ++i) out[i] = capibara::fp16_to_f32(x[i]);
}

void bf16_to_f32(const uint16_t* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i w =
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    _mm256_storeu_ps(out + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
  }
  for (; i < n; ++i) out[i] = capibara::bf16_to_f32(x[i]);
}

void fp8_to_f32(const uint8_t* x, float scale, float* out, int64_t n) {
  // Each code's value as a half, exact (`e4m3_halves`), widened exactly; one multiply by the scale
  // rounds once, as the reference. The halves are never subnormal, which `vcvtph2ps` takes a
  // microcode assist for on some Intel cores (docs/PERFORMANCE.md, the fp8 cache under "Deep in
  // a context").
  const __m256 k = _mm256_set1_ps(scale);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h =
        e4m3_halves(_mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_cvtph_ps(_mm256_castsi256_si128(h)), k));
    _mm256_storeu_ps(out + i + 8,
                     _mm256_mul_ps(_mm256_cvtph_ps(_mm256_extracti128_si256(h, 1)), k));
  }
  for (; i < n; ++i) out[i] = capibara::e4m3_to_f32(x[i]) * scale;
}

void fp8_to_f16(const uint8_t* x, uint16_t* out, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        e4m3_halves(_mm256_cvtepu8_epi16(
                            _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)))));
  }
  for (; i < n; ++i) out[i] = capibara::e4m3_to_f16_bits(x[i]);
}

}  // namespace capibara::kernels::avx2
