// NEON quantized-dot kernels: integer dot products of 8-bit activation blocks with quantized
// weights (`vdotq_s32`, the `sdot` instruction: four int8 products summed into each int32 lane),
// half-precision dots through f32, and vector versions of the activation quantizers that write
// the same bytes as the scalar ones.
//
// Compiled with -march=armv8.2-a+dotprod+fp16 and only called through the NEON table after the
// dispatcher has checked the CPU. Everything here has internal linkage or is declared in
// kernels_neon.hpp; no header with inline functions is included (core/half.hpp would leak a
// copy of its functions compiled with these flags into generic code): the hardware converts
// halves instead (`fcvt`, round to nearest even like `f32_to_fp16`).
#include <arm_neon.h>

#include <cstring>
#include <type_traits>

#include "core/quant_blocks.hpp"
#include "kernels/arm/kernels_neon.hpp"

namespace capibara::kernels::neon {
namespace {

inline float half_to_float(uint16_t h) {
  return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}
inline uint16_t float_to_half(float f) {
  return vget_lane_u16(vreinterpret_u16_f16(vcvt_f16_f32(vdupq_n_f32(f))), 0);
}

// Four vectors of four int32 (each in [-128, 127]) to 16 int8 in order.
inline int8x16_t narrow_to_i8(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
  const int16x8_t ab = vcombine_s16(vmovn_s32(a), vmovn_s32(b));
  const int16x8_t cd = vcombine_s16(vmovn_s32(c), vmovn_s32(d));
  return vcombine_s8(vmovn_s16(ab), vmovn_s16(cd));
}

// sum over lanes of x[k] * y[k] for the 32 weights of a block, as four int32 partial sums.
inline int32x4_t dot_32(int8x16_t x0, int8x16_t x1, const int8_t* y) {
  return vdotq_s32(vdotq_s32(vdupq_n_s32(0), x0, vld1q_s8(y)), x1, vld1q_s8(y + 16));
}

// The 16 bytes of nibbles of a 32-weight block: the low nibbles are weights 0..15, the high
// ones 16..31 (Q4_0 / Q4_1 / Q5_0 / Q5_1), both in [0, 15].
struct Nibbles {
  uint8x16_t lo;
  uint8x16_t hi;
};
inline Nibbles unpack_nibbles(const uint8_t* qs) {
  const uint8x16_t packed = vld1q_u8(qs);
  return {vandq_u8(packed, vdupq_n_u8(0x0F)), vshrq_n_u8(packed, 4)};
}

inline int8x16_t as_i8(uint8x16_t v) { return vreinterpretq_s8_u8(v); }

// Lane j of the mask selects bit j % 8 of its byte.
constexpr uint8_t kBitOfLane[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};

// The fifth bits of a Q5_0 / Q5_1 block as byte masks: byte j of `lo` is 0xFF where bit j of the
// little-endian uint32 `qh` is set (weights 0..15), `hi` the same for bits 16..31.
struct FifthBits {
  uint8x16_t lo;
  uint8x16_t hi;
};
inline FifthBits fifth_bits(const uint8_t qh[4], uint8x16_t bit_of_lane) {
  const uint8x16_t lo = vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1]));
  const uint8x16_t hi = vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3]));
  return {vtstq_u8(lo, bit_of_lane), vtstq_u8(hi, bit_of_lane)};
}

}  // namespace

// ---- Activation quantizers (byte-identical to the scalar ones) ----

void quantize_f16(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float16x8_t h = vcvt_high_f16_f32(vcvt_f16_f32(vld1q_f32(x + i)), vld1q_f32(x + i + 4));
    vst1q_u16(y + i, vreinterpretq_u16_f16(h));
  }
  for (; i + 4 <= n; i += 4) vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
  for (; i < n; ++i) y[i] = float_to_half(x[i]);
}

namespace {

// f32 -> bf16 as `f32_to_bf16` does it: round to nearest even, NaN kept quiet.
inline uint16x4_t f32_to_bf16_x4(float32x4_t v) {
  const uint32x4_t bits = vreinterpretq_u32_f32(v);
  const uint32x4_t lsb = vandq_u32(vshrq_n_u32(bits, 16), vdupq_n_u32(1));
  const uint32x4_t rounded = vshrq_n_u32(vaddq_u32(bits, vaddq_u32(vdupq_n_u32(0x7fff), lsb)), 16);
  const uint32x4_t is_nan =
      vcgtq_u32(vandq_u32(bits, vdupq_n_u32(0x7fffffff)), vdupq_n_u32(0x7f800000));
  const uint32x4_t quiet = vorrq_u32(vshrq_n_u32(bits, 16), vdupq_n_u32(64));
  return vmovn_u32(vbslq_u32(is_nan, quiet, rounded));
}

}  // namespace

