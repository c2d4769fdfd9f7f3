// Measuring the machine and counting a model's work per token.
#include "tools/roofline.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/aligned_buffer.hpp"
#include "core/huge_page_buffer.hpp"
#include "core/thread_pool.hpp"
#include "model/model.hpp"
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

// Best read bandwidth of the pool's threads streaming their slices of `raw`
// (`read_slice(...) * pool.size()` bytes).
double measure_read(ThreadPool& pool, const PeakLoops& loops, uint8_t* raw, size_t slice) {
  const int n = pool.size();
  // First touch from the thread that will read the slice (page placement), off the clock.
  pool.parallel_for(n, [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) {
      std::memset(raw + static_cast<size_t>(t) * slice, static_cast<int>(t + 1), slice);
    }
  });
  double best = 0.0;
  for (int pass = 0; pass < kBandwidthPasses; ++pass) {
    const auto start = Clock::now();
    pool.parallel_for(n, [&](int64_t begin, int64_t end, int) {
      uint64_t sum = 0;
      for (int64_t t = begin; t < end; ++t) {
        sum += loops.read(raw + static_cast<size_t>(t) * slice, slice);
      }
      g_sink_u64 = g_sink_u64 + sum;
    });
    const double s = seconds_since(start);
    best = std::max(best, static_cast<double>(slice) * n / s);
  }
  return best;
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

MachinePeaks measure_machine_peaks(int n_threads, kernels::Isa isa, size_t buffer_bytes) {
  ThreadPool pool(n_threads);
  const PeakLoops& loops = peak_loops_for(isa);
  MachinePeaks peaks;
  peaks.loops = std::string(loops.name);
  peaks.n_threads = pool.size();
  peaks.buffer_bytes = buffer_bytes;
  const size_t slice = read_slice(buffer_bytes, pool.size());
  const size_t bytes = slice * static_cast<size_t>(pool.size());
  {
    // Huge pages, as the packed weights get (model/weight_packing.cpp): the bound.
    HugePageBuffer huge(bytes);
    peaks.read_bytes_per_s = measure_read(pool, loops, huge.data(), slice);
  }
  {
    // Plain heap memory, not advised for huge pages (in the kernel's "always" mode it may still
    // get some, and the two figures come close).
    AlignedBuffer small(bytes);
    peaks.read_bytes_per_s_small_pages = measure_read(pool, loops, small.data(), slice);
  }
  peaks.fp32_flops_per_s = measure_compute(
      pool, [&](int64_t it) { g_sink_f32 = loops.fp32(it); }, loops.fp32_flops_per_iteration);
  peaks.int8_ops_per_s = measure_compute(
      pool, [&](int64_t it) { g_sink_i32 = loops.int8(it); }, loops.int8_ops_per_iteration);
  return peaks;
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
    const bool int8 = is_block_quantized(t.type);
    if (output) {
      (int8 ? cost.output_int8_ops : cost.output_fp32_ops) += ops;
    } else {
      (int8 ? cost.int8_ops : cost.fp32_ops) += ops;
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

double compute_seconds(double int8_ops, double fp32_ops, const MachinePeaks& peaks) {
  return int8_ops / peaks.int8_ops_per_s + fp32_ops / peaks.fp32_flops_per_s;
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
      cost.fp32_ops + cost.output_fp32_ops / n + cost.attention_ops_per_position * attended, peaks);
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
      cost.fp32_ops + cost.output_fp32_ops + cost.attention_ops_per_position * attended, peaks);
  const double bytes = cost.weight_bytes + cost.kv_bytes_per_position * attended;
  return bound_of(compute, bytes / peaks.read_bytes_per_s);
}

}  // namespace capibara::tools
