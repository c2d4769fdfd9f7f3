// SentencePiece-style ("llama") encoding as llama.cpp's `llm_tokenizer_spm` does it: greedy
// bigram merging by vocabulary score, then byte fallback for whatever is not a token.
//
// llama.cpp merges over the whole text at once. A merge can only join symbols whose concatenation
// is a token, so where no token can span a boundary the two sides merge independently and the
// result is the same when they are processed one after the other. Before a "▁" that follows a
// character no token ever puts before an inner "▁" (in Llama's vocabularies: any character but
// "▁"), no token can span; the text is cut there into word-sized chunks, which keeps the queue
// small and the encoder linear in the text.
//
// Called only by `Tokenizer`; any thread (it keeps no mutable state).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.hpp"

namespace capibara {

class SpmEncoder {
 public:
  SpmEncoder() = default;
  // `unk_id` (-1 for none) stands for a byte that has neither a `<0xNN>` nor a one-byte token.
  SpmEncoder(const Vocab& vocab, int32_t unk_id);

  // Appends the tokens of `text` to `out`. `text` is already escaped (spaces are "▁") and carries
  // the leading "▁" when the model wants one; the caller does both.
  void encode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) const;

  // Token for one raw byte (`<0xNN>`, else the byte as a one-character token, else unk); -1 when
  // even unk is missing.
  int32_t byte_token(uint8_t byte) const { return byte_tokens_[byte]; }

 private:
  struct Symbol;
  struct Bigram;
  // Merges the characters in `symbols` (one chunk, linked in order) and appends its tokens.
  void merge_chunk(const Vocab& vocab, std::string_view text, std::vector<Symbol>& symbols,
                   std::vector<Bigram>& queue, std::vector<int32_t>& out) const;

  std::array<int32_t, 256> byte_tokens_{};
  std::array<int32_t, 256> char_tokens_{};  // token whose text is this one byte, or -1
  // Characters (UTF-8) that some token puts right before a "▁" that is not part of its leading
  // run of "▁": the text is not cut before a "▁" that follows one of these.
  std::vector<std::string> joins_space_;
};

}  // namespace capibara
