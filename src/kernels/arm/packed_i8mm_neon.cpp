// NEON kernels of the packed Q4_0 and Q8_0 layouts (packed_weights.hpp) for prefill, with the
// int8 matrix multiply extension (i8mm, `smmla`): one instruction multiplies a 2 x 8 block of
// weights (two rows, eight bytes each) by a 2 x 8 block of activations (two tokens), giving the
// 2 x 2 tile of 8-byte dots, twice the multiply-adds of an `sdot` (packed_neon.cpp). Compiled
// with -march=armv8.2-a+dotprod+fp16+i8mm: only the NEON table's dispatching functions, after
// `cpu_has_neon_i8mm`, and the tests may call them.
//
// Used for two or more tokens only: a tile needs two tokens, and decoding is memory-bound, where
// twice the multiply-adds gain nothing; decoding keeps the `sdot` kernels and their prefetch.
// Untimed: there is no ARM hardware here, only qemu, which checks results but not speed.
//
// Two consecutive chunks k, k + 1 of a row quad hold bytes [4k, 4k + 8) of its four rows, four
// bytes each; zipping their 32-bit lanes gives [row 0 | row 1] and [row 2 | row 3], eight bytes
// each, the weight operands of `smmla`. Its activation operand is [token t | token t + 1], eight
// bytes of each token's quants. Q4_0's nibbles (0..15) are valid signed bytes and its offset 8
// comes out with the activation sums; Q8_0's stored q + 128 XOR 0x80 is q again, as in the
// `sdot` kernels.
//
// Arithmetic per (row, token) is that of the scalar references: exact integer dots (the tiles
// are taken apart into a row quad per token with `uzp`), the scale product as its own float
// multiply, then one `fmla` per block, so the results match them bit for bit.
#include <arm_neon.h>

#include <cstddef>

#include "kernels/arm/packed_neon.hpp"
#include "kernels/packed_weights.hpp"
#include "kernels/token_passes.hpp"

namespace capibara::kernels::neon {
namespace {

constexpr int kTokens = 4;

// Row quads per pass for kT tokens: the float accumulators (kQ x kT rounded up to a pair) stay
// within eight registers, beside the unpacked weights and the activations of the pass.
template <int kT>
inline constexpr int kQuadsPerPass = kT <= 2 ? 4 : 2;

// Four fp16 values (the scales of one row quad) as f32, exactly.
inline float32x4_t load_halves(const uint8_t* p) {
  return vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(p)));
}

inline int8x16_t zip_rows_lo(uint8x16_t a, uint8x16_t b) {  // [row 0 | row 1], 8 bytes each
  return vreinterpretq_s8_u32(vzip1q_u32(vreinterpretq_u32_u8(a), vreinterpretq_u32_u8(b)));
}

inline int8x16_t zip_rows_hi(uint8x16_t a, uint8x16_t b) {  // [row 2 | row 3]
  return vreinterpretq_s8_u32(vzip2q_u32(vreinterpretq_u32_u8(a), vreinterpretq_u32_u8(b)));
}

// One block of a row quad as `smmla` weight operands: w01[m] holds rows 0 and 1, w23[m] rows 2
// and 3, eight weights each, which pair with activation bytes [8m, 8m + 8). Q4_0: chunk pairs
// 0-1 and 2-3, low nibbles (weights 0..15) then high ones (16..31); Q8_0: chunk pairs 0-1 to
// 6-7, the offset 128 flipped out.
template <bool kNibbles>
struct QuadTiles {
  int8x16_t w01[4];
  int8x16_t w23[4];

  explicit QuadTiles(const uint8_t* quants) {  // the block's quants + 16 x quad
    if constexpr (kNibbles) {
      for (int m = 0; m < 2; ++m) {
        const uint8x16_t c0 = vld1q_u8(quants + 64 * (2 * m));
        const uint8x16_t c1 = vld1q_u8(quants + 64 * (2 * m + 1));
        const uint8x16_t r01 = vreinterpretq_u8_s8(zip_rows_lo(c0, c1));
        const uint8x16_t r23 = vreinterpretq_u8_s8(zip_rows_hi(c0, c1));
        w01[m] = vreinterpretq_s8_u8(vandq_u8(r01, vdupq_n_u8(0x0F)));
        w23[m] = vreinterpretq_s8_u8(vandq_u8(r23, vdupq_n_u8(0x0F)));
        w01[2 + m] = vreinterpretq_s8_u8(vshrq_n_u8(r01, 4));
        w23[2 + m] = vreinterpretq_s8_u8(vshrq_n_u8(r23, 4));
      }
    } else {
      const uint8x16_t flip = vdupq_n_u8(0x80);
      for (int m = 0; m < 4; ++m) {
        const uint8x16_t c0 = veorq_u8(vld1q_u8(quants + 64 * (2 * m)), flip);
        const uint8x16_t c1 = veorq_u8(vld1q_u8(quants + 64 * (2 * m + 1)), flip);
        w01[m] = zip_rows_lo(c0, c1);
        w23[m] = zip_rows_hi(c0, c1);
      }
    }
  }
};

