// The serving benchmarks of `capibara bench`, driven through the Engine.
#include "tools/serving_bench.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <numeric>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "core/error.hpp"
#include "engine/engine.hpp"
#include "kernels/kernel_table.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tools/bench.hpp"
#include "tools/synth_random.hpp"

namespace capibara::tools {
namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double mean(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// When each token of a stream arrived, and how the stream ended.
struct Trace {
  std::vector<Clock::time_point> tokens;
  bool done = false;
  std::string error;
};

// One consumer thread per stream, stamping each token as it arrives; the caller waits for
// conditions over all traces. A cancelled sequence gets no final event, so the threads poll.
class Consumers {
 public:
  Consumers() = default;
  Consumers(const Consumers&) = delete;
  Consumers& operator=(const Consumers&) = delete;
  ~Consumers() { stop(); }

  size_t add(std::shared_ptr<RequestStream> stream) {
    std::lock_guard lock(mutex_);
    traces_.push_back(std::make_unique<Trace>());
    Trace* trace = traces_.back().get();
    streams_.push_back(stream);
    threads_.emplace_back([this, trace, s = std::move(stream)] { consume(*s, *trace); });
    return traces_.size() - 1;
  }

  // Blocks until `pred(traces)` holds (evaluated under the lock). Error when a stream failed.
  template <class Pred>
  void wait(Pred pred) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return failed() || pred(traces_); });
    if (const Trace* t = failed()) throw Error("serving bench: a request failed: " + t->error);
  }

  // Cancels every stream still running and joins the threads.
  void stop() {
    for (auto& s : streams_) s->cancel();
    stopping_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  // Valid after stop().
  const Trace& trace(size_t i) const { return *traces_[i]; }

 private:
  void consume(RequestStream& stream, Trace& trace) {
    while (!stopping_) {
      auto e = stream.next(std::chrono::milliseconds(20));
      if (!e) continue;
      const auto now = Clock::now();
      std::lock_guard lock(mutex_);
      if (e->kind == StreamEvent::Kind::kToken) {
        trace.tokens.push_back(now);
      } else {
        trace.done = true;
        if (e->kind == StreamEvent::Kind::kError) trace.error = e->error;
      }
      changed_.notify_all();
      if (trace.done) return;
    }
  }

  const Trace* failed() const {
    for (const auto& t : traces_) {
      if (!t->error.empty()) return t.get();
    }
    return nullptr;
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::unique_ptr<Trace>> traces_;  // guarded by mutex_ while threads run
  std::vector<std::shared_ptr<RequestStream>> streams_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
};

using Traces = std::vector<std::unique_ptr<Trace>>;

class Bench {
 public:
  // Loads the model for an engine of `scheduler` limits, sequences of `max_model_len` tokens.
  Bench(const ServingBenchOptions& o, SchedulerConfig scheduler, int64_t max_model_len,
        int64_t kv_cache_tokens = 0)
      : rng_(o.seed) {
    ModelOptions mo;
    mo.n_threads = o.n_threads;
    mo.n_ctx = max_model_len;
    mo.max_batch_tokens = scheduler.max_num_batched_tokens;
    auto model = Model::load(o.model_path, mo);
    auto tokenizer = std::make_shared<const Tokenizer>(Tokenizer::from_gguf(model->file()));
    bos_ = tokenizer->bos_id();
    n_vocab_ = model->config().n_vocab;
    EngineConfig ec;
    ec.scheduler = scheduler;
    ec.max_model_len = max_model_len;
    ec.kv_type = o.kv_type;
    ec.kv_cache_tokens = kv_cache_tokens;
    engine_ = std::make_unique<Engine>(std::move(model), std::move(tokenizer), ec);
    // Weights paged in, buffers touched: one short request, unmeasured.
    ttft(prompt(std::min<int64_t>(8, max_model_len - 2)), 2);
  }

  Engine& engine() { return *engine_; }

  // BOS (when the model has one), then random tokens: `n` in all.
  std::vector<int32_t> prompt(int64_t n) {
    std::vector<int32_t> p;
    p.reserve(static_cast<size_t>(n));
    if (bos_ >= 0 && n > 0) p.push_back(bos_);
    while (static_cast<int64_t>(p.size()) < n) p.push_back(random_token());
    return p;
  }
  std::vector<int32_t> random_tokens(int64_t n) {
    std::vector<int32_t> p(static_cast<size_t>(n));
    for (auto& t : p) t = random_token();
    return p;
  }

  std::shared_ptr<RequestStream> submit(std::vector<int32_t> prompt, int64_t max_tokens) {
    EngineRequest r;
    r.prompt = std::move(prompt);
    r.max_tokens = static_cast<int32_t>(max_tokens);
    r.sampling.temperature = 0.0f;  // greedy: the cheapest sampler, as in llama-bench
    r.ignore_eos = true;
    return engine_->submit(std::move(r));
  }

  // Seconds from submission to the first token, draining the request to its end on this
  // thread; `cached` receives the prompt tokens found in the prefix cache.
  double ttft(std::vector<int32_t> prompt, int64_t max_tokens, int64_t* cached = nullptr) {
    const auto start = Clock::now();
    auto stream = submit(std::move(prompt), max_tokens);
    double first = -1.0;
    while (true) {
      auto e = stream->next(std::chrono::milliseconds(1000));
      if (!e) continue;
      if (e->kind == StreamEvent::Kind::kToken) {
        if (first < 0) first = seconds(Clock::now() - start);
        continue;
      }
      if (e->kind == StreamEvent::Kind::kError) {
        throw Error("serving bench: a request failed: " + e->error);
      }
      break;
    }
    if (first < 0) throw Error("serving bench: a request finished without a token");
    if (cached != nullptr) *cached = stream->cached_tokens();
    return first;
  }

 private:
  int32_t random_token() {
    return static_cast<int32_t>(rng_.next() % static_cast<uint64_t>(n_vocab_));
  }

  SplitMix64 rng_;
  int32_t bos_ = -1;
  int64_t n_vocab_ = 0;
  std::unique_ptr<Engine> engine_;
};

std::vector<ParallelResult> run_parallel(const ServingBenchOptions& o, int* n_threads) {
  if (o.n_gen < 2) throw InvalidArgumentError("bench --parallel needs -n >= 2");
  for (int32_t n : o.parallel) {
    if (n < 1) throw InvalidArgumentError("bench --parallel levels must be >= 1");
  }
  SchedulerConfig sc;
  sc.max_num_seqs = *std::max_element(o.parallel.begin(), o.parallel.end());
  sc.max_num_batched_tokens = o.max_num_batched_tokens;
  Bench bench(o, sc, o.n_short_prompt + o.n_gen);
  *n_threads = bench.engine().model().n_threads();

  std::vector<ParallelResult> results;
  for (int32_t level : o.parallel) {
    ParallelResult r;
    r.test = fmt::format("tg{}", o.n_gen);
    r.parallel = level;
    r.n_gen = o.n_gen;
    std::vector<double> per_sequence;
    for (int rep = 0; rep < o.reps; ++rep) {
      const auto n = static_cast<size_t>(level);
      Consumers consumers;
      for (size_t i = 0; i < n; ++i) {
        consumers.add(bench.submit(bench.prompt(o.n_short_prompt), o.n_gen));
      }
      consumers.wait([](const Traces& ts) {
        return std::all_of(ts.begin(), ts.end(), [](const auto& t) { return t->done; });
      });
      consumers.stop();
      // The decode phase: from the step that gave every sequence its first token.
      Clock::time_point t0 = consumers.trace(0).tokens.front();
      Clock::time_point end = t0;
      for (size_t i = 0; i < n; ++i) {
        const auto& t = consumers.trace(i).tokens;
        if (static_cast<int64_t>(t.size()) != o.n_gen) {
          throw Error(fmt::format("serving bench: a sequence generated {} tokens, not {}", t.size(),
                                  o.n_gen));
        }
        t0 = std::max(t0, t.front());
        end = std::max(end, t.back());
        per_sequence.push_back(static_cast<double>(t.size() - 1) / seconds(t.back() - t.front()));
      }
      int64_t after = 0;
      for (size_t i = 0; i < n; ++i) {
        const auto& t = consumers.trace(i).tokens;
        after += std::count_if(t.begin(), t.end(), [&](auto x) { return x > t0; });
      }
      r.samples_tokens_per_s.push_back(static_cast<double>(after) / seconds(end - t0));
    }
    BenchResult summary;
    summary.samples_tokens_per_s = r.samples_tokens_per_s;
    summarize(summary);
    r.tokens_per_s = summary.tokens_per_s;
    r.stddev = summary.stddev;
    r.per_sequence_tokens_per_s = mean(per_sequence);
    results.push_back(std::move(r));
  }
  return results;
}

PrefixCacheResult run_prefix_cache(const ServingBenchOptions& o, int* n_threads) {
  if (o.n_system_prompt < 1 || o.n_question < 1) {
    throw InvalidArgumentError("bench --prefix-cache needs a system prompt and a question");
  }
  SchedulerConfig sc;
  sc.max_num_seqs = 1;
  sc.max_num_batched_tokens = o.max_num_batched_tokens;
  sc.enable_chunked_prefill = true;
  sc.enable_prefix_caching = true;
  const int64_t max_len = o.n_system_prompt + o.n_question + 1;
  // Room for two sequences, so the cached request's new blocks never evict the shared ones.
  Bench bench(o, sc, max_len, 2 * max_len);
  *n_threads = bench.engine().model().n_threads();

  PrefixCacheResult r;
  r.n_system_prompt = o.n_system_prompt;
  r.n_question = o.n_question;
  for (int rep = 0; rep < o.reps; ++rep) {
    const auto system = bench.prompt(o.n_system_prompt);  // fresh each time: uncached
    auto request = [&] {
      auto p = system;
      const auto q = bench.random_tokens(o.n_question);
      p.insert(p.end(), q.begin(), q.end());
      return p;
    };
    r.uncached_ttft_samples_s.push_back(bench.ttft(request(), 1));
    r.cached_ttft_samples_s.push_back(bench.ttft(request(), 1, &r.cached_tokens));
  }
  r.uncached_ttft_s = mean(r.uncached_ttft_samples_s);
  r.cached_ttft_s = mean(r.cached_ttft_samples_s);
  r.ratio = r.uncached_ttft_s > 0 ? r.cached_ttft_s / r.uncached_ttft_s : 0.0;
  return r;
}

InterferenceResult run_interference(const ServingBenchOptions& o, bool chunked, int* n_threads) {
  if (o.n_long_prompt < 2 || o.n_decoders < 1 || o.n_tokens_before < 1 || o.n_tokens_after < 1) {
    throw InvalidArgumentError("bench --interference: sizes must be positive");
  }
  SchedulerConfig sc;
  sc.max_num_seqs = o.n_decoders + 1;
  // Without chunking the prompt must fit one step next to the decodes (vLLM's rule too).
  sc.max_num_batched_tokens = chunked ? o.max_num_batched_tokens : o.n_long_prompt + o.n_decoders;
  sc.enable_chunked_prefill = chunked;
  // Decoders need tokens for: before, every step of the prefill, after, and some slack.
  const int64_t prefill_steps =
      o.n_long_prompt / std::max<int64_t>(1, sc.max_num_batched_tokens - o.n_decoders) + 1;
  const int64_t room = o.n_tokens_before + prefill_steps + o.n_tokens_after + 16;
  const int64_t max_len = std::max(o.n_long_prompt + 1, o.n_short_prompt + room);
  Bench bench(o, sc, max_len);
  *n_threads = bench.engine().model().n_threads();

  const auto n_dec = static_cast<size_t>(o.n_decoders);
  Consumers consumers;
  for (size_t i = 0; i < n_dec; ++i) {
    consumers.add(bench.submit(bench.prompt(o.n_short_prompt), max_len - o.n_short_prompt));
  }
  consumers.wait([&](const Traces& ts) {
    return std::all_of(ts.begin(), ts.end(), [&](const auto& t) {
      return t->done || static_cast<int64_t>(t->tokens.size()) > o.n_tokens_before;
    });
  });
  auto long_prompt = bench.prompt(o.n_long_prompt);
  const auto submitted = Clock::now();
  const size_t long_index = consumers.add(bench.submit(std::move(long_prompt), 1));
  Clock::time_point first{};
  consumers.wait([&](const Traces& ts) {
    const Trace& t = *ts[long_index];
    if (t.tokens.empty()) return false;
    first = t.tokens.front();
    return true;
  });
  consumers.wait([&](const Traces& ts) {
    for (size_t i = 0; i < n_dec; ++i) {
      const auto& t = ts[i]->tokens;
      const auto after = std::count_if(t.begin(), t.end(), [&](auto x) { return x > first; });
      if (!ts[i]->done && after < o.n_tokens_after) return false;
    }
    return true;
  });
  consumers.stop();

  std::vector<double> before, during, all;
  for (size_t i = 0; i < n_dec; ++i) {
    const auto& t = consumers.trace(i).tokens;
    for (size_t k = 1; k < t.size(); ++k) {
      const double gap = seconds(t[k] - t[k - 1]);
      all.push_back(gap);
      if (t[k] <= submitted) {
        before.push_back(gap);
      } else if (t[k - 1] < first) {
        during.push_back(gap);
      }
    }
  }
  InterferenceResult r;
  r.chunked_prefill = chunked;
  r.max_num_batched_tokens = sc.max_num_batched_tokens;
  r.n_long_prompt = o.n_long_prompt;
  r.n_decoders = o.n_decoders;
  r.n_gaps_during = static_cast<int64_t>(during.size());
  r.itl_p50_before_s = percentile(before, 50);
  r.itl_p50_during_s = percentile(during, 50);
  r.itl_p95_during_s = percentile(during, 95);
  r.itl_max_during_s = during.empty() ? 0.0 : *std::max_element(during.begin(), during.end());
  r.itl_p95_all_s = percentile(all, 95);
  r.long_prompt_ttft_s = seconds(first - submitted);
  return r;
}

}  // namespace

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const auto n = static_cast<double>(values.size());
  const auto rank = static_cast<size_t>(std::max(1.0, std::ceil(p / 100.0 * n)));
  return values[std::min(rank, values.size()) - 1];
}

