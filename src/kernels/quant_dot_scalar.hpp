// The scalar (generic) quantized-dot kernels, declared for the per-ISA tables: each ISA table
// starts from these and overrides the ones it vectorizes.
//
// The dot products reproduce ggml's generic `ggml_vec_dot_*_q8_*` (and `ggml_vec_dot_f16` /
// `_bf16`): the same integer sums and the same float operations in the same order. The
// activation quantizers are the reference quantizers of quantize.hpp (ggml's
// `quantize_row_q8_*_ref`, Q8_K with its `bsums`).
//
// Only declarations and a `consteval` helper live here, so ISA-flagged translation units may
// include this header without emitting (and leaking) any code compiled with their flags.
//
// Thread safety: pure functions; any thread may call them.
#pragma once

#include <cstdint>

#include "core/ggml_type.hpp"
#include "kernels/kernel_table.hpp"

namespace capibara::kernels::scalar {

float dot_f32(const float* a, const float* b, int64_t n);

// f32 -> activation type; `n` a multiple of the activation type's block size.
void quantize_f32(const float* x, void* dst, int64_t n);  // a plain copy
void quantize_f16(const float* x, void* dst, int64_t n);
void quantize_bf16(const float* x, void* dst, int64_t n);
void quantize_q8_0(const float* x, void* dst, int64_t n);
void quantize_q8_1(const float* x, void* dst, int64_t n);
void quantize_q8_k(const float* x, void* dst, int64_t n);

// Weight row x activation row (weight type x activation type).
float vec_dot_f32(int64_t n, const void* w, const void* a);   // f32 x f32
float vec_dot_f16(int64_t n, const void* w, const void* a);   // f16 x f16
float vec_dot_bf16(int64_t n, const void* w, const void* a);  // bf16 x bf16
float vec_dot_q4_0(int64_t n, const void* w, const void* a);  // q4_0 x q8_0
float vec_dot_q4_1(int64_t n, const void* w, const void* a);  // q4_1 x q8_1
float vec_dot_q5_0(int64_t n, const void* w, const void* a);  // q5_0 x q8_0
float vec_dot_q5_1(int64_t n, const void* w, const void* a);  // q5_1 x q8_1
float vec_dot_q8_0(int64_t n, const void* w, const void* a);  // q8_0 x q8_0
float vec_dot_q2_k(int64_t n, const void* w, const void* a);  // q2_K x q8_K
float vec_dot_q3_k(int64_t n, const void* w, const void* a);  // q3_K x q8_K
float vec_dot_q4_k(int64_t n, const void* w, const void* a);  // q4_K x q8_K
float vec_dot_q5_k(int64_t n, const void* w, const void* a);  // q5_K x q8_K
float vec_dot_q6_k(int64_t n, const void* w, const void* a);  // q6_K x q8_K

// Writes the quantized-dot entry of `weight` into `table`.
consteval void set_quant_dot(KernelTable& table, GgmlType weight, QuantizeActivationsFn quantize,
                             VecDotFn vec_dot) {
  table.quant_dot[static_cast<uint32_t>(weight)] = QuantDotKernels{quantize, vec_dot};
}

// Adds a prefill micro-kernel of `rows` x `tokens` to the entry `set_quant_dot` filled.
consteval void set_quant_dot_tile(KernelTable& table, GgmlType weight, VecDotTileFn tile, int rows,
                                  int tokens) {
  QuantDotKernels& k = table.quant_dot[static_cast<uint32_t>(weight)];
  k.vec_dot_tile = tile;
  k.tile_rows = rows;
  k.tile_tokens = tokens;
}

// Fills every quantized-dot entry of `table` with the scalar kernels (the pairing agrees with
// `kQuantDotPairs`; kernel tests check it).
consteval void set_scalar_quant_dot(KernelTable& table) {
  set_quant_dot(table, GgmlType::kF32, quantize_f32, vec_dot_f32);
  set_quant_dot(table, GgmlType::kF16, quantize_f16, vec_dot_f16);
  set_quant_dot(table, GgmlType::kBF16, quantize_bf16, vec_dot_bf16);
  set_quant_dot(table, GgmlType::kQ4_0, quantize_q8_0, vec_dot_q4_0);
  set_quant_dot(table, GgmlType::kQ4_1, quantize_q8_1, vec_dot_q4_1);
  set_quant_dot(table, GgmlType::kQ5_0, quantize_q8_0, vec_dot_q5_0);
  set_quant_dot(table, GgmlType::kQ5_1, quantize_q8_1, vec_dot_q5_1);
  set_quant_dot(table, GgmlType::kQ8_0, quantize_q8_0, vec_dot_q8_0);
  set_quant_dot(table, GgmlType::kQ2_K, quantize_q8_k, vec_dot_q2_k);
  set_quant_dot(table, GgmlType::kQ3_K, quantize_q8_k, vec_dot_q3_k);
  set_quant_dot(table, GgmlType::kQ4_K, quantize_q8_k, vec_dot_q4_k);
  set_quant_dot(table, GgmlType::kQ5_K, quantize_q8_k, vec_dot_q5_k);
  set_quant_dot(table, GgmlType::kQ6_K, quantize_q8_k, vec_dot_q6_k);
}

}  // namespace capibara::kernels::scalar
