// NEON kernels of the packed layouts (packed_weights.hpp, packed_q4_k.cpp, packed_q5_k.cpp,
// packed_q6_k.cpp), with
// the ARMv8.2 dot product: a 128-bit register holds the same four weight bytes of four rows, so
// a 64-byte chunk of a group is four registers (rows 0-3, 4-7, 8-11, 12-15), and one `sdot` by
// element (`vdotq_laneq_s32`, four activation bytes picked from a loaded 16-byte vector)
// advances four rows' dots. `sdot` is signed x signed: Q4_0's nibbles (0..15) are valid signed
// bytes (the offset 8 comes out with the activation sums, as in the reference); Q8_0's stored
// q + 128 XOR 0x80 is q again, whose plain dot equals the reference's sum (q + 128) a - 128 sum
// exactly.
//
// A pass covers `kQ` row quads and `kT` tokens with kQ x kT <= 4 float accumulators: all
// sixteen rows for one token (decoding streams each block once, with prefetching), fewer rows
// for more tokens (prefill: a weight block is unpacked once per kT tokens, and the unpacked
// weights, activations and accumulators fit the 32 vector registers; with kQ x kT = 8, GCC 12
// spilled accumulators in the inner loop).
//
// Arithmetic per (row, token) is that of the scalar references: exact integer dots, the scale
// product as its own float multiply, then one `fmla` (fused, as std::fma) per block (two for
// Q4_K, in the reference's order), so the results match them bit for bit whatever the number
// of tokens. fp16 scales are converted by the hardware (`fcvtl`, exact). The only header with
// inline functions it includes (token_passes.hpp) gives them internal linkage.
#include "kernels/arm/packed_neon.hpp"

#include <arm_neon.h>

#include <cstddef>
#include <cstring>

#include "core/quant_blocks.hpp"
#include "kernels/packed_formats.hpp"
#include "kernels/packed_weights.hpp"
#include "kernels/token_passes.hpp"

namespace capibara::kernels::neon {
namespace {

constexpr int kTokens = 4;
// How far ahead decoding prefetches the 32-weight types: the x86 AVX2 kernels' distance before
// the pair layout (they measured 3 KiB best since); not tuned on ARM, where nothing here runs
// but qemu.
constexpr size_t kPrefetchBytes = 4096;

// Q4_K's layout: packed_formats.hpp.

// Row quads per pass for kT tokens: kQ x kT accumulators stay within four registers.
template <int kT>
inline constexpr int kQuadsPerPass = kT == 1 ? 4 : (kT == 2 ? 2 : 1);

// Four fp16 values (the scales of one row quad) as f32, exactly.
inline float32x4_t load_halves(const uint8_t* p) {
  return vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(p)));
}

// Four u8 (one quad's 6-bit Q4_K scales) as int32. Reads 8 bytes: still inside the block.
inline int32x4_t load_u8x4(const uint8_t* p) {
  return vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(vmovl_u8(vld1_u8(p)))));
}

// acc + the dots of w0..w3 (four rows x four bytes each) with lanes 0..3 of `a` (four bytes each).
inline int32x4_t dot_lanes(int32x4_t acc, int8x16_t w0, int8x16_t w1, int8x16_t w2, int8x16_t w3,
                           int8x16_t a) {
  acc = vdotq_laneq_s32(acc, w0, a, 0);
  acc = vdotq_laneq_s32(acc, w1, a, 1);
  acc = vdotq_laneq_s32(acc, w2, a, 2);
  acc = vdotq_laneq_s32(acc, w3, a, 3);
  return acc;
}

// One block of a row quad of a 32-weight type as eight signed registers: w[k] pairs with
// activation bytes [4k, 4k + 4). Q4_0: its four chunks' low nibbles (weights 0..15), then the
// high ones (16..31); Q8_0: its eight chunks with the offset 128 flipped out.
template <bool kNibbles>
struct Quad {
  int8x16_t w[8];