void quantize_bf16(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    vst1q_u16(y + i,
              vcombine_u16(f32_to_bf16_x4(vld1q_f32(x + i)), f32_to_bf16_x4(vld1q_f32(x + i + 4))));
  }
  for (; i + 4 <= n; i += 4) vst1_u16(y + i, f32_to_bf16_x4(vld1q_f32(x + i)));
  for (; i < n; ++i) y[i] = vget_lane_u16(f32_to_bf16_x4(vdupq_n_f32(x[i])), 0);
}

namespace {

// Q8_0 / Q8_1 quants of one 32-value block: d = amax / 127, q = roundf(x * (1 / d)) (`fcvtas`
// rounds halves away from zero, as `roundf` does). Writes the 32 quants to `qs`, returns d and
// the sum of the quants in `sum`.
inline float quantize_block_32(const float* x, int8_t* qs, int* sum) {
  float32x4_t v[8];
  for (int k = 0; k < 8; ++k) v[k] = vld1q_f32(x + 4 * k);
  float32x4_t m = vabsq_f32(v[0]);
  for (int k = 1; k < 8; ++k) m = vmaxq_f32(m, vabsq_f32(v[k]));
  const float d = vmaxvq_f32(m) / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  int32x4_t q[8];
  for (int k = 0; k < 8; ++k) q[k] = vcvtaq_s32_f32(vmulq_n_f32(v[k], id));
  vst1q_s8(qs, narrow_to_i8(q[0], q[1], q[2], q[3]));
  vst1q_s8(qs + 16, narrow_to_i8(q[4], q[5], q[6], q[7]));
  const int32x4_t s = vaddq_s32(vaddq_s32(vaddq_s32(q[0], q[1]), vaddq_s32(q[2], q[3])),
                                vaddq_s32(vaddq_s32(q[4], q[5]), vaddq_s32(q[6], q[7])));
  *sum = vaddvq_s32(s);
  return d;
}

}  // namespace

void quantize_q8_0(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  const int64_t nb = n / BlockQ8_0::kWeights;
  for (int64_t i = 0; i < nb; ++i, x += BlockQ8_0::kWeights) {
    int sum = 0;
    y[i].d = float_to_half(quantize_block_32(x, y[i].qs, &sum));
  }
}

void quantize_q8_1(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_1*>(dst);
  const int64_t nb = n / BlockQ8_1::kWeights;
  for (int64_t i = 0; i < nb; ++i, x += BlockQ8_1::kWeights) {
    int sum = 0;
    const float d = quantize_block_32(x, y[i].qs, &sum);
    y[i].d = float_to_half(d);
    y[i].s = float_to_half(static_cast<float>(sum) * d);
  }
}

void quantize_q8_k(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_K*>(dst);
  const int64_t nb = n / kQK_K;
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int k = 0; k < kQK_K; k += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + k)));
    const float amax = vmaxvq_f32(m);
    if (amax == 0.0f) {
      std::memset(&y[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    // The scale comes from the first value of largest magnitude, sign included.
    const float32x4_t target = vdupq_n_f32(amax);
    int first = 0;
    for (int k = 0; k < kQK_K; k += 4) {
      const uint32x4_t eq = vceqq_f32(vabsq_f32(vld1q_f32(x + k)), target);
      if (vmaxvq_u32(eq) != 0) {
        uint32_t lanes[4];
        vst1q_u32(lanes, eq);
        first = k;
        while (lanes[first - k] == 0) ++first;
        break;
      }
    }
    const float iscale = -127.0f / x[first];
    const int32x4_t max_q = vdupq_n_s32(127);
    for (int c = 0; c < kQK_K / 16; ++c) {
      int32x4_t q[4];
      for (int k = 0; k < 4; ++k) {
        // `fcvtns` rounds to nearest even, as `nearest_int` does.
        q[k] = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 16 * c + 4 * k), iscale)), max_q);
      }
      vst1q_s8(y[i].qs + 16 * c, narrow_to_i8(q[0], q[1], q[2], q[3]));
      y[i].bsums[c] =
          static_cast<int16_t>(vaddvq_s32(vaddq_s32(vaddq_s32(q[0], q[1]), vaddq_s32(q[2], q[3]))));
    }
    y[i].d = 1 / iscale;
  }
}

