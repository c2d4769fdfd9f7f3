// Measuring the machine and counting a model's work per token.
#include "tools/roofline.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>

#include "core/aligned_buffer.hpp"
#include "core/huge_page_buffer.hpp"
#include "core/thread_pool.hpp"
#include "model/model.hpp"
#include "tools/line_round_trip.hpp"
#include "tools/peak_loops.hpp"

namespace capibara::tools {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Sinks for the loops' results, so that the compiler cannot drop the work.
volatile uint64_t g_sink_u64 = 0;
volatile float g_sink_f32 = 0.0f;
volatile int32_t g_sink_i32 = 0;

constexpr size_t kAlignment = 256;
constexpr int kBandwidthPasses = 5;
constexpr double kComputeSeconds = 0.25;  // per compute measurement

// Bytes of each thread's slice of a `buffer_bytes` buffer streamed by `n` threads.
size_t read_slice(size_t buffer_bytes, int n) {
  return buffer_bytes / static_cast<size_t>(n) / kAlignment * kAlignment;
}

// First touch from the thread that will read each slice (page placement).
void first_touch(ThreadPool& pool, uint8_t* raw, size_t slice) {
  pool.parallel_for(pool.size(), [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) {
      std::memset(raw + static_cast<size_t>(t) * slice, static_cast<int>(t + 1), slice);
    }
  });
}

// Bytes per second of one pass of the pool's threads over their slices of `raw`.
double read_pass(ThreadPool& pool, const ReadLoop& loop, const uint8_t* raw, size_t slice) {
  const int n = pool.size();
  const auto start = Clock::now();
  pool.parallel_for(n, [&](int64_t begin, int64_t end, int) {
    uint64_t sum = 0;
    for (int64_t t = begin; t < end; ++t) {
      sum += loop.read(raw + static_cast<size_t>(t) * slice, slice);
    }
    g_sink_u64 = g_sink_u64 + sum;
  });
  return static_cast<double>(slice) * n / seconds_since(start);
}

// One pass with each of the loops, the first one `first`; each loop's rate into `rates`.
void read_passes(ThreadPool& pool, const PeakLoops& loops, const uint8_t* raw, size_t slice,
                 size_t first, std::vector<double>& rates) {
  const size_t n = loops.reads.size();
  rates.assign(n, 0.0);
  for (size_t k = 0; k < n; ++k) {
    const size_t loop = (first + k) % n;
    rates[loop] = read_pass(pool, loops.reads[loop], raw, slice);
  }
}

// Operations per second of `run(iterations)` on every thread at once, `ops` per iteration.
template <typename Fn>
double measure_compute(ThreadPool& pool, Fn run, int64_t ops) {
  // Calibrate on one thread, then size the timed run to about `kComputeSeconds`.
  int64_t iterations = 1 << 14;
  for (;;) {
    const auto start = Clock::now();
    run(iterations);
    const double s = seconds_since(start);
    if (s > 0.02 || iterations > (int64_t{1} << 40)) {
      iterations = std::max<int64_t>(1, static_cast<int64_t>(iterations * kComputeSeconds / s));
      break;
    }
    iterations *= 4;
  }
  const int n = pool.size();
  const auto start = Clock::now();
  pool.parallel_for(n, [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) run(iterations);
  });
  const double s = seconds_since(start);
  return static_cast<double>(iterations) * static_cast<double>(ops) * n / s;
}

bool is_block_quantized(GgmlType type) { return traits_of(type).block_size > 1; }

}  // namespace

ReadProbe::ReadProbe(int n_threads, kernels::Isa isa, size_t buffer_bytes)
    : pool_(n_threads),
      loops_(&peak_loops_for(isa)),
      slice_(read_slice(buffer_bytes, pool_.size())),
      buffer_(slice_ * static_cast<size_t>(pool_.size())),
      loop_best_(loops_->reads.size(), 0.0) {
  first_touch(pool_, buffer_.data(), slice_);
}

