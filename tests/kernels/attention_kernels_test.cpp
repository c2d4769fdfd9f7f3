// The tile attention kernels (`attn_scores`, `attn_values`, `attn_softmax`, attention_tiles.hpp):
// the scalar references against plain double-precision sums, and every table's kernels against
// the references (bit for bit, or within a few ulps where exp is taken) at odd head sizes, head
// counts, key counts and windows, with misaligned pointers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/attention_tiles.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/ops_scalar.hpp"

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

// Tiles as the KV cache stores them, fp16 or bf16 (finite: sign, an exponent away from the
// ends, random mantissa), and the same tiles widened to f32.
std::vector<uint16_t> random_halves(size_t n, bool bf16, std::mt19937& rng) {
  std::vector<uint16_t> v(n);
  for (auto& h : v) {
    const auto bits = static_cast<uint16_t>(rng());
    h = bf16 ? static_cast<uint16_t>((bits & 0x807F) | (0x3C00 + (bits & 0x0380)))
             : static_cast<uint16_t>((bits & 0x83FF) | (0x3000 + (bits & 0x0C00)));
  }
  return v;
}

std::vector<float> widened(const std::vector<uint16_t>& x, bool bf16) {
  std::vector<float> out(x.size());
  (bf16 ? scalar::bf16_to_f32 : scalar::fp16_to_f32)(x.data(), out.data(),
                                                     static_cast<int64_t>(x.size()));
  return out;
}

// The kernels that read fp16 / bf16 tiles directly give the f32 references' bits on the widened
// tiles: the scalar ones, and every table's that has them.
TEST(AttentionKernels, HalfTileKernelsMatchTheReferenceOnWidenedTiles) {
  for (const bool bf16 : {false, true}) {
    for (const auto* table : available_kernel_tables()) {
      const AttnScoresHalfFn scores[] = {bf16 ? scalar::attn_scores_bf16 : scalar::attn_scores_f16,
                                         bf16 ? table->attn_scores_bf16 : table->attn_scores_f16};
      const AttnValuesHalfFn values[] = {bf16 ? scalar::attn_values_bf16 : scalar::attn_values_f16,
                                         bf16 ? table->attn_values_bf16 : table->attn_values_f16};
      ASSERT_EQ(scores[1] == nullptr, values[1] == nullptr) << isa_name(table->isa);
      for (const int64_t hd : {1, 7, 16, 17, 33, 64, 80, 130}) {
        for (const int64_t n_q : {1, 3, 4, 5, 8, 9}) {
          for (const int64_t n_keys : {1, 5, 16}) {
            std::mt19937 rng(static_cast<uint32_t>(hd * 1000 + n_q * 20 + n_keys + bf16));
            const size_t p_stride = kL + 3;
            // One element of offset: no kernel may assume aligned rows.
            const auto q = random_floats(static_cast<size_t>(n_q * hd) + 1, rng);
            const auto kt = random_halves(static_cast<size_t>(hd * kL) + 1, bf16, rng);
            const auto v = random_halves(static_cast<size_t>(n_keys * hd) + 1, bf16, rng);
            const auto p = random_floats(static_cast<size_t>(n_q) * p_stride + 1, rng);
            const auto o0 = random_floats(static_cast<size_t>(n_q * hd) + 2, rng);
            const auto kt_f32 = widened(kt, bf16);
            const auto v_f32 = widened(v, bf16);
            std::vector<float> want_s(static_cast<size_t>(n_q * kL) + 2, -1.0f);
            scalar::attn_scores(q.data() + 1, n_q, kt_f32.data() + 1, hd, 0.125f,
                                want_s.data() + 1);
            std::vector<float> want_o = o0;
            scalar::attn_values(p.data() + 1, p_stride, n_q, v_f32.data() + 1, n_keys, hd,
                                want_o.data() + 1);
            for (int k = 0; k < 2; ++k) {
              if (scores[k] == nullptr) continue;
              const std::string where = std::string(k == 0 ? "scalar" : isa_name(table->isa)) +
                                        (bf16 ? " bf16" : " f16") + " hd " + std::to_string(hd) +
                                        " heads " + std::to_string(n_q) + " keys " +
                                        std::to_string(n_keys);
              std::vector<float> got_s(want_s.size(), -1.0f);
              scores[k](q.data() + 1, n_q, kt.data() + 1, hd, 0.125f, got_s.data() + 1);
              for (size_t i = 0; i < got_s.size(); ++i) {
                ASSERT_TRUE(same_bits(got_s[i], want_s[i])) << where << " scores at " << i;
              }
              // The last float past the outputs must stay untouched.
              std::vector<float> got_o = o0;
              values[k](p.data() + 1, p_stride, n_q, v.data() + 1, n_keys, hd, got_o.data() + 1);
              for (size_t i = 0; i < got_o.size(); ++i) {
                ASSERT_TRUE(same_bits(got_o[i], want_o[i])) << where << " values at " << i;
              }
            }
          }
        }
      }
    }
  }
}

