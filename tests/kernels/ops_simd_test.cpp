// Every ISA's row-wise operations against the scalar reference (ops_scalar.hpp): random inputs at
// odd sizes, starting one float past an aligned address, plus the extremes of exp and softmax.
//
// Tolerances, per op: the vector versions change only the summation order of sums the reference
// already keeps in double (norms, softmax) and use a polynomial exp within ~2e-7 relative of
// `std::exp`, so results agree within 1e-6 relative (a few float ulps). LayerNorm subtracts the
// mean, which may differ by an ulp, so its bound is relative to the row's scale; GeLU's reference
// loses ~1e-7 * |g| absolute in 1 + tanh(y), so its bound includes that term.
#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/fp8.hpp"
#include "core/half.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/ops.hpp"
#include "kernels/ops_scalar.hpp"

namespace capibara::kernels {
namespace {

constexpr int64_t kSizes[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 257, 1000, 4099};
constexpr float kInf = std::numeric_limits<float>::infinity();

// n + 1 floats: callers use data() + 1, so every vector starts 4 bytes past the allocator's
// alignment and the SIMD loads are misaligned.
std::vector<float> random_vector(std::mt19937& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n) + 1);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::string where(const KernelTable* t, int64_t n, int64_t i) {
  return std::string(isa_name(t->isa)) + " n=" + std::to_string(n) + " i=" + std::to_string(i);
}

TEST(OpsSimd, EveryTableHasEveryOp) {
  for (const auto* t : available_kernel_tables()) {
    EXPECT_NE(t->rms_norm, nullptr) << isa_name(t->isa);
    EXPECT_NE(t->layer_norm, nullptr) << isa_name(t->isa);
    EXPECT_NE(t->softmax, nullptr) << isa_name(t->isa);
    EXPECT_NE(t->exp, nullptr) << isa_name(t->isa);
    EXPECT_NE(t->swiglu, nullptr) << isa_name(t->isa);
    EXPECT_NE(t->geglu_tanh, nullptr) << isa_name(t->isa);
    EXPECT_NE(t->add, nullptr) << isa_name(t->isa);
    EXPECT_NE(t->rope_normal, nullptr) << isa_name(t->isa);
    EXPECT_NE(t->rope_neox, nullptr) << isa_name(t->isa);
    EXPECT_NE(t->fp16_to_f32, nullptr) << isa_name(t->isa);
    EXPECT_NE(t->bf16_to_f32, nullptr) << isa_name(t->isa);
    EXPECT_NE(t->fp8_to_f32, nullptr) << isa_name(t->isa);
    EXPECT_NE(t->fp8_to_f16, nullptr) << isa_name(t->isa);
  }
}

// Every 16-bit pattern, converted from one element past an aligned address so the vector loads
// are misaligned and the tail is odd: the same float bits as the reference (any NaN for a NaN:
// hardware may quieten a signalling one).
void expect_every_pattern_converts(void (*KernelTable::*op)(const uint16_t*, float*, int64_t),
                                   void (*reference)(const uint16_t*, float*, int64_t),
                                   const char* what) {
  constexpr int64_t n = 0x10000 + 5;
  std::vector<uint16_t> x(static_cast<size_t>(n) + 1);
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i) + 1] = static_cast<uint16_t>(i);
  std::vector<float> want(static_cast<size_t>(n));
  reference(x.data() + 1, want.data(), n);
  for (const auto* t : available_kernel_tables()) {
    for (const int64_t size : {n, int64_t{1}, int64_t{7}, int64_t{17}, int64_t{33}}) {
      std::vector<float> got(static_cast<size_t>(size) + 1, -1.0f);
      (t->*op)(x.data() + 1, got.data() + 1, size);
      EXPECT_EQ(got[0], -1.0f) << what << " wrote before its output";
      int failures = 0;
      for (int64_t i = 0; i < size && failures < 5; ++i) {
        const float g = got[static_cast<size_t>(i) + 1];
        const float w = want[static_cast<size_t>(i)];
        const bool same = std::isnan(w) ? std::isnan(g)
                                        : std::bit_cast<uint32_t>(g) == std::bit_cast<uint32_t>(w);
        if (!same) {
          ++failures;
          ADD_FAILURE() << what << " " << where(t, size, i) << ": " << g << " want " << w;
        }
      }
    }
  }
}

TEST(OpsSimd, Fp16ToF32IsExactForEveryPattern) {
  expect_every_pattern_converts(&KernelTable::fp16_to_f32, scalar::fp16_to_f32, "fp16_to_f32");
}

