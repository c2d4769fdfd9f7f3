// AVX-512 VNNI quantized-dot kernels for the 32-weight block types: `vpdpbusd` sums four
// u8 x s8 products per int32 lane in one instruction (AVX2 needs `maddubs` + `madd`), and Q8_0 /
// Q4_0 take two blocks per 512-bit register.
//
// The integer sums are exact and the float accumulation mirrors the AVX2 kernels lane for lane
// (even blocks in the low half, odd blocks in the high half, like AVX2's two accumulators), so
// the results are bit-identical to the AVX2 table's: switching tables never moves a logit.
//
// Compiled with AVX-512 F/BW/VL/VNNI flags and only called through the AVX-512 table after the
// dispatcher has checked the CPU and the OS. The only header with inline functions it includes
// (avx512_common.hpp) gives them internal linkage.
#include "kernels/x86/kernels_avx512.hpp"

#include "kernels/x86/avx512_common.hpp"

#include <cstring>

#include "core/quant_blocks.hpp"

namespace capibara::kernels::avx512 {
namespace {

inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Two 256-bit halves as one 512-bit register (`lo` in lanes 0..7).
inline __m512i join(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}
inline __m512 join_ps(__m256 lo, __m256 hi) {
  return _mm512_castpd_ps(
      _mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi), 1));
}

// The final sum of the AVX2 kernels: low half + high half, then across lanes.
inline float hsum_halves(__m512 acc) {
  const __m256 lo = _mm512_castps512_ps256(acc);
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
  return hsum_ps(_mm256_add_ps(lo, hi));
}

inline __m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

inline __m256i bits_to_bytes(uint32_t bits) {
  const __m256i spread =
      _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)),
                          _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                           2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

// Four-product sums per int32 lane: unsigned x signed, and signed x signed (the sign of `x`
// moved onto `y`; `x` and `y` in [-127, 127]).
inline __m256i dot_u8_i8(__m256i u, __m256i s) {
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}
inline __m256i dot_i8_i8(__m256i x, __m256i y) {
  return dot_u8_i8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}
inline __m512i dot_i8_i8(__m512i x, __m512i y) {
  const __mmask64 negative = _mm512_movepi8_mask(x);
  const __m512i signed_y = _mm512_mask_sub_epi8(y, negative, _mm512_setzero_si512(), y);
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(x), signed_y);
}

// acc += d * p with d, p given per half; the tail block of an odd count goes to the low half.
inline __m512 fma_halves(float d_lo, float d_hi, __m512i p, __m512 acc) {
  const __m512 d = join_ps(_mm256_set1_ps(d_lo), _mm256_set1_ps(d_hi));
  return _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
}
inline __m512 fma_low(float d, __m256i p, __m512 acc) {
  const __m512 dv = join_ps(_mm256_set1_ps(d), _mm256_setzero_ps());
  const __m512i pv = join(p, _mm256_setzero_si256());
  return _mm512_fmadd_ps(dv, _mm512_cvtepi32_ps(pv), acc);
}

}  // namespace

float vec_dot_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / BlockQ8_0::kWeights;
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const __m512i p = dot_i8_i8(join(load256(x[i].qs), load256(x[i + 1].qs)),
                                join(load256(y[i].qs), load256(y[i + 1].qs)));
    acc = fma_halves(half_to_float(x[i].d) * half_to_float(y[i].d),
                     half_to_float(x[i + 1].d) * half_to_float(y[i + 1].d), p, acc);
  }
  for (; i < nb; ++i) {
    const __m256i p = dot_i8_i8(load256(x[i].qs), load256(y[i].qs));
    acc = fma_low(half_to_float(x[i].d) * half_to_float(y[i].d), p, acc);
  }
  return hsum_halves(acc);
}

float vec_dot_q4_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / BlockQ4_0::kWeights;
  const __m512i eight = _mm512_set1_epi8(8);
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    // sum (q - 8) * a = sum q * a - sum 8 * a, per group of four, exactly.
    const __m512i q = join(unpack_nibbles(x[i].qs), unpack_nibbles(x[i + 1].qs));
    const __m512i act = join(load256(y[i].qs), load256(y[i + 1].qs));
    const __m512i p = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q, act),
                                       _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, act));
    acc = fma_halves(half_to_float(x[i].d) * half_to_float(y[i].d),
                     half_to_float(x[i + 1].d) * half_to_float(y[i + 1].d), p, acc);
  }
  for (; i < nb; ++i) {
    const __m256i q = _mm256_sub_epi8(unpack_nibbles(x[i].qs), _mm256_set1_epi8(8));
    const __m256i p = dot_i8_i8(q, load256(y[i].qs));
    acc = fma_low(half_to_float(x[i].d) * half_to_float(y[i].d), p, acc);
  }
  return hsum_halves(acc);
}