// One call's inputs for `attn_softmax`: scores, running maxima and sums, outputs.
struct SoftmaxCase {
  std::vector<float> s, run_max, run_sum, o;
};

// Where the heads start: a block's first (no key seen), or a state that has seen keys, with
// some heads' maxima moving in this block or none (the AVX-512 kernel takes the weights against
// the old maxima first, and the whole block again where one moved).
enum class SoftmaxStart { kFirstBlock, kSomeMaximaMove, kNoMaximumMoves };

SoftmaxCase softmax_case(int64_t n_q, int64_t hd, SoftmaxStart start, std::mt19937& rng) {
  const bool first_block = start == SoftmaxStart::kFirstBlock;
  SoftmaxCase c;
  c.s = random_floats(static_cast<size_t>(n_q * kL) + 1, rng);
  for (auto& x : c.s) x *= 4.0f;
  c.o = random_floats(static_cast<size_t>(n_q * hd) + 2, rng);
  c.run_max = random_floats(static_cast<size_t>(n_q) + 1, rng);
  c.run_sum = random_floats(static_cast<size_t>(n_q) + 1, rng);
  for (size_t h = 0; h < c.run_max.size(); ++h) {
    // Scores spread with a deviation of 4. Some heads keep a maximum above them (weights below
    // 1), some find scores above it but within the slack (weights above 1, no rescaling), some
    // find scores past it by more than the slack (the maximum moves, the outputs rescale).
    const float above[] = {9.0f, 2.0f + 0.5f * c.run_max[h], -20.0f + c.run_max[h]};
    const size_t kinds = start == SoftmaxStart::kNoMaximumMoves ? 2 : 3;
    c.run_max[h] = first_block ? -std::numeric_limits<float>::infinity() : above[h % kinds];
    c.run_sum[h] = first_block ? 0.0f : 1.0f + std::fabs(c.run_sum[h]);
  }
  return c;
}

TEST(AttentionKernels, ScalarSoftmaxFoldsABlockIntoTheRunningState) {
  std::mt19937 rng(11);
  const int64_t n_q = 3, hd = 5, lo = 2, n = 9;
  SoftmaxCase c = softmax_case(n_q, hd, SoftmaxStart::kSomeMaximaMove, rng);
  const SoftmaxCase before = c;
  scalar::attn_softmax(c.s.data(), n_q, lo, n, c.run_max.data(), c.run_sum.data(), c.o.data(), hd);
  bool weight_above_one = false, moved = false;
  for (int64_t h = 0; h < n_q; ++h) {
    double tile_max = -std::numeric_limits<double>::infinity();
    for (int64_t j = lo; j < lo + n; ++j)
      tile_max = std::max<double>(tile_max, before.s[h * kL + j]);
    // The reference maximum moves only past a slack of 8.
    const double m = tile_max > before.run_max[h] + 8.0 ? tile_max : before.run_max[h];
    moved = moved || m != before.run_max[h];
    weight_above_one = weight_above_one || tile_max > m;
    const double corr = std::exp(before.run_max[h] - m);
    double sum = before.run_sum[h] * corr;
    for (int64_t j = 0; j < kL; ++j) {
      const float old = before.s[h * kL + j];
      if (j < lo || j >= lo + n) {
        EXPECT_TRUE(same_bits(c.s[h * kL + j], old)) << "head " << h << " lane " << j;
        continue;
      }
      const double w = std::exp(old - m);
      sum += w;
      EXPECT_NEAR(c.s[h * kL + j], w, 1e-6 * w) << "head " << h << " lane " << j;
    }
    EXPECT_EQ(c.run_max[h], static_cast<float>(m)) << "head " << h;
    EXPECT_NEAR(c.run_sum[h], sum, 1e-5 * sum) << "head " << h;
    for (int64_t i = 0; i < hd; ++i) {
      EXPECT_NEAR(c.o[h * hd + i], before.o[h * hd + i] * corr, 1e-6) << "head " << h;
    }
  }
  EXPECT_TRUE(moved) << "no head's maximum passed the slack: the case tests less than it says";
  EXPECT_TRUE(weight_above_one) << "no head saw scores within the slack above its maximum";
}