TEST(OpsSimd, Bf16ToF32IsExactForEveryPattern) {
  expect_every_pattern_converts(&KernelTable::bf16_to_f32, scalar::bf16_to_f32, "bf16_to_f32");
}

// Every E4M3 code (three times over, from one byte past an aligned address, so vector loads are
// misaligned and tails odd) at scales that keep results normal, push them into the subnormal
// range or near the top of float's: the scalar reference is the code's value times the scale,
// rounded once, and every table gives its bits (any NaN for the NaN codes).
TEST(OpsSimd, Fp8ToF32MatchesTheReferenceForEveryCode) {
  constexpr int64_t n = 3 * 256 + 5;
  std::vector<uint8_t> x(static_cast<size_t>(n) + 1);
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i) + 1] = static_cast<uint8_t>(i * 7);
  for (const float scale : {1.0f, 0.0371f, -3.5f, 1e-38f, 7e35f}) {
    std::vector<float> want(static_cast<size_t>(n));
    scalar::fp8_to_f32(x.data() + 1, scale, want.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const float w = want[static_cast<size_t>(i)];
      const float exact = e4m3_to_f32(x[static_cast<size_t>(i) + 1]) * scale;
      ASSERT_TRUE(std::isnan(exact) ? std::isnan(w)
                                    : std::bit_cast<uint32_t>(w) == std::bit_cast<uint32_t>(exact))
          << "scalar code " << int{x[static_cast<size_t>(i) + 1]} << " scale " << scale;
    }
    for (const auto* t : available_kernel_tables()) {
      for (const int64_t size : {n, int64_t{1}, int64_t{7}, int64_t{17}, int64_t{33}}) {
        std::vector<float> got(static_cast<size_t>(size) + 2, -1.0f);
        t->fp8_to_f32(x.data() + 1, scale, got.data() + 1, size);
        EXPECT_EQ(got[0], -1.0f) << "fp8_to_f32 wrote before its output";
        EXPECT_EQ(got[static_cast<size_t>(size) + 1], -1.0f) << "fp8_to_f32 wrote past its output";
        int failures = 0;
        for (int64_t i = 0; i < size && failures < 5; ++i) {
          const float g = got[static_cast<size_t>(i) + 1];
          const float w = want[static_cast<size_t>(i)];
          const bool same = std::isnan(w)
                                ? std::isnan(g)
                                : std::bit_cast<uint32_t>(g) == std::bit_cast<uint32_t>(w);
          if (!same) {
            ++failures;
            ADD_FAILURE() << "fp8_to_f32 " << where(t, size, i) << " scale " << scale << ": " << g
                          << " want " << w;
          }
        }
      }
    }
  }
}

// Every E4M3 code, from one byte past an aligned address, to halves: the reference gives each
// code's value exactly, as a normal half (never a subnormal one), and every table its bits.
TEST(OpsSimd, Fp8ToF16GivesEveryCodesValueExactly) {
  constexpr int64_t n = 3 * 256 + 5;
  std::vector<uint8_t> x(static_cast<size_t>(n) + 1);
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i) + 1] = static_cast<uint8_t>(i * 7);
  std::vector<uint16_t> want(static_cast<size_t>(n));
  scalar::fp8_to_f16(x.data() + 1, want.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t code = x[static_cast<size_t>(i) + 1];
    const uint16_t h = want[static_cast<size_t>(i)];
    const float value = e4m3_to_f32(code);
    if (std::isnan(value)) {
      ASSERT_TRUE(std::isnan(fp16_to_f32(h))) << "code " << int{code};
      continue;
    }
    ASSERT_EQ(fp16_to_f32(h), value) << "code " << int{code};
    ASSERT_EQ(h >> 15, code >> 7) << "sign of code " << int{code};
    ASSERT_TRUE((h & 0x7FFF) == 0 || (h & 0x7C00) != 0) << "subnormal half for " << int{code};
  }
  for (const auto* t : available_kernel_tables()) {
    for (const int64_t size : {n, int64_t{1}, int64_t{7}, int64_t{17}, int64_t{33}, int64_t{63}}) {
      std::vector<uint16_t> got(static_cast<size_t>(size) + 2, 0xABCD);
      t->fp8_to_f16(x.data() + 1, got.data() + 1, size);
      EXPECT_EQ(got[0], 0xABCD) << "fp8_to_f16 wrote before its output";
      EXPECT_EQ(got[static_cast<size_t>(size) + 1], 0xABCD) << "fp8_to_f16 wrote past its output";
      int failures = 0;
      for (int64_t i = 0; i < size && failures < 5; ++i) {
        const uint16_t g = got[static_cast<size_t>(i) + 1];
        const uint16_t w = want[static_cast<size_t>(i)];
        if (g != w) {
          ++failures;
          ADD_FAILURE() << "fp8_to_f16 " << where(t, size, i) << " code "
                        << int{x[static_cast<size_t>(i) + 1]} << ": " << std::hex << g << " want "
                        << w << std::dec;
        }
      }
    }
  }
}

