// Row-wise operations of the forward pass against direct formulas.
#include <cmath>
#include <numbers>
#include <numeric>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/ops.hpp"

namespace capibara::kernels {
namespace {

TEST(Ops, RmsNormMatchesFormula) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d;
  for (int64_t n : {1, 7, 64, 172}) {
    std::vector<float> x(n), w(n), out(n);
    for (auto& v : x) v = d(rng);
    for (auto& v : w) v = d(rng);
    rms_norm(x.data(), w.data(), out.data(), n, 1e-5f);
    double ms = 0;
    for (float v : x) ms += static_cast<double>(v) * v;
    ms /= static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(out[i], x[i] / std::sqrt(ms + 1e-5) * w[i], 1e-5) << n;
    }
  }
}

// Odd sizes too: the norms accumulate over whole rows, whatever their length.
TEST(Ops, LayerNormMatchesFormula) {
  std::mt19937 rng(2);
  std::normal_distribution<float> d(0.5f, 2.0f);  // a mean away from 0, as residual streams have
  for (int64_t n : {1, 3, 17, 128, 173}) {
    std::vector<float> x(n), w(n), out(n);
    for (auto& v : x) v = d(rng);
    for (auto& v : w) v = d(rng);
    layer_norm(x.data(), w.data(), out.data(), n, 1e-5f);
    double mean = 0;
    for (float v : x) mean += v;
    mean /= static_cast<double>(n);
    double var = 0;
    for (float v : x) var += (v - mean) * (v - mean);
    var /= static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(out[i], (x[i] - mean) / std::sqrt(var + 1e-5) * w[i],
                  2e-5 * std::abs(w[i]) + 1e-6)
          << n;
    }
    // In place gives the same result.
    std::vector<float> y = x;
    layer_norm(y.data(), w.data(), y.data(), n, 1e-5f);
    EXPECT_EQ(y, out);
  }
}

TEST(Ops, GegluTanhMatchesFormula) {
  std::mt19937 rng(3);
  std::normal_distribution<float> d(0.0f, 3.0f);
  for (int64_t n : {1, 5, 31, 384}) {
    std::vector<float> gate(n), up(n);
    for (auto& v : gate) v = d(rng);
    for (auto& v : up) v = d(rng);
    gate[0] = -12.0f;  // far tails: gelu(x) -> 0 and -> x
    if (n > 1) gate[1] = 12.0f;
    const auto g0 = gate;
    geglu_tanh(gate.data(), up.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double x = g0[i];
      const double gelu =
          0.5 * x *
          (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
      EXPECT_NEAR(gate[i], gelu * up[i], 1e-5 * (1.0 + std::abs(gelu * up[i]))) << x;
    }
  }
}

TEST(Ops, ScaleAndSoftcap) {
  std::vector<float> x = {-100.0f, -3.0f, 0.0f, 0.5f, 7.0f, 1000.0f, 29.0f};
  const auto x0 = x;
  const auto n = static_cast<int64_t>(x.size());
  scale(x.data(), 0.0625f, n);
  for (int64_t i = 0; i < n; ++i) EXPECT_FLOAT_EQ(x[i], x0[i] * 0.0625f);
  x = x0;
  softcap(x.data(), 30.0f, n);
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_NEAR(x[i], 30.0 * std::tanh(x0[i] / 30.0), 1e-5);
    EXPECT_LT(std::abs(x[i]), 30.0f + 1e-6f);
  }
}

TEST(Ops, SoftmaxSumsToOneAndKeepsOrder) {
  std::vector<float> x = {1.0f, 3.0f, -2.0f, 2.5f};
  softmax(x.data(), static_cast<int64_t>(x.size()));
  EXPECT_NEAR(std::accumulate(x.begin(), x.end(), 0.0), 1.0, 1e-6);
  EXPECT_NEAR(x[1] / x[0], std::exp(2.0), 1e-4);
  EXPECT_GT(x[1], x[3]);
  // Large logits must not overflow: only differences matter.
  std::vector<float> big = {1000.0f, 999.0f};
  softmax(big.data(), 2);
  EXPECT_NEAR(big[0] / big[1], std::exp(1.0), 1e-4);
}

