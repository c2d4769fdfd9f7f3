// Which storage type each tensor of a model gets when it is quantized to a target such as Q4_K_M:
// the rules of llama.cpp's `llama-quantize` presets (`llama_tensor_get_type` in
// src/llama-quant.cpp), so that a model quantized by capibara has the same mix of types as one
// quantized by llama.cpp.
//
// tools/ sits above gguf/, kernels/ and model/ and below cli/: it holds offline model tools
// (quantize, synth, bench) that the front end runs. Nothing here touches tensor data; the
// conversion itself is `quantize_model` (quantize_model.hpp).
//
// Thread safety: pure functions; any thread may call them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ggml_type.hpp"

namespace capibara {

namespace gguf {
class GgufFile;
}

namespace tools {

// The quantization presets, numbered as llama.cpp's `llama_ftype` (the `general.file_type`
// value written into the output: a wire format, never renumber).
enum class QuantTarget : uint32_t {
  kF32 = 0,      // LLAMA_FTYPE_ALL_F32
  kF16 = 1,      // LLAMA_FTYPE_MOSTLY_F16
  kQ4_0 = 2,     // LLAMA_FTYPE_MOSTLY_Q4_0
  kQ8_0 = 7,     // LLAMA_FTYPE_MOSTLY_Q8_0
  kQ4_K_M = 15,  // LLAMA_FTYPE_MOSTLY_Q4_K_M
  kQ5_K_M = 17,  // LLAMA_FTYPE_MOSTLY_Q5_K_M
  kQ6_K = 18,    // LLAMA_FTYPE_MOSTLY_Q6_K
  kBF16 = 32,    // LLAMA_FTYPE_MOSTLY_BF16
};

// "Q4_K_M", "F16", ... (as llama-quantize spells them).
std::string_view quant_target_name(QuantTarget target);
// Case-insensitive: Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K, F16, BF16, F32, and llama-quantize's
// aliases Q4_K (= Q4_K_M) and Q5_K (= Q5_K_M); nullopt for anything else.
std::optional<QuantTarget> parse_quant_target(std::string_view text);
// The names `parse_quant_target` accepts, for error messages and help: "Q8_0, Q4_0, ...".
std::string quant_target_list();
// The type most tensors get (llama.cpp's `llama_ftype_get_default_type`).
GgmlType default_tensor_type(QuantTarget target);

// Facts about the whole model that some rules need.
struct ModelFacts {
  std::string architecture;   // `general.architecture`: "llama", "falcon", ...
  int n_layers = 0;           // `{arch}.block_count`
  int n_expert = 0;           // `{arch}.expert_count`; 0 for a dense model
  bool is_70b_class = false;  // llama.cpp's LLM_TYPE_70B (attn_v gets more bits)
  bool has_output = true;     // `output.weight` exists (else `token_embd` is also the output)
  int n_attention_wv = 0;     // tensors named like attn_v / attn_qkv / attn_kv_b weights
};

// Reads the facts above from a file's metadata and tensor names. `n_layers` falls back to the
// highest `blk.N.` index + 1 when `block_count` is absent.
ModelFacts model_facts(const gguf::GgufFile& file);

// Where a tensor sits among the tensors the rules count, in llama.cpp's tensor order (see
// `quantize_order`). For a dense model both equal the tensor's layer index.
struct TensorOrdinals {
  int attn_v = 0;    // earlier attn_v-like tensors that went through the rules
  int ffn_down = 0;  // earlier ffn_down tensors that went through the rules
};

struct TypeChoice {
  GgmlType type = GgmlType::kF32;
  bool converted = false;  // false: the tensor is copied as it is (norms, 1-D, same type)
  bool fallback = false;   // the preset's type does not fit the row length; `note` says why
  std::string note;        // why the type differs from the preset's rule ("" when it does not)
};

// The type llama.cpp's preset gives tensor `name` of `shape` (GGUF order: shape[0] is the row
// length) stored as `current`. Tensors that are not 2-D or more, norms, biases and the other
// tensors llama.cpp never quantizes keep `current`. When the preset's type's block does not
// divide the row length, the tensor falls back to a type that fits (q4_K -> q5_0, q5_K -> q5_1,
// q6_K -> q8_0, and to f16 when even that does not fit), with the reason in `note`. Unlike
// llama.cpp, which refuses such a tensor for Q8_0 / Q4_0 targets, those fall back to f16 too.
TypeChoice choose_tensor_type(QuantTarget target, const ModelFacts& model, std::string_view name,
                              std::span<const int64_t> shape, GgmlType current,
                              TensorOrdinals ordinals);

// The order llama.cpp writes a quantized model's tensors in (its loader's `weights_map`): by
// layer (`blk.N.`; tensors outside the layers first), then by name. Indices into `names`.
std::vector<size_t> quantize_order(std::span<const std::string> names);

// Every tensor of `file` in output order with its choice (the ordinals counted as llama.cpp
// counts them).
struct PlannedTensor {
  size_t index = 0;  // into `file.tensors()`
  TypeChoice choice;
};
std::vector<PlannedTensor> plan_quantization(const gguf::GgufFile& file, QuantTarget target);

}  // namespace tools
}  // namespace capibara
