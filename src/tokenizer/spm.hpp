// SentencePiece-style ("llama") encoding as llama.cpp's `llm_tokenizer_spm` does it: greedy
// bigram merging by vocabulary score, then byte fallback for whatever is not a token.
//
// Called only by `Tokenizer`; any thread (it keeps no mutable state).
#pragma once

#include <array>
#include <cstdint>
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
  std::array<int32_t, 256> byte_tokens_{};
};

}  // namespace capibara
