// Qwen2 / Qwen2.5: Llama's block with biases on the q, k and v projections and RoPE on the two
// halves of a head (NeoX layout); the rope base comes from the file (1e6 for Qwen2.5). Small
// models tie the output to the embedding (no `output.weight`).
#include "model/architecture.hpp"
#include "model/model_config.hpp"

namespace capibara {
namespace {

void configure_qwen2(const HparamReader& hp, ModelConfig& c) {
  c.norm_eps = hp.require_float("attention.layer_norm_rms_epsilon");
  c.attention_bias = true;
  c.rope.layout = kernels::RopeLayout::kNeox;
  // Qwen2's `use_sliding_window` is off in every released model; llama.cpp ignores the key too.
  c.sliding_window = 0;
}

}  // namespace

extern const Architecture kArchQwen2{"qwen2", configure_qwen2};

}  // namespace capibara
