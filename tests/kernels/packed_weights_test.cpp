// The packed layout (packed_weights.hpp): every table's packed kernel against the scalar
// reference bit for bit, at odd block counts, token counts and strides; the reference against
// the row-major `vec_dot` of the scalar table; results independent of how many tokens share a
// pass; and `matmul` on a packed matrix against the same matrix row-major.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/aligned_buffer.hpp"
#include "core/ggml_type.hpp"
#include "core/half.hpp"
#include "core/quant_blocks.hpp"
#include "core/thread_pool.hpp"
#include "kernels/dequantize.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/matmul.hpp"
#include "kernels/packed_weights.hpp"
#include "kernels/quant_dot.hpp"
#include "kernels/quantize.hpp"
#if defined(__x86_64__)
#include "kernels/x86/packed_avx512.hpp"
#endif
#if defined(__aarch64__)
#include "kernels/arm/packed_neon.hpp"
#endif

namespace capibara::kernels {
namespace {

constexpr GgmlType kPackedTypes[] = {GgmlType::kQ4_0, GgmlType::kQ8_0, GgmlType::kQ4_K,
                                     GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kF32,
                                     GgmlType::kF16,  GgmlType::kBF16};

struct Fixture {
  GgmlType type;
  int64_t rows, n;
  size_t row_bytes;
  std::vector<uint8_t> weights;  // row-major
  AlignedBuffer packed;
  std::vector<float> x;  // [tokens, n]

  Fixture(GgmlType t, int64_t rows_, int64_t n_, int64_t tokens, uint32_t seed)
      : type(t), rows(rows_), n(n_), row_bytes(ggml_row_bytes(t, n_).value()) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    weights.resize(row_bytes * static_cast<size_t>(rows));
    std::vector<float> row(static_cast<size_t>(n));
    for (int64_t r = 0; r < rows; ++r) {
      // Rows of different magnitudes, so that the per-row scales differ.
      const float scale = 0.1f + static_cast<float>(r % 7);
      for (auto& v : row) v = scale * dist(rng);
      quantize_row_ref(type, row.data(), weights.data() + static_cast<size_t>(r) * row_bytes, n);
    }
    packed = AlignedBuffer(packed_matrix_bytes(type, rows, n));
    pack_groups(type, weights.data(), row_bytes, n, 0, rows / kPackRows, packed.data());
    x.resize(static_cast<size_t>(tokens * n));
    for (auto& v : x) v = dist(rng);
  }

  // Float sums carry rounding errors relative to the size of their terms, not of the result
  // (which may cancel to near zero): the tolerance of (row, token) is a fraction of sum |w x|.
  float tolerance(int64_t r, int64_t t) const {
    std::vector<float> w(static_cast<size_t>(n));
    dequantize_row_ref(type, weights.data() + static_cast<size_t>(r) * row_bytes, w.data(), n);
    double mag = 0.0;
    for (int64_t i = 0; i < n; ++i)
      mag += std::abs(double{w[static_cast<size_t>(i)]} * x[static_cast<size_t>(t * n + i)]);
    return static_cast<float>(1e-6 * mag);
  }

  // Bytes of one activation row for the packed kernels: Q8_0's with the BlockQ8Wide copies that
  // the tables with `widen_q8_sum` read after the blocks (the others ignore them).
  size_t activation_bytes() const {
    return packed_activation_row_bytes(type, n) +
           (type == GgmlType::kQ8_0 ? widened_q8_sum_bytes(n) : 0);
  }

