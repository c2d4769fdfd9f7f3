// Scalar reference dequantizers, one per block type, bit-identical to ggml's.
#include "kernels/dequantize.hpp"

#include <cassert>
#include <cstring>

#include "core/half.hpp"

// Bit-exactness with ggml needs every product and sum rounded on its own: forbid the compiler to
// fuse `a * b - c` into one FMA (GCC does so by default wherever the target has FMA, which the
// baseline x86-64 target does not, but aarch64 does).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__) && defined(__FP_FAST_FMAF)
#pragma GCC optimize("fp-contract=off")
#endif

namespace capibara::kernels {
namespace {

// Quant value times scale, the int converted first exactly as C's usual conversions do.
inline float mul(int q, float d) { return static_cast<float>(q) * d; }

// The 32 fifth bits of a Q5_0 / Q5_1 block as the little-endian uint32 ggml reads.
inline uint32_t load_qh(const uint8_t* qh) {
  return static_cast<uint32_t>(qh[0]) | static_cast<uint32_t>(qh[1]) << 8 |
         static_cast<uint32_t>(qh[2]) << 16 | static_cast<uint32_t>(qh[3]) << 24;
}

template <typename Block>
int64_t n_blocks(int64_t n) {
  assert(n >= 0 && n % Block::kWeights == 0);
  return n / Block::kWeights;
}

}  // namespace

bool can_dequantize(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ8_0:
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

void dequantize_row_f16(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_f32(x[i]);
}

void dequantize_row_bf16(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(x[i]);
}

void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n) {
  const int64_t nb = n_blocks<BlockQ4_0>(n);
  for (int64_t i = 0; i < nb; ++i, y += BlockQ4_0::kWeights) {
    const float d = fp16_to_f32(x[i].d);
    for (int j = 0; j < 16; ++j) {
      y[j] = mul((x[i].qs[j] & 0xF) - 8, d);
      y[j + 16] = mul((x[i].qs[j] >> 4) - 8, d);
    }
  }
}

void dequantize_row_q4_1(const BlockQ4_1* x, float* y, int64_t n) {
  const int64_t nb = n_blocks<BlockQ4_1>(n);
  for (int64_t i = 0; i < nb; ++i, y += BlockQ4_1::kWeights) {
    const float d = fp16_to_f32(x[i].d);
    const float m = fp16_to_f32(x[i].m);
    for (int j = 0; j < 16; ++j) {
      y[j] = mul(x[i].qs[j] & 0xF, d) + m;
      y[j + 16] = mul(x[i].qs[j] >> 4, d) + m;
    }
  }
}

void dequantize_row_q5_0(const BlockQ5_0* x, float* y, int64_t n) {
  const int64_t nb = n_blocks<BlockQ5_0>(n);
  for (int64_t i = 0; i < nb; ++i, y += BlockQ5_0::kWeights) {
    const float d = fp16_to_f32(x[i].d);
    const uint32_t qh = load_qh(x[i].qh);
    for (int j = 0; j < 16; ++j) {
      const int h0 = static_cast<int>((qh >> j) & 1u) << 4;
      const int h1 = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
      y[j] = mul(((x[i].qs[j] & 0xF) | h0) - 16, d);
      y[j + 16] = mul(((x[i].qs[j] >> 4) | h1) - 16, d);
    }
  }
}

void dequantize_row_q5_1(const BlockQ5_1* x, float* y, int64_t n) {
  const int64_t nb = n_blocks<BlockQ5_1>(n);
  for (int64_t i = 0; i < nb; ++i, y += BlockQ5_1::kWeights) {
    const float d = fp16_to_f32(x[i].d);
    const float m = fp16_to_f32(x[i].m);
    const uint32_t qh = load_qh(x[i].qh);
    for (int j = 0; j < 16; ++j) {
      const int h0 = static_cast<int>((qh >> j) & 1u) << 4;
      const int h1 = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
      y[j] = mul((x[i].qs[j] & 0xF) | h0, d) + m;
      y[j + 16] = mul((x[i].qs[j] >> 4) | h1, d) + m;
    }
  }
}

void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n) {
  const int64_t nb = n_blocks<BlockQ8_0>(n);
  for (int64_t i = 0; i < nb; ++i, y += BlockQ8_0::kWeights) {
    const float d = fp16_to_f32(x[i].d);
    for (int j = 0; j < BlockQ8_0::kWeights; ++j) y[j] = mul(x[i].qs[j], d);
  }
}

