// Reference quantizers for the plain float types and the 32-weight block types (Q4_0 ... Q8_1),
// and the per-type dispatch; the K-quants live in quantize_k.cpp.
#include "kernels/quantize.hpp"

#include <algorithm>
#include <cassert>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "core/half.hpp"

// Bit-exactness with ggml needs every product and sum rounded on its own (see dequantize.cpp).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__) && defined(__FP_FAST_FMAF)
#pragma GCC optimize("fp-contract=off")
#endif

namespace capibara::kernels {
namespace {

template <typename Block>
int64_t n_blocks(int64_t n) {
  assert(n >= 0 && n % Block::kWeights == 0);
  return n / Block::kWeights;
}

// The absolute maximum of `x[0..n)` and the signed value that has it (the first one on ties).
struct SignedMax {
  float amax = 0.0f;
  float max = 0.0f;
};
SignedMax signed_max(const float* x, int n) {
  SignedMax m;
  for (int j = 0; j < n; ++j) {
    if (m.amax < std::fabs(x[j])) {
      m.amax = std::fabs(x[j]);
      m.max = x[j];
    }
  }
  return m;
}

// Stores the 32 fifth bits of a Q5_0 / Q5_1 block as the little-endian uint32 ggml writes.
void store_qh(uint32_t qh, uint8_t* out) {
  for (int b = 0; b < 4; ++b) out[b] = static_cast<uint8_t>(qh >> (8 * b));
}

}  // namespace

bool can_quantize(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ8_0:
    case GgmlType::kQ8_1:
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
    case GgmlType::kQ8_K:
      return true;
    default:
      return false;
  }
}

void quantize_row_f16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = f32_to_fp16(x[i]);
}

void quantize_row_bf16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = f32_to_bf16(x[i]);
}

// Symmetric 4-bit: the value of largest magnitude maps to -8 exactly, so the scale keeps its
// sign and the other end of the range (+7) is used by values of the opposite sign.
void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t n) {
  const int64_t nb = n_blocks<BlockQ4_0>(n);
  for (int64_t i = 0; i < nb; ++i, x += BlockQ4_0::kWeights) {
    const SignedMax m = signed_max(x, BlockQ4_0::kWeights);
    const float d = m.max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    for (int j = 0; j < 16; ++j) {
      const float x0 = x[j] * id;
      const float x1 = x[j + 16] * id;
      // ggml truncates `x + 8.5` through an int8_t, i.e. rounds half up.
      const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(x0 + 8.5f)));
      const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(x1 + 8.5f)));
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

// Asymmetric 4-bit: [min, max] split in 15 steps.
void quantize_row_q4_1(const float* x, BlockQ4_1* y, int64_t n) {
  const int64_t nb = n_blocks<BlockQ4_1>(n);
  for (int64_t i = 0; i < nb; ++i, x += BlockQ4_1::kWeights) {
    float min = FLT_MAX;
    float max = -FLT_MAX;
    for (int j = 0; j < BlockQ4_1::kWeights; ++j) {
      if (x[j] < min) min = x[j];
      if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    y[i].m = f32_to_fp16(min);
    for (int j = 0; j < 16; ++j) {
      const float x0 = (x[j] - min) * id;
      const float x1 = (x[j + 16] - min) * id;
      const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(x0 + 0.5f)));
      const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(x1 + 0.5f)));
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void quantize_row_q5_0(const float* x, BlockQ5_0* y, int64_t n) {
  const int64_t nb = n_blocks<BlockQ5_0>(n);
  for (int64_t i = 0; i < nb; ++i, x += BlockQ5_0::kWeights) {
    const SignedMax m = signed_max(x, BlockQ5_0::kWeights);
    const float d = m.max / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const float x0 = x[j] * id;
      const float x1 = x[j + 16] * id;
      const int q0 = std::min(31, static_cast<int>(static_cast<int8_t>(x0 + 16.5f)));
      const int q1 = std::min(31, static_cast<int>(static_cast<int8_t>(x1 + 16.5f)));
      y[i].qs[j] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
      qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + 16);
    }
    store_qh(qh, y[i].qh);
  }
}