// ---- Half-precision dots (products and sums in f32) ----

float vec_dot_f16(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const uint16_t*>(a);
  float32x4_t acc0 = vdupq_n_f32(0.0f);
  float32x4_t acc1 = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float16x8_t hx = vreinterpretq_f16_u16(vld1q_u16(x + i));
    const float16x8_t hy = vreinterpretq_f16_u16(vld1q_u16(y + i));
    acc0 = vfmaq_f32(acc0, vcvt_f32_f16(vget_low_f16(hx)), vcvt_f32_f16(vget_low_f16(hy)));
    acc1 = vfmaq_f32(acc1, vcvt_high_f32_f16(hx), vcvt_high_f32_f16(hy));
  }
  for (; i + 4 <= n; i += 4) {
    acc0 = vfmaq_f32(acc0, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i))),
                     vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(y + i))));
  }
  float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
  for (; i < n; ++i) sum += half_to_float(x[i]) * half_to_float(y[i]);
  return sum;
}

namespace {

inline float32x4_t load_bf16(const uint16_t* p) {
  return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

inline float bf16_scalar(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

}  // namespace

float vec_dot_bf16(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const uint16_t*>(a);
  float32x4_t acc0 = vdupq_n_f32(0.0f);
  float32x4_t acc1 = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    acc0 = vfmaq_f32(acc0, load_bf16(x + i), load_bf16(y + i));
    acc1 = vfmaq_f32(acc1, load_bf16(x + i + 4), load_bf16(y + i + 4));
  }
  for (; i + 4 <= n; i += 4) acc0 = vfmaq_f32(acc0, load_bf16(x + i), load_bf16(y + i));
  float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
  for (; i < n; ++i) sum += bf16_scalar(x[i]) * bf16_scalar(y[i]);
  return sum;
}

// ---- 32-weight blocks x Q8_0 / Q8_1 ----
// Each block's integer dot stays in four int32 lanes, is converted once and scaled into f32
// lanes; two accumulators where blocks are independent, so that two `sdot` chains overlap.

float vec_dot_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / BlockQ8_0::kWeights;
  float32x4_t acc0 = vdupq_n_f32(0.0f);
  float32x4_t acc1 = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const int32x4_t p0 = dot_32(vld1q_s8(x[i].qs), vld1q_s8(x[i].qs + 16), y[i].qs);
    const int32x4_t p1 = dot_32(vld1q_s8(x[i + 1].qs), vld1q_s8(x[i + 1].qs + 16), y[i + 1].qs);
    const float d0 = half_to_float(x[i].d) * half_to_float(y[i].d);
    const float d1 = half_to_float(x[i + 1].d) * half_to_float(y[i + 1].d);
    acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p0), d0);
    acc1 = vfmaq_n_f32(acc1, vcvtq_f32_s32(p1), d1);
  }
  for (; i < nb; ++i) {
    const int32x4_t p = dot_32(vld1q_s8(x[i].qs), vld1q_s8(x[i].qs + 16), y[i].qs);
    const float d = half_to_float(x[i].d) * half_to_float(y[i].d);
    acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p), d);
  }
  return vaddvq_f32(vaddq_f32(acc0, acc1));
}

float vec_dot_q4_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / BlockQ4_0::kWeights;
  const int8x16_t eight = vdupq_n_s8(8);
  float32x4_t acc0 = vdupq_n_f32(0.0f);
  float32x4_t acc1 = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const Nibbles q0 = unpack_nibbles(x[i].qs);
    const Nibbles q1 = unpack_nibbles(x[i + 1].qs);
    const int32x4_t p0 =
        dot_32(vsubq_s8(as_i8(q0.lo), eight), vsubq_s8(as_i8(q0.hi), eight), y[i].qs);
    const int32x4_t p1 =
        dot_32(vsubq_s8(as_i8(q1.lo), eight), vsubq_s8(as_i8(q1.hi), eight), y[i + 1].qs);
    const float d0 = half_to_float(x[i].d) * half_to_float(y[i].d);
    const float d1 = half_to_float(x[i + 1].d) * half_to_float(y[i + 1].d);
    acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p0), d0);
    acc1 = vfmaq_n_f32(acc1, vcvtq_f32_s32(p1), d1);
  }
  for (; i < nb; ++i) {
    const Nibbles q = unpack_nibbles(x[i].qs);
    const int32x4_t p = dot_32(vsubq_s8(as_i8(q.lo), eight), vsubq_s8(as_i8(q.hi), eight), y[i].qs);
    const float d = half_to_float(x[i].d) * half_to_float(y[i].d);
    acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p), d);
  }
  return vaddvq_f32(vaddq_f32(acc0, acc1));
}

