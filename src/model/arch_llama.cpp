// Llama (1/2/3, TinyLlama, SmolLM) and Mistral, which GGUF files also declare as `llama`:
// RMSNorm, SwiGLU FFN, RoPE on adjacent pairs, optional llama3 or linear rope scaling. Mistral's
// `attention.sliding_window` applies to every layer.
#include "model/architecture.hpp"
#include "model/model_config.hpp"

namespace capibara {
namespace {

void configure_llama(const HparamReader& hp, ModelConfig& c) {
  c.norm_eps = hp.require_float("attention.layer_norm_rms_epsilon");
  if (c.sliding_window > 0) set_sliding_window_period(c, 0);
}

}  // namespace

extern const Architecture kArchLlama{"llama", configure_llama};

}  // namespace capibara
