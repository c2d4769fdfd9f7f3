// Hyperparameter keys every architecture shares (GGUF key names are a wire format), and the
// reading of one file's configuration through its architecture.
#include "model/model_config.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/core.h>

#include "core/error.hpp"
#include "gguf/gguf_file.hpp"
#include "model/architecture.hpp"

namespace capibara {

bool ModelConfig::has_sliding_window() const {
  return sliding_window > 0 && std::any_of(layers.begin(), layers.end(),
                                           [](const LayerConfig& l) { return l.sliding_window; });
}

HparamReader::HparamReader(const gguf::GgufFile& file, std::string_view architecture)
    : file_(file), prefix_(std::string(architecture) + ".") {}

void HparamReader::fail(const std::string& message) const {
  throw FormatError(fmt::format("{}: {}", file_.display_name(), message));
}

int64_t HparamReader::require_positive(std::string_view name) const {
  const std::string k = key(name);
  const int64_t v = file_.require_int(k);
  if (v <= 0) fail(fmt::format("key '{}' must be positive, got {}", k, v));
  return v;
}

int64_t HparamReader::positive_or(std::string_view name, int64_t fallback) const {
  return file_.find(key(name)) != nullptr ? require_positive(name) : fallback;
}

std::optional<int64_t> HparamReader::get_int(std::string_view name) const {
  return file_.get_int(key(name));
}

float HparamReader::require_float(std::string_view name) const {
  return static_cast<float>(file_.require_float(key(name)));
}

std::optional<float> HparamReader::get_float(std::string_view name) const {
  const auto v = file_.get_float(key(name));
  if (!v) return std::nullopt;
  return static_cast<float>(*v);
}

std::optional<std::string_view> HparamReader::get_string(std::string_view name) const {
  return file_.get_string(key(name));
}

std::optional<std::vector<bool>> HparamReader::sliding_window_pattern(int64_t n_layer) const {
  const std::string k = key("attention.sliding_window_pattern");
  const gguf::Value* v = file_.find(k);
  if (v == nullptr) return std::nullopt;
  std::vector<bool> sliding(static_cast<size_t>(n_layer));
  if (const auto period = v->as_int()) {
    if (*period < 0) fail(fmt::format("key '{}' must not be negative, got {}", k, *period));
    for (int64_t l = 0; l < n_layer; ++l) {
      sliding[static_cast<size_t>(l)] = *period == 0 || l % *period < *period - 1;
    }
    return sliding;
  }
  const gguf::Array* a = v->as_array();
  if (a == nullptr || static_cast<int64_t>(a->items.size()) != n_layer) {
    fail(fmt::format("key '{}' must be a period or one bool per layer ({})", k, n_layer));
  }
  for (size_t l = 0; l < a->items.size(); ++l) {
    const auto b = a->items[l].as_bool();
    if (!b) fail(fmt::format("key '{}' must be a period or one bool per layer", k));
    sliding[l] = *b;
  }
  return sliding;
}

void set_sliding_window_period(ModelConfig& c, int64_t period) {
  c.layers.assign(static_cast<size_t>(c.n_layer), LayerConfig{});
  for (int64_t l = 0; l < c.n_layer; ++l) {
    c.layers[static_cast<size_t>(l)].sliding_window = period == 0 || l % period < period - 1;
  }
}

void read_common_hparams(const HparamReader& hp, ModelConfig& c) {
  c.n_ctx_train = hp.require_positive("context_length");
  c.n_embd = hp.require_positive("embedding_length");
  c.n_layer = hp.require_positive("block_count");
  c.n_ff = hp.require_positive("feed_forward_length");
  c.n_head = hp.require_positive("attention.head_count");
  c.n_head_kv = hp.positive_or("attention.head_count_kv", c.n_head);
  if (c.n_head % c.n_head_kv != 0) {
    hp.fail(
        fmt::format("attention.head_count ({}) is not a multiple of attention.head_count_kv ({})",
                    c.n_head, c.n_head_kv));
  }
  if (c.n_embd % c.n_head != 0 && !hp.get_int("attention.key_length")) {
    hp.fail(fmt::format("embedding_length ({}) is not a multiple of head_count ({})", c.n_embd,
                        c.n_head));
  }
  c.head_dim = hp.positive_or("attention.key_length", c.n_embd / c.n_head);
  if (const auto v = hp.get_int("attention.value_length"); v && *v != c.head_dim) {
    throw UnsupportedError(fmt::format("{}: attention.value_length {} differs from key_length {}",
                                       hp.file().display_name(), *v, c.head_dim));
  }

  // Partial rotary embeddings (Phi-3 family): only the first `n_rot` dimensions of a head turn.
  c.rope.n_rot = static_cast<int32_t>(hp.positive_or("rope.dimension_count", c.head_dim));
  if (c.rope.n_rot > c.head_dim || c.rope.n_rot % 2 != 0) {
    hp.fail(fmt::format("rope.dimension_count {} must be even and at most the head size {}",
                        c.rope.n_rot, c.head_dim));
  }
  c.rope.freq_base = hp.get_float("rope.freq_base").value_or(10000.0f);
  if (!(c.rope.freq_base > 0.0f)) hp.fail("rope.freq_base must be positive");
  c.rope.layout = kernels::RopeLayout::kNormal;
  c.rope_n_ctx_orig = hp.positive_or("rope.scaling.original_context_length", c.n_ctx_train);
  // llama.cpp multiplies cos and sin by it whatever the scaling type (Phi-3.5, Phi-4-mini).
  c.rope.attn_factor = hp.get_float("rope.scaling.attn_factor").value_or(1.0f);
  if (!(c.rope.attn_factor > 0.0f)) hp.fail("rope.scaling.attn_factor must be positive");

  const std::string scaling(hp.get_string("rope.scaling.type").value_or("none"));
  if (scaling == "linear") {
    const float factor = hp.get_float("rope.scaling.factor").value_or(1.0f);
    if (!(factor > 0.0f)) hp.fail("rope.scaling.factor must be positive");
    c.rope_scaling = RopeScaling::kLinear;
    c.rope.freq_scale = 1.0f / factor;
  } else if (scaling == "llama3") {
    c.rope_scaling = RopeScaling::kLlama3;  // the factors come as the `rope_freqs.weight` tensor
  } else if (scaling == "longrope") {
    c.rope_scaling = RopeScaling::kLongRope;  // `rope_factors_{short,long}.weight`
  } else if (scaling != "none") {
    throw UnsupportedError(
        fmt::format("{}: rope scaling type '{}' is not supported (supported: none, linear, "
                    "llama3, longrope)",
                    hp.file().display_name(), scaling));
  }

  c.sliding_window = hp.get_int("attention.sliding_window").value_or(0);
  if (c.sliding_window < 0) hp.fail("attention.sliding_window must not be negative");
  c.layers.assign(static_cast<size_t>(c.n_layer), LayerConfig{});
}

ModelConfig read_model_config(const gguf::GgufFile& file) {
  const Architecture& arch = require_architecture(file);
  ModelConfig c;
  c.architecture = std::string(arch.name);
  c.name = std::string(file.get_string("general.name").value_or(""));
  const HparamReader hp(file, arch.name);
  read_common_hparams(hp, c);
  arch.configure(hp, c);

  if (c.attention_scale == 0.0f)
    c.attention_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  // Sliding-window layers share the global rope unless the architecture set their own.
  if (c.rope_swa.n_rot == 0) c.rope_swa = c.rope;
  if (c.sliding_window == 0) {
    for (auto& l : c.layers) l.sliding_window = false;
  }
  if (const auto* embd = file.find_tensor("token_embd.weight");
      embd != nullptr && embd->shape.size() == 2) {
    c.n_vocab = embd->shape[1];
  }
  return c;
}

}  // namespace capibara
