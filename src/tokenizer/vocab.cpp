// Token table construction and lookup (see vocab.hpp).
#include "tokenizer/vocab.hpp"

#include <algorithm>
#include <bit>

#include <fmt/format.h>

#include "core/error.hpp"
#include "tokenizer/hash_bytes.hpp"

namespace capibara {

uint32_t attr_from_type(TokenType type) {
  switch (type) {
    case TokenType::kNormal:
      return token_attr::kNormal;
    case TokenType::kUnknown:
      return token_attr::kUnknown;
    case TokenType::kControl:
      return token_attr::kControl;
    case TokenType::kUserDefined:
      return token_attr::kUserDefined;
    case TokenType::kUnused:
      return token_attr::kUnused;
    case TokenType::kByte:
      return token_attr::kByte;
    case TokenType::kUndefined:
      break;
  }
  return 0;  // undefined (or a value outside the enum): decodes to nothing, like llama.cpp
}

Vocab::Vocab(std::vector<Token> tokens) : tokens_(std::move(tokens)) {
  const size_t capacity = std::bit_ceil(std::max<size_t>(16, tokens_.size() * 2));
  slots_.assign(capacity, Slot{});
  slot_mask_ = capacity - 1;
  for (size_t i = 0; i < tokens_.size(); ++i) {
    Token& token = tokens_[i];
    if (token.text.empty()) token.text = fmt::format("[EMPTY_{}]", i);
    const uint64_t h = hash_bytes(token.text);
    for (size_t s = h & slot_mask_;; s = (s + 1) & slot_mask_) {
      Slot& slot = slots_[s];
      if (slot.id < 0) {
        slot = {static_cast<uint32_t>(h >> 32), static_cast<int32_t>(i)};
        break;
      }
      if (slot.hash == static_cast<uint32_t>(h >> 32) &&
          tokens_[static_cast<size_t>(slot.id)].text == token.text) {
        throw FormatError(fmt::format("duplicate token in the vocabulary: '{}' has ids {} and {}",
                                      token.text, slot.id, i));
      }
    }
  }
}

}  // namespace capibara
