// The roofline of `capibara bench --roofline`: this machine's limits (memory read bandwidth,
// int8 and fp32 compute peaks, measured with tight loops of the active ISA) and, for a model,
// the work one token costs, hence the fastest prompt processing and generation the machine
// allows and the fraction of it a measured speed reaches.
//
// Generation reads every weight once per token, so its bound is read bandwidth / bytes per
// token. Prompt processing reads the weights once per batch and does 2 operations per weight per
// token, so its bound is usually the compute peak: int8 operations for quantized weights (their
// dot products run on 8-bit activations), fp32 for float weights and attention.
//
// On a shared machine (a VM whose host serves other tenants) the read bandwidth moves by tens
// of percent within seconds, so a bound measured once, before a run, can be exceeded by the run
// itself. `ReadProbe` lets a benchmark stream the buffer again between its measured runs; the
// bound is the best rate the machine delivered over the whole benchmark.
//
// Thread safety: `ReadProbe` and `measure_machine_peaks` are used by one thread (each owns a
// pool); the rest are pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/huge_page_buffer.hpp"
#include "core/thread_pool.hpp"
#include "kernels/kernel_table.hpp"
#include "model/kv_cache.hpp"

namespace capibara {

class Model;

namespace tools {

struct MachinePeaks {
  std::string loops;  // the ISA of the loops: "avx512", "avxvnni", "avx2", "generic"
  int n_threads = 0;
  size_t buffer_bytes = 0;              // streamed for the bandwidth
  double read_bytes_per_s = 0.0;        // best of several passes, buffer on huge pages (the bound)
  double read_bytes_per_s_worst = 0.0;  // worst of the same passes: how much the machine moves
  int read_passes = 0;
  std::vector<double> read_pass_rates;  // bytes/s of each of those passes, in the order they ran
  // A cache line's round trip between two of the threads after each of those passes, in ns
  // (tools/line_round_trip.hpp: where the threads sit); NaN where no other thread joined in
  // time, empty with one thread.
  std::vector<double> line_round_trip_ns;
  // Each read loop's best over the same passes (a pass's rate is its fastest loop's).
  std::vector<std::pair<std::string, double>> read_loop_best;
  // The same on 4 KiB pages: what a model reading its weights straight from the mapped file
  // (no repacking, or transparent huge pages off) can hope for.
  double read_bytes_per_s_small_pages = 0.0;
  double int8_ops_per_s = 0.0;    // 2 operations per 8-bit multiply-add
  double fp32_flops_per_s = 0.0;  // 2 operations per fused multiply-add
  // What BF16 weights' matmuls can reach: the bf16 dot products' peak where the loops have them
  // (`vdpbf16ps`), else the fp32 peak (their kernels then use fmas).
  double bf16_flops_per_s = 0.0;
};

struct PeakLoops;

// Read bandwidth of `n_threads` threads, each streaming its slice of a buffer of `buffer_bytes`
// on huge pages (as the packed weights are) with the read loops of `isa`; one pass per call.
class ReadProbe {
 public:
  ReadProbe(int n_threads, kernels::Isa isa, size_t buffer_bytes);

  // Streams the buffer once with each read loop (starting with a different one each pass, so
  // that none always follows the model's runs); records and returns the fastest loop's bytes
  // per second. With more than one thread, then times a cache line's round trip between two.
  double pass();

  // Best and worst of the passes so far (0 before the first).
  double best_bytes_per_s() const;
  double worst_bytes_per_s() const;
  int passes() const { return static_cast<int>(rates_.size()); }
  // Every pass's bytes per second, in the order they ran.
  const std::vector<double>& pass_rates() const { return rates_; }
  // The line round trip after every pass, in ns (NaN if not measured); empty with one thread.
  const std::vector<double>& round_trips_ns() const { return round_trips_ns_; }
  size_t buffer_bytes() const { return slice_ * static_cast<size_t>(pool_.size()); }
  ThreadPool& pool() { return pool_; }
  const PeakLoops& loops() const { return *loops_; }
  // Each read loop's best pass so far, in the loops' order.
  std::vector<std::pair<std::string, double>> loop_best() const;

 private:
  ThreadPool pool_;
  const PeakLoops* loops_;
  size_t slice_;  // bytes per thread
  HugePageBuffer buffer_;
  std::vector<double> rates_;
  std::vector<double> round_trips_ns_;
  std::vector<double> loop_best_;  // bytes/s, one per read loop
};

// Measures the machine with the probe's threads: a few read passes of the probe (each thread
// streams its slice of a buffer larger than the last-level cache), then the compute chains of
// the probe's ISA on every thread. Takes about a second.
MachinePeaks measure_machine_peaks(ReadProbe& probe);
MachinePeaks measure_machine_peaks(int n_threads, kernels::Isa isa,
                                   size_t buffer_bytes = size_t{1} << 30);

// The probe's passes so far into `peaks`: the bound becomes the best of them.
void record_read_passes(const ReadProbe& probe, MachinePeaks& peaks);

// The work of one token of a model.
struct TokenCost {
  double weight_bytes = 0.0;        // every tensor read per generated token (embedding: one row)
  double layer_weight_bytes = 0.0;  // the same without the output matrix
  double output_bytes = 0.0;        // the output matrix
  double int8_ops = 0.0;            // matmuls with block-quantized weights, per token
  double fp32_ops = 0.0;            // matmuls with f32 or f16 weights, per token
  double bf16_ops = 0.0;            // matmuls with bf16 weights, per token
  double output_int8_ops = 0.0;     // the output matrix (once per token that wants logits)
  double output_fp32_ops = 0.0;
  double output_bf16_ops = 0.0;
  double attention_ops_per_position = 0.0;  // QK and AV, fp32, per cached position attended
  double kv_bytes_per_position = 0.0;       // K and V of all layers, one position
  int64_t sliding_window = 0;               // 0: every position is attended
};

TokenCost token_cost(const Model& model, KvType kv_type);

struct Bound {
  double tokens_per_s = 0.0;
  const char* limit = "";  // "memory" or "compute"
};

// Prompt processing of `n_prompt` tokens in batches of `batch` tokens (logits of the last only),
// after `n_depth` tokens already in the context.
Bound prompt_bound(const TokenCost& cost, const MachinePeaks& peaks, int64_t n_prompt,
                   int64_t batch, int64_t n_depth = 0);
// Generation of `n_gen` tokens one at a time after `n_depth` tokens already in the context.
Bound generation_bound(const TokenCost& cost, const MachinePeaks& peaks, int64_t n_gen,
                       int64_t n_depth = 0);

}  // namespace tools
}  // namespace capibara
