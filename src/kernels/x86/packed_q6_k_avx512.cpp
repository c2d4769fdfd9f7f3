// AVX-512 VNNI kernel of the packed Q6_K layout (packed_q6_k.cpp documents it). A unit of work
// is two sub-blocks of 16 weights: four ql chunks give their low (or high) nibbles, the four
// matching qh chunks, shifted, their high two bits (one `vpternlogd` joins them), so eight
// registers hold 6-bit quants q in [0, 63] of the 16 rows. `vpdpbusd` with broadcast activation
// bytes sums q * a per row and sub-block, starting from -32 * bsums[j] (the -32 offset of Q6_K),
// and `vpmulld` applies the rows' signed sub-block scales. A pass unpacks each unit once for kT
// tokens and prefetches the weights a few KiB ahead.
//
// The float operations per (row, token) are those of `scalar::packed_gemm_q6_k`, in its order
// (one fma per super-block with the product of the two scales), so the results match it bit for
// bit whatever the number of tokens.
#include "kernels/x86/packed_q6_k_avx512.hpp"

#include "kernels/x86/avx512_common.hpp"

#include <cstddef>
#include <cstring>

#include "core/quant_blocks.hpp"
#include "kernels/packed_formats.hpp"
#include "kernels/stream_prefetch.hpp"
#include "kernels/x86/prefetch.hpp"

namespace capibara::kernels::avx512 {
namespace {

constexpr int kTokens = 8;
// How far ahead decoding prefetches (prefetch.hpp): about 3.5 KiB, as for the other packed
// types; with the weights on huge pages more distance measured slower (1-6 blocks tried).
constexpr size_t kPrefetchBytes = kQ6KBlockBytes;

// One token's Q8_K block, read without assuming alignment (the rows may be any number of bytes
// apart), as `scalar::packed_gemm_q6_k` does.
inline const int8_t* act_qs(const uint8_t* a) {
  return reinterpret_cast<const int8_t*>(a + offsetof(BlockQ8_K, qs));
}
inline int16_t act_bsum(const uint8_t* a, int j) {
  int16_t v;
  std::memcpy(&v, a + offsetof(BlockQ8_K, bsums) + sizeof(int16_t) * static_cast<size_t>(j),
              sizeof(v));
  return v;
}
inline float act_d(const uint8_t* a) {
  float v;
  std::memcpy(&v, a + offsetof(BlockQ8_K, d), sizeof(v));
  return v;
}

// x | (y & z), as a `vpternlogd` immediate (x = 0xF0, y = 0xCC, z = 0xAA).
constexpr int kOrAnd = 0xF8;

// The quants of sub-blocks j_lo = 8h + 2u + k4 and j_hi = j_lo + 4 (k4 in {0, 1}): ql chunks
// 16h + 8u + 4k4 + c and qh chunks 8h + 4k4 + c (c in 0..3), qh fields u and 2 + u.
template <int kU>
struct Unit {
  __m512i lo[4];  // sub-block j_lo, weights 4c..4c+3 of it
  __m512i hi[4];  // sub-block j_hi

  Unit(const uint8_t* ql, const uint8_t* qh) {
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    const __m512i top = _mm512_set1_epi8(0x30);
    for (int c = 0; c < 4; ++c) {
      const __m512i v = _mm512_load_si512(ql + 64 * c);
      const __m512i h = _mm512_load_si512(qh + 64 * c);
      // Field u to bits 4-5 for the low nibbles, field 2 + u for the high ones (16-bit shifts:
      // bits crossing into a neighbouring byte are masked away).
      const __m512i h_lo = kU == 0 ? _mm512_slli_epi16(h, 4) : _mm512_slli_epi16(h, 2);
      const __m512i h_hi = kU == 0 ? h : _mm512_srli_epi16(h, 2);
      lo[c] = _mm512_ternarylogic_epi32(_mm512_and_si512(v, nibble), h_lo, top, kOrAnd);
      hi[c] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(v, 4), nibble), h_hi,
                                        top, kOrAnd);
    }
  }

  // sum_l q_l a_l - 32 * bsum over one sub-block of one token's activations `a` (16 bytes).
  static __m512i dot(const __m512i (&w)[4], const int8_t* a, int16_t bsum) {
    __m512i s = _mm512_set1_epi32(-32 * static_cast<int32_t>(bsum));
    for (int c = 0; c < 4; ++c) s = _mm512_dpbusd_epi32(s, w[c], broadcast_quads(a + 4 * c));
    return s;
  }
};