  // Activation rows for the packed kernels, `stride` bytes apart.
  std::vector<uint8_t> activations(int64_t tokens, size_t stride) const {
    std::vector<uint8_t> a(stride * static_cast<size_t>(tokens) + 64);
    const PackedActivations kind = packed_format(type)->activations;
    const KernelTable& scalar = scalar_kernel_table();
    const auto quantize =
        quant_dot_kernels(scalar, kind == PackedActivations::kQ8Sum ? GgmlType::kQ8_0 : type)
            .quantize_activations;
    std::vector<uint16_t> halves(static_cast<size_t>(n));
    for (int64_t t = 0; t < tokens; ++t) {
      uint8_t* row = a.data() + static_cast<size_t>(t) * stride;
      switch (kind) {
        case PackedActivations::kQ8Sum:
          quantize_q8_sum(quantize, x.data() + t * n, reinterpret_cast<BlockQ8Sum*>(row), n);
          if (type == GgmlType::kQ8_0) {
            scalar::widen_q8_sum(row, row + packed_activation_row_bytes(type, n), n);
          }
          break;
        case PackedActivations::kF32:
          std::memcpy(row, x.data() + t * n, static_cast<size_t>(n) * sizeof(float));
          break;
        case PackedActivations::kF16Values:
          round_through_f16(quantize, scalar.fp16_to_f32, x.data() + t * n, halves.data(),
                            reinterpret_cast<float*>(row), n);
          break;
        case PackedActivations::kQ8_K:
        case PackedActivations::kBF16:
          quantize(x.data() + t * n, row, n);
          break;
      }
    }
    return a;
  }
};

int64_t block_weights(GgmlType type) { return packed_format(type)->block_weights; }

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

TEST(PackedWeights, LayoutSizes) {
  EXPECT_TRUE(can_pack(GgmlType::kQ4_0, 32, 64));
  EXPECT_FALSE(can_pack(GgmlType::kQ4_0, 24, 64));   // not whole groups
  EXPECT_FALSE(can_pack(GgmlType::kQ5_0, 32, 256));  // no packed layout
  EXPECT_FALSE(can_pack(GgmlType::kQ2_K, 32, 256));
  EXPECT_FALSE(can_pack(GgmlType::kQ4_K, 32, 224));  // not whole super-blocks
  // Exactly the tensor's bytes, rounded up to 64 per group.
  EXPECT_EQ(packed_group_bytes(GgmlType::kQ4_0, 2048), 16u * 64 * 18);
  EXPECT_EQ(packed_group_bytes(GgmlType::kQ8_0, 2048), 16u * 64 * 34);
  EXPECT_EQ(packed_group_bytes(GgmlType::kQ4_0, 32) % 64, 0u);
  // Q4_K keeps the file's 144 bytes a row per super-block (its scales stay six-bit); Q6_K
  // pads 210 to 212.
  EXPECT_EQ(packed_group_bytes(GgmlType::kQ4_K, 2048), 8u * 16 * 144);
  EXPECT_EQ(packed_group_bytes(GgmlType::kQ5_K, 2048), 8u * 16 * 176);
  EXPECT_EQ(packed_group_bytes(GgmlType::kQ6_K, 2048), 8u * 16 * 212);
  EXPECT_EQ(packed_group_bytes(GgmlType::kF16, 2048), 16u * 2048 * 2);
  EXPECT_EQ(packed_group_bytes(GgmlType::kBF16, 96), 16u * 96 * 2);
  EXPECT_FALSE(can_pack(GgmlType::kF16, 32, 48));  // not whole 32-weight blocks
  EXPECT_EQ(packed_group_bytes(GgmlType::kF32, 64), 16u * 64 * 4);
}

// F32 keeps one column of the 16 rows per 64 bytes, F16 per 32 bytes; BF16 one column pair per 64
// bytes, each row's pair as one 32-bit word, even column low (packed_float.cpp).
TEST(PackedWeights, FloatLayoutsHoldColumnsOfTheSixteenRows) {
  for (const GgmlType type : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16}) {
    const Fixture f(type, kPackRows, 3 * 32, 1, 9);
    const uint8_t* group = f.packed.data();
    const size_t bytes = type == GgmlType::kF32 ? 4 : 2;
    for (int r = 0; r < kPackRows; ++r) {
      const uint8_t* row = f.weights.data() + static_cast<size_t>(r) * f.row_bytes;
      for (int64_t j = 0; j < f.n; ++j) {
        const size_t block = 32 * kPackRows * bytes * static_cast<size_t>(j / 32);
        const auto c = static_cast<size_t>(j % 32);
        const auto rr = static_cast<size_t>(r);
        const size_t at = type == GgmlType::kBF16 ? block + 64 * (c / 2) + 4 * rr + 2 * (c % 2)
                                                  : block + kPackRows * bytes * c + bytes * rr;
        EXPECT_EQ(std::memcmp(group + at, row + bytes * static_cast<size_t>(j), bytes), 0)
            << ggml_type_name(type) << " row " << r << " column " << j;
      }
    }
  }
}

