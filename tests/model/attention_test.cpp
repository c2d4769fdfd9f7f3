// The attention building block against a direct, unbatched reference: grouped KV heads, several
// sequences in one batch, sliding windows of several widths, and paged blocks shared in one pool
// in any order, for every KV storage type.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/half.hpp"
#include "core/thread_pool.hpp"
#include "model/attention.hpp"

namespace capibara {
namespace {

// softmax(q . k_j * scale) weighted sum of v_j over j in [first, pos], in double.
std::vector<double> reference(const std::vector<float>& q, const std::vector<std::vector<float>>& k,
                              const std::vector<std::vector<float>>& v, const AttentionShape& s,
                              int64_t pos) {
  const int64_t hd = s.head_dim;
  const int64_t n_gqa = s.n_head / s.n_head_kv;
  const int64_t first = s.window_tokens > 0 ? std::max<int64_t>(0, pos - s.window_tokens + 1) : 0;
  std::vector<double> out(static_cast<size_t>(s.n_head * hd), 0.0);
  for (int64_t h = 0; h < s.n_head; ++h) {
    const int64_t g = h / n_gqa;
    std::vector<double> w;
    for (int64_t j = first; j <= pos; ++j) {
      double dot = 0;
      for (int64_t i = 0; i < hd; ++i) dot += q[h * hd + i] * k[j][g * hd + i];
      w.push_back(dot * s.scale);
    }
    const double mx = *std::max_element(w.begin(), w.end());
    double sum = 0;
    for (double& x : w) sum += (x = std::exp(x - mx));
    for (int64_t j = first; j <= pos; ++j) {
      for (int64_t i = 0; i < hd; ++i) {
        out[h * hd + i] += w[j - first] / sum * v[j][g * hd + i];
      }
    }
  }
  return out;
}

struct Case {
  int64_t n_head, n_head_kv, head_dim, window;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  return "heads" + std::to_string(c.n_head) + "_kv" + std::to_string(c.n_head_kv) + "_dim" +
         std::to_string(c.head_dim) + "_window" + std::to_string(c.window);
}

class AttentionTest : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionTest, MatchesReferenceForEveryEntryOfAMixedBatch) {
  const Case p = GetParam();
  const AttentionShape shape{p.n_head, p.n_head_kv, p.head_dim,
                             1.0f / std::sqrt(static_cast<float>(p.head_dim)), p.window};
  const int64_t n_ctx = 40, n_layer = 2, layer = 1;
  const int64_t kv_dim = p.n_head_kv * p.head_dim, q_dim = p.n_head * p.head_dim;
  std::mt19937 rng(7);
  std::normal_distribution<float> d;
  // Two sequences of different lengths with random keys and values at every position.
  const int64_t lengths[] = {33, 9};
  std::vector<SequenceKvCache> caches;
  std::vector<std::vector<std::vector<float>>> ks(2), vs(2);
  for (int s = 0; s < 2; ++s) {
    caches.emplace_back(n_layer, n_ctx, p.n_head_kv, p.head_dim, KvType::kF32);
    for (int64_t pos = 0; pos < lengths[s]; ++pos) {
      std::vector<float> k(kv_dim), v(kv_dim);
      for (auto& x : k) x = d(rng);
      for (auto& x : v) x = d(rng);
      caches[s].store(layer, pos, k.data(), v.data());
      ks[s].push_back(k);
      vs[s].push_back(v);
    }
  }
  SequenceKvCache* ptrs[] = {&caches[0], &caches[1]};
  // Entries of both sequences, interleaved, at the start, inside and at the end of each.
  const std::vector<BatchToken> batch = {{0, 0, 0, false},  {0, 0, 1, false},  {0, 5, 0, false},
                                         {0, 8, 1, false},  {0, 16, 0, false}, {0, 17, 0, false},
                                         {0, 32, 0, false}, {0, 3, 1, false}};
  const auto n = static_cast<int64_t>(batch.size());
  std::vector<float> q(static_cast<size_t>(n * q_dim));
  for (auto& x : q) x = d(rng);
  std::vector<float> out(q.size(), -1.0f);
  ThreadPool pool(3);
  AttentionWorkspace workspace(shape, pool.size());
  attend(shape, layer, batch, ptrs, q.data(), out.data(), workspace, pool);

