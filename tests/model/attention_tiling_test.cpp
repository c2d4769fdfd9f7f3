// Query tiling in `attend`: entries of one sequence share K/V tile conversions, yet each entry's
// output must be bit-identical to what it gets alone in a batch (the engine relies on batched
// and unbatched decoding agreeing exactly).
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/thread_pool.hpp"
#include "model/attention.hpp"

namespace capibara {
namespace {

struct TilingCase {
  int64_t n_head, n_head_kv, head_dim, window;
  KvType type;
};

std::string tiling_name(const ::testing::TestParamInfo<TilingCase>& info) {
  const TilingCase& c = info.param;
  return "heads" + std::to_string(c.n_head) + "_kv" + std::to_string(c.n_head_kv) + "_dim" +
         std::to_string(c.head_dim) + "_window" + std::to_string(c.window) + "_" +
         std::string(kv_type_name(c.type));
}

class AttentionTilingTest : public ::testing::TestWithParam<TilingCase> {};

TEST_P(AttentionTilingTest, EveryEntryMatchesItselfAloneBitForBit) {
  const TilingCase p = GetParam();
  const AttentionShape shape{p.n_head, p.n_head_kv, p.head_dim, 0.3f, p.window};
  const int64_t n_ctx = 96, n_layer = 2, layer = 1;
  const int64_t kv_dim = p.n_head_kv * p.head_dim, q_dim = p.n_head * p.head_dim;
  std::mt19937 rng(5);
  std::normal_distribution<float> d;
  const int64_t lengths[] = {83, 30};
  std::vector<SequenceKvCache> caches;
  for (int s = 0; s < 2; ++s) {
    caches.emplace_back(n_layer, n_ctx, p.n_head_kv, p.head_dim, p.type);
    for (int64_t pos = 0; pos < lengths[s]; ++pos) {
      std::vector<float> k(static_cast<size_t>(kv_dim)), v(static_cast<size_t>(kv_dim));
      for (auto& x : k) x = d(rng) * 2.0f;
      for (auto& x : v) x = d(rng);
      caches[static_cast<size_t>(s)].store(layer, pos, k.data(), v.data());
    }
  }
  SequenceKvCache* ptrs[] = {&caches[0], &caches[1]};
  // A prefill of sequence 0 starting mid-block (several tiles, the last one partial), a decode
  // entry of sequence 1 in between, and a run of sequence 1 whose positions jump back and forth
  // so that a tile's queries see disjoint parts of some blocks.
  std::vector<BatchToken> batch;
  for (int64_t pos = 7; pos < 45; ++pos) batch.push_back({0, pos, 0, false});
  batch.push_back({0, 29, 1, false});
  for (int64_t pos = 45; pos < 83; ++pos) batch.push_back({0, pos, 0, false});
  for (int64_t pos : {2, 27, 0, 18, 17, 29, 5}) batch.push_back({0, pos, 1, false});
  const auto n = static_cast<int64_t>(batch.size());
  std::vector<float> q(static_cast<size_t>(n * q_dim));
  for (auto& x : q) x = d(rng);

  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<float> scratch(
        static_cast<size_t>(pool.size() * attention_scratch_per_thread(shape)));
    std::vector<float> out(q.size(), -1.0f);
    attend(shape, layer, batch, ptrs, q.data(), out.data(), scratch.data(), pool);
    for (int64_t t = 0; t < n; ++t) {
      std::vector<float> alone(static_cast<size_t>(q_dim), -2.0f);
      attend(shape, layer, std::span(batch).subspan(static_cast<size_t>(t), 1), ptrs,
             q.data() + t * q_dim, alone.data(), scratch.data(), pool);
      ASSERT_EQ(0, std::memcmp(alone.data(), out.data() + t * q_dim,
                               static_cast<size_t>(q_dim) * sizeof(float)))
          << "threads " << threads << " entry " << t << " pos " << batch[t].pos;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionTilingTest,
    ::testing::Values(TilingCase{4, 2, 16, 0, KvType::kF32}, TilingCase{8, 2, 64, 0, KvType::kF16},
                      TilingCase{6, 2, 7, 0, KvType::kBF16},  // odd head size
                      TilingCase{4, 2, 16, 16, KvType::kF16}, TilingCase{8, 1, 9, 5, KvType::kFp8},
                      TilingCase{4, 4, 24, 20, KvType::kF32}, TilingCase{2, 2, 3, 1, KvType::kF16}),
    tiling_name);

}  // namespace
}  // namespace capibara
