// Block layouts and reference dequantizers: sizes against the type table, and hand-built blocks
// whose every weight is known from the format definition (catches layout and bit-order errors).
#include "kernels/dequantize.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <vector>

#include "core/ggml_type.hpp"
#include "core/half.hpp"
#include "core/quant_blocks.hpp"

namespace capibara::kernels {
namespace {

constexpr uint16_t kHalfOne = 0x3C00;       // 1.0
constexpr uint16_t kHalfHalf = 0x3800;      // 0.5
constexpr uint16_t kHalfQuarter = 0x3400;   // 0.25
constexpr uint16_t kHalfMinusOne = 0xBC00;  // -1.0

template <typename Block>
void expect_block_traits(GgmlType type) {
  const GgmlTypeTraits& t = traits_of(type);
  EXPECT_EQ(t.block_bytes, sizeof(Block)) << t.name;
  EXPECT_EQ(t.block_size, Block::kWeights) << t.name;
}

TEST(QuantBlocks, SizesMatchTheTypeTable) {
  expect_block_traits<BlockQ4_0>(GgmlType::kQ4_0);
  expect_block_traits<BlockQ4_1>(GgmlType::kQ4_1);
  expect_block_traits<BlockQ5_0>(GgmlType::kQ5_0);
  expect_block_traits<BlockQ5_1>(GgmlType::kQ5_1);
  expect_block_traits<BlockQ8_0>(GgmlType::kQ8_0);
  expect_block_traits<BlockQ8_1>(GgmlType::kQ8_1);
  expect_block_traits<BlockQ2_K>(GgmlType::kQ2_K);
  expect_block_traits<BlockQ3_K>(GgmlType::kQ3_K);
  expect_block_traits<BlockQ4_K>(GgmlType::kQ4_K);
  expect_block_traits<BlockQ5_K>(GgmlType::kQ5_K);
  expect_block_traits<BlockQ6_K>(GgmlType::kQ6_K);
  expect_block_traits<BlockQ8_K>(GgmlType::kQ8_K);
}

TEST(QuantBlocks, FieldOffsetsFollowGgml) {
  // The fp16 scales of the K-quants sit at the end for Q2_K, Q3_K, Q6_K and at the start for
  // Q4_K, Q5_K: a struct with the fields in another order would still have the right size.
  EXPECT_EQ(offsetof(BlockQ2_K, d), 80u);
  EXPECT_EQ(offsetof(BlockQ3_K, scales), 96u);
  EXPECT_EQ(offsetof(BlockQ3_K, d), 108u);
  EXPECT_EQ(offsetof(BlockQ4_K, scales), 4u);
  EXPECT_EQ(offsetof(BlockQ5_K, qh), 16u);
  EXPECT_EQ(offsetof(BlockQ6_K, scales), 192u);
  EXPECT_EQ(offsetof(BlockQ6_K, d), 208u);
  EXPECT_EQ(offsetof(BlockQ8_K, bsums), 260u);
  EXPECT_EQ(offsetof(BlockQ5_0, qs), 6u);
  EXPECT_EQ(offsetof(BlockQ5_1, qs), 8u);
}

TEST(Dequantize, CanDequantizeAgreesWithTheTypeTable) {
  for (uint32_t id = 0; id < 64; ++id) {
    const auto t = ggml_type_traits(id);
    if (!t) continue;
    EXPECT_EQ(can_dequantize(t->type), t->can_dequantize) << t->name;
  }
}

TEST(Dequantize, PlainFloatTypes) {
  const std::array<uint16_t, 6> f16 = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x3555};
  std::array<float, 6> out{};
  dequantize_row_ref(GgmlType::kF16, f16.data(), out.data(), 6);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -2.0f);
  EXPECT_EQ(out[2], 65504.0f);
  EXPECT_EQ(out[3], 0x1p-24f);
  EXPECT_EQ(out[4], 0.0f);
  EXPECT_TRUE(std::signbit(out[4]));
  EXPECT_EQ(out[5], 0x1.554p-2f);  // 0.333251953125

  const std::array<uint16_t, 3> bf16 = {0x3F80, 0x4049, 0xC2F7};
  std::array<float, 3> outb{};
  dequantize_row_ref(GgmlType::kBF16, bf16.data(), outb.data(), 3);
  EXPECT_EQ(outb[0], 1.0f);
  EXPECT_EQ(outb[1], 3.140625f);
  EXPECT_EQ(outb[2], -123.5f);

  const std::array<float, 4> f32 = {1.5f, -2.25f, 0.0f, 1e30f};
  std::array<float, 4> outf{};
  dequantize_row_ref(GgmlType::kF32, f32.data(), outf.data(), 4);
  EXPECT_EQ(outf, f32);
}