  for (int64_t t = 0; t < n; ++t) {
    const BatchToken& e = batch[static_cast<size_t>(t)];
    const std::vector<float> qt(q.begin() + t * q_dim, q.begin() + (t + 1) * q_dim);
    const auto ref = reference(qt, ks[e.seq], vs[e.seq], shape, e.pos);
    for (int64_t i = 0; i < q_dim; ++i) {
      ASSERT_NEAR(out[t * q_dim + i], ref[i], 1e-5) << "entry " << t << " pos " << e.pos;
    }
  }
}

// Past 256 positions the softmax is merged from context segments: on one thread inside each
// item, on three as items of their own (one tile of four queries, few items for the threads).
// Both must match the reference, with windows that span segments (`window` x 20) or not.
TEST_P(AttentionTest, LongContextsMergedFromSegmentsMatchReference) {
  const Case p = GetParam();
  const AttentionShape shape{p.n_head, p.n_head_kv, p.head_dim,
                             1.0f / std::sqrt(static_cast<float>(p.head_dim)), p.window * 20};
  const int64_t n_ctx = 1440, layer = 0, length = 1400;
  const int64_t kv_dim = p.n_head_kv * p.head_dim, q_dim = p.n_head * p.head_dim;
  std::mt19937 rng(13);
  std::normal_distribution<float> d;
  SequenceKvCache cache(1, n_ctx, p.n_head_kv, p.head_dim, KvType::kF32);
  std::vector<std::vector<float>> ks, vs;
  for (int64_t pos = 0; pos < length; ++pos) {
    std::vector<float> k(static_cast<size_t>(kv_dim)), v(static_cast<size_t>(kv_dim));
    // Larger keys late in the context, so that later segments raise the running maximum.
    for (auto& x : k) x = d(rng) * (pos > 1200 ? 3.0f : 1.0f);
    for (auto& x : v) x = d(rng);
    cache.store(layer, pos, k.data(), v.data());
    ks.push_back(k);
    vs.push_back(v);
  }
  SequenceKvCache* ptrs[] = {&cache};
  const std::vector<BatchToken> batch = {
      {0, 1399, 0, false}, {0, 512, 0, false}, {0, 511, 0, false}, {0, 1040, 0, false}};
  const auto n = static_cast<int64_t>(batch.size());
  std::vector<float> q(static_cast<size_t>(n * q_dim));
  for (auto& x : q) x = d(rng);
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    AttentionWorkspace workspace(shape, pool.size());
    std::vector<float> out(q.size(), -1.0f);
    const int64_t segment_items =
        attend(shape, layer, batch, ptrs, q.data(), out.data(), workspace, pool);
    if (threads > 1) {
      EXPECT_GT(segment_items, 0) << "the segments did not run apart";
    }
    for (int64_t t = 0; t < n; ++t) {
      const int64_t pos = batch[static_cast<size_t>(t)].pos;
      const std::vector<float> qt(q.begin() + t * q_dim, q.begin() + (t + 1) * q_dim);
      const auto ref = reference(qt, ks, vs, shape, pos);
      for (int64_t i = 0; i < q_dim; ++i) {
        ASSERT_NEAR(out[static_cast<size_t>(t * q_dim + i)], ref[static_cast<size_t>(i)], 1e-5)
            << "threads " << threads << " pos " << pos << " element " << i;
      }
    }
  }
}