ServingBenchReport run_serving_bench(const ServingBenchOptions& o) {
  if (o.reps < 1 || o.max_num_batched_tokens < 1 || o.n_short_prompt < 1) {
    throw InvalidArgumentError("bench: -r, -b and the prompt sizes must be >= 1");
  }
  ServingBenchReport report;
  report.model_path = o.model_path;
  report.kv_type = std::string(kv_type_name(o.kv_type));
  report.max_num_batched_tokens = o.max_num_batched_tokens;
  report.reps = o.reps;
  if (!o.parallel.empty()) report.parallel = run_parallel(o, &report.n_threads);
  if (o.prefix_cache) report.prefix_cache.push_back(run_prefix_cache(o, &report.n_threads));
  if (o.interference) {
    report.interference.push_back(run_interference(o, false, &report.n_threads));
    report.interference.push_back(run_interference(o, true, &report.n_threads));
  }
  return report;
}

std::string serving_report_text(const ServingBenchReport& r) {
  std::string out = fmt::format(
      "model: {} ({} threads, {}, KV {}, step budget {} tokens)\n", r.model_path, r.n_threads,
      kernels::isa_name(kernels::active_kernels().isa), r.kv_type, r.max_num_batched_tokens);
  if (!r.parallel.empty()) {
    out += fmt::format(
        "\nparallel decoding ({} repetition(s)):\n\n"
        "| test   | parallel |      aggregate t/s | per-sequence t/s | × parallel 1 |\n"
        "| ------ | -------: | -----------------: | ---------------: | -----------: |\n",
        r.reps);
    const double base = r.parallel.front().parallel == 1 ? r.parallel.front().tokens_per_s : 0.0;
    for (const auto& p : r.parallel) {
      out += fmt::format("| {:<6} | {:>8} | {:>18} | {:>16.2f} | {:>12} |\n", p.test, p.parallel,
                         fmt::format("{:.2f} ± {:.2f}", p.tokens_per_s, p.stddev),
                         p.per_sequence_tokens_per_s,
                         base > 0 ? fmt::format("{:.2f}", p.tokens_per_s / base) : "-");
    }
  }
  for (const auto& p : r.prefix_cache) {
    out += fmt::format(
        "\nprefix cache: {}-token system prompt + {}-token question, {} tokens found cached "
        "({} repetition(s)):\n\n"
        "| TTFT uncached | TTFT cached | cached / uncached |\n"
        "| ------------: | ----------: | ----------------: |\n"
        "| {:>10.1f} ms | {:>8.1f} ms | {:>16.1f}% |\n",
        p.n_system_prompt, p.n_question, p.cached_tokens, r.reps, 1e3 * p.uncached_ttft_s,
        1e3 * p.cached_ttft_s, 100.0 * p.ratio);
  }
  if (!r.interference.empty()) {
    const auto& f = r.interference.front();
    out += fmt::format(
        "\ninterference: a {}-token prompt arriving while {} sequences decode (their inter-token "
        "latency):\n\n"
        "| chunked prefill | step budget | ITL p50 before | ITL p50 during | ITL p95 during | "
        "ITL max during | ITL p95 all | long prompt TTFT |\n"
        "| --------------- | ----------: | -------------: | -------------: | -------------: | "
        "-------------: | ----------: | ---------------: |\n",
        f.n_long_prompt, f.n_decoders);
    for (const auto& i : r.interference) {
      out += fmt::format(
          "| {:<15} | {:>11} | {:>11.1f} ms | {:>11.1f} ms | {:>11.1f} ms | {:>11.1f} ms | "
          "{:>8.1f} ms | {:>14.2f} s |\n",
          i.chunked_prefill ? "yes" : "no", i.max_num_batched_tokens, 1e3 * i.itl_p50_before_s,
          1e3 * i.itl_p50_during_s, 1e3 * i.itl_p95_during_s, 1e3 * i.itl_max_during_s,
          1e3 * i.itl_p95_all_s, i.long_prompt_ttft_s);
    }
  }
  return out;
}

