// One decoding step's attention for one layer (`attend`, a single query) deep in a context, F16
// or fp8 KV: TinyLlama's heads (32 query heads over 4 KV heads of 64 dimensions) and the same with
// two (as Qwen2.5) and one KV head (multi-query, as Gemma 3 1B), on 1 and 2 threads. With one KV
// head a decoding query is one (tile, KV head) item, so only the context segments running apart
// give a second thread any of its work. Each step reads another sequence's cache, 64 MiB of them in
// all, so that the keys come from memory as in a model's decoding step (its weights have evicted
// them since the layer's last step), not from a cache they fit in. Items: the keys read per second.
// Run `capibara_microbench --benchmark_filter=Attend`.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.hpp"
#include "model/attention.hpp"

namespace capibara {
namespace {

void BM_AttendDecode(benchmark::State& state, KvType type) {
  const int64_t n_head_kv = state.range(0), depth = state.range(1);
  const auto threads = static_cast<int>(state.range(2));
  const AttentionShape shape{32, n_head_kv, 64, 0.125f, 0};
  const int64_t kv_dim = n_head_kv * shape.head_dim, q_dim = shape.n_head * shape.head_dim;
  const auto cache_bytes = (depth + 1) * kv_dim * 2 * static_cast<int64_t>(kv_type_bytes(type));
  const int64_t n_seq = std::max<int64_t>(2, (int64_t{64} << 20) / cache_bytes);
  std::mt19937 rng(1);
  std::normal_distribution<float> d;
  // Random rows, the same in every sequence: the values do not change the work.
  std::vector<std::vector<float>> k(64), v(64);
  for (int64_t r = 0; r < 64; ++r) {
    for (auto* row : {&k[static_cast<size_t>(r)], &v[static_cast<size_t>(r)]}) {
      row->resize(static_cast<size_t>(kv_dim));
      for (auto& x : *row) x = d(rng);
    }
  }
  std::vector<SequenceKvCache> storage;
  std::vector<SequenceKvCache*> caches;
  for (int64_t s = 0; s < n_seq; ++s) {
    storage.emplace_back(1, depth + 1, n_head_kv, shape.head_dim, type);
    for (int64_t pos = 0; pos <= depth; ++pos) {
      storage.back().store(0, pos, k[static_cast<size_t>(pos % 64)].data(),
                           v[static_cast<size_t>(pos % 64)].data());
    }
  }
  for (auto& c : storage) caches.push_back(&c);
  std::vector<float> q(static_cast<size_t>(q_dim)), out(q.size());
  for (auto& x : q) x = d(rng);
  ThreadPool pool(threads);
  AttentionWorkspace workspace(shape, pool.size());
  int64_t segment_items = 0, step = 0;
  for (auto _ : state) {
    const BatchToken entry{0, depth, static_cast<int32_t>(step++ % n_seq), false};
    segment_items =
        attend(shape, 0, std::span(&entry, 1), caches, q.data(), out.data(), workspace, pool);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * (depth + 1) * n_head_kv);
  state.SetLabel(std::to_string(segment_items) + " segments apart");
}
BENCHMARK_CAPTURE(BM_AttendDecode, f16, KvType::kF16)
    ->ArgNames({"kv_heads", "depth", "threads"})
    ->ArgsProduct({{4, 2, 1}, {1024, 4096}, {1, 2}})
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_AttendDecode, fp8, KvType::kFp8)
    ->ArgNames({"kv_heads", "depth", "threads"})
    ->ArgsProduct({{4, 2}, {1024, 4096}, {1, 2}})
    ->UseRealTime();

}  // namespace
}  // namespace capibara
