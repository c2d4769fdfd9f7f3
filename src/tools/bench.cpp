// The timed loops of `capibara bench`.
#include "tools/bench.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "core/error.hpp"
#include "model/model.hpp"
#include "tools/synth_random.hpp"

namespace capibara::tools {
namespace {

using Clock = std::chrono::steady_clock;

class Runner {
 public:
  Runner(Model& model, const BenchOptions& o)
      : model_(model),
        cache_(model.make_kv_cache(o.kv_type)),
        logits_(static_cast<size_t>(model.config().n_vocab)),
        rng_(o.seed) {
    batch_.reserve(static_cast<size_t>(model.max_batch_tokens()));
  }

  // Fills positions [0, depth) once; every test then starts from them.
  void fill_context(int64_t depth) {
    cache_.set_n_tokens(0);
    process(0, depth);
    depth_ = depth;
  }

  // Seconds to process a prompt of `n` tokens after the context's `depth` tokens.
  double prompt(int64_t n) {
    cache_.set_n_tokens(depth_);
    const auto start = Clock::now();
    process(depth_, n);
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  // Seconds to generate `n` tokens one at a time after the context's `depth` tokens.
  double generate(int64_t n) {
    cache_.set_n_tokens(depth_);
    const auto start = Clock::now();
    for (int64_t pos = depth_; pos < depth_ + n; ++pos) {
      batch_.assign(1, BatchToken{random_token(), pos, 0, true});
      forward();
    }
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

 private:
  // `n` prompt tokens at positions [first, first + n), in batches; logits for the last only.
  void process(int64_t first, int64_t n) {
    for (int64_t done = 0; done < n; done += model_.max_batch_tokens()) {
      const int64_t count = std::min(model_.max_batch_tokens(), n - done);
      batch_.clear();
      for (int64_t i = 0; i < count; ++i) {
        const int64_t pos = first + done + i;
        batch_.push_back({random_token(), pos, 0, pos == first + n - 1});
      }
      forward();
    }
  }

  int32_t random_token() {
    return static_cast<int32_t>(rng_.next() % static_cast<uint64_t>(model_.config().n_vocab));
  }
  void forward() {
    SequenceKvCache* caches[] = {&cache_};
    model_.forward(batch_, caches, logits_.data());
  }

  Model& model_;
  SequenceKvCache cache_;
  std::vector<float> logits_;  // [n_vocab]: one row of logits per forward
  std::vector<BatchToken> batch_;
  SplitMix64 rng_;
  int64_t depth_ = 0;
};

// Sums of the pool's accounting over a test's measured runs.
struct PoolTotals {
  double wall_ns = 0.0;
  double caller_work_ns = 0.0;
  double end_wait_ns = 0.0;
  double workers_work_ns = 0.0;
  double operations = 0.0;
  double short_handed = 0.0;

  void add(const ThreadPool::Times& t, double seconds) {
    wall_ns += seconds * 1e9;
    caller_work_ns += static_cast<double>(t.work_ns.front());
    end_wait_ns += static_cast<double>(t.end_wait_ns);
    for (size_t i = 1; i < t.work_ns.size(); ++i) {
      workers_work_ns +=
          static_cast<double>(t.work_ns[i]) / static_cast<double>(t.work_ns.size() - 1);
    }
    operations += static_cast<double>(t.operations);
    short_handed += static_cast<double>(t.short_handed);
  }

  PoolTimeShares shares(double tokens) const {
    PoolTimeShares s;
    s.caller_work = caller_work_ns / wall_ns;
    s.caller_end_wait = end_wait_ns / wall_ns;
    s.workers_work = workers_work_ns / wall_ns;
    s.operations_per_token = operations / tokens;
    s.short_handed = operations > 0 ? short_handed / operations : 0.0;
    return s;
  }
};

// The measured runs of one test: `run()` returns a run's seconds for `tokens` tokens.
template <typename Run>
void measure(Model& model, const BenchOptions& o, int64_t tokens, BenchResult& r, Run&& run) {
  PoolTotals totals;
  for (int i = 0; i < o.reps; ++i) {
    if (o.before_each_run) o.before_each_run();
    if (o.pool_times) model.thread_pool().set_timing(true);
    const double seconds = run();
    if (o.pool_times) {
      totals.add(model.thread_pool().times(), seconds);
      model.thread_pool().set_timing(false);
    }
    r.samples_tokens_per_s.push_back(static_cast<double>(tokens) / seconds);
  }
  if (o.pool_times) r.pool = totals.shares(static_cast<double>(tokens) * o.reps);
  summarize(r);
}

}  // namespace

void summarize(BenchResult& r) {
  const auto& s = r.samples_tokens_per_s;
  if (s.empty()) return;
  const double n = static_cast<double>(s.size());
  r.tokens_per_s = std::accumulate(s.begin(), s.end(), 0.0) / n;
  double ss = 0.0;
  for (double v : s) ss += (v - r.tokens_per_s) * (v - r.tokens_per_s);
  r.stddev = s.size() > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
}

std::vector<BenchResult> run_bench(Model& model, const BenchOptions& o) {
  if (o.n_prompt < 0 || o.n_gen < 0 || o.n_depth < 0 || o.reps < 1) {
    throw InvalidArgumentError("bench: -p, -n and -d must be >= 0 and -r >= 1");
  }
  const int64_t needed = o.n_depth + std::max(o.n_prompt, o.n_gen);
  if (needed > model.n_ctx()) {
    throw InvalidArgumentError(fmt::format(
        "bench: the model's context holds {} positions, the tests need {}", model.n_ctx(), needed));
  }
  Runner runner(model, o);
  if (o.n_depth > 0 && (o.n_prompt > 0 || o.n_gen > 0)) runner.fill_context(o.n_depth);
  const std::string at = o.n_depth > 0 ? fmt::format(" @ d{}", o.n_depth) : "";
  std::vector<BenchResult> results;
  if (o.n_prompt > 0) {
    BenchResult r{
        fmt::format("pp{}{}", o.n_prompt, at), o.n_prompt, 0, o.n_depth, {}, 0, 0, std::nullopt};
    runner.prompt(std::min(o.n_prompt, model.max_batch_tokens()));  // warm-up
    measure(model, o, o.n_prompt, r, [&] { return runner.prompt(o.n_prompt); });
    results.push_back(std::move(r));
  }
  if (o.n_gen > 0) {
    BenchResult r{
        fmt::format("tg{}{}", o.n_gen, at), 0, o.n_gen, o.n_depth, {}, 0, 0, std::nullopt};
    runner.generate(std::min<int64_t>(o.n_gen, 4));  // warm-up
    measure(model, o, o.n_gen, r, [&] { return runner.generate(o.n_gen); });
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace capibara::tools
