// AVX2 + FMA kernels, the AVX2 table and the AVX-VNNI table built on it. Compiled with -mavx2
// -mfma -mf16c and only ever called after the dispatcher has checked that the CPU supports them.
#include "kernels/x86/kernels_avx2.hpp"

#include <immintrin.h>

#include "kernels/kernel_table.hpp"
#include "kernels/quant_dot_scalar.hpp"
#include "kernels/x86/attention_avx2.hpp"
#include "kernels/x86/ops_avx2.hpp"
#include "kernels/x86/packed_avx2.hpp"
#include "kernels/x86/packed_avx_vnni.hpp"

namespace capibara::kernels {
namespace avx2 {
void axpy_f32(float alpha, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += alpha * x[i];
}

float vec_dot_f32(int64_t n, const void* w, const void* a) {
  return dot_f32(static_cast<const float*>(w), static_cast<const float*>(a), n);
}

}  // namespace avx2

namespace {

// Starts from the scalar kernels (Q2_K and Q3_K keep them) and overrides the vectorized ones.
// `consteval`: the compiler builds the table, so no AVX2 code runs before the CPU check.
consteval KernelTable make_avx2_table(StreamPrefetch prefetch) {
  using scalar::set_quant_dot;
  KernelTable t;
  scalar::set_scalar_quant_dot(t);
  t.isa = Isa::kAvx2;
  t.stream_prefetch = prefetch;
  t.rms_norm = avx2::rms_norm;
  t.layer_norm = avx2::layer_norm;
  t.softmax = avx2::softmax;
  t.exp = avx2::exp;
  t.swiglu = avx2::swiglu;
  t.geglu_tanh = avx2::geglu_tanh;
  t.add = avx2::add;
  t.rope_normal = avx2::rope_normal;
  t.rope_neox = avx2::rope_neox;
  t.fp16_to_f32 = avx2::fp16_to_f32;
  t.bf16_to_f32 = avx2::bf16_to_f32;
  t.fp8_to_f32 = avx2::fp8_to_f32;
  t.fp8_to_f16 = avx2::fp8_to_f16;
  t.dot_f32 = avx2::dot_f32;
  t.axpy_f32 = avx2::axpy_f32;
  t.attn_scores = avx2::attn_scores;
  t.attn_values = avx2::attn_values;
  t.attn_scores_f16 = avx2::attn_scores_f16;
  t.attn_values_f16 = avx2::attn_values_f16;
  t.attn_scores_bf16 = avx2::attn_scores_bf16;
  t.attn_values_bf16 = avx2::attn_values_bf16;
  t.attn_softmax = avx2::attn_softmax;
  set_quant_dot(t, GgmlType::kF32, scalar::quantize_f32, avx2::vec_dot_f32);
  set_quant_dot(t, GgmlType::kF16, avx2::quantize_f16, avx2::vec_dot_f16);
  set_quant_dot(t, GgmlType::kBF16, avx2::quantize_bf16, avx2::vec_dot_bf16);
  set_quant_dot(t, GgmlType::kQ4_0, avx2::quantize_q8_0, avx2::vec_dot_q4_0);
  set_quant_dot(t, GgmlType::kQ4_1, avx2::quantize_q8_1, avx2::vec_dot_q4_1);
  set_quant_dot(t, GgmlType::kQ5_0, avx2::quantize_q8_0, avx2::vec_dot_q5_0);
  set_quant_dot(t, GgmlType::kQ5_1, avx2::quantize_q8_1, avx2::vec_dot_q5_1);
  set_quant_dot(t, GgmlType::kQ8_0, avx2::quantize_q8_0, avx2::vec_dot_q8_0);
  t.quantize_q8_sum = avx2::quantize_q8_sum;
  t.widen_q8_sum = avx2::widen_q8_sum;
  t.widen_q8_sum_from_tokens = avx2::kQ8_0FewTokens + 1;
  scalar::set_quant_dot_tile(t, GgmlType::kQ4_0, avx2::vec_dot_tile_q4_0, avx2::kTileRows,
                             avx2::kTileTokens);
  scalar::set_quant_dot_tile(t, GgmlType::kQ8_0, avx2::vec_dot_tile_q8_0, avx2::kTileRows,
                             avx2::kTileTokens);
  set_quant_dot(t, GgmlType::kQ2_K, avx2::quantize_q8_k, scalar::vec_dot_q2_k);
  set_quant_dot(t, GgmlType::kQ3_K, avx2::quantize_q8_k, scalar::vec_dot_q3_k);
  set_quant_dot(t, GgmlType::kQ4_K, avx2::quantize_q8_k, avx2::vec_dot_q4_k);
  set_quant_dot(t, GgmlType::kQ5_K, avx2::quantize_q8_k, avx2::vec_dot_q5_k);
  set_quant_dot(t, GgmlType::kQ6_K, avx2::quantize_q8_k, avx2::vec_dot_q6_k);
  const bool software = prefetch == StreamPrefetch::kSoftware;
  t.packed_gemm[static_cast<int>(GgmlType::kQ4_0)] =
      software ? avx2::packed_gemm_q4_0 : avx2::packed_gemm_q4_0_hardware_prefetch;
  t.packed_gemm[static_cast<int>(GgmlType::kQ8_0)] =
      software ? avx2::packed_gemm_q8_0 : avx2::packed_gemm_q8_0_hardware_prefetch;
  t.packed_gemm[static_cast<int>(GgmlType::kQ4_K)] =
      software ? avx2::packed_gemm_q4_k : avx2::packed_gemm_q4_k_hardware_prefetch;
  t.packed_gemm[static_cast<int>(GgmlType::kQ5_K)] =
      software ? avx2::packed_gemm_q5_k : avx2::packed_gemm_q5_k_hardware_prefetch;
  t.packed_gemm[static_cast<int>(GgmlType::kQ6_K)] =
      software ? avx2::packed_gemm_q6_k : avx2::packed_gemm_q6_k_hardware_prefetch;
  t.packed_gemm[static_cast<int>(GgmlType::kF32)] =
      software ? avx2::packed_gemm_f32 : avx2::packed_gemm_f32_hardware_prefetch;
  t.packed_gemm[static_cast<int>(GgmlType::kF16)] =
      software ? avx2::packed_gemm_f16 : avx2::packed_gemm_f16_hardware_prefetch;
  t.packed_gemm[static_cast<int>(GgmlType::kBF16)] =
      software ? avx2::packed_gemm_bf16 : avx2::packed_gemm_bf16_hardware_prefetch;
  return t;
}

// AVX2 with `vpdpbusd` on 256-bit registers: the prefill dots of packed Q4_0, Q8_0, Q4_K, Q5_K
// and Q6_K take one instruction per four bytes (x86/packed_avx_vnni.cpp); the rest is AVX2's.
consteval KernelTable make_avx_vnni_table(StreamPrefetch prefetch) {
  KernelTable t = make_avx2_table(prefetch);
  t.isa = Isa::kAvxVnni;
  t.widen_q8_sum = nullptr;  // its Q8_0 pass reads the blocks as they are
  const bool software = prefetch == StreamPrefetch::kSoftware;
  t.packed_gemm[static_cast<int>(GgmlType::kQ4_0)] =
      software ? avx_vnni::packed_gemm_q4_0 : avx_vnni::packed_gemm_q4_0_hardware_prefetch;
  t.packed_gemm[static_cast<int>(GgmlType::kQ8_0)] =
      software ? avx_vnni::packed_gemm_q8_0 : avx_vnni::packed_gemm_q8_0_hardware_prefetch;
  t.packed_gemm[static_cast<int>(GgmlType::kQ4_K)] =
      software ? avx_vnni::packed_gemm_q4_k : avx_vnni::packed_gemm_q4_k_hardware_prefetch;
  t.packed_gemm[static_cast<int>(GgmlType::kQ5_K)] =
      software ? avx_vnni::packed_gemm_q5_k : avx_vnni::packed_gemm_q5_k_hardware_prefetch;
  t.packed_gemm[static_cast<int>(GgmlType::kQ6_K)] =
      software ? avx_vnni::packed_gemm_q6_k : avx_vnni::packed_gemm_q6_k_hardware_prefetch;
  return t;
}

constexpr KernelTable kAvx2Table = make_avx2_table(StreamPrefetch::kSoftware);
constexpr KernelTable kAvx2TableHardwarePrefetch = make_avx2_table(StreamPrefetch::kHardware);
constexpr KernelTable kAvxVnniTable = make_avx_vnni_table(StreamPrefetch::kSoftware);
constexpr KernelTable kAvxVnniTableHardwarePrefetch =
    make_avx_vnni_table(StreamPrefetch::kHardware);

}  // namespace

const KernelTable* avx2_kernel_table(StreamPrefetch prefetch) {
  return prefetch == StreamPrefetch::kSoftware ? &kAvx2Table : &kAvx2TableHardwarePrefetch;
}

const KernelTable* avx_vnni_kernel_table(StreamPrefetch prefetch) {
  return prefetch == StreamPrefetch::kSoftware ? &kAvxVnniTable : &kAvxVnniTableHardwarePrefetch;
}

}  // namespace capibara::kernels
