// NEON kernels of the float packed layouts (packed_float.cpp). A 128-bit register holds one
// column of four of the group's sixteen rows (F32 as stored, F16 widened by `fcvtl`) or two
// columns (BF16, split by a mask and a shift), so the group is four row quarters. A pass covers kQ
// quarters for kT tokens with kQ x kT <= 4, four chains each: at most 16 accumulators of the 32
// registers, all sixteen rows at once when decoding (each block streamed once), one quarter per
// pass for four tokens in prefill (each converted weight vector used four times). Each activation
// vector serves four consecutive columns by lane (`fmla` by element), and column c of a block
// belongs to chain c % 4 (BF16: pair p to chain p % 4) because a block's 32 columns are a multiple
// of four. Each (row, token) sums in the reference's four chains and order with fused steps, so
// results match it bit for bit.
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels/arm/packed_neon.hpp"
#include "kernels/packed_formats.hpp"
#include "kernels/token_passes.hpp"

namespace capibara::kernels::neon {
namespace {

constexpr int kTokens = 4;
// Four blocks ahead, as the K-quant NEON kernels (packed_neon.cpp); not tuned on ARM, where
// nothing here runs but qemu.
constexpr size_t kPrefetchBytes = 4 * kHalfBlockBytes;

// Row quarters per pass for kT tokens: kQ x kT sets of four chains stay within 16 registers.
template <int kT>
inline constexpr int kQuartersPerPass = kT == 1 ? 4 : (kT == 2 ? 2 : 1);

// The upper bf16 of each 32-bit lane as f32 (the odd column of a pair), and the lower one.
inline float32x4_t bf16_high(uint32x4_t v) {
  return vreinterpretq_f32_u32(vandq_u32(v, vdupq_n_u32(0xFFFF0000u)));
}
inline float32x4_t bf16_low(uint32x4_t v) { return vreinterpretq_f32_u32(vshlq_n_u32(v, 16)); }

// Rows [4 q0, 4 (q0 + kQ)) of a group times kT tokens.
enum class Weights { kF32, kF16, kBF16 };

template <Weights kWeights, int kT, int kQ>
void pass(int64_t nb, const uint8_t* group, const uint8_t* act, size_t act_stride, int q0, float* y,
          size_t y_stride) {
  constexpr size_t kBlockBytes = kWeights == Weights::kF32 ? kF32BlockBytes : kHalfBlockBytes;
  float32x4_t acc[kT][kQ][4];  // token, quarter, chain
  for (auto& quarters : acc) {
    for (auto& chains : quarters) {
      for (float32x4_t& chain : chains) chain = vdupq_n_f32(0.0f);
    }
  }
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + kBlockBytes * static_cast<size_t>(b);
    if (q0 == 0) {
      // The first pass's reads go to DRAM; the later quarters' passes find the block in L2.
      for (size_t line = 0; line < kBlockBytes; line += 64) {
        __builtin_prefetch(blk + kPrefetchBytes + line);
      }
    }
    if constexpr (kWeights == Weights::kBF16) {
#pragma GCC unroll 4
      for (int g = 0; g < 4; ++g) {  // column pairs 4g..4g + 3: pair 4g + l to chain l
        float32x4_t a_odd[kT];
        float32x4_t a_even[kT];
        for (int t = 0; t < kT; ++t) {
          const uint32x4_t a = vreinterpretq_u32_u8(vld1q_u8(
              act + static_cast<size_t>(t) * act_stride + 4 * static_cast<size_t>(16 * b + 4 * g)));
          a_odd[t] = bf16_high(a);
          a_even[t] = bf16_low(a);
        }
#pragma GCC unroll 4
        for (int l = 0; l < 4; ++l) {
          for (int i = 0; i < kQ; ++i) {
            const uint32x4_t v =
                vreinterpretq_u32_u8(vld1q_u8(blk + 64 * (4 * g + l) + 16 * (q0 + i)));
            const float32x4_t w_odd = bf16_high(v);
            const float32x4_t w_even = bf16_low(v);
            for (int t = 0; t < kT; ++t) {
              // The odd column, then the even one, as the reference adds them.
              float32x4_t& chain = acc[t][i][l];
              chain = vfmaq_laneq_f32(chain, w_odd, a_odd[t], l);
              chain = vfmaq_laneq_f32(chain, w_even, a_even[t], l);
            }
          }
        }
      }
    } else {
#pragma GCC unroll 8
      for (int g = 0; g < 8; ++g) {  // columns 4g..4g + 3: column 4g + l to chain l
        float32x4_t a[kT];
        for (int t = 0; t < kT; ++t) {
          a[t] = vreinterpretq_f32_u8(vld1q_u8(act + static_cast<size_t>(t) * act_stride +
                                               4 * static_cast<size_t>(32 * b + 4 * g)));
        }
#pragma GCC unroll 4
        for (int l = 0; l < 4; ++l) {
          for (int i = 0; i < kQ; ++i) {
            float32x4_t w;
            if constexpr (kWeights == Weights::kF32) {
              w = vreinterpretq_f32_u8(vld1q_u8(blk + 64 * (4 * g + l) + 16 * (q0 + i)));
            } else {
              w = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(blk + 32 * (4 * g + l) + 8 * (q0 + i))));
            }
            for (int t = 0; t < kT; ++t) acc[t][i][l] = vfmaq_laneq_f32(acc[t][i][l], w, a[t], l);
          }
        }
      }
    }
  }
  for (int t = 0; t < kT; ++t) {
    for (int i = 0; i < kQ; ++i) {
      const float32x4_t low = vaddq_f32(acc[t][i][0], acc[t][i][1]);
      const float32x4_t high = vaddq_f32(acc[t][i][2], acc[t][i][3]);
      vst1q_f32(y + static_cast<size_t>(t) * y_stride + 4 * static_cast<size_t>(q0 + i),
                vaddq_f32(low, high));
    }
  }
}

template <Weights kWeights>
void gemm(int64_t n, const uint8_t* group, const void* act, size_t act_stride, int64_t n_tokens,
          float* y, size_t y_stride) {
  for_each_pass<kTokens>(
      n_tokens, act, act_stride, y, y_stride, [&]<int kT>(const uint8_t* a, float* out) {
        constexpr int kQ = kQuartersPerPass<kT>;
        for (int q0 = 0; q0 < kPackRows / 4; q0 += kQ) {
          pass<kWeights, kT, kQ>(n / 32, group, a, act_stride, q0, out, y_stride);
        }
      });
}

}  // namespace

void packed_gemm_f32(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                     int64_t n_tokens, float* y, size_t y_stride) {
  gemm<Weights::kF32>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_f16(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                     int64_t n_tokens, float* y, size_t y_stride) {
  gemm<Weights::kF16>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_bf16(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm<Weights::kBF16>(n, group, act, act_stride, n_tokens, y, y_stride);
}

}  // namespace capibara::kernels::neon