TEST(OpsSimd, ExpIsWithin1e6RelativeOfStdExp) {
  std::mt19937 rng(1);
  for (const auto* t : available_kernel_tables()) {
    double max_rel = 0.0;
    for (int64_t n : kSizes) {
      const auto x = random_vector(rng, n, -110.0f, 90.0f);
      std::vector<float> out(x.size(), -1.0f);
      t->exp(x.data() + 1, out.data() + 1, n);
      EXPECT_EQ(out[0], -1.0f) << isa_name(t->isa) << " wrote before the output";
      for (int64_t i = 1; i <= n; ++i) {
        const float want = std::exp(x[i]);
        if (std::isinf(want)) {
          EXPECT_TRUE(std::isinf(out[i]) && out[i] > 0) << where(t, n, i) << " x=" << x[i];
          continue;
        }
        // Subnormal results have fewer significant bits: an absolute bound of two of their ulps.
        EXPECT_NEAR(out[i], want, 1e-6 * want + 2.0 * FLT_TRUE_MIN)
            << where(t, n, i) << " x=" << x[i];
        if (want >= FLT_MIN) max_rel = std::max(max_rel, std::abs(out[i] - want) / double{want});
      }
    }
    // The polynomial's own bound, checked on its own: a regression to a cheaper exp shows here.
    EXPECT_LT(max_rel, 5e-7) << isa_name(t->isa);
    std::printf("[ measured ] %s exp: max relative error vs std::exp %.3g\n",
                std::string(isa_name(t->isa)).c_str(), max_rel);
  }
}

TEST(OpsSimd, ExpExtremes) {
  const std::vector<float> x = {0.0f,   -0.0f,   1.0f,    -1.0f,   -kInf,    kInf,   -87.3f,
                                -88.0f, -100.0f, -103.9f, -104.0f, -150.0f,  -1e30f, 88.0f,
                                88.72f, 88.8f,   89.0f,   1e30f,   -FLT_MIN, 1e-20f, 0.5f};
  for (const auto* t : available_kernel_tables()) {
    std::vector<float> out(x.size());
    t->exp(x.data(), out.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      const float want = std::exp(x[i]);
      if (std::isinf(want)) {
        EXPECT_EQ(out[i], kInf) << isa_name(t->isa) << " x=" << x[i];
      } else {
        EXPECT_NEAR(out[i], want, 1e-6 * want + 2.0 * FLT_TRUE_MIN)
            << isa_name(t->isa) << " x=" << x[i];
      }
    }
    EXPECT_EQ(out[0], 1.0f) << isa_name(t->isa);
    EXPECT_EQ(out[4], 0.0f) << isa_name(t->isa) << " exp(-inf)";
    float nan = std::numeric_limits<float>::quiet_NaN();
    float got = 0.0f;
    t->exp(&nan, &got, 1);
    EXPECT_TRUE(std::isnan(got)) << isa_name(t->isa) << " exp(NaN)";
  }
}

// Scores as attention makes them: a wide range, some far below the max, some masked with -inf.
TEST(OpsSimd, SoftmaxMatchesScalarWithMaskedAndExtremeEntries) {
  std::mt19937 rng(2);
  std::uniform_int_distribution<int> pick(0, 9);
  for (const auto* t : available_kernel_tables()) {
    for (int64_t n : kSizes) {
      auto x = random_vector(rng, n, -30.0f, 30.0f);
      for (int64_t i = 2; i <= n; ++i) {  // keep x[1] finite so some entry is
        const int p = pick(rng);
        if (p == 0) x[i] = -kInf;
        if (p == 1) x[i] = -1e4f;
        if (p == 2) x[i] -= 100.0f;  // exp underflows into subnormals or 0
      }
      auto want = x;
      scalar::softmax(want.data() + 1, n);
      t->softmax(x.data() + 1, n);
      double sum = 0.0;
      for (int64_t i = 1; i <= n; ++i) {
        EXPECT_NEAR(x[i], want[i], 1e-6 * want[i] + 4.0 * FLT_TRUE_MIN) << where(t, n, i);
        sum += x[i];
      }
      EXPECT_NEAR(sum, 1.0, 1e-5) << isa_name(t->isa) << " n=" << n;
    }
  }
}