// Blocks of the 32-weight types go in pairs, scales first, so that a decode pass reads one line
// stream: [scales 0][scales 1][quants 0][quants 1][scales 2][pad][quants 2] for three blocks.
TEST(PackedWeights, ScalesSitBesideTheirQuantsInBlockPairs) {
  const Fixture f(GgmlType::kQ4_0, kPackRows, 3 * 32, 1, 3);
  ASSERT_EQ(packed_group_bytes(GgmlType::kQ4_0, f.n), 576u + 64 + 256);
  const uint8_t* group = f.packed.data();
  for (int r = 0; r < kPackRows; ++r) {
    const auto* row =
        reinterpret_cast<const BlockQ4_0*>(f.weights.data() + static_cast<size_t>(r) * f.row_bytes);
    const size_t scales[] = {0, 32, 576};
    const size_t quants[] = {64, 320, 640};
    for (int b = 0; b < 3; ++b) {
      EXPECT_EQ(std::memcmp(group + scales[b] + 2 * r, &row[b].d, 2), 0) << "block " << b;
      // Chunk 0 of the block: the row's first four quant bytes at 4 r.
      EXPECT_EQ(std::memcmp(group + quants[b] + 4 * r, row[b].qs, 4), 0) << "block " << b;
    }
  }
  // The odd block's empty scale slot stays zero.
  for (size_t i = 576 + 32; i < 640; ++i) EXPECT_EQ(group[i], 0) << i;
}

// A Q5_K block: the rows' scales, d and dmin as Q4_K's, then the fifth bits, then the quants,
// each in chunks of four bytes per row (packed_q5_k.cpp).
TEST(PackedWeights, Q5KBlockHoldsTheFifthBitsBeforeTheQuants) {
  const Fixture f(GgmlType::kQ5_K, kPackRows, 2 * 256, 1, 5);
  ASSERT_EQ(packed_group_bytes(GgmlType::kQ5_K, f.n), 2u * 2816);
  for (int r = 0; r < kPackRows; ++r) {
    const auto* row =
        reinterpret_cast<const BlockQ5_K*>(f.weights.data() + static_cast<size_t>(r) * f.row_bytes);
    for (int b = 0; b < 2; ++b) {
      const uint8_t* blk = f.packed.data() + 2816 * b;
      EXPECT_EQ(blk[16 * 11 + r], row[b].scales[11]) << "block " << b;
      EXPECT_EQ(std::memcmp(blk + 192 + 2 * r, &row[b].d, 2), 0) << "block " << b;
      EXPECT_EQ(std::memcmp(blk + 224 + 2 * r, &row[b].dmin, 2), 0) << "block " << b;
      for (int c = 0; c < 8; ++c) {
        EXPECT_EQ(std::memcmp(blk + 256 + 64 * c + 4 * r, row[b].qh + 4 * c, 4), 0) << c;
      }
      for (int c = 0; c < 32; ++c) {
        EXPECT_EQ(std::memcmp(blk + 768 + 64 * c + 4 * r, row[b].qs + 4 * c, 4), 0) << c;
      }
    }
  }
}