// ---- 32-weight blocks. Weight i < 16 is the low nibble of qs[i], weight i >= 16 the high nibble
// of qs[i - 16]; the fifth bit of weight i is bit i of the little-endian uint32 qh. ----

template <typename Block>
void set_nibble(Block& b, int i, int q) {
  uint8_t& byte = b.qs[i % 16];
  byte = static_cast<uint8_t>(i < 16 ? (byte & 0xF0) | (q & 0xF) : (byte & 0x0F) | (q << 4));
}

template <typename Block>
void set_fifth_bit(Block& b, int i, int q) {
  if (q & 16) b.qh[i / 8] = static_cast<uint8_t>(b.qh[i / 8] | (1 << (i % 8)));
}

// A quant pattern that differs between neighbours, halves and blocks.
int pattern(int i, int levels) { return (i * 7 + i / 5 + 3) % levels; }

TEST(Dequantize, Q4_0HandBuilt) {
  std::array<BlockQ4_0, 2> blocks{};
  blocks[0].d = kHalfHalf;
  blocks[1].d = kHalfMinusOne;
  for (int b = 0; b < 2; ++b) {
    for (int i = 0; i < 32; ++i) set_nibble(blocks[b], i, pattern(32 * b + i, 16));
  }
  std::vector<float> out(64);
  dequantize_row_ref(GgmlType::kQ4_0, blocks.data(), out.data(), 64);
  for (int i = 0; i < 64; ++i) {
    const float d = i < 32 ? 0.5f : -1.0f;
    EXPECT_EQ(out[i], static_cast<float>(pattern(i, 16) - 8) * d) << i;
  }
  // Spot values: weight 0 has q = 3, weight 16 q = (112 + 3 + 3) % 16 = 6.
  EXPECT_EQ(out[0], -2.5f);
  EXPECT_EQ(out[16], -1.0f);
}

TEST(Dequantize, Q4_1HandBuilt) {
  BlockQ4_1 block{};
  block.d = kHalfQuarter;
  block.m = kHalfMinusOne;
  for (int i = 0; i < 32; ++i) set_nibble(block, i, pattern(i, 16));
  std::vector<float> out(32);
  dequantize_row_ref(GgmlType::kQ4_1, &block, out.data(), 32);
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(out[i], static_cast<float>(pattern(i, 16)) * 0.25f - 1.0f) << i;
  }
}

TEST(Dequantize, Q5_0HandBuilt) {
  BlockQ5_0 block{};
  block.d = kHalfHalf;
  for (int i = 0; i < 32; ++i) {
    set_nibble(block, i, pattern(i, 32));
    set_fifth_bit(block, i, pattern(i, 32));
  }
  std::vector<float> out(32);
  dequantize_row_ref(GgmlType::kQ5_0, &block, out.data(), 32);
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(out[i], static_cast<float>(pattern(i, 32) - 16) * 0.5f) << i;
  }
}

TEST(Dequantize, Q5_1HandBuilt) {
  BlockQ5_1 block{};
  block.d = kHalfQuarter;
  block.m = kHalfOne;
  for (int i = 0; i < 32; ++i) {
    set_nibble(block, i, pattern(i, 32));
    set_fifth_bit(block, i, pattern(i, 32));
  }
  std::vector<float> out(32);
  dequantize_row_ref(GgmlType::kQ5_1, &block, out.data(), 32);
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(out[i], static_cast<float>(pattern(i, 32)) * 0.25f + 1.0f) << i;
  }
}

TEST(Dequantize, Q8_0HandBuilt) {
  BlockQ8_0 block{};
  block.d = kHalfQuarter;
  for (int i = 0; i < 32; ++i) block.qs[i] = static_cast<int8_t>(pattern(i, 255) - 127);
  std::vector<float> out(32);
  dequantize_row_ref(GgmlType::kQ8_0, &block, out.data(), 32);
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(out[i], static_cast<float>(pattern(i, 255) - 127) * 0.25f) << i;
  }
}

// ---- K-quants ----

// Q2_K / Q3_K low two bits: weight i lives in byte 32 * (i / 128) + i % 32 at bits
// 2 * ((i % 128) / 32).
void set_2bit(uint8_t* qs, int i, int q) {
  const int byte = 32 * (i / 128) + i % 32;
  const int shift = 2 * ((i % 128) / 32);
  qs[byte] = static_cast<uint8_t>((qs[byte] & ~(3 << shift)) | ((q & 3) << shift));
}

