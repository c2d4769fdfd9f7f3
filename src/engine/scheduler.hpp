// Decides, each engine step, how many tokens every sequence advances. There is no "prefill
// phase" and "decode phase": a sequence has `tokens` (prompt + generated) and `n_computed`,
// and a step schedules a chunk of the tokens not yet computed, under the batch budget.
// Running decodes are scheduled first, so a long prompt never stalls them; prompts then
// share what is left of `max_num_batched_tokens`, oldest first (FCFS, no starvation).
//
// With a `BlockPool` the scheduler also owns the sequences' KV block tables: a chunk is only
// scheduled once blocks cover it. When the pool runs dry the newest running sequence is
// preempted (recompute): its blocks are released, its `n_computed` drops to 0 and it goes back
// to the front of the waiting queue, to be resumed when blocks free up.
//
//   waiting ──admit──> running ──remove (finish / cancel)──> gone
//      ^                  │
//      └────preempt───────┘   (front of the queue, blocks released, recomputed on resume)
//
// With prefix caching, admission looks up the sequence's full prompt blocks by their chained
// hash and takes the cached ones (shared, reference-counted), starting its computation after
// them; blocks are published once full.
//
// Thread safety: owned by the engine thread. It knows nothing about models: unit-testable alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "engine/block_pool.hpp"

namespace capibara {

struct SchedulerConfig {
  int32_t max_num_seqs = 8;              // sequences running at once
  int64_t max_num_batched_tokens = 512;  // tokens per step, all sequences together
  bool enable_chunked_prefill = true;    // split prompts across steps
  bool enable_prefix_caching = false;    // share full prompt blocks (needs a BlockPool)
};

// What the scheduler needs to know of a sequence; the engine owns the rest.
struct ScheduledSequence {
  int64_t id = 0;
  int32_t slot = -1;       // KV slot while running, -1 while waiting
  int64_t n_tokens = 0;    // prompt + generated so far
  int64_t n_computed = 0;  // tokens whose KV is in the cache
  // Token ids (prompt + generated); read only for prefix caching.
  std::vector<int32_t> tokens;
  // With a BlockPool: the block table ([kv_blocks_for(max len)] reserved by the owner, so that
  // it never reallocates on the engine thread) and the chained keys of its full blocks.
  std::vector<int32_t> blocks;
  std::vector<uint64_t> block_hashes;
  int64_t n_cached_tokens = -1;  // prefix-cache hit at the first admission; -1 before
  int32_t n_preemptions = 0;
};

struct ScheduledChunk {
  ScheduledSequence* seq = nullptr;
  int64_t start = 0;  // first token position of the chunk
  int64_t n_tokens = 0;
  bool want_logits = false;  // the chunk reaches the end of the sequence's tokens
};

class Scheduler {
 public:
  // `blocks` (optional, outliving the scheduler) turns on KV block accounting.
  explicit Scheduler(SchedulerConfig config, BlockPool* blocks = nullptr);

  const SchedulerConfig& config() const { return config_; }
  void add(ScheduledSequence* seq);     // joins the waiting queue
  void remove(ScheduledSequence* seq);  // finished or cancelled: frees its slot and blocks
  // The plan of the next step (valid until the next call).
  const std::vector<ScheduledChunk>& schedule();
  // Records that `chunk` was computed: advances `n_computed` and publishes full blocks.
  void computed(const ScheduledChunk& chunk);

  size_t n_waiting() const { return waiting_.size(); }
  size_t n_running() const { return running_.size(); }
  bool idle() const { return waiting_.empty() && running_.empty(); }

  // Counters since construction.
  uint64_t n_preemptions() const { return n_preemptions_; }
  uint64_t prefix_queried_tokens() const { return prefix_queried_tokens_; }  // prompts looked up
  uint64_t prefix_hit_tokens() const { return prefix_hit_tokens_; }          // found cached

 private:
  void match_prefix(ScheduledSequence* seq);
  // Tokens of a wanted `n` that blocks can be found for (preempting newer sequences, and `seq`
  // itself as a last resort: then 0).
  int64_t reserve_blocks(ScheduledSequence* seq, int64_t n, bool may_shrink);
  void preempt(ScheduledSequence* seq);
  void release_blocks(ScheduledSequence* seq);

  SchedulerConfig config_;
  BlockPool* pool_;
  std::deque<ScheduledSequence*> waiting_;
  std::vector<ScheduledSequence*> running_;  // admission order
  std::vector<int32_t> free_slots_;
  std::vector<ScheduledChunk> plan_;  // [max_num_seqs] reserved
  int64_t budget_ = 0;                // tokens left in the step being planned
  uint64_t n_preemptions_ = 0;
  uint64_t prefix_queried_tokens_ = 0;
  uint64_t prefix_hit_tokens_ = 0;
};

}  // namespace capibara
