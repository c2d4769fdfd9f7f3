// AVX2 quantized-dot kernels: integer dot products of 8-bit activation blocks with quantized
// weights (`_mm256_maddubs_epi16` then `_mm256_madd_epi16`), the F32, F16C half and BF16 dots
// (one loop), and vector versions of the activation quantizers that write the same bytes as the
// scalar ones.
//
// Compiled with -mavx2 -mfma -mf16c and only called through the AVX2 table after the dispatcher
// has checked the CPU. Everything here has internal linkage or is declared in
// kernels_avx2.hpp; no header with inline functions is included (core/half.hpp would leak an
// AVX2-compiled copy of its functions into generic code), F16C converts halves instead.
#include "kernels/x86/kernels_avx2.hpp"

#include <immintrin.h>

#include <cstring>

#include "core/quant_blocks.hpp"
#include "kernels/packed_weights.hpp"

namespace capibara::kernels::avx2 {
namespace {

inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline int hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

inline float hmax_ps(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }
inline uint16_t float_to_half(float f) {
  return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// `roundf` on eight lanes (to nearest, halves away from zero) as trunc(v + copysign(h, v)) with h
// the float just below 0.5 (0.5 - 2^-25). Exact for every float but NaN: a fraction below one half
// stays below the next integer after the add (the sum is at most 2^-25 short of a float that is
// still below it, and rounds to that float), a half or more reaches it (a half's sum is 2^-25
// short of the integer, which is then the nearest float, or the even one of a tie below 1); and
// where floats are integers or halves (|v| >= 2^22) the add moves v by at most what truncation
// drops. Four operations against seven for trunc and compare. Checked once against `roundf` on
// all 2^32 bit patterns (no difference on any that is not a NaN; 16 s, so not in the suite); the
// quantizer tests' halves, ties and extremes keep checking it.
inline __m256 round_half_away(__m256 v) {
  const __m256 half_below = _mm256_set1_ps(0.49999997f);
  const __m256 h = _mm256_or_ps(half_below, _mm256_and_ps(v, _mm256_set1_ps(-0.0f)));
  return _mm256_round_ps(_mm256_add_ps(v, h), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
}

// Four vectors of eight int32 (each in [-128, 127]) to 32 int8 in order.
inline __m256i pack_i32_to_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
  // The packs work per 128-bit lane, leaving the 4-byte groups in the order a0 b0 c0 d0 a1 b1 c1
  // d1 (x0 = elements 0..3 of x, x1 = 4..7); the permutation restores a0 a1 b0 b1 ...
  const __m256i abcd = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
  return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// 16 bytes of nibbles to 32 bytes in [0, 15]: the low nibbles first, then the high ones (the
// weight order of Q4_0 / Q4_1 / Q5_0 / Q5_1 blocks).
inline __m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i packed = load128(qs);
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// Byte j = 0xFF where bit j of `bits` is set, else 0.
inline __m256i bits_to_bytes(uint32_t bits) {
  const __m256i spread =
      _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)),
                          _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                           2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

// Sum of pairs of (unsigned bytes u) x (signed bytes s) widened to eight int32 lanes. Exact while
// |u * s| pairs fit in int16, which holds for u <= 127 (and for u = 128 with s > -128).
inline __m256i dot_u8_i8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// The same for signed x signed: move the sign of `x` onto `y`.
inline __m256i dot_i8_i8(__m256i x, __m256i y) {
  return dot_u8_i8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

inline __m256 i32_to_ps(__m256i v) { return _mm256_cvtepi32_ps(v); }

}  // namespace

// ---- Activation quantizers (byte-identical to the scalar ones) ----

void quantize_f16(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) y[i] = float_to_half(x[i]);
}

namespace {

// f32 -> bf16 as `f32_to_bf16` does it: round to nearest even, NaN kept quiet.
inline __m256i f32_to_bf16_epi32(__m256 v) {
  const __m256i bits = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_srli_epi32(
      _mm256_add_epi32(bits, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb)), 16);
  const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff)),
                                            _mm256_set1_epi32(0x7f800000));
  const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(64));
  return _mm256_blendv_epi8(rounded, quiet, is_nan);
}

}  // namespace

