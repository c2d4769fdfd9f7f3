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

// Two sequences of `lengths` positions with random keys and values in `layer`.
std::vector<SequenceKvCache> filled_caches(const TilingCase& p, int64_t n_ctx, int64_t layer,
                                           const std::vector<int64_t>& lengths, std::mt19937& rng) {
  std::normal_distribution<float> d;
  const int64_t kv_dim = p.n_head_kv * p.head_dim;
  std::vector<SequenceKvCache> caches;
  for (int64_t length : lengths) {
    caches.emplace_back(layer + 1, n_ctx, p.n_head_kv, p.head_dim, p.type);
    for (int64_t pos = 0; pos < length; ++pos) {
      std::vector<float> k(static_cast<size_t>(kv_dim)), v(static_cast<size_t>(kv_dim));
      for (auto& x : k) x = d(rng) * 2.0f;
      for (auto& x : v) x = d(rng);
      caches.back().store(layer, pos, k.data(), v.data());
    }
  }
  return caches;
}

// Attends `batch` on 1, 2, 3 and 8 threads, and each entry alone on each, and expects the same
// bits everywhere. Returns how many context segments ran as items of their own in all calls.
int64_t expect_same_bits_everywhere(const AttentionShape& shape, int64_t layer,
                                    const std::vector<BatchToken>& batch,
                                    std::span<SequenceKvCache* const> caches, std::mt19937& rng) {
  std::normal_distribution<float> d;
  const int64_t q_dim = shape.n_head * shape.head_dim;
  const auto n = static_cast<int64_t>(batch.size());
  std::vector<float> q(static_cast<size_t>(n * q_dim));
  for (auto& x : q) x = d(rng);
  std::vector<float> first;
  int64_t segment_items = 0;
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    AttentionWorkspace workspace(shape, pool.size());
    std::vector<float> out(q.size(), -1.0f);
    segment_items += attend(shape, layer, batch, caches, q.data(), out.data(), workspace, pool);
    if (first.empty()) first = out;
    EXPECT_EQ(0, std::memcmp(first.data(), out.data(), out.size() * sizeof(float)))
        << "the batch on " << threads << " threads against 1";
    for (int64_t t = 0; t < n; ++t) {
      std::vector<float> alone(static_cast<size_t>(q_dim), -2.0f);
      segment_items += attend(shape, layer, std::span(batch).subspan(static_cast<size_t>(t), 1),
                              caches, q.data() + t * q_dim, alone.data(), workspace, pool);
      EXPECT_EQ(0, std::memcmp(alone.data(), out.data() + t * q_dim,
                               static_cast<size_t>(q_dim) * sizeof(float)))
          << "threads " << threads << " entry " << t << " pos " << batch[t].pos;
    }
  }
  return segment_items;
}

TEST_P(AttentionTilingTest, EveryEntryMatchesItselfAloneBitForBit) {
  const TilingCase p = GetParam();
  const AttentionShape shape{p.n_head, p.n_head_kv, p.head_dim, 0.3f, p.window};
  const int64_t layer = 1;
  std::mt19937 rng(5);
  std::vector<SequenceKvCache> caches = filled_caches(p, 96, layer, {83, 30}, rng);
  SequenceKvCache* ptrs[] = {&caches[0], &caches[1]};
  // A prefill of sequence 0 starting mid-block (several tiles, the last one partial), a decode
  // entry of sequence 1 in between, and a run of sequence 1 whose positions jump back and forth
  // so that a tile's queries see disjoint parts of some blocks.
  std::vector<BatchToken> batch;
  for (int64_t pos = 7; pos < 45; ++pos) batch.push_back({0, pos, 0, false});
  batch.push_back({0, 29, 1, false});
  for (int64_t pos = 45; pos < 83; ++pos) batch.push_back({0, pos, 0, false});
  for (int64_t pos : {2, 27, 0, 18, 17, 29, 5}) batch.push_back({0, pos, 1, false});
  expect_same_bits_everywhere(shape, layer, batch, ptrs, rng);
}

// Past 256 positions a query's softmax is merged from context segments, which run as separate
// items when a batch has few (tile, KV head) items for the threads (a lone decoding entry on 3
// or 8 threads) and inside one item otherwise: the bits must not tell which.
TEST_P(AttentionTilingTest, LongContextsGiveTheSameBitsWhetherOrNotSegmentsRunApart) {
  const TilingCase p = GetParam();
  const AttentionShape shape{p.n_head, p.n_head_kv, p.head_dim, 0.3f,
                             p.window == 0 ? 0 : p.window * 20};
  const int64_t layer = 1;
  std::mt19937 rng(9);
  std::vector<SequenceKvCache> caches = filled_caches(p, 1400, layer, {1300, 600}, rng);
  SequenceKvCache* ptrs[] = {&caches[0], &caches[1]};
  // A prefill chunk deep in sequence 0 across a segment boundary (1024), decoding entries of both
  // sequences on either side of others (256, 512) and at the end of each.
  std::vector<BatchToken> batch;
  for (int64_t pos = 1000; pos < 1040; ++pos) batch.push_back({0, pos, 0, false});
  for (int64_t pos : {255, 256, 511, 512, 599}) batch.push_back({0, pos, 1, false});
  batch.push_back({0, 1299, 0, false});
  batch.push_back({0, 513, 0, false});
  EXPECT_GT(expect_same_bits_everywhere(shape, layer, batch, ptrs, rng), 0)
      << "no call ran a segment as an item of its own";
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
