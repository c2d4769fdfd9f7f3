// Gemma 3 (text): embeddings scaled by sqrt(n_embd), RMS norms of each query and key head,
// norms after attention and after the FFN as well as before, GeLU-tanh gating, output tied to
// the embedding, and interleaved sliding-window attention: five local layers to one global,
// the local ones with their own rope base (10000) and no rope scaling. Queries are scaled by
// 1/sqrt(key_length). The GGUF converter already adds Gemma's "+1" to every norm weight.
#include <cmath>

#include "model/architecture.hpp"
#include "model/model_config.hpp"

namespace capibara {
namespace {

constexpr int64_t kSlidingWindowPeriod = 6;  // 5 local : 1 global
constexpr float kLocalRopeBase = 10000.0f;

void configure_gemma3(const HparamReader& hp, ModelConfig& c) {
  c.norm_eps = hp.require_float("attention.layer_norm_rms_epsilon");
  c.activation = Activation::kGeluTanh;
  c.qk_norm = true;
  c.post_norms = true;
  c.embedding_scale = std::sqrt(static_cast<float>(c.n_embd));
  // Gemma 3 27B scales by its `query_pre_attn_scalar` = n_embd / n_head (168), not by the head
  // size (128); the file does not carry the scalar, so llama.cpp recognises the model by its
  // 62 layers, as we do.
  constexpr int64_t kLayers27B = 62;
  const int64_t query_scalar = c.n_layer == kLayers27B ? c.n_embd / c.n_head : c.head_dim;
  c.attention_scale = 1.0f / std::sqrt(static_cast<float>(query_scalar));
  c.final_logit_softcap = hp.get_float("final_logit_softcapping").value_or(0.0f);
  if (c.final_logit_softcap < 0.0f) hp.fail("final_logit_softcapping must not be negative");

  c.rope.layout = kernels::RopeLayout::kNeox;
  c.rope_swa = c.rope;
  c.rope_swa.freq_base = hp.get_float("rope.freq_base_swa").value_or(kLocalRopeBase);
  c.rope_swa.freq_scale = 1.0f;
  if (c.sliding_window > 0) {
    set_sliding_window_period(c, kSlidingWindowPeriod);
    if (const auto pattern = hp.sliding_window_pattern(c.n_layer)) {
      for (size_t l = 0; l < pattern->size(); ++l) c.layers[l].sliding_window = (*pattern)[l];
    }
  }
}

}  // namespace

extern const Architecture kArchGemma3{"gemma3", configure_gemma3};

}  // namespace capibara
