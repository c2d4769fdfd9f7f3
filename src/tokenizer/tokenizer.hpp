// Text <-> token ids for one model, built from the GGUF `tokenizer.ggml.*` metadata and bit-exact
// with llama.cpp's tokenizer for the same file.
//
// The tokenizer layer sits beside gguf/ and chat/ at the bottom of the stack: engine/, server/ and
// cli/ call it (the output processor detokenizes; request handling encodes prompts). One
// `Tokenizer` per loaded model. Three algorithms, one `TokenizerKind` each, selected in one switch
// in tokenizer.cpp: SentencePiece ("llama", spm.hpp), byte-level BPE ("gpt2", bpe.hpp, with the
// pre-tokenizer regexes of bpe_pretokenizer.hpp) and WordPiece ("bert", wpm.hpp). Special-token
// splitting, BOS/EOS/SEP, and detokenization are shared and live here.
//
// Thread safety: a `Tokenizer` is immutable after construction; any thread may call its const
// methods concurrently. A `StreamingDecoder` belongs to one sequence and one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/bpe.hpp"
#include "tokenizer/spm.hpp"
#include "tokenizer/vocab.hpp"
#include "tokenizer/wpm.hpp"

namespace capibara {

namespace gguf {
class GgufFile;
}

// The algorithm that turns text into ids, from `tokenizer.ggml.model`.
enum class TokenizerKind {
  kSpm,  // "llama": SentencePiece BPE with byte fallback
  kBpe,  // "gpt2": byte-level BPE with a regex pre-tokenizer chosen by `tokenizer.ggml.pre`
  kWpm,  // "bert": WordPiece
};

// The tokenizer metadata as a file states it, before defaults and checks: what `from_gguf`
// reads, and what tests build by hand.
struct TokenizerSpec {
  std::string model = "llama";       // tokenizer.ggml.model
  std::string pre;                   // tokenizer.ggml.pre ("" when absent); BPE only
  std::vector<std::string> tokens;   // [n_vocab] tokenizer.ggml.tokens
  std::vector<float> scores;         // [n_vocab] tokenizer.ggml.scores, or empty: all 0
  std::vector<int32_t> token_types;  // [n_vocab] TokenType values, or empty: all normal
  // [n_merges] tokenizer.ggml.merges, "left right" by rank; required for BPE (nullopt: absent).
  std::optional<std::vector<std::string>> merges;
  // Special token ids. nullopt: key absent, the model type's default applies (SPM: bos 1, eos 2,
  // unk 0; BPE: bos 11, eos 11; WPM: bos 101 [CLS], unk 100, sep 102, pad 0; when in range).
  // -1 or 0xFFFFFFFF (what converters write for "none"): no such token.
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
  std::optional<bool> add_bos;           // default: SPM, WPM and Llama 3 BPE true, other BPE false
  std::optional<bool> add_eos;           // default false
  std::optional<bool> add_sep;           // default true for WPM (appends [SEP]); unused otherwise
  std::optional<bool> add_space_prefix;  // default true for SPM, false otherwise
  std::optional<bool> normalizer_lowercase;      // WPM, default true
  std::optional<bool> normalizer_strip_accents;  // WPM, default: as `normalizer_lowercase`
  std::string model_name;  // general.name: llama.cpp sets some token attributes by model name
};

// A byte range of a text to encode, `[begin, end)`: see the `literal` overload of
// `Tokenizer::encode`.
struct TextRange {
  size_t begin;  // bytes from the start of the text
  size_t end;    // bytes from the start of the text, one past the last
};

class Tokenizer {
 public:
  // Reads tokenizer.ggml.* from the file. `UnsupportedError` for a tokenizer model not
  // implemented ("t5", ...) or an unknown BPE pre-tokenizer name (llama.cpp refuses those too),
  // `FormatError` for inconsistent metadata (array lengths or types differ, special ids out of
  // range, duplicate tokens, BPE without merges). A BPE file without `tokenizer.ggml.pre` gets
  // the "default" pre-tokenizer and a warning (see `warnings`), as in llama.cpp.
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
  int32_t sep_id() const { return sep_id_; }  // -1 if none
  bool add_bos() const { return add_bos_; }   // tokenizer.ggml.add_bos_token
  bool add_eos() const { return add_eos_; }   // tokenizer.ggml.add_eos_token
  bool add_sep() const { return add_sep_; }   // tokenizer.ggml.add_sep_token (WPM)
  bool add_space_prefix() const { return add_space_prefix_; }
  // The BPE pre-tokenizer in effect ("default" when the file names none); "" for SPM and WPM.
  const std::string& pre_tokenizer() const { return pre_; }
  // Whether llama.cpp's detokenizer tidies spaces around punctuation for this vocabulary
  // (`clean_up_tokenization_spaces`); see `clean_up_spaces`. `decode` never does it.
  bool clean_spaces() const { return clean_spaces_; }
  // Problems found while loading that do not stop it (e.g. a BPE file without a pre-tokenizer
  // name), one sentence each, for the caller to log.
  std::span<const std::string> warnings() const { return warnings_; }

