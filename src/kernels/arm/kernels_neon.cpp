// ARM NEON kernels (f32 dot and axpy) and the NEON table. Compiled with
// -march=armv8.2-a+dotprod+fp16 and only ever called after the dispatcher has checked that the
// CPU has Advanced SIMD with the dot-product and half-precision extensions.
#include "kernels/arm/kernels_neon.hpp"

#include <arm_neon.h>

#include "kernels/arm/attention_neon.hpp"
#include "kernels/arm/ops_neon.hpp"
#include "kernels/arm/packed_neon.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/quant_dot_scalar.hpp"

namespace capibara::kernels {
namespace neon {

float dot_f32(const float* a, const float* b, int64_t n) {
  // Four accumulators hide the latency of `fmla`.
  float32x4_t acc0 = vdupq_n_f32(0.0f);
  float32x4_t acc1 = vdupq_n_f32(0.0f);
  float32x4_t acc2 = vdupq_n_f32(0.0f);
  float32x4_t acc3 = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
    acc1 = vfmaq_f32(acc1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    acc2 = vfmaq_f32(acc2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
    acc3 = vfmaq_f32(acc3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
  }
  for (; i + 4 <= n; i += 4) acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
  float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void axpy_f32(float alpha, const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), alpha));
    vst1q_f32(y + i + 4, vfmaq_n_f32(vld1q_f32(y + i + 4), vld1q_f32(x + i + 4), alpha));
  }
  for (; i + 4 <= n; i += 4)
    vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), alpha));
  for (; i < n; ++i) y[i] += alpha * x[i];
}

float vec_dot_f32(int64_t n, const void* w, const void* a) {
  return dot_f32(static_cast<const float*>(w), static_cast<const float*>(a), n);
}

}  // namespace neon

