// The packed Q6_K layout (packed_q6_k.cpp) on weights with outliers (negative and extreme
// sub-block scales): the scalar reference against the row-major Q6_K `vec_dot` of the scalar
// table, and every table's packed kernel against the reference bit for bit at odd super-block
// counts, token counts and strides (packed_weights_test.cpp covers batched == alone).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/aligned_buffer.hpp"
#include "core/ggml_type.hpp"
#include "kernels/dequantize.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/packed_formats.hpp"
#include "kernels/packed_weights.hpp"
#include "kernels/quantize.hpp"

namespace capibara::kernels {
namespace {

constexpr GgmlType kType = GgmlType::kQ6_K;
constexpr int64_t kSuper = 256;

struct Fixture {
  int64_t rows, n;
  size_t row_bytes, group_bytes;
  std::vector<uint8_t> weights;  // row-major
  AlignedBuffer packed;
  std::vector<float> x;  // [tokens, n]

  Fixture(int64_t rows_, int64_t n_, int64_t tokens, uint32_t seed)
      : rows(rows_),
        n(n_),
        row_bytes(ggml_row_bytes(kType, n_).value()),
        group_bytes(static_cast<size_t>(n_ / kSuper) * packed_format_q6_k().block_bytes) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    weights.resize(row_bytes * static_cast<size_t>(rows));
    std::vector<float> row(static_cast<size_t>(n));
    for (int64_t r = 0; r < rows; ++r) {
      // Rows of different magnitudes, so that the per-row scales differ; some rows with a
      // large outlier, so that the sub-block scales go negative and reach the 6-bit extremes.
      const float scale = 0.1f + static_cast<float>(r % 7);
      for (auto& v : row) v = scale * dist(rng);
      if (r % 3 == 1) row[static_cast<size_t>(r * 37 % n)] = -40.0f * scale;
      quantize_row_ref(kType, row.data(), weights.data() + static_cast<size_t>(r) * row_bytes, n);
    }
    packed = AlignedBuffer(static_cast<size_t>(rows / kPackRows) * group_bytes);
    std::memset(packed.data(), 0xA5, packed.size());  // the packer must write every byte
    for (int64_t g = 0; g < rows / kPackRows; ++g) {
      packed_format_q6_k().pack_group(
          weights.data() + static_cast<size_t>(g * kPackRows) * row_bytes, row_bytes, n / kSuper,
          packed.data() + static_cast<size_t>(g) * group_bytes);
    }
    x.resize(static_cast<size_t>(tokens * n));
    for (auto& v : x) v = dist(rng);
  }

  const uint8_t* group(int64_t g) const {
    return packed.data() + static_cast<size_t>(g) * group_bytes;
  }

  // Float sums carry rounding errors relative to the size of their terms, not of the result
  // (which may cancel to near zero): the tolerance of (row, token) is a fraction of sum |w x|.
  float tolerance(int64_t r, int64_t t) const {
    std::vector<float> w(static_cast<size_t>(n));
    dequantize_row_ref(kType, weights.data() + static_cast<size_t>(r) * row_bytes, w.data(), n);
    double mag = 0.0;
    for (int64_t i = 0; i < n; ++i)
      mag +=
          std::abs(double{w[static_cast<size_t>(i)]} * double{x[static_cast<size_t>(t * n + i)]});
    return static_cast<float>(1e-6 * mag);
  }

