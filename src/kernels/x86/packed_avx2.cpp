// AVX2 kernels of the packed layouts (packed_weights.hpp, packed_q4_k.cpp, packed_q5_k.cpp,
// packed_q6_k.cpp), for CPUs without AVX-512: a 256-bit register holds the same four weight bytes
// of eight rows, so a 64-byte chunk of a group is two registers (rows 0-7 at offset 0, rows 8-15
// at offset 32), and every block is computed for the two row halves in turn, each with its own
// float accumulator. The passes, with AVX2's dots for them, are shared with the AVX-VNNI table
// (x86/packed_32_ymm.hpp, x86/packed_q4_k_ymm.hpp, x86/packed_q6_k_ymm.hpp); this file holds the
// AVX2 entry points and their tokens per pass.
//
// Without `vpdpbusd`, the u8 x s8 dot of four bytes per int32 lane is `vpmaddubsw` (u8 x s8
// products summed in int16 pairs, saturating) then `vpmaddwd` (pairs summed to int32, by ones or
// by the rows' scales). No saturation can happen:
//   Q4_0, Q4_K: nibbles <= 15, so eight `vpmaddubsw` results sum to at most 8 x 2 x 15 x 128;
//   Q5_K: 5-bit quants <= 31, so four results sum to at most 4 x 2 x 31 x 128 (eight could not);
//   Q6_K: 6-bit quants <= 63, so two results sum to at most 2 x 2 x 63 x 128;
//   Q8_0: the stored q + 128 would saturate, so decoding flips it back to q (XOR 0x80) and
//         takes |q| x sign(a, q) (`vpsignb`), pairs at most 2 x 128 x 127, one `vpmaddwd` each
//         (exact because a quantized activation is never -128: sign(-128, q) would wrap; the
//         weights may hold -128, whose magnitude 128 `vpmaddubsw` reads unsigned). Prefill
//         multiplies in int16 instead (`gemm_pass_q8_0`), where nothing can saturate.
// The integer dots are the references' exact integers (combined in another order), and the
// float operations per (row, token) are the references', in their order, so the results match
// `scalar::packed_gemm_*` bit for bit whatever the number of tokens in a pass. A pass unpacks a
// block once for kT tokens (prefill; the 32-weight types one row half at a time, so that a pass
// fits in the registers: `gemm_pass_32`); decoding (kT == 1) prefetches the weights into L2 a few
// KiB ahead (prefetch.hpp), and passes of up to k*FewTokens tokens (a few sequences decoding
// together, each group read once from memory) take decoding's form for several tokens
// (`x86::few_token_pass_32`, `x86::few_token_pass_q4_k`). The 32-weight types' passes of more
// tokens prefetch in their first row half's sweep only (`gemm_pass_q8_0`, `x86::gemm_pass_32`),
// which brings each group's lines in: where four to eight sequences decode together, each group is
// read once. (An earlier prefetch in every sweep lowered Q4_0's pp512 from 136 to 103 tok/s.)
// Activations are read without assuming alignment (any row stride).
#include "kernels/x86/packed_avx2.hpp"

#include <cstddef>
#include <cstdint>

#include "kernels/stream_prefetch.hpp"
#include "kernels/x86/packed_32_ymm.hpp"
#include "kernels/x86/packed_q4_k_ymm.hpp"
#include "kernels/x86/packed_q6_k_ymm.hpp"

