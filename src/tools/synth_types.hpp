// The storage type of each tensor of a synthetic model for a `--type` preset: the same mix as
// llama.cpp's `llama-quantize` gives the real model (Q4_0 keeps the output in Q6_K, Q4_K_M gives
// some attn_v / ffn_down tensors Q6_K, norms stay F32, ...). One small function so the policy
// can be swapped; the rules themselves are `choose_tensor_type` (quantize_plan.hpp).
//
// Thread safety: pure function.
#pragma once

#include <vector>

#include "tools/quantize_plan.hpp"
#include "tools/synth_presets.hpp"

namespace capibara::tools {

struct SynthTensor;

// Sets `type` of every tensor of `tensors` (in output order) for `target`.
void assign_synth_types(std::vector<SynthTensor>& tensors, const SynthShape& shape,
                        QuantTarget target);

}  // namespace capibara::tools