TEST(PackedWeights, ReferenceMatchesRowMajorVecDot) {
  for (const GgmlType type : kPackedTypes) {
    const Fixture f(type, 32, 11 * block_weights(type), 3, 7);
    const size_t stride = f.activation_bytes();
    const auto act = f.activations(3, stride);
    std::vector<float> y(3 * 32);
    const PackedGemmFn ref = packed_format(type)->reference;
    for (int g = 0; g < 2; ++g) {
      ref(f.n, f.packed.data() + g * packed_group_bytes(type, f.n), act.data(), stride, 3,
          y.data() + g * kPackRows, 32);
    }
    const QuantDotKernels& k = quant_dot_kernels(scalar_kernel_table(), type);
    std::vector<uint8_t> a_row(ggml_row_bytes(activation_type(type).value(), f.n).value());
    for (int64_t t = 0; t < 3; ++t) {
      k.quantize_activations(f.x.data() + t * f.n, a_row.data(), f.n);
      for (int64_t r = 0; r < 32; ++r) {
        const float want =
            k.vec_dot(f.n, f.weights.data() + static_cast<size_t>(r) * f.row_bytes, a_row.data());
        const float got = y[static_cast<size_t>(t * 32 + r)];
        EXPECT_NEAR(got, want, f.tolerance(r, t))
            << ggml_type_name(type) << " row " << r << " token " << t;
      }
    }
  }
}

// Both prefetch variants of each x86 table: they differ only in prefetch instructions, which a
// wrong address could still turn into a fault.
TEST(PackedWeights, EveryTableMatchesTheReferenceBitForBit) {
  int tested = 0;
  for (const auto* table : available_kernel_table_variants()) {
    for (const GgmlType type : kPackedTypes) {
      const PackedGemmFn gemm = packed_gemm_kernel(*table, type);
      if (gemm == nullptr) continue;
      const PackedGemmFn ref = packed_format(type)->reference;
      for (const int64_t blocks : {1, 3, 8, 13}) {
        for (const int64_t tokens : {1, 2, 3, 4, 5, 6, 7, 8, 9, 19}) {
          const Fixture f(type, 16, blocks * block_weights(type), tokens,
                          static_cast<uint32_t>(blocks * 100 + tokens));
          const size_t stride = f.activation_bytes() + 8;  // odd gap
          const auto act = f.activations(tokens, stride);
          const size_t y_stride = kPackRows + 5;
          std::vector<float> got(y_stride * static_cast<size_t>(tokens), -1.0f);
          std::vector<float> want(got.size(), -1.0f);
          gemm(f.n, f.packed.data(), act.data(), stride, tokens, got.data(), y_stride);
          ref(f.n, f.packed.data(), act.data(), stride, tokens, want.data(), y_stride);
          for (size_t i = 0; i < got.size(); ++i) {
            ASSERT_TRUE(same_bits(got[i], want[i]))
                << isa_name(table->isa) << " (" << stream_prefetch_name(table->stream_prefetch)
                << " prefetch) " << ggml_type_name(type) << " blocks " << blocks << " tokens "
                << tokens << " at " << i << ": " << got[i] << " vs " << want[i];
          }
          // One token at a time gives the same bits as the whole batch (batched == alone).
          for (int64_t t = 0; t < tokens; ++t) {
            std::vector<float> one(kPackRows);
            gemm(f.n, f.packed.data(), act.data() + static_cast<size_t>(t) * stride, stride, 1,
                 one.data(), kPackRows);
            for (int r = 0; r < kPackRows; ++r) {
              ASSERT_TRUE(
                  same_bits(one[static_cast<size_t>(r)],
                            got[static_cast<size_t>(t) * y_stride + static_cast<size_t>(r)]));
            }
          }
          ++tested;
        }
      }
    }
  }
  if (tested == 0) GTEST_SKIP() << "no kernel table on this CPU has packed kernels";
}

