// Scalar quantized-dot kernels: ggml's generic `ggml_vec_dot_*` semantics, operation for
// operation, so that every ISA version can be tested against them.
#include "kernels/quant_dot_scalar.hpp"

#include <cstring>
#include <type_traits>

#include "core/half.hpp"
#include "core/quant_blocks.hpp"
#include "kernels/dequantize.hpp"
#include "kernels/quantize.hpp"

namespace capibara::kernels::scalar {
namespace {

// Sum over the eight lanes the way ggml's generic K-quant dots do: per-lane f32 sums
// `sums[l] += d * aux32[l]` across super-blocks, added up at the end.
struct LaneSums {
  float sums[8] = {};
  void add(float d, const int32_t* aux32) {
    for (int l = 0; l < 8; ++l) sums[l] += d * static_cast<float>(aux32[l]);
  }
  float total(float start) const {
    for (float s : sums) start += s;
    return start;
  }
};

// aux32[l] += scale * (q8[k] * a[k]) for the 16 weights of one sub-block, eight lanes wide
// (ggml multiplies into `int16_t aux16[8]` first; the products fit in 16 bits).
inline void add_scaled_16(int32_t* aux32, int32_t scale, const int8_t* q8, const int8_t* a) {
  for (int half = 0; half < 2; ++half, q8 += 8, a += 8) {
    for (int l = 0; l < 8; ++l) {
      const auto product = static_cast<int16_t>(q8[l] * a[l]);
      aux32[l] += scale * product;
    }
  }
}

}  // namespace

float dot_f32(const float* a, const float* b, int64_t n) {
  // Four partial sums, like the vector kernels, so results differ from them only by rounding.
  float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (int j = 0; j < 4; ++j) s[j] += a[i + j] * b[i + j];
  }
  for (; i < n; ++i) s[0] += a[i] * b[i];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

// ---- Activation quantizers ----

void quantize_f32(const float* x, void* dst, int64_t n) {
  std::memcpy(dst, x, static_cast<size_t>(n) * sizeof(float));
}
void quantize_f16(const float* x, void* dst, int64_t n) {
  quantize_row_f16(x, static_cast<uint16_t*>(dst), n);
}
void quantize_bf16(const float* x, void* dst, int64_t n) {
  quantize_row_bf16(x, static_cast<uint16_t*>(dst), n);
}
void quantize_q8_0(const float* x, void* dst, int64_t n) {
  quantize_row_q8_0(x, static_cast<BlockQ8_0*>(dst), n);
}
void quantize_q8_1(const float* x, void* dst, int64_t n) {
  quantize_row_q8_1(x, static_cast<BlockQ8_1*>(dst), n);
}
void quantize_q8_k(const float* x, void* dst, int64_t n) {
  quantize_row_q8_k(x, static_cast<BlockQ8_K*>(dst), n);
}

// ---- Plain types ----

float vec_dot_f32(int64_t n, const void* w, const void* a) {
  return dot_f32(static_cast<const float*>(w), static_cast<const float*>(a), n);
}

float vec_dot_f16(int64_t n, const void* w, const void* a) {
  // Products of two halves are exact in f32; ggml sums them in double.
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const uint16_t*>(a);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(fp16_to_f32(x[i]) * fp16_to_f32(y[i]));
  return static_cast<float>(sum);
}

float vec_dot_bf16(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const uint16_t*>(a);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(bf16_to_f32(x[i]) * bf16_to_f32(y[i]));
  return static_cast<float>(sum);
}

// ---- 32-weight blocks ----

float vec_dot_q4_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / BlockQ4_0::kWeights;
  float sum = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int sum0 = 0;
    int sum1 = 0;
    for (int j = 0; j < 16; ++j) {
      sum0 += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j];
      sum1 += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
    }
    sum += static_cast<float>(sum0 + sum1) * fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d);
  }
  return sum;
}

