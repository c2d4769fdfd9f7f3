// The token table every tokenizer model shares: id -> text, score, type and attributes, and the
// reverse text -> id lookup. Immutable once the owning `Tokenizer` is built.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/hash_bytes.hpp"

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
  int32_t find(std::string_view text) const {
    if (slots_.empty()) return -1;
    const uint64_t h = hash_bytes(text);
    for (size_t s = h & slot_mask_;; s = (s + 1) & slot_mask_) {
      const Slot& slot = slots_[s];
      if (slot.id < 0) return -1;
      if (slot.hash == static_cast<uint32_t>(h >> 32) &&
          tokens_[static_cast<size_t>(slot.id)].text == text) {
        return slot.id;
      }
    }
  }

 private:
  // The text -> id index: open addressing with linear probing, at most half full. Tokenizers
  // look up every candidate piece, so this is their hottest path; a flat table keeps it to one
  // or two cache misses.
  struct Slot {
    uint32_t hash = 0;  // high bits of the text's hash, to skip most string compares
    int32_t id = -1;    // -1: empty
  };
  std::vector<Token> tokens_;  // [n_vocab]
  std::vector<Slot> slots_;    // [power of two >= 2 * n_vocab]
  size_t slot_mask_ = 0;
};

}  // namespace capibara
