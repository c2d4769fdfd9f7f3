// llama.cpp's preset rules applied to a model that exists only as a tensor list: the facts the
// rules need come from the shape, the ordinals are counted as `plan_quantization` counts them.
#include "tools/synth_types.hpp"

#include <string_view>

#include "tools/synth_tensors.hpp"

namespace capibara::tools {

void assign_synth_types(std::vector<SynthTensor>& tensors, const SynthShape& shape,
                        QuantTarget target) {
  const auto contains = [](std::string_view s, std::string_view part) {
    return s.find(part) != std::string_view::npos;
  };
  const auto attn_v_like = [&](std::string_view name) {
    return contains(name, "attn_v.weight") || contains(name, "attn_qkv.weight");
  };
  ModelFacts facts;
  facts.architecture = shape.architecture;
  facts.n_layers = static_cast<int>(shape.n_layer);
  facts.has_output = !shape.tied_output;
  for (const auto& t : tensors) {
    if (attn_v_like(t.name)) ++facts.n_attention_wv;
  }
  const bool block_target = traits_of(default_tensor_type(target)).block_size > 1;
  TensorOrdinals ordinals;
  for (auto& t : tensors) {
    t.type = choose_tensor_type(target, facts, t.name, t.shape, GgmlType::kF32, ordinals).type;
    // Counted as llama.cpp counts them: matrices under a block-quantized preset.
    if (!block_target || t.shape.size() < 2) continue;
    if (attn_v_like(t.name)) ++ordinals.attn_v;
    if (contains(t.name, "ffn_down")) ++ordinals.ffn_down;
  }
}

}  // namespace capibara::tools
