// Phi-3 / Phi-3.5 / Phi-4-mini: q, k and v fused in `attn_qkv`, gate and up fused in `ffn_up`
// ([gate; up], 2 * n_ff rows), NeoX RoPE over the first `rope.dimension_count` dimensions of a
// head (partial rotary in Phi-4-mini) and LongRoPE: per-frequency divisors
// `rope_factors_short.weight` / `rope_factors_long.weight` (the long ones once the context
// exceeds `rope.scaling.original_context_length`) with cos and sin scaled by
// `rope.scaling.attn_factor`.
#include "model/architecture.hpp"
#include "model/model_config.hpp"

namespace capibara {
namespace {

void configure_phi3(const HparamReader& hp, ModelConfig& c) {
  c.norm_eps = hp.require_float("attention.layer_norm_rms_epsilon");
  c.fused_gate_up = true;
  c.rope.layout = kernels::RopeLayout::kNeox;
  // The converters write Phi-3's `sliding_window` without the layer pattern it needs; llama.cpp
  // disables it for the same reason (ggml-org/llama.cpp#13676), and so do we.
  c.sliding_window = 0;
}

}  // namespace

extern const Architecture kArchPhi3{"phi3", configure_phi3};

}  // namespace capibara
