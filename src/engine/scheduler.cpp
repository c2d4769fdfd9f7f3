// Step planning: admit in arrival order, decodes first, then prompt chunks under the budget.
#include "engine/scheduler.hpp"

#include <algorithm>
#include <cassert>

namespace capibara {

Scheduler::Scheduler(SchedulerConfig config) : config_(config) {
  assert(config_.max_num_seqs > 0 && config_.max_num_batched_tokens > 0);
  for (int32_t s = config_.max_num_seqs - 1; s >= 0; --s) free_slots_.push_back(s);
}

void Scheduler::add(ScheduledSequence* seq) {
  seq->slot = -1;
  waiting_.push_back(seq);
}

void Scheduler::remove(ScheduledSequence* seq) {
  if (auto it = std::find(running_.begin(), running_.end(), seq); it != running_.end()) {
    running_.erase(it);
    free_slots_.push_back(seq->slot);
    seq->slot = -1;
    return;
  }
  if (auto it = std::find(waiting_.begin(), waiting_.end(), seq); it != waiting_.end()) {
    waiting_.erase(it);
  }
}

std::vector<ScheduledChunk> Scheduler::schedule() {
  while (!waiting_.empty() && !free_slots_.empty()) {
    ScheduledSequence* seq = waiting_.front();
    waiting_.pop_front();
    seq->slot = free_slots_.back();
    free_slots_.pop_back();
    running_.push_back(seq);
  }

  std::vector<ScheduledChunk> plan;
  int64_t budget = config_.max_num_batched_tokens;
  // Decodes: sequences with exactly one token left to compute.
  for (ScheduledSequence* seq : running_) {
    if (budget == 0) break;
    if (seq->n_tokens - seq->n_computed == 1) {
      plan.push_back({seq, seq->n_computed, 1, true});
      --budget;
    }
  }
  // Prompts (and resumed sequences): the rest of the budget, oldest first.
  for (ScheduledSequence* seq : running_) {
    const int64_t remaining = seq->n_tokens - seq->n_computed;
    if (remaining <= 1 || budget == 0) continue;
    int64_t n = std::min(remaining, budget);
    if (n < remaining && !config_.enable_chunked_prefill && !plan.empty()) {
      continue;  // without chunking a prompt waits for a step it fits in whole (or runs alone)
    }
    plan.push_back({seq, seq->n_computed, n, n == remaining});
    budget -= n;
  }
  return plan;
}

}  // namespace capibara
