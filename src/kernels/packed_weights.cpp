// The packed layout (packing, sizes, activations) and the scalar reference of its kernels.
#include "kernels/packed_weights.hpp"

#include <cassert>
#include <cmath>
#include <cstring>

#include "core/half.hpp"
#include "core/quant_blocks.hpp"
#include "kernels/packed_formats.hpp"
#include "kernels/quant_dot.hpp"
#include "kernels/quant_dot_scalar.hpp"

namespace capibara::kernels {
namespace {

constexpr int64_t kBlock = 32;

size_t round_up_64(size_t n) { return (n + 63) / 64 * 64; }

// The unsigned offset of the stored quants, taken out with the activation sums.
int32_t quant_offset(GgmlType type) { return type == GgmlType::kQ4_0 ? 8 : 128; }

using PairsQ4_0 = PairedBlocks<256>;
using PairsQ8_0 = PairedBlocks<512>;

void pack_q4_0_group(const uint8_t* src, size_t row_bytes, int64_t nb, uint8_t* dst) {
  for (int r = 0; r < kPackRows; ++r) {
    const auto* row = reinterpret_cast<const BlockQ4_0*>(src + static_cast<size_t>(r) * row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* quants = dst + PairsQ4_0::quants(b);
      for (int k = 0; k < 4; ++k) std::memcpy(quants + 64 * k + 4 * r, row[b].qs + 4 * k, 4);
      std::memcpy(dst + PairsQ4_0::scales(b) + 2 * r, &row[b].d, 2);
    }
  }
}

void pack_q8_0_group(const uint8_t* src, size_t row_bytes, int64_t nb, uint8_t* dst) {
  for (int r = 0; r < kPackRows; ++r) {
    const auto* row = reinterpret_cast<const BlockQ8_0*>(src + static_cast<size_t>(r) * row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* quants = dst + PairsQ8_0::quants(b);
      for (int k = 0; k < 8; ++k) {
        for (int i = 0; i < 4; ++i) {
          quants[64 * k + 4 * r + i] = static_cast<uint8_t>(row[b].qs[4 * k + i] + 128);
        }
      }
      std::memcpy(dst + PairsQ8_0::scales(b) + 2 * r, &row[b].d, 2);
    }
  }
}

// One group times one token, in the order every SIMD kernel must follow.
template <int kChunks, bool kNibbles>
void packed_gemm_ref(int64_t n, const uint8_t* group, const BlockQ8Sum* a, int32_t offset,
                     float* y) {
  using Pairs = PairedBlocks<64 * kChunks>;
  const int64_t nb = n / kBlock;
  for (int r = 0; r < kPackRows; ++r) {
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* quants = group + Pairs::quants(b);
      int32_t dot = -offset * a[b].sum;
      for (int k = 0; k < kChunks; ++k) {
        for (int i = 0; i < 4; ++i) {
          const uint8_t byte = quants[64 * k + 4 * r + i];
          if constexpr (kNibbles) {
            dot += (byte & 0x0F) * a[b].qs[4 * k + i] + (byte >> 4) * a[b].qs[16 + 4 * k + i];
          } else {
            dot += byte * a[b].qs[4 * k + i];
          }
        }
      }
      uint16_t d;
      std::memcpy(&d, group + Pairs::scales(b) + 2 * r, 2);
      acc = std::fma(static_cast<float>(dot), fp16_to_f32(d) * a[b].d, acc);
    }
    y[r] = acc;
  }
}

}  // namespace

const PackedFormat* packed_format(GgmlType type) {
  static constexpr PackedFormat kQ4_0{32, 16 * sizeof(BlockQ4_0), PackedActivations::kQ8Sum,
                                      pack_q4_0_group, scalar::packed_gemm_q4_0};
  static constexpr PackedFormat kQ8_0{32, 16 * sizeof(BlockQ8_0), PackedActivations::kQ8Sum,
                                      pack_q8_0_group, scalar::packed_gemm_q8_0};
  switch (type) {
    case GgmlType::kQ4_0:
      return &kQ4_0;
    case GgmlType::kQ8_0:
      return &kQ8_0;
    case GgmlType::kQ4_K:
      return &packed_format_q4_k();
    case GgmlType::kQ5_K:
      return &packed_format_q5_k();
    case GgmlType::kQ6_K:
      return &packed_format_q6_k();
    case GgmlType::kF32:
      return &packed_format_f32();
    case GgmlType::kF16:
      return &packed_format_f16();
    case GgmlType::kBF16:
      return &packed_format_bf16();
    default:
      return nullptr;
  }
}

bool can_pack(GgmlType type, int64_t n_rows, int64_t row_length) {
  const PackedFormat* f = packed_format(type);
  return f != nullptr && n_rows > 0 && n_rows % kPackRows == 0 && row_length > 0 &&
         row_length % f->block_weights == 0;
}