TEST(Dequantize, Q2_KHandBuilt) {
  BlockQ2_K block{};
  block.d = kHalfHalf;
  block.dmin = kHalfQuarter;
  for (int j = 0; j < 16; ++j) {
    block.scales[j] = static_cast<uint8_t>((j % 16) | (((j * 5 + 1) % 16) << 4));
  }
  for (int i = 0; i < 256; ++i) set_2bit(block.qs, i, pattern(i, 4));
  std::vector<float> out(256);
  dequantize_row_ref(GgmlType::kQ2_K, &block, out.data(), 256);
  for (int i = 0; i < 256; ++i) {
    const int j = i / 16;
    const float sc = static_cast<float>(j % 16);
    const float m = static_cast<float>((j * 5 + 1) % 16);
    EXPECT_EQ(out[i], 0.5f * sc * static_cast<float>(pattern(i, 4)) - 0.25f * m) << i;
  }
}

// Q3_K's sixteen 6-bit scales: the low nibble of scale j in byte j (j < 8, low nibble) or byte
// j - 8 (high nibble), the top two bits in bits 2 * (j / 4) of byte 8 + j % 4.
void set_q3_k_scale(uint8_t* scales, int j, int biased) {
  if (j < 8) {
    scales[j] = static_cast<uint8_t>((scales[j] & 0xF0) | (biased & 0xF));
  } else {
    scales[j - 8] = static_cast<uint8_t>((scales[j - 8] & 0x0F) | ((biased & 0xF) << 4));
  }
  scales[8 + j % 4] = static_cast<uint8_t>(scales[8 + j % 4] | ((biased >> 4) << (2 * (j / 4))));
}

TEST(Dequantize, Q3_KHandBuilt) {
  BlockQ3_K block{};
  block.d = kHalfQuarter;
  std::array<int, 16> scale{};  // signed, in [-32, 31]
  for (int j = 0; j < 16; ++j) {
    scale[j] = (j * 13) % 64 - 32;
    set_q3_k_scale(block.scales, j, scale[j] + 32);
  }
  for (int i = 0; i < 256; ++i) {
    const int q = pattern(i, 8);  // 3 bits, biased by 4
    set_2bit(block.qs, i, q & 3);
    if (q & 4) block.hmask[i % 32] = static_cast<uint8_t>(block.hmask[i % 32] | (1 << (i / 32)));
  }
  EXPECT_EQ(q3_k_scale(0, block.scales), 0);
  EXPECT_EQ(q3_k_scale(15, block.scales), 195 % 64);
  std::vector<float> out(256);
  dequantize_row_ref(GgmlType::kQ3_K, &block, out.data(), 256);
  for (int i = 0; i < 256; ++i) {
    const float expected =
        0.25f * static_cast<float>(scale[i / 16]) * static_cast<float>(pattern(i, 8) - 4);
    EXPECT_EQ(out[i], expected) << i;
  }
}

// Q4_K / Q5_K 6-bit scale and min of sub-block j (see get_scale_min_k4).
void set_scale_min_k4(uint8_t* scales, int j, int sc, int m) {
  if (j < 4) {
    scales[j] = static_cast<uint8_t>((scales[j] & 0xC0) | sc);
    scales[j + 4] = static_cast<uint8_t>((scales[j + 4] & 0xC0) | m);
  } else {
    scales[j + 4] = static_cast<uint8_t>((sc & 0xF) | ((m & 0xF) << 4));
    scales[j - 4] = static_cast<uint8_t>(scales[j - 4] | ((sc >> 4) << 6));
    scales[j] = static_cast<uint8_t>(scales[j] | ((m >> 4) << 6));
  }
}

// Q4_K / Q5_K low four bits: weight i is in byte 32 * (i / 64) + i % 32, low nibble when
// (i % 64) < 32.
void set_k4_nibble(uint8_t* qs, int i, int q) {
  uint8_t& byte = qs[32 * (i / 64) + i % 32];
  byte = static_cast<uint8_t>((i % 64) < 32 ? (byte & 0xF0) | (q & 0xF)
                                            : (byte & 0x0F) | ((q & 0xF) << 4));
}

TEST(Dequantize, Q4_KHandBuilt) {
  BlockQ4_K block{};
  block.d = kHalfHalf;
  block.dmin = kHalfQuarter;
  std::array<int, 8> sc{};
  std::array<int, 8> mn{};
  for (int j = 0; j < 8; ++j) {
    sc[j] = (j * 23 + 17) % 64;  // values above 15 exercise the top bits
    mn[j] = (j * 41 + 50) % 64;
  }
  // Set in an order that does not match the packer's, so that it cannot hide overlaps.
  for (int j = 7; j >= 0; --j) set_scale_min_k4(block.scales, j, sc[j], mn[j]);
  for (int j = 0; j < 8; ++j) {
    uint8_t s;
    uint8_t m;
    get_scale_min_k4(j, block.scales, &s, &m);
    EXPECT_EQ(s, sc[j]) << j;
    EXPECT_EQ(m, mn[j]) << j;
  }
  for (int i = 0; i < 256; ++i) set_k4_nibble(block.qs, i, pattern(i, 16));
  std::vector<float> out(256);
  dequantize_row_ref(GgmlType::kQ4_K, &block, out.data(), 256);
  for (int i = 0; i < 256; ++i) {
    const int j = i / 32;
    const float expected = 0.5f * static_cast<float>(sc[j]) * static_cast<float>(pattern(i, 16)) -
                           0.25f * static_cast<float>(mn[j]);
    EXPECT_EQ(out[i], expected) << i;
  }
}

