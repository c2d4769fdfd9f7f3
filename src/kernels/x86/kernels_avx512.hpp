// The AVX-512 VNNI kernels (quant_dot_avx512.cpp, compiled with AVX-512 F/BW/VL/VNNI flags).
// Declarations only: any translation unit may include this header, but only code that has
// checked the CPU and the OS (the dispatcher, through the AVX-512 table) may call them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace capibara::kernels::avx512 {

// Bit-identical to the AVX2 versions (same integer sums, same float accumulation).
float vec_dot_q4_0(int64_t n, const void* w, const void* a);  // q4_0 x q8_0
float vec_dot_q4_1(int64_t n, const void* w, const void* a);  // q4_1 x q8_1
float vec_dot_q5_0(int64_t n, const void* w, const void* a);  // q5_0 x q8_0
float vec_dot_q5_1(int64_t n, const void* w, const void* a);  // q5_1 x q8_1
float vec_dot_q8_0(int64_t n, const void* w, const void* a);  // q8_0 x q8_0

// Prefill micro-kernels (`VecDotTileFn`) of kTileRows x kTileTokens, bit-identical to the
// `vec_dot` above for every (row, token).
inline constexpr int kTileRows = 4;
inline constexpr int kTileTokens = 4;
void vec_dot_tile_q4_0(int64_t n, const void* w, size_t w_stride, const void* act,
                       size_t act_stride, float* y, size_t y_stride);
void vec_dot_tile_q8_0(int64_t n, const void* w, size_t w_stride, const void* act,
                       size_t act_stride, float* y, size_t y_stride);

}  // namespace capibara::kernels::avx512