TEST(OpsSimd, SoftmaxOfLargeEqualValuesIsUniform) {
  for (const auto* t : available_kernel_tables()) {
    std::vector<float> x(37, 1e30f);
    t->softmax(x.data(), 37);
    for (float v : x) EXPECT_NEAR(v, 1.0f / 37.0f, 1e-7) << isa_name(t->isa);
  }
}

TEST(OpsSimd, RmsNormMatchesScalar) {
  std::mt19937 rng(3);
  for (const auto* t : available_kernel_tables()) {
    for (int64_t n : kSizes) {
      auto x = random_vector(rng, n, -4.0f, 4.0f);
      const auto w = random_vector(rng, n, -2.0f, 2.0f);
      std::vector<float> got(x.size()), want(x.size());
      scalar::rms_norm(x.data() + 1, w.data() + 1, want.data() + 1, n, 1e-5f);
      t->rms_norm(x.data() + 1, w.data() + 1, got.data() + 1, n, 1e-5f);
      for (int64_t i = 1; i <= n; ++i) {
        EXPECT_NEAR(got[i], want[i], 1e-6 * std::abs(want[i]) + 1e-30) << where(t, n, i);
      }
      t->rms_norm(x.data() + 1, w.data() + 1, x.data() + 1, n, 1e-5f);  // in place
      for (int64_t i = 1; i <= n; ++i) EXPECT_EQ(x[i], got[i]) << where(t, n, i) << " in place";
    }
  }
}

TEST(OpsSimd, LayerNormMatchesScalar) {
  std::mt19937 rng(4);
  for (const auto* t : available_kernel_tables()) {
    for (int64_t n : kSizes) {
      auto x = random_vector(rng, n, -1.0f, 5.0f);  // a mean away from 0
      const auto w = random_vector(rng, n, -2.0f, 2.0f);
      std::vector<float> got(x.size()), want(x.size());
      scalar::layer_norm(x.data() + 1, w.data() + 1, want.data() + 1, n, 1e-5f);
      t->layer_norm(x.data() + 1, w.data() + 1, got.data() + 1, n, 1e-5f);
      float scale = 0.0f;
      for (int64_t i = 1; i <= n; ++i) scale = std::max(scale, std::abs(want[i]));
      for (int64_t i = 1; i <= n; ++i) {
        EXPECT_NEAR(got[i], want[i], 1e-6 * (std::abs(want[i]) + scale) + 1e-30) << where(t, n, i);
      }
      t->layer_norm(x.data() + 1, w.data() + 1, x.data() + 1, n, 1e-5f);  // in place
      for (int64_t i = 1; i <= n; ++i) EXPECT_EQ(x[i], got[i]) << where(t, n, i) << " in place";
    }
  }
}

TEST(OpsSimd, SwigluMatchesScalar) {
  std::mt19937 rng(5);
  for (const auto* t : available_kernel_tables()) {
    for (int64_t n : kSizes) {
      auto g = random_vector(rng, n, -12.0f, 12.0f);
      const auto u = random_vector(rng, n, -3.0f, 3.0f);
      if (n >= 8) {  // saturated gates
        g[1] = -90.0f;
        g[2] = 90.0f;
        g[3] = -200.0f;
        g[4] = 0.0f;
      }
      auto want = g;
      scalar::swiglu(want.data() + 1, u.data() + 1, n);
      t->swiglu(g.data() + 1, u.data() + 1, n);
      for (int64_t i = 1; i <= n; ++i) {
        EXPECT_NEAR(g[i], want[i], 1e-6 * std::abs(want[i]) + 1e-37) << where(t, n, i);
      }
    }
  }
}

