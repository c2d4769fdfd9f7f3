// AVX2 kernels of the packed layouts (packed_weights.hpp, packed_q4_k.cpp, packed_q5_k.cpp,
// packed_q6_k.cpp), for CPUs without AVX-512: a 256-bit register holds the same four weight bytes
// of eight rows, so a 64-byte chunk of a group is two registers (rows 0-7 at offset 0, rows 8-15
// at offset 32), and every block is computed for the two row halves in turn, each with its own
// float accumulator. The Q4_0 / Q8_0 and Q4_K / Q5_K passes, with AVX2's dots for them, are
// shared with the AVX-VNNI table (x86/packed_32_ymm.hpp, x86/packed_q4_k_ymm.hpp); this file holds
// Q6_K's pass and the AVX2 entry points.
//
// Without `vpdpbusd`, the u8 x s8 dot of four bytes per int32 lane is `vpmaddubsw` (u8 x s8
// products summed in int16 pairs, saturating) then `vpmaddwd` (pairs summed to int32, by ones or
// by the rows' scales). No saturation can happen:
//   Q4_0, Q4_K: nibbles <= 15, so eight `vpmaddubsw` results sum to at most 8 x 2 x 15 x 128;
//   Q5_K: 5-bit quants <= 31, so four results sum to at most 4 x 2 x 31 x 128 (eight could not);
//   Q6_K: 6-bit quants <= 63, so two results sum to at most 2 x 2 x 63 x 128;
//   Q8_0: the stored q + 128 would saturate, so the kernel flips it back to q (XOR 0x80) and
//         takes |q| x sign(a, q) (`vpsignb`), pairs at most 2 x 128 x 127, one `vpmaddwd` each.
// The integer dots are the references' exact integers (combined in another order), and the
// float operations per (row, token) are the references', in their order, so the results match
// `scalar::packed_gemm_*` bit for bit whatever the number of tokens in a pass. A pass unpacks a
// block once for kT tokens (prefill; the 32-weight types one row half at a time, so that a pass
// fits in the registers: `gemm_pass_32`); decoding (kT == 1) prefetches the weights into L2 a few
// KiB ahead (prefetch.hpp). Only decoding: unlike AVX-512's, these multi-token passes are
// compute-bound, and prefetching in them too lowered pp512 from 136 to 103 tok/s (TinyLlama
// Q4_0) and gained nothing at 4-8 sequences. Activations are read without assuming alignment (any
// row stride).
#include "kernels/x86/packed_avx2.hpp"

#include <immintrin.h>

#include <cstddef>
#include <cstring>

#include "core/quant_blocks.hpp"
#include "kernels/packed_formats.hpp"
#include "kernels/packed_weights.hpp"
#include "kernels/stream_prefetch.hpp"
#include "kernels/token_passes.hpp"
#include "kernels/x86/packed_32_ymm.hpp"
#include "kernels/x86/packed_q4_k_ymm.hpp"
#include "kernels/x86/prefetch.hpp"

namespace capibara::kernels::avx2 {
namespace {

// Tokens per pass. TinyLlama pp512 by row halves (`gemm_pass_32`), two threads, all the runs of
// alternated binaries: Q4_0 172-177 tok/s at 4, 179-185 at 6, 180-186 at 8; Q8_0 106-110 at 2,
// 104-110 at 3, 109-117 at 4. The K-quants: Q4_K_M 151-152 at 3, 157-163 at 4, 158-164 at 6.
constexpr int kQ4_0Tokens = 6;
constexpr int kQ8_0Tokens = 4;
constexpr int kKQuantTokens = 4;
// Q4_K's and Q6_K's layouts: packed_formats.hpp.

using x86::broadcast_quads;
using x86::load8;
using x86::load_as;
using x86::load_halves;
using x86::load_ymm;

// Eight bytes (one per row) as the signed int16 pair (x, x) of each row's 32-bit lane, for
// `_mm256_madd_epi16` (Q6_K's scales; Q4_K's unsigned ones: x86::dup_u8_pairs).
inline __m256i dup_s8_pairs(const uint8_t* p) {
  const __m128i b = load8(p);
  return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(b, b));
}

// ---- Q6_K -------------------------------------------------------------------------------------

// The quants of one row half for sub-blocks j_lo = 8h + 2u + k4 and j_hi = j_lo + 4 (k4 in
// {0, 1}): ql chunks 16h + 8u + 4k4 + c and qh chunks 8h + 4k4 + c (c in 0..3), qh fields u and
// 2 + u, joined into bytes q in [0, 63].
template <int kU>
struct Q6Unit {
  __m256i lo[4];  // sub-block j_lo, weights 4c..4c+3 of it
  __m256i hi[4];  // sub-block j_hi