// Two sequences whose blocks are interleaved in one shared pool, in a shuffled order: attention
// reads every position through the block table. f32 must match the reference as closely as the
// contiguous case; the 16-bit types match a reference over their rounded rows; fp8 stays close.
TEST_P(AttentionTest, PagedBlocksOfASharedPoolMatchReference) {
  const Case p = GetParam();
  const AttentionShape shape{p.n_head, p.n_head_kv, p.head_dim,
                             1.0f / std::sqrt(static_cast<float>(p.head_dim)), p.window};
  const int64_t n_ctx = 64, n_layer = 2, layer = 1;
  const int64_t kv_dim = p.n_head_kv * p.head_dim, q_dim = p.n_head * p.head_dim;
  const int64_t lengths[] = {53, 20};
  for (KvType type : {KvType::kF32, KvType::kF16, KvType::kBF16, KvType::kFp8}) {
    std::mt19937 rng(11);
    std::normal_distribution<float> d;
    KvBlockPool kv(n_layer, p.n_head_kv, p.head_dim, 12, type);
    std::vector<int32_t> ids(12);
    for (int32_t i = 0; i < 12; ++i) ids[static_cast<size_t>(i)] = i;
    std::shuffle(ids.begin(), ids.end(), rng);
    std::vector<std::vector<int32_t>> tables = {{ids.begin(), ids.begin() + 4},
                                                {ids.begin() + 4, ids.begin() + 6}};
    std::vector<SequenceKvCache> caches;
    std::vector<std::vector<std::vector<float>>> ks(2), vs(2);
    for (int s = 0; s < 2; ++s) {
      caches.emplace_back(kv, n_ctx);
      caches[static_cast<size_t>(s)].set_blocks(tables[static_cast<size_t>(s)]);
      for (int64_t pos = 0; pos < lengths[s]; ++pos) {
        std::vector<float> k(static_cast<size_t>(kv_dim)), v(static_cast<size_t>(kv_dim));
        for (auto& x : k) x = d(rng) * (pos % 7 == 3 ? 4.0f : 1.0f);  // some rows widen fp8 scales
        for (auto& x : v) x = d(rng);
        caches[static_cast<size_t>(s)].store(layer, pos, k.data(), v.data());
        auto round = [type](std::vector<float> x) {
          for (auto& e : x) {
            if (type == KvType::kF16) e = fp16_to_f32(f32_to_fp16(e));
            if (type == KvType::kBF16) e = bf16_to_f32(f32_to_bf16(e));
          }
          return x;
        };
        ks[static_cast<size_t>(s)].push_back(round(k));
        vs[static_cast<size_t>(s)].push_back(round(v));
      }
    }
    SequenceKvCache* ptrs[] = {&caches[0], &caches[1]};
    const std::vector<BatchToken> batch = {{0, 0, 0, false},  {0, 15, 1, false}, {0, 16, 0, false},
                                           {0, 19, 1, false}, {0, 31, 0, false}, {0, 47, 0, false},
                                           {0, 52, 0, false}, {0, 1, 1, false}};
    const auto n = static_cast<int64_t>(batch.size());
    std::vector<float> q(static_cast<size_t>(n * q_dim));
    for (auto& x : q) x = d(rng);
    std::vector<float> out(q.size(), -1.0f);
    ThreadPool pool(2);
    AttentionWorkspace workspace(shape, pool.size());
    attend(shape, layer, batch, ptrs, q.data(), out.data(), workspace, pool);
    const double tol = type == KvType::kFp8 ? 0.25 : 1e-5;
    double max_err = 0;
    for (int64_t t = 0; t < n; ++t) {
      const BatchToken& e = batch[static_cast<size_t>(t)];
      const std::vector<float> qt(q.begin() + t * q_dim, q.begin() + (t + 1) * q_dim);
      const auto ref = reference(qt, ks[static_cast<size_t>(e.seq)], vs[static_cast<size_t>(e.seq)],
                                 shape, e.pos);
      for (int64_t i = 0; i < q_dim; ++i) {
        const double err = std::abs(out[static_cast<size_t>(t * q_dim + i)] - ref[i]);
        max_err = std::max(max_err, err);
        ASSERT_LE(err, tol) << kv_type_name(type) << " entry " << t << " pos " << e.pos;
      }
    }
    if (type == KvType::kFp8) {
      EXPECT_GT(max_err, 0.0) << "fp8 cannot be exact on random rows";
    }
  }
}

TEST(Fp8E4m3, RoundTripsEveryCodeAndRoundsToNearest) {
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7F) == 0x7F) continue;  // NaN
    const float v = e4m3_to_f32(static_cast<uint8_t>(c));
    if (c == 0x80) continue;  // -0 encodes as -0, compare as value below
    EXPECT_EQ(f32_to_e4m3(v), c) << v;
  }
  EXPECT_EQ(e4m3_to_f32(0x7E), 448.0f);
  EXPECT_EQ(e4m3_to_f32(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(f32_to_e4m3(1000.0f), 0x7E);  // saturates
  EXPECT_EQ(f32_to_e4m3(-1000.0f), 0xFE);
  EXPECT_EQ(e4m3_to_f32(f32_to_e4m3(1.0625f)), 1.0f);  // halfway: ties to even
  EXPECT_EQ(e4m3_to_f32(f32_to_e4m3(1.07f)), 1.125f);
  EXPECT_EQ(e4m3_to_f32(f32_to_e4m3(0.3f)), 0.3125f);
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionTest,
                         ::testing::Values(Case{4, 4, 16, 0}, Case{4, 2, 16, 0},
                                           Case{6, 2, 7, 0},    // odd head size
                                           Case{4, 2, 16, 16},  // Gemma 3's synthetic window
                                           Case{8, 1, 9, 5}, Case{2, 2, 3, 1}),
                         case_name);

}  // namespace
}  // namespace capibara
