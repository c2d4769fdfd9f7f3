// The Q6_K pass in 256-bit registers (the layout: packed_q6_k.cpp), shared by the AVX2 table
// (x86/packed_avx2.cpp) and the AVX-VNNI one (x86/packed_avx_vnni.cpp). A pass unpacks each
// sub-block's 6-bit quants once for its kT tokens, and the tables differ only in how one
// sub-block's four chunks take their dot with a token and scale it by the rows' signed 8-bit
// scales, the `Dots` of `pass_q6_k`:
//
//   using Scales = ...;  // the rows' scales, as the dot wants them
//   static constexpr bool kAddAtOnce = ...;  // add each dot where written (q6_unit)
//   static Scales scales(const uint8_t* p);  // from eight bytes, one per row
//   static __m256i dot(const __m256i (&w)[4], const uint8_t* a, Scales sc);
//
// where `dot` returns each row's scale times its exact integer dot with the sixteen activation
// bytes at `a`, in its int32 lane. The float operations per (row, token) are the references', in
// their order, so the results match `scalar::packed_gemm_q6_k` bit for bit whatever the number
// of tokens.
//
// Include only from translation units compiled with at least -mavx2 -mfma -mf16c; everything
// here has internal linkage (packed_32_ymm.hpp says why).
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "core/quant_blocks.hpp"
#include "kernels/packed_formats.hpp"
#include "kernels/stream_prefetch.hpp"
#include "kernels/token_passes.hpp"
#include "kernels/x86/packed_32_ymm.hpp"
#include "kernels/x86/packed_q4_k_ymm.hpp"
#include "kernels/x86/prefetch.hpp"

namespace capibara::kernels::x86 {

// Eight bytes (one per row) as the signed int16 pair (x, x) of each row's 32-bit lane, for
// `_mm256_madd_epi16` (Q4_K's unsigned scales: dup_u8_pairs).
static inline __m256i dup_s8_pairs(const uint8_t* p) {
  const __m128i b = load8(p);
  return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(b, b));
}

namespace {

// AVX2's sub-block dot in prefill: two `vpmaddubsw` results summed in int16 (at most 2 x 2 x 63 x
// 128 < 32768), then one `vpmaddwd` with the rows' scales per pair; one sub-block unpacked at a
// time, each dot added at once (q6_unit).
struct MaddubsQ6Dots {
  using Scales = __m256i;
  static constexpr bool kAddAtOnce = true;

  static Scales scales(const uint8_t* p) { return dup_s8_pairs(p); }

  static __m256i dot(const __m256i (&w)[4], const uint8_t* a, Scales sc) {
    const __m256i s0 = _mm256_add_epi16(_mm256_maddubs_epi16(w[0], broadcast_quads(a)),
                                        _mm256_maddubs_epi16(w[1], broadcast_quads(a + 4)));
    const __m256i s1 = _mm256_add_epi16(_mm256_maddubs_epi16(w[2], broadcast_quads(a + 8)),
                                        _mm256_maddubs_epi16(w[3], broadcast_quads(a + 12)));
    return _mm256_add_epi32(_mm256_madd_epi16(s0, sc), _mm256_madd_epi16(s1, sc));
  }
};

}  // namespace

// One chunk of one row half of sub-blocks j_lo = 8h + 2u + k4 and j_hi = j_lo + 4, either or both,
// from its ql bytes v (low nibbles for j_lo, high ones for j_hi) and qh bytes h (field u for j_lo,
// 2 + u for j_hi), joined into bytes q in [0, 63].
template <int kU, bool kLo, bool kHi>
static inline void unpack_q6_k_chunk(__m256i v, __m256i h, __m256i& lo, __m256i& hi) {
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  const __m256i top = _mm256_set1_epi8(0x30);
  // The field to bits 4-5 (16-bit shifts: bits crossing into a neighbouring byte are masked away).
  const __m256i h_lo = kU == 0 ? _mm256_slli_epi16(h, 4) : _mm256_slli_epi16(h, 2);
  const __m256i h_hi = kU == 0 ? h : _mm256_srli_epi16(h, 2);
  if constexpr (kLo) {
    lo = _mm256_or_si256(_mm256_and_si256(v, nibble), _mm256_and_si256(h_lo, top));
  }
  if constexpr (kHi) {
    hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), nibble),
                         _mm256_and_si256(h_hi, top));
  }
}