  // Q8_K activation rows, `stride` bytes apart (quantized into an aligned row, then copied: the
  // kernels take any stride, the quantizer wants its blocks aligned).
  std::vector<uint8_t> activations(int64_t tokens, size_t stride) const {
    std::vector<uint8_t> a(stride * static_cast<size_t>(tokens) + 64);
    const size_t row_bytes_q8 = ggml_row_bytes(GgmlType::kQ8_K, n).value();
    AlignedBuffer row(row_bytes_q8);
    const auto quantize = quant_dot_kernels(scalar_kernel_table(), kType).quantize_activations;
    for (int64_t t = 0; t < tokens; ++t) {
      quantize(x.data() + t * n, row.data(), n);
      std::memcpy(a.data() + static_cast<size_t>(t) * stride, row.data(), row_bytes_q8);
    }
    return a;
  }
};

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

TEST(PackedQ6K, Layout) {
  const PackedFormat& f = packed_format_q6_k();
  EXPECT_EQ(f.block_weights, 256);
  EXPECT_EQ(f.activations, PackedActivations::kQ8_K);
  EXPECT_EQ(f.reference, &scalar::packed_gemm_q6_k);
  // The file's 16 x 210 bytes, padded to whole 64-byte lines: within 1 %.
  EXPECT_EQ(f.block_bytes % 64, 0u);
  EXPECT_GE(f.block_bytes, 16u * 210);
  EXPECT_LT(f.block_bytes, 16u * 210 + 64);
}

TEST(PackedQ6K, PackerWritesEveryByte) {
  // Packing over two different fillers gives the same bytes (padding included), so packed
  // matrices compare equal whoever packs them.
  const Fixture f(16, 3 * kSuper, 1, 5);
  AlignedBuffer other(f.group_bytes);
  std::memset(other.data(), 0x5A, other.size());
  packed_format_q6_k().pack_group(f.weights.data(), f.row_bytes, 3, other.data());
  EXPECT_EQ(std::memcmp(other.data(), f.group(0), f.group_bytes), 0);
}

TEST(PackedQ6K, ReferenceMatchesRowMajorVecDot) {
  for (const int64_t blocks : {1, 3, 11}) {
    const Fixture f(32, blocks * kSuper, 3, static_cast<uint32_t>(7 + blocks));
    const size_t stride = ggml_row_bytes(GgmlType::kQ8_K, f.n).value();
    const auto act = f.activations(3, stride);
    std::vector<float> y(3 * 32);
    for (int g = 0; g < 2; ++g) {
      scalar::packed_gemm_q6_k(f.n, f.group(g), act.data(), stride, 3, y.data() + g * kPackRows,
                               32);
    }
    const QuantDotKernels& k = quant_dot_kernels(scalar_kernel_table(), kType);
    for (int64_t t = 0; t < 3; ++t) {
      for (int64_t r = 0; r < 32; ++r) {
        const float want = k.vec_dot(f.n, f.weights.data() + static_cast<size_t>(r) * f.row_bytes,
                                     act.data() + static_cast<size_t>(t) * stride);
        const float got = y[static_cast<size_t>(t * 32 + r)];
        EXPECT_NEAR(got, want, f.tolerance(r, t))
            << "blocks " << blocks << " row " << r << " token " << t;
      }
    }
  }
}

// Every table's packed Q6_K kernel on these weights (with their negative and extreme scales).
TEST(PackedQ6K, EveryTableMatchesTheReferenceBitForBit) {
  int tested = 0;
  for (const auto* table : available_kernel_tables()) {
    const PackedGemmFn gemm = packed_gemm_kernel(*table, kType);
    if (gemm == nullptr) continue;
    for (const int64_t blocks : {1, 3, 5}) {
      for (const int64_t tokens : {1, 2, 3, 4, 5, 6, 7, 8, 9, 19}) {
        const Fixture f(16, blocks * kSuper, tokens, static_cast<uint32_t>(blocks * 100 + tokens));
        const size_t stride = ggml_row_bytes(GgmlType::kQ8_K, f.n).value() + 7;  // odd gap
        const auto act = f.activations(tokens, stride);
        const size_t y_stride = kPackRows + 5;
        std::vector<float> got(y_stride * static_cast<size_t>(tokens), -1.0f);
        std::vector<float> want(got.size(), -1.0f);
        gemm(f.n, f.group(0), act.data(), stride, tokens, got.data(), y_stride);
        scalar::packed_gemm_q6_k(f.n, f.group(0), act.data(), stride, tokens, want.data(),
                                 y_stride);
        for (size_t i = 0; i < got.size(); ++i) {
          ASSERT_TRUE(same_bits(got[i], want[i]))
              << isa_name(table->isa) << " blocks " << blocks << " tokens " << tokens << " at " << i
              << ": " << got[i] << " vs " << want[i];
        }
        ++tested;
      }
    }
  }
  if (tested == 0) GTEST_SKIP() << "no kernel table on this CPU has a packed Q6_K kernel";
}

}  // namespace
}  // namespace capibara::kernels
