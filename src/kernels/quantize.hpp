// Scalar reference quantizers: f32 rows to any GGUF storage type, byte-identical to ggml.
//
// Each function reproduces ggml's `quantize_row_*_ref` bit for bit (same float operations in the
// same order, each rounded separately; same rounding helpers: `roundf` for Q8_0 / Q8_1, the
// round-half-to-even `nearest_int` for the K-quants). llama.cpp's `llama-quantize` uses exactly
// these reference functions when it runs without an importance matrix, so a model quantized here
// has the same bytes as one quantized by llama.cpp from the same f32 weights. The K-quant ones
// search for good scales and are slow (they are for model conversion and tests, not for
// quantizing activations on the hot path).
//
// Thread safety: pure functions (no shared state); any thread may call them.
#pragma once

#include <cstdint>

#include "core/ggml_type.hpp"
#include "core/quant_blocks.hpp"

namespace capibara::kernels {

// True for the types `quantize_row_ref` produces: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K.
bool can_quantize(GgmlType type);

// Writes the `n` weights of `src` to `dst` in `type` (`ggml_row_bytes(type, n)` bytes).
// Preconditions (asserted): `can_quantize(type)`, `n` a multiple of the type's block size,
// `dst` aligned for the type's block struct. Inputs are expected to be finite (as in ggml, NaN
// or infinity give unspecified quants).
void quantize_row_ref(GgmlType type, const float* src, void* dst, int64_t n);

// The same, per type (`n` weights, `n / kWeights` blocks).
void quantize_row_f16(const float* x, uint16_t* y, int64_t n);
void quantize_row_bf16(const float* x, uint16_t* y, int64_t n);
void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t n);
void quantize_row_q4_1(const float* x, BlockQ4_1* y, int64_t n);
void quantize_row_q5_0(const float* x, BlockQ5_0* y, int64_t n);
void quantize_row_q5_1(const float* x, BlockQ5_1* y, int64_t n);
void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n);
void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n);
void quantize_row_q2_k(const float* x, BlockQ2_K* y, int64_t n);
void quantize_row_q3_k(const float* x, BlockQ3_K* y, int64_t n);
void quantize_row_q4_k(const float* x, BlockQ4_K* y, int64_t n);
void quantize_row_q5_k(const float* x, BlockQ5_K* y, int64_t n);
void quantize_row_q6_k(const float* x, BlockQ6_K* y, int64_t n);
void quantize_row_q8_k(const float* x, BlockQ8_K* y, int64_t n);

}  // namespace capibara::kernels