// The four chunks of one row half of sub-block j_lo = 8h + 2u + k4 (k4 in {0, 1}) or, kHigh,
// j_hi = j_lo + 4: ql chunks 16h + 8u + 4k4 + c and qh chunks 8h + 4k4 + c (c in 0..3); w[c]
// holds weights 4c..4c+3 of the sub-block.
template <int kU, bool kHigh>
static inline void unpack_q6_k(const uint8_t* ql, const uint8_t* qh, __m256i (&w)[4]) {
  __m256i other;  // the sub-block not asked for, never written
  for (int c = 0; c < 4; ++c) {
    unpack_q6_k_chunk<kU, !kHigh, kHigh>(load_ymm(ql + 64 * c), load_ymm(qh + 64 * c),
                                         kHigh ? other : w[c], kHigh ? w[c] : other);
  }
}

// Adds sub-blocks j_lo = 8h + 2u + k4 and j_hi = j_lo + 4, which share their chunks, to each
// token's total, one sub-block unpacked at a time (to leave registers for more tokens; both at
// once measured slower with either table's dots: x86/packed_avx2.cpp, x86/packed_avx_vnni.cpp).
// One at a time, GCC 12 stores each token's dot on the stack and adds them all afterwards;
// Dots::kAddAtOnce pins each total in a register where it is updated (an empty asm), which
// measured faster with AVX2's dots and a little slower with AVX-VNNI's (docs/PERFORMANCE.md,
// "Q6_K prefill on AVX-VNNI and AVX2").
template <typename Dots, int kU, int kT>
static inline void q6_unit(const uint8_t* blk, int g, int h, int k4, const uint8_t* const (&a)[kT],
                           __m256i (&total)[kT]) {
  const uint8_t* ql = blk + q6_k_ql_chunk(h, kU, 4 * k4) + 32 * g;
  const uint8_t* qh = blk + q6_k_qh_chunk(h, 4 * k4) + 32 * g;
  __m256i lo[4];
  __m256i hi[4];
  unpack_q6_k<kU, false>(ql, qh, lo);
  const int j_lo = 8 * h + 2 * kU + k4;
  const int j_hi = j_lo + 4;
  const auto sc_lo = Dots::scales(blk + kQ6KScales + 16 * j_lo + 8 * g);
  const auto sc_hi = Dots::scales(blk + kQ6KScales + 16 * j_hi + 8 * g);
#pragma GCC unroll 8
  for (int t = 0; t < kT; ++t) {
    const uint8_t* qs = a[t] + offsetof(BlockQ8_K, qs);
    total[t] = _mm256_add_epi32(total[t], Dots::dot(lo, qs + 16 * j_lo, sc_lo));
    if constexpr (Dots::kAddAtOnce) keep_in_register(total[t]);
  }
  unpack_q6_k<kU, true>(ql, qh, hi);
#pragma GCC unroll 8
  for (int t = 0; t < kT; ++t) {
    const uint8_t* qs = a[t] + offsetof(BlockQ8_K, qs);
    total[t] = _mm256_add_epi32(total[t], Dots::dot(hi, qs + 16 * j_hi, sc_hi));
    if constexpr (Dots::kAddAtOnce) keep_in_register(total[t]);
  }
}

// Row half g's scales of sub-blocks 2i and 2i + 1 side by side as int16, per row (i in 0..7).
static inline void q6_k_scale_pairs(const uint8_t* blk, int g, __m256i (&pairs)[8]) {
  for (int i = 0; i < 8; ++i) {
    pairs[i] =
        _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(load8(blk + kQ6KScales + 16 * (2 * i) + 8 * g),
                                               load8(blk + kQ6KScales + 16 * (2 * i + 1) + 8 * g)));
  }
}

// Where a row's total starts: -32 sum_j sc_j bsums[j] (the quants' offset of 32 taken out with
// the token's 16-value sums), one `vpmaddwd` per sub-block pair.
static inline __m256i q6_k_offset_total(const __m256i (&scale_pairs)[8], const uint8_t* bsums) {
  __m256i corr = _mm256_setzero_si256();
  for (int i = 0; i < 8; ++i) {
    corr =
        _mm256_add_epi32(corr, _mm256_madd_epi16(scale_pairs[i], broadcast_quads(bsums + 4 * i)));
  }
  return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(corr, 5));
}

