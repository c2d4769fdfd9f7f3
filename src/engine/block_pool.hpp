// The KV block allocator of one engine: which blocks of the `KvBlockPool` are free, which are
// held (and by how many sequences: blocks of a shared prefix are reference-counted), and which
// free blocks still hold a cached prefix that a later request may reuse. It knows block ids
// and hashes only (no model), so the scheduler that calls it can be tested alone.
//
//   free (no hash) ──allocate──> held ──release (last ref)──> free queue tail
//   free queue (hash kept, LRU order) ──lookup hit──> held      head ──allocate──> evicted, held
//
// One free queue in eviction order: `allocate` takes its head; a released block joins the tail,
// so the least recently used cached blocks are reused first. A hashed block stays findable while
// it sits in the queue, until it is reused.
//
// Thread safety: owned by the engine thread. Allocation-free after construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace capibara {

class BlockPool {
 public:
  explicit BlockPool(int32_t n_blocks);

  int32_t n_blocks() const { return n_blocks_; }
  // Blocks `allocate` can hand out (free, cached or not).
  int32_t n_free() const { return n_free_; }
  // Blocks held by at least one sequence.
  int32_t n_held() const { return n_blocks_ - n_free_; }
  int32_t ref_count(int32_t block) const { return ref_[static_cast<size_t>(block)]; }
  // Free blocks that still hold a findable prefix.
  int32_t n_cached_free() const { return n_cached_free_; }

  // Takes the head of the free queue (forgetting its hash) with one reference; -1 when none.
  int32_t allocate();
  // Drops one reference; the last one puts the block at the tail of the free queue.
  void release(int32_t block);

  // Prefix caching. `lookup` returns the block holding `hash` with one more reference (taking
  // it out of the free queue when it was free), or -1. `publish` makes a held, full block
  // findable under `hash`; false (nothing changes) when another block already holds it.
  int32_t lookup(uint64_t hash);
  bool publish(int32_t block, uint64_t hash);
  bool has_hash(int32_t block) const { return hashed_[static_cast<size_t>(block)]; }

  // Invariant check for tests: the free queue, counts and hash table agree.
  bool consistent() const;

 private:
  void unlink(int32_t block);
  void push_tail(int32_t block);
  void forget_hash(int32_t block);
  // Open addressing (linear probing) over `table_`; -1 empty. Returns the slot of `hash` or of
  // the empty slot where it would go.
  size_t probe(uint64_t hash) const;

  int32_t n_blocks_;
  int32_t n_free_ = 0;
  int32_t n_cached_free_ = 0;
  std::vector<int32_t> ref_;     // [n_blocks] references
  std::vector<int32_t> prev_;    // [n_blocks] free-queue links, -1 at the ends / when held
  std::vector<int32_t> next_;    // [n_blocks]
  std::vector<uint64_t> hash_;   // [n_blocks] valid where hashed_
  std::vector<uint8_t> hashed_;  // [n_blocks]
  std::vector<int32_t> table_;   // [power of two >= 2 n_blocks] block ids by hash, -1 empty
  int32_t head_ = -1;
  int32_t tail_ = -1;
};

}  // namespace capibara
