// The shapes `capibara synth` can write: named presets at the dimensions of real models (the
// original deployment's five experts and the small models benchmarks compare with), and the
// explicit `--dims` form that starts from an architecture's defaults or overrides a preset.
//
// A shape is data: every knob the architecture files of src/model read from GGUF metadata has a
// field here, and synth.cpp writes them out under the architecture's key names.
//
// Thread safety: constant data and pure functions; any thread may call them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace capibara::tools {

// The tokenizer a synthetic model carries, shaped like its real model's (synth_vocab.hpp).
enum class VocabFamily {
  kLlamaSpm,   // SentencePiece: <unk> <s> </s>, byte tokens (TinyLlama, Mistral)
  kGemmaSpm,   // SentencePiece without a space prefix, turn tokens (Gemma 3)
  kLlama3Bpe,  // byte-level BPE, "llama-bpe", header and eot tokens at the end (Llama 3)
  kQwen2Bpe,   // byte-level BPE, "qwen2", ChatML tokens (Qwen2.5)
  kPhi4Bpe,    // byte-level BPE, <|user|> <|assistant|> <|end|> (Phi-4-mini)
  kCohereBpe,  // byte-level BPE, "command-r", turn tokens (Aya Expanse)
};

// The chat template written as `tokenizer.chat_template` (synth_chat_templates.hpp).
enum class ChatStyle { kZephyr, kMistral, kLlama3, kChatml, kPhi4, kGemma, kCohere };

struct SynthShape {
  std::string name;          // preset name, or "custom"
  std::string architecture;  // `general.architecture`: llama, qwen2, phi3, gemma3, command-r
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;  // 0: n_embd / n_head
  int64_t n_ff = 0;
  int64_t n_vocab = 0;  // tokenizer tokens = rows of token_embd
  int64_t n_ctx = 0;    // `context_length`, tokens
  int64_t n_rot = 0;    // `rope.dimension_count`; 0: the whole head
  float rope_base = 10000.0f;
  float norm_eps = 1e-5f;
  int64_t sliding_window = 0;  // tokens; 0: none
  bool tied_output = false;    // no `output.weight`: the embedding doubles as the output
  // Architecture extras (0 / false: absent from the file).
  float logit_scale = 0.0f;         // command-r
  float rope_linear_factor = 0.0f;  // `rope.scaling.type` linear with this factor (Gemma 3 4B)
  bool llama3_rope = false;         // `rope_freqs.weight` as Llama 3.1+ (factor 32, 8192 orig.)
  bool longrope = false;            // `rope_factors_{short,long}.weight` (Phi-3.5, Phi-4-mini)
  int64_t rope_n_ctx_orig = 0;      // LongRoPE's original context, tokens
  float rope_attn_factor = 0.0f;    // LongRoPE's cos/sin scale
  VocabFamily vocab = VocabFamily::kLlamaSpm;
  ChatStyle chat = ChatStyle::kZephyr;
  // Tokens at the end of the vocabulary reserved for future specials (Llama 3's 245
  // `<|reserved_special_token_N|>`, Qwen's `[PADn]`), part of `n_vocab`; fewer when a resized
  // vocabulary leaves no room for them.
  int64_t n_reserved = 0;

  int64_t head_size() const { return head_dim > 0 ? head_dim : n_embd / n_head; }
  int64_t rope_dims() const { return n_rot > 0 ? n_rot : head_size(); }
  int64_t q_dim() const { return n_head * head_size(); }
  int64_t kv_dim() const { return n_head_kv * head_size(); }
};

// Preset names in the order help lists them.
std::vector<std::string_view> synth_preset_names();
// The preset `name`; nullopt when there is none.
std::optional<SynthShape> find_synth_preset(std::string_view name);
// Architectures synth can write.
std::vector<std::string_view> synth_architectures();
// The knobs of `architecture` without dimensions (all sizes 0), for the `--dims` form;
// nullopt for an architecture synth cannot write.
std::optional<SynthShape> synth_arch_defaults(std::string_view architecture);

// Applies `dims` ("n_embd=2048,n_layer=22,...") to `shape`. Keys: n_embd, n_layer, n_head,
// n_head_kv, n_ff, n_vocab, n_ctx, head_dim, n_rot, sliding_window. InvalidArgumentError naming
// an unknown key, a repeated key, or a value that is not a non-negative integer.
void apply_synth_dims(SynthShape& shape, std::string_view dims);

// The shape `--arch`, `--shape` and `--dims` describe: the preset (whose architecture `arch`
// must match when both are given), else the architecture's defaults; then the dims. Checks the
// result (`validate_synth_shape`). InvalidArgumentError naming the problem and the choices.
SynthShape resolve_synth_shape(std::string_view arch, std::string_view preset,
                               std::string_view dims);

// InvalidArgumentError unless the sizes make a model the architecture can load: every size
// positive, heads divide evenly, rotary dimensions even and within a head, a vocabulary large
// enough for the tokenizer family.
void validate_synth_shape(const SynthShape& shape);

}  // namespace capibara::tools
