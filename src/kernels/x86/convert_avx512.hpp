// AVX-512 widening of 16-bit floats and fp8 codes (convert_avx512.cpp, compiled with AVX-512
// flags): only the AVX-512 table, after the CPU check, may call them.
#pragma once

#include <cstdint>

namespace capibara::kernels::avx512 {

// The table's `fp16_to_f32` / `bf16_to_f32`: exact, as the scalar references.
void fp16_to_f32(const uint16_t* x, float* out, int64_t n);
void bf16_to_f32(const uint16_t* x, float* out, int64_t n);
// The table's `fp8_to_f32`: the reference's bits (any NaN for codes 0x7F / 0xFF).
void fp8_to_f32(const uint8_t* x, float scale, float* out, int64_t n);

}  // namespace capibara::kernels::avx512