// The activations of tokens a, b for one block as `smmla` operands: pair[m] is [a | b], bytes
// [8m, 8m + 8) of each, and `offset` the offset's share of the dots, laid out as a tile
// ([a, b, a, b]).
template <bool kNibbles>
struct TokenPair {
  int8x16_t pair[4];
  int32x4_t offset;

  void load(const BlockQ8Sum& a, const BlockQ8Sum& b) {
    for (int h = 0; h < 2; ++h) {
      const int64x2_t qa = vreinterpretq_s64_s8(vld1q_s8(a.qs + 16 * h));
      const int64x2_t qb = vreinterpretq_s64_s8(vld1q_s8(b.qs + 16 * h));
      pair[2 * h] = vreinterpretq_s8_s64(vzip1q_s64(qa, qb));
      pair[2 * h + 1] = vreinterpretq_s8_s64(vzip2q_s64(qa, qb));
    }
    if constexpr (kNibbles) {
      const int32x2_t sums = vset_lane_s32(b.sum, vdup_n_s32(a.sum), 1);
      offset = vmulq_n_s32(vcombine_s32(sums, sums), -8);
    } else {
      offset = vdupq_n_s32(0);
    }
  }
};

// Rows [4 q0, 4 (q0 + kQ)) of a group times kT tokens, in pairs; an odd last token is paired
// with itself and its copy's results are dropped.
template <bool kNibbles, int kT, int kQ>
void pass(int64_t nb, const uint8_t* group, const uint8_t* act, size_t act_stride, int q0, float* y,
          size_t y_stride) {
  using Pairs = PairedBlocks<kNibbles ? 256 : 512>;
  constexpr int kPairs = (kT + 1) / 2;
  float32x4_t acc[2 * kPairs * kQ];  // token t, quad i at kQ t + i
  for (int j = 0; j < 2 * kPairs * kQ; ++j) acc[j] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* quants = group + Pairs::quants(b);
    const uint8_t* scales = group + Pairs::scales(b);
    const BlockQ8Sum* a[2 * kPairs];
    for (int t = 0; t < 2 * kPairs; ++t) {
      const int token = t < kT ? t : kT - 1;
      a[t] = reinterpret_cast<const BlockQ8Sum*>(act + static_cast<size_t>(token) * act_stride) + b;
    }
    TokenPair<kNibbles> tp[kPairs];
    for (int p = 0; p < kPairs; ++p) tp[p].load(*a[2 * p], *a[2 * p + 1]);
#pragma GCC unroll 4
    for (int i = 0; i < kQ; ++i) {
      const int q = q0 + i;
      const QuadTiles<kNibbles> w(quants + 16 * q);
      const float32x4_t dw = load_halves(scales + 8 * q);
#pragma GCC unroll 2
      for (int p = 0; p < kPairs; ++p) {
        int32x4_t s01 = tp[p].offset;  // [r0 a, r0 b, r1 a, r1 b]
        int32x4_t s23 = tp[p].offset;  // [r2 a, r2 b, r3 a, r3 b]
        for (int m = 0; m < 4; ++m) {
          s01 = vmmlaq_s32(s01, w.w01[m], tp[p].pair[m]);
          s23 = vmmlaq_s32(s23, w.w23[m], tp[p].pair[m]);
        }
        const int32x4_t dots[2] = {vuzp1q_s32(s01, s23), vuzp2q_s32(s01, s23)};  // rows 0..3
        for (int h = 0; h < 2; ++h) {
          const int t = 2 * p + h;
          const float32x4_t d = vmulq_f32(dw, vdupq_n_f32(a[t]->d));
          acc[kQ * t + i] = vfmaq_f32(acc[kQ * t + i], vcvtq_f32_s32(dots[h]), d);
        }
      }
    }
  }
  for (int t = 0; t < kT; ++t) {
    for (int i = 0; i < kQ; ++i) {
      vst1q_f32(y + static_cast<size_t>(t) * y_stride + 4 * static_cast<size_t>(q0 + i),
                acc[kQ * t + i]);
    }
  }
}

template <bool kNibbles>
void gemm(int64_t n, const uint8_t* group, const void* act, size_t act_stride, int64_t n_tokens,
          float* y, size_t y_stride) {
  const int64_t nb = n / 32;
  for_each_pass<kTokens>(n_tokens, act, act_stride, y, y_stride,
                         [&]<int kT>(const uint8_t* a, float* out) {
                           constexpr int kQ = kQuadsPerPass<kT>;
                           for (int q0 = 0; q0 < kPackRows / 4; q0 += kQ) {
                             pass<kNibbles, kT, kQ>(nb, group, a, act_stride, q0, out, y_stride);
                           }
                         });
}

}  // namespace

void packed_gemm_q4_0_i8mm(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                           int64_t n_tokens, float* y, size_t y_stride) {
  gemm<true>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q8_0_i8mm(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                           int64_t n_tokens, float* y, size_t y_stride) {
  gemm<false>(n, group, act, act_stride, n_tokens, y, y_stride);
}

}  // namespace capibara::kernels::neon
