// `capibara bench --parallel / --prefix-cache / --interference`: the serving benchmarks, run
// through the real `Engine` (requests submitted, their `RequestStream`s drained, one consumer
// thread per stream stamping each token as it arrives), not the bare forward pass.
//
// - Parallel decoding: N sequences with short distinct prompts decode `n_gen` tokens together
//   (ignore_eos, greedy). Aggregate tok/s counts every token after the step that gave all of
//   them their first token, over the time until the last one; per-sequence tok/s is each
//   sequence's (n_gen - 1) / (last token - first token), averaged.
// - Prefix cache: time to first token of a request whose system prompt is already cached
//   (same engine, `enable_prefix_caching`) against the first request with that system prompt,
//   which computed it and warmed the cache; each repetition uses a fresh system prompt.
// - Interference: a long prompt submitted while decoders run; the decoders' inter-token
//   latencies while it is prefilled, with chunked prefill (`max_num_batched_tokens` = the batch)
//   and without (the whole prompt and the decodes in one step, as vLLM runs it).
//
// Each benchmark loads its own model (an `Engine` owns one) and runs one unmeasured warm-up
// request first. Thread safety: the functions run on the calling thread and own their engines.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/kv_cache.hpp"

namespace capibara::tools {

struct ServingBenchOptions {
  std::string model_path;
  int n_threads = 0;                     // 0: every hardware thread
  int64_t max_num_batched_tokens = 512;  // the engine's step budget (and the prefill chunk)
  KvType kv_type = KvType::kF16;
  int reps = 1;
  uint64_t seed = 42;  // of the random prompt tokens

  std::vector<int32_t> parallel;  // levels of the parallel-decoding benchmark; empty: none
  int64_t n_gen = 128;            // tokens each parallel sequence generates (>= 2)
  int64_t n_short_prompt = 8;     // prompt tokens of each decoding sequence

  bool prefix_cache = false;
  int64_t n_system_prompt = 1000;  // the shared, cached prefix
  int64_t n_question = 24;         // the distinct suffix of each request

  bool interference = false;
  int64_t n_long_prompt = 4096;
  int32_t n_decoders = 4;
  int64_t n_tokens_before = 8;  // decoder tokens before the long prompt arrives (each)
  int64_t n_tokens_after = 8;   // decoder tokens after its first token (each)
};

struct ParallelResult {
  std::string test;  // "tg128"
  int32_t parallel = 0;
  int64_t n_gen = 0;
  std::vector<double> samples_tokens_per_s;  // aggregate, one per repetition
  double tokens_per_s = 0.0;                 // aggregate, mean of the samples
  double stddev = 0.0;
  double per_sequence_tokens_per_s = 0.0;  // mean over repetitions and sequences
};

struct PrefixCacheResult {
  int64_t n_system_prompt = 0;
  int64_t n_question = 0;
  int64_t cached_tokens = 0;  // prompt tokens the cached request found in the cache (last rep)
  std::vector<double> uncached_ttft_samples_s;
  std::vector<double> cached_ttft_samples_s;
  double uncached_ttft_s = 0.0;  // means
  double cached_ttft_s = 0.0;
  double ratio = 0.0;  // cached / uncached
};

struct InterferenceResult {
  bool chunked_prefill = false;
  int64_t max_num_batched_tokens = 0;
  int64_t n_long_prompt = 0;
  int32_t n_decoders = 0;
  int64_t n_gaps_during = 0;      // decoder gaps overlapping the long prompt's prefill
  double itl_p50_before_s = 0.0;  // decoders alone
  double itl_p50_during_s = 0.0;
  double itl_p95_during_s = 0.0;
  double itl_max_during_s = 0.0;
  double itl_p95_all_s = 0.0;       // every gap of the decoders, before, during and after
  double long_prompt_ttft_s = 0.0;  // the long prompt's own time to first token
};

struct ServingBenchReport {
  std::string model_path;
  int n_threads = 0;
  std::string kv_type;
  int64_t max_num_batched_tokens = 0;
  int reps = 0;
  std::vector<ParallelResult> parallel;
  std::vector<PrefixCacheResult> prefix_cache;   // zero or one
  std::vector<InterferenceResult> interference;  // without, then with chunked prefill
};

// Runs what `options` asks for. InvalidArgumentError for sizes that cannot work.
ServingBenchReport run_serving_bench(const ServingBenchOptions& options);

// The report as `capibara bench` prints it: Markdown tables, or JSON (`results`: one entry per
// parallel level, `{"test": "tg128", "parallel": 8, "tokens_per_s": <aggregate>,
// "per_sequence_tokens_per_s": ...}`; `prefix_cache`; `interference`).
std::string serving_report_text(const ServingBenchReport& report);
nlohmann::ordered_json serving_report_json(const ServingBenchReport& report);

// Nearest-rank percentile (0 < p <= 100) of `values`; 0 when empty.
double percentile(std::vector<double> values, double p);

}  // namespace capibara::tools