#if defined(__x86_64__)
// The AVX-512 table's BF16 kernel is `vdpbf16ps` where the CPU has AVX512_BF16 and fmas where it
// does not; the table test above sees only one of them, so both are checked here.
TEST(PackedWeights, Avx512Bf16KernelsBothMatchTheReference) {
  bool avx512 = false;
  for (const auto* table : available_kernel_tables()) avx512 |= table->isa == Isa::kAvx512;
  if (!avx512) GTEST_SKIP() << "this CPU has no AVX-512 table";
  std::vector<std::pair<const char*, PackedGemmFn>> kernels = {
      {"fma", avx512::packed_gemm_bf16_fma},
      {"fma, hardware prefetch", avx512::packed_gemm_bf16_fma_hardware_prefetch}};
  if (__builtin_cpu_supports("avx512bf16")) {
    kernels.emplace_back("vdpbf16ps", avx512::packed_gemm_bf16_dpbf16);
    kernels.emplace_back("vdpbf16ps, hardware prefetch",
                         avx512::packed_gemm_bf16_dpbf16_hardware_prefetch);
  }
  for (const int64_t tokens : {1, 5, 13}) {
    const Fixture f(GgmlType::kBF16, kPackRows, 7 * 32, tokens, static_cast<uint32_t>(tokens));
    const size_t stride = f.activation_bytes() + 4;
    const auto act = f.activations(tokens, stride);
    std::vector<float> want(static_cast<size_t>(tokens) * kPackRows);
    packed_format(GgmlType::kBF16)
        ->reference(f.n, f.packed.data(), act.data(), stride, tokens, want.data(), kPackRows);
    for (const auto& [name, gemm] : kernels) {
      std::vector<float> got(want.size(), -1.0f);
      gemm(f.n, f.packed.data(), act.data(), stride, tokens, got.data(), kPackRows);
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_TRUE(same_bits(got[i], want[i]))
            << name << " tokens " << tokens << " at " << i << ": " << got[i] << " vs " << want[i];
      }
    }
  }
}
#endif

#if defined(__aarch64__)
// The NEON table's Q4_0 and Q8_0 kernels are `smmla` for two or more tokens where the CPU has
// i8mm and `sdot` otherwise, so the table test above sees only one of them per token count:
// both are checked here at every token count (an odd one pairs the last token with itself).
TEST(PackedWeights, NeonI8mmAndSdotKernelsBothMatchTheReference) {
  bool neon = false;
  for (const auto* table : available_kernel_tables()) neon |= table->isa == Isa::kNeon;
  if (!neon) GTEST_SKIP() << "this CPU has no NEON table";
  const bool i8mm = cpu_has_neon_i8mm();
  for (const GgmlType type : {GgmlType::kQ4_0, GgmlType::kQ8_0}) {
    const bool q4 = type == GgmlType::kQ4_0;
    std::vector<std::pair<const char*, PackedGemmFn>> kernels = {
        {"sdot", q4 ? neon::packed_gemm_q4_0 : neon::packed_gemm_q8_0}};
    if (i8mm)
      kernels.emplace_back("i8mm", q4 ? neon::packed_gemm_q4_0_i8mm : neon::packed_gemm_q8_0_i8mm);
    for (const int64_t blocks : {1, 2, 5}) {
      for (const int64_t tokens : {1, 2, 3, 5, 8}) {
        const Fixture f(type, kPackRows, blocks * 32, tokens,
                        static_cast<uint32_t>(blocks * 100 + tokens));
        const size_t stride = f.activation_bytes() + 8;
        const size_t y_stride = kPackRows + 3;
        const auto act = f.activations(tokens, stride);
        std::vector<float> want(static_cast<size_t>(tokens) * y_stride, -1.0f);
        packed_format(type)->reference(f.n, f.packed.data(), act.data(), stride, tokens,
                                       want.data(), y_stride);
        for (const auto& [name, gemm] : kernels) {
          std::vector<float> got(want.size(), -1.0f);
          gemm(f.n, f.packed.data(), act.data(), stride, tokens, got.data(), y_stride);
          for (size_t i = 0; i < got.size(); ++i) {
            ASSERT_TRUE(same_bits(got[i], want[i]))
                << ggml_type_name(type) << " " << name << " blocks " << blocks << " tokens "
                << tokens << " at " << i << ": " << got[i] << " vs " << want[i];
          }
        }
      }
    }
  }
  if (!i8mm) GTEST_SKIP() << "this CPU has no i8mm: only the sdot kernels were checked";
}
#endif

