// Byte-level BPE ("gpt2") encoding as llama.cpp's `llm_tokenizer_bpe` does it: pre-tokenize the
// text into words (bpe_pretokenizer.hpp), map each byte of a word to its GPT-2 "byte-level"
// character, then merge adjacent symbols by the rank of their pair in `tokenizer.ggml.merges`
// (lowest rank first, leftmost first on ties) until no pair of neighbours has a merge.
//
// Symbols are token ids rather than strings: every text a merge can produce is interned once at
// load (a vocabulary id, or an id past the vocabulary for the rare merge result that is not a
// token), so merging a word costs a few hash lookups on integer pairs.
//
// Called only by `Tokenizer`; immutable after construction, any thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/bpe_pretokenizer.hpp"
#include "tokenizer/vocab.hpp"

namespace capibara {

// GPT-2's byte <-> character mapping: printable Latin-1 bytes stand for themselves, the other 68
// bytes for U+0100..U+0143 in byte order (so that no token text holds spaces or control bytes).
namespace byte_level {
// UTF-8 text of the character that stands for `byte` ("Ġ" for ' ').
std::string_view encode_byte(uint8_t byte);
// The byte a character stands for, or -1 when `cp` is not one of the 256 characters.
int decode_codepoint(uint32_t cp);
// The bytes a byte-level token text stands for ("Ġhello" -> " hello"), as llama.cpp's
// `llama_decode_text` does it: a character outside the mapping becomes
// "[UNK_BYTE_0x<its UTF-8 in hex><the whole text>]".
std::string decode_text(std::string_view text);
}  // namespace byte_level

class BpeEncoder {
 public:
  BpeEncoder() = default;
  // `merges`: "left right" per entry, rank = index (earlier merges first; a repeated pair keeps
  // its first rank, an entry without a space is ignored, as in llama.cpp).
  BpeEncoder(const Vocab& vocab, std::span<const std::string> merges, BpePreTokenizerInfo pre);

  // Appends the tokens of `text` (raw UTF-8, not byte-encoded) to `out`. Invalid UTF-8 becomes
  // U+FFFD first, as llama.cpp does.
  void encode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) const;

  const BpePreTokenizerInfo& pre_tokenizer() const { return pre_; }
  size_t n_merges() const { return n_merges_; }

 private:
  struct Scratch;
  struct MergeEntry {
    uint64_t key = kEmptyKey;  // left id << 32 | right id
    int32_t rank = 0;
    int32_t result = 0;  // id of the merged text
  };
  static constexpr uint64_t kEmptyKey = ~uint64_t{0};

  int32_t intern(const Vocab& vocab, const std::string& text);
  void insert_merge(uint64_t key, int32_t rank, int32_t result);
  const MergeEntry* find_merge(int32_t left, int32_t right) const;
  void encode_word(const Vocab& vocab, std::string_view word, Scratch& scratch,
                   std::vector<int32_t>& out) const;
  void emit_symbol(const Vocab& vocab, int32_t id, std::vector<int32_t>& out) const;

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using StringMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

  BpePreTokenizerInfo pre_;
  int32_t n_vocab_ = 0;
  size_t n_merges_ = 0;
  std::array<int32_t, 256> byte_symbols_{};  // symbol id of each byte's character
  std::vector<MergeEntry> merge_table_;      // open addressing, size a power of two
  uint64_t merge_mask_ = 0;
  std::vector<std::string> extra_texts_;  // [id - n_vocab] texts of symbols that are not tokens
  StringMap extra_ids_;                   // text -> id for those
  StringMap raw_tokens_;  // raw bytes -> id of a token spelling exactly them (`ignore_merges`)
};

}  // namespace capibara