float vec_dot_q4_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  const int64_t nb = n / BlockQ4_1::kWeights;
  float32x4_t acc = vdupq_n_f32(0.0f);
  float offsets = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    // The quants are in [0, 15]: as int8 they keep their value.
    const Nibbles q = unpack_nibbles(x[i].qs);
    const int32x4_t p = dot_32(as_i8(q.lo), as_i8(q.hi), y[i].qs);
    const float d = half_to_float(x[i].d) * half_to_float(y[i].d);
    acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), d);
    // The offset term uses the activation block's stored sum `s` (= d * sum(qs), fp16).
    offsets += half_to_float(x[i].m) * half_to_float(y[i].s);
  }
  return vaddvq_f32(acc) + offsets;
}

float vec_dot_q5_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / BlockQ5_0::kWeights;
  const uint8x16_t bit_of_lane = vld1q_u8(kBitOfLane);
  const uint8x16_t high_nibble = vdupq_n_u8(0xF0);
  float32x4_t acc = vdupq_n_f32(0.0f);
  for (int64_t i = 0; i < nb; ++i) {
    const Nibbles q = unpack_nibbles(x[i].qs);
    const FifthBits h = fifth_bits(x[i].qh, bit_of_lane);
    // q - 16 as int8: the nibble when the fifth bit is set, else the nibble with 0xF0 or-ed in.
    const int8x16_t lo = as_i8(vorrq_u8(q.lo, vbicq_u8(high_nibble, h.lo)));
    const int8x16_t hi = as_i8(vorrq_u8(q.hi, vbicq_u8(high_nibble, h.hi)));
    const int32x4_t p = dot_32(lo, hi, y[i].qs);
    const float d = half_to_float(x[i].d) * half_to_float(y[i].d);
    acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), d);
  }
  return vaddvq_f32(acc);
}

float vec_dot_q5_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  const int64_t nb = n / BlockQ5_1::kWeights;
  const uint8x16_t bit_of_lane = vld1q_u8(kBitOfLane);
  const uint8x16_t fifth = vdupq_n_u8(0x10);
  float32x4_t acc = vdupq_n_f32(0.0f);
  float offsets = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    const Nibbles q = unpack_nibbles(x[i].qs);
    const FifthBits h = fifth_bits(x[i].qh, bit_of_lane);
    const int8x16_t lo = as_i8(vorrq_u8(q.lo, vandq_u8(h.lo, fifth)));
    const int8x16_t hi = as_i8(vorrq_u8(q.hi, vandq_u8(h.hi, fifth)));
    const int32x4_t p = dot_32(lo, hi, y[i].qs);
    const float d = half_to_float(x[i].d) * half_to_float(y[i].d);
    acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), d);
    offsets += half_to_float(x[i].m) * half_to_float(y[i].s);
  }
  return vaddvq_f32(acc) + offsets;
}

// ---- K-quants x Q8_K ----

namespace {

// The eight 6-bit scales and mins of a Q4_K / Q5_K block (`get_scale_min_k4` for all j at once):
// bytes 0..7 of `scales` and of `mins`.
inline void unpack_scales_mins_k4(const uint8_t* packed, uint8_t scales[8], uint8_t mins[8]) {
  uint32_t u[3];
  std::memcpy(u, packed, sizeof(u));
  const uint32_t sc[2] = {u[0] & 0x3f3f3f3fu,
                          (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4)};
  const uint32_t mn[2] = {u[1] & 0x3f3f3f3fu,
                          ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4)};
  std::memcpy(scales, sc, 8);
  std::memcpy(mins, mn, 8);
}

