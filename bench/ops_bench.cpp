// Row-wise operations per ISA at TinyLlama-1.1B's shapes (hidden 2048, feed-forward 5632, 32
// heads of 64 dimensions, 8 query heads per KV head), attention-row lengths for softmax and one
// KV block for the attention tile kernels, reported as elements per second. Run
// `capibara_microbench --benchmark_filter=Ops` (every available table is measured, whatever
// CAPIBARA_ISA says). Buffers start on cache lines, as the model's do. The attention tile reads
// two speeds for one binary, process to process (about 250 and 320 ns on the Zen 5 VM), with
// plain or aligned buffers alike: compare medians of several runs (docs/PERFORMANCE.md).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/aligned_buffer.hpp"
#include "core/half.hpp"
#include "kernels/attention_tiles.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/ops.hpp"

namespace capibara::kernels {
namespace {

constexpr int64_t kHidden = 2048;
constexpr int64_t kFeedForward = 5632;
constexpr int64_t kHeads = 32;
constexpr int64_t kHeadDim = 64;

AlignedVector<float> random_vector(int64_t n, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  AlignedVector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

void finish(benchmark::State& state, int64_t n) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * n);
}

void bench_rms_norm(benchmark::State& state, const KernelTable* t) {
  const auto x = random_vector(kHidden, -2.0f, 2.0f, 1);
  const auto w = random_vector(kHidden, -1.0f, 1.0f, 2);
  AlignedVector<float> out(kHidden);
  for (auto _ : state) {
    t->rms_norm(x.data(), w.data(), out.data(), kHidden, 1e-5f);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  finish(state, kHidden);
}

void bench_layer_norm(benchmark::State& state, const KernelTable* t) {
  const auto x = random_vector(kHidden, -2.0f, 2.0f, 1);
  const auto w = random_vector(kHidden, -1.0f, 1.0f, 2);
  AlignedVector<float> out(kHidden);
  for (auto _ : state) {
    t->layer_norm(x.data(), w.data(), out.data(), kHidden, 1e-5f);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  finish(state, kHidden);
}

// Softmax maps its output to itself up to rounding (the max entry stays the max), so repeating
// it in place measures the same work every iteration.
void bench_softmax(benchmark::State& state, const KernelTable* t) {
  const auto n = static_cast<int64_t>(state.range(0));
  auto x = random_vector(n, -10.0f, 10.0f, 3);
  // Arg 1: the second half masked with -inf, as a causal mask leaves the rows of early
  // positions in a prefill chunk.
  if (state.range(1) != 0) {
    for (int64_t i = n / 2; i < n; ++i) x[static_cast<size_t>(i)] = -INFINITY;
  }
  for (auto _ : state) {
    t->softmax(x.data(), n);
    benchmark::DoNotOptimize(x.data());
    benchmark::ClobberMemory();
  }
  finish(state, n);
}

// The gate is restored from a copy before each call (a 22 KiB L1-resident `memcpy`, included in
// the time of every ISA alike): repeating the op in place would drift the gates towards 0, into
// subnormals, whose slow arithmetic would dominate.
void bench_gated(benchmark::State& state, const KernelTable* t, bool gelu) {
  const auto gate0 = random_vector(kFeedForward, -6.0f, 6.0f, 4);
  const auto up = random_vector(kFeedForward, -1.0f, 1.0f, 5);
  AlignedVector<float> gate(gate0.size());
  auto* op = gelu ? t->geglu_tanh : t->swiglu;
  for (auto _ : state) {
    std::memcpy(gate.data(), gate0.data(), gate.size() * sizeof(float));
    op(gate.data(), up.data(), kFeedForward);
    benchmark::DoNotOptimize(gate.data());
    benchmark::ClobberMemory();
  }
  finish(state, kFeedForward);
}

void bench_add(benchmark::State& state, const KernelTable* t) {
  const auto x = random_vector(kHidden, -1e-3f, 1e-3f, 6);
  auto y = random_vector(kHidden, -1.0f, 1.0f, 7);
  for (auto _ : state) {
    t->add(x.data(), y.data(), kHidden);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  finish(state, kHidden);
}

// A rotation keeps the norm, so repeating it in place is stable.
void bench_rope(benchmark::State& state, const KernelTable* t, RopeLayout layout) {
  RopeParams p;
  p.n_rot = static_cast<int32_t>(kHeadDim);
  p.layout = layout;
  AlignedVector<float> cs(static_cast<size_t>(kHeadDim));  // [n_rot / 2][2]
  rope_angles(p, 777, cs.data());
  auto x = random_vector(kHeads * kHeadDim, -1.0f, 1.0f, 8);  // [kHeads, kHeadDim]
  auto* rope = layout == RopeLayout::kNormal ? t->rope_normal : t->rope_neox;
  for (auto _ : state) {
    rope(cs.data(), x.data(), kHeads, kHeadDim, p.n_rot);
    benchmark::DoNotOptimize(x.data());
    benchmark::ClobberMemory();
  }
  finish(state, kHeads * kHeadDim);
}

// One attention tile of TinyLlama's shape: 8 query heads of 64 dimensions sharing a KV head,
// scored against a block of 16 keys, their online softmax, then the values those weights pick,
// as attention runs them once per block for each query; or one of the three kernels alone, to
// see where the tile's time goes; or the whole tile on fp16 tiles as the cache stores them (the
// kernels a decoding step takes). Items: the multiply-adds of the scores and the values (the
// softmax alone: the weights).
enum class TileStage { kWholeTile, kWholeTileF16, kScores, kSoftmax, kValues };

void bench_attention_tile(benchmark::State& state, const KernelTable* t, TileStage stage) {
  constexpr int64_t kGroup = 8;
  constexpr int64_t kKeys = kAttnTileKeys;
  const auto q = random_vector(kGroup * kHeadDim, -1.0f, 1.0f, 9);
  auto kt = random_vector(kHeadDim * kKeys, -1.0f, 1.0f, 10);
  auto v = random_vector(kKeys * kHeadDim, -1.0f, 1.0f, 11);
  // The same keys and values as fp16, and the f32 tiles made their widened copies.
  AlignedVector<uint16_t> kt16(kt.size()), v16(v.size());
  for (size_t i = 0; i < kt.size(); ++i) kt[i] = fp16_to_f32(kt16[i] = f32_to_fp16(kt[i]));
  for (size_t i = 0; i < v.size(); ++i) v[i] = fp16_to_f32(v16[i] = f32_to_fp16(v[i]));
  AlignedVector<float> s(static_cast<size_t>(kGroup * kKeys));
  AlignedVector<float> o(static_cast<size_t>(kGroup * kHeadDim), 0.0f);
  AlignedVector<float> run_max(kGroup, -std::numeric_limits<float>::infinity());
  AlignedVector<float> run_sum(kGroup, 0.0f);
  // One block first: the running maxima settle (every iteration scores the same keys), so the
  // softmax takes its usual path and the outputs grow by at most the sixteen weights times the
  // values per iteration. Alone, the softmax rewrites the scores as weights in (0, 1], which
  // keeps it doing the same work.
  t->attn_scores(q.data(), kGroup, kt.data(), kHeadDim, 0.125f, s.data());
  t->attn_softmax(s.data(), kGroup, 0, kKeys, run_max.data(), run_sum.data(), o.data(), kHeadDim);
  for (auto _ : state) {
    if (stage == TileStage::kWholeTile || stage == TileStage::kScores) {
      t->attn_scores(q.data(), kGroup, kt.data(), kHeadDim, 0.125f, s.data());
    }
    if (stage == TileStage::kWholeTileF16) {
      t->attn_scores_f16(q.data(), kGroup, kt16.data(), kHeadDim, 0.125f, s.data());
    }
    if (stage != TileStage::kScores && stage != TileStage::kValues) {
      t->attn_softmax(s.data(), kGroup, 0, kKeys, run_max.data(), run_sum.data(), o.data(),
                      kHeadDim);
    }
    if (stage == TileStage::kWholeTile || stage == TileStage::kValues) {
      t->attn_values(s.data(), kKeys, kGroup, v.data(), kKeys, kHeadDim, o.data());
    }
    if (stage == TileStage::kWholeTileF16) {
      t->attn_values_f16(s.data(), kKeys, kGroup, v16.data(), kKeys, kHeadDim, o.data());
    }
    benchmark::DoNotOptimize(s.data());
    benchmark::DoNotOptimize(o.data());
    benchmark::ClobberMemory();
  }
  finish(state, kGroup * kKeys * (stage == TileStage::kSoftmax ? 1 : 2 * kHeadDim));
}

// One KV tile (16 positions of a 64-dimension head) widened to f32, as attention reads every
// tile of an F16 or BF16 cache (kv_cache.hpp).
void bench_widen(benchmark::State& state, const KernelTable* t, bool bf16) {
  constexpr int64_t n = 16 * kHeadDim;
  AlignedVector<uint16_t> x(static_cast<size_t>(n));
  std::mt19937 rng(3);
  // Finite values of either format: sign, exponent away from the ends, random mantissa.
  for (auto& h : x) h = static_cast<uint16_t>((rng() & 0x83FF) | (bf16 ? 0x3C00 : 0x3800));
  AlignedVector<float> out(static_cast<size_t>(n));
  const auto widen = bf16 ? t->bf16_to_f32 : t->fp16_to_f32;
  for (auto _ : state) {
    widen(x.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  finish(state, n);
}

// One fp8 KV tile widened to f32, as attention widens an fp8 cache's tiles for a prefill's queries.
void bench_widen_fp8(benchmark::State& state, const KernelTable* t) {
  constexpr int64_t n = 16 * kHeadDim;
  AlignedVector<uint8_t> x(static_cast<size_t>(n));
  std::mt19937 rng(3);
  for (auto& c : x) c = static_cast<uint8_t>(rng() % 0x7F);  // no NaN codes
  AlignedVector<float> out(static_cast<size_t>(n));
  for (auto _ : state) {
    t->fp8_to_f32(x.data(), 0.0371f, out.data(), n);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  finish(state, n);
}

// The same tile to halves, as a decoding step converts an fp8 cache's tiles for the fp16 kernels.
void bench_fp8_to_f16(benchmark::State& state, const KernelTable* t) {
  constexpr int64_t n = 16 * kHeadDim;
  AlignedVector<uint8_t> x(static_cast<size_t>(n));
  std::mt19937 rng(3);
  for (auto& c : x) c = static_cast<uint8_t>(rng() % 0x7F);
  AlignedVector<uint16_t> out(static_cast<size_t>(n));
  for (auto _ : state) {
    t->fp8_to_f16(x.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  finish(state, n);
}

// Registered at start-up: one benchmark per op x ISA.
const bool kRegistered = [] {
  for (const KernelTable* table : available_kernel_tables()) {
    const std::string isa(isa_name(table->isa));
    auto reg = [&](const std::string& op, auto fn, auto... args) {
      return benchmark::RegisterBenchmark(("Ops/" + op + "/" + isa).c_str(), fn, table, args...);
    };
    reg("rms_norm:2048", bench_rms_norm);
    reg("layer_norm:2048", bench_layer_norm);
    reg("softmax", bench_softmax)->ArgNames({"n", "masked"})->ArgsProduct({{512, 4096}, {0, 1}});
    reg("swiglu:5632", bench_gated, false);
    reg("geglu_tanh:5632", bench_gated, true);
    reg("add:2048", bench_add);
    reg("rope_normal:32x64", bench_rope, RopeLayout::kNormal);
    reg("rope_neox:32x64", bench_rope, RopeLayout::kNeox);
    reg("attention_tile:8x16x64", bench_attention_tile, TileStage::kWholeTile);
    if (table->attn_scores_f16 != nullptr) {
      reg("attention_tile_f16:8x16x64", bench_attention_tile, TileStage::kWholeTileF16);
    }
    reg("attention_scores:8x16x64", bench_attention_tile, TileStage::kScores);
    reg("attention_softmax:8x16", bench_attention_tile, TileStage::kSoftmax);
    reg("attention_values:8x16x64", bench_attention_tile, TileStage::kValues);
    reg("widen_f16:16x64", bench_widen, false);
    reg("widen_bf16:16x64", bench_widen, true);
    reg("widen_fp8:16x64", bench_widen_fp8);
    reg("fp8_to_f16:16x64", bench_fp8_to_f16);
  }
  return true;
}();

}  // namespace
}  // namespace capibara::kernels