void quantize_bf16(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i lo = f32_to_bf16_epi32(_mm256_loadu_ps(x + i));
    const __m256i hi = f32_to_bf16_epi32(_mm256_loadu_ps(x + i + 8));
    // packus works per 128-bit lane; 0xD8 puts the 64-bit groups back in order.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), packed);
  }
  for (; i < n; ++i) {
    const __m256i one = f32_to_bf16_epi32(_mm256_set1_ps(x[i]));
    y[i] = static_cast<uint16_t>(_mm256_cvtsi256_si32(one));
  }
}

namespace {

// Q8_0 / Q8_1 quants of one 32-value block: d = amax / 127, q = roundf(x * (1 / d)).
// Returns the quants as four int32 vectors in `q` and d.
inline float quantize_block_32(const float* x, __m256i q[4]) {
  __m256 v[4];
  for (int k = 0; k < 4; ++k) v[k] = _mm256_loadu_ps(x + 8 * k);
  const __m256 m = _mm256_max_ps(_mm256_max_ps(abs_ps(v[0]), abs_ps(v[1])),
                                 _mm256_max_ps(abs_ps(v[2]), abs_ps(v[3])));
  const float d = hmax_ps(m) / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  const __m256 scale = _mm256_set1_ps(id);
  for (int k = 0; k < 4; ++k) {
    q[k] = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v[k], scale)));
  }
  return d;
}

}  // namespace

void quantize_q8_0(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  const int64_t nb = n / BlockQ8_0::kWeights;
  for (int64_t i = 0; i < nb; ++i, x += BlockQ8_0::kWeights) {
    __m256i q[4];
    y[i].d = float_to_half(quantize_block_32(x, q));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs),
                        pack_i32_to_i8(q[0], q[1], q[2], q[3]));
  }
}

void quantize_q8_1(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_1*>(dst);
  const int64_t nb = n / BlockQ8_1::kWeights;
  for (int64_t i = 0; i < nb; ++i, x += BlockQ8_1::kWeights) {
    __m256i q[4];
    const float d = quantize_block_32(x, q);
    y[i].d = float_to_half(d);
    const int sum =
        hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
    y[i].s = float_to_half(static_cast<float>(sum) * d);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs),
                        pack_i32_to_i8(q[0], q[1], q[2], q[3]));
  }
}

