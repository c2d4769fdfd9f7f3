// AVX-512 VNNI kernels of the packed layout (packed_weights.hpp): one 512-bit register holds the
// same four weights of the group's sixteen rows, so each `vpdpbusd` with four broadcast
// activation bytes advances all sixteen dots, and the block scales of the sixteen rows are one
// `vcvtph2ps`. A micro-kernel takes up to kTokens tokens per pass over a block, so a weight
// block is loaded and unpacked once per kTokens tokens during prefill.
//
// Arithmetic per (row, token) is that of `scalar::packed_gemm_*` (exact integer dot, one fma
// per block with the product of the two scales), so results match it bit for bit and do not
// depend on how many tokens share a pass.
#include "kernels/x86/packed_avx512.hpp"

#include "kernels/x86/avx512_common.hpp"

#include <cstring>

#include "kernels/packed_weights.hpp"
#include "kernels/stream_prefetch.hpp"
#include "kernels/x86/prefetch.hpp"

namespace capibara::kernels::avx512 {
namespace {

constexpr int kTokens = 8;
// How far ahead the passes prefetch (into L2, see prefetch.hpp). With the weights on huge pages
// 3 KiB measured best of 1-16 KiB on the Intel Xeon (Q4_0 TinyLlama tg128: 48.7 tok/s against
// 45.5 without prefetch and 46 at 8 KiB, the best with 4 KiB pages). The hardware-prefetch
// variant leaves decoding passes to the CPU (stream_prefetch.hpp).
constexpr size_t kPrefetchBytes = 3072;

// Eight weight registers of one block: Q4_0's chunks split into low nibbles (weights j of each
// row's block) and high nibbles kept in place (weights j + 16, times 16), Q8_0's eight chunks as
// stored.
//
// Why the high nibbles stay in place: masking them with 0xF0 is one instruction where shifting
// them down is two, and a decode pass is short of issue slots, not of arithmetic: fewer
// instructions per byte let the core keep more weight lines in flight (a 1 GiB stream of Q4_0
// groups on one core: 15.0 -> 16.0 GB/s). The dot then comes out times 16 (`kDotScale`) and is
// exact (|16 dot| < 2^24); the pass folds the factor back in once at the end (see gemm_pass).
template <bool kNibbles>
struct Block {
  static constexpr int kRegs = 8;
  static constexpr int32_t kDotScale = kNibbles ? 16 : 1;
  __m512i w[kRegs];

  explicit Block(const uint8_t* quants) {
    if constexpr (kNibbles) {
      const __m512i low = _mm512_set1_epi8(0x0F);
      const __m512i high = _mm512_set1_epi8(static_cast<char>(0xF0));
      for (int k = 0; k < 4; ++k) {
        const __m512i v = _mm512_load_si512(quants + 64 * k);
        w[k] = _mm512_and_si512(v, low);
        w[4 + k] = _mm512_and_si512(v, high);
      }
    } else {
      for (int k = 0; k < 8; ++k) w[k] = _mm512_load_si512(quants + 64 * k);
    }
  }

  // kDotScale times the exact integer dots of the sixteen rows with one token's block, offset
  // removed.
  __m512i dot(const BlockQ8Sum& a, int32_t offset) const {
    // Two independent chains halve the latency of the eight dependent dot steps.
    __m512i s0 = _mm512_set1_epi32(-offset * kDotScale * a.sum);
    __m512i s1 = _mm512_setzero_si512();
    if constexpr (kNibbles) {
      for (int k = 0; k < 4; ++k) {
        s0 = _mm512_dpbusd_epi32(s0, w[4 + k], broadcast_quads(a.qs + 16 + 4 * k));
        s1 = _mm512_dpbusd_epi32(s1, w[k], broadcast_quads(a.qs + 4 * k));
      }
      return _mm512_add_epi32(s0, _mm512_slli_epi32(s1, 4));
    } else {
      for (int k = 0; k < 8; k += 2) {
        s0 = _mm512_dpbusd_epi32(s0, w[k], broadcast_quads(a.qs + 4 * k));
        s1 = _mm512_dpbusd_epi32(s1, w[k + 1], broadcast_quads(a.qs + 4 * k + 4));
      }
      return _mm512_add_epi32(s0, s1);
    }
  }
};

template <bool kNibbles, int kT>
void gemm_pass(int64_t nb, const uint8_t* group, const uint8_t* act, size_t act_stride, float* y,
               size_t y_stride) {
  static_assert(kT > 1, "a single token takes single_token_pass");
  using Pairs = PairedBlocks<kNibbles ? 256 : 512>;
  constexpr int32_t offset = kNibbles ? 8 : 128;
  __m512 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    // Batches of a few sequences stream the weights too: ask for the lines kPrefetchBytes ahead
    // on every CPU (only single-token passes follow the CPU's variant, stream_prefetch.hpp).
    x86::prefetch_lines(group + Pairs::half(b) + kPrefetchBytes, Pairs::kHalfLines);
    const Block<kNibbles> w(group + Pairs::quants(b));
    const __m512 dw = _mm512_cvtph_ps(
        _mm256_load_si256(reinterpret_cast<const __m256i*>(group + Pairs::scales(b))));
#pragma GCC unroll 8
    for (int t = 0; t < kT; ++t) {
      const auto& a =
          reinterpret_cast<const BlockQ8Sum*>(act + static_cast<size_t>(t) * act_stride)[b];
      const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(a.d));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(w.dot(a, offset)), d, acc[t]);
    }
  }
  // acc holds kDotScale times the reference's sums, bit for bit: scaling by a power of two
  // commutes with every rounding of the fma chain, and so does the one multiply that takes the
  // factor out. That needs nothing to be subnormal or to overflow, and both scales are fp16
  // values: every nonzero sum is a multiple of 2^-71, and a block adds at most 2^16 * 2^32, far
  // below FLT_MAX / 16.
  const __m512 unscale = _mm512_set1_ps(1.0f / static_cast<float>(Block<kNibbles>::kDotScale));
  for (int t = 0; t < kT; ++t) {
    _mm512_storeu_ps(y + static_cast<size_t>(t) * y_stride, _mm512_mul_ps(acc[t], unscale));
  }
}