// sum_j bsums[j] * mins[j / 2]: the activation sums of the 16 sub-blocks of 16, each pair
// weighted by the min of its 32-weight sub-block.
inline int sum_mins_k4(const uint8_t mins[8], const int16_t* bsums) {
  // Pairwise sums give one sum per 32-weight sub-block (|sum| <= 32 * 127: fits int16).
  const int16x8_t pairs = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
  const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mins)));
  const int32x4_t prod = vmlal_s16(vmull_s16(vget_low_s16(pairs), vget_low_s16(m)),
                                   vget_high_s16(pairs), vget_high_s16(m));
  return vaddvq_s32(prod);
}

// sum_k scales[k] * (q_k . a_k) over the eight 32-weight sub-blocks of a Q4_K / Q5_K block;
// `high` is null for Q4_K, the 32 bytes of fifth bits for Q5_K.
inline int dot_q4_q5_k_block(const uint8_t* qs, const uint8_t* high, const int8_t* q8,
                             const uint8_t scales[8]) {
  const uint8x16_t low_mask = vdupq_n_u8(0x0F);
  const uint8x16_t fifth = vdupq_n_u8(0x10);
  uint8x16_t hbits0 = high != nullptr ? vld1q_u8(high) : vdupq_n_u8(0);
  uint8x16_t hbits1 = high != nullptr ? vld1q_u8(high + 16) : vdupq_n_u8(0);
  int32x4_t sum = vdupq_n_s32(0);
  for (int j = 0; j < 4; ++j, qs += 32, q8 += 64) {
    // 32 bytes: low nibbles are the first 32 weights of this 64, high nibbles the next 32.
    const uint8x16_t b0 = vld1q_u8(qs);
    const uint8x16_t b1 = vld1q_u8(qs + 16);
    uint8x16_t lo0 = vandq_u8(b0, low_mask);
    uint8x16_t lo1 = vandq_u8(b1, low_mask);
    uint8x16_t hi0 = vshrq_n_u8(b0, 4);
    uint8x16_t hi1 = vshrq_n_u8(b1, 4);
    if (high != nullptr) {
      // Bit 2j of each byte belongs to the first 32 weights, bit 2j + 1 to the next 32.
      lo0 = vorrq_u8(lo0, vandq_u8(vshlq_n_u8(hbits0, 4), fifth));
      lo1 = vorrq_u8(lo1, vandq_u8(vshlq_n_u8(hbits1, 4), fifth));
      hi0 = vorrq_u8(hi0, vandq_u8(vshlq_n_u8(hbits0, 3), fifth));
      hi1 = vorrq_u8(hi1, vandq_u8(vshlq_n_u8(hbits1, 3), fifth));
      hbits0 = vshrq_n_u8(hbits0, 2);
      hbits1 = vshrq_n_u8(hbits1, 2);
    }
    // The quants are in [0, 31]: as int8 they keep their value.
    const int32x4_t p_lo = dot_32(as_i8(lo0), as_i8(lo1), q8);
    const int32x4_t p_hi = dot_32(as_i8(hi0), as_i8(hi1), q8 + 32);
    sum = vmlaq_n_s32(sum, p_lo, scales[2 * j]);
    sum = vmlaq_n_s32(sum, p_hi, scales[2 * j + 1]);
  }
  return vaddvq_s32(sum);
}

// Q4_K and Q5_K differ only in the fifth bit (`qh`, Q5_K only).
template <typename Block>
float dot_q4_or_q5_k(int64_t n, const Block* x, const BlockQ8_K* y) {
  const int64_t nb = n / kQK_K;
  float sum = 0.0f;
  float mins_total = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t scales[8];
    uint8_t mins[8];
    unpack_scales_mins_k4(x[i].scales, scales, mins);
    const float d = y[i].d * half_to_float(x[i].d);
    const float dmin = y[i].d * half_to_float(x[i].dmin);
    mins_total += dmin * static_cast<float>(sum_mins_k4(mins, y[i].bsums));
    const uint8_t* high = nullptr;
    if constexpr (std::is_same_v<Block, BlockQ5_K>) high = x[i].qh;
    sum += d * static_cast<float>(dot_q4_q5_k_block(x[i].qs, high, y[i].qs, scales));
  }
  return sum - mins_total;
}

}  // namespace

