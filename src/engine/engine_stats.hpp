// Counters and latency distributions of one engine, for `/stats` and `/metrics`.
// Thread safety: updated by the engine thread, read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "core/latency_histogram.hpp"

namespace capibara {

class EngineStats {
 public:
  struct Snapshot {
    uint64_t requests_total = 0;
    uint64_t requests_finished = 0;
    uint64_t requests_cancelled = 0;
    int64_t requests_running = 0;
    int64_t requests_waiting = 0;
    uint64_t prompt_tokens_total = 0;
    uint64_t generation_tokens_total = 0;
    uint64_t steps_total = 0;
    double busy_seconds = 0.0;          // time spent in forward passes
    double generation_tok_per_s = 0.0;  // generated tokens per busy second
    int64_t kv_cache_bytes = 0;         // allocated KV storage
    int64_t kv_cache_used_tokens = 0;
    int64_t kv_cache_capacity_tokens = 0;
    uint64_t preemptions_total = 0;            // sequences preempted for want of KV blocks
    uint64_t prefix_cache_queried_tokens = 0;  // prompt tokens looked up in the prefix cache
    uint64_t prefix_cache_hit_tokens = 0;      // of them, found cached (not computed)
    double prefix_cache_hit_rate = 0.0;        // hit / queried tokens
    LatencyHistogram::Snapshot time_to_first_token;
    LatencyHistogram::Snapshot inter_token_latency;
    LatencyHistogram::Snapshot request_latency;
  };

  std::atomic<uint64_t> requests_total{0};
  std::atomic<uint64_t> requests_finished{0};
  std::atomic<uint64_t> requests_cancelled{0};
  std::atomic<int64_t> requests_running{0};
  std::atomic<int64_t> requests_waiting{0};
  std::atomic<uint64_t> prompt_tokens_total{0};
  std::atomic<uint64_t> generation_tokens_total{0};
  std::atomic<uint64_t> steps_total{0};
  std::atomic<uint64_t> busy_nanoseconds{0};
  std::atomic<int64_t> kv_cache_bytes{0};
  std::atomic<int64_t> kv_cache_used_tokens{0};
  std::atomic<int64_t> kv_cache_capacity_tokens{0};
  std::atomic<uint64_t> preemptions_total{0};
  std::atomic<uint64_t> prefix_cache_queried_tokens{0};
  std::atomic<uint64_t> prefix_cache_hit_tokens{0};
  LatencyHistogram time_to_first_token;
  LatencyHistogram inter_token_latency;
  LatencyHistogram request_latency;

  Snapshot snapshot() const {
    Snapshot s;
    s.requests_total = requests_total.load();
    s.requests_finished = requests_finished.load();
    s.requests_cancelled = requests_cancelled.load();
    s.requests_running = requests_running.load();
    s.requests_waiting = requests_waiting.load();
    s.prompt_tokens_total = prompt_tokens_total.load();
    s.generation_tokens_total = generation_tokens_total.load();
    s.steps_total = steps_total.load();
    s.busy_seconds = static_cast<double>(busy_nanoseconds.load()) * 1e-9;
    s.generation_tok_per_s =
        s.busy_seconds > 0 ? static_cast<double>(s.generation_tokens_total) / s.busy_seconds : 0.0;
    s.kv_cache_bytes = kv_cache_bytes.load();
    s.kv_cache_used_tokens = kv_cache_used_tokens.load();
    s.kv_cache_capacity_tokens = kv_cache_capacity_tokens.load();
    s.preemptions_total = preemptions_total.load();
    s.prefix_cache_queried_tokens = prefix_cache_queried_tokens.load();
    s.prefix_cache_hit_tokens = prefix_cache_hit_tokens.load();
    s.prefix_cache_hit_rate = s.prefix_cache_queried_tokens > 0
                                  ? static_cast<double>(s.prefix_cache_hit_tokens) /
                                        static_cast<double>(s.prefix_cache_queried_tokens)
                                  : 0.0;
    s.time_to_first_token = time_to_first_token.snapshot();
    s.inter_token_latency = inter_token_latency.snapshot();
    s.request_latency = request_latency.snapshot();
    return s;
  }
};

}  // namespace capibara
