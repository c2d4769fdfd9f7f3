// Hyperparameters of a model, read from GGUF metadata, and the knobs by which architectures
// differ. Architectures are data: the shared forward pass (transformer.cpp) reads these fields
// instead of switching on the architecture name; each `arch_*.cpp` sets them from its keys.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/ops.hpp"

namespace capibara {

namespace gguf {
class GgufFile;
}

enum class RopeScaling { kNone, kLinear, kLlama3, kLongRope };

// The normalisation every norm of the model uses.
enum class NormType {
  kRms,        // x / rms(x) * w (Llama, Qwen2, Phi-3, Gemma)
  kLayerNorm,  // (x - mean) / std * w, no bias (Cohere)
};

// The activation of the gate in the gated FFN: down(act(gate(x)) * up(x)).
enum class Activation { kSilu, kGeluTanh };

// How the two sub-blocks of a layer meet the residual stream.
enum class ResidualLayout {
  kSequential,  // x += attn(norm(x)); x += ffn(norm(x))
  kParallel,    // x += attn(norm(x)) + ffn(norm(x)), one norm (Cohere)
};

// What differs between the layers of one model.
struct LayerConfig {
  bool sliding_window = false;  // attends only to the last `ModelConfig::sliding_window` positions
  bool rope = true;             // Cohere2's global layers have no positional encoding at all
};

struct ModelConfig {
  std::string architecture;  // `general.architecture`
  std::string name;          // `general.name`, may be empty
  int64_t n_vocab = 0;       // rows of `token_embd.weight`
  int64_t n_ctx_train = 0;   // context length the model was trained with, tokens
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_ff = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;  // per head, for queries, keys and values
  float norm_eps = 1e-5f;

  // Architecture knobs; the defaults are Llama's.
  NormType norm = NormType::kRms;
  Activation activation = Activation::kSilu;
  ResidualLayout residual = ResidualLayout::kSequential;
  bool fused_gate_up = false;    // `ffn_up` holds [gate; up], 2 * n_ff rows (Phi-3)
  bool attention_bias = false;   // q/k/v biases are required (Qwen2); elsewhere bound if present
  bool qk_norm = false;          // per-head norms of q and k before RoPE (Gemma 3)
  bool post_norms = false;       // norms of the attention and FFN outputs (Gemma 3)
  float embedding_scale = 1.0f;  // multiplies the embedding rows (Gemma: sqrt(n_embd))
  float attention_scale = 0.0f;  // multiplies q.k; 0: 1 / sqrt(head_dim)
  float logit_scale = 1.0f;      // multiplies the logits (Cohere `logit_scale`)
  float final_logit_softcap = 0.0f;  // logits = cap * tanh(logits / cap); 0: none
  int64_t sliding_window = 0;        // positions a sliding-window layer sees, itself included
  std::vector<LayerConfig> layers;   // [n_layer]

  RopeScaling rope_scaling = RopeScaling::kNone;
  kernels::RopeParams rope;      // global layers; `freq_factors` is bound to a tensor at load
  kernels::RopeParams rope_swa;  // sliding-window layers (Gemma 3: own base, no scaling)
  int64_t rope_n_ctx_orig = 0;   // LongRoPE: contexts beyond it use the long factors, tokens

  int64_t q_dim() const { return n_head * head_dim; }
  int64_t kv_dim() const { return n_head_kv * head_dim; }
  int64_t n_gqa() const { return n_head / n_head_kv; }
  int64_t ffn_up_rows() const { return fused_gate_up ? 2 * n_ff : n_ff; }
  bool has_sliding_window() const;
};

// Reads `<arch>.*` keys for an architecture's `configure` function; every error names the key.
class HparamReader {
 public:
  HparamReader(const gguf::GgufFile& file, std::string_view architecture);

  const gguf::GgufFile& file() const { return file_; }
  std::string key(std::string_view name) const { return prefix_ + std::string(name); }

  int64_t require_positive(std::string_view name) const;
  int64_t positive_or(std::string_view name, int64_t fallback) const;
  std::optional<int64_t> get_int(std::string_view name) const;
  float require_float(std::string_view name) const;
  std::optional<float> get_float(std::string_view name) const;
  std::optional<std::string_view> get_string(std::string_view name) const;
  // Layers that use a sliding window, from `attention.sliding_window_pattern` (a period or one
  // bool per layer), or nullopt when the key is absent.
  std::optional<std::vector<bool>> sliding_window_pattern(int64_t n_layer) const;
  // FormatError with the file's name in front of `message`.
  [[noreturn]] void fail(const std::string& message) const;

 private:
  const gguf::GgufFile& file_;
  std::string prefix_;  // "<arch>."
};

// Marks the layers of a sliding-window pattern with period `period`: in every group of `period`
// layers all but the last use the window (Gemma 3: 6, Cohere2: 4); 0 marks every layer.
void set_sliding_window_period(ModelConfig& c, int64_t period);

// Reads the keys every architecture shares (sizes, heads, RoPE); the architecture's `configure`
// then sets its norm epsilon and knobs.
void read_common_hparams(const HparamReader& hp, ModelConfig& c);

// The whole configuration of `file`: the common keys, then its architecture's. UnsupportedError
// listing the supported architectures for an unknown one, FormatError naming a missing required
// key or an inconsistent value, UnsupportedError for a rope scaling type capibara lacks.
ModelConfig read_model_config(const gguf::GgufFile& file);

}  // namespace capibara