namespace {

// Lane j of the result is op-reduction of all eight lanes of v[j] (a transpose and reduce in
// three steps); `op` is associative and commutative (max, add).
template <typename Op>
inline __m256 reduce_lanes_8(const __m256 (&v)[8], Op op) {
  __m256 pairs[4];  // per 128-bit half: [v2i 02, v2i+1 02, v2i 13, v2i+1 13]
  for (int i = 0; i < 4; ++i) {
    pairs[i] =
        op(_mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  }
  __m256 quads[2];  // per 128-bit half: v4i .. v4i+3, each over that half's lanes
  for (int i = 0; i < 2; ++i) {
    quads[i] = op(_mm256_shuffle_ps(pairs[2 * i], pairs[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                  _mm256_shuffle_ps(pairs[2 * i], pairs[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  }
  return op(_mm256_permute2f128_ps(quads[0], quads[1], 0x20),
            _mm256_permute2f128_ps(quads[0], quads[1], 0x31));
}

// Eight blocks at once: their maxima reduced together and one division each for d and 1 / d,
// instead of a block's chain of reduction, two scalar divisions, quantizing and summing, which
// the out-of-order core could not overlap from one block to the next (the FP scheduler fills
// with the waiting chain): 20 ns a block (Zen 4) block by block.
inline void quantize_q8_sum_8(const float* x, BlockQ8Sum* y) {
  __m256 amax[8];
  for (int j = 0; j < 8; ++j) {
    const float* b = x + 32 * j;
    amax[j] = _mm256_max_ps(
        _mm256_max_ps(abs_ps(_mm256_loadu_ps(b)), abs_ps(_mm256_loadu_ps(b + 8))),
        _mm256_max_ps(abs_ps(_mm256_loadu_ps(b + 16)), abs_ps(_mm256_loadu_ps(b + 24))));
  }
  const __m256 d =
      _mm256_div_ps(reduce_lanes_8(amax, [](__m256 a, __m256 b) { return _mm256_max_ps(a, b); }),
                    _mm256_set1_ps(127.0f));
  // 1 / d, and 0 where d is 0 (as the reference's `d ? 1 / d : 0`).
  const __m256 id = _mm256_and_ps(_mm256_cmp_ps(d, _mm256_setzero_ps(), _CMP_NEQ_UQ),
                                  _mm256_div_ps(_mm256_set1_ps(1.0f), d));
  alignas(32) float ids[8];
  alignas(32) float ds[8];
  _mm256_store_ps(ids, id);
  // d as the Q8_0 block stores it (fp16), widened back.
  _mm256_store_ps(ds, _mm256_cvtph_ps(_mm256_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT)));
  __m256 sums[8];
  for (int j = 0; j < 8; ++j) {
    const float* b = x + 32 * j;
    const __m256 scale = _mm256_broadcast_ss(&ids[j]);
    __m256i q[4];
    for (int k = 0; k < 4; ++k) {
      q[k] = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(_mm256_loadu_ps(b + 8 * k), scale)));
    }
    const __m256i bytes = pack_i32_to_i8(q[0], q[1], q[2], q[3]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[j].qs), bytes);
    // The sum of the stored bytes (the reference sums them, not the unsaturated quants).
    sums[j] = _mm256_castsi256_ps(dot_u8_i8(_mm256_set1_epi8(1), bytes));
  }
  alignas(32) int32_t block_sums[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(block_sums),
                     _mm256_castps_si256(reduce_lanes_8(sums, [](__m256 a, __m256 b) {
                       return _mm256_castsi256_ps(
                           _mm256_add_epi32(_mm256_castps_si256(a), _mm256_castps_si256(b)));
                     })));
  for (int j = 0; j < 8; ++j) {
    y[j].d = ds[j];
    y[j].sum = block_sums[j];
  }
}

}  // namespace

// TinyLlama's decoding quantizes ~90 matmul inputs a token on one thread while the others wait
// (docs/PERFORMANCE.md, "Between the operations"): eight blocks at a time, the rest one by one.
void quantize_q8_sum(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8Sum*>(dst);
  const int64_t nb = n / BlockQ8_0::kWeights;
  int64_t i = 0;
  for (; i + 8 <= nb; i += 8) quantize_q8_sum_8(x + i * BlockQ8_0::kWeights, y + i);
  for (; i < nb; ++i) {
    __m256i q[4];
    y[i].d = half_to_float(float_to_half(quantize_block_32(x + i * BlockQ8_0::kWeights, q)));
    const __m256i bytes = pack_i32_to_i8(q[0], q[1], q[2], q[3]);
    y[i].sum = hsum_epi32(dot_u8_i8(_mm256_set1_epi8(1), bytes));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs), bytes);
  }
}