  explicit Quad(const uint8_t* quants) {  // the block's quants + 16 x quad
    if constexpr (kNibbles) {
      for (int k = 0; k < 4; ++k) {
        const uint8x16_t v = vld1q_u8(quants + 64 * k);
        w[k] = vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F)));
        w[4 + k] = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
      }
    } else {
      for (int k = 0; k < 8; ++k) {
        w[k] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(quants + 64 * k), vdupq_n_u8(0x80)));
      }
    }
  }

  // The exact integer dots of the four rows with one token's block, offset removed.
  int32x4_t dot(const BlockQ8Sum& a) const {
    const int8x16_t a0 = vld1q_s8(a.qs);
    const int8x16_t a1 = vld1q_s8(a.qs + 16);
    // Two independent chains halve the latency of the eight dependent steps.
    const int32x4_t s0 =
        dot_lanes(vdupq_n_s32(kNibbles ? -8 * a.sum : 0), w[0], w[1], w[2], w[3], a0);
    const int32x4_t s1 = dot_lanes(vdupq_n_s32(0), w[4], w[5], w[6], w[7], a1);
    return vaddq_s32(s0, s1);
  }
};

// Rows [4 q0, 4 (q0 + kQ)) of a group times kT tokens.
template <bool kNibbles, int kT, int kQ>
void pass(int64_t nb, const uint8_t* group, const uint8_t* act, size_t act_stride, int q0, float* y,
          size_t y_stride) {
  using Pairs = PairedBlocks<kNibbles ? 256 : 512>;
  float32x4_t acc[kT * kQ];  // token t, quad i at kQ t + i
  for (int j = 0; j < kT * kQ; ++j) acc[j] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* quants = group + Pairs::quants(b);
    const uint8_t* scales = group + Pairs::scales(b);
    if constexpr (kQ == 4 && kT == 1) {
      // Decoding streams every weight once: ask for the lines kPrefetchBytes ahead, half of the
      // block pair's lines with each of its blocks.
      const uint8_t* ahead = group + Pairs::half(b) + kPrefetchBytes;
      for (size_t line = 0; line < Pairs::kHalfLines; ++line) __builtin_prefetch(ahead + 64 * line);
    }
    const BlockQ8Sum* a[kT];
    for (int t = 0; t < kT; ++t) {
      a[t] = reinterpret_cast<const BlockQ8Sum*>(act + static_cast<size_t>(t) * act_stride) + b;
    }
#pragma GCC unroll 4
    for (int i = 0; i < kQ; ++i) {
      const int q = q0 + i;
      const Quad<kNibbles> w(quants + 16 * q);
      const float32x4_t dw = load_halves(scales + 8 * q);
#pragma GCC unroll 4
      for (int t = 0; t < kT; ++t) {
        const float32x4_t d = vmulq_f32(dw, vdupq_n_f32(a[t]->d));
        acc[kQ * t + i] = vfmaq_f32(acc[kQ * t + i], vcvtq_f32_s32(w.dot(*a[t])), d);
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

// The 32-value sums of sub-blocks 2p and 2p + 1 as one int16 pair per 32-bit lane.
inline int16x8_t pair_sums(const int16_t* bsums, int p) {
  const auto lo = static_cast<uint16_t>(bsums[4 * p] + bsums[4 * p + 1]);
  const auto hi = static_cast<uint16_t>(bsums[4 * p + 2] + bsums[4 * p + 3]);
  return vreinterpretq_s16_u32(vdupq_n_u32(uint32_t{lo} | (uint32_t{hi} << 16)));
}

// The block's raw six-bit scales and mins (packed_q4_k.cpp) into the unpacked layout at `out`
// (kQ4KUnpackedBytes) for all 16 rows: ggml's `get_scale_min_k4` as byte masks and shifts.
inline void unpack_q4_k_scales(const uint8_t* raw, uint8_t* out) {
  const uint8x16_t six = vdupq_n_u8(0x3F);
  const uint8x16_t nibble = vdupq_n_u8(0x0F);
  uint8x16_t mins[8];
  for (int c = 0; c < 4; ++c) {
    const uint8x16_t sc = vld1q_u8(raw + 16 * c);        // scale c (low six bits)
    const uint8x16_t mn = vld1q_u8(raw + 16 * (4 + c));  // min c (low six bits)
    const uint8x16_t hi = vld1q_u8(raw + 16 * (8 + c));  // low nibbles of scale, min 4 + c
    vst1q_u8(out + kQ4KScales + 16 * c, vandq_u8(sc, six));
    vst1q_u8(out + kQ4KScales + 16 * (4 + c),
             vorrq_u8(vandq_u8(hi, nibble), vshlq_n_u8(vshrq_n_u8(sc, 6), 4)));
    mins[c] = vandq_u8(mn, six);
    mins[4 + c] = vorrq_u8(vshrq_n_u8(hi, 4), vshlq_n_u8(vshrq_n_u8(mn, 6), 4));
  }
  for (int p = 0; p < 4; ++p) {  // mins 2p, 2p + 1 side by side per row
    vst1q_u8(out + kQ4KMins + 32 * p, vzip1q_u8(mins[2 * p], mins[2 * p + 1]));
    vst1q_u8(out + kQ4KMins + 32 * p + 16, vzip2q_u8(mins[2 * p], mins[2 * p + 1]));
  }
}

// Q4_K: rows [4 q0, 4 (q0 + kQ)) of a group times kT tokens. Per row quad and sub-block pair p,
// chunks 8p..8p+7 hold sub-block 2p in their low nibbles and 2p + 1 in their high ones; each
// half is unpacked once for the kT tokens. kFive: Q5_K, whose blocks add the fifth bits
// (packed_q5_k.cpp): bit 2p + h of high-bit chunk c belongs to chunk 8p + c's sub-block 2p + h.
// Its quants (0..31) are valid signed bytes too.
template <bool kFive, int kT, int kQ>
void pass_q4_k(int64_t nb, const uint8_t* group, const uint8_t* act, size_t act_stride, int q0,
               float* y, size_t y_stride) {
  using Layout = Q4KBlockLayout<kFive>;
  constexpr size_t kBlockBytes = Layout::kBlockBytes;
  static_assert(kQ4KRawScales == 0 && kQ5KRawScales == 0);
  float32x4_t acc[kT * kQ];  // token t, quad i at kQ t + i
  for (int j = 0; j < kT * kQ; ++j) acc[j] = vdupq_n_f32(0.0f);
  uint8_t sm[kQ4KUnpackedBytes];
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + static_cast<size_t>(b) * kBlockBytes;
    unpack_q4_k_scales(blk, sm);
    if constexpr (kQ == 4 && kT == 1) {
      // Decoding streams the weights once: ask for them a few blocks ahead.
      for (size_t line = 0; line < kBlockBytes; line += 64) {
        __builtin_prefetch(blk + 4 * kBlockBytes + line);
      }
    }
    const BlockQ8_K* a[kT];
    for (int t = 0; t < kT; ++t) {
      a[t] = reinterpret_cast<const BlockQ8_K*>(act + static_cast<size_t>(t) * act_stride) + b;
    }
    for (int i = 0; i < kQ; ++i) {
      const int q = q0 + i;
      int32x4_t total[kT];
      for (int t = 0; t < kT; ++t) total[t] = vdupq_n_s32(0);
      for (int p = 0; p < 4; ++p) {
        for (int h = 0; h < 2; ++h) {  // sub-block 2p + h
          int8x16_t w[8];
          for (int c = 0; c < 8; ++c) {
            const uint8x16_t v = vld1q_u8(blk + Layout::kQuants + 64 * (8 * p + c) + 16 * q);
            uint8x16_t u = h == 0 ? vandq_u8(v, vdupq_n_u8(0x0F)) : vshrq_n_u8(v, 4);
            if constexpr (kFive) {
              // Bit 2p + h of each byte to bit 4 (a negative count shifts right).
              const uint8x16_t bits = vld1q_u8(blk + kQ5KHigh + 64 * c + 16 * q);
              const auto to_bit4 = static_cast<int8_t>(4 - (2 * p + h));
              u = vorrq_u8(u, vandq_u8(vshlq_u8(bits, vdupq_n_s8(to_bit4)), vdupq_n_u8(0x10)));
            }
            w[c] = vreinterpretq_s8_u8(u);
          }
          const int32x4_t sc = load_u8x4(sm + kQ4KScales + 16 * (2 * p + h) + 4 * q);
#pragma GCC unroll 4
          for (int t = 0; t < kT; ++t) {
            const int8_t* qs = a[t]->qs + 64 * p + 32 * h;
            const int32x4_t s0 = dot_lanes(vdupq_n_s32(0), w[0], w[1], w[2], w[3], vld1q_s8(qs));
            const int32x4_t s1 =
                dot_lanes(vdupq_n_s32(0), w[4], w[5], w[6], w[7], vld1q_s8(qs + 16));
            total[t] = vmlaq_s32(total[t], vaddq_s32(s0, s1), sc);
          }
        }
      }
      // Row r's mins of sub-blocks 2p, 2p + 1 side by side, as int16 (four rows per register).
      int16x8_t m16[4];
      for (int p = 0; p < 4; ++p) {
        m16[p] = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(sm + kQ4KMins + 32 * p + 8 * q)));
      }
      const float32x4_t dw = load_halves(blk + Layout::kD + 8 * q);
      const float32x4_t dmin = load_halves(blk + Layout::kDmin + 8 * q);
      for (int t = 0; t < kT; ++t) {
        int32x4_t m01 = vdupq_n_s32(0);  // rows 0, 1: (even, odd) sub-block products
        int32x4_t m23 = vdupq_n_s32(0);  // rows 2, 3
        for (int p = 0; p < 4; ++p) {
          const int16x8_t ps = pair_sums(a[t]->bsums, p);
          m01 = vmlal_s16(m01, vget_low_s16(m16[p]), vget_low_s16(ps));
          m23 = vmlal_high_s16(m23, m16[p], ps);
        }
        const int32x4_t mins = vpaddq_s32(m01, m23);
        const float32x4_t da = vdupq_n_f32(a[t]->d);
        acc[kQ * t + i] = vfmaq_f32(acc[kQ * t + i], vcvtq_f32_s32(total[t]), vmulq_f32(dw, da));
        acc[kQ * t + i] =
            vfmaq_f32(acc[kQ * t + i], vcvtq_f32_s32(vnegq_s32(mins)), vmulq_f32(dmin, da));
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

// Four int8 (one quad's Q6_K scales) as int32. Reads 8 bytes: still inside the block.
inline int32x4_t load_s8x4(const uint8_t* p) {
  return vmovl_s16(vget_low_s16(vmovl_s8(vld1_s8(reinterpret_cast<const int8_t*>(p)))));
}

// Q6_K: rows [4 q0, 4 (q0 + kQ)) of a group times kT tokens. Sub-block j_lo = 8h + 2u + k4 takes
// the low nibbles of ql chunks 16h + 8u + 4k4 + c (c in 0..3) and field u of qh chunks
// 8h + 4k4 + c; sub-block j_hi = j_lo + 4 their high nibbles and field 2 + u (packed_q6_k.cpp).
// Each pair is joined into signed bytes q in [0, 63] once for the kT tokens, and
// total = sum_j sc_j (dot_j - 32 bsums[j]), exactly as the reference. The activation rows may be
// any number of bytes apart: their d and sums are read by memcpy.
template <int kT, int kQ>
void pass_q6_k(int64_t nb, const uint8_t* group, const uint8_t* act, size_t act_stride, int q0,
               float* y, size_t y_stride) {
  float32x4_t acc[kT * kQ];  // token t, quad i at kQ t + i
  for (int j = 0; j < kT * kQ; ++j) acc[j] = vdupq_n_f32(0.0f);
  const uint8x16_t nibble = vdupq_n_u8(0x0F);
  const uint8x16_t top = vdupq_n_u8(0x30);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + static_cast<size_t>(b) * kQ6KBlockBytes;
    if constexpr (kQ == 4 && kT == 1) {
      // Decoding streams the weights once: ask for them a few blocks ahead.
      for (size_t line = 0; line < kQ6KBlockBytes; line += 64) {
        __builtin_prefetch(blk + 4 * kQ6KBlockBytes + line);
      }
    }
    const uint8_t* a[kT];
    float da[kT];
    int16_t bsums[kT][16];
    for (int t = 0; t < kT; ++t) {
      a[t] = act + static_cast<size_t>(t) * act_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
      std::memcpy(&da[t], a[t] + offsetof(BlockQ8_K, d), sizeof(float));
      std::memcpy(bsums[t], a[t] + offsetof(BlockQ8_K, bsums), sizeof(bsums[t]));
    }
    for (int i = 0; i < kQ; ++i) {
      const int q = q0 + i;
      int32x4_t total[kT];
      for (int t = 0; t < kT; ++t) total[t] = vdupq_n_s32(0);
      for (int h = 0; h < 2; ++h) {
        for (int u = 0; u < 2; ++u) {
          for (int k4 = 0; k4 < 2; ++k4) {
            int8x16_t lo[4];
            int8x16_t hi[4];
            for (int c = 0; c < 4; ++c) {
              const uint8x16_t v = vld1q_u8(blk + q6_k_ql_chunk(h, u, 4 * k4 + c) + 16 * q);
              const uint8x16_t f = vld1q_u8(blk + q6_k_qh_chunk(h, 4 * k4 + c) + 16 * q);
              // Field u (bits 2u, 2u + 1) and field 2 + u to bits 4-5 (a negative count shifts
              // right).
              const uint8x16_t f_lo = vshlq_u8(f, vdupq_n_s8(static_cast<int8_t>(4 - 2 * u)));
              const uint8x16_t f_hi = vshlq_u8(f, vdupq_n_s8(static_cast<int8_t>(-2 * u)));
              lo[c] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(v, nibble), vandq_u8(f_lo, top)));
              hi[c] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(v, 4), vandq_u8(f_hi, top)));
            }
            const int j_lo = 8 * h + 2 * u + k4;
            const int j_hi = j_lo + 4;
            const int32x4_t sc_lo = load_s8x4(blk + kQ6KScales + 16 * j_lo + 4 * q);
            const int32x4_t sc_hi = load_s8x4(blk + kQ6KScales + 16 * j_hi + 4 * q);
#pragma GCC unroll 4
            for (int t = 0; t < kT; ++t) {
              const auto* qs = reinterpret_cast<const int8_t*>(a[t] + offsetof(BlockQ8_K, qs));
              const int32x4_t d_lo = dot_lanes(vdupq_n_s32(-32 * bsums[t][j_lo]), lo[0], lo[1],
                                               lo[2], lo[3], vld1q_s8(qs + 16 * j_lo));
              const int32x4_t d_hi = dot_lanes(vdupq_n_s32(-32 * bsums[t][j_hi]), hi[0], hi[1],
                                               hi[2], hi[3], vld1q_s8(qs + 16 * j_hi));
              total[t] = vmlaq_s32(vmlaq_s32(total[t], d_lo, sc_lo), d_hi, sc_hi);
            }
          }
        }
      }
      const float32x4_t dw = load_halves(blk + kQ6KD + 8 * q);
      for (int t = 0; t < kT; ++t) {
        acc[kQ * t + i] =
            vfmaq_f32(acc[kQ * t + i], vcvtq_f32_s32(total[t]), vmulq_f32(dw, vdupq_n_f32(da[t])));
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

// All sixteen rows times kT tokens, in passes of kQuadsPerPass<kT> row quads.
template <int kFormat, int kT>
void tokens(int64_t nb, const uint8_t* group, const uint8_t* act, size_t act_stride, float* y,
            size_t y_stride) {
  constexpr int kQ = kQuadsPerPass<kT>;
  for (int q0 = 0; q0 < kPackRows / 4; q0 += kQ) {
    if constexpr (kFormat == 0) {
      pass<true, kT, kQ>(nb, group, act, act_stride, q0, y, y_stride);
    } else if constexpr (kFormat == 1) {
      pass<false, kT, kQ>(nb, group, act, act_stride, q0, y, y_stride);
    } else if constexpr (kFormat == 4) {
      pass_q6_k<kT, kQ>(nb, group, act, act_stride, q0, y, y_stride);
    } else {
      pass_q4_k<kFormat == 3, kT, kQ>(nb, group, act, act_stride, q0, y, y_stride);
    }
  }
}

// kFormat: 0 Q4_0, 1 Q8_0, 2 Q4_K, 3 Q5_K, 4 Q6_K.
template <int kFormat>
void gemm(int64_t n, const uint8_t* group, const void* act, size_t act_stride, int64_t n_tokens,
          float* y, size_t y_stride) {
  const int64_t nb = n / (kFormat >= 2 ? 256 : 32);
  for_each_pass<kTokens>(n_tokens, act, act_stride, y, y_stride,
                         [&]<int kT>(const uint8_t* a, float* out) {
                           tokens<kFormat, kT>(nb, group, a, act_stride, out, y_stride);
                         });
}

}  // namespace

void packed_gemm_q4_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm<0>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q8_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm<1>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q4_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm<2>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q5_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm<3>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q6_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm<4>(n, group, act, act_stride, n_tokens, y, y_stride);
}

}  // namespace capibara::kernels::neon