// The largest integer sums a K-quant block can make (every quant and scale at its maximum,
// every activation -128): a kernel that sums too many products in 16 bits (AVX2's
// `vpmaddubsw`; Q5_K's 31 x 128 leaves room for four chunks where Q4_K's 15 x 128 leaves eight)
// wraps and differs from the reference.
TEST(PackedWeights, EveryTableHoldsTheLargestKQuantSums) {
  int tested = 0;
  for (const auto* table : available_kernel_table_variants()) {
    for (const GgmlType type : {GgmlType::kQ4_K, GgmlType::kQ5_K}) {
      const PackedGemmFn gemm = packed_gemm_kernel(*table, type);
      if (gemm == nullptr) continue;
      constexpr int64_t kBlocks = 2;
      const size_t row_bytes = ggml_row_bytes(type, 256 * kBlocks).value();
      std::vector<uint8_t> rows(row_bytes * kPackRows, 0xFF);
      const uint16_t one = f32_to_fp16(1.0f);
      for (size_t b = 0; b < kPackRows * kBlocks; ++b) {  // d and dmin lead both block types
        std::memcpy(rows.data() + b * (row_bytes / kBlocks), &one, 2);
        std::memcpy(rows.data() + b * (row_bytes / kBlocks) + 2, &one, 2);
      }
      AlignedBuffer packed(packed_matrix_bytes(type, kPackRows, 256 * kBlocks));
      pack_groups(type, rows.data(), row_bytes, 256 * kBlocks, 0, 1, packed.data());
      std::vector<BlockQ8_K> act(kBlocks);
      for (BlockQ8_K& a : act) {
        a.d = 1.0f;
        std::memset(a.qs, 0x80, sizeof(a.qs));  // -128
        for (int16_t& sum : a.bsums) sum = 16 * -128;
      }
      std::vector<float> got(kPackRows);
      std::vector<float> want(kPackRows);
      gemm(256 * kBlocks, packed.data(), act.data(), sizeof(BlockQ8_K), 1, got.data(), kPackRows);
      packed_format(type)->reference(256 * kBlocks, packed.data(), act.data(), sizeof(BlockQ8_K), 1,
                                     want.data(), kPackRows);
      for (int r = 0; r < kPackRows; ++r) {
        ASSERT_TRUE(same_bits(got[static_cast<size_t>(r)], want[static_cast<size_t>(r)]))
            << isa_name(table->isa) << " " << ggml_type_name(type) << " row " << r << ": "
            << got[static_cast<size_t>(r)] << " vs " << want[static_cast<size_t>(r)];
      }
      ++tested;
    }
  }
  if (tested == 0) GTEST_SKIP() << "no kernel table on this CPU has packed K-quant kernels";
}