TEST(OpsSimd, GegluTanhMatchesScalarAndFormula) {
  std::mt19937 rng(6);
  for (const auto* t : available_kernel_tables()) {
    for (int64_t n : kSizes) {
      auto g = random_vector(rng, n, -8.0f, 8.0f);
      const auto u = random_vector(rng, n, -3.0f, 3.0f);
      if (n >= 8) {
        g[1] = -40.0f;
        g[2] = 40.0f;
        g[3] = 0.0f;
      }
      auto want = g;
      scalar::geglu_tanh(want.data() + 1, u.data() + 1, n);
      const auto in = g;
      t->geglu_tanh(g.data() + 1, u.data() + 1, n);
      for (int64_t i = 1; i <= n; ++i) {
        const double gi = in[i];
        // The formula in double, in the logistic form (1 + tanh(y) cancels for negative y).
        const double y = 0.7978845608028654 * gi * (1.0 + 0.044715 * gi * gi);
        const double exact = gi / (1.0 + std::exp(-2.0 * y)) * u[i];
        const double gu = std::abs(gi * u[i]);
        EXPECT_NEAR(g[i], want[i], 1e-6 * std::abs(want[i]) + 2e-7 * gu) << where(t, n, i);
        // The vector versions against the formula itself (the reference is not accurate
        // enough for this bound). Far out on the negative side the result is exp(2y) g u, and
        // y itself is a float computation: its few-ulp rounding becomes a relative error of
        // ~|2y| * 1.2e-7 there.
        if (t->isa == Isa::kScalar) continue;
        EXPECT_NEAR(g[i], exact, (1e-6 + 3e-7 * std::abs(y)) * std::abs(exact) + 1e-37)
            << where(t, n, i);
      }
    }
  }
}

TEST(OpsSimd, AddIsExact) {
  std::mt19937 rng(7);
  for (const auto* t : available_kernel_tables()) {
    for (int64_t n : kSizes) {
      const auto x = random_vector(rng, n, -10.0f, 10.0f);
      auto y = random_vector(rng, n, -10.0f, 10.0f);
      auto want = y;
      scalar::add(x.data() + 1, want.data() + 1, n);
      t->add(x.data() + 1, y.data() + 1, n);
      for (int64_t i = 0; i <= n; ++i) EXPECT_EQ(y[i], want[i]) << where(t, n, i);
    }
  }
}

// Rotated dimensions (some not a multiple of the vector width, some partial rotations) on heads
// that follow one another, so a kernel writing past `n_rot` or past its head shows.
TEST(OpsSimd, RopeMatchesScalarForBothLayouts) {
  std::mt19937 rng(8);
  struct Shape {
    int32_t n_rot;
    int64_t head_dim;
  };
  const Shape shapes[] = {{2, 2},   {6, 6},   {8, 8},   {14, 16},   {16, 16},  {34, 34},
                          {32, 80}, {64, 64}, {96, 96}, {100, 100}, {128, 128}};
  for (const auto* t : available_kernel_tables()) {
    for (const auto layout : {RopeLayout::kNormal, RopeLayout::kNeox}) {
      for (const Shape s : shapes) {
        for (const int64_t n_heads : {1, 3}) {
          RopeParams p;
          p.n_rot = s.n_rot;
          p.layout = layout;
          p.attn_factor = 1.1f;
          std::vector<float> cs(static_cast<size_t>(s.n_rot) + 1);
          rope_angles(p, 1234, cs.data() + 1);
          const int64_t n = n_heads * s.head_dim;
          auto x = random_vector(rng, n, -3.0f, 3.0f);
          auto want = x;
          const bool normal = layout == RopeLayout::kNormal;
          (normal ? scalar::rope_normal : scalar::rope_neox)(cs.data() + 1, want.data() + 1,
                                                             n_heads, s.head_dim, s.n_rot);
          const auto in = x;
          (normal ? t->rope_normal : t->rope_neox)(cs.data() + 1, x.data() + 1, n_heads, s.head_dim,
                                                   s.n_rot);
          for (int64_t i = 0; i <= n; ++i) {
            // |x0 c - x1 s| rounds against a bound of its terms' size: FMA changes the rounding.
            const double tol = 1e-6 * (std::abs(in[i]) + 4.0);
            EXPECT_NEAR(x[i], want[i], tol)
                << where(t, n, i) << (normal ? " normal" : " neox") << " n_rot=" << s.n_rot;
          }
        }
      }
    }
  }
}

// The public functions run the active table's version.
TEST(OpsSimd, PublicOpsUseTheActiveTable) {
  std::mt19937 rng(9);
  const auto& k = active_kernels();
  auto x = random_vector(rng, 100, -5.0f, 5.0f);
  auto a = x;
  auto b = x;
  softmax(a.data() + 1, 100);
  k.softmax(b.data() + 1, 100);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << i;
}

}  // namespace
}  // namespace capibara::kernels
