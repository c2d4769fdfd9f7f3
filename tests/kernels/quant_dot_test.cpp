// Quantized dot products and the matmul built on them: every weight type x every ISA table
// present, at odd row lengths, against the scalar table and against an f64 dot of the
// dequantized weights and activations; activation quantizers of every ISA byte for byte against
// the scalar ones; matmul against per-row `vec_dot`.
#include "kernels/quant_dot.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/ggml_type.hpp"
#include "core/half.hpp"
#include "core/quant_blocks.hpp"
#include "core/thread_pool.hpp"
#include "kernels/dequantize.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/matmul.hpp"
#include "kernels/packed_weights.hpp"
#include "kernels/quantize.hpp"

namespace capibara::kernels {
namespace {

std::string name_of(GgmlType type) { return std::string(ggml_type_name(type)); }

std::vector<float> gaussian(int64_t n, std::mt19937& rng, float sigma = 1.0f) {
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = dist(rng);
  return x;
}

// Bytes of a row in `type`, in a buffer aligned for any block struct.
struct Row {
  std::vector<uint64_t> words;
  void* data() { return words.data(); }
  const void* data() const { return words.data(); }
  size_t bytes = 0;
};

Row make_row(GgmlType type, int64_t n) {
  Row r;
  r.bytes = ggml_row_bytes(type, n).value_or(0);
  r.words.assign((r.bytes + 7) / 8 + 1, 0);
  return r;
}

Row quantize_weights(GgmlType type, const std::vector<float>& x) {
  Row r = make_row(type, static_cast<int64_t>(x.size()));
  quantize_row_ref(type, x.data(), r.data(), static_cast<int64_t>(x.size()));
  return r;
}

GgmlType act_type(GgmlType weight) { return activation_type(weight).value_or(GgmlType::kF32); }

Row quantize_activations(const KernelTable& table, GgmlType weight, const std::vector<float>& x) {
  Row r = make_row(act_type(weight), static_cast<int64_t>(x.size()));
  quant_dot_kernels(table, weight)
      .quantize_activations(x.data(), r.data(), static_cast<int64_t>(x.size()));
  return r;
}

// The values a row of `type` stands for (Q8_1 has no dequantizer: d * q as in Q8_0).
std::vector<double> dequantized(GgmlType type, const Row& row, int64_t n) {
  std::vector<float> f(static_cast<size_t>(n));
  if (type == GgmlType::kQ8_1) {
    const auto* b = static_cast<const BlockQ8_1*>(row.data());
    for (int64_t i = 0; i < n; ++i) {
      f[i] = fp16_to_f32(b[i / 32].d) * static_cast<float>(b[i / 32].qs[i % 32]);
    }
  } else {
    dequantize_row_ref(type, row.data(), f.data(), n);
  }
  return {f.begin(), f.end()};
}

// Q4_1 / Q5_1 dots use the activation block's stored sum `s` = fp16(d * sum(q)), as ggml does:
// its rounding (relative 2^-11) adds up to sum |m * s| * 2^-11 to the gap from the exact dot.
double offset_rounding_bound(GgmlType weight, const Row& w, const Row& a, int64_t n) {
  if (weight != GgmlType::kQ4_1 && weight != GgmlType::kQ5_1) return 0.0;
  const auto* ab = static_cast<const BlockQ8_1*>(a.data());
  double bound = 0.0;
  for (int64_t b = 0; b < n / 32; ++b) {
    uint16_t m;  // the `m` field follows `d` in both BlockQ4_1 and BlockQ5_1
    const size_t block_bytes = traits_of(weight).block_bytes;
    std::memcpy(&m, static_cast<const uint8_t*>(w.data()) + b * block_bytes + 2, sizeof(m));
    bound += std::fabs(fp16_to_f32(m) * fp16_to_f32(ab[b].s)) * std::ldexp(1.0, -11);
  }
  return bound;
}

std::vector<int64_t> row_lengths(GgmlType weight) {
  const int64_t block = traits_of(weight).block_size;
  if (block == 1) return {1, 3, 7, 8, 17, 33, 100, 257, 1000};
  return {block, 3 * block, 7 * block, 9 * block};
}

TEST(QuantDot, PairsMatchGgmlVecDotType) {
  EXPECT_EQ(act_type(GgmlType::kQ4_0), GgmlType::kQ8_0);
  EXPECT_EQ(act_type(GgmlType::kQ5_0), GgmlType::kQ8_0);
  EXPECT_EQ(act_type(GgmlType::kQ8_0), GgmlType::kQ8_0);
  EXPECT_EQ(act_type(GgmlType::kQ4_1), GgmlType::kQ8_1);
  EXPECT_EQ(act_type(GgmlType::kQ5_1), GgmlType::kQ8_1);
  for (auto t :
       {GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    EXPECT_EQ(act_type(t), GgmlType::kQ8_K) << name_of(t);
  }
  EXPECT_EQ(act_type(GgmlType::kF16), GgmlType::kF16);
  EXPECT_EQ(act_type(GgmlType::kBF16), GgmlType::kBF16);
  EXPECT_EQ(act_type(GgmlType::kF32), GgmlType::kF32);
  EXPECT_FALSE(activation_type(GgmlType::kQ8_K).has_value());
  EXPECT_FALSE(activation_type(GgmlType::kI32).has_value());
}

TEST(QuantDot, EveryTableHasKernelsForExactlyThePairedTypes) {
  for (const auto* table : available_kernel_tables()) {
    for (uint32_t id = 0; id < static_cast<uint32_t>(kGgmlTypeSlots); ++id) {
      const auto t = ggml_type_traits(id);
      const bool paired = t.has_value() && activation_type(t->type).has_value();
      const QuantDotKernels& k = table->quant_dot[id];
      EXPECT_EQ(k.vec_dot != nullptr, paired) << isa_name(table->isa) << " type id " << id;
      EXPECT_EQ(k.quantize_activations != nullptr, paired) << isa_name(table->isa) << " " << id;
    }
    EXPECT_EQ(quant_dot_kernels(*table, static_cast<GgmlType>(1000)).vec_dot, nullptr);
  }
}

TEST(QuantDot, ActivationRowBytes) {
  EXPECT_EQ(activation_row_bytes(GgmlType::kQ4_0, 64), 2 * sizeof(BlockQ8_0));
  EXPECT_EQ(activation_row_bytes(GgmlType::kQ5_1, 64), 2 * sizeof(BlockQ8_1));
  EXPECT_EQ(activation_row_bytes(GgmlType::kQ6_K, 512), 2 * sizeof(BlockQ8_K));
  EXPECT_EQ(activation_row_bytes(GgmlType::kF16, 7), 14u);
  for (const int64_t n : {int64_t{256}, int64_t{4096}, int64_t{11008}}) {
    for (const auto& pair : kQuantDotPairs) {
      if (pair.activation == GgmlType::kF32 || n % traits_of(pair.weight).block_size != 0) continue;
      EXPECT_GE(max_activation_row_bytes(n), activation_row_bytes(pair.weight, n));
    }
  }
}

// The scalar table's quantizers are the reference quantizers of the activation type.
TEST(QuantDot, ScalarActivationQuantizersAreTheReference) {
  std::mt19937 rng(5);
  for (const auto& pair : kQuantDotPairs) {
    const int64_t n = 512;
    const auto x = gaussian(n, rng);
    const Row got = quantize_activations(scalar_kernel_table(), pair.weight, x);
    Row want = make_row(pair.activation, n);
    quantize_row_ref(pair.activation, x.data(), want.data(), n);
    EXPECT_EQ(std::memcmp(got.data(), want.data(), want.bytes), 0) << name_of(pair.weight);
  }
}

// Inputs that separate rounding modes and tie-breaking: halves (roundf rounds them away from
// zero, Q8_K's nearest_int to even), a largest magnitude held by both signs, zero blocks, tiny
// and huge values for the half types.
std::vector<float> tricky_activations(int64_t n, std::mt19937& rng) {
  auto x = gaussian(n, rng, 3.0f);
  const float halves[] = {0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 126.5f, -126.5f};
  for (int64_t b = 0; b + 32 <= n; b += 64) {
    // amax 127 makes d = 1 (Q8_0) and iscale = -1 (Q8_K): the halves stay halves.
    x[b] = 127.0f;
    for (int k = 0; k < 8; ++k) x[b + 1 + k] = halves[k];
    x[b + 20] = -127.0f;  // same magnitude, opposite sign, later: Q8_K keeps the first
  }
  if (n >= 96) {
    for (int64_t i = 64; i < 96; ++i) x[i] = 0.0f;  // an all-zero 32-block
  }
  if (n >= 512) {
    for (int64_t i = 256; i < 512; ++i) x[i] = 0.0f;  // an all-zero 256-block
  }
  if (n > 200) {
    x[100] = 1e-6f;     // subnormal half
    x[101] = 65519.0f;  // rounds to the largest half
    x[102] = 65520.0f;  // rounds to infinity in f16
    x[103] = -3e-8f;    // rounds to (negative) zero in f16
  }
  return x;
}

TEST(QuantDot, ActivationQuantizersOfEveryIsaMatchScalarBytes) {
  std::mt19937 rng(11);
  const auto& scalar = scalar_kernel_table();
  for (const auto* table : available_kernel_tables()) {
    for (const auto& pair : kQuantDotPairs) {
      for (const int64_t blocks : {1, 2, 3, 7, 9}) {
        const int64_t block = traits_of(pair.activation).block_size;
        const int64_t n = blocks * block + (block == 1 ? 13 : 0);  // odd lengths for f16 / bf16
        for (int variant = 0; variant < 2; ++variant) {
          const auto x = variant == 0 ? gaussian(n, rng) : tricky_activations(n, rng);
          const Row got = quantize_activations(*table, pair.weight, x);
          const Row want = quantize_activations(scalar, pair.weight, x);
          ASSERT_EQ(got.bytes, want.bytes);
          EXPECT_EQ(std::memcmp(got.data(), want.data(), want.bytes), 0)
              << isa_name(table->isa) << " " << name_of(pair.weight) << " n=" << n
              << " variant=" << variant;
        }
      }
    }
  }
}

// The packed layouts' activations: the scalar reference is the Q8_0 block (scale widened from
// its fp16) with the sum of its bytes, and every table's kernel writes the reference's bytes.
TEST(QuantDot, Q8SumIsTheQ8_0BlockWithItsSumInEveryIsa) {
  std::mt19937 rng(17);
  const auto& scalar = scalar_kernel_table();
  const auto quantize_q8_0 = quant_dot_kernels(scalar, GgmlType::kQ8_0).quantize_activations;
  for (const int64_t blocks : {1, 2, 3, 7, 9, 64, 176}) {
    const int64_t n = 32 * blocks;
    for (int variant = 0; variant < 2; ++variant) {
      const auto x = variant == 0 ? gaussian(n, rng) : tricky_activations(n, rng);
      std::vector<BlockQ8_0> q8(static_cast<size_t>(blocks));
      quantize_q8_0(x.data(), q8.data(), n);
      std::vector<BlockQ8Sum> want(static_cast<size_t>(blocks));
      scalar.quantize_q8_sum(x.data(), want.data(), n);
      for (size_t b = 0; b < want.size(); ++b) {
        int32_t sum = 0;
        for (const int8_t q : q8[b].qs) sum += q;
        ASSERT_EQ(want[b].d, fp16_to_f32(q8[b].d)) << "block " << b;
        ASSERT_EQ(want[b].sum, sum) << "block " << b;
        ASSERT_EQ(std::memcmp(want[b].qs, q8[b].qs, sizeof(want[b].qs)), 0) << "block " << b;
      }
      for (const auto* table : available_kernel_tables()) {
        ASSERT_NE(table->quantize_q8_sum, nullptr) << isa_name(table->isa);
        std::vector<BlockQ8Sum> got(static_cast<size_t>(blocks));
        table->quantize_q8_sum(x.data(), got.data(), n);
        EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(BlockQ8Sum)), 0)
            << isa_name(table->isa) << " n=" << n << " variant=" << variant;
      }
    }
  }
}

// The int16 copies that AVX2's multi-token Q8_0 pass reads (BlockQ8Wide): the reference keeps
// each value, puts each quad in the order a0 a2 a1 a3 and the block's -128 x sum beside its
// scale; every table that widens writes the reference's bytes.
TEST(QuantDot, WidenedQ8SumHoldsTheBlocksValuesInEveryIsa) {
  std::mt19937 rng(19);
  const auto& scalar = scalar_kernel_table();
  for (const int64_t blocks : {1, 3, 7, 64, 177}) {
    const int64_t n = 32 * blocks;
    for (int variant = 0; variant < 2; ++variant) {
      const auto x = variant == 0 ? gaussian(n, rng) : tricky_activations(n, rng);
      std::vector<BlockQ8Sum> q(static_cast<size_t>(blocks));
      scalar.quantize_q8_sum(x.data(), q.data(), n);
      std::vector<BlockQ8Wide> want(static_cast<size_t>(blocks));
      scalar::widen_q8_sum(q.data(), want.data(), n);
      for (size_t b = 0; b < want.size(); ++b) {
        ASSERT_EQ(want[b].d, q[b].d) << "block " << b;
        ASSERT_EQ(want[b].offset, -128 * q[b].sum) << "block " << b;
        for (int i = 0; i < 32; i += 4) {
          ASSERT_EQ(want[b].qs[i], q[b].qs[i]) << "block " << b << " quad " << i / 4;
          ASSERT_EQ(want[b].qs[i + 1], q[b].qs[i + 2]) << "block " << b << " quad " << i / 4;
          ASSERT_EQ(want[b].qs[i + 2], q[b].qs[i + 1]) << "block " << b << " quad " << i / 4;
          ASSERT_EQ(want[b].qs[i + 3], q[b].qs[i + 3]) << "block " << b << " quad " << i / 4;
        }
      }
      for (const auto* table : available_kernel_tables()) {
        if (table->widen_q8_sum == nullptr) continue;
        std::vector<BlockQ8Wide> got(static_cast<size_t>(blocks));
        table->widen_q8_sum(q.data(), got.data(), n);
        EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(BlockQ8Wide)), 0)
            << isa_name(table->isa) << " n=" << n << " variant=" << variant;
      }
    }
  }
}

