// Reference quantizers: round trips on random data with an error bound per type, edge cases,
// and the real test: llama.cpp's quantized files re-created byte for byte from the f32 weights.
#include "kernels/quantize.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/ggml_type.hpp"
#include "core/half.hpp"
#include "core/quant_blocks.hpp"
#include "gguf/gguf_file.hpp"
#include "kernels/dequantize.hpp"
#include "support/shared_data.hpp"

namespace capibara::kernels {
namespace {

// sqrt(mean((a - b)^2)) / sqrt(mean(a^2)).
double relative_rmse(const float* a, const float* b, size_t n) {
  double err = 0;
  double ref = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    err += d * d;
    ref += static_cast<double>(a[i]) * static_cast<double>(a[i]);
  }
  return ref == 0 ? std::sqrt(err / static_cast<double>(n)) : std::sqrt(err / ref);
}

size_t row_bytes(GgmlType type, int64_t n) {
  const auto bytes = ggml_row_bytes(type, n);
  EXPECT_TRUE(bytes.has_value());
  return bytes.value_or(0);
}

// Quantizes then dequantizes `x`; the buffer is 8-byte aligned (a std::vector<uint64_t>).
std::vector<float> round_trip(GgmlType type, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint64_t> q((row_bytes(type, n) + 7) / 8);
  quantize_row_ref(type, x.data(), q.data(), n);
  std::vector<float> y(x.size());
  dequantize_row_ref(type, q.data(), y.data(), n);
  return y;
}

std::vector<float> gaussian(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> x(n);
  for (auto& v : x) v = dist(rng);
  return x;
}

struct RoundTripCase {
  GgmlType type;
  double max_rel_rmse;  // measured on gaussian data, plus a margin
};

// Bounds on the relative RMSE of a round trip of N(0, 1) data: the worst measured over the
// sizes below (printed by the test as "[ measured ]") plus about 12 %.
constexpr RoundTripCase kRoundTripCases[] = {
    {GgmlType::kF32, 0.0},      // measured 0
    {GgmlType::kF16, 0.00025},  // measured 0.00022
    {GgmlType::kBF16, 0.0019},  // 0.00167
    {GgmlType::kQ8_0, 0.006},   // 0.00543
    {GgmlType::kQ8_1, 0.006},   // 0.00543
    {GgmlType::kQ8_K, 0.008},   // 0.00712
    {GgmlType::kQ6_K, 0.021},   // 0.01839
    {GgmlType::kQ5_1, 0.044},   // 0.03956
    {GgmlType::kQ5_0, 0.050},   // 0.04462
    {GgmlType::kQ5_K, 0.043},   // 0.03865
    {GgmlType::kQ4_1, 0.089},   // 0.07986
    {GgmlType::kQ4_0, 0.099},   // 0.08876
    {GgmlType::kQ4_K, 0.087},   // 0.07775
    {GgmlType::kQ3_K, 0.175},   // 0.15693
    {GgmlType::kQ2_K, 0.35},    // 0.31520
};

// Q8_1 has no dequantizer (it only feeds dot products): its d and qs are Q8_0's.
std::vector<float> dequantize_q8_1(const std::vector<uint64_t>& q, int64_t n) {
  std::vector<BlockQ8_1> blocks(static_cast<size_t>(n / 32));
  std::memcpy(blocks.data(), q.data(), blocks.size() * sizeof(BlockQ8_1));
  std::vector<float> y(static_cast<size_t>(n));
  for (size_t i = 0; i < y.size(); ++i) {
    y[i] = static_cast<float>(blocks[i / 32].qs[i % 32]) * fp16_to_f32(blocks[i / 32].d);
  }
  return y;
}

std::vector<float> any_round_trip(GgmlType type, const std::vector<float>& x) {
  if (type != GgmlType::kQ8_1) return round_trip(type, x);
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint64_t> q((row_bytes(type, n) + 7) / 8);
  quantize_row_ref(type, x.data(), q.data(), n);
  return dequantize_q8_1(q, n);
}

TEST(QuantizeRoundTrip, CanQuantizeCoversTheDequantizableTypes) {
  for (uint32_t id = 0; id < 64; ++id) {
    const auto t = ggml_type_traits(id);
    if (!t) continue;
    if (t->can_dequantize) {
      EXPECT_TRUE(can_quantize(t->type)) << t->name;
    }
  }
  EXPECT_TRUE(can_quantize(GgmlType::kQ8_1));
  EXPECT_FALSE(can_quantize(GgmlType::kI32));
}

TEST(QuantizeRoundTrip, GaussianDataWithinBoundPerType) {
  for (const auto& c : kRoundTripCases) {
    const int64_t block = traits_of(c.type).block_size;
    double worst = 0;
    for (const int64_t n : {int64_t{256}, int64_t{256} * 7, block == 32 ? int64_t{32} : 512}) {
      const auto x = gaussian(static_cast<size_t>(n), static_cast<uint32_t>(n) + 17);
      const auto y = any_round_trip(c.type, x);
      const double rmse = relative_rmse(x.data(), y.data(), x.size());
      worst = std::max(worst, rmse);
      EXPECT_LE(rmse, c.max_rel_rmse) << ggml_type_name(c.type) << " n=" << n;
    }
    std::printf("[ measured ] %-5s round trip relative RMSE %.5f (bound %.5f)\n",
                std::string(ggml_type_name(c.type)).c_str(), worst, c.max_rel_rmse);
  }
}

// Each block has its own scale: a row of blocks with very different magnitudes keeps its
// relative accuracy everywhere.
TEST(QuantizeRoundTrip, BlocksOfDifferentMagnitudes) {
  auto x = gaussian(256 * 4, 99);
  for (size_t i = 0; i < x.size(); ++i) x[i] *= std::ldexp(1.0f, static_cast<int>(i / 256) * 6 - 9);
  for (const auto& c : kRoundTripCases) {
    const auto y = any_round_trip(c.type, x);
    for (size_t b = 0; b < 4; ++b) {
      const double rmse = relative_rmse(x.data() + 256 * b, y.data() + 256 * b, 256);
      EXPECT_LE(rmse, c.max_rel_rmse * 1.5 + 1e-6) << ggml_type_name(c.type) << " block " << b;
    }
  }
}

TEST(QuantizeRoundTrip, ZerosStayZeros) {
  const std::vector<float> x(512, 0.0f);
  for (const auto& c : kRoundTripCases) {
    const auto y = any_round_trip(c.type, x);
    for (float v : y) ASSERT_EQ(v, 0.0f) << ggml_type_name(c.type);
  }
}

TEST(QuantizeRoundTrip, ConstantAndSingleSpikeBlocks) {
  std::vector<float> x(512, 0.75f);
  for (size_t i = 256; i < 512; ++i) x[i] = (i == 300) ? -5.0f : 0.0f;
  for (const auto& c : kRoundTripCases) {
    const auto y = any_round_trip(c.type, x);
    // Every type represents a constant block and a lone spike almost exactly.
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_NEAR(y[i], x[i], 0.01f * 5.0f) << ggml_type_name(c.type) << " at " << i;
    }
  }
}