TEST(Dequantize, Q5_KHandBuilt) {
  BlockQ5_K block{};
  block.d = kHalfQuarter;
  block.dmin = kHalfOne;
  std::array<int, 8> sc{};
  std::array<int, 8> mn{};
  for (int j = 0; j < 8; ++j) {
    sc[j] = (j * 29 + 5) % 64;
    mn[j] = (j * 19 + 33) % 64;
    set_scale_min_k4(block.scales, j, sc[j], mn[j]);
  }
  for (int i = 0; i < 256; ++i) {
    const int q = pattern(i, 32);
    set_k4_nibble(block.qs, i, q);
    // The fifth bit of weight i: bit i / 32 of qh[i % 32].
    if (q & 16) block.qh[i % 32] = static_cast<uint8_t>(block.qh[i % 32] | (1 << (i / 32)));
  }
  std::vector<float> out(256);
  dequantize_row_ref(GgmlType::kQ5_K, &block, out.data(), 256);
  for (int i = 0; i < 256; ++i) {
    const int j = i / 32;
    const float expected = 0.25f * static_cast<float>(sc[j]) * static_cast<float>(pattern(i, 32)) -
                           static_cast<float>(mn[j]);
    EXPECT_EQ(out[i], expected) << i;
  }
}

TEST(Dequantize, Q6_KHandBuilt) {
  BlockQ6_K block{};
  block.d = kHalfQuarter;
  for (int j = 0; j < 16; ++j) block.scales[j] = static_cast<int8_t>((j * 37) % 256 - 128);
  for (int i = 0; i < 256; ++i) {
    // Weight i = 128 * h + 32 * s + l: low nibble in ql[64 h + 32 (s % 2) + l] (low half of the
    // byte for s < 2), top two bits at bits 2 s of qh[32 h + l].
    const int q = pattern(i, 64);
    const int h = i / 128;
    const int s = (i % 128) / 32;
    const int l = i % 32;
    uint8_t& lo = block.ql[64 * h + 32 * (s % 2) + l];
    lo = static_cast<uint8_t>(s < 2 ? (lo & 0xF0) | (q & 0xF) : (lo & 0x0F) | ((q & 0xF) << 4));
    block.qh[32 * h + l] = static_cast<uint8_t>(block.qh[32 * h + l] | ((q >> 4) << (2 * s)));
  }
  std::vector<float> out(256);
  dequantize_row_ref(GgmlType::kQ6_K, &block, out.data(), 256);
  for (int i = 0; i < 256; ++i) {
    const float expected =
        0.25f * static_cast<float>(block.scales[i / 16]) * static_cast<float>(pattern(i, 64) - 32);
    EXPECT_EQ(out[i], expected) << i;
  }
}

TEST(Dequantize, Q8_KHandBuilt) {
  std::array<BlockQ8_K, 2> blocks{};
  blocks[0].d = 0.125f;
  blocks[1].d = -3.0f;
  for (int b = 0; b < 2; ++b) {
    for (int i = 0; i < 256; ++i) blocks[b].qs[i] = static_cast<int8_t>(pattern(i + b, 255) - 127);
  }
  std::vector<float> out(512);
  dequantize_row_ref(GgmlType::kQ8_K, blocks.data(), out.data(), 512);
  for (int i = 0; i < 512; ++i) {
    const int b = i / 256;
    const float d = b == 0 ? 0.125f : -3.0f;
    EXPECT_EQ(out[i], d * static_cast<float>(pattern(i % 256 + b, 255) - 127)) << i;
  }
}

// Several blocks in a row: each block reads its own scale (a stride error shows here).
TEST(Dequantize, MultiBlockRowsUseEachBlocksScale) {
  std::array<BlockQ6_K, 3> blocks{};
  for (int b = 0; b < 3; ++b) {
    blocks[b].d = f32_to_fp16(static_cast<float>(b + 1));
    for (int j = 0; j < 16; ++j) blocks[b].scales[j] = 1;
    std::memset(blocks[b].ql, 0x11, sizeof(blocks[b].ql));  // q = 1 everywhere (qh = 0)
  }
  std::vector<float> out(768);
  dequantize_row_ref(GgmlType::kQ6_K, blocks.data(), out.data(), 768);
  for (int i = 0; i < 768; ++i) EXPECT_EQ(out[i], -31.0f * static_cast<float>(i / 256 + 1)) << i;
}

}  // namespace
}  // namespace capibara::kernels
