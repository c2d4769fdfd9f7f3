// The per-tensor type rules of llama.cpp's quantization presets, for the presets capibara offers.
// Each rule names the llama.cpp condition it mirrors (src/llama-quant.cpp); presets capibara
// does not offer (Q2_K, Q3_K_*, IQ*, ...) are left out rather than half-copied.
#include "tools/quantize_plan.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <numeric>
#include <utility>

#include <fmt/format.h>

#include "core/error.hpp"
#include "gguf/gguf_file.hpp"

namespace capibara::tools {
namespace {

struct TargetName {
  QuantTarget target;
  std::string_view name;
};

// Offered presets, in the order help and errors list them; then llama-quantize's aliases.
constexpr std::array kTargetNames = {
    TargetName{QuantTarget::kQ8_0, "Q8_0"},     TargetName{QuantTarget::kQ4_0, "Q4_0"},
    TargetName{QuantTarget::kQ4_K_M, "Q4_K_M"}, TargetName{QuantTarget::kQ5_K_M, "Q5_K_M"},
    TargetName{QuantTarget::kQ6_K, "Q6_K"},     TargetName{QuantTarget::kF16, "F16"},
    TargetName{QuantTarget::kBF16, "BF16"},     TargetName{QuantTarget::kF32, "F32"},
};
constexpr std::array kTargetAliases = {
    TargetName{QuantTarget::kQ4_K_M, "Q4_K"},
    TargetName{QuantTarget::kQ5_K_M, "Q5_K"},
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

bool contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// llama.cpp's `tensor_category`: broad roles found from the name, in its order of tests.
enum class Category {
  kTokenEmbd,
  kAttnQ,
  kAttnV,
  kAttnK,
  kAttnQkv,
  kAttnKvB,
  kAttnOutput,
  kFfnUp,
  kFfnGate,
  kFfnDown,
  kOutput,
  kOther,
};

Category category_of(std::string_view name) {
  if (name == "output.weight") return Category::kOutput;
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") {
    return Category::kTokenEmbd;
  }
  if (contains(name, "attn_qkv.weight")) return Category::kAttnQkv;
  if (contains(name, "attn_kv_b.weight")) return Category::kAttnKvB;
  if (contains(name, "attn_v.weight")) return Category::kAttnV;
  if (contains(name, "attn_k.weight")) return Category::kAttnK;
  if (contains(name, "attn_q.weight")) return Category::kAttnQ;
  if (contains(name, "attn_output.weight")) return Category::kAttnOutput;
  if (contains(name, "ffn_up")) return Category::kFfnUp;
  if (contains(name, "ffn_gate")) return Category::kFfnGate;
  if (contains(name, "ffn_down")) return Category::kFfnDown;
  return Category::kOther;
}

// Value projections, fused or not, are the most sensitive to quantization
// (`category_is_attn_v`): they share one counter and one rule.
bool is_attn_v_like(Category c) {
  return c == Category::kAttnV || c == Category::kAttnQkv || c == Category::kAttnKvB;
}

// Substrings of tensors llama.cpp never quantizes although they are 2-D weights
// (`tensor_allows_quantization`): expert routers, tiny or positional tensors, multimodal parts.
constexpr std::array<std::string_view, 33> kNeverQuantized = {
    "_norm.weight",
    "ffn_gate_inp.weight",
    "ffn_gate_tid2eid.weight",
    "altup",
    "laurel",
    "per_layer_model_proj",
    "ssm_conv1d",
    "shortconv.conv.weight",
    "indexer.k_proj.weight",
    "indexer.q_proj.weight",
    "time_mix_first.weight",
    "time_mix_w0.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_v0.weight",
    "time_mix_v1.weight",
    "time_mix_v2.weight",
    "time_mix_a0.weight",
    "time_mix_a1.weight",
    "time_mix_a2.weight",
    "time_mix_g1.weight",
    "time_mix_g2.weight",
    "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight",
    "attn_rel_b.weight",
    ".position_embd",
    "sam.pos_embd",
    "sam.neck.",
    "sam.net_",
    ".rel_pos",
    ".patch_embd",
    ".patch_merger",
};

// ggml_n_dims: dimensions up to the last one larger than 1 (at least 1).
size_t n_dims(std::span<const int64_t> shape) {
  size_t n = shape.size();
  while (n > 1 && shape[n - 1] == 1) --n;
  return std::max<size_t>(n, 1);
}

bool allows_quantization(std::string_view name, std::span<const int64_t> shape) {
  if (n_dims(shape) < 2) return false;
  if (!ends_with(name, "weight")) return false;
  for (std::string_view part : kNeverQuantized) {
    if (contains(name, part)) return false;
  }
  // BERT's positional embeddings and token types (LLM_TENSOR_POS_EMBD / TOKEN_TYPES).
  if (name == "position_embd.weight" || name == "token_types.weight") return false;
  // Audio codebooks.
  return !contains(name, "a.rvq.codebook") && !contains(name, "mm.a.code_embd");
}

bool is_block_quantized(GgmlType type) { return traits_of(type).block_size > 1; }

// llama.cpp's `use_more_bits`: the first and last eighth of the layers and every third one in
// between get more bits in the _M presets.
bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

// `blk.N.` -> N, as llama.cpp's `sscanf(name, "blk.%d.", ...)`; nullopt when absent.
std::optional<int> layer_of(std::string_view name) {
  constexpr std::string_view kPrefix = "blk.";
  if (name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  const char* begin = name.data() + kPrefix.size();
  const char* end = name.data() + name.size();
  if (begin != end && *begin == '+') ++begin;
  int layer = 0;
  const auto [ptr, ec] = std::from_chars(begin, end, layer);
  if (ec != std::errc() || ptr == begin) return std::nullopt;
  return layer;
}

// The preset's rule for one tensor (`llama_tensor_get_type_impl`), for the offered presets.
GgmlType preset_type(QuantTarget target, const ModelFacts& model, std::string_view name,
                     std::span<const int64_t> shape, Category category, TensorOrdinals ordinals,
                     std::string& note) {
  const GgmlType base = default_tensor_type(target);
  GgmlType type = base;
  const bool falcon = model.architecture == "falcon";
  const bool k_m = target == QuantTarget::kQ4_K_M || target == QuantTarget::kQ5_K_M;

  if (category == Category::kOutput || (!model.has_output && category == Category::kTokenEmbd)) {
    // The output projection (or the embedding that doubles as it) keeps 6 bits or more.
    const int64_t row_length = shape[0];
    const int64_t block = traits_of(base).block_size;
    if (falcon) {
      type = GgmlType::kQ8_0;
    } else if (row_length % block != 0) {
      type = GgmlType::kQ8_0;
      note = fmt::format("row length {} is not a multiple of {} ({}): q8_0 for the output",
                         row_length, block, ggml_type_name(base));
    } else if (type != GgmlType::kQ8_0) {
      type = GgmlType::kQ6_K;
    }
  } else if (category == Category::kTokenEmbd) {
    // The preset's type (only the IQ / ternary presets change it).
  } else if (is_attn_v_like(category)) {
    if (k_m && use_more_bits(ordinals.attn_v, model.n_attention_wv)) type = GgmlType::kQ6_K;
    // 70B-class models share each attn_v among 8 heads, so the tensor is small: more bits.
    if (model.is_70b_class && (type == GgmlType::kQ3_K || type == GgmlType::kQ4_K)) {
      type = GgmlType::kQ5_K;
    }
    if (model.n_expert == 8) type = GgmlType::kQ8_0;
  } else if (category == Category::kAttnK) {
    if (model.n_expert == 8) type = GgmlType::kQ8_0;
  } else if (category == Category::kFfnDown) {
    int i_layer = ordinals.ffn_down;
    const int n_layers = model.n_layers;
    if (model.n_expert > 1) {
      // Experts' tensors are not in layer order, so the layer comes from the name.
      const auto layer = layer_of(name);
      if (!layer) throw FormatError(fmt::format("cannot tell the layer of tensor '{}'", name));
      if (*layer < 0 || *layer >= n_layers) {
        throw FormatError(
            fmt::format("tensor '{}' is in layer {}, the model has {}", name, *layer, n_layers));
      }
      i_layer = *layer;
    }
    if (target == QuantTarget::kQ4_K_M) {
      if (falcon) {
        type = i_layer < n_layers / 16            ? GgmlType::kQ6_K
               : use_more_bits(i_layer, n_layers) ? GgmlType::kQ5_K
                                                  : GgmlType::kQ4_K;
      } else if (use_more_bits(i_layer, n_layers)) {
        type = GgmlType::kQ6_K;
      }
    } else if (target == QuantTarget::kQ5_K_M && use_more_bits(i_layer, n_layers)) {
      type = GgmlType::kQ6_K;
    }
  } else if (category == Category::kAttnOutput) {
    if (!falcon && model.n_expert == 8 && target == QuantTarget::kQ4_K_M) type = GgmlType::kQ5_K;
  }
  // Fused QKV goes through the attn_v rule above (llama.cpp's own `ATTENTION_QKV` branch is
  // unreachable since `category_is_attn_v` includes it); FFN up/gate change only for IQ presets.
  return type;
}

// `tensor_type_fallback`: a type whose block fits rows of `row_length`; says why in `note`.
GgmlType fallback_type(GgmlType type, int64_t row_length, std::string& note) {
  GgmlType fallback = GgmlType::kF16;
  switch (type) {
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K:
      fallback = GgmlType::kQ4_0;
      break;
    case GgmlType::kQ4_K:
      fallback = GgmlType::kQ5_0;
      break;
    case GgmlType::kQ5_K:
      fallback = GgmlType::kQ5_1;
      break;
    case GgmlType::kQ6_K:
      fallback = GgmlType::kQ8_0;
      break;
    default:
      // llama.cpp gives up here ("no tensor type fallback"); f16 keeps the tensor usable.
      break;
  }
  std::string why = fmt::format("row length {} is not a multiple of {} ({})", row_length,
                                traits_of(type).block_size, ggml_type_name(type));
  if (row_length % traits_of(fallback).block_size != 0) {
    why += fmt::format(" nor of {} ({})", traits_of(fallback).block_size, ggml_type_name(fallback));
    fallback = GgmlType::kF16;
  }
  note = note.empty() ? why : note + "; " + why;
  return fallback;
}

}  // namespace

std::string_view quant_target_name(QuantTarget target) {
  for (const auto& t : kTargetNames) {
    if (t.target == target) return t.name;
  }
  return "?";
}

std::optional<QuantTarget> parse_quant_target(std::string_view text) {
  for (const auto& t : kTargetNames) {
    if (iequals(t.name, text)) return t.target;
  }
  for (const auto& t : kTargetAliases) {
    if (iequals(t.name, text)) return t.target;
  }
  return std::nullopt;
}

std::string quant_target_list() {
  std::string out;
  for (const auto& t : kTargetNames) {
    if (!out.empty()) out += ", ";
    out += t.name;
  }
  return out;
}

GgmlType default_tensor_type(QuantTarget target) {
  switch (target) {
    case QuantTarget::kF32:
      return GgmlType::kF32;
    case QuantTarget::kF16:
      return GgmlType::kF16;
    case QuantTarget::kBF16:
      return GgmlType::kBF16;
    case QuantTarget::kQ4_0:
      return GgmlType::kQ4_0;
    case QuantTarget::kQ8_0:
      return GgmlType::kQ8_0;
    case QuantTarget::kQ4_K_M:
      return GgmlType::kQ4_K;
    case QuantTarget::kQ5_K_M:
      return GgmlType::kQ5_K;
    case QuantTarget::kQ6_K:
      return GgmlType::kQ6_K;
  }
  return GgmlType::kF32;
}

ModelFacts model_facts(const gguf::GgufFile& file) {
  ModelFacts facts;
  facts.architecture = file.architecture();
  const auto int_key = [&](const std::string& key) -> std::optional<int64_t> {
    const gguf::Value* v = file.find(key);
    return v == nullptr ? std::nullopt : v->as_int();  // per-layer arrays count as absent
  };
  const std::string prefix = facts.architecture + ".";
  if (const auto n = int_key(prefix + "block_count"); n && *n > 0 && *n < (1 << 20)) {
    facts.n_layers = static_cast<int>(*n);
  } else {
    for (const auto& t : file.tensors()) {
      if (const auto layer = layer_of(t.name); layer && *layer >= 0 && *layer < (1 << 20)) {
        facts.n_layers = std::max(facts.n_layers, *layer + 1);
      }
    }
  }
  if (const auto n = int_key(prefix + "expert_count"); n && *n > 0 && *n < (1 << 20)) {
    facts.n_expert = static_cast<int>(*n);
  }
  // llama.cpp's loader calls these LLM_TYPE_70B (Llama 2/3 70B with GQA, Qwen2 72B, Deci 70B).
  if (facts.n_layers == 80) {
    const auto n_head = int_key(prefix + "attention.head_count");
    const auto n_head_kv = int_key(prefix + "attention.head_count_kv");
    const bool gqa = n_head && n_head_kv.value_or(*n_head) != *n_head;
    facts.is_70b_class = (facts.architecture == "llama" && gqa) || facts.architecture == "qwen2" ||
                         facts.architecture == "deci";
  }
  facts.has_output = file.find_tensor("output.weight") != nullptr;
  for (const auto& t : file.tensors()) {
    if (is_attn_v_like(category_of(t.name))) ++facts.n_attention_wv;
  }
  return facts;
}

TypeChoice choose_tensor_type(QuantTarget target, const ModelFacts& model, std::string_view name,
                              std::span<const int64_t> shape, GgmlType current,
                              TensorOrdinals ordinals) {
  TypeChoice choice;
  choice.type = current;
  if (!allows_quantization(name, shape)) return choice;
  if (!traits_of(current).can_dequantize) {
    // Integer tensors (i8 ... i64) and f64 hold data that is not a weight matrix.
    choice.note = fmt::format("kept in {}: not a floating-point tensor", ggml_type_name(current));
    return choice;
  }
  GgmlType type = default_tensor_type(target);
  if (is_block_quantized(type)) {
    type = preset_type(target, model, name, shape, category_of(name), ordinals, choice.note);
    choice.fallback = !choice.note.empty();
    if (shape[0] % traits_of(type).block_size != 0) {
      type = fallback_type(type, shape[0], choice.note);
      choice.fallback = true;
    }
  }
  choice.type = type;
  choice.converted = type != current;
  return choice;
}

std::vector<size_t> quantize_order(std::span<const std::string> names) {
  std::vector<size_t> order(names.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::vector<int> layers(names.size());
  for (size_t i = 0; i < names.size(); ++i) layers[i] = layer_of(names[i]).value_or(-1);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (layers[a] != layers[b]) return layers[a] < layers[b];
    return names[a] < names[b];
  });
  return order;
}

std::vector<PlannedTensor> plan_quantization(const gguf::GgufFile& file, QuantTarget target) {
  const ModelFacts facts = model_facts(file);
  const auto& tensors = file.tensors();
  std::vector<std::string> names;
  names.reserve(tensors.size());
  for (const auto& t : tensors) names.push_back(t.name);

  const bool quantized_target = is_block_quantized(default_tensor_type(target));
  TensorOrdinals ordinals;
  std::vector<PlannedTensor> plan;
  plan.reserve(tensors.size());
  for (size_t index : quantize_order(names)) {
    const gguf::TensorInfo& t = tensors[index];
    plan.push_back({index, choose_tensor_type(target, facts, t.name, t.shape, t.type, ordinals)});
    // llama.cpp counts a tensor when its rule ran: a quantizable tensor under a quantized preset
    // that is not the output (nor the embedding standing in for it).
    if (!quantized_target || !allows_quantization(t.name, t.shape)) continue;
    const Category c = category_of(t.name);
    if (is_attn_v_like(c)) ++ordinals.attn_v;
    if (c == Category::kFfnDown) ++ordinals.ffn_down;
  }
  return plan;
}

}  // namespace capibara::tools
