// A small hand-built SentencePiece vocabulary for tokenizer unit tests.
#pragma once

#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "tokenizer/tokenizer.hpp"

namespace capibara::testing {

// <unk> = 0, <s> = 1, </s> = 2, then (optionally) the 256 byte tokens <0x00>..<0xFF> = 3..258,
// then whatever `add` appends.
class ToyVocab {
 public:
  explicit ToyVocab(bool with_bytes = true) {
    add("<unk>", 0.0f, TokenType::kUnknown);
    add("<s>", 0.0f, TokenType::kControl);
    add("</s>", 0.0f, TokenType::kControl);
    if (with_bytes) {
      for (int b = 0; b < 256; ++b) add(fmt::format("<0x{:02X}>", b), 0.0f, TokenType::kByte);
    }
  }

  int32_t add(std::string text, float score = 0.0f, TokenType type = TokenType::kNormal) {
    spec.tokens.push_back(std::move(text));
    spec.scores.push_back(score);
    spec.token_types.push_back(static_cast<int32_t>(type));
    return static_cast<int32_t>(spec.tokens.size() - 1);
  }

  static int32_t byte(int b) { return 3 + b; }

  TokenizerSpec spec;
};

}  // namespace capibara::testing
