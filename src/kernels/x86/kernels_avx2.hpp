// The AVX2 kernels (kernels_avx2.cpp and quant_dot_avx2.cpp, compiled with -mavx2 -mfma -mf16c),
// declared for the AVX2 table and for wider tables that reuse them (AVX-512).
// Declarations only: any translation unit may include this header, but only code that has
// checked the CPU (the dispatcher, through the ISA tables) may call these functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace capibara::kernels::avx2 {

float dot_f32(const float* a, const float* b, int64_t n);
void axpy_f32(float alpha, const float* x, float* y, int64_t n);
float vec_dot_f32(int64_t n, const void* w, const void* a);

// Byte-identical to the scalar activation quantizers (quant_dot_scalar.hpp).
void quantize_f16(const float* x, void* dst, int64_t n);
void quantize_bf16(const float* x, void* dst, int64_t n);
void quantize_q8_0(const float* x, void* dst, int64_t n);
void quantize_q8_1(const float* x, void* dst, int64_t n);
void quantize_q8_k(const float* x, void* dst, int64_t n);
// The packed layouts' BlockQ8Sum rows, byte-identical to `scalar::quantize_q8_sum`.
void quantize_q8_sum(const float* x, void* dst, int64_t n);

// Equal to the scalar dot products up to float summation order.
float vec_dot_f16(int64_t n, const void* w, const void* a);
float vec_dot_bf16(int64_t n, const void* w, const void* a);
float vec_dot_q4_0(int64_t n, const void* w, const void* a);
float vec_dot_q4_1(int64_t n, const void* w, const void* a);
float vec_dot_q5_0(int64_t n, const void* w, const void* a);
float vec_dot_q5_1(int64_t n, const void* w, const void* a);
float vec_dot_q8_0(int64_t n, const void* w, const void* a);
float vec_dot_q4_k(int64_t n, const void* w, const void* a);
float vec_dot_q5_k(int64_t n, const void* w, const void* a);
float vec_dot_q6_k(int64_t n, const void* w, const void* a);

// Prefill micro-kernels (`VecDotTileFn`) of kTileRows x kTileTokens, bit-identical to the
// `vec_dot` above for every (row, token).
inline constexpr int kTileRows = 2;
inline constexpr int kTileTokens = 2;
void vec_dot_tile_q4_0(int64_t n, const void* w, size_t w_stride, const void* act,
                       size_t act_stride, float* y, size_t y_stride);
void vec_dot_tile_q8_0(int64_t n, const void* w, size_t w_stride, const void* act,
                       size_t act_stride, float* y, size_t y_stride);

}  // namespace capibara::kernels::avx2
