// The preset table (dimensions from each model's published `config.json`) and the `--dims` form.
#include "tools/synth_presets.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"
#include "tools/synth_vocab.hpp"

namespace capibara::tools {
namespace {

// Defaults per architecture: norm epsilon, rope base, tied output, tokenizer and chat template
// as that architecture's best-known model has them.
SynthShape arch_defaults(std::string_view arch) {
  SynthShape s;
  s.name = "custom";
  s.architecture = std::string(arch);
  if (arch == "llama") {
    s.vocab = VocabFamily::kLlamaSpm;
    s.chat = ChatStyle::kZephyr;
  } else if (arch == "qwen2") {
    s.norm_eps = 1e-6f;
    s.rope_base = 1e6f;
    s.tied_output = true;
    s.vocab = VocabFamily::kQwen2Bpe;
    s.chat = ChatStyle::kChatml;
  } else if (arch == "phi3") {
    s.tied_output = true;
    s.longrope = true;
    s.rope_attn_factor = 1.0f;
    s.vocab = VocabFamily::kPhi4Bpe;
    s.chat = ChatStyle::kPhi4;
  } else if (arch == "gemma3") {
    s.norm_eps = 1e-6f;
    s.rope_base = 1e6f;
    s.tied_output = true;
    s.vocab = VocabFamily::kGemmaSpm;
    s.chat = ChatStyle::kGemma;
  } else if (arch == "command-r") {
    s.logit_scale = 0.125f;
    s.tied_output = true;
    s.vocab = VocabFamily::kCohereBpe;
    s.chat = ChatStyle::kCohere;
  }
  return s;
}

struct Dims {
  int64_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
};

SynthShape with_dims(SynthShape s, std::string_view name, Dims d) {
  s.name = std::string(name);
  s.n_embd = d.n_embd;
  s.n_layer = d.n_layer;
  s.n_head = d.n_head;
  s.n_head_kv = d.n_head_kv;
  s.n_ff = d.n_ff;
  s.n_vocab = d.n_vocab;
  s.n_ctx = d.n_ctx;
  return s;
}

SynthShape tinyllama() {
  return with_dims(arch_defaults("llama"), "tinyllama-1.1b", {2048, 22, 32, 4, 5632, 32000, 2048});
}

SynthShape llama32_1b() {
  SynthShape s =
      with_dims(arch_defaults("llama"), "llama-3.2-1b", {2048, 16, 32, 8, 8192, 128256, 131072});
  s.rope_base = 500000.0f;
  s.tied_output = true;
  s.llama3_rope = true;
  s.vocab = VocabFamily::kLlama3Bpe;
  s.chat = ChatStyle::kLlama3;
  s.n_reserved = 245;  // <|reserved_special_token_3|> ... _247|>
  return s;
}

SynthShape qwen25_05b() {
  SynthShape s =
      with_dims(arch_defaults("qwen2"), "qwen2.5-0.5b", {896, 24, 14, 2, 4864, 151936, 32768});
  s.n_reserved = 271;  // [PAD151665] ... [PAD151935]: the embedding has more rows than tokens
  return s;
}

SynthShape mistral_7b() {
  SynthShape s =
      with_dims(arch_defaults("llama"), "mistral-7b", {4096, 32, 32, 8, 14336, 32000, 32768});
  s.sliding_window = 4096;  // Mistral 7B v0.1
  s.chat = ChatStyle::kMistral;
  return s;
}

SynthShape phi4_mini() {
  SynthShape s =
      with_dims(arch_defaults("phi3"), "phi-4-mini", {3072, 32, 24, 8, 8192, 200064, 131072});
  s.n_rot = 96;  // partial_rotary_factor 0.75 of a 128-wide head
  s.rope_n_ctx_orig = 4096;
  // sqrt(1 + ln(131072 / 4096) / ln(4096)), as the converter writes it.
  s.rope_attn_factor = std::sqrt(1.0f + std::log(32.0f) / std::log(4096.0f));
  s.n_reserved = 57;  // <|dummy_N|> up to the 200064 rows
  return s;
}

SynthShape qwen25_coder_7b() {
  SynthShape s = with_dims(arch_defaults("qwen2"), "qwen2.5-coder-7b",
                           {3584, 28, 28, 4, 18944, 152064, 32768});
  s.tied_output = false;
  s.n_reserved = 399;
  return s;
}

SynthShape gemma3_4b() {
  SynthShape s =
      with_dims(arch_defaults("gemma3"), "gemma-3-4b", {2560, 34, 8, 4, 10240, 262144, 131072});
  s.head_dim = 256;
  s.sliding_window = 1024;
  s.rope_linear_factor = 8.0f;  // global layers; the local ones keep base 10000, no scaling
  return s;
}

SynthShape aya_expanse_8b() {
  return with_dims(arch_defaults("command-r"), "aya-expanse-8b",
                   {4096, 32, 32, 8, 14336, 256000, 8192});
}

using PresetFn = SynthShape (*)();
struct Preset {
  std::string_view name;
  PresetFn make;
};

constexpr std::array kPresets = {
    Preset{"tinyllama-1.1b", tinyllama}, Preset{"llama-3.2-1b", llama32_1b},
    Preset{"qwen2.5-0.5b", qwen25_05b},  Preset{"mistral-7b", mistral_7b},
    Preset{"phi-4-mini", phi4_mini},     Preset{"qwen2.5-coder-7b", qwen25_coder_7b},
    Preset{"gemma-3-4b", gemma3_4b},     Preset{"aya-expanse-8b", aya_expanse_8b},
};

constexpr std::array<std::string_view, 5> kArchitectures = {"llama", "qwen2", "phi3", "gemma3",
                                                            "command-r"};

std::string join(const std::vector<std::string_view>& names) {
  std::string out;
  for (auto n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

}  // namespace

std::vector<std::string_view> synth_preset_names() {
  std::vector<std::string_view> names;
  for (const auto& p : kPresets) names.push_back(p.name);
  return names;
}

std::optional<SynthShape> find_synth_preset(std::string_view name) {
  for (const auto& p : kPresets) {
    if (p.name == name) return p.make();
  }
  return std::nullopt;
}

std::vector<std::string_view> synth_architectures() {
  return {kArchitectures.begin(), kArchitectures.end()};
}

std::optional<SynthShape> synth_arch_defaults(std::string_view architecture) {
  if (std::find(kArchitectures.begin(), kArchitectures.end(), architecture) ==
      kArchitectures.end()) {
    return std::nullopt;
  }
  return arch_defaults(architecture);
}

void apply_synth_dims(SynthShape& shape, std::string_view dims) {
  struct Field {
    std::string_view key;
    int64_t SynthShape::*member;
  };
  static constexpr std::array kFields = {
      Field{"n_embd", &SynthShape::n_embd}, Field{"n_layer", &SynthShape::n_layer},
      Field{"n_head", &SynthShape::n_head}, Field{"n_head_kv", &SynthShape::n_head_kv},
      Field{"n_ff", &SynthShape::n_ff},     Field{"n_vocab", &SynthShape::n_vocab},
      Field{"n_ctx", &SynthShape::n_ctx},   Field{"head_dim", &SynthShape::head_dim},
      Field{"n_rot", &SynthShape::n_rot},   Field{"sliding_window", &SynthShape::sliding_window},
  };
  std::vector<std::string_view> seen;
  size_t pos = 0;
  while (pos <= dims.size()) {
    const size_t comma = std::min(dims.find(',', pos), dims.size());
    const std::string_view item = dims.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) {
      if (comma == dims.size()) break;
      continue;
    }
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      throw InvalidArgumentError(fmt::format("--dims: '{}' is not KEY=VALUE", item));
    }
    const std::string_view key = item.substr(0, eq);
    const std::string_view text = item.substr(eq + 1);
    const auto field =
        std::find_if(kFields.begin(), kFields.end(), [&](const Field& f) { return f.key == key; });
    if (field == kFields.end()) {
      std::string keys;
      for (const auto& f : kFields) keys += (keys.empty() ? "" : ", ") + std::string(f.key);
      throw InvalidArgumentError(fmt::format("--dims: unknown key '{}' (known: {})", key, keys));
    }
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      throw InvalidArgumentError(fmt::format("--dims: '{}' is given twice", key));
    }
    seen.push_back(key);
    int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || value < 0) {
      throw InvalidArgumentError(
          fmt::format("--dims: {} must be a non-negative integer, got '{}'", key, text));
    }
    shape.*(field->member) = value;
  }
  if (!seen.empty() && shape.name != "custom") shape.name += " (resized)";
}

