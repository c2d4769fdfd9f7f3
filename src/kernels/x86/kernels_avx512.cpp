// The AVX-512 table: the AVX2 kernels with VNNI (`vpdpbusd`) dot products for the 32-weight
// block types. The K-quant dots stay AVX2: they scale every 16- or 32-weight sub-block, which
// `maddubs` + `madd` (by the scale) already do in two instructions. The row-wise operations stay
// AVX2 too: their rows (a few thousand floats) sit in L1 and take well under a microsecond, and
// 512-bit versions would add code to test for a gain the model step would not show. The 16-bit
// float conversions do not: attention widens the whole KV cache it reads with them
// (convert_avx512.cpp).
// Q4_0, Q8_0, Q4_K, Q5_K, Q6_K, F32, F16 and BF16 matrices are repacked at load
// (packed_weights.hpp) for the packed kernels.
#include "kernels/x86/kernels_avx512.hpp"

#include "kernels/kernel_table.hpp"
#include "kernels/quant_dot_scalar.hpp"
#include "kernels/x86/attention_avx512.hpp"
#include "kernels/x86/convert_avx512.hpp"
#include "kernels/x86/kernels_avx2.hpp"
#include "kernels/x86/ops_avx2.hpp"
#include "kernels/x86/packed_avx512.hpp"
#include "kernels/x86/packed_q6_k_avx512.hpp"

namespace capibara::kernels {
namespace {

// `consteval`: the compiler builds the table, so no AVX-512 code runs before the CPU check.
consteval KernelTable make_avx512_table(StreamPrefetch prefetch) {
  using scalar::set_quant_dot;
  KernelTable t;
  scalar::set_scalar_quant_dot(t);
  t.isa = Isa::kAvx512;
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
  t.fp16_to_f32 = avx512::fp16_to_f32;
  t.bf16_to_f32 = avx512::bf16_to_f32;
  t.fp8_to_f32 = avx512::fp8_to_f32;
  // AVX2's loop: a decoding step converts each fp8 tile to halves once, a small part of the step
  // next to the score and value kernels that read them.
  t.fp8_to_f16 = avx2::fp8_to_f16;
  t.dot_f32 = avx2::dot_f32;
  t.axpy_f32 = avx2::axpy_f32;
  t.attn_scores = avx512::attn_scores;
  t.attn_values = avx512::attn_values;
  t.attn_scores_f16 = avx512::attn_scores_f16;
  t.attn_values_f16 = avx512::attn_values_f16;
  t.attn_scores_bf16 = avx512::attn_scores_bf16;
  t.attn_values_bf16 = avx512::attn_values_bf16;
  t.attn_softmax = avx512::attn_softmax;
  set_quant_dot(t, GgmlType::kF32, scalar::quantize_f32, avx2::vec_dot_f32);
  set_quant_dot(t, GgmlType::kF16, avx2::quantize_f16, avx2::vec_dot_f16);
  set_quant_dot(t, GgmlType::kBF16, avx2::quantize_bf16, avx2::vec_dot_bf16);
  set_quant_dot(t, GgmlType::kQ4_0, avx2::quantize_q8_0, avx512::vec_dot_q4_0);
  set_quant_dot(t, GgmlType::kQ4_1, avx2::quantize_q8_1, avx512::vec_dot_q4_1);
  set_quant_dot(t, GgmlType::kQ5_0, avx2::quantize_q8_0, avx512::vec_dot_q5_0);
  set_quant_dot(t, GgmlType::kQ5_1, avx2::quantize_q8_1, avx512::vec_dot_q5_1);
  set_quant_dot(t, GgmlType::kQ8_0, avx2::quantize_q8_0, avx512::vec_dot_q8_0);
  t.quantize_q8_sum = avx2::quantize_q8_sum;
  scalar::set_quant_dot_tile(t, GgmlType::kQ4_0, avx512::vec_dot_tile_q4_0, avx512::kTileRows,
                             avx512::kTileTokens);
  scalar::set_quant_dot_tile(t, GgmlType::kQ8_0, avx512::vec_dot_tile_q8_0, avx512::kTileRows,
                             avx512::kTileTokens);
  const bool software = prefetch == StreamPrefetch::kSoftware;
  t.packed_gemm[static_cast<int>(GgmlType::kQ4_0)] =
      software ? avx512::packed_gemm_q4_0 : avx512::packed_gemm_q4_0_hardware_prefetch;
  t.packed_gemm[static_cast<int>(GgmlType::kQ8_0)] =
      software ? avx512::packed_gemm_q8_0 : avx512::packed_gemm_q8_0_hardware_prefetch;
  t.packed_gemm[static_cast<int>(GgmlType::kQ4_K)] =
      software ? avx512::packed_gemm_q4_k : avx512::packed_gemm_q4_k_hardware_prefetch;
  t.packed_gemm[static_cast<int>(GgmlType::kQ5_K)] =
      software ? avx512::packed_gemm_q5_k : avx512::packed_gemm_q5_k_hardware_prefetch;
  t.packed_gemm[static_cast<int>(GgmlType::kQ6_K)] =
      software ? avx512::packed_gemm_q6_k : avx512::packed_gemm_q6_k_hardware_prefetch;
  t.packed_gemm[static_cast<int>(GgmlType::kF32)] =
      software ? avx512::packed_gemm_f32 : avx512::packed_gemm_f32_hardware_prefetch;
  t.packed_gemm[static_cast<int>(GgmlType::kF16)] =
      software ? avx512::packed_gemm_f16 : avx512::packed_gemm_f16_hardware_prefetch;
  t.packed_gemm[static_cast<int>(GgmlType::kBF16)] =
      software ? avx512::packed_gemm_bf16 : avx512::packed_gemm_bf16_hardware_prefetch;
  set_quant_dot(t, GgmlType::kQ2_K, avx2::quantize_q8_k, scalar::vec_dot_q2_k);
  set_quant_dot(t, GgmlType::kQ3_K, avx2::quantize_q8_k, scalar::vec_dot_q3_k);
  set_quant_dot(t, GgmlType::kQ4_K, avx2::quantize_q8_k, avx2::vec_dot_q4_k);
  set_quant_dot(t, GgmlType::kQ5_K, avx2::quantize_q8_k, avx2::vec_dot_q5_k);
  set_quant_dot(t, GgmlType::kQ6_K, avx2::quantize_q8_k, avx2::vec_dot_q6_k);
  return t;
}

constexpr KernelTable kAvx512Table = make_avx512_table(StreamPrefetch::kSoftware);
constexpr KernelTable kAvx512TableHardwarePrefetch = make_avx512_table(StreamPrefetch::kHardware);

}  // namespace

const KernelTable* avx512_kernel_table(StreamPrefetch prefetch) {
  return prefetch == StreamPrefetch::kSoftware ? &kAvx512Table : &kAvx512TableHardwarePrefetch;
}

}  // namespace capibara::kernels