float vec_dot_q4_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  const int64_t nb = n / BlockQ4_1::kWeights;
  __m256 acc = _mm256_setzero_ps();
  float offsets = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    const __m256i p = dot_u8_i8(unpack_nibbles(x[i].qs), load256(y[i].qs));
    const float d = half_to_float(x[i].d) * half_to_float(y[i].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(p), acc);
    offsets += half_to_float(x[i].m) * half_to_float(y[i].s);
  }
  return hsum_ps(acc) + offsets;
}

float vec_dot_q5_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / BlockQ5_0::kWeights;
  const __m256i high_nibble = _mm256_set1_epi8(static_cast<char>(0xF0));
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, sizeof(qh));
    const __m256i q = _mm256_or_si256(unpack_nibbles(x[i].qs),
                                      _mm256_andnot_si256(bits_to_bytes(qh), high_nibble));
    const __m256i p = dot_i8_i8(q, load256(y[i].qs));
    const float d = half_to_float(x[i].d) * half_to_float(y[i].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(p), acc);
  }
  return hsum_ps(acc);
}

float vec_dot_q5_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  const int64_t nb = n / BlockQ5_1::kWeights;
  const __m256i fifth_bit = _mm256_set1_epi8(0x10);
  __m256 acc = _mm256_setzero_ps();
  float offsets = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, sizeof(qh));
    const __m256i q =
        _mm256_or_si256(unpack_nibbles(x[i].qs), _mm256_and_si256(bits_to_bytes(qh), fifth_bit));
    const __m256i p = dot_u8_i8(q, load256(y[i].qs));
    const float d = half_to_float(x[i].d) * half_to_float(y[i].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(p), acc);
    offsets += half_to_float(x[i].m) * half_to_float(y[i].s);
  }
  return hsum_ps(acc) + offsets;
}

// ---- Prefill micro-kernels: kTileRows weight rows x kTileTokens tokens per call ----
//
// Each (row, token) keeps its own accumulator and receives, block pair by block pair, exactly the
// `fma_halves` / `fma_low` operands `vec_dot` gives it (the same exact integer sums, the same
// float scale products), then the same `hsum_halves`: the results are bit-identical. The integer
// sums are rearranged, exactly: Q4_0 takes sum q * a - sum 8 * a with the second term once per
// token; Q8_0 takes sum (a + 128) * w - sum 128 * w with the second term once per row, so one
// `vpdpbusd` per (row, token) and block pair remains.

namespace {

inline __m512 join_scales(uint16_t lo, uint16_t hi) {
  return join_ps(_mm256_set1_ps(half_to_float(lo)), _mm256_set1_ps(half_to_float(hi)));
}
inline __m512 low_scale(uint16_t lo) {
  return join_ps(_mm256_set1_ps(half_to_float(lo)), _mm256_setzero_ps());
}

template <typename WeightBlock>
struct TileState {
  const WeightBlock* x[kTileRows];
  const BlockQ8_0* y[kTileTokens];
  __m512 acc[kTileRows][kTileTokens];

  TileState(const void* w, size_t w_stride, const void* act, size_t act_stride) {
    for (int r = 0; r < kTileRows; ++r) {
      x[r] = reinterpret_cast<const WeightBlock*>(static_cast<const uint8_t*>(w) + r * w_stride);
    }
    for (int c = 0; c < kTileTokens; ++c) {
      y[c] = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(act) + c * act_stride);
    }
    for (auto& row : acc) {
      for (auto& a : row) a = _mm512_setzero_ps();
    }
  }

  void store(float* out, size_t y_stride) const {
    for (int c = 0; c < kTileTokens; ++c) {
      for (int r = 0; r < kTileRows; ++r) out[c * y_stride + r] = hsum_halves(acc[r][c]);
    }
  }
};

}  // namespace