void quantize_row_q5_1(const float* x, BlockQ5_1* y, int64_t n) {
  const int64_t nb = n_blocks<BlockQ5_1>(n);
  for (int64_t i = 0; i < nb; ++i, x += BlockQ5_1::kWeights) {
    float min = FLT_MAX;
    float max = -FLT_MAX;
    for (int j = 0; j < BlockQ5_1::kWeights; ++j) {
      if (x[j] < min) min = x[j];
      if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    y[i].m = f32_to_fp16(min);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const float x0 = (x[j] - min) * id;
      const float x1 = (x[j + 16] - min) * id;
      // No clamp here, as in ggml: (max - min) * id rounds to 31 at most.
      const int q0 = static_cast<uint8_t>(x0 + 0.5f);
      const int q1 = static_cast<uint8_t>(x1 + 0.5f);
      y[i].qs[j] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
      qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + 16);
    }
    store_qh(qh, y[i].qh);
  }
}

void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  const int64_t nb = n_blocks<BlockQ8_0>(n);
  for (int64_t i = 0; i < nb; ++i, x += BlockQ8_0::kWeights) {
    float amax = 0.0f;
    for (int j = 0; j < BlockQ8_0::kWeights; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    // `roundf`: halves away from zero.
    for (int j = 0; j < BlockQ8_0::kWeights; ++j) {
      y[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
    }
  }
}

void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n) {
  const int64_t nb = n_blocks<BlockQ8_1>(n);
  for (int64_t i = 0; i < nb; ++i, x += BlockQ8_1::kWeights) {
    float amax = 0.0f;
    for (int j = 0; j < BlockQ8_1::kWeights; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < BlockQ8_1::kWeights; ++j) {
      y[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
      sum += y[i].qs[j];
    }
    y[i].s = f32_to_fp16(static_cast<float>(sum) * d);
  }
}

void quantize_row_ref(GgmlType type, const float* src, void* dst, int64_t n) {
  assert(n >= 0);
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::kF16:
      return quantize_row_f16(src, static_cast<uint16_t*>(dst), n);
    case GgmlType::kBF16:
      return quantize_row_bf16(src, static_cast<uint16_t*>(dst), n);
    case GgmlType::kQ4_0:
      return quantize_row_q4_0(src, static_cast<BlockQ4_0*>(dst), n);
    case GgmlType::kQ4_1:
      return quantize_row_q4_1(src, static_cast<BlockQ4_1*>(dst), n);
    case GgmlType::kQ5_0:
      return quantize_row_q5_0(src, static_cast<BlockQ5_0*>(dst), n);
    case GgmlType::kQ5_1:
      return quantize_row_q5_1(src, static_cast<BlockQ5_1*>(dst), n);
    case GgmlType::kQ8_0:
      return quantize_row_q8_0(src, static_cast<BlockQ8_0*>(dst), n);
    case GgmlType::kQ8_1:
      return quantize_row_q8_1(src, static_cast<BlockQ8_1*>(dst), n);
    case GgmlType::kQ2_K:
      return quantize_row_q2_k(src, static_cast<BlockQ2_K*>(dst), n);
    case GgmlType::kQ3_K:
      return quantize_row_q3_k(src, static_cast<BlockQ3_K*>(dst), n);
    case GgmlType::kQ4_K:
      return quantize_row_q4_k(src, static_cast<BlockQ4_K*>(dst), n);
    case GgmlType::kQ5_K:
      return quantize_row_q5_k(src, static_cast<BlockQ5_K*>(dst), n);
    case GgmlType::kQ6_K:
      return quantize_row_q6_k(src, static_cast<BlockQ6_K*>(dst), n);
    case GgmlType::kQ8_K:
      return quantize_row_q8_k(src, static_cast<BlockQ8_K*>(dst), n);
    default:
      assert(false && "quantize_row_ref: type without a quantizer (see can_quantize)");
      return;
  }
}

}  // namespace capibara::kernels