// Q2_K and Q3_K pack their 2-bit quants the same way: each 128 weights use 32 bytes, and the
// four 32-weight quarters take bits 0-1, 2-3, 4-5, 6-7 of those bytes. Weight `32 * s + l` of a
// 128-weight half is bits `2 * s` of byte `l`.
void dequantize_row_q2_k(const BlockQ2_K* x, float* y, int64_t n) {
  const int64_t nb = n_blocks<BlockQ2_K>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(x[i].d);
    const float dmin = fp16_to_f32(x[i].dmin);
    const uint8_t* q = x[i].qs;
    int is = 0;
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 2; ++part) {  // two 16-weight sub-blocks per shift
          const uint8_t sc = x[i].scales[is++];
          const float dl = mul(sc & 0xF, d);
          const float ml = mul(sc >> 4, dmin);
          for (int l = 0; l < 16; ++l) *y++ = mul((q[l + 16 * part] >> shift) & 3, dl) - ml;
        }
      }
    }
  }
}

void dequantize_row_q3_k(const BlockQ3_K* x, float* y, int64_t n) {
  const int64_t nb = n_blocks<BlockQ3_K>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const float d_all = fp16_to_f32(x[i].d);
    const uint8_t* q = x[i].qs;
    const uint8_t* hm = x[i].hmask;
    uint8_t m = 1;
    int is = 0;
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, m = static_cast<uint8_t>(m << 1)) {
        for (int part = 0; part < 2; ++part) {
          const float dl = mul(q3_k_scale(is++, x[i].scales) - 32, d_all);
          for (int l = 16 * part; l < 16 * part + 16; ++l) {
            const int low = (q[l] >> shift) & 3;
            *y++ = mul(low - ((hm[l] & m) ? 0 : 4), dl);
          }
        }
      }
    }
  }
}

// Q4_K and Q5_K: each 64 weights are two 32-weight sub-blocks sharing 32 bytes of nibbles (low
// nibbles = first sub-block); Q5_K adds bit `2 * (chunk) + (0 or 1)` of qh[l] as the fifth bit.
void dequantize_row_q4_k(const BlockQ4_K* x, float* y, int64_t n) {
  const int64_t nb = n_blocks<BlockQ4_K>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(x[i].d);
    const float dmin = fp16_to_f32(x[i].dmin);
    const uint8_t* q = x[i].qs;
    for (int is = 0; is < 8; is += 2, q += 32) {
      uint8_t sc;
      uint8_t m;
      get_scale_min_k4(is, x[i].scales, &sc, &m);
      const float d1 = mul(sc, d);
      const float m1 = mul(m, dmin);
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = mul(sc, d);
      const float m2 = mul(m, dmin);
      for (int l = 0; l < 32; ++l) *y++ = mul(q[l] & 0xF, d1) - m1;
      for (int l = 0; l < 32; ++l) *y++ = mul(q[l] >> 4, d2) - m2;
    }
  }
}