// The pass of a single token (every decoding pass, and the last of a batch), stepping over block
// pairs: every address is a constant offset from one pointer and a page start is checked once
// per pair. Indexing each block as `gemm_pass` does costs ~12 more scalar instructions per block
// on addresses and prefetch checks, and a decoding pass is short of room for loads in flight,
// not of arithmetic (see Block): a 1 GiB stream of Q4_0 groups on two cores went from 0.81-0.87
// of the read loop to 0.92-0.95, Q8_0 from 0.95 to 0.99 (docs/PERFORMANCE.md, "Decoding passes
// by block pairs"). Same arithmetic per block as `gemm_pass`, so the same results bit for bit.
template <bool kNibbles, StreamPrefetch kPrefetch>
void single_token_pass(int64_t nb, const uint8_t* group, const uint8_t* act, float* y) {
  using Pairs = PairedBlocks<kNibbles ? 256 : 512>;
  constexpr int32_t offset = kNibbles ? 8 : 128;
  const auto* a = reinterpret_cast<const BlockQ8Sum*>(act);
  __m512 acc = _mm512_setzero_ps();
  auto block = [&](const uint8_t* scales, const uint8_t* quants, const BlockQ8Sum& ab) {
    const Block<kNibbles> w(quants);
    const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(scales)));
    const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(ab.d));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(w.dot(ab, offset)), d, acc);
  };
  const uint8_t* p = group;
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2, p += Pairs::kPairBytes) {
    if constexpr (kPrefetch == StreamPrefetch::kSoftware) {
      x86::prefetch_lines(p + kPrefetchBytes, Pairs::kPairBytes / 64);
    } else {
      x86::prefetch_page_start(p, Pairs::kPairBytes);
    }
    block(p + Pairs::scales(0), p + Pairs::quants(0), a[b]);
    block(p + Pairs::scales(1), p + Pairs::quants(1), a[b + 1]);
  }
  if (b < nb) block(p + Pairs::scales(0), p + Pairs::quants(0), a[b]);
  const __m512 unscale = _mm512_set1_ps(1.0f / static_cast<float>(Block<kNibbles>::kDotScale));
  _mm512_storeu_ps(y, _mm512_mul_ps(acc, unscale));
}

template <bool kNibbles, StreamPrefetch kPrefetch>
void gemm(int64_t n, const uint8_t* group, const void* act, size_t act_stride, int64_t n_tokens,
          float* y, size_t y_stride) {
  for_each_pass<kTokens>(n_tokens, act, act_stride, y, y_stride,
                         [&]<int kT>(const uint8_t* at, float* yt) {
                           if constexpr (kT == 1) {
                             single_token_pass<kNibbles, kPrefetch>(n / 32, group, at, yt);
                           } else {
                             gemm_pass<kNibbles, kT>(n / 32, group, at, act_stride, yt, y_stride);
                           }
                         });
}

}  // namespace

void packed_gemm_q4_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm<true, StreamPrefetch::kSoftware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q8_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm<false, StreamPrefetch::kSoftware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q4_0_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  gemm<true, StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q8_0_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  gemm<false, StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

}  // namespace capibara::kernels::avx512