TEST(QuantizeRoundTrip, Q8_0KnownBlock) {
  // amax 127 -> d = 1 exactly; x = j - 15.5 rounds halves away from zero as roundf does.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j) - 15.5f;
  x[31] = 127.0f;
  BlockQ8_0 b{};
  quantize_row_ref(GgmlType::kQ8_0, x.data(), &b, 32);
  EXPECT_EQ(b.d, 0x3C00);
  EXPECT_EQ(b.qs[0], -16);  // -15.5 -> -16
  EXPECT_EQ(b.qs[15], -1);  // -0.5 -> -1
  EXPECT_EQ(b.qs[16], 1);   // 0.5 -> 1
  EXPECT_EQ(b.qs[30], 15);  // 14.5 -> 15
  EXPECT_EQ(b.qs[31], 127);
}

TEST(QuantizeRoundTrip, Q4_0KnownBlock) {
  // The largest magnitude (-8) maps to q = 0 with d = 1; the rest is x + 8 rounded half up.
  std::vector<float> x(32, 0.0f);
  x[0] = -8.0f;
  x[1] = 7.0f;
  x[2] = 2.5f;  // 10.5 -> 11 (half up, not to even)
  x[17] = -0.4f;
  BlockQ4_0 b{};
  quantize_row_ref(GgmlType::kQ4_0, x.data(), &b, 32);
  EXPECT_EQ(b.d, 0x3C00);
  EXPECT_EQ(b.qs[0] & 0xF, 0);
  EXPECT_EQ(b.qs[1] & 0xF, 15);
  EXPECT_EQ(b.qs[2] & 0xF, 11);
  EXPECT_EQ(b.qs[1] >> 4, 8);  // weight 17
  EXPECT_EQ(b.qs[3], 0x88);
}