void quantize_q8_k(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_K*>(dst);
  const int64_t nb = n / kQK_K;
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < kQK_K; k += 8) m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(x + k)));
    const float amax = hmax_ps(m);
    if (amax == 0.0f) {
      std::memset(&y[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    // The scale comes from the first value of largest magnitude, sign included.
    const __m256 target = _mm256_set1_ps(amax);
    int first = 0;
    for (int k = 0; k < kQK_K; k += 8) {
      const __m256 eq = _mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + k)), target, _CMP_EQ_OQ);
      const int mask = _mm256_movemask_ps(eq);
      if (mask != 0) {
        first = k + __builtin_ctz(static_cast<unsigned>(mask));
        break;
      }
    }
    const float iscale = -127.0f / x[first];
    const __m256 scale = _mm256_set1_ps(iscale);
    const __m256i max_q = _mm256_set1_epi32(127);
    for (int c = 0; c < kQK_K / 32; ++c) {
      __m256i q[4];
      for (int k = 0; k < 4; ++k) {
        // cvtps rounds to nearest even under the default MXCSR, as `nearest_int` does.
        const __m256 scaled = _mm256_mul_ps(_mm256_loadu_ps(x + 32 * c + 8 * k), scale);
        q[k] = _mm256_min_epi32(_mm256_cvtps_epi32(scaled), max_q);
      }
      const __m256i q8 = pack_i32_to_i8(q[0], q[1], q[2], q[3]);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs + 32 * c), q8);
      // Sums of 16 quants: bias them to unsigned, sum bytes with sad, remove the bias.
      const __m256i sad =
          _mm256_sad_epu8(_mm256_xor_si256(q8, _mm256_set1_epi8(-128)), _mm256_setzero_si256());
      const __m256i pairs =
          _mm256_add_epi64(sad, _mm256_shuffle_epi32(sad, _MM_SHUFFLE(1, 0, 3, 2)));
      y[i].bsums[2 * c] = static_cast<int16_t>(_mm256_extract_epi32(pairs, 0) - 16 * 128);
      y[i].bsums[2 * c + 1] = static_cast<int16_t>(_mm256_extract_epi32(pairs, 4) - 16 * 128);
    }
    y[i].d = 1 / iscale;
  }
}

// ---- Float, half and bfloat16 dots ----

namespace {

// The loop of the f32, f16 and bf16 dots: two 8-lane fma chains in steps of 16, one more step
// of 8, the chains' sum reduced, then the scalar tail. `load8(p)` widens 8 elements at p to
// floats, `widen(e)` one.
template <typename T, typename Load8, typename Widen>
inline float two_chain_dot(const T* x, const T* y, int64_t n, Load8 load8, Widen widen) {
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(load8(x + i), load8(y + i), acc0);
    acc1 = _mm256_fmadd_ps(load8(x + i + 8), load8(y + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(load8(x + i), load8(y + i), acc0);
  float sum = hsum_ps(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) sum += widen(x[i]) * widen(y[i]);
  return sum;
}

}  // namespace

float dot_f32(const float* a, const float* b, int64_t n) {
  return two_chain_dot(
      a, b, n, [](const float* p) { return _mm256_loadu_ps(p); }, [](float e) { return e; });
}

float vec_dot_f16(int64_t n, const void* w, const void* a) {
  return two_chain_dot(
      static_cast<const uint16_t*>(w), static_cast<const uint16_t*>(a), n,
      [](const uint16_t* p) { return _mm256_cvtph_ps(load128(p)); }, half_to_float);
}

namespace {

inline __m256 load_bf16(const uint16_t* p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load128(p)), 16));
}

inline float bf16_scalar(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

}  // namespace

float vec_dot_bf16(int64_t n, const void* w, const void* a) {
  return two_chain_dot(static_cast<const uint16_t*>(w), static_cast<const uint16_t*>(a), n,
                       load_bf16, bf16_scalar);
}

// ---- 32-weight blocks x Q8_0 / Q8_1 ----

float vec_dot_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / BlockQ8_0::kWeights;
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const __m256i p0 = dot_i8_i8(load256(x[i].qs), load256(y[i].qs));
    const __m256i p1 = dot_i8_i8(load256(x[i + 1].qs), load256(y[i + 1].qs));
    const float d0 = half_to_float(x[i].d) * half_to_float(y[i].d);
    const float d1 = half_to_float(x[i + 1].d) * half_to_float(y[i + 1].d);
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0), i32_to_ps(p0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d1), i32_to_ps(p1), acc1);
  }
  for (; i < nb; ++i) {
    const __m256i p = dot_i8_i8(load256(x[i].qs), load256(y[i].qs));
    const float d = half_to_float(x[i].d) * half_to_float(y[i].d);
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d), i32_to_ps(p), acc0);
  }
  return hsum_ps(_mm256_add_ps(acc0, acc1));
}