float vec_dot_q4_k(int64_t n, const void* w, const void* a) {
  return dot_q4_or_q5_k(n, static_cast<const BlockQ4_K*>(w), static_cast<const BlockQ8_K*>(a));
}

float vec_dot_q5_k(int64_t n, const void* w, const void* a) {
  return dot_q4_or_q5_k(n, static_cast<const BlockQ5_K*>(w), static_cast<const BlockQ8_K*>(a));
}

float vec_dot_q6_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const int64_t nb = n / kQK_K;
  const uint8x16_t low_mask = vdupq_n_u8(0x0F);
  const uint8x16_t bits45 = vdupq_n_u8(0x30);
  float sum = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    // The quants are stored biased by 32: sum sc * (q - 32) * a = sum sc * q * a - 32 * sum sc *
    // bsum, and the second term comes from the activations' 16-value sums.
    const int8x16_t sc8 = vld1q_s8(x[i].scales);
    const int16x8_t sc_lo = vmovl_s8(vget_low_s8(sc8));
    const int16x8_t sc_hi = vmovl_s8(vget_high_s8(sc8));
    const int16x8_t bs_lo = vld1q_s16(y[i].bsums);
    const int16x8_t bs_hi = vld1q_s16(y[i].bsums + 8);
    int32x4_t b = vmull_s16(vget_low_s16(sc_lo), vget_low_s16(bs_lo));
    b = vmlal_s16(b, vget_high_s16(sc_lo), vget_high_s16(bs_lo));
    b = vmlal_s16(b, vget_low_s16(sc_hi), vget_low_s16(bs_hi));
    b = vmlal_s16(b, vget_high_s16(sc_hi), vget_high_s16(bs_hi));
    const int bias = vaddvq_s32(b);
    int32x4_t acc = vdupq_n_s32(0);
    for (int c = 0; c < 2; ++c) {
      // 128 weights: ql[l] and ql[l + 32] (l < 32) hold weights l, l + 32 (low nibbles) and
      // l + 64, l + 96 (high nibbles); bits 0-1, 2-3, 4-5, 6-7 of qh[l] are their fifth and sixth
      // bits. Each 16-lane vector below is one 16-weight sub-block with its own scale.
      const uint8_t* ql = x[i].ql + 64 * c;
      const uint8_t* qh = x[i].qh + 32 * c;
      const int8_t* q8 = y[i].qs + 128 * c;
      const int8_t* sc = x[i].scales + 8 * c;
      for (int h = 0; h < 2; ++h) {
        const uint8x16_t la = vld1q_u8(ql + 16 * h);
        const uint8x16_t lb = vld1q_u8(ql + 32 + 16 * h);
        const uint8x16_t hb = vld1q_u8(qh + 16 * h);
        const uint8x16_t q0 = vorrq_u8(vandq_u8(la, low_mask), vandq_u8(vshlq_n_u8(hb, 4), bits45));
        const uint8x16_t q1 = vorrq_u8(vandq_u8(lb, low_mask), vandq_u8(vshlq_n_u8(hb, 2), bits45));
        const uint8x16_t q2 = vorrq_u8(vshrq_n_u8(la, 4), vandq_u8(hb, bits45));
        const uint8x16_t q3 = vorrq_u8(vshrq_n_u8(lb, 4), vandq_u8(vshrq_n_u8(hb, 2), bits45));
        const int32x4_t zero = vdupq_n_s32(0);
        // The quants are in [0, 63]: as int8 they keep their value.
        acc = vmlaq_n_s32(acc, vdotq_s32(zero, as_i8(q0), vld1q_s8(q8 + 16 * h)), sc[h]);
        acc = vmlaq_n_s32(acc, vdotq_s32(zero, as_i8(q1), vld1q_s8(q8 + 32 + 16 * h)), sc[2 + h]);
        acc = vmlaq_n_s32(acc, vdotq_s32(zero, as_i8(q2), vld1q_s8(q8 + 64 + 16 * h)), sc[4 + h]);
        acc = vmlaq_n_s32(acc, vdotq_s32(zero, as_i8(q3), vld1q_s8(q8 + 96 + 16 * h)), sc[6 + h]);
      }
    }
    const float d = y[i].d * half_to_float(x[i].d);
    sum += d * static_cast<float>(vaddvq_s32(acc) - 32 * bias);
  }
  return sum;
}

}  // namespace capibara::kernels::neon
