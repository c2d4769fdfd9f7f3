// The channel between one request's consumer (an HTTP handler, the terminal) and the engine
// thread that computes it: the engine pushes sampled tokens and one final event; the consumer
// drains them at its own pace and may cancel at any time. The engine never blocks on it (the
// queue holds at most `max_tokens` events), so a slow client cannot stall other sequences.
//
// Thread safety: `push` from the engine thread; `next`, `cancel` from the consumer; any thread
// may read `cancelled`.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "engine/generator.hpp"
#include "engine/sampler.hpp"

namespace capibara {

struct StreamEvent {
  enum class Kind { kToken, kFinished, kError };
  Kind kind = Kind::kToken;
  SampledToken token{};                       // kToken
  FinishReason finish = FinishReason::kStop;  // kFinished
  std::string error;                          // kError: a complete sentence
  // kError: the server ended the sequence for a reason of its own (shutdown, unload), not
  // because of the request: the client may retry.
  bool retryable = false;
};

class RequestStream {
 public:
  explicit RequestStream(int64_t n_prompt_tokens) : n_prompt_tokens_(n_prompt_tokens) {}

  int64_t n_prompt_tokens() const { return n_prompt_tokens_; }
  // Prompt tokens found in the prefix cache (not computed); set by the engine before it pushes
  // the first token or the final event, so a consumer that has seen either reads it.
  int64_t cached_tokens() const { return cached_tokens_.load(std::memory_order_relaxed); }
  void set_cached_tokens(int64_t n) { cached_tokens_.store(n, std::memory_order_relaxed); }

  // Consumer side. Blocks until an event arrives or `timeout` passes (nullopt).
  std::optional<StreamEvent> next(std::chrono::milliseconds timeout);
  // Asks the engine to stop this sequence and free its cache at its next step.
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

  // Engine side.
  void push(StreamEvent event);

 private:
  const int64_t n_prompt_tokens_;
  std::atomic<bool> cancelled_{false};
  std::atomic<int64_t> cached_tokens_{0};
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<StreamEvent> events_;  // guarded by mutex_
};

}  // namespace capibara