  Q6Unit(const uint8_t* ql, const uint8_t* qh) {
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    const __m256i top = _mm256_set1_epi8(0x30);
    for (int c = 0; c < 4; ++c) {
      const __m256i v = load_ymm(ql + 64 * c);
      const __m256i h = load_ymm(qh + 64 * c);
      // Field u to bits 4-5 for the low nibbles, field 2 + u for the high ones (16-bit shifts:
      // bits crossing into a neighbouring byte are masked away).
      const __m256i h_lo = kU == 0 ? _mm256_slli_epi16(h, 4) : _mm256_slli_epi16(h, 2);
      const __m256i h_hi = kU == 0 ? h : _mm256_srli_epi16(h, 2);
      lo[c] = _mm256_or_si256(_mm256_and_si256(v, nibble), _mm256_and_si256(h_lo, top));
      hi[c] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), nibble),
                              _mm256_and_si256(h_hi, top));
    }
  }

  // sc * sum_l q_l a_l over one sub-block (16 activation bytes at `a`), `sc` the rows' scales as
  // int16 pairs. Two `vpmaddubsw` results sum to at most 2 x 2 x 63 x 128 < 32768.
  static __m256i dot(const __m256i (&w)[4], const uint8_t* a, __m256i sc) {
    const __m256i s0 = _mm256_add_epi16(_mm256_maddubs_epi16(w[0], broadcast_quads(a)),
                                        _mm256_maddubs_epi16(w[1], broadcast_quads(a + 4)));
    const __m256i s1 = _mm256_add_epi16(_mm256_maddubs_epi16(w[2], broadcast_quads(a + 8)),
                                        _mm256_maddubs_epi16(w[3], broadcast_quads(a + 12)));
    return _mm256_add_epi32(_mm256_madd_epi16(s0, sc), _mm256_madd_epi16(s1, sc));
  }
};

template <int kU, int kT>
inline void q6_unit(const uint8_t* blk, int g, int h, int k4, const uint8_t* const (&a)[kT],
                    __m256i (&total)[kT]) {
  const Q6Unit<kU> w(blk + q6_k_ql_chunk(h, kU, 4 * k4) + 32 * g,
                     blk + q6_k_qh_chunk(h, 4 * k4) + 32 * g);
  const int j_lo = 8 * h + 2 * kU + k4;
  const int j_hi = j_lo + 4;
  const __m256i sc_lo = dup_s8_pairs(blk + kQ6KScales + 16 * j_lo + 8 * g);
  const __m256i sc_hi = dup_s8_pairs(blk + kQ6KScales + 16 * j_hi + 8 * g);
#pragma GCC unroll 8
  for (int t = 0; t < kT; ++t) {
    const uint8_t* qs = a[t] + offsetof(BlockQ8_K, qs);
    total[t] =
        _mm256_add_epi32(total[t], _mm256_add_epi32(Q6Unit<kU>::dot(w.lo, qs + 16 * j_lo, sc_lo),
                                                    Q6Unit<kU>::dot(w.hi, qs + 16 * j_hi, sc_hi)));
  }
}

