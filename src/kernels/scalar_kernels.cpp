// Scalar reference kernels: the ground truth every ISA-specific kernel is tested against.
#include "kernels/attention_tiles.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/ops_scalar.hpp"
#include "kernels/packed_weights.hpp"
#include "kernels/quant_dot_scalar.hpp"

namespace capibara::kernels {
namespace {

void axpy_f32_scalar(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

consteval KernelTable make_scalar_table() {
  KernelTable t;
  t.isa = Isa::kScalar;
  t.rms_norm = scalar::rms_norm;
  t.layer_norm = scalar::layer_norm;
  t.softmax = scalar::softmax;
  t.exp = scalar::exp;
  t.swiglu = scalar::swiglu;
  t.geglu_tanh = scalar::geglu_tanh;
  t.add = scalar::add;
  t.rope_normal = scalar::rope_normal;
  t.rope_neox = scalar::rope_neox;
  t.fp16_to_f32 = scalar::fp16_to_f32;
  t.bf16_to_f32 = scalar::bf16_to_f32;
  t.fp8_to_f32 = scalar::fp8_to_f32;
  t.fp8_to_f16 = scalar::fp8_to_f16;
  t.dot_f32 = scalar::dot_f32;
  t.axpy_f32 = axpy_f32_scalar;
  t.attn_scores = scalar::attn_scores;
  t.attn_values = scalar::attn_values;
  t.attn_scores_f16 = scalar::attn_scores_f16;
  t.attn_values_f16 = scalar::attn_values_f16;
  t.attn_scores_bf16 = scalar::attn_scores_bf16;
  t.attn_values_bf16 = scalar::attn_values_bf16;
  t.attn_softmax = scalar::attn_softmax;
  scalar::set_scalar_quant_dot(t);
  t.quantize_q8_sum = scalar::quantize_q8_sum;
  return t;
}

constexpr KernelTable kScalarTable = make_scalar_table();

}  // namespace

const KernelTable& scalar_kernel_table() { return kScalarTable; }

}  // namespace capibara::kernels