TEST(Ops, SwigluMatchesFormula) {
  std::vector<float> gate = {-3.0f, 0.0f, 0.5f, 4.0f};
  const std::vector<float> up = {1.0f, 2.0f, -1.0f, 0.25f};
  const auto g0 = gate;
  swiglu(gate.data(), up.data(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(gate[i], g0[i] / (1 + std::exp(-g0[i])) * up[i], 1e-6);
  }
}

TEST(Ops, RopeNormalRotatesAdjacentPairsAndPreservesNorm) {
  RopeParams p;
  p.n_rot = 8;
  p.freq_base = 10000.0f;
  std::vector<float> cs(8);
  rope_angles(p, 5, cs.data());
  std::vector<float> x(2 * 10);  // 2 heads of 10, only 8 rotated
  std::iota(x.begin(), x.end(), 1.0f);
  const auto x0 = x;
  rope_apply(p, cs.data(), x.data(), 2, 10);
  for (int h = 0; h < 2; ++h) {
    for (int i = 0; i < 4; ++i) {
      const double theta = 5.0 * std::pow(10000.0, -2.0 * i / 8);
      const float a = x0[h * 10 + 2 * i], b = x0[h * 10 + 2 * i + 1];
      EXPECT_NEAR(x[h * 10 + 2 * i], a * std::cos(theta) - b * std::sin(theta), 1e-4);
      EXPECT_NEAR(x[h * 10 + 2 * i + 1], a * std::sin(theta) + b * std::cos(theta), 1e-4);
    }
    EXPECT_EQ(x[h * 10 + 8], x0[h * 10 + 8]);  // beyond n_rot: untouched
    EXPECT_EQ(x[h * 10 + 9], x0[h * 10 + 9]);
  }
}

TEST(Ops, RopeNeoxRotatesHalves) {
  RopeParams p;
  p.n_rot = 4;
  p.layout = RopeLayout::kNeox;
  p.freq_scale = 0.5f;
  std::vector<float> cs(4);
  rope_angles(p, 3, cs.data());
  std::vector<float> x = {1, 2, 3, 4};
  rope_apply(p, cs.data(), x.data(), 1, 4);
  const double t0 = 3 * 0.5, t1 = 3 * 0.5 * std::pow(10000.0, -0.5);
  EXPECT_NEAR(x[0], 1 * std::cos(t0) - 3 * std::sin(t0), 1e-5);
  EXPECT_NEAR(x[2], 1 * std::sin(t0) + 3 * std::cos(t0), 1e-5);
  EXPECT_NEAR(x[1], 2 * std::cos(t1) - 4 * std::sin(t1), 1e-5);
  EXPECT_NEAR(x[3], 2 * std::sin(t1) + 4 * std::cos(t1), 1e-5);
}

TEST(Ops, RopeFreqFactorsDivideTheAngle) {
  RopeParams p;
  p.n_rot = 4;
  const float factors[] = {1.0f, 8.0f};
  p.freq_factors = factors;
  std::vector<float> cs(4);
  rope_angles(p, 7, cs.data());
  EXPECT_NEAR(cs[2], std::cos(7 * std::pow(10000.0, -0.5) / 8), 1e-6);
}

// LongRoPE's attention factor scales cos and sin, hence the rotated dimensions, and nothing else.
TEST(Ops, RopeAttnFactorScalesTheRotatedDimensions) {
  RopeParams p;
  p.n_rot = 4;
  p.layout = RopeLayout::kNeox;
  RopeParams scaled = p;
  scaled.attn_factor = 1.25f;
  std::vector<float> cs(4), cs_scaled(4);
  rope_angles(p, 11, cs.data());
  rope_angles(scaled, 11, cs_scaled.data());
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(cs_scaled[i], cs[i] * 1.25f);
  std::vector<float> x = {1, 2, 3, 4, 5, 6}, y = x;  // one head of 6, 4 rotated
  rope_apply(p, cs.data(), x.data(), 1, 6);
  rope_apply(scaled, cs_scaled.data(), y.data(), 1, 6);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[i], x[i] * 1.25f, 1e-5);
  EXPECT_EQ(y[4], 5.0f);
  EXPECT_EQ(y[5], 6.0f);
}

}  // namespace
}  // namespace capibara::kernels
