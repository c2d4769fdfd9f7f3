// How fast one core (or all) streams packed weights from DRAM through the decode kernels,
// against the read loops of `bench --roofline` over the same 1 GiB on huge pages. Decoding is
// memory-bound, and on a machine of a few cores the limit is what each core keeps in flight: this
// is the figure a decode kernel change must move (docs/PERFORMANCE.md, "Fewer instructions per
// weight byte"). The matrices are 2048 weights wide, like TinyLlama's attention; the bytes are a
// constant pattern whose fp16 scales are normal numbers (subnormal halves cost a microcode assist
// in `vcvtph2ps`, which would measure something else). Run `capibara_microbench
// --benchmark_filter=Stream` on an otherwise idle machine.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/ggml_type.hpp"
#include "core/huge_page_buffer.hpp"
#include "core/thread_pool.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/matmul.hpp"
#include "kernels/packed_weights.hpp"
#include "tools/peak_loops.hpp"

namespace capibara::kernels {
namespace {

constexpr size_t kStreamBytes = size_t{1} << 30;
constexpr int64_t kRowLength = 2048;

const HugePageBuffer& stream_buffer() {
  static const HugePageBuffer buffer = [] {
    HugePageBuffer b(kStreamBytes);
    std::memset(b.data(), 0x3C, b.size());  // fp16 0x3C3C = 1.06
    return b;
  }();
  return buffer;
}

void BM_StreamRead(benchmark::State& state, const tools::ReadLoop* loop, int n_threads) {
  const HugePageBuffer& buffer = stream_buffer();
  const size_t per_thread = buffer.size() / static_cast<size_t>(n_threads) / 256 * 256;
  ThreadPool pool(n_threads);
  std::vector<uint64_t> sums(static_cast<size_t>(n_threads));
  for (auto _ : state) {
    pool.parallel_for(n_threads, [&](int64_t begin, int64_t end, int) {
      for (int64_t t = begin; t < end; ++t) {
        sums[static_cast<size_t>(t)] =
            loop->read(buffer.data() + per_thread * static_cast<size_t>(t), per_thread);
      }
    });
    benchmark::DoNotOptimize(sums.data());
  }
  state.counters["bytes"] =
      benchmark::Counter(static_cast<double>(per_thread * static_cast<size_t>(n_threads)),
                         benchmark::Counter::kIsIterationInvariantRate);
}

void BM_StreamDecode(benchmark::State& state, const KernelTable* table, GgmlType type,
                     int n_threads) {
  const HugePageBuffer& buffer = stream_buffer();
  const size_t group_bytes = packed_group_bytes(type, kRowLength);
  const int64_t n_rows = static_cast<int64_t>(buffer.size() / group_bytes) * kPackRows;
  const size_t row_bytes = ggml_row_bytes(type, kRowLength).value_or(0);
  // The row-major pointer is never read: matmul takes the packed one.
  WeightMatrix w{type, buffer.data(), n_rows, kRowLength, row_bytes};
  w.packed = buffer.data();
  ThreadPool pool(n_threads);
  MatmulScratch scratch(pool.size(), kRowLength, 1);
  std::vector<float> x(kRowLength, 0.5f);
  std::vector<float> y(static_cast<size_t>(n_rows));
  for (auto _ : state) {
    matmul(*table, w, x.data(), 1, y.data(), pool, scratch);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["bytes"] =
      benchmark::Counter(static_cast<double>(static_cast<size_t>(n_rows / kPackRows) * group_bytes),
                         benchmark::Counter::kIsIterationInvariantRate);
}

// The same bytes as TinyLlama's decoding meets them: one layer's matrices in turn (q, k and v
// together, the attention output, gate and up together, down: 2560 x 2048, 2048 x 2048,
// 11264 x 2048 and 2048 x 5632), one after another over the buffer, one operation each. Against
// BM_StreamDecode (the buffer as one operation) it shows what splitting a token into ~110
// operations costs. On the AMD EPYC Zen 5 host, memory at full speed: Q4_0 74.1 -> 68.2 GB/s
// on two threads, Q8_0 74.2 -> 72.0, and nothing on one thread (35.9 -> 35.4), so the cost is
// in sharing each operation between threads (docs/PERFORMANCE.md, "What splitting into
// operations costs"). On the Zen 4 host with its two vCPUs on different CCDs, Q4_0 57-60 -> 52-53
// GB/s, on one CCD 1-3 % (docs/PERFORMANCE.md, "Between the operations").
void BM_StreamDecodeLayers(benchmark::State& state, const KernelTable* table, GgmlType type,
                           int n_threads) {
  struct Shape {
    int64_t rows, row_length;
  };
  constexpr Shape kLayer[] = {{2560, 2048}, {2048, 2048}, {11264, 2048}, {2048, 5632}};
  const HugePageBuffer& buffer = stream_buffer();
  std::vector<WeightMatrix> matrices;
  size_t offset = 0;
  for (bool full = false; !full;) {
    for (const Shape& shape : kLayer) {
      const size_t bytes = packed_matrix_bytes(type, shape.rows, shape.row_length);
      if (offset + bytes > buffer.size()) {
        full = true;
        break;
      }
      const size_t row_bytes = ggml_row_bytes(type, shape.row_length).value_or(0);
      WeightMatrix w{type, buffer.data() + offset, shape.rows, shape.row_length, row_bytes};
      w.packed = buffer.data() + offset;
      matrices.push_back(w);
      offset += bytes;
    }
  }
  int64_t max_rows = 0;
  int64_t max_row_length = 0;
  for (const Shape& shape : kLayer) {
    max_rows = std::max(max_rows, shape.rows);
    max_row_length = std::max(max_row_length, shape.row_length);
  }
  ThreadPool pool(n_threads);
  MatmulScratch scratch(pool.size(), max_row_length, 1);
  std::vector<float> x(static_cast<size_t>(max_row_length), 0.5f);
  std::vector<float> y(static_cast<size_t>(max_rows));
  for (auto _ : state) {
    for (const WeightMatrix& w : matrices) matmul(*table, w, x.data(), 1, y.data(), pool, scratch);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["bytes"] = benchmark::Counter(static_cast<double>(offset),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

const bool kRegistered = [] {
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<int> thread_counts{1};
  if (hw > 1) thread_counts.push_back(hw);
  // The read loops of `bench --roofline` (tools/peak_loops.hpp); its bound is the fastest.
  for (const tools::ReadLoop& loop : tools::peak_loops_for(active_kernels().isa).reads) {
    std::string name(loop.name);
    std::replace(name.begin(), name.end(), ' ', '_');
    for (const int n_threads : thread_counts) {
      benchmark::RegisterBenchmark(
          ("Stream/read/" + name + "/threads:" + std::to_string(n_threads)).c_str(), BM_StreamRead,
          &loop, n_threads)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
  // Both prefetch variants of the x86 tables (stream_prefetch.hpp), each kernel once.
  const std::vector<const KernelTable*> tables = available_kernel_table_variants();
  std::vector<PackedGemmFn> registered;
  for (const KernelTable* table : tables) {
    const bool variants = std::count_if(tables.begin(), tables.end(), [&](const KernelTable* t) {
                            return t->isa == table->isa;
                          }) > 1;
    for (const GgmlType type :
         {GgmlType::kQ4_0, GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
      const PackedGemmFn kernel = packed_gemm_kernel(*table, type);
      if (kernel == nullptr ||
          std::find(registered.begin(), registered.end(), kernel) != registered.end()) {
        continue;
      }
      registered.push_back(kernel);
      for (const int n_threads : thread_counts) {
        const std::string kernel_name =
            std::string(isa_name(table->isa)) +
            (variants ? "/" + std::string(stream_prefetch_name(table->stream_prefetch))
                      : std::string()) +
            "/" + std::string(ggml_type_name(type)) + "/threads:" + std::to_string(n_threads);
        benchmark::RegisterBenchmark(("Stream/decode/" + kernel_name).c_str(), BM_StreamDecode,
                                     table, type, n_threads)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
        benchmark::RegisterBenchmark(("Stream/decode_layers/" + kernel_name).c_str(),
                                     BM_StreamDecodeLayers, table, type, n_threads)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
    }
  }
  return true;
}();

}  // namespace
}  // namespace capibara::kernels