size_t packed_activation_row_bytes(GgmlType type, int64_t n) {
  const PackedFormat* f = packed_format(type);
  assert(f != nullptr);
  switch (f->activations) {
    case PackedActivations::kQ8_K:
      return activation_row_bytes(type, n);
    case PackedActivations::kF32:
    case PackedActivations::kF16Values:
      return static_cast<size_t>(n) * sizeof(float);
    case PackedActivations::kBF16:
      return static_cast<size_t>(n) * sizeof(uint16_t);
    case PackedActivations::kQ8Sum:
      break;
  }
  return static_cast<size_t>(n / kBlock) * sizeof(BlockQ8Sum);
}

size_t widened_q8_sum_bytes(int64_t n) {
  return static_cast<size_t>(n / kBlock) * sizeof(BlockQ8Wide);
}

size_t packed_group_bytes(GgmlType type, int64_t row_length) {
  const PackedFormat* f = packed_format(type);
  assert(f != nullptr);
  return round_up_64(static_cast<size_t>(row_length / f->block_weights) * f->block_bytes);
}

size_t packed_matrix_bytes(GgmlType type, int64_t n_rows, int64_t row_length) {
  return static_cast<size_t>(n_rows / kPackRows) * packed_group_bytes(type, row_length);
}

void pack_groups(GgmlType type, const uint8_t* src, size_t row_bytes, int64_t row_length,
                 int64_t first_group, int64_t last_group, uint8_t* dst) {
  const PackedFormat* f = packed_format(type);
  assert(f != nullptr && row_length % f->block_weights == 0);
  const int64_t nb = row_length / f->block_weights;
  const size_t group_bytes = packed_group_bytes(type, row_length);
  for (int64_t g = first_group; g < last_group; ++g) {
    uint8_t* out = dst + static_cast<size_t>(g) * group_bytes;
    std::memset(out, 0, group_bytes);  // the padding, so packed matrices compare equal
    f->pack_group(src + static_cast<size_t>(g * kPackRows) * row_bytes, row_bytes, nb, out);
  }
}

void quantize_q8_sum(QuantizeQ8_0Fn quantize_q8_0, const float* x, BlockQ8Sum* dst, int64_t n) {
  assert(n % kBlock == 0);
  for (int64_t b = 0; b < n / kBlock; ++b) {
    BlockQ8_0 block;
    quantize_q8_0(x + b * kBlock, &block, kBlock);
    int32_t sum = 0;
    for (const int8_t q : block.qs) sum += q;
    dst[b].d = fp16_to_f32(block.d);
    dst[b].sum = sum;
    std::memcpy(dst[b].qs, block.qs, sizeof(block.qs));
  }
}

void round_through_f16(QuantizeF16Fn quantize_f16, Fp16ToF32Fn fp16_to_f32, const float* x,
                       uint16_t* temp, float* dst, int64_t n) {
  quantize_f16(x, temp, n);
  fp16_to_f32(temp, dst, n);
}

namespace scalar {

void quantize_q8_sum(const float* x, void* dst, int64_t n) {
  kernels::quantize_q8_sum(quantize_q8_0, x, static_cast<BlockQ8Sum*>(dst), n);
}

void widen_q8_sum(const void* blocks, void* wide, int64_t n) {
  assert(n % kBlock == 0);
  constexpr int kQuadOrder[4] = {0, 2, 1, 3};
  const auto* src = static_cast<const BlockQ8Sum*>(blocks);
  auto* dst = static_cast<BlockQ8Wide*>(wide);
  for (int64_t b = 0; b < n / kBlock; ++b) {
    dst[b].d = src[b].d;
    dst[b].offset = -128 * src[b].sum;
    for (int i = 0; i < kBlock; i += 4) {
      for (int j = 0; j < 4; ++j) dst[b].qs[i + j] = src[b].qs[i + kQuadOrder[j]];
    }
  }
}

void packed_gemm_q4_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  for (int64_t t = 0; t < n_tokens; ++t) {
    const auto* a = reinterpret_cast<const BlockQ8Sum*>(static_cast<const uint8_t*>(act) +
                                                        static_cast<size_t>(t) * act_stride);
    packed_gemm_ref<4, true>(n, group, a, quant_offset(GgmlType::kQ4_0),
                             y + static_cast<size_t>(t) * y_stride);
  }
}

void packed_gemm_q8_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  for (int64_t t = 0; t < n_tokens; ++t) {
    const auto* a = reinterpret_cast<const BlockQ8Sum*>(static_cast<const uint8_t*>(act) +
                                                        static_cast<size_t>(t) * act_stride);
    packed_gemm_ref<8, false>(n, group, a, quant_offset(GgmlType::kQ8_0),
                              y + static_cast<size_t>(t) * y_stride);
  }
}

}  // namespace scalar

}  // namespace capibara::kernels
