// AVX-512 VNNI kernel of the packed Q6_K layout (packed_q6_k.cpp), compiled with AVX-512 flags:
// only the AVX-512 table, after the CPU check, may call it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace capibara::kernels::avx512 {

// A `PackedGemmFn` (packed_weights.hpp), bit for bit `scalar::packed_gemm_q6_k`.
void packed_gemm_q6_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
// The same, asking for page starts in decoding passes too (stream_prefetch.hpp).
void packed_gemm_q6_k_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride);

}  // namespace capibara::kernels::avx512