// Within `ulps` float steps of `want` (or both exactly zero).
bool near_ulps(float got, float want, int ulps) {
  if (got == want) return true;
  return std::fabs(got - want) <= ulps * (std::nextafter(std::fabs(want), 1e30f) - std::fabs(want));
}

TEST(AttentionKernels, EveryTableSoftmaxMatchesTheScalarReference) {
  for (const auto* table : available_kernel_tables()) {
    ASSERT_NE(table->attn_softmax, nullptr) << isa_name(table->isa);
    for (const int64_t hd : {1, 7, 16, 17, 64, 130}) {
      for (const int64_t n_q : {1, 2, 3, 4, 8, 9, 16, 17, 20, 33}) {
        // Windows: whole blocks, a causal diagonal (from 0), a sliding window's start (to the
        // end), one key, and one inside.
        for (const auto& [lo, n] :
             {std::pair<int64_t, int64_t>{0, 16}, {0, 5}, {11, 5}, {15, 1}, {0, 1}, {3, 9}}) {
          for (const auto start : {SoftmaxStart::kFirstBlock, SoftmaxStart::kSomeMaximaMove,
                                   SoftmaxStart::kNoMaximumMoves}) {
            std::mt19937 rng(static_cast<uint32_t>(hd * 977 + n_q * 31 + lo * 7 + n));
            SoftmaxCase got = softmax_case(n_q, hd, start, rng);
            SoftmaxCase want = got;
            const auto where = [&] {
              return std::string(isa_name(table->isa)) + " hd " + std::to_string(hd) + " heads " +
                     std::to_string(n_q) + " window " + std::to_string(lo) + "+" +
                     std::to_string(n) + " start " + std::to_string(static_cast<int>(start));
            };
            table->attn_softmax(got.s.data() + 1, n_q, lo, n, got.run_max.data(),
                                got.run_sum.data(), got.o.data() + 1, hd);
            scalar::attn_softmax(want.s.data() + 1, n_q, lo, n, want.run_max.data(),
                                 want.run_sum.data(), want.o.data() + 1, hd);
            // Maxima and the corrections (std::exp in every table) are exact; the weights and
            // their sums carry the exp polynomial's few ulps.
            for (size_t h = 0; h < got.run_max.size(); ++h) {
              ASSERT_TRUE(same_bits(got.run_max[h], want.run_max[h])) << where() << " max " << h;
              ASSERT_TRUE(near_ulps(got.run_sum[h], want.run_sum[h], 8)) << where() << " sum " << h;
            }
            for (size_t i = 0; i < got.o.size(); ++i) {
              ASSERT_TRUE(same_bits(got.o[i], want.o[i])) << where() << " output " << i;
            }
            // The window's lanes become weights; every other float (lanes outside the window,
            // the one before the rows) must keep its bits.
            for (size_t i = 0; i < got.s.size(); ++i) {
              const auto lane = static_cast<int64_t>((i + kL - 1) % kL);  // s starts at [1]
              const bool weight = i >= 1 && lane >= lo && lane < lo + n;
              if (weight) {
                ASSERT_TRUE(near_ulps(got.s[i], want.s[i], 4)) << where() << " weight " << i;
              } else {
                ASSERT_TRUE(same_bits(got.s[i], want.s[i])) << where() << " untouched " << i;
              }
            }
          }
        }
      }
    }
  }
}

// The vector kernels take several heads' rows at once (AVX-512 up to 16, AVX2 up to 8) and a
// head alone one by one; both must add the weights in the reference's lane order, so a head's
// weights, sum, maximum and outputs have the same bits whichever heads share its call.
TEST(AttentionKernels, EveryTableSoftmaxGivesAHeadTheSameBitsAloneOrAmongOthers) {
  const int64_t hd = 17;
  for (const auto* table : available_kernel_tables()) {
    for (const int64_t n_q : {4, 7, 8, 9, 16, 20, 33}) {
      for (const auto& [lo, n, kind] :
           {std::tuple<int64_t, int64_t, SoftmaxStart>{0, 16, SoftmaxStart::kSomeMaximaMove},
            {3, 9, SoftmaxStart::kSomeMaximaMove},
            {15, 1, SoftmaxStart::kSomeMaximaMove},
            {0, 16, SoftmaxStart::kNoMaximumMoves},
            {3, 9, SoftmaxStart::kNoMaximumMoves}}) {
        std::mt19937 rng(static_cast<uint32_t>(n_q * 41 + lo));
        const SoftmaxCase start = softmax_case(n_q, hd, kind, rng);
        SoftmaxCase together = start;
        table->attn_softmax(together.s.data() + 1, n_q, lo, n, together.run_max.data(),
                            together.run_sum.data(), together.o.data() + 1, hd);
        SoftmaxCase alone = start;
        for (int64_t h = 0; h < n_q; ++h) {
          table->attn_softmax(alone.s.data() + 1 + h * kL, 1, lo, n, alone.run_max.data() + h,
                              alone.run_sum.data() + h, alone.o.data() + 1 + h * hd, hd);
        }
        const std::string where = std::string(isa_name(table->isa)) + " heads " +
                                  std::to_string(n_q) + " window " + std::to_string(lo);
        for (size_t i = 0; i < together.s.size(); ++i) {
          ASSERT_TRUE(same_bits(together.s[i], alone.s[i])) << where << " weight " << i;
        }
        for (size_t h = 0; h < together.run_max.size(); ++h) {
          ASSERT_TRUE(same_bits(together.run_max[h], alone.run_max[h])) << where << " max " << h;
          ASSERT_TRUE(same_bits(together.run_sum[h], alone.run_sum[h])) << where << " sum " << h;
        }
        for (size_t i = 0; i < together.o.size(); ++i) {
          ASSERT_TRUE(same_bits(together.o[i], alone.o[i])) << where << " output " << i;
        }
      }
    }
  }
}