TEST(QuantDot, VecDotMatchesScalarAndExactDotForEveryTypeAndIsa) {
  std::mt19937 rng(3);
  const auto& scalar = scalar_kernel_table();
  for (const auto& pair : kQuantDotPairs) {
    double worst_exact = 0.0;
    for (const int64_t n : row_lengths(pair.weight)) {
      const auto wf = gaussian(n, rng, 0.5f);
      const auto af = gaussian(n, rng, 2.0f);
      const Row w = quantize_weights(pair.weight, wf);
      // The activations as the scalar table quantizes them; the ISA quantizers write the same
      // bytes (previous test), so every table dots the same rows.
      const Row a = quantize_activations(scalar, pair.weight, af);
      const auto wd = dequantized(pair.weight, w, n);
      const auto ad = pair.activation == GgmlType::kF32 ? std::vector<double>(af.begin(), af.end())
                                                        : dequantized(pair.activation, a, n);
      double exact = 0.0;
      double scale = 0.0;  // sum |w_i a_i|: the size of the float rounding errors
      for (int64_t i = 0; i < n; ++i) {
        exact += wd[i] * ad[i];
        scale += std::fabs(wd[i] * ad[i]);
      }
      const double want_scalar =
          quant_dot_kernels(scalar, pair.weight).vec_dot(n, w.data(), a.data());
      const double offset_bound = offset_rounding_bound(pair.weight, w, a, n);
      for (const auto* table : available_kernel_tables()) {
        const double got = quant_dot_kernels(*table, pair.weight).vec_dot(n, w.data(), a.data());
        EXPECT_NEAR(got, want_scalar, 1e-5 * scale)
            << isa_name(table->isa) << " " << name_of(pair.weight) << " n=" << n;
        EXPECT_NEAR(got, exact, 1e-4 * scale + offset_bound)
            << isa_name(table->isa) << " " << name_of(pair.weight) << " n=" << n;
        worst_exact = std::max(worst_exact, std::fabs(got - exact) / scale);
      }
    }
    std::printf("[ measured ] %-5s vec_dot vs f64 dot: worst |error| / sum|w a| = %.2e\n",
                name_of(pair.weight).c_str(), worst_exact);
  }
}