namespace capibara::kernels::avx2 {
namespace {

// Tokens per pass. TinyLlama pp512 by row halves (`gemm_pass_32`), two threads, all the runs of
// alternated binaries: Q4_0 172-177 tok/s at 4, 179-185 at 6, 180-186 at 8. The K-quants:
// Q4_K_M 151-152 at 3, 157-163 at 4, 158-164 at 6. Q8_0 in int16 (`gemm_pass_q8_0`), 24 tokens
// by 128 groups of 2048 weights, one thread, the weights in L2: 238 us at 4 tokens, 219 at 6, 214
// at 8 (the sign form at 8: 239).
constexpr int kQ4_0Tokens = 6;
// Up to how many tokens a Q4_0 pass streams as decoding does (x86::few_token_pass_32).
constexpr int kQ4_0FewTokens = 3;
constexpr int kQ8_0Tokens = 8;
constexpr int kKQuantTokens = 4;
// Up to how many tokens a Q4_K / Q5_K pass streams as decoding does (x86::few_token_pass_q4_k).
constexpr int kKQuantFewTokens = 2;
// Q6_K's prefill passes unpack one sub-block at a time (x86::q6_unit), which leaves registers
// for more tokens. TinyLlama Q6_K pp512, three alternated rounds: both sub-blocks of a unit at
// once, 4 tokens (as before), 139.7-142.8 tok/s; one at a time, each dot added at once,
// 151.0-155.3 at 4 tokens, 154.1-159.6 at 6, 146.6-159.4 at 8 (6 without adding at once:
// 135.0-145.4, against 151.1-157.7 with).
constexpr int kQ6KTokens = 6;

// Q8_0's pass of more than kQ8_0FewTokens tokens, a row half at a time as `x86::gemm_pass_32`,
// chunk by chunk: each chunk of the eight rows is unpacked once for the kT tokens, and each token's
// exact int32 dot of the block builds up in a register of its own, pinned there (unpinned, GCC
// re-associated the adds into a tree over the block's products and spilled them). Each 16-bit
// half of a chunk's 32-bit lanes holds two weight bytes of one row; its even bytes (`and`) and odd
// ones (a shift) are int16 weights q + 128, and each token multiplies them by its activations
// widened once per matmul (BlockQ8Wide, quads in the same even / odd order), its dot starting at
// the block's -128 x sum: two `vpmaddwd` and two adds, which the Zen 4 runs in 1.25 cycles
// against the 1.5 of decoding's sign form (|q| x sign(a, q): three operations on its two multiply
// pipes), the split costing two operations per chunk for all the pass's tokens. The float
// operations per (row, token) are the reference's. docs/PERFORMANCE.md, "AVX2 Q8_0 prefill by
// chunks" and "AVX2 Q8_0 prefill in int16".
template <int kT>
void gemm_pass_q8_0(int64_t nb, const uint8_t* group, const uint8_t* act, size_t act_stride,
                    float* y, size_t y_stride) {
  using Pairs = PairedBlocks<512>;
  const __m256i even_bytes = _mm256_set1_epi16(0xFF);
  const uint8_t* blocks = act + static_cast<size_t>(nb) * sizeof(BlockQ8Sum);
  // An activation pair's two int16 in every 32-bit lane.
  const auto broadcast_pair = [](const uint8_t* p) {
    return _mm256_castps_si256(_mm256_broadcast_ss(reinterpret_cast<const float*>(p)));
  };
  for (int g = 0; g < 2; ++g) {
    __m256 acc[kT];
    for (int t = 0; t < kT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* quants = group + Pairs::quants(b) + 32 * g;
      if (g == 0) {
        // The first row half's sweep brings the group's lines in. Where each group is read once
        // (several sequences decoding together), the hardware prefetchers alone left this pass
        // waiting on memory: TinyLlama Q8_0, `bench --parallel`, 4 / 6 / 8 sequences, 67-68 /
        // 83-84 / 90-91 tok/s with this, against 49-54 / 55-59 / 65-68 without it. pp512 lost
        // nothing (docs/PERFORMANCE.md, "AVX2 Q8_0 prefill in int16").
        x86::prefetch_lines(group + Pairs::half(b) + x86::kPrefetchBytes32, Pairs::kHalfLines);
      }
      const uint8_t* a = blocks + static_cast<size_t>(b) * sizeof(BlockQ8Wide);
      __m256i dot[kT];
      for (int t = 0; t < kT; ++t) {
        dot[t] =
            broadcast_pair(a + static_cast<size_t>(t) * act_stride + offsetof(BlockQ8Wide, offset));
      }
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) {
        const __m256i chunk = x86::load_ymm(quants + 64 * k);
        const __m256i w0 = _mm256_and_si256(chunk, even_bytes);  // the even bytes
        const __m256i w1 = _mm256_srli_epi16(chunk, 8);          // and the odd ones
#pragma GCC unroll 8
        for (int t = 0; t < kT; ++t) {
          const uint8_t* qs = a + static_cast<size_t>(t) * act_stride + offsetof(BlockQ8Wide, qs);
          dot[t] = _mm256_add_epi32(dot[t], _mm256_madd_epi16(w0, broadcast_pair(qs + 8 * k)));
          dot[t] = _mm256_add_epi32(dot[t], _mm256_madd_epi16(w1, broadcast_pair(qs + 8 * k + 4)));
          x86::keep_in_register(dot[t]);
        }
      }
      const __m256 dw = x86::load_halves(group + Pairs::scales(b) + 16 * g);
#pragma GCC unroll 8
      for (int t = 0; t < kT; ++t) {
        const uint8_t* at = a + static_cast<size_t>(t) * act_stride;
        const __m256 d =
            _mm256_mul_ps(dw, _mm256_set1_ps(x86::load_as<float>(at + offsetof(BlockQ8Wide, d))));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[t]), d, acc[t]);
      }
    }
    for (int t = 0; t < kT; ++t) {
      _mm256_storeu_ps(y + static_cast<size_t>(t) * y_stride + 8 * g, acc[t]);
    }
  }
}