SynthShape resolve_synth_shape(std::string_view arch, std::string_view preset,
                               std::string_view dims) {
  SynthShape shape;
  if (!preset.empty()) {
    const auto p = find_synth_preset(preset);
    if (!p) {
      throw InvalidArgumentError(fmt::format("unknown shape preset '{}' (presets: {})", preset,
                                             join(synth_preset_names())));
    }
    if (!arch.empty() && p->architecture != arch) {
      throw InvalidArgumentError(
          fmt::format("preset '{}' is a '{}' model, not '{}'", preset, p->architecture, arch));
    }
    shape = *p;
  } else {
    if (arch.empty()) {
      throw InvalidArgumentError("give --shape PRESET, or --arch ARCH with --dims (presets: " +
                                 join(synth_preset_names()) +
                                 "; architectures: " + join(synth_architectures()) + ")");
    }
    const auto d = synth_arch_defaults(arch);
    if (!d) {
      throw InvalidArgumentError(fmt::format("synth cannot write architecture '{}' (supported: {})",
                                             arch, join(synth_architectures())));
    }
    if (dims.empty()) {
      throw InvalidArgumentError(
          "--arch without --shape needs --dims "
          "n_embd=...,n_layer=...,n_head=...,n_head_kv=...,n_ff=...,n_vocab=...,n_ctx=...");
    }
    shape = *d;
  }
  apply_synth_dims(shape, dims);
  validate_synth_shape(shape);
  return shape;
}