float vec_dot_q4_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  const int64_t nb = n / BlockQ4_1::kWeights;
  float sum = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int sum0 = 0;
    int sum1 = 0;
    for (int j = 0; j < 16; ++j) {
      sum0 += (x[i].qs[j] & 0x0F) * y[i].qs[j];
      sum1 += (x[i].qs[j] >> 4) * y[i].qs[j + 16];
    }
    // The offset term uses the activation block's stored sum `s` (= d * sum(qs), fp16).
    sum += (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d)) * static_cast<float>(sum0 + sum1) +
           fp16_to_f32(x[i].m) * fp16_to_f32(y[i].s);
  }
  return sum;
}

float vec_dot_q5_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / BlockQ5_0::kWeights;
  float sum = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, sizeof(qh));
    int sum0 = 0;
    int sum1 = 0;
    for (int j = 0; j < 16; ++j) {
      const int x0 = static_cast<int>((x[i].qs[j] & 0x0F) | (((qh >> j) & 1u) << 4)) - 16;
      const int x1 = static_cast<int>((x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4)) - 16;
      sum0 += x0 * y[i].qs[j];
      sum1 += x1 * y[i].qs[j + 16];
    }
    sum += (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d)) * static_cast<float>(sum0 + sum1);
  }
  return sum;
}

float vec_dot_q5_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  const int64_t nb = n / BlockQ5_1::kWeights;
  float sum = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, sizeof(qh));
    int sum0 = 0;
    int sum1 = 0;
    for (int j = 0; j < 16; ++j) {
      const int x0 = static_cast<int>((x[i].qs[j] & 0x0F) | (((qh >> j) & 1u) << 4));
      const int x1 = static_cast<int>((x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4));
      sum0 += x0 * y[i].qs[j];
      sum1 += x1 * y[i].qs[j + 16];
    }
    sum += (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d)) * static_cast<float>(sum0 + sum1) +
           fp16_to_f32(x[i].m) * fp16_to_f32(y[i].s);
  }
  return sum;
}

float vec_dot_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / BlockQ8_0::kWeights;
  float sum = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int sumi = 0;
    for (int j = 0; j < BlockQ8_0::kWeights; ++j) sumi += x[i].qs[j] * y[i].qs[j];
    sum += static_cast<float>(sumi) * (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d));
  }
  return sum;
}

// ---- K-quants (256-weight super-blocks) x Q8_K ----

float vec_dot_q2_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ2_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const int64_t nb = n / kQK_K;
  float sum = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* q2 = x[i].qs;
    const int8_t* q8 = y[i].qs;
    const uint8_t* sc = x[i].scales;
    // The mins: sum over sub-blocks of min * (sum of its activation quants).
    int sum_mins = 0;
    for (int j = 0; j < 16; ++j) sum_mins += y[i].bsums[j] * (sc[j] >> 4);
    const float dall = y[i].d * fp16_to_f32(x[i].d);
    const float dmin = y[i].d * fp16_to_f32(x[i].dmin);
    int isum = 0;
    int is = 0;
    for (int k = 0; k < kQK_K / 128; ++k, q2 += 32) {
      for (int shift = 0; shift < 8; shift += 2, q8 += 32) {
        for (int half = 0; half < 2; ++half) {
          const int d = sc[is++] & 0xF;
          int isuml = 0;
          for (int l = 16 * half; l < 16 * half + 16; ++l) isuml += q8[l] * ((q2[l] >> shift) & 3);
          isum += d * isuml;
        }
      }
    }
    sum += dall * static_cast<float>(isum) - dmin * static_cast<float>(sum_mins);
  }
  return sum;
}

float vec_dot_q3_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ3_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const int64_t nb = n / kQK_K;
  LaneSums lanes;
  int8_t aux8[kQK_K];
  for (int64_t i = 0; i < nb; ++i) {
    // Unpack the 3-bit quants to signed values in [-4, 3].
    const uint8_t* q3 = x[i].qs;
    const uint8_t* hm = x[i].hmask;
    int8_t* out = aux8;
    uint8_t m = 1;
    for (int j = 0; j < kQK_K; j += 128, q3 += 32) {
      for (int shift = 0; shift < 8; shift += 2, out += 32, m = static_cast<uint8_t>(m << 1)) {
        for (int l = 0; l < 32; ++l) {
          out[l] = static_cast<int8_t>(((q3[l] >> shift) & 3) - ((hm[l] & m) != 0 ? 0 : 4));
        }
      }
    }
    int32_t aux32[8] = {};
    const int8_t* q8 = y[i].qs;
    const int8_t* q = aux8;
    for (int j = 0; j < kQK_K / 16; ++j, q8 += 16, q += 16) {
      add_scaled_16(aux32, q3_k_scale(j, x[i].scales) - 32, q8, q);
    }
    lanes.add(fp16_to_f32(x[i].d) * y[i].d, aux32);
  }
  return lanes.total(0.0f);
}

