// Scalar reference dequantizers: any stored tensor row (GGUF type) to f32.
//
// Results are bit-identical to ggml's `dequantize_row_*`: the same float operations in the same
// order, each rounded separately (no fused multiply-add). They are the ground truth that ISA
// kernels and quantizers are tested against, and the fallback path of `matmul`.
//
// Thread safety: pure functions; any thread may call them.
#pragma once

#include <cstdint>

#include "core/ggml_type.hpp"
#include "core/quant_blocks.hpp"

namespace capibara::kernels {

// True for the types `dequantize_row_ref` handles: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K (agrees with `traits_of(type).can_dequantize`).
bool can_dequantize(GgmlType type);

// dst[0..n) = the `n` weights stored at `src` in `type`.
// Preconditions (asserted): `can_dequantize(type)`, `n` a multiple of the type's block size,
// `src` aligned for the type's block struct.
void dequantize_row_ref(GgmlType type, const void* src, float* dst, int64_t n);

// The same, per type (`n` weights, `n / kWeights` blocks).
void dequantize_row_f16(const uint16_t* x, float* y, int64_t n);
void dequantize_row_bf16(const uint16_t* x, float* y, int64_t n);
void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n);
void dequantize_row_q4_1(const BlockQ4_1* x, float* y, int64_t n);
void dequantize_row_q5_0(const BlockQ5_0* x, float* y, int64_t n);
void dequantize_row_q5_1(const BlockQ5_1* x, float* y, int64_t n);
void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n);
void dequantize_row_q2_k(const BlockQ2_K* x, float* y, int64_t n);
void dequantize_row_q3_k(const BlockQ3_K* x, float* y, int64_t n);
void dequantize_row_q4_k(const BlockQ4_K* x, float* y, int64_t n);
void dequantize_row_q5_k(const BlockQ5_K* x, float* y, int64_t n);
void dequantize_row_q6_k(const BlockQ6_K* x, float* y, int64_t n);
void dequantize_row_q8_k(const BlockQ8_K* x, float* y, int64_t n);

// Sub-block `j` (0..7) of a Q4_K / Q5_K block: its 6-bit scale and 6-bit min from the packed
// 12 bytes (ggml's `get_scale_min_k4`). Bytes 0..3 hold scales 0..3, bytes 4..7 mins 0..3 (low
// six bits each); bytes 8..11 hold the low nibbles of scale (low) and min (high) 4..7, whose
// top two bits sit in the top two bits of bytes 0..3 (scales) and 4..7 (mins).
inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Sub-block `j` (0..15) of a Q3_K block: its 6-bit scale, biased (subtract 32 for the signed
// value). Low nibbles: bytes 0..7 (j < 8 low nibble, j >= 8 high nibble of byte j - 8); the top
// two bits: bits 2 * (j / 4) of byte 8 + j % 4.
inline int q3_k_scale(int j, const uint8_t* scales) {
  const int low = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
  const int high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
  return low | (high << 4);
}

}  // namespace capibara::kernels
