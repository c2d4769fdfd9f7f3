// The tensors of a synthetic model: names (GGUF tensor names, a wire format), shapes, how each is
// filled, and its storage type, for every architecture synth writes. The list follows what
// src/model/model_weights.cpp binds for the architecture's knobs.
//
// Thread safety: pure functions; any thread may call them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/ggml_type.hpp"
#include "tools/quantize_plan.hpp"
#include "tools/synth_presets.hpp"

namespace capibara::tools {

enum class TensorFill {
  kNormal,         // weights and biases: N(0, weight_std)
  kOnes,           // norm weights (Gemma's files store 1 + w, so 1 is also its neutral norm)
  kLlama3Freqs,    // `rope_freqs.weight`: Llama 3.1's per-frequency divisors
  kLongRopeShort,  // `rope_factors_short.weight`: 1
  kLongRopeLong,   // `rope_factors_long.weight`: rising from 1 to 32 along the frequencies
};

struct SynthTensor {
  std::string name;
  std::vector<int64_t> shape;  // GGUF order: shape[0] is the row length
  TensorFill fill = TensorFill::kNormal;
  GgmlType type = GgmlType::kF32;

  int64_t n_elements() const;
  int64_t n_rows() const { return n_elements() / shape[0]; }
};

// Every tensor of `shape`, in the order llama.cpp's quantizer writes them (outside the layers
// first, then by layer, by name within each), each with the type `target` gives it
// (`assign_synth_types`).
std::vector<SynthTensor> synth_tensor_list(const SynthShape& shape, QuantTarget target);

// Values of the rope-factor fills (`n_freq` = rotary dimensions / 2).
std::vector<float> rope_factor_values(TensorFill fill, int64_t n_freq, float rope_base);

}  // namespace capibara::tools
