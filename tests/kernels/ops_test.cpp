// Row-wise operations of the forward pass against direct formulas.
#include <cmath>
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

}  // namespace
}  // namespace capibara::kernels
