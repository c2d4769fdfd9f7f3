// Scalar reference kernels: the ground truth every ISA-specific kernel is tested against.
#include "kernels/kernel_table.hpp"

namespace capibara::kernels {
namespace {

float dot_f32_scalar(const float* a, const float* b, int64_t n) {
  // Four partial sums, like the vector kernels, so results differ from them only by rounding.
  float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (int j = 0; j < 4; ++j) s[j] += a[i + j] * b[i + j];
  }
  for (; i < n; ++i) s[0] += a[i] * b[i];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

void axpy_f32_scalar(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

constexpr KernelTable kScalarTable{Isa::kScalar, dot_f32_scalar, axpy_f32_scalar};

}  // namespace

const KernelTable& scalar_kernel_table() { return kScalarTable; }

}  // namespace capibara::kernels
