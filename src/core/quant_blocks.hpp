// Memory layout of ggml's quantization blocks, byte for byte as GGUF files store them.
//
// Each struct is one block of weights: the unit that a tensor row of that type is made of. The
// layouts are a wire format (they are read straight out of mmapped files) and must never change;
// the `static_assert`s pin their sizes, and tests check them against the size table in
// `ggml_type.cpp`. fp16 scales are kept as raw `uint16_t` bits; convert them with
// `fp16_to_f32` from `core/half.hpp`. The kernels in `kernels/dequantize.hpp` and
// `kernels/quantize.hpp` give the meaning of every field in code.
//
// Bits per weight (bpw) = 8 * sizeof(block) / weights per block.
#pragma once

#include <cstdint>

namespace capibara {

// Weights per K-quant super-block (ggml's `QK_K`).
inline constexpr int kQK_K = 256;
// Bytes of the packed 6-bit scales and mins of Q4_K / Q5_K, and of the 6-bit scales of Q3_K
// (ggml's `K_SCALE_SIZE`).
inline constexpr int kKScaleSize = 12;

// ---- 32-weight blocks: one scale (and for the `_1` types one offset) per 32 weights. ----

struct BlockQ4_0 {  // 32 weights, 4.5 bpw: w = d * (q - 8), q in [0, 15]
  static constexpr int kWeights = 32;
  uint16_t d;                // scale, fp16
  uint8_t qs[kWeights / 2];  // nibbles: low nibble of qs[j] = weight j, high nibble = j + 16
};
static_assert(sizeof(BlockQ4_0) == 18);

struct BlockQ4_1 {  // 32 weights, 5.0 bpw: w = d * q + m, q in [0, 15]
  static constexpr int kWeights = 32;
  uint16_t d;                // scale, fp16
  uint16_t m;                // offset (the block minimum), fp16
  uint8_t qs[kWeights / 2];  // nibbles as in BlockQ4_0
};
static_assert(sizeof(BlockQ4_1) == 20);

struct BlockQ5_0 {  // 32 weights, 5.5 bpw: w = d * (q - 16), q in [0, 31]
  static constexpr int kWeights = 32;
  uint16_t d;                // scale, fp16
  uint8_t qh[4];             // fifth bits: bit j of the little-endian uint32 belongs to weight j
  uint8_t qs[kWeights / 2];  // low four bits, nibbles as in BlockQ4_0
};
static_assert(sizeof(BlockQ5_0) == 22);

struct BlockQ5_1 {  // 32 weights, 6.0 bpw: w = d * q + m, q in [0, 31]
  static constexpr int kWeights = 32;
  uint16_t d;                // scale, fp16
  uint16_t m;                // offset (the block minimum), fp16
  uint8_t qh[4];             // fifth bits as in BlockQ5_0
  uint8_t qs[kWeights / 2];  // low four bits as in BlockQ5_0
};
static_assert(sizeof(BlockQ5_1) == 24);

struct BlockQ8_0 {  // 32 weights, 8.5 bpw: w = d * q, q in [-127, 127]
  static constexpr int kWeights = 32;
  uint16_t d;           // scale, fp16
  int8_t qs[kWeights];  // quants in weight order
};
static_assert(sizeof(BlockQ8_0) == 34);

struct BlockQ8_1 {  // 32 weights, 9.0 bpw: as Q8_0 plus the block sum (activations only)
  static constexpr int kWeights = 32;
  uint16_t d;           // scale, fp16
  uint16_t s;           // d * sum(qs), fp16
  int8_t qs[kWeights];  // quants in weight order
};
static_assert(sizeof(BlockQ8_1) == 36);

// ---- K-quants: 256-weight super-blocks of 16 or 8 sub-blocks with quantized scales. ----

struct BlockQ2_K {  // 256 weights, 2.625 bpw: w = d * sc * q - dmin * m, q in [0, 3]
  static constexpr int kWeights = kQK_K;
  uint8_t scales[kQK_K / 16];  // per 16-weight sub-block: low nibble = sc, high nibble = m
  uint8_t qs[kQK_K / 4];       // 2-bit quants; see dequantize_row_q2_k for the order
  uint16_t d;                  // super-block scale of the scales, fp16
  uint16_t dmin;               // super-block scale of the mins, fp16
};
static_assert(sizeof(BlockQ2_K) == 84);

struct BlockQ3_K {  // 256 weights, 3.4375 bpw: w = d * (sc - 32) * (q - 4), q in [0, 7]
  static constexpr int kWeights = kQK_K;
  uint8_t hmask[kQK_K / 8];     // third bit: bit b of hmask[j] belongs to weight 32 * b + j
  uint8_t qs[kQK_K / 4];        // low two bits, packed as in BlockQ2_K
  uint8_t scales[kKScaleSize];  // sixteen 6-bit scales (low nibbles in 0..7, high bits in 8..11)
  uint16_t d;                   // super-block scale, fp16
};
static_assert(sizeof(BlockQ3_K) == 110);

struct BlockQ4_K {  // 256 weights, 4.5 bpw: w = d * sc * q - dmin * m, q in [0, 15]
  static constexpr int kWeights = kQK_K;
  uint16_t d;                   // super-block scale of the scales, fp16
  uint16_t dmin;                // super-block scale of the mins, fp16
  uint8_t scales[kKScaleSize];  // eight 6-bit scales and eight 6-bit mins (get_scale_min_k4)
  uint8_t qs[kQK_K / 2];        // nibbles: 32 bytes per 64 weights, low nibbles first
};
static_assert(sizeof(BlockQ4_K) == 144);

struct BlockQ5_K {  // 256 weights, 5.5 bpw: w = d * sc * q - dmin * m, q in [0, 31]
  static constexpr int kWeights = kQK_K;
  uint16_t d;                   // super-block scale of the scales, fp16
  uint16_t dmin;                // super-block scale of the mins, fp16
  uint8_t scales[kKScaleSize];  // as in BlockQ4_K
  uint8_t qh[kQK_K / 8];        // fifth bits: bit b of qh[j] belongs to weight 32 * b + j
  uint8_t qs[kQK_K / 2];        // low four bits, as in BlockQ4_K
};
static_assert(sizeof(BlockQ5_K) == 176);

struct BlockQ6_K {  // 256 weights, 6.5625 bpw: w = d * sc * (q - 32), q in [0, 63]
  static constexpr int kWeights = kQK_K;
  uint8_t ql[kQK_K / 2];      // low four bits
  uint8_t qh[kQK_K / 4];      // high two bits
  int8_t scales[kQK_K / 16];  // per 16-weight sub-block, 8-bit signed
  uint16_t d;                 // super-block scale, fp16
};
static_assert(sizeof(BlockQ6_K) == 210);

struct BlockQ8_K {  // 256 weights, 9.125 bpw: w = d * q (activations of K-quant dots)
  static constexpr int kWeights = kQK_K;
  float d;                    // scale, f32 (not fp16, unlike every other block)
  int8_t qs[kQK_K];           // quants in weight order
  int16_t bsums[kQK_K / 16];  // sum of each 16 consecutive quants
};
static_assert(sizeof(BlockQ8_K) == 292);

}  // namespace capibara
