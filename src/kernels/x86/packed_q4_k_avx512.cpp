// AVX-512 VNNI kernel of the packed Q4_K layout (packed_q4_k.cpp documents it): per sub-block
// pair, eight 64-byte chunks give the 4-bit quants of 16 rows for two sub-blocks (low and high
// nibbles); `vpdpbusd` with broadcast activation bytes sums each sub-block per row, `vpmulld`
// applies the rows' 6-bit scales and `vpmaddwd` the mins against the activations' 16-value sums.
// A pass unpacks a pair once for kT tokens.
//
// The float operations per (row, token) are those of `scalar::packed_gemm_q4_k`, in its order,
// so the results match it bit for bit whatever the number of tokens.
#include "kernels/x86/packed_avx512.hpp"

#include "kernels/x86/avx512_common.hpp"

#include <cstring>

#include "core/quant_blocks.hpp"
#include "kernels/packed_formats.hpp"
#include "kernels/x86/prefetch.hpp"

namespace capibara::kernels::avx512 {
namespace {

constexpr int kTokens = 4;
// How far ahead decoding prefetches (prefetch.hpp): about 3.5 KiB, as for the other packed
// types; with the weights on huge pages more distance measured slower (1-6 blocks tried).
constexpr size_t kPrefetchBytes = kQ4KBlockBytes * 3 / 2 / 64 * 64;

// The 32-value sums of sub-blocks 2p and 2p + 1 as one int16 pair.
inline __m512i pair_sums(const int16_t* bsums, int p) {
  const auto lo = static_cast<uint16_t>(bsums[4 * p] + bsums[4 * p + 1]);
  const auto hi = static_cast<uint16_t>(bsums[4 * p + 2] + bsums[4 * p + 3]);
  return _mm512_set1_epi32(static_cast<int32_t>(static_cast<uint32_t>(lo) | (uint32_t{hi} << 16)));
}

template <int kT>
void pass(int64_t nb, const uint8_t* group, const uint8_t* act, size_t act_stride, float* y,
          size_t y_stride) {
  const __m512i low = _mm512_set1_epi8(0x0F);
  __m512 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + static_cast<size_t>(b) * kQ4KBlockBytes;
    const BlockQ8_K* a[kT];
    for (int t = 0; t < kT; ++t) {
      a[t] = reinterpret_cast<const BlockQ8_K*>(act + static_cast<size_t>(t) * act_stride) + b;
    }
    __m512i total[kT];
    for (int t = 0; t < kT; ++t) total[t] = _mm512_setzero_si512();
    for (int p = 0; p < 4; ++p) {
      // Every pass streams the weights: ask for them a few KiB ahead, a quarter per pair.
      x86::prefetch_part(blk + kPrefetchBytes, kQ4KBlockBytes, p, 4);
      __m512i lo[8];
      __m512i hi[8];
      for (int c = 0; c < 8; ++c) {
        const __m512i v = _mm512_load_si512(blk + kQ4KQuants + 64 * (8 * p + c));
        lo[c] = _mm512_and_si512(v, low);
        hi[c] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
      }
      const __m512i sc_lo = _mm512_cvtepu8_epi32(
          _mm_load_si128(reinterpret_cast<const __m128i*>(blk + kQ4KScales + 16 * (2 * p))));
      const __m512i sc_hi = _mm512_cvtepu8_epi32(
          _mm_load_si128(reinterpret_cast<const __m128i*>(blk + kQ4KScales + 16 * (2 * p + 1))));
#pragma GCC unroll 8
      for (int t = 0; t < kT; ++t) {
        const int8_t* q = a[t]->qs + 64 * p;
        __m512i s0 = _mm512_setzero_si512();
        __m512i s1 = _mm512_setzero_si512();
        for (int c = 0; c < 8; ++c) {
          s0 = _mm512_dpbusd_epi32(s0, lo[c], broadcast_quads(q + 4 * c));
          s1 = _mm512_dpbusd_epi32(s1, hi[c], broadcast_quads(q + 32 + 4 * c));
        }
        total[t] = _mm512_add_epi32(total[t], _mm512_add_epi32(_mm512_mullo_epi32(s0, sc_lo),
                                                               _mm512_mullo_epi32(s1, sc_hi)));
      }
    }
    const __m512 dw =
        _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(blk + kQ4KD)));
    const __m512 dmin =
        _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(blk + kQ4KDmin)));
    __m512i m16[4];
    for (int p = 0; p < 4; ++p) {
      m16[p] = _mm512_cvtepu8_epi16(
          _mm256_load_si256(reinterpret_cast<const __m256i*>(blk + kQ4KMins + 32 * p)));
    }
    for (int t = 0; t < kT; ++t) {
      __m512i mins = _mm512_madd_epi16(m16[0], pair_sums(a[t]->bsums, 0));
      for (int p = 1; p < 4; ++p) {
        mins = _mm512_add_epi32(mins, _mm512_madd_epi16(m16[p], pair_sums(a[t]->bsums, p)));
      }
      const __m512 da = _mm512_set1_ps(a[t]->d);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[t]), _mm512_mul_ps(dw, da), acc[t]);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_setzero_si512(), mins)),
                               _mm512_mul_ps(dmin, da), acc[t]);
    }
  }
  for (int t = 0; t < kT; ++t) _mm512_storeu_ps(y + static_cast<size_t>(t) * y_stride, acc[t]);
}

}  // namespace

void packed_gemm_q4_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  const auto* a = static_cast<const uint8_t*>(act);
  for_each_pass<kTokens>(n_tokens, [&]<int kT>(int64_t t) {
    pass<kT>(n / 256, group, a + static_cast<size_t>(t) * act_stride, act_stride,
             y + static_cast<size_t>(t) * y_stride, y_stride);
  });
}

}  // namespace capibara::kernels::avx512