// The AVX-512 kernels promise the AVX2 kernels' exact results (same integer sums, same float
// accumulation), so that the choice between the two never changes a logit.
TEST(QuantDot, Avx512BitIdenticalToAvx2) {
  const KernelTable* avx2 = nullptr;
  const KernelTable* avx512 = nullptr;
  for (const auto* t : available_kernel_tables()) {
    if (t->isa == Isa::kAvx2) avx2 = t;
    if (t->isa == Isa::kAvx512) avx512 = t;
  }
  if (avx2 == nullptr || avx512 == nullptr) GTEST_SKIP() << "needs both AVX2 and AVX-512 VNNI";
  std::mt19937 rng(13);
  for (const auto& pair : kQuantDotPairs) {
    for (const int64_t n : row_lengths(pair.weight)) {
      const Row w = quantize_weights(pair.weight, gaussian(n, rng));
      const Row a = quantize_activations(*avx2, pair.weight, gaussian(n, rng));
      EXPECT_EQ(quant_dot_kernels(*avx512, pair.weight).vec_dot(n, w.data(), a.data()),
                quant_dot_kernels(*avx2, pair.weight).vec_dot(n, w.data(), a.data()))
          << name_of(pair.weight) << " n=" << n;
    }
  }
}

// A test must be able to fail: a dot with one weight changed must not pass for the original.
TEST(QuantDot, VecDotSeesEveryBlock) {
  std::mt19937 rng(8);
  for (const auto* table : available_kernel_tables()) {
    for (const auto& pair : kQuantDotPairs) {
      const int64_t n = 3 * std::max<int64_t>(traits_of(pair.weight).block_size, 32);
      auto wf = gaussian(n, rng);
      const auto af = gaussian(n, rng);
      const Row a = quantize_activations(*table, pair.weight, af);
      const auto& k = quant_dot_kernels(*table, pair.weight);
      const float before = k.vec_dot(n, quantize_weights(pair.weight, wf).data(), a.data());
      for (int64_t i = n - 32; i < n; ++i) wf[i] = 0.0f;  // clear the tail of the last block
      const float after = k.vec_dot(n, quantize_weights(pair.weight, wf).data(), a.data());
      EXPECT_NE(before, after) << isa_name(table->isa) << " " << name_of(pair.weight);
    }
  }
}

