// Token table construction and lookup (see vocab.hpp).
#include "tokenizer/vocab.hpp"

#include <fmt/format.h>

#include "core/error.hpp"

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
  ids_.reserve(tokens_.size());
  for (size_t i = 0; i < tokens_.size(); ++i) {
    Token& token = tokens_[i];
    if (token.text.empty()) token.text = fmt::format("[EMPTY_{}]", i);
    const auto [it, inserted] = ids_.emplace(token.text, static_cast<int32_t>(i));
    if (!inserted) {
      throw FormatError(fmt::format("duplicate token in the vocabulary: '{}' has ids {} and {}",
                                    token.text, it->second, i));
    }
  }
}

int32_t Vocab::find(std::string_view text) const {
  const auto it = ids_.find(text);
  return it == ids_.end() ? -1 : it->second;
}

}  // namespace capibara