// total = sum_j sc_j (dot_j - 32 bsums[j]): starts from `q6_k_offset_total`, then adds each
// sub-block's scaled dot.
template <typename Dots, int kT, StreamPrefetch kPrefetch>
static void pass_q6_k(int64_t nb, const uint8_t* group, const uint8_t* act, size_t act_stride,
                      float* y, size_t y_stride, bool first) {
  static_assert(kT >= 2, "one token takes decode_pass_q6_k");
  __m256 acc[kT][2];
  for (int t = 0; t < kT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + static_cast<size_t>(b) * kQ6KBlockBytes;
    // As `pass_q4_k` does (its comment says why). TinyLlama Q6_K, `bench --parallel` 4 / 8
    // sequences: 81-90 / 91-97 tok/s against 42-43 / 66-67; pp512 117-121 against 111-117.
    if (first) {
      prefetch_lines(blk + kKQuantAheadBytes<kPrefetch, kQ6KBlockBytes>, kQ6KBlockBytes / 64);
    }
    const uint8_t* a[kT];
    for (int t = 0; t < kT; ++t) {
      a[t] = act + static_cast<size_t>(t) * act_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    }
    for (int g = 0; g < 2; ++g) {
      __m256i sc_pairs[8];
      q6_k_scale_pairs(blk, g, sc_pairs);
      __m256i total[kT];
      for (int t = 0; t < kT; ++t) {
        total[t] = q6_k_offset_total(sc_pairs, a[t] + offsetof(BlockQ8_K, bsums));
      }
      for (int h = 0; h < 2; ++h) {
        for (int k4 = 0; k4 < 2; ++k4) {
          q6_unit<Dots, 0, kT>(blk, g, h, k4, a, total);
          q6_unit<Dots, 1, kT>(blk, g, h, k4, a, total);
        }
      }
      const __m256 dw = load_halves(blk + kQ6KD + 16 * g);
      for (int t = 0; t < kT; ++t) {
        const __m256 da = _mm256_set1_ps(load_as<float>(a[t] + offsetof(BlockQ8_K, d)));
        acc[t][g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total[t]), _mm256_mul_ps(dw, da), acc[t][g]);
      }
    }
  }
  for (int t = 0; t < kT; ++t) {
    float* out = y + static_cast<size_t>(t) * y_stride;
    _mm256_storeu_ps(out, acc[t][0]);
    _mm256_storeu_ps(out + 8, acc[t][1]);
  }
}

// One (h, u, k4) unit of Q6_K decoding: sub-blocks j_lo = 8h + 2u + k4 and j_hi = j_lo + 4 of both
// row halves, chunk by chunk, each broadcast of the token's quads serving both halves, the int16
// sums of two chunks (headroom: MaddubsQ6Dots) pinned and added to each half's total with the
// rows' scales.
template <int kU>
static inline void q6_decode_unit(const uint8_t* blk, int h, int k4, const uint8_t* qs,
                                  __m256i& total0, __m256i& total1) {
  const uint8_t* ql = blk + q6_k_ql_chunk(h, kU, 4 * k4);
  const uint8_t* qh = blk + q6_k_qh_chunk(h, 4 * k4);
  const int j_lo = 8 * h + 2 * kU + k4;
  const int j_hi = j_lo + 4;
  const __m256i sc_lo0 = dup_s8_pairs(blk + kQ6KScales + 16 * j_lo);  // [sub-block][row half]
  const __m256i sc_hi0 = dup_s8_pairs(blk + kQ6KScales + 16 * j_hi);
  const __m256i sc_lo1 = dup_s8_pairs(blk + kQ6KScales + 16 * j_lo + 8);
  const __m256i sc_hi1 = dup_s8_pairs(blk + kQ6KScales + 16 * j_hi + 8);
  for (int c0 = 0; c0 < 4; c0 += 2) {
    __m256i lo0, hi0, lo1, hi1;  // [sub-block][row half] sums, int16
    for (int c = c0; c < c0 + 2; ++c) {
      const __m256i quad_lo = broadcast_quads(qs + 16 * j_lo + 4 * c);
      const __m256i quad_hi = broadcast_quads(qs + 16 * j_hi + 4 * c);
      const auto products = [&](int g, __m256i& lo, __m256i& hi) {
        __m256i w_lo, w_hi;
        unpack_q6_k_chunk<kU, true, true>(load_ymm(ql + 64 * c + 32 * g),
                                          load_ymm(qh + 64 * c + 32 * g), w_lo, w_hi);
        const __m256i p_lo = _mm256_maddubs_epi16(w_lo, quad_lo);
        const __m256i p_hi = _mm256_maddubs_epi16(w_hi, quad_hi);
        lo = c == c0 ? p_lo : _mm256_add_epi16(lo, p_lo);
        hi = c == c0 ? p_hi : _mm256_add_epi16(hi, p_hi);
        keep_in_register(lo);
        keep_in_register(hi);
      };
      products(0, lo0, hi0);
      products(1, lo1, hi1);
    }
    total0 = _mm256_add_epi32(total0, _mm256_madd_epi16(lo0, sc_lo0));
    total0 = _mm256_add_epi32(total0, _mm256_madd_epi16(hi0, sc_hi0));
    total1 = _mm256_add_epi32(total1, _mm256_madd_epi16(lo1, sc_lo1));
    total1 = _mm256_add_epi32(total1, _mm256_madd_epi16(hi1, sc_hi1));
    // The totals pinned as one chain each: unpinned, GCC summed a step's sixteen scaled dots
    // as a tree and spilled them (`Matmul/avx2/q6_K/tokens:1/threads:1/packed`, Zen 4 host,
    // alternated: 123-126 us against 126-129; from DRAM no change).
    keep_in_register(total0);
    keep_in_register(total1);
  }
}