namespace {

// Q4_0 and Q8_0 take `smmla` for two or more tokens where the CPU has i8mm (packed_i8mm_neon.cpp).
// The table cannot see i8mm (it is built at compile time for every CPU with the dot product), so
// the choice is made here, once: a predictable branch per group.
void packed_gemm_q4_0_by_cpu(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                             int64_t n_tokens, float* y, size_t y_stride) {
  static const bool i8mm = cpu_has_neon_i8mm();
  (i8mm && n_tokens >= 2 ? neon::packed_gemm_q4_0_i8mm : neon::packed_gemm_q4_0)(
      n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q8_0_by_cpu(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                             int64_t n_tokens, float* y, size_t y_stride) {
  static const bool i8mm = cpu_has_neon_i8mm();
  (i8mm && n_tokens >= 2 ? neon::packed_gemm_q8_0_i8mm : neon::packed_gemm_q8_0)(
      n, group, act, act_stride, n_tokens, y, y_stride);
}

// The packed layouts' activations with NEON's Q8_0 quantizer (byte-identical to the scalar one).
void quantize_q8_sum_neon(const float* x, void* dst, int64_t n) {
  quantize_q8_sum(neon::quantize_q8_0, x, static_cast<BlockQ8Sum*>(dst), n);
}

// Starts from the scalar kernels (Q2_K and Q3_K keep them) and overrides the vectorized ones.
// `consteval`: the compiler builds the table, so no NEON code runs before the CPU check.
consteval KernelTable make_neon_table() {
  using scalar::set_quant_dot;
  KernelTable t;
  scalar::set_scalar_quant_dot(t);
  t.isa = Isa::kNeon;
  t.stream_prefetch = StreamPrefetch::kSoftware;  // one variant: measured on no ARM CPU yet
  t.rms_norm = neon::rms_norm;
  t.layer_norm = neon::layer_norm;
  t.softmax = neon::softmax;
  t.exp = neon::exp;
  t.swiglu = neon::swiglu;
  t.geglu_tanh = neon::geglu_tanh;
  t.add = neon::add;
  t.rope_normal = neon::rope_normal;
  t.rope_neox = neon::rope_neox;
  t.fp16_to_f32 = neon::fp16_to_f32;
  t.bf16_to_f32 = neon::bf16_to_f32;
  t.fp8_to_f32 = neon::fp8_to_f32;
  t.fp8_to_f16 = neon::fp8_to_f16;
  t.dot_f32 = neon::dot_f32;
  t.axpy_f32 = neon::axpy_f32;
  t.attn_scores = neon::attn_scores;
  t.attn_values = neon::attn_values;
  t.attn_scores_f16 = neon::attn_scores_f16;
  t.attn_values_f16 = neon::attn_values_f16;
  t.attn_scores_bf16 = neon::attn_scores_bf16;
  t.attn_values_bf16 = neon::attn_values_bf16;
  t.attn_softmax = neon::attn_softmax;
  set_quant_dot(t, GgmlType::kF32, scalar::quantize_f32, neon::vec_dot_f32);
  set_quant_dot(t, GgmlType::kF16, neon::quantize_f16, neon::vec_dot_f16);
  set_quant_dot(t, GgmlType::kBF16, neon::quantize_bf16, neon::vec_dot_bf16);
  set_quant_dot(t, GgmlType::kQ4_0, neon::quantize_q8_0, neon::vec_dot_q4_0);
  set_quant_dot(t, GgmlType::kQ4_1, neon::quantize_q8_1, neon::vec_dot_q4_1);
  set_quant_dot(t, GgmlType::kQ5_0, neon::quantize_q8_0, neon::vec_dot_q5_0);
  set_quant_dot(t, GgmlType::kQ5_1, neon::quantize_q8_1, neon::vec_dot_q5_1);
  set_quant_dot(t, GgmlType::kQ8_0, neon::quantize_q8_0, neon::vec_dot_q8_0);
  t.quantize_q8_sum = quantize_q8_sum_neon;
  set_quant_dot(t, GgmlType::kQ2_K, neon::quantize_q8_k, scalar::vec_dot_q2_k);
  set_quant_dot(t, GgmlType::kQ3_K, neon::quantize_q8_k, scalar::vec_dot_q3_k);
  set_quant_dot(t, GgmlType::kQ4_K, neon::quantize_q8_k, neon::vec_dot_q4_k);
  set_quant_dot(t, GgmlType::kQ5_K, neon::quantize_q8_k, neon::vec_dot_q5_k);
  set_quant_dot(t, GgmlType::kQ6_K, neon::quantize_q8_k, neon::vec_dot_q6_k);
  // Q4_0, Q8_0, Q4_K, Q5_K, Q6_K, F32, F16 and BF16 matrices are repacked at load
  // (packed_weights.hpp).
  t.packed_gemm[static_cast<int>(GgmlType::kQ4_0)] = packed_gemm_q4_0_by_cpu;
  t.packed_gemm[static_cast<int>(GgmlType::kQ8_0)] = packed_gemm_q8_0_by_cpu;
  t.packed_gemm[static_cast<int>(GgmlType::kQ4_K)] = neon::packed_gemm_q4_k;
  t.packed_gemm[static_cast<int>(GgmlType::kQ5_K)] = neon::packed_gemm_q5_k;
  t.packed_gemm[static_cast<int>(GgmlType::kQ6_K)] = neon::packed_gemm_q6_k;
  t.packed_gemm[static_cast<int>(GgmlType::kF32)] = neon::packed_gemm_f32;
  t.packed_gemm[static_cast<int>(GgmlType::kF16)] = neon::packed_gemm_f16;
  t.packed_gemm[static_cast<int>(GgmlType::kBF16)] = neon::packed_gemm_bf16;
  return t;
}

constexpr KernelTable kNeonTable = make_neon_table();

}  // namespace

const KernelTable* neon_kernel_table() { return &kNeonTable; }

}  // namespace capibara::kernels
