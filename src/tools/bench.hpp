// `capibara bench`: prompt-processing and generation speed of a model, measured as llama-bench
// measures it, on the model's forward pass directly (no engine, no server).
//
// "ppN": one prompt of N random tokens through an empty context, in batches of at most the
// model's `max_batch_tokens`, logits for the last token only. "tgN": N single-token forward
// passes from an empty context, logits every step (no sampling: the next token is random).
// With a depth D (llama-bench's `-d`), both start after D random tokens already in the context
// ("pp512 @ d4096"): the cost of attending over a long conversation. The D tokens are processed
// once, untimed, and kept; each run starts again from them.
// Each test runs once unmeasured first (weights paged in, caches warm), then `reps` measured
// times; the result is the mean and the sample standard deviation of the per-run tokens/s.
//
// Thread safety: `run_bench` drives `model.forward`, so it must be the model's only caller.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "model/kv_cache.hpp"

namespace capibara {

class Model;

namespace tools {

struct BenchOptions {
  int64_t n_prompt = 512;  // 0: no pp test
  int64_t n_gen = 128;     // 0: no tg test
  int64_t n_depth = 0;     // tokens already in the context when each test starts
  int reps = 5;
  KvType kv_type = KvType::kF16;
  uint64_t seed = 42;  // of the random token ids
  // Called before each measured run (not the warm-ups), off the clock: `bench --roofline`
  // streams its bandwidth probe there, so that the bound covers the runs' minutes.
  std::function<void()> before_each_run;
  // Accounts the model's pool time over the measured runs (BenchResult::pool).
  bool pool_times = false;
};

// Shares of the measured runs' wall time (`--pool-stats`). The caller is the thread that runs
// the forward passes: in work inside pool operations, waiting for the other threads at their
// end, or outside any operation (serial work between them, and the pool's own bookkeeping).
struct PoolTimeShares {
  double caller_work = 0.0;
  double caller_end_wait = 0.0;
  double workers_work = 0.0;  // mean over the other threads (0 with one thread)
  double operations_per_token = 0.0;
  double short_handed = 0.0;  // of the operations, those that ended before every worker joined

  double caller_outside() const { return 1.0 - caller_work - caller_end_wait; }
};

struct BenchResult {
  std::string test;  // "pp512", "tg128", "tg128 @ d4096"
  int64_t n_prompt = 0;
  int64_t n_gen = 0;
  int64_t n_depth = 0;
  std::vector<double> samples_tokens_per_s;  // one per measured run
  double tokens_per_s = 0.0;                 // mean of the samples
  double stddev = 0.0;                       // sample standard deviation (0 for one run)
  std::optional<PoolTimeShares> pool;        // with BenchOptions::pool_times
};

// The tests `options` asks for, in order pp then tg. The model's context must hold
// n_depth + max(n_prompt, n_gen) positions (InvalidArgumentError otherwise).
std::vector<BenchResult> run_bench(Model& model, const BenchOptions& options);

// Mean and sample standard deviation of `samples` into `result`.
void summarize(BenchResult& result);

}  // namespace tools
}  // namespace capibara