// Q6_K decoding (AVX2's `vpmaddubsw` dots, which the AVX-VNNI table's decoding takes too):
// `pass_q6_k`'s steps with both row halves at once (q6_decode_unit), a quarter of the block
// prefetched per step. Against `pass_q6_k` with one token, on the Zen 4 host, alternated: as fast
// in cache (126-127 us, `Matmul/avx2/q6_K/tokens:1/threads:1/packed`), one core streaming from
// DRAM at 26.2-26.4 GB/s against 23.8-24.6, TinyLlama Q6_K tg64 +4-7 % (docs/PERFORMANCE.md,
// "Decoding passes chunk by chunk, sums pinned").
template <StreamPrefetch kPrefetch>
static void decode_pass_q6_k(int64_t nb, const uint8_t* group, const uint8_t* act, float* y) {
  constexpr size_t kAhead = kKQuantAheadBytes<kPrefetch, kQ6KBlockBytes>;
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + static_cast<size_t>(b) * kQ6KBlockBytes;
    const uint8_t* a = act + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    // Each row half's total as a named variable of its own (pinned in q6_decode_unit; as array
    // elements GCC kept them in memory).
    const auto offset_total = [&](int g) {
      __m256i sc_pairs[8];
      q6_k_scale_pairs(blk, g, sc_pairs);
      return q6_k_offset_total(sc_pairs, a + offsetof(BlockQ8_K, bsums));
    };
    __m256i total0 = offset_total(0);
    __m256i total1 = offset_total(1);
    const uint8_t* qs = a + offsetof(BlockQ8_K, qs);
    for (int h = 0; h < 2; ++h) {
      for (int k4 = 0; k4 < 2; ++k4) {
        // Decoding streams the weights once: ask for them kAhead bytes ahead, a quarter of the
        // block a step (and, where the hardware prefetchers stream, for page starts too:
        // stream_prefetch.hpp).
        const int step = 2 * h + k4;
        prefetch_part_of<kQ6KBlockBytes, 4>(blk + kAhead, step);
        if constexpr (kPrefetch == StreamPrefetch::kHardware) {
          prefetch_page_start_part<kQ6KBlockBytes, 4>(blk, step);
        }
        // The step reads its field-0 quants beside the high bits eight lines further on, then its
        // field-1 quants: its twelve lines asked for in address order first. TinyLlama Q6_K
        // decoding on the AVX2-only Zen 4 host: 2.5 % faster with its two vCPUs on one CCD, 0.9 %
        // slower on two (docs/PERFORMANCE.md, "Lines in order"). The hardware prefetchers alone
        // did not stream Q6_K well even with the lines in order, so the prefetch ahead stays.
        prefetch_lines_in_order<kQ6KStepBytes / 64>(blk + kQ6KQuants +
                                                    kQ6KStepBytes * static_cast<size_t>(step));
        q6_decode_unit<0>(blk, h, k4, qs, total0, total1);
        q6_decode_unit<1>(blk, h, k4, qs, total0, total1);
      }
    }
    const __m256 da = _mm256_set1_ps(load_as<float>(a + offsetof(BlockQ8_K, d)));
    acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total0), _mm256_mul_ps(load_halves(blk + kQ6KD), da),
                           acc0);
    acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total1),
                           _mm256_mul_ps(load_halves(blk + kQ6KD + 16), da), acc1);
  }
  _mm256_storeu_ps(y, acc0);
  _mm256_storeu_ps(y + 8, acc1);
}

// A `PackedGemmFn` of Q6_K: passes of up to kMaxTokens tokens, decoding passes with
// `decode_pass_q6_k` and the others with Dots.
template <typename Dots, int kMaxTokens, StreamPrefetch kPrefetch>
static void gemm_q6_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  const int64_t nb = n / 256;
  for_each_pass<kMaxTokens>(
      n_tokens, act, act_stride, y, y_stride, [&]<int kT>(const uint8_t* a, float* out) {
        if constexpr (kT == 1) {
          decode_pass_q6_k<kPrefetch>(nb, group, a, out);
        } else {
          pass_q6_k<Dots, kT, kPrefetch>(nb, group, a, act_stride, out, y_stride,
                                         a == static_cast<const uint8_t*>(act));
        }
      });
}

}  // namespace capibara::kernels::x86