void validate_synth_shape(const SynthShape& s) {
  const auto need_positive = [&](std::string_view key, int64_t v) {
    if (v <= 0) {
      throw InvalidArgumentError(
          fmt::format("{} must be positive (set it with --dims {}=N)", key, key));
    }
  };
  need_positive("n_embd", s.n_embd);
  need_positive("n_layer", s.n_layer);
  need_positive("n_head", s.n_head);
  need_positive("n_head_kv", s.n_head_kv);
  need_positive("n_ff", s.n_ff);
  need_positive("n_vocab", s.n_vocab);
  need_positive("n_ctx", s.n_ctx);
  if (s.n_head % s.n_head_kv != 0) {
    throw InvalidArgumentError(
        fmt::format("n_head ({}) must be a multiple of n_head_kv ({})", s.n_head, s.n_head_kv));
  }
  if (s.head_dim == 0 && s.n_embd % s.n_head != 0) {
    throw InvalidArgumentError(fmt::format(
        "n_embd ({}) must be a multiple of n_head ({}), or give head_dim", s.n_embd, s.n_head));
  }
  const int64_t head = s.head_size();
  if (head % 2 != 0) throw InvalidArgumentError(fmt::format("head size {} must be even", head));
  if (s.rope_dims() % 2 != 0 || s.rope_dims() > head) {
    throw InvalidArgumentError(
        fmt::format("n_rot ({}) must be even and at most the head size ({})", s.rope_dims(), head));
  }
  if (s.sliding_window > 0 && s.architecture != "llama" && s.architecture != "gemma3") {
    throw InvalidArgumentError(
        fmt::format("sliding_window: capibara honours it for llama (Mistral) and gemma3, not '{}'",
                    s.architecture));
  }
  const int64_t min_vocab = min_vocab_size(s.vocab);
  if (s.n_vocab < min_vocab) {
    throw InvalidArgumentError(
        fmt::format("n_vocab ({}) is too small for the {} tokenizer: it needs at least {}",
                    s.n_vocab, vocab_family_name(s.vocab), min_vocab));
  }
  constexpr int64_t kMaxSize = int64_t{1} << 24;  // keeps every product far from overflow
  for (int64_t v : {s.n_embd, s.n_ff, s.n_vocab, s.n_layer, s.n_head, head}) {
    if (v > kMaxSize) throw InvalidArgumentError(fmt::format("size {} is too large", v));
  }
}

}  // namespace capibara::tools
