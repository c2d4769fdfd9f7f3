// Matmul throughput per weight type and ISA: a 2048 x 2048 weight times 1 (decode) or 16
// (prefill chunk) tokens, reported as tokens per second; row-major and, where the table has a
// packed kernel for the type, packed ("/packed"). Run `capibara_microbench
// --benchmark_filter=Matmul` (CAPIBARA_ISA does not matter: every available table is measured).
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/aligned_buffer.hpp"
#include "core/ggml_type.hpp"
#include "core/thread_pool.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/matmul.hpp"
#include "kernels/packed_weights.hpp"
#include "quantized_weights.hpp"

namespace capibara::kernels {
namespace {

constexpr int64_t kRows = 2048;
constexpr int64_t kCols = 2048;
constexpr int64_t kMaxTokens = 16;

// One quantized weight matrix per type, made once, row-major and (for the packed types) packed.
struct Weights {
  std::vector<uint64_t> storage;  // 8-byte aligned bytes
  AlignedBuffer packed;
  WeightMatrix matrix;
};

Weights make_weights(GgmlType type) {
  const size_t row_bytes = ggml_row_bytes(type, kCols).value_or(0);
  Weights w;
  w.storage = quantized_normal_rows(type, kRows, kCols, 1);
  auto* bytes = reinterpret_cast<uint8_t*>(w.storage.data());
  w.matrix = {type, bytes, kRows, kCols, row_bytes};
  if (can_pack(type, kRows, kCols)) {
    w.packed = AlignedBuffer(packed_matrix_bytes(type, kRows, kCols));
    pack_groups(type, bytes, row_bytes, kCols, 0, kRows / kPackRows, w.packed.data());
  }
  return w;
}

void bench_matmul(benchmark::State& state, const KernelTable* table, GgmlType type,
                  int64_t n_tokens, int n_threads, bool packed) {
  static std::vector<std::pair<GgmlType, Weights>> cache;
  const Weights* weights = nullptr;
  for (const auto& [t, w] : cache) {
    if (t == type) weights = &w;
  }
  if (weights == nullptr) weights = &cache.emplace_back(type, make_weights(type)).second;

  ThreadPool pool(n_threads);
  MatmulScratch scratch(pool.size(), kCols, kMaxTokens);
  std::mt19937 rng(2);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_tokens * kCols));  // [n_tokens, kCols]
  for (auto& v : x) v = dist(rng);
  std::vector<float> y(static_cast<size_t>(n_tokens * kRows));  // [n_tokens, kRows]
  WeightMatrix matrix = weights->matrix;
  if (packed) matrix.packed = weights->packed.data();
  for (auto _ : state) {
    matmul(*table, matrix, x.data(), n_tokens, y.data(), pool, scratch);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(n_tokens),
                                                  benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weight_GB/s"] =
      benchmark::Counter(static_cast<double>(weights->matrix.row_bytes * kRows) / 1e9,
                         benchmark::Counter::kIsIterationInvariantRate);
}

// Registered at start-up: one benchmark per ISA x type x batch x thread count.
// The tables again without their prefill micro-kernels, to compare (suffix "/no-tile").
const std::vector<KernelTable>& tables_without_tiles() {
  static const std::vector<KernelTable> tables = [] {
    std::vector<KernelTable> out;
    for (const KernelTable* table : available_kernel_tables()) {
      KernelTable t = *table;
      for (auto& k : t.quant_dot) k.vec_dot_tile = nullptr;
      out.push_back(t);
    }
    return out;
  }();
  return tables;
}

const bool kRegistered = [] {
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::vector<const KernelTable*> tables = available_kernel_tables();
  for (size_t index = 0; index < tables.size(); ++index) {
    const KernelTable* table = tables[index];
    for (const GgmlType type : {GgmlType::kQ4_0, GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ5_K,
                                GgmlType::kQ6_K, GgmlType::kF16}) {
      for (const int64_t n_tokens : {int64_t{1}, kMaxTokens}) {
        for (const int n_threads : {1, hw}) {
          if (n_threads == hw && hw == 1) continue;
          const std::string name = "Matmul/" + std::string(isa_name(table->isa)) + "/" +
                                   std::string(ggml_type_name(type)) +
                                   "/tokens:" + std::to_string(n_tokens) +
                                   "/threads:" + std::to_string(n_threads);
          benchmark::RegisterBenchmark(name.c_str(), bench_matmul, table, type, n_tokens, n_threads,
                                       false)
              ->Unit(benchmark::kMicrosecond)
              ->UseRealTime();
          if (n_tokens > 1 && quant_dot_kernels(*table, type).vec_dot_tile != nullptr) {
            benchmark::RegisterBenchmark((name + "/no-tile").c_str(), bench_matmul,
                                         &tables_without_tiles()[index], type, n_tokens, n_threads,
                                         false)
                ->Unit(benchmark::kMicrosecond)
                ->UseRealTime();
          }
          if (packed_gemm_kernel(*table, type) != nullptr) {
            benchmark::RegisterBenchmark((name + "/packed").c_str(), bench_matmul, table, type,
                                         n_tokens, n_threads, true)
                ->Unit(benchmark::kMicrosecond)
                ->UseRealTime();
          }
        }
      }
    }
  }
  return true;
}();

}  // namespace
}  // namespace capibara::kernels
