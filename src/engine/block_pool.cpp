// Free queue as an intrusive doubly linked list over block ids; hash table with linear probing
// and backward-shift deletion, so nothing is allocated after construction.
#include "engine/block_pool.hpp"

#include <cassert>

namespace capibara {

BlockPool::BlockPool(int32_t n_blocks)
    : n_blocks_(n_blocks),
      ref_(static_cast<size_t>(n_blocks), 0),
      prev_(static_cast<size_t>(n_blocks), -1),
      next_(static_cast<size_t>(n_blocks), -1),
      hash_(static_cast<size_t>(n_blocks), 0),
      hashed_(static_cast<size_t>(n_blocks), 0) {
  size_t size = 16;
  while (size < 2 * static_cast<size_t>(n_blocks)) size *= 2;
  table_.assign(size, -1);
  for (int32_t b = 0; b < n_blocks; ++b) push_tail(b);
}

void BlockPool::unlink(int32_t b) {
  const auto i = static_cast<size_t>(b);
  if (prev_[i] >= 0) {
    next_[static_cast<size_t>(prev_[i])] = next_[i];
  } else {
    head_ = next_[i];
  }
  if (next_[i] >= 0) {
    prev_[static_cast<size_t>(next_[i])] = prev_[i];
  } else {
    tail_ = prev_[i];
  }
  prev_[i] = next_[i] = -1;
  --n_free_;
  if (hashed_[i]) --n_cached_free_;
}

void BlockPool::push_tail(int32_t b) {
  const auto i = static_cast<size_t>(b);
  prev_[i] = tail_;
  next_[i] = -1;
  if (tail_ >= 0) {
    next_[static_cast<size_t>(tail_)] = b;
  } else {
    head_ = b;
  }
  tail_ = b;
  ++n_free_;
  if (hashed_[i]) ++n_cached_free_;
}

size_t BlockPool::probe(uint64_t hash) const {
  const size_t mask = table_.size() - 1;
  size_t s = static_cast<size_t>(hash) & mask;
  while (table_[s] >= 0 && hash_[static_cast<size_t>(table_[s])] != hash) s = (s + 1) & mask;
  return s;
}

void BlockPool::forget_hash(int32_t b) {
  const auto i = static_cast<size_t>(b);
  if (!hashed_[i]) return;
  const size_t mask = table_.size() - 1;
  size_t s = probe(hash_[i]);
  assert(table_[s] == b);
  // Backward-shift deletion: move later entries of the probe run into the hole when their home
  // slot does not lie (cyclically) between the hole and their position.
  size_t j = s;
  while (true) {
    j = (j + 1) & mask;
    if (table_[j] < 0) break;
    const size_t home = static_cast<size_t>(hash_[static_cast<size_t>(table_[j])]) & mask;
    const bool between = s <= j ? (s < home && home <= j) : (s < home || home <= j);
    if (!between) {
      table_[s] = table_[j];
      s = j;
    }
  }
  table_[s] = -1;
  hashed_[i] = 0;
}

int32_t BlockPool::allocate() {
  if (head_ < 0) return -1;
  const int32_t b = head_;
  unlink(b);
  forget_hash(b);
  ref_[static_cast<size_t>(b)] = 1;
  return b;
}

void BlockPool::release(int32_t b) {
  auto& r = ref_[static_cast<size_t>(b)];
  assert(r > 0);
  if (--r == 0) push_tail(b);
}

int32_t BlockPool::lookup(uint64_t hash) {
  const int32_t b = table_[probe(hash)];
  if (b < 0) return -1;
  if (ref_[static_cast<size_t>(b)]++ == 0) unlink(b);
  return b;
}

bool BlockPool::publish(int32_t b, uint64_t hash) {
  const auto i = static_cast<size_t>(b);
  assert(ref_[i] > 0);
  if (hashed_[i]) return hash_[i] == hash;
  const size_t s = probe(hash);
  if (table_[s] >= 0) return false;
  hash_[i] = hash;
  hashed_[i] = 1;
  table_[s] = b;
  return true;
}

bool BlockPool::consistent() const {
  int32_t n = 0, cached = 0;
  for (int32_t b = head_; b >= 0; b = next_[static_cast<size_t>(b)]) {
    if (ref_[static_cast<size_t>(b)] != 0) return false;
    ++n;
    cached += hashed_[static_cast<size_t>(b)];
    if (n > n_blocks_) return false;
  }
  if (n != n_free_ || cached != n_cached_free_) return false;
  int32_t held = 0, n_hashed = 0;
  for (size_t i = 0; i < ref_.size(); ++i) {
    if (ref_[i] < 0) return false;
    held += ref_[i] > 0 ? 1 : 0;
    if (hashed_[i]) {
      ++n_hashed;
      if (table_[probe(hash_[i])] != static_cast<int32_t>(i)) return false;
    }
  }
  int32_t in_table = 0;
  for (int32_t b : table_) in_table += b >= 0 ? 1 : 0;
  return held + n_free_ == n_blocks_ && in_table == n_hashed;
}

}  // namespace capibara
