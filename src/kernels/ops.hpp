// Elementwise and row-wise operations of the transformer forward pass. The hot ones run the
// active ISA's version through the kernel table (kernel_table.hpp), fetched once per call; their
// scalar references are in ops_scalar.hpp.
//
// Thread safety: pure functions of their arguments.
#pragma once

#include <cstdint>

namespace capibara::kernels {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]; `out` may alias `x`.
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);

// LayerNorm without a bias (Cohere): out[i] = (x[i] - mean(x)) / sqrt(var(x) + eps) * weight[i];
// `out` may alias `x`.
void layer_norm(const float* x, const float* weight, float* out, int64_t n, float eps);

// In-place softmax over `n` values (max-subtracted); entries of -inf (masked) become 0.
void softmax(float* x, int64_t n);

// out[i] = exp(x[i]); `out` may alias `x`. The vectorized versions are within ~1.2e-7 relative of
// `std::exp` (0 below the smallest subnormal, +inf above ~88.72).
void vec_exp(const float* x, float* out, int64_t n);

// gate[i] = silu(gate[i]) * up[i]
void swiglu(float* gate, const float* up, int64_t n);

// gate[i] = gelu_tanh(gate[i]) * up[i], with the tanh approximation of GeLU
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (Gemma's `gelu_pytorch_tanh`).
void geglu_tanh(float* gate, const float* up, int64_t n);

// x[i] *= s
void scale(float* x, float s, int64_t n);

// x[i] = cap * tanh(x[i] / cap): squashes logits smoothly into (-cap, cap) (Gemma 2/3).
void softcap(float* x, float cap, int64_t n);

// y[i] += x[i]
void add(const float* x, float* y, int64_t n);

// Rotary position embedding.
enum class RopeLayout {
  kNormal,  // rotates adjacent pairs (x[2i], x[2i+1]) (Llama as stored in GGUF)
  kNeox,    // rotates (x[i], x[i + n_rot/2]) (NeoX, Qwen2, Phi-3, Gemma)
};

struct RopeParams {
  int32_t n_rot = 0;  // rotated dimensions per head (<= head_dim)
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;              // 1 / linear scaling factor
  const float* freq_factors = nullptr;  // [n_rot / 2] divisors (llama3 `rope_freqs.weight`,
                                        // Phi-3 LongRoPE `rope_factors_{short,long}.weight`)
  float attn_factor = 1.0f;             // multiplies cos and sin (LongRoPE magnitude scaling)
  RopeLayout layout = RopeLayout::kNormal;
};

// Fills `cos_sin` ([n_rot / 2][2]) with the rotation of position `pos`.
void rope_angles(const RopeParams& p, int64_t pos, float* cos_sin);
// Rotates the first `p.n_rot` dimensions of each of `n_heads` heads of `head_dim` values.
void rope_apply(const RopeParams& p, const float* cos_sin, float* x, int64_t n_heads,
                int64_t head_dim);

}  // namespace capibara::kernels
