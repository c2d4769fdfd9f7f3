// The NEON row-wise operations (ops_neon.cpp), declared for the NEON table.
// Declarations only: any translation unit may include this header, but only code that has
// checked the CPU (the dispatcher, through the ISA tables) may call these functions.
#pragma once

#include <cstdint>

namespace capibara::kernels::neon {

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);
void layer_norm(const float* x, const float* weight, float* out, int64_t n, float eps);
void softmax(float* x, int64_t n);
void exp(const float* x, float* out, int64_t n);
void swiglu(float* gate, const float* up, int64_t n);
void geglu_tanh(float* gate, const float* up, int64_t n);
void add(const float* x, float* y, int64_t n);
void rope_normal(const float* cos_sin, float* x, int64_t n_heads, int64_t head_dim, int32_t n_rot);
void rope_neox(const float* cos_sin, float* x, int64_t n_heads, int64_t head_dim, int32_t n_rot);
void fp16_to_f32(const uint16_t* x, float* out, int64_t n);
void bf16_to_f32(const uint16_t* x, float* out, int64_t n);
void fp8_to_f32(const uint8_t* x, float scale, float* out, int64_t n);
void fp8_to_f16(const uint8_t* x, uint16_t* out, int64_t n);

}  // namespace capibara::kernels::neon
