// Text <-> token ids for one model, built from the GGUF `tokenizer.ggml.*` metadata and bit-exact
// with llama.cpp's tokenizer for the same file.
//
// The tokenizer layer sits beside gguf/ and chat/ at the bottom of the stack: engine/, server/ and
// cli/ call it (the output processor detokenizes; request handling encodes prompts). One
// `Tokenizer` per loaded model. Only SentencePiece ("llama") is implemented; byte-level BPE
// ("gpt2") and WordPiece ("bert") will be further `TokenizerKind`s with their own encoder beside
// `SpmEncoder`, selected in one switch in tokenizer.cpp.
//
// Thread safety: a `Tokenizer` is immutable after construction; any thread may call its const
// methods concurrently. A `StreamingDecoder` belongs to one sequence and one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/spm.hpp"
#include "tokenizer/vocab.hpp"

namespace capibara {

namespace gguf {
class GgufFile;
}

// The algorithm that turns text into ids, from `tokenizer.ggml.model`.
enum class TokenizerKind {
  kSpm,  // "llama": SentencePiece BPE with byte fallback
};

// The tokenizer metadata as a file states it, before defaults and checks: what `from_gguf`
// reads, and what tests build by hand.
struct TokenizerSpec {
  std::string model = "llama";       // tokenizer.ggml.model
  std::vector<std::string> tokens;   // [n_vocab] tokenizer.ggml.tokens
  std::vector<float> scores;         // [n_vocab] tokenizer.ggml.scores, or empty: all 0
  std::vector<int32_t> token_types;  // [n_vocab] TokenType values, or empty: all normal
  // Special token ids. nullopt: key absent, the model type's default applies (SPM: bos 1, eos 2,
  // unk 0, when in range). -1 or 0xFFFFFFFF (what converters write for "none"): no such token.
  std::optional<int64_t> bos_id;
  std::optional<int64_t> eos_id;
  std::optional<int64_t> unk_id;
  std::optional<int64_t> eot_id;
  std::optional<int64_t> eom_id;
  std::optional<int64_t> pad_id;
  std::optional<int64_t> sep_id;
  std::optional<int64_t> fim_pad_id;
  std::optional<int64_t> fim_rep_id;
  std::optional<int64_t> fim_sep_id;
  std::optional<bool> add_bos;           // default true for SPM
  std::optional<bool> add_eos;           // default false for SPM
  std::optional<bool> add_space_prefix;  // default true for SPM
  std::string model_name;  // general.name: llama.cpp sets some token attributes by model name
};

class Tokenizer {
 public:
  // Reads tokenizer.ggml.* from the file. `UnsupportedError` for a tokenizer model not
  // implemented yet, `FormatError` for inconsistent metadata (array lengths or types differ,
  // special ids out of range, duplicate tokens).
  static Tokenizer from_gguf(const gguf::GgufFile& file);
  // The metadata alone, without building anything (same errors for mistyped keys).
  static TokenizerSpec read_spec(const gguf::GgufFile& file);
  // Builds from metadata given directly; same checks as `from_gguf`.
  explicit Tokenizer(TokenizerSpec spec);

  // Move-only: the tables are large; share one through a pointer instead of copying.
  Tokenizer(Tokenizer&&) noexcept = default;
  Tokenizer& operator=(Tokenizer&&) noexcept = default;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  TokenizerKind kind() const { return kind_; }
  int32_t n_vocab() const { return vocab_.size(); }
  int32_t bos_id() const { return bos_id_; }  // -1 if none
  int32_t eos_id() const { return eos_id_; }  // -1 if none
  int32_t eot_id() const { return eot_id_; }  // -1 if none
  int32_t unk_id() const { return unk_id_; }  // -1 if none
  int32_t pad_id() const { return pad_id_; }  // -1 if none
  bool add_bos() const { return add_bos_; }   // tokenizer.ggml.add_bos_token
  bool add_eos() const { return add_eos_; }   // tokenizer.ggml.add_eos_token
  bool add_space_prefix() const { return add_space_prefix_; }

  // End of generation: eos, eot, eom, fim pad/rep/sep, and the control tokens llama.cpp detects
  // by text (`<|im_end|>`, `<|end|>`, `<end_of_turn>`, `<|eot_id|>`, `<|endoftext|>`, ...).
  bool is_eog(int32_t id) const;
  std::span<const int32_t> eog_ids() const { return eog_ids_; }  // sorted ascending
  bool is_control(int32_t id) const;
  TokenType token_type(int32_t id) const;  // as the file says; kUndefined for an invalid id
  // Id of the token whose vocabulary text is exactly `text`, -1 if none.
  int32_t find_token(std::string_view text) const { return vocab_.find(text); }

  // `add_special`: prepend BOS (and append EOS) as the metadata says. `parse_special`: text of
  // control and unknown tokens in `text` becomes those tokens (otherwise it is plain text).
  // As in llama.cpp, user-defined tokens are always matched, whatever `parse_special` says.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes the token stands for when it follows other text: SPM "▁" -> " ", "<0x0A>" -> one
  // byte 0x0A, control and unknown tokens -> "" unless `render_special`. Invalid id -> "".
  std::string token_to_piece(int32_t id, bool render_special = false) const {
    return std::string(piece(id, render_special));
  }
  // Same bytes without allocating; valid as long as the tokenizer.
  std::string_view piece(int32_t id, bool render_special = false) const;

  // Whole-text decode: the pieces concatenated, minus the single leading space SPM adds at the
  // start of the text (after BOS). Raw bytes: byte tokens may leave invalid UTF-8, which
  // `StreamingDecoder` repairs.
  std::string decode(std::span<const int32_t> ids, bool render_special = false) const;

  // Raw vocabulary string ("▁Hello", "<0x0A>", "<s>"); "" for an invalid id.
  const std::string& token_text(int32_t id) const;

 private:
  struct Fragment {
    int32_t token;  // >= 0: a special token matched in the text; -1: raw text
    size_t offset;
    size_t length;
  };

  void finish_special_tokens(const TokenizerSpec& spec);
  void build_pieces();
  std::vector<Fragment> partition(std::string_view text, bool parse_special) const;
  void encode_text(std::string_view text, bool after_special, std::vector<int32_t>& out) const;

  TokenizerKind kind_ = TokenizerKind::kSpm;
  Vocab vocab_;
  SpmEncoder spm_;
  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  int32_t eot_id_ = -1;
  int32_t eom_id_ = -1;
  int32_t unk_id_ = -1;
  int32_t pad_id_ = -1;
  int32_t sep_id_ = -1;
  bool add_bos_ = false;
  bool add_eos_ = false;
  bool add_space_prefix_ = false;
  std::vector<int32_t> eog_ids_;         // sorted
  std::vector<int32_t> special_tokens_;  // control / user-defined / unknown, longest text first
  std::vector<std::string> pieces_;      // [n_vocab] piece with specials rendered
};

// Streaming decode for one sequence: turns ids into text as they are generated, holding back an
// incomplete UTF-8 sequence (a character split across byte tokens) until it completes. What it
// returns is always valid UTF-8: ill-formed bytes become U+FFFD. It keeps SPM's leading space
// (generated text continues a prompt).
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer, bool render_special = false);
  std::string push(int32_t id);  // text that is complete so far (may be empty)
  std::string flush();           // whatever is left (invalid trailing bytes -> U+FFFD)

 private:
  const Tokenizer* tokenizer_;
  bool render_special_;
  std::string pending_;  // bytes of a UTF-8 sequence that is not complete yet (at most 3)
};

}  // namespace capibara