float vec_dot_q4_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / BlockQ4_0::kWeights;
  const __m256i eight = _mm256_set1_epi8(8);
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const __m256i q0 = _mm256_sub_epi8(unpack_nibbles(x[i].qs), eight);
    const __m256i q1 = _mm256_sub_epi8(unpack_nibbles(x[i + 1].qs), eight);
    const __m256i p0 = dot_i8_i8(q0, load256(y[i].qs));
    const __m256i p1 = dot_i8_i8(q1, load256(y[i + 1].qs));
    const float d0 = half_to_float(x[i].d) * half_to_float(y[i].d);
    const float d1 = half_to_float(x[i + 1].d) * half_to_float(y[i + 1].d);
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0), i32_to_ps(p0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d1), i32_to_ps(p1), acc1);
  }
  for (; i < nb; ++i) {
    const __m256i q = _mm256_sub_epi8(unpack_nibbles(x[i].qs), eight);
    const __m256i p = dot_i8_i8(q, load256(y[i].qs));
    const float d = half_to_float(x[i].d) * half_to_float(y[i].d);
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d), i32_to_ps(p), acc0);
  }
  return hsum_ps(_mm256_add_ps(acc0, acc1));
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
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), i32_to_ps(p), acc);
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
    // q - 16 as int8: the nibble when the fifth bit is set, else the nibble with 0xF0 or-ed in.
    const __m256i q = _mm256_or_si256(unpack_nibbles(x[i].qs),
                                      _mm256_andnot_si256(bits_to_bytes(qh), high_nibble));
    const __m256i p = dot_i8_i8(q, load256(y[i].qs));
    const float d = half_to_float(x[i].d) * half_to_float(y[i].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), i32_to_ps(p), acc);
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
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), i32_to_ps(p), acc);
    offsets += half_to_float(x[i].m) * half_to_float(y[i].s);
  }
  return hsum_ps(acc) + offsets;
}

// ---- K-quants x Q8_K ----

namespace {

// The eight 6-bit scales and mins of a Q4_K / Q5_K block (`get_scale_min_k4` for all j at once):
// bytes 0..7 of `scales` and of `mins`.
inline void unpack_scales_mins_k4(const uint8_t* packed, uint8_t scales[8], uint8_t mins[8]) {
  uint32_t u[3];
  std::memcpy(u, packed, sizeof(u));
  const uint32_t sc[2] = {u[0] & 0x3f3f3f3fu,
                          (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4)};
  const uint32_t mn[2] = {u[1] & 0x3f3f3f3fu,
                          ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4)};
  std::memcpy(scales, sc, 8);
  std::memcpy(mins, mn, 8);
}

// sum_j bsums[j] * mins[j / 2]: the activation sums of the 16 sub-blocks of 16, each pair
// weighted by the min of its 32-weight sub-block.
inline int sum_mins_k4(const uint8_t mins[8], const int16_t* bsums) {
  const __m128i m8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(mins));
  const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
  return hsum_epi32(_mm256_madd_epi16(m16, load256(bsums)));
}

// The common part of Q4_K and Q5_K: `high` is null for Q4_K, the 32 bytes of fifth bits for Q5_K.
inline __m256i dot_q4_q5_k_block(const uint8_t* qs, const uint8_t* high, const int8_t* q8,
                                 const uint8_t scales[8]) {
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
  const __m256i one = _mm256_set1_epi8(1);
  __m256i hbits = high != nullptr ? load256(high) : _mm256_setzero_si256();
  __m256i sum = _mm256_setzero_si256();
  for (int j = 0; j < 4; ++j) {
    const __m256i bits = load256(qs + 32 * j);
    __m256i lo = _mm256_and_si256(bits, low_mask);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), low_mask);
    if (high != nullptr) {
      // Bit 2j of each byte belongs to the first 32 weights, bit 2j + 1 to the next 32.
      lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hbits, one), 4));
      hi = _mm256_or_si256(
          hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 1), one), 4));
      hbits = _mm256_srli_epi16(hbits, 2);
    }
    const __m256i p_lo = _mm256_maddubs_epi16(lo, load256(q8 + 64 * j));
    const __m256i p_hi = _mm256_maddubs_epi16(hi, load256(q8 + 64 * j + 32));
    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p_lo, _mm256_set1_epi16(scales[2 * j])));
    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p_hi, _mm256_set1_epi16(scales[2 * j + 1])));
  }
  return sum;
}

}  // namespace

