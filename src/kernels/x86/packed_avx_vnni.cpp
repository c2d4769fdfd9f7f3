// AVX-VNNI kernels of the packed Q4_0, Q8_0, Q4_K, Q5_K and Q6_K layouts, for CPUs that have the
// VEX-encoded `vpdpbusd` on 256-bit registers but no AVX-512 (Intel's hybrid client cores since
// Alder Lake and the E-core Xeons since Sierra Forest, among others). The passes are the AVX2
// table's (x86/packed_32_ymm.hpp, x86/packed_q4_k_ymm.hpp, x86/packed_q6_k_ymm.hpp); only the
// dots of prefill differ.
//
// `vpdpbusd` sums the four u8 x s8 products of each int32 lane into it without saturating, so a
// block of one row half takes one instruction per chunk and token, where AVX2 takes `vpmaddubsw`,
// an int16 add and its share of a `vpmaddwd` (Q4_0), or `vpsignb`, `vpabsb`, `vpmaddubsw` and
// `vpmaddwd` (Q8_0, whose stored q + 128 AVX2 cannot multiply as it is). The weights are the
// group's bytes as stored, the u8 operand:
//   Q4_0: nibbles 0..15, the dot sum nibble x a less 8 x sum a;
//   Q8_0: q + 128 in 0..255, the dot sum (q + 128) a less 128 x sum a,
// the references' exact integers (32 x 255 x 127 fits an int32 many times over), so the results
// match `scalar::packed_gemm_*` bit for bit, as AVX2's do.
//
// Compiled with -mavx2 -mfma -mf16c -mavxvnni: only the AVX-VNNI table, after the CPU check, may
// call these.
#include "kernels/x86/packed_avx_vnni.hpp"

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "core/quant_blocks.hpp"
#include "kernels/stream_prefetch.hpp"
#include "kernels/x86/packed_32_ymm.hpp"
#include "kernels/x86/packed_q4_k_ymm.hpp"
#include "kernels/x86/packed_q6_k_ymm.hpp"

namespace capibara::kernels::avx_vnni {
namespace {

// Tokens per pass. TinyLlama pp512, two threads, `CAPIBARA_ISA=avxvnni`, alternated binaries on
// the Zen 5 host: Q4_0 222-233 tok/s at 4 tokens, 223-233 at 6, 209-243 at 8; Q8_0 209-228 at 4,
// 211-226 at 6, 201-225 at 8, with the dot in one chain or two alike: about half this host's
// `vpdpbusd` rate (`bench --roofline`) whatever the count (docs/PERFORMANCE.md, "AVX-VNNI").
constexpr int kQ4_0Tokens = 6;
constexpr int kQ8_0Tokens = 6;

// One block of one row half (eight rows) for prefill: Q4_0's nibbles (x86::unpack_q4_0_half) or
// Q8_0's eight stored chunks, dotted in two chains of four `vpdpbusd`.
template <bool kNibbles>
struct VnniHalf {
  static constexpr size_t kQuantBytes = kNibbles ? 256 : 512;
  static constexpr int32_t kOffset = kNibbles ? 8 : 128;
  __m256i w[8];

  explicit VnniHalf(const uint8_t* quants) {  // the block's quants + 32 x row half
    if constexpr (kNibbles) {
      x86::unpack_q4_0_half(quants, w);
    } else {
      for (int k = 0; k < 8; ++k) w[k] = x86::load_ymm(quants + 64 * k);
    }
  }

  // The exact integer dots of the eight rows with one token's block (a BlockQ8Sum), the first
  // chain starting from the offset's share.
  __m256i dot(const uint8_t* a) const {
    const uint8_t* qs = a + offsetof(BlockQ8Sum, qs);
    // Q4_0's chunk k holds weights 4k..4k+3 in w[k] and 16+4k.. in w[4 + k]; Q8_0's chunk k
    // holds weights 4k..4k+3.
    const auto quad = [&](int k) { return kNibbles ? (k < 4 ? 4 * k : 16 + 4 * (k - 4)) : 4 * k; };
    const int32_t sum = x86::load_as<int32_t>(a + offsetof(BlockQ8Sum, sum));
    __m256i s0 = _mm256_set1_epi32(-kOffset * sum);
    __m256i s1 = _mm256_setzero_si256();
    for (int k = 0; k < 8; k += 2) {
      s0 = _mm256_dpbusd_avx_epi32(s0, w[k], x86::broadcast_quads(qs + quad(k)));
      s1 = _mm256_dpbusd_avx_epi32(s1, w[k + 1], x86::broadcast_quads(qs + quad(k + 1)));
    }
    return _mm256_add_epi32(s0, s1);
  }
};

// Decoding keeps AVX2's dot (x86::MaddubsHalf): it streams the weights as fast or faster. What
// limits a decoding pass is how many blocks the core keeps in flight, and VnniHalf's two chains
// of four dependent `vpdpbusd` held Q8_0 to 24.7 GB/s on one thread where AVX2's dot streams 37.7
// (`Stream/decode/*/hardware/q8_0/threads:1`). Q8_0 in four chains of two streamed 36.1, in eight
// 27.5 (spilled), and TinyLlama Q8_0 tg64 read 53.0-53.8 tok/s against AVX2's 55.6-61.4; four
// chains in prefill no longer fit the sixteen registers (pp512 Q8_0 211-213 against 224-226).
// docs/PERFORMANCE.md, "AVX-VNNI".
template <bool kNibbles>
using DecodeHalf = x86::MaddubsHalf<kNibbles>;

// Q4_K / Q5_K prefill: a sub-block's eight chunks in one `vpdpbusd` chain per row (int32, so no
// int16 headroom to keep: at most 32 x 31 x 128 per lane; the tokens of a pass give the
// independent chains), scaled by the rows' 6-bit scales with one `vpmulld`, as the AVX-512 kernel
// does (x86/packed_q4_k_avx512.cpp).
// Decoding keeps AVX2's dots (x86::decode_pass_q4_k), for the reason DecodeHalf gives.
struct VnniSubBlocks {
  using Scales = __m256i;  // the eight rows' scales as int32