TEST(QuantizeRoundTrip, Q8_1SumAndQ8_0Agree) {
  const auto x = gaussian(256, 5);
  std::vector<BlockQ8_0> q80(8);
  std::vector<BlockQ8_1> q81(8);
  quantize_row_ref(GgmlType::kQ8_0, x.data(), q80.data(), 256);
  quantize_row_ref(GgmlType::kQ8_1, x.data(), q81.data(), 256);
  for (size_t b = 0; b < 8; ++b) {
    EXPECT_EQ(q81[b].d, q80[b].d);
    EXPECT_EQ(std::memcmp(q81[b].qs, q80[b].qs, 32), 0);
    // s is the sum times the unrounded scale amax / 127, then rounded to fp16.
    float amax = 0.0f;
    for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[32 * b + j]));
    int sum = 0;
    for (int8_t q : q81[b].qs) sum += q;
    EXPECT_EQ(q81[b].s, f32_to_fp16(static_cast<float>(sum) * (amax / 127.0f))) << b;
  }
}

TEST(QuantizeRoundTrip, Q8_KBlockSums) {
  const auto x = gaussian(512, 6);
  std::vector<BlockQ8_K> q(2);
  quantize_row_ref(GgmlType::kQ8_K, x.data(), q.data(), 512);
  for (const auto& b : q) {
    // The largest magnitude maps to -127 exactly.
    EXPECT_EQ(*std::min_element(std::begin(b.qs), std::end(b.qs)) == -127 ||
                  *std::max_element(std::begin(b.qs), std::end(b.qs)) == 127,
              true);
    for (int j = 0; j < 16; ++j) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += b.qs[16 * j + i];
      EXPECT_EQ(b.bsums[j], sum);
    }
  }
}

TEST(QuantizeRoundTrip, DequantizedDataQuantizesToItself) {
  // Values already on a block's grid stay there: quantize(dequantize(q)) == q for the types
  // whose scale is fixed by the block maximum.
  const auto x = gaussian(256 * 3, 7);
  for (const GgmlType type : {GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ5_0}) {
    const size_t bytes = row_bytes(type, 768);
    std::vector<uint64_t> q1((bytes + 7) / 8);
    std::vector<uint64_t> q2((bytes + 7) / 8);
    std::vector<float> y(768);
    quantize_row_ref(type, x.data(), q1.data(), 768);
    dequantize_row_ref(type, q1.data(), y.data(), 768);
    quantize_row_ref(type, y.data(), q2.data(), 768);
    EXPECT_EQ(std::memcmp(q1.data(), q2.data(), bytes), 0) << ggml_type_name(type);
  }
}

// ---- Real data: llama.cpp's llama-quantize output against ours, from the same f32 weights. ----

std::vector<float> f32_data(const gguf::TensorInfo& t) {
  std::vector<float> x(static_cast<size_t>(t.n_elements()));
  EXPECT_EQ(t.n_bytes, x.size() * sizeof(float)) << t.name;
  std::memcpy(x.data(), t.data, std::min(t.n_bytes, x.size() * sizeof(float)));
  return x;
}

// Relative RMSE vs f32 of a file's dequantized tensor, per type (measured + margin).
double file_rmse_bound(GgmlType type) {
  switch (type) {
    case GgmlType::kF16:
      return 0.00025;  // measured 0.00021
    case GgmlType::kBF16:
      return 0.0019;  // 0.00168
    case GgmlType::kQ8_0:
      return 0.006;  // 0.00538
    case GgmlType::kQ6_K:
      return 0.020;  // 0.01777
    case GgmlType::kQ4_K:
      return 0.080;  // 0.07184
    case GgmlType::kQ4_0:
      return 0.095;  // 0.08617
    default:
      return 0.0;
  }
}

struct FileReport {
  int tensors = 0;
  int exact = 0;
  double max_file_rmse = 0;  // relative RMSE of the file's data vs f32, worst tensor
};

