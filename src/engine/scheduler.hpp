// Decides, each engine step, how many tokens every sequence advances. There is no "prefill
// phase" and "decode phase": a sequence has `tokens` (prompt + generated) and `n_computed`,
// and a step schedules a chunk of the tokens not yet computed, under the batch budget.
// Running decodes are scheduled first, so a long prompt never stalls them; prompts then
// share what is left of `max_num_batched_tokens`, oldest first (FCFS, no starvation).
//
// Thread safety: owned by the engine thread. It knows nothing about models: unit-testable alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace capibara {

struct SchedulerConfig {
  int32_t max_num_seqs = 8;              // sequences running at once
  int64_t max_num_batched_tokens = 512;  // tokens per step, all sequences together
  bool enable_chunked_prefill = true;    // split prompts across steps
};

// What the scheduler needs to know of a sequence; the engine owns the rest.
struct ScheduledSequence {
  int64_t id = 0;
  int32_t slot = -1;       // KV slot while running, -1 while waiting
  int64_t n_tokens = 0;    // prompt + generated so far
  int64_t n_computed = 0;  // tokens whose KV is in the cache
};

struct ScheduledChunk {
  ScheduledSequence* seq = nullptr;
  int64_t start = 0;  // first token position of the chunk
  int64_t n_tokens = 0;
  bool want_logits = false;  // the chunk reaches the end of the sequence's tokens
};

class Scheduler {
 public:
  explicit Scheduler(SchedulerConfig config);

  const SchedulerConfig& config() const { return config_; }
  void add(ScheduledSequence* seq);     // joins the waiting queue
  void remove(ScheduledSequence* seq);  // finished or cancelled: frees its slot
  std::vector<ScheduledChunk> schedule();

  size_t n_waiting() const { return waiting_.size(); }
  size_t n_running() const { return running_.size(); }
  bool idle() const { return waiting_.empty() && running_.empty(); }

 private:
  SchedulerConfig config_;
  std::deque<ScheduledSequence*> waiting_;
  std::vector<ScheduledSequence*> running_;  // admission order
  std::vector<int32_t> free_slots_;
};

}  // namespace capibara
