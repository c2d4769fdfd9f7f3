// The tile attention kernels (`attn_scores`, `attn_values`, attention_tiles.hpp): the scalar
// references against plain double-precision sums, and every table's kernels against the
// references bit for bit, at odd head sizes, head counts and key counts with misaligned pointers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/attention_tiles.hpp"
#include "kernels/kernel_table.hpp"

namespace capibara::kernels {
namespace {

constexpr int64_t kL = kAttnTileKeys;

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

std::vector<float> random_floats(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(AttentionKernels, ScalarReferencesComputeScoresAndWeightedValues) {
  std::mt19937 rng(7);
  const int64_t hd = 37, n_q = 3, n_keys = 11;
  const size_t p_stride = 20;
  const auto q = random_floats(static_cast<size_t>(n_q * hd), rng);
  const auto kt = random_floats(static_cast<size_t>(hd * kL), rng);
  const auto v = random_floats(static_cast<size_t>(n_keys * hd), rng);
  const auto p = random_floats(static_cast<size_t>(n_q) * p_stride, rng);
  const auto o0 = random_floats(static_cast<size_t>(n_q * hd), rng);
  const float scale = 0.3f;

  std::vector<float> s(static_cast<size_t>(n_q * kL));
  scalar::attn_scores(q.data(), n_q, kt.data(), hd, scale, s.data());
  std::vector<float> o = o0;
  scalar::attn_values(p.data(), p_stride, n_q, v.data(), n_keys, hd, o.data());
  for (int64_t h = 0; h < n_q; ++h) {
    for (int64_t j = 0; j < kL; ++j) {
      double want = 0.0;
      for (int64_t i = 0; i < hd; ++i) want += double{q[h * hd + i]} * kt[i * kL + j];
      EXPECT_NEAR(s[h * kL + j], want * scale, 1e-5) << "head " << h << " key " << j;
    }
    for (int64_t i = 0; i < hd; ++i) {
      double want = o0[h * hd + i];
      for (int64_t j = 0; j < n_keys; ++j) {
        want += double{p[static_cast<size_t>(h) * p_stride + j]} * v[j * hd + i];
      }
      EXPECT_NEAR(o[h * hd + i], want, 1e-5) << "head " << h << " dim " << i;
    }
  }
}

TEST(AttentionKernels, EveryTableMatchesTheScalarReferenceBitForBit) {
  for (const auto* table : available_kernel_tables()) {
    ASSERT_NE(table->attn_scores, nullptr) << isa_name(table->isa);
    ASSERT_NE(table->attn_values, nullptr) << isa_name(table->isa);
    for (const int64_t hd : {1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 80, 96, 128, 130}) {
      for (const int64_t n_q : {1, 2, 3, 4, 5, 7, 8, 9, 12}) {
        for (const int64_t n_keys : {1, 5, 13, 16}) {
          std::mt19937 rng(static_cast<uint32_t>(hd * 1000 + n_q * 20 + n_keys));
          const size_t p_stride = kL + 3;
          // One float of offset: no kernel may assume aligned rows.
          const auto q = random_floats(static_cast<size_t>(n_q * hd) + 1, rng);
          const auto kt = random_floats(static_cast<size_t>(hd * kL) + 1, rng);
          const auto v = random_floats(static_cast<size_t>(n_keys * hd) + 1, rng);
          const auto p = random_floats(static_cast<size_t>(n_q) * p_stride + 1, rng);
          const auto o0 = random_floats(static_cast<size_t>(n_q * hd) + 2, rng);
          const float scale = 0.125f;
          const auto where = [&] {
            return std::string(isa_name(table->isa)) + " hd " + std::to_string(hd) + " heads " +
                   std::to_string(n_q) + " keys " + std::to_string(n_keys);
          };

          std::vector<float> got(static_cast<size_t>(n_q * kL) + 2, -1.0f);
          std::vector<float> want = got;
          table->attn_scores(q.data() + 1, n_q, kt.data() + 1, hd, scale, got.data() + 1);
          scalar::attn_scores(q.data() + 1, n_q, kt.data() + 1, hd, scale, want.data() + 1);
          for (size_t i = 0; i < got.size(); ++i) {
            ASSERT_TRUE(same_bits(got[i], want[i])) << where() << " scores at " << i;
          }

          // The last float past the outputs must stay untouched.
          got = o0;
          want = o0;
          table->attn_values(p.data() + 1, p_stride, n_q, v.data() + 1, n_keys, hd, got.data() + 1);
          scalar::attn_values(p.data() + 1, p_stride, n_q, v.data() + 1, n_keys, hd,
                              want.data() + 1);
          for (size_t i = 0; i < got.size(); ++i) {
            ASSERT_TRUE(same_bits(got[i], want[i])) << where() << " values at " << i;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace capibara::kernels
