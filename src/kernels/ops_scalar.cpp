// Scalar reference versions of the row-wise operations of the forward pass.
#include "kernels/ops_scalar.hpp"

#include <algorithm>
#include <cmath>

#include "core/fp8.hpp"
#include "core/half.hpp"

namespace capibara::kernels::scalar {

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  double sum_sq = 0.0;  // double, as llama.cpp accumulates it, so long rows do not lose precision
  for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum_sq / static_cast<double>(n)) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void layer_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  // Two passes in double, as ggml's `ggml_norm` accumulates, so the variance does not cancel.
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]);
  const auto mean = static_cast<float>(sum / static_cast<double>(n));
  double sum_sq = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float d = x[i] - mean;
    sum_sq += static_cast<double>(d * d);
  }
  const float variance = static_cast<float>(sum_sq / static_cast<double>(n));
  const float inv = 1.0f / std::sqrt(variance + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] - mean) * inv * weight[i];
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  const float max = *std::max_element(x, x + n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += static_cast<double>(x[i]);
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void exp(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::exp(x[i]);
}

void swiglu(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void geglu_tanh(float* gate, const float* up, int64_t n) {
  constexpr float kSqrt2OverPi = 0.79788456080286535588f;
  constexpr float kCoefA = 0.044715f;
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = 0.5f * g * (1.0f + std::tanh(kSqrt2OverPi * g * (1.0f + kCoefA * g * g))) * up[i];
  }
}

void add(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void rope_normal(const float* cos_sin, float* x, int64_t n_heads, int64_t head_dim, int32_t n_rot) {
  const int32_t half = n_rot / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int32_t i = 0; i < half; ++i) {
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
    for (int32_t i = 0; i < half; ++i) {
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
  for (int64_t i = 0; i < n; ++i) out[i] = capibara::fp16_to_f32(x[i]);
}

void bf16_to_f32(const uint16_t* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = capibara::bf16_to_f32(x[i]);
}

void fp8_to_f32(const uint8_t* x, float scale, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = capibara::e4m3_to_f32(x[i]) * scale;
}

void fp8_to_f16(const uint8_t* x, uint16_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = capibara::e4m3_to_f16_bits(x[i]);
}

}  // namespace capibara::kernels::scalar
