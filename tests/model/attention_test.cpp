// The attention building block against a direct, unbatched reference: grouped KV heads, several
// sequences in one batch, and sliding windows of several widths.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

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
    caches.emplace_back(n_layer, n_ctx, kv_dim, KvType::kF32);
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
  std::vector<float> scratch(
      static_cast<size_t>(pool.size() * attention_scratch_per_thread(shape, n_ctx)));
  attend(shape, layer, batch, ptrs, q.data(), out.data(), scratch.data(), n_ctx, pool);

  for (int64_t t = 0; t < n; ++t) {
    const BatchToken& e = batch[static_cast<size_t>(t)];
    const std::vector<float> qt(q.begin() + t * q_dim, q.begin() + (t + 1) * q_dim);
    const auto ref = reference(qt, ks[e.seq], vs[e.seq], shape, e.pos);
    for (int64_t i = 0; i < q_dim; ++i) {
      ASSERT_NEAR(out[t * q_dim + i], ref[i], 1e-5) << "entry " << t << " pos " << e.pos;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionTest,
                         ::testing::Values(Case{4, 4, 16, 0}, Case{4, 2, 16, 0},
                                           Case{6, 2, 7, 0},    // odd head size
                                           Case{4, 2, 16, 16},  // Gemma 3's synthetic window
                                           Case{8, 1, 9, 5}, Case{2, 2, 3, 1}),
                         case_name);

}  // namespace
}  // namespace capibara