namespace {

// Q4_K and Q5_K differ only in the fifth bit (`qh`, Q5_K only).
template <typename Block>
float dot_q4_or_q5_k(int64_t n, const Block* x, const BlockQ8_K* y) {
  constexpr bool kFifthBit = std::is_same_v<Block, BlockQ5_K>;
  const int64_t nb = n / kQK_K;
  LaneSums lanes;
  float sum = 0.0f;
  int8_t aux8[kQK_K];
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* q4 = x[i].qs;
    int8_t* out = aux8;
    for (int j = 0; j < kQK_K / 64; ++j, q4 += 32, out += 64) {
      for (int l = 0; l < 32; ++l) {
        out[l] = static_cast<int8_t>(q4[l] & 0xF);
        out[l + 32] = static_cast<int8_t>(q4[l] >> 4);
      }
      if constexpr (kFifthBit) {
        for (int l = 0; l < 32; ++l) {
          out[l] = static_cast<int8_t>(out[l] + (((x[i].qh[l] >> (2 * j)) & 1) << 4));
          out[l + 32] = static_cast<int8_t>(out[l + 32] + (((x[i].qh[l] >> (2 * j + 1)) & 1) << 4));
        }
      }
    }
    uint8_t sc[8];
    uint8_t mn[8];
    for (int j = 0; j < 8; ++j) get_scale_min_k4(j, x[i].scales, &sc[j], &mn[j]);
    int sum_mins = 0;
    for (int j = 0; j < kQK_K / 16; ++j) sum_mins += y[i].bsums[j] * mn[j / 2];
    int32_t aux32[8] = {};
    const int8_t* q8 = y[i].qs;
    const int8_t* q = aux8;
    for (int j = 0; j < kQK_K / 32; ++j, q8 += 32, q += 32) {
      add_scaled_16(aux32, sc[j], q8, q);
      add_scaled_16(aux32, sc[j], q8 + 16, q + 16);
    }
    lanes.add(fp16_to_f32(x[i].d) * y[i].d, aux32);
    sum -= fp16_to_f32(x[i].dmin) * y[i].d * static_cast<float>(sum_mins);
  }
  return lanes.total(sum);
}

}  // namespace

float vec_dot_q4_k(int64_t n, const void* w, const void* a) {
  return dot_q4_or_q5_k(n, static_cast<const BlockQ4_K*>(w), static_cast<const BlockQ8_K*>(a));
}

float vec_dot_q5_k(int64_t n, const void* w, const void* a) {
  return dot_q4_or_q5_k(n, static_cast<const BlockQ5_K*>(w), static_cast<const BlockQ8_K*>(a));
}

float vec_dot_q6_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const int64_t nb = n / kQK_K;
  LaneSums lanes;
  int8_t aux8[kQK_K];
  for (int64_t i = 0; i < nb; ++i) {
    // Unpack the 6-bit quants to signed values in [-32, 31].
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    int8_t* out = aux8;
    for (int j = 0; j < kQK_K; j += 128, out += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; ++l) {
        out[l + 0] = static_cast<int8_t>(((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        out[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        out[l + 64] = static_cast<int8_t>(((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        out[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
    }
    int32_t aux32[8] = {};
    const int8_t* q8 = y[i].qs;
    const int8_t* q = aux8;
    for (int j = 0; j < kQK_K / 16; ++j, q8 += 16, q += 16) {
      add_scaled_16(aux32, x[i].scales[j], q8, q);
    }
    lanes.add(fp16_to_f32(x[i].d) * y[i].d, aux32);
  }
  return lanes.total(0.0f);
}

}  // namespace capibara::kernels::scalar
