// One engine per loaded model: a scheduler thread that batches every running sequence into one
// forward pass per step (continuous batching), samples their next tokens and streams them to
// each request's `RequestStream`. Detokenization and stop strings happen on the consumer's
// side, so the engine loop only computes.
//
//   submit() ──> incoming queue ──> [engine thread: schedule → forward → sample → push] ──> streams
//
// KV memory is one paged pool per engine (`KvBlockPool`, blocks of `kKvBlockTokens` positions)
// sized from `kv_cache_tokens`; the scheduler hands blocks to sequences as they grow, preempts
// the newest sequence when they run out, and shares cached prefix blocks when
// `enable_prefix_caching` is set.
//
// Thread safety: `submit`, `stats` and the destructor may be called from any thread; the engine
// thread alone owns the scheduler, the sequences and the KV pool.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/block_pool.hpp"
#include "engine/engine_stats.hpp"
#include "engine/request_stream.hpp"
#include "engine/sampling_params.hpp"
#include "engine/scheduler.hpp"
#include "model/kv_cache.hpp"
#include "model/model.hpp"

namespace capibara {

class Model;
class Tokenizer;

struct EngineConfig {
  SchedulerConfig scheduler;
  int64_t max_model_len = 0;  // prompt + generation, tokens; 0: the model's context size
  KvType kv_type = KvType::kF16;
  // Positions of the KV block pool, all sequences together; 0: max_num_seqs × max_model_len
  // (no sequence ever waits for blocks). Must hold one sequence of max_model_len.
  int64_t kv_cache_tokens = 0;
  int32_t max_queued_requests = 256;  // waiting sequences beyond the running ones
};

struct EngineRequest {
  std::vector<int32_t> prompt;  // token ids, BOS included when wanted
  int32_t max_tokens = 16;      // generated tokens at most
  SamplingParams sampling;
  bool ignore_eos = false;
};

class Engine {
 public:
  // Takes the model; the tokenizer is shared with the request handlers.
  Engine(std::unique_ptr<Model> model, std::shared_ptr<const Tokenizer> tokenizer,
         EngineConfig config);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates and queues a request. InvalidArgumentError when the prompt is empty, holds an
  // unknown token, or does not leave room for one generated token within `max_model_len`;
  // `max_tokens` is clipped to the room left. OverloadedError when `max_queued_requests`
  // sequences are already waiting.
  std::shared_ptr<RequestStream> submit(EngineRequest request);

  // Ends every sequence, running or queued, with an error event carrying `reason` (shutdown
  // after its grace period). New requests are still accepted afterwards.
  void cancel_all(const std::string& reason);

  const Model& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const std::shared_ptr<const Tokenizer>& shared_tokenizer() const { return tokenizer_; }
  const EngineConfig& config() const { return config_; }
  int64_t max_model_len() const { return max_model_len_; }
  EngineStats::Snapshot stats() const { return stats_.snapshot(); }

 private:
  struct Sequence;
  void loop();
  void step(std::vector<std::unique_ptr<Sequence>>& sequences);
  void finish(Sequence& seq, FinishReason reason);
  void update_kv_stats();

  std::unique_ptr<Model> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  EngineConfig config_;
  int64_t max_model_len_ = 0;
  mutable EngineStats stats_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::unique_ptr<Sequence>> incoming_;  // guarded by mutex_
  bool stopping_ = false;                            // guarded by mutex_
  std::string cancel_all_reason_;                    // guarded by mutex_; non-empty: pending
  int64_t next_id_ = 0;                              // guarded by mutex_

  // Engine-thread state.
  std::unique_ptr<KvBlockPool> kv_pool_;  // [n_blocks] KV storage
  BlockPool block_pool_;                  // which of its blocks are free, held, cached
  Scheduler scheduler_;
  std::vector<SequenceKvCache> slot_caches_;  // [max_num_seqs] views bound to block tables
  std::vector<SequenceKvCache*> slot_cache_ptrs_;
  std::vector<float> logits_;  // [max_num_seqs, n_vocab]
  // Per-step scratch, sized at construction so a step allocates nothing for them.
  std::vector<BatchToken> batch_;                         // [max_num_batched_tokens]
  std::vector<std::pair<Sequence*, FinishReason>> done_;  // [max_num_seqs]
  std::thread thread_;
};

}  // namespace capibara