nlohmann::ordered_json serving_report_json(const ServingBenchReport& r) {
  nlohmann::ordered_json j;
  j["model"] = r.model_path;
  j["isa"] = kernels::isa_name(kernels::active_kernels().isa);
  j["threads"] = r.n_threads;
  j["kv_type"] = r.kv_type;
  j["max_num_batched_tokens"] = r.max_num_batched_tokens;
  j["reps"] = r.reps;
  j["results"] = nlohmann::ordered_json::array();
  for (const auto& p : r.parallel) {
    j["results"].push_back({{"test", p.test},
                            {"parallel", p.parallel},
                            {"n_gen", p.n_gen},
                            {"tokens_per_s", p.tokens_per_s},
                            {"stddev", p.stddev},
                            {"samples_ts", p.samples_tokens_per_s},
                            {"per_sequence_tokens_per_s", p.per_sequence_tokens_per_s}});
  }
  for (const auto& p : r.prefix_cache) {
    j["prefix_cache"] = {{"n_system_prompt", p.n_system_prompt},
                         {"n_question", p.n_question},
                         {"cached_tokens", p.cached_tokens},
                         {"uncached_ttft_s", p.uncached_ttft_s},
                         {"cached_ttft_s", p.cached_ttft_s},
                         {"ratio", p.ratio},
                         {"uncached_ttft_samples_s", p.uncached_ttft_samples_s},
                         {"cached_ttft_samples_s", p.cached_ttft_samples_s}};
  }
  if (!r.interference.empty()) {
    j["interference"] = nlohmann::ordered_json::array();
    for (const auto& i : r.interference) {
      j["interference"].push_back({{"chunked_prefill", i.chunked_prefill},
                                   {"max_num_batched_tokens", i.max_num_batched_tokens},
                                   {"n_long_prompt", i.n_long_prompt},
                                   {"n_decoders", i.n_decoders},
                                   {"n_gaps_during", i.n_gaps_during},
                                   {"itl_p50_before_s", i.itl_p50_before_s},
                                   {"itl_p50_during_s", i.itl_p50_during_s},
                                   {"itl_p95_during_s", i.itl_p95_during_s},
                                   {"itl_max_during_s", i.itl_max_during_s},
                                   {"itl_p95_all_s", i.itl_p95_all_s},
                                   {"long_prompt_ttft_s", i.long_prompt_ttft_s}});
    }
  }
  return j;
}

}  // namespace capibara::tools