// Every output of a matmul equals the table's vec_dot of the row with the token's quantized
// activations, for batches of 1, 3 and 17 tokens, with every table (and the active one through
// the plain overload).
TEST(QuantDotMatmul, EqualsPerRowVecDot) {
  std::mt19937 rng(21);
  const int64_t n = 512;
  const int64_t n_rows = 37;
  ThreadPool pool(3);
  MatmulScratch scratch(pool.size(), 1024, 17);
  std::vector<GgmlType> types;
  for (const auto& pair : kQuantDotPairs) types.push_back(pair.weight);
  types.push_back(GgmlType::kQ8_K);  // no vec_dot: the dequantizing fallback
  std::vector<const KernelTable*> tables = available_kernel_tables();
  tables.push_back(nullptr);  // the plain overload (active table)
  for (const GgmlType type : types) {
    const size_t row_bytes = ggml_row_bytes(type, n).value_or(0);
    std::vector<uint64_t> storage((row_bytes * n_rows + 7) / 8);
    auto* bytes = reinterpret_cast<uint8_t*>(storage.data());
    for (int64_t r = 0; r < n_rows; ++r) {
      const auto wf = gaussian(n, rng, 0.3f);
      quantize_row_ref(type, wf.data(), bytes + r * row_bytes, n);
    }
    const WeightMatrix w{type, bytes, n_rows, n, row_bytes};
    for (const KernelTable* table_or_active : tables) {
      const KernelTable& table = table_or_active ? *table_or_active : active_kernels();
      for (const int64_t n_tokens : {1, 3, 17}) {
        const auto x = gaussian(n * n_tokens, rng);
        std::vector<float> y(static_cast<size_t>(n_tokens * n_rows), -1.0f);
        if (table_or_active != nullptr) {
          matmul(table, w, x.data(), n_tokens, y.data(), pool, scratch);
        } else {
          matmul(w, x.data(), n_tokens, y.data(), pool, scratch);
        }
        std::vector<float> row(static_cast<size_t>(n));
        for (int64_t t = 0; t < n_tokens; ++t) {
          const std::vector<float> xt(x.begin() + t * n, x.begin() + (t + 1) * n);
          const auto& k = quant_dot_kernels(table, type);
          const Row a = k.vec_dot != nullptr ? quantize_activations(table, type, xt) : Row{};
          for (int64_t r = 0; r < n_rows; ++r) {
            float want;
            if (k.vec_dot != nullptr) {
              want = k.vec_dot(n, bytes + r * row_bytes, a.data());
            } else {
              dequantize_row(w, r, row.data());
              want = table.dot_f32(row.data(), xt.data(), n);
            }
            ASSERT_EQ(y[t * n_rows + r], want)
                << isa_name(table.isa) << " " << name_of(type) << " n_tokens=" << n_tokens
                << " t=" << t << " r=" << r;
          }
        }
      }
    }
  }
}

