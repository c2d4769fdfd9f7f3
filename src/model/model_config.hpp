// Hyperparameters of a model, read from GGUF metadata, and the knobs by which architectures
// differ. Architectures are data: the shared forward pass (transformer.cpp) reads these fields
// instead of switching on the architecture name.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/ops.hpp"

namespace capibara {

namespace gguf {
class GgufFile;
}

enum class RopeScaling { kNone, kLinear, kLlama3 };

struct ModelConfig {
  std::string architecture;  // `general.architecture`
  std::string name;          // `general.name`, may be empty
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;  // context length the model was trained with, tokens
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_ff = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;  // per head, for queries, keys and values
  float norm_eps = 1e-5f;
  RopeScaling rope_scaling = RopeScaling::kNone;
  kernels::RopeParams rope;  // `freq_factors` is bound to the model's tensor at load

  int64_t q_dim() const { return n_head * head_dim; }
  int64_t kv_dim() const { return n_head_kv * head_dim; }
  int64_t n_gqa() const { return n_head / n_head_kv; }
};

// Reads the `<arch>.*` keys. Throws FormatError naming a missing required key or an
// inconsistent value, UnsupportedError for a rope scaling type capibara lacks.
ModelConfig read_model_config(const gguf::GgufFile& file);

}  // namespace capibara
