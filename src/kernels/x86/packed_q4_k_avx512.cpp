// AVX-512 VNNI kernels of the packed Q4_K and Q5_K layouts (packed_q4_k.cpp and packed_q5_k.cpp
// document them): per sub-block pair, eight 64-byte chunks give the 4-bit quants of 16 rows for
// two sub-blocks (low and high nibbles; Q5_K adds each weight's fifth bit from its high-bit
// chunk); `vpdpbusd` with broadcast activation bytes sums each sub-block per row, `vpmulld`
// applies the rows' 6-bit scales and `vpmaddwd` the mins against the activations' 16-value sums.
// A pass unpacks a pair once for kT tokens.
//
// Q4_K's high nibbles stay in place (one mask instead of a shift and a mask, as in the Q4_0
// kernel), so their sums come out times 16; the low sub-block's scales and the mins are taken
// times 16 to match, and the float sums are 16 times the reference's until the final multiply.
// Q5_K's quants are five-bit and cannot stay in place (16 x 31 overflows a byte); its sums carry
// no factor. The float operations per (row, token) are otherwise those of the scalar references,
// in their order, so the results match them bit for bit whatever the number of tokens.
#include "kernels/x86/packed_avx512.hpp"

#include "kernels/x86/avx512_common.hpp"

#include <cstring>

#include "core/quant_blocks.hpp"
#include "kernels/packed_formats.hpp"
#include "kernels/stream_prefetch.hpp"
#include "kernels/x86/prefetch.hpp"

namespace capibara::kernels::avx512 {
namespace {

constexpr int kTokens = 4;

// Where Q4_K and Q5_K blocks keep what the kernel reads (their raw scales both start at 0).
template <bool kFive>
struct Layout : Q4KBlockLayout<kFive> {
  using Q4KBlockLayout<kFive>::kBlockBytes;
  // log2 of the factor the integer sums carry (see above).
  static constexpr int kSumShift = kFive ? 0 : 4;
  // How far ahead decoding prefetches (prefetch.hpp): about 1.5 blocks, 3.5 KiB for Q4_K as
  // for the other packed types; with the weights on huge pages more distance measured slower
  // (1-6 blocks tried).
  static constexpr size_t kPrefetchBytes = kBlockBytes * 3 / 2 / 64 * 64;
};
static_assert(kQ4KRawScales == 0 && kQ5KRawScales == 0);

// The 32-value sums of sub-blocks 2p and 2p + 1 as one int16 pair.
inline __m512i pair_sums(const int16_t* bsums, int p) {
  const auto lo = static_cast<uint16_t>(bsums[4 * p] + bsums[4 * p + 1]);
  const auto hi = static_cast<uint16_t>(bsums[4 * p + 2] + bsums[4 * p + 3]);
  return _mm512_set1_epi32(static_cast<int32_t>(static_cast<uint32_t>(lo) | (uint32_t{hi} << 16)));
}

// The block's raw six-bit scales and mins (packed_q4_k.cpp) into the unpacked layout at `out`
// (kQ4KUnpackedBytes, 64-byte aligned), for all 16 rows at once: ggml's `get_scale_min_k4` as
// byte masks and shifts (16-bit shifts whose stray bits the masks drop).
inline void unpack_scales(const uint8_t* raw, uint8_t* out) {
  const __m512i c0 = _mm512_load_si512(raw);        // bytes 0..3 of each row: scales 0..3
  const __m512i c4 = _mm512_load_si512(raw + 64);   // bytes 4..7: mins 0..3
  const __m512i c8 = _mm512_load_si512(raw + 128);  // bytes 8..11: low nibbles of 4..7
  const __m512i six = _mm512_set1_epi8(0x3F);
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  const __m512i top = _mm512_set1_epi8(0x30);
  // (x >> 6) << 4 of each byte is (x >> 2) & 0x30.
  const __m512i scales_hi = _mm512_or_si512(_mm512_and_si512(c8, nibble),
                                            _mm512_and_si512(_mm512_srli_epi16(c0, 2), top));
  _mm512_store_si512(out + kQ4KScales, _mm512_and_si512(c0, six));
  _mm512_store_si512(out + kQ4KScales + 64, scales_hi);
  const __m512i mins_lo = _mm512_and_si512(c4, six);  // [m0 | m1 | m2 | m3], 16 rows each
  const __m512i mins_hi =
      _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(c8, 4), nibble),
                      _mm512_and_si512(_mm512_srli_epi16(c4, 2), top));  // [m4 | .. | m7]
  // Pair the mins of sub-blocks 2p and 2p + 1 row by row.
  const __m512i even = _mm512_shuffle_i32x4(mins_lo, mins_hi, _MM_SHUFFLE(2, 0, 2, 0));
  const __m512i odd = _mm512_shuffle_i32x4(mins_lo, mins_hi, _MM_SHUFFLE(3, 1, 3, 1));
  const __m512i rows_lo = _mm512_unpacklo_epi8(even, odd);  // lane p: rows 0..7 of pair p
  const __m512i rows_hi = _mm512_unpackhi_epi8(even, odd);  // lane p: rows 8..15
  const __m512i p01 = _mm512_shuffle_i32x4(rows_lo, rows_hi, _MM_SHUFFLE(1, 0, 1, 0));
  const __m512i p23 = _mm512_shuffle_i32x4(rows_lo, rows_hi, _MM_SHUFFLE(3, 2, 3, 2));
  _mm512_store_si512(out + kQ4KMins, _mm512_shuffle_i32x4(p01, p01, _MM_SHUFFLE(3, 1, 2, 0)));
  _mm512_store_si512(out + kQ4KMins + 64, _mm512_shuffle_i32x4(p23, p23, _MM_SHUFFLE(3, 1, 2, 0)));
}

