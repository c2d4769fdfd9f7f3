// The packed decoding passes' own speed: one token through two packed groups (32 rows x 2048
// weights, 36-106 KiB), called over and over on one thread, so the weights stay in L1/L2 and
// neither DRAM nor the thread pool bounds the figure. It is what a core can decode at best,
// against which a stream from DRAM (`Stream/decode`) is read. `/tokens:N` does the same for N
// sequences decoding together (one pass of N tokens; `weight_GB/s` counts the weights once, so
// N tokens at the rate of one would read N times the one-token figure). Run `capibara_microbench
// --benchmark_filter=DecodePass` (every available table is measured).
//
// The weights are normal values quantized as a model's are (quantized_weights.hpp), and the
// activations a quantized normal row: random bytes would give random fp16 and activation scales,
// whose denormal products cost microcode assists on every block (docs/PERFORMANCE.md, "Decoding's
// float step one block late").
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "core/aligned_buffer.hpp"
#include "core/ggml_type.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/packed_weights.hpp"
#include "kernels/quant_dot.hpp"
#include "quantized_weights.hpp"

namespace capibara::kernels {
namespace {

constexpr int64_t kRowLength = 2048;
constexpr int64_t kGroups = 2;

void bench_decode_pass(benchmark::State& state, const KernelTable* table, GgmlType type,
                       int64_t n_tokens) {
  const size_t row_bytes = ggml_row_bytes(type, kRowLength).value_or(0);
  const std::vector<uint64_t> storage =
      quantized_normal_rows(type, kGroups * kPackRows, kRowLength, 3);
  const auto* bytes = reinterpret_cast<const uint8_t*>(storage.data());
  const size_t group_bytes = packed_group_bytes(type, kRowLength);
  AlignedBuffer packed(group_bytes * kGroups);
  pack_groups(type, bytes, row_bytes, kRowLength, 0, kGroups, packed.data());

  // The activation row as the packed kernels of this type read it.
  std::mt19937 rng(3);
  std::normal_distribution<float> activation(0.0f, 1.0f);
  std::vector<float> x(kRowLength);
  for (auto& v : x) v = activation(rng);
  // Each token's row is the same quantized values; the kernels read every row all the same. A
  // table that widens Q8_0 activations for its multi-token passes finds the copies after the
  // blocks, as matmul_packed writes them.
  const size_t blocks_bytes = packed_activation_row_bytes(type, kRowLength);
  const bool widen = type == GgmlType::kQ8_0 && table->widen_q8_sum != nullptr &&
                     n_tokens >= table->widen_q8_sum_from_tokens;
  const size_t act_stride = blocks_bytes + (widen ? widened_q8_sum_bytes(kRowLength) : 0);
  AlignedBuffer act(act_stride * static_cast<size_t>(n_tokens));
  for (int64_t t = 0; t < n_tokens; ++t) {
    uint8_t* row = act.data() + act_stride * static_cast<size_t>(t);
    switch (packed_format(type)->activations) {
      case PackedActivations::kQ8Sum:
        table->quantize_q8_sum(x.data(), row, kRowLength);
        if (widen) table->widen_q8_sum(row, row + blocks_bytes, kRowLength);
        break;
      case PackedActivations::kQ8_K:
        quant_dot_kernels(*table, type).quantize_activations(x.data(), row, kRowLength);
        break;
      default:
        state.SkipWithError("not a quantized packed type");
        return;
    }
  }

  const PackedGemmFn gemm = packed_gemm_kernel(*table, type);
  std::vector<float> y(static_cast<size_t>(kPackRows * n_tokens));
  for (auto _ : state) {
    for (int64_t g = 0; g < kGroups; ++g) {
      gemm(kRowLength, packed.data() + static_cast<size_t>(g) * group_bytes, act.data(), act_stride,
           n_tokens, y.data(), kPackRows);
      benchmark::DoNotOptimize(y.data());
    }
    benchmark::ClobberMemory();
  }
  state.counters["weight_GB/s"] =
      benchmark::Counter(static_cast<double>(group_bytes * kGroups) / 1e9,
                         benchmark::Counter::kIsIterationInvariantRate);
}

const bool kRegistered = [] {
  for (const KernelTable* table : available_kernel_tables()) {
    for (const GgmlType type :
         {GgmlType::kQ4_0, GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
      if (packed_gemm_kernel(*table, type) == nullptr) continue;
      const std::string name = "DecodePass/" + std::string(isa_name(table->isa)) + "/" +
                               std::string(ggml_type_name(type));
      for (const int64_t n_tokens : {1, 2, 3, 4, 8}) {
        const std::string suffix = n_tokens == 1 ? "" : "/tokens:" + std::to_string(n_tokens);
        benchmark::RegisterBenchmark((name + suffix).c_str(), bench_decode_pass, table, type,
                                     n_tokens)
            ->Unit(benchmark::kNanosecond)
            ->UseRealTime();
      }
    }
  }
  return true;
}();

}  // namespace
}  // namespace capibara::kernels
