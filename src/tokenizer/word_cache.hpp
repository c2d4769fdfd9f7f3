// A memo of word -> token ids for the duration of one `encode` call, so that a long text does
// not merge the same word again each time it occurs (what Hugging Face's tokenizers and
// llama.cpp's callers get from their own caches). Keys point into the caller's text, which must
// outlive the cache; the table never grows past its initial size: once it is half full, new
// words are simply not remembered.
//
// Local to one call, hence one thread.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "tokenizer/hash_bytes.hpp"

namespace capibara {

class WordCache {
 public:
  // `text_bytes`: size of the text about to be encoded, which bounds the number of words.
  explicit WordCache(size_t text_bytes);

  // Appends the ids remembered for `word` to `out`; false when `word` is not remembered.
  bool lookup(std::string_view word, std::vector<int32_t>& out) const;
  void remember(std::string_view word, std::span<const int32_t> ids);

  // Whether a cache pays for itself on a text this long (short texts repeat few words).
  static bool worth_it(size_t text_bytes) { return text_bytes >= 2048; }

 private:
  struct Slot {
    const char* data = nullptr;  // nullptr: empty
    uint32_t size = 0;
    uint32_t hash = 0;
    uint32_t offset = 0;  // into `ids_`
    uint32_t count = 0;
  };
  std::vector<Slot> slots_;  // [power of two]
  size_t mask_ = 0;
  size_t used_ = 0;
  std::vector<int32_t> ids_;
};

}  // namespace capibara
