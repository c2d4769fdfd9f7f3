// AVX-512 VNNI kernels of the packed layout (`PackedGemmFn`, packed_weights.hpp), compiled with
// AVX-512 flags: only the AVX-512 table, after the CPU check, may call them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace capibara::kernels::avx512 {

void packed_gemm_q4_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_q8_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
// The same without software prefetch in decoding passes (stream_prefetch.hpp).
void packed_gemm_q4_0_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride);
void packed_gemm_q8_0_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride);
// packed_q4_k_avx512.cpp
void packed_gemm_q4_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_q5_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
// The same, asking for page starts in decoding passes too (stream_prefetch.hpp).
void packed_gemm_q4_k_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride);
void packed_gemm_q5_k_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride);
// packed_float_avx512.cpp: F32, F16 and BF16 with fmas (BF16 takes the `vdpbf16ps` kernel below
// where the CPU has AVX512_BF16; the fma one stays callable for tests).
void packed_gemm_f32(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                     int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_f32_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                       size_t act_stride, int64_t n_tokens, float* y,
                                       size_t y_stride);
void packed_gemm_f16(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                     int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_f16_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                       size_t act_stride, int64_t n_tokens, float* y,
                                       size_t y_stride);
void packed_gemm_bf16(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_bf16_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride);
void packed_gemm_bf16_fma(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                          int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_bf16_fma_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                            size_t act_stride, int64_t n_tokens, float* y,
                                            size_t y_stride);
// packed_float_avx512bf16.cpp, built with AVX512_BF16: only on CPUs that have it.
void packed_gemm_bf16_dpbf16(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                             int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_bf16_dpbf16_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                               size_t act_stride, int64_t n_tokens, float* y,
                                               size_t y_stride);

}  // namespace capibara::kernels::avx512