float vec_dot_q4_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const int64_t nb = n / kQK_K;
  __m256 acc = _mm256_setzero_ps();
  float mins_total = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t scales[8];
    uint8_t mins[8];
    unpack_scales_mins_k4(x[i].scales, scales, mins);
    const float d = y[i].d * half_to_float(x[i].d);
    const float dmin = y[i].d * half_to_float(x[i].dmin);
    mins_total += dmin * static_cast<float>(sum_mins_k4(mins, y[i].bsums));
    const __m256i sum = dot_q4_q5_k_block(x[i].qs, nullptr, y[i].qs, scales);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), i32_to_ps(sum), acc);
  }
  return hsum_ps(acc) - mins_total;
}

float vec_dot_q5_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const int64_t nb = n / kQK_K;
  __m256 acc = _mm256_setzero_ps();
  float mins_total = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t scales[8];
    uint8_t mins[8];
    unpack_scales_mins_k4(x[i].scales, scales, mins);
    const float d = y[i].d * half_to_float(x[i].d);
    const float dmin = y[i].d * half_to_float(x[i].dmin);
    mins_total += dmin * static_cast<float>(sum_mins_k4(mins, y[i].bsums));
    const __m256i sum = dot_q4_q5_k_block(x[i].qs, x[i].qh, y[i].qs, scales);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), i32_to_ps(sum), acc);
  }
  return hsum_ps(acc) - mins_total;
}

float vec_dot_q6_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const int64_t nb = n / kQK_K;
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
  const __m256i two_bits = _mm256_set1_epi8(0x03);
  float sum = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    // The quants are stored biased by 32: sum sc * (q - 32) * a = sum sc * q * a - 32 * sum sc *
    // bsum, and the second term comes from the activations' 16-value sums.
    const __m256i sc16 = _mm256_cvtepi8_epi16(load128(x[i].scales));
    const int bias = hsum_epi32(_mm256_madd_epi16(sc16, load256(y[i].bsums)));
    const int8_t* sc = x[i].scales;
    __m256i acc = _mm256_setzero_si256();
    for (int c = 0; c < 2; ++c) {
      const uint8_t* ql = x[i].ql + 64 * c;
      const int8_t* q8 = y[i].qs + 128 * c;
      const __m256i qh = load256(x[i].qh + 32 * c);
      const __m256i ql0 = load256(ql);
      const __m256i ql1 = load256(ql + 32);
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(ql0, low_mask),
                             _mm256_slli_epi16(_mm256_and_si256(qh, two_bits), 4));
      q[1] = _mm256_or_si256(
          _mm256_and_si256(ql1, low_mask),
          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two_bits), 4));
      q[2] = _mm256_or_si256(
          _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low_mask),
          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), two_bits), 4));
      q[3] = _mm256_or_si256(
          _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low_mask),
          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), two_bits), 4));
      for (int k = 0; k < 4; ++k) {
        // 32 weights = two sub-blocks of 16: one scale per 128-bit half.
        const int s = 8 * c + 2 * k;
        const __m256i scale = _mm256_set_m128i(_mm_set1_epi16(sc[s + 1]), _mm_set1_epi16(sc[s]));
        const __m256i p = _mm256_maddubs_epi16(q[k], load256(q8 + 32 * k));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, scale));
      }
    }
    const float d = y[i].d * half_to_float(x[i].d);
    sum += d * static_cast<float>(hsum_epi32(acc) - 32 * bias);
  }
  return sum;
}

// ---- Prefill micro-kernels: kTileRows weight rows x kTileTokens tokens per call ----
//
// Each (row, token) keeps `vec_dot`'s two accumulators (even blocks, odd blocks; an odd count's
// last block goes to the even one) and receives the same exact integer sums and float scale
// products in the same order, so the results are bit-identical to `vec_dot`'s. Q4_0 takes
// sum q * a - sum 8 * a (q in [0, 15], no `maddubs` saturation) with the second term once per
// token.

