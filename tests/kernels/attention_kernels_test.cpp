// The tile attention kernels (`attn_scores`, `attn_values`) of every table that has them against
// the per-key loop they replace (`dot_f32`, `axpy_f32` of the same table), bit for bit, at odd
// head sizes and key counts with misaligned pointers.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/kernel_table.hpp"

namespace capibara::kernels {
namespace {

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

std::vector<float> random_floats(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(AttentionKernels, MatchThePerKeyLoopBitForBit) {
  int tested = 0;
  for (const auto* table : available_kernel_tables()) {
    if (table->attn_scores == nullptr && table->attn_values == nullptr) continue;
    ASSERT_NE(table->attn_scores, nullptr) << "both or neither";
    ASSERT_NE(table->attn_values, nullptr) << "both or neither";
    for (const int64_t hd : {1, 7, 8, 15, 16, 17, 31, 33, 64, 80, 96, 128, 130}) {
      for (const int64_t n : {1, 2, 3, 4, 5, 7, 13, 16}) {
        std::mt19937 rng(static_cast<uint32_t>(hd * 100 + n));
        // One float of offset: no kernel may assume aligned rows.
        const auto q = random_floats(static_cast<size_t>(hd) + 1, rng);
        const auto k = random_floats(static_cast<size_t>(n * hd) + 1, rng);
        const auto v = random_floats(static_cast<size_t>(n * hd) + 1, rng);
        const auto p = random_floats(static_cast<size_t>(n) + 1, rng);
        const auto o0 = random_floats(static_cast<size_t>(hd) + 1, rng);
        const float scale = 0.125f;

        std::vector<float> s(static_cast<size_t>(n) + 1, -1.0f);
        table->attn_scores(q.data() + 1, k.data() + 1, n, hd, scale, s.data() + 1);
        for (int64_t j = 0; j < n; ++j) {
          const float want = table->dot_f32(q.data() + 1, k.data() + 1 + j * hd, hd) * scale;
          ASSERT_TRUE(same_bits(s[static_cast<size_t>(j) + 1], want))
              << isa_name(table->isa) << " scores hd " << hd << " n " << n << " key " << j;
        }

        std::vector<float> got = o0;
        std::vector<float> want = o0;
        table->attn_values(p.data() + 1, v.data() + 1, n, hd, got.data() + 1);
        for (int64_t j = 0; j < n; ++j) {
          table->axpy_f32(p[static_cast<size_t>(j) + 1], v.data() + 1 + j * hd, want.data() + 1,
                          hd);
        }
        for (size_t i = 0; i < got.size(); ++i) {
          ASSERT_TRUE(same_bits(got[i], want[i]))
              << isa_name(table->isa) << " values hd " << hd << " n " << n << " at " << i;
        }
        ++tested;
      }
    }
  }
  if (tested == 0) GTEST_SKIP() << "no kernel table on this CPU has tile attention kernels";
}

}  // namespace
}  // namespace capibara::kernels