  // End of generation: eos, eot, eom, fim pad/rep/sep, and the control tokens llama.cpp detects
  // by text (`<|im_end|>`, `<|end|>`, `<end_of_turn>`, `<|eot_id|>`, `<|endoftext|>`, ...).
  bool is_eog(int32_t id) const;
  std::span<const int32_t> eog_ids() const { return eog_ids_; }  // sorted ascending
  bool is_control(int32_t id) const;
  TokenType token_type(int32_t id) const;  // as the file says; kUndefined for an invalid id
  // Id of the token whose vocabulary text is exactly `text`, -1 if none.
  int32_t find_token(std::string_view text) const { return vocab_.find(text); }

  // `add_special`: prepend BOS (and append EOS, and for WPM [SEP]) as the metadata says.
  // `parse_special`: text of control and unknown tokens in `text` becomes those tokens
  // (otherwise it is plain text). As in llama.cpp, user-defined tokens are always matched,
  // whatever `parse_special` says.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;
  // Like `encode(text, add_special, parse_special)`, but special-token text that overlaps any of
  // `literal` (sorted, non-overlapping; adjacent and empty ranges are fine) is tokenized as plain
  // text, never as a special token. For a rendered chat prompt: the ranges are the users' message
  // contents, so text there that spells `<|im_end|>` cannot inject a control token, while the
  // template's own markup outside them still does. Fragment tokenization, leading-space rules
  // and BOS/EOS are unchanged: with no special text inside the ranges the result equals the plain
  // overload's. `InvalidArgumentError` for a range that ends past the text, has `begin > end`, or
  // starts before the previous one ends.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special,
                              std::span<const TextRange> literal) const;

  // The bytes the token stands for when it follows other text: SPM and WPM "▁" -> " ", "<0x0A>"
  // -> one byte 0x0A, BPE byte-level characters -> their bytes ("Ġ" -> " "), control and unknown
  // tokens -> "" unless `render_special`. Invalid id -> "".
  std::string token_to_piece(int32_t id, bool render_special = false) const {
    return std::string(piece(id, render_special));
  }
  // Same bytes without allocating; valid as long as the tokenizer.
  std::string_view piece(int32_t id, bool render_special = false) const;

  // Whole-text decode: the pieces concatenated, minus the single leading space SPM adds at the
  // start of the text (after BOS); for WPM, minus the space of the first word's "▁". Raw bytes:
  // byte tokens may leave invalid UTF-8, which `StreamingDecoder` repairs. Lossless for BPE:
  // `decode(encode(text)) == text` for valid UTF-8.
  std::string decode(std::span<const int32_t> ids, bool render_special = false) const;

  // Raw vocabulary string ("▁Hello", "<0x0A>", "<s>"); "" for an invalid id.
  const std::string& token_text(int32_t id) const;

 private:
  struct Fragment {
    int32_t token;  // >= 0: a special token matched in the text; -1: raw text
    size_t offset;
    size_t length;
  };

  void set_defaults(const TokenizerSpec& spec);
  void finish_special_tokens(const TokenizerSpec& spec);
  void build_pieces();
  std::vector<Fragment> partition(std::string_view text, bool parse_special,
                                  std::span<const TextRange> literal) const;
  void encode_text(std::string_view text, bool after_special, std::vector<int32_t>& out) const;

  TokenizerKind kind_ = TokenizerKind::kSpm;
  Vocab vocab_;
  SpmEncoder spm_;
  BpeEncoder bpe_;
  WpmEncoder wpm_;
  std::string pre_;
  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  int32_t eot_id_ = -1;
  int32_t eom_id_ = -1;
  int32_t unk_id_ = -1;
  int32_t pad_id_ = -1;
  int32_t sep_id_ = -1;
  bool add_bos_ = false;
  bool add_eos_ = false;
  bool add_sep_ = false;
  bool add_space_prefix_ = false;
  bool clean_spaces_ = false;
  std::vector<std::string> warnings_;
  std::vector<int32_t> eog_ids_;         // sorted
  std::vector<int32_t> special_tokens_;  // control / user-defined / unknown, longest text first
  std::vector<std::string> pieces_;      // [n_vocab] piece with specials rendered
};

// llama.cpp's `clean_up_tokenization_spaces` for detokenized text: removes the space before
// "?", "!", ".", ",", the spaces around a lone "'", and the space before "'s", "'m", "'re" and
// "'ve". Lossy; meant for display when `Tokenizer::clean_spaces()` says the vocabulary wants it.
std::string clean_up_spaces(std::string_view text);

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