double ReadProbe::pass() {
  std::vector<double> each;
  read_passes(pool_, *loops_, buffer_.data(), slice_, rates_.size(), each);
  for (size_t k = 0; k < each.size(); ++k) loop_best_[k] = std::max(loop_best_[k], each[k]);
  const double rate = *std::max_element(each.begin(), each.end());
  rates_.push_back(rate);
  if (pool_.size() > 1) {
    round_trips_ns_.push_back(
        line_round_trip_ns(pool_).value_or(std::numeric_limits<double>::quiet_NaN()));
  }
  return rate;
}

std::vector<std::pair<std::string, double>> ReadProbe::loop_best() const {
  std::vector<std::pair<std::string, double>> best;
  for (size_t k = 0; k < loop_best_.size(); ++k) {
    best.emplace_back(std::string(loops_->reads[k].name), loop_best_[k]);
  }
  return best;
}

double ReadProbe::best_bytes_per_s() const {
  return rates_.empty() ? 0.0 : *std::max_element(rates_.begin(), rates_.end());
}

double ReadProbe::worst_bytes_per_s() const {
  return rates_.empty() ? 0.0 : *std::min_element(rates_.begin(), rates_.end());
}

void record_read_passes(const ReadProbe& probe, MachinePeaks& peaks) {
  peaks.read_bytes_per_s = probe.best_bytes_per_s();
  peaks.read_bytes_per_s_worst = probe.worst_bytes_per_s();
  peaks.read_passes = probe.passes();
  peaks.read_pass_rates = probe.pass_rates();
  peaks.line_round_trip_ns = probe.round_trips_ns();
  peaks.read_loop_best = probe.loop_best();
}

MachinePeaks measure_machine_peaks(ReadProbe& probe) {
  ThreadPool& pool = probe.pool();
  const PeakLoops& loops = probe.loops();
  MachinePeaks peaks;
  peaks.loops = std::string(loops.name);
  peaks.n_threads = pool.size();
  peaks.buffer_bytes = probe.buffer_bytes();
  for (int pass = 0; pass < kBandwidthPasses; ++pass) probe.pass();
  record_read_passes(probe, peaks);
  {
    // Plain heap memory, not advised for huge pages (in the kernel's "always" mode it may still
    // get some, and the two figures come close).
    const size_t slice = read_slice(peaks.buffer_bytes, pool.size());
    AlignedBuffer small(peaks.buffer_bytes);
    first_touch(pool, small.data(), slice);
    std::vector<double> each;
    for (int pass = 0; pass < kBandwidthPasses; ++pass) {
      read_passes(pool, loops, small.data(), slice, static_cast<size_t>(pass), each);
      for (const double rate : each) {
        peaks.read_bytes_per_s_small_pages = std::max(peaks.read_bytes_per_s_small_pages, rate);
      }
    }
  }
  peaks.fp32_flops_per_s = measure_compute(
      pool, [&](int64_t it) { g_sink_f32 = loops.fp32(it); }, loops.fp32_flops_per_iteration);
  peaks.int8_ops_per_s = measure_compute(
      pool, [&](int64_t it) { g_sink_i32 = loops.int8(it); }, loops.int8_ops_per_iteration);
  peaks.bf16_flops_per_s = loops.bf16 == nullptr
                               ? peaks.fp32_flops_per_s
                               : measure_compute(
                                     pool, [&](int64_t it) { g_sink_f32 = loops.bf16(it); },
                                     loops.bf16_flops_per_iteration);
  return peaks;
}

MachinePeaks measure_machine_peaks(int n_threads, kernels::Isa isa, size_t buffer_bytes) {
  ReadProbe probe(n_threads, isa, buffer_bytes);
  return measure_machine_peaks(probe);
}