void dequantize_row_q5_k(const BlockQ5_K* x, float* y, int64_t n) {
  const int64_t nb = n_blocks<BlockQ5_K>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(x[i].d);
    const float dmin = fp16_to_f32(x[i].dmin);
    const uint8_t* ql = x[i].qs;
    const uint8_t* qh = x[i].qh;
    uint8_t u1 = 1;
    uint8_t u2 = 2;
    for (int is = 0; is < 8; is += 2, ql += 32) {
      uint8_t sc;
      uint8_t m;
      get_scale_min_k4(is, x[i].scales, &sc, &m);
      const float d1 = mul(sc, d);
      const float m1 = mul(m, dmin);
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = mul(sc, d);
      const float m2 = mul(m, dmin);
      for (int l = 0; l < 32; ++l) *y++ = mul((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0), d1) - m1;
      for (int l = 0; l < 32; ++l) *y++ = mul((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0), d2) - m2;
      u1 = static_cast<uint8_t>(u1 << 2);
      u2 = static_cast<uint8_t>(u2 << 2);
    }
  }
}

// Q6_K: each 128 weights use 64 bytes of ql and 32 of qh. Weight `l + 32 * s` (s = 0..3) takes
// the low nibble (s = 0, 1) or high nibble (s = 2, 3) of ql[l + 32 * (s % 2)] and bits `2 * s`
// of qh[l]; its scale is that of sub-block `l / 16 + 2 * s`.
void dequantize_row_q6_k(const BlockQ6_K* x, float* y, int64_t n) {
  const int64_t nb = n_blocks<BlockQ6_K>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        // ggml computes (d * sc) * q, in that order.
        y[l] = mul(q1, mul(sc[is + 0], d));
        y[l + 32] = mul(q2, mul(sc[is + 2], d));
        y[l + 64] = mul(q3, mul(sc[is + 4], d));
        y[l + 96] = mul(q4, mul(sc[is + 6], d));
      }
    }
  }
}

void dequantize_row_q8_k(const BlockQ8_K* x, float* y, int64_t n) {
  const int64_t nb = n_blocks<BlockQ8_K>(n);
  for (int64_t i = 0; i < nb; ++i, y += BlockQ8_K::kWeights) {
    for (int j = 0; j < BlockQ8_K::kWeights; ++j) y[j] = mul(x[i].qs[j], x[i].d);
  }
}

void dequantize_row_ref(GgmlType type, const void* src, float* dst, int64_t n) {
  assert(n >= 0);
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::kF16:
      return dequantize_row_f16(static_cast<const uint16_t*>(src), dst, n);
    case GgmlType::kBF16:
      return dequantize_row_bf16(static_cast<const uint16_t*>(src), dst, n);
    case GgmlType::kQ4_0:
      return dequantize_row_q4_0(static_cast<const BlockQ4_0*>(src), dst, n);
    case GgmlType::kQ4_1:
      return dequantize_row_q4_1(static_cast<const BlockQ4_1*>(src), dst, n);
    case GgmlType::kQ5_0:
      return dequantize_row_q5_0(static_cast<const BlockQ5_0*>(src), dst, n);
    case GgmlType::kQ5_1:
      return dequantize_row_q5_1(static_cast<const BlockQ5_1*>(src), dst, n);
    case GgmlType::kQ8_0:
      return dequantize_row_q8_0(static_cast<const BlockQ8_0*>(src), dst, n);
    case GgmlType::kQ2_K:
      return dequantize_row_q2_k(static_cast<const BlockQ2_K*>(src), dst, n);
    case GgmlType::kQ3_K:
      return dequantize_row_q3_k(static_cast<const BlockQ3_K*>(src), dst, n);
    case GgmlType::kQ4_K:
      return dequantize_row_q4_k(static_cast<const BlockQ4_K*>(src), dst, n);
    case GgmlType::kQ5_K:
      return dequantize_row_q5_k(static_cast<const BlockQ5_K*>(src), dst, n);
    case GgmlType::kQ6_K:
      return dequantize_row_q6_k(static_cast<const BlockQ6_K*>(src), dst, n);
    case GgmlType::kQ8_K:
      return dequantize_row_q8_k(static_cast<const BlockQ8_K*>(src), dst, n);
    default:
      assert(false && "dequantize_row_ref: type without a dequantizer (see can_dequantize)");
      return;
  }
}

}  // namespace capibara::kernels