template <StreamPrefetch kPrefetch>
void gemm_q8_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
               int64_t n_tokens, float* y, size_t y_stride) {
  const int64_t nb = n / 32;
  for_each_pass<kQ8_0Tokens>(
      n_tokens, act, act_stride, y, y_stride, [&]<int kT>(const uint8_t* a, float* out) {
        if constexpr (kT == 1) {
          x86::single_token_pass_32<x86::MaddubsHalf<false>, kPrefetch>(nb, group, a, out);
        } else if constexpr (kT <= kQ8_0FewTokens) {
          x86::few_token_pass_32<x86::MaddubsHalf<false>, kT, kPrefetch>(nb, group, a, act_stride,
                                                                         out, y_stride);
        } else {
          gemm_pass_q8_0<kT>(nb, group, a, act_stride, out, y_stride);
        }
      });
}

template <StreamPrefetch kPrefetch = StreamPrefetch::kSoftware>
void gemm_q6_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
               int64_t n_tokens, float* y, size_t y_stride) {
  x86::gemm_q6_k<x86::MaddubsQ6Dots, kQ6KTokens, kPrefetch>(n, group, act, act_stride, n_tokens, y,
                                                            y_stride);
}

template <bool kFive, StreamPrefetch kPrefetch = StreamPrefetch::kSoftware>
void gemm_q4_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
               int64_t n_tokens, float* y, size_t y_stride) {
  x86::gemm_q4_k<x86::MaddubsSubBlocks<kFive>, kFive, kKQuantTokens, kPrefetch, kKQuantFewTokens>(
      n, group, act, act_stride, n_tokens, y, y_stride);
}

}  // namespace

void widen_q8_sum(const void* blocks, void* wide, int64_t n) {
  // Within each 128-bit lane: quads 0 2 1 3 (BlockQ8Wide's order).
  const __m256i quads = _mm256_setr_epi8(0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15, 0, 2,
                                         1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15);
  const auto* src = static_cast<const BlockQ8Sum*>(blocks);
  auto* dst = static_cast<BlockQ8Wide*>(wide);
  for (int64_t b = 0; b < n / 32; ++b) {
    dst[b].d = src[b].d;
    dst[b].offset = -128 * src[b].sum;
    const __m256i q =
        _mm256_shuffle_epi8(x86::load_ymm(reinterpret_cast<const uint8_t*>(src[b].qs)), quads);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst[b].qs),
                        _mm256_cvtepi8_epi16(_mm256_castsi256_si128(q)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst[b].qs + 16),
                        _mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1)));
  }
}

void packed_gemm_q4_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  x86::gemm_32<x86::MaddubsHalf<true>, x86::MaddubsHalf<true>, kQ4_0Tokens,
               StreamPrefetch::kSoftware, kQ4_0FewTokens>(n, group, act, act_stride, n_tokens, y,
                                                          y_stride);
}

void packed_gemm_q8_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm_q8_0<StreamPrefetch::kSoftware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q4_0_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  x86::gemm_32<x86::MaddubsHalf<true>, x86::MaddubsHalf<true>, kQ4_0Tokens,
               StreamPrefetch::kHardware, kQ4_0FewTokens>(n, group, act, act_stride, n_tokens, y,
                                                          y_stride);
}

void packed_gemm_q8_0_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  gemm_q8_0<StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
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
