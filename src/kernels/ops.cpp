// The row-wise operations of the forward pass: each fetches the active kernel table once per call
// and runs its ISA's version (ops_scalar.cpp holds the reference ones).
#include "kernels/ops.hpp"

#include <cmath>

#include "kernels/kernel_table.hpp"

namespace capibara::kernels {

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  active_kernels().rms_norm(x, weight, out, n, eps);
}

void layer_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  active_kernels().layer_norm(x, weight, out, n, eps);
}

void softmax(float* x, int64_t n) { active_kernels().softmax(x, n); }

void vec_exp(const float* x, float* out, int64_t n) { active_kernels().exp(x, out, n); }

void swiglu(float* gate, const float* up, int64_t n) { active_kernels().swiglu(gate, up, n); }

void geglu_tanh(float* gate, const float* up, int64_t n) {
  active_kernels().geglu_tanh(gate, up, n);
}

void scale(float* x, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

void softcap(float* x, float cap, int64_t n) {
  const float inv = 1.0f / cap;
  for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i] * inv) * cap;
}

void add(const float* x, float* y, int64_t n) { active_kernels().add(x, y, n); }

void rope_angles(const RopeParams& p, int64_t pos, float* cos_sin) {
  const int32_t half = p.n_rot / 2;
  for (int32_t i = 0; i < half; ++i) {
    // theta_i = pos * base^(-2i / n_rot), scaled; computed in double so positions far into a
    // long context keep their accuracy.
    double theta = static_cast<double>(pos) * static_cast<double>(p.freq_scale) *
                   std::pow(static_cast<double>(p.freq_base), -2.0 * i / p.n_rot);
    if (p.freq_factors != nullptr) theta /= static_cast<double>(p.freq_factors[i]);
    cos_sin[2 * i] = static_cast<float>(std::cos(theta)) * p.attn_factor;
    cos_sin[2 * i + 1] = static_cast<float>(std::sin(theta)) * p.attn_factor;
  }
}

void rope_apply(const RopeParams& p, const float* cos_sin, float* x, int64_t n_heads,
                int64_t head_dim) {
  const KernelTable& k = active_kernels();
  auto* rope = p.layout == RopeLayout::kNormal ? k.rope_normal : k.rope_neox;
  rope(cos_sin, x, n_heads, head_dim, p.n_rot);
}

}  // namespace capibara::kernels
