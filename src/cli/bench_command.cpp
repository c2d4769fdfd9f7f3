// `capibara bench`: llama-bench-style throughput of a model (tools/bench.hpp), optionally set
// against this machine's roofline (tools/roofline.hpp). A text table by default, JSON with
// `--json`.
#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "kernels/kernel_table.hpp"
#include "model/model.hpp"
#include "tools/bench.hpp"
#include "tools/quantize_plan.hpp"
#include "tools/roofline.hpp"
#include "tools/serving_bench.hpp"

namespace capibara::cli {
namespace {

struct BenchCliOptions {
  std::string model_path;
  int64_t n_prompt = 512;
  int64_t n_gen = 128;
  int64_t n_depth = 0;
  int threads = 0;
  int reps = 5;
  int64_t batch = 512;
  std::string kv_type = "f16";
  bool json = false;
  bool no_repack = false;
  bool roofline = false;
  int64_t roofline_mib = 1024;  // streamed for the bandwidth; must exceed the last-level cache
  bool pool_stats = false;

  // The serving benchmarks (tools/serving_bench.hpp).
  std::vector<int32_t> parallel;
  bool prefix_cache = false;
  bool interference = false;
  int64_t system_prompt = 1000;
  int64_t long_prompt = 4096;
};

struct ModelInfo {
  std::string description;  // "llama 1.10B Q4_0"
  int64_t n_params = 0;
  size_t n_bytes = 0;
};

ModelInfo describe(const Model& model) {
  ModelInfo info;
  for (const auto& t : model.file().tensors()) {
    info.n_params += t.n_elements();
    info.n_bytes += t.n_bytes;
  }
  std::string type = "?";
  if (const auto ft = model.file().get_int("general.file_type")) {
    const auto name = tools::quant_target_name(static_cast<tools::QuantTarget>(*ft));
    type = name == "?" ? fmt::format("ftype {}", *ft) : std::string(name);
  }
  const auto n = static_cast<double>(info.n_params);
  info.description = fmt::format(
      "{} {} {}", model.config().architecture,
      n >= 1e9 ? fmt::format("{:.2f}B", n / 1e9) : fmt::format("{:.1f}M", n / 1e6), type);
  return info;
}

struct Row {
  tools::BenchResult result;
  std::optional<tools::Bound> bound;  // at the best read pass
  // With --roofline: the read rate beside each measured run (the mean of the passes just before
  // and just after it), and the mean over the runs of each run's speed over the bound at that
  // rate. The host's bandwidth can move by tens of percent within a minute; set against the
  // best pass, a run also pays for the moments the host was slow, set against the passes
  // beside it, only for what the program leaves unread.
  std::vector<double> read_beside_runs;  // bytes/s, one per measured run
  double fraction_beside_runs = 0.0;
  // The same for the cache line's round trip between two threads (ns; empty with one thread),
  // which tells the placement each run met (tools/line_round_trip.hpp).
  std::vector<double> round_trip_beside_runs;
};

// `row.read_beside_runs`, `row.fraction_beside_runs` and `row.round_trip_beside_runs` for the
// runs whose first one is run `first_run` of the whole benchmark. pass_before[k] indexes the
// probe's pass made just before run k; the pass after run k is the next one the probe made.
template <typename BoundAt>
void set_beside_runs(Row& row, size_t first_run, const std::vector<size_t>& pass_before,
                     const tools::ReadProbe& probe, const tools::MachinePeaks& peaks,
                     BoundAt&& bound_at) {
  const auto& samples = row.result.samples_tokens_per_s;
  const auto& pass_rates = probe.pass_rates();
  const auto& round_trips = probe.round_trips_ns();
  tools::MachinePeaks at_run = peaks;
  double sum = 0.0;
  for (size_t i = 0; i < samples.size(); ++i) {
    const size_t before = pass_before.at(first_run + i);
    at_run.read_bytes_per_s = 0.5 * (pass_rates.at(before) + pass_rates.at(before + 1));
    row.read_beside_runs.push_back(at_run.read_bytes_per_s);
    if (!round_trips.empty()) {
      row.round_trip_beside_runs.push_back(0.5 *
                                           (round_trips.at(before) + round_trips.at(before + 1)));
    }
    sum += samples[i] / bound_at(at_run).tokens_per_s;
  }
  if (!samples.empty()) row.fraction_beside_runs = sum / static_cast<double>(samples.size());
}

// The smallest and largest measured round trip (NaN: not measured that pass).
std::optional<std::pair<double, double>> round_trip_range(const std::vector<double>& ns) {
  std::optional<std::pair<double, double>> range;
  for (const double v : ns) {
    if (std::isnan(v)) continue;
    range =
        range ? std::pair{std::min(range->first, v), std::max(range->second, v)} : std::pair{v, v};
  }
  return range;
}

void print_text(const BenchCliOptions& o, const ModelInfo* info, int threads,
                const std::optional<tools::MachinePeaks>& peaks, const std::vector<Row>& rows) {
  const std::string_view isa = kernels::isa_name(kernels::active_kernels().isa);
  // The test column fits "tg128" and "tg128 @ d4096" alike.
  size_t test_width = 6;
  for (const auto& row : rows) test_width = std::max(test_width, row.result.test.size());
  if (peaks) {
    std::string by_loop;
    for (const auto& [loop, rate] : peaks->read_loop_best) {
      by_loop += fmt::format("{}{} {:.1f}", by_loop.empty() ? "" : ", ", loop, rate / 1e9);
    }
    // The bf16 peak is only its own where the loops have bf16 dot products.
    const std::string bf16 =
        peaks->bf16_flops_per_s != peaks->fp32_flops_per_s
            ? fmt::format(", bf16 {:.0f} GFLOPS", peaks->bf16_flops_per_s / 1e9)
            : "";
    fmt::print(
        "roofline ({} loops, {} threads): read {:.1f} GB/s (best of {} passes on huge pages, "
        "worst {:.1f}; best by loop: {}; {:.1f} on 4 KiB pages), int8 {:.0f} GOPS, fp32 {:.0f} "
        "GFLOPS{}\n",
        peaks->loops, peaks->n_threads, peaks->read_bytes_per_s / 1e9, peaks->read_passes,
        peaks->read_bytes_per_s_worst / 1e9, by_loop, peaks->read_bytes_per_s_small_pages / 1e9,
        peaks->int8_ops_per_s / 1e9, peaks->fp32_flops_per_s / 1e9, bf16);
    if (const auto range = round_trip_range(peaks->line_round_trip_ns)) {
      fmt::print(
          "a cache line between two threads: {:.0f}-{:.0f} ns round trip over the passes (where "
          "the threads sit: shared cache or not)\n",
          range->first, range->second);
    }
  }
  if (info == nullptr) return;
  fmt::print("model: {}\n\n", o.model_path);
  std::string header = fmt::format(
      "| model                    |       size | isa    | threads | {:<{}} |"
      "              t/s |",
      "test", test_width);
  std::string rule = fmt::format(
      "| ------------------------ | ---------: | ------ | ------: | {} |"
      " ---------------: |",
      std::string(test_width, '-'));
  if (peaks) {
    header += " bound t/s | of bound | beside runs | limit   |";
    rule += " --------: | -------: | ----------: | ------- |";
  }
  fmt::print("{}\n{}\n", header, rule);
  for (const auto& row : rows) {
    const auto& r = row.result;
    std::string line = fmt::format(
        "| {:<24} | {:>6.1f} MiB | {:<6} | {:>7} | {:<{}} | {:>16} |", info->description,
        static_cast<double>(info->n_bytes) / (1024.0 * 1024.0), isa, threads, r.test, test_width,
        fmt::format("{:.2f} ± {:.2f}", r.tokens_per_s, r.stddev));
    if (row.bound) {
      line += fmt::format(" {:>9.2f} | {:>7.1f}% | {:>10.1f}% | {:<7} |", row.bound->tokens_per_s,
                          100.0 * r.tokens_per_s / row.bound->tokens_per_s,
                          100.0 * row.fraction_beside_runs, row.bound->limit);
    }
    fmt::print("{}\n", line);
  }
  if (peaks && !rows.empty()) {
    fmt::print(
        "\nof bound: against the best read pass; beside runs: each run against the mean of the "
        "read passes just before and after it, averaged over the runs\n");
  }
  if (!rows.empty() && rows.front().result.pool) {
    fmt::print(
        "\npool time, share of the measured runs (caller: the thread running the passes):\n\n"
        "| {:<{}} | caller in work | caller waiting at ends | caller outside | workers in work |"
        " operations/token | ended short-handed |\n"
        "| {} | -------------: | ---------------------: | -------------: | --------------: |"
        " ---------------: | -----------------: |\n",
        "test", test_width, std::string(test_width, '-'));
    for (const auto& row : rows) {
      const auto& p = *row.result.pool;
      fmt::print(
          "| {:<{}} | {:>13.1f}% | {:>21.1f}% | {:>13.1f}% | {:>14.1f}% | {:>16.2f} | {:>17.1f}% "
          "|\n",
          row.result.test, test_width, 100.0 * p.caller_work, 100.0 * p.caller_end_wait,
          100.0 * p.caller_outside(), 100.0 * p.workers_work, p.operations_per_token,
          100.0 * p.short_handed);
    }
  }
}

void print_json(const BenchCliOptions& o, const ModelInfo* info, int threads,
                const std::optional<tools::MachinePeaks>& peaks, const std::vector<Row>& rows) {
  nlohmann::ordered_json j;
  j["model"] = info != nullptr ? nlohmann::ordered_json(o.model_path) : nullptr;
  j["isa"] = kernels::isa_name(kernels::active_kernels().isa);
  j["threads"] = threads;
  if (info != nullptr) {
    j["model_type"] = info->description;
    j["model_size"] = info->n_bytes;
    j["model_n_params"] = info->n_params;
    j["n_batch"] = o.batch;
    j["kv_type"] = o.kv_type;
    j["reps"] = o.reps;
  }
  j["results"] = nlohmann::ordered_json::array();
  for (const auto& row : rows) {
    const auto& r = row.result;
    nlohmann::ordered_json e = {{"test", r.test},
                                {"n_prompt", r.n_prompt},
                                {"n_gen", r.n_gen},
                                {"n_depth", r.n_depth},
                                {"tokens_per_s", r.tokens_per_s},
                                {"stddev", r.stddev},
                                {"samples_ts", r.samples_tokens_per_s}};
    if (row.bound) {
      e["bound_tokens_per_s"] = row.bound->tokens_per_s;
      e["fraction_of_bound"] = r.tokens_per_s / row.bound->tokens_per_s;
      e["bound_limit"] = row.bound->limit;
      e["read_bytes_per_s_beside_runs"] = row.read_beside_runs;
      e["fraction_of_bound_beside_runs"] = row.fraction_beside_runs;
      if (!row.round_trip_beside_runs.empty()) {
        e["line_round_trip_ns_beside_runs"] = row.round_trip_beside_runs;
      }
    }
    if (r.pool) {
      e["pool_times"] = {{"caller_work", r.pool->caller_work},
                         {"caller_end_wait", r.pool->caller_end_wait},
                         {"caller_outside", r.pool->caller_outside()},
                         {"workers_work", r.pool->workers_work},
                         {"operations_per_token", r.pool->operations_per_token},
                         {"short_handed", r.pool->short_handed}};
    }
    j["results"].push_back(std::move(e));
  }
  if (peaks) {
    nlohmann::ordered_json by_loop = nlohmann::ordered_json::object();
    for (const auto& [loop, rate] : peaks->read_loop_best) by_loop[loop] = rate;
    j["roofline"] = {{"loops", peaks->loops},
                     {"threads", peaks->n_threads},
                     {"buffer_bytes", peaks->buffer_bytes},
                     {"read_bytes_per_s", peaks->read_bytes_per_s},
                     {"read_bytes_per_s_worst", peaks->read_bytes_per_s_worst},
                     {"read_passes", peaks->read_passes},
                     {"read_bytes_per_s_each_pass", peaks->read_pass_rates},
                     {"read_bytes_per_s_by_loop", by_loop},
                     {"read_bytes_per_s_small_pages", peaks->read_bytes_per_s_small_pages},
                     {"line_round_trip_ns_each_pass", peaks->line_round_trip_ns},
                     {"int8_ops_per_s", peaks->int8_ops_per_s},
                     {"fp32_flops_per_s", peaks->fp32_flops_per_s},
                     {"bf16_flops_per_s", peaks->bf16_flops_per_s}};
  }
  fmt::print("{}\n", j.dump(2));
}

int run(const BenchCliOptions& o) {
  if (o.model_path.empty() && !o.roofline) {
    throw InvalidArgumentError("bench needs -m MODEL (or --roofline alone for the machine)");
  }
  const auto kv = parse_kv_type(o.kv_type);
  if (!kv) throw InvalidArgumentError("unknown KV cache type '" + o.kv_type + "'");
  if (o.pool_stats && o.model_path.empty()) {
    throw InvalidArgumentError("bench --pool-stats needs -m MODEL");
  }
  if (!o.parallel.empty() || o.prefix_cache || o.interference) {
    if (o.model_path.empty()) throw InvalidArgumentError("bench needs -m MODEL");
    if (o.pool_stats) {
      throw InvalidArgumentError("bench --pool-stats applies to the pp/tg tests, not to serving");
    }
    tools::ServingBenchOptions so;
    so.model_path = o.model_path;
    so.n_threads = o.threads;
    so.max_num_batched_tokens = o.batch;
    so.kv_type = *kv;
    so.reps = o.reps;
    so.parallel = o.parallel;
    so.n_gen = o.n_gen;
    so.prefix_cache = o.prefix_cache;
    so.n_system_prompt = o.system_prompt;
    so.interference = o.interference;
    so.n_long_prompt = o.long_prompt;
    const auto report = tools::run_serving_bench(so);
    fmt::print("{}", o.json ? tools::serving_report_json(report).dump(2) + "\n"
                            : tools::serving_report_text(report));
    return 0;
  }

  // The probe stays for the runs: one read pass before each (tools/roofline.hpp).
  std::optional<tools::ReadProbe> probe;
  std::optional<tools::MachinePeaks> peaks;
  if (o.roofline) {
    probe.emplace(o.threads, kernels::active_kernels().isa,
                  static_cast<size_t>(o.roofline_mib) << 20);
    peaks = tools::measure_machine_peaks(*probe);
  }
  std::vector<Row> rows;
  std::optional<ModelInfo> info;
  int threads = peaks ? peaks->n_threads : o.threads;
  if (!o.model_path.empty()) {
    ModelOptions mo;
    mo.n_threads = o.threads;
    mo.n_ctx = o.n_depth + std::max<int64_t>({o.n_prompt, o.n_gen, 1});
    mo.max_batch_tokens = std::max<int64_t>(1, std::min(o.batch, std::max<int64_t>(o.n_prompt, 1)));
    mo.repack_weights = !o.no_repack;
    const auto model = Model::load(o.model_path, mo);
    info = describe(*model);
    threads = model->n_threads();
    tools::BenchOptions bo;
    bo.n_prompt = o.n_prompt;
    bo.n_gen = o.n_gen;
    bo.n_depth = o.n_depth;
    bo.reps = o.reps;
    bo.kv_type = *kv;
    std::vector<size_t> pass_before;  // per measured run, in the order they ran
    if (probe) {
      bo.before_each_run = [&probe, &pass_before] {
        pass_before.push_back(static_cast<size_t>(probe->passes()));
        probe->pass();
      };
    }
    bo.pool_times = o.pool_stats;
    const tools::TokenCost cost = tools::token_cost(*model, *kv);
    auto results = tools::run_bench(*model, bo);
    if (probe) {
      probe->pass();  // the pass after the last run
      tools::record_read_passes(*probe, *peaks);
    }
    size_t first_run = 0;
    for (auto& r : results) {
      Row row{std::move(r), std::nullopt, {}, 0.0, {}};
      if (peaks) {
        const auto bound_at = [&](const tools::MachinePeaks& at) {
          return row.result.n_prompt > 0
                     ? tools::prompt_bound(cost, at, row.result.n_prompt, model->max_batch_tokens(),
                                           o.n_depth)
                     : tools::generation_bound(cost, at, row.result.n_gen, o.n_depth);
        };
        row.bound = bound_at(*peaks);
        set_beside_runs(row, first_run, pass_before, *probe, *peaks, bound_at);
      }
      first_run += row.result.samples_tokens_per_s.size();
      rows.push_back(std::move(row));
    }
  }
  const ModelInfo* info_ptr = info ? &*info : nullptr;
  if (o.json) {
    print_json(o, info_ptr, threads, peaks, rows);
  } else {
    print_text(o, info_ptr, threads, peaks, rows);
  }
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, CommandAction& action) {
  auto opts = std::make_shared<BenchCliOptions>();
  auto* cmd = app.add_subcommand(
      "bench", "Measure prompt-processing and generation speed (tok/s), like llama-bench");
  cmd->add_option("-m,--model", opts->model_path, "GGUF model file")->check(CLI::ExistingFile);
  cmd->add_option("-p,--n-prompt", opts->n_prompt, "Prompt tokens of the pp test (0: none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", opts->n_gen, "Generated tokens of the tg test (0: none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("-d,--n-depth", opts->n_depth,
                  "Tokens already in the context when each test starts (llama-bench's -d)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("-t,--threads", opts->threads, "Compute threads (0: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-r,--repetitions", opts->reps, "Measured runs of each test")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("-b,--batch", opts->batch, "Tokens per forward pass of the pp test")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--kv-type", opts->kv_type, "KV cache storage type")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "fp8"}))
      ->capture_default_str();
  cmd->add_flag("--json", opts->json, "Print the results as JSON");
  cmd->add_flag("--no-repack", opts->no_repack,
                "Use the matrices row-major from the file instead of repacking them at load "
                "(to measure what the packed kernels gain)");
  cmd->add_flag("--pool-stats", opts->pool_stats,
                "Also show where the thread pool's time went in the measured runs: the caller in "
                "work, waiting for the other threads at the end of operations, or outside them; "
                "the other threads in work; the share of operations that ended before every "
                "thread joined them (two clock reads per piece of work while on)");
  cmd->add_flag("--roofline", opts->roofline,
                "Measure this machine's read bandwidth (before the tests, before each measured "
                "run and after the last; the best pass is the bound) and int8 / fp32 peaks, and "
                "show the fraction of the bound each result reaches, and the same against the "
                "bandwidth read beside each run (the passes just before and after it); with two "
                "threads or more, also a cache line's round trip between two of them after "
                "each pass (where the threads sit)");
  cmd->add_option("--roofline-mib", opts->roofline_mib,
                  "Buffer streamed to measure the read bandwidth, MiB (larger than the caches)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("--parallel", opts->parallel,
                  "Serving: N sequences decoding -n tokens together through the engine, for "
                  "each N of the list (e.g. 1,2,4,8,16)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--prefix-cache", opts->prefix_cache,
                "Serving: time to first token with the system prompt cached vs uncached");
  cmd->add_option("--system-prompt", opts->system_prompt, "System prompt tokens of --prefix-cache")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--interference", opts->interference,
                "Serving: decoders' inter-token latency while a long prompt arrives, with and "
                "without chunked prefill");
  cmd->add_option("--long-prompt", opts->long_prompt, "Prompt tokens of --interference")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20))
      ->capture_default_str();
  cmd->callback([opts, &action] { action = [opts] { return run(*opts); }; });
}

}  // namespace capibara::cli
