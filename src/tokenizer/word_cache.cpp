// Per-call word memo (see word_cache.hpp).
#include "tokenizer/word_cache.hpp"

#include <algorithm>
#include <bit>

namespace capibara {

WordCache::WordCache(size_t text_bytes) {
  // About one word per 5 bytes of prose, at most half the slots used; capped at 1 Mi slots.
  const size_t capacity = std::bit_ceil(std::clamp<size_t>(text_bytes / 2, 64, size_t{1} << 20));
  slots_.resize(capacity);
  mask_ = capacity - 1;
}

bool WordCache::lookup(std::string_view word, std::vector<int32_t>& out) const {
  const uint64_t h = hash_bytes(word);
  for (size_t i = h & mask_;; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.data == nullptr) return false;
    if (s.hash == static_cast<uint32_t>(h >> 32) && std::string_view(s.data, s.size) == word) {
      out.insert(out.end(), ids_.begin() + s.offset, ids_.begin() + s.offset + s.count);
      return true;
    }
  }
}

void WordCache::remember(std::string_view word, std::span<const int32_t> ids) {
  if ((used_ + 1) * 2 > slots_.size() || word.size() > UINT32_MAX || ids_.size() > UINT32_MAX / 2) {
    return;
  }
  const uint64_t h = hash_bytes(word);
  for (size_t i = h & mask_;; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.data == nullptr) {
      s = {word.data(), static_cast<uint32_t>(word.size()), static_cast<uint32_t>(h >> 32),
           static_cast<uint32_t>(ids_.size()), static_cast<uint32_t>(ids.size())};
      ids_.insert(ids_.end(), ids.begin(), ids.end());
      ++used_;
      return;
    }
    if (s.hash == static_cast<uint32_t>(h >> 32) && std::string_view(s.data, s.size) == word)
      return;
  }
}

}  // namespace capibara
