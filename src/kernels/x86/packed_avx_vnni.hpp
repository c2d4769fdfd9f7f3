// AVX-VNNI kernels of the 32-weight packed layouts (`PackedGemmFn`, packed_weights.hpp), compiled
// with -mavx2 -mfma -mf16c -mavxvnni: only the AVX-VNNI table, after the CPU check, may call them.
// Each matches its `scalar::packed_gemm_*` reference bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>

namespace capibara::kernels::avx_vnni {

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

}  // namespace capibara::kernels::avx_vnni