// For every tensor of `file_name`: (a) its dequantized data is close to the f32 file's, (b) our
// quantizer, run on the f32 file's data, reproduces its bytes exactly (any difference fails and
// reports the first differing block and both RMSEs). Prints per type how many tensors matched.
void check_against_llama_cpp(const std::filesystem::path& shared, const std::string& file_name,
                             const std::string& f32_name) {
  const auto f32 = gguf::GgufFile::open(shared / "models" / f32_name);
  const auto quantized = gguf::GgufFile::open(shared / "models" / file_name);
  std::map<GgmlType, FileReport> reports;
  int checked = 0;
  for (const auto& t : quantized.tensors()) {
    const gguf::TensorInfo* src = f32.find_tensor(t.name);
    ASSERT_NE(src, nullptr) << t.name;
    ASSERT_EQ(src->type, GgmlType::kF32) << t.name;
    ASSERT_EQ(src->shape, t.shape) << t.name;
    const auto x = f32_data(*src);
    const auto n = static_cast<int64_t>(x.size());
    ASSERT_EQ(t.n_bytes, row_bytes(t.type, n)) << t.name;

    // (a) the file's data, dequantized, is close to the f32 weights.
    std::vector<float> y(x.size());
    dequantize_row_ref(t.type, t.data, y.data(), n);
    const double file_rmse = relative_rmse(x.data(), y.data(), x.size());
    if (t.type != GgmlType::kF32) {
      EXPECT_LE(file_rmse, file_rmse_bound(t.type)) << file_name << " " << t.name;
    }

    // (b) our quantizer gives the same bytes as llama.cpp.
    std::vector<uint64_t> ours((t.n_bytes + 7) / 8);
    quantize_row_ref(t.type, x.data(), ours.data(), n);
    auto& r = reports[t.type];
    ++r.tensors;
    r.max_file_rmse = std::max(r.max_file_rmse, file_rmse);
    const bool exact = std::memcmp(ours.data(), t.data, t.n_bytes) == 0;
    if (exact) {
      ++r.exact;
    } else {
      // Report the first differing block, and still hold ours to the file's accuracy.
      const size_t block_bytes = traits_of(t.type).block_bytes;
      const auto* a = reinterpret_cast<const uint8_t*>(ours.data());
      size_t first = 0;
      while (first < t.n_bytes && a[first] == t.data[first]) ++first;
      std::vector<float> z(x.size());
      dequantize_row_ref(t.type, ours.data(), z.data(), n);
      const double our_rmse = relative_rmse(x.data(), z.data(), x.size());
      ADD_FAILURE() << file_name << " " << t.name << " (" << ggml_type_name(t.type)
                    << "): bytes differ from llama.cpp's, first in block " << first / block_bytes
                    << " byte " << first % block_bytes << "; RMSE ours " << our_rmse << " vs file "
                    << file_rmse;
    }
    ++checked;
  }
  EXPECT_GT(checked, 0);
  for (const auto& [type, r] : reports) {
    std::printf(
        "[ measured ] %s: %s tensors byte-identical to llama.cpp: %d of %d; worst relative "
        "RMSE vs f32 %.5f\n",
        file_name.c_str(), std::string(ggml_type_name(type)).c_str(), r.exact, r.tensors,
        r.max_file_rmse);
  }
}

TEST(QuantizeRealData, Q8_0MatchesLlamaCppBytes) {
  CAPIBARA_REQUIRE_SHARED(shared);
  check_against_llama_cpp(shared, "synth-llama-q8_0.gguf", "synth-llama-f32.gguf");
}

TEST(QuantizeRealData, Q4_0MatchesLlamaCppBytes) {
  CAPIBARA_REQUIRE_SHARED(shared);
  check_against_llama_cpp(shared, "synth-llama-q4_0.gguf", "synth-llama-f32.gguf");
}

TEST(QuantizeRealData, Q6_KMatchesLlamaCppBytes) {
  CAPIBARA_REQUIRE_SHARED(shared);
  check_against_llama_cpp(shared, "synth-llama-q6_k.gguf", "synth-llama-f32.gguf");
}

TEST(QuantizeRealData, Q4_K_MMatchesLlamaCppBytes) {
  CAPIBARA_REQUIRE_SHARED(shared);
  check_against_llama_cpp(shared, "synth-llama-q4_k_m.gguf", "synth-llama-f32.gguf");
}

TEST(QuantizeRealData, F16AndBf16MatchTheConvertedFiles) {
  CAPIBARA_REQUIRE_SHARED(shared);
  check_against_llama_cpp(shared, "synth-llama-f16.gguf", "synth-llama-f32.gguf");
  check_against_llama_cpp(shared, "synth-llama-bf16.gguf", "synth-llama-f32.gguf");
}

}  // namespace
}  // namespace capibara::kernels