  static Scales scales(const uint8_t* p) { return _mm256_cvtepu8_epi32(x86::load8(p)); }

  static void accumulate(const __m256i (&w)[8], const uint8_t* qs, Scales sc, __m256i& total) {
    __m256i s = _mm256_setzero_si256();
    for (int c = 0; c < 8; ++c) {
      s = _mm256_dpbusd_avx_epi32(s, w[c], x86::broadcast_quads(qs + 4 * c));
    }
    total = _mm256_add_epi32(total, _mm256_mullo_epi32(s, sc));
  }
};

// Tokens per Q4_K / Q5_K pass: more tokens share each sub-block's unpacking. pp512, alternated
// binaries: Q4_K_M 141-169 tok/s at 3, 151-175 at 4, 155-183 at 6, 179-181 at 8; Q5_K_M 133-141
// at 3, 131-152 at 4, 146-160 at 6, 165-168 at 8.
constexpr int kKQuantTokens = 8;

template <bool kFive, StreamPrefetch kPrefetch>
void gemm_q4_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
               int64_t n_tokens, float* y, size_t y_stride) {
  x86::gemm_q4_k<VnniSubBlocks, kFive, kKQuantTokens, kPrefetch>(n, group, act, act_stride,
                                                                 n_tokens, y, y_stride);
}

// Q6_K prefill: a sub-block's four chunks in one `vpdpbusd` chain per row (the 6-bit quants are
// the u8 operand: at most 16 x 63 x 128 per lane), scaled by the rows' signed scales with one
// `vpmulld`, where AVX2 takes four `vpmaddubsw`, two int16 adds and two `vpmaddwd`. One
// sub-block unpacked at a time leaves registers for more tokens. TinyLlama Q6_K pp512, two
// threads, alternated binaries: AVX2's dots 122-142 tok/s; these 135-156 at 4 tokens, 146-172 at
// 6, 152-173 at 8; with both sub-blocks of a unit unpacked at once, 135-154 at 4 and 145-163 at
// 6 or 8. Decoding keeps AVX2's dots, for the reason DecodeHalf gives.
struct VnniQ6Dots {
  using Scales = __m256i;  // the eight rows' scales as int32
  static constexpr bool kAddAtOnce = false;

  static Scales scales(const uint8_t* p) { return _mm256_cvtepi8_epi32(x86::load8(p)); }

  static __m256i dot(const __m256i (&w)[4], const uint8_t* a, Scales sc) {
    __m256i s = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      s = _mm256_dpbusd_avx_epi32(s, w[c], x86::broadcast_quads(a + 4 * c));
    }
    return _mm256_mullo_epi32(s, sc);
  }
};

constexpr int kQ6KTokens = 8;

template <StreamPrefetch kPrefetch>
void gemm_q6_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
               int64_t n_tokens, float* y, size_t y_stride) {
  x86::gemm_q6_k<VnniQ6Dots, kQ6KTokens, kPrefetch>(n, group, act, act_stride, n_tokens, y,
                                                    y_stride);
}

}  // namespace

void packed_gemm_q4_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  x86::gemm_32<DecodeHalf<true>, VnniHalf<true>, kQ4_0Tokens, StreamPrefetch::kSoftware>(
      n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q8_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  x86::gemm_32<DecodeHalf<false>, VnniHalf<false>, kQ8_0Tokens, StreamPrefetch::kSoftware>(
      n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q4_0_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  x86::gemm_32<DecodeHalf<true>, VnniHalf<true>, kQ4_0Tokens, StreamPrefetch::kHardware>(
      n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q8_0_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  x86::gemm_32<DecodeHalf<false>, VnniHalf<false>, kQ8_0Tokens, StreamPrefetch::kHardware>(
      n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q4_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm_q4_k<false, StreamPrefetch::kSoftware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q4_k_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  gemm_q4_k<false, StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q5_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm_q4_k<true, StreamPrefetch::kSoftware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q5_k_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  gemm_q4_k<true, StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q6_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm_q6_k<StreamPrefetch::kSoftware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q6_k_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  gemm_q6_k<StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

}  // namespace capibara::kernels::avx_vnni