// The quantized activations follow llama.cpp, yet the product stays close to the f32 one.
TEST(QuantDotMatmul, CloseToF32Product) {
  std::mt19937 rng(4);
  const int64_t n = 256;
  const int64_t n_rows = 16;
  ThreadPool pool(2);
  MatmulScratch scratch(pool.size(), n, 4);
  const auto wf = gaussian(n * n_rows, rng);
  const auto x = gaussian(n * 4, rng);
  for (const GgmlType type : {GgmlType::kQ8_0, GgmlType::kQ6_K, GgmlType::kF16}) {
    const size_t row_bytes = ggml_row_bytes(type, n).value_or(0);
    std::vector<uint64_t> storage((row_bytes * n_rows + 7) / 8);
    auto* bytes = reinterpret_cast<uint8_t*>(storage.data());
    for (int64_t r = 0; r < n_rows; ++r) {
      quantize_row_ref(type, wf.data() + r * n, bytes + r * row_bytes, n);
    }
    std::vector<float> y(static_cast<size_t>(4 * n_rows));
    matmul({type, bytes, n_rows, n, row_bytes}, x.data(), 4, y.data(), pool, scratch);
    for (int64_t t = 0; t < 4; ++t) {
      for (int64_t r = 0; r < n_rows; ++r) {
        double exact = 0.0;
        for (int64_t i = 0; i < n; ++i) {
          exact += static_cast<double>(wf[r * n + i]) * static_cast<double>(x[t * n + i]);
        }
        // sqrt(n) * 1 * 1 is the typical size; 8-bit quantization of both sides: ~1 %.
        EXPECT_NEAR(y[t * n_rows + r], exact, 0.05 * std::sqrt(static_cast<double>(n)))
            << name_of(type);
      }
    }
  }
}

}  // namespace
}  // namespace capibara::kernels
