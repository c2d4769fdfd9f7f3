// The token table every tokenizer model shares: id -> text, score, type and attributes, and the
// reverse text -> id lookup. Immutable once the owning `Tokenizer` is built.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace capibara {

// GGUF `tokenizer.ggml.token_type` values (wire format: never renumber).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// Token attributes as llama.cpp derives them: the file's type plus what is detected from the
// token text (a control-looking `<|im_end|>` stored as normal becomes control) or the model name.
namespace token_attr {
inline constexpr uint32_t kNormal = 1u << 0;
inline constexpr uint32_t kUnknown = 1u << 1;
inline constexpr uint32_t kControl = 1u << 2;
inline constexpr uint32_t kUserDefined = 1u << 3;
inline constexpr uint32_t kByte = 1u << 4;
inline constexpr uint32_t kUnused = 1u << 5;
inline constexpr uint32_t kLstrip = 1u << 6;  // special-token parsing eats whitespace before it
inline constexpr uint32_t kRstrip = 1u << 7;  // ... and after it
}  // namespace token_attr

uint32_t attr_from_type(TokenType type);

class Vocab {
 public:
  struct Token {
    std::string text;
    float score = 0.0f;
    TokenType type = TokenType::kNormal;
    uint32_t attr = token_attr::kNormal;
  };

  Vocab() = default;
  // `FormatError` when two tokens have the same text. Empty texts become "[EMPTY_<id>]" as in
  // llama.cpp, so that every token stays addressable.
  explicit Vocab(std::vector<Token> tokens);

  int32_t size() const { return static_cast<int32_t>(tokens_.size()); }
  bool contains(int32_t id) const { return id >= 0 && id < size(); }
  const Token& operator[](int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
  Token& operator[](int32_t id) { return tokens_[static_cast<size_t>(id)]; }
  bool has_attr(int32_t id, uint32_t attr) const { return ((*this)[id].attr & attr) != 0; }

  // Id of the token whose text is exactly `text`, -1 when there is none. No allocation.
  int32_t find(std::string_view text) const;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  std::vector<Token> tokens_;                                            // [n_vocab]
  std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> ids_;  // text -> id
};

}  // namespace capibara