// Decoding passes ask for the weights a few KiB ahead; where the hardware prefetchers stream
// (kHardware), for page starts too (stream_prefetch.hpp).
template <bool kFive, int kT, StreamPrefetch kPrefetch>
void pass(int64_t nb, const uint8_t* group, const uint8_t* act, size_t act_stride, float* y,
          size_t y_stride) {
  using L = Layout<kFive>;
  const __m512i low = _mm512_set1_epi8(0x0F);
  const __m512i high = _mm512_set1_epi8(static_cast<char>(0xF0));
  const __m512i bit4 = _mm512_set1_epi8(0x10);
  alignas(64) uint8_t sm[kQ4KUnpackedBytes];
  __m512 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + static_cast<size_t>(b) * L::kBlockBytes;
    unpack_scales(blk, sm);
    const BlockQ8_K* a[kT];
    for (int t = 0; t < kT; ++t) {
      a[t] = reinterpret_cast<const BlockQ8_K*>(act + static_cast<size_t>(t) * act_stride) + b;
    }
    __m512i total[kT];
    for (int t = 0; t < kT; ++t) total[t] = _mm512_setzero_si512();
    for (int p = 0; p < 4; ++p) {
      // Every pass streams the weights: ask for them a few KiB ahead, a quarter per pair.
      x86::prefetch_part(blk + L::kPrefetchBytes, L::kBlockBytes, p, 4);
      if constexpr (kT == 1 && kPrefetch == StreamPrefetch::kHardware) {
        x86::prefetch_page_start_part<L::kBlockBytes, 4>(blk, p);
      }
      __m512i lo[8];
      __m512i hi[8];
      for (int c = 0; c < 8; ++c) {
        const __m512i v = _mm512_load_si512(blk + L::kQuants + 64 * (8 * p + c));
        if constexpr (kFive) {
          // Bits 2p and 2p + 1 of each high-bit byte are the fifth bits of this pair's weights:
          // moved to bit 4 of their byte (16-bit shifts whose stray bits the mask drops).
          const __m512i h = _mm512_srl_epi16(_mm512_load_si512(blk + kQ5KHigh + 64 * c),
                                             _mm_cvtsi32_si128(2 * p));
          lo[c] = _mm512_or_si512(_mm512_and_si512(v, low),
                                  _mm512_and_si512(_mm512_slli_epi16(h, 4), bit4));
          hi[c] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 4), low),
                                  _mm512_and_si512(_mm512_slli_epi16(h, 3), bit4));
        } else {
          lo[c] = _mm512_and_si512(v, low);
          hi[c] = _mm512_and_si512(v, high);  // times 16, see above
        }
      }
      const __m512i sc_lo = _mm512_slli_epi32(
          _mm512_cvtepu8_epi32(
              _mm_load_si128(reinterpret_cast<const __m128i*>(sm + kQ4KScales + 16 * (2 * p)))),
          L::kSumShift);
      const __m512i sc_hi = _mm512_cvtepu8_epi32(
          _mm_load_si128(reinterpret_cast<const __m128i*>(sm + kQ4KScales + 16 * (2 * p + 1))));
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
        _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(blk + L::kD)));
    const __m512 dmin =
        _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(blk + L::kDmin)));
    __m512i m16[4];
    for (int p = 0; p < 4; ++p) {
      m16[p] = _mm512_slli_epi16(_mm512_cvtepu8_epi16(_mm256_load_si256(
                                     reinterpret_cast<const __m256i*>(sm + kQ4KMins + 32 * p))),
                                 L::kSumShift);
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
  // For Q4_K, total, mins and so acc are 16 times the reference's, bit for bit
  // (packed_avx512.cpp says why); one exact multiply takes the factor out.
  const __m512 unscale = _mm512_set1_ps(1.0f / static_cast<float>(1 << L::kSumShift));
  for (int t = 0; t < kT; ++t) {
    const __m512 out = kFive ? acc[t] : _mm512_mul_ps(acc[t], unscale);
    _mm512_storeu_ps(y + static_cast<size_t>(t) * y_stride, out);
  }
}

template <bool kFive, StreamPrefetch kPrefetch>
void gemm(int64_t n, const uint8_t* group, const void* act, size_t act_stride, int64_t n_tokens,
          float* y, size_t y_stride) {
  for_each_pass<kTokens>(n_tokens, act, act_stride, y, y_stride,
                         [&]<int kT>(const uint8_t* a, float* out) {
                           pass<kFive, kT, kPrefetch>(n / 256, group, a, act_stride, out, y_stride);
                         });
}

}  // namespace

void packed_gemm_q4_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm<false, StreamPrefetch::kSoftware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q5_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm<true, StreamPrefetch::kSoftware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q4_k_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  gemm<false, StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q5_k_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  gemm<true, StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

}  // namespace capibara::kernels::avx512