// total = sum_j sc_j (dot_j - 32 bsums[j]): starts from -32 sum_j sc_j bsums[j], one
// `vpmaddwd` per sub-block pair with the rows' scales (sc_j, sc_j+1) side by side.
template <StreamPrefetch kPrefetch, int kT>
void pass_q6_k(int64_t nb, const uint8_t* group, const uint8_t* act, size_t act_stride, float* y,
               size_t y_stride) {
  constexpr size_t kAhead = kQ6KBlockBytes * 3 / 2 / 64 * 64;
  __m256 acc[kT][2];
  for (int t = 0; t < kT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + static_cast<size_t>(b) * kQ6KBlockBytes;
    const uint8_t* a[kT];
    for (int t = 0; t < kT; ++t) {
      a[t] = act + static_cast<size_t>(t) * act_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    }
    for (int g = 0; g < 2; ++g) {
      __m256i sc_pairs[8];
      for (int i = 0; i < 8; ++i) {
        sc_pairs[i] = _mm256_cvtepi8_epi16(
            _mm_unpacklo_epi8(load8(blk + kQ6KScales + 16 * (2 * i) + 8 * g),
                              load8(blk + kQ6KScales + 16 * (2 * i + 1) + 8 * g)));
      }
      __m256i total[kT];
      for (int t = 0; t < kT; ++t) {
        const uint8_t* bsums = a[t] + offsetof(BlockQ8_K, bsums);
        __m256i corr = _mm256_setzero_si256();
        for (int i = 0; i < 8; ++i) {
          corr = _mm256_add_epi32(corr,
                                  _mm256_madd_epi16(sc_pairs[i], broadcast_quads(bsums + 4 * i)));
        }
        total[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(corr, 5));
      }
      for (int h = 0; h < 2; ++h) {
        for (int k4 = 0; k4 < 2; ++k4) {
          // Decoding streams the weights once: ask for them 1.5 blocks ahead, an eighth a step
          // (and, where the hardware prefetchers stream, for page starts too: stream_prefetch.hpp).
          if constexpr (kT == 1) {
            const int step = 4 * g + 2 * h + k4;
            x86::prefetch_part(blk + kAhead, kQ6KBlockBytes, step, 8);
            if constexpr (kPrefetch == StreamPrefetch::kHardware) {
              x86::prefetch_page_start_part<kQ6KBlockBytes, 8>(blk, step);
            }
          }
          q6_unit<0, kT>(blk, g, h, k4, a, total);
          q6_unit<1, kT>(blk, g, h, k4, a, total);
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

template <StreamPrefetch kPrefetch = StreamPrefetch::kSoftware>
void gemm_q6_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
               int64_t n_tokens, float* y, size_t y_stride) {
  const int64_t nb = n / 256;
  for_each_pass<kKQuantTokens>(n_tokens, act, act_stride, y, y_stride,
                               [&]<int kT>(const uint8_t* a, float* out) {
                                 pass_q6_k<kPrefetch, kT>(nb, group, a, act_stride, out, y_stride);
                               });
}

template <bool kFive, StreamPrefetch kPrefetch = StreamPrefetch::kSoftware>
void gemm_q4_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
               int64_t n_tokens, float* y, size_t y_stride) {
  using SubBlocks = x86::MaddubsSubBlocks<kFive>;
  x86::gemm_q4_k<SubBlocks, SubBlocks, kFive, kKQuantTokens, kPrefetch>(n, group, act, act_stride,
                                                                        n_tokens, y, y_stride);
}

}  // namespace

void packed_gemm_q4_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  x86::gemm_32<x86::MaddubsHalf<true>, x86::MaddubsHalf<true>, kQ4_0Tokens,
               StreamPrefetch::kSoftware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q8_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  x86::gemm_32<x86::MaddubsHalf<false>, x86::MaddubsHalf<false>, kQ8_0Tokens,
               StreamPrefetch::kSoftware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q4_0_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  x86::gemm_32<x86::MaddubsHalf<true>, x86::MaddubsHalf<true>, kQ4_0Tokens,
               StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q8_0_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  x86::gemm_32<x86::MaddubsHalf<false>, x86::MaddubsHalf<false>, kQ8_0Tokens,
               StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q4_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm_q4_k<false>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q4_k_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  gemm_q4_k<false, StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q5_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm_q4_k<true>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q5_k_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  gemm_q4_k<true, StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q6_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm_q6_k(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q6_k_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  gemm_q6_k<StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

}  // namespace capibara::kernels::avx2
