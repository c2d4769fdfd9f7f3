// A fast, non-cryptographic hash of short byte strings for the tokenizer's hash tables (token
// texts and words are a few bytes long). Inline, because it sits in the innermost loops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace capibara {

// 8 bytes at a time, each word mixed by multiplication, then MurmurHash3's 64-bit finalizer.
inline uint64_t hash_bytes(std::string_view bytes) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  uint64_t h = kMul ^ bytes.size();
  const char* p = bytes.data();
  size_t n = bytes.size();
  const auto mix = [&](uint64_t word) {
    word *= 0xBF58476D1CE4E5B9ull;
    word ^= word >> 31;
    h = (h ^ word) * kMul;
  };
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    mix(word);
  }
  if (n > 0) {
    uint64_t word = 0;
    std::memcpy(&word, p, n);
    mix(word);
  }
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  return h;
}

}  // namespace capibara