TokenCost token_cost(const Model& model, KvType kv_type) {
  const ModelConfig& c = model.config();
  const bool tied = model.file().find_tensor("output.weight") == nullptr;
  TokenCost cost;
  for (const auto& t : model.file().tensors()) {
    const bool embedding = t.name == "token_embd.weight";
    const bool output = t.name == "output.weight" || (embedding && tied);
    if (embedding && !output) {
      cost.weight_bytes += static_cast<double>(t.row_bytes());  // one row looked up
      continue;
    }
    const double bytes = static_cast<double>(t.n_bytes);
    cost.weight_bytes += bytes;
    if (output) {
      cost.output_bytes += bytes;
    } else {
      cost.layer_weight_bytes += bytes;
    }
    if (t.shape.size() < 2) continue;  // norms, biases: no matmul
    const double ops = 2.0 * static_cast<double>(t.n_elements());
    if (is_block_quantized(t.type)) {
      (output ? cost.output_int8_ops : cost.int8_ops) += ops;
    } else if (t.type == GgmlType::kBF16) {
      (output ? cost.output_bf16_ops : cost.bf16_ops) += ops;
    } else {
      (output ? cost.output_fp32_ops : cost.fp32_ops) += ops;
    }
  }
  const std::string_view kv = kv_type_name(kv_type);
  const double elem = kv == "f32" ? 4.0 : kv == "fp8" ? 1.0 : 2.0;
  cost.attention_ops_per_position =
      4.0 * static_cast<double>(c.q_dim()) * static_cast<double>(c.n_layer);
  cost.kv_bytes_per_position =
      2.0 * static_cast<double>(c.kv_dim()) * static_cast<double>(c.n_layer) * elem;
  cost.sliding_window = c.has_sliding_window() ? c.sliding_window : 0;
  return cost;
}

namespace {

// Mean positions attended by the tokens at positions [first, first + n).
double mean_attended(const TokenCost& cost, int64_t first, int64_t n) {
  double sum = 0.0;
  for (int64_t p = first; p < first + n; ++p) {
    const int64_t seen = p + 1;
    sum +=
        static_cast<double>(cost.sliding_window > 0 ? std::min(seen, cost.sliding_window) : seen);
  }
  return n > 0 ? sum / static_cast<double>(n) : 0.0;
}

double compute_seconds(double int8_ops, double fp32_ops, double bf16_ops,
                       const MachinePeaks& peaks) {
  return int8_ops / peaks.int8_ops_per_s + fp32_ops / peaks.fp32_flops_per_s +
         (bf16_ops > 0.0 ? bf16_ops / peaks.bf16_flops_per_s : 0.0);
}

Bound bound_of(double compute_s, double memory_s) {
  Bound b;
  const double s = std::max(compute_s, memory_s);
  b.tokens_per_s = s > 0.0 ? 1.0 / s : 0.0;
  b.limit = memory_s >= compute_s ? "memory" : "compute";
  return b;
}

}  // namespace

Bound prompt_bound(const TokenCost& cost, const MachinePeaks& peaks, int64_t n_prompt,
                   int64_t batch, int64_t n_depth) {
  if (n_prompt <= 0) return {};
  const auto n = static_cast<double>(n_prompt);
  const double attended = mean_attended(cost, n_depth, n_prompt);
  const double compute = compute_seconds(
      cost.int8_ops + cost.output_int8_ops / n,
      cost.fp32_ops + cost.output_fp32_ops / n + cost.attention_ops_per_position * attended,
      cost.bf16_ops + cost.output_bf16_ops / n, peaks);
  // Each batch reads the layer weights once; the output matrix is read once per prompt.
  const double batches = std::ceil(n / static_cast<double>(std::max<int64_t>(batch, 1)));
  const double bytes = (cost.layer_weight_bytes * batches + cost.output_bytes) / n +
                       cost.kv_bytes_per_position * attended;
  return bound_of(compute, bytes / peaks.read_bytes_per_s);
}

Bound generation_bound(const TokenCost& cost, const MachinePeaks& peaks, int64_t n_gen,
                       int64_t n_depth) {
  if (n_gen <= 0) return {};
  const double attended = mean_attended(cost, n_depth, n_gen);
  const double compute = compute_seconds(
      cost.int8_ops + cost.output_int8_ops,
      cost.fp32_ops + cost.output_fp32_ops + cost.attention_ops_per_position * attended,
      cost.bf16_ops + cost.output_bf16_ops, peaks);
  const double bytes = cost.weight_bytes + cost.kv_bytes_per_position * attended;
  return bound_of(compute, bytes / peaks.read_bytes_per_s);
}

}  // namespace capibara::tools