namespace {

template <typename WeightBlock, typename BlockDot>
void tile_32(int64_t n, const void* w, size_t w_stride, const void* act, size_t act_stride,
             float* out, size_t y_stride, BlockDot block_dot) {
  const WeightBlock* x[kTileRows];
  const BlockQ8_0* y[kTileTokens];
  for (int r = 0; r < kTileRows; ++r) {
    x[r] = reinterpret_cast<const WeightBlock*>(static_cast<const uint8_t*>(w) + r * w_stride);
  }
  for (int c = 0; c < kTileTokens; ++c) {
    y[c] = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(act) + c * act_stride);
  }
  __m256 acc[2][kTileRows][kTileTokens];
  for (auto& half : acc) {
    for (auto& row : half) {
      for (auto& a : row) a = _mm256_setzero_ps();
    }
  }
  const int64_t nb = n / 32;
  for (int64_t i = 0; i < nb; ++i) {
    __m256(&target)[kTileRows][kTileTokens] = acc[i & 1];
    block_dot(x, y, i, [&](int r, int c, __m256 d, __m256i p) {
      target[r][c] = _mm256_fmadd_ps(d, i32_to_ps(p), target[r][c]);
    });
  }
  for (int c = 0; c < kTileTokens; ++c) {
    for (int r = 0; r < kTileRows; ++r) {
      out[c * y_stride + r] = hsum_ps(_mm256_add_ps(acc[0][r][c], acc[1][r][c]));
    }
  }
}

}  // namespace

void vec_dot_tile_q4_0(int64_t n, const void* w, size_t w_stride, const void* act,
                       size_t act_stride, float* y, size_t y_stride) {
  tile_32<BlockQ4_0>(n, w, w_stride, act, act_stride, y, y_stride,
                     [](const BlockQ4_0* const* x, const BlockQ8_0* const* a, int64_t i, auto fma) {
                       const __m256i eight = _mm256_set1_epi8(8);
                       __m256i q[kTileRows];
                       __m256 dw[kTileRows];
                       for (int r = 0; r < kTileRows; ++r) {
                         q[r] = unpack_nibbles(x[r][i].qs);
                         dw[r] = _mm256_set1_ps(half_to_float(x[r][i].d));
                       }
                       for (int c = 0; c < kTileTokens; ++c) {
                         const __m256i av = load256(a[c][i].qs);
                         const __m256i offset = dot_u8_i8(eight, av);
                         const __m256 da = _mm256_set1_ps(half_to_float(a[c][i].d));
                         for (int r = 0; r < kTileRows; ++r) {
                           fma(r, c, _mm256_mul_ps(dw[r], da),
                               _mm256_sub_epi32(dot_u8_i8(q[r], av), offset));
                         }
                       }
                     });
}

void vec_dot_tile_q8_0(int64_t n, const void* w, size_t w_stride, const void* act,
                       size_t act_stride, float* y, size_t y_stride) {
  tile_32<BlockQ8_0>(n, w, w_stride, act, act_stride, y, y_stride,
                     [](const BlockQ8_0* const* x, const BlockQ8_0* const* a, int64_t i, auto fma) {
                       __m256i q[kTileRows];
                       __m256i magnitude[kTileRows];
                       __m256 dw[kTileRows];
                       for (int r = 0; r < kTileRows; ++r) {
                         q[r] = load256(x[r][i].qs);
                         magnitude[r] = _mm256_sign_epi8(q[r], q[r]);
                         dw[r] = _mm256_set1_ps(half_to_float(x[r][i].d));
                       }
                       for (int c = 0; c < kTileTokens; ++c) {
                         const __m256i av = load256(a[c][i].qs);
                         const __m256 da = _mm256_set1_ps(half_to_float(a[c][i].d));
                         for (int r = 0; r < kTileRows; ++r) {
                           fma(r, c, _mm256_mul_ps(dw[r], da),
                               dot_u8_i8(magnitude[r], _mm256_sign_epi8(av, q[r])));
                         }
                       }
                     });
}

}  // namespace capibara::kernels::avx2
