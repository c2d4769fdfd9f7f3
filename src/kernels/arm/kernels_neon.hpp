// The ARM NEON kernels (kernels_neon.cpp and quant_dot_neon.cpp, compiled with
// -march=armv8.2-a+dotprod+fp16), declared for the NEON table.
// Declarations only: any translation unit may include this header, but only code that has
// checked the CPU (the dispatcher, through the NEON table) may call these functions.
#pragma once

#include <cstdint>

namespace capibara::kernels::neon {

float dot_f32(const float* a, const float* b, int64_t n);
void axpy_f32(float alpha, const float* x, float* y, int64_t n);
float vec_dot_f32(int64_t n, const void* w, const void* a);

// Byte-identical to the scalar activation quantizers (quant_dot_scalar.hpp).
void quantize_f16(const float* x, void* dst, int64_t n);
void quantize_bf16(const float* x, void* dst, int64_t n);
void quantize_q8_0(const float* x, void* dst, int64_t n);
void quantize_q8_1(const float* x, void* dst, int64_t n);
void quantize_q8_k(const float* x, void* dst, int64_t n);

// Equal to the scalar dot products up to float summation order (integer sums with `sdot`).
float vec_dot_f16(int64_t n, const void* w, const void* a);
float vec_dot_bf16(int64_t n, const void* w, const void* a);
float vec_dot_q4_0(int64_t n, const void* w, const void* a);  // q4_0 x q8_0
float vec_dot_q4_1(int64_t n, const void* w, const void* a);  // q4_1 x q8_1
float vec_dot_q5_0(int64_t n, const void* w, const void* a);  // q5_0 x q8_0
float vec_dot_q5_1(int64_t n, const void* w, const void* a);  // q5_1 x q8_1
float vec_dot_q8_0(int64_t n, const void* w, const void* a);  // q8_0 x q8_0
float vec_dot_q4_k(int64_t n, const void* w, const void* a);  // q4_K x q8_K
float vec_dot_q5_k(int64_t n, const void* w, const void* a);  // q5_K x q8_K
float vec_dot_q6_k(int64_t n, const void* w, const void* a);  // q6_K x q8_K

}  // namespace capibara::kernels::neon