template <int kU, int kT>
inline void unit(const uint8_t* blk, int h, int k4, const uint8_t* const (&a)[kT],
                 __m512i (&total)[kT]) {
  const Unit<kU> w(blk + q6_k_ql_chunk(h, kU, 4 * k4), blk + q6_k_qh_chunk(h, 4 * k4));
  const int j_lo = 8 * h + 2 * kU + k4;
  const int j_hi = j_lo + 4;
  const __m512i sc_lo = _mm512_cvtepi8_epi32(
      _mm_load_si128(reinterpret_cast<const __m128i*>(blk + kQ6KScales + 16 * j_lo)));
  const __m512i sc_hi = _mm512_cvtepi8_epi32(
      _mm_load_si128(reinterpret_cast<const __m128i*>(blk + kQ6KScales + 16 * j_hi)));
#pragma GCC unroll 8
  for (int t = 0; t < kT; ++t) {
    const __m512i s_lo = Unit<kU>::dot(w.lo, act_qs(a[t]) + 16 * j_lo, act_bsum(a[t], j_lo));
    const __m512i s_hi = Unit<kU>::dot(w.hi, act_qs(a[t]) + 16 * j_hi, act_bsum(a[t], j_hi));
    total[t] = _mm512_add_epi32(total[t], _mm512_add_epi32(_mm512_mullo_epi32(s_lo, sc_lo),
                                                           _mm512_mullo_epi32(s_hi, sc_hi)));
    // Pinned, the 8-token pass's stack accesses fall from 132 to 107 and the micro-benchmark
    // (16 tokens, 1 thread) from 314-321 to 309-310 us.
    keep_in_register(total[t]);
  }
}

// Decoding passes ask for the weights a few KiB ahead; where the hardware prefetchers stream
// (kHardware), for page starts too (stream_prefetch.hpp).
template <int kT, StreamPrefetch kPrefetch>
void pass(int64_t nb, const uint8_t* group, const uint8_t* act, size_t act_stride, float* y,
          size_t y_stride) {
  __m512 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + static_cast<size_t>(b) * kQ6KBlockBytes;
    const uint8_t* a[kT];
    for (int t = 0; t < kT; ++t) {
      a[t] = act + static_cast<size_t>(t) * act_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    }
    __m512i total[kT];
    for (int t = 0; t < kT; ++t) total[t] = _mm512_setzero_si512();
    for (int h = 0; h < 2; ++h) {
      for (int k4 = 0; k4 < 2; ++k4) {
        // Every pass streams the weights: ask for them a few KiB ahead, a quarter per step.
        x86::prefetch_part(blk + kPrefetchBytes, kQ6KBlockBytes, 2 * h + k4, 4);
        if constexpr (kT == 1 && kPrefetch == StreamPrefetch::kHardware) {
          x86::prefetch_page_start_part<kQ6KBlockBytes, 4>(blk, 2 * h + k4);
        }
        unit<0, kT>(blk, h, k4, a, total);
        unit<1, kT>(blk, h, k4, a, total);
      }
    }
    const __m512 dw =
        _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(blk + kQ6KD)));
    for (int t = 0; t < kT; ++t) {
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[t]),
                               _mm512_mul_ps(dw, _mm512_set1_ps(act_d(a[t]))), acc[t]);
    }
  }
  for (int t = 0; t < kT; ++t) _mm512_storeu_ps(y + static_cast<size_t>(t) * y_stride, acc[t]);
}

template <StreamPrefetch kPrefetch>
void gemm(int64_t n, const uint8_t* group, const void* act, size_t act_stride, int64_t n_tokens,
          float* y, size_t y_stride) {
  for_each_pass<kTokens>(n_tokens, act, act_stride, y, y_stride,
                         [&]<int kT>(const uint8_t* a, float* out) {
                           pass<kT, kPrefetch>(n / 256, group, a, act_stride, out, y_stride);
                         });
}

}  // namespace

void packed_gemm_q6_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm<StreamPrefetch::kSoftware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q6_k_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  gemm<StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

}  // namespace capibara::kernels::avx512
