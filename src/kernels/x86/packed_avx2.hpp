// AVX2 kernels of the packed layout (`PackedGemmFn`, packed_weights.hpp), compiled with
// -mavx2 -mfma -mf16c: only the AVX2 table, after the CPU check, may call them. Each matches
// its `scalar::packed_gemm_*` reference bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>

namespace capibara::kernels::avx2 {

void packed_gemm_q4_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
// Passes of up to this many tokens (a few sequences decoding together) stream as decoding does,
// in its sign form, and read the blocks only (x86::few_token_pass_32); passes of more multiply in
// int16. In the harness of docs/PERFORMANCE.md, "AVX2 Q8_0 prefill in int16", int16 against the
// sign form by row halves: 299 against 270 us at 2 tokens a pass, 259 against 253 at 3, 239
// against 247 at 4, 214 against 239 at 8.
inline constexpr int kQ8_0FewTokens = 3;
// Given more than kQ8_0FewTokens tokens, reads each activation row's BlockQ8Wide copies after its
// blocks (`widen_q8_sum`).
void packed_gemm_q8_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
// `WidenQ8SumFn`, byte-identical to `scalar::widen_q8_sum`.
void widen_q8_sum(const void* blocks, void* wide, int64_t n);
// The same without software prefetch in decoding passes (stream_prefetch.hpp).
void packed_gemm_q4_0_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride);
void packed_gemm_q8_0_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride);
void packed_gemm_q4_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_q5_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_q6_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
// The same, asking for page starts in decoding passes too (the K-quants keep their software
// prefetch in both variants: stream_prefetch.hpp).
void packed_gemm_q4_k_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride);
void packed_gemm_q5_k_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride);
void packed_gemm_q6_k_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride);
// packed_float_avx2.cpp
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

}  // namespace capibara::kernels::avx2