TEST(PackedWeights, MatmulOnPackedMatchesRowMajor) {
  ThreadPool pool(2);
  int tested = 0;
  for (const auto* table : available_kernel_table_variants()) {
    for (const GgmlType type : kPackedTypes) {
      if (packed_gemm_kernel(*table, type) == nullptr) continue;
      // Every pass kind of every table: one token, a few (2-4: where AVX2 turns from its few-token
      // passes to int16 ones, whose widened activations `matmul` must then have written), more.
      for (const int64_t tokens : {1, 2, 3, 4, 5, 70}) {
        const Fixture f(type, 48, 3 * block_weights(type), tokens, static_cast<uint32_t>(tokens));
        MatmulScratch scratch(2, f.n, tokens);
        WeightMatrix w{type, f.weights.data(), f.rows, f.n, f.row_bytes};
        std::vector<float> row_major(static_cast<size_t>(tokens * f.rows));
        matmul(*table, w, f.x.data(), tokens, row_major.data(), pool, scratch);
        w.packed = f.packed.data();
        std::vector<float> packed(row_major.size());
        matmul(*table, w, f.x.data(), tokens, packed.data(), pool, scratch);
        for (size_t i = 0; i < packed.size(); ++i) {
          const auto t = static_cast<int64_t>(i) / f.rows;
          const float tol = f.tolerance(static_cast<int64_t>(i) % f.rows, t);
          ASSERT_NEAR(packed[i], row_major[i], tol)
              << isa_name(table->isa) << " " << ggml_type_name(type) << " tokens " << tokens
              << " at " << i;
        }
        // A table without a packed kernel falls back to the row-major data.
        std::vector<float> scalar(row_major.size());
        matmul(scalar_kernel_table(), w, f.x.data(), tokens, scalar.data(), pool, scratch);
        for (size_t i = 0; i < scalar.size(); ++i) {
          const auto t = static_cast<int64_t>(i) / f.rows;
          ASSERT_NEAR(scalar[i], row_major[i], f.tolerance(static_cast<int64_t>(i) % f.rows, t));
        }
        ++tested;
      }
    }
  }
  if (tested == 0) GTEST_SKIP() << "no kernel table on this CPU has packed kernels";
}

}  // namespace
}  // namespace capibara::kernels

namespace capibara::kernels {
namespace {

// q, k and v (or gate and up) in one pass give exactly what three matmuls give, with packed
// matrices of one activation kind (one pass) and of two kinds (one matmul each).
TEST(PackedWeights, SharedInputMatchesSeparateMatmuls) {
  ThreadPool pool(2);
  const int64_t n = 2 * 256;
  for (const auto& types :
       {std::vector<GgmlType>{GgmlType::kQ4_0, GgmlType::kQ8_0, GgmlType::kQ4_0},
        std::vector<GgmlType>{GgmlType::kQ4_0, GgmlType::kQ4_K}}) {
    for (const int64_t tokens : {1, 9}) {
      std::vector<Fixture> fixtures;
      for (size_t i = 0; i < types.size(); ++i) {
        fixtures.emplace_back(types[i], 16 * static_cast<int64_t>(i + 1), n, tokens,
                              static_cast<uint32_t>(i));
      }
      std::vector<WeightMatrix> ws;
      for (const Fixture& f : fixtures) {
        ws.push_back(
            WeightMatrix{f.type, f.weights.data(), f.rows, f.n, f.row_bytes, f.packed.data()});
      }
      MatmulScratch scratch(2, n, tokens);
      const std::vector<float>& x = fixtures[0].x;
      std::vector<std::vector<float>> together(ws.size());
      std::vector<const WeightMatrix*> w_ptrs;
      std::vector<float*> y_ptrs;
      for (size_t i = 0; i < ws.size(); ++i) {
        together[i].assign(static_cast<size_t>(tokens * ws[i].n_rows), -1.0f);
        w_ptrs.push_back(&ws[i]);
        y_ptrs.push_back(together[i].data());
      }
      matmul_shared_input(w_ptrs, x.data(), tokens, y_ptrs, pool, scratch);
      for (size_t i = 0; i < ws.size(); ++i) {
        std::vector<float> alone(together[i].size());
        matmul(ws[i], x.data(), tokens, alone.data(), pool, scratch);
        for (size_t j = 0; j < alone.size(); ++j) {
          ASSERT_TRUE(same_bits(alone[j], together[i][j]))
              << "matrix " << i << " (" << ggml_type_name(ws[i].type) << ") tokens " << tokens
              << " at " << j;
        }
      }
    }
  }
}

}  // namespace
}  // namespace capibara::kernels