// A context whose scores climb 60 over its first half (a query that favours recent keys) and
// fall back over the second, folded block by block as model/attention.cpp does: every table's
// normalised outputs match a double-precision softmax, and the reference maximum moves only
// where the climb has passed it by more than the slack, not in each block that holds a new
// maximum.
TEST(AttentionKernels, EveryTableFoldsAClimbingContextWithFewRescales) {
  constexpr int64_t kBlocks = 40, hd = 24, n_q = 2;
  std::mt19937 rng(5);
  std::normal_distribution<float> noise(0.0f, 0.3f);
  std::vector<float> scores(static_cast<size_t>(kBlocks * n_q * kL));
  for (int64_t b = 0; b < kBlocks; ++b) {
    const float climb = 3.0f * static_cast<float>(b < kBlocks / 2 ? b : kBlocks - b);
    for (int64_t h = 0; h < n_q; ++h) {
      for (int64_t j = 0; j < kL; ++j) {
        scores[static_cast<size_t>((b * n_q + h) * kL + j)] =
            climb + 0.2f * static_cast<float>(j) + noise(rng);
      }
    }
  }
  const auto v = random_floats(static_cast<size_t>(kBlocks * kL * hd), rng);

  for (const auto* table : available_kernel_tables()) {
    std::vector<float> run_max(n_q, -std::numeric_limits<float>::infinity());
    std::vector<float> run_sum(n_q, 0.0f), o(static_cast<size_t>(n_q * hd), 0.0f);
    std::vector<float> prev_max = run_max;
    int moves = 0;
    for (int64_t b = 0; b < kBlocks; ++b) {
      std::vector<float> s(scores.begin() + b * n_q * kL, scores.begin() + (b + 1) * n_q * kL);
      table->attn_softmax(s.data(), n_q, 0, kL, run_max.data(), run_sum.data(), o.data(), hd);
      table->attn_values(s.data(), kL, n_q, v.data() + b * kL * hd, kL, hd, o.data());
      if (run_max[0] != prev_max[0]) ++moves;
      prev_max = run_max;
    }
    for (int64_t h = 0; h < n_q; ++h) {
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t b = 0; b < kBlocks; ++b) {
        for (int64_t j = 0; j < kL; ++j) m = std::max<double>(m, scores[(b * n_q + h) * kL + j]);
      }
      double sum = 0.0;
      std::vector<double> want(static_cast<size_t>(hd), 0.0);
      for (int64_t b = 0; b < kBlocks; ++b) {
        for (int64_t j = 0; j < kL; ++j) {
          const double w = std::exp(scores[(b * n_q + h) * kL + j] - m);
          sum += w;
          for (int64_t i = 0; i < hd; ++i) want[i] += w * v[(b * kL + j) * hd + i];
        }
      }
      for (int64_t i = 0; i < hd; ++i) {
        EXPECT_NEAR(o[h * hd + i] / run_sum[h], want[i] / sum, 1e-5)
            << isa_name(table->isa) << " head " << h << " dim " << i;
      }
    }
    // The exact maximum grows in each of the first 20 blocks; the climb of 60 passes a slack of 8
    // at most 60 / 8 times after the first block sets it.
    EXPECT_GE(moves, 2) << isa_name(table->isa);
    EXPECT_LE(moves, 1 + 60 / 8) << isa_name(table->isa);
  }
}

}  // namespace
}  // namespace capibara::kernels