void vec_dot_tile_q4_0(int64_t n, const void* w, size_t w_stride, const void* act,
                       size_t act_stride, float* y, size_t y_stride) {
  TileState<BlockQ4_0> s(w, w_stride, act, act_stride);
  const int64_t nb = n / BlockQ4_0::kWeights;
  const __m512i eight = _mm512_set1_epi8(8);
  const __m256i zero = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    __m512i q[kTileRows];
    __m512 dw[kTileRows];
    for (int r = 0; r < kTileRows; ++r) {
      q[r] = join(unpack_nibbles(s.x[r][i].qs), unpack_nibbles(s.x[r][i + 1].qs));
      dw[r] = join_scales(s.x[r][i].d, s.x[r][i + 1].d);
    }
    for (int c = 0; c < kTileTokens; ++c) {
      const __m512i a = join(load256(s.y[c][i].qs), load256(s.y[c][i + 1].qs));
      const __m512i offset = _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, a);
      const __m512 da = join_scales(s.y[c][i].d, s.y[c][i + 1].d);
      for (int r = 0; r < kTileRows; ++r) {
        const __m512i p =
            _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q[r], a), offset);
        s.acc[r][c] = _mm512_fmadd_ps(_mm512_mul_ps(dw[r], da), _mm512_cvtepi32_ps(p), s.acc[r][c]);
      }
    }
  }
  if (i < nb) {
    __m512i q[kTileRows];
    __m512 dw[kTileRows];
    for (int r = 0; r < kTileRows; ++r) {
      q[r] = join(unpack_nibbles(s.x[r][i].qs), zero);
      dw[r] = low_scale(s.x[r][i].d);
    }
    for (int c = 0; c < kTileTokens; ++c) {
      const __m512i a = join(load256(s.y[c][i].qs), zero);
      const __m512i offset = _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, a);
      const __m512 da = low_scale(s.y[c][i].d);
      for (int r = 0; r < kTileRows; ++r) {
        const __m512i p =
            _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q[r], a), offset);
        s.acc[r][c] = _mm512_fmadd_ps(_mm512_mul_ps(dw[r], da), _mm512_cvtepi32_ps(p), s.acc[r][c]);
      }
    }
  }
  s.store(y, y_stride);
}

void vec_dot_tile_q8_0(int64_t n, const void* w, size_t w_stride, const void* act,
                       size_t act_stride, float* y, size_t y_stride) {
  TileState<BlockQ8_0> s(w, w_stride, act, act_stride);
  const int64_t nb = n / BlockQ8_0::kWeights;
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m256i zero = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    __m512i q[kTileRows];
    __m512i offset[kTileRows];
    __m512 dw[kTileRows];
    for (int r = 0; r < kTileRows; ++r) {
      q[r] = join(load256(s.x[r][i].qs), load256(s.x[r][i + 1].qs));
      offset[r] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, q[r]);
      dw[r] = join_scales(s.x[r][i].d, s.x[r][i + 1].d);
    }
    for (int c = 0; c < kTileTokens; ++c) {
      const __m512i a = _mm512_xor_si512(join(load256(s.y[c][i].qs), load256(s.y[c][i + 1].qs)),
                                         bias);  // a + 128
      const __m512 da = join_scales(s.y[c][i].d, s.y[c][i + 1].d);
      for (int r = 0; r < kTileRows; ++r) {
        const __m512i p =
            _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), a, q[r]), offset[r]);
        s.acc[r][c] = _mm512_fmadd_ps(_mm512_mul_ps(dw[r], da), _mm512_cvtepi32_ps(p), s.acc[r][c]);
      }
    }
  }
  if (i < nb) {
    __m512i q[kTileRows];
    __m512i offset[kTileRows];
    __m512 dw[kTileRows];
    for (int r = 0; r < kTileRows; ++r) {
      q[r] = join(load256(s.x[r][i].qs), zero);
      offset[r] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, q[r]);
      dw[r] = low_scale(s.x[r][i].d);
    }
    for (int c = 0; c < kTileTokens; ++c) {
      const __m512i a = _mm512_xor_si512(join(load256(s.y[c][i].qs), zero), bias);
      const __m512 da = low_scale(s.y[c][i].d);
      for (int r = 0; r < kTileRows; ++r) {
        const __m512i p =
            _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), a, q[r]), offset[r]);
        s.acc[r][c] = _mm512_fmadd_ps(_mm512_mul_ps(dw[r], da), _mm512_cvtepi32_ps(p), s.acc[r][c]);
      }
    }
  }
  s.store(y, y_stride);
}

}  // namespace capibara::kernels::avx512
