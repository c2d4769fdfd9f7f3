// Hyperparameter keys of the Llama family (GGUF key names are a wire format).
#include "model/model_config.hpp"

#include <fmt/core.h>

#include "core/error.hpp"
#include "gguf/gguf_file.hpp"

namespace capibara {
namespace {

int64_t positive(const gguf::GgufFile& file, const std::string& key, int64_t value) {
  if (value <= 0) {
    throw FormatError(
        fmt::format("{}: key '{}' must be positive, got {}", file.display_name(), key, value));
  }
  return value;
}

}  // namespace

ModelConfig read_model_config(const gguf::GgufFile& file) {
  ModelConfig c;
  c.architecture = std::string(file.require_string("general.architecture"));
  c.name = std::string(file.get_string("general.name").value_or(""));
  const std::string a = c.architecture + ".";
  auto req = [&](const char* key) { return positive(file, a + key, file.require_int(a + key)); };

  c.n_ctx_train = req("context_length");
  c.n_embd = req("embedding_length");
  c.n_layer = req("block_count");
  c.n_ff = req("feed_forward_length");
  c.n_head = req("attention.head_count");
  c.n_head_kv = positive(file, a + "attention.head_count_kv",
                         file.get_int(a + "attention.head_count_kv").value_or(c.n_head));
  if (c.n_head % c.n_head_kv != 0) {
    throw FormatError(
        fmt::format("{}: attention.head_count ({}) is not a multiple of "
                    "attention.head_count_kv ({})",
                    file.display_name(), c.n_head, c.n_head_kv));
  }
  if (c.n_embd % c.n_head != 0 && !file.get_int(a + "attention.key_length")) {
    throw FormatError(fmt::format("{}: embedding_length ({}) is not a multiple of head_count ({})",
                                  file.display_name(), c.n_embd, c.n_head));
  }
  c.head_dim = positive(file, a + "attention.key_length",
                        file.get_int(a + "attention.key_length").value_or(c.n_embd / c.n_head));
  if (const auto v = file.get_int(a + "attention.value_length"); v && *v != c.head_dim) {
    throw UnsupportedError(fmt::format("{}: attention.value_length {} differs from key_length {}",
                                       file.display_name(), *v, c.head_dim));
  }
  c.norm_eps = static_cast<float>(file.require_float(a + "attention.layer_norm_rms_epsilon"));

  c.rope.n_rot =
      static_cast<int32_t>(positive(file, a + "rope.dimension_count",
                                    file.get_int(a + "rope.dimension_count").value_or(c.head_dim)));
  if (c.rope.n_rot > c.head_dim || c.rope.n_rot % 2 != 0) {
    throw FormatError(
        fmt::format("{}: rope.dimension_count {} must be even and at most the "
                    "head size {}",
                    file.display_name(), c.rope.n_rot, c.head_dim));
  }
  c.rope.freq_base = static_cast<float>(file.get_float(a + "rope.freq_base").value_or(10000.0));
  c.rope.layout = kernels::RopeLayout::kNormal;

  const std::string scaling(file.get_string(a + "rope.scaling.type").value_or("none"));
  if (scaling == "linear") {
    const double factor = file.get_float(a + "rope.scaling.factor").value_or(1.0);
    if (!(factor > 0.0)) {
      throw FormatError(
          fmt::format("{}: rope.scaling.factor must be positive", file.display_name()));
    }
    c.rope_scaling = RopeScaling::kLinear;
    c.rope.freq_scale = static_cast<float>(1.0 / factor);
  } else if (scaling == "llama3") {
    c.rope_scaling = RopeScaling::kLlama3;  // the factors come as the `rope_freqs.weight` tensor
  } else if (scaling != "none") {
    throw UnsupportedError(
        fmt::format("{}: rope scaling type '{}' is not supported (supported: "
                    "none, linear, llama3)",
                    file.display_name(), scaling));
  }
  return c;
}

}  // namespace capibara
