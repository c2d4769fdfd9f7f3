// NEON (ARMv8.2 dot product) kernels of the packed layout (`PackedGemmFn`, packed_weights.hpp),
// compiled with -march=armv8.2-a+dotprod+fp16: only the NEON table, after the CPU check, may
// call them. Bit-identical to the scalar references (`scalar::packed_gemm_*`).
#pragma once

#include <cstddef>
#include <cstdint>

namespace capibara::kernels::neon {

void packed_gemm_q4_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_q8_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_q4_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_q5_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_q6_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
// packed_i8mm_neon.cpp: Q4_0 and Q8_0 with the int8 matrix multiply (`smmla`), compiled with
// +i8mm as well: call them only where `cpu_has_neon_i8mm`. The NEON table takes them for two
// or more tokens (prefill) and the `sdot` kernels above for one (decoding).
void packed_gemm_q4_0_i8mm(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                           int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_q8_0_i8mm(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                           int64_t n_tokens, float* y, size_t y_stride);
// The float layouts (packed_float_neon.cpp): f32 activations as they are (`PackedActivations::
// kF32`), f32 activations rounded through fp16 (`kF16Values`), and bf16 activations (`kBF16`).
void packed_gemm_f32(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                     int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_f16(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                     int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_bf16(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);

}  // namespace capibara::kernels::neon
