// Step planning: admit in arrival order, decodes first, then prompt chunks under the budget;
// KV blocks for every chunk, preempting the newest sequence when they run out.
#include "engine/scheduler.hpp"

#include <algorithm>
#include <cassert>
#include <span>

#include "engine/prefix_cache.hpp"
#include "model/kv_cache.hpp"

namespace capibara {

Scheduler::Scheduler(SchedulerConfig config, BlockPool* blocks) : config_(config), pool_(blocks) {
  assert(config_.max_num_seqs > 0 && config_.max_num_batched_tokens > 0);
  for (int32_t s = config_.max_num_seqs - 1; s >= 0; --s) free_slots_.push_back(s);
  running_.reserve(static_cast<size_t>(config_.max_num_seqs));
  plan_.reserve(static_cast<size_t>(config_.max_num_seqs));
}

void Scheduler::add(ScheduledSequence* seq) {
  seq->slot = -1;
  waiting_.push_back(seq);
}

void Scheduler::release_blocks(ScheduledSequence* seq) {
  if (pool_ == nullptr) return;
  // Last block first: the free queue then reuses a prefix's tail before its head, which more
  // requests share.
  for (auto it = seq->blocks.rbegin(); it != seq->blocks.rend(); ++it) pool_->release(*it);
  seq->blocks.clear();
  seq->block_hashes.clear();
}

void Scheduler::remove(ScheduledSequence* seq) {
  if (auto it = std::find(running_.begin(), running_.end(), seq); it != running_.end()) {
    running_.erase(it);
    free_slots_.push_back(seq->slot);
    seq->slot = -1;
    release_blocks(seq);
    return;
  }
  if (auto it = std::find(waiting_.begin(), waiting_.end(), seq); it != waiting_.end()) {
    waiting_.erase(it);
    release_blocks(seq);
  }
}

void Scheduler::match_prefix(ScheduledSequence* seq) {
  assert(seq->blocks.empty() && seq->n_computed == 0);
  // The last token is always computed (its logits are wanted), so only blocks before it count.
  const int64_t n_full =
      std::min<int64_t>(seq->n_tokens - 1, static_cast<int64_t>(seq->tokens.size())) /
      kKvBlockTokens;
  uint64_t parent = kPrefixRootHash;
  for (int64_t b = 0; b < n_full; ++b) {
    const std::span<const int32_t> ids(seq->tokens.data() + b * kKvBlockTokens,
                                       static_cast<size_t>(kKvBlockTokens));
    const uint64_t h = prefix_block_hash(parent, ids);
    const int32_t block = pool_->lookup(h);
    if (block < 0) break;
    seq->blocks.push_back(block);
    seq->block_hashes.push_back(h);
    parent = h;
  }
  seq->n_computed = static_cast<int64_t>(seq->blocks.size()) * kKvBlockTokens;
  prefix_queried_tokens_ += static_cast<uint64_t>(seq->n_tokens);
  prefix_hit_tokens_ += static_cast<uint64_t>(seq->n_computed);
}

void Scheduler::preempt(ScheduledSequence* seq) {
  assert(!running_.empty() && running_.back() == seq);
  if (auto it = std::find_if(plan_.begin(), plan_.end(),
                             [seq](const ScheduledChunk& c) { return c.seq == seq; });
      it != plan_.end()) {
    budget_ += it->n_tokens;
    plan_.erase(it);
  }
  running_.pop_back();
  free_slots_.push_back(seq->slot);
  seq->slot = -1;
  release_blocks(seq);
  seq->n_computed = 0;
  seq->n_preemptions++;
  n_preemptions_++;
  waiting_.push_front(seq);
}

int64_t Scheduler::reserve_blocks(ScheduledSequence* seq, int64_t n, bool may_shrink) {
  if (pool_ == nullptr) return n;
  const auto have = static_cast<int64_t>(seq->blocks.size());
  const int64_t need = kv_blocks_for(seq->n_computed + n) - have;
  while (need > pool_->n_free() && running_.back() != seq) preempt(running_.back());
  int64_t granted = n;
  if (need > pool_->n_free()) {
    // `seq` is the newest: take what is there for part of a prompt, or step aside.
    const int64_t room = (have + pool_->n_free()) * kKvBlockTokens - seq->n_computed;
    if (!may_shrink || room <= 0) {
      preempt(seq);
      return 0;
    }
    granted = std::min(n, room);
  }
  const int64_t target = kv_blocks_for(seq->n_computed + granted);
  while (static_cast<int64_t>(seq->blocks.size()) < target) {
    const int32_t b = pool_->allocate();
    assert(b >= 0);
    seq->blocks.push_back(b);
  }
  return granted;
}

const std::vector<ScheduledChunk>& Scheduler::schedule() {
  plan_.clear();
  while (!waiting_.empty() && !free_slots_.empty()) {
    // FCFS: the head waits (and so do those behind it) until a block is free for it.
    if (pool_ != nullptr && pool_->n_free() == 0) break;
    ScheduledSequence* seq = waiting_.front();
    waiting_.pop_front();
    seq->slot = free_slots_.back();
    free_slots_.pop_back();
    running_.push_back(seq);
    if (pool_ != nullptr && config_.enable_prefix_caching) match_prefix(seq);
    if (seq->n_cached_tokens < 0) seq->n_cached_tokens = seq->n_computed;
  }

  budget_ = config_.max_num_batched_tokens;
  // Decodes: sequences with exactly one token left to compute. Indices, not iterators:
  // preemption shortens `running_` from the back.
  for (size_t i = 0; i < running_.size(); ++i) {
    if (budget_ == 0) break;
    ScheduledSequence* seq = running_[i];
    if (seq->n_tokens - seq->n_computed != 1) continue;
    if (reserve_blocks(seq, 1, false) == 0) break;  // `seq` preempted itself: it was the last
    plan_.push_back({seq, seq->n_computed, 1, true});
    --budget_;
  }
  // Prompts (and resumed sequences): the rest of the budget, oldest first.
  for (size_t i = 0; i < running_.size(); ++i) {
    ScheduledSequence* seq = running_[i];
    const int64_t remaining = seq->n_tokens - seq->n_computed;
    if (remaining <= 1 || budget_ == 0) continue;
    int64_t n = std::min(remaining, budget_);
    if (n < remaining && !config_.enable_chunked_prefill && !plan_.empty()) {
      continue;  // without chunking a prompt waits for a step it fits in whole (or runs alone)
    }
    n = reserve_blocks(seq, n, config_.enable_chunked_prefill);
    if (n == 0) break;  // preempted itself: it was the last
    plan_.push_back({seq, seq->n_computed, n, n == remaining});
    budget_ -= n;
  }
  return plan_;
}

void Scheduler::computed(const ScheduledChunk& chunk) {
  ScheduledSequence* seq = chunk.seq;
  seq->n_computed += chunk.n_tokens;
  if (pool_ == nullptr || !config_.enable_prefix_caching) return;
  const int64_t n_full =
      std::min<int64_t>(seq->n_computed, static_cast<int64_t>(seq->tokens.size())) / kKvBlockTokens;
  for (auto b = static_cast<int64_t>(seq->block_hashes.size()); b < n_full; ++b) {
    const uint64_t parent = b > 0 ? seq->block_hashes[static_cast<size_t>(b - 1)] : kPrefixRootHash;
    const std::span<const int32_t> ids(seq->tokens.data() + b * kKvBlockTokens,
                                       static_cast<size_t>(kKvBlockTokens));
    const uint64_t h = prefix_block_hash(parent, ids);
    pool_->publish(seq->blocks[static_cast<size_t>(b)], h);
    seq->block_hashes.push_back(h);
  }
}

}  // namespace capibara
